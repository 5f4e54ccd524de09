"""Load generator: signs every request like a real device and drives a server over HTTP.

Run as a separate process (``python -m openem.sim.loadgen``) with a JSON plan on
stdin; prints one JSON result on stdout. Latencies are per request, in seconds.
"""

from __future__ import annotations

import asyncio
import base64
import json
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from openem.sim.signer import DeviceSigner

PATH_TELEMETRY = "/device/v1/telemetry"


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


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
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

    async def post(self, path: str, body: bytes, headers: dict[str, str]) -> int:
        if self.reader is None or self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        lines = [
            f"POST {path} HTTP/1.1",
            f"Host: {self.host}:{self.port}",
            f"Content-Length: {len(body)}",
        ]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        await self.writer.drain()
        status_line = await self.reader.readline()
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            if name.strip().lower() == "content-length":
                length = int(value)
        await self.reader.readexactly(length)
        return int(status_line.split()[1])

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


async def _worker(
    plan: Plan,
    client: Connection,
    signers: list[DeviceSigner],
    tally: Tally,
    deadline: float,
    interval: float | None,
) -> None:
    seqs = dict.fromkeys(range(len(signers)), plan.seq_start)
    turn = 0
    next_send = time.perf_counter()
    while time.perf_counter() < deadline:
        if interval is not None:
            next_send += interval
            delay = next_send - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
        index = turn % len(signers)
        turn += 1
        signer = signers[index]
        if plan.mode == "noop":
            body, path = b"{}", "/bench/noop"
            headers = {"content-type": "application/json"}
        else:
            body, path = _batch(seqs[index], plan.batch_size, datetime.now(UTC)), PATH_TELEMETRY
            seqs[index] += plan.batch_size
            headers = signer.sign("POST", path, body) | {"content-type": "application/json"}
        # Open loop: latency counts from when the request was due, so a server that
        # falls behind is not flattered by the generator waiting for it.
        started = min(next_send, time.perf_counter()) if interval else time.perf_counter()
        try:
            status = await client.post(path, body, headers)
        except (OSError, asyncio.IncompleteReadError, ValueError):
            tally.failed += 1
            client.close()
            continue
        tally.latencies.append(time.perf_counter() - started)
        if status == 200:
            tally.ok += 1
            tally.items += plan.batch_size if plan.mode != "noop" else 0
        else:
            tally.failed += 1


async def run(plan: Plan) -> dict[str, Any]:
    signers = _signers(plan)
    per_worker = max(1, len(signers) // plan.concurrency)
    groups = [
        signers[i * per_worker : (i + 1) * per_worker] or signers[:1]
        for i in range(plan.concurrency)
    ]
    interval = plan.concurrency / plan.rate_per_s if plan.rate_per_s else None
    url = urlsplit(plan.base_url)
    connections = [Connection(url.hostname or "127.0.0.1", url.port or 80) for _ in groups]
    tally = Tally()
    started = time.perf_counter()
    deadline = started + plan.seconds
    await asyncio.gather(
        *(
            _worker(plan, connection, group, tally, deadline, interval)
            for connection, group in zip(connections, groups, strict=True)
        )
    )
    elapsed = time.perf_counter() - started
    for connection in connections:
        connection.close()
    return {
        "ok": tally.ok,
        "failed": tally.failed,
        "items": tally.items,
        "elapsed": elapsed,
        "latencies": tally.latencies,
    }


def main() -> None:
    plan = Plan(**json.loads(sys.stdin.read()))
    print(json.dumps(asyncio.run(run(plan))))


if __name__ == "__main__":
    main()
