"""Types of the C module zcimport._wire (zcimport/_wire.c, zcimport/_pack.c).

The socket functions are typed here; the packing functions of _pack.c
(pack_utf8, pack_binary, ...) are reached through ``__getattr__`` and are
untyped until this stub lists them.
"""

from typing import Any, List, Optional, Sequence, Tuple

from typing_extensions import Buffer

def send_copy_data(
    fd: int,
    parts: Sequence[Buffer],
    *,
    max_message: int = ...,
    in_message: int = ...,
    progress: Optional[List[int]] = ...,
    watch_input: bool = ...,
) -> Tuple[int, bool, int]: ...
def peek(fd: int, size: int, /) -> Optional[bytes]: ...
def __getattr__(name: str) -> Any: ...
