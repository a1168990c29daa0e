/* G2T stream framing, the incremental decoder and the fixed-layout records. */
#include "g2t_core.h"

uint32_t g2t_get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

void g2t_put_u32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

float g2t_get_f32(const uint8_t *p)
{
	union { uint32_t u; float f; } v = { g2t_get_u32(p) };
	return v.f;
}

void g2t_put_f32(uint8_t *p, float f)
{
	union { float f; uint32_t u; } v = { f };
	g2t_put_u32(p, v.u);
}

static void copy(uint8_t *dst, const uint8_t *src, size_t n)
{
	while (n--)
		*dst++ = *src++;
}

void g2t_stream_header(uint8_t out[G2T_HEADER_SIZE])
{
	g2t_put_u32(out, G2T_MAGIC);
	g2t_put_u32(out + 4, G2T_FORMAT_VERSION);
}

void g2t_record_frame(uint8_t header[G2T_HEADER_SIZE], uint8_t crc[G2T_CRC_SIZE],
                      uint32_t type, const uint8_t *payload, uint32_t len,
                      g2t_crc_fn crc_fn)
{
	uint32_t c = 0;

	g2t_put_u32(header, type);
	g2t_put_u32(header + 4, len);
	if (crc_fn) {
		c = crc_fn(0, header, G2T_HEADER_SIZE);
		c = crc_fn(c, payload, len);
	}
	g2t_put_u32(crc, c);
}

/* Decoder states. */
enum { D_HEADER, D_PAYLOAD, D_CRC };

void g2t_decoder_init(struct g2t_decoder *d, uint8_t *buf, uint32_t cap,
                      g2t_crc_fn crc)
{
	uint8_t *z = (uint8_t *)d;

	for (size_t i = 0; i < sizeof *d; i++)
		z[i] = 0;
	d->buf = buf;
	d->cap = cap;
	d->crc = crc;
}

int g2t_decoder_at_boundary(const struct g2t_decoder *d)
{
	return d->state == D_HEADER && d->got == 0 && d->seen_magic;
}

/*
 * A complete 8-byte header is in d->hdr, the stream's or a record's; it
 * ends at stream offset `end`.  On an error, *back says how far before
 * `end` the offending bytes are.
 */
static int header_done(struct g2t_decoder *d, uint64_t end, int *event, uint32_t *back)
{
	uint32_t first = g2t_get_u32(d->hdr), second = g2t_get_u32(d->hdr + 4);

	if (first == G2T_MAGIC) {
		*back = 4; /* the version */
		if (second != G2T_FORMAT_VERSION)
			return G2T_EVERSION;
		d->seen_magic = 1;
		return G2T_OK;
	}
	*back = G2T_HEADER_SIZE;
	if (!d->seen_magic)
		return G2T_EMAGIC;
	d->type = first;
	d->length = second;
	d->offset = end - G2T_HEADER_SIZE;
	d->crc_acc = d->crc ? d->crc(0, d->hdr, G2T_HEADER_SIZE) : 0;
	d->state = D_PAYLOAD;
	if (second <= d->cap) {
		d->payload = d->buf;
		return G2T_OK;
	}
	*back = 0;
	if (!d->stream_big)
		return G2T_ETOOBIG;
	d->payload = 0;
	*event = G2T_EV_BEGIN;
	return G2T_OK;
}

/* Takes payload bytes: into the buffer, or handed out as a G2T_EV_DATA. */
static size_t payload(struct g2t_decoder *d, const uint8_t *in, size_t len, int *event)
{
	uint32_t n = d->length - d->got;

	if (n > len)
		n = (uint32_t)len;
	if (d->crc)
		d->crc_acc = d->crc(d->crc_acc, in, n);
	if (d->payload) {
		copy(d->buf + d->got, in, n);
	} else if (n) {
		d->data = in;
		d->data_len = n;
		*event = G2T_EV_DATA;
	}
	d->got += n;
	if (d->got == d->length) {
		d->state = D_CRC;
		d->got = 0;
	}
	return n;
}

int g2t_decoder_push(struct g2t_decoder *d, const uint8_t *in, size_t len,
                     size_t *used, int *event)
{
	size_t i = 0;
	uint32_t back = 0; /* an error's offset: this many bytes before pos */
	int rc = G2T_OK;

	*event = G2T_EV_NONE;
	while (i < len && *event == G2T_EV_NONE && rc == G2T_OK) {
		if (d->state == D_PAYLOAD) {
			i += payload(d, in + i, len - i, event);
			continue;
		}
		/* a header or a CRC: gathered in d->hdr */
		d->hdr[d->got++] = in[i++];
		if (d->got < (d->state == D_HEADER ? G2T_HEADER_SIZE : G2T_CRC_SIZE))
			continue;
		d->got = 0;
		if (d->state == D_HEADER) {
			rc = header_done(d, d->pos + i, event, &back);
		} else {
			d->state = D_HEADER;
			back = G2T_CRC_SIZE;
			if (d->crc && g2t_get_u32(d->hdr) != d->crc_acc)
				rc = G2T_ECRC;
			else
				*event = G2T_EV_RECORD;
		}
	}
	*used = i;
	d->pos += i;
	if (rc)
		d->pos -= back;
	return rc ? rc : *event;
}

/* Parameters the format allows, whether or not this build can train them. */
static int params_valid(const struct g2t_params *p)
{
	if (p->loss > G2T_LOSS_SQHINGE || p->algo > G2T_ALGO_FIXED)
		return 0;
	if (p->algo == G2T_ALGO_FIXED && (p->loss != G2T_LOSS_HINGE || p->l1 != 0.0f))
		return 0;
	/* written so that NaN fails too */
	return p->lambda > 0.0f && p->lambda < 1e6f && p->l1 >= 0.0f && p->l1 < 1e6f &&
	       p->epochs >= 1 && p->epochs <= 100000;
}

int g2t_params_check(const struct g2t_params *p)
{
	if (!params_valid(p) || !G2T_HAS_LOSS(p->loss) || !G2T_HAS_ALGO(p->algo) ||
	    (!G2T_WITH_L1 && p->l1 != 0.0f))
		return G2T_EPARAM;
	return G2T_OK;
}

void g2t_params_default(struct g2t_params *p)
{
	p->loss = G2T_LOSS_HINGE;
	p->algo = G2T_ALGO_ASGD;
	p->lambda = 1e-4f;
	p->l1 = 0.0f;
	p->epochs = 20;
	p->seed = 1;
}

static uint8_t *put_params(uint8_t *o, const struct g2t_params *p)
{
	g2t_put_u32(o, p->loss);
	g2t_put_u32(o + 4, p->algo);
	g2t_put_f32(o + 8, p->lambda);
	g2t_put_f32(o + 12, p->l1);
	g2t_put_u32(o + 16, p->epochs);
	g2t_put_u32(o + 20, p->seed);
	return o + G2T_PARAMS_SIZE;
}

static void get_params(struct g2t_params *p, const uint8_t *o)
{
	p->loss = g2t_get_u32(o);
	p->algo = g2t_get_u32(o + 4);
	p->lambda = g2t_get_f32(o + 8);
	p->l1 = g2t_get_f32(o + 12);
	p->epochs = g2t_get_u32(o + 16);
	p->seed = g2t_get_u32(o + 20);
}

long g2t_task_id_encode(uint8_t *out, size_t cap, const struct g2t_task_id *id)
{
	if (cap < G2T_TASK_ID_SIZE)
		return G2T_ENOMEM;
	copy(out, id->schema_id, G2T_HASH_SIZE);
	g2t_put_u32(out + 32, id->task);
	g2t_put_u32(out + 36, id->class_a);
	g2t_put_u32(out + 40, id->class_b);
	put_params(out + 44, &id->params);
	return G2T_TASK_ID_SIZE;
}

int g2t_task_id_decode(struct g2t_task_id *id, const uint8_t *p, size_t len)
{
	if (len < G2T_TASK_ID_SIZE)
		return G2T_EFORMAT;
	copy(id->schema_id, p, G2T_HASH_SIZE);
	id->task = g2t_get_u32(p + 32);
	id->class_a = g2t_get_u32(p + 36);
	id->class_b = g2t_get_u32(p + 40);
	get_params(&id->params, p + 44);
	if (id->class_a >= id->class_b || !params_valid(&id->params))
		return G2T_EFORMAT;
	return G2T_OK;
}

long g2t_task_encode(uint8_t *out, size_t cap, const struct g2t_task *t)
{
	size_t need = G2T_HASH_SIZE + G2T_TASK_ID_SIZE + 4 + t->token_len;

	if (cap < need || t->token_len > G2T_TOKEN_MAX)
		return G2T_ENOMEM;
	copy(out, t->hash, G2T_HASH_SIZE);
	g2t_task_id_encode(out + G2T_HASH_SIZE, G2T_TASK_ID_SIZE, &t->id);
	g2t_put_u32(out + G2T_HASH_SIZE + G2T_TASK_ID_SIZE, t->token_len);
	copy(out + G2T_HASH_SIZE + G2T_TASK_ID_SIZE + 4, t->token, t->token_len);
	return (long)need;
}

int g2t_task_decode(struct g2t_task *t, const uint8_t *p, size_t len)
{
	const size_t fixed = G2T_HASH_SIZE + G2T_TASK_ID_SIZE + 4;

	if (len < fixed)
		return G2T_EFORMAT;
	copy(t->hash, p, G2T_HASH_SIZE);
	if (g2t_task_id_decode(&t->id, p + G2T_HASH_SIZE, G2T_TASK_ID_SIZE))
		return G2T_EFORMAT;
	t->token_len = g2t_get_u32(p + fixed - 4);
	if (t->token_len > G2T_TOKEN_MAX || len != fixed + t->token_len)
		return G2T_EFORMAT;
	t->token = p + fixed;
	return G2T_OK;
}

long g2t_shard_header_encode(uint8_t *out, size_t cap, const struct g2t_shard *s)
{
	if (cap < G2T_SHARD_HEADER_SIZE)
		return G2T_ENOMEM;
	g2t_put_u32(out, s->klass);
	g2t_put_u32(out + 4, s->rows);
	g2t_put_u32(out + 8, s->features);
	g2t_put_u32(out + 12, s->encoding);
	g2t_put_f32(out + 16, s->lo);
	g2t_put_f32(out + 20, s->step);
	return G2T_SHARD_HEADER_SIZE;
}

/* `len` is the whole payload length, of which only the header need be at p. */
int g2t_shard_header_decode(struct g2t_shard *s, const uint8_t *p, size_t len)
{
	if (len < G2T_SHARD_HEADER_SIZE)
		return G2T_EFORMAT;
	s->klass = g2t_get_u32(p);
	s->rows = g2t_get_u32(p + 4);
	s->features = g2t_get_u32(p + 8);
	s->encoding = g2t_get_u32(p + 12);
	s->lo = g2t_get_f32(p + 16);
	s->step = g2t_get_f32(p + 20);
	if (s->encoding > G2T_ENC_U8 || s->features == 0)
		return G2T_EFORMAT;
	if ((uint64_t)s->rows * g2t_shard_row_size(s) != len - G2T_SHARD_HEADER_SIZE)
		return G2T_EFORMAT;
	return G2T_OK;
}

uint32_t g2t_shard_row_size(const struct g2t_shard *s)
{
	return s->features * (s->encoding == G2T_ENC_U8 ? 1u : 4u);
}

void g2t_shard_row_decode(const struct g2t_shard *s, const uint8_t *row,
                          float *out)
{
	uint32_t i;

	if (s->encoding == G2T_ENC_U8) {
		for (i = 0; i < s->features; i++)
			out[i] = s->lo + s->step * (float)row[i];
	} else {
		for (i = 0; i < s->features; i++)
			out[i] = g2t_get_f32(row + 4 * i);
	}
}

void g2t_weights_of_task(struct g2t_weights *w, const struct g2t_task *t,
                         uint32_t features, uint32_t rows)
{
	copy(w->task_hash, t->hash, G2T_HASH_SIZE);
	/* bytewise: a struct copy can become a memcpy() call */
	copy((uint8_t *)&w->id, (const uint8_t *)&t->id, sizeof w->id);
	w->features = features;
	w->rows_seen = (uint64_t)rows * t->id.params.epochs;
	w->epochs = t->id.params.epochs;
	w->token = t->token;
	w->token_len = t->token_len;
}

#define WEIGHTS_FIXED (G2T_HASH_SIZE + G2T_TASK_ID_SIZE + 28u)

static uint32_t count_nonzero(const float *w, uint32_t n)
{
	uint32_t k = 0;

	for (uint32_t i = 0; i < n; i++)
		k += w[i] != 0.0f;
	return k;
}

long g2t_weights_encode(uint8_t *out, size_t cap, const struct g2t_weights *w)
{
	uint32_t nnz = count_nonzero(w->w, w->features), i;
	int sparse = nnz < w->features / 2; /* 8 nnz + 4 < 4 features */
	uint32_t values = sparse ? nnz : w->features, size = sparse ? 8 : 4;
	/* all but the values: fixed part, token, the nnz count if sparse */
	size_t rest = WEIGHTS_FIXED + 4 + w->token_len + (sparse ? 4 : 0), need;
	uint8_t *o = out;

	/* checked so that nothing overflows, without 64-bit arithmetic */
	if (w->token_len > G2T_TOKEN_MAX || cap < rest || values > (cap - rest) / size)
		return G2T_ENOMEM;
	need = rest + (size_t)values * size;
	copy(o, w->task_hash, G2T_HASH_SIZE);
	o += G2T_HASH_SIZE;
	o += g2t_task_id_encode(o, G2T_TASK_ID_SIZE, &w->id);
	g2t_put_u32(o, w->features);
	g2t_put_u32(o + 4, sparse ? G2T_SPARSE : G2T_DENSE);
	g2t_put_f32(o + 8, w->bias);
	g2t_put_u32(o + 12, (uint32_t)w->rows_seen);
	g2t_put_u32(o + 16, (uint32_t)(w->rows_seen >> 32));
	g2t_put_u32(o + 20, w->epochs);
	g2t_put_f32(o + 24, w->loss);
	o += 28;
	if (sparse) {
		g2t_put_u32(o, nnz);
		o += 4;
	}
	for (i = 0; i < w->features; i++) {
		if (!sparse) {
			g2t_put_f32(o, w->w[i]);
			o += 4;
		} else if (w->w[i] != 0.0f) {
			g2t_put_u32(o, i);
			g2t_put_f32(o + 4, w->w[i]);
			o += 8;
		}
	}
	g2t_put_u32(o, w->token_len);
	copy(o + 4, w->token, w->token_len);
	return (long)need;
}

/* The token after the values: o points at its length. */
static int weights_token(struct g2t_weights *w, const uint8_t *o, size_t left)
{
	if (left < 4)
		return G2T_EFORMAT;
	w->token_len = g2t_get_u32(o);
	if (w->token_len > G2T_TOKEN_MAX || left != 4 + (size_t)w->token_len)
		return G2T_EFORMAT;
	w->token = o + 4;
	return G2T_OK;
}

int g2t_weights_decode(struct g2t_weights *w, size_t wcap, const uint8_t *p,
                       size_t len)
{
	uint32_t form, i, nnz, prev = 0;
	const uint8_t *o = p + WEIGHTS_FIXED;
	size_t values;

	if (len < WEIGHTS_FIXED)
		return G2T_EFORMAT;
	copy(w->task_hash, p, G2T_HASH_SIZE);
	if (g2t_task_id_decode(&w->id, p + G2T_HASH_SIZE, G2T_TASK_ID_SIZE))
		return G2T_EFORMAT;
	p += G2T_HASH_SIZE + G2T_TASK_ID_SIZE;
	w->features = g2t_get_u32(p);
	form = g2t_get_u32(p + 4);
	w->bias = g2t_get_f32(p + 8);
	w->rows_seen = g2t_get_u32(p + 12) | (uint64_t)g2t_get_u32(p + 16) << 32;
	w->epochs = g2t_get_u32(p + 20);
	w->loss = g2t_get_f32(p + 24);
	len -= WEIGHTS_FIXED;
	if (w->features == 0 || w->features > wcap)
		return w->features ? G2T_ENOMEM : G2T_EFORMAT;
	if (form == G2T_DENSE) {
		values = (size_t)w->features * 4;
		if (len < values || weights_token(w, o + values, len - values))
			return G2T_EFORMAT;
		for (i = 0; i < w->features; i++)
			w->w[i] = g2t_get_f32(o + 4 * i);
		return G2T_OK;
	}
	if (form != G2T_SPARSE || len < 4)
		return G2T_EFORMAT;
	nnz = g2t_get_u32(o);
	values = 4 + (size_t)nnz * 8;
	if (nnz > w->features || len < values || weights_token(w, o + values, len - values))
		return G2T_EFORMAT;
	for (i = 0; i < w->features; i++)
		w->w[i] = 0.0f;
	for (o += 4, i = 0; i < nnz; i++, o += 8) {
		uint32_t at = g2t_get_u32(o);

		if (at >= w->features || (i && at <= prev))
			return G2T_EFORMAT;
		w->w[at] = g2t_get_f32(o + 4);
		prev = at;
	}
	return G2T_OK;
}
