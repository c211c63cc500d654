"""DeepFashion2 clothing landmarks: one 294-channel schema covering all 13 categories.

Values equal MMPose 1.3.2's ``deepfashion2.py`` metainfo (no OKS sigmas, weights all 1,
no upper/lower body groups). Each category owns a contiguous block of channels named
``<abbr>_kpt1 .. <abbr>_kpt<n>`` in DeepFashion2's category order; a model trained on one
category uses only that block (see :data:`CATEGORY_RANGES`).

Per category the table gives, in 1-based landmark numbers as DeepFashion2 numbers them:

* mirror runs ``(a, b)``: landmarks a..b map to b..a under a horizontal flip;
* mirror pairs ``(i, j)``: i and j swap (applied after the runs);
* outline paths: landmark sequences drawn as consecutive links.
"""
from typing import Dict, Tuple

from heatpose.schema.build import schema_from_tables

R = range  # short alias for the outline paths below

CATEGORIES = (
    # abbr, category, landmarks, colour (RGB), mirror runs, mirror pairs, outline paths
    ("sss", "short_sleeved_shirt", 25, (255, 128, 0), ((2, 6), (7, 25)), (),
     ((1, 2, *R(7, 26), 6, 1), (2, 3, 4, 5, 6))),
    ("lss", "long_sleeved_shirt", 33, (255, 0, 128), ((2, 6), (7, 33)), (),
     ((1, 2, *R(7, 34), 6, 5, 4, 3, 2), (6, 1))),
    ("sso", "short_sleeved_outwear", 31, (128, 0, 255), ((7, 25),),
     ((2, 26), (3, 5), (4, 6), (16, 29), (27, 30), (28, 31)),
     ((1, 4, *R(7, 17), 31, 30, 2, 3, 4), (1, 6, *R(25, 16, -1), 29, 28, 27, 26, 5, 6))),
    ("lso", "long_sleeved_outwear", 39, (0, 128, 255), ((2, 6), (7, 33)),
     ((4, 34), (20, 37), (35, 38), (36, 39)),
     ((1, 2, *R(7, 21), 39, 38, 4, 3, 2), (1, 6, *R(33, 20, -1), 37, 36, 35, 34, 5, 6))),
    ("vest", "vest", 15, (0, 128, 128), ((2, 6), (7, 15)), (),
     ((1, 2, *R(7, 16), 6, 1), (2, 3, 4, 5, 6))),
    ("sling", "sling", 15, (0, 0, 128), ((2, 6), (7, 15)), (),
     ((1, 2, *R(8, 15), 6), (2, 7), (6, 15), (2, 3, 4, 5, 6), (1, 6))),
    ("shorts", "shorts", 10, (128, 128, 128), ((1, 3), (4, 10)), (),
     ((1, *R(4, 11), 3, 2, 1),)),
    ("trousers", "trousers", 14, (128, 0, 128), ((1, 3), (4, 14)), (),
     ((1, *R(4, 15), 3, 2, 1),)),
    ("skirt", "skirt", 8, (64, 128, 128), ((1, 3), (4, 8)), (),
     ((1, *R(4, 9), 3, 2, 1),)),
    ("ssd", "short_sleeved_dress", 29, (64, 64, 128), ((2, 6), (7, 29)), (),
     ((1, 2, *R(7, 30), 6, 5, 4, 3, 2), (6, 1))),
    ("lsd", "long_sleeved_dress", 37, (128, 64, 0), ((2, 6), (7, 37)), (),
     ((1, 2, *R(7, 38), 6, 5, 4, 3, 2), (6, 1))),
    ("vd", "vest_dress", 19, (128, 64, 255), ((2, 6), (7, 19)), (),
     ((1, 2, *R(7, 20), 6, 5, 4, 3, 2), (6, 1))),
    ("sd", "sling_dress", 19, (128, 64, 0), ((2, 6), (7, 19)), (),
     ((1, 2, *R(8, 19), 6, 5, 4, 3, 2, 7), (6, 19), (6, 1))),
)

# MMPose's table gives vest_kpt13 no mirror while vest_kpt9 mirrors to vest_kpt13, so its
# flip_indices are not a permutation there; kept as MMPose has it (one-way overrides).
ONE_WAY_MIRRORS = {("vest", 13): 13}


def _category_rows(abbr: str, n: int, colour, runs, pairs) -> Tuple[tuple, ...]:
    mirror = {i: i for i in range(1, n + 1)}
    for a, b in runs:
        for i in range(a, b + 1):
            mirror[i] = a + b - i
    for i, j in pairs:
        mirror[i], mirror[j] = j, i
    for (cat, i), j in ONE_WAY_MIRRORS.items():
        if cat == abbr:
            mirror[i] = j
    return tuple((f"{abbr}_kpt{i}", f"{abbr}_kpt{mirror[i]}" if mirror[i] != i else "", "",
                  colour) for i in range(1, n + 1))


def _category_links(abbr: str, colour, paths) -> Tuple[tuple, ...]:
    return tuple((f"{abbr}_kpt{a}", f"{abbr}_kpt{b}", colour)
                 for path in paths for a, b in zip(path[:-1], path[1:]))


KEYPOINTS = sum((_category_rows(abbr, n, c, runs, pairs)
                 for abbr, _, n, c, runs, pairs, _ in CATEGORIES), ())
LINKS = sum((_category_links(abbr, c, paths) for abbr, _, _, c, _, _, paths in CATEGORIES), ())


def _ranges() -> Dict[str, Tuple[int, int]]:
    out, start = {}, 0
    for _, category, n, *_ in CATEGORIES:
        out[category] = (start, start + n)
        start += n
    return out


#: category name -> (first channel, one past the last channel) in the 294-channel schema
CATEGORY_RANGES: Dict[str, Tuple[int, int]] = _ranges()

DEEPFASHION2 = schema_from_tables("deepfashion2", KEYPOINTS, LINKS)
