#!/usr/bin/env python3
"""A second implementation of g2t-split (CSV files, default parameters),
g2t-train (averaged SGD, Pegasos, L1, fixed point, the exact solver) and
g2t-predict (votes), written from g2t(5) and g2t(7) alone: the check that
the pages say enough to make the same bytes and the same labels.

Python computes in binary64; one +, -, * or / of binary32 values rounded
back to binary32 is the binary32 operation (53 >= 2 * 24 + 2 bits), so
f(a op b) below is exact binary32 arithmetic.

    tests/vectors/reference.py --check   every line of weights.expected,
                                         tasks of 2048 features, whose rows
                                         come in blocks of 16, and the split
                                         and the labels of tiny, iris, wine
    tests/vectors/reference.py TASKS     the WEIGHTS bytes from byte 112 on
"""
import math
import os
import random
import struct
import subprocess
import sys
import tempfile

def f(x):  # round to binary32
    return struct.unpack('<f', struct.pack('<f', x))[0]
def bits(x): return struct.unpack('<I', struct.pack('<f', x))[0]
def frombits(u): return struct.unpack('<f', struct.pack('<I', u & 0xffffffff))[0]
M32 = 0xffffffff

def dot(a, b, m=None):
    m = len(a) if m is None else m
    s = [0.0]*8
    for i in range(m):
        s[i % 8] = f(s[i % 8] + f(a[i]*b[i]))
    return f(f(f(s[0]+s[1]) + f(s[2]+s[3])) + f(f(s[4]+s[5]) + f(s[6]+s[7])))

def expf(x):
    if x != x: return x
    if x > 88: return math.inf
    if x < -87: return 0.0
    k = f(x*f(1.44269504))
    m = int(f(k + (0.5 if k >= 0 else -0.5)))
    r = f(f(x - f(float(m)*f(0.693145752))) - f(float(m)*f(1.42860677e-6)))
    p = f(0.00138889)
    p = f(f(0.00833336823) + f(r*p))
    p = f(f(0.0416666418) + f(r*p))
    p = f(f(0.166666672) + f(r*p))
    p = f(f(0.5) + f(r*p))
    p = f(1.0 + f(r*p))
    p = f(1.0 + f(r*p))
    return f(p * frombits((m + 127) << 23))

def logf(x):
    if x == 0: return -math.inf
    if not x > 0: return math.nan
    if x == math.inf: return x
    e = 0
    u = bits(x)
    if u < 0x00800000:
        x = f(x*8388608.0); u = bits(x); e = -23
    e += (u >> 23) - 127
    m = frombits((u & 0x7fffff) | 0x3f800000)
    if m > f(1.41421356):
        m = f(m*0.5); e += 1
    s = f(f(m-1)/f(m+1)); s2 = f(s*s)
    p = f(f(0.142857149) + f(s2*f(0.111111112)))
    p = f(f(0.2) + f(s2*p))
    p = f(f(0.333333343) + f(s2*p))
    p = f(1 + f(s2*p))
    return f(f(f(2*s)*p) + f(float(e)*f(0.693147182)))

class Rng:
    def __init__(self, state): self.s = state & M32
    def r(self):
        self.s = (self.s + 0x9e3779b9) & M32
        z = ((self.s ^ (self.s >> 16)) * 0x85ebca6b) & M32
        z = ((z ^ (z >> 13)) * 0xc2b2ae35) & M32
        return z ^ (z >> 16)

def read_stream(path):
    b = open(path, 'rb').read()
    off, recs = 8, []
    while off < len(b):
        t, n = struct.unpack_from('<II', b, off)
        recs.append((t, b[off+8:off+8+n])); off += 12 + n
    return recs

def order(n0, n1, B, rng, epochs):
    """g2t(7), Row order: per epoch, the visits (side, row, loaded, first
    row of its block, rows of its block)."""
    m = [n0, n1]; nb = [(m[s] + B - 1)//B for s in (0, 1)]
    def below(k):
        x = rng.r(); return 0 if k == 1 else x % k
    def coprime(k):
        if k <= 2: return 1
        x = rng.r()
        while True:
            x = 1 + x % (k - 1)
            if math.gcd(k, x) == 1: return x
    first = [None, None]; count = [0, 0]; bpos = [0, 0]; bstep = [0, 0]
    rpos = [0, 0]; rstep = [0, 0]; left = [0, 0]
    for e in range(epochs):
        for s in (0, 1):
            bstep[s] = coprime(nb[s]); bpos[s] = below(nb[s]); left[s] = 0
        lead = n0 - 1
        visits = []
        for _ in range(n0 + n1):
            if lead >= n0: s = 1; lead -= n0
            else: s = 0; lead += n1
            load = False
            if left[s] == 0:
                fst = bpos[s]*B
                if fst != first[s]:
                    load = True; first[s] = fst; count[s] = min(B, m[s] - fst)
                bpos[s] = (bpos[s] + bstep[s]) % nb[s]
                rstep[s] = coprime(count[s]); rpos[s] = below(count[s]); left[s] = count[s]
            visits.append((s, first[s] + rpos[s], load, first[s], count[s]))
            rpos[s] = (rpos[s] + rstep[s]) % count[s]; left[s] -= 1
        yield visits

def loss_of(loss, z):
    if loss == 1:
        if z > 30: sl = expf(-z); return sl, sl
        e = expf(z); sl = f(1/f(1+e))
        return (f(-z) if z < -30 else logf(f(1 + f(1/e)))), sl
    if z >= 1: return 0.0, 0.0
    if loss == 2:
        sl = f(1 - z); return f(f(0.5*sl)*sl), sl
    return f(1 - z), 1.0

def sgd(rows, n, F, p, task):
    loss, algo, cost, l1, epochs, seed = p
    B = max(1, 131072 // (4*F))
    v = [0.0]*F; acc = [0.0]*F; st = dict(scale=1.0, frac=0.0, abase=0.0, bias=0.0, abias=0.0, k=0, t=0)
    N = n[0]+n[1]; eta0 = 1.0; lam = f(1/f(cost*float(N)))
    avg_start = (epochs-1)*N if algo == 0 else None
    rng = Rng((seed*0x9e3779b9) ^ task)
    loss_sum = 0.0
    def renorm():
        if st['k'] > 0:
            adiv = f(st['abase']*float(st['k']))
            for i in range(F): acc[i] = f(acc[i] + f(st['frac']*v[i]))
            for i in range(F): acc[i] = f(acc[i]/adiv)
            st['abase'] = f(1/float(st['k']))
        for i in range(F): v[i] = f(v[i]*st['scale'])
        st['scale'] = 1.0; st['frac'] = 0.0
    for visits in order(n[0], n[1], B, rng, epochs):
        loss_sum = 0.0
        for (s, r, load, fst, cnt) in visits:
            x = rows[s][r]; y = 1.0 if s == 0 else -1.0
            t = st['t']
            if t == 0 and algo == 0:
                r2 = 1.0
                for j in range(fst, fst+cnt):
                    r2 = f(r2 + f(dot(rows[s][j], rows[s][j])/float(cnt)))
                eta0 = f(1/r2)
            if algo == 1: eta = f(1/f(lam*float(t+2)))
            else: eta = f(eta0/f(1 + f(f(lam*eta0)*float(t))))
            z = f(y*f(f(dot(v, x)*st['scale']) + st['bias']))
            l, sl = loss_of(loss, z)
            loss_sum = f(loss_sum + l)
            st['scale'] = f(st['scale']*f(1 - f(eta*lam)))
            if sl != 0:
                g = f(f(eta*sl)*y); c = f(g/st['scale'])
                for i in range(F): v[i] = f(v[i] + f(c*x[i]))
                if st['k'] > 0:
                    nc = f(-st['frac']*c)
                    for i in range(F): acc[i] = f(acc[i] + f(nc*x[i]))
                st['bias'] = f(st['bias'] + g)
            if l1 > 0 and t % 16 == 15:
                gv = f(f(f(eta*l1)*16)/st['scale'])
                for i in range(F):
                    old = v[i]
                    v[i] = f(old-gv) if old > gv else f(old+gv) if old < -gv else 0.0
                    if st['k'] > 0: acc[i] = f(acc[i] - f(st['frac']*f(v[i]-old)))
            if st['k'] > 0:
                st['k'] += 1; st['frac'] = f(st['frac'] + f(st['abase']*st['scale']))
                st['abias'] = f(st['abias'] + f(f(st['bias']-st['abias'])/float(st['k'])))
            elif t == avg_start:
                for i in range(F): acc[i] = 0.0
                st['frac'] = 1.0; st['abase'] = f(1/st['scale']); st['abias'] = st['bias']; st['k'] = 1
            if st['scale'] < f(1e-5) or f(st['abase']*float(st['k'])) > f(1e5): renorm()
            st['t'] += 1
    renorm()
    w = list(acc) if st['k'] > 0 else list(v)
    bias = st['abias'] if st['k'] > 0 else st['bias']
    if l1 > 0:
        cut = f(32*l1)
        w = [0.0 if (-cut <= x <= cut) else x for x in w]
    return w, bias, f(loss_sum/float(N)), N*epochs, epochs

def dcd(rows, n, F, p, task):
    loss, algo, C, l1, epochs, seed = p
    X = rows[0] + rows[1]; N = len(X); Y = [1.0]*n[0] + [-1.0]*n[1]
    w = [0.0]*(F+1)
    logistic = loss == 1
    D = f(0.5/C) if loss == 2 else 0.0
    U = C if loss == 0 else None
    def dec(x): return f(dot(w, x, F) + w[F])
    def move(d, x):
        for j in range(F): w[j] = f(w[j] + f(d*x[j]))
        w[F] = f(w[F] + d)
    Q = [f(f(dot(x, x) + 1) + D) for x in X]
    al = [0.0]*N; be = [0.0]*N
    idx = list(range(N)); st = dict(m=N, pmo=3e38, pmi=-3e38, ie=f(0.01))
    BIG = f(3e38)
    st['pmo'] = BIG; st['pmi'] = -BIG
    rng = Rng((seed*0x9e3779b9) ^ task)
    if logistic:
        a = min(f(f(1e-3)*C), f(1e-8))
        for i in range(N):
            al[i] = a; be[i] = f(C - a); move(f(a*Y[i]), X[i])
    def unshrink():
        st['m'] = N; st['pmo'] = BIG; st['pmi'] = -BIG
    def pass_(eps):
        m = st['m']
        for k in range(m-1):
            j = k + rng.r() % (m - k); idx[k], idx[j] = idx[j], idx[k]
        if not logistic:
            pmax, pmin = -BIG, BIG
            k = 0
            while k < st['m']:
                i = idx[k]; x = X[i]; y = Y[i]; a = al[i]
                G = f(f(f(y*dec(x)) - 1) + f(a*D))
                PG = 0.0; shrink = False
                if a == 0:
                    if G > st['pmo']: shrink = True
                    elif G < 0: PG = G
                elif U is not None and a == U:
                    if G < st['pmi']: shrink = True
                    elif G > 0: PG = G
                else: PG = G
                if shrink:
                    st['m'] -= 1; idx[k], idx[st['m']] = idx[st['m']], idx[k]; continue
                pmax = max(pmax, PG); pmin = min(pmin, PG)
                if PG != 0:
                    na = f(a - f(G/Q[i]))
                    if na < 0: na = 0.0
                    if U is not None and na > U: na = U
                    al[i] = na; move(f(f(na - a)*y), x)
                k += 1
            if f(pmax - pmin) <= eps and abs(pmax) <= eps and abs(pmin) <= eps:
                if st['m'] == N: return True
                unshrink(); return False
            if st['m'] == 0: unshrink(); return False
            st['pmo'] = pmax if pmax > 0 else BIG
            st['pmi'] = pmin if pmin < 0 else -BIG
            return False
        pmax = 0.0; newton = 0
        for k in range(st['m']):
            i = idx[k]; x = X[i]; y = Y[i]; q = Q[i]
            ab = [al[i], be[i]]
            b = f(y*dec(x))
            o = 1 if f(f(f(0.5*q)*f(ab[1]-ab[0])) + b) < 0 else 0
            sign = -1.0 if o else 1.0
            old = z = ab[o]
            if f(C - z) < f(0.5*C): z = f(f(0.1)*z)
            def gpf(z): return f(f(f(q*f(z-old)) + f(sign*b)) + logf(f(z/f(C-z))))
            gp = gpf(z)
            pmax = max(pmax, abs(gp))
            kk = 0
            while kk <= 100 and abs(gp) >= st['ie']:
                s_ = f(z - f(gp/f(q + f(f(C/f(C-z))/z))))
                z = f(z*f(0.1)) if s_ <= 0 else s_
                gp = gpf(z); kk += 1
            newton += kk
            if kk > 0:
                ab[o] = z; ab[1-o] = f(C - z); al[i], be[i] = ab
                move(f(f(sign*f(z-old))*y), x)
        if newton <= N // 10:
            st['ie'] = max(f(st['ie']*f(0.1)), f(1e-5))
        return pmax < eps
    def kadd(k, x):
        yy = f(x - k[1]); t = f(k[0] + yy); k[1] = f(f(t - k[0]) - yy); k[0] = t
    eps = f(0.1); passes = 0; conv = False; lsum = 0.0
    while not conv and passes < epochs:
        met = pass_(eps); passes += 1
        if not met and passes < epochs: continue
        for j in range(F+1): w[j] = 0.0
        for i in range(N):
            if al[i] != 0: move(f(al[i]*Y[i]), X[i])
        L = [0.0, 0.0]; Dd = [0.0, 0.0]
        for i in range(N):
            z = f(Y[i]*dec(X[i]))
            if logistic:
                l = logf(f(1 + expf(-z))) if z > 0 else f(logf(f(1 + expf(z))) - z)
                kadd(Dd, f(-f(f(al[i]*logf(al[i])) + f(be[i]*logf(be[i])))))
            else:
                l = f(1 - z) if z < 1 else 0.0
                if D != 0: l = f(l*l)
                kadd(Dd, f(al[i] - f(f(f(0.5*al[i])*al[i])*D)))
            kadd(L, l)
        ww = dot(w, w)
        primal = f(f(0.5*ww) + f(C*L[0]))
        dual = f(Dd[0] - f(0.5*ww))
        if logistic:
            dual = f(f(dual + f(f(float(n[0])*C)*logf(C))) + f(f(float(n[1])*C)*logf(C)))
        gap = f(f(primal - dual)/(primal if primal > 0 else 1.0))
        conv = gap <= f(1e-3) or (met and eps < f(2*f(1e-4)))
        eps = f(eps*f(0.1))
        if not logistic: unshrink()
        lsum = L[0]
    return w[:F], w[F], f(lsum/float(N)), N*passes, passes

def fixed(rows, n, F, p, task, step):
    """g2t(7), Fixed point: rows are the shards' bytes."""
    loss, algo, cost, l1, epochs, seed = p
    N = n[0] + n[1]; B = max(1, 131072 // F); TWO_S = 268435456.0
    V = [0]*F; U = [0]*F; st = dict(Bi=0, UB=0, k=0, g=0, h=0, shrink=0, eta0=1.0, loss=0)
    step2 = f(step*step); lam = f(1/f(cost*float(N)))
    avg_start = N if epochs > 1 else 0
    def rates(t):
        eta = f(st['eta0']/f(1 + f(f(lam*st['eta0'])*float(t))))
        keep = f(1 - f(eta*lam))
        for _ in range(7): keep = f(keep*keep)
        gone = f(1 - keep)
        st['g'] = int(f(f(f(eta*step2)*TWO_S) + 0.5))
        st['h'] = int(f(f(eta*TWO_S) + 0.5))
        st['shrink'] = int(f(gone*4294967296.0)) if gone < 1 else 0xffffffff
    rng = Rng((seed*0x9e3779b9) ^ task)
    t = 0
    for visits in order(n[0], n[1], B, rng, epochs):
        st['loss'] = 0
        for (s, r, load, fst, cnt) in visits:
            q = rows[s][r]; y = 1 if s == 0 else -1
            if t == 0:
                sq = sum(b*b for j in range(fst, fst+cnt) for b in rows[s][j])
                st['eta0'] = f(1/f(1 + f(f(f(float(sq))*step2)/float(cnt))))
                rates(0)
            k = st['k']
            Z = 128*sum((V[i] >> 7)*q[i] for i in range(F)) + st['Bi']
            M = Z if y > 0 else -Z
            if M < 1 << 28:
                st['loss'] += (1 << 28) - M
                gy = st['g']*y
                for i in range(F):
                    if q[i]:
                        nv = max(-(1 << 27), min(1 << 27, V[i] + gy*q[i]))
                        if k: U[i] += k*(nv - V[i])
                        V[i] = nv
                st['Bi'] += st['h']*y
                if k: st['UB'] += k*st['h']*y
            if (t + 1) % 128 == 0:
                for i in range(F):
                    d = (abs(V[i])*st['shrink'] + (1 << 31)) >> 32
                    if d:
                        ch = d if V[i] < 0 else -d
                        V[i] += ch
                        if k: U[i] += k*ch
                rates(t + 1)
            if k: st['k'] += 1
            elif t == avg_start:
                U = [0]*F; st['UB'] = 0; st['k'] = 1
            t += 1
    kf = float(st['k']); unit = f(1/TWO_S)
    w = [f(f(f(f(float(V[i])) - f(f(float(U[i]))/kf))*unit)/step) for i in range(F)]
    bias = f(f(f(float(st['Bi'])) - f(f(float(st['UB']))/kf))*unit)
    return w, bias, f(f(f(float(st['loss']))*unit)/float(N)), N*epochs, epochs


def train_stream(path, label):
    recs = read_stream(path)
    shards = {}; F = None
    for t, p in recs:
        if t == 1: F = struct.unpack_from('<I', p, 0)[0]
        if t == 2:
            k, r, ff, enc, lo, step = struct.unpack_from('<IIIIff', p, 0)
            if enc == 0:
                rows = [list(struct.unpack_from('<%df' % ff, p, 24 + 4*ff*i)) for i in range(r)]
            else:  # the bytes, for fixed point, and what they stand for
                rows = [list(p[24 + ff*i:24 + ff*(i+1)]) for i in range(r)]
                rows = [(q, [f(lo + f(step*b)) for b in q]) for q in rows]
            shards[k] = (rows, enc, step)
    for t, p in recs:
        if t != 3: continue
        task, a, b = struct.unpack_from('<III', p, 64)
        params = struct.unpack_from('<IIffII', p, 76)
        (ra, enc, step), (rb, _, _) = shards[a], shards[b]
        n = (len(ra), len(rb))
        if params[1] == 2:
            w, bias, loss, seen, ep = fixed([[q for q, _ in ra], [q for q, _ in rb]], n, F,
                                            params, task, step)
        else:
            rows = [ra, rb] if enc == 0 else [[x for _, x in ra], [x for _, x in rb]]
            if params[1] == 3: w, bias, loss, seen, ep = dcd(rows, n, F, params, task)
            else: w, bias, loss, seen, ep = sgd(rows, n, F, params, task)
        out = struct.pack('<IIfQIf', F, 0, bias, seen, ep, loss) + struct.pack('<%df' % F, *w) + b'\0'*4
        yield '%s\t%d\t%s' % (label, task, out.hex())


# --- g2t-split and g2t-predict, from g2t(5) -----------------------------------

def read_csv(path):
    """Header, then rows of (label, values) with the label the last column."""
    import gzip
    opener = gzip.open if path.endswith('.gz') else open
    with opener(path, 'rt') as fh:
        lines = [line.rstrip('\n') for line in fh if line.strip()]
    head = lines[0].split(',')
    rows = [(fields[-1], [float(v) for v in fields[:-1]])  # binary64, as strtod
            for fields in (line.split(',') for line in lines[1:])]
    return head, rows


def is_decimal(name):
    import re
    return re.fullmatch(r'[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?', name) is not None


def canonical(names):
    numeric = all(is_decimal(n) and math.isfinite(float(n)) for n in names)
    key = (lambda n: (float(n), n.encode())) if numeric else (lambda n: n.encode())
    return sorted(names, key=key), numeric


def splitmix64(state):
    state = (state + 0x9e3779b97f4a7c15) & (2**64 - 1)
    z = state
    z = ((z ^ (z >> 30)) * 0xbf58476d1ce4e5b9) & (2**64 - 1)
    z = ((z ^ (z >> 27)) * 0x94d049bb133111eb) & (2**64 - 1)
    return state, z ^ (z >> 31)


def blake(b):
    import hashlib
    return hashlib.blake2b(b, digest_size=32).digest()


def record(t, payload):
    import zlib
    head = struct.pack('<II', t, len(payload))
    return head + payload + struct.pack('<I', zlib.crc32(head + payload))


def string(b):
    return struct.pack('<I', len(b)) + b


def ref_split(path, params=(2, 3, 1.0, 0.0, 1000, 1)):
    """The stream g2t-split PATH writes with its default parameters."""
    head, raw = read_csv(path)
    rows = [(label, [f(v) for v in x]) for label, x in raw]
    F = len(head) - 1
    classes, numeric = canonical(sorted(set(label for label, _ in rows)))
    lo = list(rows[0][1]); hi = list(rows[0][1])
    for _, x in rows[1:]:
        for j in range(F):
            lo[j] = x[j] if x[j] < lo[j] else lo[j]
            hi[j] = x[j] if x[j] > hi[j] else hi[j]
    # few binary32 steps from lo to hi: wide, every value less the least
    # one in binary64, then rounded (g2t(5) SCHEMA)
    step = [f(frombits(bits(max(abs(hi[j]), abs(lo[j]))) + 1) - max(abs(hi[j]), abs(lo[j])))
            for j in range(F)]
    wide = any(hi[j] > lo[j] and f(f(hi[j] - lo[j]) / step[j]) < 1024 for j in range(F))
    if wide:
        lo = [min(x[j] for _, x in raw) for j in range(F)]
        rows = [(label, [f(x[j] - lo[j]) for j in range(F)]) for label, x in raw]
        span = [max(x[j] for _, x in rows) for j in range(F)]
        scale = [f(1/span[j]) for j in range(F)]
    else:
        scale = [f(1/f(hi[j] - lo[j])) if hi[j] > lo[j] else 0.0 for j in range(F)]
    shards = []
    for k, name in enumerate(classes):
        members = [x for label, x in rows if label == name]
        state = params[5] << 32 | k
        for j in range(len(members) - 1, 0, -1):
            state, x = splitmix64(state)
            r = x % (j + 1)
            members[j], members[r] = members[r], members[j]
        values = b''.join(struct.pack('<%df' % F, *[f((x[j] if wide else f(x[j] - lo[j]))*scale[j])
                                                     for j in range(F)])
                          for x in members)
        shards.append(struct.pack('<IIIIff', k, len(members), F, 0, 0.0, 0.0) + values)
    schema = struct.pack('<III', F, len(classes), (1 if numeric else 0) | (32 if wide else 0))
    schema += string(head[-1].encode())
    schema += b''.join(string(n.encode()) for n in head[:-1])
    schema += b''.join(struct.pack('<df' if wide else '<ff', lo[j], scale[j]) for j in range(F))
    schema += b''.join(string(n.encode()) + sh[4:8] + blake(sh)  # name, rows, hash
                       for n, sh in zip(classes, shards))
    out = struct.pack('<II', 0x54324789, 2) + record(1, schema)
    out += b''.join(record(2, sh) for sh in shards)
    K, t = len(classes), 0
    for a in range(K):
        for b in range(a + 1, K):
            ident = (blake(schema) + struct.pack('<III', t, a, b) + struct.pack('<IIffII', *params) +
                     struct.pack('<ffI', 1.0, 1.0, 0))  # class weights 1, no probability
            out += record(3, blake(ident) + ident + struct.pack('<I', 0))
            t += 1
    return out


def ref_predict(model, path):
    """The labels g2t-predict MODEL PATH prints."""
    recs = read_stream(model)
    schema = [p for t, p in recs if t == 1][0]
    mp = [p for t, p in recs if t == 5][0]
    F, K, flags = struct.unpack_from('<III', schema, 0)
    at = 12
    def take_str():
        nonlocal at
        n = struct.unpack_from('<I', schema, at)[0]; at += 4 + n
        return schema[at - n:at].decode()
    take_str()
    names = [take_str() for _ in range(F)]
    entry = '<df' if flags & 32 else '<ff'  # wide: binary64 offsets
    scaling = [struct.unpack_from(entry, schema, at + struct.calcsize(entry)*j) for j in range(F)]
    at += struct.calcsize(entry)*F
    classes = []
    for _ in range(K):
        classes.append(take_str()); at += 36
    P = K*(K - 1)//2
    present = mp[44:44 + P]
    W = [list(struct.unpack_from('<%df' % (F + 1), mp, 44 + P + 4*(F + 1)*p)) for p in range(P)]
    head, rows = read_csv(path)
    col = [head.index(n) for n in names]
    labels = []
    for _, x in rows:
        x = [f((f(x[col[j]] - scaling[j][0]) if flags & 32  # wide: in binary64
                else f(f(x[col[j]]) - scaling[j][0]))*scaling[j][1]) for j in range(F)]
        votes = [0]*K; margin = [0.0]*K; p = 0
        for a in range(K):
            for b in range(a + 1, K):
                if present[p]:
                    z = f(dot(W[p], x, F) + W[p][F])
                    votes[a if z > 0 else b] += 1
                    margin[a] = f(margin[a] + z); margin[b] = f(margin[b] - z)
                p += 1
        best = 0
        for k in range(1, K):
            if votes[k] > votes[best] or (votes[k] == votes[best] and margin[k] > margin[best]):
                best = k
        labels.append(classes[best])
    return labels


def check_split_predict(root, bindir, tmp):
    """g2t-split's bytes and g2t-predict's labels, made from g2t(5) alone."""
    failed = 0
    data = os.path.join(root, '..', 'data')
    # Dense sets g2t-split first keeps as non-zeros: zeros then values
    # (kept sparse, then dense from the row where the non-zeros outgrow
    # dense rows), and 55 % values (sparse to the end, dense after); -0s
    # keep their bits.
    rng = random.Random(11)
    for name, density in (('late', lambda i: 0.15 if i < 60 else 0.8), ('band', lambda i: 0.55)):
        with open('%s/%s.csv' % (tmp, name), 'w') as out:
            out.write('a,b,c,d,e,f,g,h,y\n')
            for i in range(240):
                x = [rng.choice(('3', '-1.5', '7', '0.25')) if rng.random() < density(i)
                     else rng.choice(('0', '0', '-0')) for _ in range(8)]
                out.write(','.join(x) + ',%s\n' % 'pqr'[rng.randrange(3)])
    # timestamps near 1.7e9, which binary32 holds to 128 s: a wide schema
    with open(tmp + '/wide.csv', 'w') as out:
        out.write('t,u,y\n')
        for i in range(150):
            out.write('%d,%.3f,k%d\n' % (1700000000 + 40*(i % 3) + rng.randrange(30),
                                         rng.random(), i % 3))
    for train, test in ((root + '/tiny.csv', root + '/tiny.csv'),
                        (tmp + '/wide.csv', tmp + '/wide.csv'),
                        (tmp + '/late.csv', tmp + '/late.csv'),
                        (tmp + '/band.csv', tmp + '/band.csv'),
                        (data + '/iris.train.csv.gz', data + '/iris.test.csv.gz'),
                        (data + '/wine.train.csv.gz', data + '/wine.test.csv.gz')):
        split('', train, bindir, tmp + '/s.g2t')
        same = open(tmp + '/s.g2t', 'rb').read() == ref_split(train)
        print('%s - g2t-split %s: the same bytes' % ('ok' if same else 'not ok',
                                                      os.path.basename(train)))
        subprocess.run([bindir + '/g2t-train', '-o', tmp + '/w.g2t', tmp + '/s.g2t'], check=True)
        subprocess.run([bindir + '/g2t-merge', '-o', tmp + '/m.g2t', tmp + '/w.g2t'], check=True)
        tool = subprocess.run([bindir + '/g2t-predict', tmp + '/m.g2t', test], check=True,
                              capture_output=True, text=True).stdout.split()
        ours = ref_predict(tmp + '/m.g2t', test)
        print('%s - g2t-predict %s: the same %d labels' % ('ok' if tool == ours else 'not ok',
                                                          os.path.basename(test), len(ours)))
        failed += (not same) + (tool != ours)
    return failed


def split(opts, csv, bindir, out):
    with open(out, 'wb') as f:
        subprocess.run([bindir + '/g2t-split', *opts.split(), csv], stdout=f, check=True)


def check(root):
    """Every line of weights.expected, then tasks of 2048 features (rows in
    blocks of 16 for SGD, uneven classes), against g2t-train."""
    bindir = os.environ.get('G2T_BIN', 'bin')
    failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        want = {}
        for line in open(root + '/weights.expected'):
            want.setdefault(line.split('\t')[0], []).append(line.rstrip('\n'))
        cases = [(opts, root + '/tiny.csv', lines) for opts, lines in want.items()]
        random.seed(5)
        with open(tmp + '/wide.csv', 'w') as wide:
            wide.write(','.join('f%d' % i for i in range(2048)) + ',c\n')
            for c, rows, top in (('a', 37, 9), ('b', 29, 7)):
                for _ in range(rows):
                    wide.write(','.join(str(random.randint(0, top)) for _ in range(2048)) +
                               ',' + c + '\n')
        cases.append(('--algo asgd --epochs 2', tmp + '/wide.csv', None))
        cases.append(('--algo fixed --epochs 3', tmp + '/wide.csv', None))
        for opts, csv, lines in cases:
            split(opts, csv, bindir, tmp + '/s.g2t')
            if lines is None:  # g2t-train's own bytes
                subprocess.run([bindir + '/g2t-train', '-o', tmp + '/w.g2t', tmp + '/s.g2t'],
                               check=True)
                lines = ['%s\t%d\t%s' % (opts, struct.unpack_from('<I', p, 64)[0], p[112:].hex())
                         for t, p in read_stream(tmp + '/w.g2t') if t == 4]
            got = list(train_stream(tmp + '/s.g2t', opts))
            print('%s - %s: %d tasks' % ('ok' if got == lines else 'not ok', opts, len(lines)))
            failed += got != lines
        failed += check_split_predict(root, bindir, tmp)
    return failed


if __name__ == '__main__':
    if sys.argv[1:] == ['--check']:
        sys.exit(1 if check(os.path.dirname(os.path.abspath(__file__))) else 0)
    for line in train_stream(sys.argv[1], '-'):
        print(line)
