"""Thumbnails of a bucket's objects: ``/thumbs/{path}`` like a folder's, made in the same worker pool.

The worker reads the object itself, through ranged GETs pinned to the ETag it was listed
with (``S3Object``), so a thumbnail is always of one version; the thumbnail cache is keyed
by key, size and store ETag, so a replaced object gets a new one. Audio gets its embedded
picture, else the folder's cover image (``cover_candidates`` among the objects of one listing
of its prefix), read by the worker the same way and part of the cache key.
"""

from __future__ import annotations

import posixpath
from dataclasses import replace

from fastapi import APIRouter, HTTPException, Request
from starlette.responses import Response

from streamer.http.paths import parse_media_path
from streamer.http.representation import Kind, Representation, kind_of, media_type_for
from streamer.media.jobs import JobError
from streamer.media.thumbcache import cache_name
from streamer.media.thumbs import FORMATS, THUMB_VERSION, ThumbJob, make_thumbnail
from streamer.sources.s3 import ObjectMeta, S3Bucket
from streamer.sources.s3reader import S3Object
from streamer.web.openapi import add_get_and_head
from streamer.web.planned import bytes_response
from streamer.web.thumbs import SIZE_QUERY, THUMB_HEADERS, THUMB_RESPONSES, Thumbnails, ThumbnailResponse
from streamer.web.thumbs import cover_candidates, negotiate_format, parse_thumb_size


def bucket_cover(bucket: S3Bucket, folder: tuple[str, ...]) -> ObjectMeta | None:
    """Blocking: the cover image among the objects directly in ``folder`` (one listing), as a folder's is chosen."""
    _, objects = bucket.list("".join(name + "/" for name in folder))
    by_name = {meta.key.rpartition("/")[2]: meta for meta in objects}
    return next((by_name[name] for name in cover_candidates(by_name)), None)


def add_s3_thumbs(router: APIRouter, bucket: S3Bucket, thumbnails: Thumbnails, in_thread) -> None:  # type: ignore[no-untyped-def]
    """``/thumbs/{path}`` over ``bucket`` on ``router``, with ``thumbnails``' pool and cache."""

    async def thumbnail(path: str, request: Request, size: str = SIZE_QUERY) -> Response:
        pixels = parse_thumb_size(size)
        names = parse_media_path(path)
        if names is None:
            raise HTTPException(404, "Not Found")
        kind = kind_of(media_type_for(names[-1]))
        if kind is Kind.OTHER:
            raise HTTPException(415, "Not an image, video or audio file: there is nothing to make a thumbnail of.")
        fmt = negotiate_format(request.headers.get("accept"))
        meta = await in_thread(bucket.head, "/".join(names))
        cover = await in_thread(bucket_cover, bucket, names[:-1]) if kind is Kind.AUDIO else None
        cover_id = (cover.key, cover.size, cover.etag) if cover is not None else None
        name = cache_name(THUMB_VERSION, meta.key, meta.size, meta.etag, cover_id, pixels, fmt)
        job = ThumbJob(S3Object.of(bucket, meta), kind.value, pixels, fmt, output="",
                       cover=S3Object.of(bucket, cover) if cover is not None else None)

        async def make(output: str) -> None:
            await thumbnails.pool.run(make_thumbnail, replace(job, output=output), deadline_s=thumbnails.deadline_s)

        try:
            data = await thumbnails.cache.get_or_make(name, make)
        except JobError as exc:
            headers = {"retry-after": "1"} if exc.status == 503 else None
            raise HTTPException(exc.status, exc.reason, headers) from exc
        stem = posixpath.splitext(names[-1])[0]
        rep = Representation(len(data), meta.mtime_ns, FORMATS[fmt], f"{stem}.{pixels}.{fmt}", validator=name[:24])
        return bytes_response(request, data, rep, ThumbnailResponse, headers=THUMB_HEADERS)

    add_get_and_head(router, "/thumbs/{path:path}", thumbnail, response_class=ThumbnailResponse, responses=THUMB_RESPONSES,
                     summary="A thumbnail of a photo, a video's poster frame, or an audio file's embedded cover, from the bucket")
