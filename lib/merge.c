/* g2t-merge: check weights against their schema and build the model. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "g2t.h"

struct piece {
	uint8_t *payload;            /* a WEIGHTS payload */
	uint32_t length;
	const char *file;
	long long offset;            /* of the record that brought it */
	int signed_by_device;        /* came in a verified packet */
};

/* A packet seen: its key and sequence number, to refuse replays. */
struct seen {
	uint8_t pk[G2T_PK_SIZE];
	uint64_t seq;
};

struct g2t_merge {
	struct g2t_schemas schemas;
	struct piece *weights;
	size_t count, cap;
	char **files;                /* copies of input names */
	size_t nfiles;
	const struct g2t_keyring *trust; /* NULL: packets are refused */
	int allow_unsigned;          /* raw weights accepted in trust mode */
	struct seen *seen;
	size_t nseen, seen_cap;
	char **refusal;              /* why inputs were refused, one line each */
	size_t nrefusals;
	/* built */
	const struct g2t_schema *model_schema;
	uint8_t **entry;             /* per pair: its MODEL entry, or NULL */
	uint32_t *entry_len;
	uint8_t *present;            /* per pair: 0, 1 dense or 2 sparse entry */
	float *sigmoid;              /* pairs x 2: Platt's A and B */
	uint32_t sigmoids;           /* pairs placed with one */
	uint32_t pairs, placed;
};

struct g2t_merge *g2t_merge_new(void)
{
	return calloc(1, sizeof(struct g2t_merge));
}

void g2t_merge_free(struct g2t_merge *m)
{
	if (!m)
		return;
	g2t_schemas_clear(&m->schemas);
	for (size_t i = 0; i < m->count; i++)
		free(m->weights[i].payload);
	for (size_t i = 0; i < m->nfiles; i++)
		free(m->files[i]);
	for (size_t i = 0; i < m->nrefusals; i++)
		free(m->refusal[i]);
	free(m->refusal);
	free(m->seen);
	free(m->weights);
	free(m->files);
	for (uint32_t p = 0; m->entry && p < m->pairs; p++)
		free(m->entry[p]);
	free(m->entry);
	free(m->entry_len);
	free(m->sigmoid);
	free(m->present);
	free(m);
}

static int keep_weights(struct g2t_merge *m, const uint8_t *payload, uint32_t len,
                        const char *file, long long offset, int signed_by_device)
{
	struct piece *p;

	if (g2t_grow((void **)&m->weights, &m->cap, m->count + 1, sizeof *p))
		return G2T_ENOMEM;
	p = &m->weights[m->count];
	if (!(p->payload = malloc(len ? len : 1)))
		return G2T_ENOMEM;
	memcpy(p->payload, payload, len);
	p->length = len;
	p->file = file;
	p->offset = offset;
	p->signed_by_device = signed_by_device;
	m->count++;
	return G2T_OK;
}

/* Notes that an input was refused; merging goes on without it. */
static int refuse(struct g2t_merge *m, const char *file, long long offset,
                  const char *why)
{
	char line[400], **r = realloc(m->refusal, (m->nrefusals + 1) * sizeof *r);

	if (!r)
		return G2T_ENOMEM;
	m->refusal = r;
	snprintf(line, sizeof line, "%s: byte %lld: refused: %s", file, offset, why);
	if (!(r[m->nrefusals] = strdup(line)))
		return G2T_ENOMEM;
	m->nrefusals++;
	return G2T_OK;
}

static int replayed(struct g2t_merge *m, const struct g2t_packet *pk)
{
	for (size_t i = 0; i < m->nseen; i++)
		if (m->seen[i].seq == pk->seq && !memcmp(m->seen[i].pk, pk->pk, G2T_PK_SIZE))
			return 1;
	if (g2t_grow((void **)&m->seen, &m->seen_cap, m->nseen + 1, sizeof *m->seen))
		return -1;
	memcpy(m->seen[m->nseen].pk, pk->pk, G2T_PK_SIZE);
	m->seen[m->nseen++].seq = pk->seq;
	return 0;
}

/* Verifies a packet and keeps what it holds, or refuses it whole. */
static int take_packet(struct g2t_merge *m, const struct g2t_rec *r, const char *file)
{
	struct g2t_packet pk;
	struct g2t_packet_item item = { 0 };
	struct g2t_diag d = { 0, -1, "" };
	uint8_t *buf = NULL;
	size_t cap = 0;
	char id[17], why[300];
	int rc, more, dup;

	if (!m->trust)
		return refuse(m, file, r->offset, "a signed packet, but no --trust keys");
	if ((rc = g2t_packet_open(&pk, r->payload, r->length, &d)))
		return rc == G2T_ENOMEM ? rc : refuse(m, file, r->offset, d.what);
	g2t_key_id(id, pk.pk);
	rc = G2T_OK;
	if (!g2t_keyring_has(m->trust, pk.pk)) {
		snprintf(why, sizeof why, "key %s is not trusted", id);
		rc = refuse(m, file, r->offset, why);
	} else if ((dup = replayed(m, &pk))) {
		snprintf(why, sizeof why, "sequence %llu of key %s seen before (replay)",
		         (unsigned long long)pk.seq, id);
		rc = dup < 0 ? G2T_ENOMEM : refuse(m, file, r->offset, why);
	} else {
		size_t before = m->count;

		while ((more = g2t_packet_next(&pk, &item, &d)) == 1 && !rc) {
			struct g2t_rec sr = { .type = G2T_REC_SCHEMA, .payload = item.payload,
			                      .length = item.length, .offset = r->offset };
			long n;

			if (item.type == G2T_REC_SCHEMA) {
				if ((more = g2t_schemas_add(&m->schemas, &sr, &d)))
					break;
				continue;
			}
			if (g2t_grow((void **)&buf, &cap, G2T_HASH_SIZE + G2T_TASK_ID_SIZE + 40 +
			             (size_t)item.weights.features * 8, 1)) {
				rc = G2T_ENOMEM;
				break;
			}
			n = g2t_weights_encode(buf, cap, &item.weights);
			rc = n < 0 ? (int)n : keep_weights(m, buf, (uint32_t)n, file, r->offset, 1);
		}
		if (!rc && more < 0) { /* refused whole: drop what it gave so far */
			while (m->count > before)
				free(m->weights[--m->count].payload);
			rc = more == G2T_ENOMEM ? more : refuse(m, file, r->offset, d.what);
		}
	}
	free(item.room);
	free(buf);
	g2t_packet_close(&pk);
	return rc;
}

/* Keeps a copy of an input's name for messages; NULL when out of memory. */
static const char *name_input(struct g2t_merge *m, const char *path)
{
	char **files = realloc(m->files, (m->nfiles + 1) * sizeof *files);

	if (!files)
		return NULL;
	m->files = files;
	if (!(files[m->nfiles] = strdup(path)))
		return NULL;
	return files[m->nfiles++];
}

static int add_record(struct g2t_merge *m, const struct g2t_rec *r, const char *name,
                      struct g2t_diag *d)
{
	switch (r->type) {
	case G2T_REC_SCHEMA:
		return g2t_schemas_add(&m->schemas, r, d);
	case G2T_REC_WEIGHTS:
		if (m->trust && !m->allow_unsigned)
			return refuse(m, name, r->offset,
			              "unsigned weights (--allow-unsigned takes them)");
		return keep_weights(m, r->payload, r->length, name, r->offset, 0);
	case G2T_REC_PACKET:
		return take_packet(m, r, name);
	case G2T_REC_MODEL:
		return g2t_fail(d, G2T_EDATA, 0, r->offset,
		                "a MODEL record: this is a model, not weights");
	default:
		return G2T_OK;
	}
}

int g2t_merge_add(struct g2t_merge *m, const char *path, struct g2t_diag *d)
{
	const char *name = name_input(m, g2t_display_name(path));
	struct g2t_in *in;
	struct g2t_rec r;
	int rc;

	if (!name)
		return G2T_ENOMEM;
	if ((rc = g2t_in_open(&in, path, 0, d)))
		return rc;
	while ((rc = g2t_in_next(in, &r, d)) == 1 && !(rc = add_record(m, &r, name, d)))
		;
	g2t_in_free(in);
	return rc;
}

int g2t_merge_add_record(struct g2t_merge *m, uint32_t type, const uint8_t *payload,
                         uint32_t len, const char *name, struct g2t_diag *d)
{
	struct g2t_rec r = { .type = type, .length = len, .payload = payload, .offset = -1 };

	if (!(name = m->nfiles && !strcmp(m->files[m->nfiles - 1], name)
	             ? m->files[m->nfiles - 1] : name_input(m, name)))
		return G2T_ENOMEM;
	return add_record(m, &r, name, d);
}

/*
 * The squared length that no weights its task's solver gives can exceed,
 * twice over for rounding; 0 when there is no such bound.  The exact
 * solver's dual only rises from about 0, and the dual is at most
 * sum_i C_i - |(w, b)|^2 / 2 for every loss.  SGD on a loss of slope at
 * most 1 (hinge, logistic), each step shrinking w by 1 - eta lambda >= 0
 * (eta <= 1 for asgd and fixed, eta lambda <= 1/2 for pegasos), then adding
 * at most eta C_i |x| with |x|^2 <= F, stays within C_max sqrt(F) / lambda;
 * so do its averages.  Its free bias moves by at most eta C_max a step:
 * over T = epochs n steps, T C_max in all (eta <= 1), or C_max ln(T + 1) /
 * lambda for pegasos (eta = 1 / (lambda (t + 2))).  *bias: the bias's
 * bound, 0 when none or when the bias is in the squared length.
 */
static double weights_bound(const struct g2t_schema *s, const struct g2t_weights *wt,
                            double *bias)
{
	const struct g2t_params *p = &wt->id.params;
	double na = s->rows[wt->id.class_a], nb = 0, cmax, lambda, steps;

	*bias = 0;
	for (uint32_t k = 0; k < s->classes; k++)
		if (k != wt->id.class_a && (wt->id.class_b == s->classes || k == wt->id.class_b))
			nb += s->rows[k];
	if (p->algo == G2T_ALGO_DCD)
		return 2 * 2 * (double)p->cost * (p->weight[0] * na + p->weight[1] * nb);
	if (p->loss == G2T_LOSS_SQHINGE)
		return 0;
	cmax = p->weight[0] > p->weight[1] ? p->weight[0] : p->weight[1];
	lambda = 1 / ((double)p->cost * (na + nb));
	steps = (double)p->epochs * (na + nb);
	*bias = 2 * cmax * (p->algo == G2T_ALGO_PEGASOS ? log(steps + 1) / lambda : steps);
	if (p->algo != G2T_ALGO_PEGASOS && lambda > 1)
		return 0;
	return 2 * cmax * cmax * wt->features / (lambda * lambda);
}

int g2t_weights_check(const struct g2t_schema *s, const uint8_t *p, uint32_t len,
                      struct g2t_weights *wt, long long offset, struct g2t_diag *d)
{
	uint8_t hash[G2T_HASH_SIZE];
	uint32_t F = s->features;
	double bound, bias;

	if (len < 2 * G2T_HASH_SIZE || memcmp(p + G2T_HASH_SIZE, s->id, G2T_HASH_SIZE))
		return g2t_fail(d, G2T_ESCHEMA, 0, offset,
		                "weights for a different schema than the first weights'");
	if (g2t_weights_decode(wt, F, p, len))
		return g2t_fail(d, G2T_EFORMAT, 0, offset, "bad WEIGHTS record");
	g2t_task_hash(hash, &wt->id);
	if (memcmp(hash, wt->task_hash, G2T_HASH_SIZE))
		return g2t_fail(d, G2T_ESCHEMA, 0, offset,
		                "weights for task %u: task hash does not match", wt->id.task);
	if (wt->features != F || !g2t_task_fits(s, wt->id.task, wt->id.class_a, wt->id.class_b))
		return g2t_fail(d, G2T_ESCHEMA, 0, offset,
		                "weights for task %u do not fit the schema", wt->id.task);
	/* as g2t-train refuses to fit one: coupling is for one-vs-one pairs */
	if (wt->id.class_b == s->classes && wt->id.params.probability)
		return g2t_fail(d, G2T_ESCHEMA, 0, offset, "weights for task %u: a one-vs-rest "
		                "task has no sigmoid", wt->id.task);
	wt->w[F] = wt->bias;
	for (uint32_t i = 0; i <= F; i++)
		if (!isfinite(wt->w[i]))
			return g2t_fail(d, G2T_EFORMAT, 0, offset, "weights for task %u are not"
			                " finite (%s)", wt->id.task, i < F ? "a weight" : "the bias");
	if (wt->id.params.probability && (!isfinite(wt->sigmoid[0]) || !isfinite(wt->sigmoid[1])))
		return g2t_fail(d, G2T_EFORMAT, 0, offset, "weights for task %u are not"
		                " finite (the sigmoid)", wt->id.task);
	if ((bound = weights_bound(s, wt, &bias)) > 0) {
		double norm = wt->id.params.algo == G2T_ALGO_DCD ? (double)wt->bias * wt->bias : 0;

		for (uint32_t i = 0; i < F; i++)
			norm += (double)wt->w[i] * wt->w[i];
		if (norm > bound)
			return g2t_fail(d, G2T_EFORMAT, 0, offset, "weights for task %u are longer "
			                "than any its solver gives (|w|^2 %.3g > %.3g)", wt->id.task,
			                norm, bound);
	}
	if (bias > 0 && fabs(wt->bias) > bias)
		return g2t_fail(d, G2T_EFORMAT, 0, offset, "weights for task %u: the bias is larger "
		                "than any its solver gives (|%.3g| > %.3g)", wt->id.task,
		                (double)wt->bias, bias);
	return G2T_OK;
}

/*
 * A MODEL entry of F weights and a bias, w[F]: dense, the F + 1 values
 * (form 1); or sparse when smaller, the bias, the count n of non-zero
 * weights, then n (index, weight) pairs (form 2).  Returns its form; the
 * entry is in *out, the caller's to free, NULL when out of memory.
 */
static int encode_entry(const float *w, uint32_t F, uint8_t **out, uint32_t *len)
{
	uint32_t n = 0, j;
	int sparse;
	uint8_t *o;

	for (j = 0; j < F; j++)
		n += w[j] != 0.0f;
	sparse = 8 + (uint64_t)n * 8 < 4 * ((uint64_t)F + 1);
	*len = sparse ? 8 + n * 8 : 4 * (F + 1);
	if (!(*out = o = malloc(*len)))
		return 0;
	if (!sparse) {
		for (j = 0; j <= F; j++)
			g2t_put_f32(o + 4 * j, w[j]);
		return 1;
	}
	g2t_put_f32(o, w[F]);
	g2t_put_u32(o + 4, n);
	for (o += 8, j = 0; j < F; j++)
		if (w[j] != 0.0f) {
			g2t_put_u32(o, j);
			g2t_put_f32(o + 4, w[j]);
			o += 8;
		}
	return 2;
}

/* Checks one weights record and puts it in its place. */
static int place(struct g2t_merge *m, const struct piece *p, float *w,
                 struct g2t_diag *d)
{
	const struct g2t_schema *s = m->model_schema;
	struct g2t_weights wt = { .w = w };
	uint32_t pair, len;
	uint8_t *e;
	int rc, form;

	if ((rc = g2t_weights_check(s, p->payload, p->length, &wt, p->offset, d)))
		return rc;
	pair = wt.id.task;
	if (!(form = encode_entry(w, s->features, &e, &len)))
		return G2T_ENOMEM;
	if (m->present[pair]) {
		rc = len != m->entry_len[pair] || memcmp(e, m->entry[pair], len);
		free(e);
		return rc ? g2t_fail(d, G2T_ECONFLICT, 0, p->offset, "two different weights "
		                     "for '%s' vs '%s'", s->klass[wt.id.class_a],
		                     g2t_class_name(s, wt.id.class_b)) : G2T_OK;
	}
	m->entry[pair] = e;
	m->entry_len[pair] = len;
	m->present[pair] = (uint8_t)form;
	m->placed++;
	if (wt.id.params.probability) {
		memcpy(m->sigmoid + 2 * (size_t)pair, wt.sigmoid, sizeof wt.sigmoid);
		m->sigmoids++;
	}
	return G2T_OK;
}

int g2t_merge_build(struct g2t_merge *m, const char **bad, struct g2t_diag *d)
{
	const struct g2t_schema *s;
	float *w;
	int rc = G2T_OK;

	*bad = m->nfiles == 1 ? m->files[0] : NULL;
	if (m->count == 0)
		return g2t_fail(d, G2T_EDATA, 0, -1, "no WEIGHTS records %s", m->nrefusals
		                ? "left: every input that held some was refused" : "in the input");
	*bad = m->weights[0].file;
	/* weights carry their schema id: the first one names the model's schema,
	 * once it is known to be long enough to hold it */
	if (m->weights[0].length < 2 * G2T_HASH_SIZE)
		return g2t_fail(d, G2T_EFORMAT, 0, m->weights[0].offset,
		                "WEIGHTS record of %u bytes is too short to name its schema",
		                m->weights[0].length);
	s = g2t_schemas_find(&m->schemas, m->weights[0].payload + G2T_HASH_SIZE);
	if (!s)
		return g2t_fail(d, G2T_ESCHEMA, 0, m->weights[0].offset,
		                "no SCHEMA record for these weights");
	if (s->flags & G2T_SCHEMA_TASK)
		return g2t_fail(d, G2T_ESCHEMA, 0, m->weights[0].offset,
		                "the SCHEMA of these weights is the task form of a lease "
		                "answer, without the features' scaling: give g2t-split's too");
	m->model_schema = s;
	m->pairs = g2t_schema_tasks(s);
	m->entry = calloc(m->pairs, sizeof *m->entry);
	m->entry_len = calloc(m->pairs, sizeof *m->entry_len);
	m->present = calloc(m->pairs, 1);
	m->sigmoid = calloc(2 * (size_t)m->pairs, sizeof *m->sigmoid);
	w = malloc(((size_t)s->features + 1) * sizeof *w);
	if (!m->entry || !m->entry_len || !m->present || !m->sigmoid || !w)
		rc = G2T_ENOMEM;
	for (size_t i = 0; i < m->count && !rc; i++) {
		*bad = m->weights[i].file;
		rc = place(m, &m->weights[i], w, d);
		/* a device's packet can be wrong alone; a local file stops the merge */
		if (rc && rc != G2T_ENOMEM && m->weights[i].signed_by_device) {
			rc = refuse(m, m->weights[i].file, m->weights[i].offset, d->what);
			*d = (struct g2t_diag){ 0, -1, "" };
		}
	}
	free(w);
	if (!rc)
		*bad = NULL;
	return rc;
}

long g2t_merge_missing(const struct g2t_merge *m, char *buf, size_t cap)
{
	const struct g2t_schema *s = m->model_schema;
	long missing = 0;
	size_t used = 0;

	if (cap)
		buf[0] = '\0';
	for (uint32_t p = 0; p < m->pairs; p++) {
		uint32_t a, b;
		int n;

		if (m->present[p])
			continue;
		g2t_task_classes(s, p, &a, &b);
		n = snprintf(buf + used, cap - used, "%s%s/%s (task %u)", missing ? ", " : "",
		             s->klass[a], g2t_class_name(s, b), p);
		missing++;
		if (n < 0 || (size_t)n >= cap - used) {
			if (cap >= 4)
				memcpy(buf + cap - 4, "...", 4);
			used = cap - 1;
		} else {
			used += (size_t)n;
		}
	}
	return missing;
}

int g2t_merge_write(const struct g2t_merge *m, FILE *out, struct g2t_diag *d)
{
	const struct g2t_schema *s = m->model_schema;
	/* the sigmoids when every pair placed has one */
	int sigmoids = m->sigmoids && m->sigmoids == m->placed;
	uint64_t len = G2T_HASH_SIZE + 12 + m->pairs + (sigmoids ? (uint64_t)m->pairs * 8 : 0);
	uint64_t dense = ((uint64_t)s->features + 1) * 4;
	uint8_t *p, *o;
	int rc;

	/* a missing pair's entry: dense and all zero */
	for (uint32_t i = 0; i < m->pairs; i++)
		len += m->present[i] ? m->entry_len[i] : dense;
	if (len > G2T_RECORD_LIMIT)
		return g2t_fail(d, G2T_ETOOBIG, 0, -1, "model of %llu bytes is too large",
		                (unsigned long long)len);
	if (!(p = malloc(len)))
		return G2T_ENOMEM;
	memcpy(p, s->id, G2T_HASH_SIZE);
	g2t_put_u32(p + 32, s->classes);
	g2t_put_u32(p + 36, s->features);
	g2t_put_u32(p + 40, m->pairs);
	memcpy(p + 44, m->present, m->pairs);
	o = p + 44 + m->pairs;
	for (uint32_t i = 0; i < m->pairs; i++) {
		if (m->present[i])
			memcpy(o, m->entry[i], m->entry_len[i]);
		else
			memset(o, 0, dense);
		o += m->present[i] ? m->entry_len[i] : dense;
	}
	for (size_t i = 0; sigmoids && i < 2 * (size_t)m->pairs; i++, o += 4)
		g2t_put_f32(o, m->sigmoid[i]);
	rc = g2t_write_header(out);
	if (!rc)
		rc = g2t_write_record(out, G2T_REC_SCHEMA, s->payload, s->length);
	if (!rc)
		rc = g2t_write_record(out, G2T_REC_MODEL, p, (uint32_t)len);
	if (rc == G2T_EIO)
		g2t_fail(d, rc, 0, -1, "%s", strerror(errno));
	free(p);
	return rc;
}

void g2t_merge_trust(struct g2t_merge *m, const struct g2t_keyring *trust,
                     int allow_unsigned)
{
	m->trust = trust;
	m->allow_unsigned = allow_unsigned;
}

size_t g2t_merge_refusals(const struct g2t_merge *m, const char *const **lines)
{
	*lines = (const char *const *)m->refusal;
	return m->nrefusals;
}
