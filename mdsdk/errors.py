"""The mdsdk exception tree.

Every failure a user can see is one of these types. Third-party errors
(websocket-client, requests, json) are translated at one boundary and chained
with ``raise ... from``; they never escape on their own. Several classes also
inherit a builtin so callers can catch by meaning (``ValueError``,
``LookupError``, ``OSError``, ``TimeoutError``).

Messages say what was wrong and what to do. Secrets never appear in them: use
:func:`redact` on any text that may carry a credential before it reaches a
message or a log line.
"""

from __future__ import annotations

import re
from typing import Iterable, List, Optional

__all__ = [
    "MdsdkError",
    "ConfigurationError",
    "UnknownProviderError",
    "UnsupportedError",
    "AuthenticationError",
    "SubscriptionError",
    "TransportError",
    "UpgradeRefused",
    "ConnectionLost",
    "ProtocolError",
    "LocalProtocolError",
    "RemoteProtocolError",
    "ProviderError",
    "RateLimitedError",
    "TakeoverError",
    "RequestTimeout",
    "ClosedError",
    "redact",
]

_SECRET_KEYS = re.compile(
    r'(?i)("?(?:password|passwd|token|access_token|refresh_token|session-token|'
    r'remember-token|api_key|apikey|secret|client_secret|authorization|sec)"?\s*[:=]\s*)'
    r'("[^"]*"|[^\s,&}]+)'
)


def redact(text: str, secrets: Iterable[Optional[str]] = (), fragments: int = 0) -> str:
    """Return ``text`` with every known secret value and every ``key=value``
    pair whose key names a credential replaced by ``***``.

    Known secrets (the exact strings the user passed) are removed first, so a
    token is hidden even where it appears without a telling key; then
    credential-looking pairs such as ``"token":"..."`` are masked. With
    ``fragments=n``, any run of ``n`` or more characters of a secret is masked
    too: for short text built from values that were cut (an error message
    quoting 40 characters of a field), where the whole secret no longer occurs.
    """
    out = str(text)
    known: List[str] = [s for s in secrets if s and len(s) >= 3]
    for secret in known:
        out = out.replace(secret, "***")
    if fragments:
        out = _mask_fragments(out, known, fragments)
    return _SECRET_KEYS.sub(lambda m: m.group(1) + ("\"***\"" if m.group(2).startswith('"') else "***"), out)


def _mask_fragments(text: str, secrets: List[str], n: int) -> str:
    hidden = [False] * len(text)
    for secret in secrets:
        for i in range(len(secret) - n + 1):
            piece, at = secret[i:i + n], text.find(secret[i:i + n])
            while at >= 0:
                hidden[at:at + n] = [True] * n
                at = text.find(piece, at + 1)
    if not any(hidden):
        return text
    out, i = [], 0
    while i < len(text):
        if hidden[i]:
            while i < len(text) and hidden[i]:
                i += 1
            out.append("***")
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


class MdsdkError(Exception):
    """Base class of every error mdsdk raises on purpose."""


class ConfigurationError(MdsdkError, ValueError):
    """A user-supplied option, interval, symbol list or time range is invalid."""


class UnknownProviderError(MdsdkError, LookupError):
    """The provider name is not registered; the message lists the known names."""


class UnsupportedError(MdsdkError):
    """The provider cannot do what was asked (for example, history on a feed
    that has none)."""


class AuthenticationError(MdsdkError):
    """The server refused the credentials or token. mdsdk does not retry this
    in a loop: fix the credentials and connect again."""


class SubscriptionError(MdsdkError):
    """The server rejected a subscription for one symbol.

    Attributes carry the symbol, the server's code and its text so a caller can
    tell a typo from an entitlement problem.
    """

    def __init__(self, message: str, *, symbol: Optional[str] = None,
                 code: Optional[object] = None, text: Optional[str] = None) -> None:
        super().__init__(message)
        self.symbol = symbol
        self.code = code
        self.text = text


class TransportError(MdsdkError, OSError):
    """The network connection could not be opened or failed."""


class UpgradeRefused(TransportError):
    """The server answered the WebSocket upgrade with an HTTP error
    ``status`` (401 when it refuses the credentials sent in the upgrade)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class ConnectionLost(TransportError):
    """An established connection dropped, stalled past its deadline or was
    closed by the server."""


class ProtocolError(MdsdkError):
    """A message broke the wire protocol's rules."""


class LocalProtocolError(ProtocolError):
    """mdsdk was asked to send something the protocol does not allow in the
    current state (a bug in the caller or in mdsdk)."""


class RemoteProtocolError(ProtocolError):
    """The server sent something malformed or out of order."""


class ProviderError(MdsdkError):
    """The provider answered with an error. ``provider``, ``code`` and
    ``message`` hold what it said."""

    def __init__(self, message: str, *, provider: Optional[str] = None,
                 code: Optional[object] = None, server_message: Optional[str] = None) -> None:
        super().__init__(message)
        self.provider = provider
        self.code = code
        self.message = server_message if server_message is not None else message


class RateLimitedError(ProviderError):
    """The provider throttled us; wait before retrying (see ``retry_after``)."""

    def __init__(self, message: str, *, retry_after: Optional[float] = None, **kwargs: object) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.retry_after = retry_after


class TakeoverError(ProviderError):
    """Another client logged in with the same credentials and the server
    closed this session; mdsdk does not fight back by reconnecting."""


class RequestTimeout(MdsdkError, TimeoutError):
    """Nothing arrived within the time the caller allowed."""


class ClosedError(MdsdkError):
    """The feed (or stream) was used after ``close()``."""
