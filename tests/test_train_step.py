"""One training step equals MMPose 1.3.2's: loss, gradients, BatchNorm statistics, Adam update.

References: ``../shared/reference/train_step/*.npz`` (res50 COCO, batch given as network input)
and ``tests/fixtures/train_step/*.npz`` (written by ``tools/dump_train_step.py`` with the peer:
DARK, UDP, 384x288, HRNet-W48, visibility head; the batch is regenerated here by heatpose's own
training data path with augmentation off and checked against MMPose's; the network, codec and
data come from the recipe through the training code). The same code runs any architecture a
fixture names. Weights: ``../shared/reference/weights_rule.py``.
Tolerances (../shared/reference/README.md): loss rtol 1e-5; gradient norms and sums rtol 2e-3;
BN sums rtol 1e-4; updated parameter sums rtol 1e-5 (atol 1e-4).
"""
from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Callable, Dict

import numpy as np
import pytest
import torch

from heatpose.data.dataset import collate_topdown
from heatpose.engine.data import build_dataset
from heatpose.engine.model import TrainStep, build_training_model
from heatpose.models.build import RandomWeightsWarning, build_model

FIXTURES = Path(__file__).parent / "fixtures" / "train_step"
OWN = sorted(FIXTURES.glob("*.npz"))
SLOW = {"td-hm_hrnet-w48_8xb32-210e_coco-256x192", "td-hm_res50_8xb64-210e_coco-384x288"}
# the references were made with 2 intra-op threads; float32 gradient sums depend on the
# reduction split (1 thread moves BatchNorm-bias gradient norms by ~3e-3, past the 2e-3 bound)
REFERENCE_THREADS = 2


@pytest.fixture(autouse=True)
def reference_threads():
    old = torch.get_num_threads()
    torch.set_num_threads(REFERENCE_THREADS)
    yield
    torch.set_num_threads(old)


def _model(name: str, weights_rule) -> torch.nn.Module:
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RandomWeightsWarning)   # replaced by the weights rule
        model = build_model(name)
    sd = model.state_dict()
    model.load_state_dict(weights_rule([(k, tuple(v.shape)) for k, v in sd.items()]), strict=True)
    return model.train()


def _step(model: torch.nn.Module, losses: Callable[[], Dict[str, torch.Tensor]]) -> Dict:
    """Forward (train mode), backward, one Adam(5e-4) step; the statistics the fixtures hold."""
    terms = losses()
    out: Dict = {k: float(v.detach()) for k, v in terms.items()}
    terms["loss"].backward()
    params = list(model.named_parameters())
    mods = dict(model.named_modules())
    out.update(
        param_names=[n for n, _ in params],
        grad_norm=np.array([p.grad.double().norm().item() for _, p in params]),
        grad_sum=np.array([p.grad.double().sum().item() for _, p in params]),
        bn=mods)
    torch.optim.Adam([p for _, p in params], lr=5e-4, betas=(0.9, 0.999), eps=1e-8).step()
    out["new_param_sum"] = np.array([p.detach().double().sum().item() for _, p in params])
    return out


def _compare(got: Dict, f) -> None:
    assert json.loads(str(f["adam"]))["lr"] == 5e-4
    np.testing.assert_allclose(got["loss"], float(f["loss"]), rtol=1e-5)
    assert got["param_names"] == f["param_names"].tolist()
    np.testing.assert_allclose(got["grad_norm"], f["grad_norm"], rtol=2e-3)
    np.testing.assert_allclose(got["grad_sum"], f["grad_sum"], rtol=2e-3)
    mods = got["bn"]
    names = f["bn_names"].tolist()
    assert all(n in mods for n in names)
    assert len(names) == sum(isinstance(m, torch.nn.modules.batchnorm._BatchNorm)
                             for m in mods.values())
    for attr, key in (("running_mean", "bn_mean_sum"), ("running_var", "bn_var_sum")):
        sums = [getattr(mods[n], attr).double().sum().item() for n in names]
        np.testing.assert_allclose(sums, f[key], rtol=1e-4, err_msg=key)
    np.testing.assert_allclose(got["new_param_sum"], f["new_param_sum"], rtol=1e-5, atol=1e-4)


def test_shared_reference_step(reference_dir, weights_rule):
    """``../shared/reference/train_step``: the network input is given (normalised, float32)."""
    paths = sorted((reference_dir / "train_step").glob("train_step_*.npz"))
    assert paths
    for path in paths:
        f = np.load(path)
        model = _model(str(f["config"]), weights_rule)
        head = getattr(model.head, "pose_head", model.head)

        def losses():
            heatmaps, _ = model.forward_all(torch.from_numpy(f["inputs"]))
            return {"loss": head.loss(heatmaps, torch.from_numpy(f["target"]),
                                      torch.from_numpy(f["weights"]))}
        _compare(_step(model, losses), f)


def _recipe_config(name: str):
    """The recipe's training config, pointed at coco_mini (its COCO set only), augmentation
    off, no starting weights (the weights rule replaces them)."""
    from heatpose.engine.config import apply_overrides
    from heatpose.engine.presets import resolve_config

    return apply_overrides(resolve_config(name), [
        "model.pretrained_backbone=null", "model.init_checkpoint=null",
        "data.dataset=coco", "data.train_ann_file=annotations/person_keypoints_train2017.json",
        "data.train_img_prefix=train2017/", "data.train_keypoint_mapping=null",
        "data.extra_train_sets=[]", "data.augment.enabled=false"])


def _train_batch(f, data_dir: Path, cfg, model):
    """heatpose's training data path (augmentation off) on coco_mini: the fixture's samples."""
    from heatpose.engine.model import unpack_batch

    ds = build_dataset(cfg, data_dir / "coco_mini", "train", model.schema, model.codec)
    batch = collate_topdown([ds[i] for i in range(len(f["ann_ids"]))])
    assert batch[3]["ann_id"] == f["ann_ids"].tolist()
    return unpack_batch(batch, torch.device("cpu"))


@pytest.mark.parametrize("path", [pytest.param(p, id=p.stem, marks=[pytest.mark.slow]
                                               if p.stem in SLOW else []) for p in OWN])
def test_recipe_step(path, data_dir, weights_rule):
    """Each recipe fixture: heatpose's recipe (training codec and network, via the training
    code path) and its batch equal MMPose's, then the step."""
    from heatpose.codecs import codec_from_dict
    from heatpose.data.transforms import normalize_batch

    f = np.load(path)
    cfg = _recipe_config(str(f["config"]))
    assert codec_from_dict(cfg.model.codec).to_dict() == \
        codec_from_dict(json.loads(str(f["codec_json"]))).to_dict()
    torch.manual_seed(0)
    model = build_training_model(cfg.model, report=lambda line: None)
    sd = model.state_dict()
    model.load_state_dict(weights_rule([(k, tuple(v.shape)) for k, v in sd.items()]), strict=True)
    inputs = _train_batch(f, data_dir, cfg, model)
    x = normalize_batch(inputs[0])
    np.testing.assert_allclose(x.double().sum((1, 2, 3)).numpy(), f["inputs_sum"], rtol=1e-5)
    np.testing.assert_allclose(torch.nn.functional.avg_pool2d(x, 8).numpy(), f["inputs_pool"],
                               atol=1e-4)
    heatmaps, weights = inputs[1], inputs[2]
    np.testing.assert_allclose(heatmaps.double().sum((2, 3)).numpy(), f["target_sum"],
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(heatmaps.double().amax((2, 3)).numpy(), f["target_max"],
                               atol=1e-6)
    np.testing.assert_array_equal(weights.numpy(), f["weights"])
    step = TrainStep(model)
    got = _step(model, lambda: step(*inputs))
    terms = json.loads(str(f["losses_json"]))
    for key, value in terms.items():
        np.testing.assert_allclose(got[key], value, rtol=1e-5, err_msg=key)
    _compare(got, f)
