"""Faithful local emulators of the providers' servers, for tests, examples,
benchmarks and ``sim``. Each runs on 127.0.0.1 (port 0 by default), is a
context manager, and exposes ``.url``, ``.api_url`` and ``.credentials`` so
``mdsdk.connect(name, url=emu.url, api_url=emu.api_url, **emu.credentials)``
just works.

Every emulator has the same fault surface (``drop()``, ``stall()``,
``inject()``, ``refuse_auth``, ``expire_token()``, ``close_with()``,
``restart()``, ``takeover()`` and ``exclusive=``) plus its provider's extras,
and knows the realistic instruments of :mod:`mdsdk.testing.universe`: a name
the real service would not know behaves there as it would on the service."""

from .crosstrade_emulator import CrossTradeEmulator
from .dxlink_emulator import DXLinkEmulator
from .tradovate_emulator import TradovateEmulator
from ._base import MarketClock
from .market import SyntheticMarket
from .tdschwab_emulator import SchwabEmulator, TDAEmulator, TDSchwabEmulator
from .thetadata_emulator import ThetaDataEmulator

__all__ = ["DXLinkEmulator", "TradovateEmulator", "SyntheticMarket", "TDSchwabEmulator", "SchwabEmulator",
           "TDAEmulator", "ThetaDataEmulator", "CrossTradeEmulator", "MarketClock"]
