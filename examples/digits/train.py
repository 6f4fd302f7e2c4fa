"""Digits demo trial: an MLP on scikit-learn's handwritten digits, diagnosed by BTTackler.

The data ships inside scikit-learn (1,797 8x8 images), so nothing is downloaded. The data set is
tiny, so an epoch is defined as ``--samples-per-epoch`` augmented training samples (default
30,000, about half a second on one CPU core) rather than one pass: long enough that stopping a bad
trial early visibly saves time, as it would with real data.

Under NNI the hyperparameters come from the tuner; run standalone (``python train.py``) it trains
the defaults below. The BTTackler parts are the three marked lines.
"""

from __future__ import annotations

import argparse

import nni
import torch
from sklearn.datasets import load_digits
from torch import nn

from bttackler_nni import Reporter

DEFAULTS = {
    "optimizer": "Adam",
    "lr": 1e-3,
    "depth": 2,
    "width": 128,
    "activation": "relu",
    "bias_init": 0.0,
    "batch_size": 64,
}
ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}
OPTIMIZERS = {"SGD": torch.optim.SGD, "Adam": torch.optim.Adam}


def build_model(depth: int, width: int, activation: str, bias_init: float) -> nn.Sequential:
    """``depth`` hidden layers of ``width`` units; ``bias_init`` sets their biases (negative kills ReLUs)."""
    layers: list[nn.Module] = []
    fan_in = 64
    for _ in range(depth):
        linear = nn.Linear(fan_in, width)
        nn.init.constant_(linear.bias, bias_init)
        layers += [linear, ACTIVATIONS[activation]()]
        fan_in = width
    return nn.Sequential(*layers, nn.Linear(fan_in, 10))


def split_digits(seed: int = 0) -> tuple[torch.Tensor, ...]:
    """80/20 train/validation split, pixels scaled to [0, 1]."""
    x, y = load_digits(return_X_y=True)
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    x, y = torch.tensor(x / 16, dtype=torch.float32)[order], torch.tensor(y)[order]
    cut = int(0.8 * len(x))
    return x[:cut], y[:cut], x[cut:], y[cut:]


def augmented_batch(x: torch.Tensor, y: torch.Tensor, size: int, generator: torch.Generator):
    """A batch drawn with replacement, each image shifted by up to one pixel, plus a little noise."""
    index = torch.randint(len(x), (size,), generator=generator)
    images = x[index].view(-1, 8, 8)
    shift = tuple(int(s) for s in torch.randint(-1, 2, (2,), generator=generator))
    images = torch.roll(images, shifts=shift, dims=(1, 2))
    noise = 0.05 * torch.randn(images.shape, generator=generator)
    return (images + noise).view(-1, 64), y[index]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--samples-per-epoch", type=int, default=30_000)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (NNI runs trials side by side)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)

    params = {**DEFAULTS, **(nni.get_next_parameter() or {})}
    x_train, y_train, x_val, y_val = split_digits()
    model = build_model(params["depth"], params["width"], params["activation"], params["bias_init"])
    optimizer = OPTIMIZERS[params["optimizer"]](model.parameters(), lr=params["lr"])
    reporter = Reporter(model, optimizer, max_epochs=args.epochs)  # BTTackler (1/3)
    generator = torch.Generator().manual_seed(args.seed)
    best_val_acc = 0.0
    for epoch in range(args.epochs):
        model.train()
        steps = max(1, args.samples_per_epoch // params["batch_size"])
        total = 0.0
        for _ in range(steps):
            inputs, targets = augmented_batch(x_train, y_train, params["batch_size"], generator)
            optimizer.zero_grad()
            loss = nn.functional.cross_entropy(model(inputs), targets)
            loss.backward()
            optimizer.step()
            total += loss.item()
        model.eval()
        with torch.no_grad():
            logits = model(x_val)
            val_loss = nn.functional.cross_entropy(logits, y_val).item()
            val_acc = (logits.argmax(1) == y_val).float().mean().item()
        best_val_acc = max(best_val_acc, val_acc)
        reporter.end_epoch(train_loss=total / steps, val_loss=val_loss, val_acc=val_acc)  # BTTackler (2/3)
        print(f"epoch {epoch}: train_loss {total / steps:.4f} val_loss {val_loss:.4f} val_acc {val_acc:.4f}")
    reporter.finish(default=best_val_acc)  # BTTackler (3/3): final result for NNI's tuner
    print(f"best val_acc {best_val_acc:.4f}")


if __name__ == "__main__":
    main()
