"""PoseTrack18 keypoints (17; COCO layout with head_bottom/head_top for the eyes).

Values equal MMPose 1.3.2's ``posetrack18.py`` metainfo.
"""
from heatpose.schema.build import schema_from_tables
from heatpose.schema.palette import BLUE, GREEN, ORANGE

KEYPOINTS = (
    # name            mirror            part     colour
    ("nose",           "",               "upper", BLUE),
    ("head_bottom",    "",               "upper", BLUE),
    ("head_top",       "",               "upper", BLUE),
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
    ("nose", "head_bottom", BLUE),
    ("nose", "head_top", BLUE),
    ("head_bottom", "left_shoulder", BLUE),
    ("head_bottom", "right_shoulder", BLUE),
)
SIGMAS = (
    0.026, 0.025, 0.025, 0.035, 0.035, 0.079, 0.079, 0.072, 0.072, 0.062, 0.062, 0.107, 0.107,
    0.087, 0.087, 0.089, 0.089
)
JOINT_WEIGHTS = (
    1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.2, 1.2, 1.5, 1.5, 1.0, 1.0, 1.2, 1.2, 1.5, 1.5
)

POSETRACK18 = schema_from_tables("posetrack18", KEYPOINTS, LINKS, SIGMAS, JOINT_WEIGHTS)
