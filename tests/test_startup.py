"""Startup cost: ``import mdsdk`` loads neither pandas nor requests; they load
on the first DataFrame or REST provider. Each check runs a fresh interpreter,
since this one has imported everything already. Speed itself is measured in
benchmarks, not asserted here."""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys
import textwrap
from typing import Any

import pytest

from mdsdk.cli import _quote_table
from mdsdk.events import Quote

ROOT = pathlib.Path(__file__).resolve().parents[1]
HEAVY = ("pandas", "numpy", "requests", "tenacity", "urllib3", "pyarrow", "hypothesis", "websockets",
         "mdsdk.frames", "mdsdk.http", "mdsdk.testing")


def fresh(code: str) -> Any:
    """Run ``code`` in a new interpreter; it prints one JSON value, returned here."""
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=60, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_import_mdsdk_loads_no_heavy_module() -> None:
    loaded = fresh(f"""
        import json, sys
        import mdsdk
        assert callable(mdsdk.connect) and callable(mdsdk.replay) and mdsdk.Feed
        print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))
    """)
    assert loaded == []


def test_the_command_line_loads_no_heavy_module() -> None:
    loaded = fresh(f"""
        import json, sys
        from mdsdk.cli import main
        assert main(["--version"]) == 0
        print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))
    """)
    assert loaded == []


def test_pandas_loads_on_the_first_dataframe() -> None:
    seen = fresh("""
        import json, sys
        import mdsdk
        with mdsdk.connect("sim") as feed:
            feed.get_quote("SPY", timeout=10)
            before = "pandas" in sys.modules
            quotes = feed.quotes()
            bars = feed.history("SPY", "1h", start="-1d", timeout=30)
        print(json.dumps({"before": before, "after": "pandas" in sys.modules, "requests": "requests" in sys.modules,
                          "quotes": list(quotes.index), "columns": list(bars.columns[:5]), "bars": len(bars),
                          "index": bars.index.name, "tz": str(bars.index.tz)}))
    """)
    assert seen["before"] is False and seen["after"] is True
    assert seen["requests"] is False  # sim has no REST
    assert seen["quotes"] == ["SPY"]
    assert seen["columns"] == ["open", "high", "low", "close", "volume"] and seen["bars"] > 0
    assert seen["index"] == "time" and seen["tz"] == "UTC"


def test_requests_loads_with_a_rest_provider() -> None:
    seen = fresh("""
        import json, sys
        import mdsdk
        before = "requests" in sys.modules
        with mdsdk.connect("tradovate", emulate=True) as feed:
            symbol = feed.get_quote("ESZ6", timeout=10).symbol
        print(json.dumps({"before": before, "after": "requests" in sys.modules, "symbol": symbol,
                          "pandas": "pandas" in sys.modules}))
    """)
    assert seen == {"before": False, "after": True, "symbol": "ESZ6", "pandas": False}


def test_cli_quote_needs_no_pandas() -> None:
    seen = fresh("""
        import io, json, sys
        from mdsdk.cli import main
        out = io.StringIO()
        code = main(["quote", "SPY", "MSFT"], out=out)
        print(json.dumps({"code": code, "out": out.getvalue(), "pandas": "pandas" in sys.modules}))
    """)
    assert seen["code"] == 0 and seen["pandas"] is False
    head, *rows = seen["out"].splitlines()
    assert head.split() == ["symbol", "bid", "ask", "bid_size", "ask_size", "mid", "spread", "time", "age"]
    assert [r.split()[0] for r in rows] == ["SPY", "MSFT"]


def test_quote_table_shows_what_feed_quotes_shows() -> None:
    t = 1_700_000_000_123_000_000
    text = _quote_table([Quote("SPY", t, "sim", bid=121.97, ask=122.01, bid_size=500.0),
                         Quote("ESZ6", t, "sim", bid=4512.25, ask=4512.5, bid_size=3.0, ask_size=7.0)],
                        t + 1_500_000_000)
    head, spy, es = (line.split() for line in text.splitlines())
    assert spy == ["SPY", "121.97", "122.01", "500", "NaN", "121.99", "0.04", "2023-11-14",
                   "22:13:20.123+00:00", "1.500"]
    assert es[1:7] == ["4512.25", "4512.5", "3", "7", "4512.375", "0.25"]
    widths = {len(line) for line in text.splitlines()}
    assert len(widths) == 1  # columns line up


@pytest.mark.parametrize("symbols", [[], ["SPY", "SPY"]])
def test_quote_table_edges(symbols: list[str]) -> None:
    quotes = [Quote(s, 0, "sim", bid=1.0, ask=2.0) for s in symbols]
    lines = _quote_table(quotes, 0).splitlines()
    assert len(lines) == 1 + len(symbols) and lines[0].startswith("symbol")
