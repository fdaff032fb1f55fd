"""Task kind from the model's structure, read from source (AST) so the parent never runs task code.

    classify_source(source, path="<source>") -> KindDecision   # kind + the reason, for the user
    detect_kind(source, path="<source>") -> str                # "single" | "fusion" | "network"

Looks at `class Model` (or `ModelNew` when given a candidate):
- network: a container (Sequential/ModuleList/ModuleDict), a recurrent or attention layer, a loop in
  forward or in __init__, another nn.Module class in the file, or NETWORK_MIN_WEIGHTED weighted layers;
- single: forward performs one operation (a layer call, a torch/F function, a tensor method or an
  arithmetic operator), ignoring shape-only calls such as view/reshape;
- fusion: anything else (two or more operations).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

from tritonwright.errors import UserInputError

# KernelBench's fused-op tasks chain at most three weighted layers (e.g. Linear + BatchNorm + GroupNorm);
# whole networks stack more (LeNet-5 already has five).
NETWORK_MIN_WEIGHTED = 4

CONTAINERS = frozenset({"Sequential", "ModuleList", "ModuleDict"})
COMPOSITE_LAYERS = frozenset({
    "LSTM", "GRU", "RNN", "Transformer", "TransformerEncoder", "TransformerDecoder",
    "TransformerEncoderLayer", "TransformerDecoderLayer", "MultiheadAttention",
})
WEIGHTED_PREFIXES = ("Conv", "Linear", "Bilinear", "BatchNorm", "LayerNorm", "GroupNorm", "InstanceNorm",
                     "Embedding", "RMSNorm", "PReLU")
# Calls that only change a tensor's view or metadata; they launch no kernel worth counting.
SHAPE_ONLY = frozenset({
    "view", "reshape", "flatten", "unflatten", "squeeze", "unsqueeze", "permute", "transpose", "t",
    "contiguous", "size", "dim", "numel", "expand", "expand_as", "view_as", "reshape_as", "narrow",
    "chunk", "split", "unbind", "type_as", "to", "float", "half", "double", "bfloat16", "detach",
})
# Plain Python calls that are not tensor operations.
NOT_OPS = frozenset({"len", "range", "int", "float", "bool", "str", "tuple", "list", "isinstance", "print",
                     "super", "min", "max", "getattr", "enumerate", "zip"})


class KindDetectionError(UserInputError):
    """The source has no model class to read the kind from."""


@dataclass(frozen=True)
class KindDecision:
    kind: str
    reason: str


def _dotted(node: ast.expr) -> str | None:
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


def _method(cls: ast.ClassDef, name: str) -> ast.FunctionDef | None:
    for node in cls.body:
        if isinstance(node, ast.FunctionDef) and node.name == name:
            return node
    return None


def _layers(init: ast.FunctionDef | None) -> dict[str, str]:
    """self.<attr> = nn.<Layer>(...) in __init__ -> {attr: Layer}."""
    out: dict[str, str] = {}
    for node in ast.walk(init) if init else ():
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
            func = _dotted(node.value.func) or ""
            if not (func.startswith("nn.") or func.startswith("torch.nn.")) or ".functional." in func:
                continue
            for target in node.targets:
                if isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name) \
                        and target.value.id == "self":
                    out[target.attr] = func.rsplit(".", 1)[-1]
    return out


def _is_module_class(node: ast.ClassDef) -> bool:
    return any((_dotted(base) or "").split(".")[-1] == "Module" for base in node.bases)


def _count_ops(forward: ast.FunctionDef) -> int:
    ops = 0
    for node in ast.walk(forward):
        if isinstance(node, ast.BinOp):
            ops += not (isinstance(node.left, ast.Constant) and isinstance(node.right, ast.Constant))
        elif isinstance(node, ast.UnaryOp):
            ops += not isinstance(node.op, ast.Not) and not isinstance(node.operand, ast.Constant)  # -1 in view()
        elif isinstance(node, ast.Call):
            name = _dotted(node.func)
            if isinstance(node.func, ast.Attribute):
                ops += node.func.attr not in SHAPE_ONLY
            elif name is not None and name not in NOT_OPS:
                ops += 1  # a module-level helper (e.g. a Triton wrapper) counts as one operation
    return ops


def _network_reason(tree: ast.Module, cls: ast.ClassDef, init: ast.FunctionDef | None,
                    forward: ast.FunctionDef, layers: dict[str, str]) -> str | None:
    others = [n.name for n in tree.body if isinstance(n, ast.ClassDef) and n is not cls and _is_module_class(n)
              and n.name not in ("Model", "ModelNew")]
    if others:
        return f"defines its own module class {others[0]}"
    for attr, layer in layers.items():
        if layer in CONTAINERS:
            return f"holds a {layer} (self.{attr})"
        if layer in COMPOSITE_LAYERS:
            return f"uses a {layer} layer (self.{attr})"
    for where, fn in (("__init__", init), ("forward", forward)):
        if fn is not None and any(isinstance(n, ast.For | ast.While) for n in ast.walk(fn)):
            return f"loops in {where}"
    weighted = [a for a, layer in layers.items() if layer.startswith(WEIGHTED_PREFIXES)]
    if len(weighted) >= NETWORK_MIN_WEIGHTED:
        return f"{len(weighted)} weighted layers ({', '.join(weighted)})"
    return None


def classify_source(source: str, path: str = "<source>") -> KindDecision:
    try:
        tree = ast.parse(source, filename=path)
    except SyntaxError as exc:
        raise KindDetectionError(f"{path}:{exc.lineno}: syntax error: {exc.msg}") from None
    classes = {n.name: n for n in tree.body if isinstance(n, ast.ClassDef)}
    cls = classes.get("Model") or classes.get("ModelNew")
    if cls is None:
        raise KindDetectionError(f"{path}: no class Model (or ModelNew) to detect the task kind from")
    init, forward = _method(cls, "__init__"), _method(cls, "forward")
    if forward is None:
        raise KindDetectionError(f"{path}: class {cls.name} has no forward method")
    layers = _layers(init)
    reason = _network_reason(tree, cls, init, forward, layers)
    if reason:
        return KindDecision("network", f"{cls.name} {reason}")
    ops = _count_ops(forward)
    if ops <= 1:
        return KindDecision("single", f"{cls.name}.forward performs {ops} operation")
    return KindDecision("fusion", f"{cls.name}.forward performs {ops} operations")


def detect_kind(source: str, path: str = "<source>") -> str:
    return classify_source(source, path).kind
