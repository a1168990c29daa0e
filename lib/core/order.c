/* The row order of training: affine permutations driven by splitmix32. */
#include "g2t_core.h"

static uint32_t rng_next(uint32_t *s)
{
	uint32_t z = (*s += 0x9e3779b9u);

	z = (z ^ (z >> 16)) * 0x85ebca6bu;
	z = (z ^ (z >> 13)) * 0xc2b2ae35u;
	return z ^ (z >> 16);
}

/* The next random number modulo n >= 1 (no division when n is 1). */
static uint32_t rng_below(uint32_t *s, uint32_t n)
{
	uint32_t r = rng_next(s);

	return n == 1 ? 0 : r % n;
}

/* (a + b) mod n for a, b < n. */
static inline uint32_t add_mod(uint32_t a, uint32_t b, uint32_t n)
{
	a += b;
	return a >= n ? a - n : a;
}

/*
 * A step coprime to n in [1, n): i -> (i * step + start) mod n permutes.
 * From a random s in [1, n), the first of s, s + 1, ..., n - 1, 1, 2, ...
 * that is coprime to n.
 */
static uint32_t coprime_step(uint32_t n, uint32_t *rng)
{
	uint32_t s, a, b;

	if (n <= 2)
		return 1;
	s = rng_next(rng);
	do {
		s = 1 + s % (n - 1); /* the first time random, then the next one */
		for (a = n, b = s; b;) { /* a = gcd(n, s) */
			uint32_t r = a % b;
			a = b;
			b = r;
		}
	} while (a != 1);
	return s;
}

void g2t_order_init(struct g2t_order *o, const uint32_t n[2], uint32_t block,
                    uint32_t seed)
{
	uint8_t *z = (uint8_t *)o;

	for (size_t i = 0; i < sizeof *o; i++) /* not memset: the core calls nothing */
		z[i] = 0;
	for (int i = 0; i < 2; i++) {
		struct g2t_order_side *f = &o->side[i];

		f->rows = n[i];
		f->block = block;
		f->blocks = (n[i] + block - 1) / block;
		f->first = 0xffffffffu; /* no block loaded */
	}
	o->rng = seed;
}

void g2t_order_epoch(struct g2t_order *o)
{
	for (int i = 0; i < 2; i++) {
		struct g2t_order_side *f = &o->side[i];

		f->bstep = coprime_step(f->blocks, &o->rng);
		f->bpos = rng_below(&o->rng, f->blocks);
		f->left = 0; /* the next row starts the epoch's first block */
	}
	o->lead = o->side[0].rows - 1;
}

/*
 * The classes interleave in proportion to their sizes: with d0 and d1 rows
 * of each visited, class a comes next when d0 n1 <= d1 n0.  o->lead keeps
 * d0 n1 - d1 n0 + n0 - 1, which that rule holds in [0, n0 + n1), so the
 * test needs neither products nor 64 bits.
 */
void g2t_order_next(struct g2t_order *o, int *side, uint32_t *index, int *load)
{
	struct g2t_order_side *f;
	uint32_t n0 = o->side[0].rows;
	int s = o->lead >= n0;

	if (s)
		o->lead -= n0;
	else
		o->lead += o->side[1].rows;
	*side = s;
	f = &o->side[s];
	*load = 0;
	if (!f->left) { /* the side's next block; whether it must be loaded */
		uint32_t first = f->bpos * f->block;

		if (first != f->first) {
			*load = 1;
			f->first = first;
			f->count = f->rows - first < f->block ? f->rows - first : f->block;
		}
		f->bpos = add_mod(f->bpos, f->bstep, f->blocks);
		f->rstep = coprime_step(f->count, &o->rng);
		f->rpos = rng_below(&o->rng, f->count);
		f->left = f->count;
	}
	*index = f->rpos;
	f->rpos = add_mod(f->rpos, f->rstep, f->count);
	f->left--;
}
