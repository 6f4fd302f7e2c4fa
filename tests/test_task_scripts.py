"""The trial scripts in examples/ run standalone on a slice of the real data, and their records are sound.

Each script runs as its own process, from its own folder, as NNI runs a trialCommand. Records come
back through ``--records-out`` (one JSON line per epoch: the dict sent to NNI).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bttackler_nni.diagnosis.engine import Diagnoser

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
needs_shared_data = pytest.mark.skipif(
    not SHARED_DATA.is_dir(), reason=f"the real datasets are expected in {SHARED_DATA}, which is absent"
)

SMALL_CNN = {"conv1_k_num": 8, "conv2_k_num": 16, "conv3_k_num": 16, "conv4_k_num": 16, "mlp_f_num": 32}
SMALL_TRANS = {"e_layers": 1, "d_layers": 1, "d_ff": 1024}
RUNS = {
    "cifar10cnn": ("cifar10_subset.npz", "0.02", SMALL_CNN),
    "cifar10lstm": ("cifar10_subset.npz", "0.02", {"hidden_size": 16, "mlp_f_num": 32}),
    "ex96trans": ("exchange_rate.csv", "0.02", SMALL_TRANS),
}


def _run_trial(task: str, *args: str) -> subprocess.CompletedProcess[str]:
    folder = REPO / "examples" / task
    command = [sys.executable, "train.py", *args]
    return subprocess.run(command, cwd=folder, capture_output=True, text=True, timeout=120, check=False)


@needs_shared_data
@pytest.mark.parametrize("task", RUNS)
def test_trial_script_trains_reports_each_epoch_and_its_records_pass_the_diagnoser(task, tmp_path):
    data, fraction, params = RUNS[task]
    records_file = tmp_path / "records.jsonl"
    result = _run_trial(
        task,
        *("--data", str(SHARED_DATA / data), "--epochs", "2", "--data-fraction", fraction),
        *("--params", json.dumps(params), "--records-out", str(records_file)),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "epoch 1/2" in result.stdout and "epoch 2/2" in result.stdout
    assert "final result" in result.stdout

    records = [json.loads(line) for line in records_file.read_text().splitlines()]
    assert [(r["epoch"], r["max_epochs"]) for r in records] == [(0, 2), (1, 2)]
    assert all(r["nonfinite"] == 0 and r["layers"]["names"] for r in records)
    if task == "ex96trans":
        assert all(r["default"] == r["val_loss"] and "val_acc" not in r for r in records)
    else:
        assert all(r["default"] == r["val_acc"] and 0 <= r["val_acc"] <= 1 for r in records)
    diagnoser = Diagnoser()
    for reports in range(1, len(records) + 1):
        assert diagnoser.assess("t", records[:reports]).problems == ()


@pytest.mark.parametrize(
    "task, args, message",
    [
        (
            "cifar10cnn",
            ["--data", "/nonexistent/cifar"],
            "CIFAR-10 data is not usable at '/nonexistent/cifar'",
        ),
        (
            "ex96trans",
            ["--data", "/nonexistent/exchange_rate.csv", "--params", '{"n_heads": 2000}'],  # before data
            "n_heads=2000 must be between 1 and d_model=256",
        ),
        ("cifar10lstm", ["--params", '{"hidden_size": 8, "optimiser": "Adam"}'], "unknown key 'optimiser'"),
    ],
    ids=["missing-data", "too-many-heads", "unknown-key"],
)
def test_trial_script_fails_with_one_clear_message_and_no_traceback(task, args, message):
    result = _run_trial(task, *args)
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr
