/*
 * Probabilities as LIBSVM's -b 1 gives them: a sigmoid per binary task
 * fitted to held-out decision values (Platt 2000, with the numerically
 * robust Newton method of Lin, Lin and Weng, MLJ 2007), and the K class
 * probabilities from the pairwise ones by coupling (Wu, Lin and Weng, JMLR
 * 2004, method 2).  binary64 arithmetic with the C library's exp and log.
 */
#include <math.h>
#include <stdlib.h>

#include "g2t.h"

#define NEWTON_MAX 100
#define STEP_MIN 1e-10
#define SIGMA 1e-12 /* added to the Hessian's diagonal */
#define NEWTON_EPS 1e-5

/* -log P of the targets t under (A, B): the objective, computed without
 * overflow on either side of 0. */
static double objective(const double *dec, const double *t, size_t n, double a, double b)
{
	double f = 0;

	for (size_t i = 0; i < n; i++) {
		double z = dec[i] * a + b;

		f += z >= 0 ? t[i] * z + log1p(exp(-z)) : (t[i] - 1) * z + log1p(exp(z));
	}
	return f;
}

int g2t_sigmoid_fit(const double *dec, const int8_t *y, size_t n, double ab[2])
{
	double *t = malloc(n * sizeof *t), pos = 0, neg = 0, hi, lo, f;

	if (!t)
		return G2T_ENOMEM;
	for (size_t i = 0; i < n; i++)
		y[i] > 0 ? pos++ : neg++;
	/* Platt's targets, not 0 and 1: a prior that keeps A and B finite */
	hi = (pos + 1) / (pos + 2);
	lo = 1 / (neg + 2);
	for (size_t i = 0; i < n; i++)
		t[i] = y[i] > 0 ? hi : lo;
	ab[0] = 0;
	ab[1] = log((neg + 1) / (pos + 1));
	f = objective(dec, t, n, ab[0], ab[1]);
	for (int it = 0; it < NEWTON_MAX; it++) {
		double h11 = SIGMA, h22 = SIGMA, h21 = 0, g1 = 0, g2 = 0, det, da, db, gd, step;

		for (size_t i = 0; i < n; i++) {
			double z = dec[i] * ab[0] + ab[1];
			/* p = 1 / (1 + e^z) and 1 - p, each without cancellation */
			double p = z >= 0 ? exp(-z) / (1 + exp(-z)) : 1 / (1 + exp(z));
			double q = z >= 0 ? 1 / (1 + exp(-z)) : exp(z) / (1 + exp(z));
			double d2 = p * q, d1 = t[i] - p;

			h11 += dec[i] * dec[i] * d2;
			h22 += d2;
			h21 += dec[i] * d2;
			g1 += dec[i] * d1;
			g2 += d1;
		}
		if (fabs(g1) < NEWTON_EPS && fabs(g2) < NEWTON_EPS)
			break;
		det = h11 * h22 - h21 * h21;
		da = -(h22 * g1 - h21 * g2) / det;
		db = -(-h21 * g1 + h11 * g2) / det;
		gd = g1 * da + g2 * db;
		for (step = 1; step >= STEP_MIN; step /= 2) { /* backtracking */
			double fa = objective(dec, t, n, ab[0] + step * da, ab[1] + step * db);

			if (fa < f + 1e-4 * step * gd) {
				ab[0] += step * da;
				ab[1] += step * db;
				f = fa;
				break;
			}
		}
		if (step < STEP_MIN)
			break; /* no step decreases the objective enough */
	}
	free(t);
	return G2T_OK;
}

double g2t_sigmoid(double z, const float ab[2])
{
	double f = z * ab[0] + ab[1];

	return f >= 0 ? exp(-f) / (1 + exp(-f)) : 1 / (1 + exp(f));
}

void g2t_couple(uint32_t k, const double *r, double *p, double *work)
{
	double *q = work, *qp = work + (size_t)k * k, eps = 0.005 / k;
	int iter, max_iter = k > 100 ? (int)k : 100;

	/* Q[t][t] = sum_j r_jt^2, Q[t][j] = -r_jt r_tj */
	for (uint32_t t = 0; t < k; t++) {
		p[t] = 1.0 / k;
		q[t * k + t] = 0;
		for (uint32_t j = 0; j < k; j++)
			if (j != t) {
				q[t * k + t] += r[j * k + t] * r[j * k + t];
				q[t * k + j] = -r[j * k + t] * r[t * k + j];
			}
	}
	for (iter = 0; iter < max_iter; iter++) {
		double pqp = 0, max_err = 0;

		for (uint32_t t = 0; t < k; t++) {
			qp[t] = 0;
			for (uint32_t j = 0; j < k; j++)
				qp[t] += q[t * k + j] * p[j];
			pqp += p[t] * qp[t];
		}
		for (uint32_t t = 0; t < k; t++)
			if (fabs(qp[t] - pqp) > max_err)
				max_err = fabs(qp[t] - pqp);
		if (max_err < eps)
			break;
		for (uint32_t t = 0; t < k; t++) {
			double diff = (-qp[t] + pqp) / q[t * k + t];

			p[t] += diff;
			pqp = (pqp + diff * (diff * q[t * k + t] + 2 * qp[t])) / (1 + diff) / (1 + diff);
			for (uint32_t j = 0; j < k; j++) {
				qp[j] = (qp[j] + diff * q[t * k + j]) / (1 + diff);
				p[j] /= 1 + diff;
			}
		}
	}
}
