"""Getting activations out of networks and onto disk.

:func:`extract` captures the outputs of a torch model's modules with forward hooks;
:func:`extract_hf` pools a transformers model's hidden states with its attention mask. Both
return an ordered ``dict`` layer name -> numpy array ``(n_examples, ...)``, ready for
:func:`replens.compare`. :mod:`.files` saves and loads such mappings (.npz, .safetensors,
.h5); :mod:`.cache` is a resumable on-disk store for datasets larger than memory, which
:func:`extract_to_cache` and :func:`extract_hf_to_cache` fill chunk by chunk. torch,
transformers, h5py and safetensors are imported only when used.

Layering, lowest first: ``_arrays`` (host arrays, storable dtypes) < ``cache`` < ``files``;
``_runtime`` (what every extractor shares) < ``graph`` < ``hooks``, and ``_runtime`` < ``hf``;
``pipeline`` sits on ``cache``, ``hooks`` and ``hf``. ``specs`` uses ``_arrays`` only.
"""

from ._runtime import DEFAULT_BATCH_SIZE
from .cache import ActivationCache, hash_inputs
from .files import load_activations, save_activations, verify_activations
from .graph import graph_node_names
from .hf import extract_hf
from .hooks import extract
from .pipeline import extract_hf_to_cache, extract_to_cache

__all__ = ["extract", "extract_hf", "graph_node_names", "load_activations", "save_activations", "verify_activations",
           "ActivationCache", "hash_inputs", "extract_to_cache", "extract_hf_to_cache",
           "DEFAULT_BATCH_SIZE"]
