"""ExLPose (extremely low-light) keypoints (14). Values equal MMPose 1.3.2's ``exlpose.py``."""
from heatpose.schema.build import schema_from_tables
from heatpose.schema.palette import BLUE, GREEN, ORANGE

KEYPOINTS = (
    # name            mirror            part     colour
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
    ("head",           "",               "upper", BLUE),
    ("neck",           "",               "upper", BLUE),
)
LINKS = (
    ("head", "neck", BLUE),
    ("neck", "left_shoulder", BLUE),
    ("neck", "right_shoulder", BLUE),
    ("left_shoulder", "left_elbow", GREEN),
    ("left_elbow", "left_wrist", GREEN),
    ("right_shoulder", "right_elbow", ORANGE),
    ("right_elbow", "right_wrist", ORANGE),
    ("neck", "right_hip", BLUE),
    ("neck", "left_hip", BLUE),
    ("right_hip", "right_knee", ORANGE),
    ("right_knee", "right_ankle", ORANGE),
    ("left_hip", "left_knee", GREEN),
    ("left_knee", "left_ankle", GREEN),
)
SIGMAS = (
    0.079, 0.079, 0.072, 0.072, 0.062, 0.062, 0.107, 0.107, 0.087, 0.087, 0.089, 0.089, 0.079,
    0.079
)
JOINT_WEIGHTS = (0.2, 0.2, 0.2, 1.3, 1.5, 0.2, 1.3, 1.5, 0.2, 0.2, 0.5, 0.2, 0.2, 0.5)

EXLPOSE = schema_from_tables("exlpose", KEYPOINTS, LINKS, SIGMAS, JOINT_WEIGHTS)
