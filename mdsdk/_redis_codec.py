"""Events as Redis Stream entries, and the stream names they go to.

An entry has two fields: ``kind`` (the event type's topic: ``quote``,
``status``, ``news``, ...) and ``data``, the event as one MessagePack array of
its fields in the class's field order: ``[symbol, time, provider, <the type's
own fields>, extra]``. Field names are not repeated in every entry (a Quote is
about 45 bytes instead of 110), and Redis stores the two entry field names
once per stream node, so an entry costs little more than its values. Decoding
goes through one typed msgspec decoder per event class, which validates the
values and rebuilds nested tuples (a BookSnapshot's levels), so what comes
back is the same class with equal fields. Floats keep ``nan`` exactly; inside
``extra`` a tuple comes back as a list (MessagePack has one array type).

Stream names (``layout``): ``per_symbol`` gives one stream per kind and
symbol, ``<prefix>:<feed>:<kind>:<symbol>`` (``<prefix>:<feed>:<kind>`` for
news without a symbol, such as a connection-wide Status); ``per_feed`` gives
one stream per feed, ``<prefix>:<feed>``. ``<feed>`` is the provider name of
the feed the sink reads (``sim``, ``tastytrade``...). The symbol is the last
part and may itself contain colons.
"""

from __future__ import annotations

from typing import Any, Dict, Mapping, Optional, Tuple, Type

import msgspec

from . import _validate as check
from .errors import ConfigurationError
from .events import EMPTY, Bar, BookSnapshot, Event, PnL, Profile, Quote, Status, Summary, Trade, \
    notice_class

__all__ = ["LAYOUTS", "KIND", "DATA", "EventCodec", "StreamNames", "MalformedEntry", "event_class", "glob_escape",
           "id_bounds", "id_order"]


LAYOUTS = ("per_symbol", "per_feed")
KIND = b"kind"  # entry field: the event type
DATA = b"data"  # entry field: the MessagePack array of the event's fields
_CLASSES: Dict[str, Type[Event]] = {c.topic: c for c in (Quote, Trade, Bar, Summary, Profile, BookSnapshot, PnL,
                                                          Status)}


class MalformedEntry(ValueError):
    """A stream entry that is not an mdsdk event (another writer's entry, or a corrupted one)."""


def event_class(kind: str) -> Type[Event]:
    """The event class of ``kind``: one of the common kinds, or the provider
    notice class of that name. Raises MalformedEntry for anything else."""
    cls = _CLASSES.get(kind)
    if cls is not None:
        return cls
    try:
        return notice_class(kind)
    except ValueError as exc:
        raise MalformedEntry(f"unknown event kind {kind[:60]!r}") from exc


def _plain(obj: Any) -> Any:
    # extra may hold the shared empty mapping or another Mapping; anything else travels as its text
    if isinstance(obj, Mapping):
        return dict(obj)
    return str(obj)


def _clean(obj: Any) -> Any:
    """``obj`` with every lone surrogate replaced (U+FFFD), so it encodes as UTF-8."""
    if isinstance(obj, str):
        return "".join("\ufffd" if "\ud800" <= c <= "\udfff" else c for c in obj) if _has_surrogate(obj) else obj
    if isinstance(obj, Mapping):
        return {_clean(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    return obj


def _has_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


class EventCodec:
    """Encodes events to entry bodies and decodes them back to the same classes."""

    def __init__(self) -> None:
        self._encoder = msgspec.msgpack.Encoder(enc_hook=_plain)
        self._decoders: Dict[bytes, Tuple[Type[Event], msgspec.msgpack.Decoder[Any]]] = {}

    def encode(self, ev: Event) -> bytes:
        """The entry body of ``ev``: its field values as one MessagePack array."""
        values = msgspec.structs.astuple(ev)
        try:
            return self._encoder.encode(values)
        except UnicodeEncodeError:  # a lone surrogate from a server ("\ud800"): replaced, as json would escape it
            return self._encoder.encode(_clean(values))

    def decode(self, kind: bytes, data: bytes) -> Event:
        """The event of kind ``kind`` whose body is ``data``; MalformedEntry if
        either is not what :meth:`encode` writes."""
        entry = self._decoders.get(kind)
        if entry is None:
            entry = self._decoders[kind] = self._decoder_for(kind)
        cls, decoder = entry
        try:
            values = decoder.decode(data)
        except msgspec.DecodeError as exc:  # ValidationError included: wrong count or type of a field
            raise MalformedEntry(f"a {cls.topic} entry that does not decode: {exc}") from exc
        try:
            return cls(*values[:-1], extra=values[-1] or EMPTY)
        except (TypeError, ValueError) as exc:
            raise MalformedEntry(f"a {cls.topic} entry with unusable fields: {exc}") from exc

    def _decoder_for(self, kind: bytes) -> Tuple[Type[Event], msgspec.msgpack.Decoder[Any]]:
        try:
            name = kind.decode("ascii")
        except UnicodeDecodeError:
            raise MalformedEntry(f"an entry kind that is not a name: {kind[:60]!r}") from None
        cls = event_class(name)
        types = tuple(f.type for f in msgspec.structs.fields(cls))
        if len(self._decoders) > 10_000:  # kinds are a handful; only garbage makes this many
            self._decoders.clear()
        return cls, msgspec.msgpack.Decoder(Tuple[types])


def glob_escape(text: str) -> str:
    """``text`` with the characters special to Redis' MATCH patterns escaped."""
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)


class StreamNames:
    """Where an event goes under ``prefix`` with ``layout``, and which
    feed, kind and symbol a stream name stands for."""

    def __init__(self, prefix: Any, layout: Any) -> None:
        if not isinstance(prefix, str) or not prefix or len(prefix) > 200:
            raise ConfigurationError(f"prefix must be a non-empty string of at most 200 characters, "
                                     f"got {check.show(prefix)}")
        if layout not in LAYOUTS:
            raise ConfigurationError(f"layout must be one of {', '.join(LAYOUTS)}, got {check.show(layout)}")
        self.prefix = prefix
        self.layout: str = layout
        self._head = prefix + ":"

    def key(self, feed: str, kind: str, symbol: str) -> str:
        """The stream of a ``kind`` event for ``symbol`` from feed ``feed``."""
        if self.layout == "per_feed":
            return self._head + feed
        if not symbol:
            return f"{self._head}{feed}:{kind}"
        return f"{self._head}{feed}:{kind}:{symbol}"

    def parse(self, key: str) -> Optional[Tuple[str, Optional[str], Optional[str]]]:
        """``(feed, kind, symbol)`` of a stream of this layout (kind and symbol
        None for ``per_feed``), or None when ``key`` is not one."""
        if not key.startswith(self._head):
            return None
        parts = key[len(self._head):].split(":", 2)
        if not parts[0]:
            return None
        if self.layout == "per_feed":
            return (parts[0], None, None) if len(parts) == 1 else None
        if len(parts) == 1 or not parts[1]:
            return None
        return parts[0], parts[1], parts[2] if len(parts) == 3 else ""

    def pattern(self, feed: Optional[str]) -> str:
        """The SCAN pattern of every stream of ``feed`` (None: every feed)."""
        head = glob_escape(self._head)
        if self.layout == "per_feed":
            return head + (glob_escape(feed) if feed else "*")
        return head + (glob_escape(feed) + ":*" if feed else "*")


def id_bounds(start_ns: int, end_ns: int) -> Optional[Tuple[str, str]]:
    """XRANGE bounds of the entries added in ``[start_ns, end_ns)`` (None when
    no millisecond lies in it): an entry ID starts with the Redis server's
    clock in milliseconds when the entry was added."""
    first = -(-start_ns // 1_000_000)
    last = -(-end_ns // 1_000_000) - 1
    return (str(first), str(last)) if last >= first else None


def id_order(entry_id: bytes) -> Tuple[int, int]:
    """An entry ID as a sortable pair (milliseconds, sequence)."""
    ms, _, seq = entry_id.partition(b"-")
    return int(ms), int(seq or 0)

