/* The SCHEMA record: features, scaling, classes and their shards. */
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "g2t.h"

struct g2t_schema *g2t_schema_new(uint32_t features, uint32_t classes)
{
	struct g2t_schema *s = calloc(1, sizeof *s);

	if (!s)
		return NULL;
	s->features = features;
	s->classes = classes;
	s->feature = calloc(features, sizeof *s->feature);
	s->offset = calloc(features, sizeof *s->offset);
	s->scale = calloc(features, sizeof *s->scale);
	s->klass = calloc(classes, sizeof *s->klass);
	s->rows = calloc(classes, sizeof *s->rows);
	s->shard_hash = calloc(classes, sizeof *s->shard_hash);
	if (!s->feature || !s->offset || !s->scale || !s->klass || !s->rows ||
	    !s->shard_hash) {
		g2t_schema_free(s);
		return NULL;
	}
	return s;
}

void g2t_schema_free(struct g2t_schema *s)
{
	if (!s)
		return;
	for (uint32_t i = 0; s->feature && i < s->features; i++)
		free(s->feature[i]);
	for (uint32_t i = 0; s->klass && i < s->classes; i++)
		free(s->klass[i]);
	free(s->label);
	free(s->feature);
	free(s->offset);
	free(s->wide);
	free(s->scale);
	free(s->klass);
	free(s->rows);
	free(s->shard_hash);
	free(s->payload);
	free(s);
}

long g2t_schema_class(const struct g2t_schema *s, const char *name, size_t len)
{
	for (uint32_t i = 0; i < s->classes; i++)
		if (strlen(s->klass[i]) == len && !memcmp(s->klass[i], name, len))
			return i;
	return -1;
}

int g2t_weighting_add(struct g2t_weighting *w, const char *spec)
{
	const char *eq = strrchr(spec, '=');
	char *end;
	double v;

	if (!eq || eq == spec)
		return G2T_EPARAM;
	errno = 0;
	v = strtod(eq + 1, &end);
	if (end == eq + 1 || *end || errno || !isfinite(v) || v <= 0 || v >= 1e6 ||
	    (float)v <= 0.0f)
		return G2T_EPARAM;
	for (size_t i = 0; i < w->n; i++)
		if (w->w[i].len == (size_t)(eq - spec) && !memcmp(w->w[i].name, spec, w->w[i].len))
			return G2T_EPARAM;
	if (g2t_grow((void **)&w->w, &w->cap, w->n + 1, sizeof *w->w))
		return G2T_ENOMEM;
	w->w[w->n++] = (struct g2t_class_weight){ spec, (size_t)(eq - spec), (float)v };
	return G2T_OK;
}

int g2t_weighting_set(const struct g2t_weighting *w)
{
	return w->n || w->balanced;
}

void g2t_weighting_free(struct g2t_weighting *w)
{
	free(w->w);
	w->w = NULL;
	w->n = w->cap = 0;
}

/* The weight -w gives the class called name, or 0 when none. */
static float given_weight(const struct g2t_weighting *w, const char *name)
{
	for (size_t i = 0; i < w->n; i++)
		if (w->w[i].len == strlen(name) && !memcmp(w->w[i].name, name, w->w[i].len))
			return w->w[i].weight;
	return 0.0f;
}

int g2t_class_weights(const struct g2t_weighting *w, const struct g2t_schema *s,
                      const uint32_t k[2], float out[2], struct g2t_diag *d)
{
	uint64_t n = 0;

	for (size_t i = 0; i < w->n; i++)
		if (g2t_schema_class(s, w->w[i].name, w->w[i].len) < 0)
			return g2t_fail(d, G2T_EPARAM, 0, -1, "-w names class '%.*s', which the "
			                "data has not", (int)w->w[i].len, w->w[i].name);
	for (uint32_t c = 0; c < s->classes; c++)
		n += s->rows[c];
	out[1] = 1.0f; /* one-vs-rest: the other classes weigh 1, as LIBLINEAR's */
	for (int side = 0; side < 2 && k[side] < s->classes; side++) {
		const char *name = s->klass[k[side]];
		double b = (double)n / ((double)s->classes * s->rows[k[side]]);

		out[side] = given_weight(w, name);
		if (out[side] > 0.0f)
			continue;
		out[side] = w->balanced ? (float)b : 1.0f;
		if (!(out[side] < 1e6f))
			return g2t_fail(d, G2T_EPARAM, 0, -1, "--balanced: class '%s' would "
			                "weigh %g, and a weight must be below 1e6", name, b);
	}
	return G2T_OK;
}

uint32_t g2t_schema_tasks(const struct g2t_schema *s)
{
	return s->flags & G2T_SCHEMA_OVR ? s->classes : s->classes * (s->classes - 1) / 2;
}

int g2t_task_fits(const struct g2t_schema *s, uint32_t task, uint32_t a, uint32_t b)
{
	if (s->flags & G2T_SCHEMA_OVR)
		return a < s->classes && b == s->classes && task == a;
	return a < b && b < s->classes && g2t_pair_index(s->classes, a, b) == task;
}

void g2t_task_classes(const struct g2t_schema *s, uint32_t task, uint32_t *a, uint32_t *b)
{
	if (s->flags & G2T_SCHEMA_OVR) {
		*a = task;
		*b = s->classes;
	} else {
		g2t_pair_classes(s->classes, task, a, b);
	}
}

const char *g2t_class_name(const struct g2t_schema *s, uint32_t k)
{
	return k < s->classes ? s->klass[k] : "rest";
}

static size_t str_size(const char *p)
{
	return 4 + strlen(p);
}

static uint8_t *put_str(uint8_t *o, const char *p)
{
	uint32_t n = (uint32_t)strlen(p);

	g2t_put_u32(o, n);
	memcpy(o + 4, p, n);
	return o + 4 + n;
}

/* Bytes a feature's offset takes: none sparse, 8 wide (binary64), else 4. */
static uint32_t offset_bytes(uint32_t flags)
{
	return flags & G2T_SCHEMA_SPARSE ? 0 : flags & G2T_SCHEMA_WIDE ? 8 : 4;
}

/* Bytes a feature takes at least in a SCHEMA of these flags. */
static uint32_t feature_bytes(uint32_t flags)
{
	if (flags & G2T_SCHEMA_TASK)
		return 0;
	return 4 + offset_bytes(flags) + (flags & G2T_SCHEMA_INDEXED ? 0 : 4);
}

static void put_f64(uint8_t *p, double v)
{
	union { double d; uint64_t u; } x = { .d = v };

	g2t_put_u32(p, (uint32_t)x.u);
	g2t_put_u32(p + 4, (uint32_t)(x.u >> 32));
}

int g2t_schema_encode(struct g2t_schema *s)
{
	int names = !(s->flags & G2T_SCHEMA_INDEXED);
	uint32_t offsets = offset_bytes(s->flags);
	uint64_t size = 12 + str_size(s->label) + (uint64_t)s->features * (offsets + 4) +
	                (uint64_t)s->classes * (4 + G2T_HASH_SIZE);
	uint8_t *o;
	uint32_t i;

	for (i = 0; i < s->features && names; i++)
		size += str_size(s->feature[i]);
	for (i = 0; i < s->classes; i++)
		size += str_size(s->klass[i]);
	if (size > G2T_RECORD_LIMIT)
		return G2T_ETOOBIG;
	free(s->payload);
	s->payload = o = malloc(size);
	if (!o)
		return G2T_ENOMEM;
	s->length = (uint32_t)size;
	g2t_put_u32(o, s->features);
	g2t_put_u32(o + 4, s->classes);
	g2t_put_u32(o + 8, s->flags);
	o = put_str(o + 12, s->label);
	for (i = 0; i < s->features && names; i++)
		o = put_str(o, s->feature[i]);
	for (i = 0; i < s->features; i++, o += 4) {
		if (offsets == 8)
			put_f64(o, s->wide[i]);
		else if (offsets)
			g2t_put_f32(o, s->offset[i]);
		o += offsets;
		g2t_put_f32(o, s->scale[i]);
	}
	for (i = 0; i < s->classes; i++) {
		o = put_str(o, s->klass[i]);
		g2t_put_u32(o, s->rows[i]);
		memcpy(o + 4, s->shard_hash[i], G2T_HASH_SIZE);
		o += 4 + G2T_HASH_SIZE;
	}
	g2t_hash(s->id, s->payload, s->length);
	return G2T_OK;
}

int g2t_schema_task_form(const struct g2t_schema *s, uint8_t **out, uint32_t *len)
{
	uint64_t size = 12 + str_size(s->label) + G2T_HASH_SIZE +
	                (uint64_t)s->classes * (4 + G2T_HASH_SIZE);
	uint8_t *o;

	for (uint32_t i = 0; i < s->classes; i++)
		size += str_size(s->klass[i]);
	if (!(*out = o = malloc(size)))
		return G2T_ENOMEM;
	*len = (uint32_t)size;
	g2t_put_u32(o, s->features);
	g2t_put_u32(o + 4, s->classes);
	g2t_put_u32(o + 8, s->flags | G2T_SCHEMA_TASK);
	o = put_str(o + 12, s->label);
	memcpy(o, s->id, G2T_HASH_SIZE);
	o += G2T_HASH_SIZE;
	for (uint32_t i = 0; i < s->classes; i++) {
		o = put_str(o, s->klass[i]);
		g2t_put_u32(o, s->rows[i]);
		memcpy(o + 4, s->shard_hash[i], G2T_HASH_SIZE);
		o += 4 + G2T_HASH_SIZE;
	}
	return G2T_OK;
}

/* A bounded cursor over a payload; why says what went wrong. */
struct cursor {
	const uint8_t *p;
	size_t left;
	int bad;
	const char *why;
};

static uint32_t take_u32(struct cursor *c)
{
	uint32_t v;

	if (c->left < 4) {
		c->bad = 1;
		c->why = c->why ? c->why : "it ends early";
		return 0;
	}
	v = g2t_get_u32(c->p);
	c->p += 4;
	c->left -= 4;
	return v;
}

static char *take_str(struct cursor *c)
{
	uint32_t n = take_u32(c);
	char *s;

	if (!c->bad && n > G2T_NAME_LIMIT)
		c->why = "a name is longer than 4096 bytes";
	else if (!c->bad && n > c->left)
		c->why = "it ends inside a name";
	else if (!c->bad && memchr(c->p, '\0', n))
		c->why = "a name holds a NUL byte";
	if (c->bad || c->why) {
		c->bad = 1;
		return NULL;
	}
	s = malloc(n + 1);
	if (!s) {
		c->bad = 2;
		return NULL;
	}
	memcpy(s, c->p, n);
	s[n] = '\0';
	c->p += n;
	c->left -= n;
	return s;
}

int g2t_class_is_number(const char *name)
{
	return g2t_is_decimal(name, strlen(name)) && isfinite(strtod(name, NULL));
}

int g2t_class_cmp(const char *a, const char *b, int numeric)
{
	double x = numeric ? strtod(a, NULL) : 0.0, y = numeric ? strtod(b, NULL) : 0.0;

	if (x != y)
		return x < y ? -1 : 1;
	return strcmp(a, b);
}

/* What a decoded SCHEMA breaks among the constraints of g2t(5) that its
 * fields alone show, or NULL; buf holds the words. */
static const char *constraint(const struct g2t_schema *s, char *buf, size_t cap)
{
	uint32_t i, numeric = 1;
	long dup;

	if ((dup = g2t_duplicate_name((const char *const *)s->klass, s->classes)) >= 0)
		return snprintf(buf, cap, "class '%.40s' appears twice", s->klass[dup]), buf;
	if (s->flags & ~(uint32_t)(G2T_SCHEMA_NUMERIC | G2T_SCHEMA_SPARSE | G2T_SCHEMA_INDEXED |
	                           G2T_SCHEMA_TASK | G2T_SCHEMA_OVR | G2T_SCHEMA_WIDE))
		return snprintf(buf, cap, "flags 0x%x: a bit other than bits 0 to 5 is set",
		                s->flags), buf;
	if ((s->flags & G2T_SCHEMA_OVR) && s->classes < 3)
		return "flags bit 4 (one-vs-rest) is set, but two classes make one pair";
	if ((s->flags & G2T_SCHEMA_WIDE) && (s->flags & G2T_SCHEMA_SPARSE))
		return "flags bits 5 (wide) and 1 (sparse) are both set: a sparse set has no "
		       "offsets";
	if ((dup = g2t_duplicate_name((const char *const *)s->feature, s->features)) >= 0)
		return snprintf(buf, cap, "feature '%.40s' appears twice", s->feature[dup]), buf;
	for (i = 0; i < s->classes && numeric; i++)
		numeric = (uint32_t)g2t_class_is_number(s->klass[i]);
	if (numeric != (s->flags & G2T_SCHEMA_NUMERIC))
		return numeric ? "flags bit 0 is clear, but every class name is a number"
		       : (snprintf(buf, cap, "flags bit 0 is set, but class '%.40s' is not a "
		                   "number", s->klass[i - 1]), buf);
	for (i = 0; i < s->classes; i++) {
		if (!s->rows[i])
			return snprintf(buf, cap, "class '%.40s' has no rows", s->klass[i]), buf;
		if (i && g2t_class_cmp(s->klass[i - 1], s->klass[i], (int)numeric) > 0)
			return snprintf(buf, cap, "classes not in canonical order: '%.40s' "
			                "before '%.40s'", s->klass[i - 1], s->klass[i]), buf;
	}
	return NULL;
}

/* Checks the counts at the head of a SCHEMA payload against its length. */
static int check_head(uint32_t features, uint32_t classes, uint32_t flags, size_t len,
                      struct g2t_diag *d)
{
	if (features == 0)
		return g2t_fail(d, G2T_EFORMAT, 0, -1, "no features");
	if (features > G2T_FEATURE_LIMIT)
		return g2t_fail(d, G2T_EFORMAT, 0, -1, "%u features exceed the limit %u",
		                features, G2T_FEATURE_LIMIT);
	if (classes < 2)
		return g2t_fail(d, G2T_EFORMAT, 0, -1, "%u classes (two at least)", classes);
	if (classes > G2T_CLASS_LIMIT)
		return g2t_fail(d, G2T_EFORMAT, 0, -1, "%u classes exceed the limit %u",
		                classes, G2T_CLASS_LIMIT);
	if (len < 12 + 4 + (uint64_t)feature_bytes(flags) * features + 40ull * classes +
	          (flags & G2T_SCHEMA_TASK ? G2T_HASH_SIZE : 0))
		return g2t_fail(d, G2T_EFORMAT, 0, -1,
		                "%zu bytes cannot hold %u features and %u classes", len,
		                features, classes);
	return G2T_OK;
}

int g2t_schema_read(struct g2t_schema **out, const uint8_t *p, size_t len,
                    struct g2t_diag *d)
{
	struct cursor c = { p, len, 0, NULL };
	uint32_t features = take_u32(&c), classes = take_u32(&c), flags = take_u32(&c), i;
	struct g2t_schema *s;
	char why[200];
	int rc;

	*out = NULL;
	if (c.bad)
		return g2t_fail(d, G2T_EFORMAT, 0, -1, "%zu bytes, shorter than its head", len);
	if ((rc = check_head(features, classes, flags, len, d)))
		return rc;
	if (!(s = g2t_schema_new(features, classes)))
		return G2T_ENOMEM;
	s->flags = flags;
	s->label = take_str(&c);
	if (flags & G2T_SCHEMA_TASK && !c.bad) { /* the schema id; no feature arrays */
		if (c.left < G2T_HASH_SIZE) {
			c.bad = 1;
			c.why = "it ends early";
		} else {
			memcpy(s->id, c.p, G2T_HASH_SIZE);
			c.p += G2T_HASH_SIZE;
			c.left -= G2T_HASH_SIZE;
		}
	}
	for (i = 0; i < features && !c.bad; i++) {
		char name[16];

		snprintf(name, sizeof name, "f%u", i + 1);
		s->feature[i] = flags & (G2T_SCHEMA_INDEXED | G2T_SCHEMA_TASK) ? strdup(name)
		                : take_str(&c);
		c.bad = s->feature[i] ? c.bad : 2;
	}
	if ((flags & G2T_SCHEMA_WIDE) && !(flags & (G2T_SCHEMA_TASK | G2T_SCHEMA_SPARSE)) &&
	    !(s->wide = calloc(features, sizeof *s->wide)))
		c.bad = 2;
	for (i = 0; i < features && !c.bad && !(flags & G2T_SCHEMA_TASK); i++) {
		union { uint32_t u; float f; } o = { 0 }, k;
		union { uint64_t u; double d; } w;

		if (s->wide) {
			w.u = take_u32(&c);
			w.u |= (uint64_t)take_u32(&c) << 32;
			s->wide[i] = w.d;
			/* the binary32 offset a reader of raw binary32 values uses */
			o.f = isfinite(w.d) && fabs(w.d) <= FLT_MAX ? (float)w.d : NAN;
		} else if (!(flags & G2T_SCHEMA_SPARSE)) {
			o.u = take_u32(&c);
		}
		k.u = take_u32(&c);
		s->offset[i] = o.f;
		s->scale[i] = k.f;
	}
	if (!c.bad && (g2t_nonfinite(s->offset, features) < features ||
	               g2t_nonfinite(s->scale, features) < features))
		c.bad = 1, c.why = "a feature's scaling is not finite (NaN or infinity)";
	for (i = 0; i < classes && !c.bad; i++) {
		s->klass[i] = take_str(&c);
		s->rows[i] = take_u32(&c);
		if (c.left < G2T_HASH_SIZE) {
			c.bad = 1;
			c.why = c.why ? c.why : "it ends early";
			break;
		}
		memcpy(s->shard_hash[i], c.p, G2T_HASH_SIZE);
		c.p += G2T_HASH_SIZE;
		c.left -= G2T_HASH_SIZE;
	}
	if (!c.bad && c.left)
		c.bad = 1, c.why = "bytes are left after the last class";
	if (!c.bad && (c.why = constraint(s, why, sizeof why)))
		c.bad = 1;
	if (c.bad) {
		g2t_schema_free(s);
		if (c.bad == 2)
			return G2T_ENOMEM;
		return g2t_fail(d, G2T_EFORMAT, 0, -1, "%s", c.why);
	}
	s->payload = malloc(len);
	if (!s->payload) {
		g2t_schema_free(s);
		return G2T_ENOMEM;
	}
	memcpy(s->payload, p, len);
	s->length = (uint32_t)len;
	if (!(flags & G2T_SCHEMA_TASK))
		g2t_hash(s->id, p, len);
	*out = s;
	return G2T_OK;
}

int g2t_schema_decode(struct g2t_schema **out, const uint8_t *p, size_t len)
{
	struct g2t_diag d;

	return g2t_schema_read(out, p, len, &d);
}

int g2t_schemas_add(struct g2t_schemas *set, const struct g2t_rec *r,
                    struct g2t_diag *d)
{
	struct g2t_schema *s, **at;
	int rc = g2t_schema_read(&s, r->payload, r->length, d);

	if (rc)
		return rc == G2T_ENOMEM ? rc : g2t_fail(d, rc, 0, r->offset,
		                                        "bad SCHEMA record: %s", d->what);
	for (size_t i = 0; i < set->n; i++) {
		if (memcmp(set->at[i]->id, s->id, G2T_HASH_SIZE))
			continue;
		/* the whole schema takes the place of its task form */
		if (set->at[i]->flags & G2T_SCHEMA_TASK && !(s->flags & G2T_SCHEMA_TASK)) {
			g2t_schema_free(set->at[i]);
			set->at[i] = s;
		} else {
			g2t_schema_free(s);
		}
		return G2T_OK;
	}
	if (!(at = realloc(set->at, (set->n + 1) * sizeof *at))) {
		g2t_schema_free(s);
		return G2T_ENOMEM;
	}
	set->at = at;
	set->at[set->n++] = s;
	return G2T_OK;
}

const struct g2t_schema *g2t_schemas_find(const struct g2t_schemas *set,
                                          const uint8_t id[G2T_HASH_SIZE])
{
	for (size_t i = 0; i < set->n; i++)
		if (!memcmp(set->at[i]->id, id, G2T_HASH_SIZE))
			return set->at[i];
	return NULL;
}

void g2t_schemas_clear(struct g2t_schemas *set)
{
	for (size_t i = 0; i < set->n; i++)
		g2t_schema_free(set->at[i]);
	free(set->at);
	set->at = NULL;
	set->n = 0;
}
