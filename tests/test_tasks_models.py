"""The paper tasks' models and builders: shapes, backward passes, every choice, and clear parameter errors."""

from __future__ import annotations

import pytest
import torch

from bttackler_paper import cifar10_cnn, cifar10_lstm, ex96trans
from bttackler_paper.cifar10_common import ACTIVATIONS, OPTIMIZERS
from bttackler_paper.errors import ParameterError

TINY_CNN = {
    **cifar10_cnn.DEFAULT_PARAMS,
    "conv1_k_num": 4,
    "conv2_k_num": 4,
    "conv3_k_num": 8,
    "conv4_k_num": 8,
}
TINY_CNN["mlp_f_num"] = 16
TINY_LSTM = {**cifar10_lstm.DEFAULT_PARAMS, "hidden_size": 8, "mlp_f_num": 16}
TINY_TRANS = {
    **ex96trans.DEFAULT_PARAMS,
    "e_layers": 1,
    "d_layers": 1,
    "d_model": 16,
    "n_heads": 2,
    "d_ff": 32,
}


def _backward_reaches_every_parameter(model: torch.nn.Module, inputs: torch.Tensor) -> torch.Tensor:
    outputs = model(inputs)
    outputs.square().mean().backward()
    missing = [
        name for name, p in model.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()
    ]
    assert missing == []
    return outputs


@pytest.mark.parametrize("act", ACTIVATIONS)
@pytest.mark.parametrize("batch_norm", [0, 1])
@pytest.mark.parametrize("conv_k_size", [2, 3])
def test_cnn_gives_logits_and_gradients_for_every_act_kernel_and_batch_norm(act, batch_norm, conv_k_size):
    params = {**TINY_CNN, "act": act, "batch_norm": batch_norm, "conv_k_size": conv_k_size}
    model, _, _ = cifar10_cnn.build(params)
    logits = _backward_reaches_every_parameter(model, torch.randn(3, 3, 32, 32))
    assert logits.shape == (3, 10)
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules()) == bool(batch_norm)
    assert sum(isinstance(m, torch.nn.Conv2d) for m in model.modules()) == 4
    assert sum(isinstance(m, torch.nn.Linear) for m in model.modules()) == 3
    assert sum(isinstance(m, torch.nn.MaxPool2d) for m in model.modules()) == 2


def test_cnn_convolutions_are_unpadded_so_kernel_3_leaves_5x5_maps():
    model, _, _ = cifar10_cnn.build({**TINY_CNN, "conv_k_size": 3, "batch_norm": 0})
    assert model.features(torch.zeros(1, 3, 32, 32)).shape == (1, 8, 5, 5)


@pytest.mark.parametrize("act", ACTIVATIONS)
def test_lstm_reads_96_steps_of_32_values_for_every_act(act):
    model, _, _ = cifar10_lstm.build({**TINY_LSTM, "act": act})
    assert _backward_reaches_every_parameter(model, torch.randn(3, 96, 32)).shape == (3, 10)
    assert (model.lstm1.input_size, model.lstm1.hidden_size, model.lstm2.input_size) == (32, 8, 8)


@pytest.mark.parametrize("module, params", [(cifar10_cnn, TINY_CNN), (cifar10_lstm, TINY_LSTM)])
@pytest.mark.parametrize("opt", OPTIMIZERS)
def test_every_optimizer_choice_steps_with_the_trial_lr_and_decays_it_by_0_7(module, params, opt):
    model, optimizer, scheduler = module.build({**params, "opt": opt, "lr": 0.05, "weight_decay": 1e-4})
    assert type(optimizer) is OPTIMIZERS[opt]
    assert optimizer.param_groups[0]["weight_decay"] == 1e-4
    before = [p.detach().clone() for p in model.parameters()]
    inputs = torch.randn(4, 3, 32, 32) if module is cifar10_cnn else torch.randn(4, 96, 32)
    optimizer.zero_grad()
    torch.nn.functional.cross_entropy(model(inputs), torch.tensor([0, 1, 2, 3])).backward()
    optimizer.step()
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
    scheduler.step()
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.05 * 0.7)


@pytest.mark.parametrize("d_model", [256, 512, 1024])
def test_ex96trans_builds_and_trains_for_every_n_heads_of_the_search_space(d_model):
    for n_heads in range(5, 16):
        params = {**ex96trans.DEFAULT_PARAMS, "d_model": d_model, "n_heads": n_heads}
        model, _, _ = ex96trans.build({**params, "e_layers": 1, "d_layers": 1, "d_ff": 64})
        attention = model.encoder[0].attention
        assert attention.query.out_features == n_heads * (d_model // n_heads)
        assert attention.out.out_features == d_model
        assert _backward_reaches_every_parameter(model, torch.randn(2, 96, 8)).shape == (2, 96, 8)


def test_ex96trans_has_the_requested_depth_and_halves_its_learning_rate_each_epoch():
    model, optimizer, scheduler = ex96trans.build(
        {**TINY_TRANS, "e_layers": 3, "d_layers": 2, "learning_rate": 1e-3}
    )
    assert (len(model.encoder), len(model.decoder)) == (3, 2)
    assert isinstance(optimizer, torch.optim.Adam)
    for expected in (5e-4, 2.5e-4):
        optimizer.step()  # no gradients: changes nothing, but keeps torch's step order
        scheduler.step()
        assert optimizer.param_groups[0]["lr"] == pytest.approx(expected)


def test_ex96trans_forecast_starts_from_the_input_level():
    """An untrained model's trend path carries the input mean, so a constant series is forecast near it."""
    torch.manual_seed(0)
    model, _, _ = ex96trans.build({**TINY_TRANS, "dropout": 0.0})
    model.eval()
    with torch.no_grad():
        low, high = model(torch.full((1, 96, 8), -3.0)), model(torch.full((1, 96, 8), 3.0))
    assert (high - low).mean() > 3


def test_series_decomposition_keeps_length_and_leaves_a_constant_series_as_pure_trend():
    decompose = ex96trans.SeriesDecomposition(25)
    series = torch.cat(
        [torch.full((1, 50, 2), 2.0), torch.linspace(0, 1, 46).expand(1, 2, 46).transpose(1, 2)], 1
    )
    seasonal, trend = decompose(series)
    assert seasonal.shape == trend.shape == series.shape
    torch.testing.assert_close(seasonal + trend, series)
    torch.testing.assert_close(trend[:, :38], torch.full((1, 38, 2), 2.0))  # 12 steps from the ramp


def test_auto_correlation_reads_each_step_from_the_delay_where_keys_match_queries():
    attention = ex96trans.AutoCorrelation(d_model=6, n_heads=3)
    with torch.no_grad():
        for layer in (attention.query, attention.key, attention.value, attention.out):
            layer.weight.copy_(torch.eye(6))
            layer.bias.zero_()
    keys = 10 * torch.randn(2, 96, 6, generator=torch.Generator().manual_seed(0))
    queries = keys.roll(3, dims=1)  # queries[t] = keys[t - 3]: the best delay is 3
    torch.testing.assert_close(attention(queries, keys, keys), queries)


def test_auto_correlation_matches_keys_and_values_of_another_length_to_the_queries():
    attention = ex96trans.AutoCorrelation(d_model=12, n_heads=5)
    queries = torch.randn(2, 144, 12)
    assert attention(queries, torch.randn(2, 96, 12), torch.randn(2, 96, 12)).shape == (2, 144, 12)
    assert attention(queries[:, :50], queries, queries).shape == (2, 50, 12)


@pytest.mark.parametrize(
    "module, params, match",
    [
        (cifar10_cnn, {k: v for k, v in TINY_CNN.items() if k != "lr"}, "missing key 'lr'"),
        (cifar10_cnn, {**TINY_CNN, "learning_rate": 0.1}, "unknown key 'learning_rate'"),
        (cifar10_cnn, {**TINY_CNN, "act": "Swish"}, r"act='Swish' must be one of \['ReLU'"),
        (cifar10_cnn, {**TINY_CNN, "conv_k_size": 9}, "conv_k_size=9 leaves no pixels"),
        (cifar10_cnn, {**TINY_CNN, "drop_rate": 1.0}, "drop_rate=1.0 must satisfy"),
        (cifar10_cnn, {**TINY_CNN, "conv1_k_num": 8.5}, "conv1_k_num=8.5 must be a whole number"),
        (
            cifar10_lstm,
            {**TINY_LSTM, "opt": "LBFGS", "hidden_size": 0},
            r"hidden_size=0 must be >= 1; opt='LBFGS'",
        ),
        (cifar10_lstm, {**TINY_LSTM, "lr": float("nan")}, "lr=nan must be a finite number"),
        (ex96trans, {**TINY_TRANS, "n_heads": 17}, "n_heads=17 must be between 1 and d_model=16"),
        (ex96trans, {**TINY_TRANS, "batch_size": True}, "batch_size=True must be a whole number"),
        (ex96trans, ["d_model", 256], "parameters must be a dict"),
    ],
)
def test_a_bad_parameter_dict_is_refused_with_a_message_naming_the_key(module, params, match):
    with pytest.raises(ParameterError, match=match):
        module.build(params)


def test_nni_number_types_are_accepted_and_normalised():
    params = cifar10_cnn.validate_params({**TINY_CNN, "conv1_k_num": 12.0, "batch_norm": True, "lr": 1})
    assert params["conv1_k_num"] == 12 and type(params["conv1_k_num"]) is int
    assert params["batch_norm"] == 1 and type(params["lr"]) is float
