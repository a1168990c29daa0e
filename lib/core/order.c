/* The row order of training: affine permutations driven by splitmix32. */
#include "g2t_core.h"

static uint32_t rng_next(uint32_t *s)
{
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

void g2t_order_init(struct g2t_order *o, const uint32_t n[2], uint32_t block,
                    uint32_t seed)
{
	uint8_t *z = (uint8_t *)o;

	for (size_t i = 0; i < sizeof *o; i++) /* not memset: the core calls nothing */
		z[i] = 0;
	for (int i = 0; i < 2; i++) {
		o->side[i].rows = n[i];
		o->side[i].block = block;
		o->side[i].blocks = (n[i] + block - 1) / block;
	}
	o->rng = seed;
}

void g2t_order_epoch(struct g2t_order *o)
{
	for (int i = 0; i < 2; i++) {
		struct g2t_order_side *f = &o->side[i];

		f->bstep = coprime_step(f->blocks, &o->rng);
		f->bpos = rng_next(&o->rng) % f->blocks;
		f->taken = f->count; /* the next row starts the epoch's first block */
	}
	o->lead = o->side[0].rows - 1;
}

/* Moves a side to its next block; whether that block must be loaded. */
static int next_block(struct g2t_order_side *f, uint32_t *rng)
{
	uint32_t first = f->bpos * f->block, r;
	int load = !f->loaded || first != f->first;

	if (load) {
		f->first = first;
		f->count = f->rows - first < f->block ? f->rows - first : f->block;
		f->loaded = 1;
	}
	f->bpos += f->bstep;
	if (f->bpos >= f->blocks)
		f->bpos -= f->blocks;
	f->rstep = coprime_step(f->count, rng);
	r = rng_next(rng);
	f->rpos = f->count == 1 ? 0 : r % f->count; /* no division for block 1 */
	f->taken = 0;
	return load;
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

	*side = o->lead >= o->side[0].rows;
	if (*side)
		o->lead -= o->side[0].rows;
	else
		o->lead += o->side[1].rows;
	f = &o->side[*side];
	*load = f->taken == f->count ? next_block(f, &o->rng) : 0;
	*index = f->rpos;
	f->rpos += f->rstep;
	if (f->rpos >= f->count)
		f->rpos -= f->count;
	f->taken++;
}
