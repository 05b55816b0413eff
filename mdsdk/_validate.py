"""Boundary validators: every public argument is checked here, once, in the
caller's thread, and a bad one raises :class:`~mdsdk.errors.ConfigurationError`
naming the argument and what is allowed.

Pure functions of the value layer, shared by the policies, the interval
parser, the façade, replay and the command line, so that "a number of
seconds" means the same thing everywhere.
"""

from __future__ import annotations

import math
import numbers
import operator
from typing import Any, Iterable, List, Optional, Tuple, Union

from .errors import ConfigurationError

__all__ = ["show", "seconds", "number", "integer", "text", "symbols", "kinds", "callback", "instance",
           "MAX_SECONDS", "MAX_SYMBOL", "MAX_TEXT"]

# A year: longer than any sane wait, and far inside what threading,
# time_t and float arithmetic on deadlines can carry.
MAX_SECONDS = 365 * 86400.0
MAX_SYMBOL = 256      # longer than any real instrument name, option or candle symbol
MAX_TEXT = 65536      # options such as tokens: a JWT is a few KB
MAX_INT = 2 ** 63 - 1  # what the wire formats and int64 fields can carry


def show(value: Any, limit: int = 60) -> str:
    """A short, always-printable repr of a user value for an error message
    (a 10**5000 int or a megabyte string must not break the message)."""
    try:
        shown = repr(value)
    except Exception:  # noqa: BLE001 - any repr may fail; the type still helps
        shown = f"<{type(value).__name__}>"
    return shown if len(shown) <= limit else shown[:limit - 3] + "..."


def number(name: str, value: Any, *, low: float = 0.0, high: float = MAX_SECONDS,
           low_open: bool = False, unit: str = "") -> float:
    """``value`` as a finite float within ``[low, high]`` (``(low, high]``
    with ``low_open``); a bool, a string, None or anything non-numeric is refused."""
    wanted = f"{name} must be a number{unit} {'>' if low_open else '>='} {_num(low)} and <= {_num(high)}"
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ConfigurationError(f"{wanted}, got {type(value).__name__} {show(value)}")
    try:
        v = float(value)
    except (OverflowError, ValueError, TypeError):
        raise ConfigurationError(f"{wanted}, got {show(value)}") from None
    if not math.isfinite(v) or v < low or v > high or (low_open and v == low):
        raise ConfigurationError(f"{wanted}, got {show(value)}")
    return v


def _num(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else f"{v:g}"


def seconds(name: str, value: Any, default: Optional[float] = None, *, positive: bool = False) -> float:
    """A duration in seconds: a finite number from 0 (or above 0 with
    ``positive``) up to a year. ``None`` gives ``default`` when there is one."""
    if value is None and default is not None:
        return default
    return number(name, value, low=0.0, high=MAX_SECONDS, low_open=positive, unit=" of seconds")


def integer(name: str, value: Any, *, low: int = 0, high: int = MAX_INT) -> int:
    """``value`` as an int within ``[low, high]``; bools and floats are refused."""
    wanted = f"{name} must be a whole number from {low} to {high}"
    if isinstance(value, bool):
        raise ConfigurationError(f"{wanted}, got {show(value)}")
    try:
        v = operator.index(value)
    except TypeError:
        raise ConfigurationError(f"{wanted}, got {type(value).__name__} {show(value)}") from None
    if not low <= v <= high:
        raise ConfigurationError(f"{wanted}, got {show(value)}")
    return v


def text(name: str, value: Any, *, limit: int = MAX_TEXT, empty: bool = False) -> str:
    """``value`` as a string of at most ``limit`` characters (non-blank unless ``empty``)."""
    if not isinstance(value, str):
        raise ConfigurationError(f"{name} must be a string, got {type(value).__name__} {show(value)}")
    if not empty and not value.strip():
        raise ConfigurationError(f"{name} must not be empty")
    if len(value) > limit:
        raise ConfigurationError(f"{name} must be at most {limit} characters, got {len(value)}")
    return value


def _names(name: str, value: Any, what: str) -> List[str]:
    if isinstance(value, (bytes, bytearray, dict)) or not isinstance(value, (str, Iterable)):
        raise ConfigurationError(f"{name} must be a string or a list of strings ({what}), "
                                 f"got {type(value).__name__} {show(value)}")
    items = [value] if isinstance(value, str) else list(value)
    for item in items:
        if not isinstance(item, str):
            raise ConfigurationError(f"{name} must hold only strings ({what}), "
                                     f"got {type(item).__name__} {show(item)}")
    if not items:
        raise ConfigurationError(f"{name} is empty; pass {what}")
    return items


def symbols(value: Any, name: str = "symbols") -> List[str]:
    """Symbols from one string or an iterable of strings, stripped; each
    non-empty and at most :data:`MAX_SYMBOL` characters."""
    out = []
    for s in _names(name, value, "a symbol or a list of symbols"):
        s = s.strip()
        if not s:
            raise ConfigurationError(f"{name} must be non-empty strings, got an empty or blank one")
        if len(s) > MAX_SYMBOL:
            raise ConfigurationError(f"{name}: {show(s, 30)} is {len(s)} characters long; "
                                     f"a symbol has at most {MAX_SYMBOL}")
        out.append(s)
    return out


def kinds(value: Any, allowed: Iterable[str], name: str = "kinds") -> List[str]:
    """Event kinds from one string or an iterable of strings, each one of ``allowed``."""
    allowed = tuple(allowed)
    items = _names(name, value, f"some of {', '.join(allowed)}")
    for k in items:
        if k not in allowed:
            raise ConfigurationError(f"unknown {name} {show(k)}; use {', '.join(allowed)}")
    return items


def callback(name: str, value: Any, optional: bool = False) -> None:
    """Refuse a ``value`` that cannot be called (``None`` too, unless ``optional``)."""
    if value is None and optional:
        return
    if not callable(value):
        raise ConfigurationError(f"{name} must be a function, got {type(value).__name__} {show(value)}")


def instance(name: str, value: Any, cls: Union[type, Tuple[type, ...]], what: str) -> None:
    """Refuse a ``value`` that is not an instance of ``cls`` (described as ``what``)."""
    if not isinstance(value, cls):
        raise ConfigurationError(f"{name} must be {what}, got {type(value).__name__} {show(value)}")
