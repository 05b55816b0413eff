"""The two generations of the streamer, TD Ameritrade (``tda``) and Charles Schwab (``schwab``), as data.

Everything that differs between them and matters to decoding lives here and nowhere else: service names
(``QUOTE`` vs ``LEVELONE_EQUITIES``...), the numeric field maps of every service (reference section 7), the two
CHART_EQUITY layouts (TDA prices first, Schwab sequence first: section 7.9), the zone of the per-exchange times in
book levels (US/Central on TDA, US/Eastern on Schwab: section 9 item 11) and units (TDA's futures percent change
is a ratio, Schwab's a percent: section 9 item 12; both come out as a percent).

A field map is written as text, one ``number:name:type`` per entry. Names are the reference's labels in
snake_case (``BID_PRICE`` -> ``bid_price``); the few renames keep one meaning per name across services: a time in
seconds since midnight is ``..._seconds``, the futures percent change is ``future_change_percent`` on both,
Schwab's option ``STRIKE_TYPE`` (which carries the strike) is ``strike_price``. Type letters: ``d`` double, ``i``
int, ``c`` char (an int arriving for a char becomes that character), ``s`` text, ``b`` boolean, ``t`` epoch ms kept
as an int, ``r`` a ratio turned into a percent, ``x`` any JSON value kept as it is (screener lists).

Equity sizes: Schwab sent level-one equity sizes in lots of 100 until about 2025-11-03 and in shares after (the
SEC round-lot rule); TDA always in lots. The numbers are passed through as the server sent them."""

from __future__ import annotations

import dataclasses
from typing import Dict, FrozenSet, Mapping, Tuple

__all__ = ["Variant", "Service", "TDA", "SCHWAB", "VARIANTS", "FieldSpec", "LEVEL_ONE", "CHART", "TIMESALE",
           "BOOK", "ITEM", "META_KEYS", "category"]

# Service kinds: how a data block becomes events.
LEVEL_ONE = "level_one"  # Change delivery: partial updates merged per symbol -> Quote, Trade, Summary
CHART = "chart"          # one finished one-minute candle per message -> Bar
TIMESALE = "timesale"    # one print per message -> Trade
BOOK = "book"            # whole book per message -> BookSnapshot
ITEM = "item"            # account activity, news, screeners: relabelled fields for the protocol object

# Content keys that are not numbered fields; they reach ``extra`` in snake_case.
META_KEYS = frozenset({"key", "seq", "delayed", "assetMainType", "assetSubType", "cusip"})

FieldSpec = Tuple[str, str]  # (readable name, type letter)


def _fields(text: str) -> Mapping[str, FieldSpec]:
    """``"1:bid_price:d 2:ask_price:d"`` -> ``{"1": ("bid_price", "d"), ...}``."""
    out: Dict[str, FieldSpec] = {}
    for entry in text.split():
        number, name, kind = entry.split(":")
        out[number] = (name, kind)
    return out


def category(name: str) -> str:
    """Which event carries a level-one field in ``extra``: "quote" (bid, ask and quote-time fields), "trade" (last
    sale and trade-time fields) or "summary" (everything else: session statistics and reference data)."""
    if name.startswith(("bid_", "ask_", "quote_")):
        return "quote"
    if name.startswith(("last_", "trade_")):
        return "trade"
    return "summary"


@dataclasses.dataclass(frozen=True)
class Service:
    """One streamer service of one variant: its wire name, its kind (:data:`LEVEL_ONE`, :data:`CHART`...) and its
    numbered fields (wire number -> (readable name, type letter))."""

    name: str
    kind: str
    fields: Mapping[str, FieldSpec] = dataclasses.field(default_factory=dict)
    topic: str = ""  # ITEM services: the provider event kind (a Notice) their items become


@dataclasses.dataclass(frozen=True)
class Variant:
    """One generation of the streamer as data: its provider name, its services by wire name, the services of each
    concept (``"level_one_equity"`` -> ``"QUOTE"`` or ``"LEVELONE_EQUITIES"``), and the IANA zone of book entry
    times."""

    name: str
    services: Mapping[str, Service]
    concepts: Mapping[str, str]
    book_zone: str
    # The close code that means another login took the stream over (TDA closes the old socket with a plain
    # 1000 and no notice; Schwab sends code 12 first, so it needs none).
    takeover_close: "int | None" = None

    def service(self, name: str) -> "Service | None":
        """The service named ``name`` on the wire, None when this variant has no such service."""
        return self.services.get(name)

    @property
    def kinds(self) -> FrozenSet[str]:
        """The service kinds this variant streams."""
        return frozenset(s.kind for s in self.services.values())

    @property
    def notices(self) -> Tuple[str, ...]:
        """The provider event kinds (``feed.on(kind, fn)``) of this variant's ITEM services, sorted."""
        return tuple(sorted({s.topic for s in self.services.values() if s.topic}))


# ---------------------------------------------------------------- level one, Schwab
_SCHWAB_EQUITIES = _fields("""
1:bid_price:d 2:ask_price:d 3:last_price:d 4:bid_size:d 5:ask_size:d 6:ask_id:c 7:bid_id:c 8:total_volume:d
9:last_size:d 10:high_price:d 11:low_price:d 12:close_price:d 13:exchange_id:c 14:marginable:b 15:description:s
16:last_id:c 17:open_price:d 18:net_change:d 19:high_price_52_week:d 20:low_price_52_week:d 21:pe_ratio:d
22:dividend_amount:d 23:dividend_yield:d 24:nav:d 25:exchange_name:s 26:dividend_date:s
27:regular_market_quote:b 28:regular_market_trade:b 29:regular_market_last_price:d
30:regular_market_last_size:d 31:regular_market_net_change:d 32:security_status:s 33:mark:d
34:quote_time_millis:t 35:trade_time_millis:t 36:regular_market_trade_millis:t 37:bid_time_millis:t
38:ask_time_millis:t 39:ask_mic_id:s 40:bid_mic_id:s 41:last_mic_id:s 42:net_change_percent:d
43:regular_market_change_percent:d 44:mark_change:d 45:mark_change_percent:d 46:htb_quantity:i 47:htb_rate:d
48:hard_to_borrow:i 49:is_shortable:i 50:post_market_net_change:d 51:post_market_net_change_percent:d
""")

_SCHWAB_OPTIONS = _fields("""
1:description:s 2:bid_price:d 3:ask_price:d 4:last_price:d 5:high_price:d 6:low_price:d 7:close_price:d
8:total_volume:d 9:open_interest:d 10:volatility:d 11:money_intrinsic_value:d 12:expiration_year:i
13:multiplier:d 14:digits:i 15:open_price:d 16:bid_size:d 17:ask_size:d 18:last_size:d 19:net_change:d
20:strike_price:d 21:contract_type:c 22:underlying:s 23:expiration_month:i 24:deliverables:s 25:time_value:d
26:expiration_day:i 27:days_to_expiration:i 28:delta:d 29:gamma:d 30:theta:d 31:vega:d 32:rho:d
33:security_status:s 34:theoretical_option_value:d 35:underlying_price:d 36:uv_expiration_type:c 37:mark:d
38:quote_time_millis:t 39:trade_time_millis:t 40:exchange_id:c 41:exchange_name:s 42:last_trading_day:t
43:settlement_type:c 44:net_percent_change:d 45:mark_change:d 46:mark_change_percent:d 47:implied_yield:d
48:is_penny:b 49:option_root:s 50:high_price_52_week:d 51:low_price_52_week:d 52:indicative_asking_price:d
53:indicative_bid_price:d 54:indicative_quote_time:t 55:exercise_type:c
""")

_SCHWAB_FUTURES = _fields("""
1:bid_price:d 2:ask_price:d 3:last_price:d 4:bid_size:d 5:ask_size:d 6:bid_id:c 7:ask_id:c 8:total_volume:d
9:last_size:d 10:quote_time_millis:t 11:trade_time_millis:t 12:high_price:d 13:low_price:d 14:close_price:d
15:exchange_id:c 16:description:s 17:last_id:c 18:open_price:d 19:net_change:d 20:future_change_percent:d
21:exchange_name:s 22:security_status:s 23:open_interest:d 24:mark:d 25:tick:d 26:tick_amount:d 27:product:s
28:future_price_format:s 29:future_trading_hours:s 30:future_is_tradable:b 31:future_multiplier:d
32:future_is_active:b 33:future_settlement_price:d 34:future_active_symbol:s 35:future_expiration_date:t
36:expiration_style:s 37:ask_time_millis:t 38:bid_time_millis:t 39:quoted_in_session:b 40:settlement_date:t
""")

_SCHWAB_FUTURES_OPTIONS = _fields("""
1:bid_price:d 2:ask_price:d 3:last_price:d 4:bid_size:d 5:ask_size:d 6:bid_id:c 7:ask_id:c 8:total_volume:d
9:last_size:d 10:quote_time_millis:t 11:trade_time_millis:t 12:high_price:d 13:low_price:d 14:close_price:d
15:last_id:c 16:description:s 17:open_price:d 18:open_interest:d 19:mark:d 20:tick:d 21:tick_amount:d
22:future_multiplier:d 23:future_settlement_price:d 24:underlying_symbol:s 25:strike_price:d
26:future_expiration_date:t 27:expiration_style:s 28:contract_type:c 29:security_status:s 30:exchange_id:c
31:exchange_name:s
""")

# TDA used the same numbering (tda-api never asked for 17, which sent unparsable characters).
_FOREX = _fields("""
1:bid_price:d 2:ask_price:d 3:last_price:d 4:bid_size:d 5:ask_size:d 6:total_volume:d 7:last_size:d
8:quote_time_millis:t 9:trade_time_millis:t 10:high_price:d 11:low_price:d 12:close_price:d 13:exchange_id:c
14:description:s 15:open_price:d 16:net_change:d 17:change_percent:d 18:exchange_name:s 19:digits:i
20:security_status:s 21:tick:d 22:tick_amount:d 23:product:s 24:trading_hours:s 25:is_tradable:b
26:market_maker:s 27:high_price_52_week:d 28:low_price_52_week:d 29:mark:d
""")

# ---------------------------------------------------------------- level one, TDA
_TDA_QUOTE = _fields("""
1:bid_price:d 2:ask_price:d 3:last_price:d 4:bid_size:d 5:ask_size:d 6:ask_id:c 7:bid_id:c 8:total_volume:d
9:last_size:d 10:trade_time_seconds:i 11:quote_time_seconds:i 12:high_price:d 13:low_price:d 14:bid_tick:c
15:close_price:d 16:exchange_id:c 17:marginable:b 18:shortable:b 19:island_bid_deprecated:d
20:island_ask_deprecated:d 21:island_volume_deprecated:d 22:quote_day:i 23:trade_day:i 24:volatility:d
25:description:s 26:last_id:c 27:digits:i 28:open_price:d 29:net_change:d 30:high_52_week:d 31:low_52_week:d
32:pe_ratio:d 33:dividend_amount:d 34:dividend_yield:d 35:island_bid_size_deprecated:d
36:island_ask_size_deprecated:d 37:nav:d 38:fund_price:d 39:exchange_name:s 40:dividend_date:s
41:is_regular_market_quote:b 42:is_regular_market_trade:b 43:regular_market_last_price:d
44:regular_market_last_size:d 45:regular_market_trade_time:i 46:regular_market_trade_day:i
47:regular_market_net_change:d 48:security_status:s 49:mark:d 50:quote_time_in_long:t 51:trade_time_in_long:t
52:regular_market_trade_time_in_long:t
""")

_TDA_OPTION = _fields("""
1:description:s 2:bid_price:d 3:ask_price:d 4:last_price:d 5:high_price:d 6:low_price:d 7:close_price:d
8:total_volume:d 9:open_interest:d 10:volatility:d 11:quote_time_seconds:i 12:trade_time_seconds:i
13:money_intrinsic_value:d 14:quote_day:i 15:trade_day:i 16:expiration_year:i 17:multiplier:d 18:digits:i
19:open_price:d 20:bid_size:d 21:ask_size:d 22:last_size:d 23:net_change:d 24:strike_price:d 25:contract_type:c
26:underlying:s 27:expiration_month:i 28:deliverables:s 29:time_value:d 30:expiration_day:i
31:days_to_expiration:i 32:delta:d 33:gamma:d 34:theta:d 35:vega:d 36:rho:d 37:security_status:s
38:theoretical_option_value:d 39:underlying_price:d 40:uv_expiration_type:c 41:mark:d
""")

# TDA's futures percent change (20) is a ratio (0.0014 = 0.14 %): type r turns it into Schwab's percent.
_TDA_FUTURES = _fields("""
1:bid_price:d 2:ask_price:d 3:last_price:d 4:bid_size:d 5:ask_size:d 6:ask_id:c 7:bid_id:c 8:total_volume:d
9:last_size:d 10:quote_time:t 11:trade_time:t 12:high_price:d 13:low_price:d 14:close_price:d 15:exchange_id:c
16:description:s 17:last_id:c 18:open_price:d 19:net_change:d 20:future_change_percent:r 21:exchange_name:s
22:security_status:s 23:open_interest:d 24:mark:d 25:tick:d 26:tick_amount:d 27:product:s
28:future_price_format:s 29:future_trading_hours:s 30:future_is_tradable:b 31:future_multiplier:d
32:future_is_active:b 33:future_settlement_price:d 34:future_active_symbol:s 35:future_expiration_date:t
""")

# ---------------------------------------------------------------- charts, time and sales, the rest
# The CHART_EQUITY trap (section 7.9): TDA (and the Schwab guide's copied table) put the prices first; live
# Schwab data puts the sequence first.
_TDA_CHART_EQUITY = _fields(
    "1:open_price:d 2:high_price:d 3:low_price:d 4:close_price:d 5:volume:d 6:sequence:i 7:chart_time:t 8:chart_day:i")
_SCHWAB_CHART_EQUITY = _fields(
    "1:sequence:i 2:open_price:d 3:high_price:d 4:low_price:d 5:close_price:d 6:volume:d 7:chart_time:t 8:chart_day:i")
_CHART_FUTURES = _fields("1:chart_time:t 2:open_price:d 3:high_price:d 4:low_price:d 5:close_price:d 6:volume:d")
_TIMESALE = _fields("1:trade_time:t 2:last_price:d 3:last_size:d 4:last_sequence:i")
_NEWS = _fields("""
1:error_code:i 2:story_datetime:t 3:headline_id:s 4:status:s 5:headline:s 6:story_id:s 7:count_for_keyword:s
8:keyword_array:s 9:is_hot:b 10:story_source:s
""")
_ACCOUNT = _fields("1:account:s 2:message_type:s 3:message_data:s")
_SCREENER = _fields("1:timestamp:t 2:sort_field:s 3:frequency:i 4:items:x")


# ITEM concept -> the provider event kind its items arrive as (both screeners are one kind: the key tells them apart)
_TOPICS = {"news": "news", "account_activity": "account_activity", "screener_equity": "screener",
           "screener_option": "screener"}


def _variant(name: str, book_zone: str, services: Mapping[str, Tuple[str, str, Mapping[str, FieldSpec]]],
             takeover_close: "int | None" = None) -> Variant:
    """A :class:`Variant` from ``{concept: (wire service name, kind, fields)}``."""
    by_name = {wire: Service(wire, kind, fields, _TOPICS.get(concept, "") if kind == ITEM else "")
               for concept, (wire, kind, fields) in services.items()}
    return Variant(name, by_name, {concept: wire for concept, (wire, _, _) in services.items()}, book_zone,
                   takeover_close)


TDA = _variant("tda", "America/Chicago", takeover_close=1000, services={
    "level_one_equity": ("QUOTE", LEVEL_ONE, _TDA_QUOTE),
    "level_one_option": ("OPTION", LEVEL_ONE, _TDA_OPTION),
    "level_one_future": ("LEVELONE_FUTURES", LEVEL_ONE, _TDA_FUTURES),
    "level_one_future_option": ("LEVELONE_FUTURES_OPTIONS", LEVEL_ONE, _TDA_FUTURES),
    "level_one_forex": ("LEVELONE_FOREX", LEVEL_ONE, _FOREX),
    "book_nyse": ("LISTED_BOOK", BOOK, {}),
    "book_nasdaq": ("NASDAQ_BOOK", BOOK, {}),
    "book_options": ("OPTIONS_BOOK", BOOK, {}),
    "chart_equity": ("CHART_EQUITY", CHART, _TDA_CHART_EQUITY),
    "chart_future": ("CHART_FUTURES", CHART, _CHART_FUTURES),
    "timesale_equity": ("TIMESALE_EQUITY", TIMESALE, _TIMESALE),
    "timesale_future": ("TIMESALE_FUTURES", TIMESALE, _TIMESALE),
    "timesale_option": ("TIMESALE_OPTIONS", TIMESALE, _TIMESALE),
    "news": ("NEWS_HEADLINE", ITEM, _NEWS),
    "account_activity": ("ACCT_ACTIVITY", ITEM, _ACCOUNT),
})

SCHWAB = _variant("schwab", "America/New_York", {
    "level_one_equity": ("LEVELONE_EQUITIES", LEVEL_ONE, _SCHWAB_EQUITIES),
    "level_one_option": ("LEVELONE_OPTIONS", LEVEL_ONE, _SCHWAB_OPTIONS),
    "level_one_future": ("LEVELONE_FUTURES", LEVEL_ONE, _SCHWAB_FUTURES),
    "level_one_future_option": ("LEVELONE_FUTURES_OPTIONS", LEVEL_ONE, _SCHWAB_FUTURES_OPTIONS),
    "level_one_forex": ("LEVELONE_FOREX", LEVEL_ONE, _FOREX),
    "book_nyse": ("NYSE_BOOK", BOOK, {}),
    "book_nasdaq": ("NASDAQ_BOOK", BOOK, {}),
    "book_options": ("OPTIONS_BOOK", BOOK, {}),
    "chart_equity": ("CHART_EQUITY", CHART, _SCHWAB_CHART_EQUITY),
    "chart_future": ("CHART_FUTURES", CHART, _CHART_FUTURES),
    "screener_equity": ("SCREENER_EQUITY", ITEM, _SCREENER),
    "screener_option": ("SCREENER_OPTION", ITEM, _SCREENER),
    "account_activity": ("ACCT_ACTIVITY", ITEM, _ACCOUNT),
})

VARIANTS: Mapping[str, Variant] = {"tda": TDA, "schwab": SCHWAB}
