"""The command line's files and bars: ``history -o``, ``replay -o``, ``quote --watch --out`` (rewritten
atomically while a reader keeps opening it) and ``--progress`` / ``--no-progress``."""

from __future__ import annotations

import io
import os
import pathlib
import sys
import threading
from typing import Any, List, Set, Tuple

import openpyxl
import pandas as pd
import pyarrow.parquet as pq
import pytest

import mdsdk
from mdsdk.cli import main
from tests.conftest import wait_until

HISTORY = ("history", "SPY", "--interval", "1d", "--start", "2024-01-01", "--end", "2024-04-01")


def run(*argv: str) -> Tuple[int, str]:
    out = io.StringIO()
    code = main(list(argv), out=out)
    return code, out.getvalue()


class Terminal(io.StringIO):
    """A stderr that says it is a terminal."""

    def isatty(self) -> bool:
        return True


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    path = tmp_path_factory.mktemp("rec") / "s.jsonl"
    assert run("record", "SPY", "AAPL", "-o", str(path), "--seconds", "1")[0] == 0
    return path


@pytest.mark.parametrize("ext", [".csv", ".parquet", ".xlsx"])
def test_history_to_each_format(tmp_path: pathlib.Path, ext: str) -> None:
    path = tmp_path / f"spy{ext}"
    code, out = run(*HISTORY, "-o", str(path))
    assert code == 0 and out == f"wrote 91 bars to {path}\n"
    if ext == ".csv":
        back = pd.read_csv(path, index_col="time", parse_dates=["time"])
    elif ext == ".parquet":
        back = pq.read_table(path).to_pandas()
    else:
        wb = openpyxl.load_workbook(path, read_only=True)
        rows = list(wb["SPY 1d"].iter_rows(values_only=True))
        wb.close()
        assert rows[0][0] == "time (UTC)" and len(rows) == 92
        return
    assert len(back) == 91 and str(back.index.tz) == "UTC" and list(back.columns[:5]) == [
        "open", "high", "low", "close", "volume"]
    assert os.listdir(tmp_path) == [path.name]


def test_replay_to_a_workbook_and_one_kind_to_csv(tmp_path: pathlib.Path, session: pathlib.Path) -> None:
    events = list(mdsdk.replay(session))
    code, out = run("replay", str(session), "-o", str(tmp_path / "s.xlsx"))
    assert code == 0 and out == f"wrote {len(events)} events to {tmp_path / 's.xlsx'}\n"
    wb = openpyxl.load_workbook(tmp_path / "s.xlsx", read_only=True)
    assert wb.sheetnames == list(dict.fromkeys(ev.topic for ev in events))
    wb.close()
    code, out = run("replay", str(session), "--kind", "quote", "-o", str(tmp_path / "q.csv"))
    quotes = [ev for ev in events if ev.topic == "quote"]
    assert code == 0 and out.startswith(f"wrote {len(quotes)} events")
    back = pd.read_csv(tmp_path / "q.csv")
    assert list(back.columns) == ["time", "symbol", "provider", "bid", "ask", "bid_size", "ask_size"]
    assert list(back["symbol"]) == [q.symbol for q in quotes]
    code, out = run("replay", str(session), "--kind", "trade", "--format", "jsonl")
    assert code == 0 and out and all('"kind":"trade"' in line for line in out.splitlines())


def test_bad_targets_fail_before_any_work(tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str],
                                         session: pathlib.Path) -> None:
    assert run(*HISTORY, "-o", str(tmp_path / "x.xls"))[0] == 2
    assert "use one of .csv, .parquet, .xlsx" in capsys.readouterr().err
    assert run("replay", str(session), "-o", str(tmp_path / "no" / "x.xlsx"))[0] == 2
    assert "does not exist" in capsys.readouterr().err
    assert run("quote", "SPY", "--out", str(tmp_path / "q.txt"))[0] == 2
    assert run("quote", "SPY", "--seconds", "1")[0] == 2
    assert "--seconds needs --watch" in capsys.readouterr().err
    assert run("quote", "SPY", "--watch", "0")[0] == 2
    assert run("replay", str(session), "--kind", "quotes")[0] == 2
    assert "unknown --kind 'quotes'" in capsys.readouterr().err
    assert os.listdir(tmp_path) == []


def test_quote_out_writes_the_table_once(tmp_path: pathlib.Path) -> None:
    code, out = run("quote", "SPY", "AAPL", "-o", str(tmp_path / "q.csv"))
    assert code == 0 and out == ""
    back = pd.read_csv(tmp_path / "q.csv")
    assert list(back["symbol"]) == ["AAPL", "SPY"] and "age" in back.columns


def _watch_while_reading(path: pathlib.Path, argv: List[str], read: Any) -> Tuple[int, int, Set[int]]:
    """Run ``quote --watch`` in a thread while this one opens ``path`` with ``read`` again and again;
    returns the exit code, the successful reads and the files (inodes) seen."""
    result: List[int] = []
    worker = threading.Thread(target=lambda: result.append(main(argv, out=io.StringIO())), name="cli-watch")
    worker.start()
    try:
        assert wait_until(lambda: path.exists() or not worker.is_alive(), timeout=15), "no first write"
        reads, inodes = 0, set()
        while worker.is_alive() or not reads:
            inodes.add(os.stat(path).st_ino)
            read(path)  # a torn or half-written file raises here
            reads += 1
    finally:
        worker.join(30)
    assert not worker.is_alive()
    return result[0], reads, inodes


def test_watch_rewrites_a_workbook_atomically(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "quotes.xlsx"

    def read(p: pathlib.Path) -> None:
        wb = openpyxl.load_workbook(p, read_only=True)
        rows = list(wb["quotes"].iter_rows(values_only=True))
        wb.close()
        assert rows[0][0] == "symbol" and [r[0] for r in rows[1:]] == ["AAPL", "SPY"]

    argv = ["quote", "SPY", "AAPL", "--watch", "0.05", "--seconds", "1.5", "--out", str(path)]
    code, reads, inodes = _watch_while_reading(path, argv, read)
    assert code == 0 and reads >= 2 and len(inodes) >= 2  # read while it was being replaced
    assert os.listdir(tmp_path) == ["quotes.xlsx"]  # no temporary left behind


def test_watch_rewrites_a_csv_atomically(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "quotes.csv"

    def read(p: pathlib.Path) -> None:
        assert list(pd.read_csv(p)["symbol"]) == ["SPY"]

    code, reads, inodes = _watch_while_reading(path, ["quote", "SPY", "--watch", "0.05", "--seconds", "1",
                                                      "-o", str(path)], read)
    assert code == 0 and len(inodes) >= 2
    assert os.listdir(tmp_path) == ["quotes.csv"]


def test_watch_without_out_reprints_the_table() -> None:
    code, out = run("quote", "SPY", "--watch", "0.1", "--seconds", "0.35")
    assert code == 0 and out.count("symbol") >= 2 and out.count("\nSPY ") >= 2
    assert "\x1b[" not in out  # no screen clearing when the output is not a terminal


# ---------------------------------------------------------------- progress
def test_history_progress_flags(tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str],
                                monkeypatch: pytest.MonkeyPatch) -> None:
    assert run(*HISTORY, "--progress")[0] == 0
    err = capsys.readouterr().err
    assert "SPY 1d" in err and "100%" in err
    assert run(*HISTORY, "-o", str(tmp_path / "a.csv"))[0] == 0
    assert capsys.readouterr().err == ""  # stderr is no terminal: no bar by default
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert run(*HISTORY, "-o", str(tmp_path / "b.csv"))[0] == 0
    assert "100%" in terminal.getvalue()  # a terminal: a bar by default
    monkeypatch.setattr(sys, "stderr", terminal := Terminal())
    assert run(*HISTORY, "--no-progress", "-o", str(tmp_path / "c.csv"))[0] == 0
    assert terminal.getvalue() == ""
    assert (tmp_path / "a.csv").read_text() == (tmp_path / "b.csv").read_text() == (tmp_path / "c.csv").read_text()


def test_replay_progress_flags(tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str],
                               session: pathlib.Path) -> None:
    assert run("replay", str(session), "--progress", "-o", str(tmp_path / "s.csv"))[0] == 0
    err = capsys.readouterr().err
    assert "s.jsonl" in err and "100%" in err
    assert run("replay", str(session), "--no-progress", "-o", str(tmp_path / "s.csv"))[0] == 0
    assert capsys.readouterr().err == ""


def test_progress_without_tqdm(tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str],
                               monkeypatch: pytest.MonkeyPatch, session: pathlib.Path) -> None:
    monkeypatch.setitem(sys.modules, "tqdm", None)
    assert run(*HISTORY, "--progress")[0] == 2
    assert "pip install 'mdsdk[progress]'" in capsys.readouterr().err
    assert run("replay", str(session), "--progress")[0] == 2
    assert "pip install 'mdsdk[progress]'" in capsys.readouterr().err
    monkeypatch.setattr(sys, "stderr", Terminal())  # by default a missing tqdm only means no bar
    assert run(*HISTORY, "-o", str(tmp_path / "h.csv"))[0] == 0
    assert run("replay", str(session), "-o", str(tmp_path / "s.csv"))[0] == 0
