"""The worker pool on real processes: results and errors come back, deadlines kill, queued jobs drop, close reaps."""

from __future__ import annotations

import os
import time
from pathlib import Path

import anyio
import pytest

from streamer.media.workers import JobError, JobTimeout, PoolBusy, PoolClosed, WorkerDied, WorkerPool

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def alive(pid: int) -> bool:
    """Whether ``pid`` exists and is not a zombie (a zombie was never reaped)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def children() -> set[int]:
    return {int(p) for p in Path(f"/proc/{os.getpid()}/task/{os.getpid()}/children").read_text().split()}


async def test_results_and_errors_come_back() -> None:
    pool = WorkerPool(1)
    try:
        pid = await pool.run(os.getpid)
        assert pid != os.getpid() and await pool.run(os.getpid) == pid  # one process, reused
        with pytest.raises(ValueError, match="invalid literal"):
            await pool.run(int, "x")
        assert await pool.run(os.getpid) == pid  # an error does not cost the process
    finally:
        await pool.aclose()


async def test_a_pool_never_used_holds_no_process() -> None:
    before = children()
    pool = WorkerPool(4)
    await pool.aclose()
    assert pool.processes == [] and children() == before


async def test_deadline_kills_and_replaces_the_process() -> None:
    pool = WorkerPool(1)
    try:
        first = await pool.run(os.getpid)
        started = time.monotonic()
        with pytest.raises(JobTimeout) as caught:
            await pool.run(time.sleep, 30, deadline_s=0.3)
        assert time.monotonic() - started < 5
        assert caught.value.status == 504 and "deadline of 0.3 s" in caught.value.reason
        assert not alive(first)
        assert await pool.run(os.getpid) != first
    finally:
        await pool.aclose()


async def test_a_crashed_worker_is_an_error_not_a_hang() -> None:
    pool = WorkerPool(1)
    try:
        with pytest.raises(WorkerDied) as caught:
            await pool.run(os.abort)
        assert caught.value.status == 503
        assert isinstance(await pool.run(os.getpid), int)
    finally:
        await pool.aclose()


async def test_memory_is_bounded_per_job() -> None:
    pool = WorkerPool(1, memory_limit=512 << 20)
    try:
        with pytest.raises(JobError) as caught:
            await pool.run(bytearray, 1 << 30)
        assert caught.value.status == 422 and "memory" in caught.value.reason
        assert len(await pool.run(bytearray, 1 << 20)) == 1 << 20  # the same process goes on
    finally:
        await pool.aclose()


async def test_a_queued_job_whose_caller_left_never_starts() -> None:
    pool = WorkerPool(1)
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(pool.run, time.sleep, 0.5)
            await anyio.sleep(0.05)
            with anyio.move_on_after(0.1):
                await pool.run(os.getpid)  # queued behind the sleep, then its caller gives up
        assert pool.jobs_started == 1
    finally:
        await pool.aclose()


async def test_a_full_queue_refuses_at_once() -> None:
    pool = WorkerPool(1, max_queued=1)
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(pool.run, time.sleep, 0.5)
            await anyio.sleep(0.05)
            tg.start_soon(pool.run, time.sleep, 0)
            await anyio.sleep(0.05)
            with pytest.raises(PoolBusy):
                await pool.run(os.getpid)
    finally:
        await pool.aclose()


async def test_close_kills_and_reaps_every_process_and_is_idempotent() -> None:
    pool = WorkerPool(3)
    before = children()
    async with anyio.create_task_group() as tg:
        for _ in range(3):
            tg.start_soon(pool.run, time.sleep, 0.2)
    pids = pool.processes
    assert len(pids) == 3 and set(pids) <= children()
    async def in_flight() -> None:
        with pytest.raises(PoolClosed):
            await pool.run(time.sleep, 30)

    async with anyio.create_task_group() as tg:
        tg.start_soon(in_flight)  # a job running when the pool closes
        await anyio.sleep(0.1)
        await pool.aclose()
        await pool.aclose()
    assert pool.processes == [] and children() == before
    assert not any(alive(pid) for pid in pids)
    with pytest.raises(PoolClosed):
        await pool.run(os.getpid)
