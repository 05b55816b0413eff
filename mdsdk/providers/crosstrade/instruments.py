"""CrossTrade instrument names (protocols/crosstrade.md section 2): what a user may write and how the server's
quotes, which always name the canonical dated contract, find the symbol the user subscribed.

Accepted: the dated form ``"ES 09-26"`` (canonical), the root ``"ES"`` (the front month), TradingView's
continuous ``"ES1!"`` (front) and the CME code ``"ESU26"`` / ``"ESU6"``. Only the dated and CME forms name one
contract by themselves; a root or continuous name matches whichever contract of its root the server quotes.
"""

from __future__ import annotations

import re
from typing import Dict, Optional, Tuple

from ...errors import ConfigurationError

__all__ = ["Aliases", "canonical", "check_instrument"]

MONTH_CODES = "FGHJKMNQUVXZ"
_DATED = re.compile(r"([A-Z0-9]{1,5}) (\d{2})-(\d{2})\Z")
_CME = re.compile(r"([A-Z0-9]{1,4}?)([FGHJKMNQUVXZ])(\d{1,2})\Z")
_ROOT = re.compile(r"([A-Z0-9]{1,5})(1!)?\Z")


def check_instrument(symbol: str) -> None:
    """ConfigurationError unless ``symbol`` is one of the accepted forms."""
    if not (_DATED.match(symbol) or _ROOT.match(symbol) or _CME.match(symbol)):
        raise ConfigurationError(f"{symbol!r} is no CrossTrade instrument: write 'ES 09-26' (root, month-year), "
                                 "'ES' or 'ES1!' (the front month), or the CME code 'ESU26'")


def canonical(symbol: str) -> Optional[str]:
    """The dated form ``symbol`` names by itself (dated or CME code), None for a root or continuous name."""
    if _DATED.match(symbol):
        return symbol
    m = _CME.match(symbol)
    if m is None:
        return None
    root, code, year = m.groups()
    yy = int(year) if len(year) == 2 else int(year) + 20  # a one-digit year is this decade (2020s)
    return f"{root} {MONTH_CODES.index(code) + 1:02d}-{yy % 100:02d}"


class Aliases:
    """The user's symbols by the instrument names quotes carry: every subscribed name of one contract (``ES``
    and ``ES 12-26`` may both be subscribed) gets its events."""

    def __init__(self) -> None:
        self._symbols: Dict[str, None] = {}
        self._found: Dict[str, Tuple[str, ...]] = {}

    def add(self, symbol: str) -> None:
        """Learn ``symbol``."""
        self._symbols[symbol] = None
        self._found.clear()

    def remove(self, symbol: str) -> None:
        """Forget ``symbol``."""
        self._symbols.pop(symbol, None)
        self._found.clear()

    def user_symbols(self, instrument: str) -> Tuple[str, ...]:
        """The user's symbols for a quoted ``instrument``: the names of that contract, else ``(instrument,)``."""
        found = self._found.get(instrument)
        if found is None:
            root = instrument.split(" ", 1)[0]
            found = tuple(s for s in self._symbols
                          if canonical(s) == instrument or (canonical(s) is None and s.removesuffix("1!") == root))
            found = self._found[instrument] = found or (instrument,)
        return found
