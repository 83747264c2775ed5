"""streamer: chunked media streaming for FastAPI, exact to RFC 9110, leak-free, never blocking.

The public API is ``__all__`` below, exactly what the README documents; every other
module and name is private and may change.
"""

from streamer.server.app import create_app
from streamer.server.lag import LagMonitor
from streamer.server.lifespan import running
from streamer.server.settings import Settings, SettingsError
from streamer.sources.filecache import OpenFileCache
from streamer.web.media import MEDIA_RESPONSES, MediaFile, MediaFiles, media_file, media_router
from streamer.web.planned import planned_bytes
from streamer.web.thumbs import Thumbnails, thumbs_router
from streamer.web.responses import AudioResponse, ImageResponse, MediaResponse, OctetStreamResponse, VideoResponse

__all__ = [
    "MEDIA_RESPONSES",
    "AudioResponse",
    "ImageResponse",
    "LagMonitor",
    "MediaFile",
    "MediaFiles",
    "MediaResponse",
    "OctetStreamResponse",
    "OpenFileCache",
    "Settings",
    "SettingsError",
    "Thumbnails",
    "VideoResponse",
    "create_app",
    "media_file",
    "media_router",
    "planned_bytes",
    "running",
    "thumbs_router",
]
