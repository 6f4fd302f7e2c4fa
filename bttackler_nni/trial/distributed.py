"""Trials that train in several processes (DDP under ``torchrun``, Lightning or Hugging Face on many devices).

Outside NNI, where each process judges its own records, :func:`any_process` makes a stop that one
process decides everyone's.

NNI 3.0 gives a trial one parameter set and counts whatever any of its processes reports. Two
things go wrong when every process runs an ordinary trial script:

- every process calls ``nni.get_next_parameter()``, and none receives anything: measured with a
  two-process ``torchrun`` trial under NNI 3.0, no process had its parameters after 4 minutes;
- every process reports, so the assessor would see each epoch once per process, and the processes
  that did not ask NNI for parameters are refused by NNI (its ``assert _params``).

So here one process, the *main* one (global rank 0), asks NNI and hands the parameters to the
others through a file in the trial's folder, and only the main process reports
(:class:`~bttackler_nni.Reporter` checks :func:`is_main_process` before each send). The processes
of a trial must share that folder, which they do on one machine (NNI's local and remote
training services run a trial on one machine).

A process whose last collective ended just before Python exits can be aborted by torch while it
shuts down; the Reporter gives the process group's threads time at exit
(:func:`give_process_group_threads_time_at_exit`).
"""

from __future__ import annotations

import atexit
import json
import os
import time
from pathlib import Path
from typing import Any

import nni
import torch
import torch.distributed as dist

HANDOFF_FILE = "bttackler-parameters.json"
"""Where the main process leaves the trial's parameters for the others, in NNI's ``NNI_OUTPUT_DIR``."""

_POLL_SECONDS = 0.1

EXIT_GRACE_SECONDS = 0.5
"""How long a distributed process waits at exit for its process group's threads (see
:func:`give_process_group_threads_time_at_exit`)."""

_exit_grace_registered = False


def in_nni_trial() -> bool:
    """Whether this process is a trial that NNI started (else NNI runs in its standalone mode)."""
    return nni.get_experiment_id() != "STANDALONE"


def is_main_process() -> bool:
    """Whether this process speaks for its trial: global rank 0, or the only process.

    The rank comes from ``torch.distributed`` once its process group exists, else from the
    launcher's environment where it names more than one process (``WORLD_SIZE`` above 1): ``RANK``
    from ``torchrun``; ``LOCAL_RANK`` and ``NODE_RANK`` from Lightning's launcher, which starts the
    other processes before any process group exists. A stray ``RANK`` without ``WORLD_SIZE`` is not
    taken for a rank. Processes started by ``torch.multiprocessing.spawn`` carry none of these:
    there, ask after ``init_process_group``.
    """
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank() == 0
    if _environment_number("WORLD_SIZE", 1) <= 1:
        return True
    if "RANK" in os.environ:
        return _environment_number("RANK", 0) == 0
    return _environment_number("LOCAL_RANK", 0) == 0 and _environment_number("NODE_RANK", 0) == 0


def get_next_parameter(timeout: float = 600.0) -> Any:
    """``nni.get_next_parameter()`` for a trial of one process or several; call it in every process.

    The main process (:func:`is_main_process`) asks NNI and writes the parameters to
    :data:`HANDOFF_FILE` in the trial's folder; the others wait up to ``timeout`` seconds for that
    file and read the same parameters. Outside an NNI trial, or in a trial of one process, this is
    ``nni.get_next_parameter()``.

    Raises:
        TimeoutError: a process other than the main one waited ``timeout`` seconds in vain.
    """
    folder = os.environ.get("NNI_OUTPUT_DIR")
    if not in_nni_trial() or not folder:
        return nni.get_next_parameter()
    handoff = Path(folder) / HANDOFF_FILE
    if is_main_process():
        parameters = nni.get_next_parameter()
        partial = handoff.with_name(f".{HANDOFF_FILE}.{os.getpid()}")
        partial.write_text(json.dumps({"parameters": parameters}))
        partial.replace(handoff)  # the others never read half a file
        return parameters
    deadline = time.monotonic() + timeout
    while not handoff.exists():
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"bttackler_nni.get_next_parameter: this process (not the main one) waited {timeout:g} s "
                f"for the trial's parameters in {handoff}, which the main process (global rank 0) writes. "
                "Fix: call bttackler_nni.get_next_parameter() in every process, the main one included"
            )
        time.sleep(_POLL_SECONDS)
    return json.loads(handoff.read_text())["parameters"]


def any_process(flag: bool, device: torch.device | str) -> bool:
    """Whether ``flag`` holds in any process of a distributed run; ``flag`` itself outside one.

    Every process must call it at the same point (it is a collective), with a ``device`` its
    process group can reduce on (a CUDA device under NCCL). A stop that only some processes decide
    would leave the others waiting for them at the next gradient all-reduce.
    """
    if not (dist.is_available() and dist.is_initialized()):
        return flag
    value = torch.tensor(float(flag), device=device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item())


def _environment_number(name: str, default: int) -> int:
    """A launcher's rank or process count from the environment; a value that is not a number is refused."""
    value = os.environ.get(name)
    if value is None:
        return default
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"the environment variable {name}={value!r} is not a whole number") from None


def give_process_group_threads_time_at_exit() -> None:
    """In a distributed process, wait :data:`EXIT_GRACE_SECONDS` at exit, before Python shuts down.

    A gloo worker thread frees a finished collective's tensors after the caller's ``wait()`` has
    returned, and freeing them takes the GIL. When that thread gets the GIL only once Python has
    begun to shut down, torch aborts the process (``terminate called without an active
    exception``, SIGABRT): measured on 2 cores with a Hugging Face ``Trainer`` under ``torchrun``
    (two processes, gloo, torch 2.13), 5 of 102 runs that had finished training (the core dump: a
    ``ProcessGroupGloo::runLoop`` thread in ``~AsyncAllgatherWork``, exiting from ``take_gil``
    during ``Py_FinalizeEx``), and 0 of 90 with this wait. ``torchrun`` then exits 1, and NNI
    records the trial FAILED although its final result arrived. Calling ``destroy_process_group()``
    at the end does not prevent it (the DDP model still holds the group). Exit handlers run before
    the shutdown begins, and sleeping in one releases the GIL, so such a thread finishes.
    Registered once per process, where a process group exists; other processes exit at once.
    """
    global _exit_grace_registered
    if _exit_grace_registered or not (dist.is_available() and dist.is_initialized()):
        return
    atexit.register(time.sleep, EXIT_GRACE_SECONDS)
    _exit_grace_registered = True
