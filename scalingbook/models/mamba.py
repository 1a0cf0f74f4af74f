"""A Mamba language model (Gu & Dao 2023, "Mamba: Linear-Time Sequence Modeling with Selective
State Spaces"), small enough to train on a CPU, readable top to bottom.

    tokens -> embedding -> n_layers x [ x + MambaBlock(RMSNorm(x)) ] -> RMSNorm -> tied head

A Mamba block, for an input of width d_model (d_inner = expand * d_model channels inside):

    in_proj      x -> (u, z), each d_inner wide
    conv1d       u -> causal depthwise convolution over time (d_conv taps), then SiLU
    x_proj       u -> (dt, B, C): a dt_rank-wide dt, and B and C with d_state entries each
    dt_proj      dt -> delta, d_inner wide (its bias is the scan's delta_bias, softplus inside)
    scan         y = selective_scan(u, delta, A, B, C, D, z):
                 x_t = exp(delta_t A) x_{t-1} + delta_t B_t u_t, y_t = <x_t, C_t> + D u_t,
                 gated by SiLU(z)
    out_proj     y -> d_model

"Selective" means delta, B and C depend on the input at every step; ``selective=False`` in the
config makes them learned constants instead (a linear time-invariant SSM, S4D-like), the
switch the chapter's synthetic tasks flip. A = -exp(A_log) is kept negative so every state decays,
initialised S4D-real: A[:, n] = -(n + 1).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .._validate import one_of, positive_int, positive_scalar
from ..kernels import selective_scan
from ..kernels.scan import BACKENDS

__all__ = [
    "MambaConfig", "RMSNorm", "MambaBlock", "MambaLM", "mamba_param_count",
    "mamba_flops_per_token",
]


@dataclass(frozen=True)
class MambaConfig:
    """Sizes and switches of a Mamba language model.

    ``dt_rank=None`` means ceil(d_model / 16), the paper's choice. ``dt_min``/``dt_max`` bound the
    initial step sizes softplus(dt_bias), drawn log-uniformly. ``scan_backend`` is passed to
    :func:`scalingbook.kernels.selective_scan`.
    """

    vocab_size: int
    d_model: int = 64
    n_layers: int = 2
    d_state: int = 16
    expand: int = 2
    d_conv: int = 4
    dt_rank: int | None = None
    dt_min: float = 1e-3
    dt_max: float = 1e-1
    dt_init_floor: float = 1e-4
    conv_bias: bool = True
    proj_bias: bool = False
    norm_eps: float = 1e-5
    selective: bool = True
    scan_backend: str = "auto"

    def __post_init__(self):
        for name in ("vocab_size", "d_model", "n_layers", "d_state", "expand", "d_conv"):
            positive_int(name, getattr(self, name))
        if self.dt_rank is not None:
            positive_int("dt_rank", self.dt_rank)
        for name in ("dt_min", "dt_max", "dt_init_floor", "norm_eps"):
            positive_scalar(name, getattr(self, name))
        if self.dt_min > self.dt_max:
            raise ValueError(f"dt_min must not exceed dt_max, got {self.dt_min} > {self.dt_max}")
        one_of("scan_backend", self.scan_backend, BACKENDS)

    @property
    def d_inner(self) -> int:
        return self.expand * self.d_model

    @property
    def rank(self) -> int:
        """dt_rank as used: the given one, else ceil(d_model / 16)."""
        return self.dt_rank if self.dt_rank is not None else math.ceil(self.d_model / 16)


class RMSNorm(nn.Module):
    """x / sqrt(mean(x^2) + eps) * weight over the last dimension (no mean subtraction, no bias)."""

    def __init__(self, d: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def _inverse_softplus(y: torch.Tensor) -> torch.Tensor:
    # softplus(x) = log(1 + e^x) = y  <=>  x = y + log(1 - e^-y), written with expm1 for small y.
    return y + torch.log(-torch.expm1(-y))


class MambaBlock(nn.Module):
    """One Mamba mixer: (batch, L, d_model) -> (batch, L, d_model), causal in L."""

    def __init__(self, cfg: MambaConfig):
        super().__init__()
        self.cfg = cfg
        d_inner, d_state, rank = cfg.d_inner, cfg.d_state, cfg.rank

        self.in_proj = nn.Linear(cfg.d_model, 2 * d_inner, bias=cfg.proj_bias)
        # Depthwise (groups = channels); made causal in forward by padding on the left only.
        self.conv1d = nn.Conv1d(d_inner, d_inner, cfg.d_conv, groups=d_inner, bias=cfg.conv_bias)

        # Initial step sizes, log-uniform in [dt_min, dt_max]; stored through softplus's inverse
        # because the scan applies softplus(delta + dt_bias).
        dt = torch.exp(torch.rand(d_inner) * (math.log(cfg.dt_max) - math.log(cfg.dt_min))
                       + math.log(cfg.dt_min)).clamp(min=cfg.dt_init_floor)
        if cfg.selective:
            self.x_proj = nn.Linear(d_inner, rank + 2 * d_state, bias=False)
            self.dt_proj = nn.Linear(rank, d_inner, bias=True)
            # Uniform in +-1/sqrt(dt_rank), the paper's code's "random" init: small next to the
            # bias, so delta starts near softplus(bias) = dt.
            nn.init.uniform_(self.dt_proj.weight, -rank ** -0.5, rank ** -0.5)
            with torch.no_grad():
                self.dt_proj.bias.copy_(_inverse_softplus(dt))
        else:
            # Time-invariant: delta, B and C are parameters, the same at every step.
            self.dt_bias = nn.Parameter(_inverse_softplus(dt))
            self.B = nn.Parameter(torch.randn(d_inner, d_state) / math.sqrt(d_state))
            self.C = nn.Parameter(torch.randn(d_inner, d_state) / math.sqrt(d_state))

        # S4D-real: A[:, n] = -(n + 1) for every channel; learned as log(-A) so A stays negative.
        A = torch.arange(1, d_state + 1, dtype=torch.float32).repeat(d_inner, 1)
        self.A_log = nn.Parameter(torch.log(A))
        self.D = nn.Parameter(torch.ones(d_inner))  # the skip connection u -> y
        self.out_proj = nn.Linear(d_inner, cfg.d_model, bias=cfg.proj_bias)

    def forward(self, x):
        """x: (batch, L, d_model) -> (batch, L, d_model)."""
        cfg = self.cfg
        u, z = self.in_proj(x).chunk(2, dim=-1)  # (batch, L, d_inner) each
        u = u.transpose(1, 2)  # the scan and the conv want (batch, channels, L)
        u = F.silu(self.conv1d(F.pad(u, (cfg.d_conv - 1, 0))))  # step t sees t-d_conv+1 .. t
        A = -torch.exp(self.A_log.float())  # (d_inner, d_state)

        if cfg.selective:
            dt, B, C = self.x_proj(u.transpose(1, 2)).split([cfg.rank, cfg.d_state, cfg.d_state],
                                                            dim=-1)
            delta = (dt @ self.dt_proj.weight.t()).transpose(1, 2)  # (batch, d_inner, L)
            B, C = B.transpose(1, 2), C.transpose(1, 2)  # (batch, d_state, L)
            delta_bias = self.dt_proj.bias.float()
        else:
            delta = torch.zeros_like(u)  # softplus(0 + dt_bias): one step size per channel
            B, C, delta_bias = self.B, self.C, self.dt_bias.float()

        y = selective_scan(u, delta, A, B, C, D=self.D.float(), z=z.transpose(1, 2),
                           delta_bias=delta_bias, delta_softplus=True, backend=cfg.scan_backend)
        return self.out_proj(y.transpose(1, 2))


class MambaLM(nn.Module):
    """Embedding, ``n_layers`` pre-norm residual Mamba blocks, final RMSNorm, tied output head."""

    def __init__(self, cfg: MambaConfig, *, seed: int | None = None):
        super().__init__()
        self.cfg = cfg
        if seed is None:
            self._build(cfg)
        else:  # deterministic by seed, without touching the caller's random state
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                self._build(cfg)

    def _build(self, cfg: MambaConfig):
        self.embedding = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.norms = nn.ModuleList(RMSNorm(cfg.d_model, cfg.norm_eps) for _ in range(cfg.n_layers))
        self.blocks = nn.ModuleList(MambaBlock(cfg) for _ in range(cfg.n_layers))
        self.norm_f = RMSNorm(cfg.d_model, cfg.norm_eps)
        nn.init.normal_(self.embedding.weight, std=0.02)
        # Each block adds to the residual stream; shrink what it adds by sqrt(n_layers) so the
        # stream's variance at init does not grow with depth (GPT-2's rule, used by Mamba too).
        with torch.no_grad():
            for block in self.blocks:
                block.out_proj.weight.div_(math.sqrt(cfg.n_layers))

    def forward(self, idx, targets=None):
        """idx: (batch, L) token ids. Returns (logits (batch, L, vocab_size), loss or None), the
        loss being mean cross-entropy in nats against ``targets`` (batch, L) when given."""
        h = self.embedding(idx)
        for norm, block in zip(self.norms, self.blocks):
            h = h + block(norm(h))
        logits = F.linear(self.norm_f(h), self.embedding.weight)  # tied: the head is the embedding
        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.flatten(0, 1), targets.flatten())
        return logits, loss

    def loss(self, tokens: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Mean cross-entropy in nats of ``targets`` (batch, L) ids given ``tokens`` (batch, L),
        the interface the training loop uses for every model kind."""
        return self(tokens, targets)[1]


def mamba_param_count(cfg: MambaConfig, *, include_embedding: bool = True) -> int:
    """Number of parameters of ``MambaLM(cfg)``, by formula (the tied head adds none).

    Per block, with E = d_inner, N = d_state, R = dt_rank, K = d_conv:
    in_proj d_model*2E, conv E*K (+E bias), x_proj E*(R + 2N), dt_proj R*E + E, A_log E*N, D E,
    out_proj E*d_model, and its RMSNorm d_model (+2E + d_model with proj_bias).
    Time-invariant blocks replace x_proj and dt_proj by dt_bias E and B, C E*N each.
    Plus the final RMSNorm d_model and the embedding vocab_size*d_model.
    """
    d, E, N, R, K = cfg.d_model, cfg.d_inner, cfg.d_state, cfg.rank, cfg.d_conv
    block = d * 2 * E + E * K + E * N + E + E * d + d
    block += E if cfg.conv_bias else 0
    block += (2 * E + d) if cfg.proj_bias else 0
    block += E * (R + 2 * N) + R * E + E if cfg.selective else E + 2 * E * N
    total = cfg.n_layers * block + d
    return total + (cfg.vocab_size * d if include_embedding else 0)


def mamba_flops_per_token(cfg: MambaConfig, *, include_head: bool = True) -> dict[str, int]:
    """Forward FLOPs per token of ``MambaLM(cfg)``, by part; a training step costs about 3x.

    A multiply-add counts 2 FLOPs, any other elementwise operation (exp and SiLU included) 1.
    Per block, with E = d_inner, N = d_state, R = dt_rank, K = d_conv:

    - ``projections``: 2 * (d_model*2E + E*(R + 2N) + R*E + E*d_model), the four matmuls
      (time-invariant blocks have only in_proj and out_proj);
    - ``conv``: 2 * E * K;
    - ``scan``: 7 * E * N, for delta*A, exp, (delta u)*B, a*x + b (2), x*C and the sum over N;
    - ``elementwise``: 7 * E (softplus, delta*u, the D skip (2), SiLU of z, the gate, the SiLU
      after the conv) and 5 * d_model (RMSNorm 4, residual add 1) per block, 4 * d_model for the
      final RMSNorm;
    - ``head``: 2 * d_model * vocab_size for the output logits (``include_head``).

    The embedding lookup is free. Returns the parts and their ``total``.
    """
    d, E, N, R, K = cfg.d_model, cfg.d_inner, cfg.d_state, cfg.rank, cfg.d_conv
    matmul_params = d * 2 * E + E * d + ((E * (R + 2 * N) + R * E) if cfg.selective else 0)
    parts = {
        "projections": cfg.n_layers * 2 * matmul_params,
        "conv": cfg.n_layers * 2 * E * K,
        "scan": cfg.n_layers * 7 * E * N,
        "elementwise": cfg.n_layers * (7 * E + 5 * d) + 4 * d,
        "head": 2 * d * cfg.vocab_size if include_head else 0,
    }
    parts["total"] = sum(parts.values())
    return parts
