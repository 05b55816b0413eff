"""Every example runs as-is against sim; the CLI's commands and exit codes."""

from __future__ import annotations

import io
import json
import pathlib
import subprocess
import sys
from typing import Any

import pytest

from mdsdk.cli import main
from mdsdk.testing.dxlink_emulator import DXLinkEmulator

EXAMPLES = sorted((pathlib.Path(__file__).resolve().parents[1] / "examples").glob("*.py"))


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_runs(path: pathlib.Path) -> None:
    env = {"MDSDK_EXAMPLE_SECONDS": "1", "PATH": "/usr/bin:/bin", "PYTHONPATH": str(path.parents[1])}
    proc = subprocess.run([sys.executable, str(path)], capture_output=True, text=True, timeout=60, env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip()
    assert "Traceback" not in proc.stderr


def run(*argv: str) -> Any:
    out = io.StringIO()
    code = main(list(argv), out=out)
    return code, out.getvalue()


def test_cli_stream_jsonl_from_sim() -> None:
    code, out = run("stream", "SPY", "AAPL", "--seconds", "1", "--format", "jsonl")
    assert code == 0
    rows = [json.loads(line) for line in out.splitlines()]
    assert {r["symbol"] for r in rows if r["kind"] == "quote"} == {"SPY", "AAPL"}
    assert any(r["kind"] == "trade" for r in rows)


def test_cli_table_quote_and_history(tmp_path: pathlib.Path) -> None:
    code, out = run("quote", "SPY", "MSFT")
    assert code == 0 and "SPY" in out and "MSFT" in out and "bid" in out
    csv = tmp_path / "bars.csv"
    code, out = run("history", "SPY", "--interval", "1h", "--start=-1d", "-o", str(csv))
    assert code == 0 and "wrote" in out
    assert csv.read_text().splitlines()[0].startswith("time,open,high,low,close,volume")


def test_cli_record_and_replay(tmp_path: pathlib.Path) -> None:
    rec = tmp_path / "s.jsonl"
    assert run("record", "SPY", "-o", str(rec), "--seconds", "1")[0] == 0
    code, out = run("replay", str(rec), "--provider", "sim")
    assert code == 0 and "SPY" in out and "quote" in out


def test_cli_against_a_standalone_style_emulator() -> None:
    with DXLinkEmulator(require_auth=False) as emu:
        code, out = run("stream", "SPY", "--provider", "dxlink", "--url", emu.url, "--seconds", "1")
    assert code == 0 and "SPY" in out


def test_cli_tradovate_against_its_emulator(monkeypatch: pytest.MonkeyPatch) -> None:
    from mdsdk.testing import TradovateEmulator
    with TradovateEmulator() as emu:
        monkeypatch.setenv("MDSDK_TRADOVATE_USERNAME", emu.username)
        monkeypatch.setenv("MDSDK_TRADOVATE_PASSWORD", emu.password)
        code, out = run("stream", "ESZ6", "--provider", "tradovate", "--url", emu.url, "--api-url", emu.api_url,
                        "--seconds", "1")
    assert code == 0 and "ESZ6" in out and "quote" in out


def test_cli_emulate_prints_how_to_connect() -> None:
    proc = subprocess.run([sys.executable, "-m", "mdsdk", "emulate", "tradovate", "--seconds", "0.5"],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0 and "ws://127.0.0.1:" in proc.stdout and "--provider tradovate" in proc.stdout


def test_cli_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    assert run("history", "SPY", "--interval", "7x", "--start=-1d")[0] == 2
    assert "bad interval '7x'" in capsys.readouterr().err
    assert run("stream", "SPY", "--provider", "nope", "--seconds", "1")[0] == 2
    assert run("nosuchcommand")[0] == 2
    assert run("stream", "SPY", "--provider", "dxlink", "--url", "ws://127.0.0.1:9/x", "--seconds", "1")[0] == 1
    err = capsys.readouterr().err
    assert "TransportError" in err and "Traceback" not in err
