"""Niced threads (streamer.media.niced): their calls run below the loop's priority, end before their caller goes on,
reach back to the loop that handed them their work, and the threads are joined by close()."""

from __future__ import annotations

import sys
import threading
import time

import anyio
import pytest

from streamer.media.niced import NicedThreads, loop_token, thread_niceness

NICENESS = 10
linux_only = pytest.mark.skipif(sys.platform != "linux", reason="a nice value per thread is Linux's")


def named(prefix: str) -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name.startswith(prefix)]


@linux_only
def test_calls_run_niced_and_the_loops_thread_is_not() -> None:
    before = thread_niceness()
    threads = NicedThreads(2, max(NICENESS, before), "niced-test")

    async def main() -> tuple[int, int]:
        return await threads.run(thread_niceness), thread_niceness()

    try:
        inside, loop = anyio.run(main)
    finally:
        threads.close()
    assert inside == max(NICENESS, before)
    assert loop == before == thread_niceness(), "the caller's thread keeps its priority"


def test_a_cancelled_caller_waits_for_the_call_to_end() -> None:
    """As with anyio.to_thread.run_sync: what the call uses is not released under it."""
    threads = NicedThreads(1, NICENESS, "niced-test")
    ended = threading.Event()

    def slow() -> None:
        time.sleep(0.3)
        ended.set()

    async def main() -> float:
        started = time.monotonic()
        with anyio.move_on_after(0.01):
            await threads.run(slow)
        return time.monotonic() - started

    try:
        waited = anyio.run(main)
    finally:
        threads.close()
    assert ended.is_set() and waited >= 0.3


def test_a_call_reaches_back_to_the_loop_that_handed_it_its_work() -> None:
    threads = NicedThreads(1, NICENESS, "niced-test")

    async def on_the_loop(value: int) -> tuple[int, int]:
        return value * 2, threading.get_ident()

    def in_the_thread() -> tuple[int, int]:
        assert loop_token() is not None
        return anyio.from_thread.run(on_the_loop, 21, token=loop_token())

    async def main() -> tuple[tuple[int, int], int]:
        return await threads.run(in_the_thread), threading.get_ident()

    try:
        (value, ran_on), loop = anyio.run(main)
    finally:
        threads.close()
    assert value == 42 and ran_on == loop
    assert loop_token() is None, "outside a niced thread there is none"


def test_errors_come_back_as_they_are_and_the_thread_serves_on() -> None:
    threads = NicedThreads(1, NICENESS, "niced-test")

    def fails() -> None:
        raise KeyError("this one")

    async def main() -> int:
        with pytest.raises(KeyError, match="this one"):
            await threads.run(fails)
        return await threads.run(len, "four")

    try:
        assert anyio.run(main) == 4
    finally:
        threads.close()


def test_close_joins_every_thread() -> None:
    threads = NicedThreads(3, NICENESS, "niced-joined")
    barrier = threading.Barrier(3, timeout=5)

    async def main() -> None:
        async with anyio.create_task_group() as group:
            for _ in range(3):
                group.start_soon(threads.run, barrier.wait)

    anyio.run(main)
    assert len(named("niced-joined")) == 3
    threads.close()
    assert named("niced-joined") == []
