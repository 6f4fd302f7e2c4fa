"""BTTacklerScheduler on a local Ray runtime (2 CPUs): the broken trial stopped with its reason.

Ray's start-up and its worker processes (each imports torch) cost most of this test's time, so it is
one Tune run, marked ``ray`` (``pytest -m ray`` runs it alone, ``-m "not ray"`` skips it).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

ray = pytest.importorskip("ray")
tune = pytest.importorskip("ray.tune")

from ray.tune.logger import JsonLoggerCallback  # noqa: E402

from bttackler_nni import AssessorConfig, ConfigError  # noqa: E402
from bttackler_nni.adapters.ray import BTTacklerScheduler  # noqa: E402

EPOCHS = 4


def trainable(config: dict) -> None:
    """An MLP on digits with SGD at ``config["lr"]``, one Tune result (the epoch record) per epoch."""
    import torch
    from digits_task import split_digits, train_epoch
    from digits_torch import mlp

    from bttackler_nni import Reporter

    torch.set_num_threads(1)
    x_train, y_train, x_val, y_val = split_digits()
    data = x_train[:640], y_train[:640], x_val, y_val
    model = mlp(config["depth"], width=64)
    optimizer = torch.optim.SGD(model.parameters(), lr=config["lr"], momentum=0.9)
    reporter = Reporter(model, optimizer, max_epochs=EPOCHS, report_to_nni=False)
    generator = torch.Generator().manual_seed(0)
    for _ in range(EPOCHS):
        train_loss, _, val_acc = train_epoch(model, optimizer, data, generator)
        tune.report(reporter.end_epoch(train_loss=train_loss, val_acc=val_acc))


@pytest.fixture(scope="module")
def local_ray():
    """A local Ray runtime whose workers import the tests' modules and examples/digits_task.py."""
    folders = (Path(__file__).parent, Path(__file__).parents[1] / "examples")
    path = os.pathsep.join([*map(str, folders), *filter(None, [os.environ.get("PYTHONPATH")])])
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        runtime_env={"env_vars": {"PYTHONPATH": path}},
    )
    yield
    ray.shutdown()


@pytest.mark.ray
def test_the_broken_trial_is_stopped_with_its_reason_and_the_healthy_ones_run_to_the_end(
    local_ray, tmp_path, caplog, monkeypatch
):
    monkeypatch.setenv("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")  # results as JSON only, no TensorBoard
    scheduler = BTTacklerScheduler()
    tuner = tune.Tuner(
        trainable,
        param_space={"depth": 2, "lr": tune.grid_search([0.05, 1e4, 0.1])},
        tune_config=tune.TuneConfig(metric="default", mode="max", scheduler=scheduler),
        run_config=tune.RunConfig(
            storage_path=str(tmp_path), name="bttackler", verbose=0, callbacks=[JsonLoggerCallback()]
        ),
    )
    with caplog.at_level(logging.WARNING, logger="bttackler_nni"):
        results = tuner.fit()
    epochs = {r.config["lr"]: r.metrics["training_iteration"] for r in results}
    assert epochs == {0.05: EPOCHS, 1e4: 1, 0.1: EPOCHS}
    (verdict,) = scheduler.stopped.values()
    broken = next(r for r in results if r.config["lr"] == 1e4)
    assert verdict.trial == broken.metrics["trial_id"] and verdict.reason.indicator == "AGV"
    assert verdict.epoch == 0 and "BTTackler stops Ray Tune trial" in caplog.text
    assert scheduler.debug_string() == "BTTackler diagnosis: stopped 1 (AGV 1)"


def test_the_scheduler_reads_the_per_layer_lists_from_tune_s_flattened_results():
    from types import SimpleNamespace

    from ray.tune.utils import flatten_dict  # what Tune's controller applies before on_trial_result

    layers = {"names": ["fc1", "fc2", "fc3"], "grad": [1e-3, 0.0, 2e-3], "zero_share": [0.0, 1.0, 0.0]}
    record = {"default": 0.5, "epoch": 0, "max_epochs": 10, "train_loss": 2.0, "layers": layers}
    scheduler = BTTacklerScheduler()
    decision = scheduler.on_trial_result(None, SimpleNamespace(trial_id="t1"), flatten_dict(record))
    assert decision == "STOP"
    assert scheduler.stopped["t1"].reason_text().startswith("ERG (Exponentially Reduced Gradients)")
    assert "first fc2" in scheduler.stopped["t1"].reason.rule  # a per-layer finding: the lists arrived


def losses_falling_from(scheduler: BTTacklerScheduler, bases: list[float]) -> list[str]:
    """Feed the scheduler, trial after trial, val losses falling 2% per epoch from each base; return
    the trials it stops."""
    from types import SimpleNamespace

    for number, base in enumerate(bases):
        trial = SimpleNamespace(trial_id=f"t{number}")
        for epoch in range(10):
            loss = base * (1 - 0.02 * epoch)
            record = {"default": loss, "val_loss": loss, "train_loss": loss, "epoch": epoch, "max_epochs": 10}
            if scheduler.on_trial_result(None, trial, record) == "STOP":
                break
        scheduler.on_trial_complete(None, trial, record)
    return sorted(scheduler.stopped)


def test_tune_s_mode_for_the_default_metric_sets_which_way_trials_rank():
    bases = [0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 0.2]  # t6, the lowest loss, is the best trial
    minimizing = BTTacklerScheduler()
    assert minimizing.set_search_properties("default", "min")
    assert losses_falling_from(minimizing, bases) == ["t5"]  # the worst, not the best
    # Tune's mode for another metric says nothing about default's direction: the settings' holds
    other_metric = BTTacklerScheduler(AssessorConfig(direction="minimize"))
    assert other_metric.set_search_properties("val_acc", "max")
    assert losses_falling_from(other_metric, bases) == ["t5"]


@pytest.mark.ray
def test_settings_that_rank_against_tune_s_mode_are_refused_when_the_tuner_starts(local_ray, tmp_path):
    scheduler = BTTacklerScheduler(AssessorConfig(direction="minimize"))
    tuner = tune.Tuner(
        trainable,
        param_space={"depth": 2, "lr": 0.05},
        tune_config=tune.TuneConfig(metric="default", mode="max", scheduler=scheduler),
        run_config=tune.RunConfig(storage_path=str(tmp_path), name="refused", verbose=0),
    )
    refused = r"direction is minimize, but Tune's mode for 'default' is maximize"
    with pytest.raises(ConfigError, match=refused):
        tuner.fit()
