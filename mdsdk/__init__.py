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
                     RemoteProtocolError, RequestTimeout, SubscriptionError, TransportError,
                     UnknownProviderError, UnsupportedError)
from .events import (Bar, BookSnapshot, Event, PnL, Profile, Quote, Status, Summary,
                     Trade)
from .feed import Feed
from .policy import QueuePolicy, ReconnectPolicy, Timeouts
from .registry import known_providers
from .replay import replay

__all__ = [
    "__version__", "connect", "replay", "known_providers", "Feed",
    "Event", "Quote", "Trade", "Bar", "Summary", "Profile", "BookSnapshot", "PnL", "Status",
    "QueuePolicy", "ReconnectPolicy", "Timeouts",
    "MdsdkError", "ConfigurationError", "UnknownProviderError", "UnsupportedError",
    "AuthenticationError", "SubscriptionError", "TransportError", "ConnectionLost", "ProtocolError",
    "LocalProtocolError", "RemoteProtocolError", "ProviderError", "RateLimitedError",
    "RequestTimeout", "ClosedError",
]


def connect(provider: str = "sim", *, record: Optional[str] = None,
            reconnect: Optional[ReconnectPolicy] = None, timeouts: Optional[Timeouts] = None,
            queue: Optional[QueuePolicy] = None, callback_queue: Optional[QueuePolicy] = None,
            **options: Any) -> Feed:
    """Open a :class:`Feed` to ``provider`` and wait until it is streaming.

    Providers: ``sim`` (default, no account), ``dxlink``, ``tastytrade``, ``tradovate``.
    Options and credentials are keyword arguments or ``MDSDK_<PROVIDER>_<OPTION>``
    environment variables; every provider accepts ``url=`` (and ``api_url=``
    where it has REST). ``record="session.jsonl"`` records every frame.
    Raises UnknownProviderError, ConfigurationError, AuthenticationError or
    TransportError when the feed cannot be opened.
    """
    return Feed(provider, record=record, reconnect=reconnect, timeouts=timeouts, queue=queue,
                callback_queue=callback_queue, **options)
