"""A small closed-loop HTTP load generator in Python, used by ``benchmarks/run.py`` only where
wrk is not installed: one thread and one keep-alive connection per simulated client.

It shares the CPU and the GIL with nothing but itself, yet it is much slower than wrk, so
its figures compare only with each other (ratios in one run), never with PERFORMANCE.md's.
"""

from __future__ import annotations

import http.client
import threading
import time
from collections.abc import Callable
from typing import Any

#: ``(method, path, body)`` of the n-th request of one client.
Request = tuple[str, str, bytes | None]


def percentile(sorted_values: list[float], fraction: float) -> float:
    if not sorted_values:
        return 0.0
    index = min(len(sorted_values) - 1, int(round(fraction * (len(sorted_values) - 1))))
    return sorted_values[index]


def run_load(
    host: str,
    port: int,
    next_request: Callable[[int, int], Request],
    *,
    connections: int,
    duration: float,
    headers: dict[str, str],
) -> dict[str, Any]:
    """Send requests for ``duration`` seconds from ``connections`` clients; ``next_request(client,
    n)`` names each one. Returns wrk's figures: requests, duration_us, p50_us, p99_us, max_us,
    errors_status (status >= 400) and errors_socket."""
    latencies: list[list[float]] = [[] for _ in range(connections)]
    errors = {"status": 0, "socket": 0}
    lock = threading.Lock()
    start = time.perf_counter()
    deadline = start + duration

    def client(index: int) -> None:
        conn = http.client.HTTPConnection(host, port, timeout=10)
        n = 0
        mine = latencies[index]
        while time.perf_counter() < deadline:
            method, path, body = next_request(index, n)
            n += 1
            sent = dict(headers)
            if body is not None:
                sent["Content-Type"] = "application/json"
            began = time.perf_counter()
            try:
                conn.request(method, path, body=body, headers=sent)
                response = conn.getresponse()
                response.read()
            except (OSError, http.client.HTTPException):
                with lock:
                    errors["socket"] += 1
                conn.close()
                conn = http.client.HTTPConnection(host, port, timeout=10)
                continue
            mine.append(time.perf_counter() - began)
            if response.status >= 400:
                with lock:
                    errors["status"] += 1
        conn.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    merged = sorted(value for mine in latencies for value in mine)
    return {
        "requests": len(merged),
        "duration_us": int(elapsed * 1e6),
        "p50_us": int(percentile(merged, 0.50) * 1e6),
        "p99_us": int(percentile(merged, 0.99) * 1e6),
        "max_us": int((merged[-1] if merged else 0.0) * 1e6),
        "errors_status": errors["status"],
        "errors_socket": errors["socket"],
    }
