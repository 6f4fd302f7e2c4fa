"""Statistics sampled as sparsely as the budget may choose stop each synthetic pathology as full ones do.

Each history of ``synthetic.PATHOLOGIES`` is replayed with 60 batches per epoch whose gradients
scatter around the history's statistics (``sampled_statistics``); Reporters watch every batch, 1 in
3, and 1 in 6, the sparsest the budget can choose for such epochs (at least
``MIN_SAMPLED_BATCHES`` of 60). benchmarks/sampled_diagnosis.py measures the same on real training
and at sparser rates.
"""

from __future__ import annotations

import pytest
from sampled_statistics import first_stop, replay
from synthetic import PATHOLOGIES

from bttackler_nni.trial.sampling import MIN_SAMPLED_BATCHES

BATCHES = 60
SPARSEST = BATCHES // MIN_SAMPLED_BATCHES

EXPECTED_STOPS = {
    "healthy": None,
    "nan_gradient": ("AGV", 3),
    "exploding_median": ("EAG", 5),
    "exploding_quotient": ("EAG", 2),
    "vanishing_median": ("ERG", 3),
    "vanishing_quotient": ("ERG", 1),
    "dead_layer": ("ERG", 1),
    "dead_units": ("LAR", 4),
    "flat_loss": ("PLC", 2),
    "oscillating_loss": ("ULC", 11),
    "no_more_gain": ("NMG", 10),
}


def test_every_pathology_has_its_expected_stop():
    assert set(EXPECTED_STOPS) == set(PATHOLOGIES)


@pytest.mark.parametrize("name", PATHOLOGIES)
@pytest.mark.parametrize("seed", [0, 1])
def test_sampled_statistics_stop_each_pathology_when_and_why_full_statistics_do(name, seed):
    records = replay(PATHOLOGIES[name], (1, 3, SPARSEST), batches=BATCHES, seed=seed)
    assert records[SPARSEST][-1]["sampled_batches"] == MIN_SAMPLED_BATCHES
    assert {rate: first_stop(r) for rate, r in records.items()} == dict.fromkeys(
        records, EXPECTED_STOPS[name]
    )
