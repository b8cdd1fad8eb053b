#!/usr/bin/python3
"""Exports scikit-learn's bundled iris and breast-cancer tables (Debian
python3-sklearn; no download) to CSV with a seeded 80/20 split per class
(stratified), so phaxcl and the PyTorch reference train and test on the
same rows: NAME-train.csv and NAME-test.csv, features then the integer
class in the last column "t_class".

usage: make_sklearn.py OUT_DIR [--seed S]
"""
import argparse
import csv
import os
import random

from sklearn import datasets


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out")
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    for name, load in (("iris", datasets.load_iris), ("breast-cancer", datasets.load_breast_cancer)):
        d = load()
        rng = random.Random(a.seed)
        rows = {"train": [], "test": []}
        for c in sorted(set(int(t) for t in d.target)):
            idx = [i for i, t in enumerate(d.target) if int(t) == c]
            rng.shuffle(idx)
            k = round(0.2 * len(idx))
            rows["test"] += idx[:k]
            rows["train"] += idx[k:]
        names = [n.replace(" ", "_") for n in d.feature_names] + ["t_class"]
        for part, idx in rows.items():
            path = os.path.join(a.out, f"{name}-{part}.csv")
            with open(path + ".tmp", "w", newline="") as f:
                w = csv.writer(f)
                w.writerow(names)
                for i in sorted(idx):
                    w.writerow([repr(float(v)) for v in d.data[i]] + [int(d.target[i])])
            os.replace(path + ".tmp", path)
        print(f"{name}: {len(rows['train'])} train, {len(rows['test'])} test rows")


if __name__ == "__main__":
    main()
