"""Latency: the DXLink emulator (own process) sends Quote events at a steady
rate (10k events/s for 10 s by default; each frame at its own time, or
``--burst N`` frames back to back at the same mean rate), each stamped with its send time in
bidTime + timeNanoPart; we report p50/p99/max from send to (a) the raw floor's
loop (websocket-client ``recv`` + ``json.loads``, the issue's floor), (f) the
physical floor (the throughput benchmark's: blocking 256 KiB reads into one
buffer, a minimal deframer, orjson, one thread), (b) an mdsdk ``on_quote``
callback, (c) the ``feed.events()`` iterator.

The clients take turns: the run is cut into ``--rounds`` rounds and each
client listens for its share of every round, so a burst of load on the
shared machine lands on neighbours, not on one client's whole run. A
client's p50 ratio is the median of its per-round ratios to a floor's
p50 in the same round (``p50_ratio`` to (a), ``p50_ratio_f`` to (f)); p50,
p99 and max are over all its events.

``--pin`` puts the emulator on CPU 0 and this process (every client) on
CPU 1 (Linux): no client then waits for a core the emulator holds or wakes
on another core, which shows the clients' own costs with less of the
scheduler's noise (on a 2-core VM the floors' p99 fall from ~400 to ~130 µs).

``--split`` adds a row (h) for the on_quote client's events stamped when the
socket thread's hand-over to the queues returned: the socket thread's own
share of the latency, the rest being the hand-over to the callback thread.

    python -m benchmarks.latency [--quick] [--rate R] [--seconds S] [--rounds N] [--pin] [--burst N] [--split]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import threading
import time
from typing import Any, Dict, List, Optional

import websocket

import mdsdk
from mdsdk.testing.universe import sample

try:
    from ._common import EmulatorProcess, percentile, table, write_results
    from .throughput import _LOADS, QUOTE_FIELDS, FloorReader, _handshake
except ImportError:  # run as a script
    import pathlib
    import sys
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
    from benchmarks._common import EmulatorProcess, percentile, table, write_results
    from benchmarks.throughput import _LOADS, QUOTE_FIELDS, FloorReader, _handshake

SYMBOLS = sample(10)  # real names: the emulator sends nothing for unknown ones
_I = {n: i for i, n in enumerate(QUOTE_FIELDS)}


def raw_floor(emu: EmulatorProcess, rate: float, seconds: float, burst: int = 1) -> List[float]:
    """Latencies in µs seen by a bare websocket-client loop."""
    ws = websocket.WebSocket(skip_utf8_validation=True)
    ws.connect(emu.url)
    for m in ({"type": "SETUP", "channel": 0, "version": "0.1-bench", "keepaliveTimeout": 60,
               "acceptKeepaliveTimeout": 60},
              {"type": "CHANNEL_REQUEST", "channel": 1, "service": "FEED", "parameters": {"contract": "AUTO"}},
              {"type": "FEED_SETUP", "channel": 1, "acceptDataFormat": "COMPACT",
               "acceptEventFields": {"Quote": QUOTE_FIELDS}},
              {"type": "FEED_SUBSCRIPTION", "channel": 1, "add": [{"type": "Quote", "symbol": s} for s in SYMBOLS]}):
        ws.send(json.dumps(m))
    stride, bt, nano = len(QUOTE_FIELDS), _I["bidTime"], _I["timeNanoPart"]
    seen = 0
    while seen < len(SYMBOLS):  # subscription snapshot
        msg = json.loads(ws.recv())
        if msg.get("type") == "FEED_DATA":
            seen += len(msg["data"][1]) // stride
    total = int(rate * seconds)
    lat: List[float] = []
    pacer = threading.Thread(target=emu.pace, args=(rate, seconds, 1, SYMBOLS, burst))
    pacer.start()
    while len(lat) < total:
        text = ws.recv()
        now = time.time_ns()
        msg = json.loads(text)
        if msg.get("type") != "FEED_DATA":
            continue
        values = msg["data"][1]
        for o in range(0, len(values), stride):
            lat.append((now - (values[o + bt] * 1_000_000 + values[o + nano])) / 1000)
    pacer.join()
    ws.close()
    return lat


def physical_floor(emu: EmulatorProcess, rate: float, seconds: float, burst: int = 1) -> List[float]:
    """Latencies in µs seen by (f): each blocking read's frames parsed at once, on one thread."""
    ws = _handshake(emu.url, SYMBOLS)
    reader = FloorReader(ws.sock)
    stride, bt, nano = len(QUOTE_FIELDS), _I["bidTime"], _I["timeNanoPart"]
    total = int(rate * seconds)
    lat: List[float] = []
    seen = 0
    pacer = None
    while len(lat) < total:
        payloads = reader.payloads()
        now = time.time_ns()
        for payload in payloads:
            msg = _LOADS(payload)
            if msg.get("type") != "FEED_DATA":
                continue
            values = msg["data"][1]
            if pacer is None:  # the subscription snapshot, then the paced stream
                seen += len(values) // stride
                if seen >= len(SYMBOLS):
                    pacer = threading.Thread(target=emu.pace, args=(rate, seconds, 1, SYMBOLS, burst))
                    pacer.start()
                continue
            for o in range(0, len(values), stride):
                lat.append((now - (values[o + bt] * 1_000_000 + values[o + nano])) / 1000)
    assert pacer is not None
    pacer.join()
    ws.close()
    return lat


def mdsdk_client(emu: EmulatorProcess, rate: float, seconds: float, mode: str, burst: int = 1,
                 handed: Optional[List[float]] = None) -> List[float]:
    """Latencies in µs to an on_quote callback or the events() iterator; with ``handed``, also (into it) to the
    moment the socket thread's hand-over of each event to the queues returned (its own share of the latency)."""
    total = int(rate * seconds)
    lat: List[float] = []
    with mdsdk.connect("dxlink", url=emu.url) as feed:
        feed.subscribe(SYMBOLS, kinds=("quote",))
        for s in SYMBOLS:
            feed.get_quote(s)
        if handed is not None:
            _stamp_hand_over(feed, handed)
        done = threading.Event()
        if mode == "callbacks":
            def on_q(q: Any) -> None:
                lat.append((time.time_ns() - q.time) / 1000)
                if len(lat) >= total:
                    done.set()
            feed.on_quote(on_q)
            pacer = threading.Thread(target=emu.pace, args=(rate, seconds, 1, SYMBOLS, burst))
            pacer.start()
            done.wait(seconds + 60)
        else:
            with feed.events(kinds=("quote",), timeout=30) as stream:
                pacer = threading.Thread(target=emu.pace, args=(rate, seconds, 1, SYMBOLS, burst))
                pacer.start()
                for q in stream:
                    lat.append((time.time_ns() - q.time) / 1000)
                    if len(lat) >= total:
                        break
        pacer.join()
    return lat


def _stamp_hand_over(feed: Any, out: List[float]) -> None:
    """Wrap the connection's sink (a private seam, for this measurement only) to stamp each Quote when the
    socket thread has handed its batch to the queues."""
    conn = feed._connection
    sink = conn._sink

    def stamped(events: List[Any]) -> None:
        sink(events)
        now = time.time_ns()
        out.extend((now - e.time) / 1000 for e in events if e.__class__ is mdsdk.Quote)

    conn._sink = stamped


def pin(emu: EmulatorProcess) -> str:
    """Every thread of the emulator process onto CPU 0, this thread (and the
    threads it starts) onto CPU 1; the reason when that cannot be done."""
    if not hasattr(os, "sched_setaffinity") or len(os.sched_getaffinity(0)) < 2:
        return "needs Linux and two CPUs"
    cpus = sorted(os.sched_getaffinity(0))
    for tid in os.listdir(f"/proc/{emu.proc.pid}/task"):
        os.sched_setaffinity(int(tid), {cpus[0]})
    os.sched_setaffinity(0, {cpus[1]})
    return ""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--rate", type=float, default=10_000)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--pin", action="store_true", help="emulator on one CPU, the clients on another (Linux)")
    ap.add_argument("--burst", type=int, default=1, help="frames the emulator sends back to back (mean rate kept)")
    ap.add_argument("--split", action="store_true",
                    help="also report, for the on_quote client, when the socket thread's hand-over returned")
    args = ap.parse_args()
    if args.quick:
        args.seconds, args.rounds = 1.0, 1
    share = args.seconds / args.rounds
    with EmulatorProcess() as emu:
        why = pin(emu) if args.pin else ""
        if why:
            print(f"--pin ignored: {why}")
        b = args.burst
        handed: List[float] = []
        runs = {"a raw floor": lambda: raw_floor(emu, args.rate, share, b),
                "f physical floor": lambda: physical_floor(emu, args.rate, share, b),
                "b mdsdk on_quote": lambda: mdsdk_client(emu, args.rate, share, "callbacks", b,
                                                         handed if args.split else None),
                "c mdsdk events()": lambda: mdsdk_client(emu, args.rate, share, "iterator", b)}
        names = list(runs) + (["h hand-over returned"] if args.split else [])
        lats: Dict[str, List[float]] = {name: [] for name in names}
        p50s: Dict[str, List[float]] = {name: [] for name in names}
        for r in range(args.rounds):
            for name, fn in runs.items():
                lat = fn()
                lats[name].extend(lat)
                p50s[name].append(percentile(lat, 50))
                if handed:  # the on_quote run's own stamps at its hand-over
                    lats[names[-1]].extend(handed)
                    p50s[names[-1]].append(percentile(handed, 50))
                    handed.clear()
            print(f"round {r + 1}: " + "  ".join(f"{n} p50 {v[-1]:.0f} µs" for n, v in p50s.items()), flush=True)
    rows: List[Dict[str, Any]] = []
    floor, floor_f = p50s["a raw floor"], p50s["f physical floor"]
    for name, lat in lats.items():
        ratios = [p / f for p, f in zip(p50s[name], floor)]
        ratios_f = [p / f for p, f in zip(p50s[name], floor_f)]
        rows.append({"bench": "latency", "pinned": args.pin and not why, "burst": args.burst, "client": name,
                     "rate": args.rate,
                     "events": len(lat),
                     "p50_us": percentile(lat, 50), "p99_us": percentile(lat, 99), "max_us": max(lat),
                     "p50_ratio": statistics.median(ratios), "p50_ratio_f": statistics.median(ratios_f),
                     "rounds": " ".join(f"{x:.2f}" for x in ratios)})
    print()
    print(table(rows, ["client", "rate", "events", "p50_us", "p99_us", "max_us", "p50_ratio", "p50_ratio_f",
                       "rounds"]))
    print(f"\nresults appended to {write_results('latency', rows)}")


if __name__ == "__main__":
    main()
