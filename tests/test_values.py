"""Value-layer tests: errors, redaction, policies, intervals, events."""

from __future__ import annotations

import datetime as dt
import math

import pytest

from mdsdk import errors
from mdsdk.events import Bar, Quote, Status
from mdsdk.providers.dxlink.codec import compile_decoder
from mdsdk.intervals import parse_interval, time_range, to_ns
from mdsdk.policy import QueuePolicy, RateLimit, ReconnectPolicy


def test_error_tree_catches_by_meaning() -> None:
    assert issubclass(errors.ConfigurationError, ValueError)
    assert issubclass(errors.UnknownProviderError, LookupError)
    assert issubclass(errors.ConnectionLost, OSError)
    assert issubclass(errors.RequestTimeout, TimeoutError)
    assert issubclass(errors.RateLimitedError, errors.ProviderError)
    assert issubclass(errors.LocalProtocolError, errors.ProtocolError)
    err = errors.SubscriptionError("bad", symbol="XX", code=7, text="no such symbol")
    assert (err.symbol, err.code, err.text) == ("XX", 7, "no such symbol")


def test_redact_hides_known_secrets_and_credential_pairs() -> None:
    text = 'login failed for {"login":"bob","password":"hunter22"} token=abc123 via s3cr3t-value'
    out = errors.redact(text, ["s3cr3t-value"])
    assert "hunter22" not in out and "abc123" not in out and "s3cr3t-value" not in out
    assert "bob" in out


def test_reconnect_policy_backoff_grows_caps_and_jitters() -> None:
    p = ReconnectPolicy(initial=1, factor=2, cap=30, jitter=0.0)
    assert [p.delay(n) for n in (1, 2, 3, 4, 5, 6, 7)] == [1, 2, 4, 8, 16, 30, 30]
    j = ReconnectPolicy(initial=10, jitter=0.2)
    assert j.delay(1, rand=lambda: 0.0) == pytest.approx(8.0)
    assert j.delay(1, rand=lambda: 1.0) == pytest.approx(12.0)
    assert ReconnectPolicy(max_attempts=3).gives_up(4) and not ReconnectPolicy().gives_up(10**6)
    with pytest.raises(errors.ConfigurationError):
        ReconnectPolicy(factor=0.5)


def test_queue_policy_rejects_unknown_mode() -> None:
    with pytest.raises(errors.ConfigurationError, match="conflate, drop_oldest, block"):
        QueuePolicy(mode="fifo")
    with pytest.raises(errors.ConfigurationError):
        QueuePolicy(maxsize=0)


@pytest.mark.parametrize("text,count,unit,seconds", [
    ("1m", 1, "m", 60), ("5m", 5, "m", 300), ("1h", 1, "h", 3600), ("1d", 1, "d", 86400),
    ("1w", 1, "w", 604800), ("1mo", 1, "mo", 2592000), ("h", 1, "h", 3600), ("15 min", 15, "m", 900)])
def test_parse_interval(text: str, count: int, unit: str, seconds: int) -> None:
    iv = parse_interval(text)
    assert (iv.count, iv.unit, iv.seconds) == (count, unit, seconds)


@pytest.mark.parametrize("bad", ["7x", "0m", "", "1M", "m5"])
def test_bad_interval_names_allowed_units(bad: str) -> None:
    with pytest.raises(errors.ConfigurationError, match="s, m, h, d, w, mo"):
        parse_interval(bad)


def test_time_parsing_and_range() -> None:
    assert to_ns("2024-08-01") == 1722470400 * 10**9
    assert to_ns("2024-08-01T13:30:00Z") == (1722470400 + 13.5 * 3600) * 10**9
    assert to_ns(1722470400) == to_ns(1722470400000) == to_ns(dt.date(2024, 8, 1))
    assert to_ns("-1d", now_ns=10**18) == 10**18 - 86400 * 10**9
    with pytest.raises(errors.ConfigurationError, match="is after end"):
        time_range("2024-08-02", "2024-08-01")
    with pytest.raises(errors.ConfigurationError, match="ISO-8601"):
        to_ns("yesterday-ish")


def test_events_are_frozen_and_fast_decoding_matches_init() -> None:
    decode = compile_decoder("Quote", ["eventSymbol", "bidPrice", "askPrice"], "sim")
    assert decode is not None
    [q] = decode(["SPY", 1.0, 2.0], 5)
    assert q == Quote("SPY", 5, "sim", bid=1.0, ask=2.0)
    assert math.isnan(q.bid_size) and q.mid == 1.5
    with pytest.raises(AttributeError):  # msgspec's frozen Struct; FrozenInstanceError is one too
        q.bid = 3.0  # type: ignore[misc]
    assert not hasattr(q, "__dict__")
    assert Quote("A", 0, "p").datetime == dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
    assert Status("", 0, "p", kind="connected").kind == "connected"
    assert Bar.topic == "bar" and Quote.topic == "quote"


def test_to_json_gives_kind_then_every_field_with_null_for_missing_numbers() -> None:
    import dataclasses
    import json

    from mdsdk.events import BookSnapshot, Quote, Status, to_json

    q = Quote("SPY", 1_700_000_000_000_000_001, "sim", 1.5, math.nan, math.inf, 3.0, extra={"venue": "Q"})
    d = json.loads(to_json(q))
    assert list(d) == ["kind"] + [f.name for f in dataclasses.fields(q)]
    assert d["kind"] == "quote" and d["time"] == 1_700_000_000_000_000_001
    assert (d["bid"], d["ask"], d["bid_size"], d["ask_size"], d["extra"]) == (1.5, None, None, 3.0, {"venue": "Q"})
    s = json.loads(to_json(Status("", 5, "sim", kind="gap", detail="d", extra={"x": math.nan})))
    assert s["kind"] == "gap" and s["extra"] == {"x": None}  # a Status's own kind, once
    b = json.loads(to_json(BookSnapshot("ES", 7, "t", bids=((1.0, 2.0),), asks=())))
    assert (b["kind"], b["bids"], b["asks"]) == ("book", [[1.0, 2.0]], [])


def test_to_json_escapes_a_lone_surrogate_from_a_server() -> None:
    import json

    from mdsdk.events import to_json

    line = to_json(Status("", 5, "dxlink", kind="error", detail="bad \ud800 text", extra={"x": math.inf}))
    assert json.loads(line) == {"symbol": "", "time": 5, "provider": "dxlink", "kind": "error",
                                "detail": "bad \ud800 text", "extra": {"x": None}}


def test_rate_limit_bucket_spends_refills_reserves_and_drains() -> None:
    bucket = RateLimit(rate=3.0, burst=20).bucket(100.0)
    assert sum(bucket.take(100.0) for _ in range(25)) == 20  # the burst, then nothing
    assert bucket.ready_at(100.0) == pytest.approx(100.0 + 1 / 3) and bucket.ready_at(100.0, 3) == pytest.approx(101.0)
    assert bucket.take(100.0 + 1 / 3)  # one refilled
    assert [bucket.reserve(101.0) for _ in range(3)] == pytest.approx([0.0, 0.0, 1 / 3])  # 2 refilled by then
    assert not bucket.take(101.0)  # the reservation is a debt later takers wait for
    full = RateLimit(1.0, 5).bucket(0.0)
    full.drain(0.0)
    assert not full.take(0.5) and full.take(1.0)
    assert RateLimit(1.0, 2).bucket(0.0).ready_at(1e6, 2) == 1e6  # it never holds more than the burst
    for bad in ({"rate": 0}, {"burst": 0}, {"rate": float("nan")}, {"burst": 1.5}):
        with pytest.raises(errors.ConfigurationError):
            RateLimit(**bad)  # type: ignore[arg-type]
