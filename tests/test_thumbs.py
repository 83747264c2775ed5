"""Thumbnail jobs on real files, run in this process: sizes, orientation, formats, posters, covers, refusals."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image, ImageStat

from streamer.media.thumbs import MAX_PIXELS, ThumbJob, check_pixels, fit, make_thumbnail
from streamer.media.jobs import JobError
from streamer.web.thumbs import negotiate_format, parse_thumb_size
from tests.thumb_media import BLUE, RED


def run(root: Path, tmp_path: Path, name: str, kind: str = "image", size: int = 320, fmt: str = "jpeg",
        cover: str | None = None) -> Image.Image:
    output = tmp_path / f"out.{fmt}"
    dims = make_thumbnail(ThumbJob(str(root / name), kind, size, fmt, str(output), cover and str(root / cover)))
    image = Image.open(output)
    image.load()
    assert image.size == dims
    assert image.format == fmt.upper()
    return image


def close(pixel: tuple[int, ...], color: tuple[int, int, int]) -> bool:
    return all(abs(a - b) < 40 for a, b in zip(pixel, color))


@pytest.mark.parametrize(
    ("name", "kind", "size", "expected"),
    [
        pytest.param("photo.jpg", "image", 320, (320, 213), id="jpeg-longest-side-is-size"),
        pytest.param("photo.jpg", "image", 160, (160, 107), id="jpeg-smallest-size"),
        pytest.param("photo.jpg", "image", 2560, (1200, 800), id="never-upscaled"),
        pytest.param("rotated.jpg", "image", 320, (213, 320), id="exif-orientation-swaps-sides"),
        pytest.param("alpha.png", "image", 320, (320, 213), id="png-with-alpha"),
        pytest.param("photo.webp", "image", 320, (320, 213), id="webp"),
        pytest.param("photo.tiff", "image", 640, (640, 427), id="tiff"),
        pytest.param("photo.heic", "image", 320, (320, 240), id="heic-via-pillow-heif"),
        pytest.param("anim.gif", "image", 320, (300, 200), id="gif-first-frame-not-upscaled"),
        pytest.param("clip.mp4", "video", 160, (160, 120), id="video-poster"),
        pytest.param("embedded.mp3", "audio", 320, (320, 320), id="audio-embedded-cover"),
    ],
)
@pytest.mark.parametrize("fmt", ["jpeg", "webp"])
def test_thumbnail_size(thumb_root: Path, tmp_path: Path, name: str, kind: str, size: int, expected: tuple[int, int],
                        fmt: str) -> None:
    assert run(thumb_root, tmp_path, name, kind, size, fmt).size == expected


def test_exif_rotation_puts_the_top_on_the_right(thumb_root: Path, tmp_path: Path) -> None:
    """Orientation 6: the stored top half (red) must end up on the right once turned clockwise."""
    image = run(thumb_root, tmp_path, "rotated.jpg").convert("RGB")
    width, height = image.size
    assert close(image.getpixel((width - 10, height // 2)), RED)
    assert close(image.getpixel((10, height // 2)), BLUE)


def test_gif_gives_its_first_frame(thumb_root: Path, tmp_path: Path) -> None:
    assert close(run(thumb_root, tmp_path, "anim.gif").convert("RGB").getpixel((150, 100)), RED)


def test_video_poster_skips_black_keyframes(thumb_root: Path, tmp_path: Path) -> None:
    """The clip is black for its first half: 10 %, 20 %, 30 % and 5 % are black, 50 % is not."""
    poster = run(thumb_root, tmp_path, "clip.mp4", "video")
    assert ImageStat.Stat(poster.convert("L")).mean[0] > 150


def test_audio_cover_from_the_folder_any_case(thumb_root: Path, tmp_path: Path) -> None:
    assert run(thumb_root, tmp_path, "album/track.mp3", "audio", cover="album/Cover.JPG").size == (320, 240)


def test_result_has_no_metadata(thumb_root: Path, tmp_path: Path) -> None:
    assert "exif" not in run(thumb_root, tmp_path, "rotated.jpg").info


@pytest.mark.parametrize(
    ("name", "kind", "status", "reason"),
    [
        pytest.param(
            "bomb.png", "image", 422, "30000x30000 pixels (900 MP), over the limit of 50 MP", id="bomb-refused-before-decode"
        ),
        pytest.param("truncated.jpg", "image", 422, "truncated", id="truncated-jpeg"),
        pytest.param("noise.jpg", "image", 422, "Not an image", id="noise-named-jpg"),
        pytest.param("notes.txt", "image", 422, "Not an image", id="text-as-image"),
        pytest.param("noise.mp4", "video", 422, "Not a video", id="corrupt-video"),
        pytest.param("photo.jpg", "video", 422, "video", id="photo-as-video"),
        pytest.param("lonely/track.mp3", "audio", 404, "No cover art", id="audio-without-cover"),
    ],
)
def test_refusals(thumb_root: Path, tmp_path: Path, name: str, kind: str, status: int, reason: str) -> None:
    with pytest.raises(JobError) as caught:
        make_thumbnail(ThumbJob(str(thumb_root / name), kind, 320, "jpeg", str(tmp_path / "out")))
    assert caught.value.status == status
    assert reason.lower() in caught.value.reason.lower()
    assert str(thumb_root) not in caught.value.reason  # no server paths in what the client reads


@pytest.mark.parametrize(
    ("width", "height", "size", "expected"),
    [
        pytest.param(6000, 4000, 320, (320, 213), id="landscape"),
        pytest.param(4000, 6000, 320, (213, 320), id="portrait"),
        pytest.param(100, 50, 320, (100, 50), id="small-kept"),
        pytest.param(100000, 10, 320, (320, 1), id="sliver-keeps-a-pixel"),
    ],
)
def test_fit(width: int, height: int, size: int, expected: tuple[int, int]) -> None:
    assert fit(width, height, size) == expected


def test_pixel_cap_is_inclusive() -> None:
    check_pixels(MAX_PIXELS, 1)
    with pytest.raises(JobError):
        check_pixels(MAX_PIXELS + 1, 1)


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        pytest.param(None, "jpeg", id="no-accept-jpeg"),
        pytest.param("*/*", "jpeg", id="wildcard-jpeg"),
        pytest.param("image/avif,image/webp,*/*;q=0.8", "webp", id="browser-webp"),
        pytest.param("IMAGE/WEBP", "webp", id="case-insensitive"),
        pytest.param("image/webp;q=0", "jpeg", id="q-zero-refuses"),
        pytest.param("image/webp; q=0.5", "webp", id="q-positive"),
    ],
)
def test_negotiate_format(accept: str | None, expected: str) -> None:
    assert negotiate_format(accept) == expected


@pytest.mark.parametrize("text", ["33", "", "+320", "320.0", "٣٢٠", "3200000000000"], ids=lambda t: f"refused-{t!r}")
def test_parse_thumb_size_refuses(text: str) -> None:
    from fastapi import HTTPException

    with pytest.raises(HTTPException) as caught:
        parse_thumb_size(text)
    assert caught.value.status_code == 400 and "160, 320, 640, 1280, 2560" in str(caught.value.detail)


def test_parse_thumb_size_accepts_the_set() -> None:
    assert [parse_thumb_size(str(n)) for n in (160, 320, 640, 1280, 2560)] == [160, 320, 640, 1280, 2560]
