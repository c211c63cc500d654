"""Sub-JHMDB keypoints (15). Values equal MMPose 1.3.2's ``jhmdb.py`` metainfo."""
from heatpose.schema.build import schema_from_tables
from heatpose.schema.palette import BLUE, GREEN, ORANGE

KEYPOINTS = (
    # name            mirror            part     colour
    ("neck",           "",               "upper", ORANGE),
    ("belly",          "",               "upper", ORANGE),
    ("head",           "",               "upper", ORANGE),
    ("right_shoulder", "left_shoulder",  "upper", GREEN),
    ("left_shoulder",  "right_shoulder", "upper", GREEN),
    ("right_hip",      "left_hip",       "lower", GREEN),
    ("left_hip",       "right_hip",      "lower", BLUE),
    ("right_elbow",    "left_elbow",     "upper", BLUE),
    ("left_elbow",     "right_elbow",    "upper", BLUE),
    ("right_knee",     "left_knee",      "lower", BLUE),
    ("left_knee",      "right_knee",     "lower", ORANGE),
    ("right_wrist",    "left_wrist",     "upper", ORANGE),
    ("left_wrist",     "right_wrist",    "upper", ORANGE),
    ("right_ankle",    "left_ankle",     "lower", GREEN),
    ("left_ankle",     "right_ankle",    "lower", GREEN),
)
LINKS = (
    ("right_ankle", "right_knee", ORANGE),
    ("right_knee", "right_hip", ORANGE),
    ("right_hip", "belly", ORANGE),
    ("belly", "left_hip", GREEN),
    ("left_hip", "left_knee", GREEN),
    ("left_knee", "left_ankle", GREEN),
    ("belly", "neck", BLUE),
    ("neck", "head", BLUE),
    ("neck", "right_shoulder", ORANGE),
    ("right_shoulder", "right_elbow", ORANGE),
    ("right_elbow", "right_wrist", ORANGE),
    ("neck", "left_shoulder", GREEN),
    ("left_shoulder", "left_elbow", GREEN),
    ("left_elbow", "left_wrist", GREEN),
)
SIGMAS = (
    0.025, 0.107, 0.025, 0.079, 0.079, 0.107, 0.107, 0.072, 0.072, 0.087, 0.087, 0.062, 0.062,
    0.089, 0.089
)
JOINT_WEIGHTS = (1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.2, 1.2, 1.2, 1.2, 1.5, 1.5, 1.5, 1.5)

JHMDB = schema_from_tables("jhmdb", KEYPOINTS, LINKS, SIGMAS, JOINT_WEIGHTS)
