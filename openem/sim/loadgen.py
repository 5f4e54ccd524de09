"""Load generator: signs every request like a real device and drives a server over HTTP.

Run as a separate process (``python -m openem.sim.loadgen``): it reads a JSON plan as
one line on stdin, signs the requests the plan expects ahead of time (each uniquely,
with its own ``created`` and digest: a device signs on its own CPU, not on the
server's), prints ``ready``, waits for a ``go`` line, runs, and prints one JSON
result. Requests beyond those prepared are signed on the fly. Latencies are per
request, in seconds.
"""

from __future__ import annotations

import asyncio
import base64
import json
import math
import os
import random
import sys
import time
from collections import deque
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import islice
from typing import Any, TypeVar
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from openem.sim.signer import DeviceSigner

PATH_TELEMETRY = "/device/v1/telemetry"
T = TypeVar("T")


@dataclass
class Plan:
    base_url: str
    mode: str
    seconds: float
    concurrency: int
    devices: list[dict[str, str]]
    batch_size: int = 1
    rate_per_s: float | None = None
    seq_start: int = 1
    # Requests per second (all connections) to sign before the clock starts.
    prepare_per_s: float = 0.0


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    # Open loop: how long after it was due each request went out (the generator's own
    # delay, or its connection still busy with the previous request; both count as latency).
    lateness: list[float] = field(default_factory=list)
    ok: int = 0
    failed: int = 0
    items: int = 0


def _signers(plan: Plan) -> list[DeviceSigner]:
    return [
        DeviceSigner(
            d["id"], Ed25519PrivateKey.from_private_bytes(base64.b64decode(d["private_key"]))
        )
        for d in plan.devices
    ]


def _batch(seq: int, size: int, now: datetime) -> bytes:
    """``size`` fixes a second apart, ending now, at walking pace (about 0.1 m per fix):
    fixes a real tag would take, none of them flagged by the quality filter."""
    items = [
        {
            "type": "position",
            "seq": seq + i,
            "ts": (now - timedelta(seconds=size - 1 - i)).isoformat(),
            "lat": 51.5 + ((seq + i) % 100_000) * 1e-6,
            "lon": -0.12,
            "accuracy_m": 8.0,
            "source": "gnss",
        }
        for i in range(size)
    ]
    return json.dumps({"items": items}, separators=(",", ":")).encode()


class Connection:
    """One keep-alive HTTP/1.1 connection on raw asyncio streams: a load generator must not
    be slower than the server it measures (httpx's async pool is, under concurrency)."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def send(self, request: bytes) -> int:
        if self.reader is None or self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        self.writer.write(request)
        await self.writer.drain()
        # The whole head in one read: a read per header line costs the generator's CPU,
        # which the server it measures shares.
        status, length = status_and_length(await self.reader.readuntil(b"\r\n\r\n"))
        await self.reader.readexactly(length)
        return status

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


def status_and_length(head: bytes) -> tuple[int, int]:
    """A response head's status code and ``Content-Length`` (0 when it has none)."""
    status_line, *lines = head.split(b"\r\n")
    length = 0
    for line in lines:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return int(status_line.split()[1]), length


def _requests(plan: Plan, signers: list[DeviceSigner], host: str) -> Iterator[bytes]:
    """The connection's requests, as bytes on the wire, each signed like a device's."""
    seqs = dict.fromkeys(range(len(signers)), plan.seq_start)
    for turn in range(sys.maxsize):
        index = turn % len(signers)
        headers = {"content-type": "application/json"}
        if plan.mode == "noop":
            body, path = b"{}", "/bench/noop"
        else:
            body, path = _batch(seqs[index], plan.batch_size, datetime.now(UTC)), PATH_TELEMETRY
            seqs[index] += plan.batch_size
            headers |= signers[index].sign("POST", path, body)
        lines = [f"POST {path} HTTP/1.1", f"Host: {host}", f"Content-Length: {len(body)}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        yield ("\r\n".join(lines) + "\r\n\r\n").encode() + body


@dataclass
class Lane:
    """One connection, the requests signed for it ahead of time, and where more come from."""

    connection: Connection
    source: Iterator[bytes]
    ready: deque[bytes]

    def next_request(self) -> bytes:
        return self.ready.popleft() if self.ready else next(self.source)


async def _closed_loop(lane: Lane, tally: Tally, plan: Plan, deadline: float) -> None:
    while time.perf_counter() < deadline:
        await _send(lane, tally, plan, time.perf_counter())


async def _open_loop(lane: Lane, tally: Tally, plan: Plan, schedule: list[float]) -> None:
    """Send at the ``schedule``'s times; latency counts from when a request was due, so a
    server that falls behind is not flattered by the generator waiting for it."""
    for due in schedule:
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        now = time.perf_counter()
        tally.lateness.append(max(0.0, now - due))
        await _send(lane, tally, plan, min(due, now))


async def _send(lane: Lane, tally: Tally, plan: Plan, started: float) -> None:
    request = lane.next_request()
    try:
        status = await lane.connection.send(request)
    except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError,
            IndexError):
        tally.failed += 1
        lane.connection.close()
        return
    tally.latencies.append(time.perf_counter() - started)
    if status == 200:
        tally.ok += 1
        tally.items += plan.batch_size if plan.mode != "noop" else 0
    else:
        tally.failed += 1


def arrivals(plan: Plan, lane: int, started: float) -> list[float]:
    """One connection's share of the offered rate, at random times over the run: devices
    upload independently, not all connections at once (a Poisson process given its count,
    so the offered rate is exact)."""
    assert plan.rate_per_s
    first_device = plan.devices[0]["id"] if plan.devices else ""
    rng = random.Random(f"{first_device}/{plan.seq_start}/{lane}")
    total = round(plan.rate_per_s * plan.seconds)
    count = total // plan.concurrency + (lane < total % plan.concurrency)
    return sorted(started + rng.uniform(0.0, plan.seconds) for _ in range(count))


def prepare(plan: Plan) -> list[Lane]:
    signers = _signers(plan)
    per_worker = max(1, len(signers) // plan.concurrency)
    groups = [
        signers[i * per_worker : (i + 1) * per_worker] or signers[:1]
        for i in range(plan.concurrency)
    ]
    url = urlsplit(plan.base_url)
    host, port = url.hostname or "127.0.0.1", url.port or 80
    ahead = math.ceil(plan.prepare_per_s * plan.seconds / plan.concurrency)
    lanes = []
    for group in groups:
        source = _requests(plan, group, f"{host}:{port}")
        lanes.append(Lane(Connection(host, port), source, deque(islice(source, ahead))))
    return lanes


async def run(plan: Plan, lanes: list[Lane]) -> dict[str, Any]:
    tally = Tally()
    started, cpu_started = time.perf_counter(), time.process_time()
    await asyncio.gather(
        *(
            _open_loop(lane, tally, plan, arrivals(plan, index, started))
            if plan.rate_per_s
            else _closed_loop(lane, tally, plan, started + plan.seconds)
            for index, lane in enumerate(lanes)
        )
    )
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    for lane in lanes:
        lane.connection.close()
    return {
        "ok": tally.ok,
        "failed": tally.failed,
        "items": tally.items,
        "elapsed": elapsed,
        "cpu_s": cpu,
        "latencies": tally.latencies,
        "lateness": tally.lateness,
    }


def _event_loop_runner() -> Callable[[Coroutine[Any, Any, T]], T]:
    """uvloop's runner where it is installed (with uvicorn's standard extras, as the
    server runs on it): the generator shares the machine's CPU with the server it
    measures, and spends about half as much of it per request on uvloop."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run
    return uvloop.run


def main() -> None:
    plan = Plan(**json.loads(sys.stdin.readline()))
    lanes = prepare(plan)
    print("ready", flush=True)
    if sys.stdin.readline().strip() != "go":
        return
    result = _event_loop_runner()(run(plan, lanes))
    _write_all(sys.stdout.fileno(), json.dumps(result).encode() + b"\n")


def _write_all(fd: int, data: bytes) -> None:
    """``data`` to ``fd`` whole. After uvloop has run, a write to a full pipe can return
    having written part (seen: the first 64 KiB), and ``print`` then drops the rest."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


if __name__ == "__main__":
    main()
