"""ThetaData through the Theta Terminal: live stock, index and option streams over the Terminal's local
WebSocket, price history over its local REST API (protocols/thetadata.md).

The Terminal is a Java process on the user's machine that holds the ThetaData login; mdsdk talks only to it, at
``ws://127.0.0.1:25520/v1/events`` and ``http://127.0.0.1:25510`` unless ``url=`` / ``api_url=`` say otherwise.
Symbols: stocks ``AAPL``, indexes ``$SPX``, options ``NVDA240524C00950000`` (see :mod:`.contracts`)."""

from __future__ import annotations

from ..base import Config, Option, ProviderSpec, as_bool
from .codec import Codec, eastern_ns
from .contracts import OPTION_FORM, Contract, parse_symbol, symbol_of
from .history import endpoint_of, history_flow
from .protocol import ThetaDataProtocol, stream_of

__all__ = ["ThetaDataProtocol", "Codec", "Contract", "parse_symbol", "symbol_of", "stream_of", "eastern_ns",
           "history_flow", "endpoint_of", "OPTION_FORM", "THETADATA", "WS_URL", "API_URL", "make_protocol"]

WS_URL = "ws://127.0.0.1:25520/v1/events"
API_URL = "http://127.0.0.1:25510"

OPTIONS = (
    Option("url", WS_URL, help="the Theta Terminal's stream WebSocket"),
    Option("api_url", API_URL, help="the Theta Terminal's REST API (history)"),
    Option("server_timeout", 10.0, help="seconds without a frame (the Terminal sends STATUS every second) before "
                                        "the socket counts as dead", kind=float),
    Option("handshake_timeout", 10.0, help="seconds allowed for the Terminal's first STATUS", kind=float),
    Option("emulate", False, help="run the Theta Terminal emulator in-process and connect to it", kind=as_bool),
)


def make_protocol(config: Config) -> ThetaDataProtocol:
    """The protocol object from resolved options."""
    proto = ThetaDataProtocol(str(config["url"]), server_timeout=config["server_timeout"],
                              handshake_timeout=config["handshake_timeout"])
    proto.api_url = str(config["api_url"])
    return proto


THETADATA = ProviderSpec(
    name="thetadata", options=OPTIONS, make_protocol=make_protocol, capabilities=ThetaDataProtocol.capabilities,
    description="ThetaData via the local Theta Terminal: stock, index and option streams, REST history",
    emulator="mdsdk.testing.thetadata_emulator:ThetaDataEmulator", fixtures=("thetadata",))
