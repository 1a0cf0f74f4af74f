"""FakeQuantLinear: forward and backward GEMMs equal to hand-built quantized products,
straight-through gradients, reproducible stochastic rounding, unbiased gradients, swapping."""

import pytest
import torch
import torch.nn as nn

from scalingbook.precision import (
    FakeQuantLinear,
    QuantScheme,
    quantize_blocks,
    quantize_mx,
    random_hadamard_transform,
    round_to_format,
    swap_linears,
)


def make_layer(scheme, seed=0, k=48, n=24):
    torch.manual_seed(0)
    lin = nn.Linear(k, n)
    return lin, FakeQuantLinear.from_linear(lin, scheme, seed=seed)


def run(layer, x, grad):
    x = x.clone().requires_grad_(True)
    y = layer(x)
    y.backward(grad)
    return y.detach(), x.grad, layer.weight.grad.clone(), layer.bias.grad.clone()


def test_no_scheme_is_exactly_nn_linear():
    lin, fq = make_layer(None)
    x, g = torch.randn(4, 48), torch.randn(4, 24)
    y1, gx1, gw1, gb1 = run(fq, x, g)
    lin.weight.grad = lin.bias.grad = None
    y2, gx2, gw2, gb2 = run(lin, x, g)
    for a, b in [(y1, y2), (gx1, gx2), (gw1, gw2), (gb1, gb2)]:
        assert torch.equal(a, b)


def test_forward_and_backward_are_the_quantized_gemms():
    scheme = QuantScheme.mxfp4(grad_rounding="nearest_even")
    lin, fq = make_layer(scheme)
    x, g = torch.randn(2, 3, 48), torch.randn(2, 3, 24)
    y, gx, gw, gb = run(fq, x, g)
    w, b = lin.weight.detach(), lin.bias.detach()
    x2, g2 = x.reshape(-1, 48), g.reshape(-1, 24)
    q = lambda t, axis: quantize_mx(t, "fp4_e2m1", axis=axis)  # noqa: E731
    assert torch.equal(y, (q(x2, -1) @ q(w, -1).T + b).view(2, 3, 24))  # forward: inner K
    assert torch.equal(gx, (q(g2, -1) @ q(w, 0)).view(2, 3, 48))  # dgrad: inner N
    assert torch.equal(gw, q(g2, 0).T @ q(x2, 0))  # wgrad: inner M (tokens)
    assert torch.equal(gb, g2.sum(0))


def test_nvfp4_with_hadamard_matches_the_manual_recipe():
    scheme = QuantScheme.nvfp4(hadamard=True, hadamard_block_size=16, grad_rounding="nearest_even")
    lin, fq = make_layer(scheme, seed=5)
    x, g = torch.randn(10, 48), torch.randn(10, 24)
    y, gx, gw, _ = run(fq, x, g)
    w = lin.weight.detach()

    def q(t):  # rows of t, inner dimension last, zero-padded to whole Hadamard blocks
        t = torch.nn.functional.pad(t, (0, (-t.shape[-1]) % 16))
        t = random_hadamard_transform(t, seed=5, block_size=16)
        return quantize_blocks(t, "fp4_e2m1", block_size=16, scale_format="e4m3", per_tensor_scale="amax")

    assert torch.equal(y, q(x) @ q(w).T + lin.bias.detach())
    assert torch.equal(gx, q(g) @ q(w.T).T)
    assert torch.equal(gw, q(g.T) @ q(x.T).T)  # M = 10 padded to 16 with zero tokens


def test_rotation_alone_changes_nothing_but_rounding():
    # With an fp32 "format" the quantizers are exact, so the Hadamard rotations must cancel.
    lin, fq = make_layer(QuantScheme.elementwise("fp32", hadamard=True))
    x, g = torch.randn(7, 48, dtype=torch.float32), torch.randn(7, 24)
    y, gx, gw, _ = run(fq, x, g)
    lin.weight.grad = lin.bias.grad = None
    y0, gx0, gw0, _ = run(lin, x, g)
    for a, b in [(y, y0), (gx, gx0), (gw, gw0)]:
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


def test_elementwise_bf16_scheme():
    lin, fq = make_layer(QuantScheme.elementwise("bf16"))
    x = torch.randn(5, 48)
    bf = lambda t: round_to_format(t, "bf16")  # noqa: E731
    expected = bf(x) @ bf(lin.weight.detach()).T + lin.bias.detach()
    assert torch.equal(fq(x).detach(), expected)


def test_stochastic_gradients_reproducible_by_seed():
    scheme = QuantScheme.mxfp4()  # stochastic rounding of dy by default
    x, g = torch.randn(16, 48), torch.randn(16, 24)
    _, a = make_layer(scheme, seed=1)
    _, b = make_layer(scheme, seed=1)
    _, c = make_layer(scheme, seed=2)
    ra, rb, rc = run(a, x, g), run(b, x, g), run(c, x, g)
    assert torch.equal(ra[0], rb[0]) and torch.equal(ra[0], rc[0])  # forward is round-to-nearest
    assert torch.equal(ra[1], rb[1]) and torch.equal(ra[2], rb[2])
    assert not torch.equal(ra[1], rc[1])
    a.weight.grad = None
    assert not torch.equal(run(a, x, g)[1], ra[1])  # the layer's generator moved on


def test_stochastic_rounding_gives_unbiased_gradients():
    # rceil scales never clip, so E[Q_sr(dy)] = dy and the average dgrad converges to
    # dy @ Q(w): the bias of round-to-nearest does not.
    scheme = QuantScheme.mxfp4(scale_mode="rceil", block_size=8)
    lin, fq = make_layer(scheme, seed=3, k=16, n=8)
    x, g = torch.randn(8, 16), torch.randn(8, 8)
    target = g @ quantize_mx(lin.weight.detach(), "fp4_e2m1", axis=0, block_size=8, scale_mode="rceil")
    n = 400
    total = torch.zeros_like(x)
    for _ in range(n):
        total += run(fq, x, g)[1]
    mean_err = ((total / n) - target).norm() / target.norm()
    rtn = QuantScheme.mxfp4(scale_mode="rceil", block_size=8, grad_rounding="nearest_even")
    _, fq_rtn = make_layer(rtn, k=16, n=8)
    rtn_err = (run(fq_rtn, x, g)[1] - target).norm() / target.norm()
    single_err = (run(fq, x, g)[1] - target).norm() / target.norm()
    assert mean_err < single_err / 5  # averaging n draws shrinks the error like 1/sqrt(n)
    assert mean_err < rtn_err / 3


def test_forward_only_scheme_leaves_gradients_unquantized():
    lin, fq = make_layer(QuantScheme.mxfp4(quantize_backward=False))
    x, g = torch.randn(6, 48), torch.randn(6, 24)
    _, gx, gw, _ = run(fq, x, g)
    assert torch.equal(gx, g @ lin.weight.detach())
    assert torch.equal(gw, g.T @ x)


def test_autocast_does_not_change_the_arithmetic():
    _, fq = make_layer(QuantScheme.mxfp4())
    x = torch.randn(4, 48)
    plain = fq(x)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        inside = fq(x)
    assert inside.dtype == torch.float32 and torch.equal(inside, plain)


def test_swap_linears_keeps_parameters_and_skips_names():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 1))
    weights = [m.weight for m in model if isinstance(m, nn.Linear)]
    swap_linears(model, QuantScheme.nvfp4(), skip={"4"}, seed=10)
    assert isinstance(model[0], FakeQuantLinear) and isinstance(model[2], FakeQuantLinear)
    assert type(model[4]) is nn.Linear
    assert (model[0].seed, model[2].seed) == (10, 11)
    assert model[0].weight is weights[0] and model[4].weight is weights[2]
    # And it still learns: a few steps of SGD on a smooth target lower the loss.
    x = torch.randn(256, 8, generator=torch.Generator().manual_seed(1))
    y = x[:, :1] * 2 - x[:, 1:2]
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    losses = []
    for _ in range(40):
        opt.zero_grad()
        loss = ((model(x) - y) ** 2).mean()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def test_labels():
    assert QuantScheme.mxfp4().label == "mxfp4 sr"
    assert QuantScheme.nvfp4(hadamard=True, grad_rounding="nearest_even").label == "nvfp4 +rht rtn"
    assert QuantScheme.mxfp4(scale_format="ue5m3").label == "fp4_e2m1/32 ue5m3 sr"
    assert QuantScheme.mxfp4(block_size=16).label == "mxfp4/16 sr"
    assert QuantScheme.elementwise("bf16").label == "bf16 rtn"


@pytest.mark.parametrize(
    "changes,word",
    [
        ({"element": "fp3"}, "element"),
        ({"element": "bf16"}, "element"),  # not an MX element: needs block_size=None
        ({"block_size": 0}, "block_size"),
        ({"scale_format": "e5m2"}, "scale_format"),
        ({"scale_mode": "up"}, "scale_mode"),
        ({"per_tensor_scale": True}, "per_tensor_scale"),  # with e8m0
        ({"hadamard_block_size": 24}, "hadamard_block_size"),
        ({"grad_rounding": "up"}, "grad_rounding"),
        ({"forward_rounding": "down"}, "forward_rounding"),
        ({"backend": "cuda"}, "backend"),
    ],
)
def test_bad_scheme_arguments_name_the_argument(changes, word):
    with pytest.raises(ValueError, match=word):
        QuantScheme.mxfp4(**changes)


def test_bad_layer_arguments():
    with pytest.raises(ValueError, match="scheme"):
        FakeQuantLinear(4, 4, scheme="mxfp4")
    with pytest.raises(ValueError, match="seed"):
        FakeQuantLinear(4, 4, seed="a")
