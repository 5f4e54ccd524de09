"""Data flows one way through the loop (DESIGN.md): no domain imports one downstream of it.

Every import in every module is read from its syntax tree, including imports made
inside functions (a lazy import is still a dependency).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "openem"

# Upstream first, after DESIGN.md's loop: people, devices and places are configured;
# devices send telemetry (ingest, stored as locations); check-ins use the face checks;
# telemetry and outcomes go to the rules, whose findings become alerts; disclosures,
# retention and fairness work on what is stored; the dashboard is the last stop. A
# domain may import its own rank or upstream ones.
LOOP_RANK: dict[str, int] = {
    "subjects": 0,
    "devices": 1, "zones": 1, "locations": 1,
    "biometrics": 2, "ingest": 2,
    "checkins": 3,
    "rules": 4,
    "alerts": 5, "disclosures": 5,
    "retention": 6, "fairness": 6,
    "web": 7,
}
# Not domains of the loop: the composition roots and tools wire every domain together
# and are downstream of all of them (a domain must never import one).
OUTSIDE_THE_LOOP = {"app", "cli", "bench_cli", "demo", "sim", "startup_bench", "__main__"}
OUTSIDE_RANK = max(LOOP_RANK.values()) + 1

# Upstream -> downstream imports that exist today, each to be removed (then dropped from
# this list: the test fails on a stale entry as on a new violation).
KNOWN_VIOLATIONS = {
    ("openem/subjects/history.py", "retention"),
    ("openem/checkins/retention.py", "retention"),
    ("openem/checkins/tasks.py", "retention"),
    ("openem/biometrics/bench.py", "fairness"),
    ("openem/ingest/bench.py", "app"),
    ("openem/ingest/bench.py", "sim"),
    ("openem/web/bench.py", "app"),
}


def _imported_packages(path: Path) -> set[str]:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return set(_imports(path.read_text(encoding="utf-8"), module=parts))


def _imports(source: str, *, module: tuple[str, ...]) -> Iterator[str]:
    """The `openem.<name>` of every absolute or relative import in a module's source."""
    parts = module
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = list(parts[: len(parts) - node.level])
                names = [".".join([*base, *(node.module or "").split(".")]).rstrip(".")]
            else:
                names = [node.module or ""]
        else:
            continue
        for name in names:
            pieces = name.split(".")
            if pieces[0] == "openem" and len(pieces) > 1:
                yield pieces[1]


def _rank(name: str) -> int | None:
    if name in LOOP_RANK:
        return LOOP_RANK[name]
    return OUTSIDE_RANK if name in OUTSIDE_THE_LOOP else None


def _violations() -> set[tuple[str, str]]:
    found = set()
    for domain, rank in LOOP_RANK.items():
        for path in sorted((PACKAGE / domain).rglob("*.py")):
            for imported in _imported_packages(path):
                other = _rank(imported)
                if imported != domain and other is not None and other > rank:
                    found.add((path.relative_to(PACKAGE.parent).as_posix(), imported))
    return found


def test_the_rules_never_import_the_alerts() -> None:
    offending = [
        path.name for path in sorted((PACKAGE / "rules").rglob("*.py"))
        if "alerts" in _imported_packages(path)
    ]
    assert offending == [], "the rules hand findings to an AlertSink (openem.rules.sink)"


def test_the_alerts_may_use_what_the_rules_conclude() -> None:
    assert "rules" in _imported_packages(PACKAGE / "alerts" / "sink.py")


def test_no_new_import_reaches_downstream() -> None:
    assert sorted(_violations() - KNOWN_VIOLATIONS) == []


def test_the_list_of_known_violations_is_not_stale() -> None:
    assert sorted(KNOWN_VIOLATIONS - _violations()) == []


def test_every_domain_folder_has_a_place_in_the_loop() -> None:
    infrastructure = {"db", "bus", "access", "http", "crypto", "__pycache__"}
    folders = {p.name for p in PACKAGE.iterdir() if p.is_dir()} - infrastructure
    assert sorted(folders - set(LOOP_RANK) - OUTSIDE_THE_LOOP) == []


def test_the_checker_sees_lazy_and_relative_imports() -> None:
    lazy = "def f() -> None:\n    from openem.alerts import raising\n"
    relative = "from ..alerts.types import AlertType\nfrom . import state\n"
    module = ("openem", "rules", "service")
    assert set(_imports(lazy, module=module)) == {"alerts"}
    assert set(_imports(relative, module=module)) == {"alerts", "rules"}
