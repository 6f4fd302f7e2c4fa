"""The Reporter's statistics match a direct host computation; layers, order, AMP, NaN, size, robustness."""

from __future__ import annotations

import json
import logging
import math
import subprocess
import sys

import numpy as np
import pytest
import torch
from digits_torch import digits, mlp, train
from torch import nn

import bttackler_nni.trial.distributed as distributed
import bttackler_nni.trial.gradients as gradient_monitor
import bttackler_nni.trial.reporter as reporter_module
from bttackler_nni import Reporter
from bttackler_nni.record import parse_record
from bttackler_nni.trial.layers import find_weight_layers


class HostStatistics:
    """Per-layer mean |grad| and zero share computed on the host with numpy, batch by batch."""

    def __init__(self, weights: list[torch.Tensor], scale: float = 1.0) -> None:
        self.weights, self.scale = weights, scale
        self.grad_sums = np.zeros(len(weights))
        self.zero_sums = np.zeros(len(weights))
        self.batches = 0

    def observe(self) -> None:
        for i, w in enumerate(self.weights):
            g = w.grad.detach().cpu().numpy().astype(np.float64) / self.scale
            self.grad_sums[i] += np.abs(g).mean()
            self.zero_sums[i] += (g == 0).mean()
        self.batches += 1

    def epoch(self) -> tuple[np.ndarray, np.ndarray]:
        result = self.grad_sums / self.batches, self.zero_sums / self.batches
        self.__init__(self.weights, self.scale)
        return result


def assert_matches(record: dict, host: tuple[np.ndarray, np.ndarray]) -> None:
    np.testing.assert_allclose(record["layers"]["grad"], host[0], rtol=1e-5)
    np.testing.assert_allclose(record["layers"]["zero_share"], host[1], rtol=1e-5, atol=1e-7)
    assert record["grad_median"] == pytest.approx(float(np.median(host[0])), rel=1e-5)


@pytest.mark.parametrize("sample_every", [1, 3])
def test_statistics_match_a_direct_host_computation(sample_every):
    model = mlp(3, width=48, bias=-0.05)  # some dead units: non-trivial zero shares
    weights = [m.weight for m in model if isinstance(m, nn.Linear)]
    host = HostStatistics(weights)
    epochs: list[tuple[np.ndarray, np.ndarray]] = []
    batches_per_epoch = math.ceil(len(digits()[0]) / 64)

    def on_batch(batch: int) -> None:
        if batch % sample_every == 0:
            host.observe()
        if batch == batches_per_epoch - 1:
            epochs.append(host.epoch())

    run = train(
        model,
        torch.optim.SGD(model.parameters(), lr=0.05),
        epochs=3,
        stop_early=False,
        reporter_kwargs={"sample_every": sample_every},
        on_batch=on_batch,
    )
    for record, expected in zip(run.records, epochs, strict=True):
        assert_matches(record, expected)
        assert record["sampled_batches"] == math.ceil(batches_per_epoch / sample_every)
        assert record["layers"]["names"] == ["0", "2", "4", "6"]


def test_manual_after_backward_equals_the_optimizer_hook():
    x, y, _, _ = digits()
    records = []
    for use_optimizer in (True, False):
        model = mlp(2)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        reporter = Reporter(model, optimizer if use_optimizer else None, max_epochs=1)
        for start in range(0, 640, 64):
            optimizer.zero_grad()
            nn.functional.cross_entropy(model(x[start : start + 64]), y[start : start + 64]).backward()
            if not use_optimizer:
                reporter.after_backward()
            optimizer.step()
        records.append(reporter.end_epoch(train_loss=1.0))
    assert records[0]["layers"] == records[1]["layers"]


@pytest.mark.parametrize("sign_pass_elements", [1 << 24, 100])  # 100: several runs, large tensors alone
def test_fused_and_per_tensor_reductions_agree(monkeypatch, sign_pass_elements):
    monkeypatch.setattr(gradient_monitor, "SIGN_PASS_ELEMENTS", sign_pass_elements)
    grads = [
        torch.randn(30, 20),
        torch.zeros(5, 4),
        torch.tensor([[0.0, -2.0], [3.0, 0.0]]),
        torch.randn(7, 3, 3, 3).half() * (torch.rand(7, 3, 3, 3) > 0.5),
        torch.randn(50) * (torch.rand(50) > 0.3),
    ]
    expected = [float(g.float().abs().sum()) for g in grads] + [float((g != 0).sum()) for g in grads]
    for fused in (True, False):
        result = gradient_monitor.reduce_gradients(grads, fused, torch.device("cpu"))
        assert result.dtype == torch.float32
        np.testing.assert_allclose(result.numpy(), expected, rtol=1e-5)


def test_amp_grad_scaler_steps_report_unscaled_gradients():
    x, y, _, _ = digits()
    model = mlp(2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**12)
    reporter = Reporter(model, optimizer, max_epochs=1)
    weights = [m.weight for m in model if isinstance(m, nn.Linear)]
    host = HostStatistics(weights, scale=2.0**12)
    for start in range(0, 640, 64):
        optimizer.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss = nn.functional.cross_entropy(model(x[start : start + 64]), y[start : start + 64])
        scaler.scale(loss).backward()
        host.observe()  # scaled gradients, divided by the scale on the host
        scaler.step(optimizer)
        scaler.update()
        assert scaler.get_scale() == 2.0**12  # no overflow skipped a step
    assert_matches(reporter.end_epoch(train_loss=loss), host.epoch())


def test_nan_loss_and_gradients_set_the_nonfinite_flag():
    model = mlp(1)
    x, y, _, _ = digits()
    reporter = Reporter(model, torch.optim.SGD(model.parameters(), lr=0.1), max_epochs=5)
    loss = nn.functional.cross_entropy(model(x[:32]) * float("nan"), y[:32])
    loss.backward()
    reporter.after_backward()
    record = reporter.end_epoch(train_loss=loss)
    assert record["nonfinite"] == 1 and math.isnan(record["train_loss"])
    clean = reporter.end_epoch(train_loss=1.0)
    assert clean["nonfinite"] == 0 and "layers" not in clean  # no batch seen this epoch
    assert reporter.end_epoch(train_loss=1.0, val_loss=float("inf"))["nonfinite"] == 1


class Ordered(nn.Module):
    """Registration order differs from forward order; includes recurrent, attention, embedding layers."""

    def __init__(self) -> None:
        super().__init__()
        self.head = nn.Linear(16, 4)
        self.attention = nn.MultiheadAttention(16, 2, batch_first=True)
        self.lstm = nn.LSTM(16, 16, num_layers=2, batch_first=True)
        self.gru = nn.GRU(16, 8, bidirectional=True, batch_first=True)
        self.embed = nn.Embedding(50, 16)
        self.frozen = nn.Linear(16, 16)
        self.frozen.requires_grad_(False)
        self.unused = nn.Linear(3, 3)
        self.custom = nn.Parameter(torch.randn(16, 16) * 0.1)
        self.norm = nn.LayerNorm(16)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        h = self.norm(self.frozen(self.embed(tokens)) @ self.custom)
        h, _ = self.attention(h, h, h)
        h, _ = self.lstm(h)
        h, _ = self.gru(h)
        return self.head(torch.cat([h[:, -1, :8], h[:, 0, 8:]], dim=1))


def test_layers_found_by_type_and_shape_in_forward_order():
    model = Ordered()
    optimizer = torch.optim.Adam(model.parameters())
    reporter = Reporter(model, optimizer, max_epochs=2)
    tokens = torch.randint(0, 50, (4, 6))
    nn.functional.cross_entropy(model(tokens), torch.tensor([0, 1, 2, 3])).backward()
    optimizer.step()
    record = reporter.end_epoch(train_loss=1.0)
    # A weight is placed at the first call of the module that owns it: the root's own parameter comes
    # first; out_proj, which its parent uses without calling it, follows the parent. frozen and norm
    # are not monitored; unused gets no gradient and is left out.
    assert record["layers"]["names"] == [
        "Ordered.custom",
        "embed",
        "attention",
        "attention.out_proj",
        "lstm.weight_ih_l0",
        "lstm.weight_ih_l1",
        "gru.weight_ih_l0",
        "gru.weight_ih_l0_reverse",
        "head",
    ]


def test_subclasses_and_tied_weights():
    class MyLinear(nn.Linear):
        pass

    class Tied(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = nn.Embedding(10, 8)
            self.body = MyLinear(8, 8)
            self.decoder = nn.Linear(8, 10, bias=False)
            self.decoder.weight = self.embed.weight

    names = [layer.name for layer in find_weight_layers(Tied())]
    assert names == ["embed", "body"]


def test_record_size_is_bounded_for_a_200_layer_model():
    model = nn.Sequential(*[nn.Linear(8, 8) for _ in range(200)])
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    reporter = Reporter(model, optimizer, max_epochs=1)
    model(torch.randn(4, 8)).sum().backward()
    optimizer.step()
    record = reporter.end_epoch(train_loss=1.0)
    assert len(record["layers"]["grad"]) == 200
    assert len(json.dumps(record)) < 50_000  # NNI's legacy channel limit is 1,000,000


def test_layers_beyond_max_layers_are_merged_into_groups():
    model = nn.Sequential(*[nn.Linear(4, 4) for _ in range(10)])
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    reporter = Reporter(model, optimizer, max_epochs=1, max_layers=4)
    model(torch.randn(2, 4)).sum().backward()
    optimizer.step()
    layers = reporter.end_epoch(train_loss=1.0)["layers"]
    assert layers["names"] == ["0..2", "3..5", "6..8", "9..9"]
    assert len(layers["grad"]) == len(layers["zero_share"]) == 4


def test_dead_activation_share_matches_host_computation():
    x, y, _, _ = digits()
    model = mlp(2, width=32, bias=-0.1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    reporter = Reporter(model, optimizer, max_epochs=1, track_activations=True)
    outputs: dict[int, list[float]] = {1: [0, 0], 3: [0, 0]}
    for start in range(0, 256, 64):
        h = x[start : start + 64]
        for i, layer in enumerate(model):
            h = layer(h)
            if i in outputs:
                outputs[i][0] += float((h <= 0).sum())
                outputs[i][1] += h.numel()
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(x[start : start + 64]), y[start : start + 64]).backward()
        optimizer.step()
    model.eval()
    model(x[:100])  # evaluation passes are not counted
    record = reporter.end_epoch(train_loss=1.0)
    expected = [outputs[i][0] / outputs[i][1] for i in (1, 3)]
    assert record["activations"]["names"] == ["1", "3"]
    np.testing.assert_allclose(record["activations"]["dead_share"], expected, rtol=1e-6)
    assert record["dead_activation_share"] == pytest.approx(float(np.median(expected)))


@pytest.mark.parametrize(
    "failing",
    [
        "bttackler_nni.trial.gradients.reduce_gradients",
        "bttackler_nni.trial.activations.ActivationMonitor._count",
    ],
)
def test_a_failing_statistic_never_breaks_training(monkeypatch, caplog, failing):
    def broken(*_args):
        raise RuntimeError("kernel failure")

    monkeypatch.setattr(failing, broken)
    model = mlp(1)
    with caplog.at_level(logging.WARNING, logger="bttackler_nni"):
        run = train(
            model,
            torch.optim.Adam(model.parameters(), lr=1e-3),
            epochs=3,
            stop_early=False,
            reporter_kwargs={"track_activations": True},
        )
    assert len(run.records) == 3 and all("grad_median" not in r for r in run.records)
    assert all("dead_activation_share" not in r for r in run.records)
    assert all("train_loss" in r and "val_acc" in r for r in run.records)
    assert caplog.text.count("could not compute") == 1


def test_end_epoch_sends_and_returns_the_same_dict_and_finish_sends_the_final(monkeypatch):
    sent = []
    monkeypatch.setattr(reporter_module.nni, "report_intermediate_result", lambda v: sent.append(("i", v)))
    monkeypatch.setattr(reporter_module.nni, "report_final_result", lambda v: sent.append(("f", v)))
    reporter = Reporter(mlp(1), max_epochs=3)
    first = reporter.end_epoch(train_loss=torch.tensor(0.7), val_loss=0.6)
    second = reporter.end_epoch(train_loss=0.5, val_loss=0.4, val_acc=0.8, train_acc=0.9)
    third = reporter.end_epoch(train_loss=0.3, default=0.123)
    assert sent == [("i", first), ("i", second), ("i", third)] and sent[0][1] is first
    assert (first["default"], second["default"], third["default"]) == (0.6, 0.8, 0.123)
    assert (first["epoch"], second["epoch"], third["epoch"], third["max_epochs"]) == (0, 1, 2, 3)
    assert reporter.finish() == 0.123 and sent[-1] == ("f", 0.123)
    assert Reporter(mlp(1), max_epochs=1).finish(0.9, val_mse=0.1) == {"default": 0.9, "val_mse": 0.1}


def test_an_epoch_without_validation_repeats_the_latest_validation_metric_as_default():
    reporter = Reporter(mlp(1), max_epochs=5, report_to_nni=False)
    epochs = [{"train_loss": 2.0}, {"train_loss": 1.0, "val_acc": 0.6}, {"train_loss": 0.8}]
    epochs += [{"train_loss": 0.7, "val_acc": 0.7}, {"train_loss": 0.5}]
    records = [reporter.end_epoch(**metrics) for metrics in epochs]
    assert [r["default"] for r in records] == [2.0, 0.6, 0.6, 0.7, 0.7]  # the train loss before any
    assert [r.get("default_is_train_loss", 0) for r in records] == [1, 0, 0, 0, 0]
    assert (
        parse_record(records[0])[0].default_is_train_loss
        and not parse_record(records[2])[0].default_is_train_loss
    )
    assert "val_acc" not in records[2] and "val_acc" not in records[4]  # the record does not pretend
    assert reporter.finish() == 0.7  # the final result is the metric, not the last train loss


def test_a_resumed_run_starts_its_records_at_first_epoch():
    reporter = Reporter(mlp(1), max_epochs=4, first_epoch=2, report_to_nni=False)
    assert reporter.epoch == 2
    first, second = (reporter.end_epoch(train_loss=0.5) for _ in range(2))
    assert [(r["epoch"], r["max_epochs"]) for r in (first, second)] == [(2, 4), (3, 4)]
    assert "startup_seconds" in first and "startup_seconds" not in second  # this process's start-up


def test_epoch_seconds_measure_each_epoch_from_the_previous_record(monkeypatch):
    clock = iter([100.0, 103.5, 104.0])  # Reporter created, end of epoch 0, end of epoch 1
    monkeypatch.setattr(reporter_module.time, "perf_counter", lambda: next(clock))
    reporter = Reporter(mlp(1), max_epochs=2)
    first, second = (reporter.end_epoch(train_loss=0.5) for _ in range(2))
    assert (first["epoch_seconds"], second["epoch_seconds"]) == (3.5, 0.5)


def test_the_first_record_carries_the_seconds_from_the_process_start_to_the_reporter():
    # A fresh process that spends at least 1.5 s (imports, then a sleep) before its Reporter exists.
    script = (
        "import json, sys, time\n"
        "started = time.time()\n"
        "time.sleep(1.5)\n"
        "import torch\n"
        "from bttackler_nni import Reporter\n"
        "reporter = Reporter(torch.nn.Linear(2, 1), max_epochs=2)\n"
        "records = [reporter.end_epoch(train_loss=0.5) for _ in range(2)]\n"
        "print(json.dumps([time.time() - started, *[r.get('startup_seconds') for r in records]]))\n"
    )
    command = [sys.executable, "-c", script]
    out = subprocess.run(command, capture_output=True, text=True, check=True, timeout=120)
    since_script, first, second = json.loads(out.stdout.splitlines()[-1])
    assert 1.5 <= first <= since_script + 5.0  # the interpreter's own start-up comes before the script
    assert second is None


@pytest.mark.parametrize("key", ["epoch_seconds", "startup_seconds"])
def test_the_seconds_round_trip_through_the_record_and_bad_ones_are_named(key):
    sent = Reporter(mlp(1), max_epochs=2).end_epoch(train_loss=0.5)
    parsed, problems = parse_record(sent)
    assert problems == [] and getattr(parsed, key) == pytest.approx(sent[key])
    for bad in (-1.0, "3 s"):
        parsed, problems = parse_record({**sent, key: bad})
        assert getattr(parsed, key) is None and parsed.train_loss == 0.5
        assert len(problems) == 1 and problems[0].startswith(key)


def test_without_a_process_start_time_the_record_simply_lacks_the_start_up(monkeypatch):
    def unknown(*_):
        raise reporter_module.psutil.AccessDenied()

    monkeypatch.setattr(reporter_module.psutil, "Process", unknown)
    record = Reporter(mlp(1), max_epochs=2).end_epoch(train_loss=0.5)
    assert "startup_seconds" not in record and record["default"] == 0.5


def test_works_outside_an_experiment_through_nni_standalone_mode():
    record = Reporter(mlp(1), max_epochs=2).end_epoch(train_loss=0.5)
    assert record["default"] == 0.5 and "trial" not in record


def test_record_carries_the_parameter_id_nni_delivered(monkeypatch):
    monkeypatch.setattr(reporter_module.nni.trial, "_params", {"parameter_id": 20, "parameters": {}})
    record = Reporter(mlp(1), max_epochs=2).end_epoch(train_loss=0.5)
    assert record["trial"] == {"parameter_id": 20}


@pytest.mark.parametrize(
    "kwargs, error",
    [
        ({"max_epochs": 0}, "max_epochs"),
        ({"max_epochs": 5, "sample_every": 0}, "sample_every"),
        ({"max_epochs": 5, "max_layers": 5000}, "max_layers"),
        ({"max_epochs": 2.5}, "max_epochs"),
        ({"max_epochs": 5, "first_epoch": -1}, "first_epoch"),
        ({"max_epochs": 5, "first_epoch": 6}, r"first_epoch=...\) must be a whole number >= 0 and <= 5"),
    ],
)
def test_invalid_arguments_fail_fast(kwargs, error):
    with pytest.raises(ValueError, match=error):
        Reporter(mlp(1), **kwargs)


def test_wrong_model_or_metric_types_fail_fast():
    with pytest.raises(TypeError, match="torch.nn.Module"):
        Reporter("model", max_epochs=1)
    with pytest.raises(TypeError, match="train_loss must be a number"):
        Reporter(mlp(1), max_epochs=1).end_epoch(train_loss="low")
    with pytest.raises(TypeError, match="val_loss must be a number or a one-element tensor or array"):
        Reporter(mlp(1), max_epochs=1).end_epoch(train_loss=1.0, val_loss=np.array([0.5, 0.4]))


def test_numpy_scalars_and_one_element_arrays_are_numbers():
    record = Reporter(mlp(1), max_epochs=1, report_to_nni=False).end_epoch(
        train_loss=np.float32(0.5), val_loss=np.array(0.25), val_acc=np.array([0.75])
    )
    assert (record["train_loss"], record["val_loss"], record["val_acc"]) == (0.5, 0.25, 0.75)


def test_a_reporter_not_reporting_to_nni_builds_the_same_records_and_sends_nothing(monkeypatch):
    def refuse(_value):
        raise AssertionError("sent to NNI")

    monkeypatch.setattr(reporter_module.nni, "report_intermediate_result", refuse)
    monkeypatch.setattr(reporter_module.nni, "report_final_result", refuse)
    reporter = Reporter(mlp(1), max_epochs=2, report_to_nni=False)
    record = reporter.end_epoch(train_loss=0.5, val_acc=0.7)
    assert (record["default"], record["epoch"], record["max_epochs"]) == (0.7, 0, 2)
    assert reporter.finish() == 0.7


def test_in_nni_trial_reads_the_experiment_nni_started_the_process_for(monkeypatch):
    assert not distributed.in_nni_trial()
    monkeypatch.setattr(distributed.nni, "get_experiment_id", lambda: "abcd1234")
    assert distributed.in_nni_trial()
