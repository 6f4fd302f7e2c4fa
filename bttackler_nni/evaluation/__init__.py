"""Evaluation metrics comparing an enhanced HPO run with its baseline (docs/method.md section 7).

- :func:`top10_hit_ratio` (Top10HR): the share of the best trials of both runs that are the
  enhanced run's.
- :func:`tsba` (TSBA): the fraction of time the enhanced run saves in reaching the baseline's best.
"""

from __future__ import annotations

from .metrics import top10_hit_ratio, tsba

__all__ = ["top10_hit_ratio", "tsba"]
