"""StoreLoop: GETs run on a loop of their own, cancellable from any thread, at most N at a time."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import CancelledError

import pytest

from streamer.sources.s3loop import StoreLoop


async def held(loop: StoreLoop, wait_s: float, release: asyncio.Event | None = None) -> bool:
    async with loop.slot(wait_s) as admitted:
        if admitted and release is not None:
            await release.wait()
        return admitted


def test_beyond_the_limit_a_newcomer_is_refused_after_its_wait() -> None:
    loop = StoreLoop(1)
    try:
        gate = asyncio.Event()  # bound to the store loop at its first wait; set there too
        first = loop.submit(held(loop, 1.0, gate))
        assert loop.submit(held(loop, 0.05)).result(5) is False
        assert loop.in_flight == 1
        loop.submit(_set(gate)).result(5)
        assert first.result(5) is True and loop.submit(held(loop, 0.05)).result(5) is True
        assert loop.in_flight == 0
    finally:
        loop.close()


async def _set(event: asyncio.Event) -> None:
    event.set()


def test_cancelling_the_future_from_another_thread_ends_the_coroutine_and_frees_its_slot() -> None:
    loop = StoreLoop(1)
    try:
        forever = loop.submit(held(loop, 1.0, asyncio.Event()))
        waiter = loop.submit(held(loop, 10.0))  # queued behind it
        threading.Thread(target=forever.cancel).start()
        with pytest.raises(CancelledError):
            forever.result(5)
        assert waiter.result(5) is True and loop.in_flight == 0
    finally:
        loop.close()


def test_close_is_idempotent_and_refuses_later_work() -> None:
    loop = StoreLoop(2)
    pending = loop.submit(held(loop, 1.0, asyncio.Event()))
    loop.close()
    loop.close()
    assert pending.cancelled()
    coroutine = asyncio.sleep(0)
    with pytest.raises(RuntimeError, match="closed"):
        loop.submit(coroutine)


@pytest.mark.parametrize("limit", [pytest.param(0, id="zero"), pytest.param(-1, id="negative")])
def test_limit_must_admit_one(limit: int) -> None:
    with pytest.raises(ValueError, match="at least one"):
        StoreLoop(limit)


def test_an_adopted_loop_runs_gets_in_place_and_close_ends_only_its_own() -> None:
    """On the server's loop a GET is awaited in place; worker threads still submit to it, and
    ``close`` cancels what was submitted, not the loop's other tasks (the server's)."""

    async def main() -> None:
        loop = StoreLoop(1)
        assert loop.adopt(asyncio.get_running_loop()) and loop.is_current()
        assert await held(loop, 1.0)  # in place: no future, no thread
        other = asyncio.ensure_future(asyncio.sleep(30))  # a task of the server's
        submitted = await asyncio.to_thread(loop.submit, held(loop, 1.0, asyncio.Event()))
        await asyncio.sleep(0.05)
        loop.close()
        await asyncio.sleep(0.05)
        assert submitted.cancelled() and loop.in_flight == 0
        assert not other.done() and not loop.adopt(asyncio.get_running_loop())
        other.cancel()

    asyncio.run(main())
    assert not StoreLoop(1).is_current()  # no loop yet, and none running here
