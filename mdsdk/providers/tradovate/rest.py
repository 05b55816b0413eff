"""Tradovate REST, pure: access-token request (with penalty tickets),
renewal, and symbol -> contract lookup. See protocols/tradovate.md section 2.

``/auth/accesstokenrequest`` answers HTTP 200 even on failure: ``errorText``
means refused; ``p-ticket`` means wait ``p-time`` seconds and resend with
the ticket, unless ``p-captcha`` is set (then only a person on the web site
can clear it).
"""

from __future__ import annotations

import time
from typing import Any, Dict, Generator, Mapping, Optional

from ...errors import (AuthenticationError, ConfigurationError, ProviderError, RateLimitedError,
                       SubscriptionError)
from ...intervals import expiry_seconds
from ..base import AuthFlow, Endpoint, HttpRequest, HttpResponse
from .codec import penalty_wait

__all__ = ["login_flow", "renew_flow", "contract_flow", "MAX_PENALTY_RETRIES"]

MAX_PENALTY_RETRIES = 3
_JSON = {"Accept": "application/json", "Content-Type": "application/json"}


def _endpoint(config: Mapping[str, Any], body: Mapping[str, Any], now: float) -> Endpoint:
    token = str(body["accessToken"])
    md_token = body.get("mdAccessToken")
    # Without expirationTime, assume 80 minutes: the shorter of the documented lifetimes.
    expires = expiry_seconds(body.get("expirationTime"), now + 80 * 60)
    return Endpoint(str(config["url"]), str(md_token or token), expires, rest_token=token)


def _http_error(resp: HttpResponse, what: str) -> Exception:
    text = ""
    if isinstance(resp.body, dict):
        text = str(resp.body.get("errorText") or resp.body.get("message") or "")
    text = text or resp.text[:200] or f"HTTP {resp.status}"
    if resp.status == 401:
        return AuthenticationError(f"Tradovate refused {what}: {text}")
    if resp.status == 429:
        return RateLimitedError(f"Tradovate rate-limited {what}: {text}; wait (it can last an hour)",
                                provider="tradovate", code=429, server_message=text)
    return ProviderError(f"Tradovate answered {what} with HTTP {resp.status}: {text}", provider="tradovate",
                         code=resp.status, server_message=text)


def login_flow(config: Mapping[str, Any], now: Optional[float] = None) -> AuthFlow:
    """POST /auth/accesstokenrequest, honouring penalty tickets; returns the
    MD socket Endpoint (``rest_token`` carries the REST access token)."""
    now = time.time() if now is None else now
    if not config.get("username") or not config.get("password"):
        raise ConfigurationError("tradovate needs username= and password= (or MDSDK_TRADOVATE_USERNAME/_PASSWORD); "
                                 "cid= and sec= too if your API key has them")
    body: Dict[str, Any] = {"name": config["username"], "password": config["password"],
                            "appId": config.get("app_id") or "mdsdk", "appVersion": config.get("app_version") or "1.0",
                            "cid": config.get("cid") or 0, "sec": config.get("sec") or ""}
    if config.get("device_id"):
        body["deviceId"] = config["device_id"]
    delay = 0.0
    for _ in range(MAX_PENALTY_RETRIES + 1):
        resp: HttpResponse = yield HttpRequest("POST", "/auth/accesstokenrequest", json=dict(body), headers=_JSON,
                                               delay=delay)
        data = resp.body if isinstance(resp.body, dict) else None
        if resp.status != 200 or data is None:
            raise _http_error(resp, "the access-token request")
        if data.get("errorText") and not data.get("accessToken"):
            raise AuthenticationError(f"Tradovate refused the login: {data['errorText']}")
        if "p-ticket" in data:
            if data.get("p-captcha"):
                raise AuthenticationError(
                    "Tradovate demands a captcha for this login (too many attempts); log in once on the "
                    "Tradovate web site, wait about an hour, then try again")
            body["p-ticket"] = data["p-ticket"]
            delay = penalty_wait(data.get("p-time"))
            continue
        if not data.get("accessToken"):
            raise AuthenticationError("Tradovate's access-token answer had no accessToken")
        return _endpoint(config, data, now)
    raise RateLimitedError("Tradovate kept answering with penalty tickets; wait and try again later",
                           provider="tradovate", code="p-ticket")


def renew_flow(config: Mapping[str, Any], current: Endpoint, now: Optional[float] = None) -> AuthFlow:
    """GET /auth/renewaccesstoken with the current token; AuthenticationError
    when refused (the caller then logs in afresh)."""
    now = time.time() if now is None else now
    resp: HttpResponse = yield HttpRequest("GET", "/auth/renewaccesstoken",
                                           headers=dict(_JSON, Authorization=f"Bearer {current.rest_token}"))
    data = resp.body if isinstance(resp.body, dict) else None
    if resp.status != 200 or data is None or not data.get("accessToken"):
        if data and data.get("errorText"):
            raise AuthenticationError(f"Tradovate refused the renewal: {data['errorText']}")
        raise _http_error(resp, "the token renewal")
    return _endpoint(config, data, now)


def contract_flow(config: Mapping[str, Any], current: Endpoint,
                  symbol: str) -> Generator[HttpRequest, HttpResponse, int]:
    """GET /contract/find?name=SYMBOL -> the contract id; SubscriptionError
    for a symbol Tradovate does not know."""
    resp: HttpResponse = yield HttpRequest("GET", "/contract/find", params={"name": symbol},
                                           headers=dict(_JSON, Authorization=f"Bearer {current.rest_token}"))
    data = resp.body
    if resp.status == 200 and isinstance(data, dict) and isinstance(data.get("id"), int):
        return int(data["id"])
    if resp.status in (200, 404):
        text = (data.get("errorText") if isinstance(data, dict) else None) or "no such contract"
        raise SubscriptionError(f"Tradovate does not know the symbol {symbol!r} ({text}); check the contract "
                                "name, e.g. ESZ6 for the December 2026 E-mini S&P", symbol=symbol, code=resp.status,
                                text=text)
    raise _http_error(resp, f"the contract lookup of {symbol!r}")
