"""Running the toy experiment: train all seeds of each share together, then measure entanglement per feature."""

import time
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression

from toxmix.core.errors import ToxmixError
from toxmix.probe.toy.data import ChainSpec, optimal_loss, sample
from toxmix.probe.toy.metrics import entanglement
from toxmix.probe.toy.model import StackedTransformer, ToyModelConfig

ESTIMATORS = ("probe", "means", "unembed")


@dataclass(frozen=True)
class ToyConfig:
    """Every setting of a toy run; the summary prints all of them."""

    shares: tuple[float, ...] = (0.01, 0.05, 0.1, 0.2, 0.33)
    n_seeds: int = 10
    steps: int = 4000
    batch: int = 64
    lr: float = 3e-3
    eval_sequences: int = 3000
    probe_c: float = 1.0
    chains: ChainSpec = field(default_factory=ChainSpec)
    model: ToyModelConfig = field(default_factory=ToyModelConfig)

    def __post_init__(self) -> None:
        if not self.shares or any(not (0 < s < 1) for s in self.shares):
            raise ToxmixError("--shares must be numbers strictly between 0 and 1")
        if self.n_seeds < 2 or self.steps < 1 or self.batch < 1:
            raise ToxmixError("--n-seeds must be at least 2 (for intervals); --steps and --batch positive")
        if not (self.lr > 0 and np.isfinite(self.lr)):
            raise ToxmixError(f"--lr {self.lr}: the learning rate must be a positive number")

    def to_dict(self) -> dict:
        return asdict(self)


def train_share(cfg: ToyConfig, share: float) -> StackedTransformer:
    """Train cfg.n_seeds models on data where chain 0 has `share`; seed s uses seed s everywhere."""
    torch.manual_seed(0)
    seeds = list(range(cfg.n_seeds))
    model = StackedTransformer(cfg.model, [1000 * s + 17 for s in seeds])
    # one data stream for the stack: seed s trains on rows s, S + s, 2S + s, ... of it
    gen = torch.Generator().manual_seed(int(share * 1e6) + 7919 * cfg.n_seeds)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    for _ in range(cfg.steps):
        tokens = sample(cfg.chains, share, cfg.batch * cfg.n_seeds, cfg.model.seq_len, gen)[0]
        tokens = tokens.reshape(cfg.batch, cfg.n_seeds, -1).transpose(0, 1)
        logits = model(tokens)
        loss = torch.nn.functional.cross_entropy(logits[:, :, :-1].reshape(-1, cfg.model.vocab),
                                                 tokens[:, :, 1:].reshape(-1), reduction="sum")
        opt.zero_grad(set_to_none=True)
        (loss / (cfg.batch * (cfg.model.seq_len - 1))).backward()
        opt.step()
    return model


def directions(model: StackedTransformer, cfg: ToyConfig, seed_index: int, resid: np.ndarray,
               last: np.ndarray) -> dict[str, np.ndarray]:
    """Feature directions [vocab, d_model] of one seed by each estimator."""
    vocab = cfg.model.vocab
    out = {}
    probes = []
    for i in range(vocab):
        clf = LogisticRegression(C=cfg.probe_c, max_iter=2000)
        clf.fit(resid, (last == i).astype(int))
        probes.append(clf.coef_[0])
    out["probe"] = np.stack(probes)
    mean = resid.mean(0)
    out["means"] = np.stack([resid[last == i].mean(0) - mean for i in range(vocab)])
    out["unembed"] = model.unembed[seed_index].detach().numpy().T
    return out


def measure(model: StackedTransformer, cfg: ToyConfig, share: float) -> list[dict]:
    """Rows (share, seed, feature): entanglement by each estimator, and the loss on the feature's chain."""
    spec, k = cfg.chains, cfg.chains.n_states
    gen = torch.Generator().manual_seed(424242)
    tokens, chains = sample(spec, 1.0 / spec.n_chains, cfg.eval_sequences, cfg.model.seq_len, gen)
    with torch.no_grad():
        batched = tokens[None].expand(cfg.n_seeds, *tokens.shape)
        resid = model.residual(batched)[:, :, -1].numpy()
        logits = model(batched)
        ce = torch.nn.functional.cross_entropy(logits[:, :, :-1].reshape(-1, cfg.model.vocab),
                                               batched[:, :, 1:].reshape(-1), reduction="none")
        ce = ce.reshape(cfg.n_seeds, -1, cfg.model.seq_len - 1).mean(-1).numpy()  # [S, B]
    last = tokens[:, -1].numpy()
    rows = []
    for s in range(cfg.n_seeds):
        ent = {name: entanglement(d) for name, d in directions(model, cfg, s, resid[s], last).items()}
        chain_loss = [float(ce[s][chains.numpy() == c].mean()) for c in range(spec.n_chains)]
        for i in range(cfg.model.vocab):
            rows.append({"share": share, "seed": s, "feature": i, "chain": i // k, "undersampled": i // k == 0,
                         **{f"E_{name}": float(ent[name][i]) for name in ESTIMATORS},
                         "chain_loss": chain_loss[i // k], "optimal_loss": optimal_loss(spec)})
    return rows


def run_share(cfg: ToyConfig, share: float) -> tuple[list[dict], float]:
    """Train and measure one share in this process (one thread: the models are too small to split)."""
    torch.set_num_threads(1)
    start = time.perf_counter()
    model = train_share(cfg, share)
    seconds = time.perf_counter() - start
    return measure(model, cfg, share), seconds


def run_toy(cfg: ToyConfig, workers: int = 1, on_share=None) -> tuple[list[dict], dict]:
    """All shares, `workers` at a time in separate processes: per-feature rows, and training seconds per share."""
    rows, timing = [], {}
    if workers <= 1:
        results = (run_share(cfg, share) for share in cfg.shares)
    else:
        import multiprocessing as mp
        from functools import partial

        pool = mp.get_context("forkserver").Pool(min(workers, len(cfg.shares)))
        results = pool.imap(partial(run_share, cfg), cfg.shares)
    for share, (share_rows, seconds) in zip(cfg.shares, results, strict=True):
        rows += share_rows
        timing[share] = seconds
        if on_share is not None:
            on_share(share)
    if workers > 1:
        pool.close()
        pool.join()
    return rows, timing
