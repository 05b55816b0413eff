"""The fuzz harness: every provider's fixture frames, mutated, through its
protocol object in the ready state, against the receive contract.

A provider takes part by having an emulator and naming its fixture
directories (``ProviderSpec.fixtures``); nothing here names a provider.

* :func:`fixture_frames` lists the ``"in"`` frames of a provider's fixtures.
* :func:`handshake` runs a real handshake: the provider's emulator, its
  protocol object over a real socket (and REST, for logins and lookups), up
  to Ready and acknowledged subscriptions to the emulator's example symbol
  and to the symbols of the fixture frames. Every call into the protocol
  object is recorded, so :meth:`Handshake.rebuild` makes a fresh ready
  object in memory, without a socket, as often as a fuzzed frame ends one.
* :func:`make_mutators` gives pure mutators of a frame's text (see
  :data:`MUTATIONS`); they work on the JSON structure where the frame parses
  (after a non-JSON prefix such as Tradovate's ``a``), on the text otherwise.
* :class:`Fuzzer` feeds one frame at a time and checks the contract:
  ``receive`` never raises; every event holds :func:`~mdsdk.testing.invariants.violations`;
  at most one malformed-frame ``Status(error)`` per frame; bounded output;
  a next deadline that is None or a finite float and that does not stay
  due after ``handle_timer`` (no busy loop).

The hypothesis tests (``tests/test_fuzz.py``) and ``python -m benchmarks.fuzz``
both drive it.
"""

from __future__ import annotations

import json
import math
import pathlib
import random
import time
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from ..errors import ConnectionLost, MdsdkError
from ..events import Event, Status
from ..http import HttpClient
from ..providers.base import (SUBSCRIBABLE_KINDS, Config, Endpoint, Fatal, ProviderProtocol, ProviderSpec,
                              Ready, Reconnect, Reply, Subscribe, Subscription, resolve_options)
from ..providers.core import MIN_INTERVAL
from ..registry import emulator_options, get_spec, known_providers, load_object
from ..transport import WebSocketTransport, readable
from .invariants import violations

__all__ = ["fixture_frames", "fuzzable_specs", "handshake", "Handshake", "make_mutators", "mutate", "Mutator",
           "MUTATIONS", "split_prefix", "Fuzzer", "Finding", "Report", "run", "MAX_OUTPUT"]

Mutator = Callable[[str, random.Random], str]
Step = Tuple[str, Tuple[Any, ...]]
MAX_OUTPUT = 64          # frames, REST calls or signals one frame may cause
MAX_SYMBOLS = 8          # fixture symbols subscribed to during the handshake
_EXAMPLES = 20           # findings kept per kind

# ---------------------------------------------------------------- the corpus
def fixture_frames(spec: ProviderSpec, root: pathlib.Path) -> List[str]:
    """The server frames (``{"dir": "in", "raw": ...}`` lines) of every
    ``*.jsonl`` file in ``spec``'s fixture directories under ``root``, in
    file order; a missing directory gives nothing."""
    frames: List[str] = []
    for name in spec.fixtures:
        for path in sorted((root / name).glob("*.jsonl")):
            for line in path.read_text(encoding="utf-8").splitlines():
                try:
                    obj = json.loads(line) if line.strip() else None
                except ValueError:
                    continue
                if isinstance(obj, dict) and obj.get("dir") == "in" and isinstance(obj.get("raw"), str):
                    frames.append(obj["raw"])
    return frames


def fuzzable_specs(root: pathlib.Path) -> List[ProviderSpec]:
    """Every registered provider with an emulator and fixture frames under ``root``."""
    specs = [get_spec(name) for name in known_providers()]
    return [s for s in specs if s.emulator and fixture_frames(s, root)]


# ---------------------------------------------------------------- mutators
def split_prefix(text: str) -> Tuple[str, str]:
    """``(prefix, body)``: whatever precedes the first ``[`` or ``{`` (a
    frame-type character such as Tradovate's ``a``), and the rest."""
    starts = [i for i in (text.find("["), text.find("{")) if i >= 0]
    i = min(starts) if starts else len(text)
    return text[:i], text[i:]


_HOLE = "\x00mdsdk-fuzz-hole\x00"
_HOLE_JSON = json.dumps(_HOLE)
_MILLION_DIGITS = "9" * 1_000_000
_NUMBERS = ("1e999", "-1e999", "Infinity", "-Infinity", "NaN", "1" + "0" * 400, "7" * 1000, _MILLION_DIGITS,
            "-0", "1e-320", "9223372036854775808", "-9223372036854775809", "1.5", "0", "-1", "4.2e15",
            '"Infinity"', '"NaN"', '"1e999"', '"' + "7" * 1000 + '"', '"' + _MILLION_DIGITS + '"')
_SWAPS = ("[]", "{}", "null", "true", "false", '"x"', '""', "[[1,2],[3]]", "0", '{"a":{"b":[]}}', '["x",1,null]')
_NESTS = ("[" * 100_000, "[" * 100_000 + "]" * 100_000, '{"a":' * 50_000 + "1" + "}" * 50_000,
          "[" * 1000 + "]" * 1000)
_LONG = ('"' + "x" * 1_000_000 + '"', json.dumps("\u00e9\\\"\u2028\x00" * 200_000), '"' + "ab" * 50_000 + '"')
_CHARS = '"[]{},:0123456789-.eE aZ\\\x00\u00e9\n'
_WORDS = ("Nope", "", "FEED_DATA", "type", "e", "d", "data", "Candle", "Quote", "md", "chart", "UNKNOWN")


def _parse(body: str) -> Tuple[bool, Any]:
    try:
        return True, json.loads(body)
    except (ValueError, RecursionError):
        return False, None


def _slots(doc: Any, limit: int = 4000) -> List[Tuple[Any, Any]]:
    """``(container, key)`` of up to ``limit`` nodes of ``doc``, breadth
    first; ``(None, None)`` is the root."""
    out: List[Tuple[Any, Any]] = [(None, None)]
    queue = [doc]
    while queue and len(out) < limit:
        node = queue.pop(0)
        keys: Sequence[Any] = list(node) if isinstance(node, dict) else \
            range(len(node)) if isinstance(node, list) else ()
        for k in keys:
            out.append((node, k))
            queue.append(node[k])
    return out


def _dumps(doc: Any) -> Optional[str]:
    try:
        return json.dumps(doc, separators=(",", ":"))
    except (ValueError, RecursionError):
        return None


def _at_node(text: str, rng: random.Random, token: Callable[[Any], str]) -> str:
    """``text`` with one random JSON node replaced by the raw text
    ``token(node)``; at a random place of the text when it is not JSON."""
    prefix, body = split_prefix(text)
    ok, doc = _parse(body)
    if not ok:
        i = rng.randrange(len(text) + 1)
        return text[:i] + token(None) + text[i:]
    container, key = rng.choice(_slots(doc))
    raw = token(doc if container is None else container[key])
    if container is None:
        return prefix + raw
    container[key] = _HOLE
    dumped = _dumps(doc)
    return text if dumped is None else prefix + dumped.replace(_HOLE_JSON, raw, 1)


def _recount(node: Any, rng: random.Random) -> str:
    """``node`` with one item dropped or repeated (a key, for an object)."""
    if isinstance(node, list) and node:
        i = rng.randrange(len(node))
        node = node[:i] + node[i + 1:] if rng.random() < 0.5 else node[:i] + [node[i]] * rng.choice((2, 3, 50)) \
            + node[i + 1:]
    elif isinstance(node, dict) and node:
        key = rng.choice(list(node))
        node = {k: v for k, v in node.items() if k != key} if rng.random() < 0.5 else dict(node, extraField=node[key])
    else:
        return rng.choice(("[]", "[1]", '["x","y","z"]'))
    return _dumps(node) or "[]"


def _rename(text: str, rng: random.Random, words: Sequence[str]) -> str:
    """One key of a JSON object renamed to another word of the corpus."""
    prefix, body = split_prefix(text)
    ok, doc = _parse(body)
    dicts = [node for node, _ in _slots(doc) if isinstance(node, dict)] if ok else []
    if not dicts:
        return text
    node = rng.choice(dicts)
    old = rng.choice(list(node))
    node[rng.choice(words)] = node.pop(old)
    return prefix + (_dumps(doc) or body)


def _flip(text: str, rng: random.Random) -> str:
    chars = list(text) or [" "]
    for _ in range(rng.randint(1, 4)):
        chars[rng.randrange(len(chars))] = rng.choice(_CHARS)
    return "".join(chars)


def _words(corpus: Sequence[str]) -> List[str]:
    """Short strings (keys and values) of the corpus, for type confusion."""
    found = set(_WORDS)
    for text in corpus:
        ok, doc = _parse(split_prefix(text)[1])
        for container, key in _slots(doc, 500) if ok else ():
            for s in (key, container[key] if container is not None else None):
                if isinstance(s, str) and len(s) <= 40:
                    found.add(s)
    return sorted(found)


def _other_node(corpus: Sequence[str], rng: random.Random) -> str:
    ok, doc = _parse(split_prefix(rng.choice(corpus))[1])
    if not ok:
        return "null"
    container, key = rng.choice(_slots(doc))
    return _dumps(doc if container is None else container[key]) or "null"


def _splice_text(text: str, rng: random.Random, corpus: Sequence[str]) -> str:
    other = rng.choice(corpus)
    return text[:rng.randrange(len(text) + 1)] + other[rng.randrange(len(other) + 1):]

def make_mutators(corpus: Sequence[str]) -> Dict[str, Mutator]:
    """The mutators by name, each a pure function of ``(text, rng)``; the
    splices and word swaps draw from ``corpus`` (non-empty)."""
    words = _words(corpus)
    return {
        "flip": _flip,
        "truncate": lambda t, r: t[:r.randrange(len(t) + 1)],
        "nest": lambda t, r: _at_node(t, r, lambda _: r.choice(_NESTS)),
        "number": lambda t, r: _at_node(t, r, lambda _: r.choice(_NUMBERS)),
        "type_swap": lambda t, r: _at_node(t, r, lambda _: r.choice(_SWAPS)),
        "field_count": lambda t, r: _at_node(t, r, lambda n: _recount(n, r)),
        "unknown_type": lambda t, r: _at_node(t, r, lambda _: json.dumps(r.choice(words))),
        "rename_key": lambda t, r: _rename(t, r, words),
        "splice": lambda t, r: _at_node(t, r, lambda _: _other_node(corpus, r)),
        "splice_text": lambda t, r: _splice_text(t, r, corpus),
        "long_string": lambda t, r: _at_node(t, r, lambda _: r.choice(_LONG)),
    }


# How often each mutation is drawn: the huge ones (1 MB, 100k deep) are slow.
MUTATIONS: Dict[str, int] = {"flip": 8, "truncate": 4, "nest": 1, "number": 8, "type_swap": 10, "field_count": 8,
                             "unknown_type": 8, "rename_key": 4, "splice": 6, "splice_text": 2, "long_string": 1}


def mutate(text: str, rng: random.Random, mutators: Dict[str, Mutator]) -> Tuple[str, str]:
    """``(name, mutated text)``: one to three weighted mutations of ``text``."""
    names = [n for n in MUTATIONS if n in mutators]
    chosen = rng.choices(names, [MUTATIONS[n] for n in names], k=rng.choice((1, 1, 1, 2, 3)))
    for name in chosen:
        text = mutators[name](text, rng)
    return "+".join(chosen), text


# ---------------------------------------------------------------- the handshake
@dataclass
class Handshake:
    """A recorded handshake of ``spec`` against its emulator: ``steps`` are
    the calls made to the protocol object (method name, arguments), in order;
    ``received`` the frames the emulator sent (more corpus); ``now`` and
    ``wall_ns`` the clocks at its end."""

    spec: ProviderSpec
    config: Config
    steps: List[Step]
    received: List[str]
    now: float
    wall_ns: int

    def rebuild(self) -> ProviderProtocol:
        """A fresh protocol object in the state the handshake left it: ready,
        subscribed, its output drained. No socket: the calls are replayed."""
        proto = self.spec.make_protocol(self.config)
        for name, args in self.steps:
            getattr(proto, name)(*args)
            _drain(proto)
        return proto


def _drain(proto: ProviderProtocol) -> Tuple[List[str], List[Any], List[Any], List[Event]]:
    signals, proto.signals[:] = list(proto.signals), []
    news, proto.news[:] = list(proto.news), []
    return proto.outgoing(), proto.http_outgoing(), signals, news


class _Driver:
    """Drives one protocol object over a real socket and REST, recording every call."""

    def __init__(self, proto: ProviderProtocol, http: Optional[HttpClient], timeout: float) -> None:
        self.proto, self.http = proto, http
        self.until = time.monotonic() + timeout
        self.steps: List[Step] = []
        self.signals: List[Any] = []
        self.received: List[str] = []
        self.transport: Optional[WebSocketTransport] = None

    @staticmethod
    def clocks() -> Tuple[float, int]:
        return time.monotonic(), time.time_ns()
    def call(self, name: str, *args: Any) -> Any:
        self.steps.append((name, args))
        result = getattr(self.proto, name)(*args)
        self._flush()
        return result

    def _flush(self) -> None:
        out, calls, signals, _ = _drain(self.proto)
        self.signals += signals
        fatal = [s for s in signals if isinstance(s, (Fatal, Reconnect))]
        if fatal:
            raise RuntimeError(f"the {self.proto.provider} handshake failed: {fatal[0].error}")
        for text in out:
            if self.transport is not None:
                self.transport.send(text)
        for call_id, req in calls:
            answer: Any
            try:
                answer = req.run() if req.run is not None else (
                    self.http.perform(req) if self.http else MdsdkError("no REST base URL"))
            except MdsdkError as exc:
                answer = exc
            self.call("http_response", call_id, answer, *self.clocks())

    def login(self) -> Endpoint:
        while True:
            ep: Optional[Endpoint] = self.call("endpoint", *self.clocks())
            if ep is not None:
                return ep
            self._wait(None)

    def pump(self, done: Callable[[], bool]) -> None:
        """Read frames and fire timers until ``done()``."""
        while not done():
            self._wait(self.transport)
            text = self.transport.recv() if self.transport is not None else None
            if text is not None:
                self.received.append(text)
                self.call("receive", text, *self.clocks())
            deadline = self.proto.next_deadline()
            now, wall = self.clocks()
            if deadline is not None and now >= deadline:
                self.call("handle_timer", now, wall)

    def _wait(self, transport: Optional[WebSocketTransport]) -> None:
        if time.monotonic() > self.until:
            raise TimeoutError(f"the {self.proto.provider} handshake did not finish in time")
        if transport is None:
            time.sleep(0.01)
        elif not transport.pending():
            readable((transport.fileno(),), 0.05)

    def subscribe(self, request_id: int, subs: List[Subscription]) -> None:
        if subs:
            self.call("request", request_id, Subscribe(tuple(subs)), *self.clocks())
            self.pump(lambda: any(isinstance(s, Reply) and s.request_id == request_id for s in self.signals))


def _subscriptions(spec: ProviderSpec, symbols: Sequence[str]) -> List[Subscription]:
    kinds = [k for k in spec.capabilities.kinds if k in SUBSCRIBABLE_KINDS]
    return [Subscription(k, s, "1m" if k == "bar" else None) for s in symbols for k in kinds]


def _corpus_symbols(hs: Handshake, frames: Sequence[str]) -> List[str]:
    """The symbols of the events the fixture frames carry, through a copy of the ready object."""
    proto = hs.rebuild()
    found: Dict[str, None] = {}
    for text in frames:
        try:
            events = proto.receive(text, hs.now, hs.wall_ns)
        except Exception:  # noqa: BLE001 - the fuzzer reports escapes; here we only look for names
            proto = hs.rebuild()
            continue
        found.update((e.symbol, None) for e in events if not isinstance(e, Status) and e.symbol.__class__ is str)
        if any(isinstance(s, (Fatal, Reconnect)) for s in _drain(proto)[2]):
            proto = hs.rebuild()
    return [s for s in found if s][:MAX_SYMBOLS]


def handshake(spec: ProviderSpec, frames: Sequence[str] = (), timeout: float = 30.0) -> Handshake:
    """Run ``spec``'s emulator, connect its protocol object over a real
    socket (REST through :class:`~mdsdk.http.HttpClient`), wait for Ready
    and for the replies to subscriptions of every kind to the emulator's
    ``example_symbol`` and to the symbols of ``frames``; then close the
    socket without telling the protocol object, and stop the emulator.
    Raises RuntimeError or TimeoutError when the handshake fails."""
    if not spec.emulator:
        raise RuntimeError(f"provider {spec.name!r} has no emulator to fuzz against")
    args = {o.name: o.default for o in spec.options if o.emulator and o.default is not None}
    with load_object(spec.emulator)(**args) as server:
        config = resolve_options(spec.name, spec.options, emulator_options(spec, server), environ={})
        proto = spec.make_protocol(config)
        http = HttpClient(proto.api_url, secrets=config.secrets) if proto.api_url else None
        try:
            return _connect(spec, config, _Driver(proto, http, timeout), server, frames)
        finally:
            if http is not None:
                http.close()


def _connect(spec: ProviderSpec, config: Config, drv: _Driver, server: Any, frames: Sequence[str]) -> Handshake:
    ep = drv.login()
    drv.transport = WebSocketTransport(ep.url, headers=dict(ep.headers), secrets=config.secrets + ep.secrets)
    drv.transport.open()
    try:
        drv.call("connection_made", *drv.clocks())
        drv.pump(lambda: any(isinstance(s, Ready) for s in drv.signals))
        example = getattr(server, "example_symbol", None)
        drv.subscribe(1, _subscriptions(spec, [example] if example else []))
        now, wall = drv.clocks()
        hs = Handshake(spec, config, list(drv.steps), [], now, wall)
        drv.subscribe(2, _subscriptions(spec, [s for s in _corpus_symbols(hs, frames) if s != example]))
    finally:
        drv.transport.close()  # and never connection_lost(): the object stays ready
    now, wall = drv.clocks()
    return Handshake(spec, config, drv.steps, drv.received, now, wall)


# ---------------------------------------------------------------- the contract
@dataclass(frozen=True)
class Finding:
    """One breach of the contract: ``kind`` is escape, invariant,
    amplification, output, deadline or busy_loop; ``frame`` a short repr of
    the frame that caused it, ``mutation`` how it was made."""

    kind: str
    detail: str
    mutation: str
    frame: str


@dataclass
class Report:
    """What a fuzz run found for one provider: counts by kind, the first
    findings of each kind, where escapes were raised, and the slowest frame
    (seconds, mutation, short repr)."""

    provider: str
    frames: int = 0
    seconds: float = 0.0
    rebuilds: int = 0
    counts: Dict[str, int] = field(default_factory=dict)
    examples: List[Finding] = field(default_factory=list)
    escape_sites: Dict[str, int] = field(default_factory=dict)
    slowest: Tuple[float, str, str] = (0.0, "", "")

    def add(self, finding: Finding) -> None:
        """Count ``finding``, keeping the first few of its kind."""
        self.counts[finding.kind] = self.counts.get(finding.kind, 0) + 1
        if self.counts[finding.kind] <= _EXAMPLES:
            self.examples.append(finding)

    def count(self, *kinds: str) -> int:
        """Findings of ``kinds``."""
        return sum(self.counts.get(k, 0) for k in kinds)

    @property
    def ok(self) -> bool:
        """True when nothing breached the contract."""
        return not self.counts


def _short(text: str, n: int = 80) -> str:
    return repr(text[:n]) + (f"...(+{len(text) - n} chars)" if len(text) > n else "")


def _site(exc: BaseException) -> str:
    """Where ``exc`` was raised: the innermost frame in mdsdk, else the innermost."""
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in frames if "/mdsdk/" in f.filename.replace("\\", "/")] or frames
    return f"{pathlib.Path(ours[-1].filename).name}:{ours[-1].lineno} in {ours[-1].name}" if ours else "?"


class Fuzzer:
    """Feeds frames to a ready protocol object rebuilt from ``hs`` and checks
    the receive contract after each (see the module docstring). Time is
    virtual: it starts where the handshake ended, moves a millisecond per
    frame and jumps to every deadline the object asks for."""

    def __init__(self, hs: Handshake) -> None:
        self.hs = hs
        self.report = Report(hs.spec.name)
        self.now = hs.now
        self.proto = hs.rebuild()
        self._not_ready = 0

    @property
    def wall_ns(self) -> int:
        """The wall clock matching the virtual monotonic one."""
        return self.hs.wall_ns + int((self.now - self.hs.now) * 1e9)

    def _rebuild(self) -> None:
        self.proto = self.hs.rebuild()
        self.report.rebuilds += 1
        self._not_ready = 0

    def feed(self, text: str, mutation: str = "corpus") -> List[Finding]:
        """Feed one frame; return (and count) what it breached."""
        found: List[Tuple[str, str]] = []
        t0 = time.perf_counter()
        self.now += 0.001
        malformed = self.proto.malformed
        try:
            events = self.proto.receive(text, self.now, self.wall_ns)
        except Exception as exc:  # noqa: BLE001 - the contract under test: nothing escapes receive
            found.append(self._escape(exc, "receive"))
            self._rebuild()
            events = []
        else:
            found += self._events(events, self.proto.malformed - malformed)
            found += self._after()
        spent = time.perf_counter() - t0
        if spent > self.report.slowest[0]:
            self.report.slowest = (spent, mutation, _short(text))
        self.report.frames += 1
        self.report.seconds += spent
        findings = [Finding(kind, detail, mutation, _short(text)) for kind, detail in found]
        for f in findings:
            self.report.add(f)
        return findings

    def _escape(self, exc: Exception, where: str) -> Tuple[str, str]:
        site, sites = _site(exc), self.report.escape_sites
        sites[f"{type(exc).__name__} at {site}"] = sites.get(f"{type(exc).__name__} at {site}", 0) + 1
        return "escape", f"{where} raised {type(exc).__name__}: {str(exc)[:200]} ({site})"

    def _events(self, events: Any, malformed: int) -> List[Tuple[str, str]]:
        if not isinstance(events, list):
            return [("invariant", f"receive returned {type(events).__name__}, not a list")]
        found = [("invariant", f"{type(ev).__name__}: {'; '.join(v)}") for ev in events for v in [violations(ev)] if v]
        reports = sum(1 for ev in events if isinstance(ev, Status) and ev.kind == "error" and "malformed" in ev.extra)
        if malformed > 1 or reports > 1:
            found.append(("amplification", f"one frame counted {malformed} malformed and gave {reports} "
                                           f"malformed-frame Status events ({len(events)} events in all)"))
        return found[:5]

    def _after(self) -> List[Tuple[str, str]]:
        """Drain the output, then the timer contract; rebuild when the object ended."""
        found = self._output()
        if found and found[-1][0] == "ended":
            found.pop()
            self._rebuild()
            return found
        found += self._timers()
        self._not_ready = 0 if self.proto.ready else self._not_ready + 1
        if self._not_ready > 50:
            self._rebuild()  # a long detour outside the ready state: back to where fuzzing pays
        return found

    def _output(self) -> List[Tuple[str, str]]:
        out, calls, signals, news = _drain(self.proto)
        found = [("invariant", f"news {type(ev).__name__}: {'; '.join(v)}") for ev in news for v in [violations(ev)]
                 if v]
        for what, items in (("frames", out), ("REST calls", calls), ("signals", signals)):
            if len(items) > MAX_OUTPUT:
                found.append(("output", f"one frame queued {len(items)} {what} (limit {MAX_OUTPUT})"))
        if any(isinstance(s, (Fatal, Reconnect)) for s in signals):
            found.append(("ended", ""))
        return found

    def _timers(self) -> List[Tuple[str, str]]:
        """Fire the next deadline; a deadline that stays due three times running is a busy loop."""
        for _ in range(3):
            deadline = self.proto.next_deadline()
            if deadline is None:
                return []
            if deadline.__class__ is not float or not math.isfinite(deadline):
                self._rebuild()
                return [("deadline", f"next_deadline() returned {deadline!r}")]
            self.now = max(self.now, deadline)
            try:
                self.proto.handle_timer(self.now, self.wall_ns)
            except ConnectionLost:
                self._rebuild()  # legal: the peer is overdue or said goodbye
                return []
            except Exception as exc:  # noqa: BLE001 - the contract under test
                self._rebuild()
                return [self._escape(exc, "handle_timer")]
            found = self._output()
            if found and found[-1][0] == "ended":
                self._rebuild()
                return found[:-1]
            after = self.proto.next_deadline()
            if found or after is None or after >= self.now + MIN_INTERVAL / 2:
                return found
        self._rebuild()
        return [("busy_loop", f"after handle_timer({self.now:.3f}) the next deadline is still {after!r}")]


def run(hs: Handshake, corpus: Sequence[str], frames: int, seed: int = 0,
        progress: Optional[Callable[[Report], None]] = None) -> Report:
    """Feed ``corpus`` unmutated, then ``frames`` mutated frames (plain
    ``random`` seeded with ``seed``) through a :class:`Fuzzer` of ``hs``;
    ``progress`` is called every 10,000 frames. Returns its report."""
    fuzzer = Fuzzer(hs)
    for text in corpus:
        fuzzer.feed(text)
    rng = random.Random(seed)
    mutators = make_mutators(corpus)
    for i in range(frames):
        name, text = mutate(rng.choice(corpus), rng, mutators)
        fuzzer.feed(text, name)
        if progress is not None and i % 10_000 == 9_999:
            progress(fuzzer.report)
    return fuzzer.report
