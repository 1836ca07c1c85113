"""The MLP-pair demo (replens demo pair): end to end through the CLI, and piece by piece."""

from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")

from click.testing import CliRunner  # noqa: E402

from replens.cli import main  # noqa: E402
from replens.demo.compare import cka_matrix, format_matrix, pair_measures  # noqa: E402
from replens.zoo import build_mlp, hidden_activations, load_digits_split, train_mlp  # noqa: E402

torch.set_num_threads(1)

WIDTHS = (64, 64, 48, 32)
EPOCHS = 5  # the default is 20; 5 already gives > 90% held-out accuracy
NUM = r"-?\d+\.\d+"


@pytest.fixture(scope="module")
def split():
    return load_digits_split()


@pytest.fixture(scope="module")
def nets(split):
    return [train_mlp(split, seed=s, hidden_widths=WIDTHS, epochs=EPOCHS) for s in (0, 1)]


def pair_demo(*argv):
    """`replens demo pair ARGV...` through click's runner."""
    return CliRunner().invoke(main, ["demo", "pair", *argv])


@pytest.fixture(scope="module")
def demo_output():
    result = pair_demo("--epochs", str(EPOCHS), "--seed", "0")
    return result.exit_code, result.stdout, result.stderr


# ---------------------------------------------------------------- end to end through the CLI


def test_main_exits_zero_and_logs_to_stderr(demo_output):
    code, out, err = demo_output
    assert code == 0
    assert "trained net A" in err and "trained net A" not in out
    assert "Held-out accuracy" in out


def test_main_networks_are_accurate(demo_output):
    _, out, _ = demo_output
    accs = [float(a) for a in re.findall(rf"net [AB] \(seed \d+\): ({NUM})", out)]
    assert len(accs) == 2
    assert all(a > 0.85 for a in accs), accs


def _printed_cka_matrix(out: str) -> np.ndarray:
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Linear CKA between hidden layers"))
    header = lines[start + 1]
    n_cols = len(re.findall(r"B\.h\d+", header))
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("A.h"):
            break
        rows.append([float(v) for v in re.findall(NUM, line)])
    assert all(len(r) == n_cols for r in rows), rows
    return np.array(rows)


def test_main_prints_layer_by_layer_cka_matrix(demo_output):
    _, out, _ = demo_output
    m = _printed_cka_matrix(out)
    assert m.shape == (len(WIDTHS), len(WIDTHS))
    assert np.all((m >= 0.0) & (m <= 1.0))
    k = m.shape[0]
    diagonal = np.trace(m) / k
    off_diagonal = (m.sum() - np.trace(m)) / (k * k - k)
    assert diagonal > off_diagonal, m


def test_main_prints_every_measure_for_last_layers(demo_output):
    _, out, _ = demo_output
    tail = out.split("Every measure between the last hidden layers")[1]
    values = {}
    for line in tail.splitlines()[1:]:
        label, value = line.rsplit(None, 1)
        values[label.strip()] = float(value)
    labels = list(values)
    expected = ["linear CKA (biased", "debiased", "RBF CKA, sigma = 0.5", "CCA mean rho", "CCA R^2",
                "SVCCA mean rho (99% variance", "pwcca(A, B)", "pwcca(B, A)", "A predicted from B",
                "B predicted from A", "linear HSIC"]
    assert len(labels) == len(expected)
    for fragment, label in zip(expected, labels):
        assert fragment in label, (fragment, label)
    for label, value in values.items():
        if "HSIC," in label:
            assert value >= 0.0
        elif "debiased" in label:
            assert -0.05 <= value <= 1.0
        else:
            assert 0.0 <= value <= 1.0, (label, value)


def test_help_describes_options():
    command = "from replens.cli import main; main(prog_name='replens')"
    proc = subprocess.run([sys.executable, "-c", command, "demo", "pair", "--help"], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0
    for option in ("--seed", "--epochs", "--hidden-widths", "--threads"):
        assert option in proc.stdout


@pytest.mark.parametrize("argv", [["--epochs", "0"], ["--hidden-widths", "64,x"], ["--test-fraction", "1.5"]])
def test_bad_options_exit_2(argv):
    result = pair_demo(*argv)
    assert result.exit_code == 2
    assert "error" in result.stderr


def test_dead_layer_reports_error_instead_of_traceback(monkeypatch):
    import replens.demo.pair as pair

    def constant_activations(model, x):
        return [("h1", np.zeros((len(x), 4)))]

    monkeypatch.setattr(pair, "hidden_activations", constant_activations)
    result = pair_demo("--epochs", "1", "--hidden-widths", "4")
    assert result.exit_code == 1
    assert "DegenerateInputError" in result.stderr


# ---------------------------------------------------------------- the pieces


def test_split_is_deterministic_and_standardised(split):
    again = load_digits_split()
    np.testing.assert_array_equal(split.x_test, again.x_test)
    np.testing.assert_array_equal(split.y_train, again.y_train)
    assert split.x_train.shape[1] == split.n_features == 64 and split.n_classes == 10
    assert split.x_train.shape[0] + split.x_test.shape[0] == 1797
    np.testing.assert_allclose(split.x_train.mean(axis=0), 0.0, atol=1e-5)
    std = split.x_train.std(axis=0)
    assert np.all(np.isclose(std, 1.0, atol=1e-4) | (std == 0.0))


def test_train_returns_model_and_accuracy(nets):
    for net in nets:
        assert isinstance(net.model, torch.nn.Module)
        assert net.accuracy > 0.85
        assert net.hidden_widths == WIDTHS


def test_training_is_deterministic_and_leaves_global_rng_alone(split, nets):
    torch.manual_seed(123)
    before = torch.rand(3)
    torch.manual_seed(123)
    again = train_mlp(split, seed=0, hidden_widths=WIDTHS, epochs=EPOCHS)
    after = torch.rand(3)
    torch.testing.assert_close(before, after)
    for p, q in zip(nets[0].model.parameters(), again.model.parameters()):
        assert torch.equal(p, q)
    assert not all(torch.equal(p, q) for p, q in zip(nets[0].model.parameters(), nets[1].model.parameters()))


def test_hidden_activations_are_named_float64_post_relu(split, nets):
    acts = hidden_activations(nets[0].model, split.x_test)
    assert [name for name, _ in acts] == [f"h{k}" for k in range(1, len(WIDTHS) + 1)]
    for (_, a), width in zip(acts, WIDTHS):
        assert a.dtype == np.float64 and a.shape == (split.x_test.shape[0], width)
        assert a.min() >= 0.0  # post-ReLU
    # the last hidden layer times the output layer reproduces the logits
    model = nets[0].model
    with torch.inference_mode():
        logits = model(torch.as_tensor(split.x_test)).double().numpy()
        w = model.out.weight.double().numpy()
        b = model.out.bias.double().numpy()
    np.testing.assert_allclose(acts[-1][1] @ w.T + b, logits, rtol=1e-4, atol=1e-4)


def test_cka_matrix_and_measures(split, nets):
    a, b = (hidden_activations(n.model, split.x_test) for n in nets)
    m = cka_matrix(a, b)
    assert m.shape == (len(a), len(b))
    np.testing.assert_allclose(np.diag(cka_matrix(a, a)), 1.0, atol=1e-10)
    measures = pair_measures(a[-1][1], b[-1][1])
    assert len({mm.key for mm in measures}) == len(measures) == 11
    assert all(mm.in_bounds() for mm in measures), [(mm.key, mm.value) for mm in measures]


def test_format_matrix_is_aligned():
    text = format_matrix(np.array([[1.0, 0.25], [0.5, 0.125]]), ["A.h1 (64)", "A.h2"], ["B.h1", "B.h2 (32)"])
    lines = text.splitlines()
    assert len({len(line) for line in lines}) == 1
    assert lines[1].split() == ["A.h1", "(64)", "1.000", "0.250"]


def test_build_mlp_names_layers():
    model = build_mlp(64, (8, 4), 10)
    assert [n for n, _ in model.named_children()] == ["fc1", "h1", "fc2", "h2", "out"]
    with pytest.raises(ValueError):
        build_mlp(64, (), 10)


def test_importing_replens_does_not_import_demo_or_torch():
    code = "import sys, replens; print(any(m.startswith(('replens.demo', 'torch', 'sklearn')) for m in sys.modules))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.stdout.strip() == "False", proc.stderr


def test_main_saves_the_heatmap_when_asked(tmp_path):
    path = tmp_path / "cka.png"
    code = pair_demo("--epochs", "2", "--plot", str(path), "-q").exit_code
    assert code == 0
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
