"""One TDA/Schwab streamer connection: LOGIN, QOS, SUBS/ADD/UNSUBS/VIEW,
LOGOUT, heartbeats, the empty-subscription watchdog, the slow-reader kill
and the data of every subscribed service (tda_schwab.md sections 3-5, 7, 10),
on the shared session loop."""

from __future__ import annotations

import fcntl
import json
import termios
import time
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Sequence, Set, Tuple
from urllib.parse import parse_qsl

from websockets.sync.server import ServerConnection

from ._base import Farewell, SessionBase
from ._tdschwab_data import LEVEL_ONE, SERVICES, ms

if TYPE_CHECKING:
    from .tdschwab_emulator import TDSchwabEmulator

__all__ = ["TDSchwabSession", "notify_frame", "TDA_CREDENTIAL_KEYS", "dumps"]

TDA_CREDENTIAL_KEYS = ("userid", "token", "company", "segment", "cddomain", "usergroup", "accesslevel",
                       "authorized", "timestamp", "appid", "acl")
QOS_MS = {"0": 500, "1": 750, "2": 1000, "3": 1500, "4": 3000, "5": 5000}
MSG_OK = {"SUBS": "SUBS command succeeded", "ADD": "ADD command succeeded", "UNSUBS": "UNSUBS command succeeded",
          "VIEW": "VIEW command succeeded", "LOGOUT": "SUCCESS", "QOS": "QoS command succeeded"}
LOGIN_DENIED = "Login Denied.: token is invalid or has expired."
STOP_STREAMING = "Stop streaming due to empty subscription"


def dumps(value: Any) -> str:
    """Compact JSON, as the streamer writes it."""
    return json.dumps(value, separators=(",", ":"))


def notify_frame(service: str, code: int, msg: str, t: float) -> str:
    """A service notice (section 3.2), e.g. code 30 from ADMIN."""
    return dumps({"notify": [{"service": service, "timestamp": ms(t), "content": {"code": code, "msg": msg}}]})


class _Sub:
    """One service's subscription: keys in order, fields, and what each key was last sent."""

    def __init__(self) -> None:
        self.keys: Dict[str, None] = {}
        self.fields: Set[str] = set()
        self.command = "SUBS"
        self.sent: Dict[str, Dict[str, Any]] = {}
        self.last_minute: Dict[str, int] = {}  # per key: the last chart minute (or headline second) sent


class TDSchwabSession(SessionBase["TDSchwabEmulator"]):
    """Runs on the websockets handler thread of one client connection."""

    def __init__(self, emu: "TDSchwabEmulator", ws: ServerConnection) -> None:
        super().__init__(emu, ws)
        self.variant = emu.variant
        self.subs: Dict[str, _Sub] = {}
        self.correl_id: Optional[str] = None
        self.customer_id: Optional[str] = None
        self.account: Optional[str] = None
        self.interval = emu.tick
        self.last_tick = 0.0
        self.last_heartbeat = time.monotonic()
        self.empty_since = time.monotonic()
        self.seqs: Dict[Tuple[str, str], int] = {}  # (service, key) -> the last seq sent: each key counts its own
        self.frames_sent = 0

    # -- replies
    def respond(self, req: Dict[str, Any], code: int, msg: str) -> None:
        """One ``response`` for ``req``, echoing its service, command and request id as a string."""
        item: Dict[str, Any] = {"service": str(req.get("service", "")), "requestid": str(req.get("requestid", "")),
                                "command": str(req.get("command", ""))}
        if self.variant == "schwab":
            item["SchwabClientCorrelId"] = self.correl_id or str(req.get("SchwabClientCorrelId", ""))
        item["timestamp"] = ms(self.emu.clock())
        item["content"] = {"code": code, "msg": msg}
        self.send_text(dumps({"response": [item]}))

    def heartbeat(self) -> None:
        """``{"notify":[{"heartbeat":"<ms>"}]}``: the value is a string (section 9 item 8)."""
        self.last_heartbeat = time.monotonic()
        self.send_text(dumps({"notify": [{"heartbeat": str(ms(self.emu.clock()))}]}))

    # -- hooks of the shared loop
    def close_frames(self, code: int, reason: str) -> Sequence[str]:
        return ()

    def takeover_farewell(self) -> Farewell:
        if self.variant == "schwab":
            # Real captures: a notify from "Invalid Service" carrying code 12 (section 9 item 10).
            return (notify_frame("Invalid Service", 12, self.emu.takeover_message, self.emu.clock()),), 1000, ""
        return (), 1000, ""

    def periodic(self, now: float) -> bool:
        if not self.authorized:
            return True
        if self._token_lapsed():
            self.ws.close(1000, "")
            return False
        if self._watchdog(now):
            return False
        if now - self.last_heartbeat >= self.emu.heartbeat_interval:
            self.heartbeat()
        if now - self.last_tick >= self.interval:
            self.last_tick = now
            return self.tick(self.emu.clock())
        return True

    def _token_lapsed(self) -> bool:
        """Schwab ends a stream whose access token expired (section 10 (g)); TDA's streamer token lives on."""
        return self.variant == "schwab" and self.emu.close_on_expiry and not self.emu.accepts_token(self.token)

    def _watchdog(self, now: float) -> bool:
        """Code 30 and a cut without a close frame once nothing was subscribed for ``empty_timeout``."""
        if any(s.keys for s in self.subs.values()):
            self.empty_since = now
            return False
        if self.emu.empty_timeout is None or now - self.empty_since < self.emu.empty_timeout:
            return False
        self.send_text(notify_frame("ADMIN", 30, STOP_STREAMING, self.emu.clock()))
        self.cut()
        return True

    # -- requests
    def on_message(self, text: str) -> None:
        try:
            doc = json.loads(text)
        except ValueError:
            self.respond({"service": "ADMIN"}, 21, "Bad command formatting")
            return
        reqs = doc.get("requests", doc) if isinstance(doc, dict) else doc
        # The guide also shows a bare command object without the wrapper.
        for req in reqs if isinstance(reqs, list) else [reqs]:
            if not isinstance(req, dict):
                self.respond({"service": "ADMIN"}, 21, "Bad command formatting")
                continue
            self.on_request(req)

    def on_request(self, req: Dict[str, Any]) -> None:
        """One command of a ``requests`` array."""
        service, command = req.get("service"), req.get("command")
        if not isinstance(service, str) or not isinstance(command, str) or "requestid" not in req:
            self.respond(req, 21, "Bad command formatting")
            return
        if service == "ADMIN" and command == "LOGIN":
            self.login(req)
            return
        if not self.authorized or self._identity_changed(req):
            self.respond(req, 20, "Stream connection not found.")
            return
        if service == "ADMIN":
            self.admin(req, command)
            return
        if service not in SERVICES[self.variant]:
            self.respond(req, 11, "Service not available or temporary down.")
            return
        params = req.get("parameters")
        handler = self.COMMANDS.get(command)
        if handler is None or not isinstance(params, dict):
            self.respond(req, 21, "Bad command formatting")
            return
        handler(self, req, service, params)

    def _identity_changed(self, req: Dict[str, Any]) -> bool:
        if self.variant != "schwab":
            return False
        return req.get("SchwabClientCorrelId") != self.correl_id or (
            req.get("SchwabClientCustomerId") != self.customer_id)

    def admin(self, req: Dict[str, Any], command: str) -> None:
        """QOS (TDA) and LOGOUT."""
        if command == "LOGOUT":
            self.respond(req, 0, MSG_OK["LOGOUT"])
            self.request_close(1000, "")
            return
        level = (req.get("parameters") or {}).get("qoslevel")
        if command != "QOS" or self.variant != "tda" or str(level) not in QOS_MS:
            self.respond(req, 21, "Bad command formatting")
            return
        self.interval = QOS_MS[str(level)] / 1000.0 * self.emu.qos_scale
        self.respond(req, 0, MSG_OK["QOS"])

    # -- LOGIN (section 5.1)
    def login(self, req: Dict[str, Any]) -> None:
        """Validate either LOGIN shape; code 3 then a clean close when denied."""
        raw = req.get("parameters")
        params: Dict[str, Any] = raw if isinstance(raw, dict) else {}
        token = self._tda_login(req, params) if self.variant == "tda" else self._schwab_login(req, params)
        if token is None or self.emu.refuse_auth or not self.emu.accepts_token(token):
            self.respond(req, 3, LOGIN_DENIED)
            self.request_close(1000, "")
            return
        self.empty_since = time.monotonic()
        self.log_in(token)
        msg = f"server={self.emu.server_id};status=NP" if self.variant == "schwab" else self.emu.server_id
        self.respond(req, 0, msg)
        self.heartbeat()

    def _tda_login(self, req: Dict[str, Any], params: Dict[str, Any]) -> Optional[str]:
        try:
            pairs = parse_qsl(str(params.get("credential", "")), keep_blank_values=True, strict_parsing=True)
        except ValueError:
            return None
        cred = dict(pairs)
        if tuple(k for k, _ in pairs) != TDA_CREDENTIAL_KEYS or cred.get("authorized") != "Y":
            return None
        if cred.get("token") != params.get("token") or cred.get("userid") != self.emu.account_id:
            return None
        self.account = str(req.get("account", ""))
        return cred["token"]

    def _schwab_login(self, req: Dict[str, Any], params: Dict[str, Any]) -> Optional[str]:
        token = params.get("Authorization")
        if not isinstance(token, str) or not isinstance(req.get("SchwabClientCorrelId"), str):
            return None
        self.correl_id = req["SchwabClientCorrelId"]
        self.customer_id = req.get("SchwabClientCustomerId")
        return token

    # -- SUBS / ADD / UNSUBS / VIEW (section 5.4)
    def _keys(self, params: Dict[str, Any]) -> List[str]:
        raw = params.get("keys", "")
        return [k for k in (raw.split(",") if isinstance(raw, str) else []) if k]

    def _fields(self, params: Dict[str, Any]) -> Optional[Set[str]]:
        raw = params.get("fields")
        if raw is None:
            return None
        fields = {f.strip() for f in str(raw).split(",") if f.strip()}
        return fields if all(f.isdigit() for f in fields) else None

    def _over_limit(self, service: str, keys: Dict[str, None]) -> bool:
        total = sum(len(s.keys) for name, s in self.subs.items() if name != service) + len(keys)
        return total > self.emu.max_symbols

    def c_subs(self, req: Dict[str, Any], service: str, params: Dict[str, Any], add: bool = False) -> None:
        """SUBS replaces the service's keys and fields; ADD unions them."""
        keys = self._keys(params)
        fields = self._fields(params)
        old = self.subs.get(service)
        merged = dict(old.keys) if (add and old is not None) else {}
        merged.update(dict.fromkeys(keys))
        if not keys or (fields is None and "fields" in params):
            self.respond(req, 21, "Bad command formatting")
            return
        if self._over_limit(service, merged):
            self.respond(req, 19, "Reached symbol limit")
            return
        sub = old if (add and old is not None) else _Sub()
        sub.keys, sub.command = merged, str(req["command"])
        if fields is not None:
            sub.fields = fields
        self.subs[service] = sub
        if self.emu.data_before_response:
            self.tick(self.emu.clock(), only=service)
        self.respond(req, 0, MSG_OK[sub.command])
        if not self.emu.data_before_response:
            self.tick(self.emu.clock(), only=service)

    def c_add(self, req: Dict[str, Any], service: str, params: Dict[str, Any]) -> None:
        """ADD."""
        self.c_subs(req, service, params, add=True)

    def c_unsubs(self, req: Dict[str, Any], service: str, params: Dict[str, Any]) -> None:
        """UNSUBS: a set difference; the rest keep streaming."""
        sub = self.subs.get(service)
        for key in self._keys(params):
            if sub is not None:
                sub.keys.pop(key, None)
                sub.sent.pop(key, None)
        self.respond(req, 0, MSG_OK["UNSUBS"])

    def c_view(self, req: Dict[str, Any], service: str, params: Dict[str, Any]) -> None:
        """VIEW: new fields for every key of the service."""
        fields = self._fields(params)
        if fields is None:
            self.respond(req, 21, "Bad command formatting")
            return
        sub = self.subs.setdefault(service, _Sub())
        sub.fields = fields
        sub.sent.clear()  # the next message per key carries the new field set in full
        self.respond(req, 0, MSG_OK["VIEW"])

    COMMANDS = {"SUBS": c_subs, "ADD": c_add, "UNSUBS": c_unsubs, "VIEW": c_view}

    # -- data
    def tick(self, t: float, only: Optional[str] = None) -> bool:
        """Send one round of data for every subscribed service (or ``only`` one); False when the slow-reader
        kill fired."""
        blocks = []
        for service, sub in list(self.subs.items()):
            if only is None or service == only:
                blocks.extend(self._block(service, sub, t))
        per = self.emu.blocks_per_frame
        for i in range(0, len(blocks), per or len(blocks) or 1):
            if not self.send_data(blocks[i:i + (per or len(blocks))]):
                return False
        return True

    def send_data(self, blocks: List[Tuple[str, int, str, List[Dict[str, Any]]]]) -> bool:
        """One ``data`` frame, with the observed space after each service value (section 3.2)."""
        if self.emu.slow_reader_bytes is not None and self.unsent_bytes() > self.emu.slow_reader_bytes:
            self.cut()  # the client sees an abnormal close (1006), as with TDA's backlog kill
            return False
        parts = [f'{{"service":{json.dumps(s)}, "timestamp":{ts},"command":{json.dumps(c)},"content":{dumps(items)}}}'
                 for s, ts, c, items in blocks]
        for _ in range(max(1, self.emu.burst)):
            self.send_text('{"data":[' + ",".join(parts) + "]}")
        return True

    def unsent_bytes(self) -> int:
        """Bytes the kernel still holds for this client (Linux SIOCOUTQ); 0 where that is unknown."""
        try:
            sock = self.ws.socket
            buf = fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, b"\0\0\0\0")
            return int.from_bytes(buf, "little")
        except (OSError, AttributeError, ValueError):
            return 0

    def _block(self, service: str, sub: _Sub, t: float) -> List[Tuple[str, int, str, List[Dict[str, Any]]]]:
        kind = SERVICES[self.variant][service]
        data = self.emu.data
        asset = data.service_asset(service)
        keys = [k for k in sub.keys if asset is None or self.emu.knows(k, asset)]
        items: List[Dict[str, Any]] = []
        if kind == "l1":
            items = [i for i in (self._level_one(service, sub, k, t) for k in keys) if i is not None]
        elif kind == "chart":
            items = self._charts(service, sub, keys, t)
        elif kind == "book":
            items = [data.book(k, t) for k in keys]
        elif kind == "timesale":
            items = [data.timesale(k, t, self._next_seq(service, k)) for k in keys]
        elif kind == "acct" and not sub.sent:
            items = [data.account(k, self.emu.account_id, self._next_seq(service, k)) for k in keys[:1]]
            sub.sent = {k: {} for k in keys[:1]}
        elif kind == "screener":
            items = [data.screener(k, t) for k in keys]
        elif kind == "news":  # a headline per key when subscribed, then one per news_interval
            due = [k for k in keys if k not in sub.last_minute or t - sub.last_minute[k] >= self.emu.news_interval]
            items = [data.news(k, t, self._next_seq(service, k)) for k in due]
            sub.last_minute.update((k, int(t)) for k in due)
        return [(service, ms(t), sub.command, items)] if items else []

    def account_item(self, message_type: str, message_data: str) -> Optional[str]:
        """An ACCT_ACTIVITY data frame for this session's subscription key, None when it has none."""
        sub = self.subs.get("ACCT_ACTIVITY")
        if sub is None or not sub.keys:
            return None
        key = next(iter(sub.keys))
        item = {"seq": self._next_seq("ACCT_ACTIVITY", key), "key": key, "1": self.emu.account_id, "2": message_type,
                "3": message_data}
        return dumps({"data": [{"service": "ACCT_ACTIVITY", "timestamp": ms(self.emu.clock()), "command": "SUBS",
                                "content": [item]}]})

    def _next_seq(self, service: str, key: str) -> int:
        seq = self.seqs[(service, key)] = self.seqs.get((service, key), 0) + 1
        return seq

    def _level_one(self, service: str, sub: _Sub, key: str, t: float) -> Optional[Dict[str, Any]]:
        """Change delivery: the first message per key is full (with metadata), later ones only changed fields."""
        values = self.emu.data.level_one(key, t, self.emu.data.service_asset(service) or "equity")
        fmap = LEVEL_ONE[self.variant][service]
        wanted = sub.fields or set(fmap) | {"0"}
        current = {n: values[name] for n, name in fmap.items() if n in wanted}
        last = sub.sent.get(key)
        item: Dict[str, Any] = {"key": key}
        if last is None:
            item.update(self.emu.data.meta(service, key))
            item.update(current)
        else:
            item.update({n: v for n, v in current.items() if last.get(n) != v})
            if len(item) == 1:
                return None  # nothing changed: a Change service sends nothing
        sub.sent[key] = current
        return item

    def _charts(self, service: str, sub: _Sub, keys: List[str], t: float) -> List[Dict[str, Any]]:
        """The newest finished minute per key, once per minute (All Sequence delivery)."""
        minute = int(t // 60) * 60 - 60
        items = []
        for key in keys:
            if sub.last_minute.get(key) == minute:
                continue
            sub.last_minute[key] = minute
            items.append(self.emu.data.chart(service, key, minute, 0))
        return items
