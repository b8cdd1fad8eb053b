#!/usr/bin/env python3
"""Generates the approximate-computing kernels of AxBench as CSV tables,
each computed from its textbook definition with a fixed seed (Python's own
Mersenne Twister, so the files are the same on every machine):

  inversek2j    (x, y) of a 2-joint arm's tip -> joint angles (theta1, theta2)
  blackscholes  (S, K, r, sigma, T, put) -> European option price
  fft           fraction x -> twiddle factor (cos 2 pi x, sin 2 pi x)
  sobel         3x3 window of intensities -> gradient magnitude
  jmeint        two 3-D triangles (18 coordinates) -> intersect (class 0/1)
  kmeans        an (r, g, b) point -> nearest of 6 fixed centroids (class)

Each kernel writes NAME-train.csv and NAME-test.csv (header row; targets
are the last columns, named t_*) into the output folder. Ranges and sizes
are documented in data/README.md.

usage: make_axbench.py OUT_DIR [--train N] [--test N] [--seed S] [KERNEL...]
"""
import argparse
import csv
import math
import os
import random
import sys

L1, L2 = 0.5, 0.5  # inversek2j link lengths
CENTROIDS = [(0.1, 0.1, 0.1), (0.9, 0.1, 0.1), (0.1, 0.9, 0.1),
             (0.1, 0.1, 0.9), (0.9, 0.9, 0.2), (0.5, 0.5, 0.9)]


def inversek2j(rng):
    """Angles drawn, the tip by forward kinematics, the angles back by the
    closed-form inverse (elbow down): the targets are the inverse's."""
    t1, t2 = rng.uniform(0, math.pi / 2), rng.uniform(0.1, math.pi - 0.1)
    x = L1 * math.cos(t1) + L2 * math.cos(t1 + t2)
    y = L1 * math.sin(t1) + L2 * math.sin(t1 + t2)
    c2 = (x * x + y * y - L1 * L1 - L2 * L2) / (2 * L1 * L2)
    a2 = math.acos(max(-1.0, min(1.0, c2)))
    a1 = math.atan2(y, x) - math.atan2(L2 * math.sin(a2), L1 + L2 * math.cos(a2))
    return [x, y], [a1, a2]


def norm_cdf(x):
    return 0.5 * (1 + math.erf(x / math.sqrt(2)))


def blackscholes(rng):
    s, k = rng.uniform(50, 150), rng.uniform(50, 150)
    r, v, t = rng.uniform(0.01, 0.1), rng.uniform(0.05, 0.65), rng.uniform(0.1, 2.0)
    put = rng.randrange(2)
    d1 = (math.log(s / k) + (r + v * v / 2) * t) / (v * math.sqrt(t))
    d2 = d1 - v * math.sqrt(t)
    call = s * norm_cdf(d1) - k * math.exp(-r * t) * norm_cdf(d2)
    price = call - s + k * math.exp(-r * t) if put else call  # put-call parity
    return [s, k, r, v, t, put], [price]


def fft(rng):
    x = rng.random()
    return [x], [math.cos(2 * math.pi * x), math.sin(2 * math.pi * x)]


def sobel(rng):
    """A window of a smooth random ramp plus noise (as image patches are),
    the Sobel magnitude sqrt(gx^2 + gy^2) divided by its bound 4 sqrt 2."""
    a, b, c = rng.uniform(-0.4, 0.4), rng.uniform(-0.4, 0.4), rng.uniform(0.2, 0.8)
    w = [[min(1.0, max(0.0, c + a * (j - 1) + b * (i - 1) + rng.gauss(0, 0.05)))
          for j in range(3)] for i in range(3)]
    gx = (w[0][2] + 2 * w[1][2] + w[2][2]) - (w[0][0] + 2 * w[1][0] + w[2][0])
    gy = (w[2][0] + 2 * w[2][1] + w[2][2]) - (w[0][0] + 2 * w[0][1] + w[0][2])
    return [v for row in w for v in row], [math.hypot(gx, gy) / (4 * math.sqrt(2))]


def sub(a, b):
    return [a[0] - b[0], a[1] - b[1], a[2] - b[2]]


def cross(a, b):
    return [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]]


def dot(a, b):
    return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]


def segment_hits(p, q, tri):
    """Moller-Trumbore: does segment pq cross triangle tri?"""
    e1, e2, d = sub(tri[1], tri[0]), sub(tri[2], tri[0]), sub(q, p)
    h = cross(d, e2)
    a = dot(e1, h)
    if abs(a) < 1e-12:
        return False  # parallel (measure zero for random triangles)
    f = 1 / a
    s = sub(p, tri[0])
    u = f * dot(s, h)
    if u < 0 or u > 1:
        return False
    qv = cross(s, e1)
    v = f * dot(d, qv)
    if v < 0 or u + v > 1:
        return False
    t = f * dot(e2, qv)
    return 0 <= t <= 1


def jmeint(rng):
    """Two triangles in the unit cube; in general position they intersect
    exactly when an edge of one crosses the other."""
    t1 = [[rng.random() for _ in range(3)] for _ in range(3)]
    t2 = [[rng.random() for _ in range(3)] for _ in range(3)]
    hit = any(segment_hits(a[i], a[(i + 1) % 3], b) for a, b in ((t1, t2), (t2, t1))
              for i in range(3))
    return [c for v in t1 + t2 for c in v], [int(hit)]


def kmeans(rng):
    p = [rng.random() for _ in range(3)]
    d = [sum((p[i] - c[i]) ** 2 for i in range(3)) for c in CENTROIDS]
    return p, [d.index(min(d))]


KERNELS = {
    "inversek2j": (inversek2j, ["x", "y"], ["t_theta1", "t_theta2"]),
    "blackscholes": (blackscholes, ["S", "K", "r", "sigma", "T", "put"], ["t_price"]),
    "fft": (fft, ["x"], ["t_cos", "t_sin"]),
    "sobel": (sobel, [f"p{i}" for i in range(9)], ["t_magnitude"]),
    "jmeint": (jmeint, [f"{t}{v}{c}" for t in "ab" for v in "012" for c in "xyz"],
               ["t_intersect"]),
    "kmeans": (kmeans, ["r", "g", "b"], ["t_cluster"]),
}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out")
    ap.add_argument("kernels", nargs="*", help="default: all")
    ap.add_argument("--train", type=int, default=5000)
    ap.add_argument("--test", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_intermixed_args()
    bad = [k for k in a.kernels if k not in KERNELS]
    if bad:
        sys.exit(f"make_axbench: unknown kernel {bad[0]} (have {', '.join(KERNELS)})")
    os.makedirs(a.out, exist_ok=True)
    for name in a.kernels or KERNELS:
        fn, xs, ys = KERNELS[name]
        rng = random.Random(a.seed * 1000 + list(KERNELS).index(name))
        for part, n in (("train", a.train), ("test", a.test)):
            path = os.path.join(a.out, f"{name}-{part}.csv")
            with open(path + ".tmp", "w", newline="") as f:
                w = csv.writer(f)
                w.writerow(xs + ys)
                for _ in range(n):
                    x, y = fn(rng)
                    w.writerow([repr(float(v)) if isinstance(v, float) else v for v in x + y])
            os.replace(path + ".tmp", path)
        print(f"{name}: {a.train} train, {a.test} test rows -> {a.out}/{name}-*.csv")


if __name__ == "__main__":
    main()
