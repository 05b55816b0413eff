"""Tradovate market data: REST login, contract lookup, and the MD WebSocket
(quotes, DOM, charts, ticks)."""

from __future__ import annotations

from typing import Any

from ..base import Config, Endpoint, Option, ProviderSpec, as_bool
from .protocol import TradovateProtocol
from .rest import contract_flow, login_flow, renew_flow

__all__ = ["TRADOVATE", "TradovateProtocol", "DEMO_API", "LIVE_API"]

DEMO_API = "https://demo.tradovateapi.com/v1"
LIVE_API = "https://live.tradovateapi.com/v1"
MD_URL = "wss://md.tradovateapi.com/v1/websocket"


def _make(config: Config) -> TradovateProtocol:
    def login(wall: float) -> Any:
        return login_flow(config, wall)

    def renew(ep: Endpoint, wall: float) -> Any:
        return renew_flow(config, ep, wall)

    def lookup(ep: Endpoint, symbol: str) -> Any:
        return contract_flow(config, ep, symbol)

    proto = TradovateProtocol(None, login=login, renew=renew, lookup=lookup,
                              heartbeat_interval=config["heartbeat_interval"],
                              server_timeout=config["server_timeout"],
                              handshake_timeout=config["handshake_timeout"], secrets=config.secrets)
    proto.api_url = str(config.get("api_url") or (LIVE_API if config.get("live") else DEMO_API))
    return proto


TRADOVATE = ProviderSpec(
    name="tradovate",
    options=(
        Option("username", help="Tradovate login name"),
        Option("password", secret=True, help="Tradovate password"),
        Option("cid", 0, help="API key client id", kind=int),
        Option("sec", secret=True, help="API key secret"),
        Option("app_id", "mdsdk", help="appId sent with the login"),
        Option("app_version", "1.0", help="appVersion sent with the login"),
        Option("device_id", help="a stable device id (Tradovate checks it on live accounts)"),
        Option("live", False, help="use the live REST host instead of demo (true/false)", kind=as_bool),
        Option("api_url", None, help=f"REST base URL (default {DEMO_API}, or {LIVE_API} with live=true)"),
        Option("url", MD_URL, help="market-data WebSocket URL"),
        Option("heartbeat_interval", 2.5, help="seconds between [] heartbeats", kind=float),
        Option("server_timeout", 10.0, help="seconds of server silence before the socket counts as dead", kind=float),
        Option("handshake_timeout", 10.0, help="seconds allowed for o + authorize", kind=float),
        Option("verify_tls", True, help="verify TLS certificates (true/false)", kind=as_bool),
        Option("emulate", False, help="run this provider's emulator in-process and connect to it", kind=as_bool),
    ),
    make_protocol=_make,
    capabilities=TradovateProtocol.capabilities,
    description="Tradovate futures market data (demo or live account)",
    emulator="mdsdk.testing.tradovate_emulator:TradovateEmulator",
    fixtures=("tradovate",),
)
