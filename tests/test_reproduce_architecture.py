"""Issue 14's experiments of ``replens reproduce`` (S06-S08, K05, K07-K10), quick, with
the directions that hold for structural reasons asserted: Theorem 1 is exact, the DFT route
outruns flattened CCA at larger maps, an 8x plain CNN trains worse than a 2x one, ResNet
stages form blocks. The other verdicts are findings, checked for a verdict and a note."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")

from replens.reproduce import experiments, run

torch.set_num_threads(1)

MINE = ("raghu2017-dft-theorem", "raghu2017-dft-speed", "kornblith2019-bandwidth", "kornblith2019-resnet",
        "kornblith2019-depth", "kornblith2019-architectures", "raghu2017-conv-fourier",
        "kornblith2019-transformer")


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    cache = {}
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("REPLENS_CACHE", str(tmp_path_factory.mktemp("zoo-cache-architecture")))

        def get(experiment_id):
            if experiment_id not in cache:
                cache[experiment_id] = run(experiment_id, None, quick=True)
            return cache[experiment_id]

        yield get


def test_experiments_are_registered_with_their_entries():
    entries = {info.id: info.entry for info in experiments()}
    assert {i: entries[i] for i in MINE} == {
        "raghu2017-dft-theorem": "S06", "raghu2017-dft-speed": "S07", "kornblith2019-bandwidth": "K05",
        "kornblith2019-resnet": "K09", "kornblith2019-depth": "K08", "kornblith2019-architectures": "K10",
        "raghu2017-conv-fourier": "S08", "kornblith2019-transformer": "K07"}


@pytest.mark.parametrize("experiment_id", MINE)
def test_quick_run_has_verdicts_and_is_quick(experiment_id, results):
    result = results(experiment_id)
    assert result.claims and all(c.holds in ("yes", "partly", "no") and c.note for c in result.claims)
    assert all(c.claim.startswith(result.info.entry + ".") for c in result.claims)
    assert result.settings["cpu_seconds"] <= 30
    assert result.outcome.figures and result.outcome.tables


def test_dft_theorem_is_exact_and_zero_padding_breaks_it(results):
    result = results("raghu2017-dft-theorem")
    assert result.holds("S06.block_diagonal") == "yes"           # off-block energy < 1e-10
    assert result.holds("S06.dft_equals_cca") == "yes"           # rho equal to 1e-8
    assert result.holds("S06.zero_padding_control") == "yes"
    table = {stem: frame for stem, _, frame in result.outcome.tables}["offblock"]
    exact = table[(table.padding == "circular") & (table.data == "orbit")]
    assert (exact.offblock_dft < 1e-20).all() and (exact.offblock_pixel > 0.3).all()


def test_dft_route_outruns_flattened_cca_on_larger_maps(results):
    table = results("raghu2017-dft-speed").outcome.tables[0][2]
    assert table.h.tolist() == [4, 8, 12]
    assert table.ratio.iloc[-1] > 2 * table.ratio.iloc[0]      # quick: 0.1-0.5x at 4x4, ~8x at 12x12


def test_bandwidth_sweep_scores_every_fraction(results):
    table = results("kornblith2019-bandwidth").outcome.tables[0][2]
    assert table.kernel.tolist() == ["linear", "rbf 0.1", "rbf 0.2", "rbf 0.4", "rbf 0.8", "rbf 1.6"]
    assert ((table.accuracy > 0) & (table.accuracy <= 1)).all()


def test_resnet_stages_form_blocks(results):
    assert results("kornblith2019-resnet").holds("K09.stages") == "yes"


def test_eight_times_deeper_plain_cnn_trains_worse(results):
    result = results("kornblith2019-depth")
    table = result.outcome.tables[0][2].set_index("depth_multiplier")
    assert table.loc[8, "test_accuracy"] < table.loc[2, "test_accuracy"] - 0.1
    assert table.loc[8, "layers"] == 24 and table.loc[1, "layers"] == 3


def test_architectures_maps_every_pair_and_measure(results):
    table = results("kornblith2019-architectures").outcome.tables[0][2]
    assert sorted(set(table.pair)) == ["1x-2x", "2x-8x"]
    assert len(table) == 2 * 5                                   # flatten CKA + 4 mean-pooled measures
    pooled = table[(table.conv == "mean_pool") & (table.measure == "linear_cka")]
    assert (pooled.monotonicity >= 0.9).all()


def test_conv_fourier_compares_every_pair_of_conv_layers(results):
    table = results("raghu2017-conv-fourier").outcome.tables[0][2]
    assert sorted(set(table.comparison)) == ["cnn seed 0 vs 1", "resnet vs cnn"]
    assert len(table) == 2 * 6 * 6
    assert ((table.value > 0) & (table.value <= 1)).all()


def test_transformer_sanity_check_scores_six_sublayers(results):
    result = results("kornblith2019-transformer")
    table = result.outcome.tables[0][2]
    assert len(table) == 8 and table.chance.tolist() == pytest.approx([1 / 6] * 8)
    assert ((table.accuracy >= 0) & (table.accuracy <= 1)).all()
    assert result.settings["network_accuracy"][0] > 0.2                # trained past chance (0.1)
