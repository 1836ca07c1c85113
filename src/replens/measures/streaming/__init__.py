"""Streaming estimators: similarity measures over data seen one batch at a time.

Each estimator is a small accumulator with the same protocol::

    est = LinearCKA()               # or LinearCKA(debiased=True), CCA(), MinibatchCKA()
    for x_batch, y_batch in batches:
        est.update(x_batch, y_batch)
    est.merge(other)                # another estimator that saw other (disjoint) examples
    est.compute()

:class:`LinearCKA` and :class:`CCA` are *exact*: their result equals the in-memory
:func:`replens.cka` / :func:`replens.cca` (and :func:`replens.svcca`, :func:`replens.pwcca`)
on all the examples at once, to rounding, whatever the batch sizes and merge order. They
keep float64 co-moments centred at the running means (Chan, Golub & LeVeque 1979), whose
size depends on the feature counts only, never on the number of examples.
:class:`MinibatchCKA` is a different quantity: the minibatch estimator of Nguyen, Raghu &
Kornblith (2021).

``update`` accepts numpy arrays and torch tensors on any device; the accumulators stay on
the first batch's device, and estimators pickle, so shards can be accumulated in other
processes and merged.

Modules: ``_moments`` (the co-moments, their notation and update / merge algebra),
``_estimator`` (the shared protocol, checks and device policy), ``cka`` (LinearCKA,
MinibatchCKA) and ``cca`` (CCA with svcca() and pwcca()).
"""

from .cca import CCA
from .cka import LinearCKA, MinibatchCKA

__all__ = ["LinearCKA", "CCA", "MinibatchCKA"]

# The examples in the estimators' docstrings, for doctest.testmod on this package (the
# classes are defined in submodules, which testmod would otherwise skip).
__test__ = {"LinearCKA": LinearCKA, "CCA": CCA, "MinibatchCKA": MinibatchCKA}
