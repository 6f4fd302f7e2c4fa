"""Simulated HPO runs over a trace bank: many paired seeds of every early-stopping rule, no training.

One simulated run is a Random-search HPO with ``concurrency`` workers. A worker takes the next
trial of the run's draw sequence (a bank trial), pays the per-trial start-up, then replays that
trial's epochs at their recorded seconds. Every report goes to the policy in global time order
across workers (ties: the earlier-drawn trial first); a stop ends the trial at that report, the end
of its epoch, and frees the worker there. A trial that is not stopped ends with its last epoch.
NNI's calls are mirrored: ``assess`` with the trial's reports so far (exactly as recorded, but for
the first report's ``startup_seconds``, which is set to the start-up the run charges), and
``trial_end(trial, success)`` when a trial that reported ends, success meaning it ended on its own
with NNI status SUCCEEDED.

Per seed (:func:`simulate`):

- **draws**: ``iid`` draws bank trials with replacement; ``halves`` shuffles the bank with the
  seed, gives the first ``n // 2`` trials to the baseline and the next ``n // 2`` to the arms, each
  drawn without replacement in that shuffled order, so no trace recurs between baseline and arm.
- **paired**: every arm of a seed runs the same draw sequence.
- **budget**: ``budget_frac`` times the time the no-stopping rule needs to run ``m`` trials of the
  baseline's sequence, ``m`` being the bank's size (``iid``) or the half's (``halves``). Only trials
  that ended within the budget count.
- **baseline**: the no-stopping run of the baseline's sequence. With ``iid`` that is the ``none``
  arm itself, which is therefore not compared with itself.

Each arm's run is compared with the baseline by Top10HR and TSBA (:mod:`.metrics`).
"""

from __future__ import annotations

import heapq
import math
import random
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..record import STARTUP_SECONDS
from .banks import Bank, BankTrial
from .metrics import top10_hit_ratio, tsba

Result = tuple[float, float]
SAMPLING = ("iid", "halves")


class SimulationError(ValueError):
    """A simulation cannot run as asked; the message says why and what to change."""


class Policy(Protocol):
    """An early-stopping rule as NNI drives an assessor."""

    def assess(self, trial: str, history: Sequence[Any]) -> bool:
        """Whether to stop ``trial`` now; ``history`` is all its reports so far, oldest first."""
        ...

    def trial_end(self, trial: str, success: bool) -> None:
        """``trial`` ended (``success``: on its own, SUCCEEDED)."""
        ...

    def reason(self, trial: str) -> str:
        """A short name for why ``trial`` was stopped (e.g. the indicator), for the report."""
        ...


@dataclass(frozen=True)
class Arm:
    """An early-stopping rule under comparison: its name, what it is, and a fresh policy per seed."""

    name: str
    description: str
    make: Callable[[int], Policy]


@dataclass(frozen=True)
class SimulatedTrial:
    """One trial of a simulated run.

    Attributes:
        number: its position in the run's draw sequence (0-based).
        source: the bank trial it replays.
        start: when its worker took it (seconds since the run started).
        end: when it ended, ``None`` when it was still running at the budget.
        reports: how many reports it made (all of them went to the policy).
        stopped: whether the policy stopped it.
        reason: the policy's reason for the stop.
    """

    number: int
    source: BankTrial
    start: float
    end: float | None
    reports: int
    stopped: bool
    reason: str | None = None

    @property
    def id(self) -> str:
        return trial_id(self.number, self.source)

    @property
    def value(self) -> float | None:
        """A stopped trial counts with its last report's metric, an ended one with its result."""
        if self.end is None:
            return None
        if self.stopped:
            return self.source.epochs[self.reports - 1].value
        return self.source.value


def trial_id(number: int, source: BankTrial) -> str:
    """The id a policy sees: unique per run even when a bank trial is drawn twice."""
    return f"{number}:{source.trial}"


@dataclass(frozen=True)
class SimulatedRun:
    """The trials of one simulated run, cut at ``budget``."""

    trials: tuple[SimulatedTrial, ...]
    budget: float

    @property
    def ended(self) -> list[SimulatedTrial]:
        return [t for t in self.trials if t.end is not None and t.end <= self.budget]

    @property
    def makespan(self) -> float:
        """When its last trial ended (the run's length when nothing was cut)."""
        return max((t.end for t in self.trials if t.end is not None), default=0.0)

    def results(self) -> list[Result]:
        """``(end, value)`` of each trial that ended within the budget with a finite value."""
        return [(end, value) for end, value, _ in self._finite()]

    def distinct_results(self) -> list[Result]:
        """:meth:`results` with each bank trace once: a trace drawn again counts at its first end.

        With ``iid`` draws a bank trial recurs, and a rule that runs many trials fills the pooled
        top 10 with copies of the same few traces, which a real search over fresh configurations
        cannot do; Top10HR over these results counts each configuration found once.
        """
        first: dict[str, Result] = {}
        for end, value, source in sorted(self._finite(), key=lambda item: item[0]):
            first.setdefault(source, (end, value))
        return list(first.values())

    def _finite(self) -> list[tuple[float, float, str]]:
        return [
            (t.end, value, t.source.trial)
            for t in self.ended
            if t.end is not None and (value := t.value) is not None and math.isfinite(value)
        ]


class Draws:
    """A seed's sequence of bank trial indices; ``iid`` sequences grow on demand (never run out)."""

    def __init__(self, fixed: Sequence[int] | None = None, rng: random.Random | None = None, size: int = 0):
        self._drawn = list(fixed or [])
        self._rng = rng
        self._size = size

    def get(self, position: int) -> int | None:
        """The bank index at ``position``; ``None`` when a fixed sequence is exhausted."""
        while self._rng is not None and position >= len(self._drawn):
            self._drawn.append(self._rng.randrange(self._size))
        return self._drawn[position] if position < len(self._drawn) else None

    def prefix(self, length: int) -> Draws:
        """The first ``length`` draws as a fixed sequence."""
        return Draws([index for k in range(length) if (index := self.get(k)) is not None])


def run(
    bank: Bank,
    draws: Draws,
    policy: Policy,
    *,
    concurrency: int,
    startup: float = 0.0,
    budget: float = math.inf,
) -> SimulatedRun:
    """One simulated run of ``policy`` over ``draws`` (see the module docstring)."""
    events: list[tuple[float, int, int]] = []  # (time, trial number, report index; -1: ends unreported)
    started: dict[int, tuple[BankTrial, float]] = {}
    records: dict[int, list[Any]] = {}
    reports: dict[int, int] = {}
    done: dict[int, SimulatedTrial] = {}

    def launch(at: float) -> None:
        number = len(started)
        index = draws.get(number)
        if index is None:
            return
        source = bank.trials[index]
        started[number] = (source, at)
        records[number] = replayed_records(source, startup)
        reports[number] = 0
        first = source.epochs[0].seconds if source.epochs else 0.0
        heapq.heappush(events, (at + startup + first, number, 0 if source.epochs else -1))

    def finish(number: int, at: float, stopped: bool, reason: str | None = None) -> None:
        source, start = started[number]
        records.pop(number, None)
        done[number] = SimulatedTrial(number, source, start, at, reports[number], stopped, reason)
        launch(at)

    for _ in range(concurrency):
        launch(0.0)
    while events:
        at, number, index = heapq.heappop(events)
        if at > budget:
            break
        source, _ = started[number]
        if index < 0:  # a trial that never reported: it cost its start-up and ended
            finish(number, at, stopped=False)
            continue
        reports[number] = index + 1
        tid = trial_id(number, source)
        if policy.assess(tid, records[number][: index + 1]):
            policy.trial_end(tid, False)
            finish(number, at, stopped=True, reason=policy.reason(tid))
        elif index + 1 == len(source.epochs):
            policy.trial_end(tid, source.status == "SUCCEEDED")
            finish(number, at, stopped=False)
        else:
            heapq.heappush(events, (at + source.epochs[index + 1].seconds, number, index + 1))
    unfinished = [
        SimulatedTrial(number, source, start, None, reports[number], False)
        for number, (source, start) in started.items()
        if number not in done
    ]
    trials = sorted([*done.values(), *unfinished], key=lambda t: t.number)
    return SimulatedRun(tuple(trials), budget)


def replayed_records(trial: BankTrial, startup: float) -> list[Any]:
    """``trial``'s reports as a run replays them: as recorded, the first one's ``startup_seconds``
    set to the ``startup`` the run charges.

    A live Reporter measures only its own process's part of that cost (start to the Reporter's
    creation), not NNI's launch gap and tear-down: about two thirds of a bank's start-up on this
    machine's nnictl recordings (3.2-3.5 of 4.9-5.2 s), so live, RNK's saving gate sees a stop save
    a little more than in a simulation (docs/banks.md)."""
    replayed = [epoch.record for epoch in trial.epochs]
    if replayed and isinstance(replayed[0], dict):
        replayed[0] = {**replayed[0], STARTUP_SECONDS: startup}
    return replayed


class NoStop:
    """The rule that never stops a trial: the baseline, and the ``none`` arm."""

    def assess(self, trial: str, history: Sequence[Any]) -> bool:
        return False

    def trial_end(self, trial: str, success: bool) -> None:
        pass

    def reason(self, trial: str) -> str:
        return "never stops"


@dataclass(frozen=True)
class ArmOutcome:
    """One arm in one seed: its run and how it compares with the baseline.

    ``compared`` is false for the ``none`` arm under ``iid`` sampling (it is the baseline); otherwise
    ``top10hr`` and ``top10hr_distinct`` (each bank trace counted once in each run,
    :meth:`SimulatedRun.distinct_results`) are set and ``tsba`` is ``None`` exactly when the arm never
    reached the baseline's best.
    """

    arm: str
    seed: int
    run: SimulatedRun
    compared: bool
    top10hr: float | None
    tsba: float | None
    top10hr_distinct: float | None = None

    @property
    def trials_within_budget(self) -> int:
        return len(self.run.ended)

    @property
    def stopped_share(self) -> float:
        ended = self.run.ended
        return sum(t.stopped for t in ended) / len(ended) if ended else 0.0

    def stop_reasons(self) -> Counter[str]:
        return Counter(t.reason or "?" for t in self.run.ended if t.stopped)


@dataclass(frozen=True)
class Simulation:
    """Every arm over every seed, with what was asked."""

    bank: Bank
    arms: tuple[Arm, ...]
    seeds: int
    budget_frac: float
    concurrency: int
    sampling: str
    startup: float
    baselines: tuple[SimulatedRun, ...]
    outcomes: tuple[ArmOutcome, ...] = field(repr=False)

    def of(self, arm: str) -> list[ArmOutcome]:
        return [o for o in self.outcomes if o.arm == arm]


def seed_draws(bank: Bank, seed: int, sampling: str) -> tuple[Draws, Draws, int]:
    """The baseline's draws, the arms' draws, and how many trials set the budget (module docstring)."""
    size = len(bank.trials)
    if sampling == "iid":
        draws = Draws(rng=random.Random(seed), size=size)
        return draws, draws, size
    order = list(range(size))
    random.Random(seed).shuffle(order)
    half = _budget_trials(bank, sampling)
    return Draws(order[:half]), Draws(order[half : 2 * half]), half


def _budget_trials(bank: Bank, sampling: str) -> int:
    """How many trials' no-stopping run sets a seed's budget: the bank's, or a half's under ``halves``."""
    return len(bank.trials) // 2 if sampling == "halves" else len(bank.trials)


def simulate(
    bank: Bank,
    arms: Sequence[Arm],
    *,
    seeds: int,
    budget_frac: float,
    concurrency: int,
    sampling: str = "iid",
    startup: float = 0.0,
    on_progress: Callable[[str], None] | None = None,
) -> Simulation:
    """Run every arm on ``seeds`` paired seeds (0 .. seeds-1); see the module docstring."""
    check_simulation(bank, arms, seeds, budget_frac, concurrency, sampling, startup)
    outcomes: list[ArmOutcome] = []
    baselines: list[SimulatedRun] = []

    def replay(draws: Draws, policy: Policy, budget: float = math.inf) -> SimulatedRun:
        return run(bank, draws, policy, concurrency=concurrency, startup=startup, budget=budget)

    for seed in range(seeds):
        baseline_draws, arm_draws, budget_trials = seed_draws(bank, seed, sampling)
        full = replay(baseline_draws.prefix(budget_trials), NoStop())
        budget = budget_frac * full.makespan
        baseline = replay(baseline_draws, NoStop(), budget)
        base_results = baseline.results()
        if not base_results:
            raise SimulationError(
                f"seed {seed}: no baseline trial ended with a finite result within the budget "
                f"({budget:.0f} s); raise --budget-frac"
            )
        baselines.append(baseline)
        for arm in arms:
            is_baseline = arm.name == "none" and sampling == "iid"
            arm_run = baseline if is_baseline else replay(arm_draws, arm.make(seed), budget)
            results = arm_run.results()
            compared = not is_baseline
            if compared:
                hit = top10_hit_ratio(results, base_results, direction=bank.direction)
                saved = tsba(results, base_results, direction=bank.direction)
                distinct = top10_hit_ratio(
                    arm_run.distinct_results(), baseline.distinct_results(), direction=bank.direction
                )
                outcomes.append(ArmOutcome(arm.name, seed, arm_run, True, hit, saved, distinct))
            else:
                outcomes.append(ArmOutcome(arm.name, seed, arm_run, False, None, None))
        if on_progress is not None:
            on_progress(_progress_line(seed, seeds, budget, outcomes[-len(arms) :]))
    return Simulation(
        bank,
        tuple(arms),
        seeds,
        budget_frac,
        concurrency,
        sampling,
        startup,
        tuple(baselines),
        tuple(outcomes),
    )


def _progress_line(seed: int, seeds: int, budget: float, outcomes: Sequence[ArmOutcome]) -> str:
    parts = []
    for outcome in outcomes:
        text = f"{outcome.arm} {outcome.trials_within_budget} trials"
        if outcome.compared:
            reached = "never" if outcome.tsba is None else f"{outcome.tsba:.2f}"
            text += f" ({outcome.stopped_share:.0%} stopped, Top10HR {outcome.top10hr:.2f}, TSBA {reached})"
        parts.append(text)
    return f"seed {seed + 1}/{seeds}, budget {budget:.0f} s: " + "; ".join(parts)


def check_simulation(
    bank: Bank,
    arms: Sequence[Arm],
    seeds: int,
    budget_frac: float,
    concurrency: int,
    sampling: str,
    startup: float,
) -> None:
    """Raise :class:`SimulationError` listing every argument :func:`simulate` cannot run with.

    Arms must have distinct names: outcomes are told apart by name, so two arms of one name (two
    classArgs files ``a/rule.yml`` and ``b/rule.yml``) would pool their seeds into one row."""
    problems = []
    names = [arm.name for arm in arms]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        problems.append(
            f"two arms are named {', '.join(map(repr, twice))} (an arm of a classArgs file is named "
            "after the file); give each rule once, and rename a file that shares a name"
        )
    if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
        problems.append(f"--seeds must be a whole number >= 1, got {seeds!r}")
    if not (isinstance(budget_frac, (int, float)) and math.isfinite(budget_frac) and budget_frac > 0):
        problems.append(f"--budget-frac must be a number > 0, got {budget_frac!r}")
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        problems.append(f"--concurrency must be a whole number >= 1, got {concurrency!r}")
    if sampling not in SAMPLING:
        problems.append(f"--sampling must be one of {', '.join(SAMPLING)}, got {sampling!r}")
    if not (isinstance(startup, (int, float)) and math.isfinite(startup) and startup >= 0):
        problems.append(f"--startup must be a number of seconds >= 0, got {startup!r}")
    if sampling == "halves" and len(bank.trials) < 2:
        problems.append(
            f"--sampling halves needs a bank of at least 2 trials, {bank.name} has {len(bank.trials)}"
        )
    budget_trials = _budget_trials(bank, sampling)
    if isinstance(concurrency, int) and budget_trials >= 1 and concurrency > budget_trials:
        problems.append(
            f"--concurrency {concurrency} is more workers than the {budget_trials} trials whose "
            f"no-stopping run sets the budget ({bank.name}, --sampling {sampling}): every trial would "
            f"start at once. Give at most {budget_trials}"
        )
    if problems:
        raise SimulationError("; ".join(problems))
