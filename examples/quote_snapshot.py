"""Print the latest quotes for a few symbols as one table.

Runs as-is against the built-in simulated market. For a real account set
MDSDK_PROVIDER=tastytrade and MDSDK_TASTYTRADE_USERNAME / _PASSWORD.
"""

import os

import mdsdk

provider = os.environ.get("MDSDK_PROVIDER", "sim")
with mdsdk.connect(provider) as feed:
    for symbol in ("SPY", "AAPL", "MSFT"):
        feed.get_quote(symbol, timeout=10)
    print(feed.quotes()[["bid", "ask", "bid_size", "ask_size", "spread", "age"]])
