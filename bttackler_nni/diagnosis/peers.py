"""What trials learn from each other: what peers reported at each epoch, and who they protect.

Two stores of the same shape: peer train losses, which decide *protection* (a trial whose train loss
is among the best of its peers at the same epoch is shielded from the indicators marked
``protected``, so the search's best trials are never stopped for looking slow; docs/method.md,
section 5), and peer metrics (the ``default`` metric), which RNK ranks a trial against once the
peers show that ranks at that epoch foretell ranks at the end (:meth:`PeerValues.rank_agreement`).
:class:`TrialTimes` keeps what trials' epochs and start-ups take, for the share of a trial a stop saves.
"""

from __future__ import annotations

import bisect
import math

import numpy as np

from .direction import Direction


class PeerValues:
    """Finite values (train losses, or metrics) reported at each epoch, kept sorted, one per (trial, epoch).

    NaN and +-Inf never enter. Percentiles interpolate linearly between ranks, as numpy's default.
    Given a ``direction``, each trial's best value is kept too, sorted, for :meth:`standing`, and so
    is each trial's best up to each epoch it reported, for :meth:`count_better_so_far`.
    """

    def __init__(self, direction: Direction | None = None) -> None:
        self._by_epoch: dict[int, list[float]] = {}
        self._by_trial: dict[str, dict[int, float]] = {}
        self._direction = direction
        self._best_score: dict[str, float] = {}  # per trial, its best value's direction.score
        self._best_scores: list[float] = []  # the same scores, sorted (lowest: best)
        self._so_far_scores: dict[int, list[float]] = {}  # per epoch, sorted: each trial's best score to it

    def add(self, trial: str, epoch: int, value: float | None) -> None:
        if value is None or not math.isfinite(value) or self.contains(trial, epoch):
            return
        values = self._by_trial.setdefault(trial, {})
        values[epoch] = value
        bisect.insort(self._by_epoch.setdefault(epoch, []), value)
        if self._direction is not None:
            score = self._direction.score
            self._keep_best(trial, score(value))
            # a trial's reports arrive in epoch order, so its earlier epochs are all here by now
            so_far = min(score(v) for e, v in values.items() if e <= epoch)
            bisect.insort(self._so_far_scores.setdefault(epoch, []), so_far)

    def _keep_best(self, trial: str, score: float) -> None:
        old = self._best_score.get(trial)
        if old is not None and old <= score:
            return
        if old is not None:
            del self._best_scores[bisect.bisect_left(self._best_scores, old)]
        self._best_score[trial] = score
        bisect.insort(self._best_scores, score)

    def contains(self, trial: str, epoch: int) -> bool:
        return epoch in self._by_trial.get(trial, {})

    def count(self, epoch: int) -> int:
        return len(self._by_epoch.get(epoch, ()))

    def percentile(self, epoch: int, q: float) -> float | None:
        values = self._by_epoch.get(epoch)
        if not values:
            return None
        rank = q / 100 * (len(values) - 1)
        low = math.floor(rank)
        high = min(low + 1, len(values) - 1)
        return values[low] + (values[high] - values[low]) * (rank - low)

    def count_better(self, epoch: int, value: float, direction: Direction) -> int:
        """How many values at ``epoch`` are strictly better than ``value``."""
        values = self._by_epoch.get(epoch, [])
        if direction is Direction.MAXIMIZE:
            return len(values) - bisect.bisect_right(values, value)
        return bisect.bisect_left(values, value)

    def count_better_so_far(self, epoch: int, value: float) -> int:
        """How many of the trials that reported ``epoch`` had, up to it, a best value strictly better
        than ``value``. Needs the ``direction`` given at construction."""
        if self._direction is None:
            raise ValueError("PeerValues.count_better_so_far needs the direction given at construction")
        return bisect.bisect_left(self._so_far_scores.get(epoch, []), self._direction.score(value))

    def standing(self, value: float, excluding: str | None = None) -> tuple[int, int]:
        """How many trials' best values are strictly better than ``value``, and out of how many trials,
        ``excluding`` left out of both. Needs the ``direction`` given at construction."""
        if self._direction is None:
            raise ValueError("PeerValues.standing needs the direction given at construction")
        score = self._direction.score(value)
        better, total = bisect.bisect_left(self._best_scores, score), len(self._best_scores)
        own = self._best_score.get(excluding) if excluding is not None else None
        if own is not None:
            total -= 1
            better -= own < score
        return better, total

    def epochs(self) -> int:
        return len(self._by_epoch)

    def rank_agreement(self, epoch: int, final_epoch: int) -> tuple[float | None, int]:
        """How well ranks at ``epoch`` foretold ranks at ``final_epoch``, over the trials that reported both.

        Returns Spearman's rank correlation between their values at the two epochs (ties share their
        mean rank) and how many trials it is over; the correlation is ``None`` with fewer than two
        such trials or when either epoch's values are all equal. Direction does not matter: a metric
        ranks the same way at both epochs.
        """
        pairs = [
            (values[epoch], values[final_epoch])
            for values in self._by_trial.values()
            if epoch in values and final_epoch in values
        ]
        if len(pairs) < 2:
            return None, len(pairs)
        early, final = (_ranks(np.array(column)) for column in zip(*pairs, strict=True))
        if early.std() == 0 or final.std() == 0:
            return None, len(pairs)
        return float(np.corrcoef(early, final)[0, 1]), len(pairs)


def _ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks of ``values``, tied values sharing the mean of their ranks."""
    _, position, counts = np.unique(values, return_inverse=True, return_counts=True)
    below = np.cumsum(counts) - counts  # how many values are smaller than each distinct value
    return (below + (counts + 1) / 2)[position]


class TrialTimes:
    """What the trials of a task take: seconds per epoch and start-up, from their reports.

    A stop saves a trial's remaining epochs, never its start-up (a new process, imports, data and
    model, which the next trial pays again), so how much of a trial a stop saves differs from task to
    task: round 7 of the policy benchmarks measured 0.70-0.85 at the first report of Ex96Trans and
    of 20-epoch Cifar10CNN, 0.31-0.55 on the shorter tasks. Both are task properties, taken as
    medians over the trials. What one trial's epochs cost against that median
    (:meth:`median_epoch_seconds`) is a property of the trial, which RNK weighs against its rank.
    """

    def __init__(self) -> None:
        self._epoch_seconds: dict[str, dict[int, float]] = {}  # per trial, per epoch
        self._startup: dict[str, float] = {}

    def add(self, trial: str, epoch: int, epoch_seconds: float | None, startup_seconds: float | None) -> None:
        """One report's seconds (either may be missing; only finite values count, the first per epoch)."""
        if epoch_seconds is not None and math.isfinite(epoch_seconds):
            self._epoch_seconds.setdefault(trial, {}).setdefault(epoch, epoch_seconds)
        if startup_seconds is not None and math.isfinite(startup_seconds):
            self._startup.setdefault(trial, startup_seconds)

    def timed_trials(self) -> int:
        """How many trials reported both an epoch's seconds and their start-up."""
        return len(self._epoch_seconds.keys() & self._startup.keys())

    def median_epoch_seconds(self, exclude: str | None = None) -> tuple[float, int] | None:
        """The median over the trials but ``exclude`` of their mean epoch seconds, and how many trials
        that is; ``None`` before any such trial reported an epoch's seconds."""
        means = [self._mean_epoch_seconds(trial) for trial in self._epoch_seconds if trial != exclude]
        return (float(np.median(means)), len(means)) if means else None

    def saving_share(self, epoch: int, max_epochs: int) -> float | None:
        """The share of a trial's cost that stopping it after ``epoch`` saves, ``None`` before any trial
        is timed: remaining epochs x s / (start-up + max_epochs x s), with s the median over trials of
        their mean epoch seconds and the start-up the median of theirs."""
        timed = self._epoch_seconds.keys() & self._startup.keys()
        if not timed:
            return None
        seconds = float(np.median([self._mean_epoch_seconds(trial) for trial in timed]))
        startup = float(np.median([self._startup[t] for t in timed]))
        cost = startup + max_epochs * seconds
        return max(0, max_epochs - 1 - epoch) * seconds / cost if cost > 0 else None

    def _mean_epoch_seconds(self, trial: str) -> float:
        """``trial``'s mean over the epochs it reported seconds for."""
        return float(np.mean(list(self._epoch_seconds[trial].values())))


class Protection:
    """Decides, report by report, which trials are protected, and records each loss as a peer value.

    Args:
        min_peers: peer losses needed at an epoch before anyone can be protected there.
        percentile: a loss at or below this percentile of the peers' protects.
        sticky: once protected, always protected.
    """

    def __init__(self, min_peers: int, percentile: float, sticky: bool) -> None:
        self.peers = PeerValues()
        self._min_peers = min_peers
        self._percentile = percentile
        self._sticky = sticky
        self._protected: set[str] = set()

    @property
    def protected_trials(self) -> frozenset[str]:
        return frozenset(self._protected)

    def update(self, trial: str, epoch: int, loss: float | None) -> bool:
        """Whether ``trial`` is protected after reporting ``loss`` at ``epoch``, among earlier peers."""
        protected_now = False
        if loss is not None and math.isfinite(loss) and not self.peers.contains(trial, epoch):
            if self.peers.count(epoch) >= self._min_peers:
                limit = self.peers.percentile(epoch, self._percentile)
                protected_now = limit is not None and loss <= limit
            self.peers.add(trial, epoch, loss)
        if not self._sticky:
            return protected_now
        if protected_now:
            self._protected.add(trial)
        return trial in self._protected

    def restore(self, trial: str, epoch: int, loss: float | None, protected: bool) -> None:
        """Take back one earlier report (from a journal) without judging it again."""
        self.peers.add(trial, epoch, loss)
        if protected and self._sticky:
            self._protected.add(trial)
