"""Small clips for the HLS tests, made once per session with the ffmpeg program (libx264, libx265, aac).

Each has a known keyframe layout: ``bframes`` (B-frames, a keyframe every 2 s), ``longgop``
(one keyframe every 10 s, longer than the 6 s target), ``audiofirst`` (audio starts 0.5 s
before video), in MP4 and MKV (and MOV); ``hevc.mkv`` (HEVC, B-frames); ``ac3.mkv`` (AC-3 audio), ``surround.mkv`` (5.1 E-AC-3), ``vp9.mkv`` and ``av1.mkv``
(with Opus), ``pcm.mov`` (16-bit PCM at 44.1 kHz,
starting 0.3 s after the video).
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx

SECONDS = 14
FPS = 24
VIDEO = ["-f", "lavfi", "-i", f"testsrc2=s=128x72:r={FPS}:d={SECONDS}"]
AUDIO = ["-f", "lavfi", "-i", f"sine=f=440:r=48000:d={SECONDS}"]
X264 = ["-c:v", "libx264", "-preset", "ultrafast", "-sc_threshold", "0"]
CLIPS = {
    "bframes": [*VIDEO, *AUDIO, *X264, "-bf", "2", "-g", "48", "-keyint_min", "48", "-c:a", "aac"],
    "longgop": [*VIDEO, *AUDIO, *X264, "-bf", "0", "-g", "240", "-c:a", "aac"],
    "audiofirst": [*VIDEO, "-itsoffset", "-0.5", *AUDIO, *X264, "-bf", "2", "-g", "48", "-c:a", "aac"],
}
EXTENSIONS = {"bframes": ("mp4", "mov", "mkv"), "longgop": ("mp4", "mkv"), "audiofirst": ("mp4", "mkv")}
EXTRA = {
    "hevc.mkv": [*VIDEO, *AUDIO, "-c:v", "libx265", "-preset", "ultrafast", "-x265-params", "keyint=48:min-keyint=48:bframes=2:log-level=none", "-c:a", "aac"],
    "ac3.mkv": [*VIDEO, *AUDIO, *X264, "-g", "48", "-c:a", "ac3"],
    "surround.mkv": [*VIDEO, *AUDIO, *X264, "-g", "48", "-ac", "6", "-c:a", "eac3"],
    "vp9.mkv": [*VIDEO, *AUDIO, "-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-g", "48", "-c:a", "libopus"],
    "av1.mkv": [*VIDEO, *AUDIO, "-c:v", "libsvtav1", "-preset", "12", "-svtav1-params", "keyint=48", "-c:a", "libopus"],
    "pcm.mov": [*VIDEO, "-itsoffset", "0.3", "-f", "lavfi", "-i", f"sine=f=440:r=44100:d={SECONDS - 1}", *X264, "-g", "48", "-c:a", "pcm_s16le"],
}
# Video browsers cannot decode, for --transcode on: MPEG-4 Part 2 with B-frames and MP3 in AVI (a keyframe every 1.5 s),
# MPEG-2 with B-frames in open GOPs and MPEG Layer II sound in MPEG-TS (1 s), one wider than 1280 pixels; and H.264.
TRANSCODE_CLIPS = {
    "xvid.avi": ["-f", "lavfi", "-i", "testsrc2=s=320x240:r=24:d=8", "-f", "lavfi", "-i", "sine=f=440:r=44100:d=8",
                 "-c:v", "mpeg4", "-bf", "2", "-g", "36", "-q:v", "8", "-c:a", "libmp3lame", "-b:a", "64k"],
    "mpeg2.ts": ["-f", "lavfi", "-i", "testsrc2=s=320x240:r=25:d=8", "-f", "lavfi", "-i", "sine=f=440:r=48000:d=8",
                 "-c:v", "mpeg2video", "-g", "25", "-bf", "2", "-q:v", "8", "-c:a", "mp2"],
    "wide.avi": ["-f", "lavfi", "-i", "testsrc2=s=1440x96:r=24:d=2", "-c:v", "mpeg4", "-g", "24", "-q:v", "8"],
    "copied.mp4": ["-f", "lavfi", "-i", "testsrc2=s=160x120:r=24:d=4", *X264, "-g", "24"],  # H.264: never converted
}
_made: dict[str, Path] = {}
_made_transcode: dict[str, Path] = {}


def make_transcode_clips(folder: Path) -> dict[str, Path]:
    """The clips of ``TRANSCODE_CLIPS`` by file name, made in ``folder`` (once per session)."""
    return _make_once(_made_transcode, folder, TRANSCODE_CLIPS, "the transcoding test clips")


def make_clips(folder: Path) -> dict[str, Path]:
    """Every clip by file name, made in ``folder`` (once per session)."""
    jobs = {f"{name}.{ext}": args for name, args in CLIPS.items() for ext in EXTENSIONS[name]} | EXTRA
    return _make_once(_made, folder, jobs, "the HLS test clips")


def _make_once(made: dict[str, Path], folder: Path, jobs: dict[str, list[str]], what: str) -> dict[str, Path]:
    """``jobs`` (file name to ffmpeg's input and encoding arguments) made at once in ``folder``, unless ``made`` holds them."""
    if not made:
        running = [
            subprocess.Popen(["ffmpeg", "-v", "error", "-y", *args, "-fflags", "+bitexact", str(folder / name)])
            for name, args in jobs.items()
        ]
        if any(process.wait() for process in running):
            raise RuntimeError(f"ffmpeg could not make {what}")
        made.update({name: folder / name for name in jobs})
    return made


def ffprobe_keyframes(path: Path) -> list[float]:
    """Keyframe times of the first video stream as ffprobe reports them (skip_frame nokey)."""
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-skip_frame", "nokey",
         "-show_entries", "frame=pts_time", "-of", "csv=p=0", str(path)],
        check=True, capture_output=True, text=True,
    ).stdout
    return [float(line.split(",")[0]) for line in out.split() if line.strip(",")]


def packet_hashes(target: str, stream: str = "v:0") -> list[str]:
    """The MD5 of every packet of ``stream`` of ``target`` (a file or a URL), copied, in order."""
    out = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", target, "-map", f"0:{stream}", "-c", "copy", "-f", "framemd5", "-"],
        check=True, capture_output=True, text=True,
    ).stdout
    return [line.rsplit(",", 1)[1].strip() for line in out.splitlines() if line and not line.startswith("#")]


def packet_times(target: str) -> dict[str, list[float]]:
    """Presentation times of the packets of ``target``, by codec type."""
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "packet=codec_type,pts_time", "-of", "csv=p=0", target],
        check=True, capture_output=True, text=True, timeout=30,
    ).stdout
    times: dict[str, list[float]] = {"video": [], "audio": []}
    for line in out.split():
        kind, _, pts = line.rstrip(",").partition(",")
        if kind in times and pts not in ("", "N/A"):
            times[kind].append(float(pts))
    return times


def segment_leads(client: httpx.Client, at: Callable[[str], str], tmp_path: Path) -> Iterator[tuple[int, float, float]]:
    """For each segment but the first: its number, the time of the keyframe it starts with, and how far
    its sound's first packet comes after its picture's first (ffprobe on init + segment)."""
    playlist = client.get(at("index.m3u8")).text
    durations = [float(line[8:].rstrip(",")) for line in playlist.splitlines() if line.startswith("#EXTINF:")]
    assert len(durations) > 1, f"no segment boundary to check in {playlist!r}"
    init = client.get(at("init.mp4")).content
    for n in range(1, len(durations)):
        (tmp_path / "one.mp4").write_bytes(init + client.get(at(f"{n}.m4s")).content)
        made = packet_times(str(tmp_path / "one.mp4"))
        yield n, sum(durations[:n]), min(made["audio"]) - min(made["video"])
