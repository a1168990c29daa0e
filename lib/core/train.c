/*
 * Linear binary training by SGD with a scaled weight vector, so that the L2
 * shrink costs O(1) per row: w = v * scale.  Averaged SGD keeps the average
 * as a = (acc + frac * v) / (abase * k) after k averaged steps, which also
 * costs O(1) per row beyond the rows that change v.  Everything is binary32
 * arithmetic in a fixed order.
 */
#include "g2t_core.h"

#define RENORM_LIMIT 1e5f
#define RENORM_MIN 1e-5f
#define L1_PERIOD 16u
#define L1_CUT 32.0f /* final weights under L1_CUT * l1 in size become 0 */

/* All of training's state, reached through one pointer: on AVR that is far
 * less code than locals spread over a large stack frame. */
struct sgd {
	const struct g2t_task *task;
	const struct g2t_params *p;
	size_t features;         /* size_t: arrays of it fit in memory */
	float *v, *acc;          /* scaled weights and the average's accumulator */
	float scale;             /* w = v * scale */
	float frac, abase;       /* a = (acc + frac v) / (abase * k) */
	float bias, abias;
	float eta0;
	float lambda;            /* L2 strength: 1/(C n) */
	uint32_t t, k;           /* steps taken, steps averaged */
	uint32_t avg_start;      /* first averaged step */
	uint32_t total;          /* rows of both classes */
	float loss_sum;
	g2t_row_reader read;     /* the rows, and the caller's context for it */
	g2t_srow_reader sread;   /* or sparse rows */
	void *ctx;
	float *buf[2];           /* the block of rows in use, per class */
	struct g2t_srow *sbuf[2]; /* the same, of sparse rows */
	float *row;              /* g2t_train_each: the one row in memory */
	struct g2t_order o;      /* last: the fields above stay near the start */
};

/* a row: x, or r when sparse; a profile without sparse rows drops the code */
#define SPARSE(r) (G2T_WITH_SPARSE_ROWS && (r))

/* a macro: a profile without Pegasos then drops its code */
#define PEGASOS(p) (G2T_HAS_ALGO(G2T_ALGO_PEGASOS) && (p)->algo == G2T_ALGO_PEGASOS)

/* Loss and its negated derivative at margin z = y * score. */
static inline float loss_at(uint32_t loss, float z, float *slope)
{
	if (G2T_HAS_LOSS(G2T_LOSS_LOGISTIC) && loss == G2T_LOSS_LOGISTIC) {
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
	if (G2T_HAS_LOSS(G2T_LOSS_SQHINGE) && loss == G2T_LOSS_SQHINGE) {
		*slope = 1.0f - z;
		return 0.5f * (1.0f - z) * (1.0f - z);
	}
	*slope = 1.0f;
	return 1.0f - z;
}

/* y[i] += a * x[i] for n values */
static void axpy(float *y, float a, const float *x, size_t n)
{
	for (; n; n--)
		*y++ += a * *x++;
}

/* y += a x for a sparse row x: its non-zero values only */
static void saxpy(float *y, float a, const struct g2t_srow *x)
{
	for (uint32_t k = 0; k < x->n; k++)
		y[x->index[k]] += a * x->value[k];
}

/* y += a x for a row, x or r (a macro: the least profile keeps axpy()
 * calls only) */
#define ROW_AXPY(y, a, x, r, n) \
	(SPARSE(r) ? saxpy((y), (a), (r)) : axpy((y), (a), (x), (n)))

static void renormalise(struct sgd *s)
{
	float *v = s->v, *acc = s->acc, scale = s->scale;
	size_t i, n = s->features;

	if (s->k) {
		float adiv = s->abase * (float)s->k;

		axpy(acc, s->frac, v, n); /* acc + frac v, then / adiv */
		for (i = n; i--; acc++)
			*acc = *acc / adiv;
		s->abase = 1.0f / (float)s->k;
	}
	for (i = n; i--; v++)
		*v = *v * scale;
	s->scale = 1.0f;
	s->frac = 0.0f;
}

/*
 * Truncated gradient: pull every weight toward 0 by g, stopping at 0.  The
 * average's accumulator takes the opposite change, as for a gradient step.
 */
static void truncate_l1(struct sgd *s, float g)
{
	float gv = g / s->scale;

	for (size_t i = 0; i < s->features; i++) {
		float v = s->v[i];

		s->v[i] = v > gv ? v - gv : v < -gv ? v + gv : 0.0f;
		if (s->k)
			s->acc[i] -= s->frac * (s->v[i] - v);
	}
}

static inline float learning_rate(const struct sgd *s)
{
	const struct g2t_params *p = s->p;

	if (PEGASOS(p))
		return 1.0f / (s->lambda * (float)(s->t + 2));
	return s->eta0 / (1.0f + s->lambda * s->eta0 * (float)s->t);
}

/* x[0..n) = 0 */
static void zero(float *x, size_t n)
{
	while (n--)
		*x++ = 0.0f;
}

/* Starts the average at the current weights: acc = 0, frac = 1. */
static inline void start_average(struct sgd *s)
{
	zero(s->acc, s->features);
	s->frac = 1.0f;
	s->abase = 1.0f / s->scale;
	s->abias = s->bias;
	s->k = 1;
}

/* A step on a row of label y (x dense, or r sparse), whose loss counts its
 * class weight times. */
static void sgd_step(struct sgd *s, const float *x, const struct g2t_srow *r, float y)
{
	const struct g2t_params *p = s->p;
	float slope, eta = learning_rate(s), scale = s->scale;
	float dot = SPARSE(r) ? g2t_sdot(s->v, r) : g2t_dot(s->v, x, (uint32_t)s->features);
	float z = y * (dot * scale + s->bias);
	/* without class weights, multiplications by 1 the compiler leaves out */
	float weight = G2T_WITH_CLASS_WEIGHTS ? p->weight[y < 0.0f] : 1.0f;

	s->loss_sum += loss_at(p->loss, z, &slope) * weight;
	slope = slope * weight;
	scale = scale * (1.0f - eta * s->lambda);
	s->scale = scale;
	if (slope != 0.0f) {
		float g = eta * slope * y, c = g / scale;

		ROW_AXPY(s->v, c, x, r, s->features);
		if (s->k)
			ROW_AXPY(s->acc, -s->frac * c, x, r, s->features);
		s->bias += g;
	}
	if (G2T_WITH_L1 && p->l1 > 0.0f && s->t % L1_PERIOD == L1_PERIOD - 1)
		truncate_l1(s, eta * p->l1 * (float)L1_PERIOD);
	if (s->k) {
		s->k++;
		s->frac = s->frac + s->abase * scale;
		s->abias = s->abias + (s->bias - s->abias) / (float)s->k;
	} else if (s->t == s->avg_start) {
		start_average(s);
	}
	if (scale < RENORM_MIN || s->abase * (float)s->k > RENORM_LIMIT)
		renormalise(s);
	s->t++;
}

size_t g2t_train_work_floats(uint32_t features, uint32_t block)
{
	return (size_t)features * (2u + 2u * (size_t)block);
}

/* eta0 from the mean squared norm of the rows loaded at the first step:
 * the n >= 1 rows at x (or r), of the one side loaded then. */
static float initial_rate(const struct sgd *s, const float *x, const struct g2t_srow *r,
                          uint32_t n)
{
	float r2 = 1.0f, rows = (float)n; /* r2: 1 for the bias input */

	for (; n; n--, x += SPARSE(r) ? 0 : s->features, r += SPARSE(r) ? 1 : 0)
		r2 += (SPARSE(r) ? g2t_sdot(NULL, r) : g2t_dot(x, x, (uint32_t)s->features)) / rows;
	return 1.0f / r2;
}

/* epoch() for g2t_train_each: when a block starts, a hint (read with out
 * NULL), eta0 at the first step from its rows read one at a time, and then
 * one row a step.  Apart from epoch() so that g2t_train() alone stays small. */
static int epoch_each(struct sgd *s)
{
	g2t_order_epoch(&s->o);
	s->loss_sum = 0.0f;
	for (uint32_t i = 0; i < s->total; i++) {
		const struct g2t_order_side *f;
		uint32_t at;
		int side, load, rc = 0;

		g2t_order_next(&s->o, &side, &at, &load);
		f = &s->o.side[side];
		if (load)
			rc = s->read(s->ctx, side, f->first, f->count, NULL);
		if (!rc && s->t == 0 && !PEGASOS(s->p)) {
			float r2 = 1.0f, n = (float)f->count; /* initial_rate()'s sums, in its order */

			for (uint32_t k = 0; !rc && k < f->count; k++) {
				rc = s->read(s->ctx, side, f->first + k, 1, s->row);
				r2 += g2t_dot(s->row, s->row, (uint32_t)s->features) / n;
			}
			s->eta0 = 1.0f / r2;
		}
		if (!rc)
			rc = s->read(s->ctx, side, f->first + at, 1, s->row);
		if (rc)
			return rc;
		sgd_step(s, s->row, NULL, side ? -1.0f : 1.0f);
	}
	return G2T_OK;
}

static int epoch(struct sgd *s)
{
	g2t_order_epoch(&s->o);
	s->loss_sum = 0.0f;
	for (uint32_t i = 0; i < s->total; i++) {
		const struct g2t_order_side *f;
		float *rows;
		struct g2t_srow *sr = NULL;
		uint32_t at;
		int side, load, rc;

		g2t_order_next(&s->o, &side, &at, &load);
		f = &s->o.side[side];
		rows = s->buf[side];
		if (SPARSE(s->sread))
			sr = s->sbuf[side];
		if (load && (rc = SPARSE(sr) ? s->sread(s->ctx, side, f->first, f->count, sr)
		                             : s->read(s->ctx, side, f->first, f->count, rows)))
			return rc;
		if (s->t == 0 && !PEGASOS(s->p))
			s->eta0 = initial_rate(s, rows, sr, f->count);
		sgd_step(s, rows + at * s->features, SPARSE(sr) ? sr + at : NULL,
		         side ? -1.0f : 1.0f);
	}
	return G2T_OK;
}

/* Checks the task and sets up the state before the first step: w = 0, no
 * average yet. */
static int sgd_init(struct sgd *s, const struct g2t_task *task, uint32_t features,
                    const uint32_t n[2], g2t_row_reader read, void *ctx,
                    float *work, uint32_t block)
{
	const struct g2t_params *p = &task->id.params;
	uint8_t *z = (uint8_t *)s;

	if (g2t_params_check(p) || (G2T_HAS_ALGO(G2T_ALGO_FIXED) && p->algo == G2T_ALGO_FIXED) ||
	    (G2T_HAS_ALGO(G2T_ALGO_DCD) && p->algo == G2T_ALGO_DCD) ||
	    !n[0] || !n[1] ||
	    !block || !features)
		return G2T_EPARAM;
	for (size_t i = 0; i < sizeof *s; i++) /* not memset: the core calls nothing */
		z[i] = 0;
	s->task = task;
	s->p = p;
	s->features = features;
	s->v = work;
	s->acc = work + features;
	s->scale = 1.0f;
	s->eta0 = 1.0f;
	s->total = n[0] + n[1];
	s->lambda = 1.0f / (p->cost * (float)s->total);
	/* the average is over the last epoch: its steps are the smallest, and
	 * a float average over more steps stops following them */
	s->avg_start = PEGASOS(p) ? 0xffffffffu : (p->epochs - 1) * s->total;
	s->read = read;
	s->ctx = ctx;
	s->buf[0] = work + 2u * features;
	s->buf[1] = s->buf[0] + (size_t)block * features;
	zero(s->v, s->features);
	g2t_order_init(&s->o, n, block, p->seed * 0x9e3779b9u ^ task->id.task);
	return G2T_OK;
}

/* The result: the trained weights (the average when there is one). */
static void sgd_result(struct sgd *s, struct g2t_weights *out)
{
	const struct g2t_params *p = s->p;
	const float *from = s->k ? s->acc : s->v;
	float *to = out->w;
	size_t i;

	g2t_weights_of_task(out, s->task, (uint32_t)s->features, s->total);
	renormalise(s); /* the average is in acc now, the weights in v */
	for (i = s->features; i--;) /* + 0: a weight -0 (an underflow) is +0 */
		*to++ = *from++ + 0.0f;
	out->bias = s->k ? s->abias : s->bias;
	/* averaging blurs the zeros the truncation made: cut what stays small */
	for (i = 0; G2T_WITH_L1 && p->l1 > 0.0f && i < s->features; i++)
		if (out->w[i] <= L1_CUT * p->l1 && out->w[i] >= -L1_CUT * p->l1)
			out->w[i] = 0.0f;
	out->loss = s->loss_sum / (float)s->total;
}

static inline int sgd_run(struct sgd *s, struct g2t_weights *out)
{
	int rc = G2T_OK;

	for (uint32_t e = 0; !rc && e < s->p->epochs; e++)
		rc = epoch(s);
	if (!rc)
		sgd_result(s, out);
	return rc;
}

int g2t_train(const struct g2t_task *task, uint32_t features,
              const uint32_t n[2], g2t_row_reader read, void *ctx,
              float *work, uint32_t block, struct g2t_weights *out)
{
	struct sgd s;
	int rc = sgd_init(&s, task, features, n, read, ctx, work, block);

	return rc ? rc : sgd_run(&s, out);
}

int g2t_train_sparse(const struct g2t_task *task, uint32_t features,
                     const uint32_t n[2], g2t_srow_reader read, void *ctx,
                     float *work, struct g2t_srow *rows, uint32_t block,
                     struct g2t_weights *out)
{
#if !G2T_WITH_SPARSE_ROWS /* and sgd_run() has one caller, and is inlined */
	(void)task, (void)features, (void)n, (void)read, (void)ctx, (void)work, (void)rows,
	(void)block, (void)out;
	return G2T_EPARAM;
#else
	struct sgd s;
	int rc = G2T_EPARAM;

	/* the dense blocks would follow the weights: none here */
	if (G2T_WITH_SPARSE_ROWS)
		rc = sgd_init(&s, task, features, n, NULL, ctx, work, block);
	if (rc)
		return rc;
	s.sread = read;
	s.sbuf[0] = rows;
	s.sbuf[1] = rows + block;
	return sgd_run(&s, out);
#endif
}

int g2t_train_each(const struct g2t_task *task, uint32_t features,
                   const uint32_t n[2], g2t_row_reader read, void *ctx,
                   float *work, uint32_t block, struct g2t_weights *out)
{
	struct sgd s;
	int rc;

	/* the blocks of rows are the reader's: a block 1 lays out no more work */
	if ((rc = sgd_init(&s, task, features, n, read, ctx, work, 1)))
		return rc;
	g2t_order_init(&s.o, n, block, task->id.params.seed * 0x9e3779b9u ^ task->id.task);
	s.row = work + 2u * features;
	for (uint32_t e = 0; !rc && e < s.p->epochs; e++)
		rc = epoch_each(&s);
	if (!rc)
		sgd_result(&s, out);
	return rc;
}
