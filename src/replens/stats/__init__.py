"""Statistics of similarity: is it above chance, how sure are we, and is A closer than B?

* :func:`permutation_test` (module ``permutation``): exact p-values against unrelated
  pairings of the examples; :func:`permutations` returns the permutations it uses.
* :func:`bootstrap` (``bootstrap``): percentile and BCa intervals, standard errors.
* :func:`jackknife` (``jackknife``): leave-one-example-out (or one-group-out) values.
* :func:`difference_test` (``difference``): is ``m(X, Y) - m(X, Z)`` different from 0?
* :func:`compare` (``compare``): every layer pair, with p-values corrected over the grid
  (:func:`max_t`, :func:`holm` in ``corrections``).

Every function takes any measure (a registered name, ``rl.measure(...)`` or a callable),
``groups`` for examples that belong together, and a `seed`; the global random state is never
touched. A p-value says whether similarity exceeds chance, not whether two networks compute
the same thing.
"""

from .bootstrap import BootstrapResult, bootstrap
from .compare import StatisticsMatrix, compare
from .corrections import holm, max_t
from .difference import DifferenceResult, difference_test
from .jackknife import JackknifeResult, jackknife
from .permutation import PermutationResult, permutation_test, permutations

__all__ = [
    "permutation_test",
    "permutations",
    "bootstrap",
    "jackknife",
    "difference_test",
    "compare",
    "max_t",
    "holm",
    "PermutationResult",
    "BootstrapResult",
    "JackknifeResult",
    "DifferenceResult",
    "StatisticsMatrix",
]
