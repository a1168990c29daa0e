/* Models: loading one, and predicting with it over text data. */
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
	if (P != K * (K - 1) / 2 || r->length != need)
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
                       uint64_t rows, FILE *out)
{
	uint32_t K = m->classes, a, b;
	uint64_t right = 0;

	for (a = 0; a < K; a++)
		right += confusion[(size_t)a * K + a];
	fprintf(out, "accuracy %.4f (%llu/%llu)\n", rows ? (double)right / (double)rows : 0.0,
	        (unsigned long long)right, (unsigned long long)rows);
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
	int rc = votes && margin && x && confusion ? G2T_OK : G2T_ENOMEM;

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
		if (o->eval)
			confusion[(size_t)truth * K + guess]++;
		else if (fprintf(out, "%s\n", m->schema->klass[guess]) < 0)
			rc = G2T_EIO;
		rows++;
		rc = rc == 1 ? G2T_OK : rc;
	}
	if (!rc && o->eval)
		print_eval(m, confusion, rows, out);
	g2t_text_free(t);
	free(map.to);
	free(votes);
	free(margin);
	free(x);
	free(confusion);
	return rc;
}

long g2t_model_predict(const struct g2t_model *m, float *x)
{
	const struct g2t_schema *s = m->schema;
	uint32_t *votes = malloc(m->classes * sizeof *votes);
	float *margin = malloc(m->classes * sizeof *margin);
	long k = -1;

	if (votes && margin) {
		for (uint32_t f = 0; f < m->features; f++)
			x[f] = (x[f] - s->offset[f]) * s->scale[f];
		k = (long)g2t_ovo_predict(m->w, m->present, m->classes, m->features, x, votes,
		                          margin);
	}
	free(votes);
	free(margin);
	return k;
}
