"""Shared fixtures: fixture-file access, emulators, and the leak check that
every test leaves no thread and no socket behind."""

from __future__ import annotations

import gc
import json
import os
import pathlib
import threading
import time
from typing import Any, Dict, Iterator, List

import pytest

from mdsdk.testing.dxlink_emulator import DXLinkEmulator

ROOT = pathlib.Path(__file__).resolve().parents[1]
SHARED = pathlib.Path(os.environ.get("MDSDK_SHARED", ROOT.parent / "shared"))
FIXTURES = SHARED / "fixtures"


def fixture_lines(relpath: str) -> List[Dict[str, Any]]:
    """The JSONL lines of ``../shared/fixtures/<relpath>``; skips the test
    with a clear reason when ../shared is not beside the project."""
    path = FIXTURES / relpath
    if not path.exists():
        pytest.skip(f"fixture {path} not found: ../shared/fixtures is not beside the project "
                    "(set MDSDK_SHARED to its location to run the fixture tests)")
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _open_fds() -> int:
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:
        return -1


@pytest.fixture(autouse=True)
def no_leaks() -> Iterator[None]:
    """Fail a test that leaves threads (or sockets) running after it."""
    before = set(threading.enumerate())
    fds = _open_fds()
    yield
    deadline = time.monotonic() + 3.0
    while True:
        extra = [t for t in threading.enumerate() if t not in before and t.is_alive()]
        if not extra or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    assert not extra, f"threads left running: {[t.name for t in extra]}"
    gc.collect()
    if fds >= 0:
        deadline = time.monotonic() + 2.0
        while _open_fds() > fds and time.monotonic() < deadline:
            time.sleep(0.02)
            gc.collect()
        assert _open_fds() <= fds, f"file descriptors leaked: {_open_fds() - fds}"


@pytest.fixture
def emulator() -> Iterator[DXLinkEmulator]:
    """A DXLink emulator with short keepalive timings so fault tests are quick."""
    with DXLinkEmulator(keepalive_timeout=3.0, tick=0.05) as emu:
        yield emu


def wait_until(predicate: Any, timeout: float = 5.0) -> bool:
    """Poll ``predicate`` until it is true or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return bool(predicate())
