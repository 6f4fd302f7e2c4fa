"""NNI's remote training service (``platform: remote``, SSH): a check before launch, and why a start failed.

NNI 3.0 starts its remote workers after ``nnictl create`` has returned: it logs in with SSH (node's
ssh2: exec and SFTP), runs ``python -m pip install nni --upgrade`` with the machine's ``pythonPath``
first on ``PATH``, starts NNI's trial keeper there and uploads the trial code. Any failure on that
way shuts the whole NNI manager down; a client only sees the web server vanish, and the reason is
one line of ``nnimanager.log`` (docs/nni-notes.md). This module checks before launching that each
machine's SSH port answers, and turns that log line into one line that says what to fix.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator, Mapping
from typing import Any

CONNECT_SECONDS = 5.0
"""How long the check waits for a machine's SSH port to accept a connection."""

_KEY = "trainingService.machineList"


def machines(config: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """``(config key, machine)`` for each machine of the config's remote training service, if any."""
    services = config.get("trainingService")
    for service in services if isinstance(services, list) else [services]:
        if isinstance(service, Mapping) and service.get("platform") == "remote":
            for index, machine in enumerate(service.get("machineList") or []):
                if isinstance(machine, Mapping):
                    yield f"{_KEY}[{index}]", machine


def unreachable(config: Mapping[str, Any], timeout: float = CONNECT_SECONDS) -> list[str]:
    """One line per remote machine whose SSH port does not accept a connection, naming key and fix.

    Only the TCP connection is tried: the login itself is NNI's, and a refused login is explained
    from NNI's log by :func:`explain_start_failure`.
    """
    problems = []
    for key, machine in machines(config):
        host, port = str(machine.get("host")), int(machine.get("port") or 22)
        try:
            socket.create_connection((host, port), timeout=timeout).close()
        except socket.gaierror as error:
            problems.append(
                f"{key}.host: {host!r} is not a known host name ({error.strerror}). Fix: correct it"
            )
        except OSError as error:
            reason = "no answer" if isinstance(error, TimeoutError) else (error.strerror or str(error))
            problems.append(
                f"{key}: nothing accepts SSH connections at {host}:{port} ({reason}). Fix: start the "
                "SSH server there (Debian: apt-get install openssh-server), or correct host and port"
            )
    return problems


def explain_start_failure(error: str, config: Mapping[str, Any]) -> str:
    """One line from NNI's training-service start error (the text after "initialize failed: ")."""
    listed = [f"{m.get('user')}@{m.get('host')}:{m.get('port') or 22}" for _, m in machines(config)]
    where = listed[0] if len(listed) == 1 else f"one of {', '.join(listed)}"
    for pattern, fix in _FIXES:
        if pattern in error:
            return f"NNI's remote training service could not start on {where}: {error}. Fix: {fix}"
    return f"NNI's training service could not start: {error}"


_FIXES = (
    (
        "All configured authentication methods failed",
        f"the SSH server refused the login; the public half of {_KEY}[].sshKeyFile must be in that "
        "user's ~/.ssh/authorized_keys on the machine (or correct user, sshKeyFile, password)",
    ),
    (
        "Cannot parse privateKey",
        f"{_KEY}[].sshKeyFile is not a private key NNI can read (or needs sshPassphrase)",
    ),
    ("ECONNREFUSED", "start the SSH server there, or correct host and port"),
    ("ETIMEDOUT", "the machine did not answer: check host, port and firewalls"),
    ("Timed out while waiting for handshake", "the machine did not answer: check host, port and firewalls"),
    ("ENOTFOUND", "correct the host name"),
    (
        "Cannot find python",
        f"{_KEY}[].pythonPath must be the folder holding the worker's python (e.g. <venv>/bin)",
    ),
    (
        "pip install nni",
        "NNI runs `python -m pip install nni --upgrade` on each worker first and it failed (offline it "
        "only succeeds where nni is installed; a system Python may refuse it; a pythonPath that does not "
        "exist falls back to the python3 on the worker's PATH): set pythonPath to the bin folder of a "
        "virtualenv there with `pip install bttackler-nni` done (it brings nni==3.0); pip's output is "
        "in nnimanager.log",
    ),
    (
        "trial keeper",
        "NNI's trial keeper did not start on the worker; its stderr is in ~/nni-experiments/<experiment "
        "id>/environments/remote-worker<N>/trial_keeper there",
    ),
)
