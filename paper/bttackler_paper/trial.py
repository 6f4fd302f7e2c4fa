"""What every trial script needs around its training loop: arguments, parameters, torch setup, output.

The trial scripts in ``examples/`` share one command line::

    --data PATH          dataset location (default: the task's environment variable)
    --epochs N           planned epochs (default: $BTTACKLER_EPOCHS, else 20 as in the paper)
    --data-fraction F    use only this share of the data, for cheap runs
                         (default: $BTTACKLER_DATA_FRACTION, else 1.0)
    --params JSON        hyperparameters for a standalone run, merged over the task's defaults
    --records-out FILE   also write every epoch record (the dict sent to NNI) as one JSON line
    --seed N             data split, shuffling and initialisation (default 0)
    --threads N          torch CPU threads (default: $BTTACKLER_THREADS, else 2)
    --device DEV         torch device (default: cuda when available, else cpu)
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import nni
import torch

from bttackler_paper.errors import TaskSetupError

THREADS_ENV_VAR = "BTTACKLER_THREADS"
EPOCHS_ENV_VAR = "BTTACKLER_EPOCHS"
FRACTION_ENV_VAR = "BTTACKLER_DATA_FRACTION"


def parse_args(
    description: str | None, data_env_var: str, argv: list[str] | None = None
) -> argparse.Namespace:
    """Parse the shared trial command line (see the module docstring)."""
    parser = argparse.ArgumentParser(
        description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--data", default=os.environ.get(data_env_var), help=f"dataset path (default: ${data_env_var})"
    )
    parser.add_argument(
        "--epochs",
        type=_positive_int,
        default=os.environ.get(EPOCHS_ENV_VAR, "20"),
        help=f"planned epochs (default: ${EPOCHS_ENV_VAR}, else 20)",
    )
    parser.add_argument(
        "--data-fraction",
        type=_fraction,
        default=os.environ.get(FRACTION_ENV_VAR, "1.0"),
        help=f"use only this share of the data (default: ${FRACTION_ENV_VAR}, else 1.0)",
    )
    parser.add_argument(
        "--params", type=_json_object, default={}, help="JSON dict of hyperparameters for a standalone run"
    )
    parser.add_argument("--records-out", type=Path, help="also write each epoch record as a JSON line here")
    parser.add_argument("--seed", type=int, default=0, help="seed of split, shuffling and init (default 0)")
    parser.add_argument(
        "--threads",
        type=_positive_int,
        default=os.environ.get(THREADS_ENV_VAR, "2"),
        help=f"torch CPU threads (default: ${THREADS_ENV_VAR}, else 2)",
    )
    parser.add_argument(
        "--device",
        default="cuda" if torch.cuda.is_available() else "cpu",
        help="torch device (default: cuda when available)",
    )
    return parser.parse_args(argv)


def parameters(defaults: Mapping[str, Any], given: Mapping[str, Any]) -> dict[str, Any]:
    """The trial's hyperparameters: ``defaults``, overridden by ``given`` (``--params``), overridden by NNI's.

    Calls ``nni.get_next_parameter()`` (once per trial, as NNI requires), which returns ``{}`` outside
    an experiment. A standalone run also quiets NNI's logger, which would print every record.
    """
    from_nni = nni.get_next_parameter() or {}
    if nni.get_experiment_id() == "STANDALONE":
        logging.getLogger("nni").setLevel(logging.WARNING)
    return {**defaults, **given, **from_nni}


def setup_torch(args: argparse.Namespace) -> torch.device:
    """Set torch's CPU threads and seed from the arguments; return the device to train on."""
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    return torch.device(args.device)


class RecordLog:
    """Writes each epoch record as one JSON line to ``path`` (emptied first); does nothing without a path."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        if path is not None:
            path.write_text("")

    def write(self, record: Mapping[str, Any]) -> None:
        if self.path is not None:
            with self.path.open("a") as stream:
                stream.write(json.dumps(record) + "\n")


def progress(epoch: int, epochs: int, seconds: float, **metrics: float) -> str:
    """One short line per epoch, e.g. ``epoch 3/20  train_loss 1.2345  val_acc 0.5600  (4.1 s)``."""
    values = "  ".join(f"{name} {value:.4f}" for name, value in metrics.items())
    return f"epoch {epoch + 1}/{epochs}  {values}  ({seconds:.1f} s)"


def run(main: Callable[[], None]) -> None:
    """Run a trial's ``main``; a :class:`TaskSetupError` ends it with its message alone and exit code 2."""
    try:
        main()
    except TaskSetupError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"must be in (0, 1], got {value}")
    return value


def _json_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise argparse.ArgumentTypeError(f"not valid JSON ({error})") from error
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"must be a JSON object like '{{\"lr\": 0.01}}', got {text!r}")
    return value
