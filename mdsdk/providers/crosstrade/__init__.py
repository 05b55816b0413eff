"""CrossTrade, the WebSocket bridge to NinjaTrader 8: futures quotes, account P&L, RPC to NinjaTrader (orders,
positions, accounts) and bars (protocols/crosstrade.md).

The key from CrossTrade's My Account page goes in the upgrade's Bearer header; one socket per account. Symbols:
``ES 09-26``, ``ES`` / ``ES1!`` (front month) or ``ESU26`` (see :mod:`.instruments`)."""

from __future__ import annotations

from ...errors import ConfigurationError
from ...policy import RateLimit
from ..base import Config, Option, ProviderSpec, as_bool
from .codec import Codec
from .history import bars_flow, period_of
from .instruments import Aliases, canonical, check_instrument
from .protocol import SUBSCRIPTION_BUDGET, CrossTradeProtocol

__all__ = ["CrossTradeProtocol", "Codec", "Aliases", "canonical", "check_instrument", "bars_flow", "period_of",
           "CROSSTRADE", "WS_URL", "API_URL", "make_protocol", "SUBSCRIPTION_BUDGET"]

WS_URL = "wss://app.crosstrade.io/ws/stream"
API_URL = "https://app.crosstrade.io"

OPTIONS = (
    Option("token", secret=True, help="the CrossTrade secret key (My Account page; or MDSDK_CROSSTRADE_TOKEN)"),
    Option("url", WS_URL, help="the CrossTrade WebSocket"),
    Option("api_url", API_URL, help="the CrossTrade REST API (bars)"),
    Option("pnl_interval", 1000, help="milliseconds between P&L pushes while P&L is subscribed", kind=int),
    Option("rpc_rate", 3.0, help="RPC and REST calls per second the client allows itself (server: 3/s)",
           kind=float),
    Option("rpc_burst", 20, help="RPC and REST calls the client may send at once (server: 20)", kind=int),
    Option("keepalive_interval", 20.0, help="seconds between pings", kind=float),
    Option("server_timeout", 30.0, help="seconds without a frame before the socket counts as dead", kind=float),
    Option("verify_tls", True, help="verify TLS certificates (true/false)", kind=as_bool),
    Option("emulate", False, help="run the CrossTrade emulator in-process and connect to it", kind=as_bool),
)


def make_protocol(config: Config) -> CrossTradeProtocol:
    """The protocol object from resolved options."""
    token = config.get("token")
    if not token and config["url"] == WS_URL:  # elsewhere (a replay, a test server) the server judges it
        raise ConfigurationError("crosstrade needs its secret key: token=... (or MDSDK_CROSSTRADE_TOKEN), from the "
                                 "My Account page of CrossTrade")
    if not 100 <= int(config["pnl_interval"]) <= 3_600_000:
        raise ConfigurationError(f"pnl_interval must be 100 to 3600000 ms, not {config['pnl_interval']}")
    proto = CrossTradeProtocol(str(config["url"]), str(token or ""), pnl_interval=int(config["pnl_interval"]),
                               keepalive_interval=config["keepalive_interval"],
                               server_timeout=config["server_timeout"],
                               rpc_limit=RateLimit(config["rpc_rate"], config["rpc_burst"]))
    proto.api_url = str(config["api_url"])
    return proto


CROSSTRADE = ProviderSpec(
    name="crosstrade", options=OPTIONS, make_protocol=make_protocol, capabilities=CrossTradeProtocol.capabilities,
    description="CrossTrade (NinjaTrader 8): futures quotes, account P&L, RPC and bars",
    emulator="mdsdk.testing.crosstrade_emulator:CrossTradeEmulator", fixtures=("crosstrade",))
