"""BTTackler beyond NNI: adapters for Lightning, the Hugging Face Trainer, Optuna and Ray Tune.

Each adapter is a thin layer over the same pieces NNI uses (the :class:`~bttackler_nni.Reporter`
and the :class:`~bttackler_nni.Diagnoser`) and lives in its own module, imported by name, so that
importing one loads only its framework (each is an optional extra):

- :mod:`.lightning`: ``BTTacklerCallback`` for ``lightning.pytorch.Trainer`` (``[lightning]``).
- :mod:`.huggingface`: ``BTTacklerTrainerCallback`` for ``transformers.Trainer`` (``[huggingface]``).
- :mod:`.optuna`: ``BTTacklerPruner`` and ``report_epoch`` (``[optuna]``).
- :mod:`.ray`: ``BTTacklerScheduler`` for Ray Tune (``[ray]``).
"""
