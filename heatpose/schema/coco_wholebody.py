"""COCO-WholeBody keypoints (133 = 17 COCO body + 6 feet + 68 face + 2 x 21 hand).

Values equal MMPose 1.3.2's ``coco_wholebody.py`` metainfo (and ``ubody2d.py``, the same table). The body is COCO's table; face
and hands follow the same layout as Halpe's (hand fingers chained from the hand root).
"""
from heatpose.schema import coco, halpe
from heatpose.schema.build import schema_from_tables
from heatpose.schema.palette import GREEN, ORANGE

FEET = (
    # name             mirror             part     colour
    ("left_big_toe",    "right_big_toe",   "lower", ORANGE),
    ("left_small_toe",  "right_small_toe", "lower", ORANGE),
    ("left_heel",       "right_heel",      "lower", ORANGE),
    ("right_big_toe",   "left_big_toe",    "lower", ORANGE),
    ("right_small_toe", "left_small_toe",  "lower", ORANGE),
    ("right_heel",      "left_heel",       "lower", ORANGE),
)
FEET_LINKS = (
    ("left_ankle", "left_big_toe", GREEN),
    ("left_ankle", "left_small_toe", GREEN),
    ("left_ankle", "left_heel", GREEN),
    ("right_ankle", "right_big_toe", ORANGE),
    ("right_ankle", "right_small_toe", ORANGE),
    ("right_ankle", "right_heel", ORANGE),
)
FEET_SIGMAS = (0.068, 0.066, 0.066, 0.092, 0.094, 0.094)
FACE_SIGMAS = (
    0.042, 0.043, 0.044, 0.043, 0.04, 0.035, 0.031, 0.025, 0.02, 0.023, 0.029, 0.032, 0.037,
    0.038, 0.043, 0.041, 0.045, 0.013, 0.012, 0.011, 0.011, 0.012, 0.012, 0.011, 0.011, 0.013,
    0.015, 0.009, 0.007, 0.007, 0.007, 0.012, 0.009, 0.008, 0.016, 0.01, 0.017, 0.011, 0.009,
    0.011, 0.009, 0.007, 0.013, 0.008, 0.011, 0.012, 0.01, 0.034, 0.008, 0.008, 0.009, 0.008,
    0.008, 0.007, 0.01, 0.008, 0.009, 0.009, 0.009, 0.007, 0.007, 0.008, 0.011, 0.008, 0.008,
    0.008, 0.01, 0.008
)
HAND_SIGMAS = (  # the same 21 values for each hand: root, then thumb .. pinky (knuckle first)
    0.029, 0.022, 0.035, 0.037, 0.047, 0.026, 0.025, 0.024, 0.035, 0.018, 0.024, 0.022, 0.026,
    0.017, 0.021, 0.021, 0.032, 0.02, 0.019, 0.022, 0.031
)

KEYPOINTS = (coco.KEYPOINTS + FEET + halpe.face_rows() + halpe.hand_rows("left")
             + halpe.hand_rows("right"))
LINKS = (coco.LINKS + FEET_LINKS + halpe.hand_links("left", root="hand_root")
         + halpe.hand_links("right", root="hand_root"))
SIGMAS = coco.SIGMAS + FEET_SIGMAS + FACE_SIGMAS + HAND_SIGMAS + HAND_SIGMAS

COCO_WHOLEBODY = schema_from_tables("coco_wholebody", KEYPOINTS, LINKS, SIGMAS)
# UBody (MMPose's ubody2d.py): the same 133 keypoints under the dataset name 'ubody2d'
UBODY2D = schema_from_tables("ubody2d", KEYPOINTS, LINKS, SIGMAS)
