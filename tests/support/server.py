"""Run the real `openem` command as a separate process on a free port."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx


def clean_env() -> dict[str, str]:
    """This process's environment without any OPENEM_ setting (the test sets its own)."""
    return {key: value for key, value in os.environ.items() if not key.startswith("OPENEM_")}


@dataclass(frozen=True)
class SeededDemo:
    """A folder where `openem demo --no-serve --subjects 3` ran (SQLite demo.db, ./var)."""

    folder: Path
    stdout: str

    def copy_to(self, folder: Path) -> str:
        """A copy of the seeded folder at ``folder``; returns its database URL."""
        shutil.copytree(self.folder, folder, dirs_exist_ok=True)
        return f"sqlite:///{folder / 'demo.db'}"


def seed_demo(folder: Path) -> SeededDemo:
    result = subprocess.run(
        [*openem_command(), "demo", "--no-serve", "--subjects", "3"],
        env=clean_env() | {"OPENEM_DATABASE_URL": f"sqlite:///{folder / 'demo.db'}"},
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return SeededDemo(folder, result.stdout)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def openem_command() -> list[str]:
    return [sys.executable, "-m", "openem"]


def wait_for_health(base_url: str, *, timeout: float) -> float:
    """Seconds until /healthz answered 200; raises TimeoutError after ``timeout``."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        try:
            if httpx.get(f"{base_url}/healthz", timeout=1).status_code == 200:
                return time.monotonic() - started
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise TimeoutError(f"{base_url} did not become healthy within {timeout} s")


@contextmanager
def running(
    args: list[str], *, env: dict[str, str], cwd: Path
) -> Iterator[subprocess.Popen[bytes]]:
    with (cwd / "server.log").open("ab") as log:
        process = subprocess.Popen(
            openem_command() + args,
            env=os.environ | env,
            cwd=cwd,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
