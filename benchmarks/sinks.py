"""Redis Streams fan-out: events/s through ``RedisStreamSink`` and back out
through ``RedisStreamSource``, against a redis-server this script starts on a
free loopback port (no persistence) and stops at the end. The DXLink emulator
(own process) blasts N Quote events, K per frame, over S symbols into a
dxlink feed; rows, each the median of R runs:

  (r) floor: redis-py pipelines of XADD (batches of 500) of bodies encoded beforehand,
      one thread: what this client library and this server take
  (s) the sink, layout per_symbol, and (s') per_feed: from the blast's first event
      to the last event confirmed by Redis (the sink's buffer is sized so nothing is dropped)
  (x) RedisStreamSource, XREAD: every event read back and decoded
  (g) RedisStreamSource in a consumer group (XREADGROUP, XACK), one consumer,
      and (g2) two consumers of one group, each on its own thread

Also the Redis memory each published event takes (used_memory growth / N).
Figures only, no asserts; the machine is shared: quote the ratio to (r).

    python -m benchmarks.sinks [--quick] [--n N] [--runs R] [--k K] [--symbols S]
"""

from __future__ import annotations

import argparse
import shutil
import socket
import statistics
import subprocess
import threading
import time
from typing import Any, Callable, Dict, List

import redis

import mdsdk
from mdsdk._redis_codec import DATA, KIND, EventCodec
from mdsdk.events import Quote
from mdsdk.sinks import RedisStreamSink, RedisStreamSource
from mdsdk.testing.universe import sample

try:
    from ._common import ChildProcess, EmulatorProcess, table, write_results
except ImportError:  # run as a script
    import pathlib
    import sys
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
    from benchmarks._common import ChildProcess, EmulatorProcess, table, write_results


class RedisServerProcess(ChildProcess):
    """redis-server on 127.0.0.1 at a free port, without persistence."""

    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise SystemExit("redis-server is not on PATH: install it (apt-get install redis-server)")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.proc = subprocess.Popen([binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                      "--appendonly", "no"], stdout=subprocess.DEVNULL)
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.client = redis.Redis(port=self.port)
        deadline = time.monotonic() + 10
        while True:
            try:
                self.client.ping()
                return
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)

    def used_memory(self) -> int:
        return int(self.client.info("memory")["used_memory"])

    def close(self) -> None:
        self.client.close()
        super().close()


def floor(srv: RedisServerProcess, n: int, symbols: List[str]) -> float:
    """(r) events/s of bare redis-py pipelines of XADD, bodies encoded beforehand."""
    codec = EventCodec()
    entries = [(f"floor:{symbols[i % len(symbols)]}", {KIND: b"quote", DATA: codec.encode(
        Quote(symbols[i % len(symbols)], 1_700_000_000_000_000_000 + i, "bench", 100.0, 100.01, 3.0, 4.0))})
        for i in range(n)]
    t0 = time.perf_counter()
    for i in range(0, n, 500):
        pipe = srv.client.pipeline(transaction=False)
        for name, fields in entries[i:i + 500]:
            pipe.xadd(name, fields, maxlen=100_000, approximate=True)
        pipe.execute()
    return n / (time.perf_counter() - t0)


def through_sink(srv: RedisServerProcess, emu: EmulatorProcess, n: int, k: int, symbols: List[str],
                 layout: str) -> Dict[str, Any]:
    """(s)/(s') events/s from the blast's start to the last of N events confirmed by Redis."""
    with mdsdk.connect("dxlink", url=emu.url) as feed:
        with RedisStreamSink(feed, srv.url, layout=layout, kinds=("quote",), buffer=n + 10_000,
                             maxlen=n + 10_000) as sink:
            feed.subscribe(symbols, kinds=("quote",))
            for s in symbols:
                feed.get_quote(s, timeout=10)
            before, mem0 = sink.stats()["published"], srv.used_memory()
            blaster = threading.Thread(target=emu.blast, args=(n, k, symbols))
            t0 = time.perf_counter()
            blaster.start()
            _wait_published(sink, before + n, blaster)
            dt = time.perf_counter() - t0
            blaster.join()
            stats = sink.stats()
            mem = (srv.used_memory() - mem0) / max(1, stats["published"] - before)
    return {"rate": (stats["published"] - before) / dt, "dropped": stats["dropped"], "bytes_per_event": mem}


def _wait_published(sink: RedisStreamSink, target: int, blaster: threading.Thread) -> None:
    """Until ``target`` events are published, or the blast is over and the sink holds nothing more."""
    last, still = -1, 0
    while sink.stats()["published"] < target:
        stats = sink.stats()
        idle = not blaster.is_alive() and not stats["buffered"] and stats["published"] == last
        still = still + 1 if idle else 0
        if still > 200:  # a second with nothing left to publish: events were lost (counted in "dropped")
            return
        last = stats["published"]
        time.sleep(0.005)


def read_back(srv: RedisServerProcess, n: int, consumers: int, group: bool) -> float:
    """(x)/(g)/(g2) events/s reading every published event back, decoded."""
    counts = [0] * consumers
    name = f"g{time.monotonic_ns()}" if group else None

    def consume(i: int) -> None:
        with RedisStreamSource(srv.url, after="0", timeout=0.5, group=name, kinds="quote",
                               consumer=f"c{i}" if group else None) as src:
            for _ in src:
                counts[i] += 1

    threads = [threading.Thread(target=consume, args=(i,)) for i in range(consumers)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    dt = time.perf_counter() - t0 - 0.5  # each iteration ends 0.5 s after its last event
    return sum(counts) / dt


def median_row(name: str, runs: int, fn: Callable[[], Dict[str, Any]]) -> Dict[str, Any]:
    results = [fn() for _ in range(runs)]
    row: Dict[str, Any] = {"bench": "sinks", "client": name}
    for key in results[0]:
        row[key] = statistics.median(r[key] for r in results)
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small N, one run: a smoke test")
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--k", type=int, default=10, help="events per emulator frame")
    ap.add_argument("--symbols", type=int, default=50)
    args = ap.parse_args()
    if args.quick:
        args.n, args.runs = 3_000, 1
    symbols = sample(args.symbols)  # real names: the emulator sends nothing for unknown ones
    rows: List[Dict[str, Any]] = []
    with RedisServerProcess() as srv, EmulatorProcess() as emu:
        rows.append(median_row("r floor: redis-py XADD pipelines", args.runs,
                               lambda: {"rate": floor(srv, args.n, symbols)}))
        for letter, layout in (("s", "per_symbol"), ("s'", "per_feed")):
            def sink_run(layout: str = layout) -> Dict[str, Any]:
                srv.client.flushdb()
                result = through_sink(srv, emu, args.n, args.k, symbols, layout)
                if layout == "per_symbol":  # leave one full set of streams for the readers
                    for name, consumers, group in (("x", 1, False), ("g", 1, True), ("g2", 2, True)):
                        result[name] = read_back(srv, args.n, consumers, group)
                return result
            rows.append(median_row(f"{letter} sink, {layout}", args.runs, sink_run))
            print(f"{rows[-1]['client']}: {rows[-1]['rate']:,.0f} ev/s", flush=True)
    sink_row = rows[1]
    for key, name in (("x", "x source, XREAD"), ("g", "g source, group of 1"), ("g2", "g2 source, group of 2")):
        rows.append({"bench": "sinks", "client": name, "rate": sink_row.pop(key)})
    for row in rows:
        row.update(n=args.n, k=args.k, ratio_r=row["rate"] / rows[0]["rate"])
    print()
    print(table(rows, ["client", "n", "rate", "ratio_r", "dropped", "bytes_per_event"]))
    print(f"\nresults appended to {write_results('sinks', rows)}")


if __name__ == "__main__":
    main()
