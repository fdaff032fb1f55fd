"""Formatting and escaping helpers of the reports."""

from __future__ import annotations

import pytest

from tritonwright.report import fmt
from tritonwright.report.render import fence, md_cell


@pytest.mark.parametrize(("value", "text"), [
    (None, "—"), (0.5, "0.50 s"), (12.34, "12.3 s"), (245, "4 min 05 s"), (3725, "1 h 02 min"),
])
def test_seconds(value: float | None, text: str) -> None:
    assert fmt.seconds(value) == text


def test_numbers() -> None:
    assert fmt.ms(0.0123456) == "0.01235 ms" and fmt.ms(None) == "—"
    assert fmt.speedup(1.666) == "1.67x" and fmt.share(0.625) == "62.5%"
    assert fmt.gain(1.1) == "+10.0%" and fmt.gain(0.95) == "-5.0%"
    assert fmt.usd(0.01234) == "$0.0123" and fmt.usd(12.5) == "$12.50" and fmt.usd(0) == "$0"
    assert fmt.usd(None) == "unknown"
    assert fmt.number(3145728) == "3,145,728" and fmt.number(82.0) == "82" and fmt.number(33.456) == "33.46"
    assert fmt.tokens(1234, 5) == "1,234 in / 5 out"


def test_slug_keeps_safe_keys_and_separates_unsafe_ones() -> None:
    assert fmt.slug("19_ReLU") == "19_ReLU"
    a, b = fmt.slug("level1/19 ReLU"), fmt.slug("level1_19_ReLU")
    assert a.startswith("level1_19_ReLU-") and a != b
    assert "/" not in fmt.slug("../../etc/passwd") and not fmt.slug("../x").startswith(".")


def test_md_cell_escapes_markup_and_keeps_one_line() -> None:
    assert md_cell("a | b") == r"a \| b"
    assert md_cell("<img src=x onerror=alert(1)>") == r"\<img src=x onerror=alert(1)\>"
    assert md_cell("x_y *z* `c` [l](u) & d") == r"x\_y \*z\* \`c\` \[l\](u) &amp; d"
    assert md_cell("one\ntwo") == "one<br>two"
    assert md_cell("a" * 400).endswith("… (full text in the HTML report)")


def test_fence_is_longer_than_any_backtick_run() -> None:
    assert fence("plain") == "```"
    assert fence("has ``` inside") == "````"
    assert fence("has ````` inside") == "``````"


def test_time_by_stage() -> None:
    from tritonwright.report.fmt import time_by_stage

    steps = [("seed", 10.3), ("grid_and_parallel", None), ("block_tiling", 13.2), ("race", 7.0), ("race", 18.0),
             ("final", 2.27)]
    assert time_by_stage(steps, 55.1) == ("seed 10.3 s, block_tiling 13.2 s, race 25.0 s, final 2.27 s; outside "
                                          "the steps 4.33 s")
    assert time_by_stage(steps, None) == "seed 10.3 s, block_tiling 13.2 s, race 25.0 s, final 2.27 s"
    assert not time_by_stage(steps, 50.8).count("outside")  # nothing left over worth a figure
    assert not time_by_stage(steps, 40.0).count("outside")  # a resumed run: its steps ran in earlier runs too
    assert time_by_stage([("seed", None)], 3.0) == ""
