"""What the operating system can do to keep candidate code inside its child process (see docs/threat-model.md).

- Each child runs in its own session and process group, killed as a whole when the evaluation ends or the
  child is killed: a background process started in the child does not outlive the evaluation. (Not after every
  request: Inductor's compile workers, legitimately started by the reference's torch.compile or an Inductor-
  seeded candidate, live in that group for the whole session.)
- Each child works in a fresh empty folder of the evaluation's temp directory, with a scrubbed argv.
- The judge's own process is made non-dumpable (Linux prctl), so another process of the same user, such as a
  candidate's child, cannot read its /proc/<pid>/environ (API keys) or attach to it. Root can still read it:
  run tritonwright as a normal user where that matters.
- Files the evaluation depends on (the task, the candidate) are fingerprinted before and after: a run whose
  files changed underneath it is refused.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import sys
from pathlib import Path

PR_SET_DUMPABLE = 4  # linux/prctl.h
_PROC = Path("/proc")


def enter_own_session(home: str, role: str) -> None:
    """First thing a child does: a session and process group of its own, a fresh working folder, no argv."""
    with contextlib.suppress(OSError):  # already a group leader (spawned by a test harness): keep going
        os.setsid()
    os.makedirs(home, exist_ok=True)
    os.chdir(home)
    sys.argv[:] = [f"tritonwright-{role}"]  # the parent's command line stays out of the child


def group_members(pgid: int) -> list[int]:
    """Processes whose process group is `pgid` (Linux /proc; elsewhere none can be listed)."""
    out: list[int] = []
    try:
        entries = list(_PROC.iterdir())
    except OSError:
        return out
    for entry in entries:
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # exited meanwhile, or not ours to read
            continue
        # Fields after the command name (which may hold spaces and parentheses): state ppid pgrp ...
        fields = stat.rsplit(")", 1)[-1].split()
        if len(fields) > 2 and fields[2].isdigit() and int(fields[2]) == pgid:
            out.append(int(entry.name))
    return out


def kill_group(leader: int) -> None:
    """Kill the whole process group a child leads (the child and anything it started)."""
    with contextlib.suppress(OSError):
        os.killpg(leader, signal.SIGKILL)


def forbid_dumping() -> bool:
    """Make this process non-dumpable where the OS allows it (Linux): its /proc entries become root-owned, so a
    same-user process cannot read its environment or ptrace it. Returns whether it took effect."""
    if not sys.platform.startswith("linux"):
        return False
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


def fingerprint(paths: list[str | None]) -> dict[str, str]:
    """sha256 of each existing file among `paths` (missing ones count as absent)."""
    out: dict[str, str] = {}
    for p in paths:
        if not p:
            continue
        try:
            out[p] = hashlib.sha256(Path(p).read_bytes()).hexdigest()
        except OSError:
            out[p] = "absent"
    return out


def changed(before: dict[str, str]) -> list[str]:
    """The files whose fingerprint differs from `before`."""
    after = fingerprint(list(before))
    return [p for p in before if after.get(p) != before[p]]
