/* g2t-split: text data to a schema, class shards and one-vs-one tasks. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <dirent.h>

#include <sodium.h>

#include "g2t.h"

struct g2t_dataset {
	struct g2t_schema *schema;
	uint32_t features, rows, classes;
	float *x;                 /* rows x features, scaled after loading */
	size_t xcap;
	uint32_t *y;              /* class of each row */
	size_t ycap;
	char **names;             /* classes in order of appearance */
	size_t namecap;
	uint32_t *slot;           /* label hash table: class + 1, 0 empty */
	uint32_t *count;          /* rows of each class, as read */
	size_t countcap;
	uint32_t most;            /* rows of the largest class */
	uint32_t slots;
	uint32_t **members;       /* rows of each canonical class, shuffled */
	int quantize;
	int ovr;
	struct g2t_params params;
	struct g2t_weighting weighting; /* the opts': not owned */
	/* a sparse set: svmlight, or CSV mostly 0, neither with a one-signed
	 * feature (but svmlight mostly 0); its rows as their non-zero
	 * values, never dense; sp_start[r] is where row r starts */
	int sparse;
	int indexed;              /* svmlight: features named by their index */
	/* the first feature whose range holds few binary32 steps: index + 1 */
	uint32_t coarse;
	float coarse_lo, coarse_hi, coarse_step;
	const char *path;         /* the input, while it is read */
	struct g2t_text_opts text;
	double *least;            /* each feature's least value, binary64 */
	/* a sparse set's first feature never 0 and of one sign: index + 1 */
	uint32_t squashed;
	float squashed_lo, squashed_hi;
	uint32_t *sp_index;
	float *sp_value;
	size_t *sp_start, sp_len, sp_cap, sp_rows_cap;
	uint32_t sp_most;         /* the most values in a row */
	uint64_t *sp_bytes;       /* per class: bytes of its rows, sparse, at most */
	uint8_t *shard_sparse;    /* per class: its SHARD is sparse */
	uint64_t *shard_len;      /* per class: its SHARD payload's bytes */
	/* a row being written: its bytes, indices, encoded values */
	uint8_t *row;
	uint32_t *row_index;
	uint8_t *row_value;
};

static uint64_t fnv1a(const char *s, size_t n)
{
	uint64_t h = 1469598103934665603ull;

	while (n--)
		h = (h ^ (uint8_t)*s++) * 1099511628211ull;
	return h;
}

static int rehash(struct g2t_dataset *ds)
{
	uint32_t n = ds->slots ? ds->slots * 2 : 64, i;
	uint32_t *s = calloc(n, sizeof *s);

	if (!s)
		return G2T_ENOMEM;
	for (i = 0; i < ds->classes; i++) {
		uint64_t h = fnv1a(ds->names[i], strlen(ds->names[i])) & (n - 1);

		while (s[h])
			h = (h + 1) & (n - 1);
		s[h] = i + 1;
	}
	free(ds->slot);
	ds->slot = s;
	ds->slots = n;
	return G2T_OK;
}

/* Class id of a label, added when new; -1 when out of memory. */
static long class_of(struct g2t_dataset *ds, const char *label, size_t len, int add)
{
	uint64_t h;

	if (ds->classes * 2 >= ds->slots && rehash(ds))
		return -1;
	for (h = fnv1a(label, len) & (ds->slots - 1); ds->slot[h];
	     h = (h + 1) & (ds->slots - 1)) {
		const char *n = ds->names[ds->slot[h] - 1];

		if (strlen(n) == len && !memcmp(n, label, len))
			return ds->slot[h] - 1;
	}
	if (!add)
		return -2;
	if (g2t_grow((void **)&ds->names, &ds->namecap, ds->classes + 1, sizeof *ds->names) ||
	    !(ds->names[ds->classes] = strndup(label, len)))
		return -1;
	ds->slot[h] = ++ds->classes;
	return ds->classes - 1;
}

int g2t_dataset_labels_continuous(const struct g2t_dataset *ds)
{
	int fractions = 0;

	if (ds->classes <= 10)
		return 0;
	for (uint32_t k = 0; k < ds->classes; k++) {
		char *end;
		double v = strtod(ds->names[k], &end);

		if (!*ds->names[k] || *end)
			return 0;
		fractions |= v != (double)(long long)v;
	}
	return fractions;
}

/* --classes: pre-register the wanted classes; others are dropped. */
static int want_classes(struct g2t_dataset *ds, const char *list, struct g2t_diag *d)
{
	const char *p = list;

	while (*p) {
		size_t n = strcspn(p, ",");

		if (n == 0)
			return g2t_fail(d, G2T_EPARAM, 0, -1, "empty class name in --classes");
		if (class_of(ds, p, n, 0) >= 0)
			return g2t_fail(d, G2T_EPARAM, 0, -1, "class '%.*s' listed twice",
			                (int)n, p);
		if (class_of(ds, p, n, 1) < 0)
			return G2T_ENOMEM;
		p += n + (p[n] == ',');
	}
	if (ds->classes < 2)
		return g2t_fail(d, G2T_EPARAM, 0, -1, "--classes needs at least two classes");
	return G2T_OK;
}

/*
 * The n CSV rows kept as their non-zeros (sp_*) become dense rows in x, in
 * the values' own memory grown: from the last value down, each lands at or
 * after where it was (row r starts at most at r F, an index at least at
 * its entry's place in the row), never on one still to move.
 */
static int densify(struct g2t_dataset *ds, uint32_t n)
{
	size_t F = ds->features, r = n, k = ds->sp_len, cap = ds->sp_cap;
	float *x;

	if (g2t_grow((void **)&ds->sp_value, &cap, n * F, sizeof *ds->sp_value))
		return G2T_ENOMEM;
	x = ds->sp_value;
	while (r--) {
		size_t at = F, start = ds->sp_start[r];

		while (k > start) {
			k--;
			while (at > ds->sp_index[k] + 1)
				x[r * F + --at] = 0.0f;
			x[r * F + --at] = x[k];
		}
		while (at)
			x[r * F + --at] = 0.0f;
	}
	ds->x = x;
	ds->xcap = cap;
	free(ds->sp_index), free(ds->sp_start);
	ds->sp_index = NULL, ds->sp_value = NULL, ds->sp_start = NULL;
	ds->sp_len = ds->sp_cap = ds->sp_rows_cap = 0;
	ds->sp_most = 0;
	return G2T_OK;
}

/* Appends a row's non-zeros, n of index[] and value[] (CSV: index NULL, n
 * values, every feature's). */
static int add_sparse(struct g2t_dataset *ds, const uint32_t *index, const float *value,
                      uint32_t n)
{
	uint32_t i, nz = 0;

	if (g2t_grow((void **)&ds->sp_index, &ds->sp_cap, ds->sp_len + n + 1,
	         sizeof *ds->sp_index) ||
	    g2t_grow((void **)&ds->sp_start, &ds->sp_rows_cap, ds->rows + 2,
	         sizeof *ds->sp_start))
		return G2T_ENOMEM;
	if (!(ds->sp_value = realloc(ds->sp_value, ds->sp_cap * sizeof *ds->sp_value)))
		return G2T_ENOMEM;
	ds->sp_start[ds->rows] = ds->sp_len;
	for (i = 0; i < n; i++) {
		if (!index && value[i] == 0.0f && !signbit(value[i]))
			continue; /* -0 kept: a dense set keeps its bits */
		ds->sp_index[ds->sp_len + nz] = index ? index[i] : i;
		ds->sp_value[ds->sp_len + nz++] = value[i];
	}
	ds->sp_len += nz;
	ds->sp_most = nz > ds->sp_most ? nz : ds->sp_most;
	return G2T_OK;
}

/*
 * CSV rows are kept as their non-zeros while those take at most 1.25 times
 * the memory of dense rows (8 bytes a non-zero against 4 a value), so that
 * a mostly zero CSV costs O(non-zeros) even when its first rows are
 * denser; past that, as dense rows.  svmlight rows are kept sparse as read.
 */
static int add_row(struct g2t_dataset *ds, const struct g2t_row *r, uint32_t klass)
{
	int rc;

	if (g2t_grow((void **)&ds->y, &ds->ycap, ds->rows + 1, sizeof *ds->y))
		return G2T_ENOMEM;
	ds->y[ds->rows] = klass;
	if (!r->index && !ds->x) {
		if ((rc = add_sparse(ds, NULL, r->value, r->n)))
			return rc;
		if (8 * ds->sp_len > 5 * ((size_t)ds->rows + 1) * r->n &&
		    (rc = densify(ds, ds->rows + 1)))
			return rc;
	} else if (!r->index) {
		if (g2t_grow((void **)&ds->x, &ds->xcap, (size_t)(ds->rows + 1) * r->n,
		         sizeof *ds->x))
			return G2T_ENOMEM;
		memcpy(ds->x + (size_t)ds->rows * r->n, r->value, r->n * sizeof *ds->x);
	} else {
		if ((rc = add_sparse(ds, r->index, r->value, r->n)))
			return rc;
		for (uint32_t i = 0; i < r->n; i++)
			if (r->index[i] >= ds->features)
				ds->features = r->index[i] + 1;
	}
	ds->rows++;
	return G2T_OK;
}

/*
 * 1 when a feature never reaches 0 and keeps one sign, as a year beside
 * one-hot columns: a sparse set's scale, 1 / its largest |value|, would
 * put it in a sliver of [0,1] (2000 to 2020: [0.990,1]), where min-max
 * spreads it over all of it, as svm-scale does; -1 out of memory.  The
 * first such feature squeezed into under half of [0, 1], index + 1, and
 * its range go to ds->squashed.
 */
static int one_signed_feature(struct g2t_dataset *ds)
{
	uint32_t F = ds->features, *nz = calloc(F, sizeof *nz), j;
	float *lo = malloc(F * sizeof *lo), *hi = malloc(F * sizeof *hi);
	size_t n = ds->x ? (size_t)ds->rows * F : ds->sp_len;
	int found = 0;

	if (!nz || !lo || !hi) {
		free(nz), free(lo), free(hi);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		float v = ds->x ? ds->x[i] : ds->sp_value[i];

		j = ds->x ? (uint32_t)(i % F) : ds->sp_index[i];
		if (v == 0.0f)
			continue;
		if (!nz[j]++ || v < lo[j])
			lo[j] = v;
		if (nz[j] == 1 || v > hi[j])
			hi[j] = v;
	}
	for (j = 0; j < F && !ds->squashed; j++) {
		float m = hi[j] > -lo[j] ? hi[j] : -lo[j];

		if (nz[j] < ds->rows || lo[j] == hi[j] || (lo[j] < 0.0f && hi[j] > 0.0f))
			continue;
		found = 1;
		if (hi[j] - lo[j] < 0.5f * m) { /* squeezed into under half of [0, 1] */
			ds->squashed = j + 1;
			ds->squashed_lo = lo[j];
			ds->squashed_hi = hi[j];
		}
	}
	free(nz), free(lo), free(hi);
	return found;
}

/* CSV rows with more than half of their values 0 become a sparse set,
 * unless a feature keeps away from 0: those kept sparse stay so, the
 * others, dense until now, move. */
static int sparsify(struct g2t_dataset *ds)
{
	size_t values = (size_t)ds->rows * ds->features, nnz = 0, k = 0, i;
	uint32_t F = ds->features;
	int away;

	if (!ds->x) {
		if (ds->sp_len >= values - values / 2)
			return densify(ds, ds->rows);
		if ((away = one_signed_feature(ds)))
			return away < 0 ? G2T_ENOMEM : densify(ds, ds->rows);
		/* a sparse set's -0s are zeros too */
		ds->sp_start[ds->rows] = ds->sp_len;
		ds->sp_most = 0;
		for (size_t r = 0, start = 0; r < ds->rows; r++) {
			size_t end = ds->sp_start[r + 1];

			ds->sp_start[r] = k;
			for (i = start; i < end; i++)
				if (ds->sp_value[i] != 0.0f) {
					ds->sp_index[k] = ds->sp_index[i];
					ds->sp_value[k++] = ds->sp_value[i];
				}
			if (k - ds->sp_start[r] > ds->sp_most)
				ds->sp_most = (uint32_t)(k - ds->sp_start[r]);
			start = end;
		}
		ds->sp_len = ds->sp_start[ds->rows] = k;
		return G2T_OK;
	}
	for (i = 0; i < values; i++)
		nnz += ds->x[i] != 0.0f;
	if (nnz >= values - values / 2)
		return G2T_OK;
	if ((away = one_signed_feature(ds)))
		return away < 0 ? G2T_ENOMEM : G2T_OK;
	ds->sp_index = malloc((nnz + 1) * sizeof *ds->sp_index);
	ds->sp_start = malloc(((size_t)ds->rows + 1) * sizeof *ds->sp_start);
	if (!ds->sp_index || !ds->sp_start)
		return G2T_ENOMEM;
	/* the values move down in place (k <= i), then the rest is freed */
	for (i = 0; i < values; i++) {
		uint32_t j = (uint32_t)(i % F);

		if (j == 0)
			ds->sp_start[i / F] = k;
		if (ds->x[i] != 0.0f) {
			ds->sp_index[k] = j;
			ds->x[k++] = ds->x[i];
		}
		if (j == F - 1 && k - ds->sp_start[i / F] > ds->sp_most)
			ds->sp_most = (uint32_t)(k - ds->sp_start[i / F]);
	}
	ds->sp_len = ds->sp_start[ds->rows] = k;
	ds->sp_value = realloc(ds->x, (k + 1) * sizeof *ds->x);
	if (!ds->sp_value)
		ds->sp_value = ds->x; /* shrinking failed: keep it all */
	ds->x = NULL;
	return G2T_OK;
}

/* The most classes whose model fits a record, with F features. */
static uint32_t model_classes(uint32_t F)
{
	uint32_t K = 2;

	while (K < G2T_CLASS_LIMIT && G2T_MODEL_BYTES(K + 1, F) <= G2T_RECORD_LIMIT)
		K++;
	return K;
}

/*
 * Refuses the row that crosses a limit of the formats, before memory or
 * output grow past it: the name of its class, the schema's classes, the
 * shard of its class, and the model of all the classes (which bounds the
 * tasks written: K(K-1)/2).  Features are bounded by the reader.
 */
static int check_limits(struct g2t_dataset *ds, const struct g2t_row *r, uint32_t k,
                        struct g2t_diag *d)
{
	uint32_t K = ds->classes, F = ds->features;
	uint64_t shard, model = G2T_MODEL_BYTES(K, F);

	if (r->label_len > G2T_NAME_LIMIT)
		return g2t_fail(d, G2T_EDATA, r->line, -1,
		                "a label of %zu bytes exceeds the limit %u", r->label_len,
		                G2T_NAME_LIMIT);
	/* a sparse set's model keeps its weights sparse: its size is known
	 * after training only, and g2t-merge checks it */
	if (K > G2T_CLASS_LIMIT || (model > G2T_RECORD_LIMIT && !r->index))
		return g2t_fail(d, G2T_EDATA, r->line, -1,
		                "%u classes of %u feature%s exceed the limit: their model "
		                "would take %llu bytes, over %u (at most %u classes)", K, F,
		                F == 1 ? "" : "s", (unsigned long long)model, G2T_RECORD_LIMIT,
		                model_classes(F));
	if (K > ds->countcap) {
		size_t had = ds->countcap, cap = had;

		if (g2t_grow((void **)&ds->count, &ds->countcap, K, sizeof *ds->count) ||
		    g2t_grow((void **)&ds->sp_bytes, &cap, K, sizeof *ds->sp_bytes))
			return G2T_ENOMEM;
		memset(ds->count + had, 0, (ds->countcap - had) * sizeof *ds->count);
		memset(ds->sp_bytes + had, 0, (cap - had) * sizeof *ds->sp_bytes);
	}
	if (++ds->count[k] > ds->most)
		ds->most = ds->count[k];
	shard = G2T_SHARD_HEADER_SIZE + (uint64_t)ds->most * F * (ds->quantize == 8 ? 1 : 4);
	/* a sparse row: a count and a value of 4 bytes with a step of 5, at most */
	ds->sp_bytes[k] += 5 + (uint64_t)r->n * 9;
	if (r->index && G2T_SHARD_HEADER_SIZE + ds->sp_bytes[k] < shard)
		shard = G2T_SHARD_HEADER_SIZE + ds->sp_bytes[k];
	if (shard > G2T_SHARD_LIMIT)
		return g2t_fail(d, G2T_EDATA, r->line, -1,
		                "a class of %u rows of %u features exceeds the limit: its "
		                "shard would take %llu bytes, over %u", ds->most, F,
		                (unsigned long long)shard, G2T_SHARD_LIMIT);
	return G2T_OK;
}

/* A class name is printed in g2t-predict's tab-separated lines: a control
 * byte (a tab, a line break) in it would break them. */
static int check_label(const struct g2t_row *r, struct g2t_diag *d)
{
	for (size_t i = 0; i < r->label_len; i++)
		if ((unsigned char)r->label[i] < 0x20 || r->label[i] == 0x7f)
			return g2t_fail(d, G2T_EDATA, r->line, -1, "the label holds a control "
			                "byte (0x%02x) at its byte %zu: class names are printed "
			                "in tab-separated lines", (unsigned char)r->label[i], i + 1);
	return G2T_OK;
}

/* Tells o->progress how far the reading is. */
static void tell(const struct g2t_split_opts *o, struct g2t_text *t,
                 unsigned long long rows, int end)
{
	long long read, size;

	g2t_text_position(t, &read, &size);
	o->progress(o->progress_ctx, rows, read, size, end);
}

static int read_rows(struct g2t_dataset *ds, struct g2t_text *t,
                     const struct g2t_split_opts *o, struct g2t_diag *d)
{
	int filtered = o->classes != NULL;
	unsigned long long rows = 0;
	struct g2t_row r;
	int rc;

	while ((rc = g2t_text_next(t, &r, d)) == 1) {
		long k;

		if (o->progress && ++rows % 4096 == 0)
			tell(o, t, rows, 0);
		if (!r.label_len)
			return g2t_fail(d, G2T_EDATA, r.line, -1, "empty label");
		if ((rc = check_label(&r, d)))
			return rc;
		k = class_of(ds, r.label, r.label_len, !filtered);
		if (k == -1)
			return G2T_ENOMEM;
		if (k < 0)
			continue;
		if ((rc = add_row(ds, &r, (uint32_t)k)) ||
		    (rc = check_limits(ds, &r, (uint32_t)k, d)))
			return rc;
		for (uint32_t j = 0; ds->least && j < r.n; j++)
			if (ds->rows == 1 || r.value64[j] < ds->least[j])
				ds->least[j] = r.value64[j];
		if (ds->rows == UINT32_MAX)
			return g2t_fail(d, G2T_EDATA, r.line, -1, "too many rows");
	}
	return rc;
}

/* Canonical class order: by value when every name is a number, then bytes. */
struct class_key {
	double value;            /* 0 for all when not every name is a number */
	const char *name;
	uint32_t id;             /* order of appearance */
};

static int class_cmp(const void *a, const void *b)
{
	const struct class_key *x = a, *y = b;

	if (x->value != y->value)
		return x->value < y->value ? -1 : 1;
	return strcmp(x->name, y->name);
}

/* Fills keys in canonical order (g2t_class_cmp's, without parsing a name
 * at each comparison); returns whether the order is numeric. */
static int sort_classes(char **names, uint32_t n, struct class_key *keys)
{
	int numeric = 1;

	for (uint32_t i = 0; i < n; i++)
		numeric &= g2t_class_is_number(names[i]);
	for (uint32_t i = 0; i < n; i++)
		keys[i] = (struct class_key){ numeric ? strtod(names[i], NULL) : 0.0,
		                              names[i], i };
	qsort(keys, n, sizeof *keys, class_cmp);
	return numeric;
}

static uint64_t splitmix64(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Sorts classes, checks their sizes, lists and shuffles their rows. */
static int order_classes(struct g2t_dataset *ds, struct g2t_diag *d)
{
	uint32_t K = ds->classes, *remap, *count, i;
	struct class_key *sorted = malloc(K * sizeof *sorted);
	struct g2t_schema *s;
	int numeric;

	remap = calloc(K, sizeof *remap);
	count = calloc(K, sizeof *count);
	ds->members = calloc(K, sizeof *ds->members);
	if (!sorted || !remap || !count || !ds->members)
		goto nomem;
	numeric = sort_classes(ds->names, K, sorted);
	for (i = 0; i < K; i++)
		remap[sorted[i].id] = i;
	for (i = 0; i < ds->rows; i++)
		count[ds->y[i] = remap[ds->y[i]]]++;
	for (i = 0; i < K; i++) {
		if (!count[i]) { /* one row is enough, as for svm-train */
			int rc = g2t_fail(d, G2T_EDATA, 0, -1, "class '%s' has no rows",
			                  sorted[i].name);
			free(sorted), free(remap), free(count);
			return rc;
		}
		if (!(ds->members[i] = malloc(count[i] * sizeof **ds->members)))
			goto nomem;
	}
	if (!(s = ds->schema = g2t_schema_new(ds->features, K)))
		goto nomem;
	s->flags = numeric ? G2T_SCHEMA_NUMERIC : 0;
	s->flags |= ds->sparse ? G2T_SCHEMA_SPARSE : 0;
	s->flags |= ds->indexed ? G2T_SCHEMA_INDEXED : 0;
	s->flags |= ds->ovr && K > 2 ? G2T_SCHEMA_OVR : 0;
	for (i = 0; i < K; i++) {
		s->klass[i] = strdup(sorted[i].name);
		s->rows[i] = 0;
		if (!s->klass[i])
			goto nomem;
	}
	for (i = 0; i < ds->rows; i++)
		ds->members[ds->y[i]][s->rows[ds->y[i]]++] = i;
	for (i = 0; i < K; i++) {
		uint64_t seed = (uint64_t)ds->params.seed << 32 | i;

		for (uint32_t j = count[i] - 1; j > 0; j--) {
			uint32_t k = (uint32_t)(splitmix64(&seed) % (j + 1)), t;

			t = ds->members[i][j];
			ds->members[i][j] = ds->members[i][k];
			ds->members[i][k] = t;
		}
	}
	free(sorted), free(remap), free(count);
	return G2T_OK;
nomem:
	free(sorted), free(remap), free(count);
	return G2T_ENOMEM;
}

#define COARSE_STEPS 1024.0f

/* Whether the input can be read a second time: a regular file. */
static int rereadable(const char *path)
{
	struct stat st;

	return path && strcmp(path, "-") && !stat(path, &st) && S_ISREG(st.st_mode);
}

/*
 * The rows read again in binary64, an svmlight row's absent values 0: with
 * span NULL, least[j] becomes the least value of feature j; else each value
 * less least[j] is rounded to binary32 into the rows (a wide schema,
 * g2t(5)), and span[j] is the greatest of them.
 */
static int reread_wide(struct g2t_dataset *ds, double *least, float *span,
                       struct g2t_diag *d)
{
	uint32_t F = ds->features, kept = 0;
	struct g2t_text *t = NULL;
	struct g2t_row r;
	int rc = g2t_text_open(&t, ds->path, &ds->text, d);

	while (!rc && (rc = g2t_text_next(t, &r, d)) == 1) {
		long k = r.label_len ? class_of(ds, r.label, r.label_len, 0) : -2;
		float *x = ds->x + (size_t)kept * F;

		rc = k == -1 ? G2T_ENOMEM : G2T_OK;
		if (k < 0)
			continue;
		if (kept == ds->rows || (r.index ? r.n && r.index[r.n - 1] >= F : r.n != F)) {
			rc = g2t_fail(d, G2T_EDATA, r.line, -1, "the file changed while read again");
			break;
		}
		for (uint32_t i = 0, j = 0; j < F; j++) {
			double v = !r.index ? r.value64[j] : i < r.n && r.index[i] == j
			           ? r.value64[i++] : 0.0;

			if (!span) {
				least[j] = !kept || v < least[j] ? v : least[j];
				continue;
			}
			x[j] = (float)(v - least[j]);
			span[j] = !kept || x[j] > span[j] ? x[j] : span[j];
		}
		kept++;
	}
	if (!rc && kept != ds->rows)
		rc = g2t_fail(d, G2T_EDATA, 0, -1, "the file changed while read again");
	g2t_text_free(t);
	return rc;
}

/*
 * A feature of few binary32 steps (timestamps near 1.7e9: steps of 128 s)
 * loses its differences to the rounding as read: a file is then read again,
 * every value less its feature's least value in binary64, before the
 * rounding (a wide schema); 1 when it was, 0 when the set is not coarse or
 * cannot be read again.  CSV rows gave their least values as first read.
 */
static int widen(struct g2t_dataset *ds, float *lo, float *hi, struct g2t_diag *d)
{
	struct g2t_schema *s = ds->schema;
	int rc;

	if (!ds->coarse || !rereadable(ds->path))
		return 0;
	if (!ds->least) { /* svmlight: its least values from a first pass */
		if (!(ds->least = malloc(ds->features * sizeof *ds->least)))
			return G2T_ENOMEM;
		if ((rc = reread_wide(ds, ds->least, NULL, d)))
			return rc;
	}
	if ((rc = reread_wide(ds, ds->least, hi, d)))
		return rc;
	for (uint32_t j = 0; j < ds->features; j++)
		lo[j] = (float)ds->least[j];
	s->wide = ds->least;
	ds->least = NULL;
	s->flags |= G2T_SCHEMA_WIDE;
	ds->coarse = 0;
	return 1;
}

/* Min-max scaling to [0, 1], stored in the schema and applied in place;
 * a range wider than FLT_MAX would scale to NaN, and one whose inverse
 * overflows (a subnormal range) to infinity: both are refused. */
static int scale(struct g2t_dataset *ds, struct g2t_diag *d)
{
	struct g2t_schema *s = ds->schema;
	uint32_t F = ds->features, j, r;
	float *lo = s->offset, *hi = s->scale; /* hi lives in scale until the end */
	int wide;

	memcpy(lo, ds->x, F * sizeof *lo);
	memcpy(hi, ds->x, F * sizeof *hi);
	for (r = 1; r < ds->rows; r++) {
		const float *x = ds->x + (size_t)r * F;

		for (j = 0; j < F; j++) {
			lo[j] = x[j] < lo[j] ? x[j] : lo[j];
			hi[j] = x[j] > hi[j] ? x[j] : hi[j];
		}
	}
	for (j = 0; j < F; j++) {
		if (!isfinite(hi[j] - lo[j]))
			return g2t_fail(d, G2T_EDATA, 0, -1, "feature '%s': its values, from %g "
			                "to %g, span more than binary32 holds: cannot scale",
			                s->feature[j], (double)lo[j], (double)hi[j]);
		float top = hi[j], m = fabsf(top) > fabsf(lo[j]) ? fabsf(top) : fabsf(lo[j]);
		float step = nextafterf(m, INFINITY) - m;

		/* values were rounded to binary32 as read: apart by few of its
		 * steps, the rounding hid them */
		if (!ds->coarse && top > lo[j] && (top - lo[j]) / step < COARSE_STEPS) {
			ds->coarse = j + 1;
			ds->coarse_lo = lo[j];
			ds->coarse_hi = top;
			ds->coarse_step = step;
		}
	}
	if ((wide = widen(ds, lo, hi, d)) < 0)
		return wide;
	for (j = 0; j < F; j++) {
		/* wide: hi is the greatest value less the offset */
		float span = wide ? hi[j] : hi[j] - lo[j];

		hi[j] = span > 0.0f ? 1.0f / span : 0.0f;
		if (!isfinite(hi[j]))
			return g2t_fail(d, G2T_EDATA, 0, -1, "feature '%s': its values, from %g "
			                "to %g, span too little to scale by", s->feature[j],
			                (double)lo[j], (double)(lo[j] + span));
	}
	for (r = 0; r < ds->rows; r++) {
		float *x = ds->x + (size_t)r * F;

		for (j = 0; j < F; j++)
			x[j] = wide ? x[j] * s->scale[j] : (x[j] - lo[j]) * s->scale[j];
	}
	return G2T_OK;
}

/* A sparse set keeps its zeros 0: scale = 1 / the largest |value| of
 * each feature, offset 0, as svm-scale -l 0 does; scale 0 for a feature
 * never non-zero. */
static int scale_sparse(struct g2t_dataset *ds, struct g2t_diag *d)
{
	struct g2t_schema *s = ds->schema;
	float *most = s->scale; /* the largest |value| until the end */
	size_t k;

	memset(s->offset, 0, ds->features * sizeof *s->offset);
	memset(most, 0, ds->features * sizeof *most);
	for (k = 0; k < ds->sp_len; k++) {
		float a = fabsf(ds->sp_value[k]);

		if (a > most[ds->sp_index[k]])
			most[ds->sp_index[k]] = a;
	}
	for (uint32_t j = 0; j < ds->features; j++) {
		float m = most[j];

		most[j] = m > 0.0f ? 1.0f / m : 0.0f;
		if (!isfinite(most[j]))
			return g2t_fail(d, G2T_EDATA, 0, -1, "feature '%s': its largest value "
			                "in size, %g, is too small to scale by", s->feature[j],
			                (double)m);
	}
	for (k = 0; k < ds->sp_len; k++)
		ds->sp_value[k] = (ds->sp_value[k] - 0.0f) * s->scale[ds->sp_index[k]];
	return G2T_OK;
}

static int name_columns(struct g2t_dataset *ds, struct g2t_text *t)
{
	struct g2t_schema *s = ds->schema;
	const char *const *names;
	uint32_t n = g2t_text_columns(t, &names);
	char buf[32];

	s->label = strdup(g2t_text_label_name(t) ? g2t_text_label_name(t) : "label");
	if (!s->label)
		return G2T_ENOMEM;
	for (uint32_t j = 0; j < ds->features; j++) {
		snprintf(buf, sizeof buf, "f%u", j + 1);
		if (!(s->feature[j] = strdup(j < n ? names[j] : buf)))
			return G2T_ENOMEM;
	}
	return G2T_OK;
}

/* A byte sink for shard payloads. */
struct sink {
	crypto_generichash_state *hash;
	FILE *f;
	uint32_t crc;
	int err;
	uint64_t bytes;           /* put so far */
};

static void put(struct sink *k, const uint8_t *p, size_t n)
{
	k->bytes += n;
	if (k->hash)
		crypto_generichash_update(k->hash, p, n);
	if (k->f) {
		k->crc = g2t_crc32(k->crc, p, n);
		k->err |= fwrite(p, 1, n, k->f) != n;
	}
}

static void shard_of(const struct g2t_dataset *ds, uint32_t klass, struct g2t_shard *s)
{
	s->klass = klass;
	s->rows = ds->schema->rows[klass];
	s->features = ds->features;
	s->encoding = ds->quantize == 8 ? G2T_ENC_U8 : G2T_ENC_F32;
	if (ds->shard_sparse && ds->shard_sparse[klass])
		s->encoding |= G2T_ENC_SPARSE;
	s->lo = 0.0f;
	s->step = ds->quantize == 8 ? 1.0f / 255.0f : 0.0f;
}

static uint8_t quantise(float v)
{
	float q = v * 255.0f + 0.5f;

	return q <= 0.0f ? 0 : q >= 255.0f ? 255 : (uint8_t)q;
}

/* Emits row `at` of a sparse set: its non-zero values once encoded,
 * listed or in their places in a dense row. */
static void emit_sparse_row(const struct g2t_dataset *ds, const struct g2t_shard *sh,
                            uint32_t at, struct sink *k)
{
	int u8 = sh->encoding & G2T_ENC_U8;
	size_t w = u8 ? 1 : 4, dense = (size_t)ds->features * w, i;
	uint32_t m = 0;

	for (i = ds->sp_start[at]; i < ds->sp_start[at + 1]; i++) {
		float v = ds->sp_value[i];
		uint8_t *o = ds->row_value + m * w;

		if (u8 ? (*o = quantise(v)) == 0 : v == 0.0f)
			continue; /* 0 once encoded: absent */
		if (!u8)
			g2t_put_f32(o, v);
		ds->row_index[m++] = ds->sp_index[i];
	}
	if (sh->encoding & G2T_ENC_SPARSE) {
		put(k, ds->row, (size_t)g2t_srow_encode(ds->row, 5 + (size_t)ds->sp_most * 9,
		                                        sh, m, ds->row_index, ds->row_value));
		return;
	}
	memset(ds->row, 0, dense);
	for (i = 0; i < m; i++)
		memcpy(ds->row + ds->row_index[i] * w, ds->row_value + i * w, w);
	put(k, ds->row, dense);
}

/* Emits one class's SHARD payload to a sink, row by row. */
static void emit_shard(const struct g2t_dataset *ds, uint32_t klass, struct sink *k)
{
	struct g2t_shard sh;
	uint8_t head[G2T_SHARD_HEADER_SIZE], *row = ds->row;
	uint32_t F = ds->features;

	shard_of(ds, klass, &sh);
	g2t_shard_header_encode(head, sizeof head, &sh);
	put(k, head, sizeof head);
	for (uint32_t r = 0; r < sh.rows && ds->sparse; r++)
		emit_sparse_row(ds, &sh, ds->members[klass][r], k);
	for (uint32_t r = 0; r < sh.rows && !ds->sparse; r++) {
		const float *x = ds->x + (size_t)ds->members[klass][r] * F;

#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
		if (sh.encoding == G2T_ENC_F32) {
			put(k, (const uint8_t *)x, (size_t)F * 4);
			continue;
		}
#endif
		for (uint32_t j = 0; j < F; j++) {
			if (sh.encoding == G2T_ENC_U8)
				row[j] = quantise(x[j]);
			else
				g2t_put_f32(row + 4 * j, x[j]);
		}
		put(k, row, g2t_shard_row_size(&sh));
	}
}

static int write_shard(const struct g2t_dataset *ds, uint32_t klass, FILE *f)
{
	uint8_t h[G2T_HEADER_SIZE], c[G2T_CRC_SIZE];
	uint64_t len = ds->shard_len[klass];
	struct sink k = { NULL, f, 0, 0, 0 };

	if (len > G2T_SHARD_LIMIT)
		return G2T_ETOOBIG;
	g2t_put_u32(h, G2T_REC_SHARD);
	g2t_put_u32(h + 4, (uint32_t)len);
	k.crc = g2t_crc32(0, h, sizeof h);
	if (fwrite(h, 1, sizeof h, f) != sizeof h)
		return G2T_EIO;
	emit_shard(ds, klass, &k);
	g2t_put_u32(c, k.crc);
	if (k.err || fwrite(c, 1, sizeof c, f) != sizeof c)
		return G2T_EIO;
	return G2T_OK;
}

/* The buffers of a row being written: dense, or sparse at most. */
static int row_buffers(struct g2t_dataset *ds)
{
	size_t dense = (size_t)ds->features * 4, sparse = 5 + (size_t)ds->sp_most * 9;

	ds->row = malloc(dense > sparse ? dense : sparse);
	ds->row_index = malloc(((size_t)ds->sp_most + 1) * sizeof *ds->row_index);
	ds->row_value = malloc(((size_t)ds->sp_most + 1) * 4);
	ds->shard_sparse = calloc(ds->classes, 1);
	ds->shard_len = calloc(ds->classes, sizeof *ds->shard_len);
	return ds->row && ds->row_index && ds->row_value && ds->shard_sparse && ds->shard_len
	       ? G2T_OK : G2T_ENOMEM;
}

/* Chooses each class's encoding, sparse where smaller, and hashes and
 * measures its SHARD payload. */
static int hash_shards(struct g2t_dataset *ds)
{
	crypto_generichash_state st;

	if (row_buffers(ds))
		return G2T_ENOMEM;
	for (uint32_t k = 0; k < ds->classes; k++) {
		struct sink s = { &st, NULL, 0, 0, 0 }, size = { NULL, NULL, 0, 0, 0 };
		struct g2t_shard sh;

		shard_of(ds, k, &sh);
		if (ds->sparse) {
			ds->shard_sparse[k] = 1;
			emit_shard(ds, k, &size);
			ds->shard_sparse[k] = size.bytes - G2T_SHARD_HEADER_SIZE <
			                      (uint64_t)sh.rows * g2t_shard_row_size(&sh);
		}
		g2t_crypto_init();
		crypto_generichash_init(&st, NULL, 0, G2T_HASH_SIZE);
		emit_shard(ds, k, &s);
		crypto_generichash_final(&st, ds->schema->shard_hash[k], G2T_HASH_SIZE);
		ds->shard_len[k] = s.bytes;
	}
	return g2t_schema_encode(ds->schema);
}

/* Whether every class's weight can be had (write_task then needs no check). */
static int check_weights(const struct g2t_dataset *ds, struct g2t_diag *d)
{
	float w[2];
	int rc = G2T_OK;

	for (uint32_t k = 0; k < ds->classes && !rc; k++)
		rc = g2t_class_weights(&ds->weighting, ds->schema, (uint32_t[2]){ k, k }, w, d);
	return rc;
}

int g2t_dataset_load(struct g2t_dataset **out, const char *path,
                     const struct g2t_split_opts *o, struct g2t_diag *d)
{
	struct g2t_dataset *ds = calloc(1, sizeof *ds);
	struct g2t_text *t = NULL;
	int rc;

	*out = ds;
	if (!ds)
		return G2T_ENOMEM;
	ds->quantize = o->quantize;
	ds->ovr = o->ovr;
	ds->params = o->params;
	ds->weighting = o->weighting;
	if (o->classes && (rc = want_classes(ds, o->classes, d)))
		return rc;
	ds->path = path;
	ds->text = o->text;
	ds->text.wide = 1;
	if ((rc = g2t_text_open(&t, path, &ds->text, d)))
		goto done;
	if (g2t_text_format(t) != G2T_TEXT_CSV && o->text.label) {
		rc = g2t_fail(d, G2T_EPARAM, 0, -1, "--label is for CSV: %s is svmlight, whose "
		              "label is each line's first token", g2t_display_name(path));
		goto done;
	}
	if (g2t_text_format(t) == G2T_TEXT_CSV) {
		const char *const *names;
		ds->features = g2t_text_columns(t, &names);
		if (!(ds->least = malloc((ds->features ? ds->features : 1) * sizeof *ds->least))) {
			rc = G2T_ENOMEM;
			goto done;
		}
	}
	rc = read_rows(ds, t, o, d);
	if (o->progress)
		tell(o, t, ds->rows, 1);
	if (rc)
		goto done;
	rc = G2T_EDATA;
	if (ds->rows == 0) {
		g2t_fail(d, rc, 0, -1, "no data rows");
		goto done;
	}
	if (ds->features == 0) {
		g2t_fail(d, rc, 0, -1, "no features");
		goto done;
	}
	if (ds->classes < 2) {
		g2t_fail(d, rc, 0, -1, "only one class ('%s'); need at least two",
		         ds->names[0]);
		goto done;
	}
	if (g2t_text_format(t) != G2T_TEXT_CSV) {
		/* dense svmlight (at least half non-zero: no bigger dense) with
		 * a feature away from 0 is scaled as its CSV form is */
		size_t values = (size_t)ds->rows * ds->features;
		int away = one_signed_feature(ds);

		ds->sp_start[ds->rows] = ds->sp_len;
		if (away < 0 || (away && ds->sp_len >= values - values / 2)) {
			ds->squashed = 0;
			if ((rc = away < 0 ? G2T_ENOMEM : densify(ds, ds->rows)))
				goto done;
		}
	} else if ((rc = sparsify(ds)))
		goto done;
	ds->sparse = ds->sp_start != NULL;
	ds->indexed = g2t_text_format(t) != G2T_TEXT_CSV;
	if ((rc = order_classes(ds, d)) || (rc = name_columns(ds, t)))
		goto done;
	if (!(rc = ds->sparse ? scale_sparse(ds, d) : scale(ds, d)) && !(rc = hash_shards(ds)))
		rc = check_weights(ds, d);
done:
	ds->path = NULL;
	free(ds->least);
	ds->least = NULL;
	g2t_text_free(t);
	return rc;
}

uint32_t g2t_dataset_classes(const struct g2t_dataset *ds)
{
	return ds->classes;
}

uint32_t g2t_dataset_tasks(const struct g2t_dataset *ds)
{
	return g2t_schema_tasks(ds->schema);
}

/* Whether the tasks are one-vs-rest: task a, class a against the rest. */
static int ovr(const struct g2t_dataset *ds)
{
	return (ds->schema->flags & G2T_SCHEMA_OVR) != 0;
}

static int write_task(const struct g2t_dataset *ds, uint32_t a, uint32_t b, FILE *f)
{
	struct g2t_task t = { .token_len = 0 };
	struct g2t_diag d; /* check_weights() has made sure of the weights */
	uint8_t buf[G2T_HASH_SIZE + G2T_TASK_ID_SIZE + 4];

	memcpy(t.id.schema_id, ds->schema->id, G2T_HASH_SIZE);
	t.id.task = b == ds->classes ? a : g2t_pair_index(ds->classes, a, b);
	t.id.class_a = a;
	t.id.class_b = b;
	t.id.params = ds->params;
	g2t_class_weights(&ds->weighting, ds->schema, (uint32_t[2]){ a, b },
	                  t.id.params.weight, &d);
	g2t_task_hash(t.hash, &t.id);
	g2t_task_encode(buf, sizeof buf, &t);
	return g2t_write_record(f, G2T_REC_TASK, buf, sizeof buf);
}

int g2t_split_stream(struct g2t_dataset *ds, FILE *out)
{
	int rc = g2t_write_header(out);

	if (!rc)
		rc = g2t_write_record(out, G2T_REC_SCHEMA, ds->schema->payload,
		                      ds->schema->length);
	for (uint32_t k = 0; k < ds->classes && !rc; k++)
		rc = write_shard(ds, k, out);
	for (uint32_t a = 0; a < ds->classes && !rc; a++)
		for (uint32_t b = ovr(ds) ? ds->classes : a + 1; b < ds->classes + ovr(ds) && !rc;
		     b++)
			rc = write_task(ds, a, b, out);
	return rc;
}

static int write_task_file(const struct g2t_dataset *ds, const char *dir,
                           uint32_t a, uint32_t b, struct g2t_diag *d)
{
	struct g2t_out o;
	char path[4096];
	int rc;

	int width = 1;

	/* one width for the directory, so that ls lists tasks in order */
	for (uint32_t n = g2t_dataset_tasks(ds) - 1; n >= 10; n /= 10)
		width++;
	width = width < 5 ? 5 : width;
	snprintf(path, sizeof path, "%s/task-%0*u.g2t", dir, width,
	         b == ds->classes ? a : g2t_pair_index(ds->classes, a, b));
	if ((rc = g2t_out_open(&o, path, d)))
		return g2t_fail(d, rc, 0, -1, "%s: %s", path, d->what);
	rc = g2t_write_header(o.f);
	if (!rc)
		rc = g2t_write_record(o.f, G2T_REC_SCHEMA, ds->schema->payload,
		                      ds->schema->length);
	/* one-vs-rest: every class's shard, in class order */
	for (uint32_t k = 0; k < ds->classes && !rc; k++)
		if (ovr(ds) || k == a || k == b)
			rc = write_shard(ds, k, o.f);
	if (!rc)
		rc = write_task(ds, a, b, o.f);
	if (!rc)
		rc = g2t_out_commit(&o, d);
	else
		g2t_fail(d, rc, 0, -1, "%s", strerror(errno));
	g2t_out_abort(&o);
	return rc ? g2t_fail(d, rc, 0, -1, "%s: %s", path, d->what) : G2T_OK;
}

int g2t_split_dir(struct g2t_dataset *ds, const char *dir, struct g2t_diag *d)
{
	int rc = G2T_OK;
	struct stat st;

	if (mkdir(dir, 0777) != 0 && errno != EEXIST)
		rc = g2t_fail(d, G2T_EIO, 0, -1, "%s: %s", dir, strerror(errno));
	else if (stat(dir, &st) != 0)
		rc = g2t_fail(d, G2T_EIO, 0, -1, "%s: %s", dir, strerror(errno));
	else if (!S_ISDIR(st.st_mode))
		rc = g2t_fail(d, G2T_EIO, 0, -1, "%s: %s", dir, strerror(ENOTDIR));
	for (uint32_t a = 0; a < ds->classes && !rc; a++)
		for (uint32_t b = ovr(ds) ? ds->classes : a + 1; b < ds->classes + ovr(ds) && !rc;
		     b++)
			rc = write_task_file(ds, dir, a, b, d);
	return rc;
}

uint32_t g2t_split_dir_stale(const char *dir, uint32_t tasks, uint32_t *first)
{
	DIR *dp = opendir(dir);
	struct dirent *de;
	uint32_t n = 0;

	*first = UINT32_MAX;
	while (dp && (de = readdir(dp))) {
		const char *s = de->d_name;
		char *end;
		unsigned long t;

		if (strncmp(s, "task-", 5) || s[5] < '0' || s[5] > '9')
			continue;
		errno = 0;
		t = strtoul(s + 5, &end, 10);
		if (errno || strcmp(end, ".g2t") || t < tasks || t > UINT32_MAX)
			continue;
		n++;
		*first = t < *first ? (uint32_t)t : *first;
	}
	if (dp)
		closedir(dp);
	return n;
}

const char *g2t_dataset_coarse(const struct g2t_dataset *ds, float *lo, float *hi,
                               float *step)
{
	if (!ds->coarse)
		return NULL;
	*lo = ds->coarse_lo;
	*hi = ds->coarse_hi;
	*step = ds->coarse_step;
	return ds->schema->feature[ds->coarse - 1];
}

const char *g2t_dataset_squashed(const struct g2t_dataset *ds, float *lo, float *hi)
{
	if (!ds->squashed || !ds->sparse)
		return NULL;
	*lo = ds->squashed_lo;
	*hi = ds->squashed_hi;
	return ds->schema->feature[ds->squashed - 1];
}

void g2t_dataset_free(struct g2t_dataset *ds)
{
	if (!ds)
		return;
	g2t_schema_free(ds->schema);
	for (uint32_t i = 0; i < ds->classes; i++) {
		free(ds->names[i]);
		if (ds->members)
			free(ds->members[i]);
	}
	free(ds->names);
	free(ds->members);
	free(ds->slot);
	free(ds->count);
	free(ds->x);
	free(ds->y);
	free(ds->sp_index);
	free(ds->sp_value);
	free(ds->sp_start);
	free(ds->sp_bytes);
	free(ds->shard_sparse);
	free(ds->shard_len);
	free(ds->row);
	free(ds->row_index);
	free(ds->row_value);
	free(ds);
}
