"""Iterate over trades in a plain for-loop; the stream has its own bounded
queue and ends after a quiet period (or when you break out)."""

import os

import mdsdk

provider = os.environ.get("MDSDK_PROVIDER", "sim")
with mdsdk.connect(provider) as feed:
    feed.subscribe(["SPY", "QQQ"], kinds=("trade",))
    with feed.events(kinds=("trade",), timeout=5) as trades:
        for n, trade in enumerate(trades, 1):
            print(f"{trade.datetime:%H:%M:%S.%f}  {trade.symbol:<4} {trade.size:>6.0f} @ {trade.price:.2f}")
            if n == 20:
                break
