"""HLS costs: playlist for a long MKV (cold, cached), a segment at the start and late, and ffmpeg -c copy of the same.

python -m bench.hls [--minutes 120]: makes a long low-resolution H.264/AAC MKV (keyframe every 2 s)
in a temporary folder, then times streamer's functions in-process (no HTTP) and ffmpeg run once
per segment the way servers that shell out do it.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from streamer.media.hlsmux import make_segment
from streamer.media.hlsplan import plan_segments
from streamer.media.keyframes import KeyframeCache

REPEATS = 5


def make_long_clip(target: Path, minutes: int) -> None:
    seconds = minutes * 60
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", f"testsrc2=s=160x90:r=24:d={seconds}",
         "-f", "lavfi", "-i", f"sine=f=440:r=48000:d={seconds}", "-c:v", "libx264", "-preset", "ultrafast",
         "-g", "48", "-sc_threshold", "0", "-c:a", "aac", "-b:a", "32k", str(target)],
        check=True,
    )


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def timed(fn, *args):  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    result = fn(*args)
    return time.perf_counter() - start, result


def ffmpeg_segment(clip: Path, start: float, seconds: float) -> None:
    subprocess.run(
        ["ffmpeg", "-v", "error", "-ss", str(start), "-i", str(clip), "-t", str(seconds), "-c", "copy", "-f", "mp4",
         "-movflags", "frag_keyframe+empty_moov+default_base_moof", "-"],
        check=True, stdout=subprocess.DEVNULL,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--minutes", type=int, default=120)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        clip = Path(folder) / "long.mkv"
        made, _ = timed(make_long_clip, clip, args.minutes)
        print(f"clip: {args.minutes} min, {clip.stat().st_size / 1e6:.0f} MB, made in {made:.0f} s")
        cache = KeyframeCache(Path(folder) / "cache")
        cold, index = timed(cache.get, str(clip), clip.stat())
        cached = min(timed(cache.get, str(clip), clip.stat())[0] for _ in range(REPEATS))
        plan = plan_segments(index.times, index.duration)
        print(f"playlist index ({index.origin}, {len(index.times)} keyframes, {len(plan)} segments): cold {ms(cold)}, cached {ms(cached)}")
        for label, span in (("first", plan[0]), ("late", plan[-2])):
            ours = [timed(make_segment, clip, span)[0] for _ in range(REPEATS)]
            theirs = [timed(ffmpeg_segment, clip, span.start, span.duration)[0] for _ in range(REPEATS)]
            print(f"segment {span.number} ({label}, {span.duration:.1f} s): streamer p50 {ms(statistics.median(ours))}, "
                  f"ffmpeg -c copy p50 {ms(statistics.median(theirs))}")


if __name__ == "__main__":
    main()
