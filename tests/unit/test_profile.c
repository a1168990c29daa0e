/*
 * The core built with the least profile, as for an ATmega328P: the tasks it
 * leaves out are refused with G2T_EPARAM but still decode; the rest trains.
 * Weights that take the sparse form are refused, the dense form written;
 * class weights other than 1 and probability tasks are refused.
 * Stream offsets are 32-bit: a stream past 4 GiB - 1 bytes is refused.
 * SHARD rows are one byte: a float32 SHARD is refused, a uint8 one decodes.
 * (That it trains the same bits as the full build, make check-mcu shows.)
 */
#include "check.h"

#include "../../mcu/cfg/least.h"
#include "../../lib/core/record.c"
#include "../../lib/core/train.c"

static int rows(void *ctx, int side, uint32_t first, uint32_t count, float *out)
{
	(void)ctx;
	for (uint32_t i = 0; i < count; i++)
		out[i] = (float)((first + i) % 5) / 5.0f + (side ? -1.0f : 1.0f);
	return 0;
}

/* where a WEIGHTS record's values start */
#define W0 (G2T_HASH_SIZE + G2T_TASK_ID_SIZE + 28)

int main(void)
{
	struct g2t_task task = { .token_len = 0 };
	struct g2t_params *p = &task.id.params;
	uint32_t n[2] = { 20, 30 };
	float work[4], w[1];
	struct g2t_weights out = { .w = w };
	uint8_t id[G2T_TASK_ID_SIZE];
	struct g2t_task_id back;
	float w4[4] = { 0.5f, 0.0f, -0.0f, 0.0f };
	struct g2t_weights sw = { .features = 4, .w = w4, .epochs = 1 };
	uint8_t rec[256];

	g2t_params_default(p);
	task.id.class_b = 1;
	CHECK(g2t_train(&task, 1, n, rows, NULL, work, 1, &out) == G2T_OK && w[0] > 0.0f,
	      "hinge loss, averaged SGD, no L1: trained");
	p->loss = G2T_LOSS_LOGISTIC;
	g2t_task_id_encode(id, sizeof id, &task.id);
	CHECK(g2t_task_id_decode(&back, id, sizeof id) == G2T_OK, "a logistic task decodes");
	CHECK(g2t_params_check(p) == G2T_EPARAM &&
	      g2t_train(&task, 1, n, rows, NULL, work, 1, &out) == G2T_EPARAM,
	      "logistic loss is refused");
	p->loss = G2T_LOSS_SQHINGE;
	CHECK(g2t_params_check(p) == G2T_EPARAM, "squared hinge loss is refused");
	p->loss = G2T_LOSS_HINGE;
	p->algo = G2T_ALGO_PEGASOS;
	CHECK(g2t_params_check(p) == G2T_EPARAM, "Pegasos is refused");
	p->algo = G2T_ALGO_FIXED;
	CHECK(g2t_params_check(p) == G2T_EPARAM, "fixed point is refused");
	p->algo = G2T_ALGO_ASGD;
	p->l1 = 0.01f;
	CHECK(g2t_params_check(p) == G2T_EPARAM, "L1 is refused");
	p->l1 = 0.0f;
	p->weight[1] = 2.0f;
	g2t_task_id_encode(id, sizeof id, &task.id);
	CHECK(g2t_task_id_decode(&back, id, sizeof id) == G2T_OK &&
	      g2t_params_check(p) == G2T_EPARAM &&
	      g2t_train(&task, 1, n, rows, NULL, work, 1, &out) == G2T_EPARAM,
	      "a class weight decodes, and is refused");
	p->weight[1] = 1.0f;
	p->probability = 1;
	g2t_task_id_encode(id, sizeof id, &task.id);
	CHECK(g2t_task_id_decode(&back, id, sizeof id) == G2T_OK &&
	      g2t_params_check(p) == G2T_EPARAM &&
	      g2t_train(&task, 1, n, rows, NULL, work, 1, &out) == G2T_EPARAM,
	      "a probability task decodes, and is refused");
	p->probability = 0;
	CHECK(g2t_weights_encode(rec, sizeof rec, &sw) == G2T_EPARAM,
	      "weights that take the sparse form are refused");
	w4[1] = 0.25f;
	CHECK(g2t_weights_encode(rec, sizeof rec, &sw) == W0 + 16 + 4 &&
	      g2t_get_u32(rec + W0 - 24) == G2T_DENSE && g2t_get_f32(rec + W0) == 0.5f,
	      "half non-zero: the dense form");
	struct g2t_decoder d;
	uint8_t hdr[G2T_HEADER_SIZE], dbuf[16];
	size_t used;
	int ev;

	g2t_stream_header(hdr);
	g2t_decoder_init(&d, dbuf, sizeof dbuf, NULL);
	CHECK(sizeof d.pos == 4, "32-bit stream offsets");
	d.pos = 0xfffffff0u; /* as if that much had gone by */
	CHECK(g2t_decoder_push(&d, hdr, sizeof hdr, &used, &ev) == G2T_EV_NONE &&
	      used == sizeof hdr && d.pos == 0xfffffff8u, "a stream up to 2^32 - 1 bytes decodes");
	CHECK(g2t_decoder_push(&d, hdr, sizeof hdr, &used, &ev) == G2T_ETOOBIG && used == 0 &&
	      d.pos == 0xfffffff8u, "a push past 2^32 - 1 bytes is refused");
	CHECK(g2t_decoder_push(&d, hdr, 7, &used, &ev) == G2T_EV_NONE && used == 7 &&
	      d.pos == 0xffffffffu, "up to the last offset");
	struct g2t_shard sh = { .klass = 1, .rows = 2, .features = 3, .encoding = G2T_ENC_F32 },
	                 back_sh;
	uint8_t shard[G2T_SHARD_HEADER_SIZE + 24] = { 0 };
	float row[3];

	g2t_shard_header_encode(shard, sizeof shard, &sh);
	CHECK(g2t_shard_header_decode(&back_sh, shard, sizeof shard) == G2T_EPARAM,
	      "a float32 SHARD is refused");
	CHECK(g2t_shard_header_decode(&back_sh, shard, sizeof shard - 1) == G2T_EFORMAT,
	      "a malformed float32 SHARD is still malformed");
	sh.encoding = G2T_ENC_U8;
	sh.lo = 0.5f;
	sh.step = 0.25f;
	g2t_shard_header_encode(shard, sizeof shard, &sh);
	shard[G2T_SHARD_HEADER_SIZE + 1] = 2;
	CHECK(g2t_shard_header_decode(&back_sh, shard, G2T_SHARD_HEADER_SIZE + 6) == G2T_OK,
	      "a uint8 SHARD decodes");
	g2t_shard_row_decode(&back_sh, shard + G2T_SHARD_HEADER_SIZE, row);
	CHECK(row[0] == 0.5f && row[1] == 1.0f && row[2] == 0.5f, "its rows decode");
	sh.encoding = G2T_ENC_U8 | G2T_ENC_SPARSE;
	sh.lo = 0.0f;
	g2t_shard_header_encode(shard, sizeof shard, &sh);
	CHECK(g2t_shard_header_decode(&back_sh, shard, G2T_SHARD_HEADER_SIZE + 2) == G2T_EPARAM,
	      "a sparse SHARD is refused");
	return check_done();
}
