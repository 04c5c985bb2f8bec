"""Throughput and latency of ``depbot serve``'s webhook: the 202 path against the 401 path.

Usage: python benchmarks/serve.py [--requests N] [--clients N]

Starts a real ``depbot serve --dispatch`` (queue on disk, in a temporary folder; its worker
dispatching to a fake GitHub on loopback, as in production), then sends from ``--clients``
processes over keep-alive connections:

- 202: N signed ``dependabot_alert`` deliveries, each with its own delivery id, each committed
  to the SQLite queue (WAL, synchronous=FULL) before it is answered;
- 401: N deliveries of the same body with a wrong signature (a flood of forgeries).

Bodies and signatures are made before the clock starts. Printed: requests per second (N over
the wall time of the burst) and the p50/p99 latency of one request, side by side. The client
processes share the machine with the server: on a small machine they take part of its CPU.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this file's folder comes first on sys.path, where benchmarks/bisect.py would
# shadow the standard library's bisect: put the repository root there instead.
_ROOT = Path(__file__).resolve().parent.parent
if sys.path and Path(sys.path[0] or ".").resolve() == _ROOT / "benchmarks":
    sys.path[0] = str(_ROOT)
elif str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

import argparse  # noqa: E402
import http.client  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from concurrent.futures import ProcessPoolExecutor  # noqa: E402
from dataclasses import dataclass  # noqa: E402

from depbot.server.signature import sign  # noqa: E402
from tests.support.serve import SECRET, FakeGitHub, ServeProcess, fixture  # noqa: E402


@dataclass(frozen=True)
class Result:
    path: str
    requests: int
    seconds: float
    latencies: tuple[float, ...]
    statuses: tuple[int, ...]

    @property
    def rate(self) -> float:
        return self.requests / self.seconds

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] * 1000


def _send(port: int, requests: list[tuple[bytes, dict[str, str]]]) -> tuple[list[float], list[int]]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    latencies, statuses = [], []
    for body, headers in requests:
        started = time.perf_counter()
        conn.request("POST", "/webhook", body=body, headers=headers)
        response = conn.getresponse()
        response.read()
        latencies.append(time.perf_counter() - started)
        statuses.append(response.status)
        if response.getheader("connection", "").lower() == "close":
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.close()
    return latencies, statuses


def _requests(n: int, *, forged: bool, tag: str) -> list[tuple[bytes, dict[str, str]]]:
    body = json.dumps(fixture("dependabot_alert.created")).encode()
    good = sign(SECRET.encode(), body)
    bad = "sha256=" + "0" * 64
    return [
        (
            body,
            {
                "Content-Type": "application/json",
                "X-GitHub-Event": "dependabot_alert",
                "X-GitHub-Delivery": f"bench-{tag}-{i:06d}",
                "X-Hub-Signature-256": bad if forged else good,
            },
        )
        for i in range(n)
    ]


def burst(port: int, path: str, n: int, clients: int, tag: str) -> Result:
    work = _requests(n, forged=path == "401", tag=tag)
    shares = [work[i::clients] for i in range(clients)]
    with ProcessPoolExecutor(clients) as pool:
        list(pool.map(_send, [port] * clients, [[]] * clients))  # start the processes first
        started = time.perf_counter()
        done = list(pool.map(_send, [port] * clients, shares))
        seconds = time.perf_counter() - started
    latencies = tuple(x for lat, _ in done for x in lat)
    statuses = tuple(s for _, st in done for s in st)
    return Result(path, n, seconds, latencies, statuses)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=4)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, FakeGitHub() as github:
        state = Path(tmp) / "queue.sqlite3"
        with ServeProcess.start("--dispatch", "--state", str(state), env=github.env()) as server:
            burst(server.port, "202", 50, args.clients, "warm")  # warm up
            results = [
                burst(server.port, "202", args.requests, args.clients, "run"),
                burst(server.port, "401", args.requests, args.clients, "run"),
            ]
    for result in results:
        wrong = [s for s in result.statuses if s != int(result.path)]
        if wrong:
            print(f"{result.path}: {len(wrong)} answers were not {result.path}: {wrong[:5]}")
            return 1
    print(f"depbot serve: {args.requests} requests per path from {args.clients} client processes")
    print(f"{'':>10} {'202 (queued)':>14} {'401 (forged)':>14}")
    a, b = results
    print(f"{'req/s':>10} {a.rate:>14.0f} {b.rate:>14.0f}")
    print(f"{'p50 ms':>10} {a.percentile(50):>14.2f} {b.percentile(50):>14.2f}")
    print(f"{'p99 ms':>10} {a.percentile(99):>14.2f} {b.percentile(99):>14.2f}")
    means = [statistics.fmean(r.latencies) * 1000 for r in results]
    print(f"{'mean ms':>10} {means[0]:>14.2f} {means[1]:>14.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
