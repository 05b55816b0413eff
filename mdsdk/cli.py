"""The ``mdsdk`` command line: stream, quote, history, record, replay, emulate.

Exit codes: 0 ok, 2 usage error, 1 runtime error (one line on stderr; the
traceback only with ``--debug``).
"""

from __future__ import annotations

import argparse
import json
import math
import signal
import sys
import threading
import time
from typing import Any, Dict, Optional, Sequence, TextIO

from ._version import __version__
from .errors import ConfigurationError, MdsdkError, UnknownProviderError
from .events import Bar, Event, Quote, Status, Summary, Trade

__all__ = ["main"]


def _fmt(v: Any, width: int = 10, digits: int = 2) -> str:
    if isinstance(v, float):
        return ("-" if math.isnan(v) else f"{v:,.{digits}f}").rjust(width)
    return str(v).rjust(width)


def _line(ev: Event) -> str:
    t = time.strftime("%H:%M:%S", time.gmtime(ev.time / 1e9)) + f".{(ev.time // 1_000_000) % 1000:03d}"
    if isinstance(ev, Quote):
        return (f"{t}  {ev.symbol:<10} quote {_fmt(ev.bid_size, 7, 0)} x {_fmt(ev.bid)}  "
                f"{_fmt(ev.ask)} x {_fmt(ev.ask_size, 7, 0).strip():<7}")
    if isinstance(ev, Trade):
        return (f"{t}  {ev.symbol:<10} trade {_fmt(ev.price)}  size {_fmt(ev.size, 7, 0)}  "
                f"vol {_fmt(ev.day_volume, 12, 0)}")
    if isinstance(ev, Bar):
        return (f"{t}  {ev.symbol:<10} bar {ev.interval:<4} O {_fmt(ev.open)} H {_fmt(ev.high)} "
                f"L {_fmt(ev.low)} C {_fmt(ev.close)} V {_fmt(ev.volume, 10, 0)}{'' if ev.complete else ' *'}")
    if isinstance(ev, Summary):
        return (f"{t}  {ev.symbol:<10} summary open {_fmt(ev.open)} high {_fmt(ev.high)} "
                f"low {_fmt(ev.low)} prev {_fmt(ev.prev_close)}")
    if isinstance(ev, Status):
        return f"{t}  [{ev.kind}] {ev.detail}"
    return f"{t}  {ev!r}"


def _json(ev: Event) -> str:
    import dataclasses
    d: Dict[str, Any] = {"kind": ev.topic}
    for f in dataclasses.fields(ev):
        v = getattr(ev, f.name)
        if isinstance(v, float) and (math.isnan(v) or math.isinf(v)):
            v = None
        d[f.name] = dict(v) if f.name == "extra" else v
    return json.dumps(d, default=str)


def _connect(args: argparse.Namespace, record: Optional[str] = None) -> Any:
    from . import connect
    options: Dict[str, Any] = {}
    if getattr(args, "url", None):
        options["url"] = args.url
    if getattr(args, "api_url", None):
        options["api_url"] = args.api_url
    return connect(args.provider, record=record, **options)


def _stream(args: argparse.Namespace, out: TextIO, record: Optional[str] = None) -> int:
    kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
    stop = threading.Event()
    with _connect(args, record) as feed:
        with feed.events(kinds=kinds + ["status"], symbols=args.symbols) as stream:
            feed.subscribe(args.symbols, kinds=kinds, interval=args.interval)
            deadline = None if args.seconds is None else time.monotonic() + args.seconds
            timer = None
            if deadline is not None:
                def finish() -> None:
                    stop.set()
                    stream.close()

                timer = threading.Timer(args.seconds, finish)
                timer.daemon = True
                timer.start()
            try:
                for ev in stream:
                    out.write((_json(ev) if args.format == "jsonl" else _line(ev)) + "\n")
                    if args.format == "table":
                        out.flush()
            except KeyboardInterrupt:
                pass
            finally:
                if timer is not None:
                    timer.cancel()
        s = feed.stats()
        if args.format == "table":
            out.write(f"-- {s['frames_in']} frames, {s['reconnects']} reconnects, "
                      f"{s['dropped']} dropped, {s['malformed']} malformed\n")
    return 0


def _quote(args: argparse.Namespace, out: TextIO) -> int:
    from .frames import to_text
    with _connect(args) as feed:
        for sym in args.symbols:
            feed.get_quote(sym, timeout=args.timeout)
        out.write(to_text(feed.quotes().loc[args.symbols]) + "\n")
    return 0


def _history(args: argparse.Namespace, out: TextIO) -> int:
    done = threading.Event()

    def spinner() -> None:
        if done.wait(1.0):
            return
        marks = "|/-\\"
        i = 0
        while not done.wait(0.2):
            sys.stderr.write(f"\rfetching {args.symbol} {args.interval} bars {marks[i % 4]}")
            sys.stderr.flush()
            i += 1
        sys.stderr.write("\r" + " " * 60 + "\r")

    progress = threading.Thread(target=spinner, daemon=True)
    progress.start()
    try:
        with _connect(args) as feed:
            df = feed.history(args.symbol, interval=args.interval, start=args.start, end=args.end,
                              timeout=args.timeout)
    finally:
        done.set()
        progress.join()
    if args.output:
        if args.output.endswith(".parquet"):
            try:
                df.to_parquet(args.output)
            except ImportError as exc:
                raise ConfigurationError("writing parquet needs pyarrow: pip install pyarrow") from exc
        elif args.output.endswith(".csv"):
            df.to_csv(args.output)
        else:
            raise ConfigurationError(f"unknown output type {args.output!r}: use .csv or .parquet")
        out.write(f"wrote {len(df)} bars to {args.output}\n")
    else:
        from .frames import to_text
        out.write(to_text(df, max_rows=40) + "\n")
    return 0


def _replay(args: argparse.Namespace, out: TextIO) -> int:
    from .replay import replay
    for ev in replay(args.file, provider=args.provider):
        out.write((_json(ev) if args.format == "jsonl" else _line(ev)) + "\n")
    return 0


def _emulate(args: argparse.Namespace, out: TextIO) -> int:
    from .testing import DXLinkEmulator, TradovateEmulator
    stop = threading.Event()
    emu: Any
    if args.provider == "tradovate":
        emu = TradovateEmulator(port=args.port, tick=args.tick, seed=args.seed)
        hint = (f"try: MDSDK_TRADOVATE_USERNAME={emu.username} MDSDK_TRADOVATE_PASSWORD={emu.password} "
                f"mdsdk stream ESZ6 --provider tradovate --url {emu.url} --api-url {emu.api_url}")
    else:
        emu = DXLinkEmulator(port=args.port, tick=args.tick, seed=args.seed, require_auth=not args.no_auth,
                             keepalive_timeout=args.keepalive_timeout)
        hint = (f"try: MDSDK_DXLINK_TOKEN={emu.token} mdsdk stream SPY --provider dxlink --url {emu.url}"
                if not args.no_auth else f"try: mdsdk stream SPY --provider dxlink --url {emu.url}")
    with emu:
        out.write(f"{args.provider} emulator\n  url:     {emu.url}\n  api_url: {emu.api_url}\n"
                  f"  login:   {emu.username} / {emu.password}\n{hint}\n")
        out.flush()
        signal.signal(signal.SIGTERM, lambda *a: stop.set())
        try:
            stop.wait(args.seconds)
        except KeyboardInterrupt:
            pass
    return 0


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="mdsdk", description="Market data from streaming WebSocket APIs.")
    p.add_argument("--version", action="version", version=f"mdsdk {__version__}")
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = p.add_subparsers(dest="command", required=True)

    def conn(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--provider", default="sim", help="sim (default), dxlink, tastytrade, tradovate")
        sp.add_argument("--url", help="WebSocket URL (for dxlink or an emulator)")
        sp.add_argument("--api-url", dest="api_url", help="REST base URL")

    s = sub.add_parser("stream", help="stream live quotes/trades/bars")
    s.add_argument("symbols", nargs="+")
    conn(s)
    s.add_argument("--kinds", default="quote,trade", help="comma list of quote,trade,bar,summary,profile")
    s.add_argument("--interval", default=None, help="bar interval when --kinds has bar (default 1m)")
    s.add_argument("--seconds", type=float, default=None, help="stop after N seconds")
    s.add_argument("--format", choices=("table", "jsonl"), default="table")
    s.set_defaults(run=_stream)

    q = sub.add_parser("quote", help="print the latest quotes as a table")
    q.add_argument("symbols", nargs="+")
    conn(q)
    q.add_argument("--timeout", type=float, default=10.0)
    q.set_defaults(run=_quote)

    h = sub.add_parser("history", help="fetch bars to a table, CSV or parquet")
    h.add_argument("symbol")
    conn(h)
    h.add_argument("--interval", default="1d")
    h.add_argument("--start", required=True, help="ISO date/time, or relative like -2d")
    h.add_argument("--end", default=None)
    h.add_argument("--timeout", type=float, default=60.0)
    h.add_argument("-o", "--output", help="out.csv or out.parquet")
    h.set_defaults(run=_history)

    r = sub.add_parser("record", help="stream and record every frame to JSONL")
    r.add_argument("symbols", nargs="+")
    conn(r)
    r.add_argument("-o", "--output", required=True)
    r.add_argument("--kinds", default="quote,trade")
    r.add_argument("--interval", default=None)
    r.add_argument("--seconds", type=float, default=10.0)
    r.add_argument("--format", choices=("table", "jsonl"), default="table")
    r.set_defaults(run=lambda a, o: _stream(a, o, record=a.output))

    rp = sub.add_parser("replay", help="decode a recorded session")
    rp.add_argument("file")
    rp.add_argument("--provider", default="dxlink")
    rp.add_argument("--format", choices=("table", "jsonl"), default="table")
    rp.set_defaults(run=_replay)

    e = sub.add_parser("emulate", help="run a provider emulator on 127.0.0.1")
    e.add_argument("provider", choices=("dxlink", "tradovate"))
    e.add_argument("--port", type=int, default=0)
    e.add_argument("--tick", type=float, default=0.1)
    e.add_argument("--seed", type=int, default=7)
    e.add_argument("--no-auth", action="store_true", help="accept clients without a token")
    e.add_argument("--keepalive-timeout", type=float, default=60.0,
                   help="seconds of client silence before the DXLink emulator drops it")
    e.add_argument("--seconds", type=float, default=None, help="stop after N seconds")
    e.set_defaults(run=_emulate)
    return p


def main(argv: Optional[Sequence[str]] = None, out: TextIO = sys.stdout) -> int:
    """Run the command line; returns the exit code."""
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    try:
        return int(args.run(args, out))
    except (ConfigurationError, UnknownProviderError) as exc:
        if args.debug:
            raise
        sys.stderr.write(f"mdsdk: error: {exc}\n")
        return 2
    except MdsdkError as exc:
        if args.debug:
            raise
        sys.stderr.write(f"mdsdk: {type(exc).__name__}: {exc}\n")
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
