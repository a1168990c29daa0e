/*
 * g2t_fixed.h - integer training of a G2T task for microcontrollers without
 * a floating-point unit.  Freestanding like lib/core: caller buffers, no
 * malloc, no libm.
 *
 * It trains the same model as g2t_train() with hinge loss and averaged SGD
 * (the default parameters) over the same rows in the same order, but in
 * fixed point: rows stay as the bytes of a uint8 SHARD, weights are 32-bit
 * integers in units of 2^-G2T_FIXED_SHIFT, every step is integer
 * arithmetic, so the result is the same on every target.  The differences
 * from g2t_train(): the learning rate and the L2 shrink change every
 * G2T_FIXED_PERIOD steps instead of every step; decision values use the
 * weights rounded down to 2^-21 (a byte unit); a weight saturates at
 * +-0.5 a byte unit (+-127.5 with g2t-split's step of 1/255).  Floating
 * point is used only to set the rates and to turn the result into a
 * g2t_weights, whose values are close to, not equal to, g2t_train()'s.
 *
 * On a Cortex-M0 a row of 64 features costs about 950 instructions, 26
 * times fewer than g2t_train() in soft float.
 */
#ifndef G2T_FIXED_H
#define G2T_FIXED_H

#include "g2t_core.h"

#define G2T_FIXED_SHIFT 28  /* weights: V * 2^-28 per byte unit */
#define G2T_FIXED_PERIOD 128 /* steps between rate and L2 updates */

/* Gives `count` rows of side `side` from row `first`, as the SHARD's bytes
 * (features bytes a row): either copies them into buf and returns buf, or
 * returns where they already are in addressable memory (no copy: rows in
 * RAM or memory-mapped flash), valid until the next call for that side.
 * NULL is an I/O error. */
typedef const uint8_t *(*g2t_fixed_reader)(void *ctx, int side, uint32_t first,
                                           uint32_t count, uint8_t *buf);

/* Bytes of working memory (8-byte aligned) for `block` rows per side. */
size_t g2t_fixed_work_bytes(uint32_t features, uint32_t block);

/*
 * Trains task over n[0] rows of class a and n[1] rows of class b, both in
 * uint8 encoding with lo 0 and the given step (shard header field).
 * Hinge loss, averaged SGD, l1 0 only; anything else is G2T_EPARAM.
 */
int g2t_fixed_train(const struct g2t_task *task, uint32_t features, float step,
                    const uint32_t n[2], g2t_fixed_reader read, void *ctx,
                    void *work, uint32_t block, struct g2t_weights *out);

#endif
