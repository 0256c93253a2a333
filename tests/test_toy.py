"""The toy experiment: the bound, the metric, the data generator, and a reduced run end to end."""

import math

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import run_cli

from toxmix.probe.toy.data import ChainSpec, chain_shares, optimal_loss, sample
from toxmix.probe.toy.metrics import entanglement, mean_ci, welch_bound
from toxmix.probe.toy.model import StackedTransformer, ToyModelConfig


def test_welch_bound_12_in_4():
    assert welch_bound(12, 4) == pytest.approx(math.sqrt(8 / 44))
    assert welch_bound(12, 4) == pytest.approx(0.42640143, abs=1e-8)
    assert welch_bound(3, 4) == 0.0


def test_entanglement_of_constructed_vectors():
    assert entanglement(np.eye(4)).tolist() == [0.0, 0.0, 0.0, 0.0]
    same = np.array([[1.0, 2.0, 0.0], [2.0, 4.0, 0.0], [-3.0, -6.0, 0.0]])
    np.testing.assert_allclose(entanglement(same), [1.0, 1.0, 1.0])
    mixed = np.array([[1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
    np.testing.assert_allclose(entanglement(mixed), [1 / math.sqrt(2)] * 3)


def test_generator_gives_requested_chain_shares_and_cycles():
    spec = ChainSpec()
    gen = torch.Generator().manual_seed(0)
    tokens, chains = sample(spec, 0.05, 200_000, 16, gen)
    shares = np.bincount(chains.numpy(), minlength=3) / len(chains)
    np.testing.assert_allclose(shares, chain_shares(spec, 0.05).numpy(), atol=0.003)
    assert torch.equal(tokens // spec.n_states, chains[:, None].expand_as(tokens))  # sequences stay in their chain
    step = (tokens[:, 1:] % 4 - tokens[:, :-1] % 4) % 4
    p_next = (step == 1).float().mean().item()
    assert p_next == pytest.approx(1 - spec.stay_noise + spec.stay_noise / spec.n_states, abs=0.002)
    assert optimal_loss(spec) == pytest.approx(-(0.925 * math.log(0.925) + 3 * 0.025 * math.log(0.025)))


def test_stacked_seeds_are_independent():
    cfg = ToyModelConfig()
    both = StackedTransformer(cfg, [3, 4])
    alone = StackedTransformer(cfg, [4])
    tokens = torch.randint(0, 12, (1, 5, 16))
    torch.testing.assert_close(both(tokens.expand(2, 5, 16))[1], alone(tokens)[0])


def test_mean_ci():
    mean, lo, hi = mean_ci(np.array([1.0, 2.0, 3.0]))
    assert mean == 2.0 and lo == pytest.approx(2 - 4.302653 / math.sqrt(3), abs=1e-5) and hi > 3


def test_reduced_run_writes_table_figure_and_summary(tmp_path, capsys):
    out = tmp_path / "toy"
    assert run_cli("toy", "--shares", "0.05,0.3", "--n-seeds", "3", "--steps", "40", "--batch", "16",
                   "--out", out) == 0
    df = pd.read_parquet(out / "results.parquet")
    assert len(df) == 2 * 3 * 12 and set(df.columns) >= {"E_probe", "E_means", "E_unembed", "chain_loss"}
    assert df.E_probe.between(0, 1).all()
    summary = (out / "SUMMARY.md").read_text()
    assert "Welch bound for N = 12 features in M = 4 dimensions: 0.4264" in summary
    assert '"steps": 40' in summary and "95% CI" in summary
    assert (out / "entanglement.png").read_bytes()[:4] == b"\x89PNG"
    assert run_cli("toy", "--shares", "0,0.5") == 2
    assert "strictly between 0 and 1" in capsys.readouterr().err
