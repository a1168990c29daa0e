/*
 * Linear binary training by SGD with a scaled weight vector, so that the L2
 * shrink costs O(1) per row: w = v * scale.  Averaged SGD keeps the average
 * as a = (acc + frac * v) / (abase * k) after k averaged steps, which also costs O(1) per row beyond the
 * rows that change v.  Everything is binary32 arithmetic in a fixed order.
 */
#include "g2t_core.h"

#define RENORM_LIMIT 1e5f
#define RENORM_MIN 1e-5f
#define L1_PERIOD 16u
#define L1_CUT 32.0f /* final weights under L1_CUT * l1 in size become 0 */


/* Per-side row feed: a block buffer and an affine permutation over it. */
struct feed {
	uint32_t rows, blocks, block;  /* rows on this side, blocks, rows/block */
	uint32_t bstep, bpos;          /* block permutation */
	uint32_t first, count;         /* rows in the buffer */
	int loaded;                    /* the buffer holds first..first+count */
	uint32_t rstep, rpos, taken;   /* row permutation within the block */
	float *buf;
};

struct sgd {
	const struct g2t_params *p;
	uint32_t features;
	float *v, *acc;          /* scaled weights and the average's accumulator */
	float scale;             /* w = v * scale */
	float frac, abase;       /* a = (acc + frac v) / (abase * k) */
	float bias, abias;
	float eta0;
	uint32_t t, k;           /* steps taken, steps averaged */
	uint32_t avg_start;      /* first averaged step */
	float loss_sum;
};

static uint32_t rng_next(uint32_t *s)
{
	/* splitmix32 */
	uint32_t z = (*s += 0x9e3779b9u);

	z = (z ^ (z >> 16)) * 0x85ebca6bu;
	z = (z ^ (z >> 13)) * 0xc2b2ae35u;
	return z ^ (z >> 16);
}

static uint32_t gcd(uint32_t a, uint32_t b)
{
	while (b) {
		uint32_t r = a % b;
		a = b;
		b = r;
	}
	return a;
}

/* A step coprime to n in [1, n): i -> (i * step + start) mod n permutes. */
static uint32_t coprime_step(uint32_t n, uint32_t *rng)
{
	uint32_t s;

	if (n <= 2)
		return 1;
	s = 1 + rng_next(rng) % (n - 1);
	while (gcd(s, n) != 1)
		s = s + 1 < n ? s + 1 : 1;
	return s;
}

static void feed_epoch(struct feed *f, uint32_t *rng)
{
	f->bstep = coprime_step(f->blocks, rng);
	f->bpos = rng_next(rng) % f->blocks;
	f->taken = f->count; /* the next row starts the epoch's first block */
}

/* Next row of this side, loading the next block when the buffer is used. */
static int feed_next(struct feed *f, int side, g2t_row_reader read, void *ctx,
                     uint32_t features, uint32_t *rng, const float **row)
{
	if (f->taken == f->count) {
		int rc;

		uint32_t first = f->bpos * f->block;

		if (!f->loaded || first != f->first) {
			f->first = first;
			f->count = f->rows - first < f->block ? f->rows - first : f->block;
			f->loaded = 0;
			rc = read(ctx, side, f->first, f->count, f->buf);
			if (rc)
				return rc;
			f->loaded = 1;
		}
		f->bpos += f->bstep;
		if (f->bpos >= f->blocks)
			f->bpos -= f->blocks;
		f->rstep = coprime_step(f->count, rng);
		f->rpos = rng_next(rng) % f->count;
		f->taken = 0;
	}
	*row = f->buf + (size_t)f->rpos * features;
	f->rpos += f->rstep;
	if (f->rpos >= f->count)
		f->rpos -= f->count;
	f->taken++;
	return G2T_OK;
}

/* Loss and its negated derivative at margin z = y * score. */
static float loss_at(uint32_t loss, float z, float *slope)
{
	if (loss == G2T_LOSS_LOGISTIC) {
		if (z > 30.0f) {
			*slope = g2t_expf(-z);
			return *slope;
		}
		float e = g2t_expf(z);
		*slope = 1.0f / (1.0f + e);
		return z < -30.0f ? -z : g2t_logf(1.0f + 1.0f / e);
	}
	if (z >= 1.0f) {
		*slope = 0.0f;
		return 0.0f;
	}
	if (loss == G2T_LOSS_SQHINGE) {
		*slope = 1.0f - z;
		return 0.5f * (1.0f - z) * (1.0f - z);
	}
	*slope = 1.0f;
	return 1.0f - z;
}

static void renormalise(struct sgd *s)
{
	float adiv = s->abase * (float)s->k;

	for (uint32_t i = 0; i < s->features; i++) {
		if (s->k)
			s->acc[i] = (s->acc[i] + s->frac * s->v[i]) / adiv;
		s->v[i] = s->v[i] * s->scale;
	}
	s->scale = 1.0f;
	s->frac = 0.0f;
	if (s->k)
		s->abase = 1.0f / (float)s->k;
}

/*
 * Truncated gradient: pull every weight toward 0 by g, stopping at 0.  The
 * average's accumulator takes the opposite change, as for a gradient step.
 */
static void truncate_l1(struct sgd *s, float g)
{
	float gv = g / s->scale;

	for (uint32_t i = 0; i < s->features; i++) {
		float v = s->v[i];

		s->v[i] = v > gv ? v - gv : v < -gv ? v + gv : 0.0f;
		if (s->k)
			s->acc[i] -= s->frac * (s->v[i] - v);
	}
}

static float learning_rate(const struct sgd *s)
{
	const struct g2t_params *p = s->p;

	if (p->algo == G2T_ALGO_PEGASOS)
		return 1.0f / (p->lambda * (float)(s->t + 2));
	return s->eta0 / (1.0f + p->lambda * s->eta0 * (float)s->t);
}

/* Starts the average at the current weights: acc = 0, frac = 1. */
static void start_average(struct sgd *s)
{
	for (uint32_t i = 0; i < s->features; i++)
		s->acc[i] = 0.0f;
	s->frac = 1.0f;
	s->abase = 1.0f / s->scale;
	s->abias = s->bias;
	s->k = 1;
}

static void sgd_step(struct sgd *s, const float *x, float y)
{
	const struct g2t_params *p = s->p;
	float slope, eta = learning_rate(s);
	float z = y * (g2t_dot(s->v, x, s->features) * s->scale + s->bias);
	uint32_t i;

	s->loss_sum += loss_at(p->loss, z, &slope);
	s->scale = s->scale * (1.0f - eta * p->lambda);
	if (slope != 0.0f) {
		float c = eta * slope * y / s->scale, ca = -s->frac * c;

		if (s->k) {
			for (i = 0; i < s->features; i++) {
				s->v[i] += c * x[i];
				s->acc[i] += ca * x[i];
			}
		} else {
			for (i = 0; i < s->features; i++)
				s->v[i] += c * x[i];
		}
		s->bias += eta * slope * y;
	}
	if (p->l1 > 0.0f && s->t % L1_PERIOD == L1_PERIOD - 1)
		truncate_l1(s, eta * p->l1 * (float)L1_PERIOD);
	if (s->k) {
		s->k++;
		s->frac = s->frac + s->abase * s->scale;
		s->abias = s->abias + (s->bias - s->abias) / (float)s->k;
	} else if (s->t == s->avg_start) {
		start_average(s);
	}
	if (s->scale < RENORM_MIN || s->abase * (float)s->k > RENORM_LIMIT)
		renormalise(s);
	s->t++;
}

size_t g2t_train_work_floats(uint32_t features, uint32_t block)
{
	return (size_t)features * (2u + 2u * (size_t)block);
}

/* eta0 from the mean squared norm of the first block of each side. */
static float initial_rate(const struct feed f[2], uint32_t features)
{
	float r2 = 1.0f; /* the bias input */
	uint32_t n = 0;

	for (int side = 0; side < 2; side++)
		for (uint32_t r = 0; r < f[side].count; r++, n++) {
			const float *x = f[side].buf + (size_t)r * features;
			r2 += g2t_dot(x, x, features) / (float)(f[0].count + f[1].count);
		}
	return n ? 1.0f / r2 : 1.0f;
}

static int epoch(struct sgd *s, struct feed f[2], g2t_row_reader read,
                 void *ctx, uint32_t *rng)
{
	uint32_t done[2] = { 0, 0 }; /* <= rows: 64-bit products only below */
	uint32_t i, total = f[0].rows + f[1].rows;

	feed_epoch(&f[0], rng);
	feed_epoch(&f[1], rng);
	s->loss_sum = 0.0f;
	for (i = 0; i < total; i++) {
		/* interleave the two classes in proportion to their sizes */
		int side = done[1] >= f[1].rows ||
		           (done[0] < f[0].rows &&
		            (uint64_t)done[0] * f[1].rows <= (uint64_t)done[1] * f[0].rows) ? 0 : 1;
		const float *row;
		int rc = feed_next(&f[side], side, read, ctx, s->features, rng, &row);

		if (rc)
			return rc;
		if (s->t == 0 && s->p->algo == G2T_ALGO_ASGD)
			s->eta0 = initial_rate(f, s->features);
		sgd_step(s, row, side ? -1.0f : 1.0f);
		done[side]++;
	}
	return G2T_OK;
}

int g2t_train(const struct g2t_task *task, uint32_t features,
              const uint32_t n[2], g2t_row_reader read, void *ctx,
              float *work, uint32_t block, struct g2t_weights *out)
{
	const struct g2t_params *p = &task->id.params;
	struct sgd s; /* set field by field: "= { 0 }" can become a memset call */
	struct feed f[2];
	uint32_t rng = p->seed * 0x9e3779b9u ^ task->id.task, e, i;
	int rc;

	if (g2t_params_check(p) || !n[0] || !n[1] || !block || !features)
		return G2T_EPARAM;
	s.p = p;
	s.features = features;
	s.v = work;
	s.acc = work + features;
	s.scale = 1.0f;
	s.frac = s.abase = s.bias = s.abias = s.eta0 = s.loss_sum = 0.0f;
	s.t = s.k = 0;
	s.avg_start = p->algo == G2T_ALGO_ASGD
	            ? (p->epochs > 1 ? n[0] + n[1] : 0) : 0xffffffffu;
	for (i = 0; i < features; i++)
		s.v[i] = 0.0f;
	for (int side = 0; side < 2; side++) {
		f[side].loaded = 0;
		f[side].count = 0;
		f[side].rows = n[side];
		f[side].block = block;
		f[side].blocks = (n[side] + block - 1) / block;
		f[side].buf = work + (2u + (size_t)side * block) * features;
	}
	for (e = 0; e < p->epochs; e++) {
		rc = epoch(&s, f, read, ctx, &rng);
		if (rc)
			return rc;
	}
	for (i = 0; i < features; i++)
		out->w[i] = s.k ? (s.acc[i] + s.frac * s.v[i]) / (s.abase * (float)s.k)
		                : s.v[i] * s.scale;
	out->bias = s.k ? s.abias : s.bias;
	/* averaging blurs the zeros the truncation made: cut what stays small */
	for (i = 0; p->l1 > 0.0f && i < features; i++)
		if (out->w[i] <= L1_CUT * p->l1 && out->w[i] >= -L1_CUT * p->l1)
			out->w[i] = 0.0f;
	for (i = 0; i < G2T_HASH_SIZE; i++)
		out->task_hash[i] = task->hash[i];
	/* field by field: a struct copy can become a memcpy call */
	for (i = 0; i < G2T_HASH_SIZE; i++)
		out->id.schema_id[i] = task->id.schema_id[i];
	out->id.task = task->id.task;
	out->id.class_a = task->id.class_a;
	out->id.class_b = task->id.class_b;
	out->id.params.loss = p->loss;
	out->id.params.algo = p->algo;
	out->id.params.lambda = p->lambda;
	out->id.params.l1 = p->l1;
	out->id.params.epochs = p->epochs;
	out->id.params.seed = p->seed;
	out->features = features;
	out->rows_seen = (uint64_t)(n[0] + n[1]) * p->epochs;
	out->epochs = p->epochs;
	out->loss = s.loss_sum / (float)(n[0] + n[1]);
	out->token = task->token;
	out->token_len = task->token_len;
	return G2T_OK;
}
