"""The fuzzer (DESIGN.md section 8): every registered provider with fixtures
gets its fixture frames mutated (hypothesis picks the frame, the mutation
and the seed) through a protocol object made ready by a real handshake
against its emulator, checked against the receive contract and the event
invariants. Bounded for CI; ``python -m benchmarks.fuzz`` is the long run.
Also: the invariant checker itself, and the fixture corpus through it."""

from __future__ import annotations

import math
import random
from typing import Any, Dict, Iterator, List, Tuple

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mdsdk.events import EMPTY, Bar, BookSnapshot, Profile, Quote, Status, Trade
from mdsdk.registry import get_spec, known_providers
from mdsdk.testing import fuzz
from mdsdk.testing.invariants import MAX_TIME_NS, check_events, violations

from .conftest import FIXTURES

T = 1_700_000_000_000_000_000
PROVIDERS = [name for name in known_providers() if get_spec(name).fixtures and get_spec(name).emulator]
Rig = Tuple[fuzz.Fuzzer, List[str], Dict[str, fuzz.Mutator]]


@pytest.fixture(scope="module", params=PROVIDERS)
def rig(request: Any) -> Iterator[Rig]:
    """One real handshake per provider per module; the fuzzer replays it in memory after that."""
    spec = get_spec(request.param)
    if not FIXTURES.exists():
        pytest.skip(f"{FIXTURES} not found: ../shared/fixtures is not beside the project "
                    "(set MDSDK_SHARED to run the fuzz tests)")
    frames = fuzz.fixture_frames(spec, FIXTURES)
    if not frames:
        pytest.skip(f"no fixture frames for {spec.name} under {FIXTURES}")
    hs = fuzz.handshake(spec, frames)
    corpus = frames + hs.received[:20]
    yield fuzz.Fuzzer(hs), corpus, fuzz.make_mutators(corpus)


def test_the_fixture_corpus_holds_the_contract(rig: Rig) -> None:
    fuzzer, corpus, _ = rig
    found = [f for text in corpus for f in fuzzer.feed(text)]
    assert not found, found[:5]
    assert fuzzer.proto.ready or fuzzer.report.rebuilds


@settings(max_examples=250, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_mutated_frames_hold_the_contract(rig: Rig, data: st.DataObject) -> None:
    fuzzer, corpus, mutators = rig
    frame = data.draw(st.sampled_from(corpus), label="frame")
    names = data.draw(st.lists(st.sampled_from(sorted(mutators)), min_size=1, max_size=3), label="mutations")
    rng = random.Random(data.draw(st.integers(0, 2**32 - 1), label="seed"))
    for name in names:
        frame = mutators[name](frame, rng)
    found = fuzzer.feed(frame, "+".join(names))
    assert not found, found


@settings(max_examples=60, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_a_burst_decodes_as_its_frames_do(rig: Rig, data: st.DataObject) -> None:
    """receive_many (what the runtime calls with every frame of a socket read)
    gives what receive() frame by frame gives, for bursts of good and mutated
    frames: same events in the same order, same malformed count."""
    fuzzer, corpus, mutators = rig
    picks = data.draw(st.lists(st.tuples(st.sampled_from(corpus), st.integers(1, 4)), min_size=1, max_size=8),
                      label="frames and repeats")  # repeats make runs of data frames, which decode jointly
    rng = random.Random(data.draw(st.integers(0, 2**32 - 1), label="seed"))
    burst = [mutators[rng.choice(sorted(mutators))](f, rng) if rng.random() < 0.3 else f
             for frame, times in picks for f in [frame] * times]
    one, many = fuzzer.hs.rebuild(), fuzzer.hs.rebuild()
    now, wall = fuzzer.hs.now + 1, fuzzer.hs.wall_ns + 10**9
    for proto in (one, many):  # every layout the corpus announces, and its decoders, exist before the burst
        for text in corpus:
            try:
                proto.receive(text, now, wall)
            except Exception:  # noqa: BLE001 - the same frames on both: only the burst is compared
                pass
    single: List[Any] = []
    for text in burst:
        try:
            single += one.receive(text, now, wall)
        except Exception:  # noqa: BLE001 - a bug costs that frame: receive_many keeps it in faults
            pass
    joint = many.receive_many(burst, now, wall)
    assert repr(joint) == repr(single)  # repr: nan is unequal to itself
    assert getattr(many, "malformed", 0) == getattr(one, "malformed", 0)


def test_the_mutators_make_what_they_promise() -> None:
    rng = random.Random(1)
    frame = 'a[{"e":"md","d":{"quotes":[{"contractId":1}]}}]'
    muts = fuzz.make_mutators([frame])
    assert fuzz.split_prefix(frame) == ("a", frame[1:])
    assert all(isinstance(muts[name](frame, rng), str) for name in fuzz.MUTATIONS)
    assert len(muts["nest"](frame, random.Random(3))) >= 2000
    assert any(t in muts["number"](frame, random.Random(s)) for s in range(50) for t in ("1e999", "Infinity", "NaN"))


# ---------------------------------------------------------------- the invariant checker
GOOD = [Quote("SPY", T, "sim", bid=1.0, ask=2.0, bid_size=math.nan, ask_size=3.0, extra={"seq_no": 1, "x": None}),
        Trade("SPY", T, "sim", price=1.0, size=2.0, day_volume=math.nan),
        Bar("SPY", T, "sim", interval="1m", open=1.0, high=2.0, low=0.5, close=1.5, volume=10.0, complete=False),
        Profile("SPY", T, "sim", description=None, trading_status="ACTIVE"),
        BookSnapshot("SPY", T, "sim", bids=((1.0, 2.0),), asks=()),
        Status("", T, "sim", kind="error", detail="x", extra={"code": "E1", "malformed": 1})]


@pytest.mark.parametrize("event", GOOD, ids=lambda e: type(e).__name__)
def test_a_good_event_passes(event: Any) -> None:
    assert violations(event) == []
    check_events([event])


BAD = {
    "not an event": object(),
    "empty symbol": Quote("", T, "sim"),
    "int symbol": Quote(5, T, "sim"),  # type: ignore[arg-type]
    "zero time": Quote("SPY", 0, "sim"),
    "time past int64": Quote("SPY", MAX_TIME_NS, "sim"),
    "bool time": Quote("SPY", True, "sim"),
    "float time": Quote("SPY", 1.5e18, "sim"),  # type: ignore[arg-type]
    "empty provider": Quote("SPY", T, ""),
    "int price": Trade("SPY", T, "sim", price=5),
    "str price": Trade("SPY", T, "sim", price="5"),  # type: ignore[arg-type]
    "bool size": Trade("SPY", T, "sim", size=True),
    "infinite price": Quote("SPY", T, "sim", bid=math.inf),
    "empty interval": Bar("SPY", T, "sim", interval=""),
    "int complete": Bar("SPY", T, "sim", interval="1m", complete=1),  # type: ignore[arg-type]
    "list description": Profile("SPY", T, "sim", description=["x"]),  # type: ignore[arg-type]
    "book level not a pair": BookSnapshot("SPY", T, "sim", bids=((1.0, 2.0, 3.0),)),  # type: ignore[arg-type]
    "book level int": BookSnapshot("SPY", T, "sim", asks=((1, 2.0),)),  # type: ignore[arg-type]
    "book list": BookSnapshot("SPY", T, "sim", bids=[(1.0, 2.0)]),  # type: ignore[arg-type]
    "status kind": Status("", T, "sim", kind="bad"),
    "status detail": Status("", T, "sim", detail=None),  # type: ignore[arg-type]
    "extra camelCase key": Quote("SPY", T, "sim", extra={"bidExchange": "Q"}),
    "extra numeric key": Quote("SPY", T, "sim", extra={"12": 1}),
    "extra list value": Quote("SPY", T, "sim", extra={"code": [1]}),
    "extra huge int": Quote("SPY", T, "sim", extra={"id": 1 << 70}),
    "extra infinite float": Quote("SPY", T, "sim", extra={"x": -math.inf}),
    "extra long str": Quote("SPY", T, "sim", extra={"x": "y" * 10_001}),
    "extra not a mapping": Quote("SPY", T, "sim", extra=[("a", 1)]),  # type: ignore[arg-type]
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_each_kind_of_bad_event_is_caught(name: str) -> None:
    assert violations(BAD[name]), name
    with pytest.raises(AssertionError, match="invariants"):
        check_events([GOOD[0], BAD[name]])


def test_empty_extra_and_status_without_symbol_are_fine() -> None:
    assert violations(Quote("SPY", T, "sim", extra=EMPTY)) == []
    assert violations(Quote("", T, "sim")) and not violations(Status("", T, "sim"))
