"""mdsdk: live and historical market data from streaming WebSocket APIs,
behind one blocking API.

>>> import mdsdk
>>> with mdsdk.connect("sim") as feed:
...     q = feed.get_quote("SPY")
"""

from __future__ import annotations

from typing import Any, Optional

from ._version import __version__
from .errors import (AuthenticationError, ClosedError, ConfigurationError, ConnectionLost,
                     LocalProtocolError, MdsdkError, ProtocolError, ProviderError, RateLimitedError,
                     RemoteProtocolError, RequestTimeout, SubscriptionError, TakeoverError,
                     TransportError, UnknownProviderError, UnsupportedError)
from .events import (Bar, BookSnapshot, Event, PnL, Profile, Quote, Status, Summary,
                     Trade)
from .exports import export
from .feed import Feed
from .policy import QueuePolicy, RateLimit, ReconnectPolicy, Timeouts
from .providers.freshness import Staleness
from .sessions import MarketCalendar
from .registry import DEFAULT_PROVIDER, get_spec, known_providers
from .replay import replay

__all__ = [
    "__version__", "connect", "replay", "export", "known_providers", "providers", "Feed",
    "Event", "Quote", "Trade", "Bar", "Summary", "Profile", "BookSnapshot", "PnL", "Status",
    "QueuePolicy", "ReconnectPolicy", "Timeouts", "RateLimit", "Staleness", "MarketCalendar",
    "MdsdkError", "ConfigurationError", "UnknownProviderError", "UnsupportedError",
    "AuthenticationError", "SubscriptionError", "TransportError", "ConnectionLost", "ProtocolError",
    "LocalProtocolError", "RemoteProtocolError", "ProviderError", "RateLimitedError", "TakeoverError",
    "RequestTimeout", "ClosedError",
]


def connect(provider: str = DEFAULT_PROVIDER, *, record: Optional[str] = None,
            reconnect: Optional[ReconnectPolicy] = None, timeouts: Optional[Timeouts] = None,
            queue: Optional[QueuePolicy] = None, callback_queue: Optional[QueuePolicy] = None,
            **options: Any) -> Feed:
    """Open a :class:`Feed` to ``provider`` and wait until it is streaming.

    ``mdsdk.providers()`` lists the providers (``sim``, the default, needs no account).
    Options and credentials are keyword arguments or ``MDSDK_<PROVIDER>_<OPTION>``
    environment variables; every provider accepts ``url=`` (and ``api_url=``
    where it has REST); ``emulate=True`` runs the provider's own emulator
    in-process and connects to it. ``record="session.jsonl"`` records every frame.
    Raises UnknownProviderError, ConfigurationError, AuthenticationError or
    TransportError when the feed cannot be opened.
    """
    return Feed(provider, record=record, reconnect=reconnect, timeouts=timeouts, queue=queue,
                callback_queue=callback_queue, **options)


def providers() -> Any:
    """The registered providers and what each can do, as a pandas DataFrame
    (one row per provider: kinds, history, acks, rpc, rest, emulator,
    description)."""
    from .frames import table
    rows = []
    for name in known_providers():
        spec = get_spec(name)
        rows.append(dict(provider=name, **spec.capabilities.row(), emulator=bool(spec.emulator),
                         description=spec.description))
    return table(rows, index="provider")
