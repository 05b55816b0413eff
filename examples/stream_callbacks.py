"""Register callbacks for quotes, trades and connection news, stream for a
few seconds, then show the feed's figures. Callbacks run on mdsdk's
dispatcher thread, never on the socket thread."""

import os
import time

import mdsdk

provider = os.environ.get("MDSDK_PROVIDER", "sim")
seconds = float(os.environ.get("MDSDK_EXAMPLE_SECONDS", "3"))
counts = {"quote": 0, "trade": 0}


def on_quote(q: mdsdk.Quote) -> None:
    counts["quote"] += 1
    if counts["quote"] % 20 == 1:
        print(f"{q.symbol:<6} {q.bid:>9.2f} / {q.ask:<9.2f}")


def on_trade(t: mdsdk.Trade) -> None:
    counts["trade"] += 1


with mdsdk.connect(provider) as feed:
    feed.on_status(lambda s: print(f"[{s.kind}] {s.detail}"))
    feed.on_quote(on_quote)
    feed.on_trade(on_trade, symbols=["AAPL"])
    feed.subscribe(["SPY", "AAPL"], kinds=("quote", "trade"))
    time.sleep(seconds)
    stats = feed.stats()
print(f"{counts['quote']} quotes, {counts['trade']} AAPL trades, {stats['dropped']} dropped")
