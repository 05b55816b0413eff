"""DXLink providers: ``dxlink`` (URL + token), ``tastytrade`` (REST login
first) and ``sim`` (the DXLink provider pointed at its own emulator, run
in-process with a synthetic market)."""

from __future__ import annotations

from dataclasses import replace
from typing import Callable

from ...errors import ConfigurationError
from ..base import Config, Option, ProviderSpec, as_bool
from .protocol import DXLinkProtocol
from .rest import tastytrade_flow

__all__ = ["DXLINK", "TASTYTRADE", "SIM", "DXLinkProtocol"]

EMULATOR = "mdsdk.testing.dxlink_emulator:DXLinkEmulator"
CAPABILITIES = DXLinkProtocol.capabilities

_TUNING = (
    Option("keepalive_timeout", 60.0, help="seconds of server silence before the connection counts as dead",
           kind=float, emulator=True),
    Option("keepalive_interval", 30.0, help="seconds between our KEEPALIVE messages", kind=float),
    Option("handshake_timeout", 10.0, help="seconds allowed for SETUP/AUTH/channels", kind=float),
    Option("aggregation", 0.0, help="acceptAggregationPeriod in seconds (0 = no conflation)", kind=float),
    Option("chunk_size", 8192, help="maximum bytes of one FEED_SUBSCRIPTION frame", kind=int),
    Option("verify_tls", True, help="verify TLS certificates (true/false)", kind=as_bool),
    Option("emulate", False, help="run this provider's emulator in-process and connect to it", kind=as_bool),
)


def _make(provider: str, login: bool) -> Callable[[Config], DXLinkProtocol]:
    def make(config: Config) -> DXLinkProtocol:
        if not login and not config.get("url"):
            raise ConfigurationError(f"provider {provider!r} needs url=... (or MDSDK_{provider.upper()}_URL)")
        flow = None
        if login:
            def flow(wall: float):  # type: ignore[no-untyped-def]
                return tastytrade_flow(config, wall)
        proto = DXLinkProtocol(config.get("token"), provider=provider, url=str(config.get("url") or ""),
                              login=flow, keepalive_timeout=config["keepalive_timeout"],
                              keepalive_interval=config["keepalive_interval"],
                              handshake_timeout=config["handshake_timeout"],
                              aggregation=config["aggregation"], chunk_size=config["chunk_size"],
                              secrets=config.secrets)
        proto.api_url = config.get("api_url") if login else None
        if login:
            proto.capabilities = replace(CAPABILITIES, rest=True)
        return proto
    return make


DXLINK = ProviderSpec(
    name="dxlink",
    options=(Option("url", help="the DXLink WebSocket URL"),
             Option("token", secret=True, help="the DXLink (quote) token, if the server needs one"),
             Option("api_url", help="unused by plain DXLink; accepted so emulator settings can be shared"),
             ) + _TUNING,
    make_protocol=_make("dxlink", login=False),
    capabilities=CAPABILITIES,
    description="dxFeed DXLink WebSocket with a token you already have",
    emulator=EMULATOR,
    fixtures=("dxlink",),
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
    make_protocol=_make("tastytrade", login=True),
    capabilities=replace(CAPABILITIES, rest=True),
    description="tastytrade: REST login, then its DXLink quote stream",
    emulator=EMULATOR,
    fixtures=("dxlink",),
)

SIM = ProviderSpec(
    name="sim",
    options=(Option("seed", 7, help="seed of the synthetic market", kind=int, emulator=True),
             Option("tick", 0.1, help="seconds between synthetic updates", kind=float, emulator=True),
             Option("url", help="set by the in-process emulator"),
             Option("token", secret=True, help="set by the in-process emulator"),
             ) + _TUNING[:-1] + (Option("emulate", True, help="always true: sim is the emulator", kind=as_bool),),
    make_protocol=_make("sim", login=False),
    capabilities=CAPABILITIES,
    description="an embedded simulated market (no account, no network)",
    emulator=EMULATOR,
    fixtures=("dxlink",),
)
