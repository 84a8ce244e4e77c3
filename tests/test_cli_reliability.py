"""The command line when a run fails mid-way: out of memory on the GPU or in the computer's
memory is one line and exit status 2. (The bad-input catalogue on the command line:
tests/test_bad_inputs.py.)
"""

from __future__ import annotations

import torch

from .support.failures import CPU_OOM, failing_objective


def test_cli_out_of_memory_is_a_message(content_path, style_path, tmp_path, monkeypatch, capsys):
    import nst.run
    from nst.cli import main

    def boom(*args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory")
        yield  # a generator, like the run's phases

    monkeypatch.setattr(nst.run.Run, "events", boom)
    assert main([str(content_path), str(style_path), "-o", str(tmp_path / "o.png"), "--size", "96"]) == 2
    assert "out of memory at 96 px" in capsys.readouterr().err


def test_cli_cpu_out_of_memory_mid_run_is_one_line(content_path, style_path, tmp_path, monkeypatch, capsys):
    """A CPU allocator's RuntimeError inside a step: nst names it, the CLI prints one line."""
    from nst.cli import main

    failing_objective(monkeypatch, RuntimeError(CPU_OOM))
    assert (
        main([str(content_path), str(style_path), "-o", str(tmp_path / "o.png"), "--size", "96", "--steps", "2"]) == 2
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("nst: error: out of memory at 96 px in the computer's memory: lower size")
    assert "Traceback" not in "\n".join(err) and not (tmp_path / "o.png").exists()
