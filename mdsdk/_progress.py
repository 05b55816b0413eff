"""Progress bars (the optional ``progress`` extra) and the chunked history pull they measure.

A history request is one round trip, which gives a bar nothing to count;
with progress on, the façade splits ``[start, end)`` into consecutive
chunks, asks for each through the ordinary request path and advances the
bar per chunk. This works the same for every provider because it only
builds more :class:`~mdsdk.providers.base.History` values.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Any, Callable, List, Sequence, Tuple

from . import _validate as check
from . import series
from ._extras import need
from .errors import ConfigurationError
from .events import Bar
from .providers.base import History, HistoryResult

__all__ = ["progress_bar", "wanted", "history_chunks", "fetch_history", "CHUNK_BARS", "MIN_CHUNK_BARS"]

CHUNK_BARS = 2000  # at most this many bar slots per request, so one slow answer never holds the bar for long
MIN_CHUNK_BARS = 100  # never smaller: a round trip per handful of bars would cost more than it shows
TARGET_CHUNKS = 20  # a long pull should move the bar at least this often


def wanted(name: str, value: Any) -> bool:
    """``value`` checked as a progress switch (True or False); True also
    checks now that tqdm is installed, before any request is made."""
    if not isinstance(value, bool):
        raise ConfigurationError(f"{name} must be True or False, got {type(value).__name__} {check.show(value)}")
    if value:
        need("tqdm")
    return value


def progress_bar(total: float, desc: str, **options: Any) -> Any:
    """A tqdm bar on stderr (``options`` go to tqdm), or ConfigurationError
    with the pip command when the ``progress`` extra is missing."""
    return _bar_class(need("tqdm").tqdm)(total=total, desc=desc, dynamic_ncols=True, **options)


@functools.lru_cache(maxsize=1)
def _bar_class(base: Any) -> Any:
    # tqdm's monitor thread would outlive the bar (and the feed): our bars advance
    # on every chunk or block, so they never need it. A subclass turns it off
    # without touching the class-wide setting other code's bars rely on.
    return type("ProgressBar", (base,), {"monitor_interval": 0})


def history_chunks(start_ns: int, end_ns: int, bar_ns: int) -> List[Tuple[int, int]]:
    """``[start_ns, end_ns)`` as consecutive ``(start, end)`` pieces of
    between MIN_CHUNK_BARS and CHUNK_BARS bar slots, about TARGET_CHUNKS of
    them for a long range; an empty range is one (empty) piece."""
    slots = math.ceil(max(0, end_ns - start_ns) / bar_ns)
    per = min(CHUNK_BARS, max(MIN_CHUNK_BARS, math.ceil(slots / TARGET_CHUNKS)))
    step = per * bar_ns
    pieces = [(t, min(t + step, end_ns)) for t in range(start_ns, end_ns, step)]
    return pieces or [(start_ns, end_ns)]


def fetch_history(request: History, fetch: Callable[[History], HistoryResult]) -> HistoryResult:
    """``request`` fetched chunk by chunk through ``fetch`` behind a progress
    bar: the bars concatenated, one per start (a later chunk's copy wins),
    ascending; truncated when any chunk was."""
    pieces = history_chunks(request.start_ns, request.end_ns, request.interval.seconds * 1_000_000_000)
    parts: List[Sequence[Bar]] = []
    truncated = False
    bar = progress_bar(len(pieces), f"{request.symbol} {request.interval}", unit="chunk")
    try:
        for lo, hi in pieces:
            result = fetch(dataclasses.replace(request, start_ns=lo, end_ns=hi))
            truncated = truncated or result.truncated
            parts.append(result.bars)
            bar.set_postfix(bars=sum(map(len, parts)), refresh=False)
            bar.update(1)
    finally:
        bar.close()
    return HistoryResult(series.merge(parts), truncated)
