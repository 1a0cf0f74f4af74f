"""Binary floating-point formats described by their bit fields, and their exact value grids.

A format with ``e`` exponent bits and ``m`` mantissa bits stores a sign, a biased exponent field
``E`` and a trailing mantissa field ``T``. With ``bias = 2**(e-1) - 1`` and ``emin = 1 - bias``:

- ``E == 0`` is subnormal: value ``T * 2**(emin - m)`` (subnormals are always present here);
- ``E >= 1`` is normal: value ``(2**m + T) * 2**(E - bias - m)``.

The three ``specials`` conventions differ only in what the top exponent field holds:

- ``"ieee"``: the whole top field is reserved (``T == 0`` is Inf, anything else NaN), so
  ``emax = bias`` (fp16, bf16, fp8 E5M2);
- ``"fn"``: only the all-ones code is NaN, there is no Inf, so ``emax = bias + 1`` and the largest
  finite value loses its last mantissa step (fp8 E4M3, max 448);
- ``"none"``: every code is finite, ``emax = bias + 1 = 2**(e-1)`` and
  ``max = 2**emax * (2 - 2**-m)`` (the OCP FP4/FP6 element formats).

Everything here is exact: grids are built from integers times powers of two, which float64 holds
without rounding for every format allowed (at most 8 exponent and 23 mantissa bits).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from .._validate import one_of

SPECIALS = ("none", "fn", "ieee")


@dataclass(frozen=True)
class FloatFormat:
    """A sign/exponent/mantissa format with subnormals.

    Parameters
    ----------
    exp_bits:
        Exponent field width, 1 to 8 (``"ieee"`` needs at least 2; ``"none"`` and ``"fn"`` at most
        7, so that every finite value fits in float32).
    man_bits:
        Trailing mantissa field width, 0 to 23 (``"fn"`` needs at least 1: its NaN is the
        all-ones mantissa of the top exponent).
    specials:
        ``"none"``, ``"fn"`` or ``"ieee"`` (see the module docstring).
    signed:
        ``False`` for the unsigned scale formats (UE4M3, UE5M3): same grid, no negative half and
        no sign bit in the code.
    name:
        Label used in messages and tables; not part of equality.
    """

    exp_bits: int
    man_bits: int
    specials: str
    signed: bool = True
    name: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        one_of("specials", self.specials, SPECIALS)
        for arg, value in (("exp_bits", self.exp_bits), ("man_bits", self.man_bits)):
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"{arg} must be an integer, got {value!r}")
        top_exp = 8 if self.specials == "ieee" else 7
        low_exp = 2 if self.specials == "ieee" else 1
        if not low_exp <= self.exp_bits <= top_exp:
            raise ValueError(
                f"exp_bits must be between {low_exp} and {top_exp} for specials="
                f"{self.specials!r} (so that every finite value fits in float32), got {self.exp_bits}"
            )
        if not 0 <= self.man_bits <= 23:
            raise ValueError(f"man_bits must be between 0 and 23, got {self.man_bits}")
        if self.specials == "fn" and self.man_bits == 0:
            raise ValueError("man_bits must be at least 1 for specials='fn' (its NaN is a mantissa code)")
        if self.exp_bits == 1 and self.man_bits == 0:
            raise ValueError("exp_bits=1 with man_bits=0 has no useful grid; use at least 2 bits")
        if not self.name:
            sign = "" if self.signed else "u"
            object.__setattr__(self, "name", f"{sign}e{self.exp_bits}m{self.man_bits}_{self.specials}")

    # ---- derived constants -------------------------------------------------------------------
    @property
    def bits(self) -> int:
        """Total code width in bits, sign included when signed."""
        return int(self.signed) + self.exp_bits + self.man_bits

    @property
    def bias(self) -> int:
        return 2 ** (self.exp_bits - 1) - 1

    @property
    def emin(self) -> int:
        """Exponent of the smallest normal value (and the scale of the subnormals)."""
        return 1 - self.bias

    @property
    def emax(self) -> int:
        """Exponent of the largest finite binade."""
        return self.bias if self.specials == "ieee" else self.bias + 1

    @property
    def max(self) -> float:
        """Largest finite value."""
        m = self.man_bits
        if self.specials == "fn":
            return 2.0**self.emax * (2.0 - 2.0 ** (1 - m))
        return 2.0**self.emax * (2.0 - 2.0**-m)

    @property
    def min_normal(self) -> float:
        return 2.0**self.emin

    @property
    def min_subnormal(self) -> float:
        return 2.0 ** (self.emin - self.man_bits)

    @property
    def has_inf(self) -> bool:
        return self.specials == "ieee"

    @property
    def has_nan(self) -> bool:
        return self.specials != "none"

    @property
    def torch_dtype(self) -> torch.dtype | None:
        """The torch dtype with exactly this grid and specials, if torch has one."""
        return _TORCH_DTYPES.get((self.exp_bits, self.man_bits, self.specials, self.signed))

    # ---- codes and grids -----------------------------------------------------------------------
    def _is_reserved(self, exp_field: torch.Tensor, man_field: torch.Tensor) -> torch.Tensor:
        top = 2**self.exp_bits - 1
        if self.specials == "ieee":
            return exp_field == top
        if self.specials == "fn":
            return (exp_field == top) & (man_field == 2**self.man_bits - 1)
        return torch.zeros_like(exp_field, dtype=torch.bool)

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """Values of integer ``codes`` (any shape, any integer dtype) as float32.

        The sign bit is bit ``exp_bits + man_bits`` when the format is signed. Reserved codes give
        ``inf`` or ``nan`` as the format defines them.
        """
        c = torch.as_tensor(codes).to(torch.int64)
        if c.numel() and (int(c.min()) < 0 or int(c.max()) >= 2**self.bits):
            raise ValueError(f"codes must lie in [0, {2**self.bits}) for {self.name}")
        m = self.man_bits
        man = c & (2**m - 1)
        exp = (c >> m) & (2**self.exp_bits - 1)
        neg = ((c >> (self.exp_bits + m)) & 1).bool() if self.signed else torch.zeros_like(c, dtype=torch.bool)
        # Exact in float64: an integer below 2**24 times a power of two.
        value = torch.where(
            exp == 0,
            man.double() * 2.0 ** (self.emin - m),
            (man + 2**m).double() * torch.pow(2.0, (exp - self.bias - m).double()),
        )
        reserved = self._is_reserved(exp, man)
        if self.specials == "ieee":
            value = torch.where(reserved & (man == 0), torch.inf, value)
            value = torch.where(reserved & (man != 0), torch.nan, value)
        else:
            value = torch.where(reserved, torch.nan, value)
        value = torch.where(neg, -value, value)
        return value.float()

    def encode(self, values: torch.Tensor) -> torch.Tensor:
        """Integer codes (int64, same shape) of ``values`` that lie exactly on the grid.

        NaN maps to the format's NaN code and ±Inf to its Inf codes where it has them; anything
        else off the grid raises ``ValueError``. ``-0.0`` keeps its sign bit when signed.
        """
        v = torch.as_tensor(values).double()
        neg = torch.signbit(v)
        if not self.signed and bool((neg & (v != 0) & ~torch.isnan(v)).any()):
            raise ValueError(f"values must be non-negative for the unsigned format {self.name}")
        a = v.abs()
        m = self.man_bits
        finite = torch.isfinite(a)
        safe = torch.where(finite, a, 0.0)
        normal = safe >= self.min_normal
        # floor(log2 a) read from the float64 exponent field (exact, unlike log2).
        e = ((safe.view(torch.int64) >> 52) & 0x7FF) - 1023
        e = torch.where(normal, e, self.emin)
        frac = safe * torch.pow(2.0, (m - e).double())  # integer-valued on the grid
        man = torch.where(normal, frac - 2**m, frac)
        exp_field = torch.where(normal, e + self.bias, 0)
        code = exp_field * 2**m + man.round().long()
        on_grid = finite & (frac == frac.round()) & (safe <= self.max)
        top = 2**self.exp_bits - 1
        if self.has_nan:
            nan_code = top * 2**m + (2**m - 1)
            code = torch.where(torch.isnan(a), nan_code, code)
            on_grid |= torch.isnan(a)
        if self.has_inf:
            code = torch.where(torch.isinf(a), top * 2**m, code)
            on_grid |= torch.isinf(a)
        if not bool(on_grid.all()):
            bad = v[~on_grid].flatten()[0].item()
            raise ValueError(f"values must lie on the {self.name} grid; {bad!r} does not")
        if self.signed:
            code = code + neg.long() * 2 ** (self.exp_bits + m)
        return code

    def grid(self, *, nonnegative: bool = False) -> torch.Tensor:
        """All finite values, sorted, as float64 (zero once). ``nonnegative`` keeps ``>= 0``."""
        magnitudes = self.decode(torch.arange(2 ** (self.exp_bits + self.man_bits))).double()
        vals = magnitudes[torch.isfinite(magnitudes)]
        if not nonnegative and self.signed:
            vals = torch.cat([-vals, vals])
        return torch.unique(vals) + 0.0  # sorted, zeros merged; + 0.0 makes the zero +0.0

    def __repr__(self) -> str:
        return (
            f"FloatFormat(exp_bits={self.exp_bits}, man_bits={self.man_bits}, "
            f"specials={self.specials!r}{'' if self.signed else ', signed=False'}, name={self.name!r})"
        )


_TORCH_DTYPES = {
    (5, 10, "ieee", True): torch.float16,
    (8, 7, "ieee", True): torch.bfloat16,
    (8, 23, "ieee", True): torch.float32,
    (4, 3, "fn", True): torch.float8_e4m3fn,
    (5, 2, "ieee", True): torch.float8_e5m2,
}

fp4_e2m1 = FloatFormat(2, 1, "none", name="fp4_e2m1")
fp6_e3m2 = FloatFormat(3, 2, "none", name="fp6_e3m2")
fp6_e2m3 = FloatFormat(2, 3, "none", name="fp6_e2m3")
fp8_e4m3 = FloatFormat(4, 3, "fn", name="fp8_e4m3")
fp8_e5m2 = FloatFormat(5, 2, "ieee", name="fp8_e5m2")
fp16 = FloatFormat(5, 10, "ieee", name="fp16")
bf16 = FloatFormat(8, 7, "ieee", name="bf16")
fp32 = FloatFormat(8, 23, "ieee", name="fp32")
# Unsigned scale formats: UE4M3 is the NVFP4 block scale (E4M3 without its sign bit). For UE5M3
# we take the same "fn" convention (no Inf, all-ones code NaN, max 114688); published variants
# differ only in the top binade, which block scales never reach in practice.
ue4m3 = FloatFormat(4, 3, "fn", signed=False, name="ue4m3")
ue5m3 = FloatFormat(5, 3, "fn", signed=False, name="ue5m3")

NAMED_FORMATS: dict[str, FloatFormat] = {
    f.name: f for f in (fp4_e2m1, fp6_e3m2, fp6_e2m3, fp8_e4m3, fp8_e5m2, fp16, bf16, fp32, ue4m3, ue5m3)
}


def get_format(fmt: str | FloatFormat, name: str = "fmt") -> FloatFormat:
    """Return ``fmt`` as a :class:`FloatFormat`; strings are looked up in :data:`NAMED_FORMATS`."""
    if isinstance(fmt, FloatFormat):
        return fmt
    if isinstance(fmt, str) and fmt in NAMED_FORMATS:
        return NAMED_FORMATS[fmt]
    raise ValueError(
        f"{name} must be a FloatFormat or one of {', '.join(map(repr, NAMED_FORMATS))}; got {fmt!r}"
    )


# ---- E8M0: the MX shared scale (an 8-bit biased exponent, no sign, no mantissa) ------------------
E8M0_BIAS = 127
E8M0_NAN = 255


def e8m0_decode(codes: torch.Tensor) -> torch.Tensor:
    """Float32 values ``2**(code - 127)`` of E8M0 codes; code 255 is NaN. Code 0 is ``2**-127``,
    a float32 subnormal, which is still exact."""
    c = torch.as_tensor(codes).to(torch.int64)
    value = torch.pow(2.0, (c - E8M0_BIAS).double()).float()
    return torch.where(c == E8M0_NAN, torch.nan, value)
