"""Pools: banks of one task and setting merged into one (``bttackler bank merge``), and the refusals."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from hand_banks import bank, trial
from nni_harness import REPO

from bttackler_nni.cli import main
from bttackler_nni.evaluation.bank_pool import merge_banks, recording_settings
from bttackler_nni.evaluation.banks import Bank, BankError, read_bank, write_bank

RECORD = (
    "BTTACKLER_DATA_FRACTION=0.05 BTTACKLER_EPOCHS={epochs} BTTACKLER_CIFAR10={data} bttackler bank record"
)
SEARCH = (
    " configs/hand/random_baseline.yml --trials 2 --out x.jsonl"
    " --set trialConcurrency={c} --set tuner.classArgs.seed={seed}"
)


def recorded(epochs: int = 2, data: str = "/data/c.npz", c: int = 1, seed: int = 7) -> str:
    return (RECORD + SEARCH).format(epochs=epochs, data=data, c=c, seed=seed)


def write(tmp_path: Path, name: str, hand: Bank, command: str | None = None) -> Path:
    if command is not None:
        hand = dataclasses.replace(hand, command=command)
    return write_bank(hand, tmp_path / f"{name}.jsonl")


def test_a_pool_holds_every_trial_named_by_its_bank_with_the_trial_weighted_startup(tmp_path):
    first = write(tmp_path, "first", bank(trial("a", [0.2, 0.5]), startup=3.0), recorded(seed=7))
    second = write(
        tmp_path,
        "second",
        bank(trial("a", [0.1, 0.9]), trial("b", [0.3, 0.4]), startup=6.0),
        recorded(seed=13, c=2, data="/elsewhere/c.npz"),  # seed, concurrency and data path may differ
    )
    pool = merge_banks([read_bank(first), read_bank(second)], "bttackler bank merge first second")
    assert [t.trial for t in pool.trials] == ["first/a", "second/a", "second/b"]
    assert pool.trials[1].epochs == read_bank(second).trials[0].epochs
    assert pool.startup_seconds == pytest.approx((3.0 * 1 + 6.0 * 2) / 3)
    assert (pool.task, pool.max_epochs, pool.direction) == ("hand", 2, read_bank(first).direction)


def test_the_cli_writes_a_pool_that_reads_back_and_simulates(tmp_path, capsys):
    paths = [
        write(tmp_path, f"b{i}", bank(*(trial(f"t{k}", [0.1 * k, 0.1 * k + i * 0.01]) for k in range(1, 5))))
        for i in range(3)
    ]
    out = tmp_path / "pool.jsonl"
    assert main(["bank", "merge", *map(str, paths), "--out", str(out)]) == 0
    assert "12 trials of hand" in capsys.readouterr().out
    pool = read_bank(out)
    assert len(pool.trials) == 12 and pool.command.startswith("bttackler bank merge ")
    assert (
        main(["simulate", str(out), "--policy", "default", "--seeds", "2", "--out", str(tmp_path / "s")]) == 0
    )


def test_the_committed_ex96trans_banks_pool():
    paths = sorted((REPO / "benchmarks" / "banks").glob("ex96trans*.jsonl"))
    banks = [read_bank(path) for path in paths]
    pool = merge_banks(banks, "bttackler bank merge ...")
    assert len(pool.trials) == sum(len(b.trials) for b in banks) >= 252
    assert len({t.trial for t in pool.trials}) == len(pool.trials)


@pytest.mark.parametrize(
    "other, expected",
    [
        (dict(epochs=3), "b was recorded with BTTACKLER_EPOCHS=3, a with BTTACKLER_EPOCHS=2"),
        (dict(max_epochs=3), "b has max_epochs 3, a 2"),
        (dict(direction="minimize"), "b has direction minimize, a maximize"),
        (dict(command="x --set trialCommand=python\\ other.py"), "b was recorded with --set trialCommand"),
        (dict(command="bttackler bank merge c d --out b.jsonl"), "b is a pool already; merge the banks"),
    ],
)
def test_banks_of_another_setting_are_refused_in_one_line_naming_what_differs(tmp_path, other, expected):
    a = write(tmp_path, "a", bank(trial("t", [0.1, 0.2])), recorded())
    hand = bank(
        trial("t", [0.1, 0.2]),
        direction=other.get("direction", "maximize"),
        max_epochs=other.get("max_epochs"),
    )
    b = write(tmp_path, "b", hand, other.get("command", recorded(epochs=other.get("epochs", 2))))
    with pytest.raises(BankError) as error:
        merge_banks([read_bank(a), read_bank(b)], "bttackler bank merge a b")
    assert expected in str(error.value) and "\n" not in str(error.value)


def test_the_cli_refuses_one_bank_the_same_bank_twice_and_overwriting_an_input(tmp_path, capsys):
    a = str(write(tmp_path, "a", bank(trial("t", [0.1])), recorded()))
    assert main(["bank", "merge", a, "--out", str(tmp_path / "p.jsonl")]) == 1
    assert main(["bank", "merge", a, a, "--out", str(tmp_path / "p.jsonl")]) == 1
    assert main(["bank", "merge", a, a, "--out", a]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "bttackler: a pool needs at least two banks; give every bank to merge",
        "bttackler: bank 'a' given twice; each bank goes into a pool once",
        f"bttackler: {a}: --out is one of the banks to merge; write the pool to a new file",
    ]
    assert not (tmp_path / "p.jsonl").exists()


def test_the_cli_replaces_a_file_at_out_only_with_overwrite(tmp_path, capsys):
    a = str(write(tmp_path, "a", bank(trial("t", [0.1])), recorded(seed=7)))
    b = str(write(tmp_path, "b", bank(trial("t", [0.2])), recorded(seed=8)))
    out = tmp_path / "p.jsonl"
    out.write_text("a bank recorded for hours\n")
    assert main(["bank", "merge", a, b, "--out", str(out)]) == 1
    assert capsys.readouterr().err.strip() == (
        f"bttackler: --out {out} already exists; give a new file, or pass --overwrite to replace it"
    )
    assert out.read_text() == "a bank recorded for hours\n"
    assert main(["bank", "merge", a, b, "--out", str(out), "--overwrite"]) == 0
    assert len(read_bank(out).trials) == 2


def test_recording_settings_keep_what_changes_a_trace_and_drop_what_only_picks_or_paces_trials():
    assert recording_settings(recorded(seed=1, c=4, data="/a/b.npz")) == {
        "BTTACKLER_DATA_FRACTION": "0.05",
        "BTTACKLER_EPOCHS": "2",
    }
    digits = (
        "bttackler bank record c.yml --set tuner.classArgs.seed=7"
        " --set 'trialCommand=python train.py --epochs 15'"
    )
    assert recording_settings(digits) == {"--set trialCommand": "python train.py --epochs 15"}
