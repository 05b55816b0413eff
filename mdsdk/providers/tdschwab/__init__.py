"""TD Ameritrade (``tda``) and Charles Schwab (``schwab``) streamers: one package, two variants as data.

This package holds, for now, the decoding layer: :mod:`.variants` (service names, field maps, units and zones of
both generations) and :mod:`.codec` (server frames -> events, responses, notifies, account/news/screener items).
The protocol object, REST flows, emulator and registry entry come later."""

from .codec import Codec, Decoded, Item, Notify, Response, parse
from .protocol import TDSchwabProtocol
from .requests import Identity
from .variants import SCHWAB, TDA, VARIANTS, Service, Variant

__all__ = ["Codec", "Decoded", "Item", "Notify", "Response", "parse", "SCHWAB", "TDA", "VARIANTS", "Service",
           "Variant", "TDSchwabProtocol", "Identity"]
