"""Replay recorded sessions (JSONL) through the same protocol objects.

Format, one JSON object per line: ``{"dir": "in"|"out", "raw": "<frame>",
"t": <epoch seconds, optional>}``; other keys are ignored. ``out`` lines are
shown to the protocol as frames it sent (so it learns request ids and candle
symbols as it did live); ``in`` lines are received. A recording that starts
mid-stream, with no handshake, still decodes.
"""

from __future__ import annotations

import json
import os
import time
from typing import Iterable, Iterator, Union

from .errors import ConfigurationError
from .events import Event
from .providers.base import resolve_options
from .registry import get_spec

__all__ = ["replay", "replay_lines"]


def replay(path: Union[str, "os.PathLike[str]"], provider: str = "dxlink") -> Iterator[Event]:
    """Yield the events of a recorded session file as ``provider`` decodes them."""
    try:
        handle = open(path, encoding="utf-8")
    except OSError as exc:
        raise ConfigurationError(f"cannot read recording {os.fspath(path)!r}: {exc.strerror}") from exc
    with handle:
        yield from replay_lines(handle, provider, source=os.fspath(path))


def replay_lines(lines: Iterable[str], provider: str = "dxlink", source: str = "<lines>") -> Iterator[Event]:
    """Yield the events of recorded JSONL ``lines`` (see the module docstring)."""
    spec = get_spec(provider)
    protocol = spec.make_protocol(resolve_options(spec.name, spec.options, {}, environ={}))
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            direction, raw = item["dir"], item["raw"]
        except (ValueError, TypeError, KeyError):
            raise ConfigurationError(
                f"{source}:{number} is not a recording line; expected "
                '{"dir": "in"|"out", "raw": "..."}') from None
        t = item.get("t")
        now = float(t) if isinstance(t, (int, float)) else time.time()
        if direction == "out":
            protocol.replay_sent(str(raw), now)
        elif direction == "in":
            yield from protocol.receive(str(raw), now, int(now * 1e9))
        protocol.outgoing()
        protocol.signals.clear()
