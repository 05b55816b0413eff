"""REST I/O: a requests Session with tenacity retries, performing the
HttpRequest values that protocol objects ask for (on the runtime's REST worker).

Each call has one total deadline (``Timeouts.rest``): connecting, reading and
every retry share it, so a REST server that accepts and never answers costs
that long and no more (per-attempt timeouts alone multiplied it by the
number of attempts and by connect-plus-read).

The only module that imports ``requests`` and ``tenacity``. Connection
errors and 5xx answers are retried with exponential backoff; anything else
is returned to the provider's parser, which decides what it means. Errors
that escape are :mod:`mdsdk.errors` types with secrets redacted.
"""

from __future__ import annotations

import time
from typing import Any, Iterable, Optional, TypeVar

import requests
from tenacity import (RetryError, Retrying, retry_if_exception_type, stop_after_attempt, stop_after_delay,
                      wait_exponential, wait_random)

from ._version import __version__
from .errors import TransportError, redact
from .providers.base import HttpRequest, HttpResponse

T = TypeVar("T")

__all__ = ["HttpClient", "USER_AGENT"]

USER_AGENT = f"mdsdk/{__version__}"


class _Retryable(Exception):
    def __init__(self, response: Optional[requests.Response] = None) -> None:
        super().__init__("retryable")
        self.response = response


class HttpClient:
    """Performs :class:`~mdsdk.providers.base.HttpRequest` values against
    ``base_url``; one per feed, closed with it."""

    def __init__(self, base_url: str, *, deadline: float = 10.0, verify_tls: bool = True,
                 secrets: Iterable[str] = (), attempts: int = 3, user_agent: str = USER_AGENT) -> None:
        self.base_url = base_url.rstrip("/")
        self.deadline = deadline
        self.attempts = attempts
        self._secrets = tuple(secrets)
        self._session = requests.Session()
        self._session.verify = verify_tls
        self._session.headers["User-Agent"] = user_agent

    def __repr__(self) -> str:
        return f"HttpClient({self.base_url!r})"

    def perform(self, req: HttpRequest) -> HttpResponse:
        """Send ``req``; retry connection errors and 5xx within the total
        deadline; return the answer."""
        url = self.base_url + req.path
        until = time.monotonic() + self.deadline
        retrying = Retrying(stop=stop_after_attempt(self.attempts) | stop_after_delay(self.deadline),
                            wait=wait_exponential(multiplier=0.2, max=2.0) + wait_random(0, 0.2),
                            retry=retry_if_exception_type((_Retryable, requests.ConnectionError,
                                                           requests.Timeout)),
                            reraise=False)
        try:
            resp = retrying(self._once, req, url, until)
        except RetryError as exc:
            last = exc.last_attempt.exception()
            if isinstance(last, _Retryable) and last.response is not None:
                resp = last.response
            else:
                raise TransportError(redact(
                    f"{req.method} {url} failed within its {self.deadline:g} s deadline "
                    f"({exc.last_attempt.attempt_number} attempts): {last}; check api_url and your network "
                    "(Timeouts(rest=...) sets the deadline)", self._secrets)) from last
        except requests.RequestException as exc:
            raise TransportError(redact(f"{req.method} {url} failed: {exc}", self._secrets)) from exc
        try:
            body: Any = resp.json()
        except ValueError:
            body = None
        return HttpResponse(resp.status_code, body, resp.text[:2000], dict(resp.headers))

    def _once(self, req: HttpRequest, url: str, until: float) -> requests.Response:
        left = until - time.monotonic()
        if left <= 0:
            raise requests.Timeout(f"no time left of the {self.deadline:g} s deadline")
        resp = self._session.request(req.method, url, json=req.json, params=req.params, data=req.form,
                                     headers=dict(req.headers), timeout=(left, left))
        if resp.status_code >= 500:
            raise _Retryable(resp)
        return resp

    def close(self) -> None:
        """Release pooled connections."""
        self._session.close()
