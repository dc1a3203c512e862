"""Entry point of ``python -m bench``."""

import os
import sys

if "--single-thread" in sys.argv[1:]:
    # Must happen before NumPy (OpenBLAS) and torch are imported.
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = "1"

from bench.run import main  # noqa: E402

sys.exit(main())
