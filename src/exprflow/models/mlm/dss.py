r"""Bidirectional diagonal state space layer (DSS, softmax version) of the haplotype MLM.

Gupta, Gu & Berant 2022, "Diagonal State Spaces are as Effective as Structured State
Spaces" (arXiv:2203.14343), Proposition 1, softmax parametrisation, as in the authors'
standalone ``dss.py`` that lm-eqtl's ``models/dss.py`` copies.

Kernel
------
Per channel h (``d_model`` of them) there are M = N/2 complex modes (N = ``state_size``;
the other N/2 are their conjugates, which taking the real part accounts for):

.. math::

    \Lambda_{hn} = -e^{a_{hn}} + i\,b_{hn}, \qquad \Delta_h = e^{\log\Delta_h},

    K_{ch}[k] = \operatorname{Re} \sum_{n<M} \tilde W_{chn}\,\Lambda_{hn}^{-1}\,
    \operatorname{softmax}_k(\Lambda_{hn}\Delta_h k), \qquad k = 0, \dots, L-1,

where :math:`\operatorname{softmax}_k(p_k) = e^{p_k - m} / \sum_{j<L} e^{p_j - m}` is over
the sequence axis in complex arithmetic, m being the largest real part of the p_k. Re Λ < 0,
so m = 0 (at k = 0): every term z^k, z = e^{ΛΔ}, has modulus ≤ 1 and the shift is a
no-op; nothing overflows, and the denominator stays away from 0 since
|Σ_j z^j| ≥ (1 − |z|^L) / (1 + |z|) > 0. The L powers are not exponentiated one by one
(a complex ``exp`` of ``(H, M, L)`` dominated the published model's CPU time): with
k = a·C + b, C = ⌈√L⌉, z^k = z^{aC} · z^b, so only ``(H, M, ⌈L/C⌉ + C)`` exponentials are
taken and the sum over modes is one batched complex matrix product; the denominator is
summed from the same factors.
c indexes the direction (0 forward, 1 backward): Λ and Δ
are shared by both directions, W̃ is not. Initialisation (DSS-Lin / S4D-Lin): Re Λ = −½,
Im Λ = π n; log Δ uniform in [log 1e-3, log 1e-1] per channel; W̃ standard complex normal;
D standard normal.

Layer
-----
For input u of shape ``(batch, d_model, L)``:

.. math::

    y_t = \sum_{s \le t} K_0[t-s]\,u_s + \sum_{s > t} K_1[s-t-1]\,u_s + D\,u_t,

the backward kernel acting on the flipped sequence one step behind (as in the DSS and S4
code, so position t itself is counted by the forward kernel and D only). Both kernels are
applied in one FFT convolution of length ≥ 2L (no wrap-around), then GELU, dropout and a
``Linear(d, 2d)`` + GLU. Any length L ≥ 1 works; the kernel is rebuilt for each L.
Tensor contract: ``(batch, d_model, L)`` float in, same shape out.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["BidirectionalDSS", "DSSKernel", "dss_convolve", "fft_size"]


def fft_size(n: int) -> int:
    """Return the smallest 2·3·5-smooth integer ≥ ``n`` (a fast FFT length).

    Parameters
    ----------
    n : int
        Minimum length, ≥ 1.

    Returns
    -------
    int
    """
    size = max(n, 1)
    while True:
        rest = size
        for prime in (2, 3, 5):
            while rest % prime == 0:
                rest //= prime
        if rest == 1:
            return size
        size += 1


class DSSKernel(nn.Module):
    """The two convolution kernels (forward, backward) of a bidirectional DSS layer.

    Parameters
    ----------
    channels : int
        Independent channels H (``d_model``).
    state_size : int
        State size N per channel, even; N/2 complex modes are stored.
    dt_min, dt_max : float, optional
        Range of the log-uniform Δ initialisation. Default 1e-3, 1e-1.

    Attributes
    ----------
    log_re : Parameter (H, N/2)
        log(−Re Λ).
    im : Parameter (H, N/2)
        Im Λ.
    log_dt : Parameter (H,)
        log Δ.
    weight : Parameter (2, H, N/2, 2)
        W̃ for both directions, real and imaginary parts in the last axis.
    """

    def __init__(
        self, channels: int, state_size: int, dt_min: float = 1e-3, dt_max: float = 1e-1
    ) -> None:
        super().__init__()
        if state_size % 2:
            raise ValueError(f"state_size must be even, got {state_size}")
        modes = state_size // 2
        self.log_re = nn.Parameter(torch.full((channels, modes), math.log(0.5)))
        self.im = nn.Parameter(
            math.pi * torch.arange(modes, dtype=torch.float32).repeat(channels, 1)
        )
        log_dt = torch.rand(channels) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min)
        self.log_dt = nn.Parameter(log_dt)
        self.weight = nn.Parameter(torch.randn(2, channels, modes, 2))

    def lambdas(self) -> torch.Tensor:
        """Return Λ, complex ``(H, N/2)`` with negative real parts."""
        return torch.complex(-self.log_re.exp(), self.im)

    def forward(self, length: int) -> torch.Tensor:
        """Return the kernels ``(2, H, length)`` float: ``[0]`` forward, ``[1]`` backward.

        Parameters
        ----------
        length : int
            Sequence length L ≥ 1.

        Returns
        -------
        torch.Tensor
            ``K[c, h, k]`` of the module docstring, dtype of the parameters.
        """
        lam = self.lambdas()  # (H, M)
        dt_lam = lam * self.log_dt.exp().unsqueeze(-1)  # (H, M)
        width = math.isqrt(length - 1) + 1  # C ≥ √L columns, A rows: k = a·C + b
        rows = -(-length // width)
        real = self.log_re.dtype
        col = (dt_lam.unsqueeze(-1) * torch.arange(width, dtype=real, device=lam.device)).exp()
        row = dt_lam.unsqueeze(-1) * torch.arange(
            0, rows * width, width, dtype=real, device=lam.device
        )
        row = row.exp()  # (H, M, A): z^{aC}; col (H, M, C): z^b, z = e^{ΛΔ}
        prefix = col.cumsum(-1)  # Σ_{b' ≤ b} z^{b'}
        last = length - (rows - 1) * width  # terms in the last row
        total = row[..., :-1].sum(-1) * prefix[..., -1] + row[..., -1] * prefix[..., last - 1]
        coef = torch.view_as_complex(self.weight) / (lam * total)  # (2, H, M)
        left = (
            (coef.unsqueeze(-1) * row).permute(1, 0, 3, 2).reshape(lam.shape[0], -1, lam.shape[1])
        )
        grid = torch.bmm(left, col)  # (H, 2A, C): Σ_m coef z^{aC} z^b
        return grid.reshape(lam.shape[0], 2, -1)[..., :length].real.transpose(0, 1)


def dss_convolve(u: torch.Tensor, kernels: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
    """Bidirectional convolution of ``u`` with the DSS kernels plus the D skip, by FFT.

    Parameters
    ----------
    u : torch.Tensor
        Input ``(batch, H, L)`` float.
    kernels : torch.Tensor
        ``(2, H, L)``: forward and backward kernels (:class:`DSSKernel` output).
    skip : torch.Tensor
        D, ``(H,)``.

    Returns
    -------
    torch.Tensor
        ``y`` of the module docstring, ``(batch, H, L)``.
    """
    length = u.shape[-1]
    n = fft_size(2 * length)
    # Lag −m (m = 1..L) sits at n − m and takes K_1[m − 1]: K_1 flipped, ending at n − 1.
    both = F.pad(kernels[0], (0, n - length)) + F.pad(kernels[1].flip(-1), (n - length, 0))
    y = torch.fft.irfft(torch.fft.rfft(u, n=n) * torch.fft.rfft(both, n=n), n=n)[..., :length]
    return y + u * skip.unsqueeze(-1)


class BidirectionalDSS(nn.Module):
    """Bidirectional DSS convolution → GELU → dropout → ``Linear(d, 2d)`` + GLU.

    Parameters
    ----------
    d_model : int
        Channels H.
    state_size : int
        State size N (even).
    dropout : float, optional
        Dropout after the GELU. Default 0.0.

    Notes
    -----
    Input and output ``(batch, d_model, L)`` float, any L ≥ 1.
    """

    def __init__(self, d_model: int, state_size: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.kernel = DSSKernel(d_model, state_size)
        self.skip = nn.Parameter(torch.randn(d_model))
        self.dropout = nn.Dropout(dropout)
        self.output = nn.Linear(d_model, 2 * d_model)

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        """Apply the layer to ``u`` ``(batch, d_model, L)``; same shape out."""
        y = dss_convolve(u, self.kernel(u.shape[-1]), self.skip)
        y = self.dropout(F.gelu(y))
        return F.glu(self.output(y.transpose(1, 2)), dim=-1).transpose(1, 2)
