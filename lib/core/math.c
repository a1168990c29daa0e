/* Float helpers with one result on every target: no libm, no contraction. */
#include "g2t_core.h"

/* g2t_dot()'s pairwise sum of its eight partial sums */
static inline float pairwise(const float s[8])
{
	return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}

float g2t_dot(const float *a, const float *b, uint32_t n)
{
	float s[8];
	size_t i, m = n & ~(size_t)7;

	for (i = 0; i < 8; i++) /* not "= { 0 }": that can become a memset call */
		s[i] = 0.0f;
#if defined(G2T_SMALL) || defined(__AVR__)
	/* Small code: the same products into the same sums in the same order
	 * as below, so the same bits. */
	(void)m;
	for (i = 0; i < n; i++)
		s[i & 7] += a[i] * b[i];
	/* pairwise(), as a loop */
	for (i = 1; i < 8; i += i)
		for (float *t = s; t < s + 8; t += 2 * i)
			*t += t[i];
	return s[0];
#else
	/* eight independent sums: vectorisable, and the order never changes */
	for (i = 0; i < m; i += 8) {
		s[0] += a[i] * b[i];
		s[1] += a[i + 1] * b[i + 1];
		s[2] += a[i + 2] * b[i + 2];
		s[3] += a[i + 3] * b[i + 3];
		s[4] += a[i + 4] * b[i + 4];
		s[5] += a[i + 5] * b[i + 5];
		s[6] += a[i + 6] * b[i + 6];
		s[7] += a[i + 7] * b[i + 7];
	}
	for (; i < n; i++)
		s[i - m] += a[i] * b[i];
	return pairwise(s);
#endif
}

#if G2T_WITH_SPARSE_ROWS /* else pairwise() has one caller, and is inlined */
float g2t_sdot(const float *w, const struct g2t_srow *x)
{
	float s[8];
	uint32_t k;

	for (k = 0; k < 8; k++)
		s[k] = 0.0f;
	for (k = 0; k < x->n; k++) {
		uint32_t j = x->index[k];

		s[j & 7] += (w ? w[j] : x->value[k]) * x->value[k];
	}
	return pairwise(s);
}
#endif

static float bits_to_float(uint32_t u)
{
	union { uint32_t u; float f; } v = { u };
	return v.f;
}

static uint32_t float_to_bits(float f)
{
	union { float f; uint32_t u; } v = { f };
	return v.u;
}

float g2t_expf(float x)
{
	float k, r, p;
	int32_t n;

	if (x != x)
		return x;
	if (x > 88.0f)
		return bits_to_float(0x7f800000u);
	if (x < -87.0f)
		return 0.0f;
	/* x = n ln2 + r, |r| <= ln2/2; ln2 split in two for exact reduction */
	k = x * 1.44269504f;
	n = (int32_t)(k + (k >= 0.0f ? 0.5f : -0.5f));
	r = (x - (float)n * 0.693145752f) - (float)n * 1.42860677e-6f;
	p = 1.0f + r * (1.0f + r * (0.5f + r * (0.166666672f + r * (0.0416666418f +
	    r * (0.00833336823f + r * 0.00138889f)))));
	return p * bits_to_float((uint32_t)(n + 127) << 23);
}

/* Natural log for x > 0: x = m 2^e with m in [sqrt(1/2), sqrt(2)). */
float g2t_logf(float x)
{
	uint32_t u = float_to_bits(x);
	int32_t e;
	float m, s, s2;

	if (!(x > 0.0f))
		return x == 0.0f ? bits_to_float(0xff800000u) : bits_to_float(0x7fc00000u);
	if (u >= 0x7f800000u)
		return x;
	if (u < 0x00800000u) { /* subnormal: scale into the normal range */
		x *= 8388608.0f;
		u = float_to_bits(x);
		e = -23;
	} else {
		e = 0;
	}
	e += (int32_t)(u >> 23) - 127;
	m = bits_to_float((u & 0x007fffffu) | 0x3f800000u);
	if (m > 1.41421356f) {
		m *= 0.5f;
		e++;
	}
	/* log m = 2 atanh(s), s = (m-1)/(m+1), |s| < 0.1716 */
	s = (m - 1.0f) / (m + 1.0f);
	s2 = s * s;
	return 2.0f * s * (1.0f + s2 * (0.333333343f + s2 * (0.2f + s2 * (0.142857149f +
	       s2 * 0.111111112f)))) + (float)e * 0.693147182f;
}
