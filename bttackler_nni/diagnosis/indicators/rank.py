"""Ranking indicator: a trial that trains without a fault but stays far behind its peers (RNK).

The seven indicators of the paper stop broken or finished runs; a healthy run with a poor
configuration trains to the end and costs as much as the best. RNK compares the trial's best
``default`` metric so far with the best its peers had reached by the same epoch, so its rule means
the same at any metric scale; it ranks at an epoch only once the peers that finished show that ranks
at that epoch foretell final ranks on this task, and the diagnosis may veto it while the trial is
still learning fast.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ...record import EPOCH_SECONDS, TRAIN_LOSS
from ..direction import Direction
from ..history import TrialHistory
from ..peers import PeerValues
from ..settings import ConfigError, setting
from .base import Firing, Indicator, IndicatorSettings, Kind
from .guards import leader_share_setting, leads_peers


class RankedBelowPeers(Indicator):
    """RNK (hopeless): more than ``max_share_better`` of the peers are clearly ahead at this epoch.

    Peers are the other trials that reported the same epoch before this report; a peer is *clearly
    ahead* when its best ``default`` metric up to that epoch beats the trial's best so far by more
    than ``noise_k`` times the trial's own epoch-to-epoch noise
    (:meth:`~..history.TrialHistory.metric_noise` over its reports; 0 by default: the agreement check
    below is what keeps RNK from ranking on noise). Bests, not the latest metrics (``best_so_far``
    false), because a trial's final result is its best epoch in the tasks here, and a coarse
    validation metric dips for an epoch without the run getting worse. It applies from epoch
    ``round(start_fraction * max_epochs)`` (the first, by default: the agreement check, not a
    constant, decides how early ranks mean something) up to, not including, ``round(end_fraction *
    max_epochs)`` (never on the last epochs, where a stop saves little and costs the trial's final
    result), once at least ``min_peers`` peers reported that epoch. With ``max_share_better`` 0.5 it
    stops the trials below their peers' median.

    Rank agreement: it fires at an epoch only when at least ``min_finished`` peers reached the
    trial's last planned epoch and their metrics at this epoch rank as at that last one (Spearman's
    correlation at least ``min_rank_agreement``). How early a rank means something differs from task
    to task (a 75-image validation accuracy is coarse, an MSE smooth); the finished peers measure it
    on the task at hand instead of a constant guessing it.

    Saving gate: where the finished peers cannot show agreement yet (too few of them, or ranks that
    disagree), RNK still fires when a stop saves at least ``min_saving`` of a trial's cost (its
    remaining epochs against its start-up plus all its epochs, :meth:`~..peers.TrialTimes.saving_share`,
    from at least ``min_peers`` timed trials) and the trial reached epoch ``saving_first_epoch``. A
    search whose start-up is small next to its epochs gains most from ranking early, and a task's
    late bloomers then cost least; where start-up dominates, a stop saves little and ranking waits
    for the check.

    Cost: a search has a budget of time, and a trial whose epochs take ``r`` times the median of its
    peers' (:meth:`~..peers.TrialTimes.median_epoch_seconds`, at least ``min_peers`` timed peers)
    spends what ``r`` typical trials would, so the share of peers ahead above which it fires is
    ``max_share_better / r ** cost_exponent`` (at most 1): a trial twice as slow must stay in the top
    quarter, one twice as fast may run unless all its peers are ahead. Without timed reports, or
    with ``cost_exponent`` 0, the bar is ``max_share_better``.

    Veto: the engine gives the trial more time when no problem indicator fired on the report (its
    gradients and losses look healthy) and :meth:`veto` finds its train loss still falling fast: at
    least ``veto_drop`` (relative) over the last ``veto_window`` epochs; or, with ``leader_share``
    above 0, its best so far among the other trials' best results (:func:`~.guards.leads_peers`).
    """

    id = "RNK"
    title = "Ranked Below Peers"
    kind = Kind.HOPELESS

    @dataclass(frozen=True)
    class Settings(IndicatorSettings):
        min_peers: int = setting(5, ge=1, help="peer metrics needed at an epoch before it may fire")
        max_share_better: float = setting(
            0.5, ge=0, le=1, help="fires when more than this share of the peers reported a better metric"
        )
        best_so_far: bool = setting(
            True,
            help="ranks the trial's best metric so far against the peers' best up to the epoch; false: "
            "the latest metrics",
        )
        noise_k: float = setting(
            0.0, ge=0, help="a peer counts as better only when ahead by more than noise_k x the trial's noise"
        )
        min_finished: int = setting(
            5, ge=0, help="peers at the trial's last epoch needed to judge rank agreement; 0 = no check"
        )
        min_rank_agreement: float = setting(
            0.8,
            ge=-1,
            le=1,
            help="Spearman correlation of the finished peers' metric at this epoch with their last one",
        )
        start_fraction: float = setting(
            0.0, ge=0, le=1, help="first epoch it may fire at, as a share of max_epochs"
        )
        end_fraction: float = setting(
            0.9, ge=0, le=1, help="epoch from which it no longer fires, as a share of max_epochs"
        )
        veto_window: int = setting(3, ge=1, help="epochs over which the veto measures the train-loss drop")
        veto_drop: float = setting(
            0.1, gt=0, help="relative train-loss drop over veto_window epochs that vetoes a stop"
        )
        cost_exponent: float = setting(
            1.0,
            ge=0,
            help="fires above max_share_better / (its epoch seconds / the peers' median) ** this; 0 = off",
        )
        min_saving: float = setting(
            0.6,
            ge=0,
            le=1,
            help="fires without rank agreement when a stop saves this share of a trial's cost; 1 = never",
        )
        saving_first_epoch: int = setting(1, ge=0, help="first epoch at which the saving gate may fire")
        leader_share: float = leader_share_setting()

        def __post_init__(self) -> None:
            super().__post_init__()
            if self.enabled and self.start_fraction >= self.end_fraction:
                raise ConfigError(
                    f"start_fraction = {self.start_fraction:g} is not below end_fraction = "
                    f"{self.end_fraction:g}, so RNK could never fire. Fix: a start_fraction below "
                    "end_fraction, or RNK: false to turn it off."
                )

    settings: Settings

    def epochs(self, max_epochs: int) -> range:
        """The 0-based epochs at which RNK may fire for a trial of ``max_epochs`` planned epochs."""
        settings = self.settings
        return range(_round(settings.start_fraction * max_epochs), _round(settings.end_fraction * max_epochs))

    def applies(self, trial: TrialHistory, protected: bool) -> bool:
        """Its own epoch range on top of the usual checks; never while the planned epochs are unknown."""
        if trial.max_epochs is None or not super().applies(trial, protected):
            return False
        return trial.epoch in self.epochs(trial.max_epochs)

    def check(self, trial: TrialHistory) -> Firing | None:
        value, peers, epoch = trial.latest.default, trial.peer_metrics, trial.epoch
        if value is None or not math.isfinite(value) or peers is None:
            return None
        count = peers.count(epoch)
        if count < self.settings.min_peers:
            return None
        margin = self.settings.noise_k * trial.metric_noise(len(trial.records))
        if self.settings.best_so_far:
            value = trial.best_metric()
            assert value is not None  # the latest metric is finite
            compared = f"best default up to epoch {epoch} beats its best so far {value:.4g}"
        else:
            compared = f"default at epoch {epoch} beats {value:.4g}"
        level = value + margin if trial.direction is Direction.MAXIMIZE else value - margin
        better = (
            peers.count_better_so_far(epoch, level)
            if self.settings.best_so_far
            else peers.count_better(epoch, level, trial.direction)
        )
        share = better / count
        bar, bar_rule = self._bar(trial)
        if share <= bar:
            return None
        rule = (
            f"share of the {count} peers whose {compared} by more than noise_k x its noise "
            f"({margin:.3g}) > {bar_rule}"
        )
        if self.settings.min_finished:
            agreement = self._rank_agreement(peers, epoch, trial.max_epochs) or self._saving(trial)
            if agreement is None:
                return None
            rule += f"; {agreement}"
        return self.firing(rule, share, bar)

    def _bar(self, trial: TrialHistory) -> tuple[float, str]:
        """The share of peers ahead above which RNK fires for this trial, and how the rule names it:
        ``max_share_better`` divided by the trial's epoch cost against its peers' (see the class)."""
        settings = self.settings
        plain = settings.max_share_better, "max_share_better"
        own_seconds = trial.finite_series(EPOCH_SECONDS)
        median = trial.trial_times.median_epoch_seconds(exclude=trial.trial) if trial.trial_times else None
        if not settings.cost_exponent or own_seconds.size == 0 or median is None:
            return plain
        peers_seconds, timed_peers = median
        own = float(np.mean(own_seconds))
        if timed_peers < settings.min_peers or own <= 0 or peers_seconds <= 0:
            return plain
        try:
            scale = (peers_seconds / own) ** settings.cost_exponent
        except OverflowError:  # a trial absurdly faster than its peers: no finite bar
            scale = math.inf
        bar = min(1.0, settings.max_share_better * scale) if settings.max_share_better else 0.0
        return bar, (
            f"max_share_better {settings.max_share_better:g} x (median epoch of {timed_peers} peers "
            f"{peers_seconds:.3g} s / its own {own:.3g} s) ** cost_exponent {settings.cost_exponent:g} "
            f"= {bar:.2f}"
        )

    def _saving(self, trial: TrialHistory) -> str | None:
        """Why a stop is worth it without rank agreement, or ``None`` while it saves too little."""
        settings, times, epoch = self.settings, trial.trial_times, trial.epoch
        if times is None or trial.max_epochs is None or epoch < settings.saving_first_epoch:
            return None
        if times.timed_trials() < settings.min_peers:
            return None
        saving = times.saving_share(epoch, trial.max_epochs)
        if saving is None or saving < settings.min_saving:
            return None
        return (
            f"a stop at epoch {epoch} saves {saving:.0%} of a trial's cost (remaining epochs against "
            f"start-up plus all epochs, medians of {times.timed_trials()} trials; min_saving "
            f"{settings.min_saving:.0%})"
        )

    def _rank_agreement(self, peers: PeerValues, epoch: int, max_epochs: int | None) -> str | None:
        """Why ranks at ``epoch`` can be trusted, or ``None`` while the finished peers do not show it."""
        if max_epochs is None:
            return None
        last = max_epochs - 1
        correlation, finished = peers.rank_agreement(epoch, last)
        settings = self.settings
        if finished < settings.min_finished or correlation is None:
            return None
        if correlation < settings.min_rank_agreement:
            return None
        return (
            f"the {finished} peers that reached epoch {last} rank at epoch {epoch} as at {last} "
            f"(Spearman {correlation:.2f} >= min_rank_agreement {settings.min_rank_agreement:g})"
        )

    def veto(self, trial: TrialHistory) -> str | None:
        return leads_peers(trial, self.settings.leader_share) or self._still_learning(trial)

    def _still_learning(self, trial: TrialHistory) -> str | None:
        window = self.settings.veto_window
        losses = trial.series(TRAIN_LOSS)[-window - 1 :]
        if losses.size <= window or not np.all(np.isfinite(losses)) or losses[0] <= 0:
            return None
        drop = float((losses[0] - losses[-1]) / losses[0])
        if drop < self.settings.veto_drop:
            return None
        return (
            f"no problem diagnosed and the train loss fell {drop:.1%} over the last {window} epochs "
            f"(veto_drop {self.settings.veto_drop:.1%})"
        )


def _round(value: float) -> int:
    """Half up, as a person rounds (Python's ``round`` sends 2.5 to 2)."""
    return math.floor(value + 0.5)
