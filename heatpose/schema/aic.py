"""AI Challenger (AIC) human keypoints (14). Values equal MMPose 1.3.2's ``aic.py`` metainfo."""
from heatpose.schema.build import schema_from_tables
from heatpose.schema.palette import BLUE, GREEN, ORANGE

KEYPOINTS = (
    # name            mirror            part     colour
    ("right_shoulder", "left_shoulder",  "upper", ORANGE),
    ("right_elbow",    "left_elbow",     "upper", ORANGE),
    ("right_wrist",    "left_wrist",     "upper", ORANGE),
    ("left_shoulder",  "right_shoulder", "upper", GREEN),
    ("left_elbow",     "right_elbow",    "upper", GREEN),
    ("left_wrist",     "right_wrist",    "upper", GREEN),
    ("right_hip",      "left_hip",       "lower", ORANGE),
    ("right_knee",     "left_knee",      "lower", ORANGE),
    ("right_ankle",    "left_ankle",     "lower", ORANGE),
    ("left_hip",       "right_hip",      "lower", GREEN),
    ("left_knee",      "right_knee",     "lower", GREEN),
    ("left_ankle",     "right_ankle",    "lower", GREEN),
    ("head_top",       "",               "upper", BLUE),
    ("neck",           "",               "upper", BLUE),
)
LINKS = (
    ("right_wrist", "right_elbow", ORANGE),
    ("right_elbow", "right_shoulder", ORANGE),
    ("right_shoulder", "neck", BLUE),
    ("neck", "left_shoulder", BLUE),
    ("left_shoulder", "left_elbow", GREEN),
    ("left_elbow", "left_wrist", GREEN),
    ("right_ankle", "right_knee", ORANGE),
    ("right_knee", "right_hip", ORANGE),
    ("right_hip", "left_hip", BLUE),
    ("left_hip", "left_knee", GREEN),
    ("left_knee", "left_ankle", GREEN),
    ("head_top", "neck", BLUE),
    ("right_shoulder", "right_hip", BLUE),
    ("left_shoulder", "left_hip", BLUE),
)
SIGMAS = (
    0.01388152, 0.01515228, 0.01057665, 0.01417709, 0.01497891, 0.01402144, 0.03909642,
    0.03686941, 0.01981803, 0.03843971, 0.03412318, 0.02415081, 0.01291456, 0.01236173
)
JOINT_WEIGHTS = (1.0, 1.2, 1.5, 1.0, 1.2, 1.5, 1.0, 1.2, 1.5, 1.0, 1.2, 1.5, 1.0, 1.0)

AIC = schema_from_tables("aic", KEYPOINTS, LINKS, SIGMAS, JOINT_WEIGHTS)
