"""A Hugging Face Trainer run with BTTackler's callback: a broken configuration is stopped with its reason.

The model is a plain torch MLP whose ``forward`` returns the loss (the Trainer accepts any such
module; nothing is downloaded). Standalone, the callback judges the run on its own and sets
``control.should_training_stop``; as an NNI trial it reports each epoch record to NNI instead. The
Trainer clips gradients to ``max_grad_norm`` (1.0 by default) before the statistics are taken::

    python examples/huggingface/trainer.py                                   # healthy: 10 epochs
    python examples/huggingface/trainer.py --lr 500 --optim sgd --max-grad-norm 0   # EAG at epoch 0
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from pathlib import Path

import nni
from transformers import Trainer, TrainingArguments

from bttackler_nni.adapters.huggingface import BTTacklerTrainerCallback

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from digits_task import DigitsClassifier, DigitsExamples, accuracy, split_digits  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--depth", type=int, default=2)
    parser.add_argument("--optim", default="adamw_torch", help="TrainingArguments.optim, e.g. sgd")
    parser.add_argument("--lr", type=float, default=1e-2)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--max-grad-norm", type=float, default=1.0)
    args = parser.parse_args()
    logging.basicConfig(format="%(name)s: %(message)s")  # shows the stop reason
    params = {**vars(args), **(nni.get_next_parameter() or {})}

    x_train, y_train, x_val, y_val = split_digits()
    callback = BTTacklerTrainerCallback()  # BTTackler: the only line
    with tempfile.TemporaryDirectory() as output:
        training = TrainingArguments(
            output_dir=output,
            num_train_epochs=params["epochs"],
            learning_rate=params["lr"],
            optim=params["optim"],
            max_grad_norm=params["max_grad_norm"],
            per_device_train_batch_size=64,
            eval_strategy="epoch",  # the record of each epoch carries that epoch's evaluation
            save_strategy="no",
            report_to="none",
            use_cpu=True,
            disable_tqdm=True,
        )
        Trainer(
            model=DigitsClassifier(params["depth"]),
            args=training,
            train_dataset=DigitsExamples(x_train, y_train),
            eval_dataset=DigitsExamples(x_val, y_val),
            compute_metrics=accuracy,
            callbacks=[callback],
        ).train()
    stop = callback.stop_verdict
    print(f"stopped at epoch {stop.epoch}: {stop.reason_text()}" if stop else "trained to the end")


if __name__ == "__main__":
    main()
