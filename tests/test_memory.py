"""A batch process's own peak memory (no server needed)."""

from __future__ import annotations

import ctypes
import ctypes.util
import multiprocessing
import os
import resource
import sys

import pytest

from memgraph_pipelines.memory import MMAP_THRESHOLD, batch_process_environment, peak_rss_mb

MB = 1024 * 1024


def _run_child(target) -> object:
    """What ``target(sink)`` sent from a spawned process."""
    receiver, sender = multiprocessing.Pipe(duplex=False)
    child = multiprocessing.get_context("spawn").Process(target=target, args=(sender,))
    child.start()
    result = receiver.recv()
    child.join()
    return result


def _report_peak(sink) -> None:
    sink.send(peak_rss_mb())


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="VmHWM and ru_maxrss on Linux")
def test_a_spawned_process_reports_its_own_peak_not_its_parents() -> None:
    ballast = bytearray(400 * MB)
    ballast[::4096] = b"\1" * len(ballast[::4096])  # resident, not just reserved
    assert peak_rss_mb() > 400
    assert _run_child(_report_peak) < 300
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
    frozen, again, collected = _run_child(_frozen_then_collected)
    assert frozen > 1000
    assert again == frozen
    assert collected


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena", "ordblks", "smblks", "hblks", "hblkhd",
            "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost",
        )
    ]  # fmt: skip


def _mapped_bytes() -> int:
    libc = ctypes.CDLL(ctypes.util.find_library("c"))
    libc.mallinfo2.restype = _MallInfo2
    return libc.mallinfo2().hblkhd


def _block_mapped_after_a_larger_one_freed(sink) -> None:
    # Left alone, glibc raises its mmap threshold to the size of a mapped block it frees: the
    # 2 MiB block then comes from the heap. With the threshold fixed, it gets its own mapping.
    larger = bytearray(8 * MB)
    del larger
    before = _mapped_bytes()
    block = bytearray(2 * MB)
    sink.send((os.environ.get("MALLOC_MMAP_THRESHOLD_"), _mapped_bytes() - before >= 2 * MB))
    del block


@pytest.mark.skipif(
    not hasattr(ctypes.CDLL(ctypes.util.find_library("c")), "mallinfo2"), reason="glibc >= 2.33"
)
def test_batch_processes_start_with_a_fixed_mmap_threshold(monkeypatch) -> None:
    monkeypatch.delenv("MALLOC_MMAP_THRESHOLD_", raising=False)
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")  # set by the operator: kept
    assert _run_child(_block_mapped_after_a_larger_one_freed) == (None, False)
    with batch_process_environment():
        threshold, mapped = _run_child(_block_mapped_after_a_larger_one_freed)
        assert os.environ["MALLOC_ARENA_MAX"] == "4"
    assert (threshold, mapped) == (str(MMAP_THRESHOLD), True)
    assert "MALLOC_MMAP_THRESHOLD_" not in os.environ
    assert os.environ["MALLOC_ARENA_MAX"] == "4"
