#!/usr/bin/env python3
"""objective.py TASKS WEIGHTS... -- the primal objective of trained weights.

For every WEIGHTS record of the WEIGHTS streams (g2t-train's output), from
the rows of its task's two classes in the TASKS stream (g2t-split's output):
    primal = 0.5 * (dot(w, w) + bias^2) + C * sum of W_y * loss(y * (w.x + bias))
the objective the exact solver certifies (g2t(7): its bias is the F+1th
weight), and primal_nb, the same without bias^2, the one averaged SGD's
lambda = 1 / (C n) stands for (SGD does not shrink its bias).  In binary64:
a measurement, not a model of the trainer.  Prints a line per record:
    task a b algo epochs C primal primal_nb train_accuracy
"""
import math
import struct
import sys


def records(path):
    b = open(path, 'rb').read()
    off = 8
    while off < len(b):
        t, n = struct.unpack_from('<II', b, off)
        yield t, b[off + 8:off + 8 + n]
        off += 12 + n


def varint(p, off):
    x = s = 0
    while True:
        c = p[off]
        off += 1
        x |= (c & 0x7f) << s
        s += 7
        if c < 0x80:
            return x, off


def shard_rows(p):
    """The rows of a SHARD payload as lists of (index, value)."""
    k, r, F, enc, lo, step = struct.unpack_from('<IIIIff', p, 0)
    rows = []
    if enc in (0, 1):
        size = 4 if enc == 0 else 1
        for i in range(r):
            at = 24 + i * F * size
            vals = (struct.unpack_from('<%df' % F, p, at) if enc == 0 else
                    [lo + step * q for q in p[at:at + F]])
            rows.append([(j, v) for j, v in enumerate(vals) if v != 0.0])
        return k, rows
    off = 24
    for i in range(r):
        n, off = varint(p, off)
        row, j = [], -1
        for _ in range(n):
            d, off = varint(p, off)
            j += d
            if enc == 2:
                v = struct.unpack_from('<f', p, off)[0]
                off += 4
            else:
                v = step * p[off]
                off += 1
            row.append((j, v))
        rows.append(row)
    return k, rows


def loss_of(loss, z):
    if loss == 1:
        return math.log1p(math.exp(-z)) if z > 0 else math.log1p(math.exp(z)) - z
    e = 1.0 - z
    if e <= 0:
        return 0.0
    return e * e if loss == 2 else e


def main():
    if len(sys.argv) < 3:
        sys.exit('usage: objective.py TASKS WEIGHTS...')
    shards = {}
    for t, p in records(sys.argv[1]):
        if t == 2:
            k, rows = shard_rows(p)
            shards[k] = rows
    for path in sys.argv[2:]:
        for t, p in records(path):
            if t != 4:
                continue
            task, a, b = struct.unpack_from('<III', p, 64)
            loss, algo, C, l1, _, seed, wa, wb = struct.unpack_from('<IIffIIff', p, 76)
            F, form, bias, seen, epochs, _ = struct.unpack_from('<IIfQIf', p, 112)
            if epochs == 0:
                continue
            probability = struct.unpack_from('<I', p, 108)[0]
            at = 140 + 8 * probability
            if form == 0:
                w = list(struct.unpack_from('<%df' % F, p, at))
            else:
                w = [0.0] * F
                nnz = struct.unpack_from('<I', p, at)[0]
                for i in range(nnz):
                    j, v = struct.unpack_from('<If', p, at + 4 + 8 * i)
                    w[j] = v
            s = right = n = 0
            for rows, y, W in ((shards[a], 1.0, wa), (shards[b], -1.0, wb)):
                for row in rows:
                    z = bias
                    for j, v in row:
                        z += w[j] * v
                    right += (z > 0) == (y > 0)
                    n += 1
                    s += W * loss_of(loss, y * z)
            ww = sum(x * x for x in w)
            print('%d %d %d %d %d %g %.6f %.6f %.4f' % (
                task, a, b, algo, epochs, C, 0.5 * (ww + bias * bias) + C * s,
                0.5 * ww + C * s, right / n))


main()
