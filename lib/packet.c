/*
 * PACKET records: many weight sets, their non-zero values encoded compactly,
 * deflated, and signed with the device's Ed25519 key (see g2t(5)).
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>
#include <zlib.h>

#include "g2t.h"

#define HEAD_SIZE 68u
#define SIG_SIZE crypto_sign_BYTES
#define RAW_LIMIT (256u << 20)
#define PACKET_FORMAT 1u

enum { ITEM_SCHEMA = 1, ITEM_WEIGHTS = 2 };

/* A growing byte buffer. */
struct bytes {
	uint8_t *p;
	size_t len, cap;
	int err;
};

static void put(struct bytes *b, const void *p, size_t n)
{
	if (b->err || g2t_grow((void **)&b->p, &b->cap, b->len + n, 1)) {
		b->err = 1;
		return;
	}
	memcpy(b->p + b->len, p, n);
	b->len += n;
}

static void put_u32(struct bytes *b, uint32_t v)
{
	uint8_t x[4];

	g2t_put_u32(x, v);
	put(b, x, 4);
}

static void put_f32(struct bytes *b, float v)
{
	uint8_t x[4];

	g2t_put_f32(x, v);
	put(b, x, 4);
}

static void put_varint(struct bytes *b, uint64_t v)
{
	uint8_t x[10];
	size_t n = 0;

	do {
		x[n++] = (uint8_t)(v & 0x7f) | (v > 0x7f ? 0x80 : 0);
		v >>= 7;
	} while (v);
	put(b, x, n);
}

/* IEEE 754 binary16, round to nearest even; overflow saturates to inf. */
static uint16_t to_half(float f)
{
	union { float f; uint32_t u; } v = { f };
	uint32_t sign = (v.u >> 16) & 0x8000u, exp = (v.u >> 23) & 0xff, man = v.u & 0x7fffffu;
	int e = (int)exp - 127 + 15;

	if (exp == 0xff)
		return (uint16_t)(sign | 0x7c00u | (man ? 0x200u : 0));
	if (e >= 31)
		return (uint16_t)(sign | 0x7c00u);
	if (e <= 0) { /* subnormal half, or zero */
		uint32_t shift, half, rest;

		if (e < -10)
			return (uint16_t)sign;
		man |= 0x800000u;
		shift = (uint32_t)(14 - e);
		half = man >> shift;
		rest = man & ((1u << shift) - 1);
		if (rest > (1u << (shift - 1)) || (rest == (1u << (shift - 1)) && (half & 1)))
			half++;
		return (uint16_t)(sign | half);
	}
	{
		uint32_t h = sign | (uint32_t)e << 10 | man >> 13, rest = man & 0x1fffu;

		if (rest > 0x1000u || (rest == 0x1000u && (h & 1)))
			h++; /* may carry into the exponent, which is still right */
		return (uint16_t)h;
	}
}

static float from_half(uint16_t h)
{
	uint32_t sign = (uint32_t)(h & 0x8000u) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ffu;
	union { uint32_t u; float f; } v;

	if (exp == 0x1f) {
		v.u = sign | 0x7f800000u | man << 13;
	} else if (exp) {
		v.u = sign | (exp - 15 + 127) << 23 | man << 13;
	} else { /* subnormal: man * 2^-24 */
		v.f = (float)man * 5.9604644775390625e-8f;
		v.u |= sign;
	}
	return v.f;
}

/* One weights set, non-zero values only, at the given precision. */
static void encode_weights(struct bytes *b, const struct g2t_weights *w, int precision)
{
	uint8_t id[G2T_TASK_ID_SIZE];
	uint32_t nnz = 0, prev = 0, i;
	float top = 0.0f, step;

	g2t_task_id_encode(id, sizeof id, &w->id);
	put(b, id, sizeof id);
	put_varint(b, w->features);
	put_f32(b, w->bias);
	put_varint(b, w->rows_seen);
	put_varint(b, w->epochs);
	put_f32(b, w->loss);
	if (w->id.params.probability) {
		put_f32(b, w->sigmoid[0]);
		put_f32(b, w->sigmoid[1]);
	}
	put_varint(b, w->token_len);
	put(b, w->token, w->token_len);
	for (i = 0; i < w->features; i++) {
		nnz += w->w[i] != 0.0f;
		top = w->w[i] > top ? w->w[i] : -w->w[i] > top ? -w->w[i] : top;
	}
	step = top / 127.0f;
	put_varint(b, nnz);
	if (precision == G2T_PREC_Q8)
		put_f32(b, step);
	for (i = 0; i < w->features; i++) {
		float v = w->w[i];

		if (v == 0.0f)
			continue;
		put_varint(b, i - prev);
		prev = i;
		if (precision == G2T_PREC_F32) {
			put_f32(b, v);
		} else if (precision == G2T_PREC_F16) {
			uint16_t h = to_half(v);
			uint8_t x[2] = { (uint8_t)h, (uint8_t)(h >> 8) };
			put(b, x, 2);
		} else {
			/* a subnormal max|w| makes step 0, or so coarse that
			 * |q| passes 127: q is then 0, or bounded */
			float q = step != 0.0f ? v / step : 0.0f;
			int8_t c;

			q = q < 0.0f ? q - 0.5f : q + 0.5f;
			c = (int8_t)(q > 127.0f ? 127.0f : q < -127.0f ? -127.0f : q);
			put(b, &c, 1);
		}
	}
}

int g2t_packet_build(uint8_t **out, size_t *out_len, const struct g2t_batch *batch,
                     const struct g2t_signer *key, uint64_t seq, uint64_t time,
                     int precision)
{
	struct bytes raw = { 0 }, pkt = { 0 };
	uLongf zlen;
	uint8_t head[HEAD_SIZE];
	size_t i;

	*out = NULL;
	if (precision < G2T_PREC_F32 || precision > G2T_PREC_Q8)
		return G2T_EPARAM;
	for (i = 0; i < batch->schemas; i++) {
		uint8_t kind = ITEM_SCHEMA;

		put(&raw, &kind, 1);
		put_u32(&raw, batch->schema_len[i]);
		put(&raw, batch->schema[i], batch->schema_len[i]);
	}
	for (i = 0; i < batch->count; i++) {
		uint8_t kind = ITEM_WEIGHTS;

		put(&raw, &kind, 1);
		encode_weights(&raw, &batch->weights[i], precision);
	}
	if (raw.err || raw.len > RAW_LIMIT) {
		free(raw.p);
		return raw.err ? G2T_ENOMEM : G2T_ETOOBIG;
	}
	zlen = compressBound(raw.len);
	pkt.cap = HEAD_SIZE + zlen + SIG_SIZE;
	if (!(pkt.p = malloc(pkt.cap))) {
		free(raw.p);
		return G2T_ENOMEM;
	}
	if (compress2(pkt.p + HEAD_SIZE, &zlen, raw.p, raw.len, 9) != Z_OK) {
		free(raw.p);
		free(pkt.p);
		return G2T_ENOMEM;
	}
	g2t_put_u32(head, PACKET_FORMAT);
	memcpy(head + 4, key->pk, crypto_sign_PUBLICKEYBYTES);
	g2t_put_u32(head + 36, (uint32_t)seq);
	g2t_put_u32(head + 40, (uint32_t)(seq >> 32));
	g2t_put_u32(head + 44, (uint32_t)time);
	g2t_put_u32(head + 48, (uint32_t)(time >> 32));
	g2t_put_u32(head + 52, (uint32_t)precision);
	g2t_put_u32(head + 56, (uint32_t)batch->count);
	g2t_put_u32(head + 60, (uint32_t)raw.len);
	g2t_put_u32(head + 64, (uint32_t)zlen);
	memcpy(pkt.p, head, HEAD_SIZE);
	pkt.len = HEAD_SIZE + zlen;
	crypto_sign_detached(pkt.p + pkt.len, NULL, pkt.p, pkt.len, key->sk);
	*out = pkt.p;
	*out_len = pkt.len + SIG_SIZE;
	free(raw.p);
	return G2T_OK;
}

/* A bounded reader over the inflated body; why: its first fault. */
struct reader {
	const uint8_t *p;
	size_t left;
	int bad;
	const char *why;
};

/* Marks the reader bad, keeping the first reason; returns 0. */
static int fault(struct reader *r, const char *why)
{
	if (!r->bad)
		r->why = why;
	r->bad = 1;
	return 0;
}

static const uint8_t *take(struct reader *r, size_t n)
{
	const uint8_t *p = r->p;

	if (r->bad || n > r->left) {
		fault(r, "an item is cut short by the end of the body");
		return NULL;
	}
	r->p += n;
	r->left -= n;
	return p;
}

/* A varint in its shortest form, of at most 64 bits. */
static uint64_t take_varint(struct reader *r)
{
	uint64_t v = 0;

	for (int shift = 0; shift < 64; shift += 7) {
		const uint8_t *b = take(r, 1);

		if (!b)
			return 0;
		if (shift == 63 && *b > 1)
			return fault(r, "a varint is over 64 bits");
		v |= (uint64_t)(*b & 0x7f) << shift;
		if (!(*b & 0x80))
			return shift && !*b ? (uint64_t)fault(r, "a varint is not in its shortest form")
			                    : v;
	}
	return fault(r, "a varint is over 64 bits");
}

static float take_f32(struct reader *r)
{
	const uint8_t *p = take(r, 4);

	return p ? g2t_get_f32(p) : 0.0f;
}

/* Decodes one weights set into item->weights, growing item->room. */
static int decode_weights(struct reader *r, struct g2t_packet_item *item, int precision,
                          uint64_t features_max)
{
	struct g2t_weights *w = &item->weights;
	const uint8_t *id = take(r, G2T_TASK_ID_SIZE);
	uint64_t features, nnz, at = 0, epochs, token_len;
	float step = 0.0f;

	if (id && g2t_task_id_decode(&w->id, id, G2T_TASK_ID_SIZE))
		fault(r, "a weight set's identity is malformed");
	features = take_varint(r);
	w->bias = take_f32(r);
	w->rows_seen = take_varint(r);
	epochs = take_varint(r);
	w->loss = take_f32(r);
	if (w->id.params.probability) {
		w->sigmoid[0] = take_f32(r);
		w->sigmoid[1] = take_f32(r);
	}
	token_len = take_varint(r);
	if (epochs > UINT32_MAX)
		fault(r, "a weight set's epochs are 2^32 or more");
	if (token_len > G2T_TOKEN_MAX)
		fault(r, "a weight set's token is longer than 256 bytes");
	w->epochs = (uint32_t)epochs;
	w->token_len = r->bad ? 0 : (uint32_t)token_len;
	w->token = take(r, w->token_len);
	nnz = take_varint(r);
	/* before anything grows with what the set claims */
	if (!r->bad && (features == 0 || features > features_max))
		fault(r, "a weight set's F is 0 or over the limit");
	if (!r->bad && nnz > features)
		fault(r, "a weight set lists more weights than F");
	if (r->bad)
		return G2T_EFORMAT;
	if (g2t_grow((void **)&item->room, &item->room_floats, features, sizeof *w->w))
		return G2T_ENOMEM;
	w->w = item->room;
	w->features = (uint32_t)features;
	memset(w->w, 0, features * sizeof *w->w);
	if (precision == G2T_PREC_Q8)
		step = take_f32(r);
	for (uint64_t k = 0; k < nnz && !r->bad; k++) {
		uint64_t delta = take_varint(r);
		const uint8_t *v;

		if (!r->bad && ((k && delta == 0) || delta >= features - at))
			return fault(r, "a weight set's indices are not increasing below F"),
			       G2T_EFORMAT;
		at += delta;
		if (precision == G2T_PREC_F32) {
			w->w[at] = take_f32(r);
		} else if (precision == G2T_PREC_F16) {
			if ((v = take(r, 2)))
				w->w[at] = from_half((uint16_t)(v[0] | v[1] << 8));
		} else if ((v = take(r, 1))) {
			w->w[at] = (float)(int8_t)v[0] * step;
		}
	}
	g2t_task_hash(w->task_hash, &w->id);
	return r->bad ? G2T_EFORMAT : G2T_OK;
}

int g2t_packet_head(struct g2t_packet *pk, const uint8_t *p, size_t len,
                    struct g2t_diag *d)
{
	memset(pk, 0, sizeof *pk);
	if (len < HEAD_SIZE + SIG_SIZE || g2t_get_u32(p) != PACKET_FORMAT)
		return g2t_fail(d, G2T_EFORMAT, 0, -1, "not a packet this version reads");
	if (g2t_get_u32(p + 64) != len - HEAD_SIZE - SIG_SIZE)
		return g2t_fail(d, G2T_EFORMAT, 0, -1, "packet length does not add up");
	memcpy(pk->pk, p + 4, sizeof pk->pk);
	pk->seq = g2t_get_u32(p + 36) | (uint64_t)g2t_get_u32(p + 40) << 32;
	pk->time = g2t_get_u32(p + 44) | (uint64_t)g2t_get_u32(p + 48) << 32;
	pk->precision = g2t_get_u32(p + 52) > G2T_PREC_Q8 ? -1 : (int)g2t_get_u32(p + 52);
	pk->count = g2t_get_u32(p + 56);
	pk->body = p;
	pk->body_len = len - SIG_SIZE;
	pk->raw_len = g2t_get_u32(p + 60);
	if (pk->precision < 0 || pk->raw_len > RAW_LIMIT)
		return g2t_fail(d, G2T_EFORMAT, 0, -1, "bad packet header");
	return G2T_OK;
}

int g2t_packet_verify(struct g2t_packet *pk, size_t raw_limit, struct g2t_diag *d)
{
	uLongf raw_len = pk->raw_len;
	uLong used = pk->body_len - HEAD_SIZE;

	g2t_crypto_init();
	if (crypto_sign_verify_detached(pk->body + pk->body_len, pk->body, pk->body_len,
	                                pk->pk) != 0)
		return g2t_fail(d, G2T_ESIGNATURE, 0, -1, "bad signature");
	/* the signer is known now; what it asks us to inflate is still bounded */
	if (pk->raw_len > raw_limit)
		return g2t_fail(d, G2T_ETOOBIG, 0, -1, "packet body inflates to %zu bytes, over"
		                " the %zu this reader takes", pk->raw_len, raw_limit);
	if (!(pk->raw = malloc(raw_len ? raw_len : 1)))
		return G2T_ENOMEM;
	/* to the end: the zlib stream is complete, its Adler-32 checked, and
	 * nothing follows it */
	if (uncompress2(pk->raw, &raw_len, pk->body + HEAD_SIZE, &used) != Z_OK ||
	    raw_len != pk->raw_len || used != pk->body_len - HEAD_SIZE) {
		g2t_packet_close(pk);
		return g2t_fail(d, G2T_EFORMAT, 0, -1, "packet body does not inflate");
	}
	return G2T_OK;
}

int g2t_packet_open(struct g2t_packet *pk, const uint8_t *p, size_t len,
                    struct g2t_diag *d)
{
	int rc = g2t_packet_head(pk, p, len, d);

	return rc ? rc : g2t_packet_verify(pk, RAW_LIMIT, d);
}

int g2t_packet_next(struct g2t_packet *pk, struct g2t_packet_item *item,
                    struct g2t_diag *d)
{
	struct reader r = { pk->raw + pk->at, pk->raw_len - pk->at, 0, NULL };
	const uint8_t *kind;
	int rc;

	if (pk->at == pk->raw_len)
		return pk->seen == pk->count ? 0
		       : g2t_fail(d, G2T_EFORMAT, 0, -1, "packet holds %u weight sets, not %u",
		                  pk->seen, pk->count);
	kind = take(&r, 1);
	if (*kind == ITEM_SCHEMA) {
		const uint8_t *n = take(&r, 4);
		uint32_t len = n ? g2t_get_u32(n) : 0;

		item->type = G2T_REC_SCHEMA;
		item->payload = take(&r, len);
		item->length = len;
		rc = r.bad ? G2T_EFORMAT : G2T_OK;
	} else if (*kind == ITEM_WEIGHTS) {
		item->type = G2T_REC_WEIGHTS;
		rc = decode_weights(&r, item, pk->precision,
		                    pk->features_max ? pk->features_max : G2T_FEATURE_LIMIT);
		item->payload = NULL;
		item->length = 0;
	} else {
		rc = G2T_EFORMAT;
		fault(&r, "an item of unknown kind");
	}
	if (rc)
		return rc == G2T_ENOMEM ? rc : g2t_fail(d, rc, 0, -1, "malformed packet body: "
		                                        "%s", r.why ? r.why : "bad item");
	pk->at = (size_t)(r.p - pk->raw);
	pk->seen += item->type == G2T_REC_WEIGHTS;
	return 1;
}

void g2t_packet_close(struct g2t_packet *pk)
{
	free(pk->raw);
	pk->raw = NULL;
}
