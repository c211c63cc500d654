"""Halpe full-body keypoints (136 = 26 body/feet + 68 face + 2 x 21 hand).

Values equal MMPose 1.3.2's ``halpe.py`` metainfo. The body is a table; the face and hand
points follow regular patterns and are generated below from small tables.
"""
from heatpose.schema.build import schema_from_tables
from heatpose.schema.palette import BLUE, GREEN, ORANGE, PINK, RED, SKY, WHITE

BODY = (
    # name            mirror             part     colour
    ("nose",            "",                "upper", BLUE),
    ("left_eye",        "right_eye",       "upper", BLUE),
    ("right_eye",       "left_eye",        "upper", BLUE),
    ("left_ear",        "right_ear",       "upper", BLUE),
    ("right_ear",       "left_ear",        "upper", BLUE),
    ("left_shoulder",   "right_shoulder",  "upper", GREEN),
    ("right_shoulder",  "left_shoulder",   "upper", ORANGE),
    ("left_elbow",      "right_elbow",     "upper", GREEN),
    ("right_elbow",     "left_elbow",      "upper", ORANGE),
    ("left_wrist",      "right_wrist",     "upper", GREEN),
    ("right_wrist",     "left_wrist",      "upper", ORANGE),
    ("left_hip",        "right_hip",       "lower", GREEN),
    ("right_hip",       "left_hip",        "lower", ORANGE),
    ("left_knee",       "right_knee",      "lower", GREEN),
    ("right_knee",      "left_knee",       "lower", ORANGE),
    ("left_ankle",      "right_ankle",     "lower", GREEN),
    ("right_ankle",     "left_ankle",      "lower", ORANGE),
    ("head",            "",                "upper", ORANGE),
    ("neck",            "",                "upper", ORANGE),
    ("hip",             "",                "lower", ORANGE),
    ("left_big_toe",    "right_big_toe",   "lower", ORANGE),
    ("right_big_toe",   "left_big_toe",    "lower", ORANGE),
    ("left_small_toe",  "right_small_toe", "lower", ORANGE),
    ("right_small_toe", "left_small_toe",  "lower", ORANGE),
    ("left_heel",       "right_heel",      "lower", ORANGE),
    ("right_heel",      "left_heel",       "lower", ORANGE),
)
BODY_LINKS = (
    ("left_ankle", "left_knee", GREEN),
    ("left_knee", "left_hip", GREEN),
    ("left_hip", "hip", GREEN),
    ("right_ankle", "right_knee", ORANGE),
    ("right_knee", "right_hip", ORANGE),
    ("right_hip", "hip", ORANGE),
    ("head", "neck", BLUE),
    ("neck", "hip", BLUE),
    ("neck", "left_shoulder", GREEN),
    ("left_shoulder", "left_elbow", GREEN),
    ("left_elbow", "left_wrist", GREEN),
    ("neck", "right_shoulder", ORANGE),
    ("right_shoulder", "right_elbow", ORANGE),
    ("right_elbow", "right_wrist", ORANGE),
    ("left_eye", "right_eye", BLUE),
    ("nose", "left_eye", BLUE),
    ("nose", "right_eye", BLUE),
    ("left_eye", "left_ear", BLUE),
    ("right_eye", "right_ear", BLUE),
    ("left_ear", "left_shoulder", BLUE),
    ("right_ear", "right_shoulder", BLUE),
    ("left_ankle", "left_big_toe", GREEN),
    ("left_ankle", "left_small_toe", GREEN),
    ("left_ankle", "left_heel", GREEN),
    ("right_ankle", "right_big_toe", ORANGE),
    ("right_ankle", "right_small_toe", ORANGE),
    ("right_ankle", "right_heel", ORANGE),
)
BODY_SIGMAS = (
    0.026, 0.025, 0.025, 0.035, 0.035, 0.079, 0.079, 0.072, 0.072, 0.062, 0.062, 0.107, 0.107,
    0.087, 0.087, 0.089, 0.089, 0.08, 0.08, 0.08, 0.089, 0.089, 0.089, 0.089, 0.089, 0.089,
)

# --- face: 68 points "face-0".."face-67" (iBUG 300-W layout), white, sigma 0.015.
# Under a flip, each listed run of points reverses (jaw 0-16, brows 17-26, nostrils 31-35,
# lips 48-54, 55-59, 60-64, 65-67); the nose bridge 27-30 maps to itself; eyes swap pairwise.
FACE_REVERSED_RUNS = ((0, 16), (17, 26), (31, 35), (48, 54), (55, 59), (60, 64), (65, 67))
FACE_EYE_PAIRS = ((36, 45), (37, 44), (38, 43), (39, 42), (40, 47), (41, 46))


def face_rows() -> tuple:
    mirror = {i: i for i in range(68)}
    for lo, hi in FACE_REVERSED_RUNS:
        for i in range(lo, hi + 1):
            mirror[i] = lo + hi - i
    for a, b in FACE_EYE_PAIRS:
        mirror[a], mirror[b] = b, a
    return tuple((f"face-{i}", f"face-{mirror[i]}" if mirror[i] != i else "", "", WHITE)
                 for i in range(68))


# --- hands: per side a root then 4 points per finger (1 = knuckle .. 4 = tip), sigma 0.015.
# In Halpe each finger is drawn as a chain from the body's wrist (the hand root is not linked).
FINGERS = (("thumb", ORANGE), ("forefinger", PINK), ("middle_finger", SKY),
           ("ring_finger", RED), ("pinky_finger", GREEN))


def hand_rows(side: str) -> tuple:
    other = "right" if side == "left" else "left"
    rows = [(f"{side}_hand_root", f"{other}_hand_root", "", WHITE)]
    for finger, colour in FINGERS:
        rows += [(f"{side}_{finger}{j}", f"{other}_{finger}{j}", "", colour) for j in range(1, 5)]
    return tuple(rows)


def hand_links(side: str, root: str = "wrist") -> tuple:
    """Finger chains starting at ``<side>_<root>`` (Halpe: the wrist; COCO-WholeBody: the
    hand root)."""
    links = []
    for finger, colour in FINGERS:
        chain = [f"{side}_{root}"] + [f"{side}_{finger}{j}" for j in range(1, 5)]
        links += [(a, b, colour) for a, b in zip(chain[:-1], chain[1:])]
    return tuple(links)


KEYPOINTS = BODY + face_rows() + hand_rows("left") + hand_rows("right")
LINKS = BODY_LINKS + hand_links("left") + hand_links("right")
SIGMAS = BODY_SIGMAS + (0.015,) * (68 + 42)

HALPE = schema_from_tables("halpe", KEYPOINTS, LINKS, SIGMAS)
