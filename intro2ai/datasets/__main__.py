"""``python -m intro2ai.datasets``: see :mod:`intro2ai.datasets.cli`."""

import sys

from intro2ai.datasets.cli import main

sys.exit(main())
