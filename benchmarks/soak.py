"""Soak: a mixed load against a live ``mockgraph serve`` for N minutes, reporting errors and the
server's memory (RSS) over time, and whether memory levels off. Not part of CI.

    python benchmarks/soak.py [--minutes 10] [--interval 30] [--clients 4] [-- SERVE ARGS...]

Each client works on its own pool of key set ids (create, read, list a page, update, add keys,
get the active key, delete, and a few requests that must be refused), so the number of stored
key sets stays bounded: a memory curve that keeps rising then points at something unbounded
(the request journal, a cache), not at the data. Arguments after ``--`` go to
``mockgraph serve`` (e.g. ``-- --quiet`` or ``-- --state-file /tmp/soak.json``).

An error is an answer other than the one expected, any 5xx, or a failed connection. The verdict
compares the RSS of the last third of the run with that of the middle third.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import requests

BASE = "/beta/trustFramework/keySets"
TOKEN = "Bearer soak"
URL = re.compile(r"http://127\.0\.0\.1:(\d+)/beta")
#: Ids per client: the store holds at most clients x POOL key sets.
POOL = 200


def rss_mb(pid: int) -> float | None:
    """Resident memory of ``pid`` in MB: /proc on Linux, psutil elsewhere when installed."""
    status = Path(f"/proc/{pid}/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    try:
        import psutil  # type: ignore[import-untyped]  # optional: only where /proc is missing
    except ImportError:
        return None
    return float(psutil.Process(pid).memory_info().rss) / 1e6


def start_server(extra: list[str], log: Path) -> tuple[subprocess.Popen[bytes], str]:
    root = Path(__file__).resolve().parent.parent
    env = dict(os.environ, PYTHONPATH=str(root) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    cmd = [sys.executable, "-m", "mockgraph", "serve", "--port", "0", *extra]
    with log.open("wb") as out:
        process = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=out, env=env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        found = URL.search(log.read_text(errors="replace"))
        if found:
            root_url = f"http://127.0.0.1:{found.group(1)}"
            try:
                if requests.get(root_url + "/_mockgraph/health", timeout=5).ok:
                    return process, root_url
            except requests.ConnectionError:
                pass
        if process.poll() is not None:
            break
        time.sleep(0.05)
    process.kill()
    raise SystemExit("mockgraph serve did not start:\n" + log.read_text())


@dataclass
class Tally:
    """Counts shared by the clients (a lock: several threads add to them)."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    done: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)

    def add(self, what: str, ok: bool, detail: str = "") -> None:
        with self.lock:
            self.done[what] += 1
            if not ok:
                self.errors[what] += 1
                if len(self.examples) < 10:
                    self.examples.append(f"{what}: {detail}"[:300])


def client(root: str, number: int, stop: threading.Event, tally: Tally) -> None:
    """One client's loop: a weighted random mix of operations on its own ids."""
    rng = random.Random(number)
    present: set[str] = set()
    url = root + BASE
    with requests.Session() as http:
        http.headers["Authorization"] = TOKEN

        def call(what: str, method: str, target: str, expect: set[int], **kw: object) -> int:
            try:
                answer = http.request(method, target, timeout=30, **kw)  # type: ignore[arg-type]
            except requests.RequestException as exc:
                tally.add(what, False, f"{type(exc).__name__}: {exc}")
                return 0
            ok = answer.status_code in expect and answer.status_code < 500
            tally.add(what, ok, f"{answer.status_code} {answer.text[:200]}")
            return answer.status_code

        while not stop.is_set():
            keyset_id = f"B2C_1A_soak{number}_{rng.randrange(POOL)}"
            item = f"{url}/{keyset_id}"
            roll = rng.random()
            if keyset_id not in present:
                if call("create", "POST", url, {201}, json={"id": keyset_id}) == 201:
                    present.add(keyset_id)
            elif roll < 0.30:
                call("get", "GET", item, {200})
            elif roll < 0.45:
                call("list", "GET", url, {200}, params={"$top": "20"})
            elif roll < 0.55:
                call("uploadSecret", "POST", item + "/uploadSecret", {200},
                     json={"use": "sig", "k": "c29hay1zZWNyZXQ"})  # fmt: skip
            elif roll < 0.62:
                call("generateKey oct", "POST", item + "/generateKey", {200},
                     json={"use": "enc", "kty": "oct"})  # fmt: skip
            elif roll < 0.63:
                call("generateKey RSA", "POST", item + "/generateKey", {200},
                     json={"use": "sig", "kty": "RSA"})  # fmt: skip
            elif roll < 0.70:
                call("getActiveKey", "GET", item + "/getActiveKey()", {200, 404})
            elif roll < 0.78:
                call("update", "PATCH", item, {200}, json={"keys": []})
            elif roll < 0.88:
                if call("delete", "DELETE", item, {204}) == 204:
                    present.discard(keyset_id)
            elif roll < 0.94:
                call("refused: bad body", "POST", url, {400}, json={"id": keyset_id, "x": 1})
            else:
                call("refused: missing", "GET", f"{url}/B2C_1A_nothing_{rng.random()}", {404})


def verdict(samples: list[tuple[float, float | None]]) -> str:
    values = [rss for _, rss in samples if rss is not None]
    if len(values) < 6:
        return "too few samples to tell (run longer or use a shorter --interval)"
    third = len(values) // 3
    middle = max(values[third : 2 * third])
    last = max(values[2 * third :])
    growth = last - middle
    if growth <= max(2.0, 0.03 * middle):
        return f"levels off (max RSS last third {last:.1f} MB vs middle third {middle:.1f} MB)"
    return f"STILL GROWING: +{growth:.1f} MB from the middle third to the last third"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--interval", type=float, default=30.0, help="seconds between samples")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("serve_args", nargs="*", help="after --: options of mockgraph serve")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="mockgraph-soak-") as tmp:
        process, root = start_server(args.serve_args, Path(tmp) / "serve.log")
        print(f"soak: {args.minutes:g} min, {args.clients} clients, against {root} "
              f"(mockgraph serve {' '.join(args.serve_args)})", flush=True)  # fmt: skip
        tally = Tally()
        stop = threading.Event()
        clients = [
            threading.Thread(target=client, args=(root, n, stop, tally), daemon=True)
            for n in range(args.clients)
        ]
        started = time.monotonic()
        samples: list[tuple[float, float | None]] = [(0.0, rss_mb(process.pid))]
        for c in clients:
            c.start()
        print(f"{'t (s)':>7} {'requests':>9} {'req/s':>7} {'errors':>7} {'RSS MB':>8} "
              f"{'key sets':>9}", flush=True)  # fmt: skip
        last_count, last_time = 0, started
        end = started + args.minutes * 60
        try:
            while time.monotonic() < end:
                time.sleep(min(args.interval, max(0.0, end - time.monotonic())))
                now = time.monotonic()
                rss = rss_mb(process.pid)
                samples.append((now - started, rss))
                with tally.lock:
                    count, errors = sum(tally.done.values()), sum(tally.errors.values())
                try:
                    health = requests.get(root + "/_mockgraph/health", timeout=30).json()
                    stored = str(health.get("keySets", "?"))
                except (requests.RequestException, ValueError):
                    stored = "?"
                rate = (count - last_count) / max(now - last_time, 1e-9)
                shown = f"{rss:8.1f}" if rss is not None else f"{'n/a':>8}"
                print(f"{now - started:7.0f} {count:9d} {rate:7.0f} {errors:7d} {shown} "
                      f"{stored:>9}", flush=True)  # fmt: skip
                last_count, last_time = count, now
                if process.poll() is not None:
                    print("the server died", flush=True)
                    break
        finally:
            stop.set()
            for c in clients:
                c.join(30)
            process.terminate()
            process.wait(30)

        total = sum(tally.done.values())
        print(f"\n{total} requests, {sum(tally.errors.values())} errors")
        for what in sorted(tally.done):
            print(f"  {what:<20} {tally.done[what]:8d}   errors {tally.errors[what]}")
        for example in tally.examples:
            print(f"  e.g. {example}")
        print("memory:", verdict(samples))


if __name__ == "__main__":
    main()
