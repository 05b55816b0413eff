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
from typing import Any, Dict, List, Optional, Sequence, TypeVar

RESULTS = pathlib.Path(__file__).resolve().parent / "results"
_P = TypeVar("_P", bound="ChildProcess")


class ChildProcess:
    """A server the benchmark started as a child process (``self.proc``): a context manager that stops it."""

    proc: "subprocess.Popen[Any]"

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)

    def __enter__(self: _P) -> _P:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class EmulatorProcess(ChildProcess):
    """``mdsdk emulate dxlink`` in a child process on 127.0.0.1 (no auth).

    ``command`` (run in ``cwd``) replaces that command line with another
    emulator launcher that prints the same ``url:`` and ``api_url:`` lines,
    such as the TLS one in ``benchmarks._tls``.
    """

    def __init__(self, tick: float = 3600.0, keepalive_timeout: float = 60.0,
                 command: Optional[Sequence[str]] = None, cwd: Optional[str] = None) -> None:
        if command is None:
            command = [sys.executable, "-m", "mdsdk", "emulate", "dxlink", "--no-auth", "--tick", str(tick),
                       "--keepalive-timeout", str(keepalive_timeout)]
        self.proc = subprocess.Popen(list(command), stdout=subprocess.PIPE, text=True, cwd=cwd)
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

    def _post(self, path: str, payload: Dict[str, Any]) -> None:
        req = urllib.request.Request(self.api_url + path, data=json.dumps(payload).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=600) as resp:
            resp.read()

    def blast(self, n: int, k: int, symbols: Sequence[str]) -> None:
        """N Quote events, K per frame, as fast as the emulator can send."""
        self._post("/_emulator/blast", {"n": n, "k": k, "symbols": list(symbols)})

    def pace(self, rate: float, seconds: float, k: int = 1, symbols: Sequence[str] = ("SPY",),
             burst: int = 1) -> None:
        """Quote events at a steady rate, each stamped with its send time, ``burst`` frames at a time."""
        self._post("/_emulator/pace", {"rate": rate, "seconds": seconds, "k": k, "symbols": list(symbols),
                                       "burst": burst})


def rss_mb() -> float:
    """This process's resident set size in MiB (Linux /proc)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def percentile(values: List[float], q: float) -> float:
    """The q-th percentile (0..100) by nearest rank."""
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, max(0, int(round(q / 100 * len(s) + 0.5)) - 1))]


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
