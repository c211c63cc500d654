"""read_image: the optional simplejpeg fast path gives cv2.imdecode(IMREAD_COLOR)'s pixels (what
MMPose's LoadImage reads) for every JPEG it takes, and leaves the rest to OpenCV."""
from __future__ import annotations

import struct

import cv2
import numpy as np
import pytest

from heatpose.data import images
from heatpose.data.images import decode_jpeg_fast, read_image
from heatpose.errors import InputError

needs_simplejpeg = pytest.mark.skipif(
    images._simplejpeg is None, reason="simplejpeg (optional fast JPEG decoding) not installed")


def _cv2(path) -> np.ndarray:
    return cv2.imdecode(np.fromfile(str(path), np.uint8), cv2.IMREAD_COLOR)


@needs_simplejpeg
def test_every_shared_jpeg_decodes_to_opencv_pixels(data_dir):
    files = sorted(p for p in data_dir.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg"))
    assert len(files) > 50
    fast = 0
    for f in files:
        fast += decode_jpeg_fast(np.fromfile(str(f), np.uint8)) is not None
        np.testing.assert_array_equal(read_image(f), _cv2(f), err_msg=str(f))
    assert fast > 0.8 * len(files)


def _synthetic(h: int, w: int) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.stack([xx * 7 % 256, yy * 5 % 256, (xx * yy) % 251], axis=-1).astype(np.uint8)
    img[h // 3:h // 2, w // 4:w // 2] = (30, 200, 90)          # sharp chroma edges
    return img


ENCODINGS = [
    [cv2.IMWRITE_JPEG_QUALITY, 95],
    [cv2.IMWRITE_JPEG_QUALITY, 20],
    [cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444],
    [cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_422],
    [cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_411],
    [cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_440],
    [cv2.IMWRITE_JPEG_PROGRESSIVE, 1],
    [cv2.IMWRITE_JPEG_RST_INTERVAL, 3],
    [cv2.IMWRITE_JPEG_OPTIMIZE, 1],
]


@needs_simplejpeg
@pytest.mark.parametrize("params", ENCODINGS, ids=str)
@pytest.mark.parametrize("size", [(37, 23), (64, 48), (17, 130)])
def test_encodings_and_odd_sizes_match_opencv(tmp_path, params, size):
    ok, buf = cv2.imencode(".jpg", _synthetic(*size), params)
    assert ok
    path = tmp_path / "x.jpg"
    buf.tofile(str(path))
    assert decode_jpeg_fast(buf.ravel()) is not None
    np.testing.assert_array_equal(read_image(path), _cv2(path))


@needs_simplejpeg
def test_grey_jpeg_is_expanded_like_opencv(tmp_path):
    ok, buf = cv2.imencode(".jpg", _synthetic(40, 30)[..., 1])
    path = tmp_path / "grey.jpg"
    buf.tofile(str(path))
    got = read_image(path)
    assert got.shape == (40, 30, 3)
    np.testing.assert_array_equal(got, _cv2(path))


def _with_exif_orientation(jpeg: bytes, orientation: int) -> bytes:
    """``jpeg`` with an APP1 Exif block (little-endian TIFF, IFD0 = one Orientation entry)."""
    tiff = b"II*\x00" + struct.pack("<I", 8) + struct.pack("<H", 1) + \
        struct.pack("<HHIHH", 0x0112, 3, 1, orientation, 0) + struct.pack("<I", 0)
    body = b"Exif\x00\x00" + tiff
    return jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(body) + 2) + body + jpeg[2:]


@needs_simplejpeg
def test_exif_orientation_goes_through_opencv(tmp_path):
    ok, buf = cv2.imencode(".jpg", _synthetic(30, 50))
    data = _with_exif_orientation(buf.tobytes(), 6)               # rotate 90 degrees
    path = tmp_path / "rotated.jpg"
    path.write_bytes(data)
    assert decode_jpeg_fast(np.frombuffer(data, np.uint8)) is None
    got = read_image(path)
    assert got.shape == (50, 30, 3)                               # OpenCV applied it
    np.testing.assert_array_equal(got, _cv2(path))


@needs_simplejpeg
def test_damaged_and_non_jpeg_files_keep_opencv_behaviour(tmp_path):
    ok, buf = cv2.imencode(".jpg", _synthetic(64, 48))
    data = buf.tobytes()
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes(data[:len(data) // 2])
    assert decode_jpeg_fast(np.fromfile(str(truncated), np.uint8)) is None
    want = _cv2(truncated)                                        # OpenCV's partial image
    if want is None:
        with pytest.raises(InputError, match="truncated.jpg"):
            read_image(truncated)
    else:
        np.testing.assert_array_equal(read_image(truncated), want)
    ok, png = cv2.imencode(".png", _synthetic(20, 10))
    named_jpg = tmp_path / "really_png.jpg"
    png.tofile(str(named_jpg))
    np.testing.assert_array_equal(read_image(named_jpg), _cv2(named_jpg))
    junk = tmp_path / "junk.jpg"
    junk.write_bytes(b"\xff\xd8\xff\xe0" + b"\x00" * 50)
    with pytest.raises(InputError, match="junk.jpg: not a readable image"):
        read_image(junk)


def test_without_simplejpeg_opencv_decodes(monkeypatch, data_dir):
    f = next(iter(sorted((data_dir / "coco_mini" / "train2017").glob("*.jpg"))))
    monkeypatch.setattr(images, "_simplejpeg", None)
    assert decode_jpeg_fast(np.fromfile(str(f), np.uint8)) is None
    np.testing.assert_array_equal(read_image(f), _cv2(f))
