"""CrossTrade through the whole SDK against its emulator, for what issue 12 names beyond the shared runtime
conformance suite: a bad key at the upgrade, RPC (answers, unknown API, an answer that never comes, a late one),
300 RPCs from four threads within the budget without the server ever refusing or closing, and P&L switched on
again after a reconnect."""

from __future__ import annotations

import threading
import time
from typing import Any, Iterator, List

import pytest

import mdsdk
from mdsdk import ReconnectPolicy, Status
from mdsdk.errors import AuthenticationError, ProviderError, RateLimitedError, RequestTimeout
from mdsdk.events import PnL
from mdsdk.testing import CrossTradeEmulator

from .conftest import wait_until

FAST = ReconnectPolicy(initial=0.05, cap=0.2, jitter=0.0)


@pytest.fixture
def emu() -> Iterator[CrossTradeEmulator]:
    with CrossTradeEmulator(tick=0.05) as server:
        yield server


def _connect(emu: CrossTradeEmulator, **more: Any) -> Any:
    return mdsdk.connect("crosstrade", reconnect=FAST, **{**emu.client_options, **more})


def test_a_bad_key_is_refused_at_the_upgrade_once(emu: CrossTradeEmulator) -> None:
    with pytest.raises(AuthenticationError, match="401"):
        _connect(emu, token="xt_not-the-key")
    assert emu.refused == 1 and emu.open_connections == 0


def test_rpc_answers_and_errors(emu: CrossTradeEmulator) -> None:
    with _connect(emu) as feed:
        quote = feed.rpc("GetQuote", account=emu.account, instrument=emu.example_symbol)
        assert quote["instrument"] == emu.example_symbol and quote["ask"] >= quote["bid"] > 0
        order = feed.rpc("PlaceOrder", account=emu.account, instrument=emu.example_symbol, action="Buy",
                         quantity=1, orderType="Market")
        orders = feed.rpc("GetOrders", account=emu.account)
        assert order["orderId"] in str(orders)
        with pytest.raises(ProviderError, match="NoSuchCall") as info:
            feed.rpc("NoSuchCall")
        assert info.value.code == "unknown_api"
        with pytest.raises(ProviderError, match="invalid_account"):
            feed.rpc("GetPositions", account="Sim999")


def test_an_unanswered_rpc_times_out_and_a_late_answer_is_dropped_quietly(emu: CrossTradeEmulator) -> None:
    with _connect(emu) as feed:
        got: List[Status] = []
        feed.on_status(got.append)
        emu.rpc_delay = 1.0
        with pytest.raises(RequestTimeout, match="GetAccounts"):
            feed.rpc("GetAccounts", timeout=0.3)
        time.sleep(1.2)  # the answer arrives now, for nobody
        emu.rpc_delay = 0.0
        assert feed.rpc("GetAccounts")["count"] >= 1  # and the next call gets its own answer
        assert feed.stats()["malformed"] == 0 and not [s for s in got if s.kind == "error"]
        emu.drop_rpc_answers = {"GetAccount"}
        with pytest.raises(RequestTimeout):
            feed.rpc("GetAccount", account=emu.account, timeout=0.3)


def test_300_rpcs_from_four_threads_stay_within_the_budget() -> None:
    # The real budget is 20 at 3/s (300 calls take 100 s); the same rules at 60/s keep the test short.
    with CrossTradeEmulator(tick=0.2, rpc_rate=60.0, rpc_burst=20) as emu:
        with _connect(emu, rpc_rate=60.0, rpc_burst=20) as feed:
            answers: List[Any] = []
            refused: List[BaseException] = []

            def caller() -> None:
                for _ in range(75):
                    try:
                        answers.append(feed.rpc("GetQuote", account=emu.account, instrument=emu.example_symbol,
                                                timeout=20))
                    except RateLimitedError as exc:
                        refused.append(exc)

            threads = [threading.Thread(target=caller) for _ in range(4)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(60)
            assert len(answers) + len(refused) == 300 and len(answers) == 300
            assert emu.violations == 0 and emu.closed_for_abuse == 0 and feed.stats()["reconnects"] == 0


def test_a_budget_the_caller_cannot_wait_for_is_refused_at_once(emu: CrossTradeEmulator) -> None:
    with _connect(emu, rpc_rate=1.0, rpc_burst=1) as feed:
        feed.rpc("GetAccounts")  # spends the one token
        began = time.monotonic()
        with pytest.raises(RateLimitedError, match="rate budget") as info:
            feed.rpc("GetAccounts", timeout=0.2)
        assert time.monotonic() - began < 0.2 and info.value.retry_after is not None


def test_pnl_streams_again_after_a_reconnect(emu: CrossTradeEmulator) -> None:
    with _connect(emu, pnl_interval=100) as feed:
        got: List[PnL] = []
        statuses: List[Status] = []
        feed.on("pnl", got.append)
        feed.on_status(statuses.append)
        feed.subscribe(emu.account, kinds="pnl")
        assert wait_until(lambda: len(got) >= 2)
        assert got[0].account == emu.account and got[0].symbol == emu.account
        emu.drop()
        assert wait_until(lambda: any(s.kind == "resubscribed" for s in statuses), 10)
        seen = len(got)
        assert wait_until(lambda: len(got) > seen + 2)  # the server remembered nothing; the client asked again
