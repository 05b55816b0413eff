"""Types of the optional compiled hot paths (``_accel.c``)."""

from typing import Any, List, Optional, Tuple

API: int

def plain_rows(stride: int, symbol: int, times: Tuple[int, ...], nanos: int, numbers: Tuple[int, ...], cls: type,
               provider: str, max_ms: int, values: List[Any], received_ns: int) -> Optional[List[Any]]: ...

def text_frames(buf: bytearray, pos: int, limit: int, out: List[str]) -> int: ...
