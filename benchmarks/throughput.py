"""Throughput: the DXLink emulator (own process) blasts N Quote events, K per
FEED_DATA frame, over S symbols; clients measured in turns in the same run:

  (a) raw floor: websocket-client recv + json.loads + a tuple per event
  (a') the same with websocket-client's UTF-8 validation left on
  (b) mdsdk, feed.on_quote callbacks
  (c) mdsdk, feed.events() iteration
  (d) mdsdk, feed.events() with a conflating queue
  (ta) (tb) (tc): (a), (b) and (c) over TLS, against a second emulator process
       serving wss:// with a certificate generated for the run, which every
       client verifies (benchmarks/_tls.py)

Reports events/s, CPU seconds and each row's ratio to (a); also the pure
decode rate of the DXLink protocol object (no sockets).

    python -m benchmarks.throughput [--quick] [--n N] [--runs R]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import threading
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

import websocket

try:
    from orjson import loads as _LOADS
    FLOOR_PARSER = "orjson"
except ImportError:  # the fast extra is not installed
    from msgspec.json import decode as _LOADS
    FLOOR_PARSER = "msgspec"

import mdsdk
from mdsdk.policy import QueuePolicy
from mdsdk.providers.dxlink.protocol import DXLinkProtocol
from mdsdk.providers.tradovate.protocol import TradovateProtocol

try:
    from ._common import EmulatorProcess, table, write_results
except ImportError:  # run as a script
    import pathlib
    import sys
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
    from benchmarks._common import EmulatorProcess, table, write_results

from mdsdk.providers.dxlink.codec import REQUEST_FIELDS
from mdsdk.testing.universe import sample

try:  # TLS rows (issue 9)
    from ._tls import TLSEmulatorProcess, check_verification, tls_unavailable, trusting
except ImportError:  # run as a script: the block above put the project root on sys.path
    from benchmarks._tls import TLSEmulatorProcess, check_verification, tls_unavailable, trusting

# The floor asks for exactly the fields mdsdk asks for, so both parse the same frames.
QUOTE_FIELDS = REQUEST_FIELDS["Quote"]
_I = {n: i for i, n in enumerate(QUOTE_FIELDS)}


def raw_floor(emu: EmulatorProcess, n: int, k: int, symbols: List[str], validate: bool) -> Tuple[float, float]:
    """A bare websocket-client loop: handshake by hand, then recv + json.loads
    + one tuple per event. Returns wall and CPU seconds to receive n events,
    from the first one."""
    ws = _handshake(emu.url, symbols, validate=validate)
    stride = len(QUOTE_FIELDS)
    # settle: the subscription's snapshot shows it is live
    seen = 0
    while seen < len(symbols):
        msg = json.loads(ws.recv())
        if msg.get("type") == "FEED_DATA":
            seen += len(msg["data"][1]) // stride
    got = 0
    blaster = threading.Thread(target=emu.blast, args=(n, k, symbols))
    blaster.start()
    loads = json.loads
    bp, ap, bs, az = _I["bidPrice"], _I["askPrice"], _I["bidSize"], _I["askSize"]
    t0 = c0 = 0.0
    while got < n:
        msg = loads(ws.recv())
        if msg.get("type") != "FEED_DATA":
            continue
        if not got:
            t0, c0 = time.perf_counter(), time.process_time()  # from the first event, as for every client
        data = msg["data"]
        values = data[1]
        for o in range(0, len(values), stride):
            _ = (values[o + 1], values[o + bp], values[o + ap], values[o + bs], values[o + az])
            got += 1
    dt, cpu = time.perf_counter() - t0, time.process_time() - c0
    blaster.join()
    ws.close()
    return dt, cpu


def _handshake(url: str, symbols: List[str], validate: bool = False) -> "websocket.WebSocket":
    """A websocket-client socket through the DXLink handshake, subscribed to ``symbols``' quotes."""
    ws = websocket.WebSocket(skip_utf8_validation=not validate)
    ws.connect(url)
    send = lambda m: ws.send(json.dumps(m))  # noqa: E731
    send({"type": "SETUP", "channel": 0, "version": "0.1-bench", "keepaliveTimeout": 60,
          "acceptKeepaliveTimeout": 60})
    send({"type": "CHANNEL_REQUEST", "channel": 1, "service": "FEED", "parameters": {"contract": "AUTO"}})
    send({"type": "FEED_SETUP", "channel": 1, "acceptDataFormat": "COMPACT",
          "acceptEventFields": {"Quote": QUOTE_FIELDS}})
    send({"type": "FEED_SUBSCRIPTION", "channel": 1, "add": [{"type": "Quote", "symbol": s} for s in symbols]})
    return ws


def _frames(buf: bytearray) -> Tuple[List[bytes], int]:
    """Every complete unmasked server frame's payload in ``buf``, and the
    bytes they used (the floor's deframer: no fragments, no masks)."""
    out, pos, n = [], 0, len(buf)
    while n - pos >= 2:
        length = buf[pos + 1] & 0x7F
        head = 2
        if length == 126:
            if n - pos < 4:
                break
            length, head = int.from_bytes(buf[pos + 2:pos + 4], "big"), 4
        elif length == 127:
            if n - pos < 10:
                break
            length, head = int.from_bytes(buf[pos + 2:pos + 10], "big"), 10
        end = pos + head + length
        if end > n:
            break
        if buf[pos] & 0x0F == 0x1:
            out.append(bytes(buf[pos + head:end]))
        pos = end
    return out, pos


class FloorReader:
    """(f)'s socket side: 256 KiB reads into one reused buffer (``recv_into``:
    a fresh 256 KiB object per ``recv`` costs ten times a small read) and the
    minimal deframer; the throughput and latency floors share it."""

    def __init__(self, sock: Any) -> None:
        self.sock = sock
        self.buf = bytearray()
        self.scratch = memoryview(bytearray(1 << 18))

    def payloads(self) -> List[bytes]:
        """One read of the socket (blocking), then every complete frame's payload."""
        n = self.sock.recv_into(self.scratch)
        if not n:
            raise RuntimeError("the emulator closed the connection")
        self.buf += self.scratch[:n]
        payloads, used = _frames(self.buf)
        del self.buf[:used]
        return payloads


def physical_floor(emu: EmulatorProcess, n: int, k: int, symbols: List[str]) -> Tuple[float, float]:
    """(f) the pure-Python physical floor: websocket-client for the handshake
    only, then 256 KiB socket reads, a minimal deframer, orjson (msgspec when
    orjson is missing) and one tuple per event, all on one thread."""
    ws = _handshake(emu.url, symbols)
    reader = FloorReader(ws.sock)
    stride = len(QUOTE_FIELDS)
    bp, ap, bs, az = _I["bidPrice"], _I["askPrice"], _I["bidSize"], _I["askSize"]
    seen = got = 0
    t0 = c0 = 0.0
    blaster = None
    while got < n:
        for payload in reader.payloads():
            msg = _LOADS(payload)
            if msg.get("type") != "FEED_DATA":
                continue
            values = msg["data"][1]
            if blaster is None:  # settling: the subscription snapshots show it is live
                seen += len(values) // stride
                if seen >= len(symbols):
                    blaster = threading.Thread(target=emu.blast, args=(n, k, symbols))
                    blaster.start()
                continue
            if not got:
                t0, c0 = time.perf_counter(), time.process_time()
            for o in range(0, len(values), stride):
                _ = (values[o + 1], values[o + bp], values[o + ap], values[o + bs], values[o + az])
                got += 1
    dt, cpu = time.perf_counter() - t0, time.process_time() - c0
    assert blaster is not None
    blaster.join()
    ws.close()
    return dt, cpu


def mdsdk_client(emu: EmulatorProcess, n: int, k: int, symbols: List[str], mode: str) -> Tuple[float, float]:
    """mdsdk through callbacks, the iterator or a conflating iterator."""
    with mdsdk.connect("dxlink", url=emu.url, callback_queue=QueuePolicy(maxsize=10**7),
                       queue=QueuePolicy(maxsize=10**7)) as feed:
        feed.subscribe(symbols, kinds=("quote",))
        for s in symbols:
            feed.get_quote(s, timeout=10)
        frames_before = feed.stats()["frames_in"]
        count = [0]
        first = [0.0, 0.0]
        finished = threading.Event()
        if mode == "callbacks":
            def on_q(q: Any) -> None:
                if not count[0]:
                    first[:] = time.perf_counter(), time.process_time()
                count[0] += 1
                if count[0] >= n:
                    finished.set()
            feed.on_quote(on_q)
            blaster = threading.Thread(target=emu.blast, args=(n, k, symbols))
            blaster.start()
            finished.wait(300)
        else:
            policy = QueuePolicy(maxsize=1000, mode="conflate") if mode == "conflate" else QueuePolicy(maxsize=10**7)
            stream = feed.events(kinds=("quote",), policy=policy, timeout=30)
            blaster = threading.Thread(target=emu.blast, args=(n, k, symbols))
            blaster.start()
            target_frames = frames_before + n // k
            for _ in stream:
                if not count[0]:
                    first[:] = time.perf_counter(), time.process_time()
                count[0] += 1
                if mode != "conflate" and count[0] >= n:
                    break
                if mode == "conflate" and feed.stats()["frames_in"] >= target_frames:
                    break
            stream.close()
        dt, cpu = time.perf_counter() - first[0], time.process_time() - first[1]
        blaster.join()
        return dt, cpu


def decode_rate(k: int, n: int) -> float:
    """Events/s of DXLinkProtocol.receive on COMPACT Quote frames, no sockets."""
    p = DXLinkProtocol(None)
    p.connection_made(0.0)
    p.receive(json.dumps({"type": "FEED_CONFIG", "channel": 1, "dataFormat": "COMPACT",
                          "aggregationPeriod": 0, "eventFields": {"Quote": QUOTE_FIELDS}}), 0.0, 0)
    values: List[Any] = []
    row = {"eventType": "Quote", "bidTime": 1700000000000, "askTime": 1700000000000, "timeNanoPart": 0,
           "bidSize": 300.0, "askSize": 200.0}
    for i in range(k):
        row.update(eventSymbol=f"S{i % 50}", bidPrice=100.0 + i / 100, askPrice=100.02 + i / 100)
        values += [row[f] for f in QUOTE_FIELDS]
    frame = json.dumps({"type": "FEED_DATA", "channel": 1, "data": ["Quote", values]})
    frames = n // k
    t0 = time.perf_counter()
    for _ in range(frames):
        p.receive(frame, 0.0, 1)
    return frames * k / (time.perf_counter() - t0)


def decode_rate_tradovate(k: int, n: int) -> float:
    """Events/s of TradovateProtocol.receive on ``md`` quote frames, no sockets;
    every frame carries a timestamp of its own, as a live stream does."""
    p = TradovateProtocol(None)
    p.learn_symbols({f"S{i}": 1000 + i for i in range(50)})
    texts = []
    for f in range(64):
        stamp = f"2026-01-05T14:30:{f % 60:02d}.{f * 7 % 1000:03d}Z"
        quotes = [{"timestamp": stamp, "contractId": 1000 + i % 50,
                   "entries": {"Bid": {"price": 5000.25, "size": 3}, "Offer": {"price": 5000.5, "size": 4}}}
                  for i in range(k)]
        texts.append("a" + json.dumps([{"e": "md", "d": {"quotes": quotes}}]))
    frames = n // k
    t0 = time.perf_counter()
    for i in range(frames):
        p.receive(texts[i & 63], 0.0, 1)
    return frames * k / (time.perf_counter() - t0)


def measure(emu: EmulatorProcess, clients: Dict[str, Callable[[EmulatorProcess, int, int], Tuple[float, float]]],
            k: int, n_events: int, runs: int) -> List[Dict[str, Any]]:
    """Every client once per round, ``runs`` rounds at K events per frame.

    Rounds interleave the clients (floor, mdsdk, floor, mdsdk...) rather than
    running each client ``runs`` times in a row: this shared machine's speed
    drifts by a factor of up to two over a minute, and a floor measured a
    minute before its client says more about the neighbours than about the
    client. Each row's ratio to (a) and (f) is the median of the per-round
    ratios (the floor's run in the same round); the rate and CPU columns are
    medians over the rounds."""
    def events_for(name: str) -> int:  # (a') is slow: a quarter of the events tells as much
        return n_events if not name.startswith("a'") else max(k * 10, n_events // 4)

    rates: Dict[str, List[float]] = {name: [] for name in clients}
    cpus: Dict[str, List[float]] = {name: [] for name in clients}
    for _ in range(runs):
        for name, fn in clients.items():
            n = events_for(name)
            dt, cpu = fn(emu, n, k)
            rates[name].append(n / dt)
            cpus[name].append(cpu / n * 1e6)
    floors = {name.split()[0]: rates[name] for name in clients if name.split()[0] in ("a", "f")}
    rows: List[Dict[str, Any]] = []
    for name in clients:
        rate = statistics.median(rates[name])
        ratio = {f"ratio_{letter}": statistics.median(r / fr for r, fr in zip(rates[name], floor))
                 for letter, floor in floors.items()}
        row = {"bench": "throughput", "client": name, "k": k, "runs": runs,
               "n": events_for(name),
               "events_per_s": rate, "us_per_event": statistics.median(cpus[name]),
               "ratio_a": ratio.get("ratio_a"), "ratio_f": ratio.get("ratio_f"),
               "ratios_f": [round(r / fr, 3) for r, fr in zip(rates[name], floors["f"])] if "f" in floors else None}
        rows.append(row)
        print(f"k={k:<4} {name:<26} {rate:>12,.0f} ev/s  {row['us_per_event']:.2f} cpu-us/ev  "
              f"/a {row['ratio_a'] or 0:.2f}  /f {row['ratio_f'] or 0:.2f}"
              + (f"  (rounds /f: {' '.join(f'{x:.2f}' for x in row['ratios_f'])})" if row["ratios_f"] else ""),
              flush=True)
    return rows


# -- TLS rows (issue 9) ------------------------------------------------------------------------
# The same client functions against a second emulator process serving wss://; the clients verify
# its certificate through the default trust store (SSL_CERT_FILE, see benchmarks/_tls.py), the
# path mdsdk takes with verify_tls on, so (ta) differs from (a) only by TLS.

class TLSRows:
    """(ta) the raw floor, (tb) mdsdk callbacks and (tc) mdsdk events(), each
    over TLS against a wss:// emulator that starts on first use (after its
    certificate is shown to be verified) and stops when this context manager
    exits; no rows, and a printed reason, where no certificate can be made."""

    def __init__(self, symbols: List[str]) -> None:
        self.symbols = symbols
        self.emu: Optional[TLSEmulatorProcess] = None

    def clients(self) -> Dict[str, Callable[[EmulatorProcess, int, int], Tuple[float, float]]]:
        """The TLS rows for :func:`measure`, named and selected like the others."""
        reason = tls_unavailable()
        if reason:
            print(f"TLS rows skipped: {reason}", flush=True)
            return {}
        s = self.symbols
        return {
            "ta raw floor, TLS": lambda e, n, k: self._run(lambda t: raw_floor(t, n, k, s, validate=False)),
            "tb mdsdk callbacks, TLS": lambda e, n, k: self._run(lambda t: mdsdk_client(t, n, k, s, "callbacks")),
            "tc mdsdk events(), TLS": lambda e, n, k: self._run(lambda t: mdsdk_client(t, n, k, s, "iterator")),
        }

    def _run(self, client: Callable[[EmulatorProcess], Tuple[float, float]]) -> Tuple[float, float]:
        if self.emu is None:
            self.emu = TLSEmulatorProcess()
            how = check_verification(self.emu.url, self.emu.ca_file)
            print(f"TLS emulator at {self.emu.url}: {how}, self-signed certificate verified", flush=True)
        with trusting(self.emu.ca_file):
            return client(self.emu)

    def __enter__(self) -> "TLSRows":
        return self

    def __exit__(self, *exc: object) -> None:
        if self.emu is not None:
            self.emu.close()
            self.emu = None


def peak_rss(letter: str, k: int, n: int, symbols: int) -> Dict[str, Any]:
    """Peak RSS (MiB) of a fresh process that imports what the client needs,
    starts its emulator and runs client ``letter`` once: the figure is the
    client's own footprint, not the benchmark's after every other row."""
    out = subprocess.run([sys.executable, "-m", "benchmarks.throughput", "--rss-probe", letter, "--ks", str(k),
                          "--n", str(n), "--symbols", str(symbols)], capture_output=True, text=True, timeout=600,
                         check=True).stdout
    mb = float(out.rsplit("peak_rss_mb=", 1)[1].split()[0])
    return {"bench": "peak_rss", "client": letter, "k": k, "n": n, "peak_rss_mb": mb}


def _rss_probe(letter: str, k: int, n: int, symbols: List[str]) -> None:
    fns = {"f": lambda e: physical_floor(e, n, k, symbols), "b": lambda e: mdsdk_client(e, n, k, symbols, "callbacks"),
           "c": lambda e: mdsdk_client(e, n, k, symbols, "iterator")}
    with EmulatorProcess() as emu:
        fns[letter](emu)
    print(f"peak_rss_mb={_high_water_mb():.1f}")


def _high_water_mb() -> float:
    """This process's peak RSS: VmHWM belongs to this process image (ru_maxrss
    would carry over the parent's peak across fork and exec)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small N, one run: a smoke test")
    ap.add_argument("--n", type=int, default=200_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--ks", default="1,10,100")
    ap.add_argument("--symbols", type=int, default=50)
    ap.add_argument("--clients", default="", help="comma-separated client letters to run (default: all)")
    ap.add_argument("--rss-probe", default="", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.rss_probe:
        return _rss_probe(args.rss_probe, int(args.ks.split(",")[-1]), args.n, sample(args.symbols))
    if args.quick:
        args.n, args.runs = 5_000, 1
    ks = [int(x) for x in args.ks.split(",")]
    symbols = sample(args.symbols)  # real names: the emulator sends nothing for unknown ones
    clients: Dict[str, Callable[[EmulatorProcess, int, int], Tuple[float, float]]] = {
        "a raw floor": lambda e, n, k: raw_floor(e, n, k, symbols, validate=False),
        "f physical floor": lambda e, n, k: physical_floor(e, n, k, symbols),
        "a' floor, utf-8 check on": lambda e, n, k: raw_floor(e, n, k, symbols, validate=True),
        "b mdsdk callbacks": lambda e, n, k: mdsdk_client(e, n, k, symbols, "callbacks"),
        "c mdsdk events()": lambda e, n, k: mdsdk_client(e, n, k, symbols, "iterator"),
        "d mdsdk conflate": lambda e, n, k: mdsdk_client(e, n, k, symbols, "conflate"),
    }
    tls = TLSRows(symbols)  # TLS rows (issue 9)
    clients.update(tls.clients())
    if args.clients:
        wanted = set(args.clients.split(","))
        clients = {name: fn for name, fn in clients.items() if name.split()[0] in wanted}
    rows: List[Dict[str, Any]] = []
    with EmulatorProcess() as emu, tls:
        for k in ks:
            rows += measure(emu, clients, k, args.n, args.runs)
    n_dec = 20_000 if args.quick else 400_000
    decode = [{"bench": "decode", "client": "DXLinkProtocol.receive", "k": k,
               "events_per_s": decode_rate(k, n_dec)} for k in ks]
    decode += [{"bench": "decode", "client": "TradovateProtocol.receive", "k": k,
                "events_per_s": decode_rate_tradovate(k, n_dec // 4)} for k in ks]
    print()
    print(table(rows, ["client", "k", "n", "events_per_s", "us_per_event", "ratio_a", "ratio_f"]))
    rss = [peak_rss(letter, ks[-1], args.n, args.symbols) for letter in ("f", "b", "c")]
    print()
    print(table(decode, ["client", "k", "events_per_s"]))
    print()
    print(table(rss, ["client", "k", "n", "peak_rss_mb"]))
    print(f"\nresults appended to {write_results('throughput', rows + decode + rss)}")


if __name__ == "__main__":
    main()
