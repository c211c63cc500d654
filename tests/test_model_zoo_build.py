"""Every model of the zoo builds by name and runs a forward pass with the preset's shapes."""
from __future__ import annotations

import pytest
import torch

import heatpose
from heatpose.errors import UnknownModelError

ALL = heatpose.list_models()


def test_zoo_names_unique_and_cover_the_issue_examples():
    assert len(ALL) == len(set(ALL))
    for name in ("td-hm_res50_8xb64-210e_coco-256x192",
                 "td-hm_hrnet-w48_udp_8xb32-210e_deepfashion_full-256x192",
                 "td-hm_res50-2deconv_8xb64-40e_jhmdb-sub1-256x256",
                 "td-hm-vis_res50_8xb64-210e_coco-aic-256x192-merge"):
        assert name in ALL


@pytest.mark.parametrize("name", ALL)
def test_build_and_forward(name):
    torch.manual_seed(0)
    model = heatpose.build_model(name)
    preset = model.preset
    w, h = preset.input_size
    hw, hh = preset.heatmap_size
    with torch.no_grad():
        heatmaps, vis = model.forward_all(torch.randn(1, 3, h, w))
    assert heatmaps.shape == (1, preset.num_keypoints, hh, hw)
    assert torch.isfinite(heatmaps).all()
    assert model.schema.num_keypoints == preset.num_keypoints == len(model.flip_indices)
    assert tuple(model.codec.input_size) == (w, h)
    assert tuple(model.codec.heatmap_size) == (hw, hh)
    assert (vis is not None) == bool(preset.visibility_head)
    if vis is not None:
        assert vis.shape == (1, preset.num_keypoints) and ((vis >= 0) & (vis <= 1)).all()


def test_aliases_build_the_same_model():
    m1 = heatpose.build_model("res50_coco_256x192")
    assert m1.name == "td-hm_res50_8xb64-210e_coco-256x192"
    m2 = heatpose.build_model("hrnet_w48_halpe_384x288_dark_plus")
    assert m2.num_keypoints == 136 and m2.codec.to_dict()["blur_kernel_size"] == 17


def test_unknown_name_suggests():
    with pytest.raises(UnknownModelError, match="td-hm_res50_8xb64-210e_coco-256x192"):
        heatpose.build_model("td-hm_res50_8xb64-210e_coco-256x19")


def test_mmpose_config_names_outside_the_zoo_build_from_the_name():
    model = heatpose.build_model("td-hm_hrnet-w32_dark-8xb64-210e_coco-384x288.py")
    codec = model.codec.to_dict()
    assert model.preset is None and model.num_keypoints == 17
    assert codec["input_size"] == [288, 384] and codec["heatmap_size"] == [72, 96]
    assert codec["unbiased"] and codec["blur_kernel_size"] == 17 and model.flip_shift
    udp = heatpose.build_model("td-hm_hrnet-w48_udp-8xb32-210e_coco-256x192")
    assert udp.codec.use_udp and not udp.flip_shift and udp.backbone.out_channels == 48
    from heatpose.errors import CheckpointError
    with pytest.raises(CheckpointError, match="no checkpoint"):
        heatpose.build_model("td-hm_hrnet-w32_8xb64-210e_coco-256x192", pretrained=True)
