"""A batch process's own peak memory (no server needed)."""

from __future__ import annotations

import multiprocessing
import resource
import sys

import pytest

from memgraph_pipelines.memory import peak_rss_mb

MB = 1024 * 1024


def _report_peak(sink) -> None:
    sink.send(peak_rss_mb())


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="VmHWM and ru_maxrss on Linux")
def test_a_spawned_process_reports_its_own_peak_not_its_parents() -> None:
    ballast = bytearray(400 * MB)
    ballast[::4096] = b"\1" * len(ballast[::4096])  # resident, not just reserved
    assert peak_rss_mb() > 400
    receiver, sender = multiprocessing.Pipe(duplex=False)
    child = multiprocessing.get_context("spawn").Process(target=_report_peak, args=(sender,))
    child.start()
    child_peak = receiver.recv()
    child.join()
    assert child_peak < 300
    # ru_maxrss of that child is the parent's size at the fork: the figure peak_rss_mb avoids.
    assert resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024 > 400
    del ballast


def test_arrow_allocations_go_to_malloc_where_a_trim_can_release_them() -> None:
    import pyarrow as pa

    from memgraph_pipelines.memory import use_malloc_for_arrow

    before = pa.default_memory_pool()
    try:
        assert use_malloc_for_arrow() == "system"
        held = pa.system_memory_pool().bytes_allocated()
        array = pa.array(range(1_000_000), type=pa.int64())
        assert pa.system_memory_pool().bytes_allocated() >= held + 8_000_000
        del array
    finally:
        pa.set_memory_pool(before)


def _frozen_then_collected(sink) -> None:
    import weakref

    from memgraph_pipelines.memory import freeze_startup_objects, release_unused_memory

    class Node:
        pass

    frozen = freeze_startup_objects()
    again = freeze_startup_objects()  # once per process: nothing more is frozen
    cycle = Node()
    cycle.self = cycle
    gone = weakref.ref(cycle)
    del cycle
    release_unused_memory()
    sink.send((frozen, again, gone() is None))


def test_startup_objects_are_frozen_once_and_a_batchs_cycles_still_collected() -> None:
    receiver, sender = multiprocessing.Pipe(duplex=False)
    child = multiprocessing.get_context("spawn").Process(
        target=_frozen_then_collected, args=(sender,)
    )
    child.start()
    frozen, again, collected = receiver.recv()
    child.join()
    assert frozen > 1000
    assert again == frozen
    assert collected
