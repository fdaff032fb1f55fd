"""Candidate sources and their static integrity checks (AST, never regex).

Each rule carries its one-line rationale; a candidate that breaks one is REJECTED before it runs.
"""

from __future__ import annotations

import ast
import hashlib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tritonwright.errors import CandidateError


@dataclass(frozen=True)
class Candidate:
    """One version of the user's or the LLM's code."""

    source: str
    origin: str = "user"  # seed | repair | stage:<name> | tune | user
    parent: str | None = None
    path: str | None = None

    @property
    def id(self) -> str:
        return hashlib.sha256(self.source.encode()).hexdigest()[:12]


def read_candidate(path: str | Path) -> Candidate:
    p = Path(path)
    if not p.is_file():
        raise CandidateError(f"{p}: candidate file not found")
    try:
        return Candidate(source=p.read_text(encoding="utf-8"), path=str(p))
    except (OSError, UnicodeDecodeError) as exc:
        raise CandidateError(f"{p}: cannot read candidate file: {exc}") from None


@dataclass(frozen=True)
class Violation:
    rule: str
    line: int
    message: str
    rationale: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message} [{self.rule}: {self.rationale}]"


# ---------------------------------------------------------------------------------------------------------
# Facts about the module that several rules need.


@dataclass
class ModuleFacts:
    tree: ast.Module
    aliases: dict[str, str] = field(default_factory=dict)  # local name -> dotted module/object it refers to
    kernels: dict[str, ast.FunctionDef] = field(default_factory=dict)  # @triton.jit functions
    functions: dict[str, ast.FunctionDef] = field(default_factory=dict)  # all module-level functions
    classes: dict[str, ast.ClassDef] = field(default_factory=dict)

    def resolve(self, node: ast.AST) -> str | None:
        """Dotted name of an expression like `tl.load` -> `triton.language.load`, via import aliases."""
        parts: list[str] = []
        while isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        if not isinstance(node, ast.Name):
            return None
        base = self.aliases.get(node.id, node.id)
        return ".".join([base, *reversed(parts)])


def _decorator_names(facts: ModuleFacts, fn: ast.FunctionDef) -> list[str]:
    names = []
    for dec in fn.decorator_list:
        target = dec.func if isinstance(dec, ast.Call) else dec
        names.append(facts.resolve(target) or "")
    return names


def is_jit_decorator(dotted: str) -> bool:
    return dotted in {"triton.jit", "triton.runtime.jit.jit", "triton.runtime.jit"}


def module_facts(tree: ast.Module) -> ModuleFacts:
    facts = ModuleFacts(tree=tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.asname:  # import torch.nn.functional as F -> F means torch.nn.functional
                    facts.aliases[a.asname] = a.name
                else:  # import os.path -> the name bound is os
                    root = a.name.split(".")[0]
                    facts.aliases[root] = root
        elif isinstance(node, ast.ImportFrom) and node.module:
            for a in node.names:
                facts.aliases[a.asname or a.name] = f"{node.module}.{a.name}"
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            facts.functions[node.name] = node
            if any(is_jit_decorator(d) for d in _decorator_names(facts, node)):
                facts.kernels[node.name] = node
        elif isinstance(node, ast.ClassDef):
            facts.classes[node.name] = node
    return facts


def triton_kernel_names(source: str) -> list[str]:
    """Names of the module-level @triton.jit functions, in source order (these are the GPU kernel names)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    return list(module_facts(tree).kernels)


def _launches_kernel(facts: ModuleFacts, node: ast.AST) -> bool:
    """`kernel[grid](...)` of one of this module's @triton.jit kernels anywhere inside `node`."""
    for sub in ast.walk(node):
        if (isinstance(sub, ast.Call) and isinstance(sub.func, ast.Subscript)
                and isinstance(sub.func.value, ast.Name) and sub.func.value.id in facts.kernels):
            return True
    return False


def _launching_functions(facts: ModuleFacts) -> set[str]:
    """Functions and methods that launch a kernel, directly or through calls to other such functions."""
    bodies: dict[str, ast.AST] = dict(facts.functions)
    for cls in facts.classes.values():
        for item in cls.body:
            if isinstance(item, ast.FunctionDef):
                bodies[item.name] = item
    launching = {name for name, body in bodies.items() if _launches_kernel(facts, body)}
    changed = True
    while changed:
        changed = False
        for name, body in bodies.items():
            if name in launching:
                continue
            for sub in ast.walk(body):
                if isinstance(sub, ast.Call):
                    callee = sub.func.id if isinstance(sub.func, ast.Name) else (
                        sub.func.attr if isinstance(sub.func, ast.Attribute) else None)
                    if callee in launching:
                        launching.add(name)
                        changed = True
                        break
    return launching


def _calls_torch_compute(facts: ModuleFacts, node: ast.AST) -> ast.Call | None:
    """A call that computes with PyTorch: torch.*/F.* functions or a submodule/method of self (self.conv(x))."""
    for sub in ast.walk(node):
        if not isinstance(sub, ast.Call):
            continue
        dotted = facts.resolve(sub.func) or ""
        if dotted.startswith("torch.") and not dotted.startswith("torch.cuda.synchronize"):
            return sub
        if dotted.startswith("self."):
            return sub
    return None


_HELPER_DEPTH = 4  # helpers of helpers: deeper chains than this are not written by accident


def _computes_through_helpers(facts: ModuleFacts, node: ast.AST, depth: int = 0,
                              seen: frozenset[str] = frozenset()) -> ast.Call | None:
    """A PyTorch compute call in `node`, or in a module-level function or ModelNew method it calls (so a
    fallback moved into a helper called only from an except branch is found too). Returns the call in
    `node` that leads there."""
    hit = _calls_torch_compute(facts, node)
    if hit is not None and not (isinstance(hit.func, ast.Attribute) and _is_self(hit.func)):
        return hit
    for sub in ast.walk(node):
        if not isinstance(sub, ast.Call) or depth >= _HELPER_DEPTH:
            continue
        name = sub.func.id if isinstance(sub.func, ast.Name) else (
            sub.func.attr if isinstance(sub.func, ast.Attribute) and _is_self(sub.func) else None)
        if name is None or name in seen or name in facts.kernels:
            continue
        body = facts.functions.get(name) or _method(facts, name)
        if body is None:
            if isinstance(sub.func, ast.Attribute):  # self.conv(x): a submodule computes with PyTorch
                return sub
            continue
        if _computes_through_helpers(facts, body, depth + 1, seen | {name}) is not None:
            return sub
    return None


def _is_self(func: ast.Attribute) -> bool:
    return isinstance(func.value, ast.Name) and func.value.id == "self"


def _method(facts: ModuleFacts, name: str) -> ast.FunctionDef | None:
    for cls in facts.classes.values():
        for item in cls.body:
            if isinstance(item, ast.FunctionDef) and item.name == name:
                return item
    return None


# ---------------------------------------------------------------------------------------------------------
# Rules. Each yields violations; the rationale is the one line that says why the rule exists.

RuleFn = Callable[[ModuleFacts, "CheckContext"], Iterator[Violation]]


@dataclass(frozen=True)
class CheckContext:
    reference_module_names: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Rule:
    id: str
    rationale: str
    check: RuleFn


def _rule_model_new(facts: ModuleFacts, ctx: CheckContext) -> Iterator[Violation]:
    if "ModelNew" not in facts.classes:
        yield Violation("model-new", 1, "no class ModelNew", RULES_BY_ID["model-new"].rationale)


def _rule_has_kernel(facts: ModuleFacts, ctx: CheckContext) -> Iterator[Violation]:
    if not facts.kernels:
        yield Violation("triton-kernel", 1, "no @triton.jit kernel defined", RULES_BY_ID["triton-kernel"].rationale)


def _rule_try_fallback(facts: ModuleFacts, ctx: CheckContext) -> Iterator[Violation]:
    launching = _launching_functions(facts)
    for node in ast.walk(facts.tree):
        if not isinstance(node, ast.Try):
            continue
        body = ast.Module(body=node.body, type_ignores=[])
        launches = _launches_kernel(facts, body) or any(
            isinstance(s, ast.Call) and (
                (isinstance(s.func, ast.Name) and s.func.id in launching)
                or (isinstance(s.func, ast.Attribute) and s.func.attr in launching))
            for s in ast.walk(body))
        if not launches:
            continue
        for handler in node.handlers:
            hit = _computes_through_helpers(facts, ast.Module(body=handler.body, type_ignores=[]))
            if hit is not None:
                yield Violation("try-fallback", node.lineno,
                                "kernel launch inside try/except that falls back to PyTorch "
                                f"(line {hit.lineno}: {ast.unparse(hit.func)})",
                                RULES_BY_ID["try-fallback"].rationale)
                break


_STREAM_OR_THREAD = (
    "torch.cuda.Stream", "torch.cuda.stream", "torch.cuda.ExternalStream", "torch.cuda.set_stream",
    "torch.Stream", "torch.cuda.streams", "threading.Thread", "threading.Timer", "concurrent.futures",
    "multiprocessing", "torch.multiprocessing", "_thread", "asyncio", "subprocess", "os.fork",
)


_CONCURRENCY_MODULES = {"threading", "multiprocessing", "concurrent", "_thread", "asyncio", "subprocess"}


def _rule_streams_threads(facts: ModuleFacts, ctx: CheckContext) -> Iterator[Violation]:
    rationale = RULES_BY_ID["streams-threads"].rationale
    for node in ast.walk(facts.tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            mods = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            for m in mods:
                if m.split(".")[0] in _CONCURRENCY_MODULES:
                    yield Violation("streams-threads", node.lineno, f"imports {m}", rationale)
        elif isinstance(node, ast.Call):
            dotted = facts.resolve(node.func)
            if dotted and any(dotted == p or dotted.startswith(p + ".") for p in _STREAM_OR_THREAD):
                yield Violation("streams-threads", node.lineno, f"creates a stream, thread or process ({dotted})",
                                rationale)


_SETATTR_CALLS = {"setattr", "delattr", "builtins.setattr", "builtins.delattr", "object.__setattr__",
                  "object.__delattr__", "type.__setattr__"}  # every spelling of an attribute write by call
_PROTECTED_ROOTS = ("torch", "triton", "time", "timeit", "numpy", "builtins", "sys", "os", "tritonwright")


def _rule_patch_attrs(facts: ModuleFacts, ctx: CheckContext) -> Iterator[Violation]:
    def protected(target: ast.AST) -> str | None:
        if isinstance(target, ast.Attribute):
            dotted = facts.resolve(target)
            if dotted and dotted.split(".")[0] in _PROTECTED_ROOTS:
                return dotted
        return None

    for node in ast.walk(facts.tree):
        targets: list[ast.AST] = []
        if isinstance(node, ast.Assign):
            targets = list(node.targets)
        elif isinstance(node, ast.AugAssign | ast.AnnAssign):
            targets = [node.target]
        elif isinstance(node, ast.Delete):
            targets = list(node.targets)
        elif isinstance(node, ast.Call) and facts.resolve(node.func) in _SETATTR_CALLS and node.args:
            first = node.args[0]
            dotted = facts.resolve(first) if isinstance(first, ast.Name | ast.Attribute) else None
            if dotted and dotted.split(".")[0] in _PROTECTED_ROOTS:
                yield Violation("patch-attrs", node.lineno, f"{ast.unparse(node.func)} on {dotted}",
                                RULES_BY_ID["patch-attrs"].rationale)
            continue
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and \
                node.func.attr in {"__setattr__", "__delattr__"}:
            owner = facts.resolve(node.func.value) if isinstance(node.func.value, ast.Name | ast.Attribute) else None
            if owner and owner.split(".")[0] in _PROTECTED_ROOTS:
                yield Violation("patch-attrs", node.lineno, f"{ast.unparse(node.func)} on {owner}",
                                RULES_BY_ID["patch-attrs"].rationale)
            continue
        for t in targets:
            if isinstance(t, ast.Subscript) and isinstance(t.value, ast.Attribute) and t.value.attr == "__dict__":
                t = t.value.value if isinstance(t.value.value, ast.Attribute) else ast.Attribute(
                    value=t.value.value, attr="__dict__", ctx=ast.Load())  # torch.__dict__["x"] = ... writes torch
            hit = protected(t)
            if hit:
                yield Violation("patch-attrs", getattr(node, "lineno", 0), f"assigns {hit}",  # statements have one
                                RULES_BY_ID["patch-attrs"].rationale)


# Ways to run PyTorch ops out of the judge's sight: disabling or popping dispatch/function modes, excluding
# dispatch keys. Inductor's generated code uses other torch._C names (streams, guards), which stay allowed.
_EVASION_MODULES = ("torch.utils._python_dispatch", "torch._dispatch", "torch._subclasses")
_EVASION_NAME = re.compile(r"(?i)disable|dispatch|exclude|include|torch_?function|python_?mode|^_?(pop|push|unset)")


def _evasive(dotted: str) -> bool:
    if any(dotted == m or dotted.startswith(m + ".") for m in _EVASION_MODULES):
        return True
    if dotted.startswith("torch._C."):
        return bool(_EVASION_NAME.search(dotted.split(".")[-1]))
    return dotted.startswith(("torch.overrides._disable", "torch.overrides.TorchFunctionMode"))


# Attributes that reach a function's globals, a frame or the class graph: the classic ways out of a namespace
# (to the judge's hooks and counters, bound in its modules). Kernels and their wrappers never need them.
_ESCAPE_ATTRS = {"__globals__", "__closure__", "__code__", "__builtins__", "__subclasses__", "__self__",
                 "f_locals", "f_globals", "f_back", "f_builtins", "gi_frame", "cr_frame", "tb_frame", "tb_next"}


def _rule_judge_evasion(facts: ModuleFacts, ctx: CheckContext) -> Iterator[Violation]:
    rationale = RULES_BY_ID["judge-evasion"].rationale
    for node in ast.walk(facts.tree):
        if isinstance(node, ast.Attribute) and node.attr in _ESCAPE_ATTRS:
            yield Violation("judge-evasion", node.lineno, f"reads .{node.attr}", rationale)
            continue
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in _ESCAPE_ATTRS:
            yield Violation("judge-evasion", node.lineno, f"names {node.value!r} (getattr by string)", rationale)
            continue
        names: list[str] = []
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.Attribute):
            names = [facts.resolve(node) or ""]
        hit = next((n for n in names if n and _evasive(n)), None)
        if hit:
            yield Violation("judge-evasion", getattr(node, "lineno", 0), f"uses {hit}", rationale)


_INTROSPECTION = {"open", "exec", "eval", "compile", "__import__", "globals", "vars", "breakpoint",
                  "importlib.import_module", "importlib.util.spec_from_file_location", "io.open",
                  "pathlib.Path.read_text", "gc.get_objects", "gc.get_referrers", "inspect.getsource",
                  "inspect.stack", "inspect.currentframe", "sys._getframe", "sys.modules"}
_INTROSPECTION_MODULES = {"importlib", "inspect", "gc", "pickle", "ctypes", "runpy"}


def _rule_reference_access(facts: ModuleFacts, ctx: CheckContext) -> Iterator[Violation]:
    rationale = RULES_BY_ID["reference-access"].rationale
    for node in ast.walk(facts.tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            mods = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            for m in mods:
                root = m.split(".")[0]
                if root in ctx.reference_module_names or root in _INTROSPECTION_MODULES:
                    yield Violation("reference-access", node.lineno, f"imports {m}", rationale)
        elif isinstance(node, ast.Call):
            dotted = facts.resolve(node.func) or ""
            if dotted in _INTROSPECTION or (isinstance(node.func, ast.Attribute)
                                            and node.func.attr in {"read_text", "read_bytes"}):
                yield Violation("reference-access", node.lineno, f"calls {dotted or ast.unparse(node.func)}",
                                rationale)
        elif isinstance(node, ast.Attribute) and facts.resolve(node) == "sys.modules":
            yield Violation("reference-access", node.lineno, "reads sys.modules", rationale)
        elif isinstance(node, ast.Name) and node.id in ("Model",) and isinstance(node.ctx, ast.Load) \
                and "Model" not in facts.classes:
            yield Violation("reference-access", node.lineno, "uses the reference class Model", rationale)


_ESCAPE_MODULES = {"socket", "ctypes", "subprocess", "multiprocessing", "pty", "resource", "mmap",
                   "shutil", "urllib", "http", "ssl", "requests", "httpx"}  # reach outside the process
_ESCAPE_CALLS = ("os.system", "os.popen", "os.exec", "os.spawn", "os.posix_spawn", "os.fork", "os.kill",
                 "os.killpg", "os.setsid", "os.setpgid", "os.remove", "os.unlink", "os.rename", "os.replace",
                 "os.open", "os.write", "os.chdir", "os.environ", "os.getenv", "os.putenv", "os.dup",
                 "os.pipe", "os.getppid", "os.listdir", "os.scandir", "os.walk")  # prefixes: os.execv, ...


def _rule_escape(facts: ModuleFacts, ctx: CheckContext) -> Iterator[Violation]:
    rationale = RULES_BY_ID["process-escape"].rationale
    for node in ast.walk(facts.tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            mods = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            for m in mods:
                if m.split(".")[0] in _ESCAPE_MODULES:
                    yield Violation("process-escape", node.lineno, f"imports {m}", rationale)
            if isinstance(node, ast.ImportFrom) and node.module == "os":
                for a in node.names:
                    if any(f"os.{a.name}".startswith(p) for p in _ESCAPE_CALLS):
                        yield Violation("process-escape", node.lineno, f"imports os.{a.name}", rationale)
        elif isinstance(node, ast.Attribute | ast.Name):
            dotted = facts.resolve(node) or ""
            if dotted.startswith("os.") and any(dotted == p or dotted.startswith(p) for p in _ESCAPE_CALLS) \
                    and not isinstance(getattr(node, "ctx", None), ast.Store):
                yield Violation("process-escape", node.lineno, f"uses {dotted}", rationale)


RULES: tuple[Rule, ...] = (
    Rule("model-new", "the harness instantiates ModelNew; without it there is nothing to evaluate",
         _rule_model_new),
    Rule("triton-kernel", "tritonwright judges Triton code; a candidate without a kernel is plain PyTorch",
         _rule_has_kernel),
    Rule("try-fallback", "a PyTorch fallback in an except branch would pass correctness with a broken kernel",
         _rule_try_fallback),
    Rule("streams-threads", "work on side streams or threads can escape the timer and race the output check",
         _rule_streams_threads),
    Rule("patch-attrs", "assigning attributes of torch/triton/timing modules can change the judge or enable TF32",
         _rule_patch_attrs),
    Rule("reference-access", "reading the reference module or files lets a candidate copy answers, not compute "
         "them", _rule_reference_access),
    Rule("judge-evasion", "disabling dispatch modes or reaching frames and function globals runs code where the "
         "judge's checks cannot see it, or rewrites their evidence", _rule_judge_evasion),
    Rule("process-escape", "shells, sockets, raw memory, signals and files reach outside the sandboxed process: a "
         "kernel needs none of them", _rule_escape),
)
RULES_BY_ID = {r.id: r for r in RULES}


def parse_candidate(source: str, path: str = "<candidate>") -> ast.Module:
    """Parse or raise CandidateError with the line number (a COMPILE_ERROR in the harness)."""
    try:
        return ast.parse(source, filename=path)
    except SyntaxError as exc:
        raise CandidateError(f"{path}:{exc.lineno}: syntax error: {exc.msg}") from None


def static_check(source: str, path: str = "<candidate>", reference_module_names: frozenset[str] = frozenset()
                 ) -> list[Violation]:
    """All rule violations of a candidate source (empty list: it may run). Raises CandidateError on syntax."""
    facts = module_facts(parse_candidate(source, path))
    ctx = CheckContext(reference_module_names=reference_module_names)
    out: list[Violation] = []
    for rule in RULES:
        out.extend(rule.check(facts, ctx))
    return out
