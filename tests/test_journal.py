"""Chaos: journals that survive undecodable bytes, torn and garbage lines, odd values and odd paths."""

from __future__ import annotations

import json
import logging

import pytest
from synthetic import healthy_history, with_losses

from bttackler_nni import BTTacklerAssessor, BTTacklerTuner
from bttackler_nni.dispatcher.journal import (
    JOURNAL_DIR,
    TUNER_FEEDBACK_FILE,
    VERDICTS_FILE,
    JsonlJournal,
    StoppedTrials,
    read_jsonl,
)

pytestmark = pytest.mark.chaos

FLAT = with_losses([2.3, 2.299, 2.298])
SPACE = {
    "lr": {"_type": "loguniform", "_value": [1e-5, 1.0]},
    "width": {"_type": "choice", "_value": [16, 32]},
}


@pytest.fixture
def journal_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("NNI_CHECKPOINT_DIRECTORY", str(tmp_path))
    return tmp_path / JOURNAL_DIR


def test_damaged_lines_are_skipped_with_one_warning_each_and_the_rest_kept(tmp_path, caplog):
    path = tmp_path / "j.jsonl"
    path.write_bytes(
        b'{"a": 1}\n'
        b'{"b": "\xff\xfe"}\n'  # not UTF-8
        b"not json\n"
        b"[1, 2]\n"  # JSON, not an object
        b'{"epoch": 1e400}\n'  # out of range
        b'{"loss": NaN}\n'  # we write non-finite numbers as strings
        b"\n"
        b'{"c": 3}\n'
        b'{"torn": '  # a crash mid-write
    )
    with caplog.at_level(logging.WARNING, logger="bttackler_nni"):
        assert list(read_jsonl(path)) == [{"a": 1}, {"c": 3}]
    assert [r.getMessage().split(" of ")[0] for r in caplog.records] == [
        "BTTackler skipped unreadable line 2",
        "BTTackler skipped unreadable line 3",
        "BTTackler skipped line 4",
        "BTTackler skipped unreadable line 5",
        "BTTackler skipped unreadable line 6",
        "BTTackler skipped unreadable line 9",
    ]


def test_appending_after_a_torn_line_never_merges_into_it(tmp_path):
    path = tmp_path / "j.jsonl"
    path.write_bytes(b'{"a": 1}\n{"torn": ')
    journal = JsonlJournal(path)
    journal.append({"b": 2})
    journal.close()
    assert list(read_jsonl(path)) == [{"a": 1}, {"b": 2}]


def test_an_unreadable_or_unwritable_journal_path_degrades_to_logging(journal_dir, caplog):
    (journal_dir / VERDICTS_FILE).mkdir(parents=True)  # a directory where the file should be
    with caplog.at_level(logging.INFO, logger="bttackler_nni"):
        assessor = BTTacklerAssessor()
        assessor.load_checkpoint()
        for n in range(1, 4):
            assessor.assess_trial("flat", FLAT[:n])
    assert list(read_jsonl(journal_dir / VERDICTS_FILE)) == []
    assert "cannot open its journal" in caplog.text
    assert "BTTackler trial flat stopped at epoch 2" in caplog.text  # the stop is still explained


def test_values_the_writer_cannot_encode_are_logged_not_raised(tmp_path, caplog):
    journal = JsonlJournal(tmp_path / "j.jsonl")
    with caplog.at_level(logging.INFO, logger="bttackler_nni"):
        journal.append({"value": float("nan")})
        journal.append({"value": 1.0})
    assert list(read_jsonl(tmp_path / "j.jsonl")) == [{"value": 1.0}]
    assert "cannot write" in caplog.text and "'value': nan" in caplog.text


def write_verdicts(journal_dir) -> list[dict]:
    assessor = BTTacklerAssessor()
    for n in range(1, 4):
        assessor.assess_trial("flat", FLAT[:n])
    for n in range(1, 4):
        assessor.assess_trial("good", healthy_history(3)[:n])
    assessor._on_exit()
    return list(read_jsonl(journal_dir / VERDICTS_FILE))


@pytest.mark.parametrize(
    "damage",
    [
        b"\xff\xfe\xfd\n",
        b'{"trial": "x", "report": 1, "epoch": 1e400, "stop": false}\n',
        b'{"trial": "x", "report": 1, "epoch": 1' + b"0" * 400 + b', "stop": false}\n',
        b'{"trial": "x", "report": 1, "epoch": -3, "stop": false}\n',
        b'{"trial": "x", "report": 1, "epoch": 2, "stop": true, "indicator": "XYZ"}\n',
        b'{"trial": "x", "report": "one", "epoch": 2, "stop": false}\n',
        b'{"trial": "x", "report": 1, "epoch": 2, "stop": false, "train_loss": "oops"}\n',
        b'{"trial": "x", "rep',
    ],
)
def test_resume_keeps_every_good_verdict_whatever_one_damaged_line_holds(journal_dir, damage, caplog):
    lines = write_verdicts(journal_dir)
    path = journal_dir / VERDICTS_FILE
    good = path.read_bytes()
    middle = good.index(b"\n", len(good) // 2) + 1
    path.write_bytes(good[:middle] + damage + (b"\n" if not damage.endswith(b"\n") else b"") + good[middle:])
    resumed = BTTacklerAssessor()
    with caplog.at_level(logging.INFO, logger="bttackler_nni"):
        resumed.load_checkpoint()
    verdicts = sum("event" not in line for line in lines)
    assert f"restored {verdicts} verdicts" in caplog.text
    assert "skipped" in caplog.text
    assert "flat" in resumed._diagnoser.stopped


def fed_tuner(journal_dir) -> list[dict]:
    """A TPE wrapper fed three stopped trials' results; returns the feedback journal's lines."""
    tuner = BTTacklerTuner("TPE", {"optimize_mode": "maximize", "seed": 0})
    tuner.update_search_space(SPACE)
    assessor = BTTacklerAssessor()
    tuner.generate_multiple_parameters([0, 1, 2])
    for parameter_id in range(3):
        trial = f"t{parameter_id}"
        history = [{**r, "trial": {"parameter_id": parameter_id}} for r in FLAT]
        for n in range(1, 4):
            assessor.assess_trial(trial, history[:n])
        assessor.trial_end(trial, False)
        tuner.trial_end(parameter_id, False)
    tuner._on_exit()
    return list(read_jsonl(journal_dir / TUNER_FEEDBACK_FILE))


def replayed(caplog) -> list[str]:
    resumed = BTTacklerTuner("TPE", {"optimize_mode": "maximize"})
    with caplog.at_level(logging.INFO, logger="bttackler_nni"):
        resumed.load_checkpoint()
        resumed.update_search_space(SPACE)
    return [r.loss for r in resumed.inner._history[("lr",)]]


def test_resume_replays_the_good_feedback_lines_around_a_bad_byte_and_a_stale_line(journal_dir, caplog):
    lines = fed_tuner(journal_dir)
    assert len(lines) == 3
    stale = {**lines[0], "parameters": {"lr": 0.01, "depth": 3}}  # from an older search space
    path = journal_dir / TUNER_FEEDBACK_FILE
    path.write_bytes(
        json.dumps(stale).encode()
        + b"\n"
        + b"\xff\n"
        + b"".join(json.dumps(x).encode() + b"\n" for x in lines)
    )
    losses = replayed(caplog)
    assert len(losses) == 3  # the three good lines, whatever came before them
    assert "rejected stopped-trial result 1 of 4" in caplog.text
    assert "replayed 3 of 4 stopped trials' results" in caplog.text


def test_resume_with_a_directory_in_place_of_the_feedback_journal_starts_clean(journal_dir, caplog):
    (journal_dir / TUNER_FEEDBACK_FILE).mkdir(parents=True)
    assert replayed(caplog) == []
    assert "cannot read" in caplog.text


def test_the_trials_bttackler_stopped_are_read_as_the_journal_grows_past_torn_and_damaged_lines(journal_dir):
    """What ``bttackler run``'s progress line counts as "stopped by BTTackler", poll after poll."""
    path = journal_dir / VERDICTS_FILE
    stopped = StoppedTrials(path)
    assert stopped.update() == frozenset()  # no journal yet
    assessor = BTTacklerAssessor()
    for n in range(1, 4):
        assessor.assess_trial("flat", FLAT[:n])
        assessor.assess_trial("healthy", healthy_history(n))
    assert stopped.update() == {"flat"}
    with path.open("ab") as stream:  # a damaged line, then a line the assessor is still writing
        stream.write(b'{"trial": "x", "stop": tr\xff}\n{"trial": "late", "report": 4, "stop": ')
    assert stopped.update() == {"flat"}
    with path.open("ab") as stream:
        stream.write(b'true}\n{"trial": "healthy", "report": 4, "stop": false}\n')
    assert stopped.update() == {"flat", "late"}
