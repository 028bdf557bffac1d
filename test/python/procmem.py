"""Memory measurement helpers for the tests: /proc status fields, a null sink."""

from __future__ import annotations

from typing import Any, Union


def proc_status(field: str, pid: Union[int, str] = "self") -> int:
    """A field of /proc/<pid>/status (VmHWM, VmRSS, RssAnon...), in bytes."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise KeyError(field)


class NullSink:
    """A binary file that counts what is written to it and keeps nothing."""

    def __init__(self) -> None:
        self.n = 0

    def write(self, b: Any) -> int:
        n = memoryview(b).nbytes
        self.n += n
        return n
