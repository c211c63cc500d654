"""COCO person keypoints (17), shared by OCHuman and Human-Art; COCO+AIC (19) adds two.

Values equal MMPose 1.3.2's dataset metainfo ``coco.py`` (``ochuman.py`` and ``humanart.py``
hold the same keypoints, links, sigmas and weights; ``coco_aic.py`` appends AIC's head_top
and neck, used by the 19-channel COCO+AIC "combine" models).
"""
from heatpose.schema.build import schema_from_tables
from heatpose.schema.palette import BLUE, GREEN, ORANGE

KEYPOINTS = (
    # name            mirror            part     colour
    ("nose",           "",               "upper", BLUE),
    ("left_eye",       "right_eye",      "upper", BLUE),
    ("right_eye",      "left_eye",       "upper", BLUE),
    ("left_ear",       "right_ear",      "upper", BLUE),
    ("right_ear",      "left_ear",       "upper", BLUE),
    ("left_shoulder",  "right_shoulder", "upper", GREEN),
    ("right_shoulder", "left_shoulder",  "upper", ORANGE),
    ("left_elbow",     "right_elbow",    "upper", GREEN),
    ("right_elbow",    "left_elbow",     "upper", ORANGE),
    ("left_wrist",     "right_wrist",    "upper", GREEN),
    ("right_wrist",    "left_wrist",     "upper", ORANGE),
    ("left_hip",       "right_hip",      "lower", GREEN),
    ("right_hip",      "left_hip",       "lower", ORANGE),
    ("left_knee",      "right_knee",     "lower", GREEN),
    ("right_knee",     "left_knee",      "lower", ORANGE),
    ("left_ankle",     "right_ankle",    "lower", GREEN),
    ("right_ankle",    "left_ankle",     "lower", ORANGE),
)
LINKS = (
    ("left_ankle", "left_knee", GREEN),
    ("left_knee", "left_hip", GREEN),
    ("right_ankle", "right_knee", ORANGE),
    ("right_knee", "right_hip", ORANGE),
    ("left_hip", "right_hip", BLUE),
    ("left_shoulder", "left_hip", BLUE),
    ("right_shoulder", "right_hip", BLUE),
    ("left_shoulder", "right_shoulder", BLUE),
    ("left_shoulder", "left_elbow", GREEN),
    ("right_shoulder", "right_elbow", ORANGE),
    ("left_elbow", "left_wrist", GREEN),
    ("right_elbow", "right_wrist", ORANGE),
    ("left_eye", "right_eye", BLUE),
    ("nose", "left_eye", BLUE),
    ("nose", "right_eye", BLUE),
    ("left_eye", "left_ear", BLUE),
    ("right_eye", "right_ear", BLUE),
    ("left_ear", "left_shoulder", BLUE),
    ("right_ear", "right_shoulder", BLUE),
)
SIGMAS = (
    0.026, 0.025, 0.025, 0.035, 0.035, 0.079, 0.079, 0.072, 0.072, 0.062, 0.062, 0.107, 0.107,
    0.087, 0.087, 0.089, 0.089
)
JOINT_WEIGHTS = (
    1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.2, 1.2, 1.5, 1.5, 1.0, 1.0, 1.2, 1.2, 1.5, 1.5
)

COCO = schema_from_tables("coco", KEYPOINTS, LINKS, SIGMAS, JOINT_WEIGHTS)
OCHUMAN = schema_from_tables("ochuman", KEYPOINTS, LINKS, SIGMAS, JOINT_WEIGHTS)
HUMANART = schema_from_tables("humanart", KEYPOINTS, LINKS, SIGMAS, JOINT_WEIGHTS)

# MMPose's coco_aic.py lists 18 joint weights for its 19 keypoints (weights are unused by the
# topdown_heatmap configs); heatpose gives the last keypoint (neck) MMPose's default 1.0.
COCO_AIC = schema_from_tables(
    "coco_aic",
    KEYPOINTS + (("head_top", "", "upper", BLUE), ("neck", "", "upper", BLUE)),
    LINKS + (("head_top", "neck", BLUE),),
    SIGMAS + (0.026, 0.026),
    JOINT_WEIGHTS + (1.5, 1.0),
)
