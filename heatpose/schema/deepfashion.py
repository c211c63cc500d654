"""DeepFashion (In-shop / Fashion Landmark Detection) landmarks: upper (6), lower (4) and
full-body (8) clothes. Values equal MMPose 1.3.2's ``deepfashion_upper.py``,
``deepfashion_lower.py`` and ``deepfashion_full.py`` metainfo: white, no links, no OKS
sigmas, weights all 1. Names contain spaces, as in MMPose.
"""
from heatpose.schema.build import mirrored, schema_from_tables
from heatpose.schema.palette import WHITE

UPPER_NAMES = ("left collar", "right collar", "left sleeve", "right sleeve",
               "left hem", "right hem")
LOWER_NAMES = ("left waistline", "right waistline", "left hem", "right hem")
FULL_NAMES = ("left collar", "right collar", "left sleeve", "right sleeve",
              "left waistline", "right waistline", "left hem", "right hem")


def _rows(names) -> tuple:
    return tuple((n, m, "", WHITE) for n, m in zip(names, mirrored(names)))


DEEPFASHION_UPPER = schema_from_tables("deepfashion_upper", _rows(UPPER_NAMES), ())
DEEPFASHION_LOWER = schema_from_tables("deepfashion_lower", _rows(LOWER_NAMES), ())
DEEPFASHION_FULL = schema_from_tables("deepfashion_full", _rows(FULL_NAMES), ())
