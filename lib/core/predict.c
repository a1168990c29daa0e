/* One-vs-one voting and the decision DAG. */
#include "g2t_core.h"

uint32_t g2t_pair_index(uint32_t classes, uint32_t a, uint32_t b)
{
	return a * classes - a * (a + 1) / 2 + (b - a - 1);
}

void g2t_pair_classes(uint32_t classes, uint32_t index, uint32_t *a, uint32_t *b)
{
	uint32_t row = classes - 1;

	*a = 0;
	while (index >= row) {
		index -= row--;
		++*a;
	}
	*b = *a + 1 + index;
}

static float decision(const float *w, uint32_t features, uint32_t pair,
                      const float *x)
{
	const float *wp = w + (size_t)pair * (features + 1);

	return g2t_dot(wp, x, features) + wp[features];
}

uint32_t g2t_ovo_predict(const float *w, const uint8_t *present,
                         uint32_t classes, uint32_t features, const float *x,
                         uint32_t *votes, float *margin)
{
	uint32_t a, b, p = 0, best = 0;

	for (a = 0; a < classes; a++) {
		votes[a] = 0;
		margin[a] = 0.0f;
	}
	for (a = 0; a < classes; a++) {
		for (b = a + 1; b < classes; b++, p++) {
			float d;

			if (present && !present[p])
				continue;
			d = decision(w, features, p, x);
			votes[d > 0.0f ? a : b]++;
			margin[a] += d;
			margin[b] -= d;
		}
	}
	for (a = 1; a < classes; a++)
		if (votes[a] > votes[best] ||
		    (votes[a] == votes[best] && margin[a] > margin[best]))
			best = a;
	return best;
}

uint32_t g2t_ddag_predict(const float *w, const uint8_t *present,
                          uint32_t classes, uint32_t features, const float *x)
{
	uint32_t lo = 0, hi = classes - 1;

	while (lo < hi) {
		uint32_t p = g2t_pair_index(classes, lo, hi);

		if ((present && !present[p]) || decision(w, features, p, x) > 0.0f)
			hi--;
		else
			lo++;
	}
	return lo;
}
