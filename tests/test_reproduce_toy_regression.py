"""raghu2017-toy-regression (claims.md S01), quick: the outputs it writes and the structural
facts behind its claims (R^2 at most 1 and rising towards the full output; rho sorted in
[0, 1]; the threshold's count recorded)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

torch = pytest.importorskip("torch")

from replens.reproduce import CLAIM_COLUMNS, experiments, run

torch.set_num_threads(1)

ID = "raghu2017-toy-regression"


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    out = tmp_path_factory.mktemp("reproduce-toy")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("REPLENS_CACHE", str(tmp_path_factory.mktemp("zoo-cache")))
        return out, run(ID, out, quick=True)


def test_registered():
    info = {e.id: e for e in experiments()}[ID]
    assert info.entry == "S01" and info.module == "raghu2017_toy_regression"


def test_outputs_written(result):
    out, _ = result
    folder = out / ID
    claims = pd.read_csv(folder / "claims.csv")
    assert list(claims.columns) == list(CLAIM_COLUMNS)
    assert set(claims.claim) == {"S01.directions_match", "S01.output_from_few_directions"}
    assert set(claims.holds) <= {"yes", "partly", "no"}
    assert (folder / "toy_regression.png").stat().st_size > 1000
    settings = json.loads((folder / "settings.json").read_text())
    assert settings["quick"] is True and settings["ks"] == [2, 6, 15, 30] and settings["units"] == 200
    assert min(settings["kept"]) >= 30 and len(settings["kept_at_threshold"]) == 2


def test_structural_facts(result):
    out, _ = result
    folder = out / ID
    fidelity = pd.read_csv(folder / "output_fidelity.csv")
    assert list(fidelity.k) == [2, 6, 15, 30]
    assert np.all(fidelity.r2 <= 1 + 1e-9)
    assert fidelity.r2.iloc[-1] > fidelity.r2.iloc[0]
    rho = pd.read_csv(folder / "svcca_rho.csv").svcca_rho.to_numpy()
    assert np.all(np.diff(rho) <= 1e-12) and rho.min() >= -1e-9 and rho.max() <= 1 + 1e-9
    settings = json.loads((folder / "settings.json").read_text())
    assert 0 <= settings["neuron_match_mean"] <= settings["neuron_match_max"] <= 1 + 1e-9
