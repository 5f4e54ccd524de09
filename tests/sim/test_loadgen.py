"""The load generator signs each request like a device, ahead of time or on the fly."""

from __future__ import annotations

import base64
import itertools
import json
import subprocess
import sys
import time
from datetime import UTC, datetime

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from openem.ingest.signatures import verify_device_request
from openem.sim.loadgen import PATH_TELEMETRY, Plan, arrivals, prepare, status_and_length
from openem.sim.signer import generate_device_key_pair


def _request(raw: bytes) -> tuple[dict[str, str], bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    assert lines[0] == f"POST {PATH_TELEMETRY} HTTP/1.1"
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(": ")
        headers[name.lower()] = value
    assert int(headers["content-length"]) == len(body)
    return headers, body


def test_requests_signed_ahead_and_on_the_fly_verify_and_keep_each_devices_order() -> None:
    pairs = [generate_device_key_pair(device_id=f"{n}" * 8 + "-0000-4000-8000-" + "0" * 12)
             for n in (1, 2)]
    keys: dict[str, Ed25519PublicKey] = {pair.device_id: pair.public_key for pair in pairs}
    plan = Plan(
        base_url="http://127.0.0.1:9", mode="single", seconds=1.0, concurrency=1,
        devices=[
            {"id": pair.device_id,
             "private_key": base64.b64encode(pair.private_key_raw()).decode()}
            for pair in pairs
        ],
        batch_size=1, prepare_per_s=3.0,
    )
    (lane,) = prepare(plan)
    assert len(lane.ready) == 3
    requests = [_request(lane.next_request()) for _ in range(6)]  # 3 ahead, 3 on the fly
    seqs: dict[str, list[int]] = {}
    signatures = set()
    for headers, body in requests:
        device_id = verify_device_request(
            method="POST", path=PATH_TELEMETRY, headers=headers, body=body,
            resolve_key=keys.get, now=datetime.now(UTC),
        )
        signatures.add(headers["signature"])
        seqs.setdefault(device_id, []).extend(item["seq"] for item in json.loads(body)["items"])
    assert len(signatures) == 6
    assert seqs == {pairs[0].device_id: [1, 2, 3], pairs[1].device_id: [1, 2, 3]}


def test_an_offered_rate_arrives_at_random_times_not_on_every_connection_at_once() -> None:
    plan = Plan(base_url="http://127.0.0.1:9", mode="batch", seconds=10.0, concurrency=8,
                devices=[{"id": "device-1", "private_key": ""}], batch_size=60,
                rate_per_s=27.5)

    lanes = [arrivals(plan, lane, started=100.0) for lane in range(plan.concurrency)]

    assert sum(len(times) for times in lanes) == round(27.5 * 10.0)  # the rate, exactly
    assert all(times == sorted(times) and times[0] >= 100.0 and times[-1] <= 110.0
               for times in lanes)
    assert len({times[0] for times in lanes}) == plan.concurrency  # no lock-step
    gaps = [b - a for times in lanes for a, b in itertools.pairwise(times)]
    assert min(gaps) < 0.5 * plan.concurrency / 27.5 < max(gaps)  # not a fixed interval
    assert arrivals(plan, 3, started=100.0) == lanes[3]  # reproducible


def test_a_response_head_gives_its_status_and_body_length() -> None:
    head = (b"HTTP/1.1 401 Unauthorized\r\ndate: Mon, 07 Dec 2026 04:30:00 GMT\r\n"
            b"Content-Length: 73\r\ncontent-type: application/problem+json\r\n\r\n")
    assert status_and_length(head) == (401, 73)
    assert status_and_length(b"HTTP/1.1 204 No Content\r\nserver: uvicorn\r\n\r\n") == (204, 0)


def test_a_result_longer_than_a_pipe_holds_reaches_a_slow_reader_whole() -> None:
    # After uvloop has run, print() gave a reader that was not yet reading the first
    # 64 KiB of a longer result and nothing more.
    child = subprocess.Popen(
        [sys.executable, "-c",
         "import asyncio, sys\n"
         "from openem.sim.loadgen import _event_loop_runner, _write_all\n"
         "_event_loop_runner()(asyncio.sleep(0.01))\n"
         "_write_all(sys.stdout.fileno(), b'x' * 300_000)\n"],
        stdout=subprocess.PIPE,
    )
    time.sleep(1.0)  # the generators wait while the bench reads another's result first
    assert child.stdout is not None
    with child.stdout:
        received = child.stdout.read()
    assert child.wait() == 0
    assert received == b"x" * 300_000
