"""Jinja2 environments for the report templates: HTML escapes everything by default, Markdown escapes
table cells and picks code fences no code can close."""

from __future__ import annotations

import base64
import functools
import re
from typing import Any

import jinja2

from tritonwright.report import fmt

_MD_SPECIAL = re.compile(r"([\\`*_\[\]|<>])")  # characters that would turn cell text into markup or break a row
MD_CELL_CHARS = 300  # a Markdown table cell longer than this is cut; the HTML report keeps the full text


def md_cell(value: Any, limit: int = MD_CELL_CHARS) -> str:
    """Text for one Markdown table cell: markup characters escaped, newlines as <br>, cut at `limit`."""
    text = str(value).strip()
    if len(text) > limit:
        text = text[:limit] + "… (full text in the HTML report)"
    escaped = _MD_SPECIAL.sub(r"\\\1", text.replace("&", "&amp;"))
    return "<br>".join(escaped.splitlines()) or " "


def fence(text: str) -> str:
    """A backtick fence longer than any backtick run inside `text`, so the code block cannot end early."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    return "`" * max(3, longest + 1)


def data_uri(png: bytes) -> str:
    """A PNG as a data: URI, so the HTML needs no file beside it and no network."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


_FILTERS = {
    "ms": fmt.ms, "x": fmt.speedup, "share": fmt.share, "gain": fmt.gain, "count": fmt.count,
    "usd": fmt.usd, "secs": fmt.seconds, "num": fmt.number, "tokens": fmt.tokens,
    "md": md_cell, "fence": fence,
}


@functools.cache
def _environment(markdown: bool) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("tritonwright.report", "templates"),
        autoescape=not markdown,
        undefined=jinja2.StrictUndefined,  # a template naming a figure we did not pass fails, never prints ""
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(_FILTERS)
    return env


def render(name: str, **variables: Any) -> str:
    """Render a packaged template; names ending in .md.j2 get the Markdown environment."""
    return _environment(name.endswith(".md.j2")).get_template(name).render(**variables)
