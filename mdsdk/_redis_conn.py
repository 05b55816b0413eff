"""The Redis client of the sinks: URL checks, the client itself, and the one
place where redis-py's errors become ``mdsdk.errors`` types.

redis-py is an optional extra, imported here on first use (``need``), so
``import mdsdk`` never loads it. The password of a URL is kept by the client
alone: what the sinks show (reprs, logs, error messages, Status events) is
the URL with its password masked, and every message from Redis or the
network goes through :meth:`RedisTarget.redact` first.
"""

from __future__ import annotations

from typing import Any, Callable, Tuple, Type, TypeVar
from urllib.parse import parse_qsl, unquote, urlsplit

from ._extras import need
from .errors import AuthenticationError, ConfigurationError, MdsdkError, ProviderError, TransportError, redact

__all__ = ["DEFAULT_URL", "RedisTarget", "redis_errors"]

DEFAULT_URL = "redis://127.0.0.1:6379/0"
_SCHEMES = ("redis", "rediss", "unix")
_EXAMPLE = "for example redis://127.0.0.1:6379/0 or redis://:PASSWORD@host:6379/0"
T = TypeVar("T")


def _masked(url: str) -> Tuple[str, Tuple[str, ...]]:
    """``url`` with its password shown as ``***``, and the secrets it holds."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return redact(url.split("@")[-1] if "@" in url else url), ()
    secrets = [p for p in (password, unquote(password or "")) if p]
    secrets += [v for k, v in parse_qsl(parts.query) if k.lower() == "password" and v]
    netloc = parts.netloc
    if password is not None:
        netloc = f"{parts.username or ''}:***@" + netloc.rsplit("@", 1)[1]
    shown = f"{parts.scheme}://{netloc}{parts.path}" + (f"?{parts.query}" if parts.query else "")
    return redact(shown, secrets), tuple(secrets)


class RedisTarget:
    """A checked ``redis://``, ``rediss://`` or ``unix://`` URL: ``safe`` is
    the URL to show, with the password masked."""

    def __init__(self, url: Any) -> None:
        if not isinstance(url, str) or not url.strip():
            raise ConfigurationError(f"url must be a Redis URL (a string), {_EXAMPLE}; got {type(url).__name__}")
        self._url = url.strip()
        self.safe, self._secrets = _masked(self._url)
        scheme = self._url.split(":", 1)[0].lower() if "://" in self._url else ""
        if scheme not in _SCHEMES:
            raise ConfigurationError(f"url must start with redis://, rediss:// or unix://, {_EXAMPLE}; "
                                     f"got {self.safe[:120]!r}")
        self._check_parts(scheme)

    def _check_parts(self, scheme: str) -> None:
        parts = urlsplit(self._url)
        if scheme == "unix":
            if not parts.path:
                raise ConfigurationError(f"a unix:// Redis URL needs the socket path, got {self.safe!r}")
            return
        try:
            parts.port  # noqa: B018 - urlsplit checks the port only when asked for it
        except ValueError:
            raise ConfigurationError(f"the port of Redis URL {self.safe!r} is not a number from 1 to 65535; "
                                     f"{_EXAMPLE}") from None
        if not parts.hostname:
            raise ConfigurationError(f"Redis URL {self.safe!r} names no host; {_EXAMPLE}")
        db = parts.path.strip("/")
        if db and not db.isdigit():
            raise ConfigurationError(f"the path of Redis URL {self.safe!r} must be a database number such as /0, "
                                     f"got /{redact(db, self._secrets)[:40]}")

    def redact(self, text: str) -> str:
        """``text`` with this URL's password (and anything that looks like a credential) masked."""
        return redact(text, self._secrets)

    def __repr__(self) -> str:
        return f"RedisTarget({self.safe!r})"

    def translate(self, exc: BaseException, doing: str) -> MdsdkError:
        """The ``mdsdk.errors`` type for a redis-py or socket error met while
        ``doing`` something; the message says what failed and what to do."""
        exceptions = need("redis.exceptions")
        text = self.redact(str(exc) or type(exc).__name__)
        if isinstance(exc, exceptions.AuthenticationError) or any(w in text for w in ("WRONGPASS", "NOAUTH")):
            return AuthenticationError(f"Redis at {self.safe} refused the credentials while {doing} ({text}); "
                                       "put the right user and password in the URL")
        if isinstance(exc, (exceptions.ConnectionError, exceptions.TimeoutError, OSError)):
            return TransportError(f"cannot reach Redis at {self.safe} while {doing} ({text}); start redis-server "
                                  "there, or fix the host and port in the URL")
        if "WRONGTYPE" in text:
            text += "; a key under this prefix is not a stream: choose another prefix"
        return ProviderError(f"Redis at {self.safe} answered an error while {doing}: {text}", provider="redis",
                             server_message=text)

    def client(self, timeout: float, read_timeout: float = 0.0) -> Any:
        """A redis-py client for this URL that has not connected yet: RESP2
        replies as bytes, ``timeout`` seconds to connect and ``timeout +
        read_timeout`` per reply (a blocking read waits ``read_timeout`` on
        the server), and no retries of its own (the sink has its backoff; a
        source reports at once). Raises ConfigurationError when the extra is
        missing or redis-py refuses the URL."""
        redis = need("redis")
        retry = need("redis.retry").Retry(need("redis.backoff").NoBackoff(), 0)
        try:
            return redis.Redis.from_url(self._url, socket_connect_timeout=timeout,
                                        socket_timeout=timeout + read_timeout, retry=retry, protocol=2,
                                        decode_responses=False)
        except (ValueError, TypeError) as exc:
            raise ConfigurationError(f"Redis URL {self.safe!r} is not usable: {self.redact(str(exc))}; "
                                     f"{_EXAMPLE}") from None

    def call(self, doing: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``fn(*args, **kwargs)`` with redis-py's errors translated (the boundary)."""
        try:
            return fn(*args, **kwargs)
        except redis_errors() as exc:
            raise self.translate(exc, doing) from exc


def redis_errors() -> Tuple[Type[BaseException], ...]:
    """The exception types a Redis call raises for the server or the network."""
    return need("redis.exceptions").RedisError, OSError
