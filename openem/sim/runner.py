"""`openem simulate`: pair devices through the staff and device APIs, then live their days.

Only HTTP to the server: the simulator is a client like any real device fleet.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import random
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import httpx

from openem.logs import get_logger
from openem.sim.agent import Agent
from openem.sim.faces import BurstMaker
from openem.sim.signer import DeviceSigner, generate_device_key_pair
from openem.sim.world import face_checkin_of, index_of, life_of

log = get_logger(__name__)


@dataclass
class Fleet:
    agents: list[Agent]
    signers: dict[str, DeviceSigner]
    faces: BurstMaker | None = None


async def _all_devices(client: httpx.AsyncClient, headers: dict[str, str]) -> list[dict[str, Any]]:
    devices: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        params = {"limit": 500} | ({"cursor": cursor} if cursor else {})
        page = (await client.get("/api/v1/devices", params=params, headers=headers)).json()
        devices.extend(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            return devices


async def pair_fleet(
    client: httpx.AsyncClient, *, token: str, count: int, serial_prefix: str, seed: int = 1
) -> Fleet:
    headers = {"Authorization": f"Bearer {token}"}
    devices = [
        d
        for d in await _all_devices(client, headers)
        if d["serial"].startswith(serial_prefix) and d["state"] != "retired"
    ]
    devices.sort(key=lambda d: d["serial"])
    agents, signers = [], {}
    now = datetime.now(UTC)
    for index, device in enumerate(devices[:count]):
        code = (
            await client.post(f"/api/v1/devices/{device['id']}/pairing-code", headers=headers)
        ).json()["code"]
        keys = generate_device_key_pair(device_id=device["id"])
        paired = await client.post(
            "/device/v1/pair",
            json={
                "serial": device["serial"],
                "code": code,
                "public_key": base64.b64encode(keys.public_key_raw()).decode(),
            },
        )
        paired.raise_for_status()
        signers[device["id"]] = DeviceSigner(device["id"], keys.private_key)
        agents.append(
            Agent(
                serial=device["serial"],
                device_id=device["id"],
                kind=device["kind"],
                life=life_of(device["serial"], index_of(device["serial"], index)),
                started=now,
                rng=random.Random(seed * 1_000 + index),
            )
        )
    return Fleet(agents, signers)


async def _signed_post(
    client: httpx.AsyncClient, signer: DeviceSigner, path: str, payload: dict[str, Any]
) -> httpx.Response:
    body = json.dumps(payload, separators=(",", ":")).encode()
    headers = signer.sign("POST", path, body) | {"content-type": "application/json"}
    return await client.post(path, content=body, headers=headers)


async def answer_prompt(
    client: httpx.AsyncClient,
    agent: Agent,
    signer: DeviceSigner,
    prompt: dict[str, Any],
    faces: BurstMaker,
) -> str | None:
    """The wearer looks at the watch and follows the challenge: a burst of the face their
    demo role shows (their own, or another person's), sent signed; retried while the prompt
    stays open. Returns the prompt's status, or None if the watch could not answer."""
    role = face_checkin_of(agent.serial)
    if role is None:
        return None
    shown = role.shown_face(len(faces.faces))
    path = f"/device/v1/checkins/{prompt['prompt_id']}"
    status: str | None = None
    for attempt in range(int(prompt.get("max_attempts", 3))):
        try:
            frames = await asyncio.to_thread(
                faces.burst,
                shown,
                prompt["challenge"],
                attempt=attempt,
                seed=agent.rng.randrange(2**31),
            )
        except ValueError as error:  # no usable photo of that face: the watch gives up
            log.warning("checkin_not_captured", serial=agent.serial, error=str(error))
            return None
        body = {
            "captured_at": datetime.now(UTC).isoformat(),
            "fix": {
                "lat": round(agent.position.lat, 7),
                "lon": round(agent.position.lon, 7),
                "accuracy_m": 8.0,
            },
            "frames": [base64.b64encode(frame).decode() for frame in frames],
        }
        response = await _signed_post(client, signer, path, body)
        if response.status_code != 200:
            log.warning("checkin_refused", serial=agent.serial, status=response.status_code)
            return None
        answer = response.json()
        status = answer["prompt_status"]
        log.info(
            "checkin_answered",
            serial=agent.serial,
            face=faces.faces[shown].label,
            attempt=attempt + 1,
            outcome=answer["outcome"],
            prompt_status=status,
        )
        if status != "issued" or not answer["attempts_left"]:
            break
    return status


async def _read_inbox(
    client: httpx.AsyncClient,
    agent: Agent,
    signer: DeviceSigner,
    faces: BurstMaker | None = None,
) -> None:
    response = await client.get(
        "/device/v1/inbox", headers=signer.sign("GET", "/device/v1/inbox", b"")
    )
    if response.status_code != 200:
        return
    items = response.json()["items"]
    prompts = []
    for item in items:
        if item["kind"] == "config":
            agent.apply_config(item["payload"])
        elif item["kind"] == "prompt":
            prompts.append(item["payload"])
    if items:
        await _signed_post(
            client, signer, "/device/v1/inbox/ack", {"ids": [item["id"] for item in items]}
        )
    for prompt in prompts:
        if faces is not None:
            await answer_prompt(client, agent, signer, prompt, faces)


async def live(
    client: httpx.AsyncClient,
    agent: Agent,
    signer: DeviceSigner,
    stop: asyncio.Event,
    faces: BurstMaker | None = None,
) -> None:
    next_upload = datetime.now(UTC) + timedelta(seconds=agent.upload_interval_s)
    while not stop.is_set():
        now = datetime.now(UTC)
        agent.tick(now, agent.fix_interval_s)
        if now >= next_upload and agent.pending:
            next_upload = now + timedelta(seconds=await upload(client, agent, signer, faces))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), agent.fix_interval_s)


async def upload(
    client: httpx.AsyncClient,
    agent: Agent,
    signer: DeviceSigner,
    faces: BurstMaker | None = None,
) -> float:
    """Send what the device holds and read its inbox; the seconds until the next upload:
    the upload interval, or the server's ``Retry-After`` when it was overloaded (503).
    Items the server did not store stay with the device, to be sent again."""
    batch = agent.take_batch()
    try:
        response = await _signed_post(client, signer, "/device/v1/telemetry", {"items": batch})
        if response.status_code == 503:
            agent.pending = batch + agent.pending
            return retry_after_s(response, default=agent.upload_interval_s)
        if response.status_code != 200:
            agent.pending = batch + agent.pending
        await _read_inbox(client, agent, signer, faces)
    except httpx.HTTPError:
        agent.pending = batch + agent.pending
    return agent.upload_interval_s


def retry_after_s(response: httpx.Response, *, default: float) -> float:
    """The response's ``Retry-After`` in seconds (RFC 9110: seconds or an HTTP date);
    ``default`` when it has none or it cannot be read."""
    value = response.headers.get("retry-after", "").strip()
    if value.isdigit():
        return float(value)
    with contextlib.suppress(TypeError, ValueError):
        at = parsedate_to_datetime(value)
        return max(0.0, (at - datetime.now(UTC)).total_seconds())
    return default


def _burst_maker(data_dir: Path) -> BurstMaker | None:
    from openem.sim.faces import demo_faces

    try:
        return BurstMaker(demo_faces(data_dir))
    except (OSError, subprocess.CalledProcessError) as error:
        log.warning("demo_faces_unavailable", error_type=type(error).__name__)
        return None


async def simulate(
    *,
    server: str,
    token: str,
    devices: int,
    seconds: float | None,
    serial_prefix: str = "DEMO-",
    fix_interval_s: float = 10.0,
    upload_interval_s: float = 30.0,
    data_dir: Path | None = None,
) -> int:
    """With ``data_dir``, wearers with a face check-in role (``world.face_checkin_of``)
    answer their prompts with bursts of the demo faces (``sim.faces``)."""
    async with httpx.AsyncClient(base_url=server, timeout=60) as client:
        fleet = await pair_fleet(client, token=token, count=devices, serial_prefix=serial_prefix)
        if data_dir is not None and any(face_checkin_of(a.serial) for a in fleet.agents):
            fleet.faces = await asyncio.to_thread(_burst_maker, data_dir)
        for agent in fleet.agents:
            agent.fix_interval_s, agent.upload_interval_s = fix_interval_s, upload_interval_s
        stop = asyncio.Event()
        tasks = [
            asyncio.create_task(
                live(client, agent, fleet.signers[agent.device_id], stop, fleet.faces)
            )
            for agent in fleet.agents
        ]
        log.info("simulation_started", devices=len(tasks))
        try:
            if seconds is None:
                await asyncio.gather(*tasks)
            else:
                await asyncio.sleep(seconds)
        finally:
            stop.set()
            await asyncio.gather(*tasks, return_exceptions=True)
        return len(fleet.agents)
