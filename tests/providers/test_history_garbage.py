"""Every REST history decoder against mutated answers (the fuzz harness's mutators, a fixed seed): the answer is
either a typed mdsdk error or a BarSeries in order, one bar per start, inside the range, whose DataFrame
builds; never a bare exception from inside a decoder."""

from __future__ import annotations

import json
import random
from typing import Any, Callable, Dict, Generator, List

import pytest

from mdsdk.errors import MdsdkError
from mdsdk.frames import bars_to_frame
from mdsdk.intervals import parse_interval
from mdsdk.providers.base import History, HistoryResult, HttpRequest, HttpResponse
from mdsdk.providers.crosstrade.history import bars_flow
from mdsdk.providers.tdschwab.history import parse_history
from mdsdk.providers.tdschwab.variants import SCHWAB
from mdsdk.providers.thetadata.history import history_flow
from mdsdk.series import BarSeries
from mdsdk.testing.fuzz import make_mutators, mutate

T0_MS = 1_716_298_200_000  # 2024-05-21 13:30 UTC, a Tuesday
REQUEST = History("AAPL", parse_interval("1m"), T0_MS * 1_000_000, (T0_MS + 30 * 60_000) * 1_000_000)
MUTATED = 400


def _schwab_body() -> Dict[str, Any]:
    return {"candles": [{"open": 190.0 + i, "high": 191.0 + i, "low": 189.0 + i, "close": 190.5 + i, "volume": 100 + i,
                         "datetime": T0_MS + i * 60_000} for i in range(6)], "symbol": "AAPL", "empty": False}


def _theta_body() -> Dict[str, Any]:
    return {"header": {"format": ["ms_of_day", "open", "high", "low", "close", "volume", "count", "date"],
                       "next_page": "null"},
            "response": [[34_200_000 + i * 60_000, 190.0 + i, 191.0 + i, 189.0 + i, 190.5 + i, 100 + i, 5, 20240521]
                         for i in range(6)]}


def _crosstrade_body() -> Dict[str, Any]:
    return {"bars": [{"epoch": T0_MS + i * 60_000, "time": "2024-05-21T13:30:00", "open": 190.0 + i,
                      "high": 191.0 + i, "low": 189.0 + i, "close": 190.5 + i, "volume": 100 + i} for i in range(6)]}


def _drive(flow: Generator[HttpRequest, HttpResponse, HistoryResult], first: HttpResponse) -> HistoryResult:
    """Run a REST flow: the first request gets ``first``; any further one (a next page, a retry) gets "no data"."""
    try:
        next(flow)
        flow.send(first)
        for _ in range(20):
            flow.send(HttpResponse(472, None, ":No data"))
    except StopIteration as done:
        result: HistoryResult = done.value
        return result
    raise AssertionError("the flow never finished")


DECODERS: Dict[str, Callable[[HttpResponse], HistoryResult]] = {
    "schwab": lambda resp: parse_history(SCHWAB, REQUEST, resp, "schwab"),
    "thetadata": lambda resp: _drive(history_flow(REQUEST, "thetadata"), resp),
    "crosstrade": lambda resp: _drive(bars_flow(REQUEST, "secret-key", "crosstrade"), resp),
}
BODIES = {"schwab": _schwab_body, "thetadata": _theta_body, "crosstrade": _crosstrade_body}


@pytest.mark.parametrize("provider", sorted(DECODERS))
def test_a_good_answer_is_a_series_of_every_bar(provider: str) -> None:
    text = json.dumps(BODIES[provider]())
    result = DECODERS[provider](HttpResponse(200, json.loads(text), text))
    assert isinstance(result.bars, BarSeries) and len(result.bars) == 6
    assert result.bars[0].time == REQUEST.start_ns and result.bars[5].open == 195.0


@pytest.mark.parametrize("provider", sorted(DECODERS))
def test_mutated_answers_give_a_typed_error_or_a_sound_series(provider: str) -> None:
    good = json.dumps(BODIES[provider]())
    mutators = make_mutators([good])
    rng = random.Random(f"history-{provider}")
    outcomes: List[str] = []
    for _ in range(MUTATED):
        how, text = mutate(good, rng, mutators)
        try:
            body = json.loads(text)
        except (ValueError, RecursionError):
            body = None
        try:
            result = DECODERS[provider](HttpResponse(200, body, text[:1000]))
        except MdsdkError:
            outcomes.append("typed error")
            continue
        bars = result.bars
        assert isinstance(bars, BarSeries), how
        times = bars.times
        assert all(a < b for a, b in zip(times, times[1:])), how  # ascending, one per start
        assert all(REQUEST.start_ns <= t < REQUEST.end_ns for t in times), how
        assert all(isinstance(v, float) for c in ("open", "high", "low", "close", "volume")
                   for v in bars.columns[c]), how
        df = bars_to_frame(bars)
        assert len(df) == len(bars) and df.index.is_monotonic_increasing, how
        outcomes.append("bars" if len(bars) else "empty")
    # the mutations reach both ends: answers still read, and answers refused with a typed error
    assert "bars" in outcomes and len(set(outcomes)) >= 2, outcomes


def test_found_by_the_mutations_a_huge_int_or_an_object_row_is_a_skipped_bar() -> None:
    body = _schwab_body()
    body["candles"][2]["volume"] = 10**400  # no float holds it: OverflowError escaped the decoder
    assert len(DECODERS["schwab"](HttpResponse(200, body, "")).bars) == 5
    theta = _theta_body()
    theta["response"][1] = {"1": 190.0}  # a row that is an object: KeyError escaped the decoder
    assert len(DECODERS["thetadata"](HttpResponse(200, theta, "")).bars) == 5
