"""MPII human keypoints (16), shared by MHP (LV-MHP-v2).

Values equal MMPose 1.3.2's ``mpii.py`` metainfo (``mhp.py`` holds the same values).
"""
from heatpose.schema.build import schema_from_tables
from heatpose.schema.palette import BLUE, GREEN, ORANGE

KEYPOINTS = (
    # name            mirror            part     colour
    ("right_ankle",    "left_ankle",     "lower", ORANGE),
    ("right_knee",     "left_knee",      "lower", ORANGE),
    ("right_hip",      "left_hip",       "lower", ORANGE),
    ("left_hip",       "right_hip",      "lower", GREEN),
    ("left_knee",      "right_knee",     "lower", GREEN),
    ("left_ankle",     "right_ankle",    "lower", GREEN),
    ("pelvis",         "",               "lower", BLUE),
    ("thorax",         "",               "upper", BLUE),
    ("upper_neck",     "",               "upper", BLUE),
    ("head_top",       "",               "upper", BLUE),
    ("right_wrist",    "left_wrist",     "upper", ORANGE),
    ("right_elbow",    "left_elbow",     "upper", ORANGE),
    ("right_shoulder", "left_shoulder",  "upper", ORANGE),
    ("left_shoulder",  "right_shoulder", "upper", GREEN),
    ("left_elbow",     "right_elbow",    "upper", GREEN),
    ("left_wrist",     "right_wrist",    "upper", GREEN),
)
LINKS = (
    ("right_ankle", "right_knee", ORANGE),
    ("right_knee", "right_hip", ORANGE),
    ("right_hip", "pelvis", ORANGE),
    ("pelvis", "left_hip", GREEN),
    ("left_hip", "left_knee", GREEN),
    ("left_knee", "left_ankle", GREEN),
    ("pelvis", "thorax", BLUE),
    ("thorax", "upper_neck", BLUE),
    ("upper_neck", "head_top", BLUE),
    ("upper_neck", "right_shoulder", ORANGE),
    ("right_shoulder", "right_elbow", ORANGE),
    ("right_elbow", "right_wrist", ORANGE),
    ("upper_neck", "left_shoulder", GREEN),
    ("left_shoulder", "left_elbow", GREEN),
    ("left_elbow", "left_wrist", GREEN),
)
SIGMAS = (
    0.089, 0.083, 0.107, 0.107, 0.083, 0.089, 0.026, 0.026, 0.026, 0.026, 0.062, 0.072, 0.179,
    0.179, 0.072, 0.062
)
JOINT_WEIGHTS = (1.5, 1.2, 1.0, 1.0, 1.2, 1.5, 1.0, 1.0, 1.0, 1.0, 1.5, 1.2, 1.0, 1.0, 1.2, 1.5)

MPII = schema_from_tables("mpii", KEYPOINTS, LINKS, SIGMAS, JOINT_WEIGHTS)
MHP = schema_from_tables("mhp", KEYPOINTS, LINKS, SIGMAS, JOINT_WEIGHTS)
