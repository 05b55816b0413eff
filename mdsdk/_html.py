"""HTML renderings for notebooks: events, ``feed.stats()`` and the feed.

Jupyter calls an object's ``_repr_html_`` to show it; the event classes,
:class:`~mdsdk.dispatch.Stats` and the Feed delegate here, so the markup
lives in one stdlib-only module of the values layer (events import it).
Every piece of text that reaches the page, a server's symbol or an extra's
key included, goes through :func:`html.escape`: a feed is untrusted input
and a notebook renders what it is given. Missing numbers (``nan``) and
missing text (``None``) show as an em dash; times as ISO 8601 UTC.
"""

from __future__ import annotations

import datetime as _dt
import html
import math
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

__all__ = ["event_html", "stats_html", "feed_html", "iso_utc"]

MISSING = "\u2014"  # em dash
_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)
_MAX_TEXT = 500  # characters of one value shown (a news body or a long detail is cut, not the page)
_MAX_ROWS = 50  # rows of one table shown; the rest are counted
_MAX_LEVELS = 10  # book levels shown per side
_STYLE = "border-collapse:collapse;font-size:90%;text-align:left"
_NO_QUEUES = "<p>queues: none yet (a callback or an events() stream opens one)</p>"
_QUEUE_COLUMNS = ("depth", "maxsize", "mode", "high_water", "dropped", "conflated", "delivered", "lag",
                  "max_lag", "behind")


def _text(value: str) -> str:
    """``value`` escaped for HTML, cut to a readable length. A lone surrogate
    (a server's ``"\\ud800"``) becomes its escape: it could not be sent to
    the notebook as UTF-8 otherwise."""
    if len(value) > _MAX_TEXT:
        value = value[:_MAX_TEXT] + "\u2026"
    return html.escape(value.encode("utf-8", "backslashreplace").decode("utf-8"))


def iso_utc(ns: int) -> str:
    """Epoch nanoseconds as ISO 8601 UTC, ``2024-08-01T13:30:00.123Z``: the
    fraction in groups of three digits, only as long as it needs to be.
    Integer arithmetic, so no precision is lost and any int64 works."""
    try:
        seconds, frac = divmod(ns, 1_000_000_000)
        stamp = (_EPOCH + _dt.timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S")
    except (OverflowError, ValueError):  # past year 9999: the number is all there is to show
        return str(ns)
    digits = f"{frac:09d}".rstrip("0")
    if digits:
        digits = "." + digits.ljust(-(-len(digits) // 3) * 3, "0")
    return f"{stamp}{digits}Z"


def _number(value: float) -> str:
    return MISSING if math.isnan(value) else repr(value)


def _value(value: object, depth: int = 0) -> str:
    """One field's value as HTML: numbers exact (``repr``), nan and None as
    a dash, mappings as a nested table, sequences item by item."""
    if value is None:
        return MISSING
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return _number(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return _text(value)
    if isinstance(value, Mapping) and depth < 2:
        return _pairs(value.items(), depth + 1) if value else MISSING
    if isinstance(value, (list, tuple)) and depth < 2:
        return ", ".join(_value(v, depth + 1) for v in value[:_MAX_ROWS]) + _more(len(value) - _MAX_ROWS)
    return _text(repr(value))


def _more(hidden: int) -> str:
    return f" \u2026 {hidden} more" if hidden > 0 else ""


def _table(rows: Iterable[Sequence[str]], header: Sequence[str] = (), caption: str = "",
           total: Optional[int] = None) -> str:
    """A table of cells that are already HTML. With ``total``, a last row
    says how many rows were left out."""
    parts = [f'<table class="mdsdk" style="{_STYLE}">']
    if caption:
        parts.append(f'<caption style="text-align:left">{caption}</caption>')
    if header:
        parts.append("<thead><tr>" + "".join(f"<th>{h}</th>" for h in header) + "</tr></thead>")
    parts.append("<tbody>")
    shown = 0
    for row in rows:
        parts.append("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>")
        shown += 1
    if total is not None and total > shown:
        parts.append(f'<tr><td colspan="{len(header) or 2}">\u2026 {total - shown} more</td></tr>')
    parts.append("</tbody></table>")
    return "".join(parts)


def _pairs(items: Iterable[Tuple[object, object]], depth: int = 0) -> str:
    """A two-column key/value table (an event's ``extra``, flat figures)."""
    rows = [(f"<b>{_text(str(k))}</b>", _value(v, depth)) for k, v in items]
    return _table(rows[:_MAX_ROWS], total=len(rows))


def _book_side(levels: object) -> str:
    """A side of a book as a price/size table, best first."""
    if not isinstance(levels, tuple) or not all(isinstance(lv, tuple) and len(lv) == 2 for lv in levels):
        return _value(levels)
    if not levels:
        return MISSING
    rows = [(_value(price), _value(size)) for price, size in levels[:_MAX_LEVELS]]
    return _table(rows, header=("price", "size"), total=len(levels))


def event_html(ev: object) -> str:
    """An event as a small table of its fields in declaration order: the
    time as ISO UTC (the raw nanoseconds in its tooltip), nan as a dash,
    book sides as price/size tables and ``extra`` as a nested table."""
    rows: List[Tuple[str, str]] = []
    for name in getattr(ev, "__struct_fields__", ()):
        value = getattr(ev, name)
        if name == "time" and isinstance(value, int) and not isinstance(value, bool):
            cell = f'<span title="{value}">{_text(iso_utc(value))}</span>'
        elif name in ("bids", "asks"):
            cell = _book_side(value)
        else:
            cell = _value(value)
        rows.append((f"<b>{_text(name)}</b>", cell))
    return _table(rows, caption=f"<b>{_text(type(ev).__name__)}</b>")


def _figure(value: object) -> str:
    """A stats figure: counts with thousands separators, seconds to the
    millisecond, None as a dash."""
    if isinstance(value, bool) or value is None:
        return _value(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return _number(value) if not math.isfinite(value) else f"{value:,.3f}"
    return _value(value)


def _records(caption: str, records: Mapping[str, Any], key: str, columns: Sequence[str],
             others: bool = True) -> str:
    """A table with one row per record (a queue, a symbol): ``columns``
    first, then (with ``others``) any other fields a record has."""
    names = list(columns)
    for rec in records.values() if others else ():
        if isinstance(rec, Mapping):
            names.extend(k for k in rec if k not in names)
    rows = []
    for name, rec in list(records.items())[:_MAX_ROWS]:
        rec = rec if isinstance(rec, Mapping) else {}
        rows.append([_text(str(name))] + [_figure(rec.get(c)) if c in rec else "" for c in names])
    header = [_text(key)] + [_text(c) for c in names]
    return _table(rows, header=header, caption=caption, total=len(records))


def _by_age(symbols: Mapping[str, Any]) -> Dict[str, Any]:
    """Stale symbols first, then the longest silent: when the table is cut,
    what needs attention is what stays."""
    def rank(item: Tuple[str, Any]) -> Tuple[bool, float]:
        rec = item[1] if isinstance(item[1], Mapping) else {}
        age = rec.get("age")
        return (not rec.get("stale"), -(age if isinstance(age, (int, float)) else 0.0))
    return dict(sorted(symbols.items(), key=rank))


def stats_html(stats: Mapping[str, Any]) -> str:
    """``feed.stats()`` (or a stream's) as HTML: the flat figures as a
    key/value table, then one table per queue and one per symbol (age in
    seconds since its last update, stale ones first)."""
    flat = [(k, v) for k, v in stats.items() if not isinstance(v, Mapping)]
    parts = [_table([(f"<b>{_text(str(k))}</b>", _figure(v)) for k, v in flat])]
    for key, value in stats.items():
        if not isinstance(value, Mapping):
            continue
        if key == "queues":
            parts.append(_records("<b>queues</b>", value, "queue", _QUEUE_COLUMNS) if value else _NO_QUEUES)
        elif key == "symbols":
            if value:
                parts.append(_records("<b>symbols</b> (age in seconds)", _by_age(value), "symbol",
                                      ("age", "stale")))
        else:
            parts.append(_records(f"<b>{_text(str(key))}</b>", value, "name", ()))
    return "".join(parts)


def _subscriptions(subs: Iterable[Any]) -> Dict[str, List[str]]:
    """``{symbol: ["quote", "bar 1m", ...]}`` from Subscription records."""
    out: Dict[str, List[str]] = {}
    for sub in subs:
        interval = getattr(sub, "interval", None)
        kind = str(sub.kind) + (f" {interval}" if interval else "")
        out.setdefault(str(sub.symbol), []).append(kind)
    return out


def feed_html(feed: Any) -> str:
    """A Feed as HTML: provider and state, then each subscribed symbol with
    its kinds, then its queues' depths and losses. Reads only what the
    Feed shows publicly (``provider``, ``closed``, ``subscriptions``,
    ``stats()``), so it works on a closed feed too."""
    stats = feed.stats()
    state = "closed" if feed.closed else ("connected" if stats.get("connected") else "connecting")
    subs = _subscriptions(feed.subscriptions)
    caption = f"<b>Feed</b> {_text(str(feed.provider))} \u00b7 {state}"
    head = _pairs([("provider", feed.provider), ("state", state), ("subscriptions", len(feed.subscriptions)),
                   ("symbols", len(subs)), ("reconnects", stats.get("reconnects")),
                   ("dropped", stats.get("dropped")), ("conflated", stats.get("conflated"))])
    rows = [(_text(sym), _text(", ".join(kinds))) for sym, kinds in list(subs.items())[:_MAX_ROWS]]
    parts = [f"<div><p>{caption}</p>", head,
             _table(rows, header=("symbol", "kinds"), caption="<b>subscriptions</b>", total=len(subs))
             if subs else "<p>subscriptions: none yet</p>"]
    queues = stats.get("queues")
    parts.append(_records("<b>queues</b>", queues, "queue", ("depth", "maxsize", "high_water", "dropped",
                                                               "conflated", "lag"), others=False)
                 if queues else _NO_QUEUES)
    parts.append("</div>")
    return "".join(parts)
