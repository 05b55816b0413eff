"""The Theta Terminal's v2 REST side (protocols/thetadata.md sections 5 and 6):
history endpoints answering JSON (``header`` + ``response`` rows) or CSV,
pagination through ``/v2/page/<id>`` with expiring pages, the system status
endpoints, and the Terminal's HTTP status codes, on its own HTTP server."""

from __future__ import annotations

import collections
import itertools
import json
import re
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Deque, Dict, List, Mapping, Optional, Tuple

from ._http import JsonRequest, JsonServer
from ._thetadata_data import (DAY_MS, EOD_FORMAT, EOD_REPORT_MS, OHLC_FORMAT, PRICE_FORMAT, QUOTE_FORMAT, RTH,
                              TRADE_FORMAT, Contract, Plan, Segment, dates, day_segments, epoch, et_parts, real_date)

if TYPE_CHECKING:
    from .thetadata_emulator import ThetaDataEmulator

__all__ = ["ThetaDataRest", "NO_DATA", "CODE_NAMES"]

NO_DATA = ":No data for the specified timeframe & contract."
CODE_NAMES = {404: "NO_IMPL", 429: "OS_LIMIT", 470: "GENERAL", 471: "PERMISSION", 472: "NO_DATA",
              473: "INVALID_PARAMS", 474: "DISCONNECTED", 475: "TERMINAL_PARSE", 476: "WRONG_IP",
              477: "NO_PAGE_FOUND", 570: "LARGE_REQUEST", 571: "SERVER_STARTING", 572: "UNCAUGHT_ERROR"}
_PAGE = re.compile(r"^/v2/page/(\d+)$")
TICK_MS = 1000  # the history tape: one quote and one trade a second (real tapes are denser and irregular)
# (status, body, content type, extra headers)
Reply = Tuple[int, str, str, Dict[str, str]]


class _Fail(Exception):
    """An error answer: HTTP ``code`` with a plain-text body."""

    def __init__(self, code: int, text: str = "") -> None:
        super().__init__(text)
        self.code = code
        self.text = text or f":{CODE_NAMES.get(code, 'ERROR')}"


def _text(code: int, body: str) -> Reply:
    return code, body, "text/plain", {}


@dataclass
class _Params:
    """The common history query (section 5.1)."""

    root: str
    start: int
    end: int
    ivl: int
    rth: bool
    start_time: Optional[int]
    end_time: Optional[int]
    csv: bool
    pretty: bool

    @property
    def days(self) -> int:
        first, last = real_date(self.start), real_date(self.end)
        return (last - first).days + 1 if first and last else 0


@dataclass
class _Page:
    plan: Plan
    offset: int
    fmt: List[str]
    params: _Params
    created: float


def _flag(q: Mapping[str, str], name: str, default: bool) -> bool:
    raw = q.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() not in ("true", "false"):
        raise _Fail(473, f":INVALID_PARAMS {name} must be true or false")
    return raw.lower() == "true"


def _number(q: Mapping[str, str], name: str) -> Optional[int]:
    raw = q.get(name)
    if raw is None or raw == "":
        return None
    if not raw.isdigit():
        raise _Fail(473, f":INVALID_PARAMS {name} must be a non-negative integer")
    return int(raw)


def _date(q: Mapping[str, str], name: str) -> int:
    value = _number(q, name)
    if value is None or len(q[name]) != 8 or real_date(value) is None:
        raise _Fail(473, f":INVALID_PARAMS {name} must be a date YYYYMMDD")
    return value


def _pretty(fmt: List[str], row: List[Any]) -> List[Any]:
    """``pretty_time=true``: ms_of_day as 09:30:00.000 and date as 2024-01-02."""
    out = list(row)
    for i, name in enumerate(fmt):
        if name.startswith("ms_of_day"):
            ms = int(row[i])
            out[i] = f"{ms // 3600000:02d}:{ms // 60000 % 60:02d}:{ms // 1000 % 60:02d}.{ms % 1000:03d}"
        elif name == "date":
            d = int(row[i])
            out[i] = f"{d // 10000:04d}-{d // 100 % 100:02d}-{d % 100:02d}"
    return out


class ThetaDataRest:
    """Serves the Terminal's REST API for ``emu`` on ``host:port`` (0 = any free port)."""

    def __init__(self, emu: "ThetaDataEmulator", host: str = "127.0.0.1", port: int = 0) -> None:
        self.emu = emu
        self._lock = threading.Lock()
        self._pages: Dict[int, _Page] = {}
        self._ids = itertools.count(1)
        self._host_seen: Optional[str] = None
        self.endpoints: Dict[str, Callable[[_Params, Mapping[str, str]], Tuple[List[str], Plan]]] = {
            "/v2/hist/stock/ohlc": self._stock_ohlc, "/v2/hist/stock/eod": self._stock_eod,
            "/v2/hist/stock/trade": self._stock_trade, "/v2/hist/stock/quote": self._stock_quote,
            "/v2/hist/index/ohlc": self._index_ohlc, "/v2/hist/index/price": self._index_price,
            "/v2/hist/option/eod": self._option_eod, "/v2/hist/option/quote": self._option_quote,
            "/v2/hist/option/ohlc": self._option_ohlc, "/v2/hist/index/eod": self._index_eod}
        self.history: Deque[Tuple[str, int]] = collections.deque(maxlen=1000)  # (path, status) answered
        self._server = JsonServer({}, host, port, fallback=self.handle, name="mdsdk-emulator-thetadata-http")

    @property
    def url(self) -> str:
        """The REST root, e.g. ``http://127.0.0.1:25510``."""
        return self._server.url

    def close(self) -> None:
        """Stop serving and join the thread."""
        self._server.close()

    @property
    def pages_waiting(self) -> int:
        """How many pages are stored and not yet expired."""
        with self._lock:
            self._expire(time.monotonic())
            return len(self._pages)

    # -- dispatch
    def handle(self, req: JsonRequest) -> Reply:
        """Answer one HTTP request."""
        self.emu.rest_calls.append((req.path, dict(req.query)))
        try:
            reply = self._dispatch(req)
        except _Fail as fail:
            reply = _text(fail.code, fail.text)
        except Exception as exc:  # noqa: BLE001 - the Terminal's own catch-all answer
            reply = _text(572, f":UNCAUGHT_ERROR {exc!r}")
        self.history.append((req.path, reply[0]))
        return reply

    def _dispatch(self, req: JsonRequest) -> Reply:
        self._check_host(req.headers.get("host", ""))
        emu = self.emu
        if req.method == "GET" and req.path == "/v2/system/fpss/status":
            return _text(200, emu.fpss_status)
        if req.method == "GET" and req.path == "/v2/system/mdds/status":
            return _text(200, emu.mdds_status)
        endpoint = self.endpoints.get(req.path) if req.method == "GET" else None
        page = _PAGE.match(req.path) if req.method == "GET" else None
        if endpoint is None and page is None:
            raise _Fail(404, f":NO_IMPL no endpoint {req.path}")
        failure = emu.take_failure()
        if failure is not None:
            raise _Fail(failure)
        if emu.mdds_status == "UNVERIFIED":
            raise _Fail(471, ":PERMISSION the Terminal's ThetaData login was not accepted (UNVERIFIED)")
        if emu.mdds_status != "CONNECTED":
            raise _Fail(474, ":DISCONNECTED the Terminal has no connection to MDDS")
        if page is not None:
            return self._page(int(page.group(1)))
        assert endpoint is not None
        params = self._params(req.query)
        fmt, plan = endpoint(params, req.query)
        if plan.total == 0:
            raise _Fail(472, NO_DATA)
        return self._serve(_Page(plan, 0, fmt, params, time.monotonic()))

    def _check_host(self, host: str) -> None:
        """476 when one client switches between ``127.0.0.1`` and ``localhost`` (they are different to the
        Terminal); other names are not judged."""
        name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
        if not self.emu.check_host or name not in ("127.0.0.1", "localhost"):
            return
        with self._lock:
            if self._host_seen is None:
                self._host_seen = name
            elif self._host_seen != name:
                raise _Fail(476, f":WRONG_IP keep using {self._host_seen}, not {name}")

    def _params(self, q: Mapping[str, str]) -> _Params:
        root = q.get("root", "")
        if not root:
            raise _Fail(473, ":INVALID_PARAMS root is required")
        start, end = _date(q, "start_date"), _date(q, "end_date")
        if end < start:
            raise _Fail(473, ":INVALID_PARAMS end_date is before start_date")
        ivl = _number(q, "ivl") or 0
        params = _Params(root, start, end, ivl, _flag(q, "rth", True) and ivl > 0, _number(q, "start_time"),
                         _number(q, "end_time"), _flag(q, "use_csv", False), _flag(q, "pretty_time", False))
        limit, what = ((self.emu.max_range_days, "ticks and intervals under a minute") if ivl < 60000
                       else (self.emu.max_bar_days, "bars"))
        if params.days > limit:
            raise _Fail(570, f":LARGE_REQUEST at most {limit} days of {what} per request; split the date range")
        return params

    # -- paging
    def _serve(self, page: _Page) -> Reply:
        emu = self.emu
        began = time.monotonic()
        size = max(1, emu.page_size)
        rows = page.plan.rows(page.offset, size)
        if page.params.pretty:
            rows = [_pretty(page.fmt, r) for r in rows]
        next_url = "null"
        if page.offset + size < page.plan.total:
            with self._lock:
                self._expire(began)
                # Ids are global: other requests' pages take numbers in between.
                page_id = next(self._ids)
                next(self._ids)
                self._pages[page_id] = _Page(page.plan, page.offset + size, page.fmt, page.params, began)
            next_url = f"{emu.api_url}/v2/page/{page_id}"
        headers = {"Next-Page": next_url}
        if page.params.csv:
            lines = [",".join(page.fmt)] + [",".join(str(v) for v in r) for r in rows]
            return 200, "\n".join(lines) + "\n", "text/csv", headers
        latency = int((time.monotonic() - began) * 1000)
        body = {"header": {"latency_ms": latency, "next_page": next_url, "format": page.fmt}, "response": rows}
        return 200, json.dumps(body), "application/json", headers

    def _page(self, page_id: int) -> Reply:
        with self._lock:
            self._expire(time.monotonic())
            page = self._pages.get(page_id)
        if page is None:
            raise _Fail(477, f":NO_PAGE_FOUND page {page_id} expired or never existed")
        return self._serve(page)

    def _expire(self, now: float) -> None:
        for pid in [p for p, page in self._pages.items() if now - page.created >= self.emu.page_expire]:
            del self._pages[pid]

    # -- plans per endpoint
    def _contract(self, sec_type: str, p: _Params, q: Mapping[str, str]) -> Contract:
        if sec_type != "OPTION":
            return Contract(sec_type, p.root)
        exp, strike, right = _number(q, "exp"), _number(q, "strike"), q.get("right", "").upper()
        if exp is None or real_date(exp) is None or not strike or right not in ("C", "P"):
            raise _Fail(473, ":INVALID_PARAMS an option needs exp YYYYMMDD, strike (1/10 cent) and right C or P")
        return Contract("OPTION", p.root, exp, strike, right)

    def _known(self, c: Contract) -> Contract:
        if self.emu.data.symbol(c) is None:
            raise _Fail(472, NO_DATA)
        return c

    def _window(self, p: _Params, step: int) -> Tuple[int, int]:
        """The ms-of-day window of each day: 09:30-16:00 with rth, else the whole day, cut to start_time /
        end_time (inclusive) on the slot grid."""
        w0, w1 = RTH if p.rth else (0, DAY_MS)
        if p.start_time is not None and p.start_time > w0:
            w0 += -(-(p.start_time - w0) // step) * step
        if p.end_time is not None:
            w1 = min(w1, p.end_time + 1)
        return w0, w1

    def _intraday(self, c: Contract, p: _Params, row: Callable[[float], Optional[List[Any]]]) -> Plan:
        step = p.ivl or TICK_MS
        window = self._window(p, step)
        end = min(p.end, c.expiration) if c.sec_type == "OPTION" else p.end
        segments = day_segments(p.start, end, window, step, self.emu.clock())
        return Plan(segments, lambda date, ms: row(epoch(date, ms)))

    def _eod(self, c: Contract, p: _Params) -> Plan:
        now = self.emu.clock()
        end = min(p.end, c.expiration) if c.sec_type == "OPTION" else p.end
        segments = [Segment(date, EOD_REPORT_MS, 1 if epoch(date, EOD_REPORT_MS) <= now else 0, 1)
                    for date in dates(p.start, end)]
        return Plan(segments, lambda date, _ms: self.emu.data.eod_row(c, date))

    def _bars(self, c: Contract, p: _Params) -> Tuple[List[str], Plan]:
        now = self.emu.clock()
        ivl = p.ivl or TICK_MS
        return OHLC_FORMAT, self._intraday(c, p, lambda t: self.emu.data.bar_row(c, t, ivl, now))

    def _stock_ohlc(self, p: _Params, q: Mapping[str, str]) -> Tuple[List[str], Plan]:
        return self._bars(self._known(Contract("STOCK", p.root)), p)

    def _index_ohlc(self, p: _Params, q: Mapping[str, str]) -> Tuple[List[str], Plan]:
        return self._bars(self._known(Contract("INDEX", p.root)), p)

    def _stock_eod(self, p: _Params, q: Mapping[str, str]) -> Tuple[List[str], Plan]:
        return EOD_FORMAT, self._eod(self._known(Contract("STOCK", p.root)), p)

    def _option_eod(self, p: _Params, q: Mapping[str, str]) -> Tuple[List[str], Plan]:
        return EOD_FORMAT, self._eod(self._known(self._contract("OPTION", p, q)), p)

    def _option_ohlc(self, p: _Params, q: Mapping[str, str]) -> Tuple[List[str], Plan]:
        return self._bars(self._known(self._contract("OPTION", p, q)), p)

    def _index_eod(self, p: _Params, q: Mapping[str, str]) -> Tuple[List[str], Plan]:
        """ThetaData's own 17:15 ET report (indices have no national EOD)."""
        return EOD_FORMAT, self._eod(self._known(Contract("INDEX", p.root)), p)

    def _stock_trade(self, p: _Params, q: Mapping[str, str]) -> Tuple[List[str], Plan]:
        c = self._known(Contract("STOCK", p.root))
        p.ivl, p.rth = 0, False  # every trade: no intervals
        return TRADE_FORMAT, self._intraday(c, p, lambda t: self.emu.data.trade_row(c, t))

    def _stock_quote(self, p: _Params, q: Mapping[str, str]) -> Tuple[List[str], Plan]:
        c = self._known(Contract("STOCK", p.root))
        return QUOTE_FORMAT, self._intraday(c, p, lambda t: self.emu.data.quote_row(c, t))

    def _option_quote(self, p: _Params, q: Mapping[str, str]) -> Tuple[List[str], Plan]:
        c = self._known(self._contract("OPTION", p, q))
        return QUOTE_FORMAT, self._intraday(c, p, lambda t: self.emu.data.quote_row(c, t))

    def _index_price(self, p: _Params, q: Mapping[str, str]) -> Tuple[List[str], Plan]:
        """Reports once a second, left out when the price did not change (ticks); with ``ivl`` the price at each
        interval's instant."""
        c = self._known(Contract("INDEX", p.root))
        data = self.emu.data
        first_ms = self._window(p, p.ivl or TICK_MS)[0]

        def row(t: float) -> Optional[List[Any]]:
            date, ms = et_parts(t)
            price = data.index_price(c, t)
            if not p.ivl and ms != first_ms and price == data.index_price(c, t - 1):
                return None
            return [ms, price, date]
        return PRICE_FORMAT, self._intraday(c, p, row)
