#!/usr/bin/python3
"""PyTorch CPU reference of the phaxcl circuit model (docs/model.md), for
the benchmark: the same network, initialisation distribution, loss (binary
cross-entropy on the rescaled inverter outputs, or squared error), Adam and
batch size, in float32 with a fixed thread count. Reads MNIST-layout IDX
files (optionally .gz) itself and prints one JSON object with the training
throughput (samples/s, first epoch excluded as warm-up) and, with --eval,
the test accuracy.

With --train-csv/--test-csv it trains on a table instead (the last
--targets columns are the targets), scaled as phaxcl scales tables
(docs/model.md, "Regression and tabular data"): features by their training
ranges onto [0, 1], regression targets onto c1 -+ 0.8 |c2| of the o-
output; it reports the test MSE in target units and in V^2 (regression) or
the test accuracy and loss (classification). Its batches are phaxcl's
(--order phaxcl, the default: the same shuffle of each epoch for --seed),
so that both sides take the same steps.

Run with Debian's interpreter (/usr/bin/python3) where python3-torch lives.
"""
import argparse
import gzip
import json
import math
import os
import struct
import sys
import time

import torch

VTC_C = (-0.0012, -0.2483, -0.0235, 31.7581)  # inverted output
VTC_D = (-0.0011, 0.2490, -0.0203, 193.0602)  # non-inverted output


def read_idx(path):
    """Returns (dims, raw bytes) of an IDX file, trying PATH then PATH.gz."""
    for p in (path, path + ".gz"):
        if os.path.exists(p):
            opener = gzip.open if p.endswith(".gz") else open
            with opener(p, "rb") as f:
                data = f.read()
            break
    else:
        sys.exit(f"torch_ref: {path}: no such file (also tried {path}.gz)")
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 8:
        sys.exit(f"torch_ref: {path}: not an unsigned-byte IDX file")
    nd = data[3]
    dims = struct.unpack(">" + "I" * nd, data[4:4 + 4 * nd])
    body = data[4 + 4 * nd:]
    if len(body) != math.prod(dims):
        sys.exit(f"torch_ref: {path}: truncated")
    return dims, body


def load_split(folder, prefix, pool):
    """Images scaled to [0, 1] (pool x pool averaged) and int64 labels."""
    dims, img = read_idx(os.path.join(folder, f"{prefix}-images-idx3-ubyte"))
    _, lab = read_idx(os.path.join(folder, f"{prefix}-labels-idx1-ubyte"))
    n, rows, cols = dims
    x = torch.frombuffer(bytearray(img), dtype=torch.uint8).reshape(n, rows, cols)
    x = x.to(torch.float32) / 255.0
    if pool > 1:
        x = torch.nn.functional.avg_pool2d(x.unsqueeze(1), pool).squeeze(1)
    y = torch.frombuffer(bytearray(lab), dtype=torch.uint8).to(torch.int64)
    return x.reshape(n, -1).contiguous(), y


class Crossbar(torch.nn.Module):
    """Layers of memristor columns, each followed by two inverters."""

    def __init__(self, sizes, vdd, ratio, gen):
        super().__init__()
        self.vdd, self.k = vdd, ratio - 1.0
        self.thetas = torch.nn.ParameterList()
        for n, m in zip(sizes[:-1], sizes[1:]):
            r = 2 * n + 2
            e = math.sqrt(6.0 / (r + m))
            t = (torch.rand(m, r, generator=gen, dtype=torch.float32) * 2 - 1) * e
            self.thetas.append(torch.nn.Parameter(t))

    def forward(self, x):
        h = self.vdd / 2
        v = (x - 0.5) * self.vdd
        p, n = v, -v
        bias = torch.tensor([[h, -h]], dtype=x.dtype).expand(x.shape[0], 2)
        for th in self.thetas:
            g = 1.0 + self.k * torch.sigmoid(th)  # g / gmin; gmin cancels in w
            w = g / g.sum(dim=1, keepdim=True)
            u = torch.cat([bias, p, n], dim=1)
            z = u @ w.t()
            p = VTC_C[0] + VTC_C[1] * torch.tanh(VTC_C[3] * (z - VTC_C[2]))
            n = VTC_D[0] + VTC_D[1] * torch.tanh(VTC_D[3] * (z - VTC_D[2]))
        return p


def loss_fn(o, y, vdd, kind):
    """Per-sample loss summed over outputs, averaged over the batch."""
    t = torch.full_like(o, -vdd / 2)
    t.scatter_(1, y.unsqueeze(1), vdd / 2)
    if kind == "mse":
        return ((o - t) ** 2).sum(dim=1).mean()
    h = ((o + vdd / 2) / vdd).clamp(1e-7, 1 - 1e-7)
    tt = (t + vdd / 2) / vdd
    return -(tt * torch.log(h) + (1 - tt) * torch.log(1 - h)).sum(dim=1).mean()


def read_csv(path, targets):
    """Features and targets of a CSV table with a header row, each value
    rounded to float32 as phaxcl's reader stores it (then scaled in
    float64, as phaxcl scales)."""
    import csv
    with open(path, newline="") as f:
        rows = list(csv.reader(f))[1:]
    data = torch.tensor([[float(v) for v in r] for r in rows], dtype=torch.float32)
    data = data.to(torch.float64)
    return data[:, :-targets], data[:, -targets:]


def fit_range(a):
    """Per-column range; a constant column gets a unit range around it."""
    lo, hi = a.min(0).values, a.max(0).values
    same = hi <= lo
    return torch.where(same, lo - 0.5, lo), torch.where(same, hi + 0.5, hi)


def load_theta(path):
    """theta of every layer from a phaxcl model file (safetensors: an 8-byte
    header length, a JSON header, little-endian F32 tensors layers.{l}.theta)."""
    with open(path, "rb") as f:
        data = f.read()
    n = struct.unpack("<Q", data[:8])[0]
    head = json.loads(data[8:8 + n])
    body = data[8 + n:]
    out = []
    for l in range(int(head["__metadata__"]["nlayers"])):
        t = head[f"layers.{l}.theta"]
        b, e = t["data_offsets"]
        out.append(torch.frombuffer(bytearray(body[b:e]), dtype=torch.float32).reshape(t["shape"]))
    return out


M64 = (1 << 64) - 1


def phx_epoch_order(seed, epoch, n):
    """phaxcl's sample order of an epoch (src/core/train.c phx_epoch_order,
    src/core/rng.h): splitmix64 seeding of xoshiro256** from
    seed ^ (0xd1b54a32d192ed03 epoch), a Fisher-Yates shuffle drawing with
    Lemire's rejection. The same batches in the same order as phaxcl's."""
    x = (seed ^ (0xD1B54A32D192ED03 * epoch)) & M64
    s = []
    for _ in range(4):
        x = (x + 0x9E3779B97F4A7C15) & M64
        z = x
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
        s.append(z ^ (z >> 31))
    s0, s1, s2, s3 = s
    a = list(range(n))
    for i in range(n - 1, 0, -1):
        bound = i + 1
        threshold = ((1 << 64) - bound) % bound
        while True:
            y = (s1 * 5) & M64
            r = ((((y << 7) | (y >> 57)) & M64) * 9) & M64
            t = (s1 << 17) & M64
            s2 ^= s0
            s3 ^= s1
            s1 ^= s2
            s0 ^= s3
            s2 ^= t
            s3 = ((s3 << 45) | (s3 >> 19)) & M64
            if r >= threshold:
                break
        j = r % bound
        a[i], a[j] = a[j], a[i]
    return torch.tensor(a, dtype=torch.int64)


def table_main(a, gen):
    """Trains on a table; prints the test figures as one JSON object."""
    xtr, ytr = read_csv(a.train_csv, a.targets)
    xte, yte = read_csv(a.test_csv, a.targets)
    xlo, xhi = fit_range(xtr)
    scale_x = lambda x: ((x - xlo) / (xhi - xlo)).to(torch.float32)
    regression = a.table_task == "regression"
    if regression:
        ylo, yhi = fit_range(ytr)
        swing = 0.8 * abs(VTC_C[1])
        vlo, vhi = VTC_C[0] - swing, VTC_C[0] + swing
        to_v = lambda y: (vlo + (y - ylo) / (yhi - ylo) * (vhi - vlo)).to(torch.float32)
        from_v = lambda v: ylo + (v.double() - vlo) / (vhi - vlo) * (yhi - ylo)
        ttr, outs = to_v(ytr), a.targets
    else:
        ttr = ytr[:, 0].long()
        outs = int(max(ytr.max(), yte.max())) + 1
    hidden = [int(s) for s in a.layers.split(",") if s] if a.layers else [16]
    sizes = [xtr.shape[1]] + hidden + [outs]
    model = Crossbar(sizes, a.vdd, a.ratio, gen)
    if a.init:  # the very parameters phaxcl starts from
        with torch.no_grad():
            for th, t in zip(model.thetas, load_theta(a.init)):
                if th.shape != t.shape:
                    sys.exit(f"torch_ref: --init {a.init}: shape {tuple(t.shape)}, "
                             f"expected {tuple(th.shape)}")
                th.copy_(t)
    opt = torch.optim.Adam(model.parameters(), lr=a.lr, betas=(0.9, 0.999), eps=1e-8)
    x, n, batch = scale_x(xtr), xtr.shape[0], a.batch or 16
    for e in range(1, (30 if a.epochs is None else a.epochs) + 1):
        order = (phx_epoch_order(a.seed, e, n) if a.order == "phaxcl"
                 else torch.randperm(n, generator=gen))
        for off in range(0, n, batch):
            idx = order[off:off + batch]
            opt.zero_grad(set_to_none=True)
            o = model(x[idx])
            if regression:
                loss = ((o - ttr[idx]) ** 2).sum(dim=1).mean()
            else:
                loss = loss_fn(o, ttr[idx], a.vdd, a.loss)
            loss.backward()
            opt.step()
    out = {"impl": "pytorch", "torch": torch.__version__, "data": a.train_csv,
           "layers": "-".join(map(str, sizes)), "epochs": 30 if a.epochs is None else a.epochs, "batch": batch,
           "lr": a.lr, "seed": a.seed}
    with torch.no_grad():
        o = model(scale_x(xte))
        if regression:
            out["test_mse_v"] = float(((o - to_v(yte)) ** 2).mean())
            out["test_mse"] = float(((from_v(o) - yte) ** 2).mean())
        else:
            out["test_acc"] = float((o.argmax(1) == yte[:, 0].long()).float().mean())
            out["test_loss"] = float(loss_fn(o, yte[:, 0].long(), a.vdd, a.loss))
    print(json.dumps(out))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--train-csv", help="a table with a header row (tables mode)")
    ap.add_argument("--test-csv", help="its test table")
    ap.add_argument("--targets", type=int, default=1, help="target columns, at the end")
    ap.add_argument("--init", help="a phaxcl model file to start from (tables mode)")
    ap.add_argument("--order", choices=["phaxcl", "own"], default="phaxcl",
                    help="tables: the sample order of each epoch, phaxcl's for --seed "
                    "(default: the same batches as phaxcl) or torch's own generator")
    ap.add_argument("--table-task", choices=["regression", "classification"],
                    default="regression")
    ap.add_argument("--task", choices=["paper", "fashion"], default="paper")
    ap.add_argument("--data", help="IDX folder (default depends on --task)")
    ap.add_argument("--pool", type=int, default=1)
    ap.add_argument("--layers", help="hidden sizes, comma-separated")
    ap.add_argument("--epochs", type=int)
    ap.add_argument("--batch", type=int)
    ap.add_argument("--lr", type=float, default=0.01)
    ap.add_argument("--loss", choices=["ce", "mse"], default="ce")
    ap.add_argument("--vdd", type=float, default=0.5)
    ap.add_argument("--ratio", type=float, default=8.33)
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--eval", action="store_true", help="test accuracy per epoch")
    a = ap.parse_args()

    here = os.path.dirname(os.path.abspath(__file__))
    if a.task == "paper":
        data = a.data or os.path.join(here, "..", "data", "mnist14")
        hidden, batch, epochs = [100], a.batch or 32, a.epochs or 20
    else:
        data = a.data or "/usr/share/datasets/fashion-mnist"
        hidden, batch, epochs = [256, 256], a.batch or 256, a.epochs or 3
    if a.layers:
        hidden = [int(s) for s in a.layers.split(",") if s]
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    gen = torch.Generator().manual_seed(a.seed)
    if a.train_csv:
        return table_main(a, gen)

    xtr, ytr = load_split(data, "train", a.pool)
    if a.limit > 0:
        xtr, ytr = xtr[:a.limit], ytr[:a.limit]
    xte, yte = load_split(data, "t10k", a.pool) if a.eval else (None, None)
    classes = int(max(ytr.max(), yte.max() if yte is not None else 0)) + 1
    sizes = [xtr.shape[1]] + hidden + [classes]
    model = Crossbar(sizes, a.vdd, a.ratio, gen)
    opt = torch.optim.Adam(model.parameters(), lr=a.lr, betas=(0.9, 0.999), eps=1e-8)

    n = xtr.shape[0]
    times, accs = [], []
    for _ in range(epochs):
        t0 = time.perf_counter()
        order = torch.randperm(n, generator=gen)
        for off in range(0, n, batch):
            idx = order[off:off + batch]
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(xtr[idx]), ytr[idx], a.vdd, a.loss)
            loss.backward()
            opt.step()
        times.append(time.perf_counter() - t0)
        if a.eval:
            with torch.no_grad():
                accs.append(float((model(xte).argmax(1) == yte).float().mean()))
    timed = times[1:] if len(times) > 1 else times
    out = {
        "impl": "pytorch",
        "torch": torch.__version__,
        "task": a.task,
        "layers": "-".join(map(str, sizes)),
        "batch": batch,
        "epochs": len(timed),
        "threads": torch.get_num_threads(),
        "samples": n * len(timed),
        "seconds": sum(timed),
        "samples_per_s": n * len(timed) / sum(timed),
    }
    if a.eval:
        out["test_acc"] = accs
    print(json.dumps(out))


if __name__ == "__main__":
    main()
