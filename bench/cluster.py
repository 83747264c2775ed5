"""The local demo of a deployment: SeaweedFS, two streamer replicas, nginx's slice cache in front.

``python -m bench.cluster [FILE ...]`` starts them all on 127.0.0.1, uploads the files given
(else a 64 MiB sample) into s3://media/lib, prints the URLs and waits for Ctrl-C; everything
stops with it. What runs is deploy/nginx.conf as shipped, ports and paths swapped in.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import obstore

from bench.s3stack import BUCKET, PREFIX, bucket_store, cluster

SAMPLE_BYTES = 64 * 1024 * 1024


def main(argv: list[str]) -> int:
    with tempfile.TemporaryDirectory(prefix="streamer-cluster-") as tmp, cluster(Path(tmp)) as parts:
        store = bucket_store(str(parts["store"]))
        files = [Path(a) for a in argv] or []
        for path in files:
            obstore.put(store, f"{PREFIX}/{path.name}", path.read_bytes())
        if not files:
            obstore.put(store, f"{PREFIX}/sample.bin", os.urandom(SAMPLE_BYTES))
        names = [p.name for p in files] or ["sample.bin"]
        print(f"SeaweedFS (S3):   {parts['store']}  bucket {BUCKET}, prefix {PREFIX}/")
        for url in parts["replicas"]:  # type: ignore[attr-defined]
            print(f"streamer replica: {url}")
        print(f"nginx (the URL to use): {parts['nginx']}/")
        for name in names:
            print(f"  e.g. curl -r 0-1023 {parts['nginx']}/media/{name} | wc -c")
        print("Ctrl-C stops everything.", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
