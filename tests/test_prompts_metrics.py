"""The metrics block: the seeds' JSON shape, number formatting, and rejected shapes."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from tritonwright.errors import UserInputError
from tritonwright.prompts import NO_METRICS, MetricsFormatError, check_metrics, render_metrics

GOLDEN = Path(__file__).parent / "golden"


@pytest.mark.parametrize("stem", ["000", "003"])
def test_seed_metrics_print_exactly_as_in_the_seed(stem: str) -> None:
    text = (GOLDEN / f"{stem}_metrics.json").read_text(encoding="utf-8").rstrip("\n")
    assert render_metrics(json.loads(text)) == text


@pytest.mark.parametrize("empty", [None, {}])
def test_no_metrics(empty: dict[str, object] | None) -> None:
    assert render_metrics(empty) == NO_METRICS == "No NCU metrics available"


def test_integers_stay_integers_and_floats_keep_their_decimals() -> None:
    out = render_metrics({"k": {"grid": 127008, "hit": 50.0, "sm": 25.88, "unit": "n/a"}})
    assert '"grid": 127008,' in out and '"hit": 50.0,' in out and '"sm": 25.88,' in out and '"unit": "n/a"' in out


def test_one_launch_is_an_object_several_are_a_list_in_given_order() -> None:
    out = json.loads(render_metrics({"b": {"x": 1}, "a": [{"x": 1}, {"x": 2}]}))
    assert list(out) == ["b", "a"] and out["b"] == {"x": 1} and out["a"] == [{"x": 1}, {"x": 2}]


@pytest.mark.parametrize(("data", "message"), [
    ([1, 2], "expected an object mapping kernel names"),
    ({"k": 3}, "expected an object of metric values"),
    ({"k": []}, "empty list of launches"),
    ({"k": [{"x": 1}, 5]}, "expected an object of metric values"),
    ({"k": {"x": [1]}}, "expected a number or string"),
    ({"k": {"x": True}}, "expected a number or string"),
    ({"k": {"x": math.nan}}, "not a measurement"),
    ({"k": {"x": math.inf}}, "not a measurement"),
    ({1: {"x": 1}}, "kernel names must be strings"),
])
def test_wrong_shapes_are_rejected(data: object, message: str) -> None:
    with pytest.raises(MetricsFormatError, match=message) as info:
        check_metrics(data)
    assert isinstance(info.value, UserInputError)
