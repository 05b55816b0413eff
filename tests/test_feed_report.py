"""Feed.report: a component built on a feed (a sink, an app's watchdog) tells
the feed's own status listeners, beside the provider's statuses."""

from __future__ import annotations

import threading

import pytest

import mdsdk
from mdsdk.errors import ClosedError, ConfigurationError
from mdsdk.events import Status


def test_report_reaches_status_callbacks_and_streams() -> None:
    seen = []
    done = threading.Event()

    def on_status(s: Status) -> None:
        if s.provider == "watchdog":
            seen.append(s)
            done.set()

    with mdsdk.connect("sim") as feed:
        feed.on_status(on_status)
        with feed.events(kinds=("status",), timeout=5) as stream:
            feed.report(Status("SPY", 1, "watchdog", "stale", "no fills for a minute"))
            mine = next(ev for ev in stream if ev.provider == "watchdog")
        assert done.wait(5)
    assert mine.detail == "no fills for a minute"
    assert seen == [mine]


def test_report_refuses_what_is_not_a_status_and_a_closed_feed() -> None:
    feed = mdsdk.connect("sim")
    with pytest.raises(ConfigurationError, match="mdsdk.Status"):
        feed.report("redis down")  # type: ignore[arg-type]
    feed.close()
    with pytest.raises(ClosedError):
        feed.report(Status("SPY", 1, "me", "error", "x"))
