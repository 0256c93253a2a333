"""Sequences from N cyclic Markov chains; chain 0's share of the data is the experiment's knob."""

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class ChainSpec:
    """N chains of K states each; state k of chain c is token c*K + k (N*K features in all)."""

    n_chains: int = 3
    n_states: int = 4
    stay_noise: float = 0.1  # chance of jumping to a random state of the same chain instead of the next one

    @property
    def vocab(self) -> int:
        return self.n_chains * self.n_states


def chain_shares(spec: ChainSpec, share: float) -> torch.Tensor:
    """Probability of each chain: chain 0 gets `share`, the others split the rest evenly."""
    rest = (1.0 - share) / (spec.n_chains - 1)
    return torch.tensor([share] + [rest] * (spec.n_chains - 1))


def sample(spec: ChainSpec, share: float, batch: int, length: int, generator: torch.Generator) -> tuple:
    """(tokens [batch, length], chain of each sequence [batch]) drawn from the chain mixture."""
    chains = torch.multinomial(chain_shares(spec, share), batch, replacement=True, generator=generator)
    k = spec.n_states
    state = torch.randint(0, k, (batch,), generator=generator)
    states = [state]
    for _ in range(length - 1):
        jump = torch.rand(batch, generator=generator) < spec.stay_noise
        random_state = torch.randint(0, k, (batch,), generator=generator)
        state = torch.where(jump, random_state, (state + 1) % k)
        states.append(state)
    tokens = chains[:, None] * k + torch.stack(states, dim=1)
    return tokens, chains


def optimal_loss(spec: ChainSpec) -> float:
    """The entropy rate of each chain (nats per token): the loss of a model that learned it perfectly."""
    p_next = 1 - spec.stay_noise + spec.stay_noise / spec.n_states
    p_other = spec.stay_noise / spec.n_states
    probs = torch.tensor([p_next] + [p_other] * (spec.n_states - 1))
    return float(-(probs * probs.log()).sum())
