#!/usr/bin/python3
"""An independent G2T reader and writer, written as a third party would from
man/g2t.5 and man/g2t.7 (and, for what the tools print, g2t-predict(1);
for the public key file, g2t-pack(1)), not from the C sources.

  thirdparty.py --check                 the tools' streams, models, packets and
                                        predictions against this one's (TAP)
  thirdparty.py dump FILE...            parse, verify every check, print a summary
  thirdparty.py predict MODEL DATA [--values] [--probability] [--dag]
  thirdparty.py remodel WEIGHTS...      build the MODEL from WEIGHTS (as g2t-merge)
  thirdparty.py reencode FILE           decode then re-encode every record
  thirdparty.py packet KEYSEED PREC SEQ WEIGHTS...   sign a packet of those weights
"""
import gzip, hashlib, math, re, struct, sys, zlib
try:
    import numpy as np
    import cryptography.hazmat.primitives.asymmetric.ed25519  # noqa: F401
except ImportError as e:  # tests/run.sh: 77 is "cannot run here"
    print('needs numpy and cryptography: %s' % e)
    sys.exit(77)

MAGIC = 0x54324789
f32 = np.float32


class Bad(Exception):
    def __init__(self, off, words):
        super().__init__("byte %d: %s" % (off, words))
        self.off = off


def h32(b):
    return hashlib.blake2b(b, digest_size=32).digest()


assert h32(b"").hex() == "0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8"
assert zlib.crc32(b"123456789") == 0xCBF43926


class Cur:
    def __init__(self, b, rec_off):
        self.b, self.p, self.ro = b, 0, rec_off

    def need(self, n, what):
        if self.p + n > len(self.b):
            raise Bad(self.ro, what + " (ends early)")

    def u8(self):
        self.need(1, "u8"); v = self.b[self.p]; self.p += 1; return v

    def u32(self, what="u32"):
        self.need(4, what); v = struct.unpack_from("<I", self.b, self.p)[0]; self.p += 4; return v

    def u64(self):
        self.need(8, "u64"); v = struct.unpack_from("<Q", self.b, self.p)[0]; self.p += 8; return v

    def f32(self):
        self.need(4, "f32"); v = np.frombuffer(self.b, "<f4", 1, self.p)[0]; self.p += 4; return v

    def raw(self, n, what="bytes"):
        self.need(n, what); v = self.b[self.p:self.p + n]; self.p += n; return v

    def string(self):
        n = self.u32("string length")
        if n > 4096:
            raise Bad(self.ro, "a name is longer than 4096 bytes")
        s = self.raw(n, "name")
        if b"\0" in s:
            raise Bad(self.ro, "a name holds a NUL byte")
        return s

    def varint(self, limit_bits=64):
        v, shift, i = 0, 0, 0
        while True:
            c = self.u8(); i += 1
            if i == 10 and c > 1:
                raise Bad(self.ro, "varint over 64 bits")
            v |= (c & 0x7f) << shift; shift += 7
            if not c & 0x80:
                if c == 0 and i > 1:
                    raise Bad(self.ro, "varint not in shortest form")
                break
        if v >= 1 << limit_bits:
            raise Bad(self.ro, "varint over %d bits" % limit_bits)
        return v

    def end(self, what):
        if self.p != len(self.b):
            raise Bad(self.ro, what + ": bytes left (%d of %d used)" % (self.p, len(self.b)))


def finite(x):
    return bool(np.isfinite(x))


# ---- canonical order -------------------------------------------------------
DEC = re.compile(rb"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?\Z")


def is_decimal(s):
    return DEC.match(s) is not None


def canon_sort(names):
    if all(is_decimal(n) and math.isfinite(float(n)) for n in names):
        return sorted(names, key=lambda n: (float(n), n)), True
    return sorted(names), False


def pair_index(a, b, K):
    return a * K - a * (a + 1) // 2 + (b - a - 1)


def pairs(K):
    return [(a, b) for a in range(K) for b in range(a + 1, K)]


# ---- records ---------------------------------------------------------------
def parse_params(c):
    p = dict(loss=c.u32(), algo=c.u32(), cost=c.f32(), l1=c.f32(), epochs=c.u32(), seed=c.u32(),
             weight_a=c.f32(), weight_b=c.f32(), probability=c.u32())
    ok = (p["loss"] <= 2 and p["algo"] <= 3 and 0 < p["cost"] < 1e6 and 0 <= p["l1"] < 1e6
          and 1 <= p["epochs"] <= 100000 and 0 < p["weight_a"] < 1e6 and 0 < p["weight_b"] < 1e6
          and p["probability"] <= 1)
    if p["algo"] == 2 and (p["loss"] != 0 or p["l1"] != 0):
        ok = False
    if p["algo"] == 3 and p["l1"] != 0:
        ok = False
    return p, ok


def parse_identity(c):
    start = c.p
    sid = c.raw(32); task = c.u32(); a = c.u32(); b = c.u32()
    params, ok = parse_params(c)
    ident = bytes(c.b[start:c.p])
    return dict(schema_id=sid, task=task, class_a=a, class_b=b, params=params, raw=ident, hash=h32(ident)), ok


def parse_schema(b, ro):
    c = Cur(b, ro)
    if len(b) < 12:
        raise Bad(ro, "bad SCHEMA record: too short")
    F, K, flags = c.u32(), c.u32(), c.u32()
    if F == 0: raise Bad(ro, "bad SCHEMA record: no features")
    if F > 2097152: raise Bad(ro, "bad SCHEMA record: features exceed the limit")
    if K < 2: raise Bad(ro, "bad SCHEMA record: classes (two at least)")
    if K > 65535: raise Bad(ro, "bad SCHEMA record: classes exceed the limit")
    if flags & ~0x3f: raise Bad(ro, "bad SCHEMA record: flags bit other than 0 to 5")
    if flags & 16 and K < 3: raise Bad(ro, "bad SCHEMA record: bit 4 with K = 2")
    if flags & 32 and flags & 2: raise Bad(ro, "bad SCHEMA record: bits 5 and 1")
    sparse, indexed, taskform, ovr = bool(flags & 2), bool(flags & 4), bool(flags & 8), bool(flags & 16)
    if taskform:
        minsz = 12 + 4 + 32 + 40 * K
    else:
        per = (0 if indexed else 4) + (4 if sparse else 12 if flags & 32 else 8)
        minsz = 12 + 4 + 40 * K + per * F
    if len(b) < minsz:
        raise Bad(ro, "bad SCHEMA record: %d bytes cannot hold F features and K classes" % len(b))
    label = c.string()
    sid = c.raw(32) if taskform else None
    feats = None
    if not (indexed or taskform):
        feats = [c.string() for _ in range(F)]
        if len(set(feats)) != F: raise Bad(ro, "bad SCHEMA record: feature appears twice")
    off = scale = None
    if not taskform:
        if sparse:
            off = np.zeros(F, f32); scale = np.frombuffer(c.raw(4 * F), "<f4").astype(f32)
        elif flags & 32:  # wide: binary64 offsets
            v = np.frombuffer(c.raw(12 * F), np.dtype([("o", "<f8"), ("s", "<f4")]))
            off, scale = v["o"].astype(np.float64), v["s"].astype(f32)
        else:
            v = np.frombuffer(c.raw(8 * F), "<f4").astype(f32); off, scale = v[0::2].copy(), v[1::2].copy()
        if not (np.isfinite(off).all() and np.isfinite(scale).all()):
            raise Bad(ro, "bad SCHEMA record: a feature's scaling is not finite")
    classes = []
    for _ in range(K):
        name = c.string(); rows = c.u32(); sh = c.raw(32)
        if rows == 0: raise Bad(ro, "bad SCHEMA record: class has no rows")
        classes.append(dict(name=name, rows=rows, shard_hash=sh))
    c.end("bad SCHEMA record")
    names = [x["name"] for x in classes]
    if len(set(names)) != K: raise Bad(ro, "bad SCHEMA record: class appears twice")
    order, numeric = canon_sort(names)
    if bool(flags & 1) != numeric: raise Bad(ro, "bad SCHEMA record: flags bit 0 wrong")
    if order != names: raise Bad(ro, "bad SCHEMA record: classes not in canonical order")
    return dict(kind="SCHEMA", F=F, K=K, flags=flags, label=label, feats=feats, offset=off, scale=scale,
                classes=classes, sparse=sparse, ovr=ovr, taskform=taskform,
                id=sid if taskform else h32(b), P=K if ovr else K * (K - 1) // 2)


def parse_shard(b, ro):
    c = Cur(b, ro)
    if len(b) < 24: raise Bad(ro, "bad SHARD record")
    cls, rows, feats, enc = c.u32(), c.u32(), c.u32(), c.u32()
    lo_b, step_b = bytes(b[16:20]), bytes(b[20:24]); c.p = 16
    lo, step = c.f32(), c.f32()
    if enc > 3 or feats < 1: raise Bad(ro, "bad SHARD record: encoding/features")
    if not (finite(lo) and finite(step)): raise Bad(ro, "SHARD lo or step not finite")
    if enc == 0 and (lo_b != b"\0" * 4 or step_b != b"\0" * 4): raise Bad(ro, "bad SHARD record: enc 0 lo/step")
    if enc >= 2 and lo_b != b"\0" * 4: raise Bad(ro, "bad SHARD record: sparse lo")
    X = np.zeros((rows, feats), f32)
    if enc == 0:
        if len(b) != 24 + rows * feats * 4: raise Bad(ro, "bad SHARD record: size")
        X = np.frombuffer(b, "<f4", rows * feats, 24).astype(f32).reshape(rows, feats)
        if not np.isfinite(X).all(): raise Bad(ro, "SHARD value not finite")
    elif enc == 1:
        if len(b) != 24 + rows * feats: raise Bad(ro, "bad SHARD record: size")
        q = np.frombuffer(b, np.uint8, rows * feats, 24).reshape(rows, feats)
        X = (step * q.astype(f32)).astype(f32) + lo
    else:
        if len(b) < 24 + rows: raise Bad(ro, "bad SHARD record: size")
        c.p = 24
        for r in range(rows):
            n = c.varint(32)
            if n > feats: raise Bad(ro, "bad SHARD record: n > features")
            idx = -1
            for k in range(n):
                d = c.varint(32)
                if d < 1: raise Bad(ro, "bad SHARD record: d = 0")
                idx = d - 1 if k == 0 else idx + d
                if idx >= feats: raise Bad(ro, "bad SHARD record: index >= features")
                if enc == 2:
                    v = c.f32()
                    if v == 0 or not finite(v): raise Bad(ro, "bad SHARD record: value 0 or not finite")
                else:
                    q = c.u8()
                    if q == 0: raise Bad(ro, "bad SHARD record: byte 0")
                    v = f32(step * f32(q)) + lo
                X[r, idx] = v
        c.end("bad SHARD record")
    return dict(kind="SHARD", cls=cls, rows=rows, features=feats, encoding=enc, lo=lo, step=step,
                step_bits=step_b, X=X, hash=h32(b))


def parse_task(b, ro):
    c = Cur(b, ro)
    if len(b) < 116: raise Bad(ro, "bad TASK record")
    hh = c.raw(32)
    ident, ok = parse_identity(c)
    tl = c.u32()
    if tl > 256 or len(b) != 116 + tl or not ok or ident["class_a"] >= ident["class_b"]:
        raise Bad(ro, "bad TASK record")
    tok = c.raw(tl)
    if hh != ident["hash"]: raise Bad(ro, "TASK record: its hash is not that of its identity")
    return dict(kind="TASK", ident=ident, token=tok)


def parse_weights(b, ro):
    c = Cur(b, ro)
    if len(b) < 148: raise Bad(ro, "bad WEIGHTS record")
    hh = c.raw(32)
    ident, ok = parse_identity(c)
    F, form = c.u32(), c.u32()
    bias, rows_seen, epochs, loss = c.f32(), c.u64(), c.u32(), c.f32()
    sig = None
    if ident["params"]["probability"]:
        sig = (c.f32(), c.f32())
    if not ok or form > 1 or F < 1: raise Bad(ro, "bad WEIGHTS record")
    w = np.zeros(F, f32)
    if form == 0:
        w = np.frombuffer(c.raw(4 * F), "<f4").astype(f32)
        nnz = None
    else:
        nnz = c.u32()
        if nnz > F: raise Bad(ro, "bad WEIGHTS record: nnz")
        last = -1
        for _ in range(nnz):
            i = c.u32(); v = c.f32()
            if i <= last or i >= F: raise Bad(ro, "bad WEIGHTS record: index")
            w[i] = v; last = i
    tl = c.u32()
    if tl > 256: raise Bad(ro, "bad WEIGHTS record: token")
    tok = c.raw(tl)
    c.end("bad WEIGHTS record")
    exp = (144 + 4 * F if form == 0 else 148 + 8 * nnz) + tl + (8 if sig else 0)
    assert exp == len(b), (exp, len(b))
    if hh != ident["hash"]: raise Bad(ro, "weights: task hash does not match")
    if not (np.isfinite(w).all() and finite(bias)): raise Bad(ro, "weights are not finite")
    if sig and not (finite(sig[0]) and finite(sig[1])): raise Bad(ro, "sigmoid not finite")
    return dict(kind="WEIGHTS", ident=ident, F=F, form=form, bias=bias, rows_seen=rows_seen, epochs=epochs,
                loss=loss, sigmoid=sig, w=w, token=tok, nnz=nnz)


def parse_model(b, ro, schema):
    c = Cur(b, ro)
    if len(b) < 44: raise Bad(ro, "bad MODEL record")
    sid, K, F, P = c.raw(32), c.u32(), c.u32(), c.u32()
    if schema is None or sid != schema["id"] or K != schema["K"] or F != schema["F"]:
        raise Bad(ro, "MODEL record does not match the SCHEMA before it")
    if P != schema["P"]: raise Bad(ro, "bad MODEL record: P")
    present = list(c.raw(P))
    W = np.zeros((P, F), f32); bias = np.zeros(P, f32); sparse_n = {}
    for p in range(P):
        if present[p] > 2: raise Bad(ro, "MODEL pair %d: present byte" % p)
        if present[p] == 2:
            bias[p] = c.f32(); n = c.u32()
            if n > F: raise Bad(ro, "bad MODEL record: n > F")
            last = -1
            for _ in range(n):
                i, v = c.u32(), c.f32()
                if i <= last or i >= F or v == 0: raise Bad(ro, "bad MODEL record: sparse entry")
                W[p, i] = v; last = i
            sparse_n[p] = n
        else:
            ent = c.raw(4 * (F + 1))
            if present[p] == 0 and any(ent): raise Bad(ro, "MODEL pair %d missing but not zero" % p)
            v = np.frombuffer(ent, "<f4").astype(f32); W[p] = v[:F]; bias[p] = v[F]
    rest = len(b) - c.p
    sig = None
    if rest == 8 * P and schema["ovr"]:
        raise Bad(ro, "bad MODEL record: a one-vs-rest model has no sigmoids")
    if rest == 8 * P:
        s = np.frombuffer(c.raw(8 * P), "<f4").astype(f32); sig = s.reshape(P, 2)
    elif rest != 0:
        raise Bad(ro, "bad MODEL record: size")
    if not (np.isfinite(W).all() and np.isfinite(bias).all() and (sig is None or np.isfinite(sig).all())):
        raise Bad(ro, "MODEL value not finite")
    return dict(kind="MODEL", K=K, F=F, P=P, present=present, W=W, bias=bias, sig=sig, sparse_n=sparse_n)


def f16_to_f32(bts):
    return np.frombuffer(bts, "<f2")[0].astype(f32)


def parse_packet(b, ro, ctx):
    if len(b) < 132: raise Bad(ro, "not a packet this version reads")
    c = Cur(b, ro)
    fmt = c.u32()
    if fmt != 1: raise Bad(ro, "not a packet this version reads")
    pk, seq, tm, prec, count, raw_len, n = c.raw(32), c.u64(), c.u64(), c.u32(), c.u32(), c.u32(), c.u32()
    if n != len(b) - 132: raise Bad(ro, "packet length does not add up")
    if prec > 2 or raw_len > 1 << 28: raise Bad(ro, "bad packet header")
    body_z = bytes(b[68:68 + n]); sig = bytes(b[68 + n:])
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    try:
        Ed25519PublicKey.from_public_bytes(bytes(pk)).verify(sig, bytes(b[:68 + n]))
    except Exception:
        raise Bad(ro, "bad signature")
    d = zlib.decompressobj()
    try:
        body = d.decompress(body_z) + d.flush()
    except zlib.error:
        raise Bad(ro, "packet body does not inflate")
    if not d.eof or d.unused_data or len(body) != raw_len: raise Bad(ro, "packet body does not inflate")
    bc = Cur(body, ro)
    items, nsets = [], 0
    while bc.p < len(body):
        kind = bc.u8()
        if kind == 1:
            L = bc.u32(); s = parse_schema(bc.raw(L), ro); items.append(s); ctx["schemas"].setdefault(s["id"], s)
        elif kind == 2:
            ident, ok = parse_identity(bc)
            if not ok: raise Bad(ro, "weight set identity")
            F = bc.varint()
            if F < 1 or F > 2097152: raise Bad(ro, "malformed packet body: F")
            bias = bc.f32(); rows_seen = bc.varint(); epochs = bc.varint()
            if epochs >= 1 << 32: raise Bad(ro, "epochs 2^32 or more")
            loss = bc.f32()
            sg = (bc.f32(), bc.f32()) if ident["params"]["probability"] else None
            tl = bc.varint()
            if tl > 256: raise Bad(ro, "token longer than 256")
            tok = bc.raw(tl); nnz = bc.varint()
            if nnz > F: raise Bad(ro, "lists more weights than F")
            step = bc.f32() if prec == 2 else None
            w = np.zeros(F, f32); idx = -1
            for k in range(nnz):
                dlt = bc.varint()
                if k > 0 and dlt == 0: raise Bad(ro, "indices not increasing")
                idx = dlt if k == 0 else idx + dlt
                if idx >= F: raise Bad(ro, "indices not increasing below F")
                if prec == 0: v = bc.f32()
                elif prec == 1: v = f16_to_f32(bc.raw(2))
                else:
                    q = struct.unpack("<b", bc.raw(1))[0]; v = f32(f32(q) * step)
                w[idx] = v
            items.append(dict(kind="WEIGHTS", ident=ident, F=F, bias=bias, rows_seen=rows_seen, epochs=epochs,
                              loss=loss, sigmoid=sg, w=w, token=tok, step=step, nnz=nnz))
            nsets += 1
        else:
            raise Bad(ro, "malformed packet body: an item of unknown kind")
    if nsets != count: raise Bad(ro, "packet holds %d weight sets, not %d" % (nsets, count))
    return dict(kind="PACKET", pk=pk, seq=seq, time=tm, precision=prec, count=count, items=items,
                digest=h32(b), raw_len=raw_len, n=n)


def read_stream(data, ctx=None):
    if ctx is None:
        ctx = dict(schemas={}, shards={}, records=[])
    if len(data) < 8 or struct.unpack_from("<I", data)[0] != MAGIC:
        raise Bad(0, "not a G2T stream")
    if struct.unpack_from("<I", data, 4)[0] != 2: raise Bad(4, "unsupported version")
    p = 8
    last_schema = None
    while p < len(data):
        if p + 8 > len(data): raise Bad(len(data), "stream ends inside a record")
        t, ln = struct.unpack_from("<II", data, p)
        if t == MAGIC:
            if struct.unpack_from("<I", data, p + 4)[0] != 2: raise Bad(p + 4, "unsupported version")
            p += 8; continue
        if t >= 0x100: raise Bad(p, "record type is not one to skip")
        if ln > (1 << 30 if t == 2 else 1 << 26): raise Bad(p, "over the limit")
        if p + 12 + ln > len(data): raise Bad(len(data), "stream ends inside a record")
        crc = struct.unpack_from("<I", data, p + 8 + ln)[0]
        if zlib.crc32(data[p:p + 8 + ln]) != crc: raise Bad(p + 8 + ln, "record checksum mismatch")
        pl = memoryview(data)[p + 8:p + 8 + ln]
        r = None
        if t == 1:
            r = parse_schema(bytes(pl), p); ctx["schemas"].setdefault(r["id"], r); last_schema = r
        elif t == 2:
            r = parse_shard(bytes(pl), p); ctx["shards"][r["hash"]] = r
        elif t == 3:
            r = parse_task(bytes(pl), p)
        elif t == 4:
            r = parse_weights(bytes(pl), p)
        elif t == 5:
            r = parse_model(bytes(pl), p, last_schema)
        elif t == 6:
            r = parse_packet(bytes(pl), p, ctx)
        else:
            r = dict(kind="UNKNOWN%d" % t, length=ln)
        r["at"] = p; r["type"] = t
        ctx["records"].append(r)
        p += 12 + ln
    return ctx


def check_refs(ctx):
    """Cross-record checks: shards fit their schema, tasks and weights fit theirs."""
    problems = []
    for r in ctx["records"]:
        if r["kind"] == "SHARD":
            own = [s for s in ctx["schemas"].values() if any(c["shard_hash"] == r["hash"] for c in s["classes"])]
            if not own:
                problems.append("SHARD at %d: no schema holds its hash" % r["at"])
            for s in own:
                k = [i for i, c in enumerate(s["classes"]) if c["shard_hash"] == r["hash"]][0]
                if r["cls"] != k or r["rows"] != s["classes"][k]["rows"] or r["features"] != s["F"]:
                    problems.append("SHARD at %d does not fit" % r["at"])
        if r["kind"] in ("TASK", "WEIGHTS"):
            idn = r["ident"]; s = ctx["schemas"].get(idn["schema_id"])
            if s is None:
                problems.append("%s at %d: no schema" % (r["kind"], r["at"])); continue
            a, b2, t, K = idn["class_a"], idn["class_b"], idn["task"], s["K"]
            if s["ovr"]:
                okp = (t == a and b2 == K and a < K)
            else:
                okp = b2 < K and a < b2 and pair_index(a, b2, K) == t
            if not okp: problems.append("%s at %d: pair does not fit" % (r["kind"], r["at"]))
            if r["kind"] == "WEIGHTS" and r["F"] != s["F"]: problems.append("WEIGHTS F")
            if r["kind"] == "WEIGHTS" and s["ovr"] and idn["params"]["probability"]:
                problems.append("WEIGHTS at %d: a one-vs-rest task has no sigmoid" % r["at"])
            if r["kind"] == "TASK":
                need = [a, b2] if not s["ovr"] else list(range(K))
                for k in need:
                    if s["classes"][k]["shard_hash"] not in ctx["shards"]:
                        problems.append("TASK %d: no shard for class %d" % (t, k))
    return problems


# ---- arithmetic --------------------------------------------------------------
def dot8(W, X):
    """z for every row of X (n x F) and weight vector W (F): eight partial sums."""
    X = np.asarray(X, f32); W = np.asarray(W, f32)
    s = np.zeros((X.shape[0], 8), f32)
    for i in range(X.shape[1]):
        if W[i] == 0:
            continue  # adding +-0 products to partial sums that start at +0 changes no bit
        s[:, i % 8] = (s[:, i % 8] + (X[:, i] * W[i]).astype(f32)).astype(f32)
    return (((s[:, 0] + s[:, 1]) + (s[:, 2] + s[:, 3])) + ((s[:, 4] + s[:, 5]) + (s[:, 6] + s[:, 7]))).astype(f32)


def parse_number(tok, offset=None):
    """The value of a text number; less offset in binary64 (a wide schema)."""
    t = tok.strip(b" \t")
    if not is_decimal(t):
        raise ValueError("not a number: %r" % tok)
    v = float(t)
    if abs(v) >= 3.4028235677973366e38:  # binary32 rounds it to infinity
        raise ValueError("beyond binary32")
    if offset is not None:
        v -= float(offset)
    return f32(v)


def read_rows(path, schema):
    op = gzip.open if open(path, "rb").read(2) == b"\x1f\x8b" else open
    lines = op(path, "rb").read().split(b"\n")
    lines = [l[:-1] if l.endswith(b"\r") else l for l in lines if l.strip()]
    F = schema["F"]
    names = schema["feats"] or [b"f%d" % (j + 1) for j in range(F)]
    first = lines[0]
    svm = b":" in first and b"," not in first
    labels = []
    # wide (flags bit 5): values less the binary64 offset, then rounded; an
    # absent svmlight value is 0
    wide = bool(schema["flags"] & 32)
    off = schema["offset"] if wide else [None] * F
    if svm:
        X = np.tile((0.0 - schema["offset"]).astype(f32) if wide else np.zeros(F, f32),
                    (len(lines), 1))
        for r, l in enumerate(lines):
            parts = l.split()
            labels.append(parts[0])
            for pr in parts[1:]:
                i, v = pr.split(b":")
                i = int(i)
                if i <= F: X[r, i - 1] = parse_number(v, off[i - 1])
    else:
        hdr = [h.strip() for h in first.split(b",")]
        col = [hdr.index(n) for n in names]
        lab = hdr.index(schema["label"]) if schema["label"] in hdr else None
        X = np.zeros((len(lines) - 1, F), f32)
        for r, l in enumerate(lines[1:]):
            f = l.split(b",")
            X[r] = [parse_number(f[c], off[j]) for j, c in enumerate(col)]
            labels.append(f[lab] if lab is not None else None)
    X = X if wide else (X - schema["offset"]).astype(f32)
    Xs = (X * schema["scale"]).astype(f32)
    return Xs, labels


def sigmoid_prob(z, A, B):
    fApB = float(z) * float(A) + float(B)
    return 1.0 / (1.0 + math.exp(fApB))


def couple(r, K):
    """Wu, Lin and Weng's method 2, as LIBSVM's multiclass_probability."""
    Q = [[0.0] * K for _ in range(K)]
    p = [1.0 / K] * K
    for t in range(K):
        for j in range(K):
            if j != t:
                Q[t][t] += r[j][t] * r[j][t]
                Q[t][j] = -r[j][t] * r[t][j]
    Qp = [0.0] * K
    eps = 0.005 / K
    for it in range(max(100, K)):
        pQp = 0.0
        for t in range(K):
            Qp[t] = sum(Q[t][j] * p[j] for j in range(K))
            pQp += p[t] * Qp[t]
        if max(abs(Qp[t] - pQp) for t in range(K)) < eps:
            break
        for t in range(K):
            diff = (-Qp[t] + pQp) / Q[t][t]
            p[t] += diff
            pQp = (pQp + diff * (diff * Q[t][t] + 2 * Qp[t])) / (1 + diff) / (1 + diff)
            for j in range(K):
                Qp[j] = (Qp[j] + diff * Q[t][j]) / (1 + diff)
                p[j] /= (1 + diff)
    return p


def predict(model_path, data_path, values=False, probability=False, dag=False):
    ctx = read_stream(open(model_path, "rb").read())
    sch = [r for r in ctx["records"] if r["kind"] == "SCHEMA"][0]
    m = [r for r in ctx["records"] if r["kind"] == "MODEL"][0]
    X, _ = read_rows(data_path, sch)
    K, P = m["K"], m["P"]
    Z = np.stack([dot8(m["W"][p], X) + m["bias"][p] if m["present"][p] else np.zeros(len(X), f32)
                  for p in range(P)], 1).astype(f32)
    names = [c["name"].decode() for c in sch["classes"]]
    out = []
    pl = pairs(K) if not sch["ovr"] else [(k, K) for k in range(K)]
    if values or probability:
        h = ["class"]
        if values:
            h += names if sch["ovr"] else ["%s/%s" % (names[a], names[b]) for a, b in pl]
        if probability:
            h += names
        out.append("\t".join(h))
    for r in range(len(X)):
        z = Z[r]
        if sch["ovr"]:
            pres = [k for k in range(K) if m["present"][k]]
            best = pres[0]
            for k in pres[1:]:
                if z[k] > z[best]: best = k
        elif dag:
            lo, hi = 0, K - 1
            while lo < hi:
                p = pair_index(lo, hi, K)
                if not m["present"][p] or z[p] > 0: hi -= 1
                else: lo += 1
            best = lo
        else:
            votes = [0] * K; margin = [f32(0)] * K
            for p, (a, b) in enumerate(pl):
                if not m["present"][p]: continue
                if z[p] > 0: votes[a] += 1
                else: votes[b] += 1
                margin[a] = f32(margin[a] + z[p]); margin[b] = f32(margin[b] - z[p])
            best = 0
            for k in range(1, K):
                if votes[k] > votes[best] or (votes[k] == votes[best] and margin[k] > margin[best]): best = k
        f = []
        if values:
            f += ["%.9g" % float(z[p]) if m["present"][p] else "-" for p in range(P)]
        if probability:
            rr = [[0.0] * K for _ in range(K)]
            for p, (a, b) in enumerate(pl):
                v = min(max(sigmoid_prob(z[p], m["sig"][p][0], m["sig"][p][1]), 1e-7), 1 - 1e-7)
                rr[a][b] = v; rr[b][a] = 1 - v
            pr = couple(rr, K)
            best = max(range(K), key=lambda k: (pr[k], -k))
            f += ["%.6g" % v for v in pr]
        out.append("\t".join([names[best]] + f))
    return out


# ---- writers -----------------------------------------------------------------
def rec(t, payload):
    h = struct.pack("<II", t, len(payload))
    return h + payload + struct.pack("<I", zlib.crc32(h + payload))


HEADER = struct.pack("<II", MAGIC, 2)


def enc_string(s):
    return struct.pack("<I", len(s)) + s


def enc_schema(s):
    out = struct.pack("<III", s["F"], s["K"], s["flags"]) + enc_string(s["label"])
    if s["taskform"]:
        out += s["id"]
    if s["feats"] is not None:
        out += b"".join(enc_string(n) for n in s["feats"])
    if not s["taskform"]:
        if s["sparse"]:
            out += s["scale"].astype("<f4").tobytes()
        elif s["flags"] & 32:
            v = np.zeros(s["F"], np.dtype([("o", "<f8"), ("s", "<f4")]))
            v["o"], v["s"] = s["offset"], s["scale"]
            out += v.tobytes()
        else:
            out += np.stack([s["offset"], s["scale"]], 1).astype("<f4").tobytes()
    for c in s["classes"]:
        out += enc_string(c["name"]) + struct.pack("<I", c["rows"]) + c["shard_hash"]
    return out


def enc_weights(w, form=None):
    idn = w["ident"]; F = w["F"]; nz = np.nonzero(w["w"])[0]
    if form is None:
        form = 1 if 148 + 8 * len(nz) < 144 + 4 * F else 0
    out = idn["hash"] + idn["raw"] + struct.pack("<II", F, form) + f32(w["bias"]).tobytes()
    out += struct.pack("<QI", w["rows_seen"], w["epochs"]) + f32(w["loss"]).tobytes()
    if idn["params"]["probability"]:
        out += f32(w["sigmoid"][0]).tobytes() + f32(w["sigmoid"][1]).tobytes()
    if form == 0:
        out += w["w"].astype("<f4").tobytes()
    else:
        out += struct.pack("<I", len(nz)) + b"".join(struct.pack("<I", i) + w["w"][i].astype("<f4").tobytes() for i in nz)
    return out + enc_string(w["token"])


def enc_model(schema, ws):
    K, F, P = schema["K"], schema["F"], schema["P"]
    by = {w["ident"]["task"]: w for w in ws}
    present = bytearray(P); ents = b""
    for p in range(P):
        w = by.get(p)
        if w is None:
            ents += b"\0" * (4 * (F + 1)); continue
        nz = [i for i in range(F) if w["w"][i] != 0]
        if 8 + 8 * len(nz) < 4 * (F + 1):
            present[p] = 2
            ents += f32(w["bias"]).tobytes() + struct.pack("<I", len(nz)) + b"".join(
                struct.pack("<I", i) + w["w"][i].astype("<f4").tobytes() for i in nz)
        else:
            present[p] = 1
            ents += w["w"].astype("<f4").tobytes() + f32(w["bias"]).tobytes()
    out = schema["id"] + struct.pack("<III", K, F, P) + bytes(present) + ents
    if len(by) == P and all(w["sigmoid"] for w in by.values()):
        out += b"".join(f32(by[p]["sigmoid"][0]).tobytes() + f32(by[p]["sigmoid"][1]).tobytes() for p in range(P))
    return out


def enc_varint(v):
    out = bytearray()
    while True:
        c = v & 0x7f; v >>= 7
        out.append(c | (0x80 if v else 0))
        if not v: return bytes(out)


def enc_packet(seed32, prec, seq, tm, schemas, ws):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives import serialization
    sk = Ed25519PrivateKey.from_private_bytes(seed32)
    pk = sk.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    body = b""
    for s in schemas:
        sp = enc_schema(s); body += b"\x01" + struct.pack("<I", len(sp)) + sp
    for w in ws:
        nz = [i for i in range(w["F"]) if w["w"][i] != 0]
        body += b"\x02" + w["ident"]["raw"] + enc_varint(w["F"]) + f32(w["bias"]).tobytes()
        body += enc_varint(w["rows_seen"]) + enc_varint(w["epochs"]) + f32(w["loss"]).tobytes()
        if w["ident"]["params"]["probability"]:
            body += f32(w["sigmoid"][0]).tobytes() + f32(w["sigmoid"][1]).tobytes()
        body += enc_varint(len(w["token"])) + w["token"] + enc_varint(len(nz))
        step = None
        if prec == 2:
            mx = max([abs(w["w"][i]) for i in nz], default=f32(0))
            step = f32(f32(mx) / f32(127)); body += step.tobytes()
        last = 0
        for k, i in enumerate(nz):
            body += enc_varint(i if k == 0 else i - last); last = i
            v = w["w"][i]
            if prec == 0: body += v.astype("<f4").tobytes()
            elif prec == 1: body += np.float16(v).astype("<f2").tobytes()
            else:
                t = f32(v / step) if step != 0 else f32(0)
                q = max(-127, min(127, int(f32(t + f32(0.5))) if t >= 0 else int(f32(t - f32(0.5)))))
                body += struct.pack("<b", q)
    z = zlib.compress(body, 9)
    head = struct.pack("<I", 1) + pk + struct.pack("<QQIIII", seq, tm, prec, len(ws), len(body), len(z)) + z
    return rec(6, head + sk.sign(head)), pk


def main(argv):
    cmd = argv[1]
    if cmd == "--check":
        import os
        sys.exit(1 if run_check(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))) else 0)
    if cmd == "dump":
        for path in argv[2:]:
            ctx = read_stream(open(path, "rb").read())
            kinds = {}
            for r in ctx["records"]:
                kinds[r["kind"]] = kinds.get(r["kind"], 0) + 1
            probs = check_refs(ctx)
            print(path, kinds, "problems:", probs or "none")
    elif cmd == "predict":
        opts = argv[4:]
        for l in predict(argv[2], argv[3], "--values" in opts, "--probability" in opts, "--dag" in opts):
            print(l)
    elif cmd == "remodel":
        ctx = dict(schemas={}, shards={}, records=[])
        for path in argv[2:]:
            read_stream(open(path, "rb").read(), ctx)
        ws = [r for r in ctx["records"] if r["kind"] == "WEIGHTS"]
        for r in ctx["records"]:
            if r["kind"] == "PACKET":
                ws += [i for i in r["items"] if i["kind"] == "WEIGHTS"]
        s = ctx["schemas"][ws[0]["ident"]["schema_id"]]
        sys.stdout.buffer.write(HEADER + rec(1, enc_schema(s)) + rec(5, enc_model(s, ws)))
    elif cmd == "reencode":
        data = open(argv[2], "rb").read()
        ctx = read_stream(data)
        out = HEADER
        for r in ctx["records"]:
            if r["kind"] == "SCHEMA": out += rec(1, enc_schema(r))
            elif r["kind"] == "WEIGHTS": out += rec(4, enc_weights(r))
            else: out += data[r["at"]:r["at"] + 12 + struct.unpack_from("<I", data, r["at"] + 4)[0]]
        sys.stdout.buffer.write(out)
    elif cmd == "packet":
        seed = bytes.fromhex(argv[2]); prec = int(argv[3]); seq = int(argv[4])
        ctx = dict(schemas={}, shards={}, records=[])
        for path in argv[5:]:
            read_stream(open(path, "rb").read(), ctx)
        ws = [r for r in ctx["records"] if r["kind"] == "WEIGHTS"]
        schemas = [r for r in ctx["records"] if r["kind"] == "SCHEMA"]
        pkt, pk = enc_packet(seed, prec, seq, 1700000000, schemas, ws)
        sys.stdout.buffer.write(HEADER + pkt)
        import base64
        sys.stderr.write("pk %s\n" % base64.b64encode(pk).decode())


# ---- --check: the tools against this reader and writer ------------------------
def run_check(root):
    import base64, os, subprocess, tempfile
    bindir = os.path.abspath(os.environ.get('G2T_BIN', root + '/bin'))
    data = root + '/tests/data'
    n = failed = 0

    def ok(cond, what):
        nonlocal n, failed
        n += 1; failed += not cond
        print('%s %d - %s' % ('ok' if cond else 'not ok', n, what)); sys.stdout.flush()

    def tool(prog, *args, inp=None):
        p = subprocess.run([bindir + '/' + prog, *args], input=inp, capture_output=True)
        if p.returncode:
            raise RuntimeError('%s %s: exit %d: %s' % (prog, ' '.join(args), p.returncode,
                                                        p.stderr.decode()[:300]))
        return p.stdout

    def records(b):
        return read_stream(b)["records"]

    with tempfile.TemporaryDirectory() as tmp:
        def body(b):  # a PACKET record's body, inflated
            return zlib.decompress(b[8 + 68:8 + 68 + struct.unpack_from('<I', b, 8 + 64)[0]])

        def path(name, b):
            with open(tmp + '/' + name, 'wb') as f: f.write(b)
            return tmp + '/' + name
        # digits as svmlight: a sparse set, features named by index
        svm = []
        for line in gzip.open(data + '/digits.train.csv.gz', 'rt').read().splitlines()[1:]:
            f = line.split(',')
            svm.append(f[-1] + ''.join(' %d:%s' % (j + 1, v) for j, v in enumerate(f[:-1]) if float(v)))
        path('digits.svm', ('\n'.join(svm) + '\n').encode())
        # timestamps near 1.7e9 (binary32 steps of 128 s): a wide schema;
        # its svmlight form leaves out the zeros of u
        rng = np.random.default_rng(7)
        ts = [(1700000000 + 40 * (i % 3) + int(rng.integers(30)), 0 if i % 4 == 0 else
               round(float(rng.random()), 3), i % 3) for i in range(150)]
        path('ts.csv', ('t,u,y\n' + ''.join('%d,%g,k%d\n' % r for r in ts)).encode())
        path('ts.svm', ''.join('%d 1:%d%s\n' % (r[2], r[0], ' 2:%g' % r[1] if r[1] else '')
                               for r in ts).encode())
        seed = bytes(range(32))
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
        from cryptography.hazmat.primitives import serialization
        pk = Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        keyfile = path('mine.pub', b'g2t-public-key ' + base64.b64encode(pk) + b'\n')
        tool('g2t-pack', '--keygen', '-p', tmp + '/dev.pub', '-s', tmp + '/dev.key')
        cases = [
            ('iris', 'iris', [], []),
            ('iris asgd probability', 'iris', ['--algo', 'asgd', '--probability'], []),
            ('iris fixed 8-bit', 'iris', ['--algo', 'fixed'], []),
            ('wine -w 1=3, logistic', 'wine', ['-w', '1=3', '--loss', 'logistic'], []),
            ('wine --ovr --balanced', 'wine', ['--ovr', '--balanced'], []),
            ('wine --cv 3 --grid 0.1,1', 'wine', [], ['--cv', '3', '--grid', '0.1,1']),
            ('digits svmlight, pegasos l1', 'digits.svm', ['--algo', 'pegasos', '--l1', '0.001',
                                                           '--epochs', '3', '--probability'], []),
            ('digits svmlight -q 8', 'digits.svm', ['-q', '8', '--probability'], []),
            ('digits -q 8', 'digits', ['-q', '8'], []),
            ('timestamps, wide', 'ts.csv', [], []),
        ]
        seen = set()
        for name, src, sopts, topts in cases:
            if src.endswith('.svm') or src.endswith('.csv'):
                train_in, test_in = tmp + '/' + src, tmp + '/' + src
            else:
                train_in, test_in = data + '/%s.train.csv.gz' % src, data + '/%s.test.csv.gz' % src
            tasks = tool('g2t-split', *sopts, train_in)
            ctx = read_stream(tasks)
            ok(not check_refs(ctx), '%s: split stream parsed, every check and reference holds' % name)
            seen |= {('encoding', r["encoding"]) for r in ctx["records"] if r["kind"] == "SHARD"}
            seen |= {('flag', b) for b in range(6) if ctx["records"][0]["flags"] >> b & 1}
            w = tool('g2t-train', *topts, inp=tasks)
            wctx = read_stream(w)
            ok(not check_refs(wctx), '%s: weights parsed, every check holds' % name)
            ws = [r for r in wctx["records"] if r["kind"] == "WEIGHTS"]
            seen |= {('form', r["form"]) for r in ws}
            sch = wctx["schemas"][ws[0]["ident"]["schema_id"]]
            out = HEADER + b''.join(rec(1, enc_schema(r)) if r["kind"] == "SCHEMA" else rec(4, enc_weights(r))
                                    for r in wctx["records"])
            ok(out == w, '%s: WEIGHTS re-encoded are g2t-train\'s bytes' % name)
            model = tool('g2t-merge', inp=w)
            mine = HEADER + rec(1, enc_schema(sch)) + rec(5, enc_model(sch, ws))
            ok(mine == model, '%s: the MODEL made from the WEIGHTS is g2t-merge\'s' % name)
            mpath = path('m.g2t', model)
            mr = [r for r in records(model) if r["kind"] == "MODEL"][0]
            seen |= {('present', v) for v in mr["present"]} | {('sigmoids', mr["sig"] is not None)}
            modes = [[], ['--values']]
            if not sch["ovr"]:
                modes.append(['--dag'])
            if ws[0]["sigmoid"] and not sch["ovr"]:
                modes.append(['--values', '--probability'])
            tests = [test_in] + ([tmp + '/ts.svm'] if src == 'ts.csv' else [])
            for m, t in ((m, t) for m in modes for t in tests):
                want = tool('g2t-predict', *m, mpath, t).decode().splitlines()
                got = predict(mpath, t, '--values' in m, '--probability' in m, '--dag' in m)
                ok(got == want, '%s: predictions %s of %s are g2t-predict\'s (%d lines)' % (
                   name, ' '.join(m) or 'labels', os.path.basename(t), len(want)))
            for bits, prec in (('32', 0), ('16', 1), ('8', 2)):
                pkt = tool('g2t-pack', '-s', tmp + '/dev.key', '--spool', tmp + '/sp' + bits, '-P', bits,
                           '--flush', inp=w)
                p = [r for r in records(pkt) if r["kind"] == "PACKET"][0]
                mine, _ = enc_packet(seed, prec, p["seq"], p["time"], [sch], ws)
                mp = [r for r in records(HEADER + mine) if r["kind"] == "PACKET"][0]
                ok(body(pkt[8:]) == body(mine) and p["raw_len"] == mp["raw_len"],
                   '%s: g2t-pack -P %s packet body is this writer\'s' % (name, bits))
                wsets = [i for i in p["items"] if i["kind"] == "WEIGHTS"]
                tm = tool('g2t-merge', '--trust', tmp + '/dev.pub', inp=pkt)
                ok(tm == HEADER + rec(1, enc_schema(sch)) + rec(5, enc_model(sch, wsets)),
                   '%s: merge --trust of it is the MODEL of its decoded weight sets' % name)
                mm = tool('g2t-merge', '--trust', keyfile, inp=HEADER + mine)
                ok(mm == tm, '%s: this writer\'s -P %s packet, signed, merges to the same model' % (name, bits))
        # weights so small that step is subnormal (q bounded to 127) or +0 (q = 0)
        w = tool('g2t-train', inp=tool('g2t-split', data + '/iris.train.csv.gz'))
        wctx = read_stream(w); sch = wctx["records"][0]
        ws = [r for r in wctx["records"] if r["kind"] == "WEIGHTS"]
        for r, bits in zip(ws, ((190, 0x80000000 | 60), (7, 1), (0, 0))):
            r["w"] = np.zeros(r["F"], f32)
            r["w"][:2] = np.array(bits, '<u4').view('<f4')
        w = HEADER + rec(1, enc_schema(sch)) + b''.join(rec(4, enc_weights(r)) for r in ws)
        pkt = tool('g2t-pack', '-s', tmp + '/dev.key', '--spool', tmp + '/spq', '-P', '8', '--flush', inp=w)
        p = [r for r in records(pkt) if r["kind"] == "PACKET"][0]
        mine, _ = enc_packet(seed, 2, p["seq"], p["time"], [sch], ws)
        ok(body(pkt[8:]) == body(mine), 'subnormal weights: g2t-pack -P 8 bounds q to 127, or makes it 0 '
           'with a step of +0, as this writer does')
        want = [('encoding', e) for e in range(4)] + [('flag', b) for b in range(6) if b != 3] + \
            [('form', 0), ('form', 1), ('present', 1), ('present', 2), ('sigmoids', True)]
        ok(all(x in seen for x in want), 'the cases cover SHARD encodings 0 to 3, SCHEMA flags 0, 1, 2, 4 and 5, '
           'dense and sparse WEIGHTS and MODEL entries, sigmoids (missing: %s)' % [x for x in want if x not in seen])
    print('1..%d' % n)
    return failed


if __name__ == "__main__":
    try:
        main(sys.argv)
    except Bad as e:
        sys.stderr.write("thirdparty: %s\n" % e); sys.exit(3)
