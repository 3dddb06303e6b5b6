"""Detached server processes and the pid files that record them.

A pid file holds the pid and the command-line tokens that identify the server (its main class
and config path). A pid is trusted only while the live process's command line still contains
every token, so a pid reused by an unrelated process is never signalled.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class PidRecord:
    pid: int
    markers: tuple[str, ...]


def write_pid_file(path: Path, record: PidRecord) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"pid": record.pid, "markers": list(record.markers)}) + "\n")


def read_pid_file(path: Path) -> PidRecord | None:
    try:
        data = json.loads(path.read_text())
        return PidRecord(pid=int(data["pid"]), markers=tuple(str(m) for m in data["markers"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def process_command_line(pid: int) -> list[str] | None:
    """The argv of a live process, or None if there is none (or it is a zombie)."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        return None
    except OSError:
        raw = b""
    if raw:
        return [part.decode(errors="replace") for part in raw.split(b"\0") if part]
    if Path("/proc").is_dir():
        return None  # an empty cmdline on Linux is a zombie or a kernel thread
    result = subprocess.run(
        ["ps", "-o", "command=", "-p", str(pid)], capture_output=True, text=True, check=False
    )
    return result.stdout.split() if result.returncode == 0 and result.stdout.strip() else None


def command_matches(argv: Sequence[str] | None, markers: Sequence[str]) -> bool:
    return argv is not None and bool(markers) and all(m in argv for m in markers)


def running_pid(path: Path) -> int | None:
    """The pid recorded in ``path`` if that process is alive and is still the recorded server."""
    record = read_pid_file(path)
    if record is None:
        return None
    _reap(record.pid)
    if command_matches(process_command_line(record.pid), record.markers):
        return record.pid
    return None


def start_detached(
    argv: Sequence[str], *, log_path: Path, cwd: Path, pid_file: Path, markers: Sequence[str]
) -> int:
    """Starts ``argv`` in its own session (it outlives the CLI) and records it in ``pid_file``."""
    missing = [m for m in markers if m not in argv]
    if missing:
        raise ValueError(f"markers not in the command line: {missing}")
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            list(argv),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    write_pid_file(pid_file, PidRecord(pid=proc.pid, markers=tuple(markers)))
    return proc.pid


def stop(pid_file: Path, timeout: float = 60.0) -> str:
    """Stops the server recorded in ``pid_file``: SIGTERM, then SIGKILL after ``timeout``.

    Returns what happened, as a short phrase. A process whose command line no longer matches
    the record is left alone and the stale pid file removed.
    """
    record = read_pid_file(pid_file)
    if record is None:
        return "not running"
    pid = running_pid(pid_file)
    if pid is None:
        pid_file.unlink(missing_ok=True)
        return f"not running (stale pid file for {record.pid} removed)"
    os.kill(pid, signal.SIGTERM)
    if _wait_gone(record, timeout):
        outcome = f"stopped (pid {pid})"
    else:
        if running_pid(pid_file) == pid:
            os.kill(pid, signal.SIGKILL)
        _wait_gone(record, 10.0)
        outcome = f"killed after {timeout:.0f}s (pid {pid})"
    pid_file.unlink(missing_ok=True)
    return outcome


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def _wait_gone(record: PidRecord, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _reap(record.pid)
        if not command_matches(process_command_line(record.pid), record.markers):
            _reap_exiting(record.pid)
            return True
        time.sleep(0.2)
    return False


def _reap(pid: int) -> bool:
    """Reaps ``pid`` if it is an exited child of this process. True once nothing is left to
    reap (reaped now, or not a child: only a process started by this one can be reaped)."""
    try:
        return os.waitpid(pid, os.WNOHANG)[0] == pid
    except (ChildProcessError, OSError):
        return True


def _reap_exiting(pid: int, timeout: float = 2.0) -> None:
    # A process's command line empties when it releases its memory, a moment before it becomes
    # a zombie that can be reaped: one non-blocking reap in between would leave the zombie.
    deadline = time.monotonic() + timeout
    while not _reap(pid) and time.monotonic() < deadline:
        time.sleep(0.01)
