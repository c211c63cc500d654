"""Every model of the zoo builds by name and runs a forward pass with the preset's shapes."""
from __future__ import annotations

import pytest
import torch

import heatpose
from heatpose.errors import UnknownModelError

ALL = heatpose.list_models()


def test_zoo_is_complete_and_unique():
    assert len(ALL) == len(set(ALL)) and len(ALL) >= 60


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
