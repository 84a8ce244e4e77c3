"""What the tests share beside fixtures (those are in tests/conftest.py): the repository's
paths and example images (:mod:`.paths`), an in-process app server (:mod:`.app_server`),
the TIFF writer (:mod:`.tiffs`) and the emulated ZeroGPU (:mod:`.zerogpu`, run as
``python -m tests.support.zerogpu``). Importing them runs nothing, but :mod:`.zerogpu`, which
patches torch as ``spaces`` does: only its own process imports it.
"""
