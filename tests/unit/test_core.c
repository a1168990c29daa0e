/* Known-answer tests of the freestanding core. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "check.h"
#include "g2t.h"

static void test_scalars(void)
{
	uint8_t b[4];

	g2t_put_u32(b, 0x01020304u);
	CHECK(b[0] == 4 && b[3] == 1, "u32 is little-endian");
	g2t_put_f32(b, 1.0f);
	CHECK(g2t_get_u32(b) == 0x3f800000u, "f32 1.0 is 0x3f800000");
	CHECK(g2t_get_f32(b) == 1.0f, "f32 round trip");
}

static void test_pairs(void)
{
	int ok = 1;

	for (uint32_t K = 2; K <= 100 && ok; K++) {
		uint32_t p = 0;

		for (uint32_t a = 0; a < K; a++)
			for (uint32_t b = a + 1; b < K; b++, p++) {
				uint32_t x, y;

				g2t_pair_classes(K, p, &x, &y);
				ok &= g2t_pair_index(K, a, b) == p && x == a && y == b;
			}
		ok &= p == K * (K - 1) / 2;
	}
	CHECK(ok, "pair index is canonical and invertible for K = 2..100");
	CHECK(g2t_pair_index(95, 93, 94) == 4464, "95 classes give 4465 pairs");
}

static void test_math(void)
{
	float worst = 0.0f, a[19], b[19];

	for (float x = -80.0f; x < 80.0f; x += 0.0137f) {
		float e = fabsf(g2t_expf(x) - expf(x)) / expf(x);
		worst = e > worst ? e : worst;
	}
	CHECK(worst < 4e-7f, "expf within 4e-7 relative of libm (%g)", worst);
	worst = 0.0f;
	for (float x = 1e-30f; x < 1e30f; x *= 1.37f) {
		float e = fabsf(g2t_logf(x) - logf(x));
		worst = e > worst ? e : worst;
	}
	CHECK(worst < 1e-5f, "logf within 1e-5 of libm (%g)", worst);
	for (int i = 0; i < 19; i++) {
		a[i] = (float)(i + 1);
		b[i] = 1.0f;
	}
	CHECK(g2t_dot(a, b, 19) == 190.0f, "dot of 1..19 with ones is 190");
	CHECK(g2t_dot(a, b, 0) == 0.0f, "empty dot is 0");
}

static uint32_t zcrc(uint32_t c, const uint8_t *p, size_t n)
{
	return (uint32_t)crc32(c, p, (uInt)n);
}

/* header + one 5-byte record of type 9 + one WEIGHTS-sized record. */
static size_t sample_stream(uint8_t *out)
{
	static const uint8_t payload[5] = { 'h', 'e', 'l', 'l', 'o' };
	size_t n = 0;

	g2t_stream_header(out);
	n += G2T_HEADER_SIZE;
	g2t_record_frame(out + n, out + n + G2T_HEADER_SIZE + 5, 9, payload, 5, zcrc);
	memcpy(out + n + G2T_HEADER_SIZE, payload, 5);
	n += G2T_HEADER_SIZE + 5 + G2T_CRC_SIZE;
	return n;
}

/* Feeds a stream one byte at a time; returns records seen or a status. */
static int decode_bytewise(const uint8_t *p, size_t n, uint8_t *buf, uint32_t cap,
                           uint32_t *last_type)
{
	struct g2t_decoder d;
	int records = 0;

	g2t_decoder_init(&d, buf, cap, zcrc);
	for (size_t i = 0; i < n; i++) {
		size_t used;
		int ev, rc = g2t_decoder_push(&d, p + i, 1, &used, &ev);

		if (rc < 0)
			return rc;
		if (ev == G2T_EV_RECORD) {
			records++;
			*last_type = d.type;
		}
	}
	return g2t_decoder_at_boundary(&d) ? records : G2T_ETRUNC;
}

static void test_decoder(void)
{
	uint8_t s[64], two[128], buf[16];
	uint32_t type = 0;
	size_t n = sample_stream(s);

	CHECK(decode_bytewise(s, n, buf, sizeof buf, &type) == 1 && type == 9,
	      "one record decoded byte by byte");
	memcpy(two, s, n);
	memcpy(two + n, s, n);
	CHECK(decode_bytewise(two, 2 * n, buf, sizeof buf, &type) == 2,
	      "concatenated streams decode as one");
	CHECK(decode_bytewise(s, n - 1, buf, sizeof buf, &type) == G2T_ETRUNC,
	      "a cut stream is truncated");
	s[G2T_HEADER_SIZE * 2 + 2] ^= 1;
	CHECK(decode_bytewise(s, n, buf, sizeof buf, &type) == G2T_ECRC,
	      "a flipped payload bit fails the CRC");
	s[G2T_HEADER_SIZE * 2 + 2] ^= 1;
	s[0] = 'X';
	CHECK(decode_bytewise(s, n, buf, sizeof buf, &type) == G2T_EMAGIC, "bad magic");
	s[0] = 0x89;
	s[4] = G2T_FORMAT_VERSION + 1;
	CHECK(decode_bytewise(s, n, buf, sizeof buf, &type) == G2T_EVERSION, "bad version");
	s[4] = G2T_FORMAT_VERSION;
	CHECK(decode_bytewise(s, n, buf, 4, &type) == G2T_ETOOBIG,
	      "a record over the buffer is refused unless streamed");
}

static void test_weights_codec(void)
{
	float w[100] = { 0 }, back[100];
	uint8_t buf[2048];
	struct g2t_weights in = { .features = 100, .bias = -0.5f, .w = w, .rows_seen = 1ull << 33,
	                          .epochs = 3, .loss = 0.25f };
	struct g2t_weights out = { .w = back };
	long n;

	g2t_params_default(&in.id.params);
	in.id.class_a = 1;
	in.id.class_b = 4;
	w[7] = 1.5f;
	w[99] = -2.0f;
	n = g2t_weights_encode(buf, sizeof buf, &in);
	CHECK(n == 32 + G2T_TASK_ID_SIZE + 28 + 4 + 2 * 8 + 4, "mostly-zero weights are sparse (%ld)", n);
	CHECK(g2t_weights_decode(&out, 100, buf, (size_t)n) == G2T_OK &&
	      !memcmp(w, back, sizeof w) && out.bias == -0.5f && out.rows_seen == 1ull << 33 &&
	      out.id.class_b == 4, "sparse weights round trip");
	for (int i = 0; i < 100; i++)
		w[i] = (float)i;
	n = g2t_weights_encode(buf, sizeof buf, &in);
	CHECK(n == 32 + G2T_TASK_ID_SIZE + 28 + 400 + 4, "dense weights are dense");
	CHECK(g2t_weights_decode(&out, 100, buf, (size_t)n) == G2T_OK &&
	      !memcmp(w, back, sizeof w), "dense weights round trip");
	CHECK(g2t_weights_decode(&out, 50, buf, (size_t)n) == G2T_ENOMEM,
	      "weights over the caller's room are refused");
	CHECK(g2t_weights_decode(&out, 100, buf, (size_t)n - 1) == G2T_EFORMAT,
	      "a short payload is malformed");
	in.id.params.probability = 1;
	in.id.params.weight[1] = 2.5f;
	in.sigmoid[0] = -3.25f;
	in.sigmoid[1] = 0.125f;
	n = g2t_weights_encode(buf, sizeof buf, &in);
	CHECK(n == 32 + G2T_TASK_ID_SIZE + 28 + 8 + 400 + 4 &&
	      g2t_get_f32(buf + 32 + G2T_TASK_ID_SIZE + 28) == -3.25f,
	      "a probability task's sigmoid follows the loss");
	CHECK(g2t_weights_decode(&out, 100, buf, (size_t)n) == G2T_OK &&
	      out.sigmoid[0] == -3.25f && out.sigmoid[1] == 0.125f &&
	      out.id.params.weight[1] == 2.5f && !memcmp(w, back, sizeof w),
	      "the sigmoid and class weights round trip");
	in.id.params.probability = 2;
	n = g2t_weights_encode(buf, sizeof buf, &in);
	CHECK(g2t_weights_decode(&out, 100, buf, (size_t)n) == G2T_EFORMAT,
	      "probability 2 is malformed");
	in.id.params.probability = 0;
	in.id.params.weight[1] = 0.0f;
	n = g2t_weights_encode(buf, sizeof buf, &in);
	CHECK(g2t_weights_decode(&out, 100, buf, (size_t)n) == G2T_EFORMAT,
	      "a class weight of 0 is malformed");
}

/* A sparse float32 shard of 2 rows of 300 features: {5: 1.5, 299: -2},
 * then no value; its rows after the header. */
static size_t sparse_shard(uint8_t *out, struct g2t_shard *sh)
{
	static const uint32_t at[2] = { 5, 299 };
	uint8_t v[8];
	size_t n = G2T_SHARD_HEADER_SIZE;

	*sh = (struct g2t_shard){ .klass = 0, .rows = 2, .features = 300,
	                          .encoding = G2T_ENC_F32 | G2T_ENC_SPARSE };
	g2t_shard_header_encode(out, G2T_SHARD_HEADER_SIZE, sh);
	g2t_put_f32(v, 1.5f);
	g2t_put_f32(v + 4, -2.0f);
	n += (size_t)g2t_srow_encode(out + n, 64, sh, 2, at, v);
	n += (size_t)g2t_srow_encode(out + n, 64, sh, 0, at, v);
	return n;
}

/* Rows through the cursor: how many, or its first error. */
static int cursor_rows(const uint8_t *p, size_t len, uint32_t *index, float *value,
                       uint32_t *nnz)
{
	struct g2t_shard sh;
	struct g2t_rows c;
	int rc, rows = 0;
	uint32_t n;

	if ((rc = g2t_shard_header_decode(&sh, p, len)))
		return rc;
	g2t_rows_init(&c, &sh, p + G2T_SHARD_HEADER_SIZE, len - G2T_SHARD_HEADER_SIZE);
	while ((rc = g2t_rows_next(&c, index, value, &n)) == 1)
		if (rows++ == 0)
			*nnz = n;
	return rc ? rc : rows;
}

static void test_sparse_rows(void)
{
	uint8_t p[128], d[G2T_SHARD_HEADER_SIZE + 8] = { 0 };
	uint32_t index[300], nnz = 99;
	float value[300];
	struct g2t_shard sh;
	size_t n = sparse_shard(p, &sh);

	/* count 2; step 6, 1.5; step 294 (LEB128 a6 02), -2; count 0 */
	CHECK(n == G2T_SHARD_HEADER_SIZE + 1 + 1 + 4 + 2 + 4 + 1 && p[24] == 2 && p[25] == 6 &&
	      p[30] == 0xa6 && p[31] == 0x02 && p[36] == 0, "a sparse row: count, steps, values");
	CHECK(cursor_rows(p, n, index, value, &nnz) == 2 && nnz == 2 && index[0] == 5 &&
	      index[1] == 299 && value[0] == 1.5f && value[1] == -2.0f,
	      "sparse rows decode to their non-zero values");
	CHECK(g2t_shard_row_size(&sh) == 0, "a sparse row has no one size");
	CHECK(cursor_rows(p, n - 1, index, value, &nnz) == G2T_EFORMAT,
	      "a missing row is malformed");
	p[n] = 0;
	CHECK(cursor_rows(p, n + 1, index, value, &nnz) == G2T_EFORMAT,
	      "a byte past the last row is malformed");
	p[31] = 0x03; /* index 5 + 0x1a6 = 427: past the features */
	CHECK(cursor_rows(p, n, index, value, &nnz) == G2T_EFORMAT, "an index past F");
	p[31] = 0x02;
	p[25] = 0;
	CHECK(cursor_rows(p, n, index, value, &nnz) == G2T_EFORMAT, "a step 0 (a repeated index)");
	p[25] = 0x86;
	CHECK(cursor_rows(p, n, index, value, &nnz) == G2T_EFORMAT,
	      "a number running into the next field is malformed");
	p[25] = 6;
	p[30] = 0x80; /* 0x80 0x02 = 256: still in range, but... */
	p[31] = 0x00;
	CHECK(cursor_rows(p, n, index, value, &nnz) == G2T_EFORMAT,
	      "LEB128 not in its shortest form is malformed");
	p[30] = 0xa6;
	p[31] = 0x02;
	g2t_put_f32(p + 26, 0.0f);
	CHECK(cursor_rows(p, n, index, value, &nnz) == G2T_EFORMAT, "a stored zero is malformed");
	g2t_put_u32(p + 26, 0x7fc00000u);
	CHECK(cursor_rows(p, n, index, value, &nnz) == G2T_EDATA, "a NaN is bad data");
	g2t_put_f32(p + 26, 1.5f);
	p[24] = 0xff;
	CHECK(cursor_rows(p, n, index, value, &nnz) == G2T_EFORMAT, "a count over F");
	p[24] = 2;
	sh.lo = 1.0f;
	g2t_shard_header_encode(p, G2T_SHARD_HEADER_SIZE, &sh);
	CHECK(cursor_rows(p, n, index, value, &nnz) == G2T_EFORMAT, "a sparse lo other than 0");
	sh.lo = 0.0f;
	sh.encoding = 4;
	g2t_shard_header_encode(p, G2T_SHARD_HEADER_SIZE, &sh);
	CHECK(cursor_rows(p, n, index, value, &nnz) == G2T_EFORMAT, "an unknown encoding");
	/* a sparse uint8 row: bytes, each lo + step * byte */
	sh = (struct g2t_shard){ .rows = 1, .features = 300, .step = 0.5f,
	                         .encoding = G2T_ENC_U8 | G2T_ENC_SPARSE };
	g2t_shard_header_encode(p, G2T_SHARD_HEADER_SIZE, &sh);
	n = G2T_SHARD_HEADER_SIZE;
	n += (size_t)g2t_srow_encode(p + n, 64, &sh, 2, (const uint32_t[]){ 0, 299 },
	                             (const uint8_t[]){ 4, 1 });
	CHECK(n == G2T_SHARD_HEADER_SIZE + 1 + 2 + 3 && p[24] == 2 && p[25] == 1 &&
	      p[26] == 4 && p[27] == 0xab && p[28] == 0x02 && p[29] == 1 &&
	      cursor_rows(p, n, index, value, &nnz) == 1 && nnz == 2 && index[1] == 299 &&
	      value[0] == 2.0f && value[1] == 0.5f, "a sparse uint8 row round trip");
	p[26] = 0;
	CHECK(cursor_rows(p, n, index, value, &nnz) == G2T_EFORMAT, "a stored byte 0 is malformed");
	/* a dense uint8 row through the cursor: its non-zero values */
	sh = (struct g2t_shard){ .rows = 1, .features = 8, .encoding = G2T_ENC_U8, .step = 0.5f };
	g2t_shard_header_encode(d, G2T_SHARD_HEADER_SIZE, &sh);
	d[G2T_SHARD_HEADER_SIZE + 3] = 4;
	CHECK(cursor_rows(d, sizeof d, index, value, &nnz) == 1 && nnz == 1 && index[0] == 3 &&
	      value[0] == 2.0f, "a dense row gives its non-zero values");
}

/* Rows with most values 0, dense and sparse: a feature of row r of side
 * `side` is non-zero one time in four, larger for class a on the even
 * features. */
#define SP_F 37
#define SP_ROWS 45
static float sp_dense[2][SP_ROWS][SP_F];
static uint32_t sp_index[2][SP_ROWS][SP_F];
static float sp_value[2][SP_ROWS][SP_F];
static uint32_t sp_n[2][SP_ROWS];

static void sp_make(void)
{
	uint32_t seed = 12345;

	for (int side = 0; side < 2; side++)
		for (int r = 0; r < SP_ROWS; r++)
			for (uint32_t j = 0; j < SP_F; j++) {
				float v;

				seed = seed * 1664525u + 1013904223u;
				if (seed >> 30)
					continue;
				v = (float)(seed >> 8 & 0xffff) / 65536.0f - 0.3f;
				v += (j % 2 == 0) == (side == 0) ? 0.7f : 0.0f;
				sp_dense[side][r][j] = v;
				if (v != 0.0f) {
					sp_index[side][r][sp_n[side][r]] = j;
					sp_value[side][r][sp_n[side][r]++] = v;
				}
			}
}

static int sp_read(void *ctx, int side, uint32_t first, uint32_t count, float *out)
{
	(void)ctx;
	memcpy(out, sp_dense[side][first], (size_t)count * SP_F * sizeof *out);
	return 0;
}

static int sp_sread(void *ctx, int side, uint32_t first, uint32_t count,
                    struct g2t_srow *out)
{
	(void)ctx;
	for (uint32_t i = 0; i < count; i++)
		out[i] = (struct g2t_srow){ sp_n[side][first + i], sp_index[side][first + i],
		                            sp_value[side][first + i] };
	return 0;
}

static void test_sparse_training(void)
{
	static float work[SP_F * (2 + 2 * 2 * SP_ROWS) + 8 * SP_ROWS];
	static struct g2t_srow rows[2 * SP_ROWS];
	struct g2t_task task = { .token_len = 0 };
	uint32_t n[2] = { SP_ROWS, SP_ROWS - 7 };
	float w1[SP_F], w2[SP_F];
	struct g2t_weights a = { .w = w1 }, b = { .w = w2 };
	static const struct { uint32_t algo, loss; float l1; uint32_t block; } run[] = {
		{ G2T_ALGO_ASGD, G2T_LOSS_HINGE, 0.0f, 4 },
		{ G2T_ALGO_ASGD, G2T_LOSS_LOGISTIC, 0.0f, 45 },
		{ G2T_ALGO_ASGD, G2T_LOSS_SQHINGE, 1e-3f, 1 },
		{ G2T_ALGO_PEGASOS, G2T_LOSS_HINGE, 0.0f, 7 },
		{ G2T_ALGO_DCD, G2T_LOSS_HINGE, 0.0f, 0 },
		{ G2T_ALGO_DCD, G2T_LOSS_SQHINGE, 0.0f, 0 },
		{ G2T_ALGO_DCD, G2T_LOSS_LOGISTIC, 0.0f, 0 },
	};

	sp_make();
	g2t_params_default(&task.id.params);
	task.id.class_b = 1;
	for (size_t i = 0; i < sizeof run / sizeof *run; i++) {
		struct g2t_params *p = &task.id.params;
		int ra, rb;

		p->algo = run[i].algo;
		p->loss = run[i].loss;
		p->l1 = run[i].l1;
		p->epochs = p->algo == G2T_ALGO_DCD ? 1000 : 5;
		memset(w2, 0xff, sizeof w2);
		if (p->algo == G2T_ALGO_DCD) {
			ra = g2t_dcd_train(&task, SP_F, n, sp_read, NULL, work, &a, NULL);
			rb = g2t_dcd_train_sparse(&task, SP_F, n, sp_sread, NULL, work, rows, &b, NULL);
		} else {
			ra = g2t_train(&task, SP_F, n, sp_read, NULL, work, run[i].block, &a);
			rb = g2t_train_sparse(&task, SP_F, n, sp_sread, NULL, work, rows,
			                      run[i].block, &b);
		}
		CHECK(!ra && !rb && !memcmp(w1, w2, sizeof w1) && !memcmp(&a.bias, &b.bias, 4) &&
		      !memcmp(&a.loss, &b.loss, 4) && w1[0] != 0.0f,
		      "algo %u loss %u: sparse rows train bit for bit as dense", p->algo, p->loss);
	}
}

/* Two separable blobs: x0 > x1 for class a. */
static int blob_rows(void *ctx, int side, uint32_t first, uint32_t count, float *out)
{
	(void)ctx;
	for (uint32_t i = 0; i < count; i++) {
		float t = (float)((first + i) % 17) / 17.0f;

		out[2 * i] = side ? 0.1f + 0.3f * t : 0.6f + 0.3f * t;
		out[2 * i + 1] = side ? 0.6f + 0.3f * t : 0.1f + 0.3f * t;
	}
	return 0;
}

static void test_training(void)
{
	struct g2t_task task = { .token_len = 0 };
	uint32_t n[2] = { 50, 70 };
	float work[2 * 2 + 2 * 2 * 8], w1[2], w2[2], x[2];
	struct g2t_weights a = { .w = w1 }, b = { .w = w2 };
	uint32_t losses[] = { G2T_LOSS_HINGE, G2T_LOSS_LOGISTIC, G2T_LOSS_SQHINGE };

	g2t_params_default(&task.id.params);
	task.id.class_b = 1;
	CHECK(g2t_train_work_floats(2, 8) == sizeof work / sizeof *work, "work size");
	for (int l = 0; l < 3; l++) {
		int right = 0;

		task.id.params.loss = losses[l];
		g2t_train(&task, 2, n, blob_rows, NULL, work, 8, &a);
		for (int side = 0; side < 2; side++)
			for (uint32_t r = 0; r < n[side]; r++) {
				blob_rows(NULL, side, r, 1, x);
				right += (g2t_dot(w1, x, 2) + a.bias > 0.0f) == (side == 0);
			}
		CHECK(right == 120, "loss %d separates separable data (%d/120)", l, right);
	}
	task.id.params.loss = G2T_LOSS_HINGE;
	g2t_train(&task, 2, n, blob_rows, NULL, work, 8, &a);
	g2t_train(&task, 2, n, blob_rows, NULL, work, 3, &b);
	CHECK(a.rows_seen == 120u * task.id.params.epochs, "rows seen counted");
	CHECK(g2t_dot(w2, (float[]){ 0.9f, 0.1f }, 2) + b.bias > 0.0f &&
	      g2t_dot(w2, (float[]){ 0.1f, 0.9f }, 2) + b.bias < 0.0f,
	      "a 3-row buffer trains as well");
	g2t_train(&task, 2, n, blob_rows, NULL, work, 8, &b);
	CHECK(!memcmp(w1, w2, sizeof w1) && a.bias == b.bias, "training is deterministic");
	task.id.params.cost = 0.0f;
	CHECK(g2t_train(&task, 2, n, blob_rows, NULL, work, 8, &a) == G2T_EPARAM,
	      "cost 0 is refused");
}

/* blob_rows as bytes: value = byte / 255. */
static const uint8_t *blob_bytes(void *ctx, int side, uint32_t first, uint32_t count,
                                 uint8_t *buf)
{
	float x[2];

	(void)ctx;
	for (uint32_t i = 0; i < count; i++) {
		blob_rows(NULL, side, first + i, 1, x);
		buf[2 * i] = (uint8_t)(x[0] * 255.0f + 0.5f);
		buf[2 * i + 1] = (uint8_t)(x[1] * 255.0f + 0.5f);
	}
	return buf;
}

static void test_fixed(void)
{
	struct g2t_task task = { .token_len = 0 };
	struct g2t_params *p = &task.id.params;
	uint32_t n[2] = { 50, 70 };
	uint64_t work[64];
	float w[2];
	struct g2t_weights out = { .w = w };
	uint8_t id[G2T_TASK_ID_SIZE];
	struct g2t_task_id back;

	g2t_params_default(p);
	task.id.class_b = 1;
	p->algo = G2T_ALGO_FIXED;
	CHECK(g2t_params_check(p) == G2T_OK, "fixed point with the defaults is valid");
	CHECK(g2t_fixed_work_bytes(2, 8) <= sizeof work, "work size");
	CHECK(g2t_fixed_train(&task, 2, 1.0f / 255.0f, n, blob_bytes, NULL, work, 8, &out) ==
	      G2T_OK && w[0] > 0.0f && w[1] < 0.0f && out.id.params.algo == G2T_ALGO_FIXED &&
	      out.rows_seen == 120u * p->epochs, "fixed point separates the blobs");
	CHECK(g2t_train(&task, 2, n, blob_rows, NULL, (float *)work, 1, &out) == G2T_EPARAM,
	      "g2t_train refuses a fixed-point task");
	p->loss = G2T_LOSS_LOGISTIC;
	CHECK(g2t_params_check(p) == G2T_EPARAM, "fixed point is hinge loss only");
	g2t_task_id_encode(id, sizeof id, &task.id);
	CHECK(g2t_task_id_decode(&back, id, sizeof id) == G2T_EFORMAT,
	      "a fixed-point logistic task is malformed");
	p->loss = G2T_LOSS_HINGE;
	p->l1 = 0.01f;
	CHECK(g2t_params_check(p) == G2T_EPARAM, "fixed point takes no L1");
	p->l1 = 0.0f;
	p->algo = G2T_ALGO_ASGD;
	CHECK(g2t_fixed_train(&task, 2, 1.0f / 255.0f, n, blob_bytes, NULL, work, 8, &out) ==
	      G2T_EPARAM, "g2t_fixed_train refuses a float32 task");
	p->algo = 4;
	CHECK(g2t_params_check(p) == G2T_EPARAM, "algorithm 4 does not exist");
}

/* Two rows, x = 1 for class a and x = -1 for class b: the optimum of
 * 0.5 (w^2 + b^2) + C (hinge losses) is w = 1, b = 0, objective 0.5, with
 * both duals 0.5 (C >= 0.5). */
static int pair_rows(void *ctx, int side, uint32_t first, uint32_t count, float *out)
{
	(void)ctx;
	(void)first;
	out[0] = side ? -1.0f : 1.0f;
	return count == 1 ? 0 : -1;
}

/* 380 rows of 5 features from a hash: the rows of the known answers. */
static int hashed_rows(void *ctx, int side, uint32_t first, uint32_t count, float *out)
{
	(void)ctx;
	for (uint32_t i = 0; i < count; i++)
		for (uint32_t j = 0; j < 5; j++) {
			uint32_t h = (first + i) * 2654435761u ^ j * 40503u ^ (uint32_t)side * 977u;
			float t = (float)(h % 1000u) / 1000.0f;

			out[5 * i + j] = side ? t * 0.8f : 0.2f + t * 0.8f;
		}
	return 0;
}

/* FNV-1a of the weights, the bias and the primal objective's bits. */
static uint32_t result_hash(const float *w, uint32_t n, float bias, float primal)
{
	uint32_t h = 2166136261u;
	uint8_t b[4];

	for (uint32_t i = 0; i <= n + 1; i++) {
		g2t_put_f32(b, i < n ? w[i] : i == n ? bias : primal);
		for (int k = 0; k < 4; k++)
			h = (h ^ b[k]) * 16777619u;
	}
	return h;
}

/* The exact solver's results, bit for bit, as gcc and clang give them at
 * -O0 to -O3 -march=native on x86-64 (-ffp-contract=off): a target or
 * compiler that rounds differently fails here. */
static void test_dcd_known(void)
{
	static float work[8192];
	static const uint32_t want[3] = { 0xc23e191eu, 0xdf2ee08cu, 0x0749a821u };
	uint32_t n[2] = { 150, 230 };
	struct g2t_task task = { .token_len = 0 };
	float w[5];
	struct g2t_weights out = { .w = w };
	struct g2t_cert c;

	g2t_params_default(&task.id.params);
	task.id.class_b = 1;
	task.id.params.algo = G2T_ALGO_DCD;
	task.id.params.epochs = 1000;
	for (uint32_t l = 0; l < 3; l++) {
		uint32_t h;

		task.id.params.loss = l;
		CHECK(g2t_dcd_work_floats(5, n, l) <= sizeof work / sizeof *work, "work size");
		g2t_dcd_train(&task, 5, n, hashed_rows, NULL, work, &out, &c);
		h = result_hash(w, 5, out.bias, c.primal);
		CHECK(h == want[l], "dcd, loss %u: the known bits (hash %08x, %u passes, primal %.9g)",
		      l, h, c.passes, (double)c.primal);
	}
}

static void test_dcd(void)
{
	struct g2t_task task = { .token_len = 0 };
	struct g2t_params *p = &task.id.params;
	uint32_t one[2] = { 1, 1 }, n[2] = { 50, 70 };
	float work[2 + 2 + 2 * 4 + 120 * 2 + 120 * 4], w[2], w2[2];
	struct g2t_weights out = { .w = w }, again = { .w = w2 };
	struct g2t_cert c, c2;
	uint32_t losses[] = { G2T_LOSS_HINGE, G2T_LOSS_LOGISTIC, G2T_LOSS_SQHINGE };

	g2t_params_default(p);
	task.id.class_b = 1;
	p->algo = G2T_ALGO_DCD;
	p->cost = 1.0f;
	p->epochs = 1000;
	CHECK(g2t_dcd_work_floats(1, one, G2T_LOSS_HINGE) == 2 + 2 + 2 * 3, "dcd work size");
	CHECK(g2t_dcd_train(&task, 1, one, pair_rows, NULL, work, &out, &c) == G2T_OK &&
	      w[0] > 0.999f && w[0] < 1.001f && out.bias > -1e-3f && out.bias < 1e-3f &&
	      c.primal > 0.4995f && c.primal < 0.5005f && c.dual <= c.primal &&
	      c.converged && out.epochs == c.passes,
	      "dcd: the known optimum of two rows (w %g, b %g, primal %g, dual %g)",
	      (double)w[0], (double)out.bias, (double)c.primal, (double)c.dual);
	for (int l = 0; l < 3; l++) {
		p->loss = losses[l];
		CHECK(g2t_dcd_work_floats(2, n, p->loss) <= sizeof work / sizeof *work,
		      "dcd work size, loss %d", l);
		CHECK(g2t_dcd_train(&task, 2, n, blob_rows, NULL, work, &out, &c) == G2T_OK &&
		      w[0] > 0.0f && w[1] < 0.0f && c.converged && c.gap <= G2T_DCD_GAP &&
		      c.gap >= 0.0f, "dcd separates the blobs with a certificate, loss %d "
		      "(primal %g, dual %g)", l, (double)c.primal, (double)c.dual);
		g2t_dcd_train(&task, 2, n, blob_rows, NULL, work, &again, &c2);
		CHECK(!memcmp(w, w2, sizeof w) && c.primal == c2.primal && c.passes == c2.passes,
		      "dcd: the same task gives the same bits, loss %d", l);
	}
	p->loss = G2T_LOSS_HINGE;
	p->epochs = 1;
	CHECK(g2t_dcd_train(&task, 2, n, blob_rows, NULL, work, &out, &c) == G2T_OK &&
	      c.passes == 1 && out.epochs == 1 && !c.converged && c.gap > G2T_DCD_GAP,
	      "dcd stops at the cap on passes, its certificate saying how far it is");
	p->l1 = 0.01f;
	CHECK(g2t_params_check(p) == G2T_EPARAM, "dcd takes no L1");
	p->l1 = 0.0f;
	CHECK(g2t_train(&task, 2, n, blob_rows, NULL, work, 8, &out) == G2T_EPARAM,
	      "g2t_train refuses a dcd task");
	p->algo = G2T_ALGO_ASGD;
	CHECK(g2t_dcd_train(&task, 2, n, blob_rows, NULL, work, &out, &c) == G2T_EPARAM,
	      "g2t_dcd_train refuses an SGD task");
}

/* Rows interleave in proportion to the class sizes, past 16-bit counts too:
 * after d0 + d1 rows, d0 n1 - d1 n0 stays in (-n0, n1]. */
static void test_order(void)
{
	uint32_t n[2] = { 100003, 70001 }, d[2] = { 0, 0 }, at;
	struct g2t_order o;
	int side, load, ok = 1;

	g2t_order_init(&o, n, 1000, 7);
	g2t_order_epoch(&o);
	for (uint32_t i = 0; i < n[0] + n[1]; i++) {
		int64_t lead;

		g2t_order_next(&o, &side, &at, &load);
		d[side]++;
		lead = (int64_t)d[0] * n[1] - (int64_t)d[1] * n[0];
		ok &= lead > -(int64_t)n[0] && lead <= (int64_t)n[1] && at < 1000;
	}
	CHECK(ok && d[0] == n[0] && d[1] == n[1], "classes interleave in proportion");
}

static void test_predict(void)
{
	/* 3 classes, 1 feature: pair (0,1) (0,2) (1,2); weights then bias */
	float w[] = { 1.0f, 0.0f, -1.0f, 0.0f, 1.0f, -0.5f };
	float x = 1.0f, margin[3];
	uint32_t votes[3];
	uint8_t present[3] = { 1, 1, 1 };

	/* x = 1: 0 beats 1 (+1), 2 beats 0 (-1), 1 beats 2 (+0.5): a 1-1-1 tie */
	CHECK(g2t_ovo_predict(w, present, 3, 1, &x, votes, margin) == 2,
	      "a vote tie goes to the larger summed margin (class 2: %g)", margin[2]);
	CHECK(votes[0] == 1 && votes[1] == 1 && votes[2] == 1, "one vote each");
	CHECK(g2t_ddag_predict(w, present, 3, 1, &x) == 1, "DDAG: 2 beats 0, then 1 beats 2");
	present[1] = 0;
	CHECK(g2t_ovo_predict(w, present, 3, 1, &x, votes, margin) == 0 && votes[2] == 0,
	      "a missing pair casts no vote");
}

static void test_parse_float(void)
{
	float f = 0.0f;

	CHECK(!g2t_parse_float("0.1", 3, &f) && f == 0.1f, "0.1");
	CHECK(!g2t_parse_float("-12.5", 5, &f) && f == -12.5f, "-12.5");
	CHECK(!g2t_parse_float(" 7 ", 3, &f) && f == 7.0f, "spaces around a number");
	CHECK(!g2t_parse_float("1e3", 3, &f) && f == 1000.0f, "exponent via strtod");
	CHECK(!g2t_parse_float("3.4028234e38", 12, &f) && f == 3.4028234e38f, "FLT_MAX");
	CHECK(g2t_parse_float("1e39", 4, &f) == G2T_EDATA, "over float range");
	CHECK(g2t_parse_float("nan", 3, &f) == G2T_EDATA, "NaN refused");
	CHECK(g2t_parse_float("inf", 3, &f) == G2T_EDATA, "inf refused");
	CHECK(g2t_parse_float("", 0, &f) == G2T_EDATA, "empty refused");
	CHECK(g2t_parse_float("1.2.3", 5, &f) == G2T_EDATA, "1.2.3 refused");
	CHECK(g2t_parse_float("12abc", 5, &f) == G2T_EDATA, "trailing junk refused");
}

static void test_schema(void)
{
	struct g2t_schema *s = g2t_schema_new(2, 3), *back = NULL;
	const char *names[] = { "a", "b", "c" };

	s->label = strdup("label");
	s->feature[0] = strdup("x");
	s->feature[1] = strdup("y");
	s->offset[1] = 2.0f;
	s->scale[1] = 0.5f;
	for (int i = 0; i < 3; i++) {
		s->klass[i] = strdup(names[i]);
		s->rows[i] = (uint32_t)(10 + i);
		s->shard_hash[i][0] = (uint8_t)i;
	}
	CHECK(g2t_schema_encode(s) == G2T_OK, "schema encodes");
	CHECK(g2t_schema_decode(&back, s->payload, s->length) == G2T_OK &&
	      !memcmp(back->id, s->id, G2T_HASH_SIZE) && back->scale[1] == 0.5f &&
	      back->rows[2] == 12 && !strcmp(back->klass[1], "b") &&
	      g2t_schema_class(back, "c", 1) == 2, "schema round trip");
	g2t_schema_free(back);
	back = NULL;
	CHECK(g2t_schema_decode(&back, s->payload, s->length - 1) == G2T_EFORMAT && !back,
	      "a short schema is malformed");
	uint32_t dense = s->length;

	s->offset[1] = 0.0f;
	s->flags = G2T_SCHEMA_SPARSE | G2T_SCHEMA_INDEXED;
	CHECK(g2t_schema_encode(s) == G2T_OK && s->length == dense - 4 * 2 - (4 + 1) * 2 &&
	      g2t_schema_decode(&back, s->payload, s->length) == G2T_OK &&
	      !strcmp(back->feature[1], "f2") && back->offset[1] == 0.0f &&
	      back->scale[1] == 0.5f && back->flags == s->flags,
	      "a sparse, indexed schema lists the scales only");
	g2t_schema_free(back);
	back = NULL;
	g2t_put_u32(s->payload + 8, 8);
	CHECK(g2t_schema_decode(&back, s->payload, s->length) == G2T_EFORMAT && !back,
	      "unknown schema flags are refused");
	s->flags = 0;
	free(s->klass[2]);
	s->klass[2] = strdup("a");
	g2t_schema_encode(s);
	CHECK(g2t_schema_decode(&back, s->payload, s->length) == G2T_EFORMAT,
	      "duplicate class names are refused");
	g2t_schema_free(s);
}

int main(void)
{
	test_scalars();
	test_pairs();
	test_math();
	test_decoder();
	test_weights_codec();
	test_sparse_rows();
	test_training();
	test_sparse_training();
	test_fixed();
	test_dcd();
	test_dcd_known();
	test_order();
	test_predict();
	test_parse_float();
	test_schema();
	return check_done();
}
