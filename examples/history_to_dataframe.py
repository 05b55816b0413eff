"""Fetch five-minute bars for the last two days into a pandas DataFrame and
compute a simple daily summary from them."""

import os

import mdsdk

provider = os.environ.get("MDSDK_PROVIDER", "sim")
with mdsdk.connect(provider) as feed:
    bars = feed.history("SPY", interval="5m", start="-2d")

print(bars.tail())
daily = bars.resample("1D").agg({"open": "first", "high": "max", "low": "min", "close": "last",
                                 "volume": "sum"}).dropna()
print(daily)
