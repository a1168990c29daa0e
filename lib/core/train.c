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

/* The rows of one epoch's blocks, one buffer per class. */
struct rows {
	g2t_row_reader read;
	void *ctx;
	float *buf[2];
};

/* eta0 from the mean squared norm of the rows loaded at the first step. */
static float initial_rate(const struct g2t_order *o, const struct rows *r,
                          uint32_t features)
{
	uint32_t n = o->side[0].count + o->side[1].count, side, i;
	float r2 = 1.0f; /* the bias input */

	for (side = 0; side < 2; side++)
		for (i = 0; i < o->side[side].count; i++) {
			const float *x = r->buf[side] + (size_t)i * features;
			r2 += g2t_dot(x, x, features) / (float)n;
		}
	return n ? 1.0f / r2 : 1.0f;
}

static int epoch(struct sgd *s, struct g2t_order *o, const struct rows *r,
                 uint32_t total)
{
	g2t_order_epoch(o);
	s->loss_sum = 0.0f;
	for (uint32_t i = 0; i < total; i++) {
		uint32_t at;
		int side, load, rc;

		g2t_order_next(o, &side, &at, &load);
		if (load && (rc = r->read(r->ctx, side, o->side[side].first,
		                          o->side[side].count, r->buf[side])))
			return rc;
		if (s->t == 0 && s->p->algo == G2T_ALGO_ASGD)
			s->eta0 = initial_rate(o, r, s->features);
		sgd_step(s, r->buf[side] + (size_t)at * s->features, side ? -1.0f : 1.0f);
	}
	return G2T_OK;
}

int g2t_train(const struct g2t_task *task, uint32_t features,
              const uint32_t n[2], g2t_row_reader read, void *ctx,
              float *work, uint32_t block, struct g2t_weights *out)
{
	const struct g2t_params *p = &task->id.params;
	struct sgd s;
	struct g2t_order o;
	struct rows r = { read, ctx, { work + 2u * features,
	                               work + (2u + (size_t)block) * features } };
	uint32_t e, i;
	int rc;

	if (g2t_params_check(p) || !n[0] || !n[1] || !block || !features)
		return G2T_EPARAM;
	/* field by field: a struct initialiser may become a memset() call */
	s.p = p;
	s.features = features;
	s.v = work;
	s.acc = work + features;
	s.scale = 1.0f;
	s.frac = s.abase = 0.0f;
	s.bias = s.abias = 0.0f;
	s.eta0 = 1.0f;
	s.t = s.k = 0;
	s.avg_start = p->algo == G2T_ALGO_ASGD
	            ? (p->epochs > 1 ? n[0] + n[1] : 0) : 0xffffffffu;
	s.loss_sum = 0.0f;
	for (i = 0; i < features; i++)
		s.v[i] = 0.0f;
	g2t_order_init(&o, n, block, p->seed * 0x9e3779b9u ^ task->id.task);
	for (e = 0; e < p->epochs; e++)
		if ((rc = epoch(&s, &o, &r, n[0] + n[1])))
			return rc;
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
