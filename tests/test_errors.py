import pickle

import nst


def test_errors_pickle_whole():
    """A ZeroGPU worker sends nst's errors to the app pickled: message and fields intact."""
    oom = pickle.loads(pickle.dumps(nst.OutOfMemoryError(512, "cuda")))
    assert isinstance(oom, nst.OutOfMemoryError)
    assert (oom.size, oom.device, oom.smaller) == (512, "cuda", 352)
    assert str(oom) == str(nst.OutOfMemoryError(512, "cuda"))
    for exc in (nst.SettingsError("size must be …"), nst.DivergedError("the optimisation diverged")):
        back = pickle.loads(pickle.dumps(exc))
        assert type(back) is type(exc) and str(back) == str(exc)
