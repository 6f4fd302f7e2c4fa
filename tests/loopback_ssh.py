"""An OpenSSH server on a free loopback port, as the "remote" machine of NNI's remote training service.

NNI 3.0's remote service logs in with node's ssh2 and needs SSH exec and SFTP; Debian's
``openssh-server`` gives both. Each server gets its own host key, client key, ``authorized_keys``
and config under a temporary folder, listens on 127.0.0.1 only, accepts only that client key, and
is stopped when the test ends, with the NNI trial keepers started through it. What a login session
sees is set by ``session_env`` (``SetEnv``): that is how a test gives the "worker" its own HOME.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from nni_harness import missing_system_packages

from bttackler_nni.experiments.launch import free_port

SSHD = Path("/usr/sbin/sshd")
PRIVILEGE_SEPARATION_DIR = Path("/run/sshd")  # sshd refuses to start as root without it


def require_sshd() -> None:
    """Skip (fail under CI) when openssh-server is not installed here."""
    if not (SSHD.is_file() and shutil.which("ssh-keygen")):
        missing_system_packages(
            f"openssh-server is not installed ({SSHD} or ssh-keygen missing): apt-get install openssh-server"
        )


@dataclass(frozen=True)
class SshServer:
    host: str
    port: int
    user: str
    key_file: Path
    log: Path

    def machine(self, python_path: Path, key_file: Path | None = None) -> dict[str, object]:
        """An entry of NNI's ``trainingService.machineList`` for this server."""
        return {
            "host": self.host,
            "port": self.port,
            "user": self.user,
            "sshKeyFile": str(key_file or self.key_file),
            "pythonPath": str(python_path),
        }


@dataclass(frozen=True)
class Worker:
    """A "remote machine" for NNI: an SSH server and the HOME its sessions get."""

    ssh: SshServer
    home: Path

    def trials_dir(self, experiment_id: str) -> Path:
        """Where NNI's trial keeper there keeps the trials of an experiment's first machine."""
        return self.home / "nni-experiments" / experiment_id / "environments" / "remote-worker1" / "trials"


def worker_session(home: Path, pass_pythonpath: bool) -> dict[str, str]:
    """A worker's login environment: its own HOME and pip kept off the network (NNI runs ``python -m
    pip install nni --upgrade`` on every worker, which then cannot change this virtualenv); with
    ``pass_pythonpath``, this process's PYTHONPATH (a development checkout's code, as the manager has it)."""
    env = {"HOME": str(home), "PIP_NO_INDEX": "1"}
    if pass_pythonpath and os.environ.get("PYTHONPATH"):
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    return env


def new_key(path: Path) -> Path:
    """A fresh passphrase-less ed25519 key pair at ``path`` and ``path.pub``."""
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
    return path


@contextmanager
def loopback_sshd(root: Path, session_env: dict[str, str]) -> Iterator[SshServer]:
    """Run ``sshd`` on 127.0.0.1 for the current user until the block ends."""
    require_sshd()
    root.mkdir(parents=True, exist_ok=True)
    host_key, client_key = new_key(root / "host_key"), new_key(root / "client_key")
    authorized = root / "authorized_keys"
    authorized.write_text(client_key.with_suffix(".pub").read_text())
    port = free_port()
    config = root / "sshd_config"
    config.write_text(
        f"ListenAddress 127.0.0.1:{port}\n"
        f"HostKey {host_key}\n"
        f"PidFile {root / 'sshd.pid'}\n"
        f"AuthorizedKeysFile {authorized}\n"
        "AuthenticationMethods publickey\n"
        "PasswordAuthentication no\nKbdInteractiveAuthentication no\n"
        "PermitRootLogin prohibit-password\n"
        "StrictModes no\n"  # the temporary folder's parents (/tmp) are world-writable
        "UsePAM no\n"
        "Subsystem sftp internal-sftp\n"
        "SetEnv " + " ".join(f'"{name}={value}"' for name, value in session_env.items()) + "\n"
    )
    if os.geteuid() == 0:
        PRIVILEGE_SEPARATION_DIR.mkdir(mode=0o755, exist_ok=True)
    log = root / "sshd.log"
    with log.open("wb") as output:
        server = subprocess.Popen([str(SSHD), "-D", "-e", "-f", str(config)], stdout=output, stderr=output)
    try:
        _wait_for_port(port, server, log)
        yield SshServer("127.0.0.1", port, getpass.getuser(), client_key, log)
    finally:
        server.terminate()
        server.wait(timeout=30)
        _stop_trial_keepers(Path(session_env.get("HOME", root)))


def _wait_for_port(port: int, server: subprocess.Popen, log: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"sshd exited with {server.returncode}: {log.read_text()}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return
        time.sleep(0.1)
    raise RuntimeError(f"sshd did not listen on port {port} within {timeout:.0f} s: {log.read_text()}")


def _stop_trial_keepers(worker_home: Path) -> None:
    """End the NNI trial keepers started through this server that are still alive (normally none).

    A pid is only signalled while its command line still names that trial keeper's folder.
    """
    for pid_file in worker_home.glob("nni-experiments/*/environments/*/trial_keeper*/trial_keeper.pid"):
        with contextlib.suppress(ValueError, OSError):
            pid = int(pid_file.read_text())
            if str(pid_file.parent).encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                os.kill(pid, signal.SIGTERM)
