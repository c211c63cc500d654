"""Resuming keeps the optimizer implementation this device's build chose (fused on the CPU),
whatever the checkpoint's param groups say; the update's state and settings are the saved ones."""
import copy

import pytest
import torch
from torch import nn

from heatpose.engine.config import OptimConfig
from heatpose.engine.optim import build_optimizer, load_optimizer_state


def _trained(optimizer_factory):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 3), nn.Linear(3, 2))
    opt = optimizer_factory(model)
    for _ in range(2):
        opt.zero_grad()
        model(torch.randn(5, 4)).square().sum().backward()
        opt.step()
    return model, opt


@pytest.mark.parametrize("kind", ["Adam", "AdamW", "SGD"])
def test_old_unfused_checkpoint_resumes_fused_on_cpu(kind):
    cfg = OptimConfig(type=kind, lr=1e-3, weight_decay=1e-4, auto_scale_lr=False)
    cls = getattr(torch.optim, kind)
    extra = {"momentum": 0.9} if kind == "SGD" else {}
    # a checkpoint written by the per-tensor loop (before the CPU update was fused)
    old_model, old_opt = _trained(lambda m: cls(m.parameters(), lr=1e-3, weight_decay=1e-4,
                                                **extra))
    saved = copy.deepcopy(old_opt.state_dict())      # as read back from a file
    assert not saved["param_groups"][0].get("fused")
    model = nn.Sequential(nn.Linear(4, 3), nn.Linear(3, 2))
    model.load_state_dict(old_model.state_dict())
    opt = build_optimizer(model, cfg, batch_per_process=1)
    load_optimizer_state(opt, saved)
    assert opt.param_groups[0]["fused"] is True
    assert opt.param_groups[0]["lr"] == saved["param_groups"][0]["lr"]
    # the same next update as the run that wrote the checkpoint
    x = torch.randn(5, 4)
    for m, o in ((old_model, old_opt), (model, opt)):
        o.zero_grad()
        m(x).square().sum().backward()
        o.step()
    for a, b in zip(old_model.parameters(), model.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)


def test_fused_checkpoint_does_not_make_an_unfused_build_fused():
    # a CPU (fused) checkpoint resumed by a build that chose torch's default (as on a GPU)
    _, fused_opt = _trained(lambda m: torch.optim.Adam(m.parameters(), lr=1e-3, fused=True))
    model = nn.Sequential(nn.Linear(4, 3), nn.Linear(3, 2))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    load_optimizer_state(opt, fused_opt.state_dict())
    assert not opt.param_groups[0]["fused"]
    assert opt.param_groups[0]["foreach"] is None


def test_a_state_that_does_not_fit_still_raises():
    _, opt_a = _trained(lambda m: torch.optim.Adam(m.parameters(), lr=1e-3))
    state = opt_a.state_dict()
    state["param_groups"] = state["param_groups"] * 2
    opt = torch.optim.Adam(nn.Linear(2, 2).parameters(), lr=1e-3, fused=True)
    with pytest.raises(ValueError):
        load_optimizer_state(opt, state)
