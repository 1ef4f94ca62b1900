"""Benchmark: requests per second the sandbox serves, no faults and no limits.

The sandbox runs in its own process (``session-importer sandbox --port 0 --json``)
so that client and server do not share an interpreter. Two clients, both with
keep-alive and ``--concurrency`` requests in flight:

* a raw HTTP/1.1 client on asyncio streams, light enough to measure the server;
* httpx, the importer's own client, whose overhead is then part of the figure.

Target: the server serves at least 1,500 requests/s on the 2-core project machine.

Usage: python benchmarks/sandbox.py [--requests N] [--concurrency C]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time

import httpx


async def run(base: str, total: int, concurrency: int, path: str, params: dict[str, str]) -> float:
    """Send ``total`` GETs with ``concurrency`` in flight; return requests per second."""
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as client:
        queue: asyncio.Queue[int] = asyncio.Queue()
        for index in range(total):
            queue.put_nowait(index)
        failures = 0

        async def worker() -> None:
            nonlocal failures
            while not queue.empty():
                queue.get_nowait()
                answer = await client.get(path, params=params)
                failures += answer.status_code != 200

        await asyncio.gather(*(worker() for _ in range(concurrency)))  # warm-up connections
        for index in range(total):
            queue.put_nowait(index)
        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
        if failures:
            raise SystemExit(f"{failures} requests failed")
        return total / elapsed


async def run_raw(host: str, port: int, target: str, total: int, concurrency: int) -> float:
    """The same load with a minimal keep-alive client (one connection per worker)."""
    request = f"GET {target} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()
    remaining = total

    async def worker() -> int:
        nonlocal remaining
        reader, writer = await asyncio.open_connection(host, port)
        done = 0
        while remaining > 0:
            remaining -= 1
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            if not head.startswith(b"HTTP/1.1 200"):
                raise SystemExit(f"unexpected answer: {head[:40]!r}")
            length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
            await reader.readexactly(length)
            done += 1
        writer.close()
        return done

    started = time.perf_counter()
    counts = await asyncio.gather(*(worker() for _ in range(concurrency)))
    return sum(counts) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    server = subprocess.Popen(
        [sys.executable, "-m", "importer", "sandbox", "--port", "0", "--json"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        info = json.loads(server.stdout.readline())
        v1 = info["360learning-v1"]
        base = v1["base_url"]
        params = {
            "company": v1["env"]["IMPORTER_360L_COMPANY"],
            "apiKey": v1["env"]["IMPORTER_360L_API_KEY"],
        }
        path = "/api/v1/programs/sessions/5d0a5f2b8c1e4a0012345678/"
        url = httpx.URL(base)
        target = f"{url.path}{path}?{httpx.QueryParams(params)}"
        for concurrency in sorted({1, args.concurrency}):
            rate = asyncio.run(
                run_raw(url.host, url.port or 80, target, args.requests, concurrency)
            )
            print(
                f"sandbox, raw client: {rate:,.0f} requests/s (360Learning v1 program session "
                f"GET, {args.requests} requests, concurrency {concurrency}, keep-alive)"
            )
            rate = asyncio.run(run(base, args.requests, concurrency, path, params))
            print(f"sandbox, httpx client: {rate:,.0f} requests/s (same load, client overhead in)")
    finally:
        server.terminate()
        server.wait(10)


if __name__ == "__main__":
    main()
