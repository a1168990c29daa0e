/* The serial link's frames: COBS and CRC-32 (g2t_link.h). */
#include "g2t_link.h"

void g2t_link_hello_encode(uint8_t out[G2T_LINK_HELLO_SIZE], const struct g2t_link_hello *h)
{
	g2t_put_u32(out, h->version);
	g2t_put_u32(out + 4, h->algos);
	g2t_put_u32(out + 8, h->encodings);
	g2t_put_u32(out + 12, h->features);
	g2t_put_u32(out + 16, h->rows_ram);
	g2t_put_u32(out + 20, h->frame);
}

void g2t_link_hello_decode(struct g2t_link_hello *h, const uint8_t in[G2T_LINK_HELLO_SIZE])
{
	h->version = g2t_get_u32(in);
	h->algos = g2t_get_u32(in + 4);
	h->encodings = g2t_get_u32(in + 8);
	h->features = g2t_get_u32(in + 12);
	h->rows_ram = g2t_get_u32(in + 16);
	h->frame = g2t_get_u32(in + 20);
}

/* The frame's bytes before COBS: head, payload, CRC, read by position. */
struct body {
	const uint8_t *head, *payload, *crc;
	uint32_t len;
};

static uint8_t body_at(const struct body *b, uint32_t i)
{
	if (i < 2)
		return b->head[i];
	if (i - 2 < b->len)
		return b->payload[i - 2];
	return b->crc[i - 2 - b->len];
}

void g2t_link_send(g2t_link_put put, void *ctx, uint8_t type, uint8_t seq,
                   const uint8_t *payload, uint32_t len, g2t_crc_fn crc)
{
	uint8_t head[2] = { type, seq }, sum[4];
	struct body b = { head, payload, sum, len };
	uint32_t n = len + 6, i = 0;

	g2t_put_u32(sum, crc(crc(0, head, 2), payload, len));
	put(ctx, 0);
	for (;;) { /* a COBS block: its code, then up to 254 bytes other than 0 */
		uint32_t start = i, end = i;

		while (end < n && end - start < 254 && body_at(&b, end) != 0)
			end++;
		put(ctx, (uint8_t)(end - start + 1));
		for (; i < end; i++)
			put(ctx, body_at(&b, i));
		if (end == n)
			break;
		if (end - start < 254)
			i++; /* the zero its code stands for */
	}
	put(ctx, 0);
}

void g2t_link_rx_init(struct g2t_link_rx *r, uint8_t *buf, uint32_t cap)
{
	r->buf = buf;
	r->cap = cap;
	r->len = r->got = 0;
	r->left = r->code = r->bad = 0;
}

int g2t_link_rx_push(struct g2t_link_rx *r, uint8_t byte, g2t_crc_fn crc)
{
	uint32_t n = r->got;

	if (byte == 0) { /* the end of a frame, or a gap between frames */
		int empty = n == 0 && !r->code && !r->bad, bad = r->bad || r->left || n < 6;

		r->got = 0;
		r->left = r->code = r->bad = 0;
		if (empty)
			return 0;
		if (bad || crc(0, r->buf, n - 4) != g2t_get_u32(r->buf + n - 4))
			return G2T_ECRC;
		r->len = n - 6;
		return 1;
	}
	if (r->bad)
		return 0;
	if (r->left) {
		r->left--;
	} else {
		/* a code byte: the previous block, unless 254 long, stood for a zero */
		int zero = r->code && r->code != 0xff;

		r->code = byte;
		r->left = (uint8_t)(byte - 1);
		if (!zero)
			return 0;
		byte = 0;
	}
	if (r->got == r->cap)
		r->bad = 1; /* longer than the buffer */
	else
		r->buf[r->got++] = byte;
	return 0;
}
