"""One SMAC3 optimisation over one NNI search space, driven by ask and tell.

Imported only when :class:`~.smac.SMACTuner` receives its search space: SMAC3 and its dependencies
take seconds to import, and NNI gives a tuner's constructor only 10 s to let the dispatcher connect.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from smac import HyperparameterOptimizationFacade as Facade
from smac import Scenario
from smac.main.exceptions import ConfigurationSpaceExhaustedException
from smac.runhistory.dataclasses import TrialInfo, TrialValue

from .configspace import NNIConfigurationSpace

_logger = logging.getLogger("bttackler_nni")


class SMACSession:
    """SMAC's hyperparameter-optimisation facade on ``search_space``, one evaluation per configuration.

    Args:
        search_space: an NNI search space SMAC can map (see :mod:`.configspace`).
        seed: seeds SMAC and the space's own sampling.
        initial_configs: size of SMAC's initial (Sobol) design.
    """

    def __init__(self, search_space: Mapping[str, Any], seed: int, initial_configs: int) -> None:
        self.space = NNIConfigurationSpace(search_space, seed=seed)
        self._folder = tempfile.TemporaryDirectory(prefix="bttackler-smac-")
        scenario = Scenario(
            self.space.space,
            deterministic=True,  # one evaluation per configuration: no repeats with other seeds
            n_trials=2**31 - 1,  # NNI decides when to stop; SMAC's budget must only not get in the way
            seed=seed,
            output_directory=Path(self._folder.name),
        )
        self.smac = Facade(
            scenario,
            target_function=None,  # ask and tell: NNI runs the trials
            initial_design=Facade.get_initial_design(scenario, n_configs=initial_configs),
            intensifier=Facade.get_intensifier(scenario, max_config_calls=1),
            overwrite=True,
            logging_level=False,  # leave logging to NNI's dispatcher
        )
        # SMAC's seed for every trial: its intensifier adopts the first seed it finds in its run
        # history, so results told before the first ask use ours; later ones, the one SMAC chose.
        self._trial_seed = seed
        self._exhausted = False

    def ask(self) -> tuple[TrialInfo, dict[str, Any]]:
        """SMAC's next trial and its NNI parameters; random ones once SMAC has tried everything."""
        if not self._exhausted:
            try:
                trial = self.smac.ask()
            except (ConfigurationSpaceExhaustedException, StopIteration):
                self._exhausted = True
                _logger.info("SMAC tuner: no untried configuration left; sampling at random from now on")
            else:
                self._trial_seed = trial.seed if trial.seed is not None else self._trial_seed
                return trial, self.space.to_parameters(trial.config)
        trial = TrialInfo(self.space.space.sample_configuration(), seed=self._trial_seed)
        return trial, self.space.to_parameters(trial.config)

    def trial_of(self, parameters: Mapping[str, Any]) -> TrialInfo:
        """A trial SMAC did not propose; raises ``ValueError`` for parameters outside the space."""
        return TrialInfo(self.space.to_configuration(parameters), seed=self._trial_seed)

    def tell(self, trial: TrialInfo, cost: float) -> None:
        """Record a trial's cost (lower is better) in SMAC's run history."""
        self.smac.tell(trial, TrialValue(cost=cost), save=False)

    def close(self) -> None:
        """Remove SMAC's run files."""
        self._folder.cleanup()
