"""The NNI trial channel of trials that ``bttackler bank record --without-nnictl`` runs.

NNI's trial SDK talks to whatever channel ``NNI_TRIAL_COMMAND_CHANNEL=import://module.Class`` names.
This one gives the trial the parameter record the recorder chose (environment variable
:data:`PARAMETERS_ENV`) and appends every metric the trial reports, with the wall-clock time it was
reported, as one JSON line to the file :data:`REPORTS_ENV` names. The trial script runs unchanged,
calling ``nni.get_next_parameter()`` and ``nni.report_intermediate_result()`` as under nnictl, but no
NNI manager, and none of its Node.js runtime, is needed: a machine where only Python packages can go
(a lent GPU machine) can record a bank.

Metrics are written as ``nni.dump`` text, as NNI's own channels send them, and read back with
``nni.load`` (:func:`read_reports`), so a bank holds the same records either way.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nni
from nni.runtime.trial_command_channel.base import TrialCommandChannel

PARAMETERS_ENV = "BTTACKLER_TRIAL_PARAMETERS"
"""The trial's parameter record, ``nni.dump`` text of ``{"parameter_id", "parameters", ...}``."""

REPORTS_ENV = "BTTACKLER_TRIAL_REPORTS"
"""The JSON Lines file the trial's metrics are appended to."""

CHANNEL_URL = f"import://{__name__}.RecordingChannel"
"""The value of ``NNI_TRIAL_COMMAND_CHANNEL`` that makes a trial use this channel."""


class RecordingChannel(TrialCommandChannel):
    """Parameters from the environment, metrics to a file; created by NNI's SDK inside the trial."""

    def __init__(self) -> None:
        missing = [name for name in (PARAMETERS_ENV, REPORTS_ENV) if not os.environ.get(name)]
        if missing:
            raise RuntimeError(
                f"{CHANNEL_URL} serves trials run by `bttackler bank record --without-nnictl`, which "
                f"sets {' and '.join(missing)}; unset NNI_TRIAL_COMMAND_CHANNEL to run the trial otherwise"
            )
        self._parameters: str | None = os.environ[PARAMETERS_ENV]
        self._reports = Path(os.environ[REPORTS_ENV])

    def receive_parameter(self) -> Any:
        """The recorder's parameter record the first time, then ``None`` (one trial, one set)."""
        parameters, self._parameters = self._parameters, None
        return None if parameters is None else nni.load(parameters)

    def send_metric(
        self,
        type: str,  # NNI passes it by this name
        parameter_id: int | None,
        trial_job_id: str,
        sequence: int,
        value: Any,
    ) -> None:
        line = json.dumps(
            {
                "time": time.time(),
                "type": type,
                "parameter_id": parameter_id,
                "sequence": sequence,
                "value": nni.dump(value),
            }
        )
        with self._reports.open("a", encoding="utf-8") as stream:
            stream.write(line + "\n")


@dataclass(frozen=True)
class Report:
    """One metric a trial sent: ``PERIODICAL`` (intermediate) or ``FINAL``, its value and wall time."""

    type: str
    value: Any
    time: float


def read_reports(path: Path) -> list[Report]:
    """The reports a trial wrote through :class:`RecordingChannel`, in the order it sent them.

    A line the trial could not finish (killed mid-write) ends the list: what came before stands.
    """
    if not path.exists():
        return []
    reports = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            entry = json.loads(line)
            reports.append(Report(entry["type"], nni.load(entry["value"]), float(entry["time"])))
        except (ValueError, KeyError, TypeError):
            break
    return reports
