"""Benchmark: the HTTP layer alone, our CPU a request, 1 and 16 threads.

Against ``session-importer sandbox`` in a process of its own on 127.0.0.1 (``[]`` as
JSON), each thread sending its requests one after another, in this process:

* ``httpx.Client`` (what a script would use);
* httpx's transport (httpcore: one pool behind one lock), which runs used before issue 15;
* ``importer.sending.transport.ThreadConnections`` (each thread's own keep-alive connection), which
  runs use now.

The CPU is this process's (``time.process_time``) over the requests. Figures only: how much
the HTTP layer saves depends on how fast the server answers (the more threads wait on one
another, the more httpcore's lock costs); the target a run must meet is throughput.py's.

Usage: python benchmarks/transport.py [--quick]
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import httpx
from harness import parser, sandbox

from importer.sending.transport import ThreadConnections


def cpu_per_request(send: Callable[[], None], threads: int, total: int) -> float:
    """Our CPU ms a request, ``total`` requests over ``threads`` threads."""
    each = total // threads
    send()  # connect, warm up

    def loop() -> None:
        for _ in range(each):
            send()

    started = time.process_time()
    workers = [threading.Thread(target=loop) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return 1000 * (time.process_time() - started) / (each * threads)


def through(transport: httpx.BaseTransport, url: str) -> Callable[[], None]:
    """One request straight to ``transport``, as the sender makes it."""
    timeout = httpx.Timeout(10).as_dict()

    def send() -> None:
        answer = transport.handle_request(
            httpx.Request("GET", url, extensions={"timeout": timeout})
        )
        answer.read()
        answer.close()

    return send


def main() -> None:
    args = parser(__doc__).parse_args()
    total = 1600 if args.quick else 6400
    with sandbox() as box:
        url = box.root + "/_sandbox/requests?vendor=coursepath"  # [], nothing sent there
        figures: dict[tuple[str, int], float] = {}
        for threads in (1, 16):
            with httpx.Client() as client:
                figures["httpx.Client", threads] = cpu_per_request(
                    lambda: client.get(url).raise_for_status(), threads, total
                )
            pool = httpx.HTTPTransport()
            figures["httpx transport", threads] = cpu_per_request(
                through(pool, url), threads, total
            )
            pool.close()
            ours = ThreadConnections()
            figures["ThreadConnections", threads] = cpu_per_request(
                through(ours, url), threads, total
            )
            ours.close()
        for (name, threads), ms in figures.items():
            print(f"{name:18s} {threads:2d} threads: {ms:.3f} ms of our CPU a request")


if __name__ == "__main__":
    main()
