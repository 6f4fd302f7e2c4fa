"""How often a distributed process aborts at exit, with and without a Reporter, side by side.

A gloo worker thread frees a finished collective's tensors after the caller's ``wait()`` returned,
and freeing them takes the GIL; when it gets the GIL only once Python shuts down, torch aborts the
process (``terminate called without an active exception``, SIGABRT, exit code 134). Each run here
is a one-process gloo group whose script ends with ``--collectives`` all-gathers of temporary
tensors, so that the gloo threads are the last to hold them. The script sets the interpreter's
switch interval to 1000 s, which keeps the GIL with the main thread until it blocks: that stands in
for a loaded machine, on which the gloo thread is scheduled only after the script has ended. The
Reporter arm builds a ``Reporter`` first, which makes the process wait at exit
(:func:`bttackler_nni.trial.distributed.give_process_group_threads_time_at_exit`). Arms alternate.

    python benchmarks/distributed_exit.py --runs 60
"""

from __future__ import annotations

import argparse
import platform
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import torch

RUN = textwrap.dedent(
    """
    import sys
    import torch
    import torch.distributed as dist
    from torch import nn
    from bttackler_nni import Reporter

    dist.init_process_group("gloo", init_method=f"file://{sys.argv[1]}", rank=0, world_size=1)
    if sys.argv[2] == "reporter":
        model = nn.Linear(2, 1)
        Reporter(model, max_epochs=1, report_to_nni=False)
    sys.setswitchinterval(1000)
    for _ in range(int(sys.argv[3])):
        dist.all_gather([torch.zeros(3)], torch.ones(3))
    """
)

ARMS = {"no Reporter": "plain", "Reporter": "reporter"}


def aborted(script: Path, arm: str, collectives: int) -> bool:
    """Run the script once; whether it ended on an abort (anything else but success is an error)."""
    with tempfile.TemporaryDirectory() as folder:
        store = Path(folder) / "store"
        run = subprocess.run(
            [sys.executable, str(script), str(store), arm, str(collectives)],
            capture_output=True,
            text=True,
            timeout=120,
        )
    if run.returncode in (-6, 134):
        return True
    if run.returncode != 0:
        raise RuntimeError(
            f"a {arm} run failed otherwise (exit code {run.returncode}):\n{run.stderr[-2000:]}"
        )
    return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=60, help="runs per arm (default 60)")
    parser.add_argument("--collectives", type=int, default=100, help="all-gathers per run (default 100)")
    args = parser.parse_args()
    print(f"torch {torch.__version__}, Python {platform.python_version()}, {platform.machine()}")
    print(f"{args.runs} runs per arm, {args.collectives} all-gathers each, one-process gloo group")
    aborts = dict.fromkeys(ARMS, 0)
    with tempfile.TemporaryDirectory() as folder:
        script = Path(folder) / "run.py"
        script.write_text(RUN)
        for run in range(args.runs):
            for name, arm in ARMS.items():
                aborts[name] += aborted(script, arm, args.collectives)
            if (run + 1) % 10 == 0:
                print(f"  {run + 1} of {args.runs}: " + ", ".join(f"{n} {a}" for n, a in aborts.items()))
    print(f"{'arm':<12} {'runs':>5} {'aborted':>8} {'share':>7}")
    for name, count in aborts.items():
        print(f"{name:<12} {args.runs:>5} {count:>8} {count / args.runs:>7.1%}")


if __name__ == "__main__":
    main()
