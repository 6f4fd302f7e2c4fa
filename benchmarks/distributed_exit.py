"""How often a finished ``torchrun`` run is aborted at exit, with the Reporter's exit wait and without.

Each run is the Hugging Face ``Trainer`` trial of ``tests/test_distributed_trials.py``, with
``BTTacklerTrainerCallback``, under ``torchrun``: two processes, gloo on CPU, 3 epochs with an
evaluation each.
A gloo thread frees a finished collective's tensors after the caller's ``wait()`` returned, and
freeing them takes the GIL; when the thread gets the GIL only once Python shuts down, torch aborts
the process (``terminate called without an active exception``), and ``torchrun`` exits 1 (NNI
would show the trial FAILED). The callback's Reporter makes each process wait 0.5 s at exit
(:func:`bttackler_nni.trial.distributed.give_process_group_threads_time_at_exit`); the other arm
is the same run with that wait removed (``atexit.unregister(time.sleep)`` at the end of the
script). ``--parallel`` runs go at a time, arms alternating: the abort needs a busy machine, which
is how CI ran into it.

    python benchmarks/distributed_exit.py --runs 40 --parallel 2
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch
import transformers

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the CI test's Hugging Face trial, the one CI saw aborted
from test_distributed_trials import HUGGING_FACE_TRIAL  # noqa: E402

PARAMETERS = "params = bttackler_nni.get_next_parameter()"
RUN = HUGGING_FACE_TRIAL.replace(PARAMETERS, 'params = {"lr": 0.01}') + textwrap.dedent(
    """
    import atexit, sys, time

    print("training finished", flush=True)
    if sys.argv[1] == "removed":
        atexit.unregister(time.sleep)
    """
)
"""The test's trial outside NNI (its parameters given, its folder NNI_OUTPUT_DIR), saying it ended."""

ARMS = ("with the wait", "wait removed")
ABORT = "terminate called without an active exception"


def one_run(script: Path, arm: str) -> bool:
    """Run once; whether it was aborted at exit after training (any other failure is an error)."""
    with tempfile.TemporaryDirectory() as folder:
        environment = {k: v for k, v in os.environ.items() if not k.startswith("NNI_")}
        environment["NNI_OUTPUT_DIR"] = folder
        run = subprocess.run(
            [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
            + [str(script), "removed" if arm == "wait removed" else "kept"],
            capture_output=True,
            text=True,
            timeout=600,
            env=environment,
        )
    if run.returncode == 0:
        return False
    if ABORT in run.stderr and run.stdout.count("training finished") == 2:
        return True
    raise RuntimeError(f"a run ({arm}) failed otherwise (exit code {run.returncode}):\n{run.stderr[-3000:]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=40, help="runs per arm (default 40)")
    parser.add_argument("--parallel", type=int, default=2, help="runs at a time (default 2)")
    args = parser.parse_args()
    if PARAMETERS not in HUGGING_FACE_TRIAL:
        raise SystemExit(f"the test's Hugging Face trial no longer has the line {PARAMETERS!r} to replace")
    print(
        f"torch {torch.__version__}, transformers {transformers.__version__}, Python "
        f"{platform.python_version()}, {os.cpu_count()} CPUs; "
        f"{args.runs} runs per arm, {args.parallel} at a time"
    )
    aborts = dict.fromkeys(ARMS, 0)
    with tempfile.TemporaryDirectory() as folder, ThreadPoolExecutor(args.parallel) as pool:
        script = Path(folder) / "run.py"
        script.write_text(RUN)
        order = [ARMS[i % 2] for i in range(2 * args.runs)]
        outcomes = pool.map(lambda arm: one_run(script, arm), order)
        for done, (arm, aborted) in enumerate(zip(order, outcomes, strict=True), 1):
            aborts[arm] += aborted
            if done % 10 == 0:
                print(
                    f"  {done} of {len(order)} runs: "
                    + ", ".join(f"{a} {n} aborted" for a, n in aborts.items())
                )
    print(f"{'arm':<14} {'runs':>5} {'aborted at exit':>16}")
    for arm, count in aborts.items():
        print(f"{arm:<14} {args.runs:>5} {count:>16}")


if __name__ == "__main__":
    main()
