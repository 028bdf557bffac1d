"""Encoding of a planned frame as a zcimport stream (docs/FORMAT.md).

The encoder yields the stream as *chunks*: lists of parts, each part a
bytes-like object.  Only small headers are built here (the stream header,
message fixed parts, buffer length prefixes, zero padding); the column data
parts are byte-format memoryviews of the columns' arrays, sliced per batch,
so the encoder itself copies no column data.  Columns that must be packed
(strings, bytes, dates) pack one batch when the encoder asks for that
batch's buffers; nothing else of theirs is held.

The stream: the header; then, if the frame has rows, one dictionary message
per dictionary column (categoricals), in column order; the batches; the end
marker.
"""

from __future__ import annotations

import struct
from typing import IO, Any, Iterator, List, Sequence, Tuple, Union

from ._format import (
    BYTE_ORDER_LITTLE,
    DESC_FIXED_LEN,
    HEADER_FIXED_LEN,
    MAGIC,
    MAX_HEADER_LEN,
    MAX_MESSAGE_LEN,
    MAX_TZ_LEN,
    VERSION,
    MessageKind,
    align8,
)
from ._plan import Plan, PlannedColumn

#: A part of a chunk: small headers are bytes, column data are memoryviews.
Part = Union[bytes, memoryview]

_HEADER = struct.Struct("<8sHcBIII")
_DESC = struct.Struct("<BBBBBBHHH")
_MESSAGE = struct.Struct("<IIQ")
_LENGTH = struct.Struct("<Q")
_ZEROS = bytes(8)

assert _HEADER.size == HEADER_FIXED_LEN and _DESC.size == DESC_FIXED_LEN


def encode_header(columns: Sequence[PlannedColumn]) -> bytes:
    """The stream header: fixed part and one descriptor per column."""
    descs = []
    for c in columns:
        name = c.name.encode("utf-8")
        tz = c.tz.encode("utf-8")
        if len(tz) > MAX_TZ_LEN:  # pragma: no cover - the planner drops it
            raise ValueError(f"time zone name of column {c.name!r} is too long")
        d = _DESC.pack(
            int(c.wire_type), int(c.nulls), c.flags, c.unit, c.index_type,
            c.value_type, len(name), len(tz), 0,
        ) + name + tz
        descs.append(d + _ZEROS[: align8(len(d)) - len(d)])
    length = HEADER_FIXED_LEN + sum(len(d) for d in descs)
    if length > MAX_HEADER_LEN:
        raise ValueError(
            f"the stream header would be {length} bytes; the limit is"
            f" {MAX_HEADER_LEN} (too many columns with long names)"
        )
    fixed = _HEADER.pack(MAGIC, VERSION, BYTE_ORDER_LITTLE, 0, len(columns), length, 0)
    return b"".join([fixed] + descs)


def _message_parts(head: bytes, buffers: Sequence[memoryview]) -> Tuple[List[Part], int]:
    """A message's parts: its fixed part, then each buffer with its length
    prefix and padding; and the message's length.

    Small header bytes between two data buffers (padding of the previous
    buffer, length prefix of the next) are merged into one bytes part.
    """
    parts: List[Part] = []
    pending = [head]
    length = len(head)
    for buf in buffers:
        n = buf.nbytes
        length += 8 + align8(n)
        pending.append(_LENGTH.pack(n))
        if n:
            parts.append(b"".join(pending))
            parts.append(buf)
            pending = [_ZEROS[: align8(n) - n]]
    tail = b"".join(pending)
    if tail:
        parts.append(tail)
    return parts, length


def batch_parts(columns: Sequence[PlannedColumn], start: int, stop: int) -> List[Part]:
    """The parts of the batch message for rows [start, stop)."""
    buffers: List[memoryview] = []
    for c in columns:
        buffers.extend(c.data.buffers(start, stop))
    parts, length = _message_parts(_MESSAGE.pack(MessageKind.BATCH, 0, stop - start), buffers)
    if length > MAX_MESSAGE_LEN:
        raise ValueError(
            f"the batch of rows {start} to {stop - 1} takes {length} bytes, more than"
            f" the server's limit of {MAX_MESSAGE_LEN} bytes per message; use a"
            " smaller batch_rows")
    return parts


def dictionary_parts(columns: Sequence[PlannedColumn]) -> List[Part]:
    """The dictionary messages of the dictionary columns, in column order."""
    parts: List[Part] = []
    for index, c in enumerate(columns):
        d = c.data.dictionary()
        if d is None:
            continue
        entries, buffers = d
        p, _ = _message_parts(_MESSAGE.pack(MessageKind.DICTIONARY, index, entries), buffers)
        parts.extend(p)
    return parts


def end_marker(total_rows: int) -> bytes:
    """The end message with the stream's total row count."""
    return _MESSAGE.pack(MessageKind.END, 0, total_rows)


def iter_chunks(plan: Plan, batch_rows: int) -> Iterator[List[Part]]:
    """The whole stream: [header], the dictionaries (one chunk, if any),
    one chunk per batch, then [end marker].

    Batches are row slices [start, start + batch_rows) of every column; a
    frame with no rows has no batch, and no dictionary either.
    """
    columns = plan.planned_columns
    yield [encode_header(columns)]
    if plan.rows:
        dicts = dictionary_parts(columns)
        if dicts:
            yield dicts
    for start in range(0, plan.rows, batch_rows):
        yield batch_parts(columns, start, min(start + batch_rows, plan.rows))
    yield [end_marker(plan.rows)]


def write_parts(file: IO[bytes], parts: Sequence[Part]) -> int:
    """file.write() every part (short writes of raw files are retried)."""
    total = 0
    for part in parts:
        view = memoryview(part)
        n = view.nbytes
        written = file.write(view)  # type: ignore[arg-type]
        if written is not None and written < n:
            done = written
            while done < n:
                more = file.write(view[done:])  # type: ignore[arg-type]
                if more is None:  # non-blocking raw file with no room
                    raise BlockingIOError("the file accepted no more data")
                done += more
        total += n
    return total


def dump_plan(plan: Plan, file: Any, batch_rows: int) -> int:
    """Write the stream of a planned frame to a binary file object."""
    for chunk in iter_chunks(plan, batch_rows):
        write_parts(file, chunk)
        del chunk  # release a packed batch before the next one is packed
    return plan.rows
