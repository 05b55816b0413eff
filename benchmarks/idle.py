"""Idle: 1,000 subscribed symbols and no data for 30 s (5 s with --quick);
reports the process's CPU use. The emulator (own process) sends only the
subscription snapshots and its keepalives.

    python -m benchmarks.idle [--quick] [--symbols N] [--seconds S]
"""

from __future__ import annotations

import argparse
import time

import mdsdk
from mdsdk.testing.universe import sample

try:
    from ._common import EmulatorProcess, table, write_results
except ImportError:  # run as a script
    import pathlib
    import sys
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
    from benchmarks._common import EmulatorProcess, table, write_results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--symbols", type=int, default=1000)
    ap.add_argument("--seconds", type=float, default=30.0)
    args = ap.parse_args()
    if args.quick:
        args.seconds = 5.0
    symbols = sample(args.symbols)  # real names: the emulator sends nothing for unknown ones
    with EmulatorProcess() as emu:
        with mdsdk.connect("dxlink", url=emu.url) as feed:
            feed.on_quote(lambda q: None)
            with feed.events(kinds=("quote",)) as stream:
                feed.subscribe(symbols, kinds=("quote", "trade"))
                got = 0
                for _ in stream:  # the snapshot of every symbol, then silence
                    got += 1
                    if got >= args.symbols:
                        break
                time.sleep(1.0)
                c0, w0 = time.process_time(), time.monotonic()
                time.sleep(args.seconds)
                cpu, wall = time.process_time() - c0, time.monotonic() - w0
            stats = feed.stats()
    row = {"bench": "idle", "symbols": args.symbols, "seconds": round(wall, 1), "cpu_s": round(cpu, 4),
           "cpu_percent": round(100 * cpu / wall, 3), "frames_in": stats["frames_in"],
           "subscriptions": stats["subscriptions"]}
    print(table([row], ["symbols", "seconds", "cpu_s", "cpu_percent", "frames_in", "subscriptions"]))
    print(f"\nresults appended to {write_results('idle', [row])}")


if __name__ == "__main__":
    main()
