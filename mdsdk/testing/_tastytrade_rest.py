"""The tastytrade REST endpoints beside the DXLink emulator (dxlink.md
sections 1 and 14.14): session login, OAuth refresh, the quote token, and
two test-only control endpoints that let a benchmark in another process
drive ``blast`` and ``pace``."""

from __future__ import annotations

import secrets as _secrets
import time
from typing import TYPE_CHECKING, Any, Callable, Dict, Set, Tuple

from ._http import JsonRequest, RestSide

if TYPE_CHECKING:
    from .dxlink_emulator import DXLinkEmulator

__all__ = ["TastytradeRest"]

Reply = Tuple[int, Any]


def iso(t: float) -> str:
    """Epoch seconds as tastytrade writes times: ``2024-08-01T12:00:00.000Z``."""
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(t))


def _error(status: int, code: str, message: str) -> Reply:
    return status, {"error": {"code": code, "message": message}}


def _body(req: JsonRequest) -> Dict[str, Any]:
    return req.body if isinstance(req.body, dict) else {}


class TastytradeRest(RestSide):
    """Serves tastytrade's REST flows for ``emu`` on its own HTTP server."""

    def __init__(self, emu: "DXLinkEmulator") -> None:
        self.emu = emu
        self._session_tokens: Set[str] = set()
        self._access_tokens: Set[str] = set()
        super().__init__()

    def _routes(self) -> Dict[Tuple[str, str], Callable[[JsonRequest], Reply]]:
        return {("POST", "/sessions"): self._post_sessions, ("POST", "/oauth/token"): self._post_oauth,
                ("GET", "/api-quote-tokens"): self._get_quote_token,
                ("DELETE", "/sessions"): lambda req: (204, ""),
                ("POST", "/_emulator/blast"): self._post_blast,
                ("POST", "/_emulator/pace"): self._post_pace}

    def _post_blast(self, req: JsonRequest) -> Reply:
        body = _body(req)
        try:
            self.emu.blast(int(body["n"]), int(body.get("k", 1)), list(body.get("symbols") or ["SPY"]))
        except (KeyError, TypeError, ValueError, TimeoutError) as exc:
            return _error(400, "bad_blast", str(exc))
        return 200, {"sent": int(body["n"])}

    def _post_pace(self, req: JsonRequest) -> Reply:
        body = _body(req)
        try:
            self.emu.pace(float(body["rate"]), float(body["seconds"]), int(body.get("k", 1)),
                          list(body.get("symbols") or ["SPY"]), int(body.get("burst", 1)))
        except (KeyError, TypeError, ValueError, TimeoutError) as exc:
            return _error(400, "bad_pace", str(exc))
        return 200, {"done": True}

    def _post_sessions(self, req: JsonRequest) -> Reply:
        emu = self.emu
        emu.rest_calls.append(("POST", "/sessions"))
        body = _body(req)
        if not req.headers.get("user-agent"):
            return _error(401, "unauthorized", "A User-Agent header is required")
        if body.get("login") != emu.username or body.get("password") != emu.password or emu.refuse_auth:
            return _error(401, "invalid_credentials", "Invalid login, please check your username and password")
        token = emu.issue("sess-" + _secrets.token_hex(8))
        with self._lock:
            self._session_tokens.add(token)
        return 201, {"data": {"user": {"username": emu.username}, "session-token": token,
                              "session-expiration": "2099-01-01T00:00:00.000Z"}, "context": "/sessions"}

    def _post_oauth(self, req: JsonRequest) -> Reply:
        emu = self.emu
        emu.rest_calls.append(("POST", "/oauth/token"))
        body = _body(req)
        if body.get("grant_type") != "refresh_token" or body.get("refresh_token") != emu.password or \
                not body.get("client_secret") or emu.refuse_auth:
            return _error(401, "invalid_grant", "Invalid refresh token or client secret")
        token = emu.issue("access-" + _secrets.token_hex(8))
        with self._lock:
            self._access_tokens.add(token)
        return 200, {"access_token": token, "token_type": "Bearer", "expires_in": 900}

    def _logged_in(self, auth: str) -> bool:
        with self._lock:
            return (auth in self._session_tokens or auth == self.emu.token or
                    (auth.startswith("Bearer ") and auth[7:] in self._access_tokens))

    def _get_quote_token(self, req: JsonRequest) -> Reply:
        emu = self.emu
        emu.rest_calls.append(("GET", "/api-quote-tokens"))
        if not req.headers.get("user-agent") or not self._logged_in(req.headers.get("authorization", "")) \
                or emu.refuse_auth:
            return _error(401, "unauthorized", "Unauthorized: log in again")
        if emu.customer_not_found:
            return _error(403, "quote_streamer.customer_not_found_error",
                          "You must be a customer to access a quote stream.")
        token = emu.issue_quote_token()
        now = time.time()
        return 200, {"data": {"token": token, "dxlink-url": emu.url, "level": "api",
                              "issued-at": iso(now), "expires-at": iso(now + 86400)},
                     "context": "/api-quote-tokens"}
