"""A trial process whose parent shell was killed (NNI's stop of a compound trialCommand) exits.

The end-to-end case, through NNI, is in test_nni_end_to_end.py; here the process tree is built by
hand: bash runs Python as a child (``...; true`` keeps bash from exec'ing it), and bash is killed.
"""

from __future__ import annotations

import shlex
import signal
import subprocess
import sys

import psutil
from nni_harness import wait_until

from bttackler_nni.trial.orphan import ORPHANED

CHILD = """
import time
from bttackler_nni.trial.orphan import ParentWatch
watch = ParentWatch()
print("watching", flush=True)
for _ in range(600):  # a minute of "training batches"
    watch.check()
    time.sleep(0.05)
print("trained to the end", flush=True)
"""


def test_a_process_whose_parent_shell_is_killed_exits_saying_why(tmp_path):
    out, err = tmp_path / "stdout", tmp_path / "stderr"
    command = f"{shlex.quote(sys.executable)} -c {shlex.quote(CHILD)} >{out} 2>{err}; true"
    shell = subprocess.Popen(["bash", "-c", command])
    try:
        wait_until(lambda: out.exists() and "watching" in out.read_text(), timeout=30, what="the child")
        (child,) = psutil.Process(shell.pid).children()
        shell.send_signal(signal.SIGKILL)  # what NNI does 5 s after the SIGINT bash did not pass on
        shell.wait()
        wait_until(lambda: not _running(child.pid), timeout=10, what="the orphaned child to exit")
    finally:
        if shell.poll() is None:
            shell.kill()
    assert "trained to the end" not in out.read_text()
    assert err.read_text().strip() == ORPHANED


def test_a_process_whose_parent_lives_is_left_alone():
    watch_and_return = (
        "from bttackler_nni.trial.orphan import ParentWatch; w = ParentWatch(); w.check(); print('ok')"
    )
    done = subprocess.run(
        [sys.executable, "-c", watch_and_return], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0 and done.stdout == "ok\n", done.stderr


def _running(pid: int) -> bool:
    """Alive and not a zombie (an exited process its new parent has not reaped yet)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
