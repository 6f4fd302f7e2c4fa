"""BTTacklerCallback in real Lightning training (CPU, digits): broken runs stopped by their indicator.

Also: statistics before Lightning's gradient clipping, gradient accumulation counted per optimizer
step, and the records an NNI trial would send.
"""

from __future__ import annotations

import logging
import math

import pytest

pl = pytest.importorskip("lightning.pytorch")

import torch  # noqa: E402
from digits_torch import digits, mlp  # noqa: E402
from torch import nn  # noqa: E402
from torch.utils.data import DataLoader, TensorDataset  # noqa: E402

from bttackler_nni.adapters import lightning as adapter  # noqa: E402
from bttackler_nni.adapters.lightning import BTTacklerCallback  # noqa: E402
from bttackler_nni.trial import reporter as reporter_module  # noqa: E402

logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)


class DigitsModule(pl.LightningModule):
    def __init__(self, depth: int = 2, lr: float = 3e-3, optimizer: str = "Adam") -> None:
        super().__init__()
        self.net = mlp(depth, width=64)
        self.lr, self.optimizer_name = lr, optimizer

    def training_step(self, batch, _index):
        x, y = batch
        return nn.functional.cross_entropy(self.net(x), y)

    def validation_step(self, batch, _index):
        x, y = batch
        logits = self.net(x)
        self.log("val_loss", nn.functional.cross_entropy(logits, y))
        self.log("val_acc", (logits.argmax(1) == y).float().mean())

    def configure_optimizers(self):
        return getattr(torch.optim, self.optimizer_name)(self.parameters(), lr=self.lr)


def fit(
    module: DigitsModule, epochs: int = 6, *, val_sets: int = 1, ckpt_path=None, **trainer_options
) -> BTTacklerCallback:
    """Fit ``module`` on digits with ``val_sets`` copies of the validation set; return the callback."""
    x_train, y_train, x_val, y_val = digits()
    generator = torch.Generator().manual_seed(0)
    train = DataLoader(TensorDataset(x_train, y_train), batch_size=64, shuffle=True, generator=generator)
    val = DataLoader(TensorDataset(x_val, y_val), batch_size=512)
    # every step sampled (not the overhead budget's choice), so that step counts are exact
    callback = trainer_options.pop("callback", None) or BTTacklerCallback(sample_every=1)
    quiet = dict(
        logger=False, enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False
    )
    trainer = pl.Trainer(
        max_epochs=epochs, callbacks=[callback], accelerator="cpu", **quiet | trainer_options
    )
    trainer.fit(module, train, val if val_sets == 1 else [val] * val_sets, ckpt_path=ckpt_path)
    return callback


def test_a_huge_learning_rate_is_stopped_by_agv_in_its_first_epoch(caplog):
    with caplog.at_level(logging.WARNING, logger="bttackler_nni"):
        callback = fit(DigitsModule(depth=3, lr=500.0, optimizer="SGD"))
    assert callback.stop_verdict is not None and callback.stop_verdict.reason.indicator == "AGV"
    assert len(callback.records) == 1 and callback.records[0]["nonfinite"] == 1
    assert "BTTackler stops training at epoch 0: AGV (Abnormal Gradient Values)" in caplog.text


def test_a_healthy_run_trains_to_its_end_with_full_records():
    callback = fit(DigitsModule(), epochs=4)
    assert callback.stop_verdict is None and len(callback.records) == 4
    last = callback.records[-1]
    assert last["epoch"] == 3 and last["max_epochs"] == 4 and last["val_acc"] > 0.9
    assert last["default"] == last["val_acc"] and last["train_loss"] < callback.records[0]["train_loss"]
    assert last["sampled_batches"] == 23 and len(last["layers"]["grad"]) == 3  # 1,437 images / 64


def test_statistics_are_taken_before_lightning_clips_the_gradients():
    clipped = fit(DigitsModule(lr=1e-4), epochs=1, gradient_clip_val=1e-6)
    plain = fit(DigitsModule(lr=1e-4), epochs=1)
    # with the gradients clipped to norm 1e-6 the optimizer sees mean |g| of about 1e-8
    assert clipped.records[0]["grad_median"] == pytest.approx(plain.records[0]["grad_median"], rel=0.2)
    assert clipped.records[0]["grad_median"] > 1e-4


def test_gradient_accumulation_counts_one_sample_per_optimizer_step():
    callback = fit(DigitsModule(), epochs=1, accumulate_grad_batches=4)
    record = callback.records[0]
    assert record["sampled_batches"] == 6  # 23 batches in windows of 4
    assert 1.0 < record["train_loss"] < 2.5  # per-batch loss, not divided by the window


def test_inside_an_nni_trial_records_and_the_final_result_go_to_nni(monkeypatch):
    sent = []
    monkeypatch.setattr(reporter_module.nni, "get_experiment_id", lambda: "abcd1234")
    monkeypatch.setattr(reporter_module.nni, "report_intermediate_result", lambda v: sent.append(("i", v)))
    monkeypatch.setattr(reporter_module.nni, "report_final_result", lambda v: sent.append(("f", v)))
    callback = fit(DigitsModule(depth=3, lr=500.0, optimizer="SGD"), epochs=2)
    # inside NNI the assessor decides: the broken run is reported, not stopped locally
    assert callback.stop_verdict is None and [kind for kind, _ in sent] == ["i", "i", "f"]
    assert sent[0][1] is callback.records[0] and sent[0][1]["nonfinite"] == 1


def fp16_amp_on_cpu(init_scale: float) -> tuple[BTTacklerCallback, torch.amp.GradScaler]:
    """fp16 autocast, a GradScaler whose first scales overflow (Lightning's flag would pick bf16 on CPU)."""
    from lightning.pytorch.plugins import MixedPrecision

    scaler = torch.amp.GradScaler("cpu", init_scale=init_scale)
    callback = fit(DigitsModule(), epochs=1, plugins=[MixedPrecision("16-mixed", "cpu", scaler=scaler)])
    return callback, scaler


def test_under_fp16_amp_the_steps_the_grad_scaler_skips_are_not_counted():
    callback, scaler = fp16_amp_on_cpu(2.0**24)
    skipped = round(math.log2(2.0**24 / scaler.get_scale()))  # each skip halves the scale
    record = callback.records[0]
    assert skipped >= 2 and record["sampled_batches"] == 23 - skipped
    assert record["nonfinite"] == 0 and callback.stop_verdict is None


def test_counting_the_skipped_steps_would_stop_a_healthy_amp_run(monkeypatch):
    monkeypatch.setattr(adapter, "_skipped_by_grad_scaler", lambda *_: False)
    callback, _ = fp16_amp_on_cpu(2.0**24)
    assert callback.records[0]["nonfinite"] == 1 and callback.stop_verdict.reason.indicator == "AGV"


def nni_messages(monkeypatch) -> list[tuple[str, object]]:
    """What an NNI trial would send, as ("i", record) and ("f", final result)."""
    sent: list[tuple[str, object]] = []
    monkeypatch.setattr(reporter_module.nni, "get_experiment_id", lambda: "abcd1234")
    monkeypatch.setattr(reporter_module.nni, "report_intermediate_result", lambda v: sent.append(("i", v)))
    monkeypatch.setattr(reporter_module.nni, "report_final_result", lambda v: sent.append(("f", v)))
    return sent


def test_epochs_without_validation_repeat_the_latest_validation_metric_as_default(monkeypatch):
    sent = nni_messages(monkeypatch)
    callback = fit(DigitsModule(), epochs=5, check_val_every_n_epoch=2)  # validates after epochs 1, 3
    records = callback.records
    assert ["val_acc" in r for r in records] == [False, True, False, True, False]
    assert records[0]["default"] == records[0]["train_loss"]  # nothing validated yet
    assert records[2]["default"] == records[1]["val_acc"] and records[4]["default"] == records[3]["val_acc"]
    assert sent[-1] == ("f", records[3]["val_acc"])  # the final result is an accuracy, not a loss


def test_a_fit_resumed_from_a_checkpoint_reports_its_true_epochs(tmp_path):
    first = fit(DigitsModule(), epochs=2, default_root_dir=str(tmp_path), enable_checkpointing=True)
    (checkpoint,) = tmp_path.glob("**/*.ckpt")
    resumed = fit(DigitsModule(), epochs=4, ckpt_path=checkpoint)
    assert [r["epoch"] for r in first.records] == [0, 1]
    assert [(r["epoch"], r["max_epochs"]) for r in resumed.records] == [(2, 4), (3, 4)]
    assert "startup_seconds" in resumed.records[0]  # the resumed process's start-up, in its first record


class TwoValidationSets(DigitsModule):
    def validation_step(self, batch, _index, dataloader_idx=0):
        super().validation_step(batch, _index)  # Lightning logs val_acc/dataloader_idx_0 and _1


def test_validation_logged_under_other_names_is_named_in_a_warning(caplog):
    with caplog.at_level(logging.WARNING, logger="bttackler_nni"):
        callback = fit(TwoValidationSets(), epochs=2, val_sets=2)
    assert caplog.text.count("validation ran but logged none of 'val_loss', 'val_acc'") == 1
    assert "val_acc/dataloader_idx_0" in caplog.text and "val_acc" not in callback.records[0]


def test_a_stop_the_trainer_overrides_is_logged_once(caplog):
    with caplog.at_level(logging.WARNING, logger="bttackler_nni"):
        callback = fit(DigitsModule(depth=3, lr=500.0, optimizer="SGD"), epochs=3, min_epochs=3)
    assert len(callback.records) == 3 and callback.stop_verdict is not None
    assert caplog.text.count("BTTackler stops training") == 1
