"""SMAC3 (``smac`` 2.x, random-forest Bayesian optimisation) as an NNI tuner.

NNI 3.0's own SMAC tuner needs ``smac4nni`` 0.8 and ``ConfigSpaceNNI``, which require numpy < 1.24
and cannot be installed next to torch 2.x and numpy 2. This tuner drives the maintained SMAC3
through its ask-and-tell interface instead: ``generate_parameters`` asks, ``receive_trial_result``
tells. The search space is translated by :mod:`.configspace` (every NNI type, nested choices
included).

Choices made for NNI's setting, where each configuration is trained once:

- SMAC's hyperparameter-optimisation facade (random forest, expected improvement, local and random
  search, 20% interleaved random configurations), with ``deterministic=True`` and one evaluation per
  configuration: SMAC never asks NNI to train a configuration again with another seed.
- An initial design of ``initial_configs`` Sobol points (10, as NNI's GP cold start) instead of
  SMAC's 10 per hyperparameter, which would be 130 random trials for the Cifar10CNN space.
- When every configuration of a small discrete space has been tried, SMAC stops proposing; the
  tuner then samples the space at random (repeats allowed), as NNI's other tuners do.
- A trial that ends without a result (killed by another assessor, failed) is forgotten, as NNI's
  TPE does; wrapped in :class:`~bttackler_nni.BTTacklerTuner`, trials BTTackler stops get a result.
- A non-finite result is skipped with a warning (SMAC's forest cannot take it).
- SMAC's run files go to a temporary folder removed at exit; on ``nnictl resume`` NNI replays the
  finished trials through :meth:`import_data`. SMAC's own log lines below WARNING are not shown.

Needs the ``smac`` extra (``pyrfr``, SMAC's forest, is a C++ extension built with SWIG): see the
README.
"""

from __future__ import annotations

import logging
import math
import random
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from nni.tuner import Tuner
from nni.utils import extract_scalar_reward

from ..config import ConfigError
from .search_space import check_types, dispatcher_search_space

_logger = logging.getLogger("bttackler_nni")

SUPPORTED_TYPES = (
    "choice",
    "randint",
    "uniform",
    "quniform",
    "loguniform",
    "qloguniform",
    "normal",
    "qnormal",
    "lognormal",
    "qlognormal",
)
INSTALL_HINT = (
    "pip install swig && pip install --no-build-isolation pyrfr && pip install 'bttackler-nni[smac]' "
    "(needs a C++ compiler), or `make install` in a checkout"
)

try:
    from ConfigSpace import Configuration
    from smac import HyperparameterOptimizationFacade, Scenario
    from smac.main.exceptions import ConfigurationSpaceExhaustedException
    from smac.runhistory.dataclasses import TrialInfo, TrialValue

    from .configspace import NNIConfigurationSpace
except ImportError as missing:  # the optional extra is not installed
    _MISSING: ImportError | None = missing
else:
    _MISSING = None


class SMACTuner(Tuner):
    """SMAC3's random-forest Bayesian optimisation behind NNI's tuner interface.

    Args:
        optimize_mode: ``maximize`` or ``minimize`` the trials' ``default`` metric.
        seed: seeds SMAC and the space's sampling; random when omitted.
        initial_configs: configurations of SMAC's initial (Sobol) design, before the forest proposes.

    Example experiment config::

        tuner:
          className: bttackler_nni.tuners.SMACTuner
          classArgs: {optimize_mode: maximize, seed: 1}
    """

    def __init__(
        self, optimize_mode: str = "maximize", seed: int | None = None, initial_configs: int = 10
    ) -> None:
        if _MISSING is not None:
            raise ConfigError(f"the SMAC tuner needs SMAC3 ({_MISSING}). Fix: {INSTALL_HINT}")
        if optimize_mode not in ("maximize", "minimize"):
            raise ConfigError(f"SMAC tuner optimize_mode = {optimize_mode!r}. Fix: maximize or minimize")
        if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool) or seed < 0):
            raise ConfigError(f"SMAC tuner seed = {seed!r}. Fix: a non-negative integer, or omit it")
        if not isinstance(initial_configs, int) or isinstance(initial_configs, bool) or initial_configs < 1:
            raise ConfigError(
                f"SMAC tuner initial_configs = {initial_configs!r}. Fix: an integer >= 1, e.g. 10"
            )
        self._maximize = optimize_mode == "maximize"
        self._seed = seed if seed is not None else random.randrange(2**31)
        self._initial_configs = initial_configs
        self._space: NNIConfigurationSpace | None = None
        self._smac: HyperparameterOptimizationFacade | None = None
        self._trial_seed = 0
        self._exhausted = False
        self._asked: dict[int, TrialInfo] = {}
        self._folder: tempfile.TemporaryDirectory[str] | None = None
        smac_logger = logging.getLogger("smac")
        if smac_logger.level == logging.NOTSET:
            smac_logger.setLevel(logging.WARNING)
        search_space = dispatcher_search_space()
        if search_space is not None:
            self.check_search_space(search_space)

    @staticmethod
    def check_search_space(search_space: Any) -> None:
        """Raise :class:`~.search_space.SearchSpaceError` naming the first parameter SMAC cannot map."""
        check_types(
            search_space,
            "SMAC",
            SUPPORTED_TYPES,
            fix=f"give it one of the types {', '.join(SUPPORTED_TYPES)} or a nested choice",
            nested=True,
        )

    def update_search_space(self, search_space: Mapping[str, Any]) -> None:
        """Start SMAC afresh on this space (NNI sends it once at start, again on `nnictl update`)."""
        self.check_search_space(search_space)
        self._close()
        self._space = NNIConfigurationSpace(search_space, seed=self._seed)
        self._folder = tempfile.TemporaryDirectory(prefix="bttackler-smac-")
        scenario = Scenario(
            self._space.space,
            deterministic=True,
            n_trials=2**31 - 1,  # NNI decides when to stop; SMAC's budget must only not get in the way
            seed=self._seed,
            output_directory=Path(self._folder.name),
        )
        self._smac = HyperparameterOptimizationFacade(
            scenario,
            target_function=None,  # ask and tell: NNI runs the trials
            initial_design=HyperparameterOptimizationFacade.get_initial_design(
                scenario, n_configs=self._initial_configs
            ),
            intensifier=HyperparameterOptimizationFacade.get_intensifier(scenario, max_config_calls=1),
            overwrite=True,
            logging_level=False,  # leave logging to NNI's dispatcher
        )
        # SMAC's seed for every trial: its intensifier adopts the first seed it finds in its run
        # history, so results told before the first ask use ours; later ones, the one SMAC chose.
        self._trial_seed = self._seed
        self._exhausted = False
        self._asked = {}

    def generate_parameters(self, parameter_id: int, **kwargs: Any) -> dict[str, Any]:
        trial = self._ask()
        self._asked[parameter_id] = trial
        return self._ready_space().to_parameters(trial.config)

    def receive_trial_result(self, parameter_id: int, parameters: Any, value: Any, **kwargs: Any) -> None:
        """Tell SMAC the cost (the metric, negated when maximising); skip a non-finite one."""
        metric = extract_scalar_reward(value)
        trial = self._asked.pop(parameter_id, None)
        if not math.isfinite(metric):
            _logger.warning(
                "SMAC tuner: skipped the non-finite result %r of parameter %s", metric, parameter_id
            )
            return
        if trial is None:  # a customised trial, or one SMAC did not propose
            try:
                trial = TrialInfo(self._ready_space().to_configuration(parameters), seed=self._trial_seed)
            except ValueError as error:
                _logger.warning("SMAC tuner: skipped parameter %s: %s", parameter_id, error)
                return
        self._tell(trial, metric)

    def trial_end(self, parameter_id: int, success: bool, **kwargs: Any) -> None:
        """Forget a trial that ended without a result (it tells SMAC nothing)."""
        self._asked.pop(parameter_id, None)

    def import_data(self, data: list[dict[str, Any]]) -> None:
        """Tell SMAC earlier trials' results (``[{"parameter": ..., "value": ...}]``, e.g. on resume)."""
        for index, trial in enumerate(data):
            self.receive_trial_result(-1 - index, trial["parameter"], trial["value"])

    def _on_exit(self) -> None:
        self._close()

    def _on_error(self) -> None:
        self._close()

    def _ask(self) -> TrialInfo:
        smac = self._ready_smac()
        if not self._exhausted:
            try:
                trial = smac.ask()
                self._trial_seed = trial.seed if trial.seed is not None else self._trial_seed
                return trial
            except (ConfigurationSpaceExhaustedException, StopIteration):
                self._exhausted = True
                _logger.info(
                    "SMAC tuner: SMAC has no untried configuration left; sampling at random from now on"
                )
        config: Configuration = self._ready_space().space.sample_configuration()
        return TrialInfo(config, seed=self._trial_seed)

    def _tell(self, trial: TrialInfo, metric: float) -> None:
        cost = -metric if self._maximize else metric
        self._ready_smac().tell(trial, TrialValue(cost=cost), save=False)

    def _ready_smac(self) -> HyperparameterOptimizationFacade:
        if self._smac is None:
            raise RuntimeError("SMAC tuner: NNI sent no search space before asking for parameters")
        return self._smac

    def _ready_space(self) -> NNIConfigurationSpace:
        if self._space is None:
            raise RuntimeError("SMAC tuner: NNI sent no search space before asking for parameters")
        return self._space

    def _close(self) -> None:
        if self._folder is not None:
            self._folder.cleanup()
            self._folder = None
