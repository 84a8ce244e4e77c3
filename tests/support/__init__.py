"""What the tests share beside fixtures (those are in tests/conftest.py): the repository's
paths and example images (:mod:`.paths`), an in-process app server and a poll
(:mod:`.app_server`), failures made mid-run (:mod:`.failures`) and the emulated ZeroGPU
(:mod:`.zerogpu`, run as ``python -m tests.support.zerogpu``). The bad-input catalogue and
the TIFF writer are bench's (``bench.bad_inputs``): the tests import them, and no bench
imports the tests. Importing them runs nothing, but :mod:`.zerogpu`, which patches torch as
``spaces`` does: only its own process imports it.
"""
