"""The ``mdsdk`` command line: stream, quote, history, record, replay, emulate, providers.

``quote``, ``history`` and ``replay`` write ``-o`` files (.csv, .parquet, .xlsx) through
:func:`mdsdk.export`; ``history`` and ``replay`` show a progress bar on a terminal.

Exit codes: 0 ok, 2 usage error, 1 runtime error (one line on stderr; the
traceback only with ``--debug``).
"""

from __future__ import annotations

import argparse
import contextlib
import inspect
import math
import signal
import sys
import threading
import time
from typing import Any, Callable, Dict, Iterator, Optional, Sequence, TextIO, Tuple

from . import _validate as check
from ._extras import need
from ._version import __version__
from .errors import ConfigurationError, MdsdkError, UnknownProviderError
from .events import EVENT_KINDS, Bar, Event, Quote, Status, Summary, Trade, to_json
from .registry import DEFAULT_PROVIDER, known_providers

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


def _connect(args: argparse.Namespace, record: Optional[str] = None) -> Any:
    from . import connect
    options: Dict[str, Any] = {}
    if getattr(args, "url", None):
        options["url"] = args.url
    if getattr(args, "api_url", None):
        options["api_url"] = args.api_url
    return connect(args.provider, record=record, **options)


def _sink(feed: Any, url: Optional[str]) -> Any:
    """A Redis Streams sink on ``feed`` when ``--sink`` names one (closed with the feed's ``with`` block)."""
    if not url:
        return contextlib.nullcontext()
    from .sinks import RedisStreamSink
    return RedisStreamSink(feed, url)


def _record(args: argparse.Namespace, out: TextIO) -> int:
    if args.output is None and args.sink is None:
        raise ConfigurationError("record needs somewhere to write: -o session.jsonl, --sink redis://host:6379/0, "
                                 "or both")
    return _stream(args, out, record=args.output)


def _stream(args: argparse.Namespace, out: TextIO, record: Optional[str] = None) -> int:
    kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
    stop = threading.Event()
    with _connect(args, record) as feed, _sink(feed, getattr(args, "sink", None)):
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
                    out.write((to_json(ev) if args.format == "jsonl" else _line(ev)) + "\n")
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
    if args.seconds is not None and args.watch is None:
        raise ConfigurationError("--seconds needs --watch (quote prints once without it)")
    if args.output:
        from .exports import check_target
        check_target(args.output)  # a bad path or a missing extra fails before connecting
    with _connect(args) as feed:
        for sym in args.symbols:
            feed.get_quote(sym, timeout=args.timeout)
        if args.watch is None:
            _show_quotes(feed, args, out)
        else:
            _watch(feed, args, out)
    return 0


def _show_quotes(feed: Any, args: argparse.Namespace, out: TextIO, clear: bool = False) -> None:
    """The quote table into ``--out`` (replaced atomically) or onto ``out``."""
    if args.output:
        from .exports import export
        export(feed.quotes(), args.output, sheet="quotes")
        return
    latest = [feed.get_quote(sym) for sym in args.symbols]  # all present now: the newest of each
    out.write(("\x1b[H\x1b[2J" if clear else "") + _quote_table(latest, time.time_ns()) + "\n")
    out.flush()


def _watch(feed: Any, args: argparse.Namespace, out: TextIO) -> None:
    """Show the quote table every ``--watch`` seconds until ``--seconds`` pass or Ctrl-C."""
    deadline = None if args.seconds is None else time.monotonic() + args.seconds
    clear = not args.output and _isatty(out)  # a terminal shows one table in place; a pipe gets each
    if args.output:
        out.write(f"writing the quotes of {', '.join(args.symbols)} to {args.output} every {args.watch:g} s "
                  "(Ctrl-C stops)\n")
        out.flush()
    writes, failing = 0, False
    try:
        while True:
            try:
                _show_quotes(feed, args, out, clear)
                writes, failing = writes + 1, False
            except ConfigurationError as exc:
                if not writes:
                    raise
                if not failing:  # e.g. a spreadsheet that locks the file: the next round may get through
                    sys.stderr.write(f"mdsdk: warning: {exc}; trying again every {args.watch:g} s\n")
                failing = True
            wait = args.watch
            if deadline is not None:
                wait = min(wait, deadline - time.monotonic())
                if wait <= 0:
                    break
            time.sleep(wait)
    except KeyboardInterrupt:
        pass
    if args.output:
        out.write(f"wrote {args.output} {writes} times\n")


def _number(v: float) -> str:
    # Ten significant digits keep any price exact but drop float noise (an ask minus a bid).
    return "NaN" if math.isnan(v) else f"{v:.10g}"


def _quote_table(quotes: Sequence[Quote], now_ns: int) -> str:
    """The columns of :meth:`Feed.quotes` as plain text: a terminal table
    must not wait for pandas to import, which costs more than the whole quote."""
    head: Tuple[str, ...] = ("symbol", "bid", "ask", "bid_size", "ask_size", "mid", "spread", "time", "age")
    rows = [head]
    for q in quotes:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(q.time // 1_000_000_000))
        rows.append((q.symbol, *map(_number, (q.bid, q.ask, q.bid_size, q.ask_size, q.mid, q.ask - q.bid)),
                     f"{stamp}.{(q.time // 1_000_000) % 1000:03d}+00:00", f"{(now_ns - q.time) / 1e9:.3f}"))
    widths = [max(map(len, col)) for col in zip(*rows)]
    return "\n".join("  ".join([row[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(row[1:], widths[1:])])
                     for row in rows)


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no such method, or a closed stream
        return False


def _progress(args: argparse.Namespace, shares_terminal: bool = False) -> bool:
    """``--progress`` / ``--no-progress``; by default a bar when stderr is a
    terminal that no printed output shares and tqdm is installed."""
    if args.progress is not None:
        return bool(args.progress)
    if shares_terminal or not _isatty(sys.stderr):
        return False
    try:
        need("tqdm")
    except ConfigurationError:
        return False
    return True


@contextlib.contextmanager
def _spinner(text: str, on: bool) -> Iterator[None]:
    """A spinner on stderr after the first second, when ``on`` (a terminal with no tqdm for a real bar)."""
    done = threading.Event()

    def spin() -> None:
        if done.wait(1.0):
            return
        marks = "|/-\\"
        i = 0
        while not done.wait(0.2):
            sys.stderr.write(f"\r{text} {marks[i % 4]}")
            sys.stderr.flush()
            i += 1
        sys.stderr.write("\r" + " " * (len(text) + 2) + "\r")

    thread = threading.Thread(target=spin, daemon=True, name="mdsdk-spinner") if on else None
    if thread is not None:
        thread.start()
    try:
        yield
    finally:
        done.set()
        if thread is not None:
            thread.join()


def _history(args: argparse.Namespace, out: TextIO) -> int:
    if args.output:
        from .exports import check_target
        check_target(args.output)  # before the pull, not after it
    progress = _progress(args)
    spin = args.progress is None and not progress and _isatty(sys.stderr)
    with _spinner(f"fetching {args.symbol} {args.interval} bars", spin):
        with _connect(args) as feed:
            df = feed.history(args.symbol, interval=args.interval, start=args.start, end=args.end,
                              timeout=args.timeout, progress=progress)
    if args.output:
        from .exports import export
        export(df, args.output)
        out.write(f"wrote {len(df)} bars to {args.output}\n")
    else:
        from .frames import to_text
        out.write(to_text(df, max_rows=40) + "\n")
    return 0


def _replay(args: argparse.Namespace, out: TextIO) -> int:
    from .replay import replay
    if args.kind is not None:
        from .registry import notice_kinds
        check.kinds(args.kind, EVENT_KINDS + tuple(sorted(notice_kinds())), "--kind")
    if args.output:
        from .exports import check_target
        check_target(args.output)
    progress = _progress(args, shares_terminal=not args.output and _isatty(out))
    if (args.file is None) == (args.source is None):
        raise ConfigurationError("replay needs one of: a recorded FILE, or --source redis://host:6379/0")
    events = (ev for ev in (_from_redis(args) if args.source else replay(args.file, provider=args.provider,
                                                                           progress=progress))
              if args.kind is None or ev.topic == args.kind)
    if args.output:
        from .exports import export
        kept = list(events)
        export(kept, args.output, kind=args.kind)
        out.write(f"wrote {len(kept)} events to {args.output}\n")
        return 0
    for ev in events:
        out.write((to_json(ev) if args.format == "jsonl" else _line(ev)) + "\n")
    return 0


def _from_redis(args: argparse.Namespace) -> Iterator[Event]:
    """Every event a Redis Streams sink published under ``--prefix`` (oldest first per stream), until none
    arrives for ``--wait`` seconds."""
    from .sinks import RedisStreamSource
    with RedisStreamSource(args.source, prefix=args.prefix, provider=args.provider, after="0",
                           timeout=args.wait) as source:
        yield from source


def _emulator_args(cls: Any, args: argparse.Namespace) -> Dict[str, Any]:
    """The command-line settings the emulator class accepts."""
    wanted = {"port": args.port, "tick": args.tick, "seed": args.seed,
              "keepalive_timeout": args.keepalive_timeout}
    if args.no_auth:
        wanted["require_auth"] = False
    accepted = inspect.signature(cls).parameters
    return {k: v for k, v in wanted.items() if k in accepted and v is not None}


def _emulate(args: argparse.Namespace, out: TextIO) -> int:
    from .registry import emulator_options, get_spec, load_object
    spec = get_spec(args.provider)
    if not spec.emulator:
        raise ConfigurationError(f"provider {spec.name!r} has no emulator")
    cls = load_object(spec.emulator)
    stop = threading.Event()
    with cls(**_emulator_args(cls, args)) as emu:
        # What points a client at this emulator (a provider that finds its socket over REST gets no --url).
        given = emulator_options(spec, emu)
        env = " ".join(f"MDSDK_{spec.name.upper()}_{k.upper()}={v}" for k, v in given.items()
                       if k not in ("url", "api_url") and not args.no_auth)
        urls = "".join(f" --{k.replace('_', '-')} {given[k]}" for k in ("url", "api_url") if k in given)
        symbol = getattr(emu, "example_symbol", "SYMBOL")
        out.write(f"{spec.name} emulator\n  url:     {emu.url}\n  api_url: {getattr(emu, 'api_url', None)}\n"
                  f"try: {env + ' ' if env else ''}mdsdk stream {symbol} --provider {spec.name}{urls}\n")
        out.flush()
        signal.signal(signal.SIGTERM, lambda *a: stop.set())
        try:
            stop.wait(args.seconds)
        except KeyboardInterrupt:
            pass
    return 0


def _providers(args: argparse.Namespace, out: TextIO) -> int:
    from .registry import get_spec, known_providers
    rows = [(name, get_spec(name)) for name in known_providers()]
    width = max(len(",".join(spec.capabilities.kinds)) for _, spec in rows)
    out.write(f"{'provider':<12} {'kinds':<{width}} {'history':<8} {'acks':<5} {'rpc':<5} {'emulator':<9} "
              "description\n")
    for name, spec in rows:
        c = spec.capabilities
        out.write(f"{name:<12} {','.join(c.kinds):<{width}} {_yes(c.history):<8} {_yes(c.acks):<5} {_yes(c.rpc):<5} "
                  f"{_yes(bool(spec.emulator)):<9} {spec.description}\n")
    return 0


def _yes(flag: bool) -> str:
    return "yes" if flag else "-"


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line usage error (the usage is one ``--help`` away)."""

    def error(self, message: str) -> Any:  # argparse's signature says NoReturn; it exits
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _arg(convert: Callable[[str, Any], Any], kind: Callable[[str], Any]) -> Callable[[str], Any]:
    """An argparse type: ``kind(text)`` checked by ``convert(name, value)``."""
    def parse(text: str) -> Any:
        try:
            return convert("value", kind(text))
        except (ValueError, OverflowError) as exc:  # ConfigurationError is a ValueError
            raise argparse.ArgumentTypeError(str(exc) if isinstance(exc, MdsdkError) else
                                             f"{text!r} is not a {'whole ' if kind is int else ''}number") from None
    parse.__name__ = kind.__name__
    return parse


_SECONDS = _arg(check.seconds, float)
_POSITIVE = _arg(lambda n, v: check.seconds(n, v, positive=True), float)
_PORT = _arg(lambda n, v: check.integer(n, v, high=65535), int)
_SEED = _arg(check.integer, int)


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="mdsdk", description="Market data from streaming WebSocket APIs.")
    p.add_argument("--version", action="version", version=f"mdsdk {__version__}")
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = p.add_subparsers(dest="command", required=True)

    def conn(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--provider", default=DEFAULT_PROVIDER,
                        help=f"one of {', '.join(known_providers())} (default {DEFAULT_PROVIDER}; "
                        "see `mdsdk providers`)")
        sp.add_argument("--url", help="WebSocket URL (a server of your own, or an emulator)")
        sp.add_argument("--api-url", dest="api_url", help="REST base URL")

    s = sub.add_parser("stream", help="stream live quotes/trades/bars")
    s.add_argument("symbols", nargs="+")
    conn(s)
    s.add_argument("--kinds", default="quote,trade", help="comma list of quote,trade,bar,summary,profile")
    s.add_argument("--interval", default=None, help="bar interval when --kinds has bar (default 1m)")
    s.add_argument("--seconds", type=_SECONDS, default=None, help="stop after N seconds")
    s.add_argument("--format", choices=("table", "jsonl"), default="table")
    s.set_defaults(run=_stream)

    q = sub.add_parser("quote", help="print the latest quotes as a table")
    q.add_argument("symbols", nargs="+")
    conn(q)
    q.add_argument("--timeout", type=_SECONDS, default=10.0)
    q.add_argument("-o", "--out", "--output", dest="output",
                   help="write the table to a .xlsx, .csv or .parquet file (replaced atomically) instead of printing")
    q.add_argument("--watch", type=_POSITIVE, default=None, metavar="SECONDS",
                   help="refresh the table every SECONDS until --seconds pass or Ctrl-C")
    q.add_argument("--seconds", type=_SECONDS, default=None, help="with --watch: stop after N seconds")
    q.set_defaults(run=_quote)

    def progress(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                        help="show a progress bar on stderr (needs the progress extra; default: when stderr is a "
                        "terminal)")

    h = sub.add_parser("history", help="fetch bars to a table, CSV, Parquet or Excel")
    h.add_argument("symbol")
    conn(h)
    h.add_argument("--interval", default="1d")
    h.add_argument("--start", required=True, help="ISO date/time, or relative like -2d")
    h.add_argument("--end", default=None)
    h.add_argument("--timeout", type=_SECONDS, default=60.0)
    h.add_argument("-o", "--output", help="out.csv, out.parquet or out.xlsx (times in UTC)")
    progress(h)
    h.set_defaults(run=_history)

    r = sub.add_parser("record", help="stream and record every frame to JSONL")
    r.add_argument("symbols", nargs="+")
    conn(r)
    r.add_argument("-o", "--output", default=None, help="the JSONL recording of every frame")
    r.add_argument("--sink", default=None, help="also publish every event to Redis Streams: redis://host:6379/0")
    r.add_argument("--kinds", default="quote,trade")
    r.add_argument("--interval", default=None)
    r.add_argument("--seconds", type=_SECONDS, default=10.0)
    r.add_argument("--format", choices=("table", "jsonl"), default="table")
    r.set_defaults(run=_record)

    rp = sub.add_parser("replay", help="decode a recorded session, or export it to a file")
    rp.add_argument("file", nargs="?", default=None)
    rp.add_argument("--source", default=None, help="read what a --sink published instead: redis://host:6379/0")
    rp.add_argument("--prefix", default="mdsdk", help="the sink's stream prefix (with --source)")
    rp.add_argument("--wait", type=_SECONDS, default=1.0, help="with --source: stop after N seconds without news")
    rp.add_argument("--provider", default=None, help="default: the provider named in the recording")
    rp.add_argument("--format", choices=("table", "jsonl"), default="table")
    rp.add_argument("--kind", default=None, help="only events of this kind (quote, trade, bar, status, ...)")
    rp.add_argument("-o", "--output", help="out.xlsx (a sheet per kind), out.csv or out.parquet (one table with an "
                    "event column, or the --kind table)")
    progress(rp)
    rp.set_defaults(run=_replay)

    pv = sub.add_parser("providers", help="list the providers and what each can do")
    pv.set_defaults(run=_providers)

    e = sub.add_parser("emulate", help="run a provider's emulator on 127.0.0.1")
    e.add_argument("provider", help="a provider name (see `mdsdk providers`)")
    e.add_argument("--port", type=_PORT, default=0)
    e.add_argument("--tick", type=_POSITIVE, default=None)
    e.add_argument("--seed", type=_SEED, default=None)
    e.add_argument("--no-auth", action="store_true", help="accept clients without a token")
    e.add_argument("--keepalive-timeout", type=_POSITIVE, default=None,
                   help="seconds of client silence before the emulator drops it (where it has the setting)")
    e.add_argument("--seconds", type=_SECONDS, default=None, help="stop after N seconds")
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
    except OSError as exc:  # a port in use, an unwritable file: the system said no
        if args.debug:
            raise
        sys.stderr.write(f"mdsdk: error: {exc.strerror or exc}"
                         f"{': ' + str(exc.filename) if exc.filename else ''}\n")
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
