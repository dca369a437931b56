"""PyTorch CPU reference for bench/train-speed.mjs (not a dependency of hbnn-onnx).

Times training steps of the fmnist-cnn network (3 x Conv3x3-BN-ReLU-MaxPool2, Flatten,
Linear 1152->10) with SGD(lr 0.01, momentum 0.9, weight decay 1e-4) on random data (speed
only), in two forms:

  float   plain float training
  w14     W1.4 Middle-Out STE fine-tuning, what `fineTune` does on a model quantized with
          `quantize(model, { avgBits: 1.4, heuristic: 'middle-out' })`: every Conv/Linear
          weight is re-binarized from its latent float weight at every step (bit map by
          Middle-Out over the whole tensor with the 70/20/10 % distribution of DistFromAvg(1.4),
          then heterogeneous residual binarization with one scale per bit per tensor), the
          clipped straight-through estimator dL/dW = dL/dW_hat * [|W| <= 1], and the scaling
          layer (a learned scalar on the logits) that the quantizer adds after a binarized
          output layer. Activations stay float, as in that W1.4 model.

Usage: python3 bench/train_speed_torch.py MODE BATCH THREADS SAMPLES
Prints one JSON line: {"torch", "mode", "samplesPerSec", "msPerStep", "threads", "batch"}.

The bit maps and binarization follow docs/method.md (METHOD.md sections 1-5) with torch ops:
ties in the Middle-Out key may be broken in another order than src/hbnn (which takes the lower
index first), and sums run in float32 instead of float64; neither changes the work done.
"""
import json
import math
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def dist_counts(n, dist=(0.7, 0.2, 0.1)):
    """Entries per bitwidth: floor of each quota, the remainder to the largest fractional parts."""
    quota = [p * n for p in dist]
    counts = [math.floor(q + 1e-9) for q in quota]
    order = sorted(range(len(dist)), key=lambda b: -(quota[b] - counts[b]))
    for r in range(n - sum(counts)):
        counts[order[r % len(order)]] += 1
    return counts


def middle_out_bitmap(w, counts):
    """bits[j] in 1..len(counts): each round, among unassigned entries, the counts[b] closest to their mean |w| get b+1 bits."""
    a = w.detach().abs().reshape(-1)
    n = a.numel()
    bits = torch.empty(n, dtype=torch.uint8)
    rest = torch.arange(n)
    for b, c in enumerate(counts):
        if b == len(counts) - 1 or c >= rest.numel():
            bits[rest] = b + 1
            break
        if c == 0:
            continue
        ar = a[rest]
        key = (ar - ar.mean()).abs()
        take = torch.topk(key, c, largest=False, sorted=False).indices
        bits[rest[take]] = b + 1
        keep = torch.ones(rest.numel(), dtype=torch.bool)
        keep[take] = False
        rest = rest[keep]
    return bits


def hetero_binarize(w, bits):
    """Residual binarization with a bit map: round i binarizes the entries with >= i bits, one scale per round."""
    e = w.detach().reshape(-1).clone()
    out = torch.zeros_like(e)
    for i in range(1, int(bits.max()) + 1):
        active = (bits >= i).to(e.dtype)
        sign = torch.where(e >= 0, 1.0, -1.0)  # sign(0) = +1
        mu = (e.abs() * active).sum() / active.sum()
        step = mu * sign * active
        out += step
        e -= step
    return out.reshape(w.shape)


class BinarizeSte(torch.autograd.Function):
    @staticmethod
    def forward(ctx, w, counts):
        ctx.save_for_backward(w)
        return hetero_binarize(w, middle_out_bitmap(w, counts))

    @staticmethod
    def backward(ctx, g):
        (w,) = ctx.saved_tensors
        return g * (w.abs() <= 1).to(g.dtype), None


class BinConv(nn.Conv2d):
    def forward(self, x):
        if not hasattr(self, 'counts'):
            self.counts = dist_counts(self.weight.numel())
        return F.conv2d(x, BinarizeSte.apply(self.weight, self.counts), self.bias, padding=self.padding)


class BinLinear(nn.Linear):
    def __init__(self, i, o):
        super().__init__(i, o)
        self.scale = nn.Parameter(torch.ones(()))
        self.counts = dist_counts(self.weight.numel())

    def forward(self, x):
        return F.linear(x, BinarizeSte.apply(self.weight, self.counts), self.bias) * self.scale


def network(binarized):
    conv = BinConv if binarized else nn.Conv2d

    def block(i, o):
        return [conv(i, o, 3, padding=1), nn.BatchNorm2d(o), nn.ReLU(), nn.MaxPool2d(2)]

    head = BinLinear(1152, 10) if binarized else nn.Linear(1152, 10)
    return nn.Sequential(*block(1, 32), *block(32, 64), *block(64, 128), nn.Flatten(), head)


def main():
    mode, batch, threads, samples = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    net = network(mode == 'w14')
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
    x = torch.randn(samples, 1, 28, 28)
    y = torch.randint(0, 10, (samples,))
    loss_fn = nn.CrossEntropyLoss()

    def epoch():
        for s in range(0, samples, batch):
            opt.zero_grad()
            loss = loss_fn(net(x[s:s + batch]), y[s:s + batch])
            loss.backward()
            opt.step()

    epoch()  # warm-up
    t = time.perf_counter()
    epoch()
    dt = time.perf_counter() - t
    steps = math.ceil(samples / batch)
    print(json.dumps({'torch': torch.__version__, 'mode': mode, 'samplesPerSec': round(samples / dt), 'msPerStep': round(1000 * dt / steps, 1), 'threads': threads, 'batch': batch}))


if __name__ == '__main__':
    main()
