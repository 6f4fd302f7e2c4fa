"""The base of the hooks the Reporter puts on a user's modules, and what a copy of the model gets.

``copy.deepcopy(model)`` (an EMA or mean-teacher copy) and ``torch.save(model)`` copy a module's
hooks along with it. A copy must not count its forward passes into this run's statistics, and the
Reporter's state (device buffers, the sampling schedule) should not travel into a checkpoint, so
each hook is copied as an :class:`InertHook`, which does nothing.
"""

from __future__ import annotations


class InertHook:
    """What a copied model holds in place of a Reporter's hook: a hook that does nothing."""

    def __call__(self, *_args: object) -> None:
        return None


class ModuleHook:
    """Base of the Reporter's module hooks: a copy of one (deepcopy, pickle) is an :class:`InertHook`."""

    def __reduce__(self) -> tuple[type[InertHook], tuple[()]]:
        return InertHook, ()
