"""One line that says why a trial failed, read from what it wrote to stderr.

For a plain script that is the last line: Python's exception. A trial started by ``torchrun`` ends its
stderr with torchrun's own traceback and failure table, whose last line is a row of ``=``; what a user
needs is which process failed, how it ended, and the error that process printed before torchrun's
report (nothing, when it died of a signal).
"""

from __future__ import annotations

import re

_CHILD_FAILED = "torch.distributed.elastic.multiprocessing.errors.ChildFailedError"
_LAUNCHER_LINE = re.compile(
    r"^([IWEF]\d{4} \d\d:\d\d:\d\d\.\d+\s+\d+ |Setting OMP_NUM_THREADS environment variable|[*=-]+$)"
)
"""What torchrun itself writes before its report: log lines (``W1207 20:58:05.812000 5342
torch/distributed/run.py:874] ...``) and its banner about ``OMP_NUM_THREADS``, framed by asterisks."""
_TABLE_ROW = re.compile(r"^(\w+)\s*: (.*)$")
_SIGNAL = re.compile(r"\((SIG\w+)\)")


def failure_hint(stderr: str) -> str:
    """The line of ``stderr`` that best says why the trial failed; empty when it wrote nothing."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    reports = [i for i, line in enumerate(lines) if line.startswith(_CHILD_FAILED)]
    if not reports:
        return lines[-1] if lines else ""
    report = reports[-1]
    root_cause = _root_cause(lines[report:])
    child_error = _child_error(lines[:report])
    return ": ".join(part for part in (root_cause, child_error) if part) or lines[-1]


def _root_cause(table: list[str]) -> str:
    """``torchrun: rank 1 exited with code -6 (SIGABRT)``, from the table's "Root Cause" section."""
    start = next((i for i, line in enumerate(table) if line.startswith("Root Cause")), None)
    if start is None:
        return ""
    rows = {m.group(1): m.group(2) for m in map(_TABLE_ROW.match, table[start + 1 :]) if m}
    if "rank" not in rows or "exitcode" not in rows:
        return ""
    rank, code = rows["rank"].split()[0], rows["exitcode"].split()[0]
    signal = _SIGNAL.search(rows["exitcode"])
    return f"torchrun: rank {rank} exited with code {code}" + (f" ({signal.group(1)})" if signal else "")


def _child_error(before_report: list[str]) -> str:
    """The last line a trial process wrote before torchrun's traceback, torchrun's own lines skipped."""
    launcher_traceback = max(
        (i for i, line in enumerate(before_report) if line == "Traceback (most recent call last):"),
        default=len(before_report),
    )
    written = [line for line in before_report[:launcher_traceback] if not _LAUNCHER_LINE.match(line)]
    return written[-1] if written else ""
