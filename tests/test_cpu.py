import os
import sys
import threading
import time

import pytest
import torch

from nst import cpu

linux = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads Linux's /proc")


def _threads() -> int:
    return len(os.listdir("/proc/self/task"))


@linux
def test_release_threads_ends_this_threads_openmp_workers(request):
    if cpu._omp_pause() is None:
        pytest.skip("this PyTorch does not use GNU OpenMP")
    # Two threads at least, so that there are OpenMP workers to let go (a pytest-xdist worker
    # of the suite runs PyTorch on one).
    request.addfinalizer(lambda n=torch.get_num_threads(): torch.set_num_threads(n))
    torch.set_num_threads(max(2, torch.get_num_threads()))
    counts, errors = [], []

    def work() -> None:
        try:
            before = _threads()
            torch.ones(4_000_000).mul_(2)  # a parallel op: this thread gets a pool of workers
            counts.append(_threads() - before)
            cpu.release_threads()
            deadline = time.monotonic() + 5
            while _threads() > before and time.monotonic() < deadline:
                time.sleep(0.01)
            counts.append(_threads() - before)
            assert float(torch.ones(4_000_000).mul_(2).sum()) == 8_000_000  # a new pool works
        except BaseException as exc:
            errors.append(exc)

    t = threading.Thread(target=work)
    t.start()
    t.join()
    assert not errors, errors
    assert counts[0] >= 1 and counts[1] == 0, counts


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


@linux
def test_keep_memory_holds_freed_blocks_until_return_memory_gives_them_back():
    if not cpu.keep_memory():
        pytest.skip("not glibc")
    x = torch.ones(200 * 2**20, dtype=torch.uint8)
    held = _rss_mb()
    del x
    # Without keep_memory a block this large is an mmap of its own, unmapped on free: the
    # next step would fault all of its pages in again.
    assert _rss_mb() > held - 100
    cpu.return_memory()
    assert _rss_mb() < held - 150


def test_loading_the_network_lets_go_of_the_loading_threads_workers(monkeypatch):
    from nst import weights

    released = []
    monkeypatch.setattr(weights, "release_threads", lambda: released.append(threading.current_thread().name))
    weights.load_model.cache_clear()
    try:
        weights.load_model("embedded", "max", "cpu")
    finally:
        weights.load_model.cache_clear()
    assert released == [threading.current_thread().name]


def test_keep_memory_can_be_turned_off(monkeypatch):
    monkeypatch.setenv("NST_KEEP_MEMORY", "0")
    assert cpu.keep_memory.__wrapped__() is False


@linux
def test_lean_memory_returns_large_blocks_on_free_and_the_heap_keeps_them_again_after():
    """A tiled scale runs in lean_memory: a freed activation leaves RSS at once, as glibc's
    default would, not a hole in a kept heap; outside it the heap keeps them (speed)."""
    if not cpu.keep_memory():
        pytest.skip("not glibc")
    cpu.return_memory()

    def freed_at_once() -> bool:
        x = torch.ones(200 * 2**20, dtype=torch.uint8)
        held = _rss_mb()
        del x
        gone = _rss_mb() < held - 150
        cpu.return_memory()
        return gone

    with cpu.lean_memory():
        assert freed_at_once()
        with cpu.lean_memory():  # nested (a second run's tiled scale): still lean after the inner one
            pass
        assert freed_at_once()
    assert not freed_at_once()
