"""CombinedTargetMSELoss (the UDP 'combined' / udp-regress recipe's loss) equals MMPose 1.3.2's
on fixed inputs: value and gradient (tests/fixtures/combined_loss.npz, written by
tools/dump_combined_loss.py with the peer); the recipe's config selects it for training."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from heatpose.engine.config import ConfigError, TrainConfig, apply_overrides
from heatpose.models.losses import CombinedTargetMSELoss, KeypointMSELoss, heatmap_loss

FIXTURE = np.load(Path(__file__).parent / "fixtures" / "combined_loss.npz")
CASES = sorted({k.split("/")[0] for k in FIXTURE.files})


@pytest.mark.parametrize("name", CASES)
def test_value_and_gradient_equal_mmpose(name):
    f = {k.split("/")[1]: FIXTURE[k] for k in FIXTURE.files if k.startswith(name + "/")}
    loss_fn = CombinedTargetMSELoss(use_target_weight=bool(f["use_target_weight"]),
                                    loss_weight=float(f["loss_weight"]))
    x = torch.from_numpy(f["output"]).requires_grad_()
    loss = loss_fn(x, torch.from_numpy(f["target"]), torch.from_numpy(f["weights"]))
    loss.backward()
    assert float(loss.detach()) == pytest.approx(float(f["loss"]), rel=1e-6, abs=1e-8)
    np.testing.assert_allclose(x.grad.numpy(), f["grad"], rtol=1e-5, atol=1e-9)


def test_weights_matter_and_shapes_are_checked():
    f = {k.split("/")[1]: FIXTURE[k] for k in FIXTURE.files if k.startswith("b2_weighted/")}
    out, tgt, w = (torch.from_numpy(f[k]) for k in ("output", "target", "weights"))
    weighted = CombinedTargetMSELoss(use_target_weight=True)
    assert float(weighted(out, tgt, w)) != float(weighted(out, tgt, torch.ones_like(w)))
    assert float(CombinedTargetMSELoss()(out, tgt, w)) == float(weighted(out, tgt, torch.ones_like(w)))
    with pytest.raises(ValueError, match=r"target_weights must be \(N, K\)"):
        weighted(out, tgt, w[:, :1])
    with pytest.raises(ValueError, match="3K"):
        weighted(out[:, :4], tgt[:, :4], w)


def test_model_loss_follows_the_recipe_and_the_codec():
    from heatpose.engine.presets import config_from_preset
    from heatpose.recipes import get_recipe

    cfg = config_from_preset(get_recipe("td-hm_hrnet-w32_udp-regress-8xb64-210e_coco-256x192"))
    assert cfg.model.loss == "CombinedTargetMSELoss"
    assert isinstance(heatmap_loss(cfg.model.loss), CombinedTargetMSELoss)
    assert isinstance(heatmap_loss("KeypointMSELoss"), KeypointMSELoss)
    with pytest.raises(ConfigError, match="model.loss = 'KeypointMSELoss' does not fit"):
        apply_overrides(cfg, ["model.loss=KeypointMSELoss"])
    with pytest.raises(ConfigError, match="model.loss = 'L1Loss': use one of"):
        apply_overrides(TrainConfig(), ["model.loss=L1Loss"])
    with pytest.raises(ConfigError, match="does not fit"):
        apply_overrides(TrainConfig(), ["model.loss=CombinedTargetMSELoss"])
