"""``python -m bttackler_nni.cli``: the ``bttackler`` command, for environments without the script on PATH."""

from . import main

raise SystemExit(main())
