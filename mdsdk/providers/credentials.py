"""REST flows and credentials, shared by every provider that logs in.

* :class:`RestFlows` - pure REST generator flows driven by responses that
  the runtime's REST worker brings back.
* :class:`Credentials` - login, renewal before expiry (a deadline like a
  keepalive), a fresh login after a refusal, and every token held so far
  (all of them stay redacted).
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Generator, List, Optional, Tuple, Union

from ..errors import MdsdkError
from .base import Endpoint, HttpRequest, HttpResponse

__all__ = ["Flow", "RestFlows", "LoginFlow", "RenewFlow", "Credentials"]


Flow = Generator[HttpRequest, HttpResponse, Any]


class RestFlows:
    """Pure REST flows in progress. Each step's request leaves through
    :meth:`outgoing` with an id; :meth:`response` sends the answer into its
    flow and, when the flow ends, calls its ``done(value)`` or ``failed(error)``."""

    def __init__(self) -> None:
        self._flows: Dict[int, Tuple[Flow, Callable[[Any], None], Callable[[MdsdkError], None]]] = {}
        self._out: List[Tuple[int, HttpRequest]] = []
        self._next = 1

    def start(self, flow: Flow, done: Callable[[Any], None], failed: Callable[[MdsdkError], None]) -> None:
        """Run ``flow`` until its first request (or its end)."""
        self._step(flow, done, failed, None)

    def _step(self, flow: Flow, done: Callable[[Any], None], failed: Callable[[MdsdkError], None],
              response: Optional[HttpResponse]) -> None:
        try:
            req = next(flow) if response is None else flow.send(response)
        except StopIteration as stop:
            done(stop.value)
            return
        except MdsdkError as exc:
            failed(exc)
            return
        except Exception as exc:  # noqa: BLE001 - a flow that breaks must still end, or its login waits forever
            failed(MdsdkError(f"a REST flow failed on an answer it could not read ({type(exc).__name__}: "
                              f"{str(exc)[:200]})"))
            return
        call_id, self._next = self._next, self._next + 1
        self._flows[call_id] = (flow, done, failed)
        self._out.append((call_id, req))

    def outgoing(self) -> List[Tuple[int, HttpRequest]]:
        """Take the requests waiting for the REST worker."""
        out, self._out = self._out, []
        return out

    def response(self, call_id: int, answer: Union[HttpResponse, MdsdkError]) -> None:
        """Hand the answer of ``call_id`` to its flow (unknown ids are ignored)."""
        entry = self._flows.pop(call_id, None)
        if entry is None:
            return
        flow, done, failed = entry
        if isinstance(answer, MdsdkError):
            flow.close()
            failed(answer)
        else:
            self._step(flow, done, failed, answer)

    @property
    def busy(self) -> bool:
        """True while a flow waits for an answer."""
        return bool(self._flows or self._out)


LoginFlow = Callable[[float], Generator[HttpRequest, HttpResponse, Endpoint]]
RenewFlow = Callable[[Endpoint, float], Generator[HttpRequest, HttpResponse, Endpoint]]


class Credentials:
    """Where to connect and with which token, kept fresh.

    A provider either has a fixed ``static`` endpoint or a ``login`` flow (run through ``rest``). A token with an
    expiry is renewed ahead of it (``renew`` flow, or a fresh login) when :meth:`deadline` comes; a refused
    renewal reports once through ``report`` and logs in afresh."""

    def __init__(self, rest: RestFlows, report: Callable[[str, str], None], clock: Callable[[], Tuple[float, float]],
                 *, static: Optional[Endpoint] = None, login: Optional[LoginFlow] = None,
                 renew: Optional[RenewFlow] = None) -> None:
        self._rest, self._report, self._clock = rest, report, clock
        self.current = static
        self.held: Tuple[str, ...] = static.secrets if static is not None else ()  # every token used, bounded
        self._login, self._renew = login, renew
        self.busy = False
        self.error: Optional[MdsdkError] = None
        self.renew_at: Optional[float] = None
        self.renewals = 0

    @property
    def can_refresh(self) -> bool:
        """True when a fresh token can be had (a login flow exists)."""
        return self._login is not None

    def endpoint(self, now: float, wall_s: float) -> Optional[Endpoint]:
        """The endpoint to connect to, starting a login when there is none."""
        if self.current is None and not self.busy and self.error is None and self._login is not None:
            self._start(self._login(wall_s), now, wall_s, renewing=False)
        return self.current

    def refresh(self, now: float, wall_s: float) -> bool:
        """Forget the token and log in again; False when that is impossible."""
        if self._login is None:
            return False
        self.current = None
        if not self.busy:
            self._start(self._login(wall_s), now, wall_s, renewing=False)
        return True

    @property
    def deadline(self) -> Optional[float]:
        """When :meth:`timer` has work; None while a login runs (a due renewal
        then waits for it, and must not make the caller spin)."""
        return None if self.busy or self.current is None else self.renew_at

    def timer(self, now: float, wall_s: float) -> None:
        """Start the renewal when it is due."""
        if self.renew_at is None or now < self.renew_at or self.busy or self.current is None:
            return
        self.renew_at = None
        flow = self._renew(self.current, wall_s) if self._renew is not None else self._login and self._login(wall_s)
        if flow:
            self._start(flow, now, wall_s, renewing=True)

    def _start(self, flow: Flow, now: float, wall_s: float, renewing: bool) -> None:
        self.busy = True

        def done(ep: Endpoint) -> None:
            self.busy, self.error, self.current = False, None, ep
            self.held = (self.held + tuple(t for t in ep.secrets if t not in self.held))[-32:]
            self.renewals += renewing
            self._schedule(ep, *self._clock())

        def failed(exc: MdsdkError) -> None:
            self.busy = False
            if renewing and self._login is not None:
                self._report("error", f"token renewal failed ({exc}); logging in again")
                later, later_wall = self._clock()
                self._start(self._login(later_wall), later, later_wall, renewing=False)
            else:
                self.error = exc

        self._rest.start(flow, done, failed)

    def _schedule(self, ep: Endpoint, now: float, wall_s: float) -> None:
        if ep.expires_at is None:
            self.renew_at = None
            return
        left = ep.expires_at - wall_s
        # Renew a quarter of the lifetime ahead, at most 15 minutes ahead (Tradovate's advice).
        self.renew_at = now + max(1.0, left - min(15 * 60.0, max(0.0, left) / 4))

    def take_error(self) -> Optional[MdsdkError]:
        """The login failure, once."""
        err, self.error = self.error, None
        return err
