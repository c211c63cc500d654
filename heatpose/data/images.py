"""Reading and checking images: BGR uint8 (H, W, 3), as OpenCV and MMPose's LoadImage give."""
from __future__ import annotations

from pathlib import Path
from typing import Union

import cv2
import numpy as np

from heatpose.errors import InputError


def read_image(path: Union[str, Path], what: str = "") -> np.ndarray:
    """Read an image file as BGR uint8 (H, W, 3) (grey is expanded, as OpenCV's IMREAD_COLOR).

    A missing or undecodable file raises InputError naming it and ``what`` (e.g. the record)."""
    path = Path(path)
    where = f" ({what})" if what else ""
    try:
        data = np.fromfile(str(path), dtype=np.uint8)
    except FileNotFoundError:
        raise InputError(f"{path}: image not found{where}") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read image file{where} ({exc.strerror or exc})") from None
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if image is None:
        raise InputError(f"{path}: not a readable image (corrupt, truncated or unsupported "
                         f"format){where}")
    return image


def validate_image(image: np.ndarray, source: str = "image") -> np.ndarray:
    """Return ``image`` as BGR uint8 (H, W, 3): grey is expanded, BGRA loses alpha.

    Raises InputError for anything that is not an 8-bit image array."""
    if not isinstance(image, np.ndarray):
        raise InputError(f"{source}: expected a numpy array (BGR uint8) or a file path, "
                         f"got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise InputError(f"{source}: expected dtype uint8 (BGR 0..255), got {image.dtype}")
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.ndim == 3 and image.shape[2] == 1:
        return cv2.cvtColor(image[..., 0], cv2.COLOR_GRAY2BGR)
    if image.ndim == 3 and image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    if image.ndim != 3 or image.shape[2] != 3:
        raise InputError(f"{source}: expected an (H, W, 3) BGR image, got shape {image.shape}")
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise InputError(f"{source}: empty image of shape {image.shape}")
    return image
