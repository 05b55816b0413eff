"""Types of the optional compiled decoder (``_accel.c``)."""

from typing import Any, List, Optional, Tuple

API: int

def plain_rows(stride: int, symbol: int, times: Tuple[int, ...], nanos: int, numbers: Tuple[int, ...], cls: type,
               provider: str, max_ms: int, values: List[Any], received_ns: int) -> Optional[List[Any]]: ...
