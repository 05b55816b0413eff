"""CrossTrade server frames -> mdsdk events and protocol news (pure; no I/O, no clock). protocols/crosstrade.md
section 3.

* ``marketData``: each element of ``quotes`` is merged into that instrument's state (the server may send only
  what changed, so a field it left out keeps its last value), then gives a Quote when it carried a bid or ask
  field, a Trade when it carried ``last``/``lastSize``, a Summary when it carried open/high/low/close. The
  symbol is the one the user subscribed (quotes name the dated contract; see :mod:`.instruments`). Other fields
  go to ``extra`` in snake_case (``tickSize`` -> ``tick_size``).
* ``pnlUpdate``: one PnL per account; the per-account names are undocumented, so realized and unrealized are
  read from the likely spellings and every other number goes to ``extra``.
* ``{"id", "data"}`` (no ``type``): an RPC answer; ``status``, ``error`` and ``pong`` frames are news.
* Times: a quote's ``epoch`` (seconds or ms, told apart by size), else ``quoteTimeUtc``, else the receive time.
"""

from __future__ import annotations

import calendar
import math
import re
import time
from typing import Any, Dict, List, Mapping, Optional, Tuple

from ...events import Event, PnL, Quote, Summary, Trade
from ..convert import MAX_TEXT, num, plain, snake
from ..core import remember
from .instruments import Aliases

__all__ = ["Codec", "Decoded", "Answer"]

NAN = math.nan
_QUOTE_KEYS = frozenset({"bid", "ask", "bidSize", "askSize"})
_TRADE_KEYS = frozenset({"last", "lastSize"})
_SUMMARY_KEYS = frozenset({"open", "high", "low", "close"})
_CORE = _QUOTE_KEYS | _TRADE_KEYS | _SUMMARY_KEYS | {"instrument", "volume", "epoch", "quoteTimeUtc"}
_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}\Z")
_MAX_FIELDS = 128
_REALIZED = ("realizedPnl", "realizedPnL", "realized", "RealizedPnL", "realizedProfitLoss")
_UNREALIZED = ("unrealizedPnl", "unrealizedPnL", "unrealized", "UnrealizedPnL", "unrealizedProfitLoss")


class Answer:
    """An RPC answer: the request ``id`` and its ``data``."""

    __slots__ = ("id", "data")

    def __init__(self, rid: str, data: Any) -> None:
        self.id, self.data = rid, data


class Decoded:
    """What one frame holds: events, an RPC answer, a news item (``kind``, ``text``) or why it was skipped."""

    __slots__ = ("events", "answer", "news", "malformed")

    def __init__(self) -> None:
        self.events: List[Event] = []
        self.answer: Optional[Answer] = None
        self.news: Optional[Tuple[str, str]] = None
        self.malformed: Optional[str] = None


def _ns(value: Any, fallback: int) -> int:
    """Epoch seconds or milliseconds (by size) as ns; ``fallback`` when it is no sane time."""
    if (value.__class__ is int and 0 < value < 10**16) or (value.__class__ is float and 0 < value < 1e16):
        ms = value if value > 1e11 else value * 1000
        if ms < 9e12:
            return int(ms) * 1_000_000
    return fallback


def _utc_text(value: Any, fallback: int) -> int:
    """``"YYYY-MM-DD HH:MM:SS"`` (quoteTimeUtc) as ns; ``fallback`` when it is not that."""
    try:
        return calendar.timegm(time.strptime(str(value)[:19], "%Y-%m-%d %H:%M:%S")) * 1_000_000_000
    except (ValueError, OverflowError):
        return fallback


class Codec:
    """Decodes the server's frames for one provider name, holding each instrument's merged quote state."""

    def __init__(self, provider: str, aliases: Aliases) -> None:
        self.provider = provider
        self.aliases = aliases
        self._state: Dict[str, Dict[str, Any]] = {}

    def reset(self) -> None:
        """Forget the merged quotes (a new connection starts with full ones)."""
        self._state.clear()

    def decode(self, doc: Any, received_ns: int) -> Decoded:
        """One parsed frame (see the module docstring); never raises for a JSON value."""
        out = Decoded()
        if not isinstance(doc, dict):
            out.malformed = f"a frame must be a JSON object, not {type(doc).__name__}"
            return out
        kind = doc.get("type")
        if kind == "marketData":
            self._market(doc.get("quotes"), received_ns, out)
        elif kind == "pnlUpdate":
            self._pnl(doc, received_ns, out)
        elif kind is None and "id" in doc and "data" in doc:
            out.answer = Answer(str(doc["id"])[:200], doc["data"])
        elif kind in ("status", "error"):
            words = doc.get("error") or doc.get("state") or doc.get("message") or ""
            out.news = (str(kind), str(words)[:500])
        elif kind != "pong":
            out.malformed = f"unknown frame type {str(kind)[:40]!r}"
        return out

    def _market(self, quotes: Any, received_ns: int, out: Decoded) -> None:
        if not isinstance(quotes, list):
            out.malformed = f"marketData quotes is {type(quotes).__name__}, not a list"
            return
        bad = 0
        for q in quotes:
            if isinstance(q, dict) and q.get("instrument").__class__ is str and 0 < len(q["instrument"]) <= 64:
                self._quote(q, received_ns, out)
            else:
                bad += 1
        if bad:
            out.malformed = f"{bad} quote(s) without an instrument name"

    def _quote(self, delta: Mapping[str, Any], received_ns: int, out: Decoded) -> None:
        instrument = delta["instrument"]
        state = self._state.get(instrument)
        if state is None:
            state = remember(self._state, instrument, {})
        for k, v in delta.items():
            if v is not None and (k in state or len(state) < _MAX_FIELDS) and k.__class__ is str:
                state[k] = v
        t = _ns(state.get("epoch"), 0) or _utc_text(state.get("quoteTimeUtc"), received_ns)
        extra, keys, p, g = _extra(state), delta.keys(), self.provider, state.get
        for symbol in self.aliases.user_symbols(instrument):
            if not _QUOTE_KEYS.isdisjoint(keys):
                out.events.append(Quote(symbol, t, p, num.one(g("bid")), num.one(g("ask")), num.one(g("bidSize")),
                                        num.one(g("askSize")), extra=extra))
            if not _TRADE_KEYS.isdisjoint(keys):
                out.events.append(Trade(symbol, t, p, num.one(g("last")), num.one(g("lastSize")),
                                        num.one(g("volume")), extra=extra))
            if not _SUMMARY_KEYS.isdisjoint(keys):
                out.events.append(Summary(symbol, t, p, num.one(g("open")), num.one(g("high")), num.one(g("low")),
                                          num.one(g("close")), NAN, num.one(g("volume")), NAN, extra=extra))

    def _pnl(self, doc: Mapping[str, Any], received_ns: int, out: Decoded) -> None:
        accounts = doc.get("accounts")
        if not isinstance(accounts, list):
            out.malformed = f"pnlUpdate accounts is {type(accounts).__name__}, not a list"
            return
        t = _ns(doc.get("epoch"), received_ns)
        for row in accounts:
            name = row.get("account") if isinstance(row, dict) else None
            if name.__class__ is not str or not name or len(name) > 64:
                out.malformed = "a pnlUpdate account without a name"
                continue
            realized = next((num.one(row[k]) for k in _REALIZED if k in row), NAN)
            unrealized = next((num.one(row[k]) for k in _UNREALIZED if k in row), NAN)
            extra = {n: plain.one(v) for k, v in row.items() if k.__class__ is str
                     and k not in _REALIZED + _UNREALIZED + ("account",) and _NAME.match(n := snake(k))}
            out.events.append(PnL(name, t, self.provider, name, realized, unrealized, extra=extra))


def _extra(state: Mapping[str, Any]) -> Dict[str, Any]:
    """The merged fields without a common name, snake_case, as JSON scalars (objects and lists left out)."""
    extra: Dict[str, Any] = {}
    for k, v in state.items():
        if k in _CORE:
            continue
        name = snake(k)
        if _NAME.match(name) and not isinstance(v, (dict, list)):
            value = plain.one(v)
            extra[name] = value[:MAX_TEXT] if value.__class__ is str else value
    return extra
