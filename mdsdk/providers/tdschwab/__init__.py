"""TD Ameritrade (``tda``) and Charles Schwab (``schwab``) streamers: one package, the differences as data.

Built: the sans-I/O streamer protocol (streamer info over REST, LOGIN, one command in flight, codes), the OAuth
access token from the ``access_token`` option (or ``MDSDK_<PROVIDER>_ACCESS_TOKEN``) or a schwab-py / tda-api
token file (``token_path``), refreshed ahead of expiry with ``app_key``/``app_secret`` and written back
atomically, and price history over REST. :data:`TDA_SPEC` and :data:`SCHWAB_SPEC` are the provider specs for
the registry; their emulators are :class:`mdsdk.testing.SchwabEmulator` and :class:`mdsdk.testing.TDAEmulator`."""

from __future__ import annotations

from typing import Callable, Optional, Tuple

from ...errors import ConfigurationError
from ..base import Config, Option, ProviderSpec, as_bool, one_of
from .auth import StoredToken, TokenFile, TokenKeeper
from .codec import Codec, Decoded, Notify, Response, parse
from .protocol import TDSchwabProtocol, capabilities_of
from .requests import FIELD_MODES, QOS_LEVELS, Identity
from .variants import SCHWAB, TDA, VARIANTS, Service, Variant

__all__ = ["Codec", "Decoded", "Notify", "Response", "parse", "SCHWAB", "TDA", "VARIANTS", "Service",
           "Variant", "TDSchwabProtocol", "Identity", "StoredToken", "TokenFile", "TokenKeeper", "TDA_SPEC",
           "SCHWAB_SPEC", "API_URLS", "make_protocol"]

API_URLS = {"tda": "https://api.tdameritrade.com", "schwab": "https://api.schwabapi.com"}


def _keeper(variant: Variant, config: Config) -> Tuple[Optional[TokenKeeper], Optional[TokenFile]]:
    """The OAuth token source, in order: ``access_token`` (argument or environment), then ``token_path``. The
    file is read here, in the factory, so the protocol object never opens one; a file given beside an explicit
    access token still supplies the refresh token (and takes the refreshed tokens)."""
    path = config.get("token_path")
    tfile = TokenFile(str(path)) if path else None
    stored = tfile.load() if tfile is not None else StoredToken()
    explicit = config.get("access_token")
    if explicit:
        known = stored.expires_at if str(explicit) == stored.access_token else None  # else of unknown age
        stored = StoredToken(str(explicit), stored.refresh_token, known, stored.creation_timestamp, stored.fields,
                             stored.wrapped)
    if config.get("refresh_token"):
        stored = StoredToken(stored.access_token, str(config["refresh_token"]), stored.expires_at,
                             stored.creation_timestamp, stored.fields, stored.wrapped)
    if not (stored.access_token or stored.refresh_token):
        return None, None
    return TokenKeeper(variant, stored, app_key=str(config.get("app_key") or ""),
                       app_secret=str(config.get("app_secret") or "")), tfile


def make_protocol(variant: Variant) -> Callable[[Config], TDSchwabProtocol]:
    """The factory of ``variant``'s protocol object from resolved options."""
    def make(config: Config) -> TDSchwabProtocol:
        keeper, tfile = _keeper(variant, config)
        url = str(config.get("url") or "")
        if keeper is None and not url:  # url= alone is a fixed socket (a replay, or a login the server judges)
            name = variant.name
            raise ConfigurationError(
                f"{name} needs an OAuth token: access_token=... (or MDSDK_{name.upper()}_ACCESS_TOKEN), or "
                f"token_path= a schwab-py token file with app_key= and app_secret= to refresh it")
        ident = Identity(account=str(config.get("account_id") or ""))
        proto = TDSchwabProtocol(variant, config.get("token"), url=url, identity=ident, qos=str(config["qos"]),
                                 oauth=keeper if not url else None, token_file=tfile,
                                 server_timeout=config["server_timeout"],
                                 keepalive_interval=config["keepalive_interval"],
                                 handshake_timeout=config["handshake_timeout"],
                                 command_timeout=config["command_timeout"], secrets=config.secrets,
                                 fields=str(config["fields"]))
        if url and keeper is not None:  # a fixed socket; the OAuth token still serves history
            proto.oauth, proto.token_file = keeper, tfile
        proto.api_url = str(config.get("api_url") or API_URLS[variant.name])
        return proto
    return make


def _options(variant: Variant) -> Tuple[Option, ...]:
    env = f"MDSDK_{variant.name.upper()}_"
    return (
        Option("access_token", secret=True, help=f"OAuth access token (or {env}ACCESS_TOKEN); it lives 30 minutes"),
        Option("token_path", help="the token file schwab-py / tda-api wrote (JSON: creation_timestamp + token); "
                                  f"refreshed tokens are written back to it (or {env}TOKEN_PATH)"),
        Option("app_key", secret=True, help="the app key (client id) that refreshes the access token"),
        Option("app_secret", secret=True, help="the app secret that refreshes the access token (Schwab)"),
        Option("refresh_token", secret=True, help="a refresh token, when there is no token file"),
        Option("account_id", help="TDA: the account to stream for when userprincipals lists several"),
        Option("api_url", None, help=f"REST base URL (default {API_URLS[variant.name]})"),
        Option("url", None, help="a streamer WebSocket URL to use as-is (with token=) instead of the REST lookup"),
        Option("token", secret=True, help="the streamer LOGIN token for url= (TDA streamer token, Schwab access "
                                          "token)"),
        Option("qos", "2", help="TDA QOS level 0 (fastest) .. 5; ignored on Schwab", kind=one_of(*QOS_LEVELS)),
        Option("fields", "all", help="level-one fields to request: all (every field, as tda-api and schwab-py do) "
                                     "or kinds (only what the subscribed kinds deliver; VIEW follows changes)",
               kind=one_of(*FIELD_MODES)),
        Option("server_timeout", 60.0, help="seconds of streamer silence before the socket counts as dead",
               kind=float),
        Option("keepalive_interval", 30.0, help="seconds between keepalive commands", kind=float),
        Option("handshake_timeout", 10.0, help="seconds allowed for the LOGIN answer", kind=float),
        Option("command_timeout", 30.0, help="seconds allowed for any command's answer", kind=float),
        Option("verify_tls", True, help="verify TLS certificates (true/false)", kind=as_bool),
        Option("emulate", False, help="run this provider's emulator in-process and connect to it", kind=as_bool),
    )


def _spec(variant: Variant, description: str) -> ProviderSpec:
    return ProviderSpec(name=variant.name, options=_options(variant), make_protocol=make_protocol(variant),
                        capabilities=capabilities_of(variant), description=description,
                        emulator=f"mdsdk.testing.tdschwab_emulator:{_EMULATORS[variant.name]}",
                        fixtures=(variant.name,))


_EMULATORS = {"tda": "TDAEmulator", "schwab": "SchwabEmulator"}


TDA_SPEC = _spec(TDA, "TD Ameritrade streamer and price history (the pre-2024 API; recordings and emulator)")
SCHWAB_SPEC = _spec(SCHWAB, "Charles Schwab streamer and price history (OAuth app key/secret and token file)")
