"""Client commands of the TD Ameritrade / Schwab streamer, and which service streams what (pure data and functions).

Everything the two generations do differently when *sending* is data here: the identity keys every command
carries (TDA ``account``/``source``, Schwab ``SchwabClientCustomerId``/``SchwabClientCorrelId``: reference section
3.1), the LOGIN shape (section 5.1), whether QOS exists (TDA only: section 5.3) and the service of each concept
(:mod:`.variants`). Frames are serialised as tda-api and schwab-py do (``json.dumps`` with its default separators,
one command per ``{"requests": [...]}`` envelope), so a recorded session compares byte for byte.

Symbols (section 6): equities ``AAPL`` (indices ``$SPX``), futures ``/ESZ24``, futures options ``./OZCZ23C565``,
forex ``EUR/USD``, options in the broker's own form: Schwab's 21-character OSI ``AAPL  251219C00200000``, TDA's
``GOOG_052920C620``. quote, trade and summary come from the level-one service of the symbol's form; bar (one
minute only) from CHART_EQUITY / CHART_FUTURES; book from NASDAQ_BOOK (equities) or OPTIONS_BOOK (options)."""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import re
import urllib.parse
from typing import Any, Callable, Dict, Iterable, Mapping, Optional, Tuple

from ...errors import AuthenticationError, ProviderError, UnsupportedError
from ..base import HttpRequest, HttpResponse, Subscription
from .variants import LEVEL_ONE, Variant, category

__all__ = ["Identity", "Command", "symbol_form", "service_of", "fields_for", "encode", "login_request",
           "streamer_url", "has_qos", "redacted_forms", "streamer_info_request", "parse_streamer_info",
           "ACCOUNT_ACTIVITY", "BOOK_FIELDS", "FIELD_MODES", "QOS_LEVELS"]

ACCOUNT_ACTIVITY = "ACCT_ACTIVITY"
BOOK_FIELDS = "0,1,2,3"      # books and account activity: key, time/account, bids/type, asks/data (section 7)
QOS_LEVELS = ("0", "1", "2", "3", "4", "5")  # express 500 ms ... delayed 5 s; "2" (1 s) is the server's default
FIELD_MODES = ("all", "kinds")  # the ``fields`` option: every field, or those the subscribed kinds deliver
_KIND_ALSO = {"trade": ("total_volume",)}  # Trade.day_volume comes from a summary-category field

_OSI = re.compile(r"[A-Z0-9.]{1,6} *[0-9]{6}[CP][0-9]{8}\Z")          # Schwab: AAPL  251219C00200000
_TDA_OPTION = re.compile(r"[A-Z0-9.]{1,10}_[0-9]{6}[CP][0-9.]+\Z")    # TDA: GOOG_052920C620

# mdsdk kind -> {symbol form -> concept of variants.py}
_CONCEPTS: Mapping[str, Mapping[str, str]] = {
    **{kind: {"equity": "level_one_equity", "option": "level_one_option", "future": "level_one_future",
              "future_option": "level_one_future_option", "forex": "level_one_forex"}
       for kind in ("quote", "trade", "summary")},
    "bar": {"equity": "chart_equity", "future": "chart_future"},
    "book": {"equity": "book_nasdaq", "option": "book_options"},
    "news": {"equity": "news"},
}


@dataclasses.dataclass(frozen=True)
class Identity:
    """Who the session is, beyond the token. TDA (from userprincipals): ``account`` (accountId, every command's
    ``account``), ``app_id`` (every command's ``source``), ``company``, ``segment``, ``cddomain``, ``usergroup``,
    ``accesslevel``, ``acl`` and ``timestamp_ms`` (tokenTimestamp in ms) for the LOGIN credential. Schwab (from
    userPreference): ``customer_id``, ``correl_id`` (must not change during a session), ``channel`` and
    ``function_id``. ``activity_key`` is the ACCT_ACTIVITY key (TDA: streamerSubscriptionKeys, the account id
    when empty; Schwab: any text, the correl id when empty)."""

    account: str = ""
    app_id: str = ""
    company: str = ""
    segment: str = ""
    cddomain: str = ""
    usergroup: str = ""
    accesslevel: str = ""
    acl: str = ""
    timestamp_ms: int = 0
    customer_id: str = ""
    correl_id: str = ""
    channel: str = ""
    function_id: str = ""
    activity_key: str = ""

    def __repr__(self) -> str:  # the identity is not secret, but it is personal: keep it out of logs
        return f"Identity(account={'***' if self.account else ''!s}, customer_id={'***' if self.customer_id else ''})"

    @property
    def park_key(self) -> str:
        """The ACCT_ACTIVITY key this session subscribes to keep its subscription set non-empty."""
        return self.activity_key or self.account or self.correl_id


@dataclasses.dataclass(frozen=True)
class Command:
    """One command to send: ``service``, ``command`` (SUBS, ADD, UNSUBS, VIEW, QOS, LOGIN...) and its
    ``parameters``; ``purpose`` says what its answer settles ("login", "subs", "unsubs", "qos", "park",
    "keepalive")."""

    service: str
    command: str
    parameters: Mapping[str, str]
    purpose: str

    @property
    def keys(self) -> Tuple[str, ...]:
        """The symbols the command names."""
        keys = self.parameters.get("keys", "")
        return tuple(keys.split(",")) if keys else ()


def symbol_form(symbol: str) -> str:
    """The form of ``symbol``: "future_option", "future", "forex", "option" or "equity"."""
    if symbol.startswith("./"):
        return "future_option"
    if symbol.startswith("/"):
        return "future"
    if "/" in symbol:
        return "forex"
    if _OSI.match(symbol) or _TDA_OPTION.match(symbol):
        return "option"
    return "equity"


def service_of(variant: Variant, sub: Subscription) -> str:
    """The wire service streaming ``sub`` on ``variant``; UnsupportedError naming the variant when it has none."""
    if sub.kind == "account_activity":
        raise UnsupportedError(f"account activity needs no subscription: the {variant.name} stream carries it from "
                               "login on; take it with feed.on('account_activity', fn)")
    form = symbol_form(sub.symbol)
    if sub.kind == "screener":  # keys such as NYSE_VOLUME_5 or OPTION_PUT_TRADES_30 (section 7.13)
        form = "screener key"
        concept: Optional[str] = "screener_option" if sub.symbol.startswith("OPTION_") else "screener_equity"
    else:
        concept = _CONCEPTS.get(sub.kind, {}).get(form)
    wire = variant.concepts.get(concept) if concept is not None else None
    if wire is None:
        raise UnsupportedError(f"the {variant.name} streamer has no {sub.kind!r} stream for {form} symbols "
                               f"such as {sub.symbol!r}")
    if sub.kind == "bar" and (sub.interval or "1m") != "1m":
        raise UnsupportedError(f"the {variant.name} streamer streams one-minute bars only, not {sub.interval!r} "
                               f"(CHART_EQUITY / CHART_FUTURES)")
    return wire


def fields_for(variant: Variant, service: str, kinds: Optional[Iterable[str]] = None) -> str:
    """The field list to request for ``service``, sorted, always with 0 (the key). Without ``kinds``: every
    known field, what tda-api and schwab-py request. With ``kinds`` (of a level-one service): only the fields
    of those kinds' events, their own values and their ``extra`` (:func:`.variants.category`), which is all
    such a subscription ever delivers."""
    svc = variant.service(service)
    fields: Mapping[str, Tuple[str, str]] = svc.fields if svc is not None else {}
    if kinds is not None and svc is not None and svc.kind == LEVEL_ONE:
        wanted = set(kinds)
        also = {name for kind in wanted for name in _KIND_ALSO.get(kind, ())}
        fields = {n: spec for n, spec in fields.items() if category(spec[0]) in wanted or spec[0] in also}
    numbers = sorted({0, *(int(n) for n in fields)})
    return ",".join(map(str, numbers)) if len(numbers) > 1 else BOOK_FIELDS


def _tda_ids(ident: Identity) -> Dict[str, Any]:
    return {"account": ident.account, "source": ident.app_id}


def _schwab_ids(ident: Identity) -> Dict[str, Any]:
    return {"SchwabClientCustomerId": ident.customer_id, "SchwabClientCorrelId": ident.correl_id}


def _tda_login(ident: Identity, token: str, rid: str) -> Dict[str, Any]:
    # The credential's keys and their order are tda-api's (reference section 5.1).
    credential = urllib.parse.urlencode([
        ("userid", ident.account), ("token", token), ("company", ident.company), ("segment", ident.segment),
        ("cddomain", ident.cddomain), ("usergroup", ident.usergroup), ("accesslevel", ident.accesslevel),
        ("authorized", "Y"), ("timestamp", str(ident.timestamp_ms)), ("appid", ident.app_id), ("acl", ident.acl)])
    return {"service": "ADMIN", "requestid": rid, "command": "LOGIN", **_tda_ids(ident),
            "parameters": {"credential": credential, "token": token, "version": "1.0"}}


def _schwab_login(ident: Identity, token: str, rid: str) -> Dict[str, Any]:
    return {"requestid": rid, "service": "ADMIN", "command": "LOGIN", **_schwab_ids(ident),
            "parameters": {"Authorization": token, "SchwabClientChannel": ident.channel,
                           "SchwabClientFunctionId": ident.function_id}}


@dataclasses.dataclass(frozen=True)
class _Shape:
    ids: Callable[[Identity], Dict[str, Any]]
    login: Callable[[Identity, str, str], Dict[str, Any]]
    qos: bool


_SHAPES: Mapping[str, _Shape] = {"tda": _Shape(_tda_ids, _tda_login, qos=True),
                                 "schwab": _Shape(_schwab_ids, _schwab_login, qos=False)}


def has_qos(variant: Variant) -> bool:
    """True when the variant has the QOS command (TDA)."""
    return _SHAPES[variant.name].qos


def encode(variant: Variant, ident: Identity, cmd: Command, rid: str) -> str:
    """One command frame in ``variant``'s shape with request id ``rid`` (a string, as the libraries send)."""
    body = {"service": cmd.service, "requestid": rid, "command": cmd.command, **_SHAPES[variant.name].ids(ident),
            "parameters": dict(cmd.parameters)}
    return json.dumps({"requests": [body]})


def login_request(variant: Variant, ident: Identity, token: str, rid: str) -> str:
    """The LOGIN frame of ``variant`` (section 5.1): TDA's credential string, or Schwab's raw access token."""
    return json.dumps({"requests": [_SHAPES[variant.name].login(ident, token, rid)]})


def streamer_url(url: str) -> str:
    """The socket URL: TDA's streamerSocketUrl is a bare host (``wss://<host>/ws``); a URL with a scheme (Schwab's,
    or an emulator's ``ws://``) is used as given."""
    return url if "://" in url or not url else f"wss://{url}/ws"


def redacted_forms(token: Optional[str]) -> Tuple[str, ...]:
    """``token`` as it appears inside a TDA credential (form-encoded) besides itself, for redaction."""
    if not token:
        return ()
    quoted = urllib.parse.quote_plus(token)
    return (token, quoted) if quoted != token else (token,)


# ---------------------------------------------------------------- streamer info over REST (section 1)
_INFO_PATHS = {"tda": ("/v1/userprincipals", {"fields": "streamerSubscriptionKeys,streamerConnectionInfo"}),
               "schwab": ("/trader/v1/userPreference", None)}


def streamer_info_request(variant: Variant, access_token: str) -> HttpRequest:
    """The REST call that tells where and as whom to stream: TDA userprincipals, Schwab userPreference."""
    path, params = _INFO_PATHS[variant.name]
    return HttpRequest("GET", path, params=params, headers={"Authorization": f"Bearer {access_token}"})


def _tda_info(body: Mapping[str, Any], access_token: str, given: Identity) -> Tuple[str, str, Identity]:
    info = body["streamerInfo"]
    accounts = body.get("accounts") or [{}]
    acct = next((a for a in accounts if given.account and str(a.get("accountId")) == given.account), accounts[0])
    stamp = _dt.datetime.strptime(str(info["tokenTimestamp"]), "%Y-%m-%dT%H:%M:%S%z")
    keys = (body.get("streamerSubscriptionKeys") or {}).get("keys") or [{}]
    ident = dataclasses.replace(
        given, account=str(acct.get("accountId", "")), app_id=str(info.get("appId", "")),
        company=str(acct.get("company", "")), segment=str(acct.get("segment", "")),
        cddomain=str(acct.get("accountCdDomainId", "")), usergroup=str(info.get("userGroup", "")),
        accesslevel=str(info.get("accessLevel", "")), acl=str(info.get("acl", "")),
        timestamp_ms=int(stamp.timestamp()) * 1000, activity_key=given.activity_key or str(keys[0].get("key", "")))
    return str(info["streamerSocketUrl"]), str(info["token"]), ident


def _schwab_info(body: Mapping[str, Any], access_token: str, given: Identity) -> Tuple[str, str, Identity]:
    info = body["streamerInfo"][0]  # a list on Schwab
    ident = dataclasses.replace(
        given, customer_id=str(info["schwabClientCustomerId"]),
        correl_id=given.correl_id or str(info.get("schwabClientCorrelId", "")),
        channel=str(info.get("schwabClientChannel", "")), function_id=str(info.get("schwabClientFunctionId", "")))
    return str(info["streamerSocketUrl"]), access_token, ident


_INFO_PARSERS = {"tda": _tda_info, "schwab": _schwab_info}


def parse_streamer_info(variant: Variant, response: HttpResponse, access_token: str,
                        given: Identity) -> Tuple[str, str, Identity]:
    """(socket URL, LOGIN token, identity) from the streamer-info answer; AuthenticationError for 401/403,
    ProviderError for another failure or a body without streamer info."""
    if response.status in (401, 403):
        raise AuthenticationError(f"the {variant.name} API refused the access token ({response.status}); "
                                  "refresh it (Schwab refresh tokens expire after 7 days)")
    try:
        if response.status != 200:
            raise ValueError(f"HTTP {response.status}")
        return _INFO_PARSERS[variant.name](response.body, access_token, given)
    except (KeyError, IndexError, TypeError, ValueError, AttributeError) as exc:
        raise ProviderError(f"the {variant.name} streamer info could not be read ({str(exc)[:120]})",
                            provider=variant.name, code=response.status) from None
