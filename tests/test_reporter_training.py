"""The Reporter on real torch training: each bad run is stopped by its indicator, healthy runs are not."""

from __future__ import annotations

import pytest
import torch
from digits_torch import mlp, train
from torch import nn


def test_huge_learning_rate_is_stopped_by_agv_or_eag():
    model = mlp(3)
    run = train(model, torch.optim.SGD(model.parameters(), lr=500.0, momentum=0.9))
    assert run.stop is not None and run.stop.reason.indicator in ("AGV", "EAG")
    assert run.stop.epoch < 10


def test_deep_sigmoid_net_is_stopped_by_erg():
    model = mlp(10, nn.Sigmoid)
    run = train(model, torch.optim.SGD(model.parameters(), lr=0.01))
    assert run.stop is not None and run.stop.reason.indicator == "ERG" and run.stop.epoch < 10


def test_relu_net_with_strongly_negative_biases_is_stopped_by_lar():
    model = mlp(1, width=256, bias=-0.8)
    run = train(model, torch.optim.Adam(model.parameters(), lr=1e-3))
    assert run.stop is not None and run.stop.reason.indicator == "LAR" and run.stop.epoch < 10
    assert run.records[-1]["zero_grad_share"] > 0.5


def test_near_zero_learning_rate_is_stopped_by_plc():
    model = mlp(2)
    run = train(model, torch.optim.SGD(model.parameters(), lr=1e-7))
    assert run.stop is not None and run.stop.reason.indicator == "PLC" and run.stop.epoch < 10


@pytest.mark.parametrize(
    "depth, activation, lr, seed",
    [
        (1, nn.ReLU, 1e-3, 0),
        (2, nn.ReLU, 3e-3, 1),
        (3, nn.Tanh, 1e-3, 2),
        (2, nn.ELU, 1e-3, 3),
        (4, nn.ReLU, 1e-3, 4),
    ],
)
def test_healthy_adam_runs_are_never_stopped_for_a_problem_in_their_first_half(depth, activation, lr, seed):
    model = mlp(depth, activation, width=64, seed=seed)
    run = train(model, torch.optim.Adam(model.parameters(), lr=lr), seed=seed, stop_early=False)
    first_half = [v for v in run.verdicts if v.epoch < 10]
    assert len(first_half) == 10 and not any(v.fired for v in first_half)
    problems_later = [v for v in run.verdicts if v.stop and v.kind.value == "problem"]
    assert problems_later == [], [v.explain() for v in problems_later]
    assert run.records[-1]["val_acc"] > 0.9
