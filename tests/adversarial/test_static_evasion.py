"""Static rules against hiding work from the judge: dispatch-mode/key disabling, attribute writes on torch by
any spelling, frame and globals escapes, and a PyTorch fallback moved into a helper called from `except`."""

from __future__ import annotations

import pytest

from tests.test_eval_cpu import candidate
from tritonwright.candidate import static_check

OK_BODY = "return launch(x, torch.empty_like(x), self.scale)"


def _rules(source: str) -> dict[str, str]:
    return {v.rule: str(v) for v in static_check(source)}


@pytest.mark.parametrize("body, rule, words", [
    ("with torch._C._DisableTorchDispatch():\n    y = torch.tanh(x)\nreturn y", "judge-evasion",
     "torch._C._DisableTorchDispatch"),
    ("from torch.utils._python_dispatch import _disable_current_modes\nwith _disable_current_modes():\n"
     "    return torch.tanh(x) * self.scale", "judge-evasion", "torch.utils._python_dispatch"),
    ("g = torch._C._ExcludeDispatchKeyGuard\n" + OK_BODY, "judge-evasion", "_ExcludeDispatchKeyGuard"),
    ("import builtins\nbuiltins.setattr(torch, 'tanh', None)\n" + OK_BODY, "patch-attrs", "builtins.setattr"),
    ("object.__setattr__(torch.backends.cuda.matmul, 'allow_tf32', True)\n" + OK_BODY, "patch-attrs",
     "object.__setattr__"),
    ("torch.backends.cuda.matmul.__setattr__('allow_tf32', True)\n" + OK_BODY, "patch-attrs", "__setattr__"),
    ("torch.__dict__['tanh'] = abs\n" + OK_BODY, "patch-attrs", "torch"),
    ("log = launch.__globals__\n" + OK_BODY, "judge-evasion", ".__globals__"),
    ("f = getattr(launch, '__globals__')\n" + OK_BODY, "judge-evasion", "'__globals__'"),
])
def test_ways_to_hide_work_from_the_judge_are_rejected(body, rule, words) -> None:
    found = _rules(candidate(body).source)
    assert rule in found and words in found[rule], found


def test_a_fallback_in_a_helper_called_only_from_except_is_caught() -> None:
    helper = """
        def _reference_math(x, scale):
            return torch.tanh(x) * scale


        def _fallback(x, scale):
            return _reference_math(x, scale)
    """
    body = """
        try:
            return launch(x, torch.empty_like(x), self.scale)
        except Exception:
            return _fallback(x, self.scale)
    """
    found = _rules(candidate(body, extra=helper).source)
    assert "try-fallback" in found and "_fallback" in found["try-fallback"], found


def test_inductor_style_private_names_stay_allowed() -> None:
    extra = ("get_raw_stream = torch._C._cuda_getCurrentRawStream\n"
             "assert_size_stride = torch._C._dynamo.guards.assert_size_stride\n")
    assert "judge-evasion" not in _rules(candidate(OK_BODY, extra=extra).source)
