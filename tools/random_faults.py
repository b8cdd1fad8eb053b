#!/usr/bin/env python3
"""A random stuck-cell map (phaxcl's fault file) for a network of the given
sizes: FRACTION of all cells, alternately stuck at gmin and gmax, chosen
with SEED; for trying `train --init MODEL --faults FILE` without a chip.

usage: tools/random_faults.py FRACTION SEED [SIZES]   (SIZES default 196,100,10)
"""
import random
import sys


def main():
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__.strip())
    frac, seed = float(sys.argv[1]), int(sys.argv[2])
    sizes = [int(x) for x in (sys.argv[3] if len(sys.argv) == 4 else "196,100,10").split(",")]
    if not 0 <= frac <= 1 or len(sizes) < 2:
        sys.exit("random_faults.py: FRACTION in [0, 1] and at least two sizes")
    # rows 2N+2 (bias pair, p and n rows of each input), one column per neuron
    cells = [(l, r, c) for l in range(len(sizes) - 1)
             for c in range(sizes[l + 1]) for r in range(2 * sizes[l] + 2)]
    pick = random.Random(seed).sample(cells, round(frac * len(cells)))
    print("# layer row column value: %d random faults of %d cells (seed %d)"
          % (len(pick), len(cells), seed))
    for i, (l, r, c) in enumerate(pick):
        print(l, r, c, "gmin" if i % 2 == 0 else "gmax")


if __name__ == "__main__":
    main()
