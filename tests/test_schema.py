"""Keypoint schemas: built-ins equal MMPose 1.3.2's parsed metainfo; user schemas from files."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from heatpose.errors import InputError
from heatpose.schema import (KeypointSchema, get_schema, list_schemas, load_schema,
                             schema_for_dataset)
from heatpose.schema.deepfashion2 import CATEGORY_RANGES

FIXTURE = Path(__file__).parent / "fixtures" / "mmpose_metainfo.json"
MMPOSE = json.loads(FIXTURE.read_text())["datasets"]


def test_fixture_covers_every_builtin():
    assert sorted(MMPOSE) == list_schemas()
    for name in ("coco", "ochuman", "aic", "mhp", "mpii", "mpii_trb", "crowdpose", "posetrack18",
                 "jhmdb", "halpe", "deepfashion_upper", "deepfashion_lower", "deepfashion_full",
                 "deepfashion2"):
        assert name in list_schemas()


@pytest.mark.parametrize("name", sorted(MMPOSE))
def test_builtin_equals_mmpose_metainfo(name):
    ref = MMPOSE[name]
    s = get_schema(name)
    assert s.name == name
    assert s.num_keypoints == ref["num_keypoints"] == len(ref["names"])
    assert list(s.keypoint_names) == ref["names"]
    assert list(s.flip_indices) == ref["flip_indices"]
    assert [list(link) for link in s.skeleton] == ref["skeleton_links"]
    assert [list(c) for c in s.keypoint_colors] == ref["keypoint_colors"]
    assert [list(c) for c in s.skeleton_colors] == ref["skeleton_link_colors"]
    assert list(s.upper_body_ids) == ref["upper_body_ids"]
    assert list(s.lower_body_ids) == ref["lower_body_ids"]
    np.testing.assert_array_equal(np.asarray(s.sigmas, np.float32),
                                  np.asarray(ref["sigmas"], np.float32))
    weights = np.asarray(ref["dataset_keypoint_weights"], np.float32)
    if name == "coco_aic":
        # MMPose lists 18 weights for 19 keypoints; heatpose gives the neck the default 1.0
        assert len(weights) == 18 and s.joint_weights[18] == 1.0
        np.testing.assert_array_equal(np.asarray(s.joint_weights[:18], np.float32), weights)
    else:
        np.testing.assert_array_equal(np.asarray(s.joint_weights, np.float32), weights)


@pytest.mark.parametrize("name", list_schemas())
def test_flip_indices_are_involutions(name):
    s = get_schema(name)
    f = np.asarray(s.flip_indices)
    broken = [i for i in range(len(f)) if f[f[i]] != i]
    if name == "deepfashion2":
        # upstream quirk kept as MMPose has it: vest_kpt9 -> vest_kpt13 -> vest_kpt13
        assert broken == [s.index("vest_kpt9")]
        assert s.flip_indices[s.index("vest_kpt13")] == s.index("vest_kpt13")
    else:
        assert broken == []
    # flipping never mixes a left name with anything but its right twin
    for i, j in enumerate(s.flip_indices):
        a, b = s.keypoint_names[i], s.keypoint_names[j]
        if "left" in a and i != j:
            assert b == a.replace("left", "right")


@pytest.mark.parametrize("name", list_schemas())
def test_to_dict_round_trips_through_json(name):
    s = get_schema(name)
    d = json.loads(json.dumps(s.to_dict()))
    back = KeypointSchema.from_dict(d)
    assert back == s
    assert hash(back) == hash(s)


def test_shared_keypoint_sets():
    assert get_schema("ochuman").keypoint_names == get_schema("coco").keypoint_names
    assert get_schema("mhp").sigmas == get_schema("mpii").sigmas
    coco_aic = get_schema("coco_aic")
    assert coco_aic.keypoint_names[:17] == get_schema("coco").keypoint_names
    assert coco_aic.keypoint_names[17:] == ("head_top", "neck")


def test_deepfashion2_category_blocks():
    s = get_schema("deepfashion2")
    assert len(CATEGORY_RANGES) == 13
    stops = 0
    for category, (start, stop) in CATEGORY_RANGES.items():
        assert start == stops and stop > start
        stops = stop
        prefix = s.keypoint_names[start].split("_kpt")[0]
        assert all(n.startswith(prefix + "_kpt") for n in s.keypoint_names[start:stop])
        assert all(start <= j < stop for j in s.flip_indices[start:stop])
        assert all(start <= a < stop and start <= b < stop
                   for a, b in s.skeleton if start <= a < stop)
    assert stops == s.num_keypoints == 294
    assert CATEGORY_RANGES["short_sleeved_shirt"] == (0, 25)


def test_get_schema_names_and_errors():
    assert get_schema("CrowdPose") is get_schema("crowdpose")
    assert get_schema("deepfashion-upper").name == "deepfashion_upper"
    assert get_schema("jhmdb-sub2").name == "jhmdb"          # zoo dataset names work too
    with pytest.raises(InputError) as e:
        get_schema("cocoo")
    assert "cocoo" in str(e.value) and "coco" in str(e.value) and "deepfashion2" in str(e.value)


@pytest.mark.parametrize("dataset, schema", [
    ("coco", "coco"), ("coco-aic", "coco"), ("coco-aic-merge", "coco"),
    ("coco-aic-combine", "coco_aic"), ("aic-coco", "coco_aic"), ("ochuman", "ochuman"),
    ("aic", "aic"), ("mpii", "mpii"), ("mpii_trb", "mpii_trb"), ("crowpose", "crowdpose"),
    ("posetrack18-384x288", "posetrack18"), ("jhmdb-sub3", "jhmdb"), ("halpe", "halpe"),
    ("deepfashion_lower", "deepfashion_lower"), ("deepfashion-full-256x192", "deepfashion_full"),
    ("deepfasion2-short-sleeved-shirt", "deepfashion2"),
    ("deepfashion2_vest_dress", "deepfashion2"),
    ("td-hm_res50_8xb64-210e_coco-256x192", "coco"),
    ("td-hm_hrnet-w32_8xb64-210e_coco-aic-256x192-combine", "coco_aic"),
    ("td-hm-vis_res50_8xb64-210e_coco-aic-256x192-merge.py", "coco"),
    ("td-hm_res50-2deconv_8xb64-40e_jhmdb-sub1-256x256", "jhmdb"),
    ("td-hm_res50_4xb64-210e_deepfasion2-sling-dress-256x192", "deepfashion2"),
    ("cspnext-m_udp_8xb64-210e_crowpose-256x192", "crowdpose"),
    ("humanart", "humanart"), ("exlpose", "exlpose"), ("mhp", "mhp"),
    ("td-hm_hrnet-w32_dark-8xb64-210e_coco-wholebody-256x192", "coco_wholebody"),
    ("ubody", "ubody2d"), ("td-hm_hrnet-w32_8xb64-210e_ubody-256x192", "ubody2d"),
])
def test_schema_for_dataset(dataset, schema):
    assert schema_for_dataset(dataset) is get_schema(schema)


def test_schema_for_dataset_errors():
    with pytest.raises(InputError, match="DeepFashion2 category 'hat'"):
        schema_for_dataset("deepfashion2-hat")
    with pytest.raises(InputError, match="no keypoint schema for dataset 'animalpose'"):
        schema_for_dataset("animalpose")


# ------------------------------------------------------------------ user-defined schemas
SHORT = {
    "keypoints": ["nose", "left_eye", "right_eye", "left_wrist", "right_wrist"],
    "flip_pairs": [["left_eye", "right_eye"], ["left_wrist", "right_wrist"]],
    "skeleton": [["nose", "left_eye"], ["nose", "right_eye"], ["left_eye", "right_eye"]],
    "sigmas": [0.026, 0.025, 0.025, 0.062, 0.062],
}


def _check_short(s: KeypointSchema, name: str) -> None:
    assert s.name == name
    assert s.flip_indices == (0, 2, 1, 4, 3)
    assert s.skeleton == ((0, 1), (0, 2), (1, 2))
    assert s.keypoint_colors == ((51, 153, 255), (0, 255, 0), (255, 128, 0), (0, 255, 0),
                                 (255, 128, 0))
    assert s.skeleton_colors == ((51, 153, 255),) * 3        # mixed ends -> blue
    assert s.sigmas == (0.026, 0.025, 0.025, 0.062, 0.062)
    assert s.joint_weights == (1.0,) * 5
    assert s.flip_pairs == ((1, 2), (3, 4))


def test_custom_json_file(tmp_path):
    p = tmp_path / "face5.json"
    p.write_text(json.dumps(SHORT))
    s = load_schema(p)
    _check_short(s, "face5")
    assert load_schema(str(p)) == s
    assert KeypointSchema.from_dict(s.to_dict()) == s


def test_custom_yaml_file(tmp_path):
    pytest.importorskip("yaml")
    p = tmp_path / "mine.yaml"
    p.write_text("name: my_pose\n"
                 "keypoints: [nose, left_eye, right_eye, left_wrist, right_wrist]\n"
                 "flip_pairs:\n  - [left_eye, right_eye]\n  - [3, 4]\n"
                 "skeleton: [[nose, left_eye], [0, 2], [left_eye, right_eye]]\n"
                 "sigmas: [0.026, 0.025, 0.025, 0.062, 0.062]\n"
                 "joint_weights: [1, 1, 1, 1.5, 1.5]\n"
                 "keypoint_colors: {nose: [1, 2, 3]}\n"
                 "upper_body_ids: [nose, left_eye, right_eye, left_wrist, right_wrist]\n")
    s = load_schema(p)
    assert s.name == "my_pose"
    assert s.flip_indices == (0, 2, 1, 4, 3)
    assert s.skeleton == ((0, 1), (0, 2), (1, 2))
    assert s.joint_weights == (1.0, 1.0, 1.0, 1.5, 1.5)
    assert s.keypoint_colors[0] == (1, 2, 3) and s.keypoint_colors[1] == (0, 255, 0)
    assert s.upper_body_ids == (0, 1, 2, 3, 4) and s.lower_body_ids == ()


def test_yaml_without_pyyaml_says_so(tmp_path, monkeypatch):
    p = tmp_path / "s.yml"
    p.write_text("keypoints: [a]\n")
    monkeypatch.setitem(sys.modules, "yaml", None)         # import yaml -> ImportError
    with pytest.raises(InputError, match=r"s\.yml: .*PyYAML"):
        load_schema(p)


@pytest.mark.parametrize("change, field, words", [
    ({"flip_pairs": [["left_eye", "right_eye"], ["left_wrist", "right_wristt"]]},
     r"flip_pairs\[1\]", "unknown keypoint 'right_wristt'"),
    ({"flip_pairs": [["left_eye", "right_eye"], ["right_eye", "left_wrist"]]},
     r"flip_pairs\[1\]", "permutation"),
    ({"flip_pairs": [["nose", "nose"]]}, r"flip_pairs\[0\]", "with itself"),
    ({"flip_pairs": [["nose"]]}, r"flip_pairs\[0\]", "expected two keypoints"),
    ({"flip_indices": [0, 2, 1]}, "flip_indices", "has 3 entries, expected 5"),
    ({"flip_indices": [0, 2, 1, 4, 3]}, "flip_pairs", "not both"),
    ({"sigmas": [0.1, 0.1]}, "sigmas", "has 2 values, expected one per keypoint"),
    ({"sigmas": [0.1, 0.1, 0.1, -0.1, 0.1]}, r"sigmas\[3\]", "positive number"),
    ({"joint_weights": [1, 1, 1, 1, "x"]}, r"joint_weights\[4\]", "non-negative number"),
    ({"skeleton": [["nose", 7]]}, r"skeleton\[0\]", "index 7 outside 0..4"),
    ({"skeleton_colors": [[0, 0, 0]]}, "skeleton_colors", "one per skeleton link"),
    ({"keypoint_colors": [[0, 0, 300]] * 5}, r"keypoint_colors\[0\]", "R, G, B"),
    ({"keypoints": ["a", "a"]}, "keypoints", "duplicate keypoint names"),
    ({"keypoints": []}, "keypoints", "no keypoints"),
    ({"flip_pair": []}, "flip_pair", "unknown field"),
    ({"upper_body_ids": ["chin"]}, r"upper_body_ids\[0\]", "unknown keypoint 'chin'"),
])
def test_custom_schema_errors_name_file_and_field(tmp_path, change, field, words):
    d = dict(SHORT)
    d.update(change)
    if "flip_indices" in change and len(change["flip_indices"]) == 3:
        d.pop("flip_pairs")
    p = tmp_path / "bad_schema.json"
    p.write_text(json.dumps(d))
    with pytest.raises(InputError) as e:
        load_schema(p)
    msg = str(e.value)
    assert msg.startswith(str(p) + ": ")
    assert __import__("re").search(field, msg), msg
    assert words in msg


def test_file_level_errors(tmp_path):
    with pytest.raises(InputError, match="not found"):
        load_schema(tmp_path / "missing.json")
    bad = tmp_path / "broken.json"
    bad.write_text('{"keypoints": [')
    with pytest.raises(InputError, match=r"broken\.json: invalid JSON at line 1"):
        load_schema(bad)
    txt = tmp_path / "schema.txt"
    txt.write_text("{}")
    with pytest.raises(InputError, match="unsupported schema file type '.txt'"):
        load_schema(txt)
    lst = tmp_path / "list.json"
    lst.write_text("[1, 2]")
    with pytest.raises(InputError, match="expected a mapping"):
        load_schema(lst)
    nokp = tmp_path / "nokp.json"
    nokp.write_text('{"name": "x"}')
    with pytest.raises(InputError, match="keypoints: missing"):
        load_schema(nokp)


# ------------------------------------------------------------- MMPose dataset_info dicts
def _as_mmpose_dataset_info(s: KeypointSchema) -> dict:
    """What an MMPose configs/_base_/datasets/<name>.py holds, JSON-style (string keys)."""
    upper, lower = set(s.upper_body_ids), set(s.lower_body_ids)
    kpts = {}
    for i, n in enumerate(s.keypoint_names):
        j = s.flip_indices[i]
        kpts[str(i)] = dict(name=n, id=i, color=list(s.keypoint_colors[i]),
                            type="upper" if i in upper else "lower" if i in lower else "",
                            swap=s.keypoint_names[j] if j != i else "")
    links = {str(i): dict(link=[s.keypoint_names[a], s.keypoint_names[b]], id=i,
                          color=list(s.skeleton_colors[i]))
             for i, (a, b) in enumerate(s.skeleton)}
    return dict(dataset_name=s.name, paper_info=dict(title="x"), keypoint_info=kpts,
                skeleton_info=links, joint_weights=list(s.joint_weights), sigmas=list(s.sigmas))


@pytest.mark.parametrize("name", ["coco", "mpii_trb", "deepfashion2", "halpe"])
def test_mmpose_dataset_info_dicts(name):
    s = get_schema(name)
    info = json.loads(json.dumps(_as_mmpose_dataset_info(s)))
    assert KeypointSchema.from_dict(info) == s
    assert KeypointSchema.from_dict({"dataset_info": info}) == s


def test_mmpose_dataset_info_defaults_and_errors(tmp_path):
    info = {"dataset_name": "tiny",
            "keypoint_info": {0: {"name": "a", "swap": "b", "type": "upper"},
                              1: {"name": "b", "swap": "a"}, 2: {"name": "c", "swap": ""}},
            "skeleton_info": {0: {"link": ("a", "b")}},
            "joint_weights": [1.0, 2.0, 1.0], "sigmas": []}
    s = KeypointSchema.from_dict(info)
    assert s.name == "tiny" and s.flip_indices == (1, 0, 2) and s.skeleton == ((0, 1),)
    assert s.keypoint_colors == ((255, 128, 0),) * 3          # MMPose's default colours
    assert s.skeleton_colors == ((96, 96, 255),)
    assert s.upper_body_ids == (0,) and s.sigmas == () and s.joint_weights == (1.0, 2.0, 1.0)

    bad = dict(info, keypoint_info={0: {"name": "a", "swap": "z"}})
    p = tmp_path / "mm.json"
    p.write_text(json.dumps({"dataset_info": bad}))
    with pytest.raises(InputError,
                       match=r"mm\.json: keypoint_info\[0\]\.swap: unknown keypoint 'z'"):
        load_schema(p)
    with pytest.raises(InputError, match=r"skeleton_info\[0\]\.link: unknown keypoint 'b'"):
        KeypointSchema.from_dict(dict(info, keypoint_info={0: {"name": "a"}}))
    with pytest.raises(InputError, match="joint_weights: has 3 values"):
        KeypointSchema.from_dict(dict(info, keypoint_info={0: {"name": "a"}}, skeleton_info={}))
    with pytest.raises(InputError, match="ids must be 0..1"):
        KeypointSchema.from_dict(dict(info, keypoint_info={0: {"name": "a"}, 2: {"name": "b"}},
                                      joint_weights=[]))


# ------------------------------------------------------------------- the dataclass itself
def test_dataclass_normalises_and_validates():
    s = KeypointSchema("t", ["a", "b"], [1, 0], skeleton=[[0, 1]], keypoint_colors=[[1, 2, 3]] * 2)
    assert s.keypoint_names == ("a", "b") and s.skeleton == ((0, 1),)
    assert s.keypoint_colors == ((1, 2, 3), (1, 2, 3))
    assert s.index("b") == 1 and s.weights() == (1.0, 1.0)
    with pytest.raises(InputError, match="no keypoint 'c'"):
        s.index("c")
    with pytest.raises(InputError, match="flip_indices has 1 entries, expected 2"):
        KeypointSchema("t", ["a", "b"], [0])
    with pytest.raises(InputError, match="skeleton has indices"):
        KeypointSchema("t", ["a", "b"], [0, 1], skeleton=[(0, 2)])
    with pytest.raises(InputError, match="sigmas has 1 entries"):
        KeypointSchema("t", ["a", "b"], [0, 1], sigmas=[0.1])
    with pytest.raises(InputError, match="duplicate keypoint names"):
        KeypointSchema("t", ["a", "a"], [0, 1])
