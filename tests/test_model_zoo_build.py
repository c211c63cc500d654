"""Models build by recipe name (exact settings) or, outside the recipes, from the config name
with a warning; representative architectures run a forward pass with the recipe's shapes.
(Settings of *all* recipes against MMPose: tests/test_recipes.py.)"""
from __future__ import annotations

import warnings

import pytest
import torch

import heatpose
from heatpose.errors import CheckpointError, UnknownModelError
from heatpose.models.build import InferredSettingsWarning, RandomWeightsWarning

ALL = heatpose.list_models()
# architecture kinds (kept few: HRNet builds are slow on 2 cores): 3 deconvs + visibility head,
# 2 deconvs, HRNet with UDP 'combined' (3 maps per keypoint), 294-keypoint DeepFashion2
FORWARD = ["td-hm-vis_res50_8xb64-210e_coco-aic-256x192-merge",
           "td-hm_res50-2deconv_8xb64-40e_jhmdb-sub1-256x256",
           "td-hm_hrnet-w32_udp-regress-8xb64-210e_coco-256x192",
           "td-hm_res50_4xb64-210e_deepfasion2-vest-256x192"]


def test_names_unique_and_cover_the_issue_examples():
    assert len(ALL) == len(set(ALL)) == 119
    for name in FORWARD + ["td-hm_hrnet-w32_dark-8xb64-210e_coco-384x288",
                           "td-hm_res101_dark-8xb64-210e_coco-384x288",
                           "td-hm_hrnet-w32_8xb64-210e_coco-256x192"]:
        assert name in ALL


@pytest.mark.parametrize("name", FORWARD)
def test_build_and_forward(name):
    """A small input (about half the recipe's side lengths, multiples of 32) through the full
    network: the heatmaps have the recipe's channels and stride."""
    torch.manual_seed(0)
    with pytest.warns(RandomWeightsWarning):
        model = heatpose.build_model(name)
    recipe = model.preset
    w, h = recipe.input_size
    stride = w // recipe.heatmap_size[0]
    with torch.no_grad():
        hi, wi = (h // 64) * 32, (w // 64) * 32
        heatmaps, vis = model.forward_all(torch.randn(1, 3, hi, wi))
    assert heatmaps.shape == (1, recipe.model.head_out_channels, hi // stride, wi // stride)
    assert torch.isfinite(heatmaps).all()
    assert model.schema.num_keypoints == recipe.num_keypoints == model.num_keypoints
    assert (vis is not None) == recipe.visibility_head
    if vis is not None:
        assert vis.shape == (1, recipe.num_keypoints) and ((vis >= 0) & (vis <= 1)).all()


def test_aliases_build_the_same_model():
    with pytest.warns(RandomWeightsWarning):
        m1 = heatpose.build_model("res50_coco_256x192")
    assert m1.name == "td-hm_res50_8xb64-210e_coco-256x192"
    with pytest.warns(RandomWeightsWarning):
        m2 = heatpose.build_model("hrnet_w48_halpe_384x288_dark_plus")
    assert m2.num_keypoints == 136 and m2.codec.to_dict()["blur_kernel_size"] == 17


def test_unknown_name_suggests():
    with pytest.raises(UnknownModelError, match="td-hm_res50_8xb64-210e_coco-256x192"):
        heatpose.build_model("td-hm_res50_8xb64-210e_coco-256x19")


def test_dark_384x288_recipes_use_mmpose_default_blur_kernel():
    """MMPose 1.3.2's DARK 384x288 HRNet/ResNet-101 configs leave blur_kernel_size at 11."""
    for name in ("td-hm_hrnet-w32_dark-8xb64-210e_coco-384x288",
                 "td-hm_res101_dark-8xb64-210e_coco-384x288"):
        with pytest.warns(RandomWeightsWarning):
            codec = heatpose.build_model(name + ".py").codec.to_dict()
        assert codec["unbiased"] and codec["blur_kernel_size"] == 11 and codec["sigma"] == 3
    with pytest.warns(RandomWeightsWarning):     # ... and the one config that sets 17 keeps it
        assert heatpose.build_model("td-hm_res152_dark-8xb32-210e_coco-384x288").codec.to_dict()[
            "blur_kernel_size"] == 17


def test_config_names_outside_the_recipes_build_with_a_warning():
    with pytest.warns(RandomWeightsWarning), \
            pytest.warns(InferredSettingsWarning, match="inferred from the name") as record:
        model = heatpose.build_model("td-hm_res18_dark-8xb64-210e_coco-384x288.py",
                                     checkpoint=None)
    message = str(next(r.message for r in record if r.category is InferredSettingsWarning))
    assert "resnet18" in message and "'unbiased': True" in message
    codec = model.codec.to_dict()
    assert model.preset is None and model.num_keypoints == 17
    assert codec["input_size"] == [288, 384] and codec["heatmap_size"] == [72, 96]
    assert codec["unbiased"] and codec["blur_kernel_size"] == 11 and model.flip_shift
    with pytest.warns(RandomWeightsWarning), pytest.warns(InferredSettingsWarning):
        udp = heatpose.build_model("td-hm_res34_udp-8xb32-210e_crowdpose-256x192")
    assert udp.codec.use_udp and not udp.flip_shift and udp.num_keypoints == 14
    with pytest.raises(CheckpointError, match="no published checkpoint"):
        with pytest.warns(InferredSettingsWarning):
            heatpose.build_model("td-hm_res34_8xb64-210e_coco-256x192", pretrained=True)


def test_random_weights_warning_only_without_weights(tmp_path):
    """build_model warns once when it has neither a checkpoint nor pretrained=True; loading a
    checkpoint, load_model and the training engine's builder stay silent."""
    from heatpose.engine.config import apply_overrides
    from heatpose.engine.model import build_training_model
    from heatpose.engine.presets import resolve_config

    name = "td-hm_res50-2deconv_8xb64-40e_jhmdb-sub1-256x256"
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        model = heatpose.build_model(name)
    assert [r.category for r in record] == [RandomWeightsWarning]
    assert "random weights" in str(record[0].message) and name in str(record[0].message)
    path = tmp_path / "m.pth"
    heatpose.save_model(model, path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        heatpose.build_model(name, checkpoint=path)
        heatpose.load_model(path)
        offline = ["model.init_checkpoint=null", "model.pretrained_backbone=null"]
        build_training_model(apply_overrides(resolve_config(name), offline).model)
