/*
 * predict: the class of every row of a CSV file, with libg2t-predict.
 *
 *   cc predict.c $(pkg-config --cflags --libs g2t-predict) -o predict
 *   ./predict MODEL FILE.csv
 *
 * The file's columns are the model's features in their order, with or
 * without the label column the model was trained on.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <g2t.h>

int main(int argc, char **argv)
{
	struct g2t_diag d = { 0, -1, "" };
	struct g2t_model *m = NULL;
	struct g2t_text *t = NULL;
	struct g2t_text_opts o = { .delimiter = ',', .label_optional = 1 };
	struct g2t_row r;
	float *x;
	int rc;

	if (argc != 3) {
		fputs("usage: predict MODEL FILE.csv\n", stderr);
		return 2;
	}
	if ((rc = g2t_model_load(&m, argv[1], &d))) {
		fprintf(stderr, "predict: %s: %s\n", argv[1], d.what[0] ? d.what : g2t_strerror(rc));
		return 1;
	}
	o.label = m->schema->label;
	x = malloc(m->features * sizeof *x);
	if (!x || (rc = g2t_text_open(&t, argv[2], &o, &d)))
		goto done;
	while ((rc = g2t_text_next(t, &r, &d)) == 1) {
		long k;

		if (r.n != m->features) {
			rc = g2t_fail(&d, G2T_EDATA, r.line, -1, "%u values, the model has %u features",
			              r.n, m->features);
			break;
		}
		memcpy(x, r.value, m->features * sizeof *x);
		if ((k = g2t_model_predict(m, x)) < 0) {
			rc = G2T_ENOMEM;
			break;
		}
		printf("%s\n", m->schema->klass[k]);
	}
done:
	if (rc)
		fprintf(stderr, "predict: %s: %s\n", argv[2], d.what[0] ? d.what : g2t_strerror(rc));
	g2t_text_free(t);
	g2t_model_free(m);
	free(x);
	return rc ? 1 : 0;
}
