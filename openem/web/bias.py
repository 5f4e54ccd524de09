"""The latest face-evaluation report (``openem eval faces``) as a read model for ``/bias``.

Reports are JSON files under ``<OPENEM_DATA_DIR>/reports/bias/``; the newest (by
modification time, then name) is shown. Only aggregate figures are read: scalars of the
headline and peer figures, the targets, and per attribute group the counts and rates.
Nothing about a person is in a report, and nothing but these fields is rendered.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPORTS = Path("reports") / "bias"
GROUP_FIELDS = (
    "genuine_pairs",
    "impostor_pairs",
    "fnmr",
    "fmr",
    "failure_to_acquire",
    "prompt_gar",
    "prompt_genuine",
)
MACHINE_FIELDS = ("platform", "python", "cpus", "dlib", "model_version")


@dataclass(frozen=True)
class Group:
    attribute: str
    threshold: float | None
    fnmr_ratio: float | None
    prompt_fnmr_ratio: float | None
    values: list[tuple[str, dict[str, Any]]]


@dataclass(frozen=True)
class BiasReport:
    filename: str
    name: str
    modified: float
    machine: list[tuple[str, Any]]
    figures: list[tuple[str, Any]]
    targets: list[tuple[str, dict[str, Any]]]
    groups: list[Group]
    peer: list[tuple[str, Any]]
    problems: list[str] = field(default_factory=list)


def _scalars(data: Any) -> list[tuple[str, Any]]:
    """Top-level numbers, booleans and short strings only (no nested or list data)."""
    if not isinstance(data, dict):
        return []
    return [
        (str(key), value)
        for key, value in data.items()
        if isinstance(value, bool | int | float) or (isinstance(value, str) and len(value) < 200)
    ]


def _mapping(data: Any) -> dict[str, Any]:
    return data if isinstance(data, dict) else {}


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _groups(data: Any) -> list[Group]:
    if not isinstance(data, dict):
        return []
    groups = []
    for attribute, figures in sorted(data.items()):
        if not isinstance(figures, dict):
            continue
        values = _mapping(figures.get("values"))
        rows = [
            (str(value), {k: row.get(k) for k in GROUP_FIELDS if _number(row.get(k)) is not None})
            for value, row in sorted(values.items())
            if isinstance(row, dict)
        ]
        groups.append(
            Group(
                attribute=str(attribute),
                threshold=_number(figures.get("threshold")),
                fnmr_ratio=_number(figures.get("fnmr_worst_best_ratio")),
                prompt_fnmr_ratio=_number(figures.get("prompt_fnmr_worst_best_ratio")),
                values=rows,
            )
        )
    return groups


def _targets(data: Any) -> list[tuple[str, dict[str, Any]]]:
    if not isinstance(data, dict):
        return []
    return [
        (str(name), {"target": t.get("target"), "op": t.get("op"), "met": t.get("met")})
        for name, t in sorted(data.items())
        if isinstance(t, dict)
    ]


def latest_report(data_dir: Path) -> BiasReport | None:
    """The newest report, or None when there is none; an unreadable file is named, not raised."""
    folder = data_dir / REPORTS
    files = sorted(folder.glob("*.json"), key=lambda p: (p.stat().st_mtime, p.name))
    if not files:
        return None
    path = files[-1]
    modified = path.stat().st_mtime
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        return BiasReport(
            path.name,
            "",
            modified,
            [],
            [],
            [],
            [],
            [],
            problems=[f"the file could not be read as JSON ({type(error).__name__})"],
        )
    if not isinstance(data, dict):
        return BiasReport(
            path.name,
            "",
            modified,
            [],
            [],
            [],
            [],
            [],
            problems=["the file is not a report object"],
        )
    machine = _mapping(data.get("machine"))
    return BiasReport(
        filename=path.name,
        name=str(data.get("name", "")),
        modified=modified,
        machine=[(k, machine[k]) for k in MACHINE_FIELDS if k in machine],
        figures=_scalars(data.get("figures")),
        targets=_targets(data.get("targets")),
        groups=_groups(data.get("groups")),
        peer=_scalars(data.get("peer")),
    )
