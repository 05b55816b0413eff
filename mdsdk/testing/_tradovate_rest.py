"""The Tradovate REST calls beside the MD socket (tradovate.md sections 2, 5
and 13.12-13): access token with penalty tickets, renewal, contract lookup,
and the account list third-party clients ask for right after login."""

from __future__ import annotations

import secrets as _secrets
import time
from typing import TYPE_CHECKING, Any, Callable, Dict, Optional, Tuple

from ._http import JsonRequest, RestSide

if TYPE_CHECKING:
    from .tradovate_emulator import TradovateEmulator

__all__ = ["TradovateRest"]

Reply = Tuple[int, Any]
BAD_LOGIN = "Incorrect username or password. Please try again, noting that passwords are case-sensitive."
DENIED: Reply = (401, {"errorText": "Access is denied"})


class TradovateRest(RestSide):
    """Serves Tradovate's REST flows for ``emu`` on its own HTTP server."""

    def __init__(self, emu: "TradovateEmulator") -> None:
        self.emu = emu
        self._tickets: Dict[str, float] = {}
        super().__init__()

    def _routes(self) -> Dict[Tuple[str, str], Callable[[JsonRequest], Reply]]:
        return {("POST", "/v1/auth/accesstokenrequest"): self._post_token,
                ("GET", "/v1/auth/renewaccesstoken"): self._get_renew,
                ("GET", "/v1/contract/find"): self._get_find,
                ("GET", "/v1/contract/item"): self._get_item,
                ("GET", "/v1/account/list"): self._get_accounts}

    def _penalty(self, body: Dict[str, Any]) -> Optional[Reply]:
        """A p-ticket answer when the login must wait, else None."""
        emu = self.emu
        if emu.captcha:
            return 200, {"p-ticket": "tk-" + _secrets.token_hex(4), "p-time": 3600, "p-captcha": True}
        ticket = body.get("p-ticket")
        if ticket:
            with self._lock:
                ready_at = self._tickets.pop(ticket, None)
            if ready_at is None or time.time() < ready_at:
                return 200, {"p-ticket": ticket, "p-time": emu.penalty_time, "p-captcha": False}
            return None
        if emu.penalty > 0:
            emu.penalty -= 1
            ticket = "tk-" + _secrets.token_hex(4)
            with self._lock:
                self._tickets[ticket] = time.time() + emu.penalty_time
            return 200, {"p-ticket": ticket, "p-time": emu.penalty_time, "p-captcha": False}
        return None

    def _post_token(self, req: JsonRequest) -> Reply:
        emu = self.emu
        emu.rest_calls.append(("POST", "/auth/accesstokenrequest"))
        body = req.body if isinstance(req.body, dict) else {}
        penalty = self._penalty(body)
        if penalty is not None:
            return penalty
        if body.get("name") != emu.username or body.get("password") != emu.password or emu.refuse_auth:
            return 200, {"errorText": BAD_LOGIN}
        return 200, emu.issue_token()

    def _bearer(self, req: JsonRequest) -> str:
        auth = req.headers.get("authorization", "")
        return auth[7:] if auth.startswith("Bearer ") else ""

    def _get_renew(self, req: JsonRequest) -> Reply:
        self.emu.rest_calls.append(("GET", "/auth/renewaccesstoken"))
        if self.emu.refuse_renewal or not self.emu.accepts_token(self._bearer(req)):
            return DENIED
        return 200, self.emu.issue_token()

    def _get_find(self, req: JsonRequest) -> Reply:
        self.emu.rest_calls.append(("GET", "/contract/find"))
        if not self.emu.accepts_token(self._bearer(req)):
            return DENIED
        found = self.emu.lookup(req.query.get("name"))
        if found is None:
            return 404, {"errorText": f"Contract not found: {req.query.get('name')}"}
        return 200, {"id": found[0], "name": found[1], "contractMaturityId": found[0] // 10}

    def _get_item(self, req: JsonRequest) -> Reply:
        if not self.emu.accepts_token(self._bearer(req)):
            return DENIED
        try:
            cid = int(req.query.get("id", ""))
        except ValueError:
            return 400, {"errorText": "bad id"}
        found = self.emu.lookup(cid)
        if found is None:
            return 404, {"errorText": "Contract not found"}
        return 200, {"id": cid, "name": found[1], "contractMaturityId": cid // 10}

    def _get_accounts(self, req: JsonRequest) -> Reply:
        self.emu.rest_calls.append(("GET", "/account/list"))
        if not self.emu.accepts_token(self._bearer(req)):
            return DENIED
        return 200, [{"id": 700001, "name": "DEMO700001", "userId": self.emu.USER_ID, "accountType": "Customer",
                      "active": True, "clearingHouseId": 2, "riskCategoryId": 2, "autoLiqProfileId": 1,
                      "marginAccountType": "Speculator", "legalStatus": "Individual", "archived": False,
                      "timestamp": "2024-01-02T00:00:00Z"}]
