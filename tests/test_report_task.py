"""write_task_report: files, timeline, chart, metrics, kept diffs, final code, escaping, purity."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest

from tests.test_report_bundles import (
    COMPILE_ERROR_LINE,
    EAGER_MS,
    FINAL_SOURCE,
    GRID_DIFF,
    MISMATCH_LINE,
    SEED_TRACEBACK,
    run,
    small_task,
    task_bundle,
)
from tritonwright.report import ReportInputError, write_task_report
from tritonwright.report.task_view import build_task_view

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str | bytes | list[Path]]:
    out = tmp_path_factory.mktemp("task")
    paths = write_task_report(task_bundle(), "23_Softmax", out)
    return {"paths": paths, "html": paths[0].read_text(encoding="utf-8"),
            "md": paths[1].read_text(encoding="utf-8"), "png": paths[2].read_bytes()}


def _rows(page: str) -> list[str]:
    return re.findall(r'<tr class="attempt".*?</tr>', page, flags=re.S)


def test_files_written_beside_each_other(report: dict, tmp_path: Path) -> None:
    names = [p.name for p in report["paths"]]
    assert names == ["23_Softmax.html", "23_Softmax.md", "23_Softmax-speedup.png"]
    assert all(p.is_file() and p.stat().st_size > 0 for p in report["paths"])
    assert report["png"].startswith(PNG_MAGIC)


def test_html_is_self_contained(report: dict) -> None:
    page = report["html"]
    assert "<style>" in page and 'rel="stylesheet"' not in page
    assert not re.search(r'(?:src|href)="(?!data:|#)', page), "every resource must be inline"
    assert "http://" not in page and "https://" not in page
    uris = re.findall(r'<img class="chart" id="speedup-chart" src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(uris) == 1
    import base64

    assert base64.b64decode(uris[0]) == report["png"]  # the same chart as the PNG file


def test_timeline_has_every_attempt_in_order_with_figures(report: dict) -> None:
    rows = _rows(report["html"])
    assert [re.search(r'data-seq="(\d+)"', r).group(1) for r in rows] == [str(i) for i in range(1, 9)]
    decisions = [re.search(r'data-decision="(\w+)"', r).group(1) for r in rows]
    assert decisions == ["FAILED", "BASE", "KEEP", "FAILED", "REVERT", "SKIP", "KEEP", "BASE"]
    grid, mismatch, revert, skip = rows[2], rows[3], rows[4], rows[5]
    assert "grid_and_parallel" in grid and "0.04 ms" in grid and "1.50x" in grid and "1.00x" in grid
    assert "20.0% faster, noise 0.6%" in grid
    assert "MISMATCH output 0 max abs err 3e-2" in mismatch and "wrong result: kept out" in mismatch
    assert "slower by 10.0%" in revert and "1.36x" in revert and "0.91x" in revert
    assert "not evaluated" in skip and "long-scoreboard stalls 8.2% &lt;= 15%" in skip
    assert "3,500 in / 1,200 out" in grid and "$0.0171" in grid


def test_markdown_timeline_says_what_each_step_took(report: dict) -> None:
    """Where the time went, per step (an evaluation, a tuner pass with its own time line, an A/B)."""
    md = report["md"].split("## Timeline")[1].split("##")[0]
    rows = [line for line in md.splitlines() if line.startswith("| ") and line[2].isdigit()]
    assert len(rows) == 8 and all(r.rstrip().endswith(" s |") for r in rows)
    assert rows[0].endswith("| 5.00 s |") and rows[-1].endswith("| 12.0 s |")  # the bundle's 4.0 + seq


def test_baselines_and_best(report: dict) -> None:
    page = report["html"]
    assert "0.06 ms" in page and "0.04 ms" in page and "max-autotune" in page
    assert f"{EAGER_MS / 0.0362:.2f}x" in page and f"{0.040 / 0.0362:.2f}x" in page
    assert "16,100 in / 5,750 out" in page and "$0.0815" in page and "1 min 36 s" in page


def test_best_so_far_follows_only_kept_correct_candidates() -> None:
    view = build_task_view(task_bundle(), "23_Softmax")
    expected = [None, 1.2, 1.5, 1.5, 1.5, 1.5, EAGER_MS / 0.036, EAGER_MS / 0.0362]
    assert view.best_so_far == pytest.approx(expected)


def test_metrics_before_and_after_each_step_including_the_skip(report: dict) -> None:
    section = report["html"].split('<section id="metrics">')[1].split("</section>")[0]
    tables = section.split("<h3>")[1:]
    assert [t.split()[0] for t in tables] == ["#3", "#4", "#6"]
    grid, tiling, skip = tables
    assert re.search(r"launch__grid_size</td><td class=\"num\">128</td><td class=\"num\">4,096</td>", grid)
    assert "41.3" in grid and "78.9" in grid
    assert "softmax_kernel (launch 1)" in tiling and "softmax_kernel (launch 2)" in tiling and "35.25" in tiling
    assert "<th class=\"num\">after</th>" not in skip  # a skipped stage has no after
    assert "smsp__warp_issue_stalled_long_scoreboard_per_warp_active.pct" in skip and ">8.2<" in skip


def test_kept_steps_show_their_diffs_and_reverted_ones_do_not(report: dict) -> None:
    section = report["html"].split('<section id="kept">')[1].split("</section>")[0]
    assert section.count('<pre class="diff">') == 2
    assert '<span class="add">+    # grid = (n_rows,) &amp; BLOCK &gt;= n_cols</span>' in section
    assert '<span class="del">-num_warps = 4</span>' in section
    assert "REVERTED_MARKER" not in report["html"] and "REVERTED_MARKER" not in report["md"]
    assert "```diff\n" + GRID_DIFF in report["md"]


# The tuner step's configs in the order the report lists them: passing by screening time, then the failures.
CONFIG_ORDER = ["BLOCK=2048 warps=8 stages=3", "BLOCK=2048 warps=8 stages=4", "BLOCK=2048 warps=4 stages=3",
                "BLOCK=1024 warps=4 stages=3", "BLOCK=4096 warps=16 stages=3", "BLOCK=8192 warps=32 stages=3"]


def test_each_tuner_step_lists_every_config_tried_collapsed(report: dict) -> None:
    section = report["html"].split('<section id="tuner-configs">')[1].split("</section>")[0]
    assert section.count("<details") == 1 and "<details open" not in section  # collapsed by default
    summary = re.search(r"<summary>(.*?)</summary>", section, flags=re.S).group(1)
    assert "#7 advanced_memory" in summary and "6 configs tried, 3 checked in full, 2 failed" in summary
    assert "chosen: <span class=\"mono\">BLOCK=2048 warps=8 stages=3</span>" in summary
    rows = re.findall(r'<tr class="config.*?</tr>', section, flags=re.S)
    assert [re.search(r'<td class="mono">(BLOCK=\d+ warps=\d+ stages=\d+)', r).group(1) for r in rows] == CONFIG_ORDER
    chosen, *_, mismatch, compile_error = rows
    assert 'class="config chosen"' in chosen and "0.035 ms" in chosen and "0.036 ms" in chosen
    assert "coarse grid (original)" in rows[3] and "stage sweep" in rows[1] and "screened only" in rows[1]
    assert "failed" in mismatch and MISMATCH_LINE in mismatch and "badge MISMATCH" in mismatch
    assert "screening:" in compile_error and html.escape(COMPILE_ERROR_LINE, quote=False) in compile_error
    assert "<b>limit</b>" not in report["html"]  # the error text is escaped


def test_markdown_lists_every_config_of_the_tuner_step(report: dict) -> None:
    md = report["md"].split("## Launch configs the tuner tried")[1].split("## Profiler metrics")[0]
    assert "### #7 advanced\\_memory: KEEP, 6 configs tried, 3 checked in full, 2 failed; chosen BLOCK=2048" in md
    rows = [line for line in md.splitlines() if line.startswith("| BLOCK=")]
    assert [r.split(" | ")[0].removeprefix("| ").removesuffix(" (chosen)") for r in rows] == CONFIG_ORDER
    assert rows[0].startswith("| BLOCK=2048 warps=8 stages=3 (chosen) | coarse grid | 0.035 ms | OK | 0.036 ms |")
    assert rows[-1].endswith(" 262144 \\<b\\>limit\\</b\\> 232448 |") and "screening: COMPILE\\_ERROR" in rows[-1]
    assert "| MISMATCH | — | output 0: 12 elements out of tolerance |" in rows[-2]


def test_a_run_without_tuner_rows_has_no_config_section(tmp_path: Path) -> None:
    bundle = task_bundle()
    for a in bundle["tasks"][0]["attempts"]:
        a.pop("configs")  # a bundle exported before the rows existed
    page, md, _ = write_task_report(bundle, "23_Softmax", tmp_path)
    assert "tuner-configs" not in page.read_text(encoding="utf-8")
    assert "Launch configs" not in md.read_text(encoding="utf-8")


def test_final_code_is_escaped_in_html_and_fenced_safely_in_markdown(report: dict) -> None:
    page = report["html"]
    code = re.findall(r'<pre class="code">(.*?)</pre>', page, flags=re.S)
    assert len(code) == 1 and html.unescape(code[0]) == FINAL_SOURCE
    assert "<b>not bold</b>" not in page and "&lt;b&gt;not bold&lt;/b&gt;" in code[0]
    md = report["md"]
    assert "````python\n" + FINAL_SOURCE + "````\n" in md  # the ``` inside the code cannot close the block


def test_reasons_are_escaped(report: dict) -> None:
    page = report["html"]
    assert "<script>" not in page
    folded = re.findall(r"<details.*?<pre>(.*?)</pre>", _rows(page)[0], flags=re.S)  # multi-line: folds away
    assert len(folded) == 1 and html.unescape(folded[0]) == SEED_TRACEBACK
    md_seed = next(line for line in report["md"].splitlines() if line.startswith("| 1 |"))
    assert r"\<script\>" in md_seed and "<script>" not in md_seed and "&amp; more" in md_seed
    md_mismatch = next(line for line in report["md"].splitlines() if line.startswith("| 4 |"))
    assert r"(atol 1e-4) \| rows" in md_mismatch  # a | in a reason does not split the table row
    assert len(re.findall(r"(?<!\\)\|", md_mismatch)) == 11  # 10 cells: the escaped | is not a separator


def test_markdown_timeline_and_chart_link(report: dict) -> None:
    md = report["md"]
    rows = [line for line in md.splitlines() if re.match(r"\| \d+ \| ", line)]
    assert len(rows) == 8
    assert "| 3 | grid\\_and\\_parallel | llm | OK | 0.04 ms | 1.50x | 1.00x | KEEP | 20.0% faster, noise 0.6% | 7.00 s |" \
        in rows
    assert "![Best speedup vs eager after each attempt](23_Softmax-speedup.png)" in md


def test_same_bundle_same_report(tmp_path: Path, report: dict) -> None:
    again = write_task_report(task_bundle(), "23_Softmax", tmp_path)
    assert again[0].read_text(encoding="utf-8") == report["html"]
    assert again[2].read_bytes() == report["png"]


def test_failed_task_with_nothing_to_show(tmp_path: Path) -> None:
    task = small_task("9 bad/key", None, "failed", eager=None, compiled=None, best_ms=None,
                      error="could not load the task: no get_inputs()")
    paths = write_task_report(run("optimize", [task]), "9 bad/key", tmp_path)
    assert paths[0].name.startswith("9_bad_key-") and paths[0].parent == tmp_path
    page = paths[0].read_text(encoding="utf-8")
    assert "could not load the task: no get_inputs()" in page
    assert "No correct candidate: nothing to hand back." in page
    assert "No attempt was recorded." in page
    assert paths[2].read_bytes().startswith(PNG_MAGIC)  # the chart says there is nothing to plot


def test_unknown_task_key_names_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(ReportInputError, match="'23_Softmax'"):
        write_task_report(task_bundle(), "nope", tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_infinite_time_in_the_bundle_is_refused(tmp_path: Path) -> None:
    bundle = task_bundle()
    bundle["tasks"][0]["attempts"][2]["median_ms"] = float("inf")
    with pytest.raises(ReportInputError, match="attempt 3 median_ms"):
        write_task_report(bundle, "23_Softmax", tmp_path)


def test_traceback_folds_under_its_exception_line(report: dict) -> None:
    summary = re.search(r"<summary>(.*?)</summary>", _rows(report["html"])[0]).group(1)
    assert summary.startswith("triton.compiler.errors.CompilationError: at 12:8:")


@pytest.mark.parametrize("field", ["wall_s", "gpu_s"])
def test_negative_duration_in_the_bundle_is_refused(tmp_path: Path, field: str) -> None:
    bundle = task_bundle()
    bundle["tasks"][0][field] = -1.0
    with pytest.raises(ReportInputError, match=field):
        write_task_report(bundle, "23_Softmax", tmp_path)


def test_where_the_wall_time_went_by_stage(report: dict) -> None:
    """Each stage's steps summed in the order they ran (block_tiling's two: 8 + 9 s), then what no step
    counted: 95.5 s of wall time less 68 s of steps."""
    line = ("seed 5.00 s, repair 6.00 s, grid_and_parallel 7.00 s, block_tiling 17.0 s, memory_access 10.0 s, "
            "advanced_memory 11.0 s, final 12.0 s; outside the steps 27.5 s")
    assert build_task_view(task_bundle(), "23_Softmax").time_line == line
    assert f"Where it went: {line.replace('_', chr(92) + '_')}." in " ".join(report["md"].split())  # md-escaped
    assert f'<p class="note" id="time-line">Where the wall time went: {line}.</p>' in report["html"]
