/*
 * The exact solver (G2T_ALGO_DCD): dual coordinate descent on the problem
 * LIBLINEAR solves with -B 1,
 *     min 0.5 (|w|^2 + b^2) + sum_i C_i loss(y_i (w.x_i + b)),
 * C_i the cost times the class weight of row i (LIBLINEAR's -wi), the bias
 * an extra constant feature 1, regularised like the others.
 * Hinge and squared hinge as Hsieh et al., ICML 2008 (LIBLINEAR -s 3 and
 * -s 1), logistic loss as Yu, Huang and Lin, MLJ 2011 (-s 7).  The rows
 * are all in memory; the state beyond them and the weights is one dual
 * value per row (two for logistic loss, alpha and C - alpha, so neither
 * loses bits near a bound), the row's x.x + 1, and the row's place in the
 * active set, whose rows each pass visits in a new random order and whose
 * end the shrunk rows are moved past, as LIBLINEAR does.  Everything is
 * binary32 arithmetic in a fixed order.
 */
#include "g2t_core.h"

#define BIG 3.0e38f       /* stands for infinity in the shrinking bounds */
#define INNER_MAX 100     /* Newton steps per logistic sub-problem */

/* A Kahan sum, for the objective values: in a fixed order, so the same
 * bits everywhere, and without the error of 10^4 plain float additions. */
struct ksum {
	float sum, carry;
};

struct dcd {
	const struct g2t_task *task;
	const struct g2t_params *p;
	size_t features;
	float *w;                /* features weights, then the bias */
	const float *rows[2];    /* the rows of class a, of class b */
	const struct g2t_srow *srows; /* or every row, sparse: a's then b's */
	float *qd;               /* per row: x.x + 1 (+ D_ii) */
	float *alpha;            /* per row: alpha; logistic: alpha, C - alpha */
	float *nv;               /* squared hinge: the Newton solver's vectors */
	uint32_t *index;         /* the rows, the active ones first */
	float c[2];              /* C_i of class a's rows, of class b's */
	float diag[2];           /* D_ii: 1 / (2 C_i) for squared hinge, else 0 */
	float upper[2];          /* bound on alpha: C_i, or < 0 for none */
	float pgmax, pgmin;      /* this pass's projected gradient extremes */
	float pgmax_old, pgmin_old; /* the last pass's: the shrinking bounds */
	float inner_eps;         /* logistic: tolerance of the Newton steps */
	uint32_t newton;         /* logistic: Newton steps this pass */
	uint32_t active;         /* rows not shrunk: index[0..active) */
	uint32_t n0, total;      /* rows of class a, of both */
	uint32_t rng;            /* splitmix32 state */
	struct ksum loss, dual;  /* the objectives' sums over the rows */
};

#define SPARSE(s) (G2T_WITH_SPARSE_ROWS && (s)->srows)
#define LOGISTIC(s) (G2T_HAS_LOSS(G2T_LOSS_LOGISTIC) && (s)->p->loss == G2T_LOSS_LOGISTIC)

static inline float fabsf_(float x)
{
	return x < 0.0f ? -x : x;
}

/* 0 for a row of class a, 1 for one of class b */
static inline int side_of(const struct dcd *s, uint32_t i)
{
	return i >= s->n0;
}

/* y[i] += a * x[i] for n values: eight at a time and restrict, so that
 * compilers vectorise it at -O2 (each value is still one multiplication
 * and one addition: the same bits). */
static void axpy(float *restrict y, float a, const float *restrict x, size_t n)
{
	size_t i = 0;

	for (; i + 8 <= n; i += 8) {
		y[i] += a * x[i];
		y[i + 1] += a * x[i + 1];
		y[i + 2] += a * x[i + 2];
		y[i + 3] += a * x[i + 3];
		y[i + 4] += a * x[i + 4];
		y[i + 5] += a * x[i + 5];
		y[i + 6] += a * x[i + 6];
		y[i + 7] += a * x[i + 7];
	}
	for (; i < n; i++)
		y[i] += a * x[i];
}

/* The primal Newton solver's vectors, squared hinge only: NEWTON_VECS of
 * features + 1 floats. */
#define NEWTON_VECS 7u
static size_t newton_floats(uint32_t features, uint32_t loss)
{
	return G2T_HAS_LOSS(G2T_LOSS_SQHINGE) && loss == G2T_LOSS_SQHINGE
	       ? NEWTON_VECS * ((size_t)features + 1u) : 0u;
}

size_t g2t_dcd_work_floats(uint32_t features, const uint32_t n[2], uint32_t loss)
{
	size_t rows = (size_t)n[0] + n[1];

	return ((size_t)features + 1u) + rows * (size_t)features +
	       rows * (loss == G2T_LOSS_LOGISTIC ? 4u : 3u) + newton_floats(features, loss);
}

size_t g2t_dcd_sparse_work_floats(uint32_t features, const uint32_t n[2], uint32_t loss)
{
	size_t rows = (size_t)n[0] + n[1];

	return ((size_t)features + 1u) + rows * (loss == G2T_LOSS_LOGISTIC ? 4u : 3u) +
	       newton_floats(features, loss);
}

/* v.x + v[features] for row i, at x when dense */
static inline float dotv(const struct dcd *s, const float *v, uint32_t i, const float *x)
{
	float d = SPARSE(s) ? g2t_sdot(v, &s->srows[i]) : g2t_dot(v, x, (uint32_t)s->features);

	return d + v[s->features];
}

/* v += d (x, 1), x row i */
static inline void addv(const struct dcd *s, float *v, float d, uint32_t i, const float *x)
{
	if (SPARSE(s)) {
		const struct g2t_srow *r = &s->srows[i];

		for (uint32_t k = 0; k < r->n; k++)
			v[r->index[k]] += d * r->value[k];
	} else {
		axpy(v, d, x, s->features);
	}
	v[s->features] += d;
}

/* w.x + b for row i, at x when dense */
static inline float decision(const struct dcd *s, uint32_t i, const float *x)
{
	return dotv(s, s->w, i, x);
}

/* Moves the weights by d x (the bias by d), x row i. */
static inline void move(struct dcd *s, float d, uint32_t i, const float *x)
{
	addv(s, s->w, d, i, x);
}

/* One hinge or squared hinge coordinate step (LIBLINEAR's
 * solve_l2r_l1l2_svc) on row i; 1 when the row is to be shrunk: it sits at
 * a bound with a gradient past the last pass's extremes. */
static int svc_step(struct dcd *s, uint32_t i, const float *x, float y)
{
	int side = side_of(s, i);
	float a = s->alpha[i], upper = s->upper[side], g, pg = 0.0f;

	g = y * decision(s, i, x) - 1.0f + a * s->diag[side];
	if (a == 0.0f) {
		if (g > s->pgmax_old)
			return 1;
		if (g < 0.0f)
			pg = g;
	} else if (a == upper) {
		if (g < s->pgmin_old)
			return 1;
		if (g > 0.0f)
			pg = g;
	} else {
		pg = g;
	}
	if (pg > s->pgmax)
		s->pgmax = pg;
	if (pg < s->pgmin)
		s->pgmin = pg;
	if (pg != 0.0f) {
		float na = a - g / s->qd[i];

		na = na < 0.0f ? 0.0f : na;
		if (upper >= 0.0f && na > upper)
			na = upper;
		s->alpha[i] = na;
		move(s, (na - a) * y, i, x);
	}
	return 0;
}

/* One logistic coordinate step (LIBLINEAR's solve_l2r_lr_dual): Newton's
 * method on the one-variable sub-problem in whichever of alpha and
 * C - alpha is the smaller at the solution.  pgmax keeps the largest
 * gradient of the pass. */
static int lr_step(struct dcd *s, uint32_t i, const float *x, float y)
{
	float *al = s->alpha + 2u * (size_t)i, c = s->c[side_of(s, i)], qa = s->qd[i];
	float b = y * decision(s, i, x), sign = 1.0f, z, old, gp;
	int one = 0, k;

	if (0.5f * qa * (al[1] - al[0]) + b < 0.0f) {
		one = 1; /* minimise over C - alpha */
		sign = -1.0f;
	}
	old = z = al[one];
	if (c - z < 0.5f * c)
		z = 0.1f * z;
	gp = qa * (z - old) + sign * b + g2t_logf(z / (c - z));
	if (fabsf_(gp) > s->pgmax)
		s->pgmax = fabsf_(gp);
	for (k = 0; k <= INNER_MAX && fabsf_(gp) >= s->inner_eps; k++) {
		float t = z - gp / (qa + c / (c - z) / z);

		z = t <= 0.0f ? z * 0.1f : t;
		gp = qa * (z - old) + sign * b + g2t_logf(z / (c - z));
	}
	s->newton += (uint32_t)k;
	if (k) {
		al[one] = z;
		al[1 - one] = c - z;
		move(s, sign * (z - old) * y, i, x);
	}
	return 0;
}

/* Row i: class a's rows, then class b's; NULL when sparse. */
static inline const float *row(const struct dcd *s, uint32_t i, float *y)
{
	*y = i < s->n0 ? 1.0f : -1.0f;
	if (SPARSE(s))
		return NULL;
	return i < s->n0 ? s->rows[0] + (size_t)i * s->features
	                 : s->rows[1] + (size_t)(i - s->n0) * s->features;
}

/* Calls visit for every row in index order. */
static void each_row(struct dcd *s, void (*visit)(struct dcd *, uint32_t, const float *, float))
{
	for (uint32_t i = 0; i < s->total; i++) {
		float y;
		const float *x = row(s, i, &y);

		visit(s, i, x, y);
	}
}

/* splitmix32, as g2t_order's */
static uint32_t rng_next(uint32_t *state)
{
	uint32_t z = (*state += 0x9e3779b9u);

	z = (z ^ (z >> 16)) * 0x85ebca6bu;
	z = (z ^ (z >> 13)) * 0xc2b2ae35u;
	return z ^ (z >> 16);
}

/* A pass of coordinate steps over the active rows, in a new order:
 * LIBLINEAR's shuffle, index[k] swapped with index[k + r mod (active - k)]
 * for k = 0 .. active - 2, each r the next splitmix32 number; a row the
 * step shrinks swaps with the last active one, visited in its place. */
static void step_rows(struct dcd *s, int (*step)(struct dcd *, uint32_t, const float *, float))
{
	uint32_t *ix = s->index, k, t;
	float y;

	for (k = 0; k + 1 < s->active; k++) {
		uint32_t j = k + rng_next(&s->rng) % (s->active - k);

		t = ix[k];
		ix[k] = ix[j];
		ix[j] = t;
	}
	for (k = 0; k < s->active;) {
		const float *x = row(s, ix[k], &y);

		if (!step(s, ix[k], x, y)) {
			k++;
			continue;
		}
		t = ix[k];
		ix[k] = ix[--s->active];
		ix[s->active] = t;
	}
}

/* x.x + 1 + D_ii of a row. */
static void init_row(struct dcd *s, uint32_t i, const float *x, float y)
{
	(void)y;
	s->qd[i] = (SPARSE(s) ? g2t_sdot(NULL, &s->srows[i]) : g2t_dot(x, x, (uint32_t)s->features)) +
	           1.0f + s->diag[side_of(s, i)];
}

/* Logistic loss starts from alpha small, where its log is finite, and
 * w = sum alpha y x. */
static void init_lr(struct dcd *s, uint32_t i, const float *x, float y)
{
	float c = s->c[side_of(s, i)], a = 1e-3f * c < 1e-8f ? 1e-3f * c : 1e-8f;

	s->alpha[2u * (size_t)i] = a;
	s->alpha[2u * (size_t)i + 1] = c - a;
	move(s, a * y, i, x);
}

static void unshrink(struct dcd *s)
{
	s->active = s->total;
	s->pgmax_old = BIG;
	s->pgmin_old = -BIG;
}

/* After a hinge pass: whether the projected gradients are within eps; else
 * the next pass's shrinking bounds. */
static int svc_done(struct dcd *s, float eps)
{
	if (s->pgmax - s->pgmin <= eps && fabsf_(s->pgmax) <= eps &&
	    fabsf_(s->pgmin) <= eps) {
		if (s->active == s->total)
			return 1;
		unshrink(s); /* converged on the active set: check every row */
		return 0;
	}
	if (!s->active) { /* nothing left to visit: look at every row again */
		unshrink(s);
		return 0;
	}
	s->pgmax_old = s->pgmax <= 0.0f ? BIG : s->pgmax;
	s->pgmin_old = s->pgmin >= 0.0f ? -BIG : s->pgmin;
	return 0;
}

static void kadd(struct ksum *k, float x)
{
	float y = x - k->carry, t = k->sum + y;

	k->carry = (t - k->sum) - y;
	k->sum = t;
}

/* Rebuilds w = sum alpha y x from the duals, without the rounding the
 * updates gathered, so that the certificate holds for the w it reports. */
static void rebuild_row(struct dcd *s, uint32_t i, const float *x, float y)
{
	float a = LOGISTIC(s) ? s->alpha[2u * (size_t)i] : s->alpha[i];

	if (a != 0.0f)
		move(s, a * y, i, x);
}

/* One row's primal loss term, times its class weight, and its term of the
 * dual (a maximisation): alpha for the hinges, less alpha^2 D_ii / 2 for
 * squared hinge; -(alpha log alpha + (C_i - alpha) log(C_i - alpha)) for
 * logistic loss. */
static void sum_row(struct dcd *s, uint32_t i, const float *x, float y)
{
	int side = side_of(s, i);
	float z = y * decision(s, i, x), l;

	if (LOGISTIC(s)) {
		const float *al = s->alpha + 2u * (size_t)i;

		/* log(1 + e^-z), e^ of a negative number only */
		l = z > 0.0f ? g2t_logf(1.0f + g2t_expf(-z))
		             : g2t_logf(1.0f + g2t_expf(z)) - z;
		kadd(&s->dual, -(al[0] * g2t_logf(al[0]) + al[1] * g2t_logf(al[1])));
	} else {
		float a = s->alpha[i];

		l = z < 1.0f ? 1.0f - z : 0.0f;
		if (s->diag[side] != 0.0f)
			l = l * l;
		kadd(&s->dual, a - 0.5f * a * a * s->diag[side]);
	}
	kadd(&s->loss, G2T_WITH_CLASS_WEIGHTS ? l * s->p->weight[side] : l);
}

static void zero(float *x, size_t n)
{
	while (n--)
		*x++ = 0.0f;
}

/* The certificate of the duals as they stand, from a pass that rebuilds w
 * from them and one that sums the objectives' terms. */
static void certify(struct dcd *s, struct g2t_cert *c)
{
	float ww;

	zero(s->w, s->features + 1);
	s->loss.sum = s->loss.carry = s->dual.sum = s->dual.carry = 0.0f;
	each_row(s, rebuild_row);
	each_row(s, sum_row);
	ww = g2t_dot(s->w, s->w, (uint32_t)s->features + 1);
	c->primal = 0.5f * ww + s->p->cost * s->loss.sum;
	c->dual = s->dual.sum - 0.5f * ww;
	if (LOGISTIC(s)) /* the constant of the dual: sum C_i log C_i */
		c->dual = c->dual + (float)s->n0 * s->c[0] * g2t_logf(s->c[0]) +
		          (float)(s->total - s->n0) * s->c[1] * g2t_logf(s->c[1]);
	c->gap = (c->primal - c->dual) / (c->primal > 0.0f ? c->primal : 1.0f);
}

/*
 * Squared hinge only: the primal problem, solved by Newton's method as
 * LIBLINEAR's -s 2 (its newton.cpp: truncated Newton steps by conjugate
 * gradients preconditioned by the Hessian's diagonal, a backtracking line
 * search), from the w the coordinate steps reached, on a task of at least
 * G2T_DCD_NEWTON_VALUES values that they have not solved in G2T_DCD_NEWTON
 * passes (LIBLINEAR's -s 1 switches the same way after 300 passes, for
 * every task).  It stops at the relative gap G2T_DCD_GAP or at LIBLINEAR's
 * tolerance for that switch, |g| <= 0.01 min(n0, n1) / n |g(0)| (or |g|
 * at the switch, when smaller), the certificate saying how close it is.  The per-row values become
 * each row's margin y (w.x + b) (alpha), its step's y (s.x + s_b) (qd),
 * and the rows with a margin below 1 (index[0 .. active)), those the loss
 * and its derivatives sum over.  The duals alpha_i = 2 C_i (1 - margin)
 * of those rows give a dual objective after every step at no extra cost
 * (the gradient is w less their sum of alpha_i y_i x_i); the certificate
 * takes the larger of it and that of the coordinate steps' duals.
 */
#define NT_CG_EPS 0.5f     /* LIBLINEAR's eps_cg: how far CG solves a step */
#define NT_EPS 0.01f       /* LIBLINEAR's tolerance on the gradient, -s 1 to -s 2 */
#define NT_PCG_MIX 0.01f   /* the preconditioner: 0.99 + 0.01 diag(H) */
#define NT_ARMIJO 0.01f    /* sufficient decrease of the line search */
#define NT_HALVINGS 20     /* the line search's most halvings */

struct newton {
	float *g, *step, *r, *d, *hd, *z, *m; /* NEWTON_VECS vectors of size */
	uint32_t size;                        /* features + 1 */
	float f, dual, wtw;                   /* objective, dual, w.w */
};

#define SQHINGE(s) (G2T_HAS_LOSS(G2T_LOSS_SQHINGE) && (s)->p->loss == G2T_LOSS_SQHINGE)

/* sum C_i max(0, 1 - m_i - a t_i)^2 over the rows, m the margins, t the
 * step's (NULL: 0) */
static float nt_loss(const struct dcd *s, const float *t, float a)
{
	struct ksum k = {0.0f, 0.0f};

	for (uint32_t i = 0; i < s->total; i++) {
		float e = 1.0f - (t ? s->alpha[i] + a * t[i] : s->alpha[i]);

		if (e > 0.0f)
			kadd(&k, s->c[side_of(s, i)] * e * e);
	}
	return k.sum;
}

/* The margins of w in alpha (a pass over the rows), the objective. */
static void nt_margins(struct dcd *s, struct newton *n)
{
	for (uint32_t i = 0; i < s->total; i++) {
		float y;
		const float *x = row(s, i, &y);

		s->alpha[i] = y * decision(s, i, x);
	}
	n->wtw = g2t_dot(s->w, s->w, n->size);
	n->f = nt_loss(s, NULL, 0.0f) + 0.5f * n->wtw;
}

/* The rows with margins below 1, the gradient w - u, u = sum alpha_i y_i
 * x_i over them, and the dual objective at the best multiple t alpha of
 * their alpha: t A - t^2 B, A = sum alpha_i,
 * B = sum alpha_i^2 / (4 C_i) + u.u / 2, at its maximum A^2 / (4 B). */
static void nt_grad(struct dcd *s, struct newton *n)
{
	struct ksum k = {0.0f, 0.0f}, b = {0.0f, 0.0f};
	float *g = n->g, bb;

	zero(g, n->size);
	s->active = 0;
	for (uint32_t i = 0; i < s->total; i++) {
		float y, a;
		const float *x;

		if (s->alpha[i] >= 1.0f)
			continue;
		x = row(s, i, &y);
		a = 2.0f * s->c[side_of(s, i)] * (1.0f - s->alpha[i]);
		s->index[s->active++] = i;
		kadd(&k, a);
		kadd(&b, 0.5f * a * a * s->diag[side_of(s, i)]);
		addv(s, g, a * y, i, x);
	}
	bb = b.sum + 0.5f * g2t_dot(g, g, n->size);
	n->dual = bb > 0.0f ? k.sum * k.sum / (4.0f * bb) : 0.0f;
	for (uint32_t j = 0; j < n->size; j++)
		g[j] = s->w[j] - g[j];
}

/* hd = H d = d + sum 2 C_i (x_i.d) x_i over the rows below margin 1 */
static void nt_hv(struct dcd *s, struct newton *n)
{
	zero(n->hd, n->size);
	for (uint32_t k = 0; k < s->active; k++) {
		uint32_t i = s->index[k];
		float y;
		const float *x = row(s, i, &y);

		addv(s, n->hd, 2.0f * s->c[side_of(s, i)] * dotv(s, n->d, i, x), i, x);
	}
	for (uint32_t j = 0; j < n->size; j++)
		n->hd[j] = n->d[j] + n->hd[j];
}

/* m = 1 - NT_PCG_MIX + NT_PCG_MIX diag(H) */
static void nt_precondition(struct dcd *s, struct newton *n)
{
	float *m = n->m;

	for (uint32_t j = 0; j < n->size; j++)
		m[j] = 1.0f;
	for (uint32_t k = 0; k < s->active; k++) {
		uint32_t i = s->index[k];
		float y, c2 = 2.0f * s->c[side_of(s, i)];
		const float *x = row(s, i, &y);

		if (SPARSE(s)) {
			const struct g2t_srow *q = &s->srows[i];

			for (uint32_t t = 0; t < q->n; t++)
				m[q->index[t]] += c2 * q->value[t] * q->value[t];
		} else {
			for (size_t j = 0; j < s->features; j++)
				m[j] += c2 * x[j] * x[j];
		}
		m[s->features] += c2;
	}
	for (uint32_t j = 0; j < n->size; j++)
		m[j] = (1.0f - NT_PCG_MIX) + NT_PCG_MIX * m[j];
}

static float dot_(const float *a, const float *b, uint32_t n)
{
	return g2t_dot(a, b, n);
}

/* The Newton step by preconditioned conjugate gradients, ended when the
 * quadratic model's last decrease is small against its total (LIBLINEAR's
 * rule). */
static void nt_cg(struct dcd *s, struct newton *n)
{
	uint32_t size = n->size, it, most = size > 5u ? size : 5u, j;
	float ztr, tol, q = 0.0f;

	for (j = 0; j < size; j++) {
		n->step[j] = 0.0f;
		n->r[j] = -n->g[j];
		n->z[j] = n->r[j] / n->m[j];
		n->d[j] = n->z[j];
	}
	ztr = dot_(n->z, n->r, size);
	/* min(eps_cg, |g|_{M^-1}^(1/2)) */
	tol = ztr >= NT_CG_EPS * NT_CG_EPS * NT_CG_EPS * NT_CG_EPS ? NT_CG_EPS
	      : ztr > 0.0f ? g2t_expf(0.25f * g2t_logf(ztr)) : 0.0f;
	for (it = 1; it <= most; it++) {
		float dhd, a, nq, zr, beta;

		nt_hv(s, n);
		dhd = dot_(n->d, n->hd, size);
		if (!(dhd > 1e-16f))
			break;
		a = ztr / dhd;
		for (j = 0; j < size; j++) {
			n->step[j] += a * n->d[j];
			n->r[j] -= a * n->hd[j];
		}
		nq = -0.5f * (dot_(n->step, n->r, size) - dot_(n->step, n->g, size));
		if (!(nq <= 0.0f && nq - q <= 0.0f) || (float)it * (nq - q) >= tol * nq)
			break;
		q = nq;
		for (j = 0; j < size; j++)
			n->z[j] = n->r[j] / n->m[j];
		zr = dot_(n->z, n->r, size);
		beta = zr / ztr;
		for (j = 0; j < size; j++)
			n->d[j] = beta * n->d[j] + n->z[j];
		ztr = zr;
	}
}

/* Backtracking from the full step; whether the objective went down
 * enough (else w stays). */
static int nt_line(struct dcd *s, struct newton *n)
{
	float *t = s->qd, sts, wts, gts, a = 1.0f;
	int k;

	for (uint32_t i = 0; i < s->total; i++) {
		float y;
		const float *x = row(s, i, &y);

		t[i] = y * dotv(s, n->step, i, x);
	}
	sts = dot_(n->step, n->step, n->size);
	wts = dot_(s->w, n->step, n->size);
	gts = dot_(n->g, n->step, n->size);
	for (k = 0; k < NT_HALVINGS; k++, a *= 0.5f) {
		float f = nt_loss(s, t, a) + 0.5f * (a * a * sts + n->wtw) + a * wts;

		if (f - n->f <= NT_ARMIJO * a * gts) {
			n->f = f;
			break;
		}
	}
	if (k == NT_HALVINGS)
		return 0;
	for (uint32_t i = 0; i < s->total; i++)
		s->alpha[i] = s->alpha[i] + a * t[i];
	for (uint32_t j = 0; j < n->size; j++)
		s->w[j] = s->w[j] + a * n->step[j];
	n->wtw = g2t_dot(s->w, s->w, n->size);
	return 1;
}

/* Newton steps from s->w until the relative gap is G2T_DCD_GAP or less,
 * the line search fails, or c->passes reaches the cap; a step counts as a
 * pass.  The certificate is then that of w, from margins computed anew. */
static void newton(struct dcd *s, struct g2t_cert *c)
{
	struct g2t_cert was;
	struct newton n;
	float gap, tol, g0, gs;
	int met;

	/* the duals reached so far: w rebuilt from them, their objective a
	 * lower bound on the optimum too */
	certify(s, &was);
	n.size = (uint32_t)s->features + 1u;
	n.g = s->nv;
	n.step = n.g + n.size;
	n.r = n.step + n.size;
	n.d = n.r + n.size;
	n.hd = n.d + n.size;
	n.z = n.hd + n.size;
	n.m = n.z + n.size;
	/* LIBLINEAR's tolerance, |g| <= eps min(n0, n1) / n |g(0)|, g(0) =
	 * -sum 2 C_i y_i x_i, or the same relative to |g| at the switch
	 * when that is less: at least a step past the passes */
	zero(n.g, n.size);
	for (uint32_t i = 0; i < s->total; i++) {
		float y;
		const float *x = row(s, i, &y);

		addv(s, n.g, -2.0f * s->c[side_of(s, i)] * y, i, x);
	}
	tol = NT_EPS * (float)(s->n0 < s->total - s->n0 ? s->n0 : s->total - s->n0) /
	      (float)s->total;
	tol = tol * tol;
	g0 = g2t_dot(n.g, n.g, n.size);
	nt_margins(s, &n);
	nt_grad(s, &n);
	gs = g2t_dot(n.g, n.g, n.size);
	tol = tol * (gs < g0 ? gs : g0);
	for (;;) {
		n.dual = n.dual > was.dual ? n.dual : was.dual;
		gap = (n.f - n.dual) / (n.f > 0.0f ? n.f : 1.0f);
		met = gap <= G2T_DCD_GAP || g2t_dot(n.g, n.g, n.size) <= tol;
		if (met || c->passes >= s->p->epochs)
			break;
		nt_precondition(s, &n);
		nt_cg(s, &n);
		if (!nt_line(s, &n))
			break;
		c->passes++;

		nt_grad(s, &n);
	}
	nt_margins(s, &n);
	nt_grad(s, &n);
	c->primal = n.f;
	c->dual = n.dual > was.dual ? n.dual : was.dual;
	c->gap = (c->primal - c->dual) / (c->primal > 0.0f ? c->primal : 1.0f);
	c->converged = met;
	s->loss.sum = s->loss.carry = 0.0f;
	for (uint32_t i = 0; i < s->total; i++) {
		float e = 1.0f - s->alpha[i];

		if (e > 0.0f)
			kadd(&s->loss, G2T_WITH_CLASS_WEIGHTS ? e * e * s->p->weight[side_of(s, i)]
			                                      : e * e);
	}
}

static void result(const struct dcd *s, struct g2t_weights *out, uint32_t passes)
{
	g2t_weights_of_task(out, s->task, (uint32_t)s->features, s->total);
	out->rows_seen = (uint64_t)s->total * passes;
	out->epochs = passes;
	for (size_t j = 0; j < s->features; j++)
		out->w[j] = s->w[j];
	out->bias = s->w[s->features];
	out->loss = s->loss.sum / (float)s->total;
}

/* Checks the task and places the state: w first in work, then the rows
 * when dense (`dense` floats), then the per-row values. */
static int dcd_place(struct dcd *s, const struct g2t_task *task, uint32_t features,
                     const uint32_t n[2], float *work, size_t dense)
{
	const struct g2t_params *p = &task->id.params;
	uint8_t *z = (uint8_t *)s;

	if (g2t_params_check(p) || p->algo != G2T_ALGO_DCD || !n[0] || !n[1] || !features)
		return G2T_EPARAM;
	for (size_t i = 0; i < sizeof *s; i++) /* not memset: the core calls nothing */
		z[i] = 0;
	s->task = task;
	s->p = p;
	s->features = features;
	s->n0 = n[0];
	s->total = n[0] + n[1];
	s->w = work;
	s->qd = work + features + 1 + dense;
	s->index = (uint32_t *)(void *)(s->qd + s->total);
	s->alpha = (float *)(void *)(s->index + s->total);
	s->nv = s->alpha + s->total * (LOGISTIC(s) ? 2u : 1u);
	return G2T_OK;
}

/* Sets up the state over the rows read: w 0, alpha 0 (logistic: small,
 * where its log is finite). */
static void dcd_init(struct dcd *s)
{
	const struct g2t_params *p = s->p;
	const struct g2t_task *task = s->task;

	for (int k = 0; k < 2; k++) {
		s->c[k] = G2T_WITH_CLASS_WEIGHTS ? p->cost * p->weight[k] : p->cost;
		s->upper[k] = s->c[k];
		if (G2T_HAS_LOSS(G2T_LOSS_SQHINGE) && p->loss == G2T_LOSS_SQHINGE) {
			s->diag[k] = 0.5f / s->c[k];
			s->upper[k] = -1.0f;
		}
	}
	unshrink(s);
	s->inner_eps = 1e-2f;
	s->rng = p->seed * 0x9e3779b9u ^ task->id.task;
	zero(s->w, s->features + 1);
	zero(s->alpha, (size_t)s->total * (LOGISTIC(s) ? 2u : 1u));
	for (uint32_t i = 0; i < s->total; i++)
		s->index[i] = i;
	each_row(s, init_row);
	if (LOGISTIC(s))
		each_row(s, init_lr);
}

/* One pass of coordinate steps; whether the tolerance eps is met. */
static int step_pass(struct dcd *s, float eps)
{
	s->pgmax = -BIG;
	s->pgmin = BIG;
	if (!LOGISTIC(s)) {
		step_rows(s, svc_step);
		return svc_done(s, eps);
	}
	s->pgmax = 0.0f;
	s->newton = 0;
	step_rows(s, lr_step);
	if (s->newton <= s->total / 10u) /* the Newton steps were cheap: finer */
		s->inner_eps = s->inner_eps * 0.1f > G2T_DCD_INNER_EPS
		               ? s->inner_eps * 0.1f : G2T_DCD_INNER_EPS;
	return s->pgmax < eps;
}

/* Solves over the rows in place, from the start. */
static void dcd_solve(struct dcd *s, struct g2t_weights *out, struct g2t_cert *cert)
{
	struct g2t_cert c;
	float eps = G2T_DCD_EPS;
	int met;

	dcd_init(s);
	c.passes = 0;
	c.converged = 0;
	while (!c.converged && c.passes < s->p->epochs) {
		if (SQHINGE(s) && c.passes >= G2T_DCD_NEWTON &&
		    (uint64_t)s->total * (s->features + 1u) >= G2T_DCD_NEWTON_VALUES) {
			newton(s, &c);
			break;
		}
		met = step_pass(s, eps);
		c.passes++;
		if (!met && c.passes < s->p->epochs)
			continue;
		/* within tolerance, or the last pass: how far from the optimum */
		certify(s, &c);
		c.converged = c.gap <= G2T_DCD_GAP || (met && eps < 2.0f * G2T_DCD_EPS_MIN);
		eps = eps * 0.1f;
		if (!LOGISTIC(s))
			unshrink(s);
	}
	result(s, out, c.passes);
	if (cert)
		*cert = c;
}

int g2t_dcd_train(const struct g2t_task *task, uint32_t features, const uint32_t n[2],
                  g2t_row_reader read, void *ctx, float *work,
                  struct g2t_weights *out, struct g2t_cert *cert)
{
	struct dcd s;
	size_t at1 = (size_t)n[0] * features; /* class b's rows */
	int rc = dcd_place(&s, task, features, n, work, at1 + (size_t)n[1] * features);

	if (rc)
		return rc;
	s.rows[0] = work + features + 1;
	s.rows[1] = s.rows[0] + at1;
	if ((rc = read(ctx, 0, 0, n[0], work + features + 1)) ||
	    (rc = read(ctx, 1, 0, n[1], work + features + 1 + at1)))
		return rc;
	dcd_solve(&s, out, cert);
	return G2T_OK;
}

int g2t_dcd_train_sparse(const struct g2t_task *task, uint32_t features,
                         const uint32_t n[2], g2t_srow_reader read, void *ctx,
                         float *work, struct g2t_srow *rows,
                         struct g2t_weights *out, struct g2t_cert *cert)
{
	struct dcd s;
	int rc = G2T_WITH_SPARSE_ROWS ? dcd_place(&s, task, features, n, work, 0) : G2T_EPARAM;

	if (rc)
		return rc;
	s.srows = rows;
	if ((rc = read(ctx, 0, 0, n[0], rows)) || (rc = read(ctx, 1, 0, n[1], rows + n[0])))
		return rc;
	dcd_solve(&s, out, cert);
	return G2T_OK;
}
