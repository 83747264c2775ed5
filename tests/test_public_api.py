"""``import streamer`` offers exactly what the README documents: this pins it."""

from __future__ import annotations

import re

import streamer
from tests.conftest import REPO

PUBLIC = {
    "MEDIA_RESPONSES", "AudioResponse", "ImageResponse", "LagMonitor", "MediaFile", "MediaFiles", "MediaResponse",
    "OctetStreamResponse", "OpenFileCache", "Settings", "SettingsError", "VideoResponse", "create_app", "media_file",
    "media_router", "planned_bytes", "running", "Thumbnails", "thumbs_router",
}


def test_the_exported_names_are_pinned() -> None:
    assert set(streamer.__all__) == PUBLIC and len(streamer.__all__) == len(PUBLIC)


def test_the_package_namespace_holds_nothing_else_public() -> None:
    extra = {name for name in vars(streamer) if not name.startswith("_")} - PUBLIC
    assert extra <= {"http", "sources", "media", "web", "server"}  # the subpackages, private by the README


def test_the_readme_table_documents_every_exported_name() -> None:
    readme = (REPO / "README.md").read_text()
    table = readme[readme.index("What `import streamer` offers") : readme.index("### Streaming a folder")]
    documented = set(re.findall(r"`([A-Za-z_]+)(?:\(|`)", table)) & set(dir(streamer))
    assert PUBLIC <= documented, PUBLIC - documented
