"""Slow consumer: the DXLink emulator (own process) streams Quote events at a
steady rate while an ``on_quote`` callback takes 10x longer per event than
the stream allows, for 60 s (10 s with --quick). Reports peak RSS growth,
dropped/conflated counts from ``feed.stats()`` and whether keepalives stayed
on time (the emulator drops a client silent for 3 s; we send one every 1 s).

    python -m benchmarks.slow_consumer [--quick] [--rate R] [--mode drop_oldest|conflate]
"""

from __future__ import annotations

import argparse
import threading
import time
from typing import Any, Dict, List

import mdsdk
from mdsdk.policy import QueuePolicy
from mdsdk.testing.universe import sample

try:
    from ._common import EmulatorProcess, rss_mb, table, write_results
except ImportError:  # run as a script
    import pathlib
    import sys
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
    from benchmarks._common import EmulatorProcess, rss_mb, table, write_results

SYMBOLS = sample(20)  # real names: the emulator sends nothing for unknown ones


def run(emu: EmulatorProcess, rate: float, seconds: float, mode: str) -> Dict[str, Any]:
    delay = 10.0 / rate  # 10x slower than the stream
    calls = [0]
    statuses: List[Any] = []

    def slow(q: Any) -> None:
        calls[0] += 1
        time.sleep(delay)

    base = rss_mb()
    peak = [base]
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.2):
            peak[0] = max(peak[0], rss_mb())

    sampler = threading.Thread(target=sample)
    sampler.start()
    with mdsdk.connect("dxlink", url=emu.url, keepalive_interval=1.0, keepalive_timeout=10.0,
                       callback_queue=QueuePolicy(maxsize=100_000, mode=mode)) as feed:
        feed.on_status(statuses.append)
        feed.subscribe(SYMBOLS, kinds=("quote",))
        feed.get_quote(SYMBOLS[0])
        frames_out = feed.stats()["frames_out"]
        feed.on_quote(slow)
        t0 = time.monotonic()
        emu.pace(rate, seconds, 1, SYMBOLS)
        elapsed = time.monotonic() - t0
        stats = feed.stats()
        sent_out = stats["frames_out"] - frames_out
    stop.set()
    sampler.join()
    cb = stats["queues"]["callbacks"]
    received = cb["delivered"] + cb["dropped"] + cb["conflated"] + cb["depth"]  # every event is one of these
    return {"bench": "slow_consumer", "mode": mode, "rate": rate, "seconds": round(elapsed, 1),
            "callback_delay_ms": delay * 1000, "events": received, "delivered": calls[0],
            "dropped": cb["dropped"], "conflated": cb["conflated"], "queued_at_end": cb["depth"],
            "in_hand_at_close": cb["delivered"] - calls[0],
            "rss_growth_mb": round(peak[0] - base, 1), "reconnects": stats["reconnects"],
            "keepalives_sent": sent_out, "overflow_reports": sum(1 for s in statuses if s.kind == "overflow"),
            "disconnects": sum(1 for s in statuses if s.kind == "disconnected")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--rate", type=float, default=5000)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--mode", default="drop_oldest")
    args = ap.parse_args()
    if args.quick:
        args.seconds = 10.0
    with EmulatorProcess(keepalive_timeout=3.0) as emu:
        row = run(emu, args.rate, args.seconds, args.mode)
    cols = list(row)[1:]
    print(table([row], cols))
    print(f"\nresults appended to {write_results('slow_consumer', [row])}")


if __name__ == "__main__":
    main()
