"""Replay recorded sessions (JSONL) through the same protocol objects.

Format, one JSON object per line: ``{"dir": "in"|"out", "raw": "<frame>",
"t": <epoch seconds, optional>}``; other keys are ignored. A first line
``{"provider": "<name>"}`` (written by ``record=``) names the provider that
decodes the rest. ``out`` lines are shown to the protocol as frames it sent
(so it learns request ids and candle symbols as it did live); ``in`` lines
are received. A recording that starts mid-stream, with no handshake, still
decodes.
"""

from __future__ import annotations

import json
import os
import time
from typing import IO, Any, Dict, Iterable, Iterator, Optional, Union

from . import _progress
from . import _validate as check
from .errors import ConfigurationError
from .events import Event
from .providers.base import ProviderProtocol, resolve_options
from .registry import get_spec

__all__ = ["replay", "replay_lines"]


def replay(path: Union[str, "os.PathLike[str]"], provider: Optional[str] = None,
           progress: bool = False) -> Iterator[Event]:
    """Yield the events of a recorded session file, decoded by ``provider``
    (default: the provider named in the recording's first line). The path
    and the provider name are checked here, before the first event; a line
    that is not a recording line raises ConfigurationError naming it.
    ``progress=True`` (the ``progress`` extra) shows a bar of the bytes read on stderr."""
    if isinstance(path, (bytes, bytearray)) or not isinstance(path, (str, os.PathLike)):
        raise ConfigurationError(f"path must be the recording's file path (str), got {type(path).__name__} "
                                 f"{check.show(path)}")
    name = os.fspath(path)
    if not isinstance(name, str) or not name.strip():
        raise ConfigurationError(f"path must be the recording's file path (str), got {check.show(name)}")
    if provider is not None:
        get_spec(provider)
    if not os.path.isfile(name):
        why = "it is a directory" if os.path.isdir(name) else "no such file"
        raise ConfigurationError(f"path: cannot read the recording {check.show(name)}: {why}")
    return _replay_file(name, provider, _progress.wanted("progress", progress))


def _replay_file(name: str, provider: Optional[str], progress: bool) -> Iterator[Event]:
    try:
        handle = open(name, "rb")
    except OSError as exc:
        raise ConfigurationError(f"path: cannot read the recording {check.show(name)}: {exc.strerror or exc}") from None
    with handle:
        bar = None
        if progress:
            bar = _progress.progress_bar(os.fstat(handle.fileno()).st_size, os.path.basename(name), unit="B",
                                         unit_scale=True, unit_divisor=1024)
        try:
            yield from replay_lines(_text_lines(handle, bar), provider, source=name)
        except UnicodeDecodeError as exc:
            raise ConfigurationError(f"{name} is not a recording: not UTF-8 text ({exc.reason} at byte "
                                     f"{exc.start} of a line); expected JSON lines") from None
        finally:
            if bar is not None:
                bar.close()


def _text_lines(handle: IO[bytes], bar: Any) -> Iterator[str]:
    """The file's lines as text, counting the bytes read on ``bar`` (if any).
    Read as bytes because a text file cannot say where it is while iterated."""
    pending = 0
    for raw in handle:
        if bar is not None:
            pending += len(raw)
            if pending >= 1 << 16:  # per line, the bar's bookkeeping would cost more than the decoding
                bar.update(pending)
                pending = 0
        yield raw.decode("utf-8")
    if bar is not None:
        bar.update(pending)


def _parse(line: str, source: str, number: int) -> Dict[str, Any]:
    try:
        item = json.loads(line)
    except (ValueError, RecursionError):
        item = None
    if not isinstance(item, dict):
        raise ConfigurationError(f"{source}:{number} is not a recording line; expected "
                                 '{"dir": "in"|"out", "raw": "..."}')
    return item


def _protocol(name: Optional[str], source: str) -> ProviderProtocol:
    if name is None:
        raise ConfigurationError(f"{source} does not name its provider (no {{\"provider\": ...}} first line); "
                                 "pass provider=... (e.g. 'dxlink' or 'tradovate')")
    spec = get_spec(name)
    # A replay never connects; the URL only satisfies providers that insist on one.
    given = {"url": f"replay:{source}"} if any(o.name == "url" for o in spec.options) else {}
    return spec.make_protocol(resolve_options(spec.name, spec.options, given, environ={}))


def replay_lines(lines: Iterable[str], provider: Optional[str] = None, source: str = "<lines>") -> Iterator[Event]:
    """Yield the events of recorded JSONL ``lines`` (see the module docstring)."""
    protocol: Optional[ProviderProtocol] = None
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        item = _parse(line, source, number)
        if "dir" not in item and isinstance(item.get("provider"), str):
            provider = provider or item["provider"]
            continue
        direction, raw = item.get("dir"), item.get("raw")
        if direction not in ("in", "out") or not isinstance(raw, str):
            raise ConfigurationError(f"{source}:{number} is not a recording line; expected "
                                     '{"dir": "in"|"out", "raw": "..."}')
        if protocol is None:
            protocol = _protocol(provider, source)
        t = item.get("t")
        wall = float(t) if isinstance(t, (int, float)) and 0 < t < 4e9 else time.time()
        if direction == "out":
            try:
                protocol.replay_sent(raw, wall, int(wall * 1e9))
            except Exception:  # noqa: BLE001 - an out frame only teaches state; one it cannot read is skipped
                pass
        else:
            yield from protocol.receive(raw, wall, int(wall * 1e9))
        protocol.outgoing()
        protocol.http_outgoing()
        protocol.signals.clear()
