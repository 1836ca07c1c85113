"""The issue-13 experiments of ``replens reproduce`` (K01-K04, K13-K15, P04, S02, S03,
S05, S11-S13), quick.

Each runs once quick into a shared folder. The claims asserted are the ones that hold for
structural reasons (theorems and identities, exact to rounding) or with a wide margin; the
findings (P04's robustness, S05's scores) are asserted as the numbers behind them, not as
verdicts.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest

torch = pytest.importorskip("torch")

from replens.reproduce import CLAIM_COLUMNS, experiments, run

torch.set_num_threads(1)

IDS = ("kornblith2019-rank-saturation", "kornblith2019-invariances", "kornblith2019-identities",
       "morcos2018-synthetic-snr", "kornblith2019-debiasing", "kornblith2019-canonical-ridge",
       "raghu2017-svd-before-cca", "raghu2017-intrinsic-dimension", "raghu2017-compression",
       "kornblith2019-shared-subspace", "kornblith2019-principal-components", "raghu2017-class-sensitivity",
       "raghu2017-distributed-directions", "raghu2017-baselines")


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    out = tmp_path_factory.mktemp("reproduce-directions")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("REPLENS_CACHE", str(tmp_path_factory.mktemp("zoo-cache")))
        return out, {experiment_id: run(experiment_id, out, quick=True) for experiment_id in IDS}


def _holds(result):
    return {claim.claim: claim.holds for claim in result.claims}


def test_registered_with_entries():
    entries = {info.id: info.entry for info in experiments()}
    assert {experiment_id: entries[experiment_id] for experiment_id in IDS} == {
        "kornblith2019-rank-saturation": "K01", "kornblith2019-invariances": "K03",
        "kornblith2019-identities": "K04", "morcos2018-synthetic-snr": "P04", "kornblith2019-debiasing": "K14",
        "kornblith2019-canonical-ridge": "K15", "raghu2017-svd-before-cca": "S05",
        "raghu2017-intrinsic-dimension": "S02", "raghu2017-compression": "S12",
        "kornblith2019-shared-subspace": "K13", "kornblith2019-principal-components": "K02",
        "raghu2017-class-sensitivity": "S11", "raghu2017-distributed-directions": "S03",
        "raghu2017-baselines": "S13"}


@pytest.mark.parametrize("experiment_id", IDS)
def test_quick_run_files_and_time(results, experiment_id):
    out, by_id = results
    folder = out / experiment_id
    claims = pd.read_csv(folder / "claims.csv", dtype=str, keep_default_na=False)
    assert tuple(claims.columns) == CLAIM_COLUMNS and claims.claim.is_unique
    assert all(claims.claim.str.startswith(by_id[experiment_id].info.entry + "."))
    settings = json.loads((folder / "settings.json").read_text())
    assert settings["quick"] is True and settings["cpu_seconds"] < 30 and "seeds" in settings
    assert (folder / settings["figures"][0]["file"]).read_bytes().startswith(b"\x89PNG")


def test_theorem_1_and_identities_hold(results):
    _, by_id = results
    assert _holds(by_id["kornblith2019-rank-saturation"]) == {"K01.cca_saturates": "yes", "K01.cka_does_not": "yes"}
    identities = _holds(by_id["kornblith2019-identities"])
    assert identities.pop("K04.eq12_printed_factor") == "no"  # the paper's printed factor (claims.md sec. 0)
    assert set(identities.values()) == {"yes"}
    assert set(_holds(by_id["kornblith2019-invariances"]).values()) == {"yes"}
    assert _holds(by_id["kornblith2019-canonical-ridge"]) == {"K15.interpolates": "yes"}


def test_snr_debiasing_and_svd_findings(results):
    _, by_id = results
    snr = by_id["morcos2018-synthetic-snr"].outcome.tables[0][2]
    primary = snr[snr.noise_var == 0.1]
    assert primary.pwcca.iloc[-1] > primary.mean_cca.iloc[-1] + 0.05  # PWCCA above mean CCA at low signal
    assert _holds(by_id["morcos2018-synthetic-snr"])["P04.ordering"] == "yes"
    bias = by_id["kornblith2019-debiasing"].outcome.tables[0][2]
    assert bias.biased_mean.iloc[0] > 0.3 > bias.biased_mean.iloc[-1]
    assert (bias.debiased_mean.abs() < 0.05).all()
    svd = _holds(by_id["raghu2017-svd-before-cca"])
    assert svd["S05.cca_same"] == "yes" and svd["S05.svd_separates"] == "yes"
    scores = by_id["raghu2017-svd-before-cca"].outcome.tables[0][2].set_index("measure")
    assert scores.loc["linear_cka", "difference"] > 0.3


def test_directions_beat_neurons_and_compression_keeps_accuracy(results):
    _, by_id = results
    table = by_id["raghu2017-intrinsic-dimension"].outcome.tables[0][2]
    at = table.set_index(["k", "method"]).accuracy
    assert at[(10, "svcca")] > at[(10, "random_neurons")] + 0.3  # directions carry far more than neurons
    assert at[(10, "svcca")] > at[(10, "max_activation")] + 0.3
    assert at[(1, "svcca")] < at[(10, "svcca")] < table.attrs["full_accuracy"] + 0.01
    compression = by_id["raghu2017-compression"].outcome.tables[0][2]
    last = compression[compression.layer == "relu3"].set_index(["fraction", "reference"])
    assert last.loc[(0.35, "logits"), "test_accuracy"] >= compression.attrs["test_accuracy"] - 0.02
    assert last.loc[(0.1, "logits"), "test_accuracy"] >= last.loc[(0.1, "peer"), "test_accuracy"]
    assert set(last.reset_index().k) == {45, 26, 13}  # round(fraction x 128)


def test_shared_subspace_and_principal_components(results):
    _, by_id = results
    action = by_id["kornblith2019-shared-subspace"].outcome.tables[0][2]
    assert action.cosine.iloc[:3].min() > 0.7 and action.cosine.iloc[12:30].mean() < 0.5
    assert 1 <= by_id["kornblith2019-shared-subspace"].settings["shared_dim"] < 32
    assert _holds(by_id["kornblith2019-principal-components"]) == {
        "K02.large_pcs_shared": "yes", "K02.invertible_invariance_blind": "yes"}


def test_class_sensitivity_reaches_one_at_the_readout(results):
    _, by_id = results
    table = by_id["raghu2017-class-sensitivity"].outcome.tables[0][2].set_index("index")
    assert list(table.columns)[-1] == "gap"
    assert (table["gap"] > 1 - 1e-6).all()  # the logits are a linear function of the GAP layer
    assert (table.iloc[:, 0] < 0.99).all()


def test_k_neurons_fall_short_of_k_directions(results):
    _, by_id = results
    table = by_id["raghu2017-distributed-directions"].outcome.tables[0][2]
    by_m = dict(zip(table.m, table.accuracy))
    assert by_m[20] < table.attrs["directions_accuracy"] - 0.1
    assert by_m[5] < by_m[20] < by_m[100]


def test_permutation_baselines(results):
    _, by_id = results
    table = by_id["raghu2017-baselines"].outcome.tables[0][2]
    cca = table[table.measure == "cca_mean_rho"].null_mean.to_numpy()
    assert cca[0] > cca[-1] + 0.1  # the CCA null floor falls with n
    assert (table[table.measure == "debiased_linear_cka"].null_mean.abs() < 0.01).all()
    assert (table.statistic > table.null_max).all()
