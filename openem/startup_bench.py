"""`openem bench startup`: seconds from `openem serve` (SQLite) to a healthy /healthz."""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from openem.bench_common import machine, target


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _one_start(folder: Path) -> float:
    port = _free_port()
    env = os.environ | {
        "OPENEM_DATABASE_URL": f"sqlite:///{folder / 'start.db'}",
        "OPENEM_PORT": str(port),
    }
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "openem", "serve"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        while time.perf_counter() - started < 60:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=0.5).status_code == 200:
                    return time.perf_counter() - started
            except httpx.HTTPError:
                time.sleep(0.02)
        raise TimeoutError("server did not become healthy within 60 s")
    finally:
        process.terminate()
        process.wait(timeout=10)


def run_startup_bench(*, runs: int = 5) -> dict[str, Any]:
    folder = Path(tempfile.mkdtemp(prefix="openem-start-"))
    first = _one_start(folder)
    warm = [_one_start(folder) for _ in range(runs)]
    median = statistics.median(warm)
    return {
        "name": "startup",
        "machine": machine(),
        "figures": {"first_start_s": round(first, 3), "warm_start_median_s": round(median, 3)},
        "targets": {"warm_start_median_s": target(median, 3.0, "<=")},
    }
