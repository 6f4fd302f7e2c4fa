"""Cifar10CNN trial (BTTackler paper, task 1): a 4-conv CNN on CIFAR-10 with BTTackler's Reporter attached.

Under NNI, use ``trialCommand: python train.py`` in this folder, with BTTACKLER_CIFAR10 set (or --data).
Standalone, with the task's default hyperparameters or your own:

    python train.py --data ../../../shared/data/cifar10_subset.npz --epochs 3 --data-fraction 0.1
    python train.py --data /data/cifar-10-batches-py --params '{"act": "Sigmoid", "opt": "SGD"}'

Small setting (a few seconds per epoch on 2 CPU cores): --data-fraction 0.1 on the 15k-image subset.
Reports val accuracy each epoch; the final result is the best val accuracy. The training loop
(shared with the other CIFAR-10 task) is ``bttackler_paper.cifar10_trial.train_classifier``.
"""

from bttackler_paper import cifar10_cnn, trial
from bttackler_paper.cifar10_trial import train_classifier

if __name__ == "__main__":
    trial.run(lambda: train_classifier(__doc__, cifar10_cnn, sequence=False))
