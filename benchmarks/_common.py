"""Shared helpers for the benchmark scripts: an emulator in its own process,
result printing and JSON-lines output."""

from __future__ import annotations

import json
import os
import pathlib
import platform
import subprocess
import sys
import time
import urllib.request
from typing import Any, Dict, List, Sequence

RESULTS = pathlib.Path(__file__).resolve().parent / "results"


class EmulatorProcess:
    """``mdsdk emulate dxlink`` in a child process on 127.0.0.1 (no auth)."""

    def __init__(self, tick: float = 3600.0) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "mdsdk", "emulate", "dxlink", "--no-auth", "--tick", str(tick)],
            stdout=subprocess.PIPE, text=True)
        info: Dict[str, str] = {}
        assert self.proc.stdout is not None
        while len(info) < 2:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError("the emulator process exited early")
            key, _, value = line.strip().partition(":")
            if key in ("url", "api_url"):
                info[key] = value.strip()
        self.url, self.api_url = info["url"], info["api_url"]

    def blast(self, n: int, k: int, symbols: Sequence[str]) -> None:
        body = json.dumps({"n": n, "k": k, "symbols": list(symbols)}).encode()
        req = urllib.request.Request(self.api_url + "/_emulator/blast", data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=300) as resp:
            resp.read()

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)

    def __enter__(self) -> "EmulatorProcess":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def table(rows: List[Dict[str, Any]], columns: Sequence[str]) -> str:
    """Rows as a fixed-width text table."""
    widths = [max(len(c), *(len(_cell(r.get(c))) for r in rows)) for c in columns]
    out = ["  ".join(c.ljust(w) for c, w in zip(columns, widths))]
    out.append("  ".join("-" * w for w in widths))
    for r in rows:
        out.append("  ".join(_cell(r.get(c)).rjust(w) for c, w in zip(columns, widths)))
    return "\n".join(out)


def _cell(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.3g}"
    return "" if v is None else str(v)


def write_results(name: str, rows: List[Dict[str, Any]]) -> pathlib.Path:
    """Append rows as JSON lines to benchmarks/results/<name>.jsonl."""
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.jsonl"
    stamp = {"date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "python": platform.python_version(),
             "machine": f"{platform.machine()} x{os.cpu_count()}"}
    with path.open("a") as f:
        for r in rows:
            f.write(json.dumps({**stamp, **r}) + "\n")
    return path
