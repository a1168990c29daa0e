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
	free(m->bias);
	free(m->col);
	free(m->pair);
	free(m->w);
	free(m->sigmoid);
	free(m);
}

/*
 * Walks the entries of a MODEL payload's classifiers (at p, len bytes):
 * calls take(m, pair, feature, weight, at) for every non-zero weight (the
 * bias as feature F), at its byte offset from p; returns the bytes used,
 * or -1 when an entry is malformed or take says no, -2 when a missing pair
 * has a non-zero byte; *bad then the pair.
 */
typedef int (*take_fn)(struct g2t_model *m, uint32_t pair, uint32_t j, float v, size_t at);

static long long walk(struct g2t_model *m, const uint8_t *p, size_t len, take_fn take,
                      uint32_t *bad)
{
	uint32_t F = m->features;
	size_t at = 0, dense = ((size_t)F + 1) * 4;

	for (uint32_t q = 0; q < m->pairs; q++) {
		*bad = q;
		if (m->present[q] != 2) { /* dense, or missing (all zero) */
			if (len - at < dense)
				return -1;
			for (size_t k = 0; !m->present[q] && k < dense; k++)
				if (p[at + k])
					return -2;
			for (uint32_t j = 0; j <= F && m->present[q]; j++) {
				float v = g2t_get_f32(p + at + 4 * (size_t)j);

				if ((v != 0.0f || j == F) && take(m, q, j, v, at + 4 * (size_t)j))
					return -1;
			}
			at += dense;
			continue;
		}
		uint32_t n, next = 0; /* the least index allowed */

		if (len - at < 8 || (n = g2t_get_u32(p + at + 4)) > F || (len - at - 8) / 8 < n)
			return -1;
		if (take(m, q, F, g2t_get_f32(p + at), at))
			return -1;
		for (at += 8; n; n--, at += 8) {
			uint32_t j = g2t_get_u32(p + at);
			float v = g2t_get_f32(p + at + 4);

			if (j >= F || j < next || v == 0.0f || take(m, q, j, v, at + 4))
				return -1;
			next = j + 1;
		}
	}
	return (long long)at;
}

/* Counts a feature's weights (in col[j + 1]), or places one; a value
 * not finite stops the walk, its offset in m->col[0]. */
static int count_one(struct g2t_model *m, uint32_t q, uint32_t j, float v, size_t at)
{
	(void)q;
	if (!isfinite(v)) {
		m->col[0] = at;
		return 1;
	}
	if (j < m->features)
		m->col[j + 1]++;
	return 0;
}

static int place_one(struct g2t_model *m, uint32_t q, uint32_t j, float v, size_t at)
{
	(void)at;
	if (j == m->features) {
		m->bias[q] = v;
		return 0;
	}
	m->pair[m->col[j]] = q;
	m->w[m->col[j]++] = v;
	return 0;
}

static int decode_model(struct g2t_model *m, const struct g2t_rec *r, struct g2t_diag *d)
{
	const uint8_t *p = r->payload;
	uint32_t K, F, P, j, bad;
	long long used;
	uint64_t sig, need;
	size_t nnz;

	if (r->length < G2T_HASH_SIZE + 12)
		return g2t_fail(d, G2T_EFORMAT, 0, r->offset, "bad MODEL record");
	K = g2t_get_u32(p + 32);
	F = g2t_get_u32(p + 36);
	P = g2t_get_u32(p + 40);
	if (!m->schema || memcmp(p, m->schema->id, G2T_HASH_SIZE) ||
	    K != m->schema->classes || F != m->schema->features)
		return g2t_fail(d, G2T_ESCHEMA, 0, r->offset,
		                "MODEL record does not match the SCHEMA before it");
	if (m->schema->flags & G2T_SCHEMA_TASK)
		return g2t_fail(d, G2T_ESCHEMA, 0, r->offset,
		                "the SCHEMA before the MODEL is a task form, without the "
		                "features' scaling");
	if (P != g2t_schema_tasks(m->schema) || r->length - 44 < P)
		return g2t_fail(d, G2T_EFORMAT, 0, r->offset, "bad MODEL record");
	m->classes = K;
	m->features = F;
	m->pairs = P;
	m->present = malloc(P);
	m->bias = calloc(P, sizeof *m->bias);
	m->col = calloc((size_t)F + 1, sizeof *m->col);
	if (!m->present || !m->bias || !m->col)
		return G2T_ENOMEM;
	memcpy(m->present, p + 44, P);
	for (j = 0; j < P; j++)
		if (m->present[j] > 2)
			return g2t_fail(d, G2T_EFORMAT, 0, r->offset,
			                "MODEL pair %u: its present byte is neither 0, 1 nor 2", j);
	p += 44 + P;
	m->col[0] = (size_t)-1;
	used = walk(m, p, r->length - 44 - P, count_one, &bad);
	/* a NaN would vote silently: refuse it, at its byte */
	if (m->col[0] != (size_t)-1)
		return g2t_fail(d, G2T_EDATA, 0, r->offset + G2T_HEADER_SIZE + 44 + P +
		                (long long)m->col[0], "MODEL value of task %u is not finite "
		                "(NaN or infinity)", bad);
	if (used == -2)
		return g2t_fail(d, G2T_EFORMAT, 0, r->offset,
		                "MODEL pair %u is missing but its entry is not all zero", bad);
	/* the sigmoids follow the entries when the payload has room for them */
	sig = r->length - 44 - P - (uint64_t)(used < 0 ? 0 : used);
	if (used < 0 || (sig != 0 && sig != 8 * (uint64_t)P))
		return g2t_fail(d, G2T_EFORMAT, 0, r->offset, "bad MODEL record");
	if (sig && (m->schema->flags & G2T_SCHEMA_OVR))
		return g2t_fail(d, G2T_EFORMAT, 0, r->offset, "bad MODEL record: a one-vs-rest "
		                "model has no sigmoids");
	m->col[0] = 0;
	for (j = 0; j < F; j++) /* counts to starts */
		m->col[j + 1] += m->col[j];
	nnz = m->col[F];
	m->pair = malloc((nnz ? nnz : 1) * sizeof *m->pair);
	m->w = malloc((nnz ? nnz : 1) * sizeof *m->w);
	if (!m->pair || !m->w)
		return G2T_ENOMEM;
	walk(m, p, r->length - 44 - P, place_one, &bad);
	for (j = F; j > 0; j--) /* place_one moved each start to the next's */
		m->col[j] = m->col[j - 1];
	m->col[0] = 0;
	m->zero_offset = !(m->schema->flags & G2T_SCHEMA_WIDE);
	for (j = 0; j < F; j++)
		m->zero_offset &= m->schema->offset[j] == 0.0f;
	if (!sig)
		return G2T_OK;
	if (!(m->sigmoid = malloc(2 * (size_t)P * sizeof *m->sigmoid)))
		return G2T_ENOMEM;
	for (size_t i = 0; i < 2 * (size_t)P; i++)
		m->sigmoid[i] = g2t_get_f32(p + used + 4 * i);
	need = g2t_nonfinite(m->sigmoid, 2 * (size_t)P);
	if (need < 2 * (uint64_t)P)
		return g2t_fail(d, G2T_EDATA, 0, r->offset + G2T_HEADER_SIZE + 44 + P + used +
		                (long long)need * 4, "MODEL sigmoid of task %llu is not finite "
		                "(NaN or infinity)", (unsigned long long)(need / 2));
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
	/* to the end of the stream: every record framed and its CRC checked */
	while ((rc = g2t_in_next(in, &r, d)) == 1) {
		if (r.type == G2T_REC_MODEL && m->w)
			rc = g2t_fail(d, G2T_EDATA, 0, r.offset, "a second MODEL record: a "
			              "model file holds one");
		else if (m->w)
			rc = G2T_OK;
		else if (r.type == G2T_REC_SCHEMA && !m->schema &&
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

/* Scaled feature vector of one row, dense.  A wide schema's values are
 * the binary64 ones less its binary64 offsets, then rounded. */
static void features_of(const struct g2t_model *m, const struct mapping *map,
                        const struct g2t_row *r, float *x)
{
	const struct g2t_schema *s = m->schema;
	const double *v64 = s->wide ? r->value64 : NULL;
	uint32_t F = m->features;

	if (r->index) {
		for (uint32_t f = 0; f < F; f++)
			x[f] = s->wide ? (float)(0.0 - s->wide[f]) : 0.0f;
		for (uint32_t i = 0; i < r->n; i++)
			if (r->index[i] < F)
				x[r->index[i]] = v64 ? (float)(v64[i] - s->wide[r->index[i]])
				                     : r->value[i];
	} else {
		for (uint32_t j = 0; j < map->n; j++)
			if (map->to[j] >= 0)
				x[map->to[j]] = v64 ? (float)(v64[j] - s->wide[map->to[j]]) : r->value[j];
	}
	for (uint32_t f = 0; f < F; f++)
		x[f] = s->wide ? x[f] * s->scale[f] : (x[f] - s->offset[f]) * s->scale[f];
}

/* One row's decision values, every pair's sums in g2t_dot()'s order: eight
 * partial sums by feature index mod 8, pairwise, then the bias; a zero
 * weight or value changes none of them, so they are the bits g2t_dot()
 * gives over the dense row and weights.  part has 8 floats a pair. */
static void decide(const struct g2t_model *m, const uint32_t *index, const float *value,
                   uint32_t n, float *part, float *dec)
{
	for (size_t i = 0; i < (size_t)m->pairs * 8; i++)
		part[i] = 0.0f;
	for (uint32_t k = 0; k < n; k++) {
		uint32_t j = index[k];

		for (size_t e = m->col[j]; e < m->col[j + 1]; e++)
			part[(size_t)m->pair[e] * 8 + (j & 7)] += m->w[e] * value[k];
	}
	for (uint32_t q = 0; q < m->pairs; q++) {
		const float *s = part + (size_t)q * 8;

		dec[q] = (((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]))) +
		         m->bias[q];
	}
}

/* g2t_ovo_predict() and g2t_ddag_predict() over decision values; for a
 * one-vs-rest model the class of the largest (the lowest of equals). */
static uint32_t vote(const struct g2t_model *m, const float *dec, int dag, uint32_t *votes,
                     float *margin)
{
	uint32_t K = m->classes, a, b, p = 0, best = 0;

	if (m->schema->flags & G2T_SCHEMA_OVR) {
		for (a = 0; a < K; a++)
			if (m->present[a] && (!m->present[best] || dec[a] > dec[best]))
				best = a;
		return best;
	}
	if (dag) {
		for (a = 0, b = K - 1; a < b;) {
			p = g2t_pair_index(K, a, b);
			if (!m->present[p] || dec[p] > 0.0f)
				b--;
			else
				a++;
		}
		return a;
	}
	for (a = 0; a < K; a++) {
		votes[a] = 0;
		margin[a] = 0.0f;
	}
	for (a = 0; a < K; a++)
		for (b = a + 1; b < K; b++, p++) {
			if (!m->present[p])
				continue;
			votes[dec[p] > 0.0f ? a : b]++;
			margin[a] += dec[p];
			margin[b] -= dec[p];
		}
	for (a = 1; a < K; a++)
		if (votes[a] > votes[best] ||
		    (votes[a] == votes[best] && margin[a] > margin[best]))
			best = a;
	return best;
}

/* A row's non-zero scaled values, in increasing index: an svmlight row
 * scaled as it stands when the model keeps zeros 0, else through x, the
 * dense row. */
static uint32_t nonzeros(const struct g2t_model *m, const struct mapping *map,
                         const struct g2t_row *r, float *x, uint32_t *index, float *value)
{
	uint32_t n = 0, F = m->features;

	if (r->index && m->zero_offset) {
		for (uint32_t i = 0; i < r->n && r->index[i] < F; i++) {
			float v = (r->value[i] - 0.0f) * m->schema->scale[r->index[i]];

			if (v != 0.0f) {
				index[n] = r->index[i];
				value[n++] = v;
			}
		}
		return n;
	}
	features_of(m, map, r, x);
	for (uint32_t j = 0; j < F; j++)
		if (x[j] != 0.0f) {
			index[n] = j;
			value[n++] = x[j];
		}
	return n;
}

/* The accuracy counts the rows of classes the model does not know (unknown
 * of the rows) as wrong, as svm-predict does; the log-loss leaves them out. */
static void print_eval(const struct g2t_model *m, const uint64_t *confusion,
                       uint64_t rows, uint64_t unknown, double logloss, FILE *out)
{
	uint32_t K = m->classes, a, b;
	uint64_t right = 0;

	for (a = 0; a < K; a++)
		right += confusion[(size_t)a * K + a];
	fprintf(out, "accuracy %.4f (%llu/%llu)\n", rows ? (double)right / (double)rows : 0.0,
	        (unsigned long long)right, (unsigned long long)rows);
	if (unknown)
		fprintf(out, "unknown %llu\n", (unsigned long long)unknown);
	if (logloss >= 0)
		fprintf(out, "log-loss %.4f\n",
		        rows > unknown ? logloss / (double)(rows - unknown) : 0.0);
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

/* The class probabilities of decision values dec, coupled from each pair's
 * sigmoid; returns the most probable class (the lowest of equals).  work has
 * K (2K + 1) doubles. */
static uint32_t probabilities(const struct g2t_model *m, const float *dec, double *prob,
                              double *work)
{
	uint32_t K = m->classes, a, b, p = 0, best = 0;
	double *r = work;

	for (a = 0; a < K; a++)
		for (b = a + 1; b < K; b++, p++) {
			double q = g2t_sigmoid((double)dec[p], m->sigmoid + 2 * (size_t)p);

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
		if (s->flags & G2T_SCHEMA_OVR)
			fprintf(out, "\t%s", s->klass[a]);
		else
			for (b = a + 1; b < m->classes; b++)
				fprintf(out, "\t%s/%s", s->klass[a], s->klass[b]);
	for (a = 0; o->probability && a < m->classes; a++)
		fprintf(out, "\t%s", s->klass[a]);
	return fputc('\n', out) == EOF ? G2T_EIO : G2T_OK;
}

/* One row's line: its class, then decision values, then probabilities. */
static int print_row(const struct g2t_model *m, const struct g2t_predict_opts *o,
                     uint32_t guess, const float *dec, const double *prob, FILE *out)
{
	fputs(m->schema->klass[guess], out);
	for (uint32_t p = 0; o->values && p < m->pairs; p++)
		if (m->present[p])
			fprintf(out, "\t%.9g", (double)dec[p]);
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
	float *margin = malloc(K * sizeof *margin);
	/* O(one row) for the row, O(pairs) for the decisions */
	float *x = NULL, *value = NULL, *part = malloc((size_t)m->pairs * 8 * sizeof *part);
	float *dec = malloc((size_t)m->pairs * sizeof *dec);
	uint32_t *index = NULL;
	size_t icap = 0, vcap = 0;
	uint64_t *confusion = calloc((size_t)K * K, sizeof *confusion), rows = 0, unknown = 0;
	/* probabilities, then probabilities()'s work */
	double *prob = malloc(((size_t)K + (size_t)K * (2 * K + 1)) * sizeof *prob);
	double logloss = o->probability ? 0 : -1;
	int rc = votes && margin && part && dec && confusion && prob ? G2T_OK : G2T_ENOMEM;

	if (!rc && (o->probability || o->dag) && (m->schema->flags & G2T_SCHEMA_OVR))
		rc = g2t_fail(d, G2T_EPARAM, 0, -1, "%s: the model is one-vs-rest (g2t-split "
		              "--ovr), which has %s", o->dag ? "--dag" : "--probability",
		              o->dag ? "no pairs to walk" : "no pairwise sigmoids to couple");
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
	to.wide = m->schema->wide != NULL;
	if (!rc && !(rc = g2t_text_open(&t, path, &to, d)))
		rc = map_columns(m, t, &map, d);
	while (!rc && (rc = g2t_text_next(t, &r, d)) == 1) {
		uint32_t guess;
		long truth = -1;
		int sparse;

		/* the label matters only when evaluating */
		if (o->eval && (!r.label || !r.label_len)) {
			rc = g2t_fail(d, G2T_EDATA, r.line, -1, !r.label ? "no label column"
			              : "empty label");
			break;
		}
		if (o->eval && (truth = g2t_schema_class(m->schema, r.label, r.label_len)) < 0)
			unknown++;
		/* a row kept sparse, or made dense over x */
		sparse = r.index && m->zero_offset;
		if ((!sparse && !x && !(x = malloc(m->features * sizeof *x))) ||
		    g2t_grow((void **)&index, &icap, sparse ? r.n + 1 : m->features,
		             sizeof *index) ||
		    g2t_grow((void **)&value, &vcap, icap, sizeof *value)) {
			rc = G2T_ENOMEM;
			break;
		}
		decide(m, index, value, nonzeros(m, &map, &r, x, index, value), part, dec);
		guess = vote(m, dec, o->dag, votes, margin);
		if (o->probability) /* LIBSVM's -b 1: the most probable class */
			guess = probabilities(m, dec, prob, prob + K);
		if (o->eval && o->probability && truth >= 0)
			logloss -= log(prob[truth] > 1e-15 ? prob[truth] : 1e-15);
		if (o->eval)
			confusion[(size_t)truth * K + guess] += truth >= 0;
		else if (print_row(m, o, guess, dec, prob, out))
			rc = G2T_EIO;
		rows++;
		rc = rc == 1 ? G2T_OK : rc;
	}
	if (!rc && o->eval)
		print_eval(m, confusion, rows, unknown, logloss, out);
	g2t_text_free(t);
	free(map.to);
	free(votes);
	free(margin);
	free(x);
	free(index);
	free(value);
	free(part);
	free(dec);
	free(prob);
	free(confusion);
	return rc;
}

long g2t_model_predict(const struct g2t_model *m, float *x)
{
	const struct g2t_schema *s = m->schema;
	uint32_t K = m->classes, n = 0;
	uint32_t *votes = malloc(K * sizeof *votes), *index = malloc(m->features * sizeof *index);
	float *margin = malloc(K * sizeof *margin), *value = malloc(m->features * sizeof *value);
	float *part = malloc((size_t)m->pairs * 8 * sizeof *part);
	float *dec = malloc((size_t)m->pairs * sizeof *dec);
	long k = -1;

	if (votes && index && margin && value && part && dec) {
		for (uint32_t f = 0; f < m->features; f++) {
			x[f] = (x[f] - s->offset[f]) * s->scale[f];
			if (x[f] != 0.0f) {
				index[n] = f;
				value[n++] = x[f];
			}
		}
		decide(m, index, value, n, part, dec);
		k = (long)vote(m, dec, 0, votes, margin);
	}
	free(votes);
	free(index);
	free(margin);
	free(value);
	free(part);
	free(dec);
	return k;
}
