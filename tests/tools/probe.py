#!/usr/bin/python3
"""probe.py SHAPE SEED [OUT.csv [TEST.csv]]: a seeded CSV (header, label
last) of a shape tests/shapes.sh does not make, for tests/accuracy.sh.
Without OUT, the train set goes to stdout.  Shapes with their own test file
(outrange) write it to TEST.  Needs numpy (/usr/bin/python3)."""
import sys

import numpy as np


def blobs(rng, sizes, d, spread, centre_scale=10.0):
    k = len(sizes)
    m = rng.uniform(0, centre_scale, size=(k, d))
    x = np.concatenate([m[c] + spread * rng.standard_normal((n, d))
                        for c, n in enumerate(sizes)])
    y = np.concatenate([np.full(n, c) for c, n in enumerate(sizes)])
    return x, y


def shuffle(rng, x, y):
    p = rng.permutation(len(y))
    return x[p], y[p]


def shape(name, rng):
    """Returns (x, labels[, x_test, labels_test]); labels are strings."""
    if name == "lognormal":  # heavy-tailed positive features
        x, y = blobs(rng, [300] * 4, 10, 0.8, 2.0)
        x = np.exp(x)
        return x, y
    if name == "noisy":  # 5 informative features among 300 of noise
        x, y = blobs(rng, [200] * 3, 5, 2.5, 6.0)
        x = np.hstack([x, rng.standard_normal((len(y), 300))])
        return x, y
    if name == "outlier":  # one value 1e6 times the rest in 3 features
        x, y = blobs(rng, [200] * 4, 8, 3.0)
        i = rng.integers(len(y))
        x[i, :3] *= 1e6
        return x, y
    if name == "poisson":  # integer counts, many zeros
        k, d = 5, 30
        lam = rng.gamma(0.5, 1.0, size=(k, d))
        y = np.repeat(np.arange(k), 200)
        x = rng.poisson(lam[y]).astype(float)
        return x, y
    if name == "onehot":  # 3 categorical columns one-hot, 4 continuous
        k, n = 4, 250
        y = np.repeat(np.arange(k), n)
        cols = []
        for levels in (3, 5, 8):
            pref = rng.dirichlet(np.ones(levels) * 0.7, size=k)
            cat = np.array([rng.choice(levels, p=pref[c]) for c in y])
            cols.append(np.eye(levels)[cat])
        m = rng.uniform(0, 4, size=(k, 4))
        cols.append(m[y] + 2.0 * rng.standard_normal((len(y), 4)))
        return np.hstack(cols), y
    if name == "many180":  # 180 classes of 60 rows
        return blobs(rng, [60] * 180, 20, 2.0)
    if name == "rare2":  # 2 classes, 99.5 % / 0.5 %
        x, y = blobs(rng, [3980, 20], 6, 3.0, 6.0)
        return x, y
    if name == "tiny":  # 5 normal classes, 4 of 1 to 3 rows
        return blobs(rng, [150] * 5 + [3, 2, 1, 3], 8, 2.5)
    if name == "mixedsign":  # negative and mixed-sign features
        x, y = blobs(rng, [200] * 4, 10, 3.0)
        x -= 5.0
        x[:, :3] -= 100.0
        return x, y
    if name == "sparsesign":  # mixed sign, > half the values zero
        x, y = blobs(rng, [200] * 4, 12, 1.5, 4.0)
        x -= 2.0
        x[:, 6:] *= 30
        x[rng.random(x.shape) < 0.6] = 0
        return x, y
    if name == "sparseshift":  # mostly-zero columns whose non-zeros are far from 0
        x, y = blobs(rng, [200] * 4, 10, 1.0, 3.0)
        x += 100.0
        x[rng.random(x.shape) < 0.55] = 0
        return x, y
    if name == "labnum":  # numeric labels -1/1
        x, y = blobs(rng, [300, 300], 8, 3.0)
        return x, np.where(y == 0, "-1", "1")
    if name == "labdigit":  # labels 0..9, out of numeric order in the file
        x, y = blobs(rng, [80] * 10, 10, 2.5)
        return x, np.array([str((7 * c + 3) % 10) for c in y])
    if name == "labfloat":  # labels 3.5, -0.25, 10, 2
        x, y = blobs(rng, [150] * 4, 8, 3.0)
        return x, np.array(["3.5", "-0.25", "10", "2"])[y]
    if name == "labtext":  # labels of words with spaces
        x, y = blobs(rng, [150] * 4, 8, 3.0)
        return x, np.array(["class one", "class two", "a b", "zz top"])[y]
    if name == "labelnoise":  # near-duplicate rows, 20 % of labels flipped
        x, y = blobs(rng, [100] * 4, 8, 2.5)
        x = np.repeat(x, 3, axis=0) + 1e-3 * rng.standard_normal((3 * len(y), 8))
        y = np.repeat(y, 3)
        flip = rng.random(len(y)) < 0.2
        y[flip] = rng.integers(0, 4, flip.sum())
        return x, y
    if name == "outrange":  # test rows spread 1.5 times wider than train
        x, y = blobs(rng, [300] * 4, 8, 2.0)
        x, y = shuffle(rng, x, y)
        xt, yt = x[1000:], y[1000:]
        mid = x[:1000].mean(axis=0)
        return x[:1000], y[:1000], mid + 1.5 * (xt - mid), yt
    if name == "wide":  # more features than rows
        return blobs(rng, [40] * 3, 500, 8.0)
    if name == "blobs10":  # labdigit's blobs, 600 rows a class
        return blobs(rng, [600] * 10, 10, 2.5)
    if name == "blobs4":  # mixedsign's blobs, unshifted, 1500 rows a class
        return blobs(rng, [1500] * 4, 10, 3.0)
    if name == "onehotyear":  # one-hot columns (mostly 0) and a year, informative
        k, n = 3, 300
        y = np.repeat(np.arange(k), n)
        pref = rng.dirichlet(np.ones(12) * 0.5, size=k)
        cat = np.array([rng.choice(12, p=pref[c]) for c in y])
        year = np.round(1995 + 8 * y + rng.normal(0, 5, len(y)))
        return np.hstack([np.eye(12)[cat], year[:, None]]), y
    if name == "twofeat":  # a single feature, 3 classes in order along it
        x = np.concatenate([rng.normal(c * 3.0, 1.2, 200) for c in range(3)])[:, None]
        y = np.repeat(np.arange(3), 200)
        return x, y
    raise SystemExit("probe.py: unknown shape " + name)


def write(f, x, y):
    d = x.shape[1]
    f.write(",".join("f%d" % (j + 1) for j in range(d)) + ",label\n")
    for row, lab in zip(x, y):
        f.write(",".join("%.6g" % v for v in row) + "," + str(lab) + "\n")


def main():
    name, seed = sys.argv[1], int(sys.argv[2])
    rng = np.random.default_rng(seed)
    r = shape(name, rng)
    x, y = r[0], r[1]
    x, y = shuffle(rng, x, y)
    out = open(sys.argv[3], "w") if len(sys.argv) > 3 else sys.stdout
    write(out, x, y)
    if len(r) > 2:
        xt, yt = shuffle(rng, r[2], r[3])
        with open(sys.argv[4], "w") as f:
            write(f, xt, yt)


main()
