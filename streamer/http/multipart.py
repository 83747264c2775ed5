"""multipart/byteranges bodies (RFC 9110 §14.6) as segments: literal bytes and file ranges.

No I/O in this module. The body is described, not produced, so its exact
Content-Length is the sum of the segment lengths: nothing is estimated.
"""

from __future__ import annotations

from streamer.http.ranges import ByteRange, format_content_range

Segment = bytes | ByteRange


def segment_length(segments: tuple[Segment, ...] | list[Segment]) -> int:
    return sum(len(segment) for segment in segments)


def multipart_segments(
    ranges: list[ByteRange], size: int, media_type: str, boundary: str
) -> tuple[Segment, ...]:
    """The body of a multipart/byteranges response, with adjacent literals merged."""
    segments: list[Segment] = []
    pending = b""
    for index, byte_range in enumerate(ranges):
        pending += (
            (b"\r\n" if index else b"")
            + f"--{boundary}\r\n".encode("ascii")
            + f"Content-Type: {media_type}\r\n".encode("latin-1")
            + f"Content-Range: {format_content_range(byte_range, size)}\r\n\r\n".encode("ascii")
        )
        segments += [pending, byte_range]
        pending = b""
    segments.append(f"\r\n--{boundary}--\r\n".encode("ascii"))
    return tuple(segments)


def multipart_content_type(boundary: str) -> str:
    return f"multipart/byteranges; boundary={boundary}"
