"""Reading real NNI experiments, replaying them, and the report/replay/compare commands."""

from __future__ import annotations

from pathlib import Path

import pytest
from nni_harness import bttackler

from bttackler_nni.evaluation import top10_hit_ratio, tsba
from bttackler_nni.evaluation.replay import replay
from bttackler_nni.evaluation.results import trial_results
from bttackler_nni.experiments.store import ExperimentNotFound, load

pytestmark = pytest.mark.nni


def test_reading_an_experiment_gives_trials_results_and_verdicts(bttackler_run):
    experiment = bttackler_run.experiment
    assert experiment.direction == "maximize" and experiment.assessor_settings["patience"] == 1
    assert len(experiment.trials) == 6 and [t.sequence for t in experiment.trials] == list(range(6))
    for trial in experiment.trials:
        assert set(trial.parameters) == {
            "optimizer",
            "lr",
            "depth",
            "width",
            "activation",
            "bias_init",
            "batch_size",
        }
        assert 0 <= trial.start < trial.end and len(trial.intermediate) == len(trial.intermediate_times) >= 1
        assert trial.intermediate_times == sorted(trial.intermediate_times)
        assert all(isinstance(r, dict) and "grad_median" in r for r in trial.intermediate)
        if trial.status == "SUCCEEDED":
            assert isinstance(trial.final, float) and trial.stop_verdict is None
        else:
            assert trial.final is None and trial.stop_verdict.stop and trial.last_value is not None
    assert sum(1 for v in experiment.verdicts if v.stop) == sum(
        t.stopped_by_bttackler for t in experiment.trials
    )
    assert load(experiment.id, home=Path(bttackler_run.env["HOME"])).id == experiment.id
    with pytest.raises(ExperimentNotFound, match="no NNI experiment 'nope'"):
        load("nope", home=Path(bttackler_run.env["HOME"]))


def test_replay_finds_the_stops_the_live_assessor_made(bttackler_run):
    experiment = bttackler_run.experiment
    live = {
        t.id: (t.stop_verdict.epoch, t.stop_verdict.reason.indicator)
        for t in experiment.trials
        if t.stop_verdict
    }
    replayed = replay(experiment)
    assert live and {s.verdict.trial: (s.verdict.epoch, s.reason.indicator) for s in replayed.stops} == live


def test_replay_of_a_run_without_early_stopping_shows_the_time_it_would_save(baseline_run):
    experiment = baseline_run.experiment
    result = replay(experiment)
    doomed = {t.id for t in experiment.trials if t.parameters["lr"] == 1e-7}
    assert doomed and {s.verdict.trial for s in result.stops} == doomed
    assert all(s.reason.indicator == "PLC" and s.verdict.epoch == 2 for s in result.stops)
    for stop in result.stops:
        trial = experiment.trial(stop.verdict.trial)
        assert stop.seconds_saved == pytest.approx(trial.end - trial.intermediate_times[2])
        # 7 of the 9 epochs after the first report were still to come (the time before the first
        # report is start-up: imports and data, which a loaded machine stretches).
        assert stop.seconds_saved > 0.5 * (trial.end - trial.intermediate_times[0])


def test_metrics_on_real_runs(bttackler_run, baseline_run):
    enhanced, baseline = trial_results(bttackler_run.experiment), trial_results(baseline_run.experiment)
    assert len(enhanced) == len(baseline) == 6
    assert 0 <= top10_hit_ratio(enhanced, baseline) <= 1
    saved = tsba(enhanced, baseline)
    assert saved is None or saved < 1


def test_report_replay_and_compare_commands_write_their_files(bttackler_run, baseline_run, tmp_path):
    env = bttackler_run.env
    enhanced_id, baseline_id = bttackler_run.experiment.id, baseline_run.experiment.id
    report = bttackler("report", enhanced_id, "--out", str(tmp_path / "report"), env=env)
    assert report.returncode == 0, report.stderr
    assert "stopped by PLC" in report.stdout and "reading experiment" in report.stderr
    assert "## Stops per indicator" in (tmp_path / "report" / "report.md").read_text()

    replayed = bttackler("replay", baseline_id, "--out", str(tmp_path / "replay"), env=env)
    assert replayed.returncode == 0, replayed.stderr
    assert "would have been stopped (PLC" in replayed.stdout
    assert "| PLC | problem |" in (tmp_path / "replay" / "replay.md").read_text()

    compared = bttackler(
        "compare",
        "--baseline",
        baseline_id,
        "--enhanced",
        enhanced_id,
        "--paired",
        "--out",
        str(tmp_path / "compare"),
        env=env,
    )
    assert compared.returncode == 0, compared.stderr
    assert "Top10HR" in compared.stdout and "i-th with i-th" in compared.stdout
    assert (
        "the i-th enhanced run with the i-th baseline run"
        in (tmp_path / "compare" / "compare.md").read_text()
    )
    for png in ("report/stop_epochs.png", "replay/replay_stop_epochs.png", "compare/best_so_far.png"):
        assert (tmp_path / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    missing = bttackler("report", "nope", env=env)
    assert missing.returncode == 1 and "no NNI experiment 'nope'" in missing.stderr


@pytest.mark.parametrize(
    ("database", "cause"),
    [
        (b"", "no such table: ExperimentProfile"),  # as NNI leaves it before creating its tables
        (b"\x7fELF" + bytes(2000), "file is not a database"),
    ],
)
def test_an_experiment_database_that_cannot_be_read_is_named_in_one_line(tmp_path, database, cause):
    (tmp_path / "exp" / "db").mkdir(parents=True)
    (tmp_path / "exp" / "db" / "nni.sqlite").write_bytes(database)
    for command in (
        ["why", str(tmp_path / "exp")],
        ["report", str(tmp_path / "exp"), "--out", str(tmp_path / "r")],
        [
            "compare",
            "--baseline",
            str(tmp_path / "exp"),
            "--enhanced",
            str(tmp_path / "exp"),
            "--out",
            str(tmp_path / "c"),
        ],
    ):
        result = bttackler(*command, env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}, timeout=120)
        assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
        assert result.stderr.strip().splitlines()[-1] == (
            f"bttackler: {tmp_path / 'exp' / 'db' / 'nni.sqlite'} cannot be read as an NNI experiment "
            f"database ({cause}); give the directory of an NNI experiment that has started"
        )
    assert not (tmp_path / "r").exists() and not (tmp_path / "c").exists()  # no empty report folder
