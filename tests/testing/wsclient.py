"""The plain WebSocket client the emulator tests drive the emulators with (websockets' sync client, never
mdsdk's own client code), shared by every emulator's tests: read with a timeout, wait for a frame (raw or
JSON), and read to the end of the connection."""

from __future__ import annotations

import json
import time
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

from websockets.exceptions import ConnectionClosed
from websockets.frames import Close
from websockets.sync.client import ClientConnection, connect


class WsClient:
    """One connection to an emulator; keeps the JSON frames it read in ``seen`` for failure messages."""

    def __init__(self, url: str, headers: Optional[Mapping[str, str]] = None) -> None:
        self.ws: ClientConnection = connect(url, additional_headers=headers, legacy=True, proxy=None,
                                            compression=None, open_timeout=5, close_timeout=2, ping_interval=None)
        self.seen: List[Dict[str, Any]] = []

    def close(self) -> None:
        self.ws.close()

    def recv(self, timeout: float) -> Optional[str]:
        """The next frame, or None after ``timeout`` seconds of silence."""
        try:
            raw = self.ws.recv(timeout=timeout)
        except TimeoutError:
            return None
        return raw if isinstance(raw, str) else raw.decode()

    def until(self, predicate: Callable[[str], bool], timeout: float = 5.0) -> str:
        """Read until a frame matches ``predicate``; fail after ``timeout``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            frame = self.recv(max(0.01, deadline - time.monotonic()))
            if frame is not None and predicate(frame):
                return frame
        raise AssertionError("no matching frame in time")

    def until_json(self, predicate: Callable[[Dict[str, Any]], bool], timeout: float = 5.0) -> Dict[str, Any]:
        """Read until a JSON object frame matches ``predicate`` (other frames are skipped); fail after
        ``timeout``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            frame = self.recv(max(0.01, deadline - time.monotonic()))
            if frame is None or not frame.startswith("{"):
                continue
            doc: Dict[str, Any] = json.loads(frame)
            self.seen.append(doc)
            if predicate(doc):
                return doc
        raise AssertionError(f"no matching frame; last ones: {self.seen[-3:]}")

    def ended(self, timeout: float = 5.0) -> Tuple[List[str], Optional[Close]]:
        """Every frame up to the end of the connection, and the server's close frame (None when the connection
        was cut); fails if it stays open past ``timeout``."""
        frames: List[str] = []
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                frame = self.recv(max(0.01, deadline - time.monotonic()))
                if frame is not None:
                    frames.append(frame)
        except ConnectionClosed as exc:
            return frames, exc.rcvd
        raise AssertionError(f"the connection stayed open; got {frames[-3:]}")

    def silent_for(self, quiet: float, timeout: float = 3.0) -> bool:
        """Whether, within ``timeout``, ``quiet`` seconds pass with no frame."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.recv(quiet) is None:
                return True
        return False
