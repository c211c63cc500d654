"""CrowdPose keypoints (14). Values equal MMPose 1.3.2's ``crowdpose.py`` metainfo.

The keypoint colours and joint weights look shuffled relative to the names; they are kept
exactly as MMPose has them.
"""
from heatpose.schema.build import schema_from_tables
from heatpose.schema.palette import BLUE, GREEN, ORANGE

KEYPOINTS = (
    # name            mirror            part     colour
    ("left_shoulder",  "right_shoulder", "upper", BLUE),
    ("right_shoulder", "left_shoulder",  "upper", BLUE),
    ("left_elbow",     "right_elbow",    "upper", BLUE),
    ("right_elbow",    "left_elbow",     "upper", BLUE),
    ("left_wrist",     "right_wrist",    "upper", BLUE),
    ("right_wrist",    "left_wrist",     "upper", GREEN),
    ("left_hip",       "right_hip",      "lower", ORANGE),
    ("right_hip",      "left_hip",       "lower", GREEN),
    ("left_knee",      "right_knee",     "lower", ORANGE),
    ("right_knee",     "left_knee",      "lower", GREEN),
    ("left_ankle",     "right_ankle",    "lower", ORANGE),
    ("right_ankle",    "left_ankle",     "lower", GREEN),
    ("top_head",       "",               "upper", ORANGE),
    ("neck",           "",               "upper", GREEN),
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
    ("top_head", "neck", BLUE),
    ("right_shoulder", "neck", BLUE),
    ("left_shoulder", "neck", BLUE),
)
SIGMAS = (
    0.079, 0.079, 0.072, 0.072, 0.062, 0.062, 0.107, 0.107, 0.087, 0.087, 0.089, 0.089, 0.079,
    0.079
)
JOINT_WEIGHTS = (0.2, 0.2, 0.2, 1.3, 1.5, 0.2, 1.3, 1.5, 0.2, 0.2, 0.5, 0.2, 0.2, 0.5)

CROWDPOSE = schema_from_tables("crowdpose", KEYPOINTS, LINKS, SIGMAS, JOINT_WEIGHTS)
