"""tastytrade REST, pure: the login flow that yields a DXLink endpoint.

Three ways in, tried in this order: OAuth2 (``refresh_token`` +
``client_secret`` -> ``POST /oauth/token`` -> ``Bearer``), a session token
given directly (``token``, sent raw as tastytrade's legacy sessions expect),
or ``username``/``password`` (legacy ``POST /sessions``). Then
``GET /api-quote-tokens`` gives the quote token (valid 24 h) and the
``dxlink-url`` to connect to. See ../shared/protocols/dxlink.md section 1.
"""

from __future__ import annotations

import time
from typing import Any, Dict, Mapping, Optional

from ...errors import AuthenticationError, ConfigurationError, ProviderError, RateLimitedError
from ...intervals import expiry_seconds
from ..base import AuthFlow, Endpoint, HttpRequest, HttpResponse

__all__ = ["tastytrade_flow", "parse_error", "QUOTE_TOKEN_LIFETIME"]

QUOTE_TOKEN_LIFETIME = 24 * 3600.0


def parse_error(resp: HttpResponse, what: str) -> Exception:
    """The typed error for a non-2xx tastytrade answer."""
    err: Mapping[str, Any] = {}
    if isinstance(resp.body, dict) and isinstance(resp.body.get("error"), dict):
        err = resp.body["error"]
    code = err.get("code") or err.get("domain") or resp.status
    message = err.get("message") or err.get("reason") or resp.text[:200] or f"HTTP {resp.status}"
    if resp.status in (401, 403) or "customer_not_found" in str(code):
        hint = ("your account is not a tastytrade customer with market data access"
                if "customer_not_found" in str(code) else "check the username/password or token")
        return AuthenticationError(f"tastytrade refused {what}: {message} ({code}); {hint}")
    if resp.status == 429:
        retry = resp.headers.get("Retry-After")
        return RateLimitedError(f"tastytrade rate-limited {what}: {message}; wait and try again",
                                retry_after=float(retry) if retry and retry.isdigit() else None,
                                provider="tastytrade", code=code, server_message=str(message))
    return ProviderError(f"tastytrade answered {what} with HTTP {resp.status}: {message}",
                         provider="tastytrade", code=code, server_message=str(message))


def tastytrade_flow(config: Mapping[str, Any], now: Optional[float] = None) -> AuthFlow:
    """Yield the REST calls of a tastytrade login; return the DXLink Endpoint."""
    now = time.time() if now is None else now
    headers: Dict[str, str] = {"Accept": "application/json", "Content-Type": "application/json"}
    if config.get("user_agent"):
        headers["User-Agent"] = str(config["user_agent"])
    if config.get("refresh_token") and config.get("client_secret"):
        resp: HttpResponse = yield HttpRequest("POST", "/oauth/token", json={
            "grant_type": "refresh_token", "client_secret": config["client_secret"],
            "refresh_token": config["refresh_token"]}, headers=headers)
        if resp.status != 200 or not isinstance(resp.body, dict) or "access_token" not in resp.body:
            raise parse_error(resp, "the OAuth refresh token")
        auth = "Bearer " + str(resp.body["access_token"])
    elif config.get("token"):
        auth = str(config["token"])
    elif config.get("username") and config.get("password"):
        resp = yield HttpRequest("POST", "/sessions", json={
            "login": config["username"], "password": config["password"], "remember-me": True},
            headers=headers)
        data = resp.body.get("data") if isinstance(resp.body, dict) else None
        if resp.status not in (200, 201) or not isinstance(data, dict) or "session-token" not in data:
            raise parse_error(resp, "the login")
        auth = str(data["session-token"])
    else:
        raise ConfigurationError(
            "tastytrade needs credentials: refresh_token= and client_secret= (OAuth), token= (a "
            "session token), or username= and password= (or MDSDK_TASTYTRADE_* variables)")
    resp = yield HttpRequest("GET", "/api-quote-tokens", headers=dict(headers, Authorization=auth))
    data = resp.body.get("data") if isinstance(resp.body, dict) else None
    if resp.status != 200 or not isinstance(data, dict) or "token" not in data:
        raise parse_error(resp, "the quote-token request")
    url = config.get("url") or data.get("dxlink-url") or data.get("websocket-url")
    if not url:
        raise ProviderError("tastytrade's quote token came without a dxlink-url; pass url=...",
                            provider="tastytrade")
    return Endpoint(str(url), str(data["token"]), expiry_seconds(data.get("expires-at"), now + QUOTE_TOKEN_LIFETIME))
