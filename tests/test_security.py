"""Secrets never leak, end to end, for every provider that has an emulator.

One full session per provider over real sockets, with distinctive secrets,
DEBUG logging on every logger, ``record=`` on, a server error and a malformed
frame that echo the secrets, a close whose reason echoes the token, history,
a token expiry (renewed or re-logged-in where the provider can, the end of
the feed where it cannot), and a second connect refused for a wrong password.
Then every place a secret could surface is searched for each of them: log
records (with tracebacks), exception text and reprs, the feed's reprs and
``stats()``, every Status, and the recording's bytes. Tokens the emulator
issued during the session (renewals, re-logins) count as secrets too.
"""

from __future__ import annotations

import json
import logging
import traceback
import uuid
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

import pytest

import mdsdk
from mdsdk import AuthenticationError, Quote, ReconnectPolicy, Status
from mdsdk.feed import emulator_options
from mdsdk.registry import get_spec, known_providers
from mdsdk.testing import CrossTradeEmulator, DXLinkEmulator, TDSchwabEmulator, TradovateEmulator

from .conftest import wait_until

# Providers whose users hand mdsdk a secret (the Theta Terminal holds ThetaData's login itself: nothing to leak).
PROVIDERS = [name for name in known_providers()
             if get_spec(name).emulator and any(o.secret for o in get_spec(name).options)]
FAST = ReconnectPolicy(initial=0.05, cap=0.2, jitter=0.1)
WAIT = 10.0  # seconds a step may take before the test gives up on it
PASSWORD = f"pw-S3CRET-{uuid.uuid4().hex}"
WRONG = f"wrong-S3CRET-{uuid.uuid4().hex}"
TOKEN = f"tok-S3CRET-{uuid.uuid4().hex}"
APP_SECRET = f"sec-S3CRET-{uuid.uuid4().hex}"
PIECE = 8  # this many characters in a row of a secret's random tail count as a leak (a cut-off secret)


@dataclass
class Session:
    """What one provider's run needs and what it saw."""

    name: str
    feed: mdsdk.Feed
    emu: Any
    wrong: Optional[Dict[str, Any]]  # connect options that must be refused, or None
    symbol: str
    given: Tuple[str, ...] = ()  # the secrets passed to connect (the client knows them)
    seen: List[Any] = field(default_factory=list)  # every event, in delivery order
    texts: List[Tuple[str, str]] = field(default_factory=list)  # (where, text) to search

    @property
    def tradovate(self) -> bool:
        return isinstance(self.emu, TradovateEmulator)

    def statuses(self, kind: Optional[str] = None) -> List[Status]:
        return [e for e in list(self.seen) if isinstance(e, Status) and kind in (None, e.kind)]

    def keep_error(self, where: str, exc: BaseException) -> None:
        text = "".join(traceback.format_exception(exc))  # chained causes too
        self.texts += [(where + " str", str(exc)), (where + " repr", repr(exc)), (where + " traceback", text)]


def _open(name: str, stack: ExitStack, record: Path) -> Session:
    """The provider's emulator (with distinctive secrets) and a recording feed on it."""
    spec = get_spec(name)
    if name == "sim":  # sim runs its own emulator in-process, as users get it
        feed = stack.enter_context(mdsdk.connect("sim", record=str(record), reconnect=FAST))
        return Session(name, feed, feed._emulated.server, None, DXLinkEmulator.example_symbol)
    if name in ("tda", "schwab"):  # OAuth: an access token with its refresh token and app credentials
        emu: Any = stack.enter_context(TDSchwabEmulator(variant=name, app_secret=APP_SECRET, tick=0.05))
        opts = emulator_options(spec, emu)
        feed = stack.enter_context(mdsdk.connect(name, record=str(record), reconnect=FAST, **opts))
        wrong_login = {"api_url": emu.api_url, "access_token": WRONG}
        return Session(name, feed, emu, wrong_login, emu.example_symbol, (APP_SECRET, emu.refresh_token))
    if name == "crosstrade":  # a fixed key in the upgrade's Bearer header
        emu = stack.enter_context(CrossTradeEmulator(tick=0.05))
        opts, given = emulator_options(spec, emu), (emu.token,)
    elif name == "tradovate":
        emu = stack.enter_context(TradovateEmulator(username="alice", password=PASSWORD, tick=0.05,
                                                         token_lifetime=4.0))  # renewed within the run
        opts = dict(emulator_options(spec, emu), sec=APP_SECRET, cid=4242)
        given: Tuple[str, ...] = (PASSWORD, APP_SECRET)
    else:
        emu = stack.enter_context(DXLinkEmulator(username="alice", password=PASSWORD, token=TOKEN, tick=0.05))
        opts, given = emulator_options(spec, emu), (TOKEN,)
        if name == "tastytrade":  # log in with the password; the quote token comes over REST
            opts, given = {"api_url": emu.api_url, "username": "alice", "password": PASSWORD}, (PASSWORD,)
    wrong = dict(opts, **({"token": WRONG} if "token" in opts else {"password": WRONG}))
    feed = stack.enter_context(mdsdk.connect(name, record=str(record), reconnect=FAST, **opts))
    return Session(name, feed, emu, wrong, emu.example_symbol, given)


def _fresh_quote(s: Session) -> None:
    """Wait for a quote delivered after the latest (re)connection."""
    def ok() -> bool:
        seen = list(s.seen)
        starts = [i for i, e in enumerate(seen) if isinstance(e, Status) and e.kind == "connected"]
        return any(isinstance(e, Quote) and e.symbol == s.symbol for e in seen[starts[-1]:])
    assert wait_until(ok, WAIT), f"{s.name}: no quote after the last (re)connection"


def _reconnected(s: Session, before: int) -> None:
    assert wait_until(lambda: len(s.statuses("connected")) > before, WAIT), f"{s.name} did not reconnect"
    _fresh_quote(s)


def _socket_token(s: Session) -> str:
    """The token the server's open session was authorized with: what it could echo."""
    assert wait_until(lambda: any(x.token for x in s.emu.sessions()), WAIT), f"{s.name}: no authorized session"
    return next(x.token for x in s.emu.sessions() if x.token)


def _echo(s: Session) -> None:
    """A server error and a malformed frame, both echoing the credentials."""
    token = _socket_token(s)
    said = f"bad request from alice: {', '.join(s.given + (token,))} are not valid here"
    errors, malformed = len(s.statuses("error")), s.feed.stats()["malformed"]
    code = f"E-{token}"  # an error code is server text too (it travels in Status.extra)
    if s.tradovate:
        s.emu.inject("a" + json.dumps([{"s": 500, "i": 999, "d": said},
                                       {"s": 400, "i": 998, "d": {"errorText": "refused", "errorCode": code}}]))
    elif s.name in ("tda", "schwab"):  # ADMIN notices (codes 9 and 17 leave the stream up)
        for content in ({"code": 9, "msg": said}, {"code": 17, "msg": f"refused {code}"}):
            s.emu.inject(json.dumps({"notify": [{"service": "ADMIN", "timestamp": 1, "content": content}]}))
    elif s.name == "crosstrade":  # error frames (the shape is undocumented; the emulator's)
        s.emu.inject(json.dumps({"type": "error", "error": said}))
        s.emu.inject(json.dumps({"type": "error", "error": f"refused {code}"}))
    else:
        s.emu.inject(json.dumps({"type": "ERROR", "channel": 0, "error": "BAD_ACTION", "message": said}))
        s.emu.inject(json.dumps({"type": "ERROR", "channel": 0, "error": code, "message": "refused"}))
    # Malformed frames are quoted cut short: put the token at many offsets, so
    # some frame is cut inside it (redacting after the cut would miss it).
    garbage = [f"{'a[' if s.tradovate else ''}{{not json {'x' * pad} token {token}" for pad in range(40, 140, 2)]
    for text in garbage:
        s.emu.inject(text)
    assert wait_until(lambda: len(s.statuses("error")) >= errors + 2 + len(garbage), WAIT), f"{s.name}: no Status"
    assert s.feed.stats()["malformed"] == malformed + len(garbage)


def _echo_after_renewal(s: Session) -> None:
    """Tradovate renews the token while the socket stays authorized with the
    old one; the server then quotes the old one."""
    renewed = s.feed.stats()["token_renewals"]
    assert wait_until(lambda: s.feed.stats()["token_renewals"] > renewed, WAIT), f"{s.name} never renewed its token"
    _echo(s)


def _close_with_token(s: Session) -> None:
    """The server closes the socket with a reason that echoes the token; the feed reconnects."""
    before = len(s.statuses("connected"))
    s.emu.close_with(1011, f"token {_socket_token(s)} rejected")
    _reconnected(s, before)


def _history(s: Session) -> None:
    bars = s.feed.history(s.symbol, interval="5m", start="-2h")
    assert len(bars) > 0, f"{s.name}: no history"


def _refusal_echoing_token(s: Session) -> None:
    """DXLink refuses the session's token mid-stream, quoting it: tastytrade
    logs in again and goes on; a fixed token (dxlink) ends the feed."""
    before, old = len(s.statuses("connected")), _socket_token(s)
    s.emu.inject(json.dumps({"type": "ERROR", "channel": 0, "error": "UNAUTHORIZED", "message":
                             f"com.dxfeed.auth.AuthException: token {old} has expired"}))
    _after_expiry(s, before, old)


def _expire(s: Session) -> None:
    """Every token the emulator issued expires. Tradovate finds out on the
    next authorize (a reconnect); DXLink tells the open sessions at once."""
    before, old = len(s.statuses("connected")), _socket_token(s)
    s.emu.expire_token()
    if s.tradovate or s.name in ("tda", "crosstrade"):  # the next login (upgrade) finds out
        s.emu.drop()
    _after_expiry(s, before, old)


def _after_expiry(s: Session, before: int, old: str) -> None:
    if s.name in ("tastytrade", "tradovate", "tda", "schwab"):  # a fresh token is one login away
        _reconnected(s, before)
        assert wait_until(lambda: {x.token for x in s.emu.sessions()} - {None, old}, WAIT), "no fresh token"
        return
    assert wait_until(lambda: any(st.extra.get("fatal") for st in s.statuses("error")), WAIT)
    with pytest.raises(AuthenticationError) as info:
        s.feed.get_quote(s.symbol)
    s.keep_error("error after the expiry", info.value)


def _refused(s: Session) -> None:
    """A second connect with a wrong password (or token) is refused without quoting it."""
    if s.wrong is None:
        return  # sim's in-process emulator takes whatever token it made itself
    with pytest.raises(AuthenticationError) as info:
        mdsdk.connect(s.name, **s.wrong)
    s.keep_error("refused connect", info.value)


STEPS: Dict[str, Tuple[Callable[[Session], None], ...]] = {
    "sim": (_echo, _close_with_token, _history, _expire),
    "dxlink": (_echo, _close_with_token, _history, _refused, _refusal_echoing_token),
    "tastytrade": (_echo, _close_with_token, _history, _refusal_echoing_token, _expire, _refused),
    "tradovate": (_echo, _close_with_token, _history, _echo_after_renewal, _expire, _refused),
    "tda": (_echo, _close_with_token, _history, _expire, _refused),
    "schwab": (_echo, _close_with_token, _history, _expire, _refused),
    "crosstrade": (_echo, _close_with_token, _history, _refused, _expire),
}


def _secrets(s: Session, extra: List[str]) -> Dict[str, str]:
    """label -> value of every secret of the run (the emulator's issued tokens included)."""
    found = {"password": PASSWORD, "wrong password": WRONG, "token": TOKEN, "app secret": APP_SECRET}
    found.update({f"issued token {i} ({t[:5]}...)": t for i, t in enumerate(s.emu.issued_tokens)})
    found.update({f"config secret {i}": v for i, v in enumerate(extra)})
    return found


def _pieces(secret: str) -> List[str]:
    """The secret and every PIECE-long run of its random tail (after the last "-")."""
    tail = secret.rsplit("-", 1)[-1]
    return [secret] + [tail[i:i + PIECE] for i in range(len(tail) - PIECE + 1)]


def _leak(label: str, secret: str, where: str, text: str) -> str:
    """One line for the failure report: what leaked where, with the text around it."""
    at = min(text.find(p) for p in _pieces(secret) if p in text)
    return f"{label} in {where}: ...{text[max(0, at - 60):at + 40]!r}..."


def _log_texts(caplog: pytest.LogCaptureFixture) -> List[Tuple[str, str]]:
    texts = [("caplog.text", caplog.text)]
    for r in caplog.records:
        where = f"log record {r.name}:{r.lineno}"
        texts += [(where, r.getMessage()), (where + " exc_text", r.exc_text or ""),
                  (where + " stack", r.stack_info or "")]
        if r.exc_info and r.exc_info[1] is not None:
            texts.append((where + " exc_info", "".join(traceback.format_exception(r.exc_info[1]))))
    return texts


def _status_texts(statuses: List[Status], where: str) -> List[Tuple[str, str]]:
    return [(f"{where} {st.kind}", f"{st.detail}\n{st}\n{st!r}") for st in statuses]


def _feed_texts(feed: mdsdk.Feed, when: str) -> List[Tuple[str, str]]:
    return [(f"repr(feed) {when}", repr(feed)), (f"repr(feed.config) {when}", repr(feed.config)),
            (f"feed.stats() {when}", str(feed.stats()))]


@pytest.mark.parametrize("name", PROVIDERS)
def test_no_secret_leaks_from_a_full_session(name: str, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)  # every logger: websocket-client, urllib3, requests, websockets
    record = tmp_path / "rec.jsonl"
    with ExitStack() as stack:
        s = _open(name, stack, record)
        s.feed.on("*", s.seen.append)
        stream = stack.enter_context(s.feed.events(kinds="status"))
        s.feed.get_quote(s.symbol)
        for step in STEPS[name]:
            step(s)
        config_secrets = list(s.feed.config.secrets)
        s.texts += _feed_texts(s.feed, "live")
        s.feed.close()
        s.texts += _feed_texts(s.feed, "closed") + _status_texts(list(stream), "feed.events() Status")
    s.texts += _status_texts(s.statuses(), "feed.on_status Status") + _log_texts(caplog)
    s.texts.append(("recording", record.read_bytes().decode("utf-8", "replace")))
    secrets = _secrets(s, config_secrets)
    leaks = sorted({_leak(label, value, where, text) for where, text in s.texts
                    for label, value in secrets.items() if any(p in text for p in _pieces(value))})
    assert not leaks, f"{name}: secrets leaked:\n" + "\n".join(leaks)
    assert any(isinstance(e, Quote) for e in mdsdk.replay(str(record))), "the redacted recording no longer replays"

