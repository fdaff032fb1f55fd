"""Strict rendering: missing and unused variables fail loudly; every packaged template is checkable."""

from __future__ import annotations

from types import SimpleNamespace

import jinja2
import pytest

from tritonwright.gpus import get_gpu
from tritonwright.prompts.engine import (
    TemplateVariableError,
    collect_variables,
    environment,
    format_number,
    render_template,
    render_with,
    template_variables,
)


def test_missing_variable_fails() -> None:
    with pytest.raises(TemplateVariableError, match="variables not passed: gpu"):
        render_template("gpu_header.j2")


def strict_env(templates: dict[str, str]) -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.DictLoader(templates), undefined=jinja2.StrictUndefined)


def test_variable_missing_only_in_an_untaken_branch_still_fails() -> None:
    env = strict_env({"t.j2": "{% if flag %}{{ hidden }}{% endif %}done"})
    assert render_with(env, "t.j2", {"flag": False, "hidden": 1}) == "done"
    with pytest.raises(TemplateVariableError, match="variables not passed: hidden"):
        render_with(env, "t.j2", {"flag": False})


def test_variables_named_only_by_an_included_template_count() -> None:
    env = strict_env({"outer.j2": '{% include "inner.j2" %}', "inner.j2": "{{ x }}"})
    assert render_with(env, "outer.j2", {"x": 7}) == "7"
    with pytest.raises(TemplateVariableError, match="passed but not used: y"):
        render_with(env, "outer.j2", {"x": 7, "y": 8})


def test_unused_variable_fails() -> None:
    with pytest.raises(TemplateVariableError, match="passed but not used: colour"):
        render_template("gpu_header.j2", gpu=get_gpu("4090"), colour="red")


def test_missing_attribute_fails_at_render_time() -> None:
    with pytest.raises(TemplateVariableError, match="architecture"):
        render_template("gpu_header.j2", gpu=SimpleNamespace(name="x", note=""))


def test_variables_of_included_and_imported_templates_count() -> None:
    assert {"gpu_header", "stage_section", "code", "metrics", "extras_section"} == set(
        template_variables("optimize.j2"))


def test_computed_include_is_refused() -> None:
    env = jinja2.Environment(loader=jinja2.DictLoader({"a.j2": '{% include "b" ~ suffix %}', "b.j2": "x"}))
    with pytest.raises(TemplateVariableError, match="computed name"):
        collect_variables(env, "a.j2")


def test_every_packaged_template_is_statically_checkable() -> None:
    names = environment().list_templates(extensions=["j2"])
    assert len(names) >= 14
    for name in names:
        template_variables(name)  # raises on a computed include


@pytest.mark.parametrize(("value", "text"), [(1008, "1008"), (82.6, "82.6"), (72.0, "72"), (362.05, "362.05")])
def test_numbers_print_without_needless_decimals(value: float, text: str) -> None:
    assert format_number(value) == text


def test_bool_is_not_a_number() -> None:
    with pytest.raises(TypeError):
        format_number(True)
