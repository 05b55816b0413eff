"""receive_many: frames that arrived together give exactly what receive()
per frame gives (same events, same order, one malformed report per bad
frame), however DXLink groups its runs of COMPACT data frames; a bug in one
frame of a burst costs that frame only. Plain protocol objects, no sockets."""

from __future__ import annotations

import json
from typing import Any, Callable, List

import pytest

from mdsdk.events import Event, Status
from mdsdk.providers.dxlink.protocol import DXLinkProtocol
from tests.conftest import fixture_lines
from tests.providers.test_malformed_frames import QUOTE, T0, WALL, dxlink, tradovate


def _data(symbols: List[str], etype: str = "Quote", ch: int = 1) -> str:
    values: List[Any] = []
    for i, s in enumerate(symbols):
        values += ["Quote", s, 1_700_000_000_000 + i, 100.0 + i, "NaN", 3, 4.5]
    return json.dumps({"type": "FEED_DATA", "channel": ch, "data": [etype, values]})


BURST = [
    _data(["SPY"]), _data(["AAPL", "MSFT"]), _data(["QQQ"] * 6),             # one run of three frames
    '{"type":"KEEPALIVE","channel":0}',                                       # a control frame ends the run
    _data(["IWM"]), "not json at all", _data(["DIA"]),                        # a bad frame between runs
    json.dumps({"type": "FEED_DATA", "channel": 1, "data": ["Quote", ["Quote", "X", 1]]}),  # not a multiple
    _data(["TLT", "", "GLD"]),                                                # a row without a symbol
    _data(["SPY"], ch=3),                                                     # no Quote layout on channel 3
    json.dumps({"type": "FEED_DATA", "channel": 1, "data": ["Quote", ["Quote", "A", 1, 1, 2, 3, 4],
                                                            "Quote", ["Quote", "B", 1, 1, 2, 3, 4]]}),
    _data(["EEM"]), _data(["XLF"]),
    json.dumps({"type": "FEED_DATA", "channel": [1], "data": ["Quote", ["Quote", "X", 1, 1, 2, 3, 4]]}),
    json.dumps({"type": "FEED_DATA", "channel": 1, "data": [["Quote"], ["Quote"]]}),
    json.dumps({"type": "FEED_DATA", "channel": 1, "data": [{"eventType": "Quote"}, ["Quote"]]}),
    _data(["EFA"]),
]


def _same(many: List[Event], single: List[Event]) -> None:
    assert repr(many) == repr(single)  # repr: nan compares unequal to itself
    assert len(many) == len(single)


def _per_frame(make: Callable[[], Any], texts: List[str]) -> Any:
    p = make()
    out: List[Event] = []
    for t in texts:
        out += p.receive(t, T0 + 1, WALL + 1)
    return p, out


def test_dxlink_burst_matches_frame_by_frame() -> None:
    one, single = _per_frame(dxlink, BURST)
    many = dxlink()
    events = many.receive_many(BURST, T0 + 1, WALL + 1)
    _same(events, single)
    # not JSON, not a multiple, no layout on channel 3, and three FEED_DATA frames of odd shapes
    assert many.malformed == one.malformed == 6
    assert len([e for e in events if isinstance(e, Status) and e.kind == "error"]) == 6
    assert [e.symbol for e in events if not isinstance(e, Status)][:4] == ["SPY", "AAPL", "MSFT", "QQQ"]
    assert not many.faults


def test_dxlink_fixture_frames_match_frame_by_frame() -> None:
    texts = [line["raw"] for name in ("feed_data_compact.jsonl", "handshake_tastytrade_doc.jsonl",
                                      "keepalive_and_lifecycle.jsonl")
             for line in fixture_lines(f"dxlink/{name}") if line.get("dir") == "in"]
    make = lambda: DXLinkProtocol("tok")  # noqa: E731 - the fixtures carry their own handshake
    one = make()
    one.connection_made(T0, WALL)
    single: List[Event] = []
    for t in texts:
        single += one.receive(t, T0 + 1, WALL + 1)
    many = make()
    many.connection_made(T0, WALL)
    _same(many.receive_many(texts, T0 + 1, WALL + 1), single)
    assert len(single) > 5


def test_tradovate_default_burst_matches_frame_by_frame() -> None:
    texts = ['a[{"e":"md","d":{"quotes":[{"timestamp":"2026-01-05T14:30:00.250Z","contractId":11,'
             '"entries":{"Bid":{"price":5000.25,"size":3}}}]}}]', "h", "a[not json",
             'a[{"e":"md","d":{"quotes":[{"timestamp":"2026-01-05T14:30:01Z","contractId":11,'
             '"entries":{"Offer":{"price":5000.5,"size":4}}}]}}]']
    one, single = _per_frame(tradovate, texts)
    many = tradovate()
    _same(many.receive_many(texts, T0 + 1, WALL + 1), single)
    assert many.malformed == one.malformed == 1


class _Buggy(DXLinkProtocol):
    def _receive(self, text: str, now: float, wall_ns: int) -> List[Event]:
        if "BOOM" in text:
            raise RuntimeError("a bug")
        return super()._receive(text, now, wall_ns)



class _BuggyRuns:
    """A decoder that fails on a joined run (only a run is this long here) and decodes one frame's rows."""

    def __init__(self, real: Any) -> None:
        self.real, self.stride = real, real.stride

    def __call__(self, values: List[Any], received_ns: int) -> List[Event]:
        if len(values) > 3 * len(QUOTE):
            raise RuntimeError("a bug in joint decoding")
        return self.real(values, received_ns)  # type: ignore[no-any-return]


@pytest.mark.parametrize("texts", [
    [_data(["SPY"]), '{"type":"KEEPALIVE","channel":0,"n":"BOOM"}', _data(["AAPL"])],
    [_data(["SPY"]), _data(["AAPL"]), _data(["MSFT"]), _data(["QQQ"])],  # the run fails, frames do not
])
def test_a_bug_costs_one_frame_of_a_burst(texts: List[str]) -> None:
    p = dxlink()
    buggy = _Buggy("tok")
    p.receive_many([_data(["SPY"])], T0 + 1, WALL + 1)  # its first frame makes the Quote decoder
    buggy.__dict__.update(p.__dict__)  # the handshaken state, under the buggy class
    assert buggy._decoders  # the bug below must be on the path
    buggy._decoders = {key: _BuggyRuns(dec) for key, dec in p._decoders.items()}
    events = buggy.receive_many(texts, T0 + 1, WALL + 1)
    symbols = [e.symbol for e in events if not isinstance(e, Status)]
    booms = sum("BOOM" in t for t in texts)
    assert symbols == [json.loads(t)["data"][1][1] for t in texts if "BOOM" not in t]
    assert len(buggy.faults) == booms and all(isinstance(f, RuntimeError) for f in buggy.faults)
