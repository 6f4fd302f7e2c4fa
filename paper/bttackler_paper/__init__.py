"""The paper's three benchmark tasks: data loaders, models and their hyperparameter builders.

A distribution of its own (``paper/``, installed by ``make install``), kept out of
``bttackler-nni`` so that NNI dispatchers and users' trials never install CIFAR loaders and an
Autoformer they do not run.

- :mod:`.cifar10`, :mod:`.exchange_rate`: the datasets, read from a local path (nothing is
  downloaded), split, normalised and batched.
- :mod:`.cifar10_cnn`, :mod:`.cifar10_lstm`, :mod:`.ex96trans`: the models, each with its search
  space's ``SCHEMA``, ``DEFAULT_PARAMS`` and a ``build(params)`` that returns
  ``(model, optimizer, scheduler)``; :mod:`.cifar10_common` holds what the two CIFAR-10 tasks share.
- :mod:`.params`: validation of a parameter dict; :mod:`.errors`: the errors that stop a task early.
- :mod:`.training`, :mod:`.trial`: the epoch loops and the command line of the trial scripts in
  ``examples/``.

Import the submodule you need; this package imports nothing itself.
"""
