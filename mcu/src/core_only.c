/*
 * core_only.c - the least firmware of a training device, which decodes a
 * stream, trains and encodes the weights (-DTRAIN), or of one that also
 * predicts (-DPREDICT): linked against lib/core, minus the same file built
 * with -DEMPTY, it gives the flash the core takes in a firmware (libgcc's
 * float and 64-bit helpers included).  Never run.
 */
#include "g2t_core.h"

#ifndef EMPTY
#define F 16
static uint8_t buf[128];
static float work[F * 4], w[F + 1];
static volatile uint8_t in;
static struct g2t_decoder d;
static struct g2t_task t;
static struct g2t_shard s;

static uint32_t crc(uint32_t c, const uint8_t *p, size_t n)
{
	return c ^ (n ? p[0] : 0u);
}

static int rd(void *ctx, int side, uint32_t first, uint32_t count, float *out)
{
	(void)ctx, (void)side, (void)first, (void)count;
	g2t_shard_row_decode(&s, buf, out);
	return 0;
}

int main(void)
{
	struct g2t_weights o;
	uint32_t n[2] = { 10, 10 };
#ifdef PREDICT
	uint32_t votes[2];
	float margin[2];
#endif
	size_t used;
	int ev;
	uint8_t b = in;

	o.w = w;
	g2t_decoder_init(&d, buf, sizeof buf, crc);
	g2t_decoder_push(&d, &b, 1, &used, &ev);
	g2t_task_decode(&t, buf, 104);
	g2t_shard_header_decode(&s, buf, 1000);
	g2t_train(&t, F, n, rd, 0, work, 1, &o);
	in = (uint8_t)g2t_weights_encode(buf, sizeof buf, &o);
	g2t_record_frame(buf, buf + 8, G2T_REC_WEIGHTS, buf, 16, crc);
#ifdef PREDICT
	in = (uint8_t)g2t_ovo_predict(w, 0, 2, F, work, votes, margin);
#endif
	return 0;
}
#else
int main(void)
{
	return 0;
}
#endif
