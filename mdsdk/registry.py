"""Provider name -> :class:`~mdsdk.providers.base.ProviderSpec`, imported lazily.

Adding a provider is one package under ``mdsdk/providers/`` and one line
here (model: fsspec's registry). Nothing is imported until a name is used.
"""

from __future__ import annotations

import importlib
from typing import Any, Dict, List, Set

from . import _validate as check
from .errors import ConfigurationError, UnknownProviderError
from .providers.base import ProviderSpec

__all__ = ["get_spec", "known_providers", "load_object", "emulator_options", "notice_kinds", "PLANNED",
           "DEFAULT_PROVIDER"]

_REGISTRY: Dict[str, str] = {
    "sim": "mdsdk.providers.dxlink:SIM",
    "dxlink": "mdsdk.providers.dxlink:DXLINK",
    "tastytrade": "mdsdk.providers.dxlink:TASTYTRADE",
    "tradovate": "mdsdk.providers.tradovate:TRADOVATE",
    "tda": "mdsdk.providers.tdschwab:TDA_SPEC",
    "schwab": "mdsdk.providers.tdschwab:SCHWAB_SPEC",
    "thetadata": "mdsdk.providers.thetadata:THETADATA",
    "crosstrade": "mdsdk.providers.crosstrade:CROSSTRADE",
}
DEFAULT_PROVIDER = "sim"  # needs no account and no network
# Named in the design, not shipped yet: a clearer error than "unknown".
PLANNED: tuple[str, ...] = ()


def known_providers() -> List[str]:
    """The provider names that can be connected to now."""
    return list(_REGISTRY)


def load_object(path: str) -> Any:
    """Import ``"package.module:attribute"`` and return the attribute."""
    module, _, attr = path.partition(":")
    return getattr(importlib.import_module(module), attr)


def get_spec(name: str) -> ProviderSpec:
    """The spec registered under ``name`` (case-insensitive).

    Raises UnknownProviderError listing the known names.
    """
    if not isinstance(name, str):
        raise ConfigurationError(f"provider must be a name such as 'sim', got {type(name).__name__} "
                                 f"{check.show(name)}")
    key = name.strip().lower()
    path = _REGISTRY.get(key)
    if path is None:
        known = ", ".join(_REGISTRY)
        if key in PLANNED:
            raise UnknownProviderError(
                f"provider {check.show(name)} is not available in this version of mdsdk yet; available: {known}")
        raise UnknownProviderError(f"unknown provider {check.show(name)}; known providers: {known}")
    spec = load_object(path)
    if not isinstance(spec, ProviderSpec):
        raise UnknownProviderError(f"provider {name!r} is registered as {path}, which is not a ProviderSpec")
    return spec


def notice_kinds() -> Set[str]:
    """Every provider's own event kinds (``capabilities.notices``) together. It imports every provider, so it
    serves error paths only: telling a kind another provider streams from a misspelt one."""
    return {kind for name in _REGISTRY for kind in get_spec(name).capabilities.notices}


def emulator_options(spec: ProviderSpec, server: Any) -> Dict[str, Any]:
    """The keyword arguments that point provider ``spec`` at a running
    emulator ``server``: its URL, REST base and credentials, as far as the
    provider takes them (``mdsdk.connect(name, **emulator_options(...))``)."""
    names = {o.name for o in spec.options}
    # An emulator whose clients find the socket over REST says so (client_options); else URL, REST base, credentials.
    given = getattr(server, "client_options", None) or dict(
        url=server.url, api_url=getattr(server, "api_url", None), **server.credentials)
    return {k: v for k, v in given.items() if k in names and v is not None}
