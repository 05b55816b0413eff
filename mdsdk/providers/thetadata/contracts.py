"""ThetaData contracts and the symbols users write for them (protocols/thetadata.md sections 2.1 and 3.3).

Three forms, one per security type, each round-tripping (symbol -> contract -> request -> event -> symbol):

* stock: the root as ThetaData names it, ``AAPL``, ``BRK.B``;
* index: the root after a ``$``, ``$SPX``, ``$VIX`` (the ``$`` says "index", as at Schwab and thinkorswim);
* option: the OCC/OSI code without padding, ``NVDA240524C00950000``: root, expiration ``YYMMDD``, ``C`` or ``P``,
  then the strike times 1000 in eight digits. ThetaData's strike unit is a tenth of a cent, which is exactly the
  OSI strike field, so ``00950000`` is both $950.00 and the wire's ``950000``: no scaling can go wrong.

Full streams (STREAM_BULK, every trade of a security type, Pro tier) are the symbols ``ALL:OPTION`` and
``ALL:STOCK``; their events carry each contract's own symbol.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any, Dict, Mapping, Optional

from ...errors import ConfigurationError

__all__ = ["Contract", "parse_symbol", "symbol_of", "OPTION_FORM", "BULK"]

BULK = ("ALL:OPTION", "ALL:STOCK")  # the full streams

OPTION_FORM = ("NVDA240524C00950000 (root, expiration YYMMDD, C or P, strike x 1000 in 8 digits: "
               "$950 -> 00950000, $177.50 -> 00177500)")
_ROOT = re.compile(r"[A-Z][A-Z0-9.]{0,9}\Z")
_OPTION = re.compile(r"([A-Z][A-Z0-9.]{0,5}?)([0-9]{2})([0-9]{2})([0-9]{2})([CP])([0-9]{8})\Z")


@dataclasses.dataclass(frozen=True)
class Contract:
    """One ThetaData contract: ``sec_type`` "STOCK", "INDEX" or "OPTION"; options add ``expiration``
    (YYYYMMDD int), ``strike`` (tenths of a cent, int) and ``right`` ("C" or "P")."""

    sec_type: str
    root: str
    expiration: int = 0
    strike: int = 0
    right: str = ""

    def wire(self) -> Dict[str, Any]:
        """The ``contract`` object of a STREAM request (integers, as strict JSON wants them)."""
        if self.sec_type != "OPTION":
            return {"root": self.root}
        return {"root": self.root, "expiration": self.expiration, "strike": self.strike, "right": self.right}

    @property
    def bulk(self) -> bool:
        """A full stream (every contract of the security type) rather than one contract."""
        return self.root == "*"

    @property
    def symbol(self) -> str:
        """The mdsdk symbol of this contract."""
        if self.bulk:
            return f"ALL:{self.sec_type}"
        if self.sec_type == "INDEX":
            return "$" + self.root
        if self.sec_type == "OPTION":
            return f"{self.root}{self.expiration % 1000000:06d}{self.right}{self.strike:08d}"
        return self.root


def parse_symbol(symbol: str) -> Contract:
    """The contract ``symbol`` names; ConfigurationError showing the accepted forms when it names none."""
    text = symbol
    if text in BULK:
        return Contract(text.split(":", 1)[1], "*")
    if text.startswith("$") and _ROOT.match(text[1:]):
        return Contract("INDEX", text[1:])
    m = _OPTION.match(text)
    if m is not None:
        root, yy, mm, dd, right, strike = m.groups()
        if 1 <= int(mm) <= 12 and 1 <= int(dd) <= 31:
            return Contract("OPTION", root, int(f"20{yy}{mm}{dd}"), int(strike), right)
    elif _ROOT.match(text) and not any(c.isdigit() for c in text[-7:-1]):
        return Contract("STOCK", text)
    raise ConfigurationError(f"{symbol!r} is no ThetaData symbol: write a stock as AAPL, an index as $SPX, an "
                             f"option as {OPTION_FORM}, a full stream as ALL:OPTION or ALL:STOCK")


def symbol_of(contract: Mapping[str, Any]) -> Optional[str]:
    """The mdsdk symbol of a contract object the Terminal sent, None when it is not a usable one."""
    sec, root = contract.get("security_type"), contract.get("root")
    if root.__class__ is not str or not root or len(root) > 16:
        return None
    if sec == "STOCK":
        return root
    if sec == "INDEX":
        return "$" + root
    if sec != "OPTION":
        return None
    exp, strike, right = contract.get("expiration"), contract.get("strike"), contract.get("right")
    if exp.__class__ is not int or strike.__class__ is not int or right not in ("C", "P"):
        return None
    if not (19000101 <= exp <= 29991231 and 0 <= strike < 100_000_000):
        return None
    return f"{root}{exp % 1000000:06d}{right}{strike:08d}"
