"""Notebook reprs: every event class, Stats and the Feed render as escaped
HTML tables (mdsdk/_html.py); Stats is still a plain dict to its users."""

from __future__ import annotations

import json
import math
import pickle
from typing import Any, List, Type

import pytest

import mdsdk
from mdsdk import _html
from mdsdk.dispatch import Dispatcher, Stats
from mdsdk.events import BookSnapshot, Event, Quote, Status, notice_class
from mdsdk.policy import QueuePolicy
from mdsdk.providers.base import Subscription

HOSTILE = "<script>alert('x')</script>"
T = 1_722_519_000_123_456_000  # 2024-08-01T13:30:00.123456Z


def _event_classes() -> List[Type[Event]]:
    notice_class("news")  # a provider's own kind: a subclass made at run time
    found, todo = [], [Event]
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo.extend(cls.__subclasses__())
    return sorted(set(found), key=lambda c: c.__name__)


@pytest.mark.parametrize("cls", _event_classes(), ids=lambda c: c.__name__)
def test_every_event_class_renders_escaped_html(cls: Type[Event]) -> None:
    ev = cls(HOSTILE, T, "sim", extra={"<k>": "a&b", "n": math.nan})
    out = ev._repr_html_()
    assert "<script>" not in out and "&lt;script&gt;" in out
    assert "&lt;k&gt;" in out and "a&amp;b" in out  # extra shown, keys and values escaped
    assert "2024-08-01T13:30:00.123456Z" in out and f'title="{T}"' in out
    assert f"<b>{cls.__name__}</b>" in out
    for name in ev.__struct_fields__:
        assert f"<b>{name}</b>" in out
    assert "nan" not in out.lower()  # every float field defaults to nan: each shows as a dash
    assert out.startswith("<table") and out.endswith("</table>")


def test_numbers_are_exact_and_missing_ones_a_dash() -> None:
    q = Quote("SPY", T, "sim", 1.1, math.nan, 300.0, math.nan)
    out = q._repr_html_()
    assert "<td>1.1</td>" in out and "<td>300.0</td>" in out
    assert out.count(f"<td>{_html.MISSING}</td>") == 3  # ask, ask_size and the empty extra
    assert "<td>inf</td>" in Quote("SPY", T, "sim", math.inf)._repr_html_()


def test_plain_repr_equality_and_hash_are_unchanged() -> None:
    a, b = Quote("SPY", T, "sim", 1.0, 2.0, 3.0, 4.0), Quote("SPY", T, "sim", 1.0, 2.0, 3.0, 4.0)
    assert repr(a).startswith("Quote(symbol='SPY', time=") and a == b and hash(a) == hash(b)
    assert pickle.loads(pickle.dumps(a)) == a
    assert "_repr_html_" not in Quote.__struct_fields__  # a method, not a field: construction is as before


def test_book_sides_render_as_price_size_tables_cut_at_ten_levels() -> None:
    bids = tuple((100.0 - i, float(i + 1)) for i in range(12))
    out = BookSnapshot("ES", T, "sim", bids=bids, asks=((101.0, 5.0),))._repr_html_()
    assert out.count("<th>price</th><th>size</th>") == 2
    assert "<td>100.0</td><td>1.0</td>" in out and "<td>91.0</td>" in out and "<td>90.0</td>" not in out
    assert "\u2026 2 more" in out
    assert f"<b>asks</b></td><td>{_html.MISSING}" not in out
    empty = BookSnapshot("ES", T, "sim")._repr_html_()
    assert f"<b>bids</b></td><td>{_html.MISSING}</td>" in empty


def test_odd_text_neither_breaks_the_page_nor_the_notebook() -> None:
    ev = Status("\ud800", T, "sim", kind="error", detail="x" * 2000, extra={"deep": {"a": {"b": {"c": 1}}}})
    out = ev._repr_html_()
    out.encode("utf-8")  # a lone surrogate is shown as its escape, so the kernel can send the page
    assert "\\ud800" in out and "x" * 500 + "\u2026" in out and "x" * 501 not in out
    assert "{&#x27;c&#x27;: 1}" in out  # nesting past two levels is shown as escaped text


@pytest.mark.parametrize("ns,text", [
    (0, "1970-01-01T00:00:00Z"), (1, "1970-01-01T00:00:00.000000001Z"),
    (1_500_000_000, "1970-01-01T00:00:01.500Z"), (1_000_120_000, "1970-01-01T00:00:01.000120Z"),
    (-1_000_000_000, "1969-12-31T23:59:59Z"), (2**63 - 1, "2262-04-11T23:47:16.854775807Z"),
    (10**30, str(10**30))])
def test_iso_utc(ns: int, text: str) -> None:
    assert _html.iso_utc(ns) == text


def _stats() -> Stats:
    return Stats({
        "provider": "sim", "connected": True, "frames_in": 1234567, "last_frame_age": 0.25, "dropped": 0,
        "symbols": {"SPY": {"age": 0.1, "stale": False}, HOSTILE: {"age": 9.0, "stale": False},
                    "OLD": {"age": 1.0, "stale": True}},
        "queues": {"callbacks": {"depth": 3, "maxsize": 100_000, "mode": "conflate", "lag": 0.5,
                                 "max_lag": None}},
    })


def test_stats_is_still_a_dict() -> None:
    s = _stats()
    assert isinstance(s, dict) and s["frames_in"] == 1234567 and s["queues"]["callbacks"]["depth"] == 3
    assert s == dict(s) and json.loads(json.dumps(s)) == dict(s)
    assert repr(s) == repr(dict(s)) and pickle.loads(pickle.dumps(s)) == s
    s["mine"] = 1
    assert set(s) >= {"provider", "symbols", "mine"} and s.get("nope") is None


def test_stats_html_shows_figures_queues_and_symbol_ages() -> None:
    out = _stats()._repr_html_()
    assert "<script>" not in out and "&lt;script&gt;" in out
    assert "<td>1,234,567</td>" in out and "<td>0.250</td>" in out
    assert "<th>queue</th><th>depth</th><th>maxsize</th><th>mode</th>" in out
    assert "<td>callbacks</td><td>3</td><td>100,000</td><td>conflate</td>" in out
    assert f"<td>0.500</td><td>{_html.MISSING}</td>" in out  # lag, then max_lag None
    rows = out.split("<b>symbols</b>")[1]
    assert rows.index("OLD") < rows.index("&lt;script&gt;") < rows.index("SPY")  # stale, then the longest silent
    assert "queues: none" in Stats({"queues": {}})._repr_html_()


def test_a_streams_stats_are_stats() -> None:
    d = Dispatcher("sim", QueuePolicy())
    stream = d.stream(None, None, 0.1, QueuePolicy(maxsize=10))
    try:
        s = stream.stats()
        assert isinstance(s, Stats) and s["maxsize"] == 10 and "<td>10</td>" in s._repr_html_()
    finally:
        stream.close()
        d.close()


class _FakeFeed:
    provider = HOSTILE
    closed = False
    subscriptions = [Subscription("quote", "SPY"), Subscription("bar", "SPY", "1m"), Subscription("quote", "<b>")]

    def stats(self) -> Stats:
        return Stats({"connected": False, "reconnects": 2, "queues": {}})


def test_feed_html_from_what_a_feed_shows() -> None:
    out = _html.feed_html(_FakeFeed())
    assert "<script>" not in out and "&lt;script&gt;" in out and "&lt;b&gt;" in out
    assert "connecting" in out and "<td>SPY</td><td>quote, bar 1m</td>" in out and "queues: none" in out
    bare = _FakeFeed()
    bare.subscriptions = []
    assert "subscriptions: none yet" in _html.feed_html(bare)


def test_feed_html_of_a_live_and_a_closed_sim_feed() -> None:
    feed = mdsdk.connect("sim")
    try:
        feed.get_quote("SPY", timeout=10)
        with feed.events(kinds="quote", timeout=0.1):
            live = _html.feed_html(feed)
            stats = _html.stats_html(feed.stats())
    finally:
        feed.close()
    assert "sim \u00b7 connected" in live and "<td>SPY</td><td>quote</td>" in live and "events#1" in live
    assert "<b>symbols</b>" in stats and "<td>SPY</td>" in stats
    assert "sim \u00b7 closed" in _html.feed_html(feed)


def test_ipython_picks_up_the_html() -> None:
    formatters: Any = pytest.importorskip("IPython.core.formatters", reason="IPython is not installed")
    data, _ = formatters.DisplayFormatter().format(Quote("SPY", T, "sim", 1.0))
    assert "text/html" in data and "<b>Quote</b>" in data["text/html"]
    assert data["text/plain"].startswith("Quote(symbol='SPY'")
    assert "<b>queues</b>" in formatters.DisplayFormatter().format(_stats())[0]["text/html"]
