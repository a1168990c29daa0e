/*
 * Readers of G2T streams refuse values no tool writes (issue 9): a NaN or an
 * infinity in a shard, a schema or a model is named with its byte offset,
 * and the trainer never writes a weight that is not finite.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "check.h"
#include "g2t.h"

#define F 2u

/* A two-class schema of F features, its shard hashes set from rows[2][2F]. */
static struct g2t_schema *schema_of(uint8_t shard[2][G2T_SHARD_HEADER_SIZE + 8 * F])
{
	struct g2t_schema *s = g2t_schema_new(F, 2);

	s->label = strdup("label");
	s->feature[0] = strdup("a");
	s->feature[1] = strdup("b");
	s->klass[0] = strdup("x");
	s->klass[1] = strdup("y");
	for (uint32_t j = 0; j < F; j++)
		s->scale[j] = 1.0f;
	for (uint32_t k = 0; k < 2; k++) {
		s->rows[k] = 2;
		g2t_hash(s->shard_hash[k], shard[k], G2T_SHARD_HEADER_SIZE + 8 * F);
	}
	g2t_schema_encode(s);
	return s;
}

/*
 * Writes a task stream (header, SCHEMA, two F32 shards of two rows, the
 * TASK) whose value v sits at row 1, feature 1 of class 0; returns the
 * stream offset of that value.
 */
static long long task_stream(const char *path, float v)
{
	uint8_t shard[2][G2T_SHARD_HEADER_SIZE + 8 * F], task[256];
	struct g2t_task t = { .token_len = 0 };
	struct g2t_schema *s;
	FILE *f = fopen(path, "wb");
	long long at;

	for (uint32_t k = 0; k < 2; k++) {
		struct g2t_shard h = { k, 2, F, G2T_ENC_F32, 0.0f, 0.0f };

		g2t_shard_header_encode(shard[k], G2T_SHARD_HEADER_SIZE, &h);
		for (uint32_t i = 0; i < 2 * F; i++)
			g2t_put_f32(shard[k] + G2T_SHARD_HEADER_SIZE + 4 * i,
			            k ? 0.1f * (float)i : 1.0f - 0.1f * (float)i);
	}
	g2t_put_f32(shard[0] + G2T_SHARD_HEADER_SIZE + 4 * 3, v);
	s = schema_of(shard);
	g2t_write_header(f);
	g2t_write_record(f, G2T_REC_SCHEMA, s->payload, s->length);
	at = G2T_HEADER_SIZE + 12 + s->length + 8 + G2T_SHARD_HEADER_SIZE + 4 * 3;
	for (uint32_t k = 0; k < 2; k++)
		g2t_write_record(f, G2T_REC_SHARD, shard[k], sizeof shard[k]);
	memcpy(t.id.schema_id, s->id, G2T_HASH_SIZE);
	t.id.class_b = 1;
	g2t_params_default(&t.id.params);
	g2t_task_hash(t.hash, &t.id);
	g2t_write_record(f, G2T_REC_TASK, task,
	                 (uint32_t)g2t_task_encode(task, sizeof task, &t));
	fclose(f);
	g2t_schema_free(s);
	return at;
}

/* Trains the task of path; `wild`: Pegasos with a tiny lambda (a huge C). */
static int train(const char *path, int wild, const char **bad, struct g2t_diag *d)
{
	struct g2t_train_opts o = { .jobs = 1, .task = -1 };

	if (wild) {
		o.params.algo = G2T_ALGO_PEGASOS;
		o.params.cost = 999999.0f; /* the largest: lambda = 1/(C n) is tiny */
		o.override = G2T_OVERRIDE_ALGO | G2T_OVERRIDE_COST;
	}
	FILE *out;
	int rc;

	out = fopen("/dev/null", "wb");
	rc = g2t_train_files(&path, 1, &o, out, bad, d);

	fclose(out);
	return rc;
}

static void test_shards(const char *path)
{
	struct g2t_diag d = { 0, -1, "" };
	const char *bad = NULL;
	long long at = task_stream(path, 0.5f);
	int rc;

	CHECK(train(path, 0, &bad, &d) == G2T_OK, "the stream trains with finite values");
	at = task_stream(path, NAN);
	CHECK(train(path, 0, &bad, &d) == G2T_EDATA && d.offset == at && bad &&
	      !strcmp(bad, path) && strstr(d.what, "not finite"),
	      "a NaN in a shard is refused at its byte (%lld): %s", at, d.what);
	task_stream(path, -INFINITY);
	CHECK(train(path, 0, &bad, &d) == G2T_EDATA && d.offset == at,
	      "an infinity in a shard is refused at its byte");
	/* finite rows that overflow the trainer: nothing non-finite leaves it */
	task_stream(path, 3e38f);
	rc = train(path, 1, &bad, &d);
	CHECK(rc == G2T_EDATA && strstr(d.what, "diverged"),
	      "a trainer that diverges writes no weights (%d): %s", rc, d.what);
}

static void test_schema(void)
{
	uint8_t shard[2][G2T_SHARD_HEADER_SIZE + 8 * F] = { { 0 } };
	struct g2t_schema *s = schema_of(shard), *back;
	struct g2t_diag d = { 0, -1, "" };
	/* the offset and scale of feature 0 follow the names */
	size_t at = 12 + 4 + 5 + 2 * (4 + 1);

	CHECK(g2t_schema_read(&back, s->payload, s->length, &d) == G2T_OK,
	      "a schema decodes");
	g2t_schema_free(back);
	g2t_put_f32(s->payload + at + 4, INFINITY);
	CHECK(g2t_schema_read(&back, s->payload, s->length, &d) == G2T_EFORMAT &&
	      strstr(d.what, "scaling is not finite"), "an infinite scale is refused: %s",
	      d.what);
	g2t_put_f32(s->payload + at + 4, 1.0f);
	g2t_put_u32(s->payload + 4, 70000);
	CHECK(g2t_schema_read(&back, s->payload, s->length, &d) == G2T_EFORMAT &&
	      !strcmp(d.what, "70000 classes exceed the limit 65535"),
	      "too many classes is said: %s", d.what);
	g2t_schema_free(s);
}

/* A model file of the schema above whose weight i (of F + 1) is v. */
static long long model_file(const char *path, uint32_t i, float v)
{
	uint8_t shard[2][G2T_SHARD_HEADER_SIZE + 8 * F] = { { 0 } };
	struct g2t_schema *s = schema_of(shard);
	uint8_t m[44 + 1 + 4 * (F + 1)] = { 0 };
	long long at = G2T_HEADER_SIZE + 12 + s->length + 8 + 45 + 4 * i;
	FILE *f = fopen(path, "wb");

	memcpy(m, s->id, G2T_HASH_SIZE);
	g2t_put_u32(m + 32, 2);
	g2t_put_u32(m + 36, F);
	g2t_put_u32(m + 40, 1);
	m[44] = 1;
	g2t_put_f32(m + 45 + 4 * i, v);
	g2t_write_header(f);
	g2t_write_record(f, G2T_REC_SCHEMA, s->payload, s->length);
	g2t_write_record(f, G2T_REC_MODEL, m, sizeof m);
	fclose(f);
	g2t_schema_free(s);
	return at;
}

static void test_model(const char *path)
{
	struct g2t_diag d = { 0, -1, "" };
	struct g2t_model *m;
	long long at;

	model_file(path, 1, 0.25f);
	CHECK(g2t_model_load(&m, path, &d) == G2T_OK, "a finite model loads");
	g2t_model_free(m);
	at = model_file(path, 1, NAN);
	CHECK(g2t_model_load(&m, path, &d) == G2T_EDATA && d.offset == at &&
	      strstr(d.what, "not finite"), "a NaN weight is refused at its byte: %s",
	      d.what);
	at = model_file(path, F, INFINITY);
	CHECK(g2t_model_load(&m, path, &d) == G2T_EDATA && d.offset == at,
	      "an infinite bias is refused at its byte");
}

/*
 * A packet whose deflated body is cut, or followed by a byte, then signed
 * again, so that only the inflating can find it wrong.
 */
static int reseal(const char *key, long change, struct g2t_diag *d)
{
	struct g2t_signer *sg;
	struct g2t_weights w = { .features = F };
	float v[F] = { 0.5f, -0.25f };
	struct g2t_batch b = { NULL, NULL, 0, &w, 1 };
	struct g2t_packet pk;
	uint8_t *p, *q;
	size_t len, zlen;
	int rc;

	w.w = v;
	w.token = (const uint8_t *)""; /* none, but a pointer: memcpy of 0 bytes */
	w.id.class_b = 1;
	g2t_task_hash(w.task_hash, &w.id);
	if (g2t_signer_load(&sg, key, d) ||
	    g2t_packet_build(&p, &len, &b, sg, 1, 0, G2T_PREC_F32))
		return -1;
	zlen = g2t_get_u32(p + 64);
	q = calloc(1, len + 1);
	memcpy(q, p, 68 + (change < 0 ? zlen - 1 : zlen));
	zlen += (size_t)change;
	g2t_put_u32(q + 64, (uint32_t)zlen);
	crypto_sign_detached(q + 68 + zlen, NULL, q, 68 + zlen, sg->sk);
	rc = g2t_packet_open(&pk, q, 68 + zlen + crypto_sign_BYTES, d);
	g2t_packet_close(&pk);
	g2t_signer_free(sg);
	free(p);
	free(q);
	return rc;
}

static void test_packet(const char *dir)
{
	char pub[300], key[300];
	struct g2t_diag d = { 0, -1, "" };

	snprintf(pub, sizeof pub, "%s.pub", dir);
	snprintf(key, sizeof key, "%s.key", dir);
	if (g2t_key_generate(pub, key, &d))
		return;
	CHECK(reseal(key, 0, &d) == G2T_OK, "a re-signed packet opens");
	CHECK(reseal(key, -1, &d) == G2T_EFORMAT, "a cut deflated body is refused");
	CHECK(reseal(key, 1, &d) == G2T_EFORMAT && strstr(d.what, "inflate"),
	      "a byte after the deflated body is refused: %s", d.what);
	unlink(pub);
	unlink(key);
}

int main(void)
{
	char path[] = "/tmp/g2t-test-inputs.XXXXXX";
	int fd = mkstemp(path);

	if (fd < 0)
		return 1;
	close(fd);
	test_shards(path);
	test_schema();
	test_model(path);
	test_packet(path);
	unlink(path);
	return check_done();
}
