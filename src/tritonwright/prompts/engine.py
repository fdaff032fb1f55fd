"""Strict Jinja2 rendering of the packaged templates: no placeholder is ever silently dropped.

    render_template(name, **variables) -> str

Two checks make a mismatch between code and template loud:
- a variable the template (or anything it includes/imports) names but the caller did not pass raises
  TemplateVariableError before rendering, even when it sits in a branch not taken this time;
  StrictUndefined catches the rest (a missing attribute or key at render time);
- a variable the caller passed but no template in the tree names raises TemplateVariableError.
Templates may include or import other templates only by literal name, so the tree is known statically.
"""

from __future__ import annotations

import functools
import math

import jinja2
import jinja2.meta

from tritonwright.gpus.spec import GpuSpec


class TemplateVariableError(Exception):
    """Caller and template disagree on the variables: a bug in our code, never the user's."""


def format_number(value: float | int) -> str:
    """Integers without decimals, other values as they are (82.6 -> "82.6", 1008 -> "1008", 50.0 -> "50")."""
    if isinstance(value, bool):
        raise TypeError(f"expected a number, got {value!r}")
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _known(value: float | int | None) -> str:
    return "unknown" if value is None else format_number(value)


def _quantity(value: float | int | None, unit: str) -> str:
    return "unknown" if value is None else f"{format_number(value)} {unit}"


def _tensor_tflops(gpu: GpuSpec, fmt: str) -> str:
    value = gpu.tensor_tflops(fmt)
    if value is not None:
        return f"{format_number(value)} with dense"
    return "unknown" if gpu.supports(fmt) else "not supported"


def _sig(value: float, digits: int = 4) -> str:
    """`digits` significant digits: timing noise is ~1%, so more digits are noise."""
    if value == 0 or not math.isfinite(value):
        return str(value)
    return f"{value:.{digits}g}"


@functools.cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("tritonwright.prompts", "templates"),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,  # a line holding only a {% tag %} leaves no blank line behind
        lstrip_blocks=True,  # indentation before a tag is not output
        keep_trailing_newline=True,  # files end in "\n" and so do the sections they produce
        autoescape=False,  # plain text prompts, never HTML
    )
    env.filters["quantity"] = _quantity
    env.filters["tensor_tflops"] = _tensor_tflops
    env.filters["known"] = _known
    env.filters["sig"] = _sig
    return env


def collect_variables(env: jinja2.Environment, name: str) -> frozenset[str]:
    """Every variable named by template `name` and the templates it includes or imports (by literal name)."""
    assert env.loader is not None
    seen: set[str] = set()
    todo = [name]
    names: set[str] = set()
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        source, _, _ = env.loader.get_source(env, current)
        ast = env.parse(source)
        names |= jinja2.meta.find_undeclared_variables(ast)
        for ref in jinja2.meta.find_referenced_templates(ast):
            if ref is None:
                raise TemplateVariableError(f"{current}: includes a template by computed name; use a literal "
                                            "name so its variables can be checked")
            todo.append(ref)
    return frozenset(names - set(env.globals))


@functools.cache
def template_variables(name: str) -> frozenset[str]:
    """collect_variables for the packaged templates (cached: the package's files do not change)."""
    return collect_variables(environment(), name)


def render_with(env: jinja2.Environment, name: str, variables: dict[str, object],
                expected: frozenset[str] | None = None) -> str:
    """Render `name` from `env` with exactly the variables it names; see the module docstring."""
    expected = collect_variables(env, name) if expected is None else expected
    missing = sorted(expected - set(variables))
    unused = sorted(set(variables) - expected)
    if missing:
        raise TemplateVariableError(f"{name}: variables not passed: {', '.join(missing)}")
    if unused:
        raise TemplateVariableError(f"{name}: variables passed but not used: {', '.join(unused)}")
    try:
        return env.get_template(name).render(**variables)
    except jinja2.UndefinedError as exc:
        raise TemplateVariableError(f"{name}: {exc.message}") from None


def render_template(name: str, **variables: object) -> str:
    """Render a packaged template with exactly the variables it names (checked once per template)."""
    return render_with(environment(), name, variables, template_variables(name))
