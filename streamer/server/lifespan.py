"""``running(...)``: the one way to run streamer's background parts for an app's lifetime.

Each part has ``run()`` (works until cancelled or closed) and ``aclose()``
(idempotent, safe in any order): ``MediaFiles`` (its open-file cache's sweeper),
``OpenFileCache``, ``LagMonitor``. A Starlette app among them (a mounted
``create_app()``) has its own lifespan run too, which Starlette never does for a
mounted app. On the way out every ``run`` is cancelled first, then every part closed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any, Protocol

import anyio
from starlette.applications import Starlette


class Part(Protocol):
    async def run(self) -> None: ...

    async def aclose(self) -> None: ...


@asynccontextmanager
async def running(*parts: Part | Starlette) -> AsyncIterator[None]:
    """Run ``parts`` for the duration of the block: ``async with running(files, lag): yield`` in a lifespan.

    Parts given twice, or sharing an open-file cache, are fine: each runs and closes once.
    """
    unique = list({id(part): part for part in parts}.values())
    apps = [part for part in unique if isinstance(part, Starlette)]
    services: list[Any] = [part for part in unique if not isinstance(part, Starlette)]
    async with AsyncExitStack() as stack:
        for app in apps:
            await stack.enter_async_context(app.router.lifespan_context(app))
        try:
            async with anyio.create_task_group() as tg:
                for service in services:
                    tg.start_soon(service.run)
                try:
                    yield
                finally:
                    tg.cancel_scope.cancel()
        finally:
            with anyio.CancelScope(shield=True):
                for service in reversed(services):
                    await service.aclose()
