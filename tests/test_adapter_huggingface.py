"""BTTacklerTrainerCallback in a real Hugging Face Trainer run (CPU, digits, a plain torch model).

No hub download: the model is a small ``torch.nn.Module`` whose forward returns the loss, which the
Trainer accepts as it is.
"""

from __future__ import annotations

import logging

import pytest

transformers = pytest.importorskip("transformers")
pytest.importorskip("accelerate")

from digits_task import DigitsClassifier, DigitsExamples, accuracy, split_digits  # noqa: E402

from bttackler_nni.adapters.huggingface import BTTacklerTrainerCallback  # noqa: E402
from bttackler_nni.trial import reporter as reporter_module  # noqa: E402

transformers.logging.set_verbosity_error()


def train(
    tmp_path, *, depth=2, lr=1e-2, optim="adamw_torch", epochs=3, resume_from=None, **arguments
) -> BTTacklerTrainerCallback:
    """``epochs`` of 10 steps (640 of the training images, batches of 64), resumed from the
    checkpoint folder ``resume_from`` if given."""
    x_train, y_train, x_val, y_val = split_digits()
    x_train, y_train = x_train[:640], y_train[:640]
    callback = BTTacklerTrainerCallback()
    args = transformers.TrainingArguments(
        output_dir=str(tmp_path),
        num_train_epochs=epochs,
        learning_rate=lr,
        optim=optim,
        per_device_train_batch_size=64,
        per_device_eval_batch_size=512,
        eval_strategy=arguments.pop("eval_strategy", "epoch"),
        save_strategy=arguments.pop("save_strategy", "no"),
        report_to="none",
        use_cpu=True,
        disable_tqdm=True,
        seed=0,
        **arguments,
    )
    trainer = transformers.Trainer(
        model=DigitsClassifier(depth),
        args=args,
        train_dataset=DigitsExamples(x_train, y_train),
        eval_dataset=DigitsExamples(x_val, y_val),
        compute_metrics=accuracy,
        callbacks=[callback],
    )
    trainer.train(resume_from_checkpoint=resume_from)
    return callback


def test_a_huge_learning_rate_is_stopped_by_agv_in_its_first_epoch(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="bttackler_nni"):
        callback = train(tmp_path, depth=3, lr=500.0, optim="sgd", max_grad_norm=0.0)
    assert callback.stop_verdict is not None and callback.stop_verdict.reason.indicator == "AGV"
    assert len(callback.records) == 1 and callback.records[0]["nonfinite"] == 1
    assert "BTTackler stops training at epoch 0: AGV (Abnormal Gradient Values)" in caplog.text


def test_a_healthy_run_trains_to_its_end_with_evaluation_metrics_in_its_records(tmp_path):
    callback = train(tmp_path)
    assert callback.stop_verdict is None and [r["epoch"] for r in callback.records] == [0, 1, 2]
    first, last = callback.records[0], callback.records[-1]
    assert last["max_epochs"] == 3 and last["val_acc"] > 0.85 and last["default"] == last["val_acc"]
    assert last["val_loss"] < first["val_loss"] and last["train_loss"] < first["train_loss"]
    assert last["sampled_batches"] == 10 and len(last["layers"]["grad"]) == 3


def test_the_train_loss_is_the_epoch_mean_whatever_the_logging_steps(tmp_path):
    every_step = train(tmp_path / "a", epochs=2, logging_steps=1).records
    rarely = train(tmp_path / "b", epochs=2, logging_steps=3).records  # 3 logs per epoch and the tail
    for a, b in zip(every_step, rarely, strict=True):
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-5)


def test_statistics_are_of_the_gradients_the_trainer_clipped(tmp_path):
    raw = train(tmp_path / "raw", epochs=1, max_grad_norm=0.0).records[0]
    clipped = train(tmp_path / "clipped", epochs=1, max_grad_norm=1e-6).records[0]
    # clipped to a total norm of 1e-6 over about 9,000 weights: mean |g| far below 1e-8
    assert raw["grad_median"] > 1e-4 and clipped["grad_median"] < 1e-8


def test_gradient_accumulation_counts_one_sample_per_optimizer_step(tmp_path):
    record = train(tmp_path, epochs=1, gradient_accumulation_steps=4).records[0]
    assert record["sampled_batches"] == 3  # 10 batches in windows of 4


def test_evaluating_every_few_steps_puts_the_epochs_latest_evaluation_in_its_record(tmp_path):
    records = train(tmp_path, epochs=2, eval_strategy="steps", eval_steps=4).records
    assert [r["epoch"] for r in records] == [0, 1] and all("val_acc" in r for r in records)


def test_inside_an_nni_trial_records_and_the_final_result_go_to_nni(tmp_path, monkeypatch):
    sent = []
    monkeypatch.setattr(reporter_module.nni, "get_experiment_id", lambda: "abcd1234")
    monkeypatch.setattr(reporter_module.nni, "report_intermediate_result", lambda v: sent.append(("i", v)))
    monkeypatch.setattr(reporter_module.nni, "report_final_result", lambda v: sent.append(("f", v)))
    callback = train(tmp_path, depth=3, lr=500.0, optim="sgd", max_grad_norm=0.0, epochs=2)
    assert callback.stop_verdict is None and [kind for kind, _ in sent] == ["i", "i", "f"]
    assert sent[0][1] is callback.records[0] and sent[0][1]["nonfinite"] == 1


def test_a_run_resumed_from_a_checkpoint_reports_its_true_epochs(tmp_path):
    first = train(tmp_path, epochs=2, save_strategy="epoch")
    resumed = train(tmp_path, epochs=4, resume_from=str(tmp_path / "checkpoint-20"))
    assert [r["epoch"] for r in first.records] == [0, 1]
    assert [(r["epoch"], r["max_epochs"]) for r in resumed.records] == [(2, 4), (3, 4)]


def test_an_evaluation_before_training_is_no_epoch_s_evaluation(tmp_path):
    # eval_on_start evaluates the untrained model; the first evaluation in training is at step 15, in epoch 1
    records = train(tmp_path, epochs=2, eval_strategy="steps", eval_steps=15, eval_on_start=True).records
    assert "val_acc" not in records[0] and "val_acc" in records[1]
