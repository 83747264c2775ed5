"""What ``--transcode on`` costs: 720p H.264 segments of a 1080p MPEG-4 Part 2 AVI, over HTTP, cold then cached,
against ffmpeg run once per segment over the same spans in the same run.

python -m bench.transcode [--seconds 36] [--rounds 1]: makes a 1080p MPEG-4 Part 2 + MP3 AVI (a keyframe
every 2 s) in a temporary folder, starts ``streamer serve --transcode on`` on it, and for each segment of
its playlist in turn fetches it cold (encoded in the worker pool, sound converted too), then runs
``ffmpeg -ss T -i SRC -t D -c:v libx264 -preset veryfast -vf scale=1280:720 -c:a aac -f mp4`` on the same
span (ffmpeg's own thread count, then ``-threads:v 1`` as streamer's encoder has), A/B, segment by
segment. Then every segment again, cached. Prints p50 and max per kind; note the load average.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import httpx

from bench.hls import ms, start_server

FFMPEG_VARIANTS = {"ffmpeg": [], "ffmpeg -threads:v 1": ["-threads:v", "1"]}


def make_clip(target: Path, seconds: int) -> None:
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", f"testsrc2=s=1920x1080:r=24:d={seconds}",
         "-f", "lavfi", "-i", f"sine=f=440:r=44100:d={seconds}", "-c:v", "mpeg4", "-q:v", "4", "-g", "48",
         "-c:a", "libmp3lame", "-b:a", "128k", str(target)],
        check=True,
    )


def spans_of(playlist: str) -> list[tuple[float, float]]:
    """``(start, duration)`` of every segment, from the playlist's #EXTINF lines."""
    durations = [float(line[8:].rstrip(",")) for line in playlist.splitlines() if line.startswith("#EXTINF:")]
    return [(sum(durations[:n]), d) for n, d in enumerate(durations)]


def fetch(client: httpx.Client, url: str) -> tuple[float, int]:
    """Seconds until the whole segment arrived (retrying after a 503 as hls.js does), and the 503s seen."""
    start, refused = time.perf_counter(), 0
    while (response := client.get(url)).status_code == 503:
        refused += 1
        time.sleep(float(response.headers.get("retry-after", "1")))
    response.raise_for_status()
    return time.perf_counter() - start, refused


def ffmpeg_segment(clip: Path, start: float, seconds: float, extra: list[str]) -> float:
    began = time.perf_counter()
    subprocess.run(
        ["ffmpeg", "-v", "error", "-ss", str(start), "-i", str(clip), "-t", str(seconds), "-c:v", "libx264",
         "-preset", "veryfast", *extra, "-vf", "scale=1280:720", "-c:a", "aac", "-f", "mp4",
         "-movflags", "frag_keyframe+empty_moov+default_base_moof", "-"],
        check=True, stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - began


def summary(label: str, times: list[float]) -> str:
    return f"{label:<22} p50 {ms(statistics.median(times)):>10}  max {ms(max(times)):>10}  (n={len(times)})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=36, help="length of the 1080p clip (6 s per segment)")
    parser.add_argument("--rounds", type=int, default=1, help="cold rounds (each with a fresh cache)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-transcode-") as temporary:
        folder = Path(temporary)
        (folder / "media").mkdir()
        clip = folder / "media" / "hd.avi"
        began = time.perf_counter()
        make_clip(clip, args.seconds)
        print(f"1080p MPEG-4 Part 2 + MP3 AVI: {args.seconds} s, {clip.stat().st_size / 1e6:.0f} MB, "
              f"made in {time.perf_counter() - began:.0f} s; load {os.getloadavg()}")
        times: dict[str, list[float]] = {"streamer cold": [], "streamer cached": [], **{k: [] for k in FFMPEG_VARIANTS}}
        refused = 0
        for round_ in range(args.rounds):
            server, base = start_server(folder / "media", folder / f"cache-{round_}", {"MUXING": 1}, ["--transcode", "on"])
            try:
                with httpx.Client(base_url=base, timeout=120) as client:
                    spans = spans_of(client.get("/hls/hd.avi/index.m3u8").text)
                    client.get("/hls/hd.avi/init.mp4").raise_for_status()
                    for n, (start, seconds) in enumerate(spans):  # A/B, segment by segment
                        took, busy = fetch(client, f"/hls/hd.avi/{n}.m4s")
                        times["streamer cold"].append(took)
                        refused += busy
                        for label, extra in FFMPEG_VARIANTS.items():
                            times[label].append(ffmpeg_segment(clip, start, seconds, extra))
                    for n in range(len(spans)):
                        times["streamer cached"].append(fetch(client, f"/hls/hd.avi/{n}.m4s")[0])
            finally:
                server.terminate()
                server.wait(30)
        for label, found in times.items():
            print(summary(label, found))
        print(f"503s retried: {refused}; load {os.getloadavg()}")


if __name__ == "__main__":
    main()
