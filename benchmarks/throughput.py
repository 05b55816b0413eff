"""Throughput: the DXLink emulator (own process) blasts N Quote events, K per
FEED_DATA frame, over S symbols; clients measured in turns in the same run:

  (a) raw floor: websocket-client recv + json.loads + a tuple per event
  (a') the same with websocket-client's UTF-8 validation left on
  (b) mdsdk, feed.on_quote callbacks
  (c) mdsdk, feed.events() iteration
  (d) mdsdk, feed.events() with a conflating queue

Reports events/s, CPU seconds and each row's ratio to (a); also the pure
decode rate of the DXLink protocol object (no sockets).

    python -m benchmarks.throughput [--quick] [--n N] [--runs R]
"""

from __future__ import annotations

import argparse
import json
import statistics
import threading
import time
from typing import Any, Callable, Dict, List

import websocket

import mdsdk
from mdsdk.policy import QueuePolicy
from mdsdk.providers.dxlink.protocol import DXLinkProtocol
from mdsdk.providers.tradovate.protocol import TradovateProtocol

try:
    from ._common import EmulatorProcess, table, write_results
except ImportError:  # run as a script
    import pathlib
    import sys
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
    from benchmarks._common import EmulatorProcess, table, write_results

from mdsdk.providers.dxlink.codec import REQUEST_FIELDS
from mdsdk.testing.universe import sample

# The floor asks for exactly the fields mdsdk asks for, so both parse the same frames.
QUOTE_FIELDS = REQUEST_FIELDS["Quote"]
_I = {n: i for i, n in enumerate(QUOTE_FIELDS)}


def raw_floor(emu: EmulatorProcess, n: int, k: int, symbols: List[str], validate: bool) -> float:
    """A bare websocket-client loop: handshake by hand, then recv + json.loads
    + one tuple per event. Returns seconds to receive n events."""
    ws = websocket.WebSocket(skip_utf8_validation=not validate)
    ws.connect(emu.url)
    send = lambda m: ws.send(json.dumps(m))  # noqa: E731
    send({"type": "SETUP", "channel": 0, "version": "0.1-bench", "keepaliveTimeout": 60,
          "acceptKeepaliveTimeout": 60})
    send({"type": "CHANNEL_REQUEST", "channel": 1, "service": "FEED", "parameters": {"contract": "AUTO"}})
    send({"type": "FEED_SETUP", "channel": 1, "acceptDataFormat": "COMPACT",
          "acceptEventFields": {"Quote": QUOTE_FIELDS}})
    send({"type": "FEED_SUBSCRIPTION", "channel": 1, "add": [{"type": "Quote", "symbol": s} for s in symbols]})
    stride = len(QUOTE_FIELDS)
    # settle: the subscription's snapshot shows it is live
    seen = 0
    while seen < len(symbols):
        msg = json.loads(ws.recv())
        if msg.get("type") == "FEED_DATA":
            seen += len(msg["data"][1]) // stride
    got = 0
    blaster = threading.Thread(target=emu.blast, args=(n, k, symbols))
    blaster.start()
    loads = json.loads
    bp, ap, bs, az = _I["bidPrice"], _I["askPrice"], _I["bidSize"], _I["askSize"]
    t0 = 0.0
    while got < n:
        msg = loads(ws.recv())
        if msg.get("type") != "FEED_DATA":
            continue
        if not got:
            t0 = time.perf_counter()  # timing starts at the first event, as for the mdsdk clients
        data = msg["data"]
        values = data[1]
        for o in range(0, len(values), stride):
            _ = (values[o + 1], values[o + bp], values[o + ap], values[o + bs], values[o + az])
            got += 1
    dt = time.perf_counter() - t0
    blaster.join()
    ws.close()
    return dt


def mdsdk_client(emu: EmulatorProcess, n: int, k: int, symbols: List[str], mode: str) -> float:
    """mdsdk through callbacks, the iterator or a conflating iterator."""
    with mdsdk.connect("dxlink", url=emu.url, callback_queue=QueuePolicy(maxsize=10**7),
                       queue=QueuePolicy(maxsize=10**7)) as feed:
        feed.subscribe(symbols, kinds=("quote",))
        for s in symbols:
            feed.get_quote(s, timeout=10)
        frames_before = feed.stats()["frames_in"]
        count = [0]
        first = [0.0]
        finished = threading.Event()
        if mode == "callbacks":
            def on_q(q: Any) -> None:
                if not count[0]:
                    first[0] = time.perf_counter()
                count[0] += 1
                if count[0] >= n:
                    finished.set()
            feed.on_quote(on_q)
            blaster = threading.Thread(target=emu.blast, args=(n, k, symbols))
            blaster.start()
            finished.wait(300)
        else:
            policy = QueuePolicy(maxsize=1000, mode="conflate") if mode == "conflate" else QueuePolicy(maxsize=10**7)
            stream = feed.events(kinds=("quote",), policy=policy, timeout=30)
            blaster = threading.Thread(target=emu.blast, args=(n, k, symbols))
            blaster.start()
            target_frames = frames_before + n // k
            for _ in stream:
                if not count[0]:
                    first[0] = time.perf_counter()
                count[0] += 1
                if mode != "conflate" and count[0] >= n:
                    break
                if mode == "conflate" and feed.stats()["frames_in"] >= target_frames:
                    break
            stream.close()
        dt = time.perf_counter() - first[0]
        blaster.join()
        return dt


def decode_rate(k: int, n: int) -> float:
    """Events/s of DXLinkProtocol.receive on COMPACT Quote frames, no sockets."""
    p = DXLinkProtocol(None)
    p.connection_made(0.0)
    p.receive(json.dumps({"type": "FEED_CONFIG", "channel": 1, "dataFormat": "COMPACT",
                          "aggregationPeriod": 0, "eventFields": {"Quote": QUOTE_FIELDS}}), 0.0, 0)
    values: List[Any] = []
    row = {"eventType": "Quote", "bidTime": 1700000000000, "askTime": 1700000000000, "timeNanoPart": 0,
           "bidSize": 300.0, "askSize": 200.0}
    for i in range(k):
        row.update(eventSymbol=f"S{i % 50}", bidPrice=100.0 + i / 100, askPrice=100.02 + i / 100)
        values += [row[f] for f in QUOTE_FIELDS]
    frame = json.dumps({"type": "FEED_DATA", "channel": 1, "data": ["Quote", values]})
    frames = n // k
    t0 = time.perf_counter()
    for _ in range(frames):
        p.receive(frame, 0.0, 1)
    return frames * k / (time.perf_counter() - t0)


def decode_rate_tradovate(k: int, n: int) -> float:
    """Events/s of TradovateProtocol.receive on ``md`` quote frames, no sockets."""
    p = TradovateProtocol(None)
    p.learn_symbols({f"S{i}": 1000 + i for i in range(50)})
    quotes = [{"timestamp": "2026-01-05T14:30:00.250Z", "contractId": 1000 + i % 50,
               "entries": {"Bid": {"price": 5000.25, "size": 3}, "Offer": {"price": 5000.5, "size": 4}}}
              for i in range(k)]
    frame = "a" + json.dumps([{"e": "md", "d": {"quotes": quotes}}])
    frames = n // k
    t0 = time.perf_counter()
    for _ in range(frames):
        p.receive(frame, 0.0, 1)
    return frames * k / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small N, one run: a smoke test")
    ap.add_argument("--n", type=int, default=200_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--ks", default="1,10,100")
    ap.add_argument("--symbols", type=int, default=50)
    args = ap.parse_args()
    if args.quick:
        args.n, args.runs = 5_000, 1
    ks = [int(x) for x in args.ks.split(",")]
    symbols = sample(args.symbols)  # real names: the emulator sends nothing for unknown ones
    clients: Dict[str, Callable[[EmulatorProcess, int, int], float]] = {
        "a raw floor": lambda e, n, k: raw_floor(e, n, k, symbols, validate=False),
        "a' floor, utf-8 check on": lambda e, n, k: raw_floor(e, n, k, symbols, validate=True),
        "b mdsdk callbacks": lambda e, n, k: mdsdk_client(e, n, k, symbols, "callbacks"),
        "c mdsdk events()": lambda e, n, k: mdsdk_client(e, n, k, symbols, "iterator"),
        "d mdsdk conflate": lambda e, n, k: mdsdk_client(e, n, k, symbols, "conflate"),
    }
    rows: List[Dict[str, Any]] = []
    with EmulatorProcess() as emu:
        for k in ks:
            floor = None
            for name, fn in clients.items():
                n = args.n if not name.startswith("a'") else max(k * 10, args.n // 4)
                rates, cpus = [], []
                for _ in range(args.runs):
                    c0 = time.process_time()
                    dt = fn(emu, n, k)
                    cpus.append(time.process_time() - c0)
                    rates.append(n / dt)
                rate = statistics.median(rates)
                if name.startswith("a raw"):
                    floor = rate
                rows.append({"bench": "throughput", "client": name, "k": k, "n": n, "events_per_s": rate,
                             "cpu_s": statistics.median(cpus), "ratio": rate / floor if floor else None})
                print(f"k={k:<4} {name:<26} {rate:>12,.0f} ev/s  ratio {rate / floor if floor else 0:.2f}",
                      flush=True)
    n_dec = 20_000 if args.quick else 400_000
    decode = [{"bench": "decode", "client": "DXLinkProtocol.receive", "k": k,
               "events_per_s": decode_rate(k, n_dec)} for k in ks]
    decode += [{"bench": "decode", "client": "TradovateProtocol.receive", "k": k,
                "events_per_s": decode_rate_tradovate(k, n_dec // 4)} for k in ks]
    print()
    print(table(rows, ["client", "k", "n", "events_per_s", "cpu_s", "ratio"]))
    print()
    print(table(decode, ["client", "k", "events_per_s"]))
    print(f"\nresults appended to {write_results('throughput', rows + decode)}")


if __name__ == "__main__":
    main()
