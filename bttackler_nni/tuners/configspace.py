"""NNI search spaces as ConfigSpace 1.x spaces, and configurations back to NNI parameters.

Built on NNI's own flattening (``nni.common.hpo_utils.format_search_space``, which NNI's TPE and
Random tuners use), so values decode exactly as theirs do: a ``q`` type is ``round(x / q) * q``
clipped to its range, a ``log`` type is ``exp(x)``, a choice is an option index, a nested choice is
``{"_name": option, ...its parameters}``.

Each NNI parameter becomes one hyperparameter named by its path (``"layer/1/units"`` for the
parameter ``units`` of option 1 of the nested choice ``layer``):

================  ==============================================================================
NNI type          ConfigSpace hyperparameter
================  ==============================================================================
choice            ``Categorical`` over the option indices (duplicate options stay separate)
nested choice     ``Categorical`` over the option indices; each option's parameters are active
                  only when it is chosen (``EqualsCondition``)
randint           ``Integer`` over ``[lower, upper - 1]``, as an offset from ``lower`` (ordered)
uniform           ``Float(low, high)``; quniform: the same, snapped to ``q`` on the way out
loguniform        ``Float(log low, log high)``; qloguniform: the same, snapped to ``q``
normal            ``Float`` with ``Normal(mu, sigma)``, truncated at ``mu +- 4 sigma``
                  (ConfigSpace needs bounds; 0.006% of the mass lies beyond); qnormal: snapped
lognormal         the same on ``log x``; qlognormal: snapped
================  ==============================================================================
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from ConfigSpace import (
    Categorical,
    Configuration,
    ConfigurationSpace,
    EqualsCondition,
    Float,
    Integer,
    Normal,
)
from nni.common.hpo_utils.formatting import (
    FormattedSearchSpace,
    ParameterKey,
    ParameterSpec,
    deformat_parameters,
    format_parameters,
    format_search_space,
)

NORMAL_TRUNCATION_SIGMAS = 4.0


class NNIConfigurationSpace:
    """A ConfigSpace space for an NNI search space, with the conversions both ways.

    Args:
        search_space: an NNI search space (already checked, e.g. by ``SMACTuner.check_search_space``).
        seed: seeds the space's own sampling.
    """

    def __init__(self, search_space: Mapping[str, Any], seed: int | None = None) -> None:
        self._specs: FormattedSearchSpace = format_search_space(dict(search_space))
        self.space = ConfigurationSpace(seed=seed)
        for spec in self._specs.values():
            self.space.add(_hyperparameter(spec))
        for spec in self._specs.values():
            if spec.is_nested():
                parent = self.space[_name(spec.key[:-2])]
                self.space.add(EqualsCondition(self.space[_name(spec.key)], parent, spec.key[-2]))

    def to_parameters(self, config: Configuration) -> dict[str, Any]:
        """The NNI parameters (as a trial receives them) of a configuration."""
        values = dict(config)
        return deformat_parameters(
            {key: _plain(values[_name(key)]) for key in self._specs if _name(key) in values}, self._specs
        )

    def to_configuration(self, parameters: Mapping[str, Any]) -> Configuration:
        """The configuration of NNI parameters; raises ``ValueError`` if they are not in the space.

        Not every legal value can be mapped back: a qlognormal value rounded down to 0 has no
        logarithm, a normal value beyond the truncation is outside the space.
        """
        try:
            active = {key: spec for key, spec in self._specs.items() if self._chosen(key, parameters)}
            formatted = format_parameters(dict(parameters), active)
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(
                f"parameters {dict(parameters)} do not fit the search space ({error})"
            ) from error
        try:
            return Configuration(self.space, values={_name(key): value for key, value in formatted.items()})
        except Exception as error:  # noqa: BLE001 - ConfigSpace raises assorted types for illegal values
            raise ValueError(
                f"parameters {dict(parameters)} lie outside the search space ({error})"
            ) from error

    def _chosen(self, key: ParameterKey, parameters: Mapping[str, Any]) -> bool:
        """Whether ``parameters`` chose every nested-choice option on the way to ``key``.

        (NNI's ``format_parameters`` alone fails on a choice nested in an option not chosen.)
        """
        for depth, part in enumerate(key):
            if isinstance(part, int):
                chosen = _lookup(parameters, key[:depth])
                if (
                    not isinstance(chosen, Mapping)
                    or chosen.get("_name") != self._specs[key[:depth]].values[part]["_name"]
                ):
                    return False
        return True


def _hyperparameter(spec: ParameterSpec) -> Any:
    name = _name(spec.key)
    if spec.categorical and spec.type == "randint":
        return Integer(name, (0, spec.size - 1)) if spec.size > 1 else Categorical(name, [0])
    if spec.categorical:
        return Categorical(name, list(range(spec.size)))
    if spec.normal_distributed:
        spread = NORMAL_TRUNCATION_SIGMAS * spec.sigma
        return Float(name, (spec.mu - spread, spec.mu + spread), distribution=Normal(spec.mu, spec.sigma))
    return Float(name, (spec.low, spec.high))


def _lookup(parameters: Mapping[str, Any], key: ParameterKey) -> Any:
    value: Any = parameters
    for part in key:
        if isinstance(part, str):
            value = value[part]
    return value


def _name(key: ParameterKey) -> str:
    return "/".join(str(part) for part in key)


def _plain(value: Any) -> Any:
    """A numpy scalar (ConfigSpace returns them) as a Python number, for NNI's formatting and JSON."""
    return value.item() if isinstance(value, np.generic) else value
