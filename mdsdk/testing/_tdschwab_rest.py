"""The REST calls beside the TDA/Schwab streamer: streamer info (TDA
userprincipals, Schwab userPreference; tda_schwab.md section 1), the OAuth
token endpoint with ``grant_type=refresh_token`` (and ``authorization_code``)
and price history (section 8), all behind Bearer checks."""

from __future__ import annotations

import base64
import datetime as _dt
import re
import time
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Tuple
from urllib.parse import parse_qsl, unquote
from zoneinfo import ZoneInfo

from ._http import JsonRequest, RestSide, Route
from .market import in_regular_hours

if TYPE_CHECKING:
    from .tdschwab_emulator import TDSchwabEmulator

__all__ = ["TDSchwabRest"]

Reply = Tuple[int, Any]
_TDA_HISTORY = re.compile(r"^/v1/marketdata/(.+)/pricehistory$")
_CENTRAL = ZoneInfo("America/Chicago")
_PERIOD_DAYS = {"day": 1, "month": 30, "year": 365, "ytd": 0}
_DEFAULT_PERIOD = {"day": 10, "month": 1, "year": 1, "ytd": 1}
_DEFAULT_FREQUENCY = {"day": "minute", "month": "weekly", "year": "monthly", "ytd": "weekly"}
_STEP = {"minute": 60, "daily": 86400, "weekly": 7 * 86400, "monthly": 30 * 86400}


class _Routes(Dict[Tuple[str, str], Route]):
    """Exact routes plus TDA's price history, whose symbol sits inside the path."""

    def __init__(self, routes: Dict[Tuple[str, str], Route], history: Route) -> None:
        super().__init__(routes)
        self._history = history

    def get(self, key: Tuple[str, str], default: Optional[Route] = None) -> Optional[Route]:  # type: ignore[override]
        found = super().get(key)
        if found is None and key[0] == "GET" and _TDA_HISTORY.match(key[1]):
            return self._history
        return found if found is not None else default


class TDSchwabRest(RestSide):
    """Serves one variant's REST flows for ``emu`` on its own HTTP server."""

    def __init__(self, emu: "TDSchwabEmulator") -> None:
        self.emu = emu
        super().__init__()

    def _routes(self) -> Dict[Tuple[str, str], Route]:
        exact: Dict[Tuple[str, str], Route]
        if self.emu.variant == "tda":
            exact = {("GET", "/v1/userprincipals"): self._principals, ("POST", "/v1/oauth2/token"): self._token}
        else:
            exact = {("GET", "/trader/v1/userPreference"): self._preferences, ("POST", "/v1/oauth/token"): self._token,
                     ("GET", "/marketdata/v1/pricehistory"): self._history}
        return _Routes(exact, self._history)

    # -- auth
    def _denied(self) -> Reply:
        if self.emu.variant == "tda":
            return 401, {"error": "The access token being passed has expired or is invalid."}
        return 401, {"message": "Client not authorized",
                     "errors": [{"status": 401, "title": "Unauthorized", "detail": "Invalid access token"}]}

    def _bearer_ok(self, req: JsonRequest) -> bool:
        auth = req.headers.get("authorization", "")
        return auth.startswith("Bearer ") and self.emu.accepts_token(auth[7:])

    def _form(self, req: JsonRequest) -> Dict[str, str]:
        body = req.body
        if isinstance(body, dict):
            return {str(k): str(v) for k, v in body.items()}
        return dict(parse_qsl(body if isinstance(body, str) else "", keep_blank_values=True))

    def _client_ok(self, req: JsonRequest, form: Dict[str, str]) -> bool:
        """Schwab: app key and secret by HTTP Basic (or in the form); TDA: ``client_id`` is the app key."""
        emu = self.emu
        if emu.variant == "tda":
            return form.get("client_id", "").split("@")[0] == emu.app_key
        auth = req.headers.get("authorization", "")
        if auth.startswith("Basic "):
            try:
                key, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
            except ValueError:
                return False
        else:
            key, secret = form.get("client_id", ""), form.get("client_secret", "")
        return key == emu.app_key and secret == emu.app_secret

    def _token(self, req: JsonRequest) -> Reply:
        emu = self.emu
        emu.rest_calls.append(("POST", req.path))
        form = self._form(req)
        if not self._client_ok(req, form):
            return 401, {"error": "invalid_client", "error_description": "Unauthorized"}
        grant = form.get("grant_type")
        if grant == "refresh_token":
            good = emu.accepts_refresh(form.get("refresh_token", ""))
        elif grant == "authorization_code":
            good = form.get("code") == emu.auth_code
        else:
            return 400, {"error": "unsupported_grant_type", "error_description": f"Unsupported grant type {grant}"}
        if not good or emu.refuse_auth or emu.refuse_refresh:
            if emu.variant == "tda":
                return 400, {"error": "invalid_grant"}
            return 400, {"error": "refresh_token_authentication_error",
                         "error_description": "Failed refresh token authentication"}
        return 200, emu.issue_token(offline=grant == "authorization_code" or form.get("access_type") == "offline")

    # -- streamer info (section 1)
    def _principals(self, req: JsonRequest) -> Reply:
        emu = self.emu
        emu.rest_calls.append(("GET", req.path))
        if not self._bearer_ok(req):
            return self._denied()
        fields = req.query.get("fields", "").split(",")
        acct = emu.account_id
        out: Dict[str, Any] = {
            "userId": "mdsdk-user", "userCdDomainId": "A000000012345678", "primaryAccountId": acct,
            "lastLoginTime": "2024-01-02T14:00:00+0000", "tokenExpirationTime": "2024-01-02T14:30:00+0000",
            "loginTime": "2024-01-02T14:00:00+0000", "accessLevel": "CUS", "stalePassword": False,
            "professionalStatus": "NON_PROFESSIONAL",
            "quotes": {"isNyseDelayed": False, "isNasdaqDelayed": False, "isOpraDelayed": False,
                       "isAmexDelayed": False, "isCmeDelayed": True, "isIceDelayed": True, "isForexDelayed": True},
            "accounts": [{"accountId": acct, "displayName": "mdsdkuser", "accountCdDomainId": "A000000098765432",
                          "company": "AMER", "segment": "AMER", "acl": "DRMFQSTK", "authorizations": {}}]}
        if "streamerConnectionInfo" in fields:
            t = emu.clock()
            out["streamerInfo"] = {
                "streamerBinaryUrl": "streamer-bin.tdameritrade.com", "streamerSocketUrl": emu.tda_socket_url,
                "token": emu.issue_streamer_token(), "userGroup": "ACCT", "accessLevel": "ACCT",
                "acl": "DRMFQSTK", "appId": "MDSDK",
                "tokenTimestamp": time.strftime("%Y-%m-%dT%H:%M:%S+0000", time.gmtime(t))}
        if "streamerSubscriptionKeys" in fields:
            out["streamerSubscriptionKeys"] = {"keys": [{"key": emu.subscription_key}]}
        return 200, out

    def _preferences(self, req: JsonRequest) -> Reply:
        emu = self.emu
        emu.rest_calls.append(("GET", req.path))
        if not self._bearer_ok(req):
            return self._denied()
        acct = emu.account_id
        return 200, {
            "accounts": [{"accountNumber": acct, "primaryAccount": True, "type": "BROKERAGE",
                          "nickName": "Individual", "displayAcctId": "..." + acct[-3:],
                          "autoPositionEffect": False, "accountColor": "Green"}],
            "streamerInfo": [{"streamerSocketUrl": emu.url, "schwabClientCustomerId": emu.customer_id,
                              "schwabClientCorrelId": emu.correl_id, "schwabClientChannel": "N9",
                              "schwabClientFunctionId": "APIAPP"}],
            "offers": [{"level2Permissions": True, "mktDataPermission": "NP"}]}

    # -- price history (section 8)
    def _history(self, req: JsonRequest) -> Reply:
        emu = self.emu
        emu.rest_calls.append(("GET", req.path))
        q = req.query
        tda = emu.variant == "tda"
        # TDA also served price history to an unauthenticated caller that passed its apikey.
        if not self._bearer_ok(req) and not (tda and q.get("apikey", "").split("@")[0] == emu.app_key):
            return self._denied()
        m = _TDA_HISTORY.match(req.path)
        symbol = unquote(m.group(1)) if (tda and m) else q.get("symbol", "")
        try:
            start, end, step = self._window(q, emu.clock())
        except ValueError as exc:
            return 400, {"errors": [{"status": 400, "title": "Bad Request", "detail": str(exc)}]}
        extended = q.get("needExtendedHoursData", "true") == "true"
        candles = self._candles(symbol, start, end, step, extended) if emu.knows(symbol) else []
        out: Dict[str, Any] = {"symbol": symbol, "empty": not candles, "candles": candles}
        if not tda and q.get("needPreviousClose") == "true" and candles:
            day = int(start // 86400) * 86400
            out["previousClose"] = emu.market.price(symbol, day - 1)
            out["previousCloseDate"] = int(self._stamp(day - 86400, 86400) * 1000)
        return 200, out

    def _window(self, q: Any, now: float) -> Tuple[float, float, int]:
        """(start, end, candle length in seconds) from the query, with the documented defaults."""
        period_type = q.get("periodType", "day")
        if period_type not in _PERIOD_DAYS:
            raise ValueError(f"invalid periodType {period_type}")
        frequency_type = q.get("frequencyType", _DEFAULT_FREQUENCY[period_type])
        if frequency_type not in _STEP:
            raise ValueError(f"invalid frequencyType {frequency_type}")
        frequency = int(q.get("frequency", "1"))
        step = _STEP[frequency_type] * (frequency if frequency_type == "minute" else 1)
        end = int(q["endDate"]) / 1000.0 if q.get("endDate") else now
        if q.get("startDate"):
            return max(int(q["startDate"]) / 1000.0, end - self._reach(step)), end, step
        period = int(q.get("period", _DEFAULT_PERIOD[period_type]))
        if period_type == "ytd":
            year_start = _dt.datetime(time.gmtime(end).tm_year, 1, 1, tzinfo=_dt.timezone.utc).timestamp()
            return year_start, end, step
        return end - period * _PERIOD_DAYS[period_type] * 86400, end, step

    @staticmethod
    def _reach(step: int) -> float:
        """How far back the service answers (section 8.1): 1-minute ~48 days, other minutes ~9 months, daily
        and longer back to 1985."""
        if step == 60:
            return 48 * 86400.0
        if step < 86400:
            return 270 * 86400.0
        return time.time() - 473385600.0  # 1985-01-01

    def _stamp(self, start: float, step: int) -> float:
        """Daily and longer candles are stamped at local midnight Central (section 8.1)."""
        if step < 86400:
            return start
        day = _dt.datetime.fromtimestamp(start, tz=_dt.timezone.utc).date()
        return _dt.datetime(day.year, day.month, day.day, tzinfo=_CENTRAL).timestamp()

    def _candles(self, symbol: str, start: float, end: float, step: int, extended: bool) -> List[Dict[str, Any]]:
        emu = self.emu
        first = int(start // step) * step
        if first < start:
            first += step
        out: List[Dict[str, Any]] = []
        # A capped answer keeps the newest candles.
        s = max(first, first + ((int(end) - first) // step - emu.max_candles) * step)
        while s + step <= end:
            equity = not symbol.startswith("/")
            if extended or step >= 86400 or not equity or in_regular_hours(s):
                c = emu.market.candle(symbol, s, step)
                out.append({"open": c.open, "high": c.high, "low": c.low, "close": c.close,
                            "volume": int(c.volume), "datetime": int(self._stamp(s, step) * 1000)})
            s += step
        return out
