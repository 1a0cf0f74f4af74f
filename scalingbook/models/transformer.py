"""A decoder-only transformer whose variants are switches in its config, readable top to bottom.

    tokens -> embedding -> n_layers x [ x + Attention(norm(x)) ; x + MLP(norm(x)) ] -> norm -> head

Attention, for an input x of width d_model split into n_heads heads of head_dim = d_model/n_heads:

    q_proj       x -> (q, gate scores): d_model columns for q, plus gate_width extra columns
    k_proj       x -> k, d_model wide
    v_proj       x -> v, d_model wide
    qkv_conv     q, k, v each -> causal depthwise convolution along the sequence (Primer)
    RoPE         q, k rotated by their positions (no learned position parameters)
    SDPA         softmax(q k^T / sqrt(head_dim), causal) v, per head
    gate         each head's output times sigmoid(gate scores) (Qiu et al. 2025)
    o_proj       concatenated heads -> d_model

MLP: ``up_proj`` d_model -> d_ff, activation, ``down_proj`` d_ff -> d_model; the GLU variants
add ``glu_proj`` d_model -> d_ff and compute act(up_proj x) * glu_proj x before ``down_proj``.

The switches (all fields of :class:`TransformerConfig`):

- ``activation``: "gelu" (exact erf form), "relu", "relu2" (squared ReLU, So et al. 2021,
  "Primer"), "swiglu" (SiLU-gated) or "geglu" (GELU-gated) (Shazeer 2020, "GLU Variants Improve
  Transformer").
- ``attention_gate``: "none", "headwise" (one sigmoid per head and token) or "elementwise" (one
  per channel and token), from Qiu et al. 2025, "Gated Attention for Large Language Models".
  The gate scores are a linear function of the layer's (normed) input, computed as extra output
  columns of the query projection: n_heads of them for headwise, d_model for elementwise.
- ``qkv_conv``: kernel size of Primer's depthwise convolution over time, applied separately to
  Q, K and V after their projections, causal (step t sees t - qkv_conv + 1 .. t); 0 turns it off.
- ``rope_base``, ``rope_scaling``: rotary position embedding (Su et al. 2021, "RoFormer") with
  frequencies rope_base^(-2i/head_dim), and linear position interpolation (Chen et al. 2023):
  position p is rotated as if it were p / rope_scaling.
- ``norm``: "layernorm" or "rmsnorm", applied before each sublayer (pre-norm) and at the end.
- ``tie_embeddings``: the output head reuses the token embedding matrix.
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .._validate import nonnegative_scalar, one_of, positive_int, positive_scalar
from .mamba import RMSNorm

__all__ = [
    "ACTIVATIONS",
    "ATTENTION_GATES",
    "NORMS",
    "Attention",
    "CausalDepthwiseConv",
    "FeedForward",
    "Transformer",
    "TransformerBlock",
    "TransformerConfig",
    "apply_rope",
    "transformer_flops_per_token",
    "transformer_param_count",
]

ACTIVATIONS = ("gelu", "relu", "relu2", "swiglu", "geglu")
GLU_ACTIVATIONS = ("swiglu", "geglu")
ATTENTION_GATES = ("none", "headwise", "elementwise")
NORMS = ("layernorm", "rmsnorm")


@dataclass(frozen=True)
class TransformerConfig:
    """Sizes and switches of a decoder-only transformer; invalid values raise ``ValueError``.

    Parameters
    ----------
    vocab_size : int
        Number of token ids.
    d_model : int
        Width of the residual stream.
    n_layers : int
        Number of blocks (one attention and one MLP sublayer each).
    n_heads : int
        Attention heads; must divide ``d_model``, and the head dimension d_model / n_heads must
        be even (RoPE rotates pairs of channels).
    d_ff : int or None
        Hidden width of the MLP. ``None`` means 4 * d_model, or for the GLU variants
        8/3 * d_model rounded to the nearest multiple of 8 (at least 8): the gated MLP has three
        d_model x d_ff matrices instead of two, and 8/3 keeps its parameters near the 8 * d_model^2
        of the plain one (exactly when d_model is a multiple of 3; LLaMA rounds up to a multiple of
        256 instead).
        The width in use is :attr:`ff_width`.
    context : int
        Longest sequence, in tokens, that :class:`Transformer` accepts.
    activation : {"gelu", "relu", "relu2", "swiglu", "geglu"}
        MLP nonlinearity; the last two are gated (GLU) MLPs with two input projections.
    attention_gate : {"none", "headwise", "elementwise"}
        Sigmoid gate on each head's attention output before ``o_proj`` (see the module docstring).
    qkv_conv : int
        Kernel size (taps) of the causal depthwise convolution on Q, K and V; 0 is off.
    rope_base : float
        RoPE frequency base (10000, as in RoFormer and LLaMA).
    rope_scaling : float
        Linear position-interpolation factor; positions are divided by it (1 = plain RoPE).
    tie_embeddings : bool
        Whether the output head is the transposed token embedding.
    norm : {"layernorm", "rmsnorm"}
        Normalization before each sublayer and before the head.
    bias : bool
        Biases in every Linear and convolution of the blocks, and the LayerNorm shift (the head
        never has one). GPT-2 used True; most recent models use False.
    dropout : float
        Dropout probability on attention weights and on each sublayer's output, in [0, 1); active
        only in training mode. Default 0.
    norm_eps : float
        Epsilon of the normalization layers.
    init_std : float
        Standard deviation of the normal initialization (see :class:`Transformer`).
    """

    vocab_size: int
    d_model: int = 64
    n_layers: int = 2
    n_heads: int = 4
    d_ff: int | None = None
    context: int = 256
    activation: str = "gelu"
    attention_gate: str = "none"
    qkv_conv: int = 0
    rope_base: float = 10000.0
    rope_scaling: float = 1.0
    tie_embeddings: bool = True
    norm: str = "layernorm"
    bias: bool = False
    dropout: float = 0.0
    norm_eps: float = 1e-5
    init_std: float = 0.02

    def __post_init__(self):
        for name in ("vocab_size", "d_model", "n_layers", "n_heads", "context"):
            positive_int(name, getattr(self, name))
        if self.d_ff is not None:
            positive_int("d_ff", self.d_ff)
        positive_int("qkv_conv", self.qkv_conv, minimum=0)
        if self.d_model % self.n_heads:
            raise ValueError(f"n_heads must divide d_model, got n_heads={self.n_heads} and "
                             f"d_model={self.d_model}")
        if self.head_dim % 2:
            raise ValueError(f"n_heads must leave an even head dimension for RoPE, got "
                             f"d_model / n_heads = {self.d_model} / {self.n_heads} = "
                             f"{self.head_dim}")
        one_of("activation", self.activation, ACTIVATIONS)
        one_of("attention_gate", self.attention_gate, ATTENTION_GATES)
        one_of("norm", self.norm, NORMS)
        for name in ("rope_base", "rope_scaling", "norm_eps", "init_std"):
            positive_scalar(name, getattr(self, name))
        if nonnegative_scalar("dropout", self.dropout) >= 1:
            raise ValueError(f"dropout must be below 1, got {self.dropout!r}")
        for name in ("tie_embeddings", "bias"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be True or False, got {getattr(self, name)!r}")

    @property
    def head_dim(self) -> int:
        """Channels per head, d_model / n_heads."""
        return self.d_model // self.n_heads

    @property
    def is_glu(self) -> bool:
        """Whether the MLP is gated (two input projections)."""
        return self.activation in GLU_ACTIVATIONS

    @property
    def ff_width(self) -> int:
        """d_ff as used: given, else 4 * d_model, or 8/3 * d_model to a multiple of 8 for GLU."""
        if self.d_ff is not None:
            return self.d_ff
        if self.is_glu:
            return max(8, 8 * round(8 * self.d_model / 3 / 8))
        return 4 * self.d_model

    @property
    def gate_width(self) -> int:
        """Extra output columns of ``q_proj`` for the attention gate: 0, n_heads or d_model."""
        return {"none": 0, "headwise": self.n_heads, "elementwise": self.d_model}[
            self.attention_gate]


# --- pieces ---------------------------------------------------------------------------------------


class CausalDepthwiseConv(nn.Module):
    """Per-channel convolution along the sequence: (batch, L, channels) -> (batch, L, channels).

    y[t, c] = sum_j weight[c, 0, j] * x[t - kernel + 1 + j, c] (+ bias[c]), with x = 0 before the
    start, so step t sees only steps t - kernel + 1 .. t. ``conv.weight`` is (channels, 1, kernel).
    """

    def __init__(self, channels: int, kernel: int, bias: bool = False):
        super().__init__()
        self.kernel = kernel
        self.conv = nn.Conv1d(channels, channels, kernel, groups=channels, bias=bias)

    def forward(self, x):
        x = F.pad(x.transpose(1, 2), (self.kernel - 1, 0))  # pad the past only
        # contiguous: the fused SDPA kernels need unit stride in the channels (else: math path)
        return self.conv(x).transpose(1, 2).contiguous()


def apply_rope(x: torch.Tensor, positions: torch.Tensor, *, base: float = 10000.0,
               scaling: float = 1.0) -> torch.Tensor:
    """Rotate ``x`` (..., L, head_dim) by its ``positions`` (L,), which may be fractional.

    Channel i and channel i + head_dim/2 form a pair (the GPT-NeoX / LLaMA layout) rotated by the
    angle (position / scaling) * base^(-2i / head_dim). A dot product of a rotated query at
    position m and a rotated key at position n depends on m - n only. Computed in float32 and
    returned in ``x``'s dtype.
    """
    half = x.shape[-1] // 2
    inv_freq = base ** (-torch.arange(half, dtype=torch.float32, device=x.device) / half)
    angles = (positions.to(torch.float32) / scaling)[:, None] * inv_freq  # (L, half) radians
    cos, sin = angles.cos(), angles.sin()
    x1, x2 = x.float()[..., :half], x.float()[..., half:]
    return torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1).to(x.dtype)


class Attention(nn.Module):
    """Causal multi-head self-attention with RoPE, an optional gate and an optional QKV conv.

    (batch, L, d_model) -> (batch, L, d_model). ``q_proj`` has d_model + gate_width outputs.
    """

    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        self.cfg = cfg
        d = cfg.d_model
        self.q_proj = nn.Linear(d, d + cfg.gate_width, bias=cfg.bias)
        self.k_proj = nn.Linear(d, d, bias=cfg.bias)
        self.v_proj = nn.Linear(d, d, bias=cfg.bias)
        if cfg.qkv_conv:
            self.q_conv = CausalDepthwiseConv(d, cfg.qkv_conv, cfg.bias)
            self.k_conv = CausalDepthwiseConv(d, cfg.qkv_conv, cfg.bias)
            self.v_conv = CausalDepthwiseConv(d, cfg.qkv_conv, cfg.bias)
        self.o_proj = nn.Linear(d, d, bias=cfg.bias)

    def forward(self, x):
        cfg = self.cfg
        batch, length, d = x.shape
        heads, hd = cfg.n_heads, cfg.head_dim
        q, gate = self.q_proj(x).split([d, cfg.gate_width], dim=-1)  # gate (batch, L, gate_width)
        k, v = self.k_proj(x), self.v_proj(x)
        if cfg.qkv_conv:  # on the projections, before heads are split and positions applied
            q, k, v = self.q_conv(q), self.k_conv(k), self.v_conv(v)
        q, k, v = (t.view(batch, length, heads, hd).transpose(1, 2) for t in (q, k, v))
        positions = torch.arange(length, device=x.device)
        q = apply_rope(q, positions, base=cfg.rope_base, scaling=cfg.rope_scaling)
        k = apply_rope(k, positions, base=cfg.rope_base, scaling=cfg.rope_scaling)
        y = F.scaled_dot_product_attention(  # (batch, heads, L, head_dim)
            q, k, v, is_causal=True, dropout_p=cfg.dropout if self.training else 0.0)
        if cfg.attention_gate == "headwise":  # one gate per head and token
            y = y * torch.sigmoid(gate).transpose(1, 2).unsqueeze(-1)
        elif cfg.attention_gate == "elementwise":  # one gate per channel and token
            y = y * torch.sigmoid(gate).view(batch, length, heads, hd).transpose(1, 2)
        return self.o_proj(y.transpose(1, 2).reshape(batch, length, d))


class FeedForward(nn.Module):
    """The MLP sublayer, (batch, L, d_model) -> (batch, L, d_model)."""

    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        self.activation = cfg.activation
        f = cfg.ff_width
        self.up_proj = nn.Linear(cfg.d_model, f, bias=cfg.bias)
        if cfg.is_glu:  # the linear branch that multiplies the activated one
            self.glu_proj = nn.Linear(cfg.d_model, f, bias=cfg.bias)
        self.down_proj = nn.Linear(f, cfg.d_model, bias=cfg.bias)

    def forward(self, x):
        h = self.up_proj(x)
        if self.activation == "gelu":
            h = F.gelu(h)
        elif self.activation == "relu":
            h = F.relu(h)
        elif self.activation == "relu2":
            h = F.relu(h).square()
        elif self.activation == "swiglu":
            h = F.silu(h) * self.glu_proj(x)
        else:  # geglu
            h = F.gelu(h) * self.glu_proj(x)
        return self.down_proj(h)


def _norm(cfg: TransformerConfig) -> nn.Module:
    if cfg.norm == "rmsnorm":
        return RMSNorm(cfg.d_model, cfg.norm_eps)
    return nn.LayerNorm(cfg.d_model, eps=cfg.norm_eps, bias=cfg.bias)


class TransformerBlock(nn.Module):
    """x + Attention(norm(x)), then x + MLP(norm(x)); (batch, L, d_model) -> same."""

    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        self.attn_norm = _norm(cfg)
        self.attn = Attention(cfg)
        self.mlp_norm = _norm(cfg)
        self.mlp = FeedForward(cfg)
        self.dropout = nn.Dropout(cfg.dropout)

    def forward(self, x):
        x = x + self.dropout(self.attn(self.attn_norm(x)))
        return x + self.dropout(self.mlp(self.mlp_norm(x)))


# --- the model ------------------------------------------------------------------------------------


@contextmanager
def _seeded(seed: int | None):
    # Draw from torch's global generator seeded with ``seed``, restoring its state afterwards;
    # with None, draw from it as it stands.
    if seed is None:
        yield
        return
    seed = positive_int("seed", seed, minimum=0)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


class Transformer(nn.Module):
    """Token embedding, ``n_layers`` pre-norm blocks, final norm, output head (tied or not).

    Initialization: every Linear weight, the embedding and an untied head are normal with std
    ``init_std`` (0.02), except the two projections that write into the residual stream,
    ``o_proj`` and ``down_proj``, whose std is divided by sqrt(2 * n_layers) so the stream's
    variance at init does not grow with depth (GPT-2's rule). Biases are zero, norms are the
    identity, and each QKV convolution starts as the identity (last tap 1, others 0), so a model
    with ``qkv_conv`` starts as the same model without it and learns what to mix in.

    ``seed`` makes the initialization deterministic without touching the caller's random state;
    ``None`` draws from torch's global generator.
    """

    def __init__(self, config: TransformerConfig, *, seed: int | None = None):
        super().__init__()
        self.config = cfg = config
        with _seeded(seed):  # the layers' default init draws too: keep it off the global RNG
            self.embedding = nn.Embedding(cfg.vocab_size, cfg.d_model)
            self.blocks = nn.ModuleList(TransformerBlock(cfg) for _ in range(cfg.n_layers))
            self.final_norm = _norm(cfg)
            self.lm_head = None if cfg.tie_embeddings else nn.Linear(cfg.d_model, cfg.vocab_size,
                                                                     bias=False)
        self.init_weights(seed)  # overwrites every parameter: the same as init_weights(seed) later

    def init_weights(self, seed: int | None = None) -> None:
        """(Re)initialize every parameter as described in the class docstring; with a ``seed``,
        the result is the one ``Transformer(config, seed=seed)`` starts from."""
        with _seeded(seed):
            self._init_weights()

    @torch.no_grad()
    def _init_weights(self):
        cfg = self.config
        residual_std = cfg.init_std / math.sqrt(2 * cfg.n_layers)
        for name, module in self.named_modules():
            if isinstance(module, nn.Linear):
                std = residual_std if name.endswith(("o_proj", "down_proj")) else cfg.init_std
                nn.init.normal_(module.weight, std=std)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Embedding):
                nn.init.normal_(module.weight, std=cfg.init_std)
            elif isinstance(module, nn.Conv1d):
                nn.init.zeros_(module.weight)
                module.weight[:, :, -1] = 1.0  # the current step: the identity
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, (nn.LayerNorm, RMSNorm)):
                nn.init.ones_(module.weight)
                if getattr(module, "bias", None) is not None:
                    nn.init.zeros_(module.bias)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens: (batch, L) int64 ids with L <= context -> logits (batch, L, vocab_size)."""
        if tokens.ndim != 2:
            raise ValueError(f"tokens must be (batch, length), got shape {tuple(tokens.shape)}")
        if tokens.shape[1] > self.config.context:
            raise ValueError(f"tokens has length {tokens.shape[1]}, more than context="
                             f"{self.config.context}")
        h = self.embedding(tokens)
        for block in self.blocks:
            h = block(h)
        h = self.final_norm(h)
        head = self.embedding.weight if self.lm_head is None else self.lm_head.weight
        return F.linear(h, head)

    def loss(self, tokens: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Mean cross-entropy in nats of ``targets`` (batch, L) ids under ``self(tokens)``."""
        logits = self(tokens)
        return F.cross_entropy(logits.flatten(0, 1), targets.flatten())


# --- counts ---------------------------------------------------------------------------------------


def transformer_param_count(config: TransformerConfig, *, embedding: bool = True) -> int:
    """Number of parameters of ``Transformer(config)``, by formula.

    With d = d_model, f = ff_width, g = gate_width, k = qkv_conv, V = vocab_size, per block:

    - attention: q_proj d*(d + g), k_proj, v_proj, o_proj d*d each; biases d + g + 3d;
    - QKV conv (k > 0): 3 * d*k taps; biases 3d;
    - MLP: up_proj (and glu_proj for GLU) d*f each, down_proj f*d; biases f (2f for GLU) + d;
    - two norms of d weights each (plus d shifts each for LayerNorm with ``bias``);

    plus the final norm, the token embedding V*d and, untied, the head V*d. "Biases" count only
    with ``bias=True``. RoPE has no parameters.

    ``embedding=False`` gives Kaplan et al.'s (2020) non-embedding N: it leaves out the token
    embedding and, when untied, the output head (V*d each); every other parameter, norms and
    biases included, stays in.
    """
    d, f, g, k, b = config.d_model, config.ff_width, config.gate_width, config.qkv_conv, config.bias
    n_in = 2 if config.is_glu else 1
    attention = d * (d + g) + 3 * d * d + (4 * d + g if b else 0)
    conv = (3 * d * k + (3 * d if b else 0)) if k else 0
    mlp = n_in * d * f + f * d + (n_in * f + d if b else 0)
    norm = d + (d if config.norm == "layernorm" and b else 0)
    total = config.n_layers * (attention + conv + mlp + 2 * norm) + norm
    if embedding:
        total += config.vocab_size * d * (1 if config.tie_embeddings else 2)
    return total


def _multiplied_weights(config: TransformerConfig) -> int:
    # Weights each token meets in one multiply-add on the forward pass: every Linear weight of
    # the blocks (q_proj's gate columns included), the conv taps, and the head (tied or not).
    # Not biases, norm gains or the embedding table (a lookup).
    d, f, k = config.d_model, config.ff_width, config.qkv_conv
    n_in = 2 if config.is_glu else 1
    block = d * (d + config.gate_width) + 3 * d * d + 3 * d * k + (n_in + 1) * d * f
    return config.n_layers * block + config.vocab_size * d


def transformer_flops_per_token(config: TransformerConfig, seq_len: int | None = None, *,
                                training: bool = True, attention: str = "dense",
                                recompute_scores: bool = False) -> float:
    """FLOPs per token of ``Transformer(config)`` on sequences of ``seq_len`` tokens.

    A multiply-add counts 2 FLOPs; only matrix products and the convolution are counted, not
    elementwise work (norms, RoPE, softmax, activations, the gate's sigmoid and product, residual
    adds), as in Kaplan et al. 2020 and as ``torch.utils.flop_counter`` counts. With N_mult the
    weights each token multiplies once (every Linear weight of the blocks with the gate columns,
    3 * d_model * qkv_conv conv taps, and the d_model * vocab_size head):

        forward   2 * N_mult + A
        training  6 * N_mult + 3 * A      (backward = 2 x forward: gradients of inputs and weights)

    A is the attention term, QK^T and the weighted sum of V, per token:

    - ``attention="dense"``: A = 4 * n_layers * seq_len * d_model, the full seq_len x seq_len
      score matrix that SDPA kernels compute and that flop_counter counts (it ignores the causal
      mask), and Hoffmann et al. 2022 (Appendix F) count;
    - ``attention="causal"``: A = 2 * n_layers * seq_len * d_model, Kaplan et al.'s term: only the
      unmasked half, each token attending to seq_len / 2 others on average.

    ``recompute_scores=True`` adds A / 2 to training: fused (flash / memory-efficient) attention
    recomputes QK^T in its backward pass, and flop_counter's rule for those kernels counts it.

    ``seq_len`` defaults to ``config.context``. Returns FLOPs per token (float).
    """
    seq_len = config.context if seq_len is None else positive_int("seq_len", seq_len)
    if seq_len > config.context:
        raise ValueError(f"seq_len must not exceed context={config.context}, got {seq_len}")
    one_of("attention", attention, ("dense", "causal"))
    per_layer = 4 if attention == "dense" else 2
    attn = per_layer * config.n_layers * seq_len * config.d_model
    n_mult = _multiplied_weights(config)
    if not training:
        return float(2 * n_mult + attn)
    return float(6 * n_mult + 3 * attn + (attn / 2 if recompute_scores else 0))
