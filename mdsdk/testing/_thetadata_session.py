"""One client socket of the Theta Terminal emulator: the STATUS heartbeat,
STREAM / STREAM_BULK / STOP requests (strict JSON or the Python-repr form of
the docs' sample code) answered with REQ_RESPONSE, and the data of every
stream each tick (protocols/thetadata.md sections 2-4 and 6), on the shared
session loop."""

from __future__ import annotations

import ast
import json
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Set, Tuple

from websockets.sync.server import ServerConnection

from ._base import Farewell, SessionBase
from ._thetadata_data import Contract, data_frame, dumps, et_parts, int32

if TYPE_CHECKING:
    from .thetadata_emulator import ThetaDataEmulator

__all__ = ["ThetaDataSession", "parse_request", "status_frame", "response_frame", "TAKEOVER_REASON"]

TAKEOVER_REASON = "You cannot have multiple connections to this endpoint"
MAX_REPR = 16 * 1024  # a request is a few hundred bytes; bound what literal_eval is asked to parse
SEC_TYPES = ("STOCK", "OPTION", "INDEX")
REQ_TYPES = ("TRADE", "QUOTE")
BULK_PER_TICK = 3  # contracts per tick on a full (bulk) stream


def status_frame(status: str) -> str:
    """``{"header":{"type":"STATUS","status":...}}``."""
    return dumps({"header": {"type": "STATUS", "status": status}})


def response_frame(status: str, response: str, req_id: int) -> str:
    """A REQ_RESPONSE (section 3.1), keys in the documented order."""
    return dumps({"header": {"type": "REQ_RESPONSE", "status": status, "response": response, "req_id": req_id}})


def parse_request(text: str) -> Optional[Dict[str, Any]]:
    """A request object from strict JSON or, as the docs' sample code sends ``str(dict)``, from a Python literal
    (single quotes, True/False) read with ``ast.literal_eval`` - never ``eval`` - and only when small."""
    try:
        doc = json.loads(text)
    except RecursionError:  # nested deeper than any request: not one
        return None
    except ValueError:
        if len(text) > MAX_REPR:
            return None
        try:
            doc = ast.literal_eval(text)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            return None
    return doc if isinstance(doc, dict) else None


def _int(value: Any) -> Optional[int]:
    """An int, or a string of digits as the sample code sends (org.json-style leniency); else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    return None


def _bool(value: Any) -> Optional[bool]:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return None


def parse_contract(sec_type: str, raw: Any) -> Contract:
    """The contract of a STREAM request; ValueError when it is malformed (a wrong shape, not an unknown name)."""
    if not isinstance(raw, dict) or not isinstance(raw.get("root"), str) or not raw["root"]:
        raise ValueError("contract.root missing")
    if sec_type != "OPTION":
        return Contract(sec_type, raw["root"])
    expiration, strike, right = _int(raw.get("expiration")), _int(raw.get("strike")), raw.get("right")
    if expiration is None or strike is None or right not in ("C", "P"):
        raise ValueError("an option contract needs expiration, strike and right C or P")
    return Contract("OPTION", raw["root"], expiration, strike, right)


@dataclass
class _Stream:
    """One active stream: the id it was requested with and whether that id had been used before."""

    req_id: int
    reused: bool
    last_price: Optional[float] = None  # index streams: the last price reported


@dataclass
class _Day:
    """A contract's running session bar (OHLC frames are session to date)."""

    date: int
    open: float
    high: float
    low: float
    close: float
    volume: int
    count: int


@dataclass
class _Request:
    bulk: bool
    sec_type: str
    req_type: str
    add: bool
    req_id: int
    contract: Optional[Contract] = field(default=None)


class ThetaDataSession(SessionBase["ThetaDataEmulator"]):
    """Runs on the websockets handler thread of one client connection."""

    def __init__(self, emu: "ThetaDataEmulator", ws: ServerConnection) -> None:
        super().__init__(emu, ws)
        self.streams: Dict[Tuple[str, str, Contract], _Stream] = {}
        self.bulk: Dict[Tuple[str, str], _Stream] = {}
        self.ids_used: Set[int] = set()
        self.days: Dict[Contract, _Day] = {}
        self.seqs: Dict[str, int] = {}  # security type -> its feed's next sequence number (one feed each)
        self.bulk_pos = 0
        self.last_tick = 0.0
        self.last_status = ""
        self.last_status_sent = 0.0
        self.outages_seen = emu.outages

    # -- the shared loop's hooks
    def recv_timeout(self) -> float:
        return min(0.05, max(0.005, self.emu.tick / 2))

    def greet(self) -> None:
        # No login exists on this socket: being connected is the whole handshake, so connecting is what
        # takes over an older client (with ``exclusive``).
        self.log_in("")
        self.send_status(self.emu.fpss_status, time.monotonic())

    def takeover_farewell(self) -> Farewell:
        return (), 1008, TAKEOVER_REASON

    def periodic(self, now: float) -> bool:
        status = self.emu.fpss_status
        if status != self.last_status or now - self.last_status_sent >= self.emu.status_interval:
            self.send_status(status, now)
        if status != "CONNECTED":
            if now - self.last_tick >= self.emu.tick:  # the market goes on upstream: its trades never reach us
                self.last_tick = now
                self.missed()
            return True
        if self.outages_seen != self.emu.outages:
            self.resubscribe()
        if now - self.last_tick >= self.emu.tick:
            self.last_tick = now
            self.tick(self.emu.clock())
        return True

    def send_status(self, status: str, now: float) -> None:
        """One STATUS heartbeat."""
        self.last_status, self.last_status_sent = status, now
        self.send_text(status_frame(status))

    def resubscribe(self) -> None:
        """The Terminal is back on FPSS and resubscribes by itself; a stream requested with an id used before in
        this session is not resubscribed (the documented cost of not incrementing ids)."""
        self.outages_seen = self.emu.outages
        for key in [k for k, s in self.streams.items() if s.reused]:
            del self.streams[key]
        for bkey in [k for k, s in self.bulk.items() if s.reused]:
            del self.bulk[bkey]

    # -- requests
    def on_message(self, text: str) -> None:
        doc = parse_request(text)
        if doc is None:
            self.emu.reject(text, "neither JSON nor a Python literal object")
            return
        if doc.get("msg_type") == "STOP":
            self.streams.clear()  # no acknowledgement is documented
            self.bulk.clear()
            return
        rid = _int(doc.get("id"))
        try:
            req = self._request(doc, rid)
        except ValueError as exc:
            self.emu.reject(text, str(exc))
            if rid is not None:
                self.send_text(response_frame(self.emu.fpss_status, "ERROR", rid))
                self.ids_used.add(rid)
            return
        self.send_text(response_frame(self.emu.fpss_status, self.apply(req), req.req_id))
        self.ids_used.add(req.req_id)

    def _request(self, doc: Dict[str, Any], rid: Optional[int]) -> _Request:
        msg_type, sec_type, req_type, add = doc.get("msg_type"), doc.get("sec_type"), doc.get("req_type"), None
        if msg_type not in ("STREAM", "STREAM_BULK"):
            raise ValueError(f"unknown msg_type {msg_type!r}")
        if rid is None:
            raise ValueError("id missing or not an integer")
        if sec_type not in SEC_TYPES or req_type not in REQ_TYPES:
            raise ValueError(f"unknown sec_type/req_type {sec_type!r}/{req_type!r}")
        add = _bool(doc.get("add"))
        if add is None:
            raise ValueError("add must be true or false")
        if msg_type == "STREAM_BULK":
            return _Request(True, str(sec_type), str(req_type), add, rid)
        return _Request(False, str(sec_type), str(req_type), add, rid, parse_contract(str(sec_type),
                                                                                      doc.get("contract")))

    def apply(self, req: _Request) -> str:
        """Act on a well-formed stream request; the REQ_RESPONSE ``response`` value."""
        emu = self.emu
        if emu.take_error():
            return "ERROR"
        if emu.refuse_auth or req.sec_type in emu.invalid_perms or (req.bulk and "BULK" in emu.invalid_perms):
            return "INVALID_PERMS"
        reused = req.req_id in self.ids_used
        if req.bulk:
            if req.add:
                self.bulk[(req.sec_type, req.req_type)] = _Stream(req.req_id, reused)
            else:
                self.bulk.pop((req.sec_type, req.req_type), None)
            return "SUBSCRIBED"
        assert req.contract is not None
        key = (req.sec_type, req.req_type, req.contract)
        if not req.add:
            self.streams.pop(key, None)  # removing a stream that is not there is still a success
            return "SUBSCRIBED"
        if key not in self.streams and emu.max_streams is not None and len(self.streams) >= emu.max_streams:
            return "MAX_STREAMS_REACHED"
        self.streams[key] = _Stream(req.req_id, reused)
        return "SUBSCRIBED"

    # -- data
    def tick(self, t: float) -> None:
        """One round of data for every stream."""
        frames: List[str] = []
        data = self.emu.data
        for (sec_type, req_type, contract), stream in list(self.streams.items()):
            if data.symbol(contract) is None:
                continue  # acknowledged, never data: the real Terminal has nothing for it
            if sec_type == "INDEX":
                if req_type == "TRADE":
                    frames.extend(self._index_trade(contract, stream, t))
            elif req_type == "QUOTE":
                frames.append(data_frame("QUOTE", contract, data.quote(contract, t)))
            else:
                frames.extend(self._trade(contract, t))
        for (sec_type, req_type) in list(self.bulk):
            frames.extend(self._bulk(sec_type, req_type, t))
        for frame in frames:
            self.send_text(frame)

    def _trade(self, contract: Contract, t: float) -> List[str]:
        """A print: the session OHLC after it, then the TRADE (how the Terminal pushes OHLC with trades)."""
        date, ms = et_parts(t)
        price, size, condition, exchange = self.emu.data.trade_values(contract, t)
        day = self._day(contract, t, date)
        day.high, day.low, day.close = max(day.high, price), min(day.low, price), price
        day.volume += size
        day.count += 1
        ohlc = {"ms_of_day": ms, "open": day.open, "high": day.high, "low": day.low, "close": day.close,
                "volume": day.volume, "count": day.count, "date": date}
        trade = {"ms_of_day": ms, "sequence": self._next_seq(contract.sec_type), "size": size, "condition": condition,
                 "price": price, "exchange": exchange, "date": date}
        return [data_frame("OHLC", contract, ohlc), data_frame("TRADE", contract, trade)]

    def _day(self, contract: Contract, t: float, date: int) -> _Day:
        day = self.days.get(contract)
        if day is None or day.date != date:
            o, h, lo, volume, count = self.emu.data.day_bar(contract, t)
            day = self.days[contract] = _Day(date, o, h, lo, o, volume, count)
        return day

    def _next_seq(self, sec_type: str) -> int:
        """The next number of ``sec_type``'s feed (each feed counts every trade it carries, and wraps at int32)."""
        seq = int32(self.seqs.get(sec_type, self.emu.sequence_start))
        self.seqs[sec_type] = seq + 1
        return seq

    def missed(self) -> None:
        """One tick of an upstream outage: the trades each subscribed feed carried meanwhile use up their
        sequence numbers, so the first trade after the outage shows the skip."""
        for sec_type, req_type in list(self.bulk):
            if req_type == "TRADE" and sec_type != "INDEX":
                for _ in range(BULK_PER_TICK):
                    self._next_seq(sec_type)

    def _index_trade(self, contract: Contract, stream: _Stream, t: float) -> List[str]:
        """A price report, only when the price changed since the last one (section 2.1)."""
        price = self.emu.data.index_price(contract, t)
        if price == stream.last_price:
            return []
        stream.last_price = price
        date, ms = et_parts(t)
        if self.emu.index_price_only:
            trade: Dict[str, Any] = {"ms_of_day": ms, "price": price, "date": date}
        else:  # the trade object with only the price updated
            trade = {"ms_of_day": ms, "sequence": 0, "size": 0, "condition": 0, "price": price, "exchange": 0,
                     "date": date}
        return [data_frame("TRADE", contract, trade)]

    def _bulk(self, sec_type: str, req_type: str, t: float) -> List[str]:
        """A few contracts of a full stream: per option trade QUOTE, OHLC, TRADE, QUOTE, QUOTE; per stock trade
        QUOTE, OHLC, TRADE (section 2.2); a full QUOTE stream sends quotes only."""
        if sec_type == "INDEX":
            return []
        data = self.emu.data
        contracts = data.bulk_contracts(sec_type, t, self.bulk_pos, BULK_PER_TICK)
        self.bulk_pos += BULK_PER_TICK
        frames: List[str] = []
        for c in contracts:
            frames.append(data_frame("QUOTE", c, data.quote(c, t - 0.002)))
            if req_type == "QUOTE":
                continue
            frames.extend(self._trade(c, t))
            if sec_type == "OPTION":
                frames += [data_frame("QUOTE", c, data.quote(c, t + 0.001 * i)) for i in (1, 2)]
        return frames
