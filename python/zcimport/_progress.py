"""Progress of a load or a dump: a tqdm bar on stderr, and a summary line.

``copy_dataframe(progress=True)`` and the command line draw the same bar:
rows sent, megabytes sent and rows per second (and a percentage when the
number of rows is known in advance).  The load loop calls
:meth:`Progress.update` after each batch it has handed to the connection
(or written to the file); the bar redraws at most ten times a second.

A :class:`Progress` that is not enabled draws nothing but still counts, so
the command line can print its summary (:meth:`Progress.summary`) with
``--quiet`` off and no terminal.  Without tqdm installed, an enabled
Progress logs a warning once and draws nothing.

The object is also a plain callable, ``progress(rows, nbytes=0)``, for code
that reports rows only.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from typing import IO, Any, Callable, Iterator, Optional

log = logging.getLogger("zcimport")


def format_count(n: float) -> str:
    """1234 -> '1,234'."""
    return f"{int(n):,}"


def format_rate(rows_per_s: float) -> str:
    """Rows per second, as '812 rows/s', '45.3 k rows/s', '2.4 M rows/s'."""
    for scale, prefix in ((1e9, "G "), (1e6, "M "), (1e3, "k ")):
        if rows_per_s >= scale:
            return f"{rows_per_s / scale:.1f} {prefix}rows/s"
    return f"{rows_per_s:.0f} rows/s"


def format_bytes(n: float) -> str:
    """Bytes as megabytes: '0.3 MB', '38 MB', '1,204 MB'."""
    mb = n / 1e6
    if mb < 10:
        return f"{mb:.1f} MB"
    return f"{mb:,.0f} MB"


def format_seconds(s: float) -> str:
    """'0.42 s', '12.3 s', '95 s'."""
    if s < 10:
        return f"{s:.2f} s"
    if s < 60:
        return f"{s:.1f} s"
    return f"{s:.0f} s"


class Progress:
    """Counts the rows and bytes of a load; draws a bar when enabled.

    Args:
        enabled: draw a tqdm bar (on ``file``, stderr by default).
        total_rows: rows expected, when known (the bar then shows a
            percentage and an estimate of the time left).
        desc: a short label before the bar (e.g. the table's name).
        leave: keep the bar on screen when it is closed (the library does;
            the command line prints a summary line instead).
        file: where the bar is drawn (default ``sys.stderr``).
        warn: log a warning when tqdm is not installed (the bar is then
            not drawn).

    Use it as a context manager, or call :meth:`close`.
    """

    def __init__(
        self,
        enabled: bool = False,
        *,
        total_rows: Optional[int] = None,
        desc: str = "",
        leave: bool = True,
        file: Optional[IO[str]] = None,
        warn: bool = True,
    ) -> None:
        self.rows = 0
        self.bytes = 0
        self.total_rows = total_rows
        self._start = time.perf_counter()
        self._end: Optional[float] = None
        self._bar: Any = None
        if enabled:
            try:
                from tqdm import tqdm
            except ImportError:
                if warn:
                    log.warning("zcimport: progress=True needs tqdm, which is not installed;"
                                " no progress bar is shown")
            else:
                if total_rows is not None:
                    fmt = ("{desc}{percentage:3.0f}%|{bar}| {n:,.0f}/{total:,.0f} rows{postfix}"
                           " [{elapsed}<{remaining}, {rate_fmt}]")
                else:
                    # tqdm puts ", " before the postfix (the megabytes)
                    fmt = "{desc}{n:,.0f} rows{postfix} [{elapsed}, {rate_fmt}]"
                self._bar = tqdm(
                    total=total_rows,
                    desc=desc + ": " if desc else "",
                    unit=" rows",
                    unit_scale=True,
                    leave=leave,
                    file=file if file is not None else sys.stderr,
                    bar_format=fmt,
                    postfix=format_bytes(0),
                    dynamic_ncols=True,
                    mininterval=0.1,
                )

    @property
    def enabled(self) -> bool:
        """True when a bar is being drawn."""
        return self._bar is not None

    def update(self, rows: int, nbytes: int = 0) -> None:
        """Count a batch: its rows and the stream bytes it took."""
        self.rows += rows
        self.bytes += nbytes
        bar = self._bar
        if bar is not None:
            bar.postfix = format_bytes(self.bytes)
            bar.update(rows)

    __call__ = update

    def add_bytes(self, nbytes: int) -> None:
        """Count stream bytes that carry no rows (header, dictionaries)."""
        self.update(0, nbytes)

    def close(self) -> None:
        """Stop the clock and close the bar (idempotent)."""
        if self._end is None:
            self._end = time.perf_counter()
        bar, self._bar = self._bar, None
        if bar is not None:
            bar.postfix = format_bytes(self.bytes)
            bar.refresh()
            bar.close()

    @property
    def elapsed(self) -> float:
        """Seconds since the Progress was made, until :meth:`close`."""
        end = self._end if self._end is not None else time.perf_counter()
        return end - self._start

    def summary(self, verb: str, where: str, rows: Optional[int] = None) -> str:
        """One line: ``loaded 1,000,000 rows into t in 0.42 s (2.4 M rows/s, 38 MB)``.

        ``verb`` and ``where`` make its start (``"loaded"``, ``"into t"``);
        ``rows`` overrides the rows counted (e.g. the COPY command tag).
        """
        n = self.rows if rows is None else rows
        s = self.elapsed
        rate = n / s if s > 0 else 0.0
        noun = "row" if n == 1 else "rows"
        return (f"{verb} {format_count(n)} {noun} {where} in {format_seconds(s)}"
                f" ({format_rate(rate)}, {format_bytes(self.bytes)})")

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def reporter(progress: Any) -> Optional[Callable[[int, int], None]]:
    """A function of (rows, nbytes) reporting to ``progress``, or None.

    ``progress`` is None/False (nothing), a :class:`Progress` (its
    :meth:`~Progress.update`), or any callable taking a batch's row count
    (called for chunks that carry rows).
    """
    if progress is None or progress is False:
        return None
    if isinstance(progress, Progress):
        return progress.update
    if callable(progress):
        fn = progress

        def report(rows: int, nbytes: int) -> None:
            if rows:
                fn(rows)

        return report
    raise TypeError(f"progress must be a bool, a Progress or a callable, not"
                    f" {type(progress).__name__}")


def make_progress(progress: Any, *, total_rows: Optional[int] = None, desc: str = "") -> "Progress":
    """The Progress of a library call's ``progress=`` argument.

    ``True``/``False`` make a Progress (with or without a bar); a Progress
    is used as it is.
    """
    if isinstance(progress, Progress):
        return progress
    return Progress(bool(progress), total_rows=total_rows, desc=desc)


@contextlib.contextmanager
def progress_bar(progress: Any, *, total_rows: Optional[int] = None,
                 desc: str = "") -> Iterator[Any]:
    """What a library call reports to, for its ``progress=`` argument.

    ``True``/``False`` make a :class:`Progress` (with or without a bar),
    closed when the block ends; anything else (None, a Progress, a
    callable) is used as it is, and left open.
    """
    if not isinstance(progress, bool):
        yield progress
        return
    bar = make_progress(progress, total_rows=total_rows, desc=desc)
    try:
        yield bar
    finally:
        bar.close()


__all__ = ["Progress", "format_bytes", "format_count", "format_rate", "format_seconds",
           "make_progress", "progress_bar", "reporter"]
