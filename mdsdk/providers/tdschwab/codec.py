"""TD Ameritrade / Schwab streamer frames -> mdsdk events (pure; no I/O, no clock).

API (for the protocol object)::

    codec = Codec(SCHWAB, "schwab")          # or Codec(TDA, "tda"); variants.py holds the differences as data
    out = codec.decode(text, received_ns)    # raises ValueError only for a frame that is not JSON even repaired
    out.events      # Quote / Trade / Summary / Bar / BookSnapshot, and the Notice kinds "account_activity",
                    # "news", "screener" (fields in extra), every one holding the event invariants
    out.responses   # Response(service, command, requestid, code, msg, timestamp_ms): acks of our commands
    out.notifies    # Notify(service, code, msg, timestamp_ms, heartbeat_ms): heartbeats, code 30, takeover...
    out.malformed   # one sentence per block or item that was skipped (unknown service, wrong shape...)
    out.repaired    # how an invalid frame was repaired ("doubled backslashes", "U+FFFD"), else None
    out.gaps        # (service, key, first, last) seq numbers a key skipped (TIMESALE, ACCT_ACTIVITY, NEWS)
    codec.reset()   # forget the per-symbol level-one state (after a reconnect the server resends snapshots)

A frame is one JSON object with ``response``, ``notify`` and/or ``data`` lists (section 3.2). Invalid JSON is
repaired the two ways the reference shows (section 9 item 1: a doubled backslash before a quote, bare U+FFFD
bytes), else :meth:`Codec.decode` raises ValueError saying why. Inside a readable frame nothing raises: a bad
block, item or field becomes a ``malformed`` sentence and the frame's other blocks are still delivered.

Numbered fields are first relabelled to the readable names of :mod:`.variants` (an unknown number ``57`` becomes
``field_57``), then decoded by the spine's field tables (:class:`~mdsdk.providers.fields.DictDecoder`): level-one
deltas are merged into per-symbol state (a delta never blanks a field it did not carry; ``null`` values are
ignored) and the merged state makes a Quote when the delta carried a bid or ask field, a Trade when it carried
the last price or size, a Summary when it carried anything else. ``CLOSE_PRICE`` is the previous session's close
(``net_change = last - close``), so it fills ``Summary.prev_close``. Fields without a common name go to ``extra``
of the event they belong to (:func:`.variants.category`). Books are read with typed msgspec structs; levels come
best first, and each side's per-exchange entries travel in ``extra`` (``bid_entries``/``ask_entries``: a JSON
text of ``[[price, [[mpid, size, epoch_ms], ...]], ...]``, entry times converted from ms since midnight in the
variant's zone). Event times: the quote, trade, chart or book time the item carries, else the block's
``timestamp``, else ``received_ns``."""

from __future__ import annotations

import dataclasses
import datetime as _dt
import math
import re
from typing import Any, Dict, Iterable, List, Mapping, Optional, Tuple, Union

import msgspec

from ...events import Bar, BookSnapshot, Event, Quote, Summary, Trade, notice_class
from ..convert import MAX_MS, MAX_TEXT, NS_PER_MS
from ..core import dumps, loads, remember
from ..ledger import REPEAT, Sequences
from ..fields import Converter, DictDecoder, Field, Table, flag, integer, num, snake, text
from .variants import BOOK, CHART, ITEM, LEVEL_ONE, META_KEYS, TIMESALE, Service, Variant, category

__all__ = ["Codec", "Decoded", "Response", "Notify", "parse", "converter_for"]

_MAX_FIELDS = 256        # names one symbol's state may hold (a hostile stream of fresh keys cannot grow it)
_SHOWN = 120             # characters of a bad frame quoted in a malformed reason
_UNKNOWN_NUMBER = re.compile(r"[0-9]{1,3}\Z")
_EXTRA_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}\Z")
_DAY_MS = 86_400_000


# ---------------------------------------------------------------- results
@dataclasses.dataclass(frozen=True)
class Response:
    """The server's answer to one command: ``code`` 0 is success (section 4), None when the frame had none."""

    service: str
    command: str
    requestid: str
    code: Optional[int]
    msg: str
    timestamp_ms: int


@dataclasses.dataclass(frozen=True)
class Notify:
    """A notify item: a heartbeat (``heartbeat_ms`` set) or a service notice with a code (30 stop streaming, 12
    takeover, whose ``service`` is "Invalid Service" in real captures, 17 not authorized...)."""

    service: str
    code: Optional[int]
    msg: str
    timestamp_ms: int
    heartbeat_ms: Optional[int] = None


@dataclasses.dataclass
class Decoded:
    """Everything one frame holds, sorted by what the protocol object does with it."""

    events: List[Event] = dataclasses.field(default_factory=list)
    responses: List[Response] = dataclasses.field(default_factory=list)
    notifies: List[Notify] = dataclasses.field(default_factory=list)
    malformed: List[str] = dataclasses.field(default_factory=list)
    repaired: Optional[str] = None
    gaps: List[Tuple[str, str, int, int]] = dataclasses.field(default_factory=list)  # (service, key, first, last)


# ---------------------------------------------------------------- parsing and repair
def _doubled_backslashes(s: str) -> str:
    # tda-api's HeuristicJsonDecoder: the server sent \\" where \" was meant.
    return s.replace("\\\\", "\\")


def _replacement_chars(s: str) -> str:
    # Bytes that were not UTF-8 (LEVELONE_FOREX field 17) arrive as U+FFFD where a value belongs.
    return re.sub("\ufffd+", "null", s)


_REPAIRS = (("doubled backslashes", _doubled_backslashes), ("U+FFFD", _replacement_chars),
            ("doubled backslashes and U+FFFD", lambda s: _replacement_chars(_doubled_backslashes(s))))


def _loads(s: str) -> Any:
    try:
        return loads(s)
    except RecursionError as exc:
        raise ValueError("nested too deeply") from exc


def parse(frame: Union[str, bytes]) -> Tuple[Any, Optional[str]]:
    """``(value, repair)``: the frame's JSON value and the name of the repair it needed (None: none). Raises
    ValueError, with the reason and the start of the frame, when no repair makes it JSON."""
    s = frame.decode("utf-8", "replace") if isinstance(frame, (bytes, bytearray)) else frame
    try:
        return _loads(s), None
    except ValueError as exc:
        first = exc
    for name, fix in _REPAIRS:
        fixed = fix(s)
        if fixed != s:
            try:
                return _loads(fixed), name
            except ValueError:
                continue
    raise ValueError(f"invalid JSON ({str(first)[:_SHOWN]}): {s[:_SHOWN]!r}")


# ---------------------------------------------------------------- converters by type letter
def _char_one(v: Any) -> Optional[str]:
    # Type drift (section 9 item 6): a char field may arrive as its code point ("6": 63 is "?").
    if v.__class__ is int and 32 <= v < 0x110000:
        return chr(v)
    if v.__class__ is str and not v.strip():
        return None  # TDA's " " means "no value" (BID_TICK, DIVIDEND_DATE)
    return text.one(v)  # type: ignore[no-any-return]


def _percent_one(v: Any) -> float:
    x: float = num.one(v) * 100.0
    return x if not math.isinf(x) else math.nan  # 1e308 as a ratio is no percent


def _scalar_one(v: Any) -> Any:
    """A JSON scalar an ``extra`` may hold: text cut to MAX_TEXT, an int only within int64, no infinity."""
    if v.__class__ is str:
        return text.one(v)
    if v.__class__ is int:
        return integer.one(v)
    if v.__class__ is float:
        return num.one(v)
    return v if v is None or v.__class__ is bool else None


_SCALAR = Converter(_scalar_one)
# The content metadata keys, typed (an unknown key goes through _SCALAR).
_META: Mapping[str, Converter] = {"seq": integer, "delayed": flag, "assetMainType": text, "assetSubType": text,
                                  "cusip": text}

_CONVERTERS: Mapping[str, Converter] = {
    "d": num, "i": integer, "t": integer, "s": text, "b": flag, "x": _SCALAR,
    "c": Converter(_char_one),
    "r": Converter(_percent_one),
}


def converter_for(kind: str) -> Converter:
    """The converter of a field-map type letter (:mod:`.variants`); any JSON scalar for a letter it does not know."""
    return _CONVERTERS.get(kind, _SCALAR)


# ---------------------------------------------------------------- tables
_QUOTE_WIRES = frozenset({"bid_price", "ask_price", "bid_size", "ask_size"})
_TRADE_WIRES = frozenset({"last_price", "last_size"})
_QUOTE_FIELDS = (Field("bid", "bid_price"), Field("ask", "ask_price"), Field("bid_size", "bid_size"),
                 Field("ask_size", "ask_size"))
_TRADE_FIELDS = (Field("price", "last_price"), Field("size", "last_size"), Field("day_volume", "total_volume"))
_SUMMARY_FIELDS = (Field("open", "open_price"), Field("high", "high_price"), Field("low", "low_price"),
                   Field("prev_close", "close_price"), Field("volume", "total_volume"),
                   Field("open_interest", "open_interest"))
_BAR_FIELDS = (Field("open", "open_price"), Field("high", "high_price"), Field("low", "low_price"),
               Field("close", "close_price"), Field("volume", "volume"))
# One name per meaning across services and variants (variants.py), so one table serves every level-one service.
_QUOTE_TIMES = ("quote_time_millis", "quote_time_in_long", "quote_time")
_TRADE_TIMES = ("trade_time_millis", "trade_time_in_long", "trade_time")


@dataclasses.dataclass(frozen=True)
class _Decoders:
    """A variant's field tables bound to dicts of readable names."""

    quote: DictDecoder[Quote]
    trade: DictDecoder[Trade]
    summary: DictDecoder[Summary]
    bar: DictDecoder[Bar]


def _decoders(variant: Variant, provider: str) -> _Decoders:
    """The four decoders of ``variant``: each level-one event takes the extras of its own category; the Summary
    takes every other field, the content metadata (``delayed``, ``asset_main_type``...) and unknown fields."""
    convs: Dict[str, Converter] = {}
    for svc in variant.services.values():
        for name, kind in svc.fields.values():
            convs.setdefault(name, converter_for(kind))
    by_cat: Dict[str, Dict[str, Converter]] = {"quote": {}, "trade": {}, "summary": {}}
    for name, conv in convs.items():
        by_cat[category(name)][name] = conv
    trade_extras = {**by_cat["trade"], "seq": integer}
    summary_extras = {**by_cat["summary"], **_META}
    others = frozenset(by_cat["quote"]) | frozenset(by_cat["trade"])
    return _Decoders(
        Table(Quote, _QUOTE_FIELDS, symbol="key", time=_QUOTE_TIMES, rest=None,
              extra_convert=by_cat["quote"]).dicts(provider),
        Table(Trade, _TRADE_FIELDS, symbol="key", time=_TRADE_TIMES, rest=None, extra_convert=trade_extras).dicts(
            provider),
        Table(Summary, _SUMMARY_FIELDS, symbol="key", rest=_SCALAR, skip=others,
              extra_convert=summary_extras).dicts(provider),
        Table(Bar, _BAR_FIELDS, symbol="key", time=("chart_time",), rest=_SCALAR,
              extra_convert=summary_extras).dicts(provider))


# ---------------------------------------------------------------- typed envelopes
class _Content(msgspec.Struct, gc=False):
    code: Optional[int] = None
    msg: str = ""


class _Response(msgspec.Struct, gc=False):
    service: str = ""
    command: str = ""
    requestid: Union[str, int] = ""
    timestamp: int = 0
    content: Optional[_Content] = None


class _Notify(msgspec.Struct, gc=False):
    heartbeat: Union[str, int, None] = None
    service: str = ""
    timestamp: int = 0
    content: Optional[_Content] = None


class _Entry(msgspec.Struct, gc=False, rename={"mpid": "0", "size": "1", "time": "2"}):
    mpid: str = ""
    size: float = math.nan
    time: int = 0


class _Level(msgspec.Struct, gc=False, rename={"price": "0", "size": "1", "count": "2", "entries": "3"}):
    price: float
    size: float = math.nan
    count: int = 0
    entries: List[_Entry] = []


class _Book(msgspec.Struct, gc=False, rename={"time": "1", "bids": "2", "asks": "3"}):
    key: str
    time: int = 0
    bids: List[_Level] = []
    asks: List[_Level] = []


def _ms_ns(ms: Any, fallback: int) -> int:
    return ms * NS_PER_MS if ms.__class__ is int and 0 < ms < MAX_MS else fallback


def _rows(value: Any, out: Decoded) -> List[Dict[str, Any]]:
    """A list of objects with named keys (a screener's ranking) as plain rows: snake_case keys, scalar values."""
    rows = []
    for entry in value if isinstance(value, list) else ():
        if isinstance(entry, dict):
            rows.append({snake(k): _SCALAR.one(v) for k, v in entry.items() if _EXTRA_NAME.match(snake(k))})
        else:
            out.malformed.append(f"a list entry is {type(entry).__name__}, not an object: {_show(entry)}")
    return rows


def _zone(name: str) -> _dt.tzinfo:
    """The IANA zone ``name``; a fixed standard-time offset where the system has no tz database."""
    try:
        import zoneinfo
        return zoneinfo.ZoneInfo(name)
    except Exception:  # noqa: BLE001 - no tzdata: an hour off in summer beats no book at all
        return _dt.timezone(_dt.timedelta(hours=-6 if name == "America/Chicago" else -5))


# ---------------------------------------------------------------- the codec
class Codec:
    """Decodes the server frames of one variant for one provider name, holding the per-symbol level-one state that
    partial updates merge into (bounded: :func:`~mdsdk.providers.core.remember` empties it past ``MAX_KEYS``
    symbols, and one symbol keeps at most ``_MAX_FIELDS`` names)."""

    def __init__(self, variant: Variant, provider: str) -> None:
        self.variant = variant
        self.provider = provider
        self._decoders = _decoders(variant, provider)
        self._state: Dict[Tuple[str, str], Dict[str, Any]] = {}
        self._seqs = Sequences()  # (service, key) -> the last seq seen this session
        self._categories: Dict[str, str] = {}
        self._zone = _zone(variant.book_zone)
        self._kinds = {LEVEL_ONE: self._level_one, CHART: self._chart, TIMESALE: self._timesale,
                       BOOK: self._book, ITEM: self._item}
        self._notices = {svc.name: notice_class(svc.topic) for svc in variant.services.values() if svc.topic}

    def reset(self) -> None:
        """Forget the merged level-one state and the prints seen (a new session starts afresh)."""
        self._state.clear()
        self._seqs.reset()

    def decode(self, frame: Union[str, bytes], received_ns: int) -> Decoded:
        """Everything ``frame`` holds (see the module docstring). Raises ValueError only when the frame is not
        JSON even after repair, or not a JSON object; anything wrong inside one is a ``malformed`` reason."""
        value, repaired = parse(frame)
        if not isinstance(value, dict):
            raise ValueError(f"a frame must be a JSON object, not {type(value).__name__}: {str(value)[:_SHOWN]!r}")
        out = Decoded(repaired=repaired)
        for kind, blocks in value.items():
            if kind not in ("response", "notify", "data"):
                out.malformed.append(f"unknown frame key {str(kind)[:_SHOWN]!r}")
            elif not isinstance(blocks, list):
                out.malformed.append(f"{kind} is {type(blocks).__name__}, not a list")
            else:
                for block in blocks:
                    self._block(kind, block, received_ns, out)
        return out

    def _block(self, kind: str, block: Any, received_ns: int, out: Decoded) -> None:
        """One block of a frame; whatever it holds, the frame's other blocks still go through."""
        try:
            if kind == "response":
                out.responses.append(_response(block))
            elif kind == "notify":
                out.notifies.append(_notify(block))
            else:
                self._data(block, received_ns, out)
        except (ValueError, TypeError, KeyError, IndexError, OverflowError) as exc:
            # msgspec.ValidationError is a ValueError; the field tables raise only these four.
            out.malformed.append(f"bad {kind} block ({str(exc)[:_SHOWN]}): {_show(block)}")

    def _data(self, block: Any, received_ns: int, out: Decoded) -> None:
        """One ``data`` block: its service's items become events or items."""
        if not isinstance(block, dict):
            raise ValueError(f"a data block must be an object, not {type(block).__name__}")
        name = block.get("service")
        svc = self.variant.service(name) if name.__class__ is str else None
        if svc is None:
            out.malformed.append(f"unknown service {str(name)[:_SHOWN]!r} for {self.variant.name}")
            return
        content = block.get("content")
        if content == {} or content is None:
            return  # schwab-py's tests send an empty object for nothing
        if not isinstance(content, list):
            raise ValueError(f"{svc.name} content is {type(content).__name__}, not a list")
        t = _ms_ns(block.get("timestamp"), received_ns)
        self._kinds[svc.kind](svc, self._keyed(svc, content, out), t, out)

    def _keyed(self, svc: Service, content: List[Any], out: Decoded) -> List[Dict[str, Any]]:
        """The content items that are objects with a non-empty str ``key``; a reason for each other one."""
        good = []
        for item in content:
            if isinstance(item, dict) and item.get("key").__class__ is str and item["key"]:
                good.append(item)
            else:
                out.malformed.append(f"{svc.name} item without a symbol key: {_show(item)}")
        return good

    def _relabel(self, svc: Service, item: Mapping[str, Any], out: Decoded) -> Dict[str, Any]:
        """``item`` with readable names: numbered fields through the service's map (an unknown number ``n``
        becomes ``field_n``), other keys kept. Nulls and JSON containers (where a scalar belongs) are left out, so
        a merge never blanks a field."""
        fields, got = svc.fields, {}
        for k, v in item.items():
            spec = fields.get(k)
            if spec is not None:
                name = spec[0]
            elif k in META_KEYS:
                name = k
            elif _UNKNOWN_NUMBER.match(k):
                name = "field_" + k
            elif _EXTRA_NAME.match(snake(k)):
                name = snake(k)
            else:
                out.malformed.append(f"{svc.name} {item['key']}: unreadable field name {k[:_SHOWN]!r}")
                continue
            if v is None:
                continue
            if isinstance(v, (dict, list)) and (spec is None or spec[1] != "x"):
                out.malformed.append(f"{svc.name} {item['key']} field {k}: {type(v).__name__}, not a value")
                continue
            got[name] = v
        return got

    def _category(self, name: str) -> str:
        cat = self._categories.get(name)
        if cat is None:
            cat = remember(self._categories, name, "meta" if name in META_KEYS else category(name))
        return cat

    def _level_one(self, svc: Service, items: List[Dict[str, Any]], t: int, out: Decoded) -> None:
        """Merge each delta into its symbol's state; a copy of the merged state per event it calls for."""
        quotes, trades, summaries = [], [], []
        for item in items:
            delta = self._relabel(svc, item, out)
            key = (svc.name, item["key"])
            state = self._state.get(key) or remember(self._state, key, {})
            if len(state) + len(delta) > _MAX_FIELDS:
                delta = {k: v for k, v in delta.items() if k in state or not k.startswith("field_")}
            state.update(delta)
            if not _QUOTE_WIRES.isdisjoint(delta):
                quotes.append(dict(state))
            if not _TRADE_WIRES.isdisjoint(delta):
                trades.append(dict(state))
            if any(self._category(name) == "summary" for name in delta):
                summaries.append(dict(state))
        d = self._decoders
        out.events += d.quote.decode_dicts(quotes, t)
        out.events += d.trade.decode_dicts(trades, t)
        out.events += d.summary.decode_dicts(summaries, t)

    def _chart(self, svc: Service, items: List[Dict[str, Any]], t: int, out: Decoded) -> None:
        """One finished one-minute candle per item (All Sequence delivery: nothing to merge; a counted ``seq``
        drops repeats and reports skips, as for prints)."""
        rows = [self._relabel(svc, item, out) for item in items if self._in_sequence(svc, item, out)]
        out.events += self._decoders.bar.decode_dicts(rows, t, interval="1m")

    def _timesale(self, svc: Service, items: List[Dict[str, Any]], t: int, out: Decoded) -> None:
        """One print per item (TDA only), unless its ``seq`` says it is a repeat."""
        rows = [self._relabel(svc, item, out) for item in items if self._in_sequence(svc, item, out)]
        out.events += self._decoders.trade.decode_dicts(rows, t)

    def _in_sequence(self, svc: Service, item: Mapping[str, Any], out: Decoded) -> bool:
        """``seq`` counts each key's messages (0: not counted). One already seen this session is the server
        repeating itself (the TDA docs say such messages may be ignored): False. One past the next is a gap:
        the missing range goes to ``out.gaps``."""
        seq = item.get("seq")
        if seq.__class__ is not int or seq <= 0:
            return True
        news = self._seqs.seen((svc.name, item["key"]), seq)
        if news.__class__ is tuple:
            out.gaps.append((svc.name, item["key"], *news))
        return news is not REPEAT

    def _item(self, svc: Service, items: List[Dict[str, Any]], t: int, out: Decoded) -> None:
        """Account activity, news and screener items: one provider event (:class:`~mdsdk.events.Notice`) each, its
        fields relabelled and converted into ``extra``, its time the item's own (story or screener time)."""
        cls, kinds = self._notices[svc.name], dict(svc.fields.values())
        for item in items:
            if not self._in_sequence(svc, item, out):
                continue
            row = self._relabel(svc, item, out)
            key = row.pop("key")
            extra = {(snake(k) if k in META_KEYS else k): _rows(v, out) if kinds.get(k) == "x" else
                     converter_for(kinds.get(k, "x")).one(v) for k, v in row.items()}
            if extra.get("message_type") == "SUBSCRIBED":
                continue  # ACCT_ACTIVITY's answer to each (keepalive) SUBS: chatter, not activity
            when = next((extra[name] for name, kind in svc.fields.values() if kind == "t" and name in extra), None)
            out.events.append(cls(key, _ms_ns(when, t), self.provider, extra=extra))

    def _book(self, svc: Service, items: List[Dict[str, Any]], t: int, out: Decoded) -> None:
        """Whole books (typed msgspec structs): one BookSnapshot per item."""
        for item in items:
            try:
                book = msgspec.convert(item, _Book)
            except msgspec.ValidationError as exc:
                out.malformed.append(f"{svc.name} {item['key']}: {exc}")
                continue
            book_ns = _ms_ns(book.time, t)
            midnight = self._midnight_ms(book_ns // NS_PER_MS)
            bids = sorted(_good_levels(book.bids), key=lambda lv: -lv.price)
            asks = sorted(_good_levels(book.asks), key=lambda lv: lv.price)
            extra = {"bid_entries": _entries(bids, midnight, book_ns), "ask_entries": _entries(asks, midnight, book_ns),
                     "service": svc.name}
            out.events.append(BookSnapshot(book.key, book_ns, self.provider, _pairs(bids), _pairs(asks), extra=extra))

    def _midnight_ms(self, ms: int) -> int:
        """Epoch ms of the midnight (in the variant's book zone) that starts the day holding ``ms``."""
        local = _dt.datetime.fromtimestamp(ms / 1000, tz=self._zone)
        start = _dt.datetime(local.year, local.month, local.day, tzinfo=self._zone)
        return int(start.timestamp()) * 1000


def _good_levels(levels: Iterable[_Level]) -> List[_Level]:
    """The levels whose price is a finite number (a book level without a price means nothing)."""
    return [lv for lv in levels if math.isfinite(lv.price)]


def _pairs(levels: List[_Level]) -> Tuple[Tuple[float, float], ...]:
    return tuple((lv.price, lv.size if math.isfinite(lv.size) else math.nan) for lv in levels)


def _entries(levels: List[_Level], midnight_ms: int, book_ns: int) -> Optional[str]:
    """The per-exchange entries of one side as JSON text: ``[[price, [[mpid, size, epoch_ms], ...]], ...]``. An
    entry time is ms since the book day's midnight; one later than the book itself is from the day before. None
    when the text would pass MAX_TEXT (a hostile book; its levels still arrive in ``bids``/``asks``)."""
    book_ms = book_ns // NS_PER_MS
    sides = []
    for lv in levels:
        entries = []
        for e in lv.entries:
            ms = midnight_ms + e.time if 0 <= e.time < _DAY_MS else 0
            if ms > book_ms + 60_000:
                ms -= _DAY_MS
            entries.append([e.mpid, e.size if math.isfinite(e.size) else None, ms or None])
        sides.append([lv.price, entries])
    text = dumps(sides)
    return text if len(text) <= MAX_TEXT else None


def _response(block: Any) -> Response:
    """One ``response`` item, typed (msgspec raises a ValidationError, a ValueError, for a wrong shape)."""
    r = msgspec.convert(block, _Response)
    c = r.content or _Content()
    return Response(r.service, r.command, str(r.requestid), c.code, c.msg, r.timestamp)


def _notify(block: Any) -> Notify:
    """One ``notify`` item: a heartbeat (a str of ms on the wire) or a service notice."""
    n = msgspec.convert(block, _Notify)
    c = n.content or _Content()
    beat = None
    if n.heartbeat is not None:
        beat = int(n.heartbeat)  # a heartbeat that is not a number is a ValueError: a malformed block
    return Notify(n.service, c.code, c.msg, n.timestamp, beat)


def _show(value: Any) -> str:
    try:
        shown = dumps(value)
    except Exception:  # noqa: BLE001 - showing a value must not fail
        shown = repr(value)
    return shown[:_SHOWN]
