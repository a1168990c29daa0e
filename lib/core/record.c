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

/*
 * Between n 4-byte fields in memory (uint32_t or float, host order) and
 * their little-endian encoding, either way: the same conversion both ways
 * (none on a little-endian host, each word reversed on a big-endian one).
 */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
static inline void le_words(uint8_t *dst, const uint8_t *src, uint32_t n)
{
	copy(dst, src, (size_t)n * 4);
}

/* *v's 8 bytes, little-endian */
static inline void put_u64(uint8_t *p, const uint64_t *v)
{
	copy(p, (const uint8_t *)v, 8);
}
#else
static inline void le_words(uint8_t *dst, const uint8_t *src, uint32_t n)
{
	for (; n; n--, dst += 4, src += 4) {
		uint32_t v;

		copy((uint8_t *)&v, src, 4);
		g2t_put_u32(dst, v);
	}
}

static inline void put_u64(uint8_t *p, const uint64_t *v)
{
	g2t_put_u32(p, (uint32_t)*v);
	g2t_put_u32(p + 4, (uint32_t)(*v >> 32));
}
#endif

/*
 * The records are laid out as the structures are: hashes, then 4-byte
 * fields in the same order without padding.  The codecs below move
 * `bytes` bytes then `words` such fields, either way.
 */
_Static_assert(sizeof(struct g2t_params) == G2T_PARAMS_SIZE, "params layout");
_Static_assert(sizeof(struct g2t_task_id) == G2T_TASK_ID_SIZE &&
               offsetof(struct g2t_task_id, task) == G2T_HASH_SIZE &&
               offsetof(struct g2t_task_id, params) == G2T_HASH_SIZE + 12u,
               "task identity layout");
_Static_assert(offsetof(struct g2t_task, id) == G2T_HASH_SIZE &&
               offsetof(struct g2t_weights, id) == G2T_HASH_SIZE,
               "hash then identity");
_Static_assert(offsetof(struct g2t_weights, features) == G2T_HASH_SIZE + G2T_TASK_ID_SIZE &&
               offsetof(struct g2t_weights, loss) == offsetof(struct g2t_weights, epochs) + 4,
               "weights layout");
_Static_assert(offsetof(struct g2t_shard, rows) == 4 && offsetof(struct g2t_shard, step) == 20,
               "shard header layout");

static inline void codec(uint8_t *dst, const uint8_t *src, uint32_t bytes, uint32_t words)
{
	copy(dst, src, bytes);
	le_words(dst + bytes, src + bytes, words);
}

/* hash and identity: the first bytes of a TASK and of a WEIGHTS record */
#define HASH_ID (G2T_HASH_SIZE + G2T_TASK_ID_SIZE)
#define ID_WORDS ((G2T_TASK_ID_SIZE - G2T_HASH_SIZE) / 4u)

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

/*
 * Decoder states, in one byte: D_HEADER + n while n bytes of a header are
 * gathered, D_PAYLOAD, D_CRC + n while n bytes of a CRC are; a header or
 * CRC byte goes to d->hdr[state % 8].  Counting in the state byte is less
 * code on 8-bit chips than a 32-bit count.
 */
enum { D_HEADER = 0, D_PAYLOAD = 8, D_CRC = 16 };

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
	return d->state == D_HEADER && d->seen_magic;
}

/* *to = *from + delta: the decoder's only offset arithmetic, in one place
 * (on an 8-bit chip every 64-bit operation is a lot of code). */
static inline void offset_add(g2t_offset *to, const g2t_offset *from, ptrdiff_t delta)
{
	*to = *from + (g2t_offset)delta;
}

static uint32_t bits(const float *f);

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
	unsigned back = 0; /* an error's offset: this many bytes before pos */
	int rc = G2T_OK, ev = G2T_EV_NONE;

	*event = G2T_EV_NONE;
	*used = 0;
	/* 32-bit offsets: a stream of at most 2^32 - 1 bytes */
	if (!G2T_WITH_OFFSET64 && len > (g2t_offset)~d->pos)
		return G2T_ETOOBIG;
	while (i < len && ev == G2T_EV_NONE && rc == G2T_OK) {
		uint32_t first, second;

		if (d->state == D_PAYLOAD) {
			i += payload(d, in + i, len - i, &ev);
			continue;
		}
		/* a header or a CRC byte */
		d->hdr[d->state % 8] = in[i++];
		if (++d->state == D_CRC + G2T_CRC_SIZE) {
			d->state = D_HEADER;
			back = G2T_CRC_SIZE;
			if (d->crc && g2t_get_u32(d->hdr) != d->crc_acc)
				rc = G2T_ECRC;
			else
				ev = G2T_EV_RECORD;
		}
		if (d->state != D_HEADER + G2T_HEADER_SIZE)
			continue;
		/* a whole header, the stream's or a record's */
		first = g2t_get_u32(d->hdr);
		second = g2t_get_u32(d->hdr + 4);
		d->state = D_HEADER;
		if (first == G2T_MAGIC) {
			back = 4; /* the version */
			if (second != G2T_FORMAT_VERSION)
				rc = G2T_EVERSION;
			else
				d->seen_magic = 1;
			continue;
		}
		back = G2T_HEADER_SIZE;
		if (!d->seen_magic) {
			rc = G2T_EMAGIC;
			continue;
		}
		d->type = first;
		d->length = second;
		/* not a type a reader may skip: the stream is not one it can read */
		if (first >= G2T_TYPE_LIMIT) {
			rc = G2T_EFORMAT;
			continue;
		}
		offset_add(&d->offset, &d->pos, (ptrdiff_t)i - G2T_HEADER_SIZE);
		d->crc_acc = d->crc ? d->crc(0, d->hdr, G2T_HEADER_SIZE) : 0;
		d->state = D_PAYLOAD;
		d->payload = d->buf;
		if (second <= d->cap)
			continue;
		/* too big for the buffer: never gathered in it */
		back = 0;
		d->payload = 0;
		if (!d->stream_big)
			rc = G2T_ETOOBIG;
		else
			ev = G2T_EV_BEGIN;
	}
	*used = i;
	*event = ev;
	if (!rc)
		back = 0;
	offset_add(&d->pos, &d->pos, (ptrdiff_t)i - (ptrdiff_t)back);
	return rc ? rc : ev;
}

/* A float's bits.  Compared as integers they order the positive floats,
 * +inf and NaN above them, and every negative above those: less code than
 * float comparisons on a chip without floating point. */
static uint32_t bits(const float *f)
{
	union { float f; uint32_t u; } v = { *f };

	return v.u;
}

#define F32_ZERO(u) ((u) << 1 == 0) /* +0 or -0 */

/* Whether a weight is not 0 (NaN is not), from its bits: no float compare. */
static inline int nonzero(const float *f)
{
	return !F32_ZERO(bits(f));
}
#define F32_1E6 0x49742400u         /* the bits of 1e6f */

/* 0 < x < 1e6, NaN failing */
static inline int positive(const float *x)
{
	return bits(x) - 1 < F32_1E6 - 1;
}

/* Whether both class weights are 1. */
static int unweighted(const struct g2t_params *p)
{
	return bits(&p->weight[0]) == 0x3f800000u && bits(&p->weight[1]) == 0x3f800000u;
}

/* Parameters the format allows, whether or not this build can train them.
 * (A build leaves to g2t_params_check(), which refuses them anyway, the rules
 * of what it has not: fixed point's and the exact solver's, the range of
 * class weights, probability; less code on 8-bit chips.) */
static int params_valid(const struct g2t_params *p)
{
	uint32_t l1 = bits(&p->l1);

	if (p->loss > G2T_LOSS_SQHINGE || p->algo > G2T_ALGO_DCD)
		return 0;
	if (G2T_HAS_ALGO(G2T_ALGO_FIXED) && p->algo == G2T_ALGO_FIXED &&
	    (p->loss != G2T_LOSS_HINGE || !F32_ZERO(l1)))
		return 0;
	if (G2T_HAS_ALGO(G2T_ALGO_DCD) && p->algo == G2T_ALGO_DCD && !F32_ZERO(l1))
		return 0;
	if (G2T_WITH_CLASS_WEIGHTS && (!positive(&p->weight[0]) || !positive(&p->weight[1])))
		return 0;
	if (G2T_WITH_PROBABILITY && p->probability > 1)
		return 0;
	/* 0 <= l1 < 1e6 (-0 included) */
	return positive(&p->cost) && (l1 < F32_1E6 || F32_ZERO(l1)) &&
	       p->epochs - 1 < 100000;
}

/* Fixed point has no class weights; nor has a build without them; a build
 * without probabilities takes none. */
int g2t_params_check(const struct g2t_params *p)
{
	if (!params_valid(p) || !G2T_HAS_LOSS(p->loss) || !G2T_HAS_ALGO(p->algo) ||
	    (!G2T_WITH_L1 && !F32_ZERO(bits(&p->l1))) ||
	    ((!G2T_WITH_CLASS_WEIGHTS || p->algo == G2T_ALGO_FIXED) && !unweighted(p)) ||
	    (!G2T_WITH_PROBABILITY && p->probability))
		return G2T_EPARAM;
	return G2T_OK;
}

void g2t_params_default(struct g2t_params *p)
{
	p->loss = G2T_LOSS_HINGE;
	p->algo = G2T_ALGO_ASGD;
	p->cost = 1.0f;
	p->l1 = 0.0f;
	p->epochs = G2T_SGD_EPOCHS;
	p->seed = 1;
	p->weight[0] = p->weight[1] = 1.0f;
}

long g2t_task_id_encode(uint8_t *out, size_t cap, const struct g2t_task_id *id)
{
	if (cap < G2T_TASK_ID_SIZE)
		return G2T_ENOMEM;
	codec(out, (const uint8_t *)id, G2T_HASH_SIZE, ID_WORDS);
	return G2T_TASK_ID_SIZE;
}

int g2t_task_id_decode(struct g2t_task_id *id, const uint8_t *p, size_t len)
{
	if (len < G2T_TASK_ID_SIZE)
		return G2T_EFORMAT;
	codec((uint8_t *)id, p, G2T_HASH_SIZE, ID_WORDS);
	if (id->class_a >= id->class_b || !params_valid(&id->params))
		return G2T_EFORMAT;
	return G2T_OK;
}

long g2t_task_encode(uint8_t *out, size_t cap, const struct g2t_task *t)
{
	size_t need = G2T_HASH_SIZE + G2T_TASK_ID_SIZE + 4 + t->token_len;

	if (cap < need || t->token_len > G2T_TOKEN_MAX)
		return G2T_ENOMEM;
	codec(out, (const uint8_t *)t, 2 * G2T_HASH_SIZE, ID_WORDS);
	g2t_put_u32(out + HASH_ID, t->token_len);
	copy(out + HASH_ID + 4, t->token, t->token_len);
	return (long)need;
}

/* A token at the end of a payload: o points at its length, left bytes
 * from there to the end. */
static int token(uint32_t *len, const uint8_t *o, size_t left)
{
	if (left < 4)
		return G2T_EFORMAT;
	*len = g2t_get_u32(o);
	if (*len > G2T_TOKEN_MAX || left != 4 + (size_t)*len)
		return G2T_EFORMAT;
	return G2T_OK;
}

int g2t_task_decode(struct g2t_task *t, const uint8_t *p, size_t len)
{
	if (len < HASH_ID + 4)
		return G2T_EFORMAT;
	copy(t->hash, p, G2T_HASH_SIZE);
	if (g2t_task_id_decode(&t->id, p + G2T_HASH_SIZE, G2T_TASK_ID_SIZE))
		return G2T_EFORMAT;
	t->token = p + HASH_ID + 4;
	return token(&t->token_len, p + HASH_ID, len - HASH_ID);
}

long g2t_shard_header_encode(uint8_t *out, size_t cap, const struct g2t_shard *s)
{
	if (cap < G2T_SHARD_HEADER_SIZE)
		return G2T_ENOMEM;
	le_words(out, (const uint8_t *)s, G2T_SHARD_HEADER_SIZE / 4);
	return G2T_SHARD_HEADER_SIZE;
}

/* `len` is the whole payload length, of which only the header need be at p.
 * A sparse shard takes a byte a row at least; its rows are checked as they
 * are read (g2t_rows_next). */
int g2t_shard_header_decode(struct g2t_shard *s, const uint8_t *p, size_t len)
{
	if (len < G2T_SHARD_HEADER_SIZE)
		return G2T_EFORMAT;
	le_words((uint8_t *)s, p, G2T_SHARD_HEADER_SIZE / 4);
	len -= G2T_SHARD_HEADER_SIZE;
	if (s->encoding > (G2T_ENC_U8 | G2T_ENC_SPARSE) || s->features == 0)
		return G2T_EFORMAT;
	/* float32 rows have no lo or step: both +0 (a build without float32
	 * rows refuses them below anyway) */
	if (G2T_WITH_F32_ROWS && !(s->encoding & G2T_ENC_U8) &&
	    (bits(&s->lo) | bits(&s->step)))
		return G2T_EFORMAT;
	if (s->encoding & G2T_ENC_SPARSE) {
		if (!G2T_WITH_SPARSE_ROWS)
			return G2T_EPARAM;
		/* an absent value is 0, as a byte 0 is: lo is +0 */
		if (len < s->rows || bits(&s->lo) != 0)
			return G2T_EFORMAT;
	} else {
		/* rows whole rows, without a 64-bit product (less code on 8-bit
		 * chips): a dense row is a byte at least */
		uint32_t row = g2t_shard_row_size(s);

		if (len % row != 0 || len / row != s->rows)
			return G2T_EFORMAT;
	}
	return G2T_WITH_F32_ROWS || (s->encoding & G2T_ENC_U8) ? G2T_OK : G2T_EPARAM;
}

uint32_t g2t_shard_row_size(const struct g2t_shard *s)
{
	if (G2T_WITH_SPARSE_ROWS && (s->encoding & G2T_ENC_SPARSE))
		return 0;
	return s->features * (s->encoding == G2T_ENC_U8 ? 1u : 4u);
}

void g2t_shard_row_decode(const struct g2t_shard *s, const uint8_t *row,
                          float *out)
{
	uint32_t i;

	if (!G2T_WITH_F32_ROWS || s->encoding == G2T_ENC_U8) {
		for (i = 0; i < s->features; i++)
			out[i] = s->lo + s->step * (float)row[i];
	} else {
		for (i = 0; i < s->features; i++)
			out[i] = g2t_get_f32(row + 4 * i);
	}
}

#define F32_FINITE(u) (((u) & 0x7f800000u) != 0x7f800000u)

void g2t_rows_init(struct g2t_rows *c, const struct g2t_shard *s,
                   const uint8_t *rows, size_t len)
{
	c->s = s;
	c->rows = rows;
	c->len = len;
	c->at = 0;
	c->row = 0;
}

/* One value at p, of a shard of encoding enc: G2T_OK, or G2T_EDATA for a
 * float32 that is not finite. */
static int value_at(const struct g2t_shard *s, const uint8_t *p, float *v)
{
	uint32_t u;

	if (s->encoding & G2T_ENC_U8) {
		*v = s->lo + s->step * (float)*p;
		return G2T_OK;
	}
	u = g2t_get_u32(p);
	*v = g2t_get_f32(p);
	return F32_FINITE(u) ? G2T_OK : G2T_EDATA;
}

/* The non-zero values of a dense row at c->at. */
static int dense_row(struct g2t_rows *c, uint32_t *index, float *value, uint32_t *n)
{
	const struct g2t_shard *s = c->s;
	uint32_t j, k = 0, width = s->encoding & G2T_ENC_U8 ? 1u : 4u;
	const uint8_t *p = c->rows + c->at;
	int rc;

	if (c->len - c->at < (size_t)s->features * width)
		return G2T_EFORMAT;
	for (j = 0; j < s->features; j++, p += width) {
		if ((rc = value_at(s, p, &value[k]))) {
			c->at = (size_t)(p - c->rows);
			return rc;
		}
		if (nonzero(&value[k]))
			index[k++] = j;
	}
	c->at = (size_t)(p - c->rows);
	*n = k;
	return G2T_OK;
}

/* An LEB128 number of at most 32 bits in its shortest form at c->at. */
static int uleb(struct g2t_rows *c, uint32_t *v)
{
	uint32_t x = 0, i;

	for (i = 0; i < 5 && c->at + i < c->len; i++) {
		uint8_t b = c->rows[c->at + i];

		if (i == 4 && b > 0x0f)
			break; /* past 32 bits */
		x |= (uint32_t)(b & 0x7f) << (7 * i);
		if (b & 0x80)
			continue;
		if (i && !b)
			break; /* a needless last byte 0 */
		c->at += i + 1;
		*v = x;
		return G2T_OK;
	}
	return G2T_EFORMAT;
}

/* A sparse row at c->at: the count, then (step, value) pairs.  An error
 * leaves c->at at the number or value at fault. */
static int sparse_row(struct g2t_rows *c, uint32_t *index, float *value, uint32_t *n)
{
	const struct g2t_shard *s = c->s;
	uint32_t k, count, step, next = 0, width = s->encoding & G2T_ENC_U8 ? 1u : 4u;
	int rc;

	if (uleb(c, &count) || count > s->features)
		return G2T_EFORMAT;
	for (k = 0; k < count; k++) {
		size_t at = c->at;

		/* next: the least index allowed; step 1 takes it */
		if (uleb(c, &step) || step == 0 || step - 1 >= s->features - next) {
			c->at = at;
			return G2T_EFORMAT;
		}
		index[k] = next + (step - 1);
		next = index[k] + 1;
		if (c->len - c->at < width)
			return G2T_EFORMAT;
		if ((rc = value_at(s, c->rows + c->at, &value[k])))
			return rc;
		if (!nonzero(&value[k]))
			return G2T_EFORMAT; /* a zero is absent, never written */
		c->at += width;
	}
	*n = count;
	return G2T_OK;
}

int g2t_rows_next(struct g2t_rows *c, uint32_t *index, float *value, uint32_t *n)
{
	int rc;

	if (c->row == c->s->rows)
		return c->at == c->len ? 0 : G2T_EFORMAT;
	if (G2T_WITH_SPARSE_ROWS && (c->s->encoding & G2T_ENC_SPARSE))
		rc = sparse_row(c, index, value, n);
	else
		rc = dense_row(c, index, value, n);
	if (rc)
		return rc;
	c->row++;
	return 1;
}

static uint32_t uleb_size(uint32_t v)
{
	uint32_t n = 1;

	while (v >>= 7)
		n++;
	return n;
}

static uint8_t *uleb_put(uint8_t *o, uint32_t v)
{
	for (; v > 0x7f; v >>= 7)
		*o++ = (uint8_t)(v | 0x80);
	*o++ = (uint8_t)v;
	return o;
}

long g2t_srow_encode(uint8_t *out, size_t cap, const struct g2t_shard *s,
                     uint32_t n, const uint32_t *index, const uint8_t *values)
{
	uint32_t k, width = s->encoding & G2T_ENC_U8 ? 1u : 4u;
	size_t need = uleb_size(n) + (size_t)n * width;
	uint8_t *o = out;

	for (k = 0; k < n; k++)
		need += uleb_size(index[k] - (k ? index[k - 1] : 0xffffffffu));
	if (need > cap)
		return G2T_ENOMEM;
	o = uleb_put(o, n);
	for (k = 0; k < n; k++) {
		o = uleb_put(o, index[k] - (k ? index[k - 1] : 0xffffffffu));
		copy(o, values + (size_t)k * width, width);
		o += width;
	}
	return (long)need;
}

void g2t_weights_of_task(struct g2t_weights *w, const struct g2t_task *t,
                         uint32_t features, uint32_t rows)
{
	/* hash and identity; bytewise: a struct copy can become a memcpy() call */
	copy((uint8_t *)w, (const uint8_t *)t, HASH_ID);
	w->features = features;
	w->rows_seen = (uint64_t)rows * t->id.params.epochs;
	w->epochs = t->id.params.epochs;
	w->token = t->token;
	w->token_len = t->token_len;
}

#define WEIGHTS_FIXED (HASH_ID + 28u)

static inline uint32_t count_nonzero(const float *w, uint32_t n)
{
	uint32_t k = 0;

	while (n--)
		k += (uint32_t)nonzero(w++);
	return k;
}

long g2t_weights_encode(uint8_t *out, size_t cap, const struct g2t_weights *w)
{
	uint32_t nnz = count_nonzero(w->w, w->features), i, values, shift;
	int sparse = nnz < w->features / 2; /* 8 nnz + 4 < 4 features */
	size_t rest, need;
	uint8_t *o = out + HASH_ID;

	if (!G2T_WITH_SPARSE && sparse)
		return G2T_EPARAM;
	sparse = G2T_WITH_SPARSE && sparse; /* without it, 0 for the compiler too */
	values = sparse ? nnz : w->features;
	shift = sparse ? 3 : 2;
	/* all but the values: fixed part, sigmoid, token, the nnz count if sparse */
	rest = WEIGHTS_FIXED + 4 + w->token_len + (sparse ? 4 : 0) +
	       (G2T_WITH_PROBABILITY && w->id.params.probability ? 8 : 0);
	/* checked so that nothing overflows, without 64-bit arithmetic */
	if (w->token_len > G2T_TOKEN_MAX || cap < rest || values > (cap - rest) >> shift)
		return G2T_ENOMEM;
	need = rest + ((size_t)values << shift);
	/* hash, identity and features are laid out as in the structure */
	codec(out, (const uint8_t *)w, 2 * G2T_HASH_SIZE, ID_WORDS + 1);
	g2t_put_u32(o + 4, (uint32_t)sparse); /* G2T_SPARSE or G2T_DENSE */
	le_words(o + 8, (const uint8_t *)&w->bias, 1);
	put_u64(o + 12, &w->rows_seen);
	le_words(o + 20, (const uint8_t *)&w->epochs, 2); /* epochs, loss */
	o += 28;
	if (G2T_WITH_PROBABILITY && w->id.params.probability) {
		le_words(o, (const uint8_t *)w->sigmoid, 2);
		o += 8;
	}
	if (G2T_WITH_SPARSE && sparse) {
		g2t_put_u32(o, nnz);
		o += 4;
		for (i = 0; i < w->features; i++)
			if (nonzero(w->w + i)) {
				g2t_put_u32(o, i);
				g2t_put_f32(o + 4, w->w[i]);
				o += 8;
			}
	} else {
		le_words(o, (const uint8_t *)w->w, w->features);
		o += (size_t)w->features * 4;
	}
	g2t_put_u32(o, w->token_len);
	copy(o + 4, w->token, w->token_len);
	return (long)need;
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
	p += HASH_ID;
	w->features = g2t_get_u32(p);
	form = g2t_get_u32(p + 4);
	w->bias = g2t_get_f32(p + 8);
	w->rows_seen = g2t_get_u32(p + 12) | (uint64_t)g2t_get_u32(p + 16) << 32;
	w->epochs = g2t_get_u32(p + 20);
	w->loss = g2t_get_f32(p + 24);
	len -= WEIGHTS_FIXED;
	if (G2T_WITH_PROBABILITY && w->id.params.probability) {
		if (len < 8)
			return G2T_EFORMAT;
		le_words((uint8_t *)w->sigmoid, o, 2);
		o += 8;
		len -= 8;
	}
	if (w->features == 0 || w->features > wcap)
		return w->features ? G2T_ENOMEM : G2T_EFORMAT;
	if (form == G2T_DENSE) {
		values = (size_t)w->features * 4;
		if (len < values || token(&w->token_len, o + values, len - values))
			return G2T_EFORMAT;
		w->token = o + values + 4;
		le_words((uint8_t *)w->w, o, w->features);
		return G2T_OK;
	}
	if (form != G2T_SPARSE || len < 4)
		return G2T_EFORMAT;
	nnz = g2t_get_u32(o);
	values = 4 + (size_t)nnz * 8;
	if (nnz > w->features || len < values || token(&w->token_len, o + values, len - values))
		return G2T_EFORMAT;
	w->token = o + values + 4;
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
