"""Redis Streams fan-out (mdsdk.sinks) against a real redis-server on
loopback: one started per test on a free port, without persistence, and
killed after it. The sim provider is the event source."""

from __future__ import annotations

import collections
import contextlib
import json
import logging
import math
import shutil
import socket
import subprocess
import sys
import threading
import traceback
from typing import Any, Counter, Dict, Iterator, List, Optional, Tuple

import msgspec
import pytest

import mdsdk
from mdsdk.errors import AuthenticationError, ConfigurationError, TransportError
from mdsdk.events import BookSnapshot, Event, PnL, Quote, Status, notice_class, to_json
from mdsdk.policy import ReconnectPolicy

from .conftest import wait_until

REDIS_SERVER = shutil.which("redis-server")
needs_server = pytest.mark.skipif(REDIS_SERVER is None, reason="redis-server is not on PATH: install it "
                                  "(apt-get install redis-server) to run the Redis Streams tests")
redis = pytest.importorskip("redis", reason="the redis extra is not installed: pip install 'mdsdk[redis]'")

from mdsdk._redis_codec import DATA, KIND, EventCodec, MalformedEntry  # noqa: E402
from mdsdk.sinks import SINK_PROVIDER, RedisStreamSink, RedisStreamSource  # noqa: E402

KINDS = ("quote", "trade", "bar", "summary", "profile")
BASE = 1_700_000_000 * 10**9  # a fixed past time (2023-11-14), in epoch nanoseconds


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RedisServer:
    """redis-server on 127.0.0.1 at ``port``, no persistence; stop() kills it
    and start() brings it back on the same port (an outage)."""

    def __init__(self, *args: str) -> None:
        self.port = free_port()
        self.args = args
        self.proc: Optional[subprocess.Popen[bytes]] = None
        self.start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        assert REDIS_SERVER is not None
        self.proc = subprocess.Popen([REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                      "--appendonly", "no", *self.args],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        assert wait_until(self._accepting, 10), "redis-server did not start"

    def _accepting(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise RuntimeError(f"redis-server exited with {self.proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
        except OSError:
            return False
        return True

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)
            self.proc = None


@pytest.fixture
def server() -> Iterator[RedisServer]:
    if REDIS_SERVER is None:
        pytest.skip("redis-server is not on PATH: install it (apt-get install redis-server) to run the Redis "
                    "Streams tests")
    srv = RedisServer()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def admin(server: RedisServer) -> Iterator[Any]:
    client = redis.Redis(port=server.port)
    try:
        yield client
    finally:
        client.close()


def same(a: Event, b: Event) -> bool:
    """Equal events: same class and fields (nan equal to nan, which == does not give)."""
    return type(a) is type(b) and to_json(a) == to_json(b)


def key(ev: Event) -> Tuple[str, str]:
    return ev.topic, ev.symbol


def by_stream(events: List[Event]) -> Dict[Tuple[str, str], List[str]]:
    out: Dict[Tuple[str, str], List[str]] = collections.defaultdict(list)
    for ev in events:
        out[key(ev)].append(type(ev).__name__ + to_json(ev))
    return out


def everything(url: str, **kw: Any) -> List[Event]:
    with RedisStreamSource(url, after="0", timeout=0.3, **kw) as src:
        return list(src)


def publish_quotes(url: str, n: int, **sink_kw: Any) -> int:
    """Run a sim feed through a sink until at least ``n`` events are in Redis; the count published."""
    with mdsdk.connect("sim", tick=0.005) as feed:
        with RedisStreamSink(feed, url, kinds=("quote",), **sink_kw) as sink:
            feed.subscribe(["SPY", "AAPL", "MSFT"], kinds=("quote",))
            assert wait_until(lambda: sink.stats()["published"] >= n, 20)
        return int(sink.stats()["published"])


# ---------------------------------------------------------------- encoding (no server)
def test_codec_round_trips_every_shape() -> None:
    codec = EventCodec()
    news = notice_class("sink_test_news")
    events: List[Event] = [
        Quote("SPY", 1_700_000_000_000_000_001, "sim", 1.5, math.nan, 3.0, 4.0, extra={"venue": "Q", "n": 1}),
        BookSnapshot("ES", 5, "p", bids=((10.0, 1.0), (9.5, 2.0)), asks=((10.5, 3.0),)),
        PnL("", 6, "p", account="A1", realized=1.0, unrealized=math.inf),
        Status("", 7, "sim", kind="gap", detail="missed 3", extra={"from": 1, "to": 3, "nested": {"a": [1, 2]}}),
        news("AAPL", 8, "schwab", extra={"headline": "Apple", "score": 0.5, "none": None}),
    ]
    for ev in events:
        back = codec.decode(ev.topic.encode(), codec.encode(ev))
        assert same(back, ev), (back, ev)
    book = codec.decode(b"book", codec.encode(events[1]))
    assert isinstance(book, BookSnapshot) and book.bids == ((10.0, 1.0), (9.5, 2.0))
    assert all(type(level) is tuple for level in book.bids + book.asks)
    quote = codec.decode(b"quote", codec.encode(events[0]))
    assert math.isnan(quote.ask) and quote.time == 1_700_000_000_000_000_001 and quote.extra == {"venue": "Q", "n": 1}
    assert type(codec.decode(b"sink_test_news", codec.encode(events[4]))) is news
    as_map = msgspec.msgpack.encode({**msgspec.structs.asdict(events[0]), "extra": dict(events[0].extra)})
    assert len(codec.encode(events[0])) < 0.7 * len(as_map)  # positional: no field names in every entry


def test_codec_refuses_what_it_did_not_write() -> None:
    codec = EventCodec()
    with pytest.raises(MalformedEntry):
        codec.decode(b"quote", b"\x93\x01\x02\x03")  # three values, a Quote has eight
    with pytest.raises(MalformedEntry):
        codec.decode(b"Not A Kind", codec.encode(Quote("SPY", 1, "sim")))
    with pytest.raises(MalformedEntry):
        codec.decode(b"quote", b"\xc1")  # not MessagePack at all


# ---------------------------------------------------------------- sink and source
@needs_server
@pytest.mark.parametrize("layout", ["per_symbol", "per_feed"])
def test_every_event_comes_back_equal(server: RedisServer, layout: str) -> None:
    prefix = f"t_{layout}"
    with mdsdk.connect("sim", tick=0.005) as feed, feed.events(timeout=5) as mine:
        sink = RedisStreamSink(feed, server.url, layout=layout, prefix=prefix)
        feed.subscribe(["SPY", "AAPL"], kinds=KINDS, interval="1m")
        feed.report(Status("SPY", 1_800_000_000_000_000_000, "watchdog", "stale", "quiet", extra={"age_s": 1.5}))
        seen: List[Event] = []
        it = iter(mine)
        for ev in it:
            seen.append(ev)
            if {e.topic for e in seen} >= set(KINDS) | {"status"} and len(seen) > 300:
                break
        sink.close()
        mine.close()
        seen += list(it)  # what the sink got, this stream got too: in the same batches, in the same order
        stats = sink.stats()
    back = everything(server.url, prefix=prefix, layout=layout)
    assert len(back) == stats["published"] == stats["received"] and stats["dropped"] == 0
    assert {e.topic for e in back} >= set(KINDS) | {"status"}
    sent, got = by_stream(seen), by_stream(back)
    for stream, values in got.items():  # each stream holds the feed's events of its kind and symbol, in order
        assert values == sent[stream][:len(values)], stream
    status = next(e for e in back if isinstance(e, Status) and e.provider == "watchdog")
    assert status.extra == {"age_s": 1.5} and status.kind == "stale"
    names = set(RedisStreamSource(server.url, prefix=prefix, layout=layout).streams())
    if layout == "per_feed":
        assert names == {f"{prefix}:sim"}
    else:
        assert names >= {f"{prefix}:sim:{k}:{s}" for k in KINDS for s in ("SPY", "AAPL")} | {f"{prefix}:sim:status:SPY"}


@needs_server
def test_source_reads_book_and_notice_entries(server: RedisServer, admin: Any) -> None:
    codec = EventCodec()
    news = notice_class("sink_test_headline")
    book = BookSnapshot("ES", 5, "p", bids=((10.0, 1.0),), asks=((10.5, 3.0),))
    note = news("AAPL", 6, "p", extra={"headline": "hi"})
    admin.xadd("mdsdk:p:book:ES", {KIND: b"book", DATA: codec.encode(book)})
    admin.xadd("mdsdk:p:sink_test_headline:AAPL", {KIND: b"sink_test_headline", DATA: codec.encode(note)})
    admin.xadd("mdsdk:p:book:ES", {b"something": b"else"})  # another writer's entry: counted and skipped
    with RedisStreamSource(server.url, after="0", timeout=0.3) as src:
        back = list(src)
        assert src.stats()["malformed"] == 1
    assert sorted(map(type, back), key=str) == sorted([BookSnapshot, news], key=str)
    assert same(next(e for e in back if isinstance(e, BookSnapshot)), book)
    assert same(next(e for e in back if isinstance(e, news)), note)


@needs_server
def test_maxlen_trims_each_stream(server: RedisServer, admin: Any) -> None:
    published = publish_quotes(server.url, 900, maxlen=50)
    node = int(admin.config_get("stream-node-max-entries")["stream-node-max-entries"])
    lengths = [admin.xlen(f"mdsdk:sim:quote:{s}") for s in ("SPY", "AAPL", "MSFT")]
    assert sum(lengths) < published
    # MAXLEN ~ trims whole nodes: never below the bound, at most one node above it
    assert all(50 <= n <= 50 + node for n in lengths), lengths


@needs_server
def test_a_consumer_group_shares_the_work_without_duplicates(server: RedisServer, admin: Any) -> None:
    publish_quotes(server.url, 800)
    expected = Counter(to_json(e) for e in everything(server.url))
    shares: Dict[str, List[Event]] = {"a": [], "b": []}
    start = threading.Barrier(2)

    def consume(name: str) -> None:
        with RedisStreamSource(server.url, group="g", consumer=name, after="0", count=10, timeout=1.0) as src:
            start.wait(5)
            for ev in src:
                shares[name].append(ev)

    workers = [threading.Thread(target=consume, args=(n,)) for n in shares]
    for w in workers:
        w.start()
    for w in workers:
        w.join(30)
    assert shares["a"] and shares["b"], {n: len(v) for n, v in shares.items()}
    assert Counter(to_json(e) for e in shares["a"] + shares["b"]) == expected
    assert sum(admin.xpending(f"mdsdk:sim:quote:{s}", "g")["pending"] for s in ("SPY", "AAPL", "MSFT")) == 0


@needs_server
def test_entries_of_a_consumer_that_went_away_are_claimed(server: RedisServer, admin: Any) -> None:
    publish_quotes(server.url, 60)
    expected = Counter(to_json(e) for e in everything(server.url))
    gone = RedisStreamSource(server.url, group="g", consumer="gone", after="0", count=20, autoack=False)
    it = iter(gone)
    held = [next(it) for _ in range(5)]
    gone.close()  # read, never acknowledged, and away
    stuck = sum(admin.xpending(f"mdsdk:sim:quote:{s}", "g")["pending"] for s in ("SPY", "AAPL", "MSFT"))
    assert stuck >= 5
    with RedisStreamSource(server.url, group="g", consumer="heir", claim_idle=0.2, timeout=1.5) as heir:
        got = list(heir)
        assert heir.stats()["claimed"] == stuck
    assert Counter(to_json(e) for e in got) == expected  # everything, once: the claimed and the never-read
    assert not Counter(to_json(e) for e in held) - Counter(to_json(e) for e in got)
    assert sum(admin.xpending(f"mdsdk:sim:quote:{s}", "g")["pending"] for s in ("SPY", "AAPL", "MSFT")) == 0


@needs_server
def test_frame_of_a_time_range_by_event_time(server: RedisServer) -> None:
    with mdsdk.connect("sim", tick=0.005) as feed:
        with RedisStreamSink(feed, server.url) as sink:
            for t in (100, 200, 300):
                feed.report(Status("", BASE + t * 10**9, "watchdog", "stale", f"at {t}", extra={"n": t}))
            feed.subscribe(["SPY"], kinds=("quote", "bar"), interval="1m")
            assert wait_until(lambda: sink.stats()["published"] >= 200, 20)
    with RedisStreamSource(server.url, provider="sim") as src:
        quotes = src.read("quote", "SPY")
        assert len(quotes) >= 60 and all(a.time <= b.time for a, b in zip(quotes, quotes[1:]))
        t1, t2 = quotes[10].time, quotes[50].time
        df = src.frame("quote", "SPY", start=t1, end=t2)
        inside = [q for q in quotes if t1 <= q.time < t2]
        assert len(df) == len(inside) and list(df.columns[:4]) == ["bid", "ask", "bid_size", "ask_size"]
        assert df.index.name == "time" and str(df.index.tz) == "UTC" and df.index.is_monotonic_increasing
        assert df.index[0].value == t1 and list(df["bid"]) == [q.bid for q in inside]
        bars = src.frame("bar", "SPY")
        last = src.read("bar", "SPY")[-1]
        assert list(bars.columns[:5]) == ["open", "high", "low", "close", "volume"] and bars.index.is_unique
        assert bars.index[-1].value == last.time and bars["close"].iloc[-1] == last.close
        statuses = src.frame("status", "", start=BASE + 150 * 10**9, end=BASE + 300 * 10**9)
        assert list(statuses["detail"]) == ["at 200"] and list(statuses["n"]) == [200]
        assert list(statuses.columns[:2]) == ["kind", "detail"]
        empty = src.frame("quote", "SPY", start=t1, end=t1)
        assert len(empty) == 0 and list(empty.columns[:4]) == ["bid", "ask", "bid_size", "ask_size"]


@needs_server
def test_a_redis_outage_never_stalls_the_feed(server: RedisServer, admin: Any) -> None:
    news: List[Status] = []
    with mdsdk.connect("sim", tick=0.005) as feed:
        feed.on_status(lambda s: news.append(s) if s.provider == SINK_PROVIDER else None)
        feed.subscribe(["SPY", "AAPL", "MSFT"], kinds=("quote", "trade"))
        with RedisStreamSink(feed, server.url, buffer=200, reconnect=ReconnectPolicy(initial=0.05, cap=0.2)) as sink, \
                feed.events(kinds="quote", timeout=5) as other:
            assert wait_until(lambda: sink.stats()["published"] > 50)
            server.stop()
            assert wait_until(lambda: any(s.kind == "disconnected" for s in news))
            assert wait_until(lambda: any(s.kind == "overflow" for s in news), 10)
            during = [ev for ev, _ in zip(other, range(300))]  # the feed goes on for everyone else
            assert len(during) == 300
            assert sink.stats()["dropped"] > 0 and not sink.stats()["connected"]
            assert sink.stats()["buffered"] <= 200 + 1024  # the bound, plus what is on its way in
            server.start()  # same port, empty: what appears in it was published after the outage
            assert wait_until(lambda: any(s.kind == "connected" for s in news), 10)
            assert wait_until(lambda: admin.xlen("mdsdk:sim:quote:SPY") > 0, 10)
            stats = sink.stats()
            assert stats["connected"] and stats["reconnects"] >= 1
            back = next(s for s in news if s.kind == "connected")
            assert back.extra["dropped_in_outage"] > 0 and "reachable again" in back.detail
        final = sink.stats()
    # nothing silently lost: every event the sink took was published or counted as dropped
    assert final["received"] == final["published"] + final["dropped"] - final["shed"]
    assert final["buffered"] == 0
    statuses = [e for e in everything(server.url, kinds="status") if e.provider == SINK_PROVIDER]
    # the outage is on record in Redis too (the news of its start was among what the full buffer dropped)
    assert any(s.kind == "connected" and s.extra["dropped_in_outage"] > 0 for s in statuses)


@needs_server
def test_the_feed_closing_first_ends_the_sink(server: RedisServer) -> None:
    feed = mdsdk.connect("sim", tick=0.005)
    sink = RedisStreamSink(feed, server.url, kinds=("quote",))
    feed.subscribe(["SPY"], kinds=("quote",))
    assert wait_until(lambda: sink.stats()["published"] > 20)
    feed.close()
    assert wait_until(lambda: not any(t.name == "mdsdk-redis-sink" for t in threading.enumerate()))
    stats = sink.stats()
    assert stats["published"] == stats["received"] and stats["dropped"] == 0
    sink.close()
    assert "closed" in repr(sink)


# ---------------------------------------------------------------- errors
@needs_server
def test_an_unreachable_url_is_a_typed_error_at_creation() -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"
    with mdsdk.connect("sim") as feed:
        with pytest.raises(TransportError, match="cannot reach Redis at redis://127.0.0.1") as err:
            RedisStreamSink(feed, url)
        assert "start redis-server" in str(err.value)
        assert len(feed.stats()["queues"]) == 0  # no stream left attached to the feed
    with pytest.raises(TransportError):
        RedisStreamSource(url)


def test_bad_arguments_are_configuration_errors() -> None:
    with mdsdk.connect("sim") as feed:
        for url in ("http://127.0.0.1:6379/0", "redis://127.0.0.1:99999/0", "redis://127.0.0.1/zero", "", 6379):
            with pytest.raises(ConfigurationError):
                RedisStreamSink(feed, url)  # type: ignore[arg-type]
        for bad in ({"layout": "per_day"}, {"batch": 0}, {"kinds": ("quotes",)}, {"prefix": ""}, {"maxlen": -1}):
            with pytest.raises(ConfigurationError):
                RedisStreamSink(feed, "redis://127.0.0.1:1/0", **bad)
        with pytest.raises(ConfigurationError, match="mdsdk Feed"):
            RedisStreamSink("sim", "redis://127.0.0.1:1/0")  # type: ignore[arg-type]
    for bad in ({"after": "yesterday"}, {"consumer": "c"}, {"kinds": "Quote!"}, {"provider": "a:b"}):
        with pytest.raises(ConfigurationError):
            RedisStreamSource("redis://127.0.0.1:1/0", **bad)


@needs_server
def test_a_password_never_shows(caplog: pytest.LogCaptureFixture) -> None:
    secret = "s3cret-Pw-8842"
    srv = RedisServer("--requirepass", secret)
    try:
        wrong = f"redis://:wrong-{secret}@127.0.0.1:{srv.port}/0"
        good = f"redis://:{secret}@127.0.0.1:{srv.port}/0"
        with mdsdk.connect("sim", tick=0.01) as feed:
            with pytest.raises(AuthenticationError) as refused:
                RedisStreamSink(feed, wrong)
            told = "".join(traceback.format_exception(refused.value))
            assert secret not in told and "redis://:***@127.0.0.1" in str(refused.value)
            news: List[Status] = []
            feed.on_status(lambda s: news.append(s) if s.provider == SINK_PROVIDER else None)
            caplog.set_level(logging.DEBUG, logger="mdsdk")
            with RedisStreamSink(feed, good, reconnect=ReconnectPolicy(initial=0.05, cap=0.1)) as sink, \
                    RedisStreamSource(good, group="g") as src:
                feed.subscribe(["SPY"], kinds=("quote",))
                assert wait_until(lambda: sink.stats()["published"] > 5)
                srv.stop()
                assert wait_until(lambda: any(s.kind == "disconnected" for s in news))
                shown = [repr(sink), repr(src), str(sink.stats()), *(s.detail + str(s.extra) for s in news)]
        shown.append(caplog.text)
        assert all(secret not in text for text in shown)
        assert "redis://:***@127.0.0.1" in repr(sink)
    finally:
        srv.stop()
    for url in (f"redis://:{secret}@127.0.0.1:{free_port()}/0", f"http://:{secret}@127.0.0.1/0"):
        with pytest.raises((TransportError, ConfigurationError)) as err:
            RedisStreamSource(url)
        assert secret not in "".join(traceback.format_exception(err.value))


def test_without_the_extra_the_error_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "redis", None)
    with mdsdk.connect("sim") as feed:
        with pytest.raises(ConfigurationError, match=r"pip install 'mdsdk\[redis\]'"):
            RedisStreamSink(feed, "redis://127.0.0.1:6379/0")
    with pytest.raises(ConfigurationError, match=r"pip install 'mdsdk\[redis\]'"):
        RedisStreamSource("redis://127.0.0.1:6379/0")


def test_importing_mdsdk_and_its_sinks_does_not_import_redis() -> None:
    code = "import sys, mdsdk, mdsdk.sinks; print('redis' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "False"


def test_cli_records_to_a_sink_and_replays_from_it(server: RedisServer, tmp_path: Any) -> None:
    """``mdsdk record --sink redis://...`` publishes what it streams; ``mdsdk replay --source redis://...`` reads it
    back; record with nowhere to write says what to give it."""
    import io

    from mdsdk.cli import main

    assert main(["record", "SPY", "--sink", server.url, "--seconds", "1.5", "--kinds", "quote"], io.StringIO()) == 0
    out = io.StringIO()
    assert main(["replay", "--source", server.url, "--kind", "quote", "--format", "jsonl", "--wait", "0.5"], out) == 0
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert lines and all(d["symbol"] == "SPY" for d in lines)
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        assert main(["record", "SPY", "--seconds", "1"], io.StringIO()) == 2
        assert main(["replay"], io.StringIO()) == 2
    assert "--sink redis://" in err.getvalue() and "--source redis://" in err.getvalue()
