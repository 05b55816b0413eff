"""Fuzz: every provider with fixtures and an emulator gets a real handshake
(its emulator, over a socket), then N mutated fixture frames through its
protocol object (mdsdk.testing.fuzz, plain ``random``), each checked against
the receive contract: no escape from ``receive``, the event invariants, at
most one malformed-frame Status per frame, bounded output, no busy timer.

Prints per provider: frames, frames/s, escapes (must be 0), invariant,
amplification and busy-loop violations, and the slowest frame. Exit status 1
when anything broke the contract. The timings are figures, never asserted.

    python -m benchmarks.fuzz [--frames N] [--quick] [--provider NAME] [--seed S]
"""

from __future__ import annotations

import argparse
import os
import pathlib
import sys
import time
from typing import Any, Dict, List

from mdsdk.registry import get_spec
from mdsdk.testing import fuzz

try:
    from ._common import table, write_results
except ImportError:  # run as a script
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
    from benchmarks._common import table, write_results

ROOT = pathlib.Path(__file__).resolve().parents[1]
FIXTURES = pathlib.Path(os.environ.get("MDSDK_SHARED", ROOT.parent / "shared")) / "fixtures"


def fuzz_one(name: str, frames: int, seed: int) -> Dict[str, Any]:
    """Handshake ``name`` and fuzz it; one result row, findings printed."""
    spec = get_spec(name)
    corpus = fuzz.fixture_frames(spec, FIXTURES)
    t0 = time.perf_counter()
    hs = fuzz.handshake(spec, corpus)
    print(f"{name}: handshake {time.perf_counter() - t0:.2f} s, {len(corpus)} fixture frames", flush=True)
    report = fuzz.run(hs, corpus + hs.received[:20], frames, seed,
                      progress=lambda r: print(f"  {r.frames:>9,} frames {r.frames / r.seconds:>8,.0f}/s "
                                               f"findings {dict(r.counts)}", flush=True))
    for finding in report.examples:
        print(f"  {finding.kind}: {finding.detail[:300]} [{finding.mutation}] {finding.frame}")
    for site, n in report.escape_sites.items():
        print(f"  escape x{n}: {site}")
    slow_s, slow_mutation, slow_frame = report.slowest
    return {"bench": "fuzz", "provider": name, "frames": report.frames, "frames_per_s": report.frames / report.seconds,
            "escapes": report.count("escape"), "invariant": report.count("invariant"),
            "amplification": report.count("amplification", "output"),
            "busy_loop": report.count("busy_loop", "deadline"),
            "rebuilds": report.rebuilds, "slowest_ms": slow_s * 1000, "slowest_mutation": slow_mutation,
            "slowest_frame": slow_frame[:80], "seed": seed}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=1_000_000, help="mutated frames per provider")
    ap.add_argument("--quick", action="store_true", help="about 2,000 frames per provider: a smoke test")
    ap.add_argument("--provider", help="fuzz only this provider")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    if args.quick:
        args.frames = 2_000
    if not FIXTURES.exists():
        sys.exit(f"{FIXTURES} not found: set MDSDK_SHARED to the shared folder")
    names = [args.provider] if args.provider else [s.name for s in fuzz.fuzzable_specs(FIXTURES)]
    rows: List[Dict[str, Any]] = [fuzz_one(name, args.frames, args.seed) for name in names]
    print()
    print(table(rows, ["provider", "frames", "frames_per_s", "escapes", "invariant", "amplification", "busy_loop",
                       "slowest_ms", "slowest_mutation"]))
    for r in rows:
        print(f"slowest {r['provider']}: {r['slowest_ms']:.1f} ms [{r['slowest_mutation']}] {r['slowest_frame']}")
    print(f"\nresults appended to {write_results('fuzz', rows)}")
    broken = sum(r["escapes"] + r["invariant"] + r["amplification"] + r["busy_loop"] for r in rows)
    sys.exit(1 if broken else 0)


if __name__ == "__main__":
    main()
