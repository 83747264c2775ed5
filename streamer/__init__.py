"""streamer: chunked media streaming for FastAPI, exact to RFC 9110, leak-free, never blocking."""

from streamer.server.app import create_app
from streamer.sources.chunks import CHUNK_SIZE, aiter_chunks, chunk_spans, iter_chunks
from streamer.sources.filecache import OpenFileCache
from streamer.server.lag import LagMonitor, monitor_lag
from streamer.server.lifespan import running
from streamer.http.plan import ResponsePlan, plan_response
from streamer.http.ranges import ByteRange, Unsatisfiable, parse_range
from streamer.http.representation import Representation, media_type_for
from streamer.web.responses import AudioResponse, ImageResponse, MediaResponse, OctetStreamResponse, VideoResponse
from streamer.web.planned import planned_bytes
from streamer.web.media import MEDIA_RESPONSES, MediaEndpoint, MediaFile, MediaFiles, media_file, media_router
from streamer.server.settings import Settings, SettingsError
from streamer.sources.file import FileSource, open_file_source

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
    "planned_bytes",
    "running",
]
