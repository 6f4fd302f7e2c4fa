"""The Reporter on models users fine-tune, copy and save: frozen and unfrozen layers, LoRA-style
layers, sparse embeddings, lazy modules, deepcopy and torch.save, hooks after close."""

from __future__ import annotations

import copy
import io

import pytest
import torch
from digits_torch import digits, mlp
from torch import nn

from bttackler_nni import Reporter
from bttackler_nni.diagnosis.engine import Diagnoser
from bttackler_nni.trial.buffers import EpochBuffers
from bttackler_nni.trial.gradients import INDEX_CACHE_SIZE, GradientMonitor

X, Y, _, _ = digits()
X, Y = X[:256], Y[:256]


def step(model: nn.Module, optimizer: torch.optim.Optimizer, set_to_none: bool = True) -> None:
    optimizer.zero_grad(set_to_none=set_to_none)
    nn.functional.cross_entropy(model(X), Y).backward()
    optimizer.step()


def hooks_on(model: nn.Module) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


def test_layers_unfrozen_during_training_join_the_records():
    model = mlp(2)
    for layer in list(model)[:-1]:
        layer.requires_grad_(False)  # fine-tuning: only the head trains at first
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    reporter = Reporter(model, optimizer, max_epochs=2, sample_every=1, report_to_nni=False)
    step(model, optimizer)
    head_only = reporter.end_epoch(train_loss=1.0)
    model.requires_grad_(True)
    step(model, optimizer)
    unfrozen = reporter.end_epoch(train_loss=1.0)
    assert head_only["layers"]["names"] == ["4"] and unfrozen["layers"]["names"] == ["0", "2", "4"]


@pytest.mark.parametrize("new_optimizer", [False, True])
def test_a_layer_frozen_during_training_leaves_the_records_and_stops_nothing(new_optimizer):
    # Frozen with the same optimizer and zero_grad(set_to_none=False), its .grad stays at zero (ERG's
    # "no gradient at all"); frozen with a new optimizer over the trainable weights, its last .grad
    # stays in place (a stale value read as live).
    model = mlp(2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    reporter = Reporter(model, max_epochs=4, sample_every=1, report_to_nni=False)  # after_backward mode
    records = []
    for epoch in range(3):
        if epoch == 1:
            model[0].requires_grad_(False)
            if new_optimizer:
                optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.05)
        optimizer.zero_grad(set_to_none=False)
        nn.functional.cross_entropy(model(X), Y).backward()
        reporter.after_backward()
        optimizer.step()
        records.append(reporter.end_epoch(train_loss=1.0, val_acc=0.5))
    assert [r["layers"]["names"] for r in records] == [["0", "2", "4"], ["2", "4"], ["2", "4"]]
    diagnoser = Diagnoser()
    assert not any(diagnoser.assess("t", records[: n + 1]).stop for n in range(len(records)))


class LoraLinear(nn.Linear):
    """A LoRA-style layer: a frozen base weight plus trainable low-rank factors held on the module."""

    def __init__(self, features_in: int, features_out: int, rank: int = 4) -> None:
        super().__init__(features_in, features_out)
        self.weight.requires_grad_(False)
        self.bias.requires_grad_(False)
        self.lora_A = nn.Parameter(torch.randn(rank, features_in) * 0.01)
        self.lora_B = nn.Parameter(torch.randn(features_out, rank) * 0.01)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x) + x @ self.lora_A.T @ self.lora_B.T


def test_a_lora_style_layer_is_monitored_through_its_trainable_factors():
    torch.manual_seed(0)
    model = nn.Sequential(LoraLinear(64, 32), nn.ReLU(), LoraLinear(32, 10))
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    reporter = Reporter(model, optimizer, max_epochs=1, sample_every=1, report_to_nni=False)
    step(model, optimizer)
    names = reporter.end_epoch(train_loss=1.0)["layers"]["names"]
    assert names == ["0.lora_A", "0.lora_B", "2.lora_A", "2.lora_B"]


def test_a_sparse_embedding_gradient_gives_the_dense_one_s_statistics():
    tokens = torch.randint(0, 100, (32, 5), generator=torch.Generator().manual_seed(0))
    labels = torch.randint(0, 3, (32,), generator=torch.Generator().manual_seed(1))
    records = []
    for sparse in (False, True):
        torch.manual_seed(0)
        embed, head = nn.Embedding(100, 16, sparse=sparse), nn.Linear(16, 3)
        reporter = Reporter(embed, max_epochs=1, sample_every=1, report_to_nni=False)
        nn.functional.cross_entropy(head(embed(tokens).mean(1)), labels).backward()
        reporter.after_backward()
        records.append(reporter.end_epoch(train_loss=1.0)["layers"])
    dense, sparse_layers = records
    assert sparse_layers["names"] == dense["names"] == ["Embedding"]
    assert sparse_layers["grad"] == pytest.approx(dense["grad"], rel=1e-5)
    assert sparse_layers["zero_share"] == pytest.approx(dense["zero_share"], abs=1e-6)
    assert 0 < dense["zero_share"][0] < 1  # rows no token looked up have zero gradients


def test_a_lazy_module_needs_its_dry_run_first_and_says_so():
    model = nn.Sequential(nn.LazyLinear(16), nn.ReLU(), nn.Linear(16, 10))
    with pytest.raises(ValueError, match=r"0.weight is a lazy module's .* Fix: run one forward pass"):
        Reporter(model, max_epochs=1)
    model(X)
    assert Reporter(model, max_epochs=1).monitored_layers == ["0", "2"]


def test_closing_before_the_first_step_leaves_no_hook():
    model = mlp(2)
    Reporter(model, track_activations=True, max_epochs=1).close()
    with Reporter(model, max_epochs=1):
        pass
    assert hooks_on(model) == 0


def test_a_copy_of_the_model_neither_counts_into_the_statistics_nor_breaks_torch_save():
    model = mlp(2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    reporter = Reporter(model, optimizer, max_epochs=2, sample_every=1, track_activations=True)
    teacher = copy.deepcopy(model)  # an EMA or mean-teacher copy, trained in train mode alongside
    with torch.no_grad():
        for layer in teacher:
            if isinstance(layer, nn.Linear):
                layer.bias.fill_(-1e3)  # every unit of the copy is dead
    step(model, optimizer)
    alone = reporter.end_epoch(train_loss=1.0)["dead_activation_share"]
    step(model, optimizer)
    teacher(X)
    beside_the_copy = reporter.end_epoch(train_loss=1.0)["dead_activation_share"]
    assert beside_the_copy == pytest.approx(alone, abs=0.05) and beside_the_copy < 0.9
    buffer = io.BytesIO()
    torch.save(model, buffer)  # a whole-model checkpoint in the middle of training
    buffer.seek(0)
    loaded = torch.load(buffer, weights_only=False)
    assert torch.equal(loaded(X), model(X))
    reporter.finish()
    assert hooks_on(model) == 0


def test_the_subsets_of_layers_with_gradients_are_kept_in_a_bounded_cache():
    # LayerDrop-style training draws a new subset of layers with gradients at each batch
    model = nn.Sequential(*(nn.Linear(4, 4) for _ in range(10)))
    monitor = GradientMonitor(model, EpochBuffers())
    generator = torch.Generator().manual_seed(0)
    for _ in range(3 * INDEX_CACHE_SIZE):
        for layer in model:
            keep = bool(torch.rand(1, generator=generator) < 0.5)
            layer.weight.grad = torch.ones(4, 4) if keep else None
        monitor.observe()
        assert len(monitor._index_cache) <= INDEX_CACHE_SIZE


def test_activation_modules_carry_a_hook_only_in_sampled_batches():
    model = mlp(2, width=32, bias=-0.1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    reporter = Reporter(model, optimizer, max_epochs=1, sample_every=3, track_activations=True)
    relus = [model[1], model[3]]
    hooked, dead, total = [], 0.0, 0
    for batch in range(7):
        hooked.append(all(len(relu._forward_hooks) == 1 for relu in relus))
        inputs = X[batch * 32 : (batch + 1) * 32]
        if batch % 3 == 0:  # what the sampled batches' activations hold, computed on the host
            with torch.no_grad():
                first = model[1](model[0](inputs))
                second = model[3](model[2](first))
            dead += float((first <= 0).sum() + (second <= 0).sum())
            total += first.numel() + second.numel()
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(inputs), Y[batch * 32 : (batch + 1) * 32]).backward()
        optimizer.step()
    assert hooked == [True, False, False, True, False, False, True]
    record = reporter.end_epoch(train_loss=1.0)
    shares = record["activations"]["dead_share"]
    assert sum(shares) / 2 == pytest.approx(dead / total, rel=1e-6)  # both layers the same width
    assert all(len(relu._forward_hooks) == 1 for relu in relus)  # the next epoch's first batch


def compiled_graphs(track_activations: bool) -> tuple[int, dict]:
    """Graphs TorchDynamo compiled for 2 epochs of 12 steps of a compiled MLP with a Reporter, and
    the last record."""
    from torch._dynamo.utils import counters

    torch._dynamo.reset()
    counters.clear()
    model = mlp(2)
    compiled = torch.compile(model, backend="eager")
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    reporter = Reporter(
        compiled, optimizer, max_epochs=2, sample_every=4, track_activations=track_activations
    )
    for _ in range(2):
        for _ in range(12):
            step(compiled, optimizer)
        record = reporter.end_epoch(train_loss=1.0)
    return counters["stats"]["unique_graphs"], record


def test_activation_tracking_adds_no_compilation_to_a_compiled_model_and_says_what_it_misses(caplog):
    # (the Reporter's forward-order hooks, gone after the first batch, cost one recompilation)
    gradients_only, _ = compiled_graphs(track_activations=False)
    graphs, record = compiled_graphs(track_activations=True)
    assert graphs == gradients_only  # the sampling counter, read in a hook, once recompiled every batch
    assert "layers" in record and "dead_activation_share" not in record
    assert caplog.text.count("saw no activation output this epoch") == 1


class TwoHeads(nn.Module):
    """A multi-task model: the first batches train head ``a`` only, head ``b`` joins later."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(64, 32), nn.ReLU())
        self.head_b = nn.Linear(32, 10)  # registered first, called later
        self.head_a = nn.Linear(32, 10)
        self.task = "a"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.head_a if self.task == "a" else self.head_b)(self.body(x))


def test_a_layer_the_first_batch_did_not_reach_comes_after_those_it_did():
    model = TwoHeads()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    reporter = Reporter(model, optimizer, max_epochs=1, sample_every=1, report_to_nni=False)
    for task in ("a", "b"):
        model.task = task
        step(model, optimizer)
    # not at the front, where it would pair the output head with the input layer in Q
    assert reporter.end_epoch(train_loss=1.0)["layers"]["names"] == ["body.0", "head_a", "head_b"]
