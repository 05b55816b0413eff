"""The instruments the emulators know, so an unknown name behaves as on the
real service without a test having to list it.

Two spellings, one per protocol family:

* dxFeed (DXLink, tastytrade, ``sim``): US equities and ETFs by ticker (class
  shares with a slash, ``BRK/B``), indices (``SPX``, ``$SPX``), futures as
  ``/<root><month><yy>[:<exchange>]`` (``/ESZ26:XCME``), options as
  ``.<underlying><yymmdd><C|P><strike>`` (``.SPY261218C500``), crypto as
  ``BTC/USD:CXTALP``, and candle symbols ``<symbol>{=5m,...}`` following their
  base symbol.
* Tradovate (CME contract names): ``<root><month><y|yy>`` (``ESZ6``,
  ``ESZ26``, ``MESZ6``, ``6EZ6``).

The lists are curated, not exhaustive: the S&P 100, a few hundred popular
names and ETFs, the main indices and the liquid CME Group futures. Dates are
checked for being real calendar dates only, never against today, so a run
does not depend on the day it happens.
"""

from __future__ import annotations

import datetime as _dt
import functools
import re
from typing import FrozenSet, List, Optional

__all__ = ["EQUITIES", "ETFS", "INDICES", "CRYPTO", "FUTURE_ROOTS", "MONTH_CODES",
           "TRADOVATE_ROOTS", "is_dxfeed_symbol", "is_tradovate_contract", "is_future", "dxfeed_base", "sample"]

_SP100 = """
AAPL ABBV ABT ACN ADBE AIG AMD AMGN AMT AMZN AVGO AXP BA BAC BK BKNG BLK BMY BRK/B C CAT CHTR CL
CMCSA COF COP COST CRM CSCO CVS CVX DE DHR DIS DUK EMR F FDX GD GE GILD GM GOOG GOOGL GS HD HON
IBM INTC INTU ISRG JNJ JPM KHC KO LIN LLY LMT LOW MA MCD MDLZ MDT MET META MMM MO MRK MS MSFT
NEE NFLX NKE NOW NVDA ORCL PEP PFE PG PLTR PM PYPL QCOM RTX SBUX SCHW SO SPG T TGT TMO TMUS
TSLA TXN UBER UNH UNP UPS USB V VZ WFC WMT XOM
"""
_MORE_EQUITIES = """
A AAL ABNB ADI ADP ADSK AEP AFRM AMAT ANET APD APP ARM ASML B BABA BIDU BF/B BX CCL CDNS CEG CHWY
CMG COIN CPRT CRWD CSX CTAS DAL DASH DDOG DELL DKNG DOCU DVN EA EBAY ENPH EOG ETSY EXPE FANG
FCX FSLR FTNT GME HAL HOOD HPQ JD KLAC KMI LCID LRCX LULU LUV LYFT MAR MCHP MELI MPC MRNA MRVL
MSTR MU NCLH NET NIO NKLA NXPI ODFL OKTA ON OXY PANW PAYX PDD PINS PSX RBLX RCL REGN RIVN ROKU
ROST SE SHOP SLB SMCI SNAP SNOW SNPS SOFI SPOT SQ TEAM TSM TTD TWLO U UAL VRTX WBA WBD WDAY XYZ
ZM ZS
"""
_ETFS = """
SPY QQQ IWM DIA GLD SLV TLT IEF SHY HYG LQD AGG BND TIP EMB XLF XLE XLK XLV XLI XLY XLP XLU XLB
XLRE XLC VTI VOO VEA VWO VUG VTV VNQ EFA EEM EWZ EWJ FXI KWEB GDX GDXJ USO UNG SMH SOXX KRE XBI
XOP XME XHB XRT ITB ARKK TQQQ SQQQ SPXL SPXS SOXL SOXS TNA TZA UVXY VXX SVXY VIXY IBIT ETHA BITO
SCHD JEPI RSP MDY IJR IJH IVV
"""
_INDICES = "SPX NDX RUT VIX VIX9D VIX3M VVIX DJX XSP OEX XND SOX"
_DOLLAR_INDICES = "$DJI $COMPX $NYA $TICK $TRIN $ADD $VOLD"
_CRYPTO = "BTC/USD ETH/USD SOL/USD LTC/USD BCH/USD DOGE/USD"
_OPTION_ROOTS = "SPXW NDXP RUTW XSP VIXW"

# root -> the exchange (MIC) dxFeed appends to it
_FUTURES = {
    "XCME": "ES NQ RTY MES MNQ M2K EMD NKD 6E 6J 6B 6A 6C 6S 6N 6M M6E M6A M6B E7 J7 BTC MBT ETH MET "
            "LE HE GF SR3 GE",
    "XCBT": "YM MYM ZB ZN ZF ZT UB TN ZC ZS ZW ZL ZM ZO ZR KE ZQ",
    "XNYM": "CL MCL QM NG QG RB HO BZ PL PA",
    "XCEC": "GC MGC SI SIL HG MHG QO QI",
    "XCBF": "VX VXM",
}


def _words(text: str) -> FrozenSet[str]:
    return frozenset(text.split())


EQUITIES: FrozenSet[str] = _words(_SP100) | _words(_MORE_EQUITIES)
ETFS: FrozenSet[str] = _words(_ETFS)
INDICES: FrozenSet[str] = (_words(_INDICES) | frozenset("$" + s for s in _INDICES.split())
                           | _words(_DOLLAR_INDICES))
CRYPTO: FrozenSet[str] = frozenset(s + ":CXTALP" for s in _CRYPTO.split())
FUTURE_EXCHANGE = {root: mic for mic, roots in _FUTURES.items() for root in roots.split()}
FUTURE_ROOTS: FrozenSet[str] = frozenset(FUTURE_EXCHANGE)
# Tradovate lists CME Group contracts only; the CFE's VIX futures are not there.
TRADOVATE_ROOTS: FrozenSet[str] = frozenset(r for r, mic in FUTURE_EXCHANGE.items() if mic != "XCBF")
MONTH_CODES = "FGHJKMNQUVXZ"
_UNDERLYINGS: FrozenSet[str] = EQUITIES | ETFS | _words(_INDICES) | _words(_OPTION_ROOTS)

_FUTURE = re.compile(r"^/([A-Z0-9]{1,4}?)([" + MONTH_CODES + r"])(\d{2})(?::([A-Z]{4}))?$")
_OPTION = re.compile(r"^\.([A-Z]{1,6}(?:/[A-Z])?)(\d{2})(\d{2})(\d{2})([CP])(\d+(?:\.\d+)?)$")
_TRADOVATE = re.compile(r"^([A-Z0-9]{1,4}?)([" + MONTH_CODES + r"])(\d{1,2})$")
_CANDLE = re.compile(r"^([^{]+)\{.*\}$")


def dxfeed_base(symbol: str) -> str:
    """The instrument a dxFeed symbol is about: ``"AAPL{=5m}"`` -> ``"AAPL"``;
    other symbols are returned unchanged."""
    m = _CANDLE.match(symbol)
    return m.group(1) if m else symbol


def _future_known(m: "re.Match[str]") -> bool:
    root, exchange = m.group(1), m.group(4)
    return root in FUTURE_EXCHANGE and (exchange is None or exchange == FUTURE_EXCHANGE[root])


def _option_known(m: "re.Match[str]") -> bool:
    underlying, yy, mm, dd, _, strike = m.groups()
    try:
        _dt.date(2000 + int(yy), int(mm), int(dd))
    except ValueError:
        return False
    return underlying in _UNDERLYINGS and float(strike) > 0


@functools.lru_cache(maxsize=65536)
def is_dxfeed_symbol(symbol: str) -> bool:
    """Whether dxFeed would know ``symbol`` (candle symbols by their base).
    An unknown symbol on DXLink is accepted and never gets data."""
    base = dxfeed_base(symbol)
    if base in EQUITIES or base in ETFS or base in INDICES or base in CRYPTO:
        return True
    if base.startswith("/"):
        m = _FUTURE.match(base)
        return m is not None and _future_known(m)
    if base.startswith("."):
        m = _OPTION.match(base)
        return m is not None and _option_known(m)
    return False


@functools.lru_cache(maxsize=65536)
def is_tradovate_contract(name: str) -> bool:
    """Whether ``name`` is a CME Group contract Tradovate would list, such as
    ``ESZ6``, ``ESZ26``, ``MNQH7`` or ``6EZ6``."""
    m = _TRADOVATE.match(name)
    return m is not None and m.group(1) in TRADOVATE_ROOTS


def is_future(symbol: str) -> bool:
    """Whether a dxFeed symbol names a future (they trade nearly 24 hours)."""
    return dxfeed_base(symbol).startswith("/")


def sample(n: int, *, start: Optional[str] = None) -> List[str]:
    """``n`` distinct dxFeed symbols the emulators know, in a fixed order:
    ETFs and equities first, then SPY options, for benchmarks and tests that
    need many real names. ``start`` puts that name first."""
    names = sorted(ETFS) + sorted(EQUITIES - ETFS)
    if start is not None:
        names = [start] + [s for s in names if s != start]
    strike = 100
    while len(names) < n:
        names.append(f".SPY261218C{strike}")
        strike += 1
    return names[:n]
