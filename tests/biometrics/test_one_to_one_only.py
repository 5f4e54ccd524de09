"""Design rule: 1:1 only. No function compares a face with more than one subject's template.

The scan walks every module of the ``openem`` package. It fails on any function whose
name suggests identification or search (identify, one_to_many, gallery, nearest face...)
and, outside the offline evaluation code in ``openem/fairness``, on any function that
accepts a collection of templates.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "openem"
FORBIDDEN_NAME = re.compile(
    r"identif|one_to_many|1_?n_|gallery|watchlist|(search|find|rank|nearest|closest|lookup)"
    r"\w*(face|template|biometric|descriptor|embedding)|(face|template)\w*(search|rank|lookup)",
    re.IGNORECASE,
)
COLLECTION = re.compile(
    r"(Sequence|Iterable|Collection|list|tuple|set|dict|Mapping)\[[^\]]*FaceTemplate"
)
COLLECTION_PARAMS = {"templates", "gallery", "enrolled_templates", "candidates"}


def violations_in(source: str, *, evaluation_code: bool) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        if FORBIDDEN_NAME.search(node.name):
            found.append(f"{node.name}: name suggests 1:N identification")
        if evaluation_code:
            continue
        arguments = node.args.posonlyargs + node.args.args + node.args.kwonlyargs
        for argument in arguments:
            annotation = ast.unparse(argument.annotation) if argument.annotation else ""
            if COLLECTION.search(annotation) or argument.arg in COLLECTION_PARAMS:
                found.append(f"{node.name}({argument.arg}): accepts several templates")
    return found


def test_the_scan_catches_a_one_to_many_search() -> None:
    bad = (
        "def identify_subject(face, templates: list[FaceTemplate]): ...\n"
        "def compare(face, *, gallery: Sequence[FaceTemplate]): ...\n"
    )
    assert len(violations_in(bad, evaluation_code=False)) == 3


def test_the_scan_accepts_a_one_to_one_check() -> None:
    good = "def verify_checkin(*, template: FaceTemplate, frames: Sequence[ndarray]): ...\n"
    assert violations_in(good, evaluation_code=False) == []


def test_no_module_in_openem_offers_a_one_to_many_path() -> None:
    problems = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE)
        evaluation = relative.parts[0] == "fairness"
        for problem in violations_in(path.read_text(), evaluation_code=evaluation):
            problems.append(f"{relative}: {problem}")
    assert problems == []
