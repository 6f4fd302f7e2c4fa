"""Which indicators a report leaves blind, and why: what a trial loses when it does not report through
the Reporter.

A trial that reports plain numbers (``nni.report_intermediate_result(acc)``), or a dict of its own,
is judged only by the indicators that read what it sends. A user who adds the assessor to an
experiment they already have would otherwise never learn that the gradient indicators saw nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..record import EpochRecord

REPORTER_FIX = "report through bttackler_nni.Reporter in the trial script (README, Quickstart)"
"""What a trial does so that every indicator can judge it."""


def blind_indicators(record: EpochRecord) -> dict[str, tuple[str, ...]]:
    """For each statistic ``record`` lacks, the indicators that cannot judge a trial without it;
    empty when the report carries everything the indicators read (a Reporter's record does)."""
    blind: dict[str, tuple[str, ...]] = {}
    if record.grad_median is None and record.zero_grad_share is None:
        blind["gradient statistics"] = ("EAG", "ERG", "LAR")
    if record.train_loss is None:  # ULC and NMG read the validation loss where there is one
        blind["train_loss"] = ("PLC",) if record.val_loss is not None else ("PLC", "ULC", "NMG")
    return blind


def blindness(record: EpochRecord, indicator_ids: Sequence[str]) -> str:
    """What ``record`` leaves the indicators ``indicator_ids`` blind to, in words, e.g. ``no gradient
    statistics and no train_loss: EAG, ERG, LAR, PLC, ULC, NMG cannot judge such reports; only AGV, RNK
    can``; empty when every one of them can judge it."""
    blind = blind_indicators(record)
    unseen = [i for i in indicator_ids if any(i in indicators for indicators in blind.values())]
    if not unseen:
        return ""
    seen = [i for i in indicator_ids if i not in unseen]
    return (
        f"no {' and no '.join(blind)}: {', '.join(unseen)} cannot judge such reports; "
        f"only {', '.join(seen) or 'none'} can"
    )
