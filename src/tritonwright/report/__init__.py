"""Reports of a run, as pure functions of the JSON bundle that `tritonwright export RUN` writes.

    write_task_report(bundle, task_key, out_dir) -> list[Path]   one task: HTML, Markdown, PNG chart
    write_batch_report(bundle, out_dir) -> list[Path]            the batch, plus each task's report
    batch_summary(bundle) -> dict                                the batch figures (fast_p, geomean, ...)

Bundle schema (absent figures are null, never inf or -1):
    run: id, created, kind ("optimize"|"batch"), config, env {gpu, driver, cuda, torch, triton, python, device}
    tasks[]: key, path, hash, level, kind, status ("done"|"failed"|"running"), error,
        baselines {eager_ms, compiled_ms, compile_mode},
        attempts[] {seq, stage, origin, candidate_id, parent_id, status, reason, median_ms, speedup_eager,
                    speedup_compiled, decision ("BASE"|"KEEP"|"REVERT"|"FAILED"|"SKIP"), decision_reason,
                    metrics_before, metrics_after ({kernel: {metric: value}} or {kernel: [{...}, ...]}),
                    diff (unified, vs the parent), wall_s, llm {input_tokens, output_tokens, cost_usd, calls},
                    configs[] (a tuner step's launch configs in the order tried, else []) {kernel, label,
                        config {<constexpr>: v, num_warps, num_stages}, phase ("coarse"|"stages"|"refine"|
                        "dry-run"), round, original, screen_ms, verified, verified_ms, status, error (one line,
                        null when it passed), chosen}},
        best {candidate_id, median_ms, speedup_eager, speedup_compiled, source},
        usage {input_tokens, output_tokens, cost_usd, calls}, wall_s, gpu_s
"""

from tritonwright.report.batch import write_batch_report
from tritonwright.report.summary import batch_summary, fast_p, geomean
from tritonwright.report.task import write_task_report
from tritonwright.report.task_view import ReportInputError

__all__ = ["ReportInputError", "batch_summary", "fast_p", "geomean", "write_batch_report", "write_task_report"]
