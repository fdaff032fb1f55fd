"""write_batch_report: files, the summary's numbers on the page, links to every task's report."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.test_report_bundles import batch_bundle
from tritonwright.report import write_batch_report


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path]]:
    out = tmp_path_factory.mktemp("batch")
    return out, write_batch_report(batch_bundle(), out)


def _table(page: str, table_id: str) -> str:
    return page.split(f'<table id="{table_id}">')[1].split("</table>")[0]


def test_files(written: tuple[Path, list[Path]]) -> None:
    out, paths = written
    assert [p.name for p in paths[:4]] == ["batch.html", "batch.md", "batch-speedups.png", "batch-stage-gains.png"]
    assert len(paths) == 4 + 3 * 7  # html, md and chart of each of the 7 tasks
    assert all(p.is_file() for p in paths)
    assert {p.parent for p in paths[4:]} == {out / "tasks"}


def test_fast_p_table_on_the_page(written: tuple[Path, list[Path]]) -> None:
    page = written[1][0].read_text(encoding="utf-8")
    rows = re.findall(r"<tr><td>(fast_[\d.]+)</td><td class=\"num\">(.*?)</td><td class=\"num\">(.*?)</td></tr>",
                      _table(page, "fast-p"))
    assert rows == [("fast_0", "57.1%", "42.9%"), ("fast_1", "42.9%", "28.6%"),
                    ("fast_1.2", "28.6%", "28.6%"), ("fast_2", "14.3%", "0.0%")]


def test_summary_cards_and_levels(written: tuple[Path, list[Path]]) -> None:
    page = written[1][0].read_text(encoding="utf-8")
    assert "57.1%" in page and "4 of 7 tasks" in page
    assert f"{(2.0 * (1 / 1.1) * 2.5 * 1.2) ** 0.25:.2f}x" in page  # geomean vs eager, 1.53x
    assert "median 1.60x" in page and "$0.1700" in page and "tasks with unknown cost: 1" in page
    assert "21.0 s" in page and "4 min 50 s" in page
    levels = re.findall(r'<table class="by-level" data-baseline="(\w+)">', page)
    assert levels == ["eager", "compiled"]
    compiled = page.split('data-baseline="compiled">')[1].split("</table>")[0]
    level3 = re.search(r"<tr><td>3</td>.*?</tr>", compiled, flags=re.S).group(0)
    assert level3.count("—") == 6  # correct task without a torch.compile timing: unknown, not 0%


def test_task_table_links_to_reports_that_exist(written: tuple[Path, list[Path]]) -> None:
    out, paths = written
    page = paths[0].read_text(encoding="utf-8")
    links = re.findall(r'<a href="([^"]+)">', _table(page, "tasks"))
    assert len(links) == 7 and all((out / link).is_file() for link in links)
    md = paths[1].read_text(encoding="utf-8")
    md_links = re.findall(r"\]\((tasks/[^)]+\.md)\)", md)
    assert len(md_links) == 7 and all((out / link).is_file() for link in md_links)
    rows = re.findall(r'<tr class="task" data-key="([^"]+)">(.*?)</tr>', _table(page, "tasks"), flags=re.S)
    by_key = dict(rows)
    assert "2.00x" in by_key["1_A"] and "1.60x" in by_key["1_A"]
    assert "no correct candidate" in by_key["5_E"]
    assert "seed: TIMEOUT killed after 120 s" in by_key["4_D"]


def test_stage_table(written: tuple[Path, list[Path]]) -> None:
    page = written[1][0].read_text(encoding="utf-8")
    grid = re.search(r"<tr><td>grid_and_parallel</td>(.*?)</tr>", _table(page, "stages")).group(1)
    cells = re.findall(r'<td class="num">(.*?)</td>', grid)
    assert cells == ["0", "2", "1", "0", "0", "3", f"{100 * ((1.6 * 1.25) ** (1 / 3) - 1):+.1f}%"]


def test_markdown_numbers(written: tuple[Path, list[Path]]) -> None:
    md = written[1][1].read_text(encoding="utf-8")
    assert "| fast_1.2 | 28.6% | 28.6% |" in md
    assert "- correct: 57.1% (4 of 7 tasks)" in md
    assert "![Distribution of the correct tasks' speedups](batch-speedups.png)" in md


def test_without_task_reports(tmp_path: Path) -> None:
    paths = write_batch_report(batch_bundle(), tmp_path, with_tasks=False)
    assert len(paths) == 4 and not (tmp_path / "tasks").exists()
    assert "<a href=" not in paths[0].read_text(encoding="utf-8")


def test_workers_section_lists_slots_and_events(tmp_path: Path) -> None:
    bundle = batch_bundle()
    bundle["run"]["env"] = {"gpu": "NVIDIA H200", "executor": {
        "executor": "local", "wall_s": 131.0,
        "slots": [{"name": "gpu0", "device": "NVIDIA H200", "state": "stopped", "jobs": 6, "busy_s": 119.3,
                   "crashes": 1, "reason": ""},
                  {"name": "gpu1", "device": "", "state": "drained", "jobs": 0, "busy_s": 0.0, "crashes": 0,
                   "reason": "failed its health check: wrong result: sum 0, expected 42"}],
        "events": [{"t": 9.6, "slot": "gpu0", "kind": "started", "detail": "NVIDIA H200"},
                   {"t": 50.2, "slot": "gpu0", "kind": "crash", "detail": "elu: evaluate: the worker died"},
                   {"t": 50.2, "slot": "gpu0", "kind": "retry", "detail": "elu: evaluate: try 2 of 3"}]}}
    write_batch_report(bundle, tmp_path, with_tasks=False)
    page = (tmp_path / "batch.html").read_text()
    md = (tmp_path / "batch.md").read_text()
    for text in (page, md):
        assert "Workers" in text and "local executor" in text
        assert "gpu1" in text and "failed its health check: wrong result" in text
        assert "elu: evaluate: the worker died" in text and "try 2 of 3" in text
        assert "started: NVIDIA H200" not in text  # the "started" events stay out of the list
    assert "<th>executor</th>" not in page  # the report is not dumped into the environment table
