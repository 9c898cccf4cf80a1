"""Tests of the DSS layer: the softmax kernel against its formula, the FFT convolution
against a direct O(L²) sum, causality of each direction, stability."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from exprflow.models.mlm.dss import BidirectionalDSS, DSSKernel, dss_convolve, fft_size


def _kernel(channels: int = 4, state: int = 8, seed: int = 0) -> DSSKernel:
    torch.manual_seed(seed)
    kernel = DSSKernel(channels, state)
    with torch.no_grad():  # move away from the initialisation so every term matters
        kernel.log_re.add_(0.3 * torch.randn_like(kernel.log_re))
        kernel.im.add_(torch.randn_like(kernel.im))
    return kernel


def _numpy_softmax_kernel(kernel: DSSKernel, length: int) -> np.ndarray:
    """K[c,h,k] = Re Σ_n W[c,h,n] / Λ[h,n] · softmax_k(Λ[h,n] Δ[h] k), complex128."""
    re = -np.exp(kernel.log_re.detach().double().numpy())
    lam = re + 1j * kernel.im.detach().double().numpy()
    dt = np.exp(kernel.log_dt.detach().double().numpy())
    w = kernel.weight.detach().double().numpy()
    w = w[..., 0] + 1j * w[..., 1]
    out = np.zeros((2, lam.shape[0], length))
    for c in range(2):
        for h in range(lam.shape[0]):
            for n in range(lam.shape[1]):
                p = lam[h, n] * dt[h] * np.arange(length)
                soft = np.exp(p) / np.exp(p).sum()
                out[c, h] += (w[c, h, n] / lam[h, n] * soft).real
    return out


def _numpy_closed_form(kernel: DSSKernel, length: int) -> np.ndarray:
    """DSS Prop. 1: W/Λ · (e^{ΔΛ} − 1) / (e^{LΔΛ} − 1) · e^{kΔΛ}, the geometric sum."""
    lam = -np.exp(kernel.log_re.detach().double().numpy()) + 1j * kernel.im.detach().numpy()
    dl = lam * np.exp(kernel.log_dt.detach().double().numpy())[:, None]
    w = kernel.weight.detach().double().numpy()
    coef = (w[..., 0] + 1j * w[..., 1]) / lam * (np.exp(dl) - 1) / (np.exp(length * dl) - 1)
    return np.einsum("chn,hnl->chl", coef, np.exp(dl[..., None] * np.arange(length))).real


@pytest.mark.parametrize("length", [1, 2, 16, 17, 300, 5000])
def test_kernel_matches_formula(length: int) -> None:
    kernel = _kernel()
    got = kernel(length).detach().double().numpy()
    assert got.shape == (2, 4, length)
    np.testing.assert_allclose(got, _numpy_softmax_kernel(kernel, length), atol=2e-5, rtol=1e-4)
    if length > 1:
        np.testing.assert_allclose(got, _numpy_closed_form(kernel, length), atol=2e-5, rtol=1e-4)


def test_initialisation() -> None:
    torch.manual_seed(1)
    kernel = DSSKernel(64, 16)
    lam = kernel.lambdas().detach()
    assert torch.allclose(lam.real, torch.full((64, 8), -0.5))
    assert torch.allclose(lam.imag[3], torch.pi * torch.arange(8.0))
    dt = kernel.log_dt.detach().exp()
    assert float(dt.min()) >= 1e-3 and float(dt.max()) <= 1e-1
    assert kernel.weight.shape == (2, 64, 8, 2)
    with pytest.raises(ValueError, match="state_size must be even"):
        DSSKernel(4, 7)


def _direct(u: np.ndarray, k: np.ndarray, d: np.ndarray) -> np.ndarray:
    """y_t = Σ_{s≤t} K0[t−s] u_s + Σ_{s>t} K1[s−t−1] u_s + D u_t, by loops."""
    length = u.shape[-1]
    y = np.zeros_like(u)
    for t in range(length):
        for s in range(length):
            weight = k[0, :, t - s] if s <= t else k[1, :, s - t - 1]
            y[:, :, t] += weight * u[:, :, s]
        y[:, :, t] += d * u[:, :, t]
    return y


@pytest.mark.parametrize("length", [1, 5, 13, 64])
def test_fft_convolution_matches_direct_sum(length: int) -> None:
    gen = torch.Generator().manual_seed(length)
    u = torch.randn(3, 4, length, generator=gen)
    k = torch.randn(2, 4, length, generator=gen)
    d = torch.randn(4, generator=gen)
    got = dss_convolve(u, k, d).numpy()
    want = _direct(u.double().numpy(), k.double().numpy(), d.double().numpy())
    assert np.abs(got - want).max() < 1e-5
    # The forward part alone is causal, the backward part alone strictly anti-causal.
    zero = torch.zeros_like(k[0])
    forward = dss_convolve(u, torch.stack([k[0], zero]), d).numpy()
    backward = dss_convolve(u, torch.stack([zero, k[1]]), torch.zeros(4)).numpy()
    k_np, u_np = k.double().numpy(), u.double().numpy()
    causal = _direct(u_np, np.stack([k_np[0], 0 * k_np[1]]), d.double().numpy())
    anti = _direct(u_np, np.stack([0 * k_np[0], k_np[1]]), np.zeros(4))
    assert np.abs(forward - causal).max() < 1e-5
    assert np.abs(backward - anti).max() < 1e-5


def test_directions_see_only_their_side() -> None:
    # Exact zeros up to FFT round-off (≈1e-7 in float32).
    gen = torch.Generator().manual_seed(0)
    u = torch.randn(1, 2, 20, generator=gen)
    bumped = u.clone()
    bumped[..., 12] += 1.0
    k = torch.randn(2, 2, 20, generator=gen)
    zero = torch.zeros_like(k[0])
    causal = torch.stack([k[0], zero])
    delta = dss_convolve(bumped, causal, torch.ones(2)) - dss_convolve(u, causal, torch.ones(2))
    assert delta[..., :12].abs().max() < 1e-5 and delta[..., 12:].abs().min() > 1e-3
    anti = torch.stack([zero, k[1]])
    delta = dss_convolve(bumped, anti, torch.zeros(2)) - dss_convolve(u, anti, torch.zeros(2))
    assert delta[..., 12:].abs().max() < 1e-5 and delta[..., :12].abs().min() > 1e-3


def test_kernel_of_real_model_through_layer_matches_direct() -> None:
    torch.manual_seed(0)
    layer = BidirectionalDSS(4, 8).eval()
    u = torch.randn(2, 4, 31)
    k = layer.kernel(31).detach()
    y = dss_convolve(u, k, layer.skip.detach())
    want = _direct(u.double().numpy(), k.double().numpy(), layer.skip.detach().double().numpy())
    assert np.abs(y.numpy() - want).max() < 1e-5
    assert layer(u).shape == (2, 4, 31)


def test_kernel_is_stable_for_extreme_parameters() -> None:
    kernel = _kernel(channels=2, state=4)
    with torch.no_grad():
        kernel.log_re[0] = 12.0  # Re Λ ≈ −1.6e5: the softmax is one-hot at k = 0
        kernel.log_re[1] = -12.0  # Re Λ ≈ −6e-6: a near-flat softmax
        kernel.im.mul_(1e3)
        kernel.log_dt.fill_(0.0)
    out = kernel(5000)
    assert torch.isfinite(out).all()
    out.sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in kernel.parameters() if p.grad is not None)


def test_gradients_reach_every_parameter() -> None:
    torch.manual_seed(0)
    layer = BidirectionalDSS(4, 8)
    layer(torch.randn(2, 4, 9)).square().sum().backward()
    for name, param in layer.named_parameters():
        assert param.grad is not None and param.grad.abs().sum() > 0, name


@pytest.mark.parametrize(("n", "want"), [(1, 1), (2, 2), (7, 8), (14, 15), (9998, 10000)])
def test_fft_size(n: int, want: int) -> None:
    assert fft_size(n) == want
