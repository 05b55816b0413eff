"""Credentials and REST flows (mdsdk.providers.credentials): a flow that
breaks on an answer still ends, and a due renewal never makes the caller
spin while a login runs. Real flow objects, no sockets."""

from __future__ import annotations

from typing import Any, Generator, List

from mdsdk.errors import MdsdkError
from mdsdk.providers.base import Endpoint, HttpRequest, HttpResponse
from mdsdk.providers.credentials import Credentials, RestFlows


def _login(wall_s: float) -> Generator[HttpRequest, HttpResponse, Endpoint]:
    answer = yield HttpRequest("POST", "/login")
    wait = float(answer.body["p-time"])  # a flow with a type slip, as a future provider might have
    return Endpoint("ws://x", f"token-{wait}")


def _credentials() -> "tuple[Credentials, RestFlows, List[Any]]":
    rest, reports = RestFlows(), []
    creds = Credentials(rest, lambda kind, text: reports.append(text), lambda: (0.0, 0.0), login=_login)
    return creds, rest, reports


def test_a_flow_that_breaks_on_an_answer_ends_with_an_error() -> None:
    creds, rest, _ = _credentials()
    assert creds.endpoint(0.0, 0.0) is None and creds.busy
    [(call_id, _req)] = rest.outgoing()
    rest.response(call_id, HttpResponse(200, {"p-time": "soon"}, ""))
    assert not creds.busy and not rest.busy
    err = creds.take_error()
    assert isinstance(err, MdsdkError) and "ValueError" in str(err)


def test_a_due_renewal_waits_for_a_running_login_instead_of_spinning() -> None:
    creds, rest, _ = _credentials()
    creds.endpoint(0.0, 0.0)
    [(call_id, _req)] = rest.outgoing()
    rest.response(call_id, HttpResponse(200, {"p-time": "2"}, ""))
    assert creds.current is not None and creds.current.token == "token-2.0"
    creds.renew_at = 7.5
    assert creds.deadline == 7.5
    creds.refresh(8.0, 8.0)  # a fresh login starts: the renewal must not be due meanwhile
    assert creds.busy and creds.deadline is None
