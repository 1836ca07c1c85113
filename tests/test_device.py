"""compare(device=...): where the work runs, and the same values wherever it runs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import replens as rl

MEASURES = ["linear_cka", "debiased_linear_cka", "cca_mean_rho", "pwcca"]


def _layers(n: int = 120, widths=(6, 9)):
    rng = np.random.default_rng(0)
    return {f"l{p}": rng.standard_normal((n, p)) for p in widths}


def test_cpu_device_gives_the_default_result_for_numpy_and_torch():
    layers = _layers()
    expected = rl.compare(layers, measures=MEASURES).values
    np.testing.assert_allclose(rl.compare(layers, measures=MEASURES, device="cpu").values, expected, atol=1e-12)
    tensors = {name: torch.from_numpy(x) for name, x in layers.items()}
    np.testing.assert_allclose(rl.compare(tensors, measures=MEASURES, device="cpu").values, expected, atol=1e-12)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message where there is no CUDA device")
def test_an_unavailable_device_is_refused_before_any_work():
    with pytest.raises(rl.UnknownOptionError, match=r"device='cuda' is not available here .*use device=None"):
        rl.compare(_layers(), measures=MEASURES, device="cuda")


@pytest.mark.cuda
@pytest.mark.filterwarnings("ignore::replens.UninformativeWarning")
@pytest.mark.parametrize("n", [120, 20], ids=["feature space", "gram space"])
def test_numpy_inputs_moved_to_cuda_give_the_host_values(n):
    layers = _layers(n, widths=(6, 40))
    expected = rl.compare(layers, measures=MEASURES).values
    on_gpu = rl.compare(layers, measures=MEASURES, device="cuda")
    np.testing.assert_allclose(on_gpu.values, expected, rtol=1e-10, atol=1e-12)
