"""streamer: chunked media streaming for FastAPI, exact to RFC 9110, leak-free, never blocking."""

from streamer.app import create_app
from streamer.chunks import CHUNK_SIZE, aiter_chunks, chunk_spans, iter_chunks
from streamer.filecache import OpenFileCache
from streamer.lag import LagMonitor, monitor_lag
from streamer.plan import ResponsePlan, plan_response
from streamer.ranges import ByteRange, Unsatisfiable, parse_range
from streamer.representation import Representation, media_type_for
from streamer.responses import AudioResponse, ImageResponse, MediaResponse, OctetStreamResponse, VideoResponse
from streamer.routes.media import MEDIA_RESPONSES, MediaEndpoint, MediaFile, MediaFiles, media_file, media_router
from streamer.settings import Settings, SettingsError
from streamer.sources import FileSource, open_file_source

__all__ = [
    "CHUNK_SIZE",
    "MEDIA_RESPONSES",
    "AudioResponse",
    "ByteRange",
    "FileSource",
    "ImageResponse",
    "LagMonitor",
    "MediaEndpoint",
    "MediaFile",
    "MediaFiles",
    "MediaResponse",
    "OctetStreamResponse",
    "OpenFileCache",
    "Representation",
    "ResponsePlan",
    "Settings",
    "SettingsError",
    "Unsatisfiable",
    "VideoResponse",
    "aiter_chunks",
    "chunk_spans",
    "create_app",
    "iter_chunks",
    "media_file",
    "media_router",
    "media_type_for",
    "monitor_lag",
    "open_file_source",
    "parse_range",
    "plan_response",
]
