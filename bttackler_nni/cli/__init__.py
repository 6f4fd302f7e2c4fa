"""The ``bttackler`` command: run an experiment end to end, explain stops, register, repair NNI."""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from ..diagnosis.direction import Direction
from ..evaluation.arms import ArmError
from ..evaluation.banks import BankError
from ..evaluation.output_paths import OutputPathError, ready_folder, ready_new_file
from ..evaluation.simulation import SimulationError
from ..evaluation.summary import FAILED_LOGS_SHOWN, explain_trial, summarize
from ..experiments import registration, repair, store
from ..experiments.config import ExperimentConfigError, check_config, load_config
from ..experiments.launch import (
    LaunchError,
    LaunchInterrupted,
    RunningExperiment,
    create,
    ctrl_c_ignored,
    fetch_failed_trial_logs,
    nnictl_environment,
    stop,
    wait,
)

DEFAULT_POLICIES = ("default", "medianstop", "curvefitting")
"""The rules `bttackler simulate` compares with no stopping when --policy is not given."""

INTERRUPTED = 130
"""Exit status after Ctrl-C (128 + SIGINT), as shells report it."""


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    args.command_line = _command_line(sys.argv[1:] if argv is None else argv)
    try:
        return int(args.handler(args) or 0)
    except LaunchInterrupted as error:  # Ctrl-C, and the message says what was kept
        print(f"\nbttackler: {error}", file=sys.stderr)
        return INTERRUPTED
    except (
        LaunchError,
        ExperimentConfigError,
        store.ExperimentNotFound,
        repair.RepairError,
        BankError,
        ArmError,
        SimulationError,
        OutputPathError,
        KeyError,
        OSError,  # a full disk, a file that vanished: one line, not a traceback
    ) as error:
        print(f"bttackler: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nbttackler: interrupted", file=sys.stderr)
        return INTERRUPTED


def _run(args: argparse.Namespace) -> int:
    """Create, watch, stop and summarise; 1 when every trial failed, 130 on Ctrl-C."""
    config = load_config(args.config, args.set)
    check_config(config)
    env = nnictl_environment()
    experiment = create(config, args.port, env)
    print(
        f"Experiment {experiment.id} started; web UI {experiment.url}; files in {experiment.directory}",
        flush=True,
    )
    status, interrupted = "interrupted", False
    try:
        status = wait(experiment, args.timeout, on_progress=lambda line: print(line, flush=True))
    except KeyboardInterrupt:
        interrupted = True
        print("\nInterrupted.", file=sys.stderr, flush=True)
    finally:
        finished = _stop_and_summarise(experiment, env, args.keep, status)
    if args.keep:
        print(f"\nThe experiment keeps running: `nnictl stop {experiment.id}` when done.")
    if interrupted:
        return INTERRUPTED
    if finished is not None and finished.trials and all(t.failed for t in finished.trials):
        print(f"bttackler: every trial of {experiment.id} failed; see their logs above", file=sys.stderr)
        return 1
    return 0


def _stop_and_summarise(
    experiment: RunningExperiment, env: dict[str, str], keep: bool, status: str
) -> store.Experiment | None:
    """Stop the experiment (a second Ctrl-C cannot cut that short) and print its summary.

    Failed trials' logs are fetched first, while NNI still runs (remote workers keep them). An
    experiment that never got a trial (its training service did not start) has no summary: the
    error says it all.
    """
    with ctrl_c_ignored():
        fetch_failed_trial_logs(experiment, FAILED_LOGS_SHOWN)
        if not keep:
            print(f"Stopping {experiment.id}...", file=sys.stderr, flush=True)
            try:
                stop(experiment, env)
            except LaunchError as error:
                print(f"bttackler: could not stop {experiment.id}: {error}", file=sys.stderr)
        try:
            finished = store.load(experiment.directory)
        except (store.ExperimentNotFound, OSError) as error:
            print(f"bttackler: no summary: {error}", file=sys.stderr)
            return None
        if not finished.trials:
            return finished
        print()
        print(summarize(finished, status), flush=True)
        return finished


def _check(args: argparse.Namespace) -> int:
    check_config(load_config(args.config, args.set))
    print(f"{args.config}: valid")
    return 0


def _why(args: argparse.Namespace) -> int:
    experiment = store.load(args.experiment)
    print(explain_trial(experiment, args.trial) if args.trial else summarize(experiment))
    return 0


def _load_all(experiments: Sequence[str]) -> list[store.Experiment]:
    """Read experiments one by one, saying which (reading a large one takes a while)."""
    loaded = []
    for number, experiment in enumerate(experiments, start=1):
        print(
            f"reading experiment {experiment} ({number}/{len(experiments)})...", file=sys.stderr, flush=True
        )
        loaded.append(store.load(experiment))
        print(f"  {len(loaded[-1].trials)} trials", file=sys.stderr, flush=True)
    return loaded


def _report(args: argparse.Namespace) -> int:
    from ..evaluation.reports import write_report

    experiment = _load_all([args.experiment])[0]
    out = ready_folder(Path(args.out or f"bttackler-report-{experiment.id}"))
    print(summarize(experiment))
    print(f"\nwrote {write_report(experiment, out)}")
    return 0


def _replay(args: argparse.Namespace) -> int:
    from ..evaluation.replay import replay
    from ..evaluation.reports import write_replay

    experiment = _load_all([args.experiment])[0]
    out = ready_folder(Path(args.out or f"bttackler-replay-{experiment.id}"))
    print("replaying its reports through the diagnosis engine...", file=sys.stderr, flush=True)
    result = replay(experiment)
    counts = ", ".join(f"{indicator} {n}" for indicator, n in result.by_indicator().most_common()) or "none"
    print(
        f"{len(result.stops)} of {result.trials} trials would have been stopped ({counts}); "
        f"about {result.seconds_saved:.0f} s of {result.trial_seconds:.0f} s trial time saved"
    )
    print(f"wrote {write_replay(result, out)}")
    return 0


def _compare(args: argparse.Namespace) -> int:
    from ..evaluation.reports import write_comparison

    baselines, enhanced = _load_all(args.baseline), _load_all(args.enhanced)
    out = ready_folder(Path(args.out or "bttackler-compare"))  # not created for runs that cannot be read
    try:
        result = write_comparison(baselines, enhanced, out, args.direction, args.budget, paired=args.paired)
    except ValueError as error:
        raise LaunchError(f"cannot compare these runs: {error}") from error
    print(result.summary())
    print(f"wrote {out / 'compare.md'}")
    return 0


def _command_line(argv: Sequence[str]) -> str:
    """This command as a shell line, led by the BTTACKLER_* variables its trials read (a bank's header)."""
    variables = [f"{k}={shlex.quote(v)}" for k, v in sorted(os.environ.items()) if k.startswith("BTTACKLER_")]
    return " ".join([*variables, "bttackler", shlex.join(argv)])


def _bank_record(args: argparse.Namespace) -> int:
    from ..evaluation.bank_recording import describe_bank, record_bank

    bank, cost = record_bank(
        args.config,
        args.set,
        args.trials,
        Path(args.out),
        command=args.command_line,
        task=args.task,
        machine=args.machine,
        timeout=args.timeout,
        on_progress=lambda line: print(line, flush=True),
        without_nnictl=args.without_nnictl,
        parallel=args.parallel,
        overwrite=args.overwrite,
    )
    print(describe_bank(bank))
    print(f"  {cost.describe()}" if cost is not None else "  start-up: no trial was timed")
    print(f"wrote {args.out}")
    return 0


def _bank_show(args: argparse.Namespace) -> int:
    from ..evaluation.bank_recording import describe_bank
    from ..evaluation.banks import read_bank

    for path in args.bank:
        print(describe_bank(read_bank(path)))
    return 0


def _bank_merge(args: argparse.Namespace) -> int:
    from ..evaluation.bank_pool import POOL_COMMAND, merge_banks
    from ..evaluation.bank_recording import describe_bank
    from ..evaluation.banks import read_bank, write_bank

    out = Path(args.out)
    if any(Path(path).resolve() == out.resolve() for path in args.bank):
        raise BankError(f"{out}: --out is one of the banks to merge; write the pool to a new file")
    ready_new_file(out, args.overwrite)
    command = f"{POOL_COMMAND} {shlex.join([*args.bank, '--out', args.out])}"
    pool = merge_banks([read_bank(path) for path in args.bank], command)
    write_bank(pool, out)
    print(describe_bank(read_bank(out)))
    print(f"wrote {out}")
    return 0


def _simulate(args: argparse.Namespace) -> int:
    from ..evaluation.arms import resolve_arm
    from ..evaluation.banks import read_bank
    from ..evaluation.simulation import check_simulation, simulate
    from ..evaluation.simulation_report import table, write_simulation

    bank = read_bank(args.bank)
    policies = args.policy or [
        p for p in DEFAULT_POLICIES if not (p == "curvefitting" and bank.direction is Direction.MINIMIZE)
    ]
    arms = [resolve_arm(spec, bank) for spec in dict.fromkeys(["none", *policies])]
    startup = bank.startup(args.startup)
    check_simulation(bank, arms, args.seeds, args.budget_frac, args.concurrency, args.sampling, startup)
    out = ready_folder(Path(args.out or f"bttackler-simulate-{bank.name}"))
    source = "--startup" if args.startup is not None else "the bank's"
    print(
        f"{bank.name}: {len(bank.trials)} trials; arms {', '.join(a.name for a in arms)}; "
        f"{args.seeds} seeds, "
        f"{args.sampling} draws, concurrency {args.concurrency}, start-up {startup:g} s per trial ({source})",
        flush=True,
    )
    started = time.monotonic()
    simulation = simulate(
        bank,
        arms,
        seeds=args.seeds,
        budget_frac=args.budget_frac,
        concurrency=args.concurrency,
        sampling=args.sampling,
        startup=startup,
        on_progress=lambda line: print(line, flush=True),
    )
    print()
    print(table(write_simulation(simulation, out), distinct=simulation.sampling == "iid"))
    print(f"\nwrote {out / 'simulate.md'} ({time.monotonic() - started:.0f} s)")
    return 0


def _register(args: argparse.Namespace) -> int:
    if args.undo:
        print("\n".join(registration.unregister()))
    else:
        print(registration.register())
        print(
            "Use them in any experiment config: `assessor: {name: BTTackler}` and "
            "`tuner: {name: BTTacklerTuner, classArgs: {tuner: TPE, tuner_args: {optimize_mode: maximize}}}` "
            "(or tuner: GP, SMAC; plain: `tuner: {name: BTTacklerGP}`, `{name: BTTacklerSMAC}`)"
        )
    return 0


def _repair(args: argparse.Namespace) -> int:
    path = repair.compat_js_path()
    if args.action == "status":
        print(f"{path}: {repair.state(path).value}")
    elif args.action == "apply":
        changed = repair.apply(path)
        print(
            f"{path}: {'repaired' if changed else 'already repaired'}; assessor kills of experiments started "
            "from now on show as EARLY_STOPPED"
        )
    else:
        changed = repair.revert(path)
        print(f"{path}: {'restored to NNI original' if changed else 'already NNI original'}")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bttackler", description=__doc__)
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    run = commands.add_parser("run", help="run an NNI experiment to its end and summarise the trials")
    run.add_argument("config", help="experiment YAML, e.g. configs/digits/tpe_bttackler.yml")
    _add_overrides(run)
    run.add_argument("--port", type=int, help="web UI port (default: a free one)")
    run.add_argument("--timeout", type=float, default=3 * 3600, help="give up after this many seconds")
    run.add_argument("--keep", action="store_true", help="leave the experiment running (for its web UI)")
    run.set_defaults(handler=_run)

    check = commands.add_parser("check", help="validate an experiment YAML, BTTackler's classArgs included")
    check.add_argument("config")
    _add_overrides(check)
    check.set_defaults(handler=_check)

    why = commands.add_parser("why", help="why BTTackler stopped the trials of an experiment")
    why.add_argument("experiment", help="experiment id (see `nnictl experiment list --all`) or directory")
    why.add_argument("trial", nargs="?", help="a trial id: show every verdict it got")
    why.set_defaults(handler=_why)

    report = commands.add_parser("report", help="write a markdown report with plots of one experiment")
    report.add_argument("experiment", help="experiment id or directory")
    report.add_argument("--out", help="output folder (default: ./bttackler-report-<id>)")
    report.set_defaults(handler=_report)

    replay = commands.add_parser(
        "replay", help="which trials BTTackler would have stopped in a recorded experiment"
    )
    replay.add_argument(
        "experiment", help="experiment id or directory (typically one run without early stopping)"
    )
    replay.add_argument("--out", help="output folder (default: ./bttackler-replay-<id>)")
    replay.set_defaults(handler=_replay)

    comparison = commands.add_parser(
        "compare", help="Top10HR and TSBA of enhanced runs against baseline runs"
    )
    comparison.add_argument("--baseline", nargs="+", required=True, metavar="EXPERIMENT")
    comparison.add_argument("--enhanced", nargs="+", required=True, metavar="EXPERIMENT")
    comparison.add_argument(
        "--direction",
        choices=[d.value for d in Direction],
        help="which way the metric improves; default: the baseline's tuner optimize_mode",
    )
    comparison.add_argument(
        "--budget",
        type=float,
        metavar="SECONDS",
        help="count only trials that ended within this many seconds of their experiment's start",
    )
    comparison.add_argument(
        "--paired",
        action="store_true",
        help="compare the i-th enhanced run with the i-th baseline run only (repetitions that share a "
        "tuner seed); default: every enhanced run with every baseline run",
    )
    comparison.add_argument("--out", help="output folder (default: ./bttackler-compare)")
    comparison.set_defaults(handler=_compare)

    bank = commands.add_parser("bank", help="trace banks: trials recorded without early stopping")
    bank_commands = bank.add_subparsers(required=True, metavar="ACTION")
    record = bank_commands.add_parser(
        "record", help="run a task's experiment without early stopping and write its trials as a bank"
    )
    record.add_argument("config", help="experiment YAML, e.g. configs/digits/random_baseline.yml")
    record.add_argument("--trials", type=int, required=True, help="how many trials to record")
    record.add_argument("--out", required=True, help="the bank file to write, e.g. digits.jsonl")
    _add_overwrite(record, "the bank")
    _add_overrides(record)
    record.add_argument("--task", help="the task's name in the bank (default: the config's folder name)")
    record.add_argument(
        "--machine", help="the machine's description in the bank (default: CPU and GPU names)"
    )
    record.add_argument("--timeout", type=float, default=24 * 3600, help="give up after this many seconds")
    record.add_argument(
        "--without-nnictl",
        action="store_true",
        help="run the trials here without NNI's manager (Random tuner configs; for machines without "
        "Node.js or NNI's nni_node, e.g. a GPU machine that takes only Python packages)",
    )
    record.add_argument(
        "--parallel",
        type=int,
        help="with --without-nnictl: trials at a time (default: the config's trialConcurrency)",
    )
    record.set_defaults(handler=_bank_record)
    show = bank_commands.add_parser(
        "show", help="summarise banks: trials, epochs, seconds, spread of results"
    )
    show.add_argument("bank", nargs="+")
    show.set_defaults(handler=_bank_show)
    merge = bank_commands.add_parser(
        "merge",
        help="pool banks of one task and setting (e.g. recorded with different tuner seeds) into one bank",
    )
    merge.add_argument("bank", nargs="+", help="the banks to pool, e.g. benchmarks/banks/ex96trans*.jsonl")
    merge.add_argument(
        "--out", required=True, help="the pool's bank file to write, e.g. ex96trans_pool.jsonl"
    )
    _add_overwrite(merge, "the pool")
    merge.set_defaults(handler=_bank_merge)

    simulation = commands.add_parser(
        "simulate", help="replay a bank as many simulated HPO runs and compare early-stopping rules"
    )
    simulation.add_argument("bank", help="a trace bank, e.g. benchmarks/banks/digits.jsonl")
    simulation.add_argument(
        "--policy",
        nargs="+",
        metavar="NAME_OR_FILE",
        help="the rules to compare besides none: default, paper (preset: paper), medianstop, curvefitting, "
        "or a YAML/JSON file of "
        f"BTTackler classArgs (default: {' '.join(DEFAULT_POLICIES)}; curvefitting only on maximizing banks)",
    )
    simulation.add_argument("--seeds", type=int, default=20, help="paired seeds (default 20)")
    simulation.add_argument(
        "--budget-frac",
        type=float,
        default=0.5,
        help="budget as a share of the time no stopping needs for the bank's size of trials (default 0.5)",
    )
    simulation.add_argument("--concurrency", type=int, default=8, help="trials at a time (default 8)")
    simulation.add_argument(
        "--sampling",
        choices=("iid", "halves"),
        default="iid",
        help="iid: draws with replacement, the none arm is the baseline; halves: baseline and arms draw "
        "without replacement from disjoint halves of the bank (default iid)",
    )
    simulation.add_argument(
        "--startup",
        type=float,
        metavar="SECONDS",
        help="per-trial start-up cost (default: the bank's measured startup_seconds, else 0)",
    )
    simulation.add_argument("--out", help="output folder (default: ./bttackler-simulate-<bank>)")
    simulation.set_defaults(handler=_simulate)

    register = commands.add_parser(
        "register", help=f"register {', '.join(registration.names())} as NNI algorithms"
    )
    register.add_argument("--undo", action="store_true", help="unregister them")
    register.set_defaults(handler=_register)

    repair = commands.add_parser(
        "nni-repair",
        help="opt-in repair: NNI 3.0 shows assessor kills as "
        "USER_CANCELED; after `apply` they show as EARLY_STOPPED",
    )
    repair.add_argument("action", choices=("status", "apply", "revert"))
    repair.set_defaults(handler=_repair)
    return parser


def _add_overrides(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="set a config key (dotted path) to a YAML value, replacing what the file has there, e.g. "
        "--set maxTrialNumber=8",
    )


def _add_overwrite(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help=f"replace a file already at --out with {what} (refused by default: a bank may hold hours of "
        "recording)",
    )
