"""Failure text an LLM (and a user) can act on.

An exception raised while the candidate runs is reported as the candidate's part only: the frames in the
candidate's own file (shown as `candidate.py`), Triton's CompilationError message with its source excerpt,
and the final exception line; never the judge's frames, temp paths or internal names. The full traceback
is kept apart (`full_traceback`) for the run store.

A small table keyed by Triton version adds a hint when the error names an API the installed Triton lacks or
renamed (block pointers, `tl.math` / `tl.libdevice` names, ...).

    describe_exception(exc) -> str         # trimmed text for EvalResult.reason and repair prompts
    full_traceback(exc) -> str             # everything, for EvalResult.detail
    api_hints(text, version=None) -> list  # "hint: ..." lines for an error text
    headline(reason) -> str                # the exception line of a reason (not a hint)
"""

from __future__ import annotations

import importlib
import linecache
import os
import re
import sysconfig
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

CANDIDATE_FILE = "candidate.py"
_CANDIDATE_MODULE = "tritonwright_candidate"  # eval.loading imports candidates as tritonwright_candidate_<label>
_REFERENCE_MODULE = "tritonwright_reference"  # task.exec_task_module's name: the user's own task file
_MAX_FRAMES = 8  # a candidate's launch path is a few calls deep; more than this is recursion
_MAX_CHARS = 4000  # as the worker's old tail: the compile message and the last frames fit, a prompt stays short
_FULL_CHARS = 20_000  # a deep chained Triton traceback is ~10 kB; bounds one run-store row
_MAX_CHAIN = 8  # exceptions followed through __cause__/__context__; real chains are 2-3 long

# Temp files and folders the harness writes (tempfile prefixes "tritonwright-eval-", "tritonwright-ab-", ...).
_TEMP_PY = re.compile(r"""[^\s"'()<>,]*?tritonwright-[\w.-]+[/\\](?:[^\s"'()<>,/\\]+[/\\])*[^\s"'()<>,/\\]+\.py""")
_TEMP_DIR = re.compile(r"""[^\s"'()<>,]*?[/\\]tritonwright-[\w.-]+(?=[/\\\s"'),]|$)""")
_INTERNAL_NAMES = (
    (re.compile(r"(?:tritonwright\.eval\.hooks\.)?_wrap_run\.<locals>\.run\(\)"), "the kernel launch"),
    (re.compile(r"\btritonwright_candidate_\w+"), "candidate"),
)
_AUTOTUNE_CONFLICT = re.compile(r"got multiple values for keyword argument '(\w+)'")
# Triton's argument binder (runtime/jit.py builds `dynamic_func` from the kernel's signature; the interpreter
# binds with inspect.getcallargs under the kernel's own name): a launch that gives an argument twice.
_DUPLICATE_ARG = re.compile(r"(\w+)\(\) got multiple values for argument '(\w+)'")


def scrub(text: str) -> str:
    """Temp paths become `candidate.py` (or `<tmp>`), the harness's internal names plain words."""
    text = _TEMP_PY.sub(CANDIDATE_FILE, text)
    text = _TEMP_DIR.sub("<tmp>", text)
    for pattern, repl in _INTERNAL_NAMES:
        text = pattern.sub(repl, text)
    return text


def full_traceback(exc: BaseException) -> str:
    """The whole traceback, untouched (run store only)."""
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return text[-_FULL_CHARS:]


_POINTERS = ("(in the message above)", "(see the message above)")  # describe_exception's final line after a
# Triton CompilationError whose message (source excerpt, caret, error) is already printed above it


def headline(reason: str) -> str:
    """The last line of a reason that is not a hint: the exception line, for one-line summaries. After a Triton
    compilation error that line only points up ("ValueError (in the message above)"), so the error line it
    points to (the one before) is taken, with the exception's type named."""
    lines = [ln for ln in reason.strip().splitlines() if ln.strip() and not ln.startswith("hint: ")]
    if len(lines) >= 2 and lines[-1].endswith(_POINTERS):
        kind = lines[-1].split(" (", 1)[0]
        above = lines[-2].strip()
        return above if above.startswith(kind) else f"{kind}: {above}"
    return lines[-1] if lines else ""


# ---------------------------------------------------------------------------------------------------------
# Trimming


@dataclass(frozen=True)
class _Frame:
    file: str
    line: int
    func: str
    code: str


def _chain(exc: BaseException) -> list[BaseException]:
    """The exception and its causes, outermost first."""
    out: list[BaseException] = []
    e: BaseException | None = exc
    while e is not None and len(out) < _MAX_CHAIN and all(e is not x for x in out):
        out.append(e)
        e = e.__cause__ if e.__cause__ is not None else (None if e.__suppress_context__ else e.__context__)
    return out


def _user_file(module: str, filename: str) -> str | None:
    """How a frame's file is shown, or None for library and harness frames."""
    if module.startswith(_CANDIDATE_MODULE):
        return CANDIDATE_FILE
    if module == _REFERENCE_MODULE:
        return scrub(filename)
    return None


def _frames(tb: TracebackType | None) -> list[_Frame]:
    out = []
    for frame, lineno in traceback.walk_tb(tb):
        shown = _user_file(str(frame.f_globals.get("__name__", "")), frame.f_code.co_filename)
        if shown is not None:
            code = linecache.getline(frame.f_code.co_filename, lineno).strip()
            out.append(_Frame(shown, lineno, frame.f_code.co_name, code))
    return out


def _last_frame_file(tb: TracebackType | None) -> tuple[str, str] | None:
    """(module name, file) of the innermost frame of a traceback."""
    last = None
    for frame, _ in traceback.walk_tb(tb):
        last = (str(frame.f_globals.get("__name__", "")), frame.f_code.co_filename)
    return last


def _library(module: str, filename: str) -> str:
    """Which library a non-candidate frame belongs to, in words (never a path)."""
    top = module.split(".")[0]
    if top == "tritonwright":
        return "the evaluation harness"
    if top in {"torch", "triton", "numpy"}:
        return top
    stdlib = sysconfig.get_paths().get("stdlib", "")
    if stdlib and filename.startswith(stdlib) and "site-packages" not in filename:
        return "Python's standard library"
    return top or Path(filename).name


def _is_wrapper(e: BaseException) -> bool:
    """An exception that only repeats its cause (Triton's interpreter wraps every kernel error)."""
    cause = e.__cause__
    if cause is None:
        return False
    names = {c.__name__ for c in type(e).__mro__}
    return "InterpreterError" in names or str(e).strip() in {repr(cause), str(cause)}


def _is_compilation_error(e: BaseException) -> bool:
    return any(c.__name__ == "CompilationError" for c in type(e).__mro__)


def _exception_line(e: BaseException) -> str:
    if isinstance(e, SyntaxError):
        return "".join(traceback.format_exception_only(type(e), e)).rstrip()
    msg = str(e)
    return f"{type(e).__name__}: {msg}" if msg else type(e).__name__


def _unhelpful(e: BaseException) -> bool:
    msg = str(e).strip()
    return isinstance(e, KeyError) or msg in {"", "''", '""', "None"}


def _where(e: BaseException, frames: list[_Frame]) -> str:
    """Where an exception arose, relative to the candidate's code."""
    own = _frames(e.__traceback__)
    at = own[-1] if own else (frames[-1] if frames else None)
    last = _last_frame_file(e.__traceback__)
    lib = _library(*last) if last is not None and _user_file(*last) is None else None
    if at is None:
        return f"raised inside {lib}, not in {CANDIDATE_FILE}" if lib else f"raised outside {CANDIDATE_FILE}"
    code = f": `{at.code}`" if at.code else ""
    via = f"inside {lib}, called " if lib else ""
    return f"raised {via}at {at.file}, line {at.line}, in {at.func}{code}"


def _explain(e: BaseException, frames: list[_Frame]) -> str:
    """The final line, with words added where the exception alone says too little."""
    line = _exception_line(e)
    m = _AUTOTUNE_CONFLICT.search(str(e))
    if isinstance(e, TypeError) and m and ("_wrap_run" in str(e) or _raised_in_autotuner(e)):
        name = m.group(1)
        # What Triton's Autotuner says on a GPU (runtime/autotuner.py, _bench); the CPU path skips that check.
        return (f"ValueError: Conflicting meta-parameters: {name}. Make sure that you don't re-define auto-tuned "
                f"symbols. ({name} is given at the kernel launch and also set by the @triton.autotune configs: "
                f"remove {name}=... from the launch; the autotuner supplies it.)")
    d = _DUPLICATE_ARG.search(str(e))
    if isinstance(e, TypeError) and d and _raised_in_triton_launch(e):
        fn, name = d.group(1), d.group(2)
        shown = "the kernel launch" if fn == "dynamic_func" else f"the launch of {fn}"
        return (f"TypeError: {shown} got multiple values for argument '{name}' ({name} is passed both by "
                f"position and as {name}=...: pass it once)")
    if _unhelpful(e):
        kind = type(e).__name__
        what = {"KeyError": f"key {str(e).strip() or repr('')} not found in a dict lookup",
                "AssertionError": "an assert failed (no message)"}.get(kind, "no message")
        return f"{kind}: {str(e).strip() or '(empty)'} ({what}; {_where(e, frames)})"
    return line


def _raised_in_triton_launch(e: BaseException) -> bool:
    """The exception came out of Triton's launch path (its JIT binder, interpreter or autotuner)."""
    return any(str(f.f_globals.get("__name__", "")).startswith("triton.runtime")
               for f, _ in traceback.walk_tb(e.__traceback__)) or "dynamic_func()" in str(e)


def _raised_in_autotuner(e: BaseException) -> bool:
    last = _last_frame_file(e.__traceback__)
    return last is not None and last[0].startswith("triton.runtime.autotuner")


def describe_exception(exc: BaseException) -> str:
    """The candidate's part of an exception: its frames, Triton's compile message, the final line, hints."""
    chain = _chain(exc)
    frames: list[_Frame] = []
    for e in chain:  # outer exceptions hold the call path; their causes hold the deeper frames
        for f in _frames(e.__traceback__):
            if not frames or frames[-1] != f:
                frames.append(f)
    frames = frames[-_MAX_FRAMES:]
    compile_msgs: list[str] = []
    for e in chain:
        if _is_compilation_error(e):
            msg = str(e).strip()
            if msg and all(msg not in m for m in compile_msgs):
                compile_msgs.append(msg)
    root = chain[0]
    while _is_wrapper(root) and root.__cause__ is not None and root.__cause__ in chain:
        root = root.__cause__
    if _is_compilation_error(root):  # its message is shown below; the line names its cause when there is one
        causes = [e for e in chain[chain.index(root) + 1:] if not _is_compilation_error(e)]
        final = _explain(causes[0], frames) if causes else "CompilationError (see the message above)"
        if causes and any(str(causes[0]) in m for m in compile_msgs):
            final = f"{type(causes[0]).__name__} (in the message above)"
    else:
        final = _explain(root, frames)
    parts = []
    if frames:
        parts.append("Traceback (candidate.py frames only):")
        for f in frames:
            parts.append(f'  File "{f.file}", line {f.line}, in {f.func}')
            if f.code:
                parts.append(f"    {f.code}")
    for m in compile_msgs:
        parts.append(f"CompilationError: {m}")
    parts.append(final)
    text = scrub("\n".join(parts))
    hints = api_hints(text + "\n" + "\n".join(str(e) for e in chain))
    text += "".join(f"\n{h}" for h in hints)
    if len(text) > _MAX_CHARS:  # keep the end: the final line and hints matter most
        text = "...\n" + text[-_MAX_CHARS:]
    return text


# ---------------------------------------------------------------------------------------------------------
# Version hints


def _version_tuple(v: str) -> tuple[int, ...]:
    nums = re.findall(r"\d+", v.split("+")[0])[:3]
    return tuple(int(n) for n in nums) or (0,)


def installed_triton() -> str | None:
    try:
        import triton
    except Exception:  # no Triton here (a parent process): hints fall back to plain words
        return None
    return str(triton.__version__)


def _libdevice_module() -> tuple[str, object] | None:
    """The libdevice import path this Triton has: backend-neutral first, then the CUDA one."""
    for path in ("triton.language.extra.libdevice", "triton.language.extra.cuda.libdevice"):
        try:
            return path, importlib.import_module(path)
        except Exception:  # missing in this version, or needs a GPU driver to import
            continue
    return None


def _where_is(name: str) -> str | None:
    """Where the installed Triton offers a function `name`: tl.<name>, tl.math.<name> or libdevice.<name>."""
    try:
        import triton.language as tl
    except Exception:  # no Triton here
        return None
    if callable(getattr(tl, name, None)):
        return f"tl.{name}"
    if callable(getattr(getattr(tl, "math", None), name, None)):
        return f"tl.math.{name}"
    found = _libdevice_module()
    if found and callable(getattr(found[1], name, None)):
        parent, _, mod = found[0].rpartition(".")
        return f"libdevice.{name} (`from {parent} import {mod}`)"
    return None


_TANH = ("; on Triton's CPU interpreter, which cannot run libdevice calls, tanh(x) = 2*tl.sigmoid(2*x) - 1 "
         "works everywhere")


def _hint_block_ptr(m: re.Match[str], version: str) -> str | None:
    return (f"hint: Triton {version} has no block pointers (tl.make_block_ptr / tl.advance were deprecated in 3.8 "
            "and removed in 3.9). Use plain pointer arithmetic with masks: rows = pid_m * BLOCK_M + "
            "tl.arange(0, BLOCK_M); cols = pid_n * BLOCK_N + tl.arange(0, BLOCK_N); tl.load(base + rows[:, None] * "
            "stride_0 + cols[None, :] * stride_1, mask=(rows[:, None] < M) & (cols[None, :] < N), other=0.0); "
            "advance by adding BLOCK_K * stride to the pointers (or tl.make_tensor_descriptor, whose device-side "
            "descriptors need triton.set_allocator).")


def _hint_missing_name(m: re.Match[str], version: str) -> str | None:
    owner, name = m.group(1), m.group(2)
    if owner == "triton.language" and name == "libdevice":
        where = _libdevice_module()
        path = where[0] if where else "triton.language.extra.libdevice"
        parent, _, mod = path.rpartition(".")
        return (f"hint: tl.libdevice was Triton 2.0's; its functions moved to tl.math in 2.1 and to libdevice "
                f"in 3.0: in Triton {version} write `from {parent} import {mod}` and call {mod}.<name>(x).")
    found = _where_is(name)
    shown = "tl" if owner == "triton.language" else "tl.math" if owner == "triton.language.math" else owner
    if found is None:
        return f"hint: {shown}.{name} does not exist in Triton {version}."
    moved = " (libdevice functions left tl.math in Triton 3.0)" if owner == "triton.language.math" else ""
    return (f"hint: {shown}.{name} does not exist in Triton {version}{moved}: use {found}"
            f"{_TANH if name == 'tanh' else ''}.")


def _hint_no_module(m: re.Match[str], version: str) -> str | None:
    found = _libdevice_module()
    if found is None:
        return None
    parent, _, mod = found[0].rpartition(".")
    return f"hint: Triton {version} has no {m.group(1)}: write `from {parent} import {mod}`."


def _hint_input_precision(m: re.Match[str], version: str) -> str | None:
    return (f"hint: tl.dot in Triton {version} has no input_precision (added in 3.0): use allow_tf32=False for "
            "full fp32 precision.")


def _hint_allocator(m: re.Match[str], version: str) -> str | None:
    return ("hint: device-side tensor descriptors need scratch memory: before the launch call "
            "triton.set_allocator(lambda size, alignment, stream: torch.empty(size, dtype=torch.int8, "
            "device='cuda')).")


def _hint_interpreter_libdevice(m: re.Match[str], version: str) -> str | None:
    return (f"hint: Triton {version}'s CPU interpreter returns nothing for libdevice calls (a GPU runs them); "
            "for a check on CPU use tl functions, e.g. tanh(x) = 2*tl.sigmoid(2*x) - 1.")


def _hint_cuda_on_cpu(m: re.Match[str], version: str) -> str | None:
    if os.environ.get("TRITON_INTERPRET") != "1":  # on a GPU the message means what it says
        return None
    return ("hint: this evaluation runs on a CPU (--device cpu: Triton's interpreter on CPU tensors), so code that "
            "requires CUDA tensors or allocates on 'cuda' fails here; allocate on the inputs' device "
            "(torch.empty_like(x), device=x.device), or evaluate on a GPU.")


@dataclass(frozen=True)
class ApiChange:
    """One entry of the version table: an error text pattern, the Triton versions it applies to, a hint."""

    pattern: re.Pattern[str]
    since: str  # first Triton version the hint applies to ("0" when any)
    until: str | None  # first version it no longer applies to (None: still current)
    hint: Callable[[re.Match[str], str], str | None]


API_CHANGES: tuple[ApiChange, ...] = (
    # Block pointers: working in 3.6.0, a deprecation warning in 3.8.0 ("tl.make_block_ptr is deprecated"),
    # a stub raising NotImplementedError("Block pointers have been removed ...") in 3.9.0 (both wheels read;
    # triton-lang/triton#9667 added the warning).
    ApiChange(re.compile(r"make_block_ptr|\btl\.advance\b|Block pointers have been removed"), "3.9", None,
              _hint_block_ptr),
    # tl.libdevice (2.0) -> tl.math (2.1: openai/triton#1361/#1368, bitsandbytes#909) -> libdevice modules
    # under triton.language.extra (3.0: triton-lang/triton#4938, linkedin/Liger-Kernel#24). The name is looked
    # up in the installed Triton, so the advice always names a path that exists.
    ApiChange(re.compile(r"module '(triton\.language(?:\.math)?)' has no attribute '(\w+)'"), "0", None,
              _hint_missing_name),
    ApiChange(re.compile(r"No module named '(triton\.language\.extra(?:\.cuda)?\.libdevice)'"), "0", None,
              _hint_no_module),
    # input_precision= arrived with the 3xTF32 work (triton-lang/triton#3234, March 2024, in 3.0).
    ApiChange(re.compile(r"unexpected keyword argument 'input_precision'"), "0", "3.0", _hint_input_precision),
    # Message of triton/runtime/_allocation.py NullAllocator (read in 3.9.0).
    ApiChange(re.compile(r"no allocator was set"), "3.0", None, _hint_allocator),
    # Seen on 3.9.0: libdevice.tanh under TRITON_INTERPRET=1 returns None, the next op fails on it.
    ApiChange(re.compile(r"libdevice[\s\S]*cannot convert None|cannot convert None[\s\S]*libdevice"), "0", None,
              _hint_interpreter_libdevice),
    # CPU mode with candidates written for a GPU (seen on the replay corpus: `assert x.is_cuda, "Input must be on
    # CUDA ..."`; `device='cuda'` on a CPU-only torch says "Torch not compiled with CUDA enabled").
    ApiChange(re.compile(r"is_cuda|on CUDA|CUDA tensor|not compiled with CUDA|no CUDA GPUs|Found no NVIDIA driver",
                         re.IGNORECASE), "0", None, _hint_cuda_on_cpu),
)


def api_hints(text: str, version: str | None = None) -> list[str]:
    """Hints for APIs that the given (default: installed) Triton lacks or renamed, as the error text names."""
    version = version or installed_triton()
    if version is None:
        return []
    v = _version_tuple(version)
    out: list[str] = []
    for change in API_CHANGES:
        if v < _version_tuple(change.since) or (change.until is not None and v >= _version_tuple(change.until)):
            continue
        m = change.pattern.search(text)
        if m is None:
            continue
        hint = change.hint(m, version)
        if hint and hint not in out:
            out.append(hint)
    return out
