"""Record a short live session to JSONL, then replay it offline through the
same decoder: handy for tests and for reproducing a bug report."""

import os
import tempfile
import time

import mdsdk

provider = os.environ.get("MDSDK_PROVIDER", "sim")
path = os.path.join(tempfile.mkdtemp(), "session.jsonl")

with mdsdk.connect(provider, record=path) as feed:
    feed.subscribe(["SPY", "AAPL"], kinds=("quote",))
    feed.get_quote("AAPL")
    time.sleep(1.0)

replayed = [ev for ev in mdsdk.replay(path, provider="sim" if provider == "sim" else "dxlink")
            if isinstance(ev, mdsdk.Quote)]
print(f"recorded to {path}; replayed {len(replayed)} quotes; last: {replayed[-1]}")
