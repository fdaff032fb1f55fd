"""Task kind from the model's source (AST only, nothing executed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tritonwright.errors import UserInputError
from tritonwright.prompts import KindDetectionError, classify_source, detect_kind
from tritonwright.task import load_task

HEAD = "import torch\nimport torch.nn as nn\nimport torch.nn.functional as F\n\n"


def model(init: str, forward: str, extra: str = "") -> str:
    """A KernelBench-style source with the given __init__ body lines and forward body lines."""
    init_body = "".join(f"        {line}\n" for line in ["super().__init__()", *init])
    fwd_body = "".join(f"        {line}\n" for line in forward)
    return (HEAD + extra + "class Model(nn.Module):\n    def __init__(self, dim=4):\n" + init_body
            + "\n    def forward(self, x):\n" + fwd_body + "\n"
            + "def get_inputs():\n    return [torch.randn(2, 4)]\n\ndef get_init_inputs():\n    return []\n")


@pytest.mark.parametrize(("source", "kind"), [
    (model([], ["return torch.relu(x)"]), "single"),
    (model([], ["return F.softmax(x, dim=-1)"]), "single"),
    (model([], ["return torch.matmul(x, x.T)"]), "single"),
    (model(["self.conv = nn.Conv2d(3, 8, 3)"], ["return self.conv(x)"]), "single"),
    (model([], ["return x.view(x.size(0), -1).sum(dim=1)"]), "single"),  # view/size are shape-only
    (model([], ["return x"]), "single"),
    (model(["self.conv = nn.Conv2d(3, 8, 3)", "self.bn = nn.BatchNorm2d(8)"],
           ["x = self.conv(x)", "x = x * torch.tanh(F.softplus(x))", "return self.bn(x)"]), "fusion"),
    (model(["self.fc = nn.Linear(4, 4)"], ["return torch.sigmoid(self.fc(x)) * 2.0"]), "fusion"),
    (model([], ["norm = torch.norm(x, p='fro')", "return x / norm"]), "fusion"),
    (model(["self.a = nn.Linear(4, 4)", "self.b = nn.BatchNorm1d(4)", "self.c = nn.GroupNorm(2, 4)"],
           ["return torch.relu(self.c(self.b(self.a(x))))"]), "fusion"),  # three weighted layers: still fused
    (model(["self.net = nn.Sequential(nn.Linear(4, 4), nn.ReLU())"], ["return self.net(x)"]), "network"),
    (model(["self.blocks = nn.ModuleList([nn.Linear(4, 4) for _ in range(3)])"],
           ["for block in self.blocks:", "    x = block(x)", "return x"]), "network"),
    (model(["self.lstm = nn.LSTM(4, 8, batch_first=True)"], ["return self.lstm(x)[0]"]), "network"),
    (model(["self.c1 = nn.Conv2d(1, 6, 5)", "self.c2 = nn.Conv2d(6, 16, 5)", "self.f1 = nn.Linear(16, 8)",
            "self.f2 = nn.Linear(8, 4)"], ["return self.f2(self.f1(self.c2(self.c1(x))))"]), "network"),
    (model(["self.block = Block()"], ["return self.block(x)"],
           extra="class Block(nn.Module):\n    def forward(self, x):\n        return x\n\n"), "network"),
])
def test_kind_from_structure(source: str, kind: str) -> None:
    assert detect_kind(source) == kind


def test_reason_names_what_decided() -> None:
    decision = classify_source(model(["self.net = nn.Sequential(nn.Linear(4, 4))"], ["return self.net(x)"]))
    assert decision.kind == "network" and "Sequential" in decision.reason and "self.net" in decision.reason
    assert "3 operations" in classify_source(model([], ["return torch.relu(x + 1) * 2"])).reason


def test_candidate_source_is_read_from_model_new() -> None:
    source = "import torch\n\nclass ModelNew(torch.nn.Module):\n    def forward(self, x):\n        return fused(x)\n"
    assert detect_kind(source) == "single"


def test_works_on_a_loaded_task_file(tmp_path: Path) -> None:
    path = tmp_path / "task.py"
    path.write_text(model([], ["return torch.relu(x) + 1"]), encoding="utf-8")
    task = load_task(path)
    assert detect_kind(task.source, task.path) == "fusion"


@pytest.mark.parametrize(("source", "message"), [
    ("def f(:\n", "syntax error"),
    ("import torch\n", "no class Model"),
    ("class Model:\n    def __init__(self):\n        pass\n", "has no forward method"),
])
def test_unusable_sources_are_user_errors(source: str, message: str) -> None:
    with pytest.raises(KindDetectionError, match=message) as info:
        detect_kind(source, "t.py")
    assert isinstance(info.value, UserInputError)
