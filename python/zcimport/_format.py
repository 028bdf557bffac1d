"""Constants of the zcimport stream format, version 1 (docs/FORMAT.md)."""

from __future__ import annotations

import enum
from typing import Dict

MAGIC = b"\x89ZCI\r\n\x1a\n"
VERSION = 1
BYTE_ORDER_LITTLE = b"L"

MAX_COLUMNS = 1600
HEADER_FIXED_LEN = 24
DESC_FIXED_LEN = 12
MAX_HEADER_LEN = 1 << 20
MAX_NAME_LEN = 1024
MAX_TZ_LEN = 255
MESSAGE_FIXED_LEN = 16
MAX_COUNT = 2**31 - 1
#: The server holds one whole message in memory; it must fit in 1 GiB.
MAX_MESSAGE_LEN = 1 << 30

FLAG_SENTINEL_NULL = 0x01
#: Descriptor flag bit 1, on utf8, binary, utf8_32 and binary_32 columns: the
#: data buffer starts at offsets[0] (value i is data[offsets[i] - offsets[0]
#: .. offsets[i+1] - offsets[0]]), so an Arrow slice's offsets are sent as
#: they are, with only its own bytes of data.
FLAG_BASED_OFFSETS = 0x02


class WireType(enum.IntEnum):
    """How a column's values are laid out in the stream."""

    BOOL = 1
    INT8 = 2
    INT16 = 3
    INT32 = 4
    INT64 = 5
    UINT8 = 6
    UINT16 = 7
    UINT32 = 8
    UINT64 = 9
    FLOAT32 = 10
    FLOAT64 = 11
    TIMESTAMP = 12
    TIMESTAMPTZ = 13
    DURATION = 14
    DATE32 = 15
    UTF8 = 16
    BINARY = 17
    DICTIONARY = 18
    NULL = 19
    BITBOOL = 20  # ceil(n/8) bytes, Arrow's bit-packed booleans (LSB first)
    UTF8_32 = 21  # utf8 with (n+1) int32 offsets (Arrow string)
    BINARY_32 = 22  # binary with (n+1) int32 offsets (Arrow binary)
    DATE64 = 23  # int64 milliseconds since 1970-01-01
    TIME32 = 24  # int32 time of day; unit s or ms
    TIME64 = 25  # int64 time of day; unit us or ns
    DECIMAL128 = 26  # 16 bytes LE two's complement; precision, scale in bytes 4, 5
    DECIMAL256 = 27  # 32 bytes

    @property
    def wire_name(self) -> str:
        """The name used in docs/FORMAT.md, e.g. ``"float64"``."""
        return self.name.lower()

    @property
    def width(self) -> int:
        """Bytes per value of a fixed-width type; 0 for variable width."""
        return _WIDTHS.get(self, 0)


_WIDTHS: Dict[WireType, int] = {
    WireType.BOOL: 1,
    WireType.INT8: 1,
    WireType.INT16: 2,
    WireType.INT32: 4,
    WireType.INT64: 8,
    WireType.UINT8: 1,
    WireType.UINT16: 2,
    WireType.UINT32: 4,
    WireType.UINT64: 8,
    WireType.FLOAT32: 4,
    WireType.FLOAT64: 8,
    WireType.TIMESTAMP: 8,
    WireType.TIMESTAMPTZ: 8,
    WireType.DURATION: 8,
    WireType.DATE32: 4,
    WireType.DICTIONARY: 0,
    WireType.NULL: 0,
    WireType.DATE64: 8,
    WireType.TIME32: 4,
    WireType.TIME64: 8,
    WireType.DECIMAL128: 16,
    WireType.DECIMAL256: 32,
}

#: Variable-width wire types: offsets (8 bytes each, or 4 for the _32
#: types) then data.
VAR_WIDTH = {WireType.UTF8: 8, WireType.BINARY: 8, WireType.UTF8_32: 4, WireType.BINARY_32: 4}


class NullEncoding(enum.IntEnum):
    """How NULLs are marked besides sentinels."""

    NONE = 0
    BITMAP = 1  # Arrow validity bitmap, 1 = valid
    BYTEMASK = 2  # NumPy/pandas mask, non-zero = NULL

    @property
    def wire_name(self) -> str:
        """``"none"``, ``"bitmap"`` or ``"bytemask"``."""
        return self.name.lower()


class TimeUnit(enum.IntEnum):
    """Units of ``timestamp``, ``timestamptz``, ``duration``, ``time32`` (s,
    ms) and ``time64`` (us, ns) columns."""

    S = 0
    MS = 1
    US = 2
    NS = 3

    @property
    def wire_name(self) -> str:
        """``"s"``, ``"ms"``, ``"us"`` or ``"ns"``."""
        return self.name.lower()


class MessageKind(enum.IntEnum):
    """The kind field of a message's fixed part."""

    BATCH = 1
    DICTIONARY = 2
    END = 3


def align8(n: int) -> int:
    """Round n up to the stream's alignment of 8 bytes."""
    return (n + 7) & ~7
