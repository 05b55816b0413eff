"""A plain HTTP call for emulator tests: requests with no proxy from the
environment, so a test reaches the emulator on loopback and nothing else."""

from __future__ import annotations

from typing import Any

import requests


def http(method: str, url: str, timeout: float = 10.0, **kwargs: Any) -> requests.Response:
    """One request through a fresh session that ignores proxy variables."""
    with requests.Session() as s:
        s.trust_env = False
        return s.request(method, url, timeout=timeout, **kwargs)
