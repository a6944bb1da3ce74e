"""The same classifier in PyTorch, as a speed peer for s4d-jax (never imported by the package).

Network: Linear encoder → n_layers × [S4D → ReLU → Linear H×H] → mean pool → Linear decoder, trained with
AdamW on cross-entropy. The S4D kernel is computed the way state-spaces/s4's `S4DKernel` does it (ZOH:
K = 2·Re(Σ_n C̃_n · exp(ΔA_n · l)) with C̃ = C·B·(exp(ΔA) − 1)/A, a Vandermonde product over all L), and
the convolution is an FFT one over length 2L on [B, H, L], as in that repository's FFTConv. B is trainable
here, as in s4d-jax, so that the parameter counts match (67,082 for s4d-67k on sMNIST).

Run as a worker for compare.py: each line "step" on stdin runs one timed training step and prints its
seconds; "count" prints the parameter count.
"""
from __future__ import annotations

import argparse
import math
import sys
import time

import torch
from torch import nn


class S4D(nn.Module):
    def __init__(self, h: int, n_state: int, dt_min: float = 1e-3, dt_max: float = 1e-1):
        super().__init__()
        p = n_state // 2
        self.log_dt = nn.Parameter(torch.rand(h) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min))
        self.log_a_real = nn.Parameter(torch.log(0.5 * torch.ones(h, p)))
        self.a_imag = nn.Parameter(math.pi * torch.arange(p).float().repeat(h, 1))
        self.b = nn.Parameter(torch.view_as_real(torch.ones(h, p, dtype=torch.cfloat)).clone())
        self.c = nn.Parameter(torch.randn(h, p, 2) * 0.5**0.5)
        self.d = nn.Parameter(torch.randn(h))

    def kernel(self, length: int) -> torch.Tensor:
        a = -torch.exp(self.log_a_real) + 1j * self.a_imag
        dt_a = a * torch.exp(self.log_dt)[:, None]
        c = torch.view_as_complex(self.c) * torch.view_as_complex(self.b) * (torch.exp(dt_a) - 1.0) / a
        vandermonde = torch.exp(dt_a[..., None] * torch.arange(length, device=a.device))
        return 2 * torch.einsum("hn,hnl->hl", c, vandermonde).real

    def forward(self, u: torch.Tensor) -> torch.Tensor:  # u [B, H, L]
        length = u.shape[-1]
        k_f = torch.fft.rfft(self.kernel(length), n=2 * length)
        y = torch.fft.irfft(torch.fft.rfft(u, n=2 * length) * k_f, n=2 * length)[..., :length]
        return y + u * self.d[:, None]


class Classifier(nn.Module):
    def __init__(self, d_input: int, n_classes: int, h: int, n_state: int, n_layers: int = 4):
        super().__init__()
        self.encoder = nn.Linear(d_input, h)
        self.ssms = nn.ModuleList(S4D(h, n_state) for _ in range(n_layers))
        self.mixers = nn.ModuleList(nn.Linear(h, h) for _ in range(n_layers))
        self.decoder = nn.Linear(h, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x [B, L, C]
        h = self.encoder(x).transpose(1, 2)  # [B, H, L]
        for ssm, mixer in zip(self.ssms, self.mixers):
            h = mixer(torch.relu(ssm(h)).transpose(1, 2)).transpose(1, 2)
        return self.decoder(h.mean(-1))


SIZES = {"s4d-67k": (64, 64, 784, 1), "s4d-265k": (128, 128, 1024, 3)}  # H, N, L, channels


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", choices=sorted(SIZES), default="s4d-67k")
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    h, n_state, length, channels = SIZES[args.size]
    model = Classifier(channels, 10, h, n_state)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.05)
    x = torch.rand(args.batch, length, channels)
    y = torch.arange(args.batch) % 10

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()

    for line in sys.stdin:
        if line.strip() == "count":
            print(sum(p.numel() for p in model.parameters()), flush=True)
        elif line.strip() == "step":
            start = time.perf_counter()
            step()
            print(time.perf_counter() - start, flush=True)


if __name__ == "__main__":
    main()
