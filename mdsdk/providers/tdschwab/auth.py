"""OAuth access tokens of the TD Ameritrade / Schwab APIs: where they come from, their refresh, the token file.

Sources, in order: the ``access_token`` option (an argument, or ``MDSDK_SCHWAB_ACCESS_TOKEN`` /
``MDSDK_TDA_ACCESS_TOKEN``: the spine's option convention), then the token file a user already has
(``token_path``). That file is the one schwab-py (``schwab/auth.py``: ``TokenMetadata.wrap_token_in_metadata``)
and tda-api (``tda/auth.py``, same wrapper) write: ``{"creation_timestamp": <int s>, "token": {...}}`` where
``token`` is the OAuth token as the token endpoint answered it plus authlib's ``expires_at`` (epoch s):
``access_token``, ``refresh_token``, ``expires_at``, ``expires_in``, ``token_type``, ``scope``, ``id_token``.
``creation_timestamp`` is when the *refresh* token was made (schwab-py keeps it across refreshes; Schwab refresh
tokens live 7 days). tda-api also reads a legacy file: the bare token without the wrapper.

Access tokens live 30 minutes. :class:`TokenKeeper` refreshes them (Schwab: POST /v1/oauth/token with HTTP
Basic app_key:app_secret; TDA: POST /v1/oauth2/token with ``client_id`` = app key + ``@AMER.OAUTHAP``) as pure
REST flow steps; the spine's renewal deadline runs them ahead of expiry. A refused refresh (400/401, e.g.
``invalid_grant``) is final: :class:`~mdsdk.errors.AuthenticationError` saying the refresh token must be
recreated, remembered so nothing asks again. File I/O lives in :class:`TokenFile` only: the provider's factory
reads it, and the protocol hands each refreshed token to :meth:`TokenFile.save_request`, a step the runtime's I/O
worker carries out."""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import tempfile
import time
from typing import Any, Dict, Generator, Mapping, Optional, Tuple

from ...errors import AuthenticationError, ConfigurationError, ProviderError, redact
from ..base import HttpRequest, HttpResponse
from .variants import Variant

__all__ = ["StoredToken", "TokenFile", "TokenKeeper", "refresh_request", "parse_refresh", "TDA_KEY_SUFFIX",
           "ACCESS_LIFETIME", "REFRESH_LIFETIME"]

ACCESS_LIFETIME = 30 * 60.0          # seconds, when the answer has no expires_in
REFRESH_LIFETIME = 7 * 86400         # Schwab refresh tokens
TDA_KEY_SUFFIX = "@AMER.OAUTHAP"     # tda-api's _normalize_api_key
_EARLY = 60.0                        # an access token this close to expiry is refreshed before use
_TOKEN_PATHS = {"tda": "/v1/oauth2/token", "schwab": "/v1/oauth/token"}
_SECRET_FIELDS = ("access_token", "refresh_token", "id_token")


@dataclasses.dataclass(frozen=True)
class StoredToken:
    """One OAuth token: the access and refresh tokens, the access token's expiry (epoch s, None when unknown),
    the refresh token's ``creation_timestamp`` (None when unknown), every other field of the token as the server
    sent it (``fields``), and whether the file it came from had schwab-py's wrapper (``wrapped``)."""

    access_token: str = ""
    refresh_token: str = ""
    expires_at: Optional[float] = None
    creation_timestamp: Optional[int] = None
    fields: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    wrapped: bool = True

    def __repr__(self) -> str:  # every field but the times is a credential
        return f"StoredToken(expires_at={self.expires_at}, creation_timestamp={self.creation_timestamp})"

    @property
    def secrets(self) -> Tuple[str, ...]:
        """Every credential in the token, for redaction."""
        values = (self.access_token, self.refresh_token, *(str(self.fields.get(k) or "") for k in _SECRET_FIELDS))
        return tuple(dict.fromkeys(v for v in values if v))

    def document(self) -> Dict[str, Any]:
        """The file content, in the shape it was read in (schwab-py's wrapper unless it was a legacy file)."""
        token = dict(self.fields, access_token=self.access_token)
        if self.refresh_token:
            token["refresh_token"] = self.refresh_token
        if self.expires_at is not None:
            token["expires_at"] = int(self.expires_at)
        if not self.wrapped:
            return token
        return {"creation_timestamp": self.creation_timestamp if self.creation_timestamp is not None
                else int(time.time()), "token": token}


def parse_token_document(doc: Any, where: str) -> StoredToken:
    """A :class:`StoredToken` from a token file's JSON (wrapped or legacy); ConfigurationError naming ``where``
    (never the content) when it is not one."""
    wrapped = isinstance(doc, dict) and "creation_timestamp" in doc and isinstance(doc.get("token"), dict)
    token = doc["token"] if wrapped else doc
    if not isinstance(token, dict) or not (token.get("access_token") or token.get("refresh_token")):
        raise ConfigurationError(f"{where} is not a schwab-py / tda-api token file (expected "
                                 '{"creation_timestamp": ..., "token": {"access_token": ..., "refresh_token": ...}})')
    expires = token.get("expires_at")
    created = doc.get("creation_timestamp") if wrapped else None
    return StoredToken(str(token.get("access_token") or ""), str(token.get("refresh_token") or ""),
                       float(expires) if isinstance(expires, (int, float)) and not isinstance(expires, bool) else None,
                       int(created) if isinstance(created, (int, float)) else None,
                       {k: v for k, v in token.items() if k not in ("access_token", "refresh_token", "expires_at")},
                       wrapped)


class TokenFile:
    """The token file at ``path``: :meth:`load` reads it, :meth:`save` replaces it atomically (a temporary file in
    the same directory, mode 0600, then ``os.replace``), so a crash never leaves half a token behind and other
    users of the machine cannot read it. The only place of this package that touches the disk."""

    def __init__(self, path: str) -> None:
        self.path = os.path.expanduser(str(path))

    def __repr__(self) -> str:
        return f"TokenFile({self.path!r})"

    def load(self) -> StoredToken:
        """The token in the file; ConfigurationError (naming the path, never the content) when it is unusable."""
        try:
            with open(self.path, "rb") as fh:
                doc = json.loads(fh.read())
        except FileNotFoundError:
            raise ConfigurationError(f"token file {self.path!r} does not exist; create it with schwab-py "
                                     "(schwab.auth.client_from_manual_flow) or pass access_token=") from None
        except (OSError, ValueError) as exc:
            raise ConfigurationError(f"token file {self.path!r} could not be read as JSON "
                                     f"({type(exc).__name__})") from None
        return parse_token_document(doc, f"token file {self.path!r}")

    def save(self, token: StoredToken) -> None:
        """Write ``token`` in the file's shape, atomically and readable by its owner only (OSError on failure)."""
        folder = os.path.dirname(os.path.abspath(self.path))
        fd, tmp = tempfile.mkstemp(prefix=".mdsdk-token-", suffix=".tmp", dir=folder)
        try:
            os.fchmod(fd, 0o600)  # mkstemp makes 0600 already; say so for umask-less platforms
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(token.document(), fh)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise

    def save_request(self, token: StoredToken) -> HttpRequest:
        """:meth:`save` as a flow step the runtime's I/O worker carries out (``HttpRequest.run``), so neither
        the socket thread nor the sans-I/O protocol waits on the disk; a failed write is a ConfigurationError
        naming the file (never the token)."""
        def run() -> HttpResponse:
            try:
                self.save(token)
            except OSError as exc:
                raise ConfigurationError(f"could not write the refreshed token to {self.path!r} "
                                         f"({type(exc).__name__}: {exc.strerror or 'error'})") from None
            return HttpResponse(200, None)
        return HttpRequest("WRITE", self.path, run=run)


def _basic(app_key: str, app_secret: str) -> str:
    return "Basic " + base64.b64encode(f"{app_key}:{app_secret}".encode()).decode()


def tda_client_id(app_key: str) -> str:
    """TDA's OAuth client id: the app key with ``@AMER.OAUTHAP`` (tda-api adds it when missing)."""
    return app_key if app_key.endswith(TDA_KEY_SUFFIX) else app_key + TDA_KEY_SUFFIX


def refresh_request(variant: Variant, app_key: str, app_secret: str, refresh_token: str) -> HttpRequest:
    """The refresh-token grant of ``variant``, as the form body an OAuth token endpoint reads."""
    form: Dict[str, str] = {"grant_type": "refresh_token", "refresh_token": refresh_token}
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}
    if variant.name == "tda":
        form["client_id"] = tda_client_id(app_key)
    else:
        headers["Authorization"] = _basic(app_key, app_secret)
    return HttpRequest("POST", _TOKEN_PATHS[variant.name], form=form, headers=headers)


def _server_text(response: HttpResponse, secrets: Tuple[str, ...]) -> str:
    body = response.body
    text = ""
    if isinstance(body, dict):
        text = " ".join(str(body.get(k) or "") for k in ("error", "error_description", "message")).strip()
    return redact(text or response.text[:300] or f"HTTP {response.status}", secrets)


def _expiry(body: Mapping[str, Any], wall_s: float) -> float:
    lifetime = body.get("expires_in")
    if isinstance(lifetime, (int, float)) and not isinstance(lifetime, bool) and lifetime > 0:
        return wall_s + float(lifetime)
    return wall_s + ACCESS_LIFETIME


def parse_refresh(variant: Variant, response: HttpResponse, old: StoredToken, wall_s: float) -> StoredToken:
    """The refreshed token. A refused grant (400/401) is an AuthenticationError saying the refresh token must be
    recreated; any other failure a ProviderError with the server's (redacted) words."""
    secrets = old.secrets
    name = "Schwab" if variant.name == "schwab" else "TD Ameritrade"
    body = response.body if isinstance(response.body, dict) else {}
    if response.status in (400, 401, 403):
        raise AuthenticationError(
            f"{name} refused the refresh token ({response.status}: {_server_text(response, secrets)}); it must be "
            "recreated: run schwab-py's login flow again (schwab.auth.client_from_manual_flow) to write a new "
            "token file (Schwab refresh tokens expire after 7 days)")
    if response.status != 200 or not body.get("access_token"):
        text = _server_text(response, secrets)
        raise ProviderError(f"{name} answered the token refresh with HTTP {response.status}: {text}",
                            provider=variant.name, code=response.status, server_message=text)
    fields = {k: v for k, v in body.items() if k not in ("access_token", "refresh_token", "expires_at")}
    # The refresh token stays unless the answer brings a new one (authlib keeps the old one the same way).
    return StoredToken(str(body["access_token"]), str(body.get("refresh_token") or old.refresh_token),
                       _expiry(body, wall_s), old.creation_timestamp, {**old.fields, **fields}, old.wrapped)


class TokenKeeper:
    """The OAuth token of one feed, kept usable: :meth:`access_flow` is a REST flow step that returns an access
    token, refreshing first when the token is missing, about to expire, or ``force`` is set. A refresh that
    changed the token leaves it in :attr:`unsaved` for the protocol to hand to its :class:`TokenFile`. A refused
    refresh is remembered (:attr:`dead`) and raised again without asking the server."""

    def __init__(self, variant: Variant, token: StoredToken, *, app_key: str = "", app_secret: str = "") -> None:
        self.variant = variant
        self.token = token
        self.app_key, self.app_secret = app_key, app_secret
        self.dead: Optional[AuthenticationError] = None
        self.unsaved: Optional[StoredToken] = None
        self.refreshes = 0

    def __repr__(self) -> str:
        return f"TokenKeeper({self.variant.name}, {self.token!r}, can_refresh={self.can_refresh})"

    @property
    def can_refresh(self) -> bool:
        """True with a refresh token and the app credentials its grant needs."""
        need_secret = self.variant.name != "tda"
        return bool(self.token.refresh_token and self.app_key and (self.app_secret or not need_secret))

    @property
    def secrets(self) -> Tuple[str, ...]:
        """The tokens, the app secret and the Basic header made of it."""
        extra = (self.app_secret, _basic(self.app_key, self.app_secret)[6:]) if self.app_secret else ()
        return self.token.secrets + extra

    @property
    def expires_at(self) -> Optional[float]:
        """When the access token expires (epoch s), for the renewal deadline; None when it cannot be renewed."""
        return self.token.expires_at if self.can_refresh else None

    def usable(self, wall_s: float) -> bool:
        """True when the access token exists and is not about to expire. One of unknown age (an explicit
        ``access_token``, a file without ``expires_at``) counts as usable only when it cannot be refreshed:
        it may be 29 of its 30 minutes old, and refreshing it first gives the stream a known deadline for the
        next refresh instead of a close mid-stream."""
        exp = self.token.expires_at
        if exp is None:
            return bool(self.token.access_token) and not self.can_refresh
        return bool(self.token.access_token) and exp - _EARLY > wall_s

    def access_flow(self, wall_s: float, force: bool = False) -> Generator[HttpRequest, HttpResponse, str]:
        """A flow step yielding the refresh request when one is needed; returns the access token to use."""
        if self.dead is not None:
            raise self.dead
        if not force and self.usable(wall_s):
            return self.token.access_token
        if not self.can_refresh:
            if self.token.access_token and not force:
                return self.token.access_token  # nothing better: let the server judge it
            raise AuthenticationError(
                f"the {self.variant.name} access token has expired and cannot be refreshed: pass app_key= and "
                "app_secret= with token_path= (a schwab-py token file), or a fresh access_token=")
        answer = yield refresh_request(self.variant, self.app_key, self.app_secret, self.token.refresh_token)
        try:
            fresh = parse_refresh(self.variant, answer, self.token, wall_s)
        except AuthenticationError as exc:
            self.dead = exc
            raise
        self.token = self.unsaved = fresh
        self.refreshes += 1
        return fresh.access_token
