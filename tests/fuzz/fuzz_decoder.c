/* libFuzzer: the core's byte-at-a-time decoder and its record parsers. */
#include <stdlib.h>
#include <string.h>

#include "g2t.h"

/* A SHARD's rows, dense or sparse, through the checking cursor. */
static void shard_rows(const uint8_t *p, size_t len)
{
	static uint32_t index[1024];
	static float value[1024];
	struct g2t_shard s;
	struct g2t_rows c;
	uint32_t n;

	if (g2t_shard_header_decode(&s, p, len) || s.features > 1024)
		return;
	g2t_rows_init(&c, &s, p + G2T_SHARD_HEADER_SIZE, len - G2T_SHARD_HEADER_SIZE);
	while (g2t_rows_next(&c, index, value, &n) == 1)
		for (uint32_t k = 1; k < n; k++)
			if (index[k] <= index[k - 1] || index[k] >= s.features)
				abort();
}

static void parse(uint32_t type, const uint8_t *p, size_t len)
{
	static float w[1024];
	struct g2t_weights wt = { .w = w };
	struct g2t_task t;
	struct g2t_shard s;
	struct g2t_schema *schema = NULL;

	switch (type) {
	case G2T_REC_TASK: g2t_task_decode(&t, p, len); break;
	case G2T_REC_SHARD: g2t_shard_header_decode(&s, p, len); shard_rows(p, len); break;
	case G2T_REC_WEIGHTS: g2t_weights_decode(&wt, 1024, p, len); break;
	case G2T_REC_SCHEMA:
		g2t_schema_decode(&schema, p, len);
		g2t_schema_free(schema);
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t buf[4096];
	struct g2t_decoder d;
	size_t at = 0;

	g2t_decoder_init(&d, buf, sizeof buf, g2t_crc32);
	d.stream_big = size & 1;
	/* uneven pieces exercise every state boundary */
	while (at < size) {
		size_t piece = 1 + (data[at] % 7), used;
		int ev, rc;

		if (piece > size - at)
			piece = size - at;
		rc = g2t_decoder_push(&d, data + at, piece, &used, &ev);
		if (rc < 0)
			break;
		at += used;
		if (ev == G2T_EV_RECORD && d.payload)
			parse(d.type, d.payload, d.length);
	}
	return 0;
}
