"""What a front-door case records of a program: its outputs and the gradients of ``Σ out · r``.

Shared by `make_front_door_reference` (run with commit 2a6e8f2's package) and
`test_front_door` (today's), so both sides measure alike; it imports neither package.
"""

import numpy as np
import torch


def measure(prog, x, w, r):
    x, w = x.clone().requires_grad_(), w.clone().requires_grad_()
    out = prog(x, w)
    if not out.requires_grad:  # a circuit with no parameter
        return [out.detach().numpy(), np.zeros(x.shape), np.zeros(w.shape)]
    gx, gw = torch.autograd.grad((out * r).sum(), (x, w), allow_unused=True, materialize_grads=True)
    return [t.detach().numpy() for t in (out, gx, gw)]
