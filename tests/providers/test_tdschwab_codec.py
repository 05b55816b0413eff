"""The TDA / Schwab codec against the real frames of ../shared/fixtures/tda and schwab, and against hostile ones.

Fixture lines are named by file and index (0-based, every line counted, "out" lines too); the values asserted are
the ones a person reads off that line."""

from __future__ import annotations

import json
import math
from typing import Any, Dict, List, Type, TypeVar

import pytest

from mdsdk.events import Bar, BookSnapshot, Event, Notice, Quote, Summary, Trade, notice_class
from mdsdk.providers.core import MAX_KEYS
from mdsdk.providers.tdschwab import SCHWAB, TDA, Codec, Decoded, Variant
from mdsdk.testing.invariants import check_events
from tests.conftest import FIXTURES, fixture_lines

E = TypeVar("E", bound=Event)
RECEIVED = 1_700_000_000_000_000_000
MS = 1_000_000


def decode(codec: Codec, relpath: str, index: int) -> Decoded:
    line = fixture_lines(relpath)[index]
    assert line["dir"] == "in"
    out = codec.decode(line["raw"], RECEIVED)
    check_events(out.events)
    return out


def replay(codec: Codec, relpath: str, upto: int) -> List[Decoded]:
    """Every "in" line of ``relpath`` up to index ``upto`` through one codec (deltas merge across lines)."""
    return [decode(codec, relpath, i) for i, line in enumerate(fixture_lines(relpath)[:upto + 1])
            if line["dir"] == "in"]


def one(out: Decoded, cls: Type[E], symbol: str) -> E:
    found = [e for e in out.events if type(e) is cls and e.symbol == symbol]
    assert len(found) == 1, (cls.__name__, symbol, out.events)
    return found[0]


def none_of(out: Decoded, cls: Type[Event], symbol: str) -> bool:
    return not [e for e in out.events if type(e) is cls and e.symbol == symbol]


@pytest.fixture
def schwab() -> Codec:
    return Codec(SCHWAB, "schwab")


@pytest.fixture
def tda() -> Codec:
    return Codec(TDA, "tda")


# ---------------------------------------------------------------- every fixture
@pytest.mark.parametrize("variant", [TDA, SCHWAB], ids=["tda", "schwab"])
def test_every_fixture_line_decodes_to_valid_events(variant: Variant) -> None:
    folder = FIXTURES / variant.name
    if not folder.exists():
        pytest.skip(f"{folder} not found: ../shared/fixtures is not beside the project")
    codec = Codec(variant, variant.name)
    for path in sorted(folder.glob("*.jsonl")):
        for i, line in enumerate(fixture_lines(f"{variant.name}/{path.name}")):
            if line["dir"] != "in" or "pricehistory" in path.name:
                continue
            if path.name == "invalid_json.jsonl" and i == 0:
                with pytest.raises(ValueError, match="invalid JSON"):
                    codec.decode(line["raw"], RECEIVED)
                continue
            out = codec.decode(line["raw"], RECEIVED)
            check_events(out.events)
            assert not out.malformed, (path.name, i, out.malformed)
            assert out.events or out.responses or out.notifies, (path.name, i)


# ---------------------------------------------------------------- level one, Schwab
def test_schwab_equity_deltas_merge_per_symbol(schwab: Codec) -> None:
    rel = "schwab/levelone_equities.jsonl"
    first = decode(schwab, rel, 4)  # AAPL snapshot: bid 233.22 x1, ask 233.33 x3, last 233.3, volume 69783235
    q = one(first, Quote, "AAPL")
    assert (q.bid, q.ask, q.bid_size, q.ask_size) == (233.22, 233.33, 1.0, 3.0)
    assert q.time == 1755118704147 * MS  # no quote time requested: the block's timestamp
    assert one(first, Summary, "AAPL").high == 235.0  # "10": 235, an int price, becomes a float
    second = decode(schwab, rel, 5)  # only "3": 233.31 and "8": 69783236
    t = one(second, Trade, "AAPL")
    assert (t.price, t.day_volume) == (233.31, 69783236.0)
    assert none_of(second, Quote, "AAPL")  # no bid or ask field in the delta: no quote
    third = decode(schwab, rel, 6)  # "1": 233.33, "2": 233.39, "5": 1; the bid size (1) stays from line 4
    q = one(third, Quote, "AAPL")
    assert (q.bid, q.ask, q.bid_size, q.ask_size) == (233.33, 233.39, 1.0, 1.0)
    fourth = decode(schwab, rel, 7)  # only the volume: a Summary that still knows the high
    s = one(fourth, Summary, "AAPL")
    assert (s.volume, s.high) == (69784645.0, 235.0)
    assert s.extra["asset_sub_type"] == "COE" and s.extra["cusip"] == "037833100"
    assert none_of(fourth, Quote, "AAPL") and none_of(fourth, Trade, "AAPL")


def test_schwab_equity_full_snapshot(schwab: Codec) -> None:
    out = decode(schwab, "schwab/levelone_equities.jsonl", 8)
    q = one(out, Quote, "MSFT")
    assert (q.bid, q.ask, q.bid_size, q.ask_size) == (417.01, 417.08, 1.0, 0.0)
    assert q.time == 1715777955574 * MS  # field 34, QUOTE_TIME_MILLIS
    assert q.extra["bid_id"] == "Z" and q.extra["ask_mic_id"] == "BATS"
    assert q.extra["bid_time_millis"] == 1715777955574
    t = one(out, Trade, "MSFT")
    assert (t.price, t.size, t.day_volume) == (417.09, 10.0, 162750.0)
    assert t.time == 1715777953982 * MS and t.extra["last_mic_id"] == "XBOS"
    s = one(out, Summary, "MSFT")
    assert s.prev_close == 415.81 and s.open == 0.0 and math.isnan(s.close)
    assert s.extra["net_change"] == 1.28 and s.extra["description"] == "Microsoft Corp"
    assert s.extra["exchange_id"] == "Q" and s.extra["dividend_date"] == "2024-05-15 00:00:00.0"
    assert s.extra["htb_quantity"] == 95711793 and s.extra["delayed"] is True
    assert not [k for e in out.events for k in e.extra if k[0].isdigit()]  # never numeric keys


def test_schwab_first_sample_equities(schwab: Codec) -> None:
    out = decode(schwab, "schwab/levelone_equities.jsonl", 2)
    assert (one(out, Quote, "SPY").bid, one(out, Quote, "SPY").ask) == (512.3, 512.32)
    assert one(out, Trade, "SCHW").price == 76.44
    assert one(out, Summary, "AAPL").high == 187.0 and one(out, Summary, "SPY").extra["asset_sub_type"] == "ETF"


def test_schwab_options(schwab: Codec) -> None:
    out = decode(schwab, "schwab/levelone_options.jsonl", 2)
    sym = "GOOG  240517C00070000"
    q = one(out, Quote, sym)
    assert (q.bid, q.ask, q.bid_size, q.ask_size) == (102.15, 103.75, 20.0, 20.0)
    assert q.time == 1715786878997 * MS
    s = one(out, Summary, sym)
    assert s.open_interest == 5.0 and s.prev_close == 101.9504
    assert s.extra["delta"] == 0.99961827 and s.extra["strike_price"] == 70.0 and s.extra["contract_type"] == "C"
    assert s.extra["description"] == "GOOG 05/17/2024 70.00 C" and s.extra["exercise_type"] == "A"
    assert one(out, Trade, sym).price == 103.07


def test_schwab_futures_percent_is_kept(schwab: Codec) -> None:
    out = decode(schwab, "schwab/levelone_futures.jsonl", 2)
    q = one(out, Quote, "/ES")
    assert (q.bid, q.ask, q.bid_size, q.ask_size) == (5536.5, 5537.0, 61.0, 112.0)
    assert q.time == 1719002947349 * MS and q.extra["bid_id"] == "?"
    s = one(out, Summary, "/CL")
    assert s.extra["future_change_percent"] == -0.84881289  # already a percent on Schwab
    assert s.open_interest == 352314.0 and s.prev_close == 81.29 and s.extra["future_active_symbol"] == "/CLQ24"
    assert one(out, Trade, "/CL").time == 1719002944037 * MS


def test_schwab_futures_options_chars_sent_as_ints(schwab: Codec) -> None:
    out = decode(schwab, "schwab/levelone_futures_options.jsonl", 2)
    q = one(out, Quote, "./E3DM24P5490")
    assert (q.bid, q.ask, q.bid_size, q.ask_size) == (9.6, 9.7, 19.0, 19.0)
    assert q.extra == {"bid_id": "?", "ask_id": "?"}  # "6": 63 and "7": 63
    s = one(out, Summary, "./E3DM24P5490")
    assert s.open_interest == 524.0 and s.open == 10.0 and s.extra["underlying_symbol"] == "/ESM24"
    assert s.extra["strike_price"] == 5490.0 and s.extra["exchange_name"] == "XCME"
    assert one(out, Trade, "./E3DM24P5490").extra["last_id"] == "?"


def test_forex_both_variants(schwab: Codec, tda: Codec) -> None:
    s = decode(schwab, "schwab/levelone_forex.jsonl", 2)
    assert (one(s, Quote, "EUR/USD").bid, one(s, Quote, "EUR/USD").ask) == (1.07435, 1.07448)
    assert one(s, Quote, "EUR/USD").time == 1718811581092 * MS
    t = decode(tda, "tda/levelone_forex.jsonl", 2)
    q = one(t, Quote, "EUR/GBP")
    assert (q.bid, q.ask, q.bid_size, q.ask_size) == (0.8967, 0.8969, 1000000.0, 1000000.0)
    summary = one(t, Summary, "EUR/GBP")
    assert summary.volume == 19000000.0 and summary.extra["product"] == "UNUSED"
    assert math.isnan(summary.extra["tick"])  # "21": "UNUSED" where a double belongs


# ---------------------------------------------------------------- level one, TDA
def test_tda_quote_snapshot(tda: Codec) -> None:
    out = decode(tda, "tda/quote_subs_and_data.jsonl", 2)
    q = one(out, Quote, "GOOG")
    assert (q.bid, q.ask, q.bid_size, q.ask_size) == (1404.92, 1412.99, 1.0, 2.0)
    assert q.time == 1590191970734 * MS  # field 50, QUOTE_TIME_IN_LONG
    assert q.extra["quote_time_seconds"] == 71970 and q.extra["bid_tick"] is None  # " " is no tick
    t = one(out, Trade, "GOOG")
    assert (t.price, t.size, t.time) == (1411.89, 2.0, 1590191966446 * MS)
    s = one(out, Summary, "GOOG")
    assert (s.open, s.high, s.low, s.prev_close) == (1396.71, 1412.76, 1391.83, 1410.42)
    assert s.extra["description"] == "Alphabet Inc. - Class C Capital Stock" and s.extra["exchange_id"] == "q"
    assert one(out, Summary, "MSFT").extra["dividend_date"] == "2020-05-20 00:00:00.000"


def test_tda_quote_partial_captures(tda: Codec) -> None:
    out = decode(tda, "tda/quote_subs_and_data.jsonl", 3)
    q = one(out, Quote, "AAPL")
    assert (q.bid, q.ask, q.bid_size, q.ask_size) == (135.45, 135.51, 4.0, 1.0)
    assert one(out, Trade, "AAPL").time == 1674003599054 * MS
    assert one(out, Summary, "AVIR").extra["security_status"] == "Closed"
    later = decode(tda, "tda/quote_subs_and_data.jsonl", 4)
    tron = one(later, Quote, "TRON")
    assert (tron.bid, tron.ask) == (10.0, 16.12) and math.isnan(tron.bid_size)  # never sent: nan, not 0


def test_tda_option(tda: Codec) -> None:
    out = decode(tda, "tda/option.jsonl", 2)
    q = one(out, Quote, "MSFT_052920C145")
    assert (q.bid, q.ask, q.bid_size, q.ask_size) == (38.05, 39.05, 6.0, 116.0)
    assert q.time == 1590244265891 * MS  # only seconds since midnight on the wire: the block's time
    s = one(out, Summary, "MSFT_052920C145")
    assert s.open_interest == 7.0 and s.extra["strike_price"] == 145.0 and s.extra["cusip"] == "0MSFT.ET00145000"
    assert none_of(out, Trade, "GOOG_052920C620")  # this item carries no last price or size


def test_tda_futures_percent_ratio_becomes_percent(tda: Codec) -> None:
    frame = {"data": [{"service": "LEVELONE_FUTURES", "timestamp": 1590599267920, "command": "SUBS", "content": [
        {"key": "/ES", "1": 2996.25, "2": 2996.5, "4": 30, "5": 12, "6": "?", "10": 1590599267000, "20": 0.0014}]}]}
    out = tda.decode(json.dumps(frame), RECEIVED)
    assert one(out, Summary, "/ES").extra["future_change_percent"] == pytest.approx(0.14)
    q = one(out, Quote, "/ES")
    assert q.extra["ask_id"] == "?" and q.time == 1590599267000 * MS  # TDA: 6 is the ASK id


# ---------------------------------------------------------------- charts and time and sales
def test_chart_equity_both_layouts(schwab: Codec, tda: Codec) -> None:
    t = decode(tda, "tda/chart_equity.jsonl", 2)
    bar = one(t, Bar, "MSFT")
    assert (bar.open, bar.high, bar.low, bar.close, bar.volume) == (179.445, 179.57, 179.4299, 179.52, 53742.0)
    assert bar.time == 1590597540000 * MS and bar.interval == "1m" and bar.complete
    assert bar.extra == {"seq": 985, "sequence": 339, "chart_day": 18409}
    aapl = one(decode(tda, "tda/chart_equity.jsonl", 3), Bar, "AAPL")
    assert (aapl.open, aapl.low, aapl.volume, aapl.extra["sequence"]) == (81.99, 81.9, 1313.0, 779)
    s = decode(schwab, "schwab/chart_equity.jsonl", 2)
    bar = one(s, Bar, "MSFT")  # sequence first on live Schwab data
    assert (bar.open, bar.high, bar.low, bar.close, bar.volume) == (421.65, 421.79, 421.65, 421.755, 26.0)
    assert bar.time == 1715903940000 * MS and bar.extra["sequence"] == 779
    assert one(s, Bar, "GOOG").close == 175.06
    wrong = one(tda.decode(fixture_lines("schwab/chart_equity.jsonl")[2]["raw"], RECEIVED), Bar, "MSFT")
    assert wrong.open == 779.0  # the trap the variant data avoids: Schwab's frame read in TDA's order


@pytest.mark.parametrize("variant", [TDA, SCHWAB], ids=["tda", "schwab"])
def test_chart_futures(variant: Variant) -> None:
    out = decode(Codec(variant, variant.name), f"{variant.name}/chart_futures.jsonl", 1 if variant is TDA else 2)
    bar = one(out, Bar, "/ES")
    assert (bar.open, bar.high, bar.low, bar.close, bar.volume) == (2996.25, 2997.25, 2995.25, 2997.25, 1501.0)
    assert bar.time == 1590597840000 * MS
    assert one(out, Bar, "/CL").close == 33.35


def test_tda_time_and_sales(tda: Codec) -> None:
    t = one(decode(tda, "tda/timesale_equity.jsonl", 1), Trade, "MSFT")
    assert (t.price, t.size, t.time) == (179.64, 100.0, 1590599683785 * MS)
    assert t.extra == {"last_sequence": 111626, "seq": 43} and math.isnan(t.day_volume)
    f = one(decode(tda, "tda/timesale_futures.jsonl", 1), Trade, "/CL")
    assert (f.price, f.size) == (33.08, 1.0)
    o = one(decode(tda, "tda/timesale_options.jsonl", 1), Trade, "GOOG_052920C620")
    assert (o.price, o.size) == (1000.0, 100.0) and type(o.price) is float  # ints on the wire


def test_a_print_seen_again_is_not_a_second_trade_and_a_skipped_seq_is_a_gap(tda: Codec) -> None:
    raw = fixture_lines("tda/timesale_equity.jsonl")[1]["raw"]  # MSFT seq 43, GOOG seq 0
    assert len(tda.decode(raw, RECEIVED).events) == 2
    again = tda.decode(raw, RECEIVED)
    assert [e.symbol for e in again.events] == ["GOOG"]  # MSFT's 43 repeated; seq 0 is not counted
    assert again.gaps == []
    later = tda.decode(raw.replace('"seq": 43', '"seq": 46'), RECEIVED)
    assert [e.symbol for e in later.events] == ["MSFT", "GOOG"]
    assert later.gaps == [("TIMESALE_EQUITY", "MSFT", 44, 45)]  # two prints never arrived
    tda.reset()  # a new session counts afresh
    assert len(tda.decode(raw, RECEIVED).events) == 2


# ---------------------------------------------------------------- books
def test_books_best_first_with_entry_times_per_zone(schwab: Codec, tda: Codec) -> None:
    out = decode(tda, "tda/book_listed.jsonl", 1)
    book = one(out, BookSnapshot, "MSFT")
    assert book.time == 1590532442608 * MS
    assert book.bids == ((181.77, 100.0), (181.75, 545.0), (157.0, 100.0))
    assert book.asks[0] == (181.95, 100.0) and book.asks[-1] == (186.8, 700.0)
    bids = json.loads(str(book.extra["bid_entries"]))
    assert bids[1] == [181.75, [["NSDQ", 345.0, 1590531885730], ["arcx", 200.0, 1590532442588]]]
    # arcx's 63242588 ms after midnight US/Central is 20 ms before the book time: the TDA zone holds.
    goog = one(decode(tda, "tda/book_nasdaq.jsonl", 2), BookSnapshot, "GOOG")
    assert goog.bids[0] == (1418.0, 1.0) and goog.asks[0] == (1421.0, 300.0)
    sch = one(decode(schwab, "schwab/book_nasdaq.jsonl", 1), BookSnapshot, "MSFT")
    assert sch.bids == book.bids
    assert json.loads(str(sch.extra["bid_entries"]))[0][1][0][2] == 1590528750257  # US/Eastern on Schwab


def test_book_levels_are_sorted_and_bad_levels_dropped(tda: Codec) -> None:
    frame = {"data": [{"service": "NASDAQ_BOOK", "timestamp": 1590532470149, "content": [
        {"key": "X", "1": 1590532442608, "2": [{"0": 10.0, "1": 1}, {"0": 11.0, "1": 2}],
         "3": [{"0": 13.0, "1": 3}, {"0": 12.0, "1": 4}]},
        {"key": "Y", "2": [{"0": "cheap", "1": 1}]}]}]}
    out = tda.decode(json.dumps(frame), RECEIVED)
    book = one(out, BookSnapshot, "X")
    assert book.bids == ((11.0, 2.0), (10.0, 1.0)) and book.asks == ((12.0, 4.0), (13.0, 3.0))
    assert none_of(out, BookSnapshot, "Y") and "NASDAQ_BOOK Y" in out.malformed[0]


# ---------------------------------------------------------------- responses, notifies, items
def test_responses(schwab: Codec, tda: Codec) -> None:
    ok = decode(schwab, "schwab/login_success.jsonl", 2).responses[0]
    assert (ok.service, ok.command, ok.requestid, ok.code, ok.msg) == (
        "ADMIN", "LOGIN", "1", 0, "server=s3081dc7-2;status=NP")
    assert decode(schwab, "schwab/login_denied.jsonl", 0).responses[0].code == 3
    na = decode(schwab, "schwab/service_not_available.jsonl", 1).responses[0]
    assert (na.service, na.code, na.msg) == ("TIMESALE_EQUITY", 11, "Service not available or temporary down.")
    bad = decode(tda, "tda/errors.jsonl", 0).responses[0]
    assert (bad.service, bad.code, bad.msg, bad.timestamp_ms) == ("QUOTE", 21, "Bad command formatting",
                                                                  1590116673258)
    assert decode(tda, "tda/login_success.jsonl", 2).responses[0].msg == "08-4"


def test_notifies(schwab: Codec, tda: Codec) -> None:
    assert decode(tda, "tda/heartbeat.jsonl", 0).notifies[0].heartbeat_ms == 1674011769604
    assert decode(schwab, "schwab/login_success.jsonl", 3).notifies[0].heartbeat_ms == 1755118704127
    stop = decode(schwab, "schwab/stop_streaming.jsonl", 0).notifies[0]
    assert (stop.service, stop.code, stop.heartbeat_ms) == ("ADMIN", 30, None)
    news = decode(tda, "tda/news_headline.jsonl", 2).notifies[0]
    assert (news.service, news.code, news.msg) == ("NEWS_HEADLINE", 17, "Not authorized for all quotes.")
    takeover = tda.decode('{"notify":[{"service":"Invalid Service","timestamp":1,"content":{"code":12,'
                          '"msg":"Connection closed"}}]}', RECEIVED).notifies[0]
    assert (takeover.service, takeover.code) == ("Invalid Service", 12)


def test_provider_events(schwab: Codec, tda: Codec) -> None:
    # Account activity, news and screeners arrive as Notice kinds: their topic selects them like any kind.
    acct = decode(tda, "tda/acct_activity.jsonl", 3).events[0]
    assert isinstance(acct, Notice) and acct.topic == "account_activity" and type(acct).__name__ == "AccountActivity"
    assert (acct.symbol, acct.provider, acct.extra["seq"]) == ("xxxxxf1ff5f3", "tda", 29)
    assert acct.extra["message_type"] == "ERROR" and acct.extra["message_data"] == "EXPIRED_KEY"
    assert acct.time == 1636200000000 * 1_000_000  # the block's timestamp: the item carries no time
    news = decode(tda, "tda/news_headline.jsonl", 1).events
    assert [n.topic for n in news] == ["news", "news"] and type(news[0]) is notice_class("news")
    assert news[1].symbol == "MSFT" and news[1].extra["headline"] == "Microsoft Does Something"
    assert news[1].extra["story_source"] == "WSJ" and news[1].extra["is_hot"] is False
    assert news[1].time == 1590181199728 * 1_000_000  # the story's own time, not the frame's
    screen = decode(schwab, "schwab/screener_equity.jsonl", 2).events[0]
    assert screen.topic == "screener" and screen.symbol == "NYSE_VOLUME_5"
    assert screen.extra["sort_field"] == "VOLUME" and screen.extra["frequency"] == 5
    assert screen.time == 1718996308700 * 1_000_000
    first = screen.extra["items"][0]  # type: ignore[index]
    assert first["symbol"] == "XLF" and first["volume"] == 1760031 and first["last_price"] == 41.305
    assert first["net_percent_change"] == 1 and first["market_share"] == 3.40228332
    schwab_acct = decode(schwab, "schwab/acct_activity.jsonl", 2).events[0]
    assert schwab_acct.extra["account"] == "1001" and schwab_acct.extra["message_type"] == "OrderEntryRequest"


def test_subscribed_notice_and_bad_screener_rows(schwab: Codec) -> None:
    out = schwab.decode('{"data":[{"service":"ACCT_ACTIVITY","timestamp":1,"command":"SUBS","content":[{"seq":0,'
                        '"key":"k","1":"1001","2":"SUBSCRIBED","3":""}]}]}', RECEIVED)
    assert out.events == [] and out.malformed == []  # the answer to every SUBS, not activity
    out = schwab.decode('{"data":[{"service":"SCREENER_OPTION","timestamp":1,"command":"SUBS","content":[{'
                        '"key":"OPTION_PUT_VOLUME_5","1":1718996308700,"4":[7,{"symbol":"X","lastPrice":"1e999",'
                        '"weird key!":1}]}]}]}', RECEIVED)
    assert out.events[0].extra["items"] == [{"symbol": "X", "last_price": "1e999"}]
    assert len(out.malformed) == 1 and "int" in out.malformed[0]


# ---------------------------------------------------------------- invalid JSON
def test_invalid_json(tda: Codec) -> None:
    lines = fixture_lines("tda/invalid_json.jsonl")
    with pytest.raises(ValueError, match="invalid JSON"):
        tda.decode(lines[0]["raw"], RECEIVED)
    out = tda.decode(lines[1]["raw"], RECEIVED)
    assert out.repaired == "doubled backslashes"
    assert out.events[0].extra["headline"] == 'Acme "Widget" recall'


def test_replacement_characters_are_repaired(tda: Codec) -> None:
    raw = ('{"data":[{"service":"LEVELONE_FOREX","timestamp":1590599267920,"content":[{"key":"EUR/USD",'
           '"1":1.0976,"2":1.0978,"17":\ufffd\ufffd}]}]}')
    out = tda.decode(raw.encode("utf-8"), RECEIVED)
    assert out.repaired == "U+FFFD" and one(out, Quote, "EUR/USD").bid == 1.0976
    raw_bytes = b'{"data":[{"service":"LEVELONE_FOREX","content":[{"key":"EUR/GBP","2":0.9,"17":\xff\xfe}]}]}'
    out = tda.decode(raw_bytes, RECEIVED)  # bytes that are not UTF-8 at all
    assert out.repaired == "U+FFFD" and one(out, Quote, "EUR/GBP").ask == 0.9


# ---------------------------------------------------------------- hostile frames
def test_bad_blocks_never_spoil_the_good_ones(schwab: Codec) -> None:
    frame = {"data": [
        {"service": "ACTIVES_NASDAQ", "timestamp": 1, "content": [{"key": "x", "1": 2}]},
        {"service": "LEVELONE_EQUITIES", "timestamp": 1755118704147, "content": [
            {"key": "AAPL", "1": "abc", "2": 233.33, "4": [1], "77": 5, "6": 63, "weird key!": 1},
            {"1": 5.0}, "junk", {"key": ""}]},
        {"service": "TIMESALE_EQUITY", "content": [{"key": "AAPL", "2": 1.0}]},
        {"service": "CHART_EQUITY", "content": "nope"},
        7],
        "response": [{"service": "ADMIN", "requestid": 3, "content": {"code": "zero"}}, {"requestid": 4}],
        "notify": [{"heartbeat": "soon"}, {"heartbeat": "5"}], "extra_kind": 1}
    out = schwab.decode(json.dumps(frame), RECEIVED)
    check_events(out.events)
    q = one(out, Quote, "AAPL")
    assert math.isnan(q.bid) and q.ask == 233.33 and math.isnan(q.bid_size) and q.extra["ask_id"] == "?"
    assert one(out, Summary, "AAPL").extra["field_77"] == 5  # an unknown field number, relabelled
    assert [r.requestid for r in out.responses] == ["4"] and out.notifies[0].heartbeat_ms == 5
    reasons = "\n".join(out.malformed)
    for expected in ("unknown service 'ACTIVES_NASDAQ'", "unknown service 'TIMESALE_EQUITY' for schwab",
                     "field 4: list", "unreadable field name 'weird key!'", "item without a symbol key",
                     "content is str", "bad response block", "bad notify block", "unknown frame key 'extra_kind'",
                     "a data block must be an object"):
        assert expected in reasons, expected
    assert len(out.malformed) == 12


@pytest.mark.parametrize("raw", [
    "", "[]", "1", "null", '"text"', '{"data": 5}', '{"data": [5]}', '{"data": [{"service": 5}]}',
    '{"data": [{"service": "QUOTE", "content": [{"key": "A", "1": 1e400, "4": -1e400, "50": 1e30}]}]}',
    '{"data": [{"service": "QUOTE", "timestamp": "x", "content": [{"key": "A", "1": "NaN", "50": "soon"}]}]}',
    '{"data": [{"service": "CHART_EQUITY", "content": [{"key": "A", "7": -5, "1": true}]}]}',
    '{"data": [{"service": "NASDAQ_BOOK", "content": [{"key": "A", "1": 1e30, "2": [{"0": 1, "3": [{"2": -9}]}]}]}]}',
    '{"data": [{"service": "NASDAQ_BOOK", "content": [{"key": "A", "2": [{"0": NaN}], "3": {"0": 1}}]}]}',
    '{"data": [{"service": "ACCT_ACTIVITY", "content": [{"key": "k", "seq": "x", "1": [1], "3": 5}]}]}',
    '{"response": [{"content": []}], "notify": [{"heartbeat": 1e99}, {"heartbeat": []}]}',
    '{"data": [{"service": "LEVELONE_FUTURES", "content": [{"key": "/ES", "delayed": 1180591620717411303424, '
    '"assetMainType": "' + "y" * 20000 + '", "20": 1e308, "99": -1180591620717411303424, "seq": 1e300}]}]}',
    "[" * 100000, '{"data":[{"service":"QUOTE","content":[{"key":"A","1":' + "[" * 5000 + "]" * 5000 + "}]}]}",
])
def test_hostile_frames_raise_only_value_error(tda: Codec, raw: str) -> None:
    try:
        out = tda.decode(raw, RECEIVED)
    except ValueError:
        return
    check_events(out.events)


def test_nulls_never_blank_and_reset_forgets(schwab: Codec) -> None:
    def frame(item: Dict[str, Any]) -> str:
        return json.dumps({"data": [{"service": "LEVELONE_EQUITIES", "timestamp": 1, "content": [item]}]})
    schwab.decode(frame({"key": "AAPL", "1": 1.5, "2": 1.6}), RECEIVED)
    q = one(schwab.decode(frame({"key": "AAPL", "1": None, "2": 1.7}), RECEIVED), Quote, "AAPL")
    assert (q.bid, q.ask) == (1.5, 1.7)
    schwab.reset()
    q = one(schwab.decode(frame({"key": "AAPL", "2": 1.8}), RECEIVED), Quote, "AAPL")
    assert math.isnan(q.bid) and q.ask == 1.8


def test_state_is_bounded(schwab: Codec) -> None:
    content = [{"key": f"S{i}", "1": 1.0} for i in range(MAX_KEYS + 10)]
    schwab.decode(json.dumps({"data": [{"service": "LEVELONE_EQUITIES", "content": content}]}), RECEIVED)
    assert len(schwab._state) <= MAX_KEYS
    for start in range(0, 1000, 250):
        item = {"key": "AAPL", **{str(n): n for n in range(start, start + 250)}}
        schwab.decode(json.dumps({"data": [{"service": "LEVELONE_EQUITIES", "content": [item]}]}), RECEIVED)
    assert len(schwab._state[("LEVELONE_EQUITIES", "AAPL")]) <= 256


def test_a_book_whose_entries_pass_max_text_keeps_its_levels_without_them() -> None:
    from mdsdk.providers.convert import MAX_TEXT
    from mdsdk.testing.invariants import check_events
    huge = "X" * (MAX_TEXT + 10)
    frame = json.dumps({"data": [{"service": "NASDAQ_BOOK", "timestamp": 1_700_000_000_000, "command": "SUBS",
                                  "content": [{"key": "MSFT", "1": 1_700_000_000_000,
                                               "2": [{"0": 181.77, "1": 100, "2": 1,
                                                      "3": [{"0": huge, "1": 100, "2": 3600_000}]}],
                                               "3": [{"0": 181.8, "1": 200, "2": 1,
                                                      "3": [{"0": "NSDQ", "1": 200, "2": 3600_000}]}]}]}]})
    out = Codec(SCHWAB, "schwab").decode(frame, 1_700_000_000_000_000_000)
    books = [e for e in out.events if isinstance(e, BookSnapshot)]
    check_events(out.events)
    assert books and books[0].bids == ((181.77, 100.0),) and books[0].extra["bid_entries"] is None
    assert "NSDQ" in str(books[0].extra["ask_entries"])
