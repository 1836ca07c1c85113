"""Benchmarks for replens: ``python -m benchmarks [GROUP ...] [--quick]``.

Everything runs single-threaded by default so that contenders compete on equal terms: the
BLAS / OpenMP thread variables default to 1 here, before numpy or torch is imported (an
explicit value in the environment is honoured, and torch is given the same count).
"""

import os

THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)

for _variable in THREAD_VARIABLES:
    os.environ.setdefault(_variable, "1")
# Peers draw tqdm progress bars inside the timed calls; keep stdout/stderr readable.
os.environ.setdefault("TQDM_DISABLE", "1")
