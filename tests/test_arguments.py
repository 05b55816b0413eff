"""Every public argument, checked at the boundary: a bad value raises an
``mdsdk.errors`` type (almost always ConfigurationError) whose message names
the argument, in the caller's thread, and nothing hangs (issue 8).

One table per entry point: ``connect`` and its provider options, the policy
values, every feed method, ``replay`` and the command line. The feed rows
share one ``sim`` feed, which must still be healthy after all of them; the
emulator must survive whatever a client sends.
"""

from __future__ import annotations

import datetime as dt
import json
import pathlib
from typing import Any, Callable, Iterator, List, Tuple

import pytest
from websockets.sync.client import connect as ws_connect

import mdsdk
from mdsdk._validate import show
from mdsdk import (ConfigurationError, MdsdkError, QueuePolicy, ReconnectPolicy, Timeouts,
                   UnknownProviderError, UnsupportedError)
from mdsdk.cli import main
from mdsdk.providers.base import Option, as_bool
from mdsdk.registry import PLANNED, get_spec
from mdsdk.testing import DXLinkEmulator

pytestmark = pytest.mark.timeout(60)

NAN, INF = float("nan"), float("inf")
HUGE = 10**400
LONG = "x" * 100_000


def _deep(depth: int = 10_000) -> List[Any]:
    nested: List[Any] = ["SPY"]
    for _ in range(depth):
        nested = [nested]
    return nested


DEEP = _deep()
# Wrong in every way a number of seconds can be.
NOT_SECONDS = ["5", None, NAN, INF, -INF, -1, True, 1e30, HUGE, [], {}, b"5", object()]


def refused(call: Callable[[], Any], name: str, kinds: Tuple[type, ...] = (ConfigurationError,),
            value: Any = "") -> MdsdkError:
    """``call()`` raises one of ``kinds`` whose message names ``name``."""
    try:
        result = call()
    except MdsdkError as exc:
        err = exc
    except Exception as exc:  # noqa: BLE001 - the very thing this file is about
        pytest.fail(f"{show(value)}: raised {type(exc).__name__}: {exc}")
    else:
        if hasattr(result, "close"):
            result.close()
        pytest.fail(f"{show(value)} was accepted")
    assert isinstance(err, kinds), f"{show(value)}: {type(err).__name__}: {err}"
    assert name in str(err), f"{show(value)}: {name!r} not named in: {err}"
    return err


def refused_all(call: Callable[[Any], Any], values: List[Any], name: str,
                kinds: Tuple[type, ...] = (ConfigurationError,)) -> None:
    """:func:`refused` for ``call(value)``, every value."""
    for value in values:
        refused(lambda v=value: call(v), name, kinds, value)


def _id(value: Any) -> str:
    text = value if isinstance(value, str) else type(value).__name__ if isinstance(value, (list, dict, object)) \
        and not isinstance(value, (int, float)) else repr(value)
    return text[:20] if len(text) <= 20 else f"{text[:12]}...({len(text)})"


# ----------------------------------------------------------------------------- policy values
POLICY_FIELDS = [(Timeouts, f) for f in ("connect", "handshake", "request", "close", "rest")] + [
    (QueuePolicy, "block_timeout")] + [
    (ReconnectPolicy, f) for f in ("initial", "factor", "cap", "jitter", "reset_after")]


@pytest.mark.parametrize("cls,field", POLICY_FIELDS, ids=lambda v: getattr(v, "__name__", v))
def test_policy_numbers(cls: Any, field: str) -> None:
    refused_all(lambda v: cls(**{field: v}), NOT_SECONDS, field)


@pytest.mark.parametrize("cls,field,values", [
    (Timeouts, "connect", [0, 0.0]), (ReconnectPolicy, "factor", [0.5, 0, 1e9]),
    (ReconnectPolicy, "jitter", [1.5]),
    (ReconnectPolicy, "max_attempts", [-1, 1.5, "3", True, HUGE, NAN, INF, [], object()]),
    (QueuePolicy, "maxsize", [0, -1, 1.5, "5", None, NAN, INF, True, HUGE, [], object()]),
    (QueuePolicy, "mode", ["fifo", None, 5, [], "", LONG, b"block"]),
], ids=lambda v: getattr(v, "__name__", v) if not isinstance(v, list) else "")
def test_policy_other_fields(cls: Any, field: str, values: List[Any]) -> None:
    refused_all(lambda v: cls(**{field: v}), values, field)


def test_policies_stay_frozen_and_accept_good_values() -> None:
    t = Timeouts(connect=1, rest=2.5)
    assert t.rest == 2.5 and Timeouts().rest == 10.0
    with pytest.raises(AttributeError):
        t.connect = 3  # type: ignore[misc]
    assert ReconnectPolicy(max_attempts=0).gives_up(1)
    # A feed retried for days must not overflow computing its backoff.
    assert ReconnectPolicy(jitter=0.0).delay(10**6) == 30.0


# ----------------------------------------------------------------------------- connect
@pytest.mark.parametrize("values,error,named", [
    ([None, 123, b"sim", ["sim"], object(), 1.5, DEEP], ConfigurationError, "provider"),
    (["nope", "", " ", LONG], UnknownProviderError, "provider"),
    (list(PLANNED), UnknownProviderError, "not available"),
], ids=["wrong type", "unknown", "planned"])
def test_connect_provider(values: List[Any], error: type, named: str) -> None:
    refused_all(mdsdk.connect, values, named, (error,))


def _bad_for(opt: Option) -> List[Any]:
    if opt.kind is float:
        return [v for v in NOT_SECONDS if v is not None]
    if opt.kind is int:
        return ["5", 1.5, True, -1, HUGE, NAN, [], object()]
    if opt.kind is as_bool:
        return [2, [], NAN, "maybe", object()]
    bad: List[Any] = [123, [], b"x", "", " ", "x" * 70_000, object(), DEEP]
    if opt.name == "url":
        bad += ["not a url", "http://example.com/x", "ws://"]
    if opt.name == "api_url":
        bad += ["not a url", "ftp://example.com", "https://"]
    return bad


def _option_rows() -> List[Tuple[str, Option]]:
    return [(provider, opt) for provider in ("sim", "dxlink", "tastytrade", "tradovate")
            for opt in get_spec(provider).options]


@pytest.mark.parametrize("provider,opt", _option_rows(), ids=lambda v: getattr(v, "name", v))
def test_connect_provider_options(provider: str, opt: Option) -> None:
    for value in _bad_for(opt):
        err = refused(lambda v=value: mdsdk.connect(provider, **{opt.name: v}), opt.name, value=value)
        if opt.secret and isinstance(value, str) and value.strip():
            assert value not in str(err)


@pytest.mark.parametrize("name,values", [
    ("record", ["/no/such/dir/x.jsonl", 123, b"x.jsonl", "", [], DEEP]),
    ("reconnect", ["fast", {"initial": 1}, 1, ReconnectPolicy]),
    ("timeouts", ["fast", 5, Timeouts, {"connect": 1}]),
    ("queue", ["x", 100, QueuePolicy]),
    ("callback_queue", [1, "conflate", Timeouts()]),
    ("clock", ["x", object(), 1]),
    ("emulate", ["maybe", 2, []]),
    ("url", ["not a url", 123, "http://example.com", ""]),
    ("bogus", [1]),
], ids=lambda v: v if isinstance(v, str) else "")
def test_connect_arguments(name: str, values: List[Any]) -> None:
    refused_all(lambda v: mdsdk.connect("sim", **{name: v}), values, name)


def test_dxlink_url_is_refused_before_any_socket() -> None:
    # Once an "internal error" from the connection thread with a traceback logged.
    refused(lambda: mdsdk.connect("dxlink", url="not a url"), "url")


# ----------------------------------------------------------------------------- feed methods
@pytest.fixture(scope="module")
def feed() -> Iterator[mdsdk.Feed]:
    with mdsdk.connect("sim") as f:
        # Start the callback thread now, so a row that registers one is no leak.
        f.on_status(lambda s: None).remove()
        yield f


SYMBOLS = [None, 123, 1.5, True, [], {}, b"SPY", object(), "", "  ", [1], ["SPY", None], DEEP, LONG,
           ["x" * 300], [b"SPY"]]
SYMBOL = [None, 123, "", " ", ["SPY"], b"SPY", LONG, object()]
TIMES = [1e30, NAN, -1e30, INF, -INF, HUGE, 10**30, -10**30, -1, [], object(), b"2024", "garbage", True,
         LONG, "-" + "9" * 5000 + "d", dt.datetime(1900, 1, 1), dt.date.min, dt.datetime.max, "-99999999d"]
INTERVALS = [None, 123, [], "7x", "0m", "400d", "9" * 30 + "m", "M", b"1m", NAN, LONG]


Call = Callable[[mdsdk.Feed, Any], Any]
C = (ConfigurationError,)
NOT_SECONDS_OR_NONE = [v for v in NOT_SECONDS if v is not None]
KINDS = [None, 123, [], "nope", ["quote", 1], b"quote", {}, DEEP, LONG]
FEED_ROWS: List[Tuple[str, Call, List[Any], str, Tuple[type, ...]]] = [
    ("subscribe symbols", lambda f, v: f.subscribe(v), SYMBOLS, "symbols", C),
    ("subscribe kinds", lambda f, v: f.subscribe("SPY", kinds=v), KINDS, "kinds", C),
    ("subscribe kinds the provider lacks", lambda f, v: f.subscribe("SPY", kinds=v), ["book", "pnl"], "does not",
     (UnsupportedError,)),
    ("subscribe interval", lambda f, v: f.subscribe("SPY", ("bar",), v), INTERVALS[1:], "interval", C),
    ("unsubscribe symbols", lambda f, v: f.unsubscribe(v), SYMBOLS, "symbols", C),
    ("unsubscribe kinds", lambda f, v: f.unsubscribe("SPY", kinds=v), KINDS[1:], "kinds", C),
    ("get_quote symbol", lambda f, v: f.get_quote(v), SYMBOL, "symbol", C),
    ("get_quote timeout", lambda f, v: f.get_quote("SPY", v), NOT_SECONDS_OR_NONE, "timeout", C),
    ("history symbol", lambda f, v: f.history(v, "1d", start="-2d"), SYMBOL, "symbol", C),
    ("history interval", lambda f, v: f.history("SPY", v, start="-2d"), INTERVALS, "interval", C),
    ("history start", lambda f, v: f.history("SPY", "1d", start=v), TIMES, "start", C),
    ("history end", lambda f, v: f.history("SPY", "1d", start="-2d", end=v), TIMES, "end", C),
    ("history start after end", lambda f, v: f.history("SPY", "1d", start=v, end="-2d"), ["-1d", "now"], "start", C),
    ("history timeout", lambda f, v: f.history("SPY", "1d", "-2d", timeout=v), NOT_SECONDS_OR_NONE, "timeout", C),
    ("events kinds", lambda f, v: f.events(kinds=v), KINDS[1:], "kinds", C),
    ("events symbols", lambda f, v: f.events(symbols=v), SYMBOLS[1:], "symbols", C),
    ("events timeout", lambda f, v: f.events(timeout=v), NOT_SECONDS_OR_NONE, "timeout", C),
    ("events policy", lambda f, v: f.events(policy=v), ["x", 1, {}, QueuePolicy, ReconnectPolicy()], "policy", C),
    ("on kind", lambda f, v: f.on(v, print), [None, 123, "bogus", [], ["quote"], b"quote", LONG], "kind", C),
    ("on fn", lambda f, v: f.on("quote", v), [None, 1, "print", []], "fn", C),
    ("on symbols", lambda f, v: f.on("quote", print, symbols=v), SYMBOLS[1:], "symbols", C),
    ("on on_error", lambda f, v: f.on("quote", print, on_error=v), [1, "x", []], "on_error", C),
    ("on_quote fn", lambda f, v: f.on_quote(v), [None, 1, "print"], "fn", C),
    ("on_quote symbols", lambda f, v: f.on_quote(print, symbols=v), SYMBOLS[1:], "symbols", C),
    ("on_status on_error", lambda f, v: f.on_status(print, on_error=v), [1, "x"], "on_error", C),
    ("rpc (sim has none)", lambda f, v: f.rpc(v), ["GetPositions", 123, None], "rpc", (UnsupportedError,)),
]


@pytest.mark.parametrize("label,call,values,named,kinds", FEED_ROWS, ids=[r[0] for r in FEED_ROWS])
def test_feed_methods(feed: mdsdk.Feed, label: str, call: Call, values: List[Any], named: str,
                      kinds: Tuple[type, ...]) -> None:
    refused_all(lambda v: call(feed, v), values, named, kinds)


def test_feed_is_healthy_after_every_bad_call(feed: mdsdk.Feed) -> None:
    # Runs after the rows above (same module, same feed): nothing they sent
    # reached the emulator and broke it, and nothing failed late on a thread.
    assert feed.get_quote("SPY", timeout=10).symbol == "SPY"
    stats = feed.stats()
    assert stats["connected"] is True
    assert stats["reconnects"] == 0
    with feed.events(kinds="quote", symbols="SPY", timeout=10) as stream:
        assert next(iter(stream)).symbol == "SPY"
    assert not feed.history("SPY", "1d", start="-10d").empty


# ----------------------------------------------------------------------------- replay
def _write(tmp: pathlib.Path, text: str, name: str = "rec.jsonl") -> str:
    path = tmp / name
    path.write_text(text)
    return str(path)


def _deep_line() -> str:
    return "[" * 10_000 + "]" * 10_000 + "\n"


REPLAY_ROWS: List[Tuple[str, Callable[[pathlib.Path], Tuple[Any, Any]], str, Tuple[type, ...]]] = [
    ("missing file", lambda t: (str(t / "nope.jsonl"), None), "path", (ConfigurationError,)),
    ("a directory", lambda t: (str(t), None), "path", (ConfigurationError,)),
    ("bytes path", lambda t: (b"/no/such.jsonl", None), "path", (ConfigurationError,)),
    ("None", lambda t: (None, None), "path", (ConfigurationError,)),
    ("an int (a file descriptor)", lambda t: (0, None), "path", (ConfigurationError,)),
    ("empty path", lambda t: ("", None), "path", (ConfigurationError,)),
    ("a list", lambda t: (["x"], None), "path", (ConfigurationError,)),
    ("garbage text", lambda t: (_write(t, "garbage\n"), "sim"), "not a recording", (ConfigurationError,)),
    ("binary", lambda t: (str(_bytes(t)), None), "not a recording", (ConfigurationError,)),
    ("10000-deep JSON", lambda t: (_write(t, _deep_line()), "sim"), "not a recording", (ConfigurationError,)),
    ("raw not a string", lambda t: (_write(t, '{"provider":"sim"}\n{"dir":"in","raw":5}\n'), None),
     "not a recording", (ConfigurationError,)),
    ("no provider", lambda t: (_write(t, '{"dir":"in","raw":"{}"}\n'), None), "provider", (ConfigurationError,)),
    ("unknown provider in file", lambda t: (_write(t, '{"provider":"nope"}\n{"dir":"in","raw":"{}"}\n'), None),
     "provider", (UnknownProviderError,)),
    ("provider=123", lambda t: (_write(t, ""), 123), "provider", (ConfigurationError,)),
    ("provider='nope'", lambda t: (_write(t, ""), "nope"), "provider", (UnknownProviderError,)),
    ("provider=long", lambda t: (_write(t, ""), LONG), "provider", (UnknownProviderError,)),
]


def _bytes(tmp: pathlib.Path) -> pathlib.Path:
    path = tmp / "binary.jsonl"
    path.write_bytes(b"\xff\xfe\x00garbage\n")
    return path


@pytest.mark.parametrize("label,make,named,kinds", REPLAY_ROWS, ids=[r[0] for r in REPLAY_ROWS])
def test_replay(tmp_path: pathlib.Path, label: str, make: Callable[[pathlib.Path], Tuple[Any, Any]],
                named: str, kinds: Tuple[type, ...]) -> None:
    path, provider = make(tmp_path)
    err = refused(lambda: list(mdsdk.replay(path, provider=provider)), named, kinds)
    assert len(str(err)) < 500


def test_replay_checks_its_arguments_before_the_first_event(tmp_path: pathlib.Path) -> None:
    refused(lambda: mdsdk.replay(None), "path")
    refused(lambda: mdsdk.replay(str(tmp_path / "nope")), "path")
    refused(lambda: mdsdk.replay(_write(tmp_path, ""), provider=5), "provider")


def test_replay_of_a_deeply_nested_frame_is_one_malformed_status(tmp_path: pathlib.Path) -> None:
    line = json.dumps({"dir": "in", "raw": "[" * 10_000 + "]" * 10_000})
    events = list(mdsdk.replay(_write(tmp_path, '{"provider":"sim"}\n' + line + "\n")))
    assert [e.kind for e in events] == ["error"]


# ----------------------------------------------------------------------------- command line
CLI_ROWS = [
    ["stream", "SPY", "--seconds", "nan"], ["stream", "SPY", "--seconds", "-1"], ["stream", "SPY", "--seconds", "x"],
    ["quote", "SPY", "--timeout", "1e400"], ["quote", "SPY", "--timeout", "inf"], ["quote", ""],
    ["emulate", "sim", "--port", "99999"], ["emulate", "sim", "--port", "-1"], ["emulate", "sim", "--tick", "0"],
    ["emulate", "sim", "--seed", "x"], ["emulate", "sim", "--keepalive-timeout", "nan"], ["emulate", "nope"],
    ["history", "SPY", "--start=1e30"], ["history", "SPY", "--start=garbage"], ["history", "SPY"],
    ["history", "SPY", "--start=-2d", "--interval", "0m"], ["history", "SPY", "--start=-2d", "--timeout", "-5"],
    ["history", "SPY", "--start=-2d", "-o", "/no/such/dir/x.csv"],
    ["history", "SPY", "--start=-2d", "-o", "out.txt"],
    ["stream", "SPY", "--kinds", ","], ["stream", "SPY", "--kinds", "nope", "--seconds", "1"],
    ["stream", "SPY", "--kinds", "bar", "--interval", "7x", "--seconds", "1"],
    ["stream", "SPY", "--provider", "nope"], ["stream", "SPY", "--provider", "tda"],
    ["stream", "SPY", "--provider", "dxlink", "--url", "not a url"],
    ["record", "SPY", "-o", "/no/such/dir/x.jsonl"],
    ["replay", "/no/such.jsonl"], ["replay", "/"], ["replay", "/etc/hostname", "--provider", "nope"],
    ["bogus"], [], ["stream"], ["--no-such-flag"],
    ["stream", "SPY", "--provider", "tastytrade", "--api-url", "not a url"],
    ["history", "SPY", "--start=-2d", "--end=garbage"], ["history", "SPY", "--start=-1d", "--end=-2d"],
    ["record", "SPY", "-o", "rec.jsonl", "--seconds", "nan"], ["record", "SPY", "-o", "rec.jsonl", "--kinds", "nope"],
    ["record", "SPY", "-o", "rec.jsonl", "--kinds", "bar", "--interval", "7x"],
    ["emulate", "sim", "--seconds", "-1"], ["emulate", "sim", "--seconds", "inf"],
]


@pytest.mark.parametrize("argv", CLI_ROWS, ids=lambda a: " ".join(a) or "(nothing)")
def test_cli_bad_arguments(argv: List[str], capsys: pytest.CaptureFixture[str], tmp_path: Any,
                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # a row that names an output file must not write into the project
    code = main(argv)
    err = capsys.readouterr().err
    assert code != 0
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err and lines[0].startswith("mdsdk")


# ----------------------------------------------------------------------------- the emulator itself
HOSTILE = [
    {"type": "FEED_SUBSCRIPTION", "channel": 1, "add": [{"type": "Candle", "symbol": "SPY{=1d}", "fromTime": t}]}
    for t in (-1e30, 1e30, -10**30, 10**30, "abc", True, None, [], 0)
] + [
    {"type": "FEED_SUBSCRIPTION", "channel": 1, "add": 5}, {"type": "FEED_SUBSCRIPTION", "channel": 1, "add": [5]},
    {"type": "FEED_SUBSCRIPTION", "channel": 1, "remove": [None]}, {"type": "FEED_SETUP", "channel": 1,
                                                                    "acceptEventFields": 7},
    {"type": "CHANNEL_REQUEST", "channel": 9, "parameters": 5}, {"type": "KEEPALIVE", "channel": 10**30},
]
RAW_HOSTILE = ["[" * 10_000 + "]" * 10_000, '{"type":"KEEPALIVE","channel":Infinity}',
               '{"type":"FEED_SUBSCRIPTION","channel":1,"add":[{"type":"Candle","symbol":"SPY{=1m}","fromTime":NaN}]}',
               "null", '"x"', "[]", "\x00"]


def test_the_dxlink_emulator_survives_whatever_a_client_sends(caplog: pytest.LogCaptureFixture) -> None:
    with DXLinkEmulator(tick=0.05) as emu:
        with ws_connect(emu.url, open_timeout=5, close_timeout=2, ping_interval=None, proxy=None) as ws:
            _dx_login(ws, emu.token)
            for msg in HOSTILE:
                ws.send(json.dumps(msg))
            for raw in RAW_HOSTILE:
                ws.send(raw)
            # Still the same session, still serving: a fresh subscription gets data.
            ws.send(json.dumps({"type": "FEED_SUBSCRIPTION", "channel": 1, "add": [{"type": "Quote",
                                                                                   "symbol": "AAPL"}]}))
            _until(ws, lambda m: m.get("type") == "FEED_DATA" and '"AAPL"' in json.dumps(m))
    failed = [r for r in caplog.records if r.levelname == "ERROR" and r.name.startswith("mdsdk.testing")]
    assert not failed, [r.getMessage() for r in failed]


def _until(ws: Any, predicate: Callable[[Any], bool]) -> Any:
    for _ in range(2000):
        msg = json.loads(ws.recv(timeout=10))
        if isinstance(msg, dict) and predicate(msg):
            return msg
    raise AssertionError("no matching message")


def _dx_login(ws: Any, token: str) -> None:
    ws.send(json.dumps({"type": "SETUP", "channel": 0, "version": "0.1-test", "keepaliveTimeout": 60,
                        "acceptKeepaliveTimeout": 60}))
    ws.send(json.dumps({"type": "AUTH", "channel": 0, "token": token}))
    _until(ws, lambda m: m.get("state") == "AUTHORIZED")
    ws.send(json.dumps({"type": "CHANNEL_REQUEST", "channel": 1, "service": "FEED",
                        "parameters": {"contract": "AUTO"}}))
    _until(ws, lambda m: m.get("type") == "CHANNEL_OPENED")
    ws.send(json.dumps({"type": "FEED_SETUP", "channel": 1, "acceptAggregationPeriod": 0.1,
                        "acceptDataFormat": "FULL"}))
    _until(ws, lambda m: m.get("type") == "FEED_CONFIG")
