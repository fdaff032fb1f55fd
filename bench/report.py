"""Render a benchmark's results dict (bench/cli.py's results.json) as Markdown tables and a PNG, and check
the issue's targets. Pure functions of the dict, so CI tests them on saved results.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.plan import EXAMPLES
from tritonwright.floor import Ceilings, Floor, Traffic, floor_of, ratio_to_floor

QUOTED_SWEEP = Path(__file__).with_name("quoted_sweep.json")
# The targets, each with its threshold.
AA_MAX_FALSE_FASTER = 0.05  # A/A: at most 5% of decisions may wrongly say "faster"
DETECT_5PCT_MIN = 0.95  # a 5% slowdown must be seen in at least 95% of decisions
ELU_FLOOR_MAX = 0.03  # the seed ELU's best time within 3% of its speed-of-light floor
MISH_SWEEP_MAX = 0.02  # the tuner's Mish config within 2% of the exhaustive sweep's best pair
CALIBRATION_MISS = 0.01  # a variant more than 1 point off its target slowdown tests another slowdown: say so


def load_quoted(path: Path = QUOTED_SWEEP) -> dict[str, Any]:
    return {"mish_sweep": json.loads(path.read_text(encoding="utf-8"))}


def gpu_tag(name: str | None) -> str:
    """Short folder tag of a GPU name: 'NVIDIA H200' -> 'H200', 'NVIDIA H100 80GB HBM3' -> 'H100'."""
    if not name:
        return "unknown-gpu"
    words = [w for w in name.replace("NVIDIA", " ").replace("GeForce", " ").split()
             if not re.fullmatch(r"\d+GB|HBM\d*e?|PCIe|SXM\d*|NVL|MIG.*", w, flags=re.IGNORECASE)]
    tag = re.sub(r"[^A-Za-z0-9._-]", "", "-".join(words))
    return tag or "unknown-gpu"


def _get(d: Any, *keys: str) -> Any:
    for k in keys:
        if not isinstance(d, dict):
            return None
        d = d.get(k)
    return d


def _job(results: dict[str, Any], name: str) -> dict[str, Any] | None:
    return results.get("jobs", {}).get(name)


def _ok_result(results: dict[str, Any], name: str) -> dict[str, Any] | None:
    job = _job(results, name)
    return job.get("result") if job and job.get("status") == "ok" else None


def ceilings(results: dict[str, Any]) -> Ceilings | None:
    c = results.get("ceilings")
    if not c:
        return None
    return Ceilings.from_measured(c)


def pair_key(label: str) -> str | None:
    """'BLOCK_SIZE=1024 warps=2 stages=4' -> 'w2s4', the sweep's name for a (num_warps, num_stages) pair."""
    kv = dict(p.split("=", 1) for p in label.split() if "=" in p)
    if "warps" not in kv or "stages" not in kv:
        return None
    return f"w{kv['warps']}s{kv['stages']}"


@dataclass
class QualityRow:
    example: str
    size: str
    status: str  # ok, or why the row is incomplete
    floor: Floor | None
    eager_ms: float | None
    compile_ms: float | None
    compile_max_ms: float | None
    candidate_ms: float | None
    tuned_ms: float | None
    tune_note: str  # KEEP / REVERT (reason) / skipped / failed
    full_size: bool

    @property
    def best_ms(self) -> float | None:
        times = [t for t in (self.candidate_ms, self.tuned_ms) if t is not None]
        return min(times) if times else None


def _size(overrides: dict[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in overrides.items()) or "KernelBench"


def quality_rows(results: dict[str, Any]) -> list[QualityRow]:
    ceil = ceilings(results)
    rows = []
    for e in EXAMPLES:
        job = _job(results, f"eval:{e}")
        if job is None:
            continue
        res = job.get("result") or {}
        ev = res.get("eval") or {}
        traffic = res.get("traffic")
        floor = floor_of(Traffic.from_dict(traffic), ceil) if traffic and ceil else None
        tjob = _job(results, f"tune:{e}")
        tuned, note = None, "not run"
        if tjob is not None and tjob.get("status") == "ok":
            t = tjob["result"]
            if t["decision"] == "KEEP":
                tuned, note = t["tuned_ms"], "KEEP"
            else:  # the tuner returned the original code: its time is the candidate's
                tuned, note = _get(ev, "timing", "median_ms"), t["decision"]
        elif tjob is not None:
            note = str(tjob.get("status"))
        status = str(job.get("status"))  # the reason is in the Jobs table
        rows.append(QualityRow(
            example=e, size=_size(job.get("overrides", {})), status=status, floor=floor,
            eager_ms=_get(ev, "eager", "median_ms"), compile_ms=_get(ev, "compiled", "median_ms"),
            compile_max_ms=_get(res, "max_autotune", "compiled", "median_ms"),
            candidate_ms=_get(ev, "timing", "median_ms"), tuned_ms=tuned, tune_note=note,
            full_size=not job.get("overrides")))
    return rows


@dataclass(frozen=True)
class Target:
    name: str
    measured: str
    met: bool | None  # None: not measured in this run (the note says why)
    note: str = ""

    @property
    def verdict(self) -> str:
        return {True: "met", False: "NOT met", None: "not measured"}[self.met]


def _trust(results: dict[str, Any]) -> dict[str, Any] | None:
    return _ok_result(results, "trust")


def _slowed(trust: dict[str, Any], target: float) -> dict[str, Any] | None:
    return next((s for s in trust.get("slowed", []) if abs(s["target"] - target) < 1e-9), None)


def _mish_target(results: dict[str, Any]) -> Target:
    name = f"tuner's Mish result within {MISH_SWEEP_MAX:.0%} of the sweep's best pair"
    tune = _ok_result(results, "tune:conv_mish_bn")
    sweep = _ok_result(results, "sweep:conv_mish_bn")
    quoted = results.get("quoted", {}).get("mish_sweep")
    if tune is not None:
        # The search's pick is what the target grades; the A/B decision after it is reported beside it (a
        # REVERT means the whole forward gained less than the threshold, e.g. when the kernel is a small share).
        kernel_winner = next(iter(tune.get("winners", {}).values()), None)
        original = next((c["config"] for c in tune.get("configs", []) if c.get("original")), None)
        label = kernel_winner or original
        who = (f"this run's tuner picked {pair_key(label) if label else '?'}, then {tune['decision']}"
               + (f" ({tune.get('reason', '')})" if tune["decision"] != "KEEP" and tune.get("reason") else ""))
    elif quoted:
        label, who = quoted["tuner_winner"], f"quoted tuner pick ({pair_key(quoted['tuner_winner'])})"
    else:
        return Target(name, "-", None, "no tuner run and no quoted sweep")
    key = pair_key(label) if label else None
    if sweep is not None and sweep.get("median_ms"):
        med = {k: v for k, v in sweep["median_ms"].items() if not k.startswith("original")}
        source = f"sweep in this run ({len(med)} pairs, best {sweep['best_pair']} {sweep['best_ms']:.4f} ms)"
        twice = [v for k, v in sweep["median_ms"].items() if k.startswith("original")]
        if twice and original and pair_key(original) in med:  # the same pair timed twice: the sweep's own noise
            source += (f"; the sweep timed {pair_key(original)} twice: {twice[0]:.4f} and "
                       f"{med[pair_key(original)]:.4f} ms")
        best = sweep["best_ms"]
    elif quoted:
        med, best = quoted["median_ms"], quoted["best_ms"]
        source = f"quoted sweep (best {quoted['best_pair']} {best:.4f} ms, {quoted['device']})"
    else:
        return Target(name, "-", None, "no sweep in this run and none quoted")
    if key is None or key not in med:
        return Target(name, "-", None, f"{who}: pair {key} not in the {source}")
    gap = med[key] / best - 1
    return Target(name, f"+{gap:.2%} ({key} {med[key]:.4f} ms)", gap <= MISH_SWEEP_MAX, f"{who} vs {source}")


def targets(results: dict[str, Any]) -> list[Target]:
    out = []
    trust = _trust(results)
    aa = _get(trust, "aa", "summary") if trust else None
    if aa and aa.get("n"):
        out.append(Target(f"A/A false \"faster\" <= {AA_MAX_FALSE_FASTER:.0%}",
                          f"{aa['said_faster']}/{aa['n']} ({aa['rate']:.0%})", aa["rate"] <= AA_MAX_FALSE_FASTER))
    else:
        out.append(Target(f"A/A false \"faster\" <= {AA_MAX_FALSE_FASTER:.0%}", "-", None, "trust test not run"))
    s5 = _slowed(trust, 0.05) if trust else None
    if s5 and s5["summary"].get("n"):
        sm = s5["summary"]
        out.append(Target(f"5% slowdown detected >= {DETECT_5PCT_MIN:.0%}",
                          f"{sm['said_faster']}/{sm['n']} ({sm['rate']:.0%}), measured slowdown "
                          f"{s5['measured_slowdown']:.1%}", sm["rate"] >= DETECT_5PCT_MIN))
    else:
        out.append(Target(f"5% slowdown detected >= {DETECT_5PCT_MIN:.0%}", "-", None, "trust test not run"))
    elu = next((r for r in quality_rows(results) if r.example == "elu"), None)
    name = f"seed ELU best within {ELU_FLOOR_MAX:.0%} of its floor"
    ratio = ratio_to_floor(elu.best_ms, elu.floor) if elu else None
    if elu is None or ratio is None:
        out.append(Target(name, "-", None, "ELU not measured" if elu is None else f"ELU evaluation {elu.status}"))
    elif not elu.full_size:
        out.append(Target(name, f"{ratio:.3f}x", None, f"measured at {elu.size}, not the full 4096x393216"))
    else:
        assert elu.floor is not None and elu.best_ms is not None
        out.append(Target(name, f"{ratio:.3f}x ({elu.best_ms:.4f} ms vs floor {elu.floor.ms:.4f} ms)",
                          ratio - 1 <= ELU_FLOOR_MAX))
    out.append(_mish_target(results))
    return out


# ---------------------------------------------------------------------------------------------------------
# Markdown


def _cell(ms: float | None, floor: Floor | None) -> str:
    if ms is None:
        return "-"
    r = ratio_to_floor(ms, floor)
    return f"{ms:.4g}" + (f" ({r:.2f}x)" if r is not None else "")


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x:.1%}"


def _environment_md(results: dict[str, Any]) -> list[str]:
    env = results.get("env") or {}
    c = results.get("ceilings") or {}
    lines = ["## Environment", "",
             f"- GPU: {env.get('gpu', '?')} ({env.get('sm_count', '?')} SMs, compute capability "
             f"{env.get('compute_capability', '?')}, {env.get('total_memory_mib', '?')} MiB), driver "
             f"{env.get('driver', '?')}, CUDA {env.get('cuda', '?')}",
             f"- torch {env.get('torch', '?')}, triton {env.get('triton', '?')}, Python {env.get('python', '?')}, "
             f"{env.get('platform', '?')}"]
    if c:
        copy = c["copy"]
        rates = ", ".join(f"{d} {r['median'] / 1e12:.1f} TFLOP/s" for d, r in c.get("matmul", {}).items())
        lines.append(f"- ceilings measured in this run: copy {copy['median'] / 1e12:.3f} TB/s read+write "
                     f"(median of {copy['reps']}, best {copy['best'] / 1e12:.3f}; {copy['size']}); matmul {rates} "
                     "(8192^3, fp32 without TF32)")
    parts = results.get("parts") or []
    wall = (f"wall {sum(p.get('wall_s') or 0 for p in parts):.0f} s over {len(parts)} parts" if parts else
            f"wall {results.get('wall_s', 0):.0f} s")
    lines += [f"- mode `{results.get('mode')}`, sections {', '.join(results.get('sections', []))}, "
              f"{wall}, each part within a {results.get('budget_s') or 'unbounded'} s budget"]
    for i, part in enumerate(results.get("parts") or [], start=1):  # a suite finished over several commands
        lines.append(f"- part {i}: `{part.get('command')}`" + (f", {part['wall_s']:.0f} s" if part.get("wall_s") else "")
                     + (" (jobs it finished are kept; later parts run the rest)" if i == 1 else ""))
    lines.append("")
    return lines


def quality_md(results: dict[str, Any]) -> list[str]:
    rows = quality_rows(results)
    lines = ["## Kernel quality", "",
             "Median ms (ratio to the speed-of-light floor). Floor: bytes the task must move (inputs, weights "
             "read once; outputs written once) over the copy bandwidth, or FLOPs over the matmul rate of its "
             "dtype, whichever is longer.", "",
             "| example | size | floor ms (bound) | eager | torch.compile | compile max-autotune | candidate "
             "| tuner (advanced_memory) | best vs floor |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        fl = f"{r.floor.ms:.4g} ({r.floor.limit})" if r.floor else "-"
        best = ratio_to_floor(r.best_ms, r.floor)
        tuned = _cell(r.tuned_ms, r.floor) + (f" {r.tune_note}" if r.tune_note else "")
        status = "" if r.status == "ok" else f" ({r.status})"
        lines.append(f"| {r.example}{status} | {r.size} | {fl} | {_cell(r.eager_ms, r.floor)} | "
                     f"{_cell(r.compile_ms, r.floor)} | {_cell(r.compile_max_ms, r.floor)} | "
                     f"{_cell(r.candidate_ms, r.floor)} | {tuned} | {f'{best:.2f}x' if best else '-'} |")
    if not results.get("max_autotune"):
        lines.append("")
        lines.append("max-autotune not run (pass `--max-autotune`, or `--full`).")
    elif any(r.compile_max_ms and r.compile_ms and r.compile_max_ms > 1.3 * r.compile_ms for r in rows):
        lines.append("")
        lines.append("compile max-autotune also turns on CUDA graphs; a graph replays on its own input buffers, "
                     "so a call with the caller's tensors first copies them in. On memory-bound tasks that extra "
                     "read and write of the inputs is what makes it slower than the default mode here (ELU: about "
                     "2x, one more pass over 6.4 GB).")
    return [*lines, ""]


def trust_md(results: dict[str, Any]) -> list[str]:
    trust = _trust(results)
    job = _job(results, "trust")
    lines = ["## Measurement trust", ""]
    if trust is None:
        why = "not run" if job is None else f"{job.get('status')}: {job.get('reason', '')}"
        return [*lines, f"Not measured ({why}).", ""]
    cfg = trust["config"]
    lines += [f"Task `{job['example']}` ({_size(job.get('overrides', {}))}); each decision: {trust['rounds']} "
              f"interleaved rounds, threshold {trust['threshold']:.0%}; per round warm-up {cfg['warmup_ms']:g} ms, "
              f"run budget {cfg['budget_ms'] / 5:g} ms, at least {max(10, int(cfg['min_runs']) // 5)} runs.", "",
              "| test | decisions | said \"faster\" | rate | measured slowdown (median) | extra read |",
              "|---|---|---|---|---|---|"]
    aa = trust["aa"]["summary"]
    lines.append(f"| A/A (same kernel twice) | {aa['n']} | {aa['said_faster']} | {_pct(aa['rate'])} | "
                 f"{_pct(1 - aa['speedup_median']) if aa.get('speedup_median') else '-'} | - |")
    for s in trust.get("slowed", []):
        sm = s["summary"]
        missed = s["measured_slowdown"] is not None and abs(s["measured_slowdown"] - s["target"]) > CALIBRATION_MISS
        label = f"slowed {s['target']:.0%} on purpose" + (" (calibration missed)" if missed else "")
        lines.append(f"| {label} | {sm['n']} | {sm['said_faster']} | {_pct(sm['rate'])} | "
                     f"{_pct(s['measured_slowdown'])} | {s['fraction']:.3f} x input |")
    sp = trust.get("spread", {})
    pd = sp.get("per_decision", {})
    if pd.get("n", 0) >= 2:
        lines += ["", f"Spread of repeated medians (A side of {pd['n']} A/A decisions, {pd['median_ms']:.4g} ms): "
                      f"range {pd['rel_range']:.2%}, IQR {pd['rel_iqr']:.2%}, CV {pd['cv']:.2%}."]
    rr = sp.get("round_ratio")
    if rr:
        lines.append(f"Per-round A/A time ratios ({rr['n']}): {rr['min']:.4f} .. {rr['max']:.4f}, "
                     f"IQR {rr['rel_iqr']:.2%}.")
    cal = trust.get("calibration", [])
    if cal:
        last = cal[-1]
        lines.append("Calibration (timed evaluation, " + f"{len(cal)} step(s)): " + ", ".join(
            f"{f:.3f} x input -> {m:+.1%}" for f, m in zip(last["fractions"], last["measured"], strict=True)) + ".")
    return [*lines, ""]


def _steps(d: dict[str, float]) -> str:
    keep = [k for k in d if "." not in k]  # top-level steps; the dotted ones are their parts
    return ", ".join(f"{k} {d[k]:.1f}" for k in keep)


def cost_rows(results: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for name, what in (("eval:elu", "one evaluation (ELU)"), ("tune:elu", "one tuner run (ELU, advanced_memory)"),
                       ("profile:elu", "one ncu profile (ELU)"), ("optimize:elu", "optimize ELU, no LLM"),
                       ("optimize:conv_mish_bn", "optimize conv_mish_bn, no LLM")):
        job = _job(results, name)
        if job is None:
            continue
        res = job.get("result") or {}
        if job["status"] != "ok":
            inside = "-"
        elif job["kind"] == "quality_eval":
            ev = res.get("eval") or {}
            inside = f"harness {ev.get('wall_s', 0):.1f} s: {_steps(ev.get('step_seconds', {}))}"
        elif job["kind"] == "quality_tune":
            inside = (f"tuner {res.get('wall_s', 0):.1f} s, {len(res.get('configs', []))} configs, "
                      f"{res.get('decision', '?')}")
        elif job["kind"] == "profile":
            inside = f"ncu {res.get('wall_s', 0):.1f} s, {res.get('profile_status', '?')}"
        else:
            inside = f"exit {job.get('rc')}"
        rows.append({"step": what, "size": _size(job.get("overrides", {})), "status": job["status"],
                     "wall_s": job.get("wall_s"), "inside": inside, "rss": job.get("peak_rss_mib"),
                     "gpu": job.get("gpu_peak_mib"), "reason": job.get("reason", "")})
    return rows


def cost_md(results: dict[str, Any]) -> list[str]:
    lines = ["## Cost of the tool", "",
             "Wall time of the whole job process (Python start included); peak host RSS of the job or any process "
             "it waited for (wait4); peak GPU memory from nvidia-smi polled every 200 ms, minus the memory in use "
             "when the job started.", "",
             "| step | size | wall s | inside | peak host RSS MiB | peak GPU MiB |", "|---|---|---|---|---|---|"]
    for r in cost_rows(results):
        wall = f"{r['wall_s']:.1f}" if r["status"] == "ok" else r["status"]
        lines.append(f"| {r['step']} | {r['size']} | {wall} | {r['inside']} | "
                     f"{r['rss'] if r['rss'] is not None else '-'} | {r['gpu'] if r['gpu'] is not None else '-'} |")
    return [*lines, ""]


def targets_md(results: dict[str, Any]) -> list[str]:
    lines = ["## Targets (issue 9)", "", "| target | measured | verdict | note |", "|---|---|---|---|"]
    lines += [f"| {t.name} | {t.measured} | {t.verdict} | {t.note} |" for t in targets(results)]
    return [*lines, ""]


def jobs_md(results: dict[str, Any]) -> list[str]:
    lines = ["## Jobs", "", "| job | status | wall s | reason |", "|---|---|---|---|"]
    for name, j in results.get("jobs", {}).items():
        wall = f"{j['wall_s']:.1f}" if j.get("wall_s") is not None else "-"
        lines.append(f"| {name} | {j['status']} | {wall} | {str(j.get('reason', '')).replace('|', '/')[:200]} |")
    return [*lines, ""]


def render_markdown(results: dict[str, Any]) -> str:
    env = results.get("env") or {}
    head = [f"# tritonwright benchmark: {env.get('gpu', 'unknown GPU')}, {results.get('date')}", "",
            f"Reproduce: `{results.get('command', 'PYTHONPATH=src python3 bench/run.py')}`", ""]
    body = (_environment_md(results) + targets_md(results) + quality_md(results) + trust_md(results)
            + cost_md(results) + jobs_md(results))
    return "\n".join(head + body)


# ---------------------------------------------------------------------------------------------------------
# Plot


SERIES = (("eager", "eager_ms"), ("torch.compile", "compile_ms"), ("compile max-autotune", "compile_max_ms"),
          ("candidate", "candidate_ms"), ("tuner", "tuned_ms"))


def plot_quality(results: dict[str, Any], path: Path) -> None:
    """Horizontal bars: each example's times as a ratio to its floor (1.0 = speed of light)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in quality_rows(results) if r.floor is not None]
    fig, ax = plt.subplots(figsize=(9, 1.2 + 1.1 * max(1, len(rows))), dpi=120)
    if not rows:
        ax.text(0.5, 0.5, "no kernel-quality figures in these results", ha="center", va="center")
        ax.set_axis_off()
    else:
        height = 0.8 / len(SERIES)
        for i, (label, attr) in enumerate(SERIES):
            ys, xs = [], []
            for j, r in enumerate(rows):
                ratio = ratio_to_floor(getattr(r, attr), r.floor)
                if ratio is not None:
                    ys.append(j + (i - (len(SERIES) - 1) / 2) * height)
                    xs.append(ratio)
            if xs:
                ax.barh(ys, xs, height=height, label=label)
        ax.axvline(1.0, color="black", linewidth=1, linestyle="--")
        ax.set_yticks(range(len(rows)), [f"{r.example}\n({r.floor.limit if r.floor else ''} bound)" for r in rows])
        ax.invert_yaxis()
        ax.set_xscale("log")
        from matplotlib.ticker import FormatStrFormatter

        ax.xaxis.set_major_formatter(FormatStrFormatter("%.2g"))
        ax.xaxis.set_minor_formatter(FormatStrFormatter("%.2g"))
        ax.set_xlabel("time / speed-of-light floor (log scale; 1 = floor)")
        ax.legend(fontsize=8, loc="lower right")
        env = results.get("env") or {}
        ax.set_title(f"Kernel quality on {env.get('gpu', '?')} ({results.get('date')})")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
