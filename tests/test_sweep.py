"""rl.sweep in process: equality with rl.compare, resume, refusal of changed inputs, bad input."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys

import numpy as np
import pytest
import torch

import replens as rl
from replens.errors import CorruptFileError, ShapeError, UnknownOptionError
from replens.sweeps import StoreMismatchError
from replens.sweeps.store import finished_tiles, tile_path

torch.set_num_threads(1)
MEASURES = ("linear_cka", "cca_mean_rho", "pwcca")


def _nets(count=5, n=40, seed=0):
    rng = np.random.default_rng(seed)
    base = rng.standard_normal((n, 6))
    return {f"net{i}": {"fc1": base @ rng.standard_normal((6, 5)) + 0.3 * rng.standard_normal((n, 5)),
                        "fc2": np.tanh(base @ rng.standard_normal((6, 4))),
                        "conv": rng.standard_normal((n, 2, 3, 3)).astype(np.float32)}
            for i in range(count)}


def _check_equal_to_compare(res, nets, measures, conv="flatten"):
    checked = 0
    for i, a in enumerate(res.models):
        for j, b in enumerate(res.models):
            if np.isnan(res.values[:, i, j]).all():
                continue
            m = rl.compare(nets[a], nets[b], measures, conv=conv)
            for p, la in enumerate(res.layers):
                for q, lb in enumerate(res.layers):
                    got = res.values[:, i, j, p, q]
                    if np.isnan(got).all():
                        continue
                    want = m.values[:, m.layers_a.index(la), m.layers_b.index(lb)]
                    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
                    checked += 1
    return checked


@pytest.mark.parametrize("tile_models", [1, 2, 7])
def test_every_entry_equals_compare_whatever_the_tile_size(tmp_path, tile_models):
    nets = _nets()
    res = rl.sweep(nets, measures=MEASURES, store=tmp_path / "run", tile_models=tile_models,
                   conv="mean_pool").run()
    assert res.values.shape == (3, 5, 5, 3, 3)
    assert not np.isnan(res.values).any()
    assert _check_equal_to_compare(res, nets, MEASURES, conv="mean_pool") == 25 * 9
    assert res.computed_tiles == res.total_tiles == (-(-5 // tile_models)) ** 2


def test_layer_and_pair_selections(tmp_path):
    nets = _nets(4)
    res = rl.sweep(nets, layers="matching", pairs="upper", store=tmp_path / "a", tile_models=3).run()
    v = res.values[0]
    assert np.isnan(v[1, 0]).all() and not np.isnan(v[0, 1, [0, 1, 2], [0, 1, 2]]).any()
    assert np.isnan(v[0, 1, 0, 1])
    assert _check_equal_to_compare(res, nets, ("linear_cka",)) == 10 * 3
    res = rl.sweep(nets, layers=[("fc1", "fc2")], pairs=[("net3", "net0"), ("net1", "net1")],
                   store=tmp_path / "b").run()
    assert np.count_nonzero(~np.isnan(res.values)) == 2
    assert _check_equal_to_compare(res, nets, ("linear_cka",)) == 2


def test_models_with_different_layers_get_nan_where_a_layer_is_missing(tmp_path):
    nets = _nets(3)
    del nets["net2"]["fc2"]
    res = rl.sweep(nets, store=tmp_path / "run").run()
    fc2 = res.layers.index("fc2")
    assert np.isnan(res.values[0, 2, :, fc2, :]).all() and np.isnan(res.values[0, :, 2, :, fc2]).all()
    assert not np.isnan(res.values[0, 0, 1]).any()
    _check_equal_to_compare(res, nets, ("linear_cka",))


def test_paths_and_caches_are_read_by_the_tiles(tmp_path):
    nets = _nets(3)
    paths = {}
    for name, acts in nets.items():
        paths[name] = rl.save_activations(tmp_path / f"{name}.npz", acts)
    res = rl.sweep(paths, store=tmp_path / "run").run()
    assert not (tmp_path / "run" / "inputs").exists()
    ref = rl.sweep(nets, store=tmp_path / "ref").run()
    np.testing.assert_array_equal(res.values, ref.values)
    manifest = json.loads((tmp_path / "run" / "sweep.json").read_text())
    assert manifest["models"][0]["path"] == str((tmp_path / "net0.npz").resolve())


def test_activation_caches_must_record_the_same_inputs(tmp_path):
    nets = _nets(3)
    for k, (name, acts) in enumerate(nets.items()):
        digest = rl.activations.cache.hash_inputs(np.arange(40) + (k == 2))
        with rl.ActivationCache.create(tmp_path / name, {l: (a.shape[1:], a.dtype) for l, a in acts.items()},
                                       n_examples=40, inputs_hash=digest) as cache:
            cache.write(acts, 0)
    folders = {name: tmp_path / name for name in nets}
    with pytest.raises(ShapeError, match="record different inputs_hash values"):
        rl.sweep(folders, store=tmp_path / "run")
    res = rl.sweep({k: folders[k] for k in ("net0", "net1")}, store=tmp_path / "run").run()
    _check_equal_to_compare(res, nets, ("linear_cka",))


def test_rerun_computes_only_missing_tiles_and_ends_identical(tmp_path):
    nets = _nets(6)
    store = tmp_path / "run"
    first = rl.sweep(nets, store=store, tile_models=2).run()
    assert first.computed_tiles == 9
    again = rl.sweep(nets, store=store, tile_models=2).run()
    assert again.computed_tiles == 0
    for index in (0, 4, 8):
        tile_path(store, index).unlink()
    sw = rl.sweep(nets, store=store, tile_models=2)
    assert [t.index for t in sw.missing()] == [0, 4, 8]
    partial = sw.result()
    assert np.isnan(partial.values[0, 0, 0]).all()
    resumed = sw.run()
    assert resumed.computed_tiles == 3 and finished_tiles(store) == set(range(9))
    np.testing.assert_array_equal(resumed.values, first.values)


def test_distances_and_xarray(tmp_path):
    nets = _nets(4)
    full = rl.sweep(nets, store=tmp_path / "all").run()
    upper = rl.sweep(nets, pairs="upper", store=tmp_path / "upper").run()
    d = full.distances("linear_cka", layer="fc1")
    assert d.names == tuple(nets) and d.layer == ("fc1", "fc1")
    np.testing.assert_allclose(np.asarray(d), np.asarray(d).T, atol=1e-15)
    np.testing.assert_allclose(np.diag(d.values), 0, atol=1e-12)
    s = rl.cka(nets["net0"]["fc1"], nets["net2"]["fc1"])
    assert d.values[0, 2] == pytest.approx(1 - s, abs=1e-12)
    np.testing.assert_allclose(upper.distances("linear_cka", layer="fc1").values, d.values, atol=1e-12)
    raw = upper.distances("linear_cka", layer="fc1", symmetrize=None).values
    assert np.isnan(raw[1, 0]) and raw[0, 1] == pytest.approx(d.values[0, 1], abs=1e-12)
    np.testing.assert_allclose(upper.distances("linear_cka", layer="fc1", symmetrize="upper").values,
                               d.values, atol=1e-12)
    cross = full.distances("linear_cka", layer=("fc1", "fc2"), symmetrize=None)
    assert cross.values[1, 3] == pytest.approx(1 - rl.cka(nets["net1"]["fc1"], nets["net3"]["fc2"]), abs=1e-12)
    x = full.to_xarray()
    assert x.dims == ("measure", "model_a", "model_b", "layer_a", "layer_b")
    assert float(x.sel(measure="linear_cka", model_a="net0", model_b="net2", layer_a="fc1", layer_b="fc1")) == \
        pytest.approx(s, abs=1e-12)
    with pytest.raises(UnknownOptionError, match="measure must be one of the sweep's measures"):
        full.distances("cca_mean_rho", layer="fc1")
    with pytest.raises(UnknownOptionError, match="layer must name one of the sweep's layers"):
        full.distances("linear_cka", layer="fc9")
    with pytest.raises(UnknownOptionError, match="symmetrize"):
        full.distances("linear_cka", layer="fc1", symmetrize="max")


def test_changed_inputs_or_options_are_refused_naming_the_difference(tmp_path):
    nets = _nets(3)
    store = tmp_path / "run"
    rl.sweep(nets, store=store).run()
    changed = {name: dict(acts) for name, acts in nets.items()}
    changed["net1"]["fc1"] = changed["net1"]["fc1"] + 1e-9
    with pytest.raises(StoreMismatchError, match=r"model 'net1' sha256: stored"):
        rl.sweep(changed, store=store)
    with pytest.raises(StoreMismatchError, match=r"measures: stored .*linear_cka.*now .*cca_mean_rho"):
        rl.sweep(nets, measures=("cca_mean_rho",), store=store)
    with pytest.raises(StoreMismatchError, match=r"tile_models: stored 8, now 2"):
        rl.sweep(nets, store=store, tile_models=2)
    with pytest.raises(StoreMismatchError, match=r"conv: stored \"flatten\", now \"mean_pool\""):
        rl.sweep(nets, store=store, conv="mean_pool")
    with pytest.raises(StoreMismatchError, match=r"models: stored \[\"net0\", \"net1\", \"net2\"\], now"):
        rl.sweep({k: nets[k] for k in ("net0", "net1")}, store=store)
    with pytest.raises(StoreMismatchError, match="layer_pairs"):
        rl.sweep(nets, store=store, layers="matching")
    assert rl.sweep(nets, store=store).run().computed_tiles == 0


def test_bad_stores_are_refused(tmp_path):
    nets = _nets(2)
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "other.txt").write_text("x")
    with pytest.raises(StoreMismatchError, match="is not empty and holds no sweep.json"):
        rl.sweep(nets, store=tmp_path / "full")
    store = tmp_path / "run"
    rl.sweep(nets, store=store).run()
    tile_path(store, 0).write_bytes(b"not a tile")
    with pytest.raises(CorruptFileError, match="tile file t0000000.npz cannot be read"):
        rl.sweep(nets, store=store).run()
    (store / "sweep.json").write_text("{")
    with pytest.raises(CorruptFileError, match="cannot read sweep.json"):
        rl.sweep(nets, store=store)


def test_bad_input_is_refused_before_any_work(tmp_path):
    nets = _nets(3)
    store = tmp_path / "run"
    with pytest.raises(ShapeError, match="models must be a non-empty mapping"):
        rl.sweep([nets["net0"]], store=store)
    with pytest.raises(ShapeError, match="models must be a non-empty mapping"):
        rl.sweep({}, store=store)
    short = dict(nets, net9={"fc1": np.zeros((10, 3))})
    with pytest.raises(ShapeError, match="same probe examples"):
        rl.sweep(short, store=store)
    with pytest.raises(ShapeError, match=r"models\['bad'\] must be a mapping layer -> array"):
        rl.sweep({"bad": 3}, store=store)
    with pytest.raises(ShapeError, match=r"every layer must be an array \(n, ...\) of one n"):
        rl.sweep({"bad": {"a": np.zeros((5, 2)), "b": np.zeros((6, 2))}}, store=store)
    with pytest.raises(FileNotFoundError, match="no activations at"):
        rl.sweep({"gone": tmp_path / "missing.npz"}, store=store)
    with pytest.raises(UnknownOptionError, match="layers"):
        rl.sweep(nets, layers="diagonal", store=store)
    with pytest.raises(UnknownOptionError, match="pairs names 'net7', which is not among"):
        rl.sweep(nets, pairs=[("net0", "net7")], store=store)
    with pytest.raises(UnknownOptionError, match="layers must be a list of \\(a, b\\) name pairs"):
        rl.sweep(nets, layers=["fc1"], store=store)
    with pytest.raises(UnknownOptionError, match="pairs is an empty list"):
        rl.sweep(nets, pairs=[], store=store)
    with pytest.raises(UnknownOptionError, match="tile_models must be a positive integer"):
        rl.sweep(nets, tile_models=0, store=store)
    with pytest.raises(UnknownOptionError, match="executor must be None, 'dask' or a dask.distributed.Client"):
        rl.sweep(nets, executor="ray", store=store)
    with pytest.raises(UnknownOptionError, match="conv"):
        rl.sweep(nets, conv="dft", store=store)
    with pytest.raises(UnknownOptionError, match="each worker rebuilds them by name"):
        rl.sweep(nets, measures=(lambda x, y: 0.5,), store=store)
    with pytest.raises(UnknownOptionError, match="different precisions"):
        rl.sweep(nets, measures=(rl.measure("linear_cka", dtype="float32"), rl.measure("cca_mean_rho", dtype="float64")), store=store)
    with pytest.raises(ShapeError, match=r"has shape \(40, 1, 1, 1, 1\); layers must be 2-D"):
        rl.sweep({"a": {"x": np.zeros((40, 1, 1, 1, 1)), "y": np.zeros((40, 2))}}, store=store)
    assert not store.exists()


def test_executor_dask_without_dask_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "dask.distributed", None)
    sw = rl.sweep(_nets(2), executor="dask", store=tmp_path / "run")
    with pytest.raises(ImportError, match=r"pip install 'replens\[dask\]'"):
        sw.run()


def test_import_replens_imports_no_dask():
    code = "import sys, replens; replens.sweep; print('dask' in sys.modules or 'distributed' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_each_model_layer_is_prepared_once_per_tile(tmp_path, monkeypatch):
    from replens.measures import blocks
    from replens.measures.registry import Measure

    calls, scans = [], []
    original, original_scale = Measure.prepare_checked, blocks.layer_scale

    def counting(self, xp, x, name, plan):
        calls.append((self.preparation_key, name))
        return original(self, xp, x, name, plan)

    def counting_scale(*args, name, **kwargs):  # the linear-kernel pass reads each layer once
        scans.append(name)
        return original_scale(*args, name=name, **kwargs)

    monkeypatch.setattr(Measure, "prepare_checked", counting)
    monkeypatch.setattr(importlib.import_module("replens.engine.compare"), "layer_scale", counting_scale)
    nets = _nets(4)
    res = rl.sweep(nets, measures=MEASURES, store=tmp_path / "one", tile_models=4, conv="mean_pool").run()
    # one tile of 4 models x 3 layers: the CCA basis once per layer (shared by cca and pwcca),
    # and the linear kernel's feature pass once per layer, not once per pair
    assert res.total_tiles == 1 and len(calls) == len(set(calls)) == 4 * 3
    assert len(scans) == len(set(scans)) == 4 * 3
    calls.clear()
    scans.clear()
    rl.sweep(nets, measures=MEASURES, store=tmp_path / "two", tile_models=2, conv="mean_pool").run()
    # tiles (0,0) and (1,1) hold 2 models, (0,1) and (1,0) hold 4; each prepares its models once
    assert len(calls) == len(scans) == (2 + 4 + 4 + 2) * 3
    calls.clear()
    rl.sweep(nets, measures=MEASURES, layers="matching", pairs=[("net0", "net1"), ("net2", "net3")],
             store=tmp_path / "sparse", tile_models=4, conv="mean_pool").run()
    # a sparse tile: each (preparation, model, layer) once (the linear kernel and the CCA basis)
    assert len(calls) == len(set(calls)) == 4 * 3 * 2


def test_layer_components_split_the_requested_pairs():
    from replens.sweeps.tiles import layer_components

    assert layer_components([(0, 0), (1, 1), (2, 2)]) == [([0], [0]), ([1], [1]), ([2], [2])]
    every = [(a, b) for a in range(3) for b in range(3)]
    assert layer_components(every) == [([0, 1, 2], [0, 1, 2])]
    assert layer_components([(0, 1), (2, 1), (3, 4)]) == [([0, 2], [1]), ([3], [4])]


def test_progress_bar_counts_tiles(tmp_path, capsys):
    res = rl.sweep(_nets(3), store=tmp_path / "run", tile_models=1, progress=True).run()
    assert res.computed_tiles == 9
    assert "sweep" in capsys.readouterr().err
