"""nst.lbfgs: torch's L-BFGS iterates (as nst runs it) in fewer image-sized buffers."""

import pytest
import torch

from nst.lbfgs import LeanLBFGS


def _rosenbrock_like(x: torch.Tensor) -> torch.Tensor:
    # Non-quadratic, so that the curvature pairs change from step to step.
    return ((1 - x[..., ::2]) ** 2).sum() + 10 * ((x[..., 1::2] - x[..., ::2] ** 2) ** 2).sum() + (x**4).sum() * 0.01


def _iterates(make, steps: int, history: int) -> list[torch.Tensor]:
    x = torch.linspace(-1.5, 1.5, 3 * 8 * 6).reshape(1, 3, 8, 6).clone().requires_grad_(True)
    opt = make(x, history)

    def closure():
        opt.zero_grad()
        loss = _rosenbrock_like(x)
        loss.backward()
        return loss

    out = []
    for _ in range(steps):
        opt.step(closure)
        out.append(x.detach().clone())
    return out


@pytest.mark.parametrize("history", [3, 20])
def test_the_iterates_are_torchs(history):
    torchs = _iterates(
        lambda x, h: torch.optim.LBFGS([x], lr=1.0, max_iter=1, history_size=h, tolerance_grad=-1, tolerance_change=-1),
        25,
        history,
    )
    lean = _iterates(lambda x, h: LeanLBFGS([x], lr=1.0, history_size=h), 25, history)
    assert not torch.equal(torchs[0], torchs[-1])  # it moved
    for k, (a, b) in enumerate(zip(torchs, lean)):
        assert torch.allclose(a, b, rtol=1e-4, atol=1e-5), k


def test_the_history_reuses_its_buffers():
    x = torch.zeros(1, 3, 16, 16, requires_grad=True)
    opt = LeanLBFGS([x], history_size=3)

    def closure():
        opt.zero_grad(set_to_none=False)
        loss = _rosenbrock_like(x)
        loss.backward()
        return loss

    for _ in range(5):
        opt.step(closure)
    state = opt.state[x]
    held = {t.data_ptr() for t in (*state["old_dirs"], *state["old_stps"], state["d"], state["prev_flat_grad"])}
    assert len(state["old_dirs"]) == 3
    for _ in range(6):
        opt.step(closure)
    again = {t.data_ptr() for t in (*state["old_dirs"], *state["old_stps"], state["d"], state["prev_flat_grad"])}
    assert again == held  # no new image-sized buffers once the history is full


def test_nsts_lbfgs_is_torchs_without_importing_the_compiler():
    """torch.optim wraps add_param_group and zero_grad for torch.compile, and the wrapper
    imports torch._dynamo (1.6 s on a 2-core CPU) at its first call; nst's optimisers do not."""
    import subprocess
    import sys

    from nst.lbfgs import LBFGS

    torchs = _iterates(
        lambda x, h: torch.optim.LBFGS([x], max_iter=1, history_size=h, tolerance_grad=-1, tolerance_change=-1), 6, 4
    )
    ours = _iterates(lambda x, h: LBFGS([x], max_iter=1, history_size=h, tolerance_grad=-1, tolerance_change=-1), 6, 4)
    assert all(torch.equal(a, b) for a, b in zip(torchs, ours))
    code = (
        "import sys, torch\n"
        "from nst.lbfgs import LBFGS, LeanLBFGS\n"
        "x = torch.zeros(4, requires_grad=True)\n"
        "for opt in (LBFGS([x], max_iter=1), LeanLBFGS([x])):\n"
        "    opt.zero_grad()\n"
        "    opt.step(lambda: ((x - 1) ** 2).sum().backward() or ((x - 1) ** 2).sum())\n"
        "print('torch._dynamo' in sys.modules)\n"
    )
    from .support.paths import ROOT

    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.stdout.strip() == "False", out.stderr[-1000:]
