"""Tradovate ``md`` quotes (protocols/tradovate.md section 6): per-contract
state merged from partial ``entries`` and turned into Quote, Trade and
Summary events, read two ways over one state and one set of rules.

The typed reader decodes a whole ``a[{"e":"md","d":{"quotes":[...]}}]`` frame
with msgspec straight into the Structs below (renamed fields, one Decoder for
the frame shape), so key lookup, type checks and number parsing run in C and
:meth:`QuoteBook.apply_typed` merges a quote with a few attribute reads. The
tolerant reader (:meth:`QuoteBook.apply`) takes one generic ``dict`` quote at
a time and decides what everything else means (a null, a string price, an
unknown entry name, ``NaN``...). A frame the typed decoder accepts gives
exactly the events the tolerant reader would give for it; one it refuses
(:func:`decode_md` returns None) goes to the tolerant reader whole.
"""

from __future__ import annotations

import math
from operator import attrgetter
from typing import Annotated, Any, Dict, Iterable, List, Literal, Mapping, Optional, Sequence, Set

import msgspec
from msgspec.structs import astuple

from ...events import Event, Quote, Summary, Trade
from ..core import MAX_KEYS, remember
from ..fields import strict_num
from .codec import contract_id, iso_to_ns

__all__ = ["QuoteBook", "MdItem", "MdQuote", "decode_md", "MD_HEADS"]

NAN = math.nan
_NOSLOT = (NAN, NAN)  # (price, size) of an entry never seen
_SUMMARY_KEYS = frozenset(("OpeningPrice", "HighPrice", "LowPrice", "SettlementPrice", "TotalTradeVolume",
                           "OpenInterest"))
# A contract holding this many entry names (only unknown names get it there) is left to the tolerant reader:
# the typed reader merges in its own order, which is only the wire order's equal while no merge can empty the
# state (remember() at MAX_KEYS names).
_CROWDED = MAX_KEYS - 32
_TIME_TEXT = 64  # longer timestamps are converted, not cached
# Frames the typed reader tries (compact, and json.dumps' default separators); others go the tolerant way.
MD_HEADS = ('a[{"e":"md"', 'a[{"e": "md"')


class _Entry(msgspec.Struct, gc=False):
    """One entry; a missing price or size is nan (the last known value stays)."""

    price: float = NAN
    size: float = NAN


class _Entries(msgspec.Struct, gc=False, forbid_unknown_fields=True, rename="pascal"):
    """The entry names Tradovate sends; any other name sends the frame to the tolerant reader."""

    bid: Optional[_Entry] = None
    offer: Optional[_Entry] = None
    trade: Optional[_Entry] = None
    total_trade_volume: Optional[_Entry] = None
    opening_price: Optional[_Entry] = None
    high_price: Optional[_Entry] = None
    low_price: Optional[_Entry] = None
    settlement_price: Optional[_Entry] = None
    open_interest: Optional[_Entry] = None
    empty_book: Optional[_Entry] = None


_WIRES = tuple(_Entries.__struct_encode_fields__)  # wire names in field order


class MdQuote(msgspec.Struct, gc=False, rename="camel"):
    """One ``quotes[]`` item whose ``contractId`` is a positive int64."""

    contract_id: Annotated[int, msgspec.Meta(ge=1, le=(1 << 63) - 1)]
    timestamp: str = ""
    entries: Optional[_Entries] = None


class _MdData(msgspec.Struct, gc=False):
    quotes: List[MdQuote] = []
    doms: Any = None  # generic: read by codec.book_from_dom like any other DOM


class MdItem(msgspec.Struct, gc=False):
    """One ``{"e":"md","d":{...}}`` item of an ``a`` frame."""

    e: Literal["md"]
    d: _MdData


_decode = msgspec.json.Decoder(List[MdItem]).decode
_TIMESTAMP = attrgetter("timestamp")
_CID = attrgetter("contract_id")


def decode_md(text: str) -> Optional[List[MdItem]]:
    """The items of an ``a`` frame holding only ``md`` events of the typed
    shape; None for any other frame (never raises)."""
    try:
        return _decode(text[1:])
    except (msgspec.DecodeError, ValueError, RecursionError):
        return None


def _emit(out: List[Event], state: Mapping[str, Sequence[float]], changed: Iterable[str], symbol: str, t: int,
          provider: str, cid: int, with_trades: bool) -> None:
    """The events a merge that touched the ``changed`` entry names makes."""
    names = changed if isinstance(changed, (set, frozenset)) else frozenset(changed)
    get = state.get
    if "Bid" in names or "Offer" in names:
        b, o = get("Bid", _NOSLOT), get("Offer", _NOSLOT)
        out.append(Quote(symbol, t, provider, bid=b[0], ask=o[0], bid_size=b[1], ask_size=o[1],
                         extra={"contract_id": cid}))
    if with_trades and "Trade" in names:
        trade = get("Trade", _NOSLOT)
        out.append(Trade(symbol, t, provider, price=trade[0], size=trade[1],
                         day_volume=get("TotalTradeVolume", _NOSLOT)[1], extra={"contract_id": cid}))
    if not _SUMMARY_KEYS.isdisjoint(names):
        out.append(Summary(symbol, t, provider, open=get("OpeningPrice", _NOSLOT)[0],
                           high=get("HighPrice", _NOSLOT)[0], low=get("LowPrice", _NOSLOT)[0], close=NAN,
                           prev_close=NAN, volume=get("TotalTradeVolume", _NOSLOT)[1],
                           open_interest=get("OpenInterest", _NOSLOT)[1],
                           extra={"contract_id": cid, "settlement": get("SettlementPrice", _NOSLOT)[0]}))


class QuoteBook:
    """Per-contract quote state. Partial ``entries`` are merged into it (a
    missing entry, or a missing price or size inside one, leaves the last
    known value), then turned into Quote, Trade and Summary events. A
    contract's state maps entry names to ``[price, size]``."""

    def __init__(self) -> None:
        self._state: Dict[int, Dict[str, List[float]]] = {}
        self._crowded: Set[int] = set()
        self._times: Dict[str, int] = {}  # timestamp text -> epoch ns (0: unreadable)

    def clear(self) -> None:
        """Forget everything (after a reconnect the server sends full state again)."""
        self._state.clear()
        self._crowded.clear()

    # ------------------------------------------------------------ the tolerant reader
    def apply(self, quote: Mapping[str, Any], symbol: str, provider: str, received_ns: int,
              with_trades: bool = True) -> List[Any]:
        """Merge one ``quotes[]`` item; return the events it changes."""
        cid = contract_id(quote.get("contractId"))
        entries = quote.get("entries") or {}
        if not isinstance(entries, dict):
            raise ValueError("quote entries must be an object")
        state = self._state.get(cid) or remember(self._state, cid, {})
        changed = set()
        for name, entry in entries.items():
            if not isinstance(entry, dict):
                continue
            slot = state[name] if name in state else remember(state, name, [NAN, NAN])
            for i, field in enumerate(("price", "size")):
                value = strict_num(entry.get(field))  # nan for a missing, non-numeric or infinite value
                if value == value:
                    slot[i] = value
            changed.add(name)
        if len(state) >= _CROWDED:
            self._crowd(cid)
        t = iso_to_ns(quote.get("timestamp")) or received_ns
        out: List[Any] = []
        _emit(out, state, changed, symbol, t, provider, cid, with_trades)
        return out

    def _crowd(self, cid: int) -> None:
        crowded = self._crowded
        crowded.add(cid)
        if len(crowded) > MAX_KEYS:  # keep only those still crowded: at most one per contract held
            self._crowded = {c for c in crowded if len(self._state.get(c, ())) >= _CROWDED}

    # ------------------------------------------------------------ the typed reader
    def fits(self, quotes: Sequence[MdQuote]) -> bool:
        """Whether :meth:`apply_typed` may take ``quotes``: no crowded
        contract among them, and every timestamp converts (the conversions
        are cached, so apply_typed meets none that could raise). Changes no
        state a frame's events depend on."""
        if self._crowded and not self._crowded.isdisjoint(map(_CID, quotes)):
            return False
        times = self._times
        if len(quotes) == 1:
            return quotes[0].timestamp in times or self._try_time(quotes[0].timestamp)
        return all(self._try_time(ts) for ts in set(map(_TIMESTAMP, quotes)).difference(times))

    def _try_time(self, ts: str) -> bool:
        try:
            self._time(ts)
        except Exception:  # noqa: BLE001 - the tolerant reader reports whatever this is
            return False
        return True

    def _time(self, ts: str) -> int:
        t = iso_to_ns(ts)
        if len(ts) <= _TIME_TEXT:
            remember(self._times, ts, t)
        return t

    def apply_typed(self, quotes: Sequence[MdQuote], names: Mapping[int, str], ticks: Set[str], provider: str,
                    received_ns: int, out: List[Event]) -> None:
        """Merge typed quotes (:meth:`fits` said yes), appending their events to ``out``. A contract is named
        ``names[cid]`` (else its id); a name in ``ticks`` gets no Trade (a tick chart sends its trades)."""
        state, times = self._state, self._times
        for q in quotes:
            cid = q.contract_id
            st = state.get(cid) or remember(state, cid, {})
            e = q.entries
            if e is None:
                continue
            if (e.trade is not None or e.total_trade_volume is not None or e.opening_price is not None
                    or e.high_price is not None or e.low_price is not None or e.settlement_price is not None
                    or e.open_interest is not None or e.empty_book is not None):
                self._others(st, e, q, names, ticks, provider, received_ns, out)
                continue
            # The common quote, Bid and/or Offer only, merged inline: a call per entry shows in the rate.
            b, o = e.bid, e.offer
            if b is None and o is None:
                continue
            if b is None:
                bb = st.get("Bid", _NOSLOT)
            else:
                bb = st.get("Bid") or remember(st, "Bid", [NAN, NAN])
                if b.price == b.price:
                    bb[0] = b.price
                if b.size == b.size:
                    bb[1] = b.size
            if o is None:
                oo = st.get("Offer", _NOSLOT)
            else:
                oo = st.get("Offer") or remember(st, "Offer", [NAN, NAN])
                if o.price == o.price:
                    oo[0] = o.price
                if o.size == o.size:
                    oo[1] = o.size
            t = times.get(q.timestamp)
            out.append(Quote(names.get(cid) or str(cid), (t if t is not None else self._time(q.timestamp))
                             or received_ns, provider, bb[0], oo[0], bb[1], oo[1], extra={"contract_id": cid}))

    def _others(self, st: Dict[str, List[float]], e: _Entries, q: MdQuote, names: Mapping[int, str],
                ticks: Set[str], provider: str, received_ns: int, out: List[Event]) -> None:
        """A typed quote with entries beyond Bid and Offer."""
        changed = []
        for wire, entry in zip(_WIRES, astuple(e)):
            if entry is not None:
                _merge(st, wire, entry)
                changed.append(wire)
        t = self._times.get(q.timestamp)
        if t is None:
            t = self._time(q.timestamp)
        cid = q.contract_id
        name = names.get(cid) or str(cid)
        _emit(out, st, changed, name, t or received_ns, provider, cid, name not in ticks)


def _merge(st: Dict[str, List[float]], name: str, entry: _Entry) -> None:
    """Merge ``entry`` into the slot of ``name``."""
    slot = st.get(name) or remember(st, name, [NAN, NAN])
    value = entry.price
    if value == value:
        slot[0] = value
    value = entry.size
    if value == value:
        slot[1] = value
