"""DXLink providers: ``dxlink`` (URL + token), ``tastytrade`` (REST login
first) and ``sim`` (an in-process emulator with a synthetic market)."""

from __future__ import annotations

from typing import Any

from ..base import Config, Option, ProviderSpec
from .protocol import DXLinkProtocol
from .rest import tastytrade_flow

__all__ = ["DXLINK", "TASTYTRADE", "SIM", "DXLinkProtocol"]


def _bool(v: Any) -> bool:
    if isinstance(v, str):
        if v.strip().lower() in ("0", "false", "no", "off", ""):
            return False
        if v.strip().lower() in ("1", "true", "yes", "on"):
            return True
        raise ValueError(v)
    return bool(v)


_TUNING = (
    Option("keepalive_timeout", 60.0, help="seconds of server silence before the connection counts as dead",
           kind=float),
    Option("keepalive_interval", 30.0, help="seconds between our KEEPALIVE messages", kind=float),
    Option("handshake_timeout", 10.0, help="seconds allowed for SETUP/AUTH/channels", kind=float),
    Option("aggregation", 0.0, help="acceptAggregationPeriod in seconds (0 = no conflation)", kind=float),
    Option("chunk_size", 8192, help="maximum bytes of one FEED_SUBSCRIPTION frame", kind=int),
    Option("verify_tls", True, help="verify TLS certificates (true/false)", kind=_bool),
)


def _make(provider: str):  # type: ignore[no-untyped-def]
    def make(config: Config) -> DXLinkProtocol:
        return DXLinkProtocol(config.get("token"), provider=provider,
                              keepalive_timeout=config["keepalive_timeout"],
                              keepalive_interval=config["keepalive_interval"],
                              handshake_timeout=config["handshake_timeout"],
                              aggregation=config["aggregation"], chunk_size=config["chunk_size"])
    return make


DXLINK = ProviderSpec(
    name="dxlink",
    options=(Option("url", help="the DXLink WebSocket URL"),
             Option("token", secret=True, help="the DXLink (quote) token, if the server needs one"),
             Option("api_url", help="unused by plain DXLink; accepted so emulator settings can be shared"),
             ) + _TUNING,
    make_protocol=_make("dxlink"),
    kinds=("quote", "trade", "bar", "summary", "profile"),
    description="dxFeed DXLink WebSocket with a token you already have",
)

TASTYTRADE = ProviderSpec(
    name="tastytrade",
    options=(Option("username", help="tastytrade login"),
             Option("password", secret=True, help="tastytrade password"),
             Option("token", secret=True, help="a tastytrade session token instead of username/password"),
             Option("refresh_token", secret=True, help="OAuth2 refresh token"),
             Option("client_secret", secret=True, help="OAuth2 client secret"),
             Option("api_url", "https://api.tastyworks.com",
                    help="REST base URL (sandbox: https://api.cert.tastyworks.com)"),
             Option("url", help="override the dxlink-url returned by tastytrade"),
             Option("user_agent", help="User-Agent for REST calls (default mdsdk/<version>)"),
             ) + _TUNING,
    make_protocol=_make("tastytrade"),
    auth_flow=tastytrade_flow,
    kinds=("quote", "trade", "bar", "summary", "profile"),
    description="tastytrade: REST login, then its DXLink quote stream",
)

SIM = ProviderSpec(
    name="sim",
    options=(Option("seed", 7, help="seed of the synthetic market", kind=int),
             Option("tick", 0.1, help="seconds between synthetic updates", kind=float),
             ) + _TUNING,
    make_protocol=_make("sim"),
    kinds=("quote", "trade", "bar", "summary", "profile"),
    local_server="mdsdk.testing.dxlink_emulator:DXLinkEmulator",
    description="an embedded simulated market (no account, no network)",
)
