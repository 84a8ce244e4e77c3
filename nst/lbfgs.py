"""L-BFGS in fewer image-sized buffers, for scales that run in tiles.

The same iteration as ``torch.optim.LBFGS`` as nst uses it (one function evaluation per
step, no line search, tolerances off; tests compare the iterates), in less memory. At
print sizes one image-sized vector is 75 MB (3072×2048 px), and torch's step holds about
``8 + 2·history`` of them at its peak: the gradient copied flat, its previous value, the
old and the new direction, the two-loop recursion's ``q``, and the new curvature pair
allocated before the oldest is dropped. Here the gradient is used where it lies, the
dropped pair's buffers take the new pair, and the recursion runs in the old direction's
buffer: ``4 + 2·history`` vectors (the pixels, their gradient, its previous value, the
direction, and the history).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

__all__ = ["LBFGS", "LeanLBFGS", "BUFFERS", "NoDynamo"]

# Image-sized vectors held besides the history's 2 per pair: the pixels, their gradient,
# the previous gradient and the direction.
BUFFERS = 4


def _unwrapped(method: Callable) -> Callable:
    return getattr(method, "__wrapped__", method)


class NoDynamo:
    """An optimiser whose ``add_param_group`` and ``zero_grad`` are torch's own, unwrapped.

    torch wraps them so that ``torch.compile`` leaves them alone, and the wrapper imports
    ``torch._dynamo`` at its first call: 1.6 s of a 2-core CPU's start of every run (its
    optimiser is made after the network loads), a quarter of a 6 s time limit. nst never
    compiles, so its optimisers call the methods themselves.
    """

    def add_param_group(self, param_group: dict) -> None:
        _unwrapped(torch.optim.Optimizer.add_param_group)(self, param_group)

    def zero_grad(self, set_to_none: bool = True) -> None:
        _unwrapped(torch.optim.Optimizer.zero_grad)(self, set_to_none)


class LBFGS(NoDynamo, torch.optim.LBFGS):
    """``torch.optim.LBFGS`` without the import of ``torch._dynamo`` (see :class:`NoDynamo`)."""


class LeanLBFGS(NoDynamo, torch.optim.Optimizer):
    """L-BFGS on one tensor, one closure evaluation per :meth:`step`, no line search.

    Args:
        params: a list of one tensor (the image).
        lr: the step length after the first step (as torch's ``lr``).
        history_size: curvature pairs kept.
    """

    def __init__(self, params: list[torch.Tensor], lr: float = 1.0, history_size: int = 20) -> None:
        super().__init__(params, {"lr": lr, "history_size": history_size})
        if len(self.param_groups) != 1 or len(self.param_groups[0]["params"]) != 1:
            raise ValueError("LeanLBFGS optimises one tensor")

    @torch.no_grad()
    def step(self, closure: Callable[[], torch.Tensor]) -> torch.Tensor:  # type: ignore[override]
        group = self.param_groups[0]
        x = group["params"][0]
        lr, history = float(group["lr"]), group["history_size"]
        state = self.state[x]
        with torch.enable_grad():
            loss = closure()
        g = x.grad.view(-1)  # the gradient where it lies, not a flat copy
        state["n_iter"] = n = state.get("n_iter", 0) + 1
        dirs, stps, ro = state.setdefault("old_dirs", []), state.setdefault("old_stps", []), state.setdefault("ro", [])
        if n == 1:
            d = torch.neg(g)
            state["H_diag"] = 1.0
        else:
            d, t, prev = state["d"], state["t"], state["prev_flat_grad"]
            # The new pair (y, s) = (g − g_prev, t·d), kept when y·s > 1e-10 (as torch); y·s
            # from two dot products, so that a pair not kept needs no buffer; a kept pair
            # takes the oldest pair's buffers when the history is full.
            ys = t * (float(g.dot(d)) - float(prev.dot(d)))
            if ys > 1e-10:
                full = len(dirs) == history
                y = torch.sub(g, prev, out=dirs.pop(0) if full else None)
                s = torch.mul(d, t, out=stps.pop(0) if full else None)
                if full:
                    ro.pop(0)
                dirs.append(y), stps.append(s), ro.append(1.0 / ys)
                state["H_diag"] = ys / float(y.dot(y))
                del y, s
            # The two-loop recursion, in the old direction's buffer (no longer needed).
            q = torch.neg(g, out=d)
            al = [0.0] * len(dirs)
            for i in range(len(dirs) - 1, -1, -1):
                al[i] = float(stps[i].dot(q)) * ro[i]
                q.add_(dirs[i], alpha=-al[i])
            d = q.mul_(state["H_diag"])
            for i in range(len(dirs)):
                be = float(dirs[i].dot(d)) * ro[i]
                d.add_(stps[i], alpha=al[i] - be)
        if "prev_flat_grad" in state:
            state["prev_flat_grad"].copy_(g)
        else:
            state["prev_flat_grad"] = g.clone()
        t = min(1.0, 1.0 / float(torch.linalg.vector_norm(g, 1))) * lr if n == 1 else lr
        state["d"], state["t"] = d, t
        if float(g.dot(d)) > 1:  # as torch with tolerance_change −1: no step
            return loss
        x.view(-1).add_(d, alpha=t)
        return loss
