"""mdsdk.export: real files written and read back (openpyxl, pyarrow, pandas), atomic replacement, the errors;
progress bars on history and replay (mdsdk._progress)."""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import pathlib
import sys
import threading
from typing import Any, Dict, List

import openpyxl
import pandas as pd
import pyarrow.parquet as pq
import pytest

import mdsdk
from mdsdk import _progress
from mdsdk.errors import ConfigurationError
from mdsdk.events import Bar, BookSnapshot, Quote, Status, Trade
from mdsdk.intervals import parse_interval
from mdsdk.providers.base import History, HistoryResult
from tests.conftest import wait_until

START, END = "2024-01-01", "2024-04-01"  # fixed dates: sim serves any past range, whatever today is
T0 = 1_704_067_200_000_000_000  # 2024-01-01T00:00:00Z in ns


@pytest.fixture(scope="module")
def history() -> pd.DataFrame:
    with mdsdk.connect("sim") as feed:
        return feed.history("SPY", "1d", start=START, end=END)


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """A recorded sim session with quotes and trades of two symbols."""
    path = tmp_path_factory.mktemp("rec") / "session.jsonl"
    seen: Dict[str, int] = {"quote": 0, "trade": 0}
    with mdsdk.connect("sim", record=str(path)) as feed:
        feed.on("*", lambda ev: seen.__setitem__(ev.topic, seen.get(ev.topic, 0) + 1))
        feed.subscribe(["SPY", "AAPL"], kinds=("quote", "trade"))
        assert wait_until(lambda: seen["quote"] >= 6 and seen["trade"] >= 2, timeout=10)
    return path


def sample_events() -> List[Any]:
    return [
        Quote("SPY", T0, "x", 1.5, 1.6, 100.0, 200.0, extra={"bid": 9.0, "venue": "Q"}),
        Trade("SPY", T0 + 1_000_000, "x", 1.55, 10.0, math.nan),
        Status("", T0 + 2_000_000, "x", "gap", "lost 3 messages", extra={"missing": 3}),
        BookSnapshot("SPY", T0 + 3_000_000, "x", bids=((1.5, 100.0), (1.4, 50.0)), asks=((1.6, 200.0),)),
        Quote("AAPL", T0 + 4_000_000, "x", 2.5, math.nan, 1.0, 2.0),
    ]


def sheet_rows(path: pathlib.Path, sheet: str) -> List[List[Any]]:
    wb = openpyxl.load_workbook(path, read_only=True)
    try:
        return [list(row) for row in wb[sheet].iter_rows(values_only=True)]
    finally:
        wb.close()


# ---------------------------------------------------------------- DataFrames
def test_history_to_csv_reads_back_with_pandas(tmp_path: pathlib.Path, history: pd.DataFrame) -> None:
    path = mdsdk.export(history, tmp_path / "spy.csv")
    assert path == tmp_path / "spy.csv" and len(history) == 91
    back = pd.read_csv(path, index_col="time", parse_dates=["time"])
    assert list(back.index) == list(history.index) and str(back.index.tz) == "UTC"
    assert list(back.columns) == list(history.columns)
    pd.testing.assert_series_equal(back["close"], history["close"], check_index=False)


def test_history_to_parquet_reads_back_with_pyarrow(tmp_path: pathlib.Path, history: pd.DataFrame) -> None:
    mdsdk.export(history, tmp_path / "spy.parquet")
    back = pq.read_table(tmp_path / "spy.parquet").to_pandas()
    pd.testing.assert_frame_equal(back, history, check_index_type=False)
    assert str(back.index.tz) == "UTC" and back.index.name == "time"


def test_history_to_xlsx_reads_back_with_openpyxl(tmp_path: pathlib.Path, history: pd.DataFrame) -> None:
    mdsdk.export(history, tmp_path / "spy.xlsx")
    wb = openpyxl.load_workbook(tmp_path / "spy.xlsx")
    assert wb.sheetnames == ["SPY 1d"]
    rows = [list(r) for r in wb["SPY 1d"].iter_rows(values_only=True)]
    wb.close()
    assert rows[0][:6] == ["time (UTC)", "open", "high", "low", "close", "volume"]
    assert len(rows) == len(history) + 1
    first = rows[1]
    assert first[0] == dt.datetime(2024, 1, 1) and first[0].tzinfo is None  # naive UTC: Excel has no zones
    assert rows[-1][0] == history.index[-1].tz_convert(None).to_pydatetime()
    assert first[1:5] == pytest.approx(list(history.iloc[0][["open", "high", "low", "close"]]))
    nan_cols = [c for c in history.columns if history[c].isna().all()]
    for col in nan_cols:  # a missing number is an empty cell, not the text "nan"
        assert first[1 + list(history.columns).index(col)] is None


def test_quotes_table_to_xlsx_has_utc_header(tmp_path: pathlib.Path) -> None:
    with mdsdk.connect("sim") as feed:
        feed.get_quote("SPY")
        table = feed.quotes()
    mdsdk.export(table, tmp_path / "q.xlsx", sheet="quotes")
    rows = sheet_rows(tmp_path / "q.xlsx", "quotes")
    assert rows[0] == ["symbol", "bid", "ask", "bid_size", "ask_size", "mid", "spread", "time (UTC)", "age"]
    assert rows[1][0] == "SPY" and rows[1][1] == pytest.approx(table["bid"].iloc[0])
    stamp = table["time"].iloc[0].tz_convert(None).to_pydatetime()
    assert abs(rows[1][7] - stamp) < dt.timedelta(milliseconds=1)


def test_plain_frame_keeps_no_row_numbers(tmp_path: pathlib.Path) -> None:
    df = pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})
    mdsdk.export(df, tmp_path / "p.csv")
    assert (tmp_path / "p.csv").read_text().splitlines() == ["a,b", "1,x", "2,y"]
    mdsdk.export(df, tmp_path / "p.xlsx")
    assert sheet_rows(tmp_path / "p.xlsx", "data") == [["a", "b"], [1, "x"], [2, "y"]]


# ---------------------------------------------------------------- events
def test_recorded_session_to_xlsx_one_sheet_per_kind(tmp_path: pathlib.Path, session: pathlib.Path) -> None:
    events = list(mdsdk.replay(session))
    mdsdk.export(mdsdk.replay(session), tmp_path / "s.xlsx")  # the iterator itself, as a user would
    wb = openpyxl.load_workbook(tmp_path / "s.xlsx", read_only=True)
    kinds = list(dict.fromkeys(ev.topic for ev in events))
    assert wb.sheetnames == kinds and {"quote", "trade"} <= set(kinds)
    wb.close()
    quotes = [ev for ev in events if ev.topic == "quote"]
    rows = sheet_rows(tmp_path / "s.xlsx", "quote")
    assert rows[0] == ["time (UTC)", "symbol", "provider", "bid", "ask", "bid_size", "ask_size"]
    assert len(rows) == len(quotes) + 1
    for row, q in zip(rows[1:], quotes):  # the session's order, value for value
        assert row[1:] == [q.symbol, q.provider, q.bid, q.ask, q.bid_size, q.ask_size]
        assert abs(row[0] - q.datetime.replace(tzinfo=None)) < dt.timedelta(milliseconds=1)
    trades = sheet_rows(tmp_path / "s.xlsx", "trade")
    assert trades[0][:6] == ["time (UTC)", "symbol", "provider", "price", "size", "day_volume"]
    assert len(trades) == sum(ev.topic == "trade" for ev in events) + 1


def test_events_to_csv_are_one_long_table_in_order(tmp_path: pathlib.Path) -> None:
    mdsdk.export(sample_events(), tmp_path / "e.csv")
    back = pd.read_csv(tmp_path / "e.csv")
    assert list(back.columns[:4]) == ["time", "event", "symbol", "provider"]
    assert list(back["event"]) == ["quote", "trade", "status", "book", "quote"]
    assert back["time"][0] == "2024-01-01 00:00:00.000+00:00" and back["time"][1].endswith(".001+00:00")
    assert back["bid_extra"][0] == 9.0 and back["venue"][0] == "Q"  # an extra never hides a field
    assert back["kind"][2] == "gap" and back["missing"][2] == 3.0  # a Status keeps its own kind
    assert json.loads(back["bids"][3]) == [[1.5, 100.0], [1.4, 50.0]]  # nested values as JSON
    assert pd.isna(back["ask"][4]) and ",,," in (tmp_path / "e.csv").read_text()  # nan: an empty field


def test_events_to_parquet_reads_back_with_pyarrow(tmp_path: pathlib.Path) -> None:
    mdsdk.export(sample_events(), tmp_path / "e.parquet")
    back = pq.read_table(tmp_path / "e.parquet").to_pandas()
    assert list(back["event"]) == ["quote", "trade", "status", "book", "quote"]
    assert str(back.index.tz) == "UTC" and back.index[0] == pd.Timestamp(T0, tz="UTC")
    assert back["bid"].dtype == "float64" and back["bid"].iloc[0] == 1.5
    assert back["detail"].iloc[2] == "lost 3 messages"


def test_one_kind_gets_its_own_table(tmp_path: pathlib.Path) -> None:
    mdsdk.export(sample_events(), tmp_path / "q.csv", kind="quote")
    back = pd.read_csv(tmp_path / "q.csv")
    assert list(back.columns) == ["time", "symbol", "provider", "bid", "ask", "bid_size", "ask_size",
                                  "bid_extra", "venue"]
    assert list(back["symbol"]) == ["SPY", "AAPL"]
    mdsdk.export(sample_events(), tmp_path / "t.xlsx", kind="bar")  # none in the data: an empty table
    assert sheet_rows(tmp_path / "t.xlsx", "bar")[0][:4] == ["time (UTC)", "symbol", "provider", "interval"]


def test_no_events_is_an_empty_table(tmp_path: pathlib.Path) -> None:
    mdsdk.export([], tmp_path / "e.csv")
    assert (tmp_path / "e.csv").read_text().splitlines() == ["time,event,symbol,provider"]
    mdsdk.export(iter([]), tmp_path / "e.xlsx")
    assert sheet_rows(tmp_path / "e.xlsx", "events") == [["time (UTC)", "event", "symbol", "provider"]]
    mdsdk.export([], tmp_path / "e.parquet")
    assert pq.read_table(tmp_path / "e.parquet").num_rows == 0


def test_control_characters_do_not_break_a_workbook(tmp_path: pathlib.Path) -> None:
    bad = Status("", T0, "x", "error", "server said \x00\x07hello")
    mdsdk.export([bad, Bar("SPY", T0, "x", "1d", 1.0, 2.0, 0.5, 1.5, 10.0)], tmp_path / "b.xlsx")
    assert sheet_rows(tmp_path / "b.xlsx", "status")[1][4] == "server said hello"
    assert sheet_rows(tmp_path / "b.xlsx", "bar")[1][3:9] == ["1d", 1.0, 2.0, 0.5, 1.5, 10.0]


# ---------------------------------------------------------------- atomic writes
def test_a_rewrite_replaces_the_file_and_leaves_no_temporary(tmp_path: pathlib.Path) -> None:
    target = tmp_path / "x.csv"
    mdsdk.export(pd.DataFrame({"a": [1]}), target)
    first = os.stat(target).st_ino
    mdsdk.export(pd.DataFrame({"a": [2]}), target)
    assert target.read_text() == "a\n2\n"
    assert os.stat(target).st_ino != first  # a new file renamed over the old one, not an overwrite
    assert os.listdir(tmp_path) == ["x.csv"]


def test_a_failed_write_keeps_the_old_file(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mdsdk import frames
    target = tmp_path / "x.csv"
    mdsdk.export(pd.DataFrame({"a": [1]}), target)

    def half(df: Any, path: str) -> None:
        with open(path, "w") as f:
            f.write("a\n")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(frames, "write_csv", half)
    with pytest.raises(ConfigurationError, match="cannot write .*No space left on device"):
        mdsdk.export(pd.DataFrame({"a": [2]}), target)
    assert target.read_text() == "a\n1\n" and os.listdir(tmp_path) == ["x.csv"]


# ---------------------------------------------------------------- errors
@pytest.mark.parametrize("name", ["x.xls", "x.json", "x", "x.csv.gz"])
def test_unknown_extension_names_the_accepted_ones(tmp_path: pathlib.Path, name: str) -> None:
    with pytest.raises(ConfigurationError, match=r"use one of \.csv, \.parquet, \.xlsx"):
        mdsdk.export(pd.DataFrame({"a": [1]}), tmp_path / name)
    assert os.listdir(tmp_path) == []


def test_missing_directory_and_a_directory_are_refused(tmp_path: pathlib.Path) -> None:
    with pytest.raises(ConfigurationError, match=r"directory .*nope.* does not exist.*\.csv, \.parquet, \.xlsx"):
        mdsdk.export(pd.DataFrame({"a": [1]}), tmp_path / "nope" / "x.csv")
    (tmp_path / "d.csv").mkdir()
    with pytest.raises(ConfigurationError, match="it is a directory"):
        mdsdk.export(pd.DataFrame({"a": [1]}), tmp_path / "d.csv")


@pytest.mark.parametrize("module,ext,extra", [("openpyxl", ".xlsx", "excel"), ("pyarrow", ".parquet", "parquet")])
def test_a_missing_extra_names_its_pip_command(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch,
                                               module: str, ext: str, extra: str) -> None:
    monkeypatch.setitem(sys.modules, module, None)
    with pytest.raises(ConfigurationError, match=rf"run pip install 'mdsdk\[{extra}\]'"):
        mdsdk.export(pd.DataFrame({"a": [1]}), tmp_path / f"x{ext}")
    assert os.listdir(tmp_path) == []


def test_csv_needs_no_extra(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "openpyxl", None)
    mdsdk.export(sample_events(), tmp_path / "x.csv")
    assert (tmp_path / "x.csv").exists()


@pytest.mark.parametrize("data,kwargs,match", [
    ("SPY", {}, "data must be a DataFrame or an iterable of mdsdk events"),
    (42, {}, "data must be a DataFrame or an iterable of mdsdk events"),
    ([Quote("SPY", T0, "x"), {"bid": 1}], {}, "found dict"),
    (pd.DataFrame({"a": [1]}), {"kind": "quote"}, "drop kind"),
    ([], {"sheet": "mine"}, "drop sheet"),
    ([], {"kind": "quotes"}, "unknown kind 'quotes'"),
    (pd.DataFrame({"a": [1]}), {"sheet": "a/b"}, "sheet must be an Excel sheet name"),
])
def test_bad_arguments(tmp_path: pathlib.Path, data: Any, kwargs: Dict[str, Any], match: str) -> None:
    with pytest.raises(ConfigurationError, match=match):
        mdsdk.export(data, tmp_path / "x.xlsx", **kwargs)
    with pytest.raises(ConfigurationError, match="path must be a file path"):
        mdsdk.export([], b"x.csv")  # type: ignore[arg-type]


def test_export_is_public() -> None:
    assert "export" in mdsdk.__all__ and mdsdk.export.__module__ == "mdsdk.exports"


# ---------------------------------------------------------------- progress
def test_history_with_progress_is_the_same_frame(capsys: pytest.CaptureFixture[str], history: pd.DataFrame
                                                 ) -> None:
    capsys.readouterr()
    with mdsdk.connect("sim") as feed:
        shown = feed.history("SPY", "1d", start=START, end=END, progress=True)
    pd.testing.assert_frame_equal(shown, history)
    assert shown.attrs == history.attrs
    err = capsys.readouterr().err
    assert "SPY 1d" in err and "100%" in err and "bars=91" in err


def test_history_chunks_cover_the_range_once() -> None:
    hour = 3_600_000_000_000
    for span in (0, 1, hour, 99 * hour, 5000 * hour + 7, 10**6 * hour):
        pieces = _progress.history_chunks(T0, T0 + span, hour)
        assert pieces[0][0] == T0 and pieces[-1][1] == T0 + span
        assert all(a[1] == b[0] for a, b in zip(pieces, pieces[1:]))
        assert all(_progress.MIN_CHUNK_BARS * hour <= hi - lo <= _progress.CHUNK_BARS * hour for lo, hi in pieces[:-1])
    assert len(_progress.history_chunks(T0, T0 + 3 * 365 * 24 * hour, 24 * hour)) == 11


def test_chunks_are_joined_deduplicated_and_truncation_kept(capsys: pytest.CaptureFixture[str]) -> None:
    day = 86_400_000_000_000
    request = History("SPY", parse_interval("1d"), T0, T0 + 250 * day)
    calls: List[History] = []

    def fetch(req: History) -> HistoryResult:
        calls.append(req)
        # each chunk also answers the bar just before it (as a provider may); the copy from the later chunk wins
        starts = range(max(T0, req.start_ns - day), req.end_ns, day)
        bars = tuple(Bar("SPY", t, "x", "1d", close=float(len(calls))) for t in starts)
        return HistoryResult(bars, truncated=len(calls) == 2)

    result = _progress.fetch_history(request, fetch)
    assert len(calls) == 3 and [c.start_ns for c in calls] == [T0, T0 + 100 * day, T0 + 200 * day]
    assert [b.time for b in result.bars] == list(range(T0, T0 + 250 * day, day))
    assert result.bars[99].close == 2.0 and result.truncated
    assert "3/3" in capsys.readouterr().err


def test_replay_with_progress_counts_bytes(capsys: pytest.CaptureFixture[str], session: pathlib.Path) -> None:
    plain = list(mdsdk.replay(session))
    capsys.readouterr()
    shown = list(mdsdk.replay(session, progress=True))
    assert shown == plain
    err = capsys.readouterr().err
    assert "session.jsonl" in err and "100%" in err


def test_progress_without_tqdm_names_the_pip_command(monkeypatch: pytest.MonkeyPatch, session: pathlib.Path) -> None:
    monkeypatch.setitem(sys.modules, "tqdm", None)
    with pytest.raises(ConfigurationError, match=r"pip install 'mdsdk\[progress\]'"):
        mdsdk.replay(session, progress=True)  # at the call, before the first event
    with mdsdk.connect("sim") as feed:
        with pytest.raises(ConfigurationError, match=r"pip install 'mdsdk\[progress\]'"):
            feed.history("SPY", "1d", start=START, end=END, progress=True)
        assert len(feed.history("SPY", "1d", start=START, end=END)) == 91
        with pytest.raises(ConfigurationError, match="progress must be True or False"):
            feed.history("SPY", "1d", start=START, progress="yes")  # type: ignore[arg-type]


def test_progress_bars_leave_no_monitor_thread(capsys: pytest.CaptureFixture[str]) -> None:
    before = set(threading.enumerate())
    bar = _progress.progress_bar(2, "x")
    bar.update(2)
    bar.close()
    assert set(threading.enumerate()) == before
