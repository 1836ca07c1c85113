"""A cache knows what made it (issue 10, item 2): the model's fingerprint, layers, pool, dtype,
graph_nodes and the inputs' hash are in the manifest, and anything different is refused,
naming the field, also when the cache is complete."""

from __future__ import annotations

import pytest
import torch

import _trust_models
from replens.activations import ActivationCache, extract_to_cache
from replens.activations.pipeline import model_fingerprint
from replens.errors import ReplensError

torch.set_num_threads(1)


def fill(path, model=None, x=None, **options):
    return extract_to_cache(model or _trust_models.SlowMLP(), _trust_models.inputs() if x is None else x, path,
                            chunk_size=25, progress=False, **options)


def test_the_manifest_records_what_made_the_cache(tmp_path):
    cache = fill(tmp_path / "acts", layers=["fc*"], pool="mean", dtype="float64")
    provenance = cache.manifest["provenance"]
    assert provenance == {"model": model_fingerprint(_trust_models.SlowMLP()), "layers": ["fc*"], "pool": "mean",
                          "dtype": "float64", "graph_nodes": False}
    assert provenance["model"]["class"] == "_trust_models.SlowMLP" and len(provenance["model"]["sha256"]) == 64
    assert cache.provenance == provenance and cache.inputs_hash.startswith("sha256:")


def test_the_model_fingerprint_covers_every_parameter_buffer_and_the_class():
    base = model_fingerprint(_trust_models.SlowMLP())
    assert model_fingerprint(_trust_models.SlowMLP()) == base  # same weights, another object
    changed = _trust_models.SlowMLP()
    with torch.no_grad():
        changed.fc2.bias[0] += 1e-7
    assert model_fingerprint(changed)["sha256"] != base["sha256"]
    with_buffer = _trust_models.SlowMLP()
    with_buffer.register_buffer("scale", torch.ones(1), persistent=False)
    assert model_fingerprint(with_buffer)["sha256"] != base["sha256"]

    class Renamed(_trust_models.SlowMLP):
        pass

    renamed = model_fingerprint(Renamed())
    assert renamed["sha256"] == base["sha256"] and renamed["class"] != base["class"]
    norm = torch.nn.BatchNorm1d(3)
    before = model_fingerprint(norm)
    norm.running_mean += 1
    assert model_fingerprint(norm) != before


@pytest.mark.parametrize("complete", [True, False])
@pytest.mark.parametrize("change, field", [
    ({"model": "other weights"}, r"provenance field 'model' \{\"class\": \"_trust_models\.SlowMLP\", \"sha256\": "),
    ({"model": "other class"}, r"provenance field 'model'"),
    ({"layers": "fc1"}, r"provenance field 'layers' null \(asked for \"fc1\"\)"),
    ({"pool": "mean"}, r"provenance field 'pool' null \(asked for \"mean\"\)"),
    ({"dtype": "float64"}, r"provenance field 'dtype' \"float32\" \(asked for \"float64\"\)"),
    ({"graph_nodes": True, "layers": "fc1"}, r"provenance field 'graph_nodes' false \(asked for true\)"),
    ({"x": "other inputs"}, r"inputs_hash 'sha256:.*' \(asked for 'sha256:"),
])
def test_anything_different_is_refused_naming_the_field(tmp_path, monkeypatch, complete, change, field):
    path = tmp_path / "acts"
    if complete:
        fill(path)
    else:
        calls = {"n": 0}
        original = ActivationCache.write

        def stop_after_first(self, batch, start):
            calls["n"] += 1
            if calls["n"] == 2:
                raise KeyboardInterrupt
            original(self, batch, start)

        monkeypatch.setattr(ActivationCache, "write", stop_after_first)
        with pytest.raises(KeyboardInterrupt):
            fill(path)
        monkeypatch.undo()
        assert ActivationCache.open(path, allow_incomplete=True).resume_from == 25
    options = dict(change)
    model = _trust_models.SlowMLP()
    if options.pop("model", None) == "other weights":
        with torch.no_grad():
            model.fc1.weight[0, 0] += 1.0
    elif change.get("model") == "other class":
        model = type("Copy", (_trust_models.SlowMLP,), {})()
    x = _trust_models.inputs()[::-1].copy() if options.pop("x", None) else None
    with pytest.raises(ReplensError, match=rf"was made otherwise: it has .*{field}.*Pass overwrite=True"):
        fill(path, model, x, **options)
    assert fill(path, model, x, overwrite=True, **options).is_complete  # overwrite starts again


def test_the_same_request_reuses_or_resumes(tmp_path):
    first = fill(tmp_path / "acts", layers="fc*", dtype="float32")
    again = fill(tmp_path / "acts", layers="fc*", dtype="float32")
    assert again.manifest["chunks"] == first.manifest["chunks"]


def test_create_resume_checks_provenance_field_by_field(tmp_path):
    specs = {"a": ((2,), "float32")}
    ActivationCache.create(tmp_path / "c", specs, n_examples=2, provenance={"model": "m1", "pool": None}).close()
    with pytest.raises(ReplensError, match=r"cannot resume .*: it was made with provenance field 'model' \"m1\" "
                                           r"\(asked for \"m2\"\)\. Pass overwrite=True"):
        ActivationCache.create(tmp_path / "c", specs, n_examples=2, provenance={"model": "m2", "pool": None},
                               resume=True)
    with pytest.raises(ReplensError, match=r"provenance field 'extra' not recorded \(asked for 1\)"):
        ActivationCache.create(tmp_path / "c", specs, n_examples=2, resume=True,
                               provenance={"model": "m1", "pool": None, "extra": 1})
    with pytest.raises(ReplensError, match=r"provenance field 'model' \"m1\" \(asked for nothing\)"):
        ActivationCache.create(tmp_path / "c", specs, n_examples=2, resume=True)
    ActivationCache.create(tmp_path / "c", specs, n_examples=2, resume=True,
                           provenance={"pool": None, "model": "m1"}).close()
    with pytest.raises(Exception, match=r"provenance must hold JSON values only"):
        ActivationCache.create(tmp_path / "d", specs, n_examples=2, provenance={"f": object()})
