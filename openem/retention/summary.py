"""The readable summary of a subject-access archive: HTML and PDF, in the subject's language."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from jinja2 import Environment, select_autoescape

_env = Environment(autoescape=select_autoescape(default=True, default_for_string=True))
_TEMPLATE = _env.from_string(
    """<!doctype html>
<html lang="{{ lang }}"><head><meta charset="utf-8"><title>{{ title }}</title>
<style>body{font-family:sans-serif;max-width:48rem;margin:2rem auto;line-height:1.5}
td,th{padding:.2rem .6rem;text-align:left}</style></head><body>
<h1>{{ title }}</h1><p>{{ intro }}</p>
<h2>{{ sections_heading }}</h2><table>
{% for name, count in sections %}<tr><td>{{ name }}</td><td>{{ count }}</td></tr>
{% endfor %}</table>
<h2>{{ access_heading }}</h2><ul>{% for line in access %}<li>{{ line }}</li>{% endfor %}</ul>
<h2>{{ retention_heading }}</h2><ul>{% for line in retention %}<li>{{ line }}</li>{% endfor %}</ul>
<h2>{{ rights_heading }}</h2><p>{{ rights_text }}</p>
</body></html>
"""
)


@dataclass(frozen=True)
class Summary:
    lang: str
    title: str
    intro: str
    sections_heading: str
    sections: list[tuple[str, str]]
    access_heading: str
    access: list[str]
    retention_heading: str
    retention: list[str]
    rights_heading: str
    rights_text: str


def html(summary: Summary) -> bytes:
    return _TEMPLATE.render(**summary.__dict__).encode("utf-8")


def _font_path() -> Path:
    """DejaVu Sans, shipped inside matplotlib (a dependency): covers Polish, Romanian, ..."""
    spec = importlib.util.find_spec("matplotlib")
    if spec is None or spec.origin is None:
        raise RuntimeError("matplotlib (for its DejaVu font) is not installed")
    return Path(spec.origin).parent / "mpl-data" / "fonts" / "ttf" / "DejaVuSans.ttf"


def pdf(summary: Summary) -> bytes:
    from fpdf import FPDF  # imported when a summary is made, not at every start-up
    from fpdf.enums import XPos, YPos

    document = FPDF()
    document.set_auto_page_break(auto=True, margin=15)
    document.add_font("DejaVu", "", str(_font_path()))
    document.add_page()
    document.set_title(summary.title)
    width = document.epw

    def heading(text: str, size: int = 13) -> None:
        document.set_font("DejaVu", size=size)
        document.multi_cell(width, 8, text, new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    def body(text: str) -> None:
        document.set_font("DejaVu", size=10)
        document.multi_cell(width, 5, text, new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    heading(summary.title, 16)
    body(summary.intro)
    heading(summary.sections_heading)
    for name, count in summary.sections:
        body(f"{name}: {count}")
    heading(summary.access_heading)
    for line in summary.access:
        body(line)
    heading(summary.retention_heading)
    for line in summary.retention:
        body(line)
    heading(summary.rights_heading)
    body(summary.rights_text)
    return bytes(document.output())
