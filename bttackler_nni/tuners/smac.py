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
- SMAC3 is imported when the search space arrives, not in the constructor (see
  :mod:`.smac_session`).

Needs the ``smac`` extra (``pyrfr``, SMAC's forest, is a C++ extension built with SWIG): see the
README.
"""

from __future__ import annotations

import importlib.util
import logging
import math
import random
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from nni.tuner import Tuner
from nni.utils import extract_scalar_reward

from ..diagnosis.config import ConfigError
from .search_space import check_types, dispatcher_search_space

if TYPE_CHECKING:
    from .smac_session import SMACSession

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
REQUIRED_MODULES = ("smac", "ConfigSpace", "pyrfr")
INSTALL_HINT = (
    "pip install swig && pip install --no-build-isolation pyrfr && pip install 'bttackler-nni[smac]' "
    "(needs a C++ compiler), or `make install` in a checkout"
)


class SMACTuner(Tuner):
    """SMAC3's random-forest Bayesian optimisation behind NNI's tuner interface.

    Args:
        optimize_mode: ``maximize`` or ``minimize`` the trials' ``default`` metric.
        seed: seeds SMAC and the space's sampling; random when omitted. SMAC3's choices also depend
            on Python's string hashing, so a run repeats exactly only with ``PYTHONHASHSEED`` fixed.
        initial_configs: configurations of SMAC's initial (Sobol) design, before the forest proposes.

    Example experiment config::

        tuner:
          className: bttackler_nni.tuners.SMACTuner
          classArgs: {optimize_mode: maximize, seed: 1}
    """

    def __init__(
        self, optimize_mode: str = "maximize", seed: int | None = None, initial_configs: int = 10
    ) -> None:
        missing = [name for name in REQUIRED_MODULES if importlib.util.find_spec(name) is None]
        if missing:
            raise ConfigError(f"the SMAC tuner needs {', '.join(missing)}. Fix: {INSTALL_HINT}")
        if optimize_mode not in ("maximize", "minimize"):
            raise ConfigError(f"SMAC tuner optimize_mode = {optimize_mode!r}. Fix: maximize or minimize")
        if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool) or seed < 0):
            raise ConfigError(f"SMAC tuner seed = {seed!r}. Fix: a non-negative integer, or omit it")
        if not isinstance(initial_configs, int) or isinstance(initial_configs, bool) or initial_configs < 1:
            raise ConfigError(f"SMAC tuner initial_configs = {initial_configs!r}. Fix: an integer >= 1")
        self._maximize = optimize_mode == "maximize"
        self._seed = seed if seed is not None else random.randrange(2**31)
        self._initial_configs = initial_configs
        self._session: SMACSession | None = None
        self._asked: dict[int, Any] = {}  # parameter id -> SMAC's TrialInfo
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
        from .smac_session import SMACSession

        self._close()
        self._session = SMACSession(search_space, self._seed, self._initial_configs)
        self._asked = {}

    def generate_parameters(self, parameter_id: int, **kwargs: Any) -> dict[str, Any]:
        trial, parameters = self._ready().ask()
        self._asked[parameter_id] = trial
        return parameters

    def receive_trial_result(self, parameter_id: int, parameters: Any, value: Any, **kwargs: Any) -> None:
        """Tell SMAC the cost (the metric, negated when maximising); skip a non-finite one."""
        metric = extract_scalar_reward(value)
        trial = self._asked.pop(parameter_id, None)
        if not math.isfinite(metric):
            _logger.warning("SMAC tuner: skipped parameter %s: non-finite result %r", parameter_id, metric)
            return
        session = self._ready()
        if trial is None:  # a customised trial, or one SMAC did not propose
            try:
                trial = session.trial_of(parameters)
            except ValueError as error:
                _logger.warning("SMAC tuner: skipped parameter %s: %s", parameter_id, error)
                return
        session.tell(trial, -metric if self._maximize else metric)

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

    def _ready(self) -> SMACSession:
        if self._session is None:
            raise RuntimeError("SMAC tuner: NNI sent no search space before asking for parameters")
        return self._session

    def _close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None
