"""Exceptions that mean "the user gave us something wrong": the CLI prints them as one line."""

from __future__ import annotations

import re


class UserInputError(Exception):
    """A mistake in what the user passed (file, flag, value). Printed without a traceback."""


class TaskError(UserInputError):
    """The task file (KernelBench format) is missing something or cannot be used."""


class CandidateError(UserInputError):
    """The candidate file cannot be used as given (syntax, missing ModelNew, ...)."""


class RunInterrupted(Exception):
    """Ctrl-C (or SIGTERM) during a run: the run is marked interrupted and can be resumed."""


_FRAME = re.compile(r'^\s*File "(?P<file>[^"]+)", line (?P<line>\d+), in (?P<func>\S+)\s*$')
_EXC_LINE = re.compile(r"^(?:[A-Za-z_][\w.]*)?(?:Error|Exception|Interrupt|Exit|Warning)\b.*|^[A-Z]\w+: .*")


def one_line(message: str) -> str:
    """A message that may hold a traceback, as one line: the text before it, the innermost frame
    (`file:line in function`) and the final exception line. A message without a traceback is only joined."""
    lines = [ln for ln in message.splitlines() if ln.strip()]
    if not lines:
        return message.strip()
    frames = [m for ln in lines if (m := _FRAME.match(ln))]
    if not frames:
        return " ".join(ln.strip() for ln in lines)
    head = lines[0].split("Traceback", 1)[0].rstrip(" :")
    last_frame = frames[-1]
    tail = next((ln.strip() for ln in reversed(lines) if _EXC_LINE.match(ln.strip()) and not _FRAME.match(ln)),
                lines[-1].strip())
    where = f"{last_frame['file']}:{last_frame['line']} in {last_frame['func']}()"
    return f"{head}: {where}: {tail}" if head else f"{where}: {tail}"
