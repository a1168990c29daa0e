/*
 * craft: a G2T stream with one rule of g2t(5) broken and every other byte
 * consistent.  After the change, shard hashes in the SCHEMA, schema ids in
 * the records that name them, task hashes and CRCs are all recomputed, so
 * that only the reader check under test can catch it.  Made at test time
 * from streams the tools write (tests/conformance.sh), so the vectors follow
 * any change of the records they do not break.
 *
 *   craft VECTOR [KEYFILE] < good.g2t > crafted.g2t
 *   craft --list
 *
 * Packet vectors turn the WEIGHTS records of the input, with their SCHEMA,
 * into one PACKET signed with KEYFILE, written by hand so that its body can
 * break what g2t-pack never would.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>
#include <zlib.h>

#include "g2t.h"

struct rec {
	uint32_t type, len;
	uint8_t *p;
	uint8_t was[G2T_HASH_SIZE]; /* hash of the payload before the change */
};

struct stream {
	struct rec r[4096];
	size_t n;
	int keep_task_hash; /* the vector breaks a task hash: leave it */
};

static void die(const char *what)
{
	fprintf(stderr, "craft: %s\n", what);
	exit(1);
}

static long find(const struct stream *s, uint32_t type, int nth)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->r[i].type == type && nth-- == 0)
			return (long)i;
	die("the input lacks the record this vector changes");
	return -1;
}

static void insert(struct stream *s, size_t at, uint32_t type, const void *p, uint32_t len)
{
	if (s->n == sizeof s->r / sizeof s->r[0])
		die("too many records");
	memmove(s->r + at + 1, s->r + at, (s->n - at) * sizeof s->r[0]);
	s->r[at] = (struct rec){ type, len, malloc(len ? len : 1), { 0 } };
	memcpy(s->r[at].p, p, len);
	g2t_hash(s->r[at].was, p, len);
	s->n++;
}

/* Replaces every 32-byte run `from` by `to` in the records of a type
 * (0: every type but SCHEMA). */
static void rename_hash(struct stream *s, uint32_t type, const uint8_t *from,
                        const uint8_t *to)
{
	for (size_t i = 0; i < s->n; i++) {
		struct rec *r = &s->r[i];

		if (type ? r->type != type : r->type == G2T_REC_SCHEMA)
			continue;
		for (uint32_t k = 0; k + G2T_HASH_SIZE <= r->len; k++)
			if (!memcmp(r->p + k, from, G2T_HASH_SIZE))
				memcpy(r->p + k, to, G2T_HASH_SIZE);
	}
}

/* Where records of a type changed, their old hash becomes the new one in
 * the records of type `in` (0: all but SCHEMA). */
static void follow(struct stream *s, uint32_t type, uint32_t in)
{
	uint8_t now[G2T_HASH_SIZE];

	for (size_t i = 0; i < s->n; i++) {
		if (s->r[i].type != type)
			continue;
		g2t_hash(now, s->r[i].p, s->r[i].len);
		if (memcmp(now, s->r[i].was, G2T_HASH_SIZE))
			rename_hash(s, in, s->r[i].was, now);
	}
}

/* After a change: shard hashes, then schema ids, then task hashes. */
static void fix(struct stream *s)
{
	follow(s, G2T_REC_SHARD, G2T_REC_SCHEMA);
	follow(s, G2T_REC_SCHEMA, 0);
	for (size_t i = 0; i < s->n && !s->keep_task_hash; i++) {
		struct rec *r = &s->r[i];

		if ((r->type == G2T_REC_TASK || r->type == G2T_REC_WEIGHTS) &&
		    r->len >= G2T_HASH_SIZE + G2T_TASK_ID_SIZE)
			g2t_hash(r->p, r->p + G2T_HASH_SIZE, G2T_TASK_ID_SIZE);
	}
}

/* --- changes of a SCHEMA, through its decoded form ------------------------ */

static struct g2t_schema *schema_of(struct stream *s)
{
	struct rec *r = &s->r[find(s, G2T_REC_SCHEMA, 0)];
	struct g2t_schema *sc;

	if (g2t_schema_decode(&sc, r->p, r->len))
		die("the input's SCHEMA is not good");
	return sc;
}

static void schema_put(struct stream *s, struct g2t_schema *sc)
{
	struct rec *r = &s->r[find(s, G2T_REC_SCHEMA, 0)];

	if (g2t_schema_encode(sc))
		die("cannot encode the SCHEMA");
	free(r->p);
	r->p = sc->payload;
	r->len = sc->length;
	sc->payload = NULL;
	g2t_schema_free(sc);
}

static void schema_flags(struct stream *s, uint32_t set)
{
	struct g2t_schema *sc = schema_of(s);

	sc->flags |= set;
	schema_put(s, sc);
}

static void v_schema_flag_bit(struct stream *s) { schema_flags(s, 64); }
/* one-vs-rest flagged over one-vs-one tasks */
static void v_schema_ovr_pairs(struct stream *s) { schema_flags(s, G2T_SCHEMA_OVR); }
static void v_schema_numeric_flag(struct stream *s) { schema_flags(s, G2T_SCHEMA_NUMERIC); }

static void v_schema_numbers_unflagged(struct stream *s)
{
	struct g2t_schema *sc = schema_of(s);
	char name[16];

	for (uint32_t i = 0; i < sc->classes; i++) {
		snprintf(name, sizeof name, "%u", i + 1);
		free(sc->klass[i]);
		sc->klass[i] = strdup(name);
	}
	schema_put(s, sc);
}

static void v_schema_order(struct stream *s)
{
	struct g2t_schema *sc = schema_of(s);
	char *name = sc->klass[0];
	uint32_t rows = sc->rows[0];
	uint8_t hash[G2T_HASH_SIZE];

	memcpy(hash, sc->shard_hash[0], G2T_HASH_SIZE);
	sc->klass[0] = sc->klass[1], sc->klass[1] = name;
	sc->rows[0] = sc->rows[1], sc->rows[1] = rows;
	memcpy(sc->shard_hash[0], sc->shard_hash[1], G2T_HASH_SIZE);
	memcpy(sc->shard_hash[1], hash, G2T_HASH_SIZE);
	schema_put(s, sc);
}

static void v_schema_feature_twice(struct stream *s)
{
	struct g2t_schema *sc = schema_of(s);

	free(sc->feature[1]);
	sc->feature[1] = strdup(sc->feature[0]);
	schema_put(s, sc);
}

static void v_schema_no_rows(struct stream *s)
{
	struct g2t_schema *sc = schema_of(s);

	sc->rows[0] = 0;
	schema_put(s, sc);
}

/* --- changes of other records --------------------------------------------- */

static void v_type_0x100(struct stream *s)
{
	insert(s, 0, G2T_TYPE_LIMIT, "x", 1);
}

static void v_type_reserved(struct stream *s)
{
	insert(s, 0, 7, "x", 1);
	insert(s, s->n, 0xff, "", 0);
}

/* A reserved record last, so that a reader must frame past what it uses. */
static void v_type_last(struct stream *s)
{
	insert(s, s->n, 7, "x", 1);
}

static void v_shard_f32_lo(struct stream *s)
{
	struct rec *r = &s->r[find(s, G2T_REC_SHARD, 0)];

	if (g2t_get_u32(r->p + 12) != G2T_ENC_F32)
		die("the first SHARD is not float32");
	g2t_put_f32(r->p + 16, 1.0f);
}

/* The first value of the first SHARD's row 0, which must be sparse float32
 * and begin with a count and a step of one byte each. */
static uint8_t *first_sparse_value(struct stream *s)
{
	struct rec *r = &s->r[find(s, G2T_REC_SHARD, 0)];

	if (g2t_get_u32(r->p + 12) != (G2T_ENC_F32 | G2T_ENC_SPARSE) || r->len < 30 ||
	    r->p[24] == 0 || r->p[24] > 0x7f || r->p[25] > 0x7f)
		die("the first SHARD is not sparse float32 with a short row 0");
	return r->p + 26;
}

static void v_shard_sparse_nan(struct stream *s)
{
	g2t_put_f32(first_sparse_value(s), NAN);
}

static void v_shard_sparse_step(struct stream *s)
{
	first_sparse_value(s)[-1] = 0; /* a step of 0 names no index */
}

static void v_task_hash(struct stream *s)
{
	s->r[find(s, G2T_REC_TASK, 0)].p[0] ^= 1;
	s->keep_task_hash = 1;
}

static void v_weights_hash(struct stream *s)
{
	s->r[find(s, G2T_REC_WEIGHTS, 0)].p[0] ^= 1;
	s->keep_task_hash = 1;
}

/* The bias of the exact solver's first task FLT_MAX: finite, but longer
 * than any solution of the task. */
static void v_weights_long(struct stream *s)
{
	g2t_put_f32(s->r[find(s, G2T_REC_WEIGHTS, 0)].p + 120, 3.40282347e38f);
}

static void v_model_present(struct stream *s)
{
	s->r[find(s, G2T_REC_MODEL, 0)].p[44] = 3;
}

static void v_model_missing(struct stream *s)
{
	s->r[find(s, G2T_REC_MODEL, 0)].p[44] = 0;
}

/* One-vs-rest over the 3 classes of tiny.csv: its 3 pairs become 3 classifiers. */
static void v_model_ovr(struct stream *s) { schema_flags(s, G2T_SCHEMA_OVR); }

static void v_model_ovr_sigmoids(struct stream *s)
{
	struct rec *r = &s->r[find(s, G2T_REC_MODEL, 0)];
	uint32_t P = g2t_get_u32(r->p + 40);

	schema_flags(s, G2T_SCHEMA_OVR);
	if (!(r->p = realloc(r->p, r->len + 8 * P)))
		die("out of memory");
	for (uint32_t k = 0; k < P; k++) {
		g2t_put_f32(r->p + r->len + 8 * k, -1.0f);
		g2t_put_f32(r->p + r->len + 8 * k + 4, 0.0f);
	}
	r->len += 8 * P;
}

/* Each WEIGHTS record's identity that of one-vs-rest task k, class k against
 * the rest, with a sigmoid when `sigmoid`. */
static void weights_ovr(struct stream *s, int sigmoid)
{
	uint32_t K = 0;

	schema_flags(s, G2T_SCHEMA_OVR);
	for (size_t i = 0; i < s->n; i++) {
		struct rec *r = &s->r[i];
		uint8_t *id = r->p + G2T_HASH_SIZE, *o;
		uint32_t k;

		if (r->type == G2T_REC_SCHEMA)
			K = g2t_get_u32(r->p + 4);
		if (r->type != G2T_REC_WEIGHTS)
			continue;
		k = g2t_get_u32(id + 32);
		g2t_put_u32(id + 36, k);
		g2t_put_u32(id + 40, K);
		if (!sigmoid)
			continue;
		g2t_put_u32(id + 44 + 32, 1); /* the parameters' probability */
		if (!(r->p = o = realloc(r->p, r->len + 8)))
			die("out of memory");
		memmove(o + 148, o + 140, r->len - 140);
		g2t_put_f32(o + 140, -1.0f);
		g2t_put_f32(o + 144, 0.0f);
		r->len += 8;
	}
}

static void v_weights_ovr(struct stream *s) { weights_ovr(s, 0); }
static void v_weights_ovr_sigmoid(struct stream *s) { weights_ovr(s, 1); }

/* --- packets --------------------------------------------------------------- */

enum {
	PK_GOOD, PK_VARINT_LONG, PK_VARINT_65, PK_EPOCHS, PK_TOKEN, PK_KIND, PK_COUNT,
	PK_TRAILING, PK_CUT
};

struct body {
	uint8_t *p;
	size_t len;
};

static void put(struct body *b, const void *p, size_t n)
{
	if (!(b->p = realloc(b->p, b->len + n + 1)))
		die("out of memory");
	memcpy(b->p + b->len, p, n);
	b->len += n;
}

static void put_u8(struct body *b, uint8_t v) { put(b, &v, 1); }

static void put_u32(struct body *b, uint32_t v)
{
	uint8_t x[4];

	g2t_put_u32(x, v);
	put(b, x, 4);
}

static void put_varint(struct body *b, uint64_t v)
{
	do
		put_u8(b, (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0)));
	while (v >>= 7);
}

/* One weight set of a WEIGHTS payload, precision 0, with the fault asked for. */
static void weight_set(struct body *b, const struct rec *r, int fault)
{
	float w[4096];
	struct g2t_weights wt = { .w = w };
	uint32_t prev = 0, nnz = 0, i;

	if (g2t_weights_decode(&wt, 4096, r->p, r->len))
		die("a WEIGHTS record of the input is not good");
	put_u8(b, 2);
	put(b, r->p + G2T_HASH_SIZE, G2T_TASK_ID_SIZE);
	if (fault == PK_VARINT_LONG) { /* F with a needless zero group */
		put_u8(b, (uint8_t)(wt.features | 0x80));
		put_u8(b, 0);
	} else if (fault == PK_VARINT_65) { /* F, then bits past the 64th */
		for (i = 0; i < 9; i++)
			put_u8(b, (uint8_t)((i ? 0 : wt.features) | 0x80));
		put_u8(b, 2);
	} else {
		put_varint(b, wt.features);
	}
	put(b, r->p + G2T_HASH_SIZE + G2T_TASK_ID_SIZE + 8, 4); /* bias */
	put_varint(b, wt.rows_seen);
	put_varint(b, wt.epochs + (fault == PK_EPOCHS ? 1ull << 32 : 0));
	put(b, r->p + G2T_HASH_SIZE + G2T_TASK_ID_SIZE + 24, 4); /* loss */
	put_varint(b, fault == PK_TOKEN ? G2T_TOKEN_MAX + 1 : wt.token_len);
	for (i = 0; fault == PK_TOKEN && i <= G2T_TOKEN_MAX; i++)
		put_u8(b, 't');
	put(b, wt.token, fault == PK_TOKEN ? 0 : wt.token_len);
	for (i = 0; i < wt.features; i++)
		nnz += w[i] != 0.0f;
	put_varint(b, nnz);
	for (i = 0; i < wt.features; i++) {
		if (w[i] == 0.0f)
			continue;
		put_varint(b, i - prev);
		prev = i;
		put(b, (uint8_t[4]){ 0 }, 4);
		g2t_put_f32(b->p + b->len - 4, w[i]);
	}
}

static void packet(struct stream *s, const char *keyfile, int fault)
{
	struct g2t_diag d = { 0, -1, "" };
	struct g2t_signer *key;
	struct body raw = { 0 }, pkt = { 0 };
	const struct rec *sc = &s->r[find(s, G2T_REC_SCHEMA, 0)];
	uLongf zlen;
	uint32_t count = 0;

	if (!keyfile || g2t_signer_load(&key, keyfile, &d))
		die("a packet vector needs a KEYFILE");
	put_u8(&raw, 1);
	put_u32(&raw, sc->len);
	put(&raw, sc->p, sc->len);
	for (size_t i = 0; i < s->n; i++)
		if (s->r[i].type == G2T_REC_WEIGHTS)
			weight_set(&raw, &s->r[i], fault), count++;
	if (fault == PK_KIND)
		put_u8(&raw, 3);
	zlen = compressBound(raw.len) + 1;
	put_u32(&pkt, 1);
	put(&pkt, key->pk, G2T_PK_SIZE);
	put(&pkt, (uint8_t[16]){ 1 }, 16); /* seq 1, time 0 */
	put_u32(&pkt, 0);                  /* precision 0 */
	put_u32(&pkt, count + (fault == PK_COUNT));
	put_u32(&pkt, (uint32_t)raw.len);
	put_u32(&pkt, 0);                  /* n, below */
	if (!(pkt.p = realloc(pkt.p, pkt.len + zlen + 64)) ||
	    compress2(pkt.p + pkt.len, &zlen, raw.p, raw.len, 9) != Z_OK)
		die("cannot deflate");
	if (fault == PK_TRAILING) /* a byte after the zlib stream */
		pkt.p[pkt.len + zlen++] = 0;
	if (fault == PK_CUT) /* the zlib stream without its Adler-32 */
		zlen -= 4;
	pkt.len += zlen;
	g2t_put_u32(pkt.p + 64, (uint32_t)zlen);
	crypto_sign_detached(pkt.p + pkt.len, NULL, pkt.p, pkt.len, key->sk);
	pkt.len += 64;
	for (size_t i = 0; i < s->n; i++)
		free(s->r[i].p);
	s->n = 0;
	insert(s, 0, G2T_REC_PACKET, pkt.p, (uint32_t)pkt.len);
	g2t_signer_free(key);
	free(raw.p);
	free(pkt.p);
}

/* Framing faults, made on the written bytes. */
enum { FR_CRC = 1, FR_CUT, FR_VERSION, FR_MAGIC, FR_TOO_BIG, FR_CRC_LAST };

static const struct vector {
	const char *name, *what;
	void (*change)(struct stream *);
	int packet; /* 1 + a PK_ fault for packet vectors */
	int frame;  /* an FR_ fault */
} vectors[] = {
	{ "good", "the input as it is", NULL, 0, 0 },
	{ "frame-magic", "the magic's first byte 0x88", NULL, 0, FR_MAGIC },
	{ "frame-version", "the next stream version", NULL, 0, FR_VERSION },
	{ "frame-crc", "the first record's CRC one bit off", NULL, 0, FR_CRC },
	{ "frame-cut", "the last byte cut off", NULL, 0, FR_CUT },
	{ "frame-crc-last", "a record of type 7 last, its CRC one bit off", v_type_last, 0,
	  FR_CRC_LAST },
	{ "frame-too-big", "a TASK header of length 2^26 + 1 first", NULL, 0, FR_TOO_BIG },
	{ "type-reserved", "records of types 7 and 0xff, which readers skip",
	  v_type_reserved, 0, 0 },
	{ "type-0x100", "a record of type 0x100", v_type_0x100, 0, 0 },
	{ "schema-flag-bit", "SCHEMA flags bit 6 set", v_schema_flag_bit, 0, 0 },
	{ "schema-ovr-pairs", "SCHEMA flags bit 4 (one-vs-rest) over one-vs-one tasks",
	  v_schema_ovr_pairs, 0, 0 },
	{ "schema-numeric-flag", "SCHEMA flags bit 0 set, names not numbers",
	  v_schema_numeric_flag, 0, 0 },
	{ "schema-numbers-unflagged", "SCHEMA class names numbers, flags bit 0 clear",
	  v_schema_numbers_unflagged, 0, 0 },
	{ "schema-order", "SCHEMA classes 0 and 1 swapped", v_schema_order, 0, 0 },
	{ "schema-feature-twice", "SCHEMA feature 1 named as feature 0",
	  v_schema_feature_twice, 0, 0 },
	{ "schema-no-rows", "SCHEMA class 0 with rows 0", v_schema_no_rows, 0, 0 },
	{ "shard-f32-lo", "float32 SHARD with lo 1", v_shard_f32_lo, 0, 0 },
	{ "shard-sparse-nan", "sparse SHARD, row 0's first value NaN", v_shard_sparse_nan, 0, 0 },
	{ "shard-sparse-step", "sparse SHARD, row 0's first step 0", v_shard_sparse_step, 0, 0 },
	{ "task-hash", "TASK whose hash is not its identity's", v_task_hash, 0, 0 },
	{ "weights-hash", "WEIGHTS whose task hash is not its identity's", v_weights_hash, 0, 0 },
	{ "weights-long", "WEIGHTS whose bias is FLT_MAX, longer than any solution",
	  v_weights_long, 0, 0 },
	{ "model-present", "MODEL present byte 3", v_model_present, 0, 0 },
	{ "model-missing", "MODEL pair 0 missing, its entry not zero", v_model_missing, 0, 0 },
	{ "model-ovr", "one-vs-rest SCHEMA flag, the MODEL's 3 entries its classifiers",
	  v_model_ovr, 0, 0 },
	{ "model-ovr-sigmoids", "one-vs-rest MODEL with sigmoids", v_model_ovr_sigmoids, 0, 0 },
	{ "weights-ovr", "WEIGHTS of one-vs-rest tasks", v_weights_ovr, 0, 0 },
	{ "weights-ovr-sigmoid", "WEIGHTS of one-vs-rest tasks with probability 1 and a sigmoid",
	  v_weights_ovr_sigmoid, 0, 0 },
	{ "packet-good", "a PACKET of the weights, as g2t-pack would make it", NULL,
	  1 + PK_GOOD, 0 },
	{ "packet-varint-long", "PACKET: a varint not in its shortest form", NULL,
	  1 + PK_VARINT_LONG, 0 },
	{ "packet-varint-65", "PACKET: a varint of more than 64 bits", NULL,
	  1 + PK_VARINT_65, 0 },
	{ "packet-epochs", "PACKET: epochs of 2^32 and more", NULL, 1 + PK_EPOCHS, 0 },
	{ "packet-token", "PACKET: a token of 257 bytes", NULL, 1 + PK_TOKEN, 0 },
	{ "packet-kind", "PACKET: an item of kind 3", NULL, 1 + PK_KIND, 0 },
	{ "packet-count", "PACKET: count one more than the weight sets", NULL, 1 + PK_COUNT, 0 },
	{ "packet-trailing", "PACKET: a byte after the zlib stream", NULL, 1 + PK_TRAILING, 0 },
	{ "packet-cut", "PACKET: the zlib stream cut before its Adler-32", NULL, 1 + PK_CUT, 0 },
};

static void read_stream(struct stream *s)
{
	static uint8_t buf[64 << 20];
	size_t len = fread(buf, 1, sizeof buf, stdin);
	struct g2t_mem m;
	const uint8_t *p;
	uint32_t type, n;
	int rc;

	g2t_mem_open(&m, buf, len);
	while ((rc = g2t_mem_next(&m, &type, &p, &n)) == 1)
		insert(s, s->n, type, p, n);
	if (rc < 0)
		die("the input is not a good stream");
}

static void write_stream(const struct stream *s, int frame)
{
	char *buf;
	size_t len;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		die("out of memory");
	g2t_write_header(f);
	if (frame == FR_TOO_BIG) /* a TASK header, its length over 2^26 */
		fwrite((uint8_t[8]){ 3, 0, 0, 0, 1, 0, 0, 4 }, 1, 8, f);
	for (size_t i = 0; i < s->n; i++)
		g2t_write_record(f, s->r[i].type, s->r[i].p, s->r[i].len);
	if (fclose(f))
		die("out of memory");
	if (frame == FR_CRC) /* the first record's CRC */
		buf[G2T_HEADER_SIZE + G2T_HEADER_SIZE + s->r[0].len] ^= 1;
	if (frame == FR_CRC_LAST)
		buf[len - 1] ^= 1;
	if (frame == FR_VERSION)
		buf[4] = G2T_FORMAT_VERSION + 1;
	if (frame == FR_MAGIC)
		buf[0] = 0x88;
	if (fwrite(buf, 1, len - (frame == FR_CUT), stdout) != len - (frame == FR_CUT) ||
	    fflush(stdout))
		die("cannot write");
	free(buf);
}

int main(int argc, char **argv)
{
	static struct stream s;
	const struct vector *v = NULL;

	for (size_t i = 0; i < sizeof vectors / sizeof *vectors; i++) {
		if (argc == 2 && !strcmp(argv[1], "--list"))
			printf("%-26s %s\n", vectors[i].name, vectors[i].what);
		else if (argc >= 2 && !strcmp(argv[1], vectors[i].name))
			v = &vectors[i];
	}
	if (argc == 2 && !strcmp(argv[1], "--list"))
		return 0;
	if (!v || argc > 3) {
		fprintf(stderr, "usage: craft VECTOR [KEYFILE] < good.g2t > crafted.g2t\n"
		        "       craft --list\n");
		return 2;
	}
	read_stream(&s);
	if (v->change) {
		v->change(&s);
		fix(&s);
	}
	if (v->packet)
		packet(&s, argv[2], v->packet - 1);
	write_stream(&s, v->frame);
	return 0;
}
