/*
 * Integer averaged SGD for hinge loss over uint8 rows (G2T_ALGO_FIXED): see
 * g2t_fixed_train() in g2t_core.h.
 *
 * A row x is the shard's bytes q, x = step * q.  Weights are integers V in
 * units of 2^-S per byte unit (w = V 2^-S / step), |V| <= V_MAX, so the
 * decision value of a row is
 *     z = 2^-S * (sum V[i] q[i] + B)
 * and z < 1 (hinge active) is the integer test  y * Z < 2^S, Z computed
 * with V rounded down to 2^DOT_SHIFT (see dot()).  An active row adds
 * y * g * q to V and y * h to B, with g = eta step^2 2^S and h = eta 2^S,
 * eta the core's rate at the start of a period of G2T_FIXED_PERIOD steps;
 * the period's L2 shrink, the product of the core's per-step factors, is
 * applied at its end, one multiplication a weight.
 *
 * The average of the weights since averaging began, after k averaged steps,
 * is V - U / k, where every change d of V made while k steps are averaged
 * adds k * d to U (summation by parts): the average costs nothing on rows
 * that change nothing.
 *
 * The rows come in the order g2t_train() uses: the core's g2t_order.
 */
#include "g2t_core.h"

#define S G2T_FIXED_SHIFT
#define ONE ((int64_t)1 << S)
#define TWO_S 268435456.0f /* 2^S as a float */

#if G2T_FIXED_SHIFT != 28
#error "TWO_S must follow G2T_FIXED_SHIFT"
#endif
#if G2T_FIXED_PERIOD & (G2T_FIXED_PERIOD - 1)
#error "G2T_FIXED_PERIOD must be a power of two"
#endif

/* The rows of the blocks in use: the caller's buffers or its own memory. */
struct rows {
	g2t_fixed_reader read;
	void *ctx;
	uint8_t *buf[2];     /* the caller's block buffers */
	const uint8_t *at[2];/* the blocks: buf or the reader's memory */
};

struct fx {
	uint32_t features;
	int32_t *v;         /* weights, 2^-S per byte unit */
	int64_t *u;         /* averaging corrections */
	int64_t b, ub;      /* bias, 2^-S, and its correction */
	int32_t g;          /* weight gain of an active row */
	int64_t h;          /* bias gain */
	uint32_t shrink;    /* L2 shrink of a period, as a fraction of 2^32 */
	uint32_t t, k;      /* steps taken, steps averaged (0: not yet) */
	uint32_t avg_start;
	float eta0, step2, lambda;
	int64_t loss;       /* hinge loss of this epoch, 2^-S */
};

/*
 * sum V[i] q[i], with V truncated to multiples of 2^DOT_SHIFT: with
 * |V| <= V_MAX eight products fit a 32-bit sum, so a feature costs one
 * 32-bit multiply-add, and a 64-bit add is needed only every eight.  The
 * truncation moves z by less than 255 * 2^-21 a feature.  (>> on a
 * negative int32_t is the arithmetic shift on every compiler targeted.)
 */
#define DOT_SHIFT 7
#define V_MAX (1L << 27) /* |w| <= 127.5 per scaled unit with step 1/255 */

static int64_t dot(const int32_t *v, const uint8_t *x, uint32_t n)
{
	int64_t z = 0;
	int32_t t;
	uint32_t i;

	for (i = 0; i + 8 <= n; i += 8, v += 8, x += 8) {
		t = (v[0] >> DOT_SHIFT) * (int32_t)x[0];
		t += (v[1] >> DOT_SHIFT) * (int32_t)x[1];
		t += (v[2] >> DOT_SHIFT) * (int32_t)x[2];
		t += (v[3] >> DOT_SHIFT) * (int32_t)x[3];
		t += (v[4] >> DOT_SHIFT) * (int32_t)x[4];
		t += (v[5] >> DOT_SHIFT) * (int32_t)x[5];
		t += (v[6] >> DOT_SHIFT) * (int32_t)x[6];
		t += (v[7] >> DOT_SHIFT) * (int32_t)x[7];
		z += t;
	}
	for (t = 0; i < n; i++, v++, x++)
		t += (*v >> DOT_SHIFT) * (int32_t)*x;
	return (z + t) * (1 << DOT_SHIFT);
}

/* The rates of the period starting at step t (core: learning_rate()). */
static void set_rates(struct fx *s, uint32_t t)
{
	float eta = s->eta0 / (1.0f + s->lambda * s->eta0 * (float)t);
	float keep = 1.0f - eta * s->lambda, gone;
	int i;

	for (i = 0; (1 << i) < G2T_FIXED_PERIOD; i++)
		keep = keep * keep;
	gone = 1.0f - keep;
	s->g = (int32_t)(eta * s->step2 * TWO_S + 0.5f);
	s->h = (int64_t)(eta * TWO_S + 0.5f);
	s->shrink = gone < 1.0f ? (uint32_t)(gone * 4294967296.0f) : 0xffffffffu;
}

/* V[i] += d, saturating at +-V_MAX; returns the change made. */
static int32_t add_sat(int32_t *p, int32_t d)
{
	int32_t v = *p;

	if (v + d > V_MAX)
		d = (int32_t)(V_MAX - v);
	else if (v + d < -V_MAX)
		d = (int32_t)(-V_MAX - v);
	*p = v + d;
	return d;
}

static void update(struct fx *s, const uint8_t *x, int y)
{
	int32_t gy = y > 0 ? s->g : -s->g;
	int64_t ck = (int64_t)s->k * gy;  /* k * g * y: U's step per byte unit */
	int fast = ck < 8388608 && ck > -8388608; /* ck * 255 fits int32 */
	uint32_t i;

	for (i = 0; i < s->features; i++) {
		int32_t q = x[i], d;

		if (!q)
			continue;
		d = add_sat(&s->v[i], gy * q);
		if (s->k)
			s->u[i] += fast && d == gy * q ? (int64_t)((int32_t)ck * q)
			                               : (int64_t)s->k * d;
	}
	s->b += y > 0 ? s->h : -s->h;
	if (s->k)
		s->ub += (int64_t)s->k * (y > 0 ? s->h : -s->h);
}

/* L2 over a period: every weight loses shrink / 2^32 of itself, rounded. */
static void shrink(struct fx *s)
{
	uint32_t i;

	for (i = 0; i < s->features; i++) {
		int32_t v = s->v[i];
		uint32_t a = v < 0 ? 0u - (uint32_t)v : (uint32_t)v;
		uint32_t d = (uint32_t)(((uint64_t)a * s->shrink + 0x80000000u) >> 32);
		int64_t kd;

		if (!d)
			continue;
		s->v[i] = v < 0 ? v + (int32_t)d : v - (int32_t)d;
		if (!s->k)
			continue;
		kd = s->k < 0x8000u && d < 0x10000u ? (int64_t)(s->k * d) : (int64_t)s->k * d;
		s->u[i] += v < 0 ? kd : -kd;
	}
}

static void sgd_step(struct fx *s, const uint8_t *x, int y)
{
	int64_t z = dot(s->v, x, s->features) + s->b;
	int64_t m = y > 0 ? z : -z;

	if (m < ONE) {
		s->loss += ONE - m;
		update(s, x, y);
	}
	if ((s->t + 1) % G2T_FIXED_PERIOD == 0) {
		shrink(s);
		set_rates(s, s->t + 1);
	}
	if (s->k) {
		s->k++;
	} else if (s->t == s->avg_start) {
		uint32_t i;

		for (i = 0; i < s->features; i++)
			s->u[i] = 0;
		s->ub = 0;
		s->k = 1;
	}
	s->t++;
}

/* eta0 as in the core: from the rows loaded when the first step is taken. */
static void initial_rate(struct fx *s, const struct g2t_order *o, const struct rows *r)
{
	uint64_t sq = 0;
	uint32_t n = o->side[0].count + o->side[1].count, side, k, i;

	for (side = 0; side < 2; side++)
		for (k = 0; k < o->side[side].count; k++) {
			const uint8_t *x = r->at[side] + (size_t)k * s->features;

			for (i = 0; i < s->features; i++)
				sq += (uint32_t)x[i] * x[i];
		}
	s->eta0 = n ? 1.0f / (1.0f + (float)sq * s->step2 / (float)n) : 1.0f;
	set_rates(s, 0);
}

size_t g2t_fixed_work_bytes(uint32_t features, uint32_t block)
{
	return (size_t)features * (12u + 2u * (size_t)block);
}

int g2t_fixed_train(const struct g2t_task *task, uint32_t features, float step,
                    const uint32_t n[2], g2t_fixed_reader read, void *ctx,
                    void *work, uint32_t block, struct g2t_weights *out)
{
	const struct g2t_params *p = &task->id.params;
	struct fx s;
	struct g2t_order o;
	struct rows r;
	uint32_t e, i, total;

	/* the check makes G2T_ALGO_FIXED hinge loss without L1 */
	if (g2t_params_check(p) || p->algo != G2T_ALGO_FIXED || !(step > 0.0f) ||
	    !n[0] || !n[1] || !block || !features)
		return G2T_EPARAM;
	total = n[0] + n[1];
	s.features = features;
	s.u = (int64_t *)work;
	s.v = (int32_t *)(s.u + features);
	s.b = s.ub = 0;
	s.g = 0;
	s.h = 0;
	s.shrink = 0;
	s.t = s.k = 0;
	s.avg_start = p->epochs > 1 ? total : 0;
	s.eta0 = 1.0f;
	s.step2 = step * step;
	s.lambda = 1.0f / (p->cost * (float)total); /* 1/(C n) */
	s.loss = 0;
	for (i = 0; i < features; i++)
		s.v[i] = 0;
	r.read = read;
	r.ctx = ctx;
	r.buf[0] = (uint8_t *)(s.v + features);
	r.buf[1] = r.buf[0] + (size_t)block * features;
	r.at[0] = r.at[1] = 0;
	g2t_order_init(&o, n, block, p->seed * 0x9e3779b9u ^ task->id.task);
	for (e = 0; e < p->epochs; e++) {
		g2t_order_epoch(&o);
		s.loss = 0;
		for (i = 0; i < total; i++) {
			uint32_t at;
			int side, load;

			g2t_order_next(&o, &side, &at, &load);
			if (load && !(r.at[side] = read(ctx, side, o.side[side].first,
			                                o.side[side].count, r.buf[side])))
				return G2T_EIO;
			if (s.t == 0)
				initial_rate(&s, &o, &r);
			sgd_step(&s, r.at[side] + (size_t)at * features, side ? -1 : 1);
		}
	}
	g2t_weights_of_task(out, task, features, total);
	{
		float kf = (float)s.k, unit = 1.0f / TWO_S;

		for (i = 0; i < features; i++)
			out->w[i] = ((float)s.v[i] - (float)s.u[i] / kf) * unit / step;
		out->bias = ((float)s.b - (float)s.ub / kf) * unit;
		out->loss = (float)s.loss * unit / (float)total;
	}
	return G2T_OK;
}
