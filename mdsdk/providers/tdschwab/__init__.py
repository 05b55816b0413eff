"""TD Ameritrade (``tda``) and Charles Schwab (``schwab``) streamers: one package, two variants as data.

:mod:`.variants` holds the service names, field maps, units and zones of both generations; :mod:`.codec` turns server
frames into events, responses, notifies and account/news/screener items; :mod:`.requests` encodes commands and the
two LOGIN shapes; :mod:`.protocol` is the sans-I/O streamer protocol (streamer info over REST, LOGIN, one command in
flight, codes). Not yet registered as providers: the OAuth refresh and token file, history, the emulator and the
registry entry come next (issue 10)."""

from .codec import Codec, Decoded, Item, Notify, Response, parse
from .protocol import TDSchwabProtocol
from .requests import Identity
from .variants import SCHWAB, TDA, VARIANTS, Service, Variant

__all__ = ["Codec", "Decoded", "Item", "Notify", "Response", "parse", "SCHWAB", "TDA", "VARIANTS", "Service",
           "Variant", "TDSchwabProtocol", "Identity"]
