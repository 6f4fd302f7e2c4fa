"""Whether NNI's stop of a trial reaches the training process, read from the ``trialCommand``.

NNI runs a trial as ``/bin/bash -c "<trialCommand>"`` and stops it by signalling that process. Bash
replaces itself with the command that runs last when it can, and the signal then reaches the
training. It cannot (measured with bash 5.2) when that command redirects its output (``python
train.py > log 2>&1``) unless it starts with ``exec``, in a pipeline (``| tee log``), a job sent to
the background, a subshell, or when a command follows the training (``python train.py; echo
done``, seen when the last command is a shell utility that trains nothing). Then a stop reaches only
bash and the trial trains on, until NNI kills bash 5 s later and the Reporter notices
(:mod:`bttackler_nni.trial.orphan`). Bash before 5.1 also keeps itself in between after ``;``,
``&&`` or ``||`` (``cd src && python train.py``); that is not flagged, the fix being the same
``exec``.
"""

from __future__ import annotations

import shlex

_AFTER_THE_TRAINING = frozenset(
    {"echo", "printf", "true", "false", "exit", ":", "wait", "sync", "date", "touch", "sleep"}
)
_LIST_OPERATORS = frozenset({";", "&&", "||"})


def stop_reaches_only_the_shell(command: str) -> str | None:
    """What in ``command`` keeps bash between NNI and the training; ``None`` when nothing does (or
    the command cannot be read, which bash will report itself)."""
    lexer = shlex.shlex(command.replace("\n", ";"), posix=True, punctuation_chars=True)
    try:
        tokens = list(lexer)
    except ValueError:
        return None
    if "|" in tokens or "|&" in tokens:
        return "a pipeline (|)"
    if "&" in tokens:
        return "a job sent to the background (&)"
    if "(" in tokens or ")" in tokens:
        return "a subshell ( ... )"
    segments: list[list[str]] = [[]]
    for token in tokens:
        if token in _LIST_OPERATORS:
            segments.append([])
        else:
            segments[-1].append(token)
    segments = [segment for segment in segments if segment]
    if not segments:
        return None
    last = segments[-1]
    words = [word for word in last if "=" not in word or word.startswith("=")]
    if words[:1] == ["exec"]:
        return None
    if len(segments) > 1 and words and words[0] in _AFTER_THE_TRAINING:
        return f"a command after the training ({' '.join(last)})"
    redirections = [token for token in last if token and set(token) <= set("<>&|")]
    if redirections:
        return f"a redirection ({redirections[0]}) without exec"
    return None
