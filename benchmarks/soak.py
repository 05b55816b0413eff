"""Soak: every provider's emulator at once, one feed each with 50 symbols (quotes, and one-minute bars for five
of them on a market clock 60 times real time), and a random fault on a random emulator every few seconds (drop,
stall, garbage frame, restart). Reports per provider the events received, reconnects, gaps reported, bars
backfilled, bars lost (holes in the complete one-minute bars: must be 0) and repeated, malformed frames, and for
the client process RSS, threads and open file descriptors once every feed streams, at each quarter and at the
end (threads and files must not grow; after closing, none may remain). The emulators run in a process of
their own, so the figures are the client's alone (``--in-process`` puts them back beside the feeds).

    python -m benchmarks.soak [--minutes N] [--quick] [--seed S] [--in-process] [--trace]

``--quick`` is one minute (what CI runs); the documented run is 30 minutes.
"""

from __future__ import annotations

import argparse
import gc
import inspect
import multiprocessing
import os
import random
import threading
import time
import tracemalloc
from contextlib import ExitStack
from typing import Any, Dict, List, Tuple

import mdsdk
from mdsdk.events import Bar, Status
from mdsdk.feed import emulator_options
from mdsdk.registry import get_spec, known_providers, load_object
from mdsdk.testing import MarketClock
from mdsdk.testing.universe import FUTURE_ROOTS, sample

try:
    from ._common import rss_mb, table, write_results
except ImportError:  # run as a script
    import pathlib
    import sys
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
    from benchmarks._common import rss_mb, table, write_results

FAULTS = ("drop", "stall", "inject", "restart")
FAST = mdsdk.ReconnectPolicy(initial=0.2, cap=2.0, jitter=0.2)
QUICK_LIVENESS = {"keepalive_timeout": 2.0, "server_timeout": 3.0}


EMULATOR_ARGS = {"tick": 0.1, "speed": 60.0, "keepalive_timeout": 3.0}


def _providers() -> List[str]:
    return [name for name in known_providers() if get_spec(name).emulator]


def _symbols(name: str, example: str) -> List[str]:
    """Fifty symbols the provider's emulator knows (futures for the futures-only ones)."""
    if name == "crosstrade":
        return sorted(FUTURE_ROOTS)[:50]
    if name == "tradovate":
        suffix = example[len(example.rstrip("0123456789")) - 1:]
        return [example] + [root + suffix for root in sorted(FUTURE_ROOTS) if root + suffix != example][:49]
    return [example] + [s for s in sample(60) if s != example][:49]


class Emulators:
    """Every provider's emulator, started in this process: what a client needs to reach each one (picklable,
    so :func:`_host` can hand it to another process) and the faults."""

    def __init__(self, stack: ExitStack) -> None:
        self.emus: Dict[str, Any] = {}
        self.info: Dict[str, Dict[str, Any]] = {}
        for name in _providers():
            spec = get_spec(name)
            cls = load_object(spec.emulator or "")
            emu = self.emus[name] = stack.enter_context(cls(**_accepted(cls, EMULATOR_ARGS)))
            self.info[name] = {"options": dict(emulator_options(spec, emu)), "example": emu.example_symbol,
                               "speed": emu.clock.speed, "origin": emu.clock.origin}

    def fault(self, name: str, kind: str) -> None:
        emu = self.emus[name]
        if kind == "inject":
            emu.inject()
        else:
            getattr(emu, kind)()


def _host(conn: Any) -> None:
    """The emulator process: start every emulator, send the client settings, then carry out faults (and
    report this process's figures) until told to stop."""
    with ExitStack() as stack:
        emulators = Emulators(stack)
        conn.send(emulators.info)
        for msg in iter(conn.recv, ("stop",)):
            if msg[0] == "fault":
                emulators.fault(msg[1], msg[2])
            else:
                conn.send(_process())
    conn.send("closed")


class Hosted:
    """The emulators in a child process: same surface as :class:`Emulators`. Forked, before the client has
    any thread (spawn would leave multiprocessing's resource tracker and its pipe behind)."""

    def __init__(self, stack: ExitStack) -> None:
        ctx = multiprocessing.get_context("fork")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_host, args=(child,), name="soak-emulators", daemon=True)
        self.proc.start()
        child.close()
        stack.callback(self.close)
        self.info: Dict[str, Dict[str, Any]] = self.conn.recv()

    def fault(self, name: str, kind: str) -> None:
        self.conn.send(("fault", name, kind))

    def process(self) -> Dict[str, Any]:
        self.conn.send(("process",))
        return self.conn.recv()

    def close(self) -> None:
        if self.proc.is_alive():
            self.conn.send(("stop",))
            self.conn.recv()
        self.proc.join(30)
        self.proc.close()
        self.conn.close()


class Run:
    """One provider's feed on its emulator, with what the feed delivered."""

    def __init__(self, name: str, info: Dict[str, Any], stack: ExitStack) -> None:
        spec = get_spec(name)
        self.name = name
        opts = dict(info["options"])
        names = {o.name for o in spec.options}
        opts.update({k: v for k, v in QUICK_LIVENESS.items() if k in names})
        if "emulate" in names:
            opts["emulate"] = False
        clock = MarketClock(info["speed"], origin=info["origin"])
        self.feed = stack.enter_context(mdsdk.connect(name, reconnect=FAST, clock=clock, **opts))
        self.events = 0
        # Per series only the last complete bar's start: the check's memory must not grow with the run, or the
        # client's RSS figure would show the harness's own bookkeeping. Bars of a series arrive in order (the
        # ledger's promise), so a later start past the next one is a hole and an earlier or equal one a repeat.
        self.last_bar: Dict[Tuple[str, str], int] = {}
        self.bars = self.bars_lost = self.bars_repeated = 0
        self.holes: List[str] = []  # the first few, for the report
        self.gaps = 0
        self.unfilled: List[str] = []  # what the feed said about backfills that did not come (the first 50)
        self.unfilled_count = 0
        self.feed.on("*", self._count)
        self.symbols = _symbols(name, info["example"])
        self.feed.subscribe(self.symbols, kinds=("quote",))
        if "bar" in spec.capabilities.kinds and name != "thetadata":
            self.feed.subscribe(self.symbols[:5], kinds=("bar",), interval="1m")

    def _count(self, ev: Any) -> None:
        self.events += 1
        if ev.__class__ is Bar and ev.complete:
            self._bar(ev)
        elif ev.__class__ is Status and ev.kind == "gap":
            self.gaps += 1
        elif ev.__class__ is Status and ev.kind == "error" and "backfill" in ev.detail:
            self.unfilled_count += 1
            if len(self.unfilled) < 50:
                self.unfilled.append(ev.detail)

    def _bar(self, ev: Bar) -> None:
        self.bars += 1
        key = (ev.symbol, ev.interval)
        last = self.last_bar.get(key)
        if last is not None and ev.time <= last:
            self.bars_repeated += 1
            return
        self.last_bar[key] = ev.time
        if last is not None and ev.time - last > 60_000_000_000:
            self.bars_lost += (ev.time - last) // 60_000_000_000 - 1
            if len(self.holes) < 10:
                self.holes.append(f"{ev.symbol} bars missing between {last // 10**9} and {ev.time // 10**9} "
                                  "(epoch s)")

    def report(self) -> Dict[str, Any]:
        stats = self.feed.stats()
        proto = self.feed._connection.protocol
        return {"provider": self.name, "events": self.events, "reconnects": stats["reconnects"], "gaps": self.gaps,
                "backfilled": getattr(getattr(proto, "bars", None), "backfilled", 0),
                "bars": self.bars, "bars_lost": self.bars_lost, "bars_repeated": self.bars_repeated,
                "unfilled": self.unfilled_count, "unfilled_details": self.unfilled + self.holes,
                "malformed": stats["malformed"], "dropped": stats["dropped"]}


def _accepted(cls: Any, wanted: Dict[str, Any]) -> Dict[str, Any]:
    """The ``wanted`` keywords the emulator takes; a subclass passing ``**kwargs`` on (``TDAEmulator``) takes
    what its base takes."""
    names: set = set()
    for klass in cls.__mro__:
        if "__init__" not in vars(klass):
            continue
        params = inspect.signature(klass.__init__).parameters
        names |= set(params)
        if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
            break
    return {k: v for k, v in wanted.items() if k in names}


def _process() -> Dict[str, Any]:
    gc.collect()  # an emulator's stopped server leaves its poller to the collector (websockets' serve_forever)
    return {"rss_mb": round(rss_mb(), 1), "threads": threading.active_count(), "fds": len(os.listdir("/proc/self/fd"))}


def _heap_growth(before: Any) -> Dict[str, Any]:
    """Python heap growth (KiB) of this process since ``before`` (a tracemalloc snapshot), and the five
    allocation sites that grew most."""
    gc.collect()
    stats = tracemalloc.take_snapshot().compare_to(before, "lineno")
    top = [f"{s.traceback[0].filename.rsplit('/', 2)[-1]}:{s.traceback[0].lineno} {s.size_diff / 1024:+.0f} KiB"
           for s in stats[:5]]
    return {"heap_kib": round(sum(s.size_diff for s in stats) / 1024, 1), "heap_top": top}


def soak(minutes: float, seed: int, trace: bool = False, in_process: bool = False) -> Tuple[
        List[Dict[str, Any]], Dict[str, Any], Dict[str, Any], int]:
    rng = random.Random(seed)
    faults = 0
    before = _process()
    with ExitStack() as stack:
        emulators = Emulators(stack) if in_process else Hosted(stack)
        runs = [Run(name, info, stack) for name, info in emulators.info.items()]
        time.sleep(3.0)  # every feed streaming, bars forming
        start = _process()  # the steady state: what the faults must not grow
        start["rss_mb_quarters"] = []
        if trace:
            tracemalloc.start(30)
            heap0 = tracemalloc.take_snapshot()
        begin = time.monotonic()
        end_at = begin + minutes * 60
        marks = [begin + minutes * 60 * q / 4 for q in (1, 2, 3)]
        while time.monotonic() < end_at - 8:  # the last seconds are quiet: backfills and reconnects settle
            time.sleep(rng.uniform(2.0, 5.0))
            emulators.fault(rng.choice(runs).name, rng.choice(FAULTS))
            faults += 1
            if marks and time.monotonic() >= marks[0]:
                marks.pop(0)
                start["rss_mb_quarters"].append(round(rss_mb(), 1))
        time.sleep(max(0.0, end_at - time.monotonic()))
        rows = [r.report() for r in runs]
        end = _process()
        if not in_process:
            end["emulator_process"] = emulators.process()  # type: ignore[union-attr]
        if trace:
            end.update(_heap_growth(heap0))
            tracemalloc.stop()
    time.sleep(1.0)  # the closed feeds' and emulators' threads finish
    after = _process()
    if after["threads"] > before["threads"] or after["fds"] > before["fds"]:
        raise SystemExit(f"soak: closing left threads or files behind: {before} -> {after}")
    return rows, start, end, faults


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=30.0)
    ap.add_argument("--quick", action="store_true", help="one minute (CI)")
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--trace", action="store_true", help="the client's Python heap growth and where it grew "
                                                          "(tracemalloc: about twice as slow)")
    ap.add_argument("--in-process", action="store_true", help="the emulators in the client's process")
    args = ap.parse_args()
    minutes = 1.0 if args.quick else args.minutes
    rows, start, end, faults = soak(minutes, args.seed, args.trace, args.in_process)
    print(f"soak: {minutes:g} min, {faults} faults, every provider's emulator at once\n")
    print(table(rows, ["provider", "events", "reconnects", "gaps", "backfilled", "bars", "bars_lost",
                       "bars_repeated", "unfilled", "malformed", "dropped"]))
    for r in rows:
        for detail in r.pop("unfilled_details")[:3]:
            print(f"  {r['provider']}: {detail}")
    print(f"\nclient process at start: {start}\nclient process at end:   {end}")
    write_results("soak", [dict(r, minutes=minutes, faults=faults) for r in rows] +
                  [{"process_start": start, "process_end": end, "minutes": minutes}])
    lost = sum(r["bars_lost"] + r["bars_repeated"] for r in rows)
    if lost or end["threads"] > start["threads"] or end["fds"] > start["fds"]:
        raise SystemExit(f"soak failed: {lost} bars lost or repeated, threads {start['threads']}->{end['threads']},"
                         f" fds {start['fds']}->{end['fds']}")


if __name__ == "__main__":
    main()
