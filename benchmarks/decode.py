"""Decode: N COMPACT Quote events, K per FEED_DATA frame, through
``DXLinkProtocol.receive`` after a handshake; no sockets, one thread.

Rows, each in the same run as its floor:

  floor      json.loads + one tuple (symbol, bid, ask, bid_size, ask_size) per event
  receive    DXLinkProtocol.receive (json.loads, dispatch, the Quote decoder)
  decoder    the Quote decoder alone on the already parsed values array

Two field layouts: the emulator's (DEFAULT_FIELDS, which is also what a
tastytrade server sends without a FEED_SETUP: 13 fields, three of them extras)
and the lean one mdsdk asks for (REQUEST_FIELDS, 9 fields, no extras).
Prints events/s, ns/event and the ratio to the floor; best of R runs, because
the machine is shared. Never asserts a timing.

    python -m benchmarks.decode [--quick] [--n N] [--runs R] [--ks 1,10,100]
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any, Callable, Dict, List, Sequence

from mdsdk.providers.dxlink.codec import REQUEST_FIELDS, compile_decoder
from mdsdk.providers.dxlink.protocol import DXLinkProtocol

try:
    from ._common import table, write_results
except ImportError:  # run as a script
    import pathlib
    import sys
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
    from benchmarks._common import table, write_results

try:
    from mdsdk.testing._dxlink_events import DEFAULT_FIELDS
    SERVER_QUOTE = list(DEFAULT_FIELDS["Quote"])
except (ImportError, KeyError):  # the same layout, spelled out
    SERVER_QUOTE = ["eventType", "eventSymbol", "eventTime", "sequence", "timeNanoPart", "bidTime",
                    "bidExchangeCode", "bidPrice", "bidSize", "askTime", "askExchangeCode", "askPrice", "askSize"]

LAYOUTS = {"emulator (13 fields)": SERVER_QUOTE, "lean (9 fields)": list(REQUEST_FIELDS["Quote"])}
LIVE = 1
T_MS = 1_700_000_000_000


def frame(names: Sequence[str], k: int) -> str:
    """One FEED_DATA frame of k Quote events over 50 symbols, valued as the emulator's blast."""
    values: List[Any] = []
    for j in range(k):
        row = {"eventType": "Quote", "eventSymbol": f"SYM{j % 50}", "eventTime": 0, "sequence": 0,
               "timeNanoPart": 0, "bidTime": T_MS + j, "bidExchangeCode": "Q", "bidPrice": 100.0 + j / 100,
               "bidSize": 300.0, "askTime": T_MS + j, "askExchangeCode": "Q", "askPrice": 100.02 + j / 100,
               "askSize": 200.0}
        values.extend(row[n] for n in names)
    return json.dumps({"type": "FEED_DATA", "channel": LIVE, "data": ["Quote", values]}, separators=(",", ":"))


def ready_protocol(names: Sequence[str]) -> DXLinkProtocol:
    """A DXLinkProtocol through the handshake, its Quote layout announced."""
    p = DXLinkProtocol(None)
    p.connection_made(0.0)
    for msg in ({"type": "SETUP", "channel": 0, "keepaliveTimeout": 60, "version": "bench"},
                {"type": "AUTH_STATE", "channel": 0, "state": "AUTHORIZED"},
                *({"type": "CHANNEL_OPENED", "channel": ch, "service": "FEED", "parameters": {}} for ch in (1, 3, 5)),
                {"type": "FEED_CONFIG", "channel": LIVE, "dataFormat": "COMPACT", "aggregationPeriod": 0,
                 "eventFields": {"Quote": list(names)}}):
        p.receive(json.dumps(msg), 0.0, 1)
    p.outgoing()
    return p


def best_seconds(fn: Callable[[], None], repeats: int, runs: int) -> float:
    """The fastest of ``runs`` timings of ``repeats`` calls."""
    best = float("inf")
    for _ in range(runs):
        t0 = time.perf_counter()
        for _ in range(repeats):
            fn()
        best = min(best, time.perf_counter() - t0)
    return best


def clients(names: Sequence[str], k: int) -> Dict[str, Callable[[], None]]:
    """The three ways to turn one frame into k values, as zero-argument calls."""
    text = frame(names, k)
    stride = len(names)
    pos = {n: i for i, n in enumerate(names)}
    sym, bp, ap, bs, az = (pos[n] for n in ("eventSymbol", "bidPrice", "askPrice", "bidSize", "askSize"))
    loads = json.loads

    def floor() -> None:
        values = loads(text)["data"][1]
        _ = [(values[o + sym], values[o + bp], values[o + ap], values[o + bs], values[o + az])
             for o in range(0, len(values), stride)]

    proto = ready_protocol(names)
    assert len(proto.receive(text, 0.0, 1)) == k, "the protocol did not decode the frame"
    decoder = compile_decoder("Quote", names, "dxlink")
    assert decoder is not None
    parsed = loads(text)["data"][1]
    return {"floor": floor, "receive": lambda: proto.receive(text, 0.0, 1) and None,
            "decoder": lambda: decoder(parsed, 1) and None}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small N, one run: a smoke test")
    ap.add_argument("--n", type=int, default=300_000, help="events per timing")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--ks", default="1,10,100")
    args = ap.parse_args()
    if args.quick:
        args.n, args.runs = 5_000, 1
    rows: List[Dict[str, Any]] = []
    for layout, names in LAYOUTS.items():
        for k in (int(x) for x in args.ks.split(",")):
            frames = max(1, args.n // k)
            floor_rate = 0.0
            for name, fn in clients(names, k).items():
                rate = frames * k / best_seconds(fn, frames, args.runs)
                floor_rate = floor_rate or rate
                rows.append({"bench": "decode", "layout": layout, "k": k, "client": name,
                             "events_per_s": rate, "ns_per_event": 1e9 / rate, "ratio": rate / floor_rate})
                print(f"{layout:<22} k={k:<4} {name:<8} {rate:>12,.0f} ev/s {1e9 / rate:>8,.0f} ns/ev "
                      f"ratio {rate / floor_rate:.2f}", flush=True)
    print()
    print(table(rows, ["layout", "k", "client", "events_per_s", "ns_per_event", "ratio"]))
    print(f"\nresults appended to {write_results('decode', rows)}")


if __name__ == "__main__":
    main()
