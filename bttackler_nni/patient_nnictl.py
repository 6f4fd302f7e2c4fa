"""``nnictl`` that waits long enough for NNI's web server: ``python -m bttackler_nni.patient_nnictl``.

NNI 3.0's ``nnictl create`` and ``resume`` start the NNI manager, then poll its ``check-status``
route four times, one second apart (``nni/experiment/launcher.py``, ``_check_rest_server``). Until
the manager has loaded, that route answers the plain text ``INITIALIZING``, which nnictl tries to
parse as JSON; on a loaded machine (a resume reads the whole experiment database) the four tries
run out and nnictl fails with "Create experiment failed: Expecting value", killing the manager.

This entry point runs the same nnictl with that poll extended to :data:`READINESS_SECONDS`.
Everything else is NNI's own code. ``bttackler run`` and the tests launch experiments through it;
a plain ``nnictl`` keeps NNI's behaviour.
"""

from __future__ import annotations

from typing import Any

READINESS_SECONDS = 90
"""Tries, one second apart, for NNI's web server to answer ``check-status`` with JSON."""


def _patient_nnictl() -> None:
    import nni.experiment.launcher as nni_launcher
    from nni.tools.nnictl.nnictl import parse_args

    impatient = nni_launcher._check_rest_server

    def patient(port: int, retry: int = 3, url_prefix: str | None = None, **kwargs: Any) -> None:
        impatient(port, max(retry, READINESS_SECONDS), url_prefix, **kwargs)

    nni_launcher._check_rest_server = patient
    parse_args()


if __name__ == "__main__":
    _patient_nnictl()
