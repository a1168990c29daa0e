/* Models: loading one, and predicting with it over text data. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "g2t.h"

void g2t_model_free(struct g2t_model *m)
{
	if (!m)
		return;
	g2t_schema_free(m->schema);
	free(m->present);
	free(m->w);
	free(m->sigmoid);
	free(m);
}

static int decode_model(struct g2t_model *m, const struct g2t_rec *r, struct g2t_diag *d)
{
	const uint8_t *p = r->payload;
	uint64_t need;
	uint32_t K, F, P;

	if (r->length < G2T_HASH_SIZE + 12)
		return g2t_fail(d, G2T_EFORMAT, 0, r->offset, "bad MODEL record");
	K = g2t_get_u32(p + 32);
	F = g2t_get_u32(p + 36);
	P = g2t_get_u32(p + 40);
	if (!m->schema || memcmp(p, m->schema->id, G2T_HASH_SIZE) ||
	    K != m->schema->classes || F != m->schema->features)
		return g2t_fail(d, G2T_ESCHEMA, 0, r->offset,
		                "MODEL record does not match the SCHEMA before it");
	need = G2T_HASH_SIZE + 12 + (uint64_t)P + (uint64_t)P * (F + 1) * 4;
	/* the sigmoids follow when the payload has room for them */
	if (P != K * (K - 1) / 2 || (r->length != need && r->length != need + 8 * (uint64_t)P))
		return g2t_fail(d, G2T_EFORMAT, 0, r->offset, "bad MODEL record");
	m->classes = K;
	m->features = F;
	m->pairs = P;
	m->present = malloc(P);
	m->w = malloc((size_t)P * (F + 1) * sizeof *m->w);
	if (!m->present || !m->w)
		return G2T_ENOMEM;
	memcpy(m->present, p + 44, P);
	p += 44 + P;
	for (size_t i = 0; i < (size_t)P * (F + 1); i++)
		m->w[i] = g2t_get_f32(p + 4 * i);
	/* a NaN would vote silently: refuse it, at its byte */
	need = g2t_nonfinite(m->w, (size_t)P * (F + 1));
	if (need < (uint64_t)P * (F + 1))
		return g2t_fail(d, G2T_EDATA, 0, r->offset + G2T_HEADER_SIZE + 44 + P +
		                (long long)need * 4, "MODEL value of task %llu is not finite "
		                "(NaN or infinity)", (unsigned long long)(need / (F + 1)));
	if (r->length == 44 + P + (uint64_t)P * (F + 1) * 4)
		return G2T_OK;
	p += (size_t)P * (F + 1) * 4;
	if (!(m->sigmoid = malloc(2 * (size_t)P * sizeof *m->sigmoid)))
		return G2T_ENOMEM;
	for (size_t i = 0; i < 2 * (size_t)P; i++)
		m->sigmoid[i] = g2t_get_f32(p + 4 * i);
	need = g2t_nonfinite(m->sigmoid, 2 * (size_t)P);
	if (need < 2 * (uint64_t)P)
		return g2t_fail(d, G2T_EDATA, 0, r->offset + G2T_HEADER_SIZE + 44 + P +
		                (long long)P * (F + 1) * 4 + (long long)need * 4, "MODEL "
		                "sigmoid of task %llu is not finite (NaN or infinity)",
		                (unsigned long long)(need / 2));
	return G2T_OK;
}

int g2t_model_load(struct g2t_model **out, const char *path, struct g2t_diag *d)
{
	struct g2t_model *m = calloc(1, sizeof *m);
	struct g2t_in *in = NULL;
	struct g2t_rec r;
	int rc;

	*out = NULL;
	if (!m)
		return G2T_ENOMEM;
	if ((rc = g2t_in_open(&in, path, 0, d)))
		goto fail;
	while (!m->w && (rc = g2t_in_next(in, &r, d)) == 1) {
		if (r.type == G2T_REC_SCHEMA && !m->schema &&
		    (rc = g2t_schema_read(&m->schema, r.payload, r.length, d)))
			rc = rc == G2T_ENOMEM ? rc : g2t_fail(d, rc, 0, r.offset,
			                                      "bad SCHEMA record: %s", d->what);
		else if (r.type == G2T_REC_MODEL)
			rc = decode_model(m, &r, d);
		else
			rc = G2T_OK;
		if (rc)
			goto fail;
	}
	if (rc < 0)
		goto fail;
	if (!m->w) {
		rc = g2t_fail(d, G2T_EDATA, 0, -1, "no MODEL record: not a model file");
		goto fail;
	}
	g2t_in_free(in);
	*out = m;
	return G2T_OK;
fail:
	g2t_in_free(in);
	g2t_model_free(m);
	return rc;
}

/* Where each input value goes: a feature index, or -1 to ignore. */
struct mapping {
	long *to;
	uint32_t n;
};

static int map_columns(const struct g2t_model *m, struct g2t_text *t,
                       struct mapping *map, struct g2t_diag *d)
{
	const struct g2t_schema *s = m->schema;
	const char *const *names;
	uint32_t n = g2t_text_columns(t, &names), j, f;
	uint8_t *seen;

	if (g2t_text_format(t) == G2T_TEXT_SVMLIGHT)
		return G2T_OK;
	map->n = n;
	map->to = malloc(n * sizeof *map->to);
	seen = calloc(s->features, 1);
	if (!map->to || !seen) {
		free(seen);
		return G2T_ENOMEM;
	}
	for (j = 0; j < n; j++) {
		map->to[j] = -1;
		for (f = 0; f < s->features; f++)
			if (!strcmp(names[j], s->feature[f])) {
				map->to[j] = f;
				seen[f] = 1;
				break;
			}
		/* a column the model does not know is ignored, whatever it holds */
		if (map->to[j] < 0 && g2t_text_ignore(t, j)) {
			free(seen);
			return G2T_ENOMEM;
		}
	}
	for (f = 0; f < s->features && seen[f]; f++)
		;
	free(seen);
	if (f < s->features)
		return g2t_fail(d, G2T_EDATA, 1, -1, "column '%s' of the model is missing",
		                s->feature[f]);
	return G2T_OK;
}

/* Scaled feature vector of one row. */
static void features_of(const struct g2t_model *m, const struct mapping *map,
                        const struct g2t_row *r, float *x)
{
	const struct g2t_schema *s = m->schema;
	uint32_t F = m->features;

	if (r->index) {
		for (uint32_t f = 0; f < F; f++)
			x[f] = 0.0f;
		for (uint32_t i = 0; i < r->n; i++)
			if (r->index[i] < F)
				x[r->index[i]] = r->value[i];
	} else {
		for (uint32_t j = 0; j < map->n; j++)
			if (map->to[j] >= 0)
				x[map->to[j]] = r->value[j];
	}
	for (uint32_t f = 0; f < F; f++)
		x[f] = (x[f] - s->offset[f]) * s->scale[f];
}

static void print_eval(const struct g2t_model *m, const uint64_t *confusion,
                       uint64_t rows, double logloss, FILE *out)
{
	uint32_t K = m->classes, a, b;
	uint64_t right = 0;

	for (a = 0; a < K; a++)
		right += confusion[(size_t)a * K + a];
	fprintf(out, "accuracy %.4f (%llu/%llu)\n", rows ? (double)right / (double)rows : 0.0,
	        (unsigned long long)right, (unsigned long long)rows);
	if (logloss >= 0)
		fprintf(out, "log-loss %.4f\n", rows ? logloss / (double)rows : 0.0);
	fputs("confusion matrix (rows: true class, columns: predicted)\n", out);
	for (b = 0; b < K; b++)
		fprintf(out, "\t%s", m->schema->klass[b]);
	fputc('\n', out);
	for (a = 0; a < K; a++) {
		fputs(m->schema->klass[a], out);
		for (b = 0; b < K; b++)
			fprintf(out, "\t%llu", (unsigned long long)confusion[(size_t)a * K + b]);
		fputc('\n', out);
	}
}

/* Every pair's decision value of x. */
static void decisions(const struct g2t_model *m, const float *x, double *dec)
{
	size_t F = m->features;

	for (uint32_t p = 0; p < m->pairs; p++)
		dec[p] = (double)(g2t_dot(m->w + p * (F + 1), x, (uint32_t)F) + m->w[p * (F + 1) + F]);
}

/* The class probabilities of decision values dec, coupled from each pair's
 * sigmoid; returns the most probable class (the lowest of equals).  work has
 * K (2K + 1) doubles. */
static uint32_t probabilities(const struct g2t_model *m, const double *dec, double *prob,
                              double *work)
{
	uint32_t K = m->classes, a, b, p = 0, best = 0;
	double *r = work;

	for (a = 0; a < K; a++)
		for (b = a + 1; b < K; b++, p++) {
			double q = g2t_sigmoid(dec[p], m->sigmoid + 2 * (size_t)p);

			/* LIBSVM's bounds: no pair is ever certain */
			q = q < 1e-7 ? 1e-7 : q > 1 - 1e-7 ? 1 - 1e-7 : q;
			r[a * K + b] = q;
			r[b * K + a] = 1 - q;
		}
	g2t_couple(K, r, prob, r + (size_t)K * K);
	for (a = 1; a < K; a++)
		if (prob[a] > prob[best])
			best = a;
	return best;
}

/* The header of --values and --probability: the columns of each line. */
static int print_columns(const struct g2t_model *m, const struct g2t_predict_opts *o,
                         FILE *out)
{
	const struct g2t_schema *s = m->schema;
	uint32_t a, b;

	fputs("class", out);
	for (a = 0; o->values && a < m->classes; a++)
		for (b = a + 1; b < m->classes; b++)
			fprintf(out, "\t%s/%s", s->klass[a], s->klass[b]);
	for (a = 0; o->probability && a < m->classes; a++)
		fprintf(out, "\t%s", s->klass[a]);
	return fputc('\n', out) == EOF ? G2T_EIO : G2T_OK;
}

/* One row's line: its class, then decision values, then probabilities. */
static int print_row(const struct g2t_model *m, const struct g2t_predict_opts *o,
                     uint32_t guess, const double *dec, const double *prob, FILE *out)
{
	fputs(m->schema->klass[guess], out);
	for (uint32_t p = 0; o->values && p < m->pairs; p++)
		if (m->present[p])
			fprintf(out, "\t%.9g", dec[p]);
		else
			fputs("\t-", out);
	for (uint32_t k = 0; o->probability && k < m->classes; k++)
		fprintf(out, "\t%.6g", prob[k]);
	return fputc('\n', out) == EOF ? G2T_EIO : G2T_OK;
}

int g2t_predict_file(const struct g2t_model *m, const char *path,
                     const struct g2t_predict_opts *o, FILE *out,
                     struct g2t_diag *d)
{
	struct g2t_text_opts to = o->text;
	struct g2t_text *t = NULL;
	struct mapping map = { NULL, 0 };
	struct g2t_row r;
	uint32_t K = m->classes, *votes = malloc(K * sizeof *votes);
	float *margin = malloc(K * sizeof *margin), *x = malloc(m->features * sizeof *x);
	uint64_t *confusion = calloc((size_t)K * K, sizeof *confusion), rows = 0;
	/* decision values, probabilities, then probabilities()'s work */
	double *dec = malloc(((size_t)m->pairs + K + (size_t)K * (2 * K + 1)) * sizeof *dec);
	double *prob = dec ? dec + m->pairs : NULL, logloss = o->probability ? 0 : -1;
	int rc = votes && margin && x && confusion && dec ? G2T_OK : G2T_ENOMEM;

	if (!rc && o->probability && !m->sigmoid)
		rc = g2t_fail(d, G2T_EPARAM, 0, -1, "--probability: the model has no sigmoids "
		              "(split with --probability)");
	for (uint32_t p = 0; !rc && o->probability && p < m->pairs; p++)
		if (!m->present[p])
			rc = g2t_fail(d, G2T_EPARAM, 0, -1, "--probability needs every pair; "
			              "the model is partial");
	if (!rc && !o->eval && (o->values || o->probability))
		rc = print_columns(m, o, out);

	to.label = m->schema->label;
	to.label_optional = !o->eval;
	if (!rc && !(rc = g2t_text_open(&t, path, &to, d)))
		rc = map_columns(m, t, &map, d);
	while (!rc && (rc = g2t_text_next(t, &r, d)) == 1) {
		uint32_t guess;
		long truth = -1;

		/* the label matters only when evaluating */
		if (o->eval && (!r.label || !r.label_len ||
		                (truth = g2t_schema_class(m->schema, r.label,
		                                          r.label_len)) < 0)) {
			rc = g2t_fail(d, G2T_EDATA, r.line, -1, !r.label ? "no label column"
			              : !r.label_len ? "empty label"
			              : "class '%.*s' is not one the model knows",
			              (int)r.label_len, r.label);
			break;
		}
		features_of(m, &map, &r, x);
		guess = o->dag ? g2t_ddag_predict(m->w, m->present, K, m->features, x)
		               : g2t_ovo_predict(m->w, m->present, K, m->features, x, votes,
		                                 margin);
		if (o->values || o->probability)
			decisions(m, x, dec);
		if (o->probability) /* LIBSVM's -b 1: the most probable class */
			guess = probabilities(m, dec, prob, prob + K);
		if (o->eval && o->probability)
			logloss -= log(prob[truth] > 1e-15 ? prob[truth] : 1e-15);
		if (o->eval)
			confusion[(size_t)truth * K + guess]++;
		else if (print_row(m, o, guess, dec, prob, out))
			rc = G2T_EIO;
		rows++;
		rc = rc == 1 ? G2T_OK : rc;
	}
	if (!rc && o->eval)
		print_eval(m, confusion, rows, logloss, out);
	g2t_text_free(t);
	free(map.to);
	free(votes);
	free(margin);
	free(x);
	free(confusion);
	free(dec);
	return rc;
}
