"""extract_hf(): a transformers model's hidden states, pooled over tokens with the attention mask.

The model is called with ``output_hidden_states=True``; every field of its output whose name
ends in ``hidden_states`` (``hidden_states`` for an encoder or a decoder-only model;
``encoder_hidden_states`` and ``decoder_hidden_states`` for an encoder-decoder) gives one
layer per entry, named ``"hidden_states.0"`` (the embeddings' output), ``"hidden_states.1"``
(after the first block) and so on. Each hidden state ``(n, tokens, width)`` is pooled over
its tokens, leaving out padding:

``"mean"``
    the average over the tokens whose attention mask is 1, sum_t m_t h_t / sum_t m_t;
``"cls"``
    the first token whose mask is 1 (BERT's [CLS] with right or left padding);
``"last"``
    the last token whose mask is 1 (the usual summary token of a decoder-only model);
``None``
    no pooling: ``(n, tokens, width)``, padding positions included as the model computed
    them; every batch must then have the same number of tokens (pad to one length).

A batch without an ``attention_mask`` counts every token. Decoder hidden states use
``decoder_attention_mask`` when the batch has one. Runs like :func:`replens.extract`:
eval mode (restored afterwards), :func:`torch.inference_mode`, batches joined in order.
Cost: one forward pass; pooling is O(n tokens width) per layer, done on the model's device.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Optional, Union

import numpy as np

from .._validate import check_option, check_positive_int
from ..errors import DegenerateInputError, ReplensError, ShapeError, UnknownOptionError
from ._runtime import (
    DEFAULT_BATCH_SIZE,
    Rows,
    check_dtype,
    check_model,
    check_progress,
    import_torch,
    input_device,
    iterate_batches,
    match_names,
    model_inputs,
    progress_batches,
    restored_modes,
)

if TYPE_CHECKING:
    import torch

__all__ = ["extract_hf"]

HF_POOLS = ("mean", "cls", "last", None)

HiddenLayers = Optional[Union[int, str, Sequence[Union[int, str]]]]


def extract_hf(
    model: torch.nn.Module,
    inputs: Any,
    *,
    pool: str | None = "mean",
    layers: HiddenLayers = None,
    tokenizer: Any = None,
    device: Any = None,
    dtype: str | None = "float32",
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: bool | None = None,
) -> dict[str, np.ndarray]:
    """Hidden states of a transformers model, one layer per block, pooled with the attention mask.

    Parameters
    ----------
    model : transformers.PreTrainedModel
        Any torch module that accepts ``output_hidden_states=True`` and returns a
        ``ModelOutput`` (or mapping) with ``hidden_states``. It is not moved.
    inputs : mapping, iterable of mappings, or strings
        A tokenizer's output (``BatchEncoding``: ``input_ids``, ``attention_mask``, ...),
        split into batches of `batch_size` rows; an iterable of such batches (a DataLoader);
        or, when `tokenizer` is given, a string or a sequence of strings.
    pool : {"mean", "cls", "last", None}
        How to pool each hidden state over its tokens (see the module docstring): the masked
        mean, the first or the last non-padding token, or no pooling.
    layers : int, str or sequence of them, optional
        Which hidden states: positions in the list of all of them (negative counts from the
        end, so ``-1`` is the last block), or names and fnmatch patterns such as
        ``"hidden_states.6"`` or ``"hidden_states.*"``. Default: all.
    tokenizer : callable, optional
        A transformers tokenizer, called on each batch of strings with ``padding=True,
        truncation=True, return_tensors="pt"``.
    device : str or torch.device, optional
        Where inputs are moved. Default: the device of the model's parameters.
    dtype : {"float32", "float64", "float16", None}
        The returned arrays' dtype; pooling is computed in float32 (float64 if either the
        hidden states or `dtype` are float64).
    batch_size : int
        Rows per forward pass when `inputs` is one mapping or a sequence of strings.
    progress : bool, optional
        A tqdm progress bar over the batches. Default: when stderr is a terminal.

    Returns
    -------
    dict of str to numpy.ndarray
        ``"hidden_states.i"`` -> ``(n_examples, width)`` (or ``(n_examples, tokens, width)``
        with ``pool=None``), in the model's order, rows in the order of `inputs`.

    Raises
    ------
    UnknownOptionError
        An invalid option, or `layers` names no hidden state.
    DegenerateInputError
        An example's attention mask is all zeros: it has no token to pool.
    ShapeError
        A mask that does not match the hidden states, or (with ``pool=None``) batches with
        different numbers of tokens.
    ReplensError
        The model's output has no hidden states.

    Examples
    --------
    >>> from transformers import AutoModel, AutoTokenizer  # doctest: +SKIP
    >>> tokenizer = AutoTokenizer.from_pretrained(path)  # doctest: +SKIP
    >>> model = AutoModel.from_pretrained(path)  # doctest: +SKIP
    >>> texts = ["a sentence", "another one"]  # doctest: +SKIP
    >>> acts = extract_hf(model, texts, tokenizer=tokenizer)  # doctest: +SKIP
    >>> acts["hidden_states.6"].shape  # doctest: +SKIP
    (2, 384)
    """
    torch = import_torch()
    check_model(torch, model)
    check_option("pool", pool, HF_POOLS)
    dtype = check_dtype(dtype)
    batch_size = check_positive_int("batch_size", batch_size)
    check_progress(progress)
    wanted = _check_hidden_layers(layers)
    target = input_device(torch, model, device)
    if tokenizer is not None:
        batches, total, n_rows = _tokenized(tokenizer, inputs, batch_size)
    elif isinstance(inputs, str) or (isinstance(inputs, Sequence) and inputs
                                     and isinstance(inputs[0], str)):
        raise UnknownOptionError(
            "inputs are strings; pass tokenizer= (the model's tokenizer) to turn them into "
            "token ids, or pass the tokenizer's output instead.")
    else:
        batches, total, n_rows = iterate_batches(torch, inputs, batch_size)

    rows = Rows(torch, dtype, batches=total, examples=n_rows)
    chosen: list[str] = []
    available: list[str] = []
    with restored_modes(model), torch.inference_mode():
        for index, batch in enumerate(progress_batches(batches, progress, total)):
            args, kwargs, n_batch = model_inputs(torch, batch, target)
            kwargs["output_hidden_states"] = True
            rows.begin(index, n_batch)
            hidden = _hidden_states(model(*args, **kwargs))
            if index == 0:
                available = list(hidden)
                chosen = _choose(wanted, available)
            elif list(hidden) != available:
                raise ReplensError(
                    f"batch {index} gave the hidden states {list(hidden)[:4]}... but batch 0 gave "
                    f"{available[:4]}...; every batch must go through the same layers.")
            for label in chosen:
                mask = kwargs.get("decoder_attention_mask" if label.startswith("decoder")
                                  else "attention_mask")
                pooled = pool_tokens(torch, hidden[label].detach(), mask, pool, label=label,
                                     dtype=dtype)
                rows.put(label, pooled, fresh=pool is not None)
            rows.end(chosen)
    return rows.result()


def pool_tokens(torch: Any, hidden: torch.Tensor, mask: torch.Tensor | None, pool: str | None,
                *, label: str = "hidden state", dtype: str | None = None) -> torch.Tensor:
    """Pool ``hidden (n, tokens, width)`` over its tokens where ``mask (n, tokens)`` is nonzero.

    ``mask=None`` counts every token. Returns ``(n, width)``, or `hidden` itself for ``None``.
    """
    if hidden.ndim != 3:
        raise ShapeError(f"{label} must be (examples, tokens, width) to pool over tokens; got "
                         f"shape {tuple(hidden.shape)}.")
    if pool is None:
        return hidden
    n, tokens = hidden.shape[:2]
    if mask is None:
        mask = torch.ones(n, tokens, dtype=torch.bool, device=hidden.device)
    if tuple(mask.shape) != (n, tokens):
        raise ShapeError(f"the attention mask has shape {tuple(mask.shape)} but {label} has "
                         f"{n} examples of {tokens} tokens; pass the mask the tokenizer made for "
                         f"these inputs.")
    mask = mask.to(hidden.device) != 0
    empty = torch.nonzero(~mask.any(dim=1)).flatten().tolist()
    if empty:
        raise DegenerateInputError(
            f"examples {empty[:10]} of a batch have an all-zero attention mask, so they have no "
            f"token to pool ({label}). Remove empty inputs or fix their masks.")
    if pool == "mean":
        precise = torch.float64 in (hidden.dtype, getattr(torch, dtype or "float32"))
        wide = torch.float64 if precise else torch.float32
        weights = mask.to(wide).unsqueeze(-1)
        return (hidden.to(wide) * weights).sum(dim=1) / weights.sum(dim=1)
    flags = mask.to(torch.uint8)
    if pool == "cls":
        position = flags.argmax(dim=1)  # argmax gives the first of equal maxima
    else:
        position = tokens - 1 - flags.flip(1).argmax(dim=1)
    return hidden[torch.arange(n, device=hidden.device), position]


def _hidden_states(output: Any) -> dict[str, Any]:
    if not isinstance(output, Mapping):
        raise ReplensError(
            f"the model returned a {type(output).__name__}, not a ModelOutput, so its hidden "
            f"states cannot be found by name; load it with return_dict=True (the default).")
    hidden = {}
    for field, states in output.items():
        if field.endswith("hidden_states") and isinstance(states, (tuple, list)):
            hidden.update({f"{field}.{i}": state for i, state in enumerate(states)})
    if not hidden:
        raise ReplensError(
            f"the model's output has no hidden states (fields: {list(output)}); extract_hf needs "
            f"a transformers model that accepts output_hidden_states=True. For other models, "
            f"use replens.extract with layer names.")
    return hidden


def _check_hidden_layers(layers: HiddenLayers) -> list[int | str] | None:
    if layers is None:
        return None
    items = [layers] if isinstance(layers, (int, str)) else layers
    try:
        items = list(items)
    except TypeError:
        items = [None]
    if not items or not all(isinstance(item, (int, str)) and not isinstance(item, bool)
                            for item in items):
        raise UnknownOptionError(
            f"layers must be hidden-state positions (ints), names or patterns such as "
            f"'hidden_states.*', a sequence of them, or None; got {layers!r:.80}.")
    return items


def _choose(wanted: list[int | str] | None, labels: list[str]) -> list[str]:
    if wanted is None:
        return labels
    chosen: set[str] = set()
    for item in wanted:
        if isinstance(item, int):
            if not -len(labels) <= item < len(labels):
                raise UnknownOptionError(
                    f"layers position {item} is out of range: the model gives {len(labels)} "
                    f"hidden states ({labels[0]!r} ... {labels[-1]!r}).")
            chosen.add(labels[item])
        else:
            chosen.update(match_names([item], labels, "hidden state of the model")[0])
    return [label for label in labels if label in chosen]


def _tokenized(tokenizer: Any, texts: Any, batch_size: int) -> tuple[Iterator[Any], int, int]:
    if isinstance(texts, str):
        texts = [texts]
    if not isinstance(texts, Sequence) or not all(isinstance(text, str) for text in texts):
        raise UnknownOptionError(
            f"with a tokenizer, inputs must be a string or a sequence of strings; got "
            f"{type(texts).__name__}.")
    texts = list(texts)

    def batches() -> Iterator[Any]:
        for start in range(0, len(texts), batch_size):
            yield tokenizer(texts[start:start + batch_size], padding=True, truncation=True,
                            return_tensors="pt")

    return batches(), -(-len(texts) // batch_size), len(texts)
