/* The exact solver's Newton phase (squared hinge, large tasks), here on a
 * small task: dcd.c built again with the switch after 2 passes for any
 * task, its entry points renamed, beside the library's, which solves the
 * same task by coordinate steps alone. */
#define G2T_DCD_NEWTON 2u
#define G2T_DCD_NEWTON_VALUES 1u
#define g2t_dcd_work_floats nt_dcd_work_floats
#define g2t_dcd_sparse_work_floats nt_dcd_sparse_work_floats
#define g2t_dcd_train nt_dcd_train
#define g2t_dcd_train_sparse nt_dcd_train_sparse
#include "../../lib/core/dcd.c"
#undef g2t_dcd_work_floats
#undef g2t_dcd_sparse_work_floats
#undef g2t_dcd_train
#undef g2t_dcd_train_sparse
/* the library's, which g2t_core.h declared under the new names */
size_t g2t_dcd_work_floats(uint32_t features, const uint32_t n[2], uint32_t loss);
int g2t_dcd_train(const struct g2t_task *task, uint32_t features, const uint32_t n[2],
                  g2t_row_reader read, void *ctx, float *work,
                  struct g2t_weights *out, struct g2t_cert *cert);

#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "g2t.h"

#define ROWS 1500 /* a side */
#define F 24

static float data[2][ROWS][F];
static uint32_t nz_index[2][ROWS][F];
static float nz_value[2][ROWS][F];

/* Two overlapping classes in [0, 1]^F, a third of the values 0. */
static void make_rows(void)
{
	uint32_t st = 12345u;

	for (int s = 0; s < 2; s++)
		for (int i = 0; i < ROWS; i++)
			for (int j = 0; j < F; j++) {
				float u = (float)((st = st * 1664525u + 1013904223u) >> 8) / 16777216.0f;
				float v = 0.5f * u + (s ? 0.3f : 0.2f) * (float)(j % 3);

				data[s][i][j] = j % 3 == 0 && u < 0.5f ? 0.0f : v > 1.0f ? 1.0f : v;
			}
}

static int dense_rows(void *ctx, int side, uint32_t first, uint32_t count, float *out)
{
	(void)ctx;
	memcpy(out, data[side][first], (size_t)count * F * sizeof *out);
	return G2T_OK;
}

static int sparse_rows(void *ctx, int side, uint32_t first, uint32_t count,
                       struct g2t_srow *out)
{
	(void)ctx;
	for (uint32_t i = 0; i < count; i++) {
		uint32_t r = first + i, k = 0;

		for (uint32_t j = 0; j < F; j++)
			if (data[side][r][j] != 0.0f) {
				nz_index[side][r][k] = j;
				nz_value[side][r][k++] = data[side][r][j];
			}
		out[i].n = k;
		out[i].index = nz_index[side][r];
		out[i].value = nz_value[side][r];
	}
	return G2T_OK;
}

int main(void)
{
	static struct g2t_srow rows[2 * ROWS];
	uint32_t n[2] = { ROWS, ROWS };
	size_t need = nt_dcd_work_floats(F, n, G2T_LOSS_SQHINGE);
	float *work = malloc(need * sizeof *work), w_ref[F], w[F], w2[F], w3[F];
	struct g2t_task task = { .token_len = 0 };
	struct g2t_weights ref = { .w = w_ref }, out = { .w = w }, again = { .w = w2 },
	                   sparse = { .w = w3 };
	struct g2t_cert cr, c, c2, c3;
	float slack;

	make_rows();
	g2t_params_default(&task.id.params);
	task.id.class_b = 1;
	task.id.params.algo = G2T_ALGO_DCD;
	task.id.params.loss = G2T_LOSS_SQHINGE;
	task.id.params.epochs = 1000;
	CHECK(work && need == g2t_dcd_work_floats(F, n, G2T_LOSS_SQHINGE) &&
	      need == g2t_dcd_work_floats(F, n, G2T_LOSS_HINGE) + 7u * (F + 1u),
	      "the work holds the Newton vectors");
	CHECK(g2t_dcd_train(&task, F, n, dense_rows, NULL, work, &ref, &cr) == G2T_OK &&
	      cr.converged && cr.gap <= G2T_DCD_GAP && cr.passes > 2,
	      "coordinate steps alone: a certificate (primal %g, gap %g, %u passes)",
	      (double)cr.primal, (double)cr.gap, cr.passes);
	CHECK(nt_dcd_train(&task, F, n, dense_rows, NULL, work, &out, &c) == G2T_OK &&
	      c.converged && c.passes > 2 && c.passes < cr.passes,
	      "Newton after 2 passes stops by its tolerance (%u passes, primal %g, dual %g)",
	      c.passes, (double)c.primal, (double)c.dual);
	/* both certificates bracket the one optimum */
	slack = 1e-5f * cr.primal;
	CHECK(c.dual <= c.primal && c.dual <= cr.primal + slack && cr.dual <= c.primal + slack,
	      "the certificates agree: Newton's [%g, %g], coordinate steps' [%g, %g]",
	      (double)c.dual, (double)c.primal, (double)cr.dual, (double)cr.primal);
	CHECK(c.primal <= cr.primal * 1.01f,
	      "Newton's primal within 1 %% of the optimum (%g, optimum <= %g)",
	      (double)c.primal, (double)cr.primal);
	nt_dcd_train(&task, F, n, dense_rows, NULL, work, &again, &c2);
	CHECK(!memcmp(w, w2, sizeof w) && again.bias == out.bias && c2.primal == c.primal &&
	      c2.passes == c.passes, "Newton: the same task gives the same bits");
	CHECK(nt_dcd_train_sparse(&task, F, n, sparse_rows, NULL, work, rows, &sparse, &c3) ==
	      G2T_OK && !memcmp(w, w3, sizeof w) && sparse.bias == out.bias &&
	      c3.primal == c.primal, "Newton over sparse rows: the bits of dense rows");
	free(work);
	return check_done();
}
