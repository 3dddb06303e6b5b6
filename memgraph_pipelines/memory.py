"""Keeps a long-running batch process's memory at the size of one batch. Plain module.

A process that runs batch after batch frees each batch's memory, but glibc keeps the freed pages
of its many malloc arenas (librdkafka, pyarrow and the driver allocate from their own threads),
so the resident size crept up with every batch. Fewer arenas and a trim after each batch keep
it flat, and so does a fixed mmap threshold: glibc raises its threshold each time a mapped
block is freed, after which a batch's large buffers come from the heap and fragment it (the
staging process grew by about 2.5 MB a batch, 423 to 474 MB over twenty 5,000-record batches;
with both set from its start it stayed at 409-414 MB). All are no-ops off glibc. pyarrow's own
default allocator (mimalloc) keeps its freed segments out of glibc's reach; routed to malloc,
Arrow buffers are trimmed with the rest (the staging process of a 50,000-record batch peaked
60-80 MB lower, and stopped growing). The trim follows a full garbage collection, made cheap by
freezing what the process holds from its start.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import os
import resource
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path

#: mallopt's parameter number for the arena limit (glibc's malloc.h).
_M_ARENA_MAX = -8
#: Arenas allowed: enough that threads rarely wait on a lock, few enough to bound fragmentation.
ARENA_LIMIT = 2
#: mallopt's parameter number for the mmap threshold (glibc's malloc.h).
_M_MMAP_THRESHOLD = -3
#: Blocks from this size up get their own mapping, returned to the system when freed. 256 KiB
#: and 1 MiB kept the staging process equally flat; the larger means fewer system calls.
MMAP_THRESHOLD = 1024 * 1024


@cache
def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    libc = ctypes.CDLL(name)
    return libc if hasattr(libc, "malloc_trim") and hasattr(libc, "mallopt") else None


def _mallopt(param: int, value: int) -> bool:
    libc = _libc()
    return bool(libc is not None and libc.mallopt(param, value))


def limit_malloc_arenas(limit: int = ARENA_LIMIT) -> bool:
    """Caps glibc's malloc arenas for threads started from now on (MALLOC_ARENA_MAX in the
    environment does the same from process start). True if applied."""
    return _mallopt(_M_ARENA_MAX, limit)


def fix_mmap_threshold(size: int = MMAP_THRESHOLD) -> bool:
    """Pins glibc's mmap threshold at ``size`` (setting it turns off glibc's raising of it;
    MALLOC_MMAP_THRESHOLD_ in the environment does the same from process start). True if
    applied."""
    return _mallopt(_M_MMAP_THRESHOLD, size)


#: The same two settings as glibc tunables, read at process start. A process started with them
#: has them from its first allocation: twenty 5,000-record batches left it at 410-414 MB, where
#: the same settings made by mallopt after the imports let it grow from 422 to 462 MB.
MALLOC_ENVIRONMENT = {
    "MALLOC_ARENA_MAX": str(ARENA_LIMIT),
    "MALLOC_MMAP_THRESHOLD_": str(MMAP_THRESHOLD),
}


@contextmanager
def batch_process_environment() -> Iterator[None]:
    """Processes started inside get ``MALLOC_ENVIRONMENT`` (a variable already set is kept)."""
    added = {k: v for k, v in MALLOC_ENVIRONMENT.items() if k not in os.environ}
    os.environ.update(added)
    try:
        yield
    finally:
        for name in added:
            os.environ.pop(name, None)


def use_malloc_for_arrow() -> str:
    """Makes the system allocator pyarrow's default pool; call before the first Arrow
    allocation. Returns the pool's backend name."""
    import pyarrow as pa

    pa.set_memory_pool(pa.system_memory_pool())
    return pa.default_memory_pool().backend_name


def freeze_startup_objects() -> int:
    """Moves every object alive now (imports, definitions, resources: about 450,000 of them)
    out of the garbage collector's sight, once per process. The full collection after each
    batch then looks at that batch's objects only: 2 ms instead of 0.25 s, twice per batch on
    a catch-up's critical path. No collection first: it would cost those 0.25 s once more,
    and what it could free is import-time garbage. Returns how many objects are frozen."""
    if gc.get_freeze_count() == 0:
        gc.freeze()
    return gc.get_freeze_count()


def prepare_batch_process() -> None:
    """All of the above that a process does once, before its first batch (after its imports)."""
    limit_malloc_arenas()
    fix_mmap_threshold()
    use_malloc_for_arrow()
    freeze_startup_objects()


def release_unused_memory() -> bool:
    """Collects garbage and returns free heap pages to the system. True if glibc trimmed."""
    gc.collect()
    libc = _libc()
    return bool(libc is not None and libc.malloc_trim(0))


def peak_rss_mb() -> float:
    """This process's peak resident size in MB since it started its program. ``ru_maxrss`` is
    not that: Linux keeps it across exec, so a spawned process starts from its parent's size at
    the fork; the kernel's VmHWM starts afresh."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
