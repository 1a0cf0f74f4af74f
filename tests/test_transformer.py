"""Tests for scalingbook.models.transformer: shapes, causality of every switch, the attention gate,
the QKV convolution, RoPE, learning, seeding, and the parameter and FLOP counts against the module
and against torch's FlopCounterMode."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import (
    FlopCounterMode, conv_flop_count, sdpa_backward_flop_count, sdpa_flop_count,
)

from scalingbook.models.transformer import (
    ACTIVATIONS, ATTENTION_GATES, Attention, CausalDepthwiseConv, Transformer, TransformerConfig,
    apply_rope, transformer_flops_per_token, transformer_param_count,
)

TINY = dict(vocab_size=11, d_model=16, n_layers=2, n_heads=4, context=12)


def _randomize_convs(model):
    # The convs start as the identity; random taps make a look into the past visible.
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, CausalDepthwiseConv):
                module.conv.weight.normal_()


# --- shapes and structure -------------------------------------------------------------------------


@pytest.mark.parametrize("kw", [{}, dict(activation="swiglu", attention_gate="elementwise",
                                         qkv_conv=3, norm="rmsnorm", tie_embeddings=False,
                                         bias=True)])
def test_shapes_and_initial_loss(kw):
    cfg = TransformerConfig(**TINY, **kw)
    model = Transformer(cfg, seed=0)
    tokens = torch.randint(0, cfg.vocab_size, (3, 10))
    logits = model(tokens)
    assert logits.shape == (3, 10, cfg.vocab_size)
    loss = model.loss(tokens, torch.randint(0, cfg.vocab_size, (3, 10)))
    assert loss.shape == ()
    assert abs(loss.item() - math.log(cfg.vocab_size)) < 0.1  # small init: near uniform
    assert (model.lm_head is None) == cfg.tie_embeddings


def test_ff_width_rule():
    assert TransformerConfig(**TINY).ff_width == 64  # 4 * d_model
    assert TransformerConfig(**TINY, activation="relu2").ff_width == 64
    assert TransformerConfig(**TINY, activation="swiglu").ff_width == 40  # 42.7 -> 40
    assert TransformerConfig(vocab_size=5, d_model=768, n_heads=12,
                             activation="geglu").ff_width == 2048  # exactly 8/3 * 768
    assert TransformerConfig(**TINY, activation="swiglu", d_ff=24).ff_width == 24


@pytest.mark.parametrize("gate,extra", [("none", 0), ("headwise", 4), ("elementwise", 16)])
def test_gate_adds_columns_to_the_query_projection(gate, extra):
    cfg = TransformerConfig(**TINY, attention_gate=gate)
    attn = Transformer(cfg).blocks[0].attn
    assert cfg.gate_width == extra
    assert attn.q_proj.weight.shape == (16 + extra, 16)
    assert attn.k_proj.weight.shape == attn.v_proj.weight.shape == (16, 16)


def test_tokens_longer_than_context_are_refused():
    model = Transformer(TransformerConfig(**TINY))
    with pytest.raises(ValueError, match="context"):
        model(torch.zeros(1, 13, dtype=torch.long))


# --- causality ------------------------------------------------------------------------------------


@pytest.mark.parametrize("activation,gate,conv",
                         list(itertools.product(ACTIVATIONS, ATTENTION_GATES, [0, 3])))
def test_future_tokens_do_not_change_earlier_logits(activation, gate, conv):
    cfg = TransformerConfig(**TINY, activation=activation, attention_gate=gate, qkv_conv=conv)
    model = Transformer(cfg, seed=0)
    _randomize_convs(model)
    gen = torch.Generator().manual_seed(1)
    tokens = torch.randint(0, cfg.vocab_size, (2, 12), generator=gen)
    changed = tokens.clone()
    changed[:, 7:] = (tokens[:, 7:] + 1) % cfg.vocab_size  # change every token from step 7 on
    before, after = model(tokens), model(changed)
    torch.testing.assert_close(after[:, :7], before[:, :7], rtol=0, atol=0)
    assert not torch.allclose(after[:, 7:], before[:, 7:])


def test_conv_is_causal_and_computes_its_formula():
    torch.manual_seed(0)
    conv = CausalDepthwiseConv(channels=4, kernel=3, bias=True)
    x = torch.randn(2, 10, 4)
    y = conv(x)
    assert y.shape == x.shape
    w, b = conv.conv.weight[:, 0, :], conv.conv.bias  # (channels, kernel), (channels,)
    padded = torch.cat([torch.zeros(2, 2, 4), x], dim=1)
    want = torch.stack([(padded[:, t:t + 3, :] * w.T).sum(1) + b for t in range(10)], dim=1)
    torch.testing.assert_close(y, want)
    x2 = x.clone()
    x2[:, 6:] = torch.randn(2, 4, 4)
    torch.testing.assert_close(conv(x2)[:, :6], y[:, :6], rtol=0, atol=0)


def test_conv_starts_as_the_identity():
    # A model with the QKV conv, given a plain model's weights, computes the plain model.
    plain = Transformer(TransformerConfig(**TINY), seed=0)
    conv = Transformer(TransformerConfig(**TINY, qkv_conv=4), seed=1)
    missing, unexpected = conv.load_state_dict(plain.state_dict(), strict=False)
    assert unexpected == [] and all("_conv." in name for name in missing) and len(missing) == 6
    tokens = torch.randint(0, 11, (2, 12))
    torch.testing.assert_close(conv(tokens), plain(tokens))


# --- the attention gate ---------------------------------------------------------------------------


@pytest.mark.parametrize("gate", ["headwise", "elementwise"])
def test_gate_multiplies_each_heads_output_before_o_proj(gate):
    # With zero gate weights the gate is sigmoid(bias): 1/2 everywhere except where the bias is
    # -1e4 (a gate of exactly 0). Closing head 1 (headwise) or channel 5 (elementwise) must equal
    # the ungated attention at half strength with that head's or channel's values zeroed.
    cfg = TransformerConfig(**TINY, attention_gate=gate, bias=True)
    gated = Attention(cfg)
    plain = Attention(TransformerConfig(**TINY, bias=True))
    closed = slice(4, 8) if gate == "headwise" else slice(5, 6)  # channels that lose their gate
    with torch.no_grad():
        for name in ("k_proj", "v_proj", "o_proj"):
            getattr(plain, name).load_state_dict(getattr(gated, name).state_dict())
        plain.q_proj.weight.copy_(gated.q_proj.weight[:16])
        plain.q_proj.bias.copy_(gated.q_proj.bias[:16])
        gated.q_proj.weight[16:] = 0.0
        gated.q_proj.bias[16:] = 0.0
        gated.q_proj.bias[16 + (1 if gate == "headwise" else 5)] = -1e4
        plain.v_proj.weight[closed] = 0.0
        plain.v_proj.bias[closed] = 0.0
        # o_proj's bias is added after the gate; compare without it
        gated.o_proj.bias.zero_()
        plain.o_proj.bias.zero_()
    x = torch.randn(2, 9, 16)
    torch.testing.assert_close(gated(x), 0.5 * plain(x))


# --- RoPE -----------------------------------------------------------------------------------------


def test_rope_scores_depend_only_on_the_offset():
    torch.manual_seed(0)
    q, k = torch.randn(10, 8), torch.randn(10, 8)
    pos = torch.arange(10)
    scores = apply_rope(q, pos) @ apply_rope(k, pos).T
    for shift in (1, 7, 100):
        shifted = apply_rope(q, pos + shift) @ apply_rope(k, pos + shift).T
        torch.testing.assert_close(shifted, scores, rtol=1e-4, atol=1e-4)
    # One query and one key at many positions: the score is a function of m - n.
    qm, kn = q[:1].expand(6, 8), k[:1].expand(6, 8)
    a = (apply_rope(qm, torch.arange(6) + 3) * apply_rope(kn, torch.arange(6))).sum(-1)
    torch.testing.assert_close(a, a[:1].expand(6), rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(apply_rope(q, torch.zeros(10)), q)  # position 0: no rotation
    torch.testing.assert_close(apply_rope(q, pos).norm(dim=-1), q.norm(dim=-1))  # a rotation


def test_rope_scaling_divides_positions():
    torch.manual_seed(0)
    x = torch.randn(2, 3, 12, 8)
    pos = torch.arange(12)
    torch.testing.assert_close(apply_rope(x, pos, base=500.0, scaling=2.0),
                               apply_rope(x, pos / 2, base=500.0))
    # and the model uses the field: same weights, different scaling, different logits
    tokens = torch.randint(0, 11, (1, 12))
    one = Transformer(TransformerConfig(**TINY), seed=0)(tokens)
    two = Transformer(TransformerConfig(**TINY, rope_scaling=2.0), seed=0)(tokens)
    torch.testing.assert_close(one[:, 0], two[:, 0])  # position 0 is not rotated
    assert not torch.allclose(one[:, 1:], two[:, 1:])


# --- learning and seeding -------------------------------------------------------------------------


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_tiny_model_overfits_a_fixed_batch(activation):
    cfg = TransformerConfig(vocab_size=16, d_model=32, n_layers=2, n_heads=4, context=16,
                            activation=activation)
    model = Transformer(cfg, seed=0)
    gen = torch.Generator().manual_seed(0)
    seq = torch.randint(0, 16, (4, 17), generator=gen)
    tokens, targets = seq[:, :-1], seq[:, 1:]
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    first = model.loss(tokens, targets).item()
    for _ in range(50):
        opt.zero_grad()
        loss = model.loss(tokens, targets)
        loss.backward()
        opt.step()
    assert abs(first - math.log(16)) < 0.1
    assert loss.item() < 0.3 * first  # random tokens: only memorising gets it down


def test_seed_makes_the_model_deterministic_and_leaves_global_rng_alone():
    cfg = TransformerConfig(**TINY, attention_gate="headwise", qkv_conv=3, tie_embeddings=False)
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a = Transformer(cfg, seed=7)
    after = torch.rand(1)
    assert torch.equal(before, after)
    b, c = Transformer(cfg, seed=7), Transformer(cfg, seed=8)
    for (name, p), q, r in zip(a.named_parameters(), b.parameters(), c.parameters()):
        assert torch.equal(p, q), name
    assert not torch.equal(a.blocks[0].attn.q_proj.weight, c.blocks[0].attn.q_proj.weight)
    b.init_weights(seed=8)
    assert all(torch.equal(p, r) for p, r in zip(b.parameters(), c.parameters()))


def test_dropout_only_in_training_mode():
    model = Transformer(TransformerConfig(**TINY, dropout=0.2), seed=0)
    tokens = torch.randint(0, 11, (2, 12))
    assert not torch.equal(model(tokens), model(tokens))
    model.eval()
    assert torch.equal(model(tokens), model(tokens))


def test_residual_projections_start_smaller():
    cfg = TransformerConfig(vocab_size=11, d_model=64, n_layers=8, n_heads=4)
    block = Transformer(cfg, seed=0).blocks[0]
    assert abs(block.attn.q_proj.weight.std().item() - 0.02) < 0.002
    assert abs(block.attn.o_proj.weight.std().item() - 0.02 / 4) < 0.0005  # / sqrt(2 * 8)
    assert abs(block.mlp.down_proj.weight.std().item() - 0.02 / 4) < 0.0005


# --- parameter counts -----------------------------------------------------------------------------


def test_param_counts_by_hand():
    # A: gelu, d_ff 64, no gate, no conv, LayerNorm without bias, tied. Per block:
    #    q, k, v, o 4 * 16*16 = 1024; MLP 16*64 + 64*16 = 2048; two norms 2 * 16 = 32 -> 3104.
    #    2 blocks 6208 + final norm 16 + embedding 11*16 = 176 -> 6400 (6224 without embedding).
    a = TransformerConfig(**TINY)
    assert transformer_param_count(a) == 6400
    assert transformer_param_count(a, embedding=False) == 6224
    # B: swiglu (d_ff 40), headwise gate, qkv_conv 3, RMSNorm, untied, biases. Per block:
    #    q_proj 16*(16 + 4) + 20 = 340; k, v, o 3 * (256 + 16) = 816; convs 3 * (16*3 + 16) = 192;
    #    up, glu 2 * (16*40 + 40) = 1360, down 40*16 + 16 = 656; norms 2 * 16 = 32 -> 3396.
    #    2 blocks 6792 + final norm 16 = 6808 non-embedding; + embedding 176 + head 176 -> 7160.
    b = TransformerConfig(**TINY, activation="swiglu", attention_gate="headwise", qkv_conv=3,
                          norm="rmsnorm", tie_embeddings=False, bias=True)
    assert transformer_param_count(b) == 7160
    assert transformer_param_count(b, embedding=False) == 6808
    # C: relu2, elementwise gate, LayerNorm with bias, tied, biases. Per block:
    #    q_proj 16*32 + 32 = 544; k, v, o 816; MLP 16*64 + 64 + 64*16 + 16 = 2128;
    #    norms 2 * 32 = 64 -> 3552. 2 blocks 7104 + final norm 32 + embedding 176 -> 7312.
    c = TransformerConfig(**TINY, activation="relu2", attention_gate="elementwise", bias=True)
    assert transformer_param_count(c) == 7312
    for cfg, want in ((a, 6400), (b, 7160), (c, 7312)):
        assert sum(p.numel() for p in Transformer(cfg).parameters()) == want


def test_param_count_of_gpt2_small():
    # GPT-2 small has 124,439,808 parameters, 1024 * 768 = 786,432 of them learned positions,
    # which RoPE replaces; its non-embedding count is Kaplan et al.'s "85M".
    gpt2 = TransformerConfig(vocab_size=50257, d_model=768, n_layers=12, n_heads=12,
                             context=1024, bias=True)
    assert transformer_param_count(gpt2) == 124_439_808 - 786_432
    assert transformer_param_count(gpt2, embedding=False) == 85_056_000
    assert 12 * 12 * 768**2 == 84_934_656  # Kaplan's 12 n_layer d_model^2 leaves out the biases


@pytest.mark.parametrize("kw", [
    dict(activation=a, attention_gate=g, qkv_conv=k, norm=n, tie_embeddings=t, bias=b)
    for (a, g, k), (n, t, b) in zip(
        itertools.product(ACTIVATIONS, ATTENTION_GATES, [0, 2]),
        itertools.cycle(itertools.product(["layernorm", "rmsnorm"], [True, False], [True, False])))
])
def test_param_count_matches_the_module(kw):
    cfg = TransformerConfig(**TINY, **kw)
    model = Transformer(cfg)
    assert transformer_param_count(cfg) == sum(p.numel() for p in model.parameters())
    embeddings = model.embedding.weight.numel() + (0 if model.lm_head is None
                                                   else model.lm_head.weight.numel())
    assert transformer_param_count(cfg, embedding=False) == (transformer_param_count(cfg)
                                                             - embeddings)


# --- FLOP counts ----------------------------------------------------------------------------------


def test_flops_by_hand():
    # TINY, gelu: multiplied weights per block q, k, v, o 1024 + MLP 2048 = 3072; 2 blocks 6144
    # + head 176 = 6320. Dense attention at 12 tokens: 4 * 2 layers * 12 * 16 = 1536.
    cfg = TransformerConfig(**TINY)
    assert transformer_flops_per_token(cfg, 12, training=False) == 2 * 6320 + 1536 == 14176
    assert transformer_flops_per_token(cfg, 12) == 6 * 6320 + 3 * 1536 == 42528
    assert transformer_flops_per_token(cfg) == transformer_flops_per_token(cfg, 12)  # context
    # Kaplan's causal term is half; fused kernels' recomputed QK^T adds half of it in training.
    assert transformer_flops_per_token(cfg, 12, attention="causal") == 6 * 6320 + 3 * 768
    assert transformer_flops_per_token(cfg, 12, recompute_scores=True) == 42528 + 768
    # headwise gate: 4 more columns of 16; conv 3: 3 * 16 * 3 taps, both per layer.
    gated = TransformerConfig(**TINY, attention_gate="headwise", qkv_conv=3)
    assert (transformer_flops_per_token(gated, 12) - 42528) == 6 * 2 * (4 * 16 + 3 * 16 * 3)


def _conv_backward_flops(grad_out_shape, x_shape, w_shape, *args, out_shape=None, **kwargs):
    # torch 2.13's rule for the weight gradient ignores groups, counting a depthwise conv's as if
    # it were dense (channels times too many); pytorch/pytorch#183405 divides by groups. Each
    # requested gradient (input, weight) costs one forward convolution.
    output_mask = args[7]
    forward = conv_flop_count(x_shape, w_shape, grad_out_shape, transposed=False)
    return forward * (int(output_mask[0]) + int(output_mask[1]))


# On CPU, SDPA runs aten._scaled_dot_product_flash_attention_for_cpu, which flop_counter has no
# rule for (it would count 0); give it the rules flop_counter uses for the GPU kernels.
_CPU_FLASH = {
    torch.ops.aten._scaled_dot_product_flash_attention_for_cpu:
        lambda q, k, v, *args, out_shape=None, **kwargs: sdpa_flop_count(q, k, v),
    torch.ops.aten._scaled_dot_product_flash_attention_for_cpu_backward:
        lambda g, q, k, v, *args, out_shape=None, **kwargs: sdpa_backward_flop_count(g, q, k, v),
    torch.ops.aten.convolution_backward: _conv_backward_flops,
}


def _count(model, tokens, *, math_backend):
    """flop_counter's totals (forward, forward + backward) per token for one loss and its grad."""
    backend = SDPBackend.MATH if math_backend else SDPBackend.FLASH_ATTENTION
    with sdpa_kernel(backend), FlopCounterMode(display=False, custom_mapping=_CPU_FLASH) as fc:
        loss = model.loss(tokens, tokens)
        forward = fc.get_total_flops()
        loss.backward()
    counts = {str(op): n for op, n in fc.get_flop_counts()["Global"].items()}
    return forward / tokens.numel(), fc.get_total_flops() / tokens.numel(), counts


FLOP_VARIANTS = [
    dict(),
    dict(activation="swiglu"),
    dict(activation="relu2", attention_gate="headwise"),
    dict(attention_gate="elementwise", tie_embeddings=False, bias=True),
    dict(activation="geglu", qkv_conv=3, norm="rmsnorm"),
]


@pytest.mark.parametrize("kw", FLOP_VARIANTS)
def test_flops_match_flop_counter_with_the_math_attention(kw):
    # The math backend writes SDPA as two batched matmuls over the full 10 x 10 score matrix
    # (masked, not skipped) and autograd differentiates them: backward = 2 x forward.
    cfg = TransformerConfig(**TINY, **kw)
    model = Transformer(cfg, seed=0)
    tokens = torch.randint(0, cfg.vocab_size, (2, 10))
    forward, total, counts = _count(model, tokens, math_backend=True)
    assert "aten.bmm" in counts and ("aten.convolution" in counts) == bool(cfg.qkv_conv)
    assert forward == transformer_flops_per_token(cfg, 10, training=False)
    assert total == transformer_flops_per_token(cfg, 10)


@pytest.mark.parametrize("kw", FLOP_VARIANTS[::2])
def test_flops_match_flop_counter_with_the_fused_attention(kw):
    # The fused kernel's backward recomputes QK^T: flop_counter's rule counts 5 score-sized matmuls
    # against the forward's 2, which recompute_scores=True adds.
    cfg = TransformerConfig(**TINY, **kw)
    model = Transformer(cfg, seed=0)
    tokens = torch.randint(0, cfg.vocab_size, (2, 10))
    forward, total, counts = _count(model, tokens, math_backend=False)
    assert "aten.bmm" not in counts and "aten._scaled_dot_product_flash_attention_for_cpu" in counts
    assert forward == transformer_flops_per_token(cfg, 10, training=False)
    assert total == transformer_flops_per_token(cfg, 10, recompute_scores=True)


def test_bad_flop_arguments():
    cfg = TransformerConfig(**TINY)
    with pytest.raises(ValueError, match="^seq_len"):
        transformer_flops_per_token(cfg, 13)
    with pytest.raises(ValueError, match="^seq_len"):
        transformer_flops_per_token(cfg, 0)
    with pytest.raises(ValueError, match="^attention"):
        transformer_flops_per_token(cfg, 8, attention="half")


# --- bad configs ----------------------------------------------------------------------------------


@pytest.mark.parametrize("field,value", [
    ("vocab_size", 0), ("d_model", 0), ("d_model", 2.5), ("n_layers", -1), ("n_heads", 0),
    ("context", 0), ("d_ff", 0), ("qkv_conv", -1), ("qkv_conv", True),
    ("activation", "tanh"), ("activation", "SwiGLU"), ("attention_gate", "sigmoid"),
    ("norm", "batchnorm"), ("rope_base", 0.0), ("rope_scaling", 0.0), ("rope_scaling", -2.0),
    ("rope_scaling", float("nan")), ("dropout", 1.0), ("dropout", -0.1), ("norm_eps", 0.0),
    ("init_std", -0.02), ("tie_embeddings", 1), ("bias", "no"),
])
def test_bad_config_names_the_field(field, value):
    with pytest.raises(ValueError, match=rf"^{field}\b"):
        TransformerConfig(**{**TINY, field: value})


def test_heads_must_divide_width_and_leave_an_even_head_dim():
    with pytest.raises(ValueError, match=r"^n_heads must divide d_model"):
        TransformerConfig(vocab_size=11, d_model=16, n_heads=3)
    with pytest.raises(ValueError, match=r"^n_heads .*even head dimension"):
        TransformerConfig(vocab_size=11, d_model=12, n_heads=4)  # head_dim 3
