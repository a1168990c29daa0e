/* g2t-train: index the input streams, then train their tasks on threads. */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "g2t.h"

#define ROW_BUFFER_BYTES (128u << 10) /* per side; bounds training memory */

struct shard_ref {
	uint8_t hash[G2T_HASH_SIZE];
	struct g2t_shard head;
	int input;
	long long offset;            /* of the rows in the input's file */
	long long at;                /* of the rows in the input's stream */
	size_t bytes;                /* of the rows */
	/* its rows as their non-zero values, for sparse tasks: loaded once,
	 * row r at index and value from start[r] to start[r + 1] */
	int loaded;                  /* 1 loaded, < 0 the status of a failure */
	uint32_t *index;
	float *value;
	size_t *start;
	/* or, for SGD, which streams them: where row m * every starts in the
	 * rows, mark[m], and mark[marks] their end */
	int marked;                  /* as loaded */
	uint32_t every, marks;
	size_t *mark;
};

/* The rows of one side of a task: a class's shard, or (one-vs-rest's
 * side 1) every other class's, their rows one after another in class order. */
struct side {
	const struct shard_ref **shard;
	uint32_t *first;             /* shards + 1: the side's row of each's first */
	uint32_t shards, rows;
};

struct job {
	struct g2t_task task;
	uint8_t token[G2T_TOKEN_MAX];
	int input;                   /* where the task was read */
	long long offset;
	const struct g2t_schema *schema;
	struct side side[2];
	uint8_t *out;                /* encoded WEIGHTS payload */
	long out_len;
	struct g2t_cert cert;        /* G2T_ALGO_DCD: the optimality certificate */
	int rc;
	struct g2t_diag d;           /* what rc means, when input is at fault */
	int bad_input;               /* the input it names, or -1 */
	struct scratch *scratch;     /* its worker's, while it trains */
};

/* A worker's memory for the exact solver over scattered sparse rows, kept
 * from task to task: tens of MB a task, which fresh pages would make the
 * kernel zero again each time. */
struct scratch {
	float *work;
	size_t floats;
};

struct index {
	struct g2t_in **in;
	int inputs;
	struct g2t_schemas schemas;
	struct shard_ref *shard;
	size_t shards, shard_cap;
	struct job *job;
	size_t jobs, job_cap;
	size_t next;                 /* next job to take */
	size_t finished;             /* jobs done, for progress */
	pthread_mutex_t lock;
	const struct g2t_train_opts *opts;
};

static const struct shard_ref *find_shard(const struct index *x, const uint8_t *hash)
{
	for (size_t i = 0; i < x->shards; i++)
		if (!memcmp(x->shard[i].hash, hash, G2T_HASH_SIZE))
			return &x->shard[i];
	return NULL;
}

static int add_shard(struct index *x, int input, const struct g2t_rec *r,
                     struct g2t_diag *d)
{
	struct shard_ref *s;

	if (find_shard(x, r->hash))
		return G2T_OK;
	if (g2t_grow((void **)&x->shard, &x->shard_cap, x->shards + 1, sizeof *x->shard))
		return G2T_ENOMEM;
	s = &x->shard[x->shards];
	memset(s, 0, sizeof *s);
	if (g2t_shard_header_decode(&s->head, r->head, r->length))
		return g2t_fail(d, G2T_EFORMAT, 0, r->offset, "bad SHARD record");
	if (!isfinite(s->head.lo) || !isfinite(s->head.step))
		return g2t_fail(d, G2T_EFORMAT, 0, r->offset,
		                "SHARD of class %u: its lo or step is not finite", s->head.klass);
	memcpy(s->hash, r->hash, G2T_HASH_SIZE);
	s->bytes = r->length - G2T_SHARD_HEADER_SIZE;
	s->input = input;
	s->at = r->offset + G2T_HEADER_SIZE + G2T_SHARD_HEADER_SIZE;
	s->offset = g2t_in_file_offset(x->in[input], s->at);
	x->shards++;
	return G2T_OK;
}

static int add_task(struct index *x, int input, const struct g2t_rec *r,
                    struct g2t_diag *d)
{
	struct job *j;
	long t = x->opts->task;

	if (g2t_grow((void **)&x->job, &x->job_cap, x->jobs + 1, sizeof *x->job))
		return G2T_ENOMEM;
	j = &x->job[x->jobs];
	memset(j, 0, sizeof *j);
	if (g2t_task_read(&j->task, r->payload, r->length, r->offset, d))
		return G2T_EFORMAT;
	/* the payload buffer is reused: keep a copy of the lease token (the
	 * pointer to it is set in resolve(), once the job array stops moving) */
	memcpy(j->token, j->task.token, j->task.token_len);
	j->input = input;
	j->offset = r->offset;
	j->bad_input = -1;
	if (t < 0 || j->task.id.task == (uint32_t)t)
		x->jobs++;
	return G2T_OK;
}

static int scan(struct index *x, int input, struct g2t_diag *d)
{
	struct g2t_rec r;
	int rc;

	while ((rc = g2t_in_next(x->in[input], &r, d)) == 1) {
		if (r.type == G2T_REC_SCHEMA)
			rc = g2t_schemas_add(&x->schemas, &r, d);
		else if (r.type == G2T_REC_SHARD)
			rc = add_shard(x, input, &r, d);
		else if (r.type == G2T_REC_TASK)
			rc = add_task(x, input, &r, d);
		else
			rc = G2T_OK;
		if (rc)
			return rc;
	}
	return rc;
}

/* Whether a task trains over sparse rows: a shard of it is sparse. */
static int sparse_job(const struct job *j)
{
	for (int side = 0; side < 2; side++)
		for (uint32_t i = 0; i < j->side[side].shards; i++)
			if (j->side[side].shard[i]->head.encoding & G2T_ENC_SPARSE)
				return 1;
	return 0;
}

/* Whether g2t_fixed_train() can take the task's rows: bytes, from 0, one step. */
static int fixed_rows(const struct job *j)
{
	float step = j->side[0].shard[0]->head.step;

	for (int side = 0; side < 2; side++)
		for (uint32_t i = 0; i < j->side[side].shards; i++) {
			const struct g2t_shard *h = &j->side[side].shard[i]->head;

			if (h->encoding != G2T_ENC_U8 || h->lo != 0.0f || h->step != step ||
			    !(step > 0.0f))
				return 0;
		}
	return 1;
}

/* The shard of a side that holds its row `row`. */
static uint32_t part_of(const struct side *s, uint32_t row)
{
	uint32_t lo = 0, hi = s->shards - 1;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo + 1) / 2;

		if (s->first[mid] <= row)
			lo = mid;
		else
			hi = mid - 1;
	}
	return lo;
}

/* Rows first.. of a side: the first piece of them within one shard, its
 * shard and its first row there; returns the rows of the piece. */
static uint32_t piece(const struct side *s, uint32_t first, uint32_t count,
                      const struct shard_ref **shard, uint32_t *at)
{
	uint32_t p = part_of(s, first), left = s->first[p + 1] - first;

	*shard = s->shard[p];
	*at = first - s->first[p];
	return count < left ? count : left;
}

static void free_side(struct side *s)
{
	free(s->shard);
	free(s->first);
}

void g2t_params_settle(struct g2t_params *p, unsigned set, uint32_t was)
{
	int dcd = p->algo == G2T_ALGO_DCD;

	if (dcd != (was == G2T_ALGO_DCD)) {
		if (!(set & G2T_OVERRIDE_LOSS))
			p->loss = dcd ? G2T_DCD_LOSS : G2T_LOSS_HINGE;
		if (!(set & G2T_OVERRIDE_EPOCHS))
			p->epochs = dcd ? G2T_DCD_PASSES : G2T_SGD_EPOCHS;
	}
}

void g2t_params_host_default(struct g2t_params *p)
{
	g2t_params_default(p);
	p->algo = G2T_ALGO_DCD;
	p->loss = G2T_DCD_LOSS;
	p->cost = G2T_DCD_COST;
	p->epochs = G2T_DCD_PASSES;
}

/* Applies option overrides and binds each task to its schema and shards. */
static int resolve(struct index *x, struct job *j, struct g2t_diag *d)
{
	const struct g2t_train_opts *o = x->opts;
	struct g2t_params *p = &j->task.id.params;
	const struct g2t_schema *s = g2t_schemas_find(&x->schemas, j->task.id.schema_id);
	uint32_t ab[2] = { j->task.id.class_a, j->task.id.class_b }, was = p->algo;

	j->task.token = j->token;

	if (o->override & G2T_OVERRIDE_LOSS) p->loss = o->params.loss;
	if (o->override & G2T_OVERRIDE_ALGO) p->algo = o->params.algo;
	if (o->override & G2T_OVERRIDE_L1) p->l1 = o->params.l1;
	if (o->override & G2T_OVERRIDE_EPOCHS) p->epochs = o->params.epochs;
	if (o->override & G2T_OVERRIDE_SEED) p->seed = o->params.seed;
	if (o->override & G2T_OVERRIDE_COST) p->cost = o->params.cost;
	if (o->override & G2T_OVERRIDE_PROBABILITY) p->probability = 1;
	g2t_params_settle(p, o->override, was);
	if (!s)
		return g2t_fail(d, G2T_ESCHEMA, 0, j->offset,
		                "task %u: its SCHEMA record is missing", j->task.id.task);
	if (!g2t_task_fits(s, j->task.id.task, ab[0], ab[1]))
		return g2t_fail(d, G2T_ESCHEMA, 0, j->offset,
		                "task %u: pair %u/%u does not fit the schema",
		                j->task.id.task, ab[0], ab[1]);
	if (ab[1] == s->classes && p->probability)
		return g2t_fail(d, G2T_EPARAM, 0, j->offset, "task %u: one-vs-rest tasks fit "
		                "no probability sigmoid (pairwise coupling is for pairs)",
		                j->task.id.task);
	if ((o->override & G2T_OVERRIDE_WEIGHTS) &&
	    g2t_class_weights(&o->weighting, s, ab, p->weight, d))
		return G2T_EPARAM;
	if (o->override)
		g2t_task_hash(j->task.hash, &j->task.id);
	j->schema = s;
	for (int side = 0; side < 2; side++) {
		struct side *sd = &j->side[side];
		uint32_t most = side && ab[1] == s->classes ? s->classes - 1 : 1;

		sd->shard = malloc(most * sizeof *sd->shard);
		sd->first = malloc((most + 1) * sizeof *sd->first);
		if (!sd->shard || !sd->first)
			return G2T_ENOMEM;
		sd->first[0] = 0;
		for (uint32_t k = most == 1 ? ab[side] : 0; k < s->classes && sd->shards < most;
		     k++) {
			const struct shard_ref *r = find_shard(x, s->shard_hash[k]);

			if (k == ab[0] && side)
				continue;
			if (!r)
				return g2t_fail(d, G2T_ESCHEMA, 0, j->offset,
				                "task %u: no shard for class '%s'", j->task.id.task,
				                s->klass[k]);
			if (r->head.klass != k || r->head.features != s->features ||
			    r->head.rows != s->rows[k])
				return g2t_fail(d, G2T_ESCHEMA, 0, j->offset,
				                "task %u: shard of class '%s' does not fit the schema",
				                j->task.id.task, s->klass[k]);
			sd->shard[sd->shards++] = r;
			sd->rows += r->head.rows;
			sd->first[sd->shards] = sd->rows;
		}
	}
	if (g2t_params_check(p))
		return g2t_fail(d, G2T_EPARAM, 0, j->offset, "task %u: --algo %s trains "
		                "%swithout --l1 only", j->task.id.task,
		                p->algo == G2T_ALGO_FIXED ? "fixed" : "dcd",
		                p->algo == G2T_ALGO_FIXED ? "hinge loss and no class weights "
		                                          : "");
	if (p->algo == G2T_ALGO_FIXED && (p->probability || o->cv))
		return g2t_fail(d, G2T_EPARAM, 0, j->offset, "task %u: --algo fixed fits no "
		                "probability sigmoid and takes no --cv", j->task.id.task);
	if (p->algo == G2T_ALGO_FIXED && sparse_job(j))
		return g2t_fail(d, G2T_EPARAM, 0, j->offset, "task %u: fixed-point training "
		                "takes dense rows only, and a shard is sparse", j->task.id.task);
	if (p->algo == G2T_ALGO_FIXED && !fixed_rows(j))
		return g2t_fail(d, G2T_EDATA, 0, j->offset, "task %u: fixed-point training "
		                "needs 8-bit shards of one scale (g2t-split -q 8)",
		                j->task.id.task);
	return G2T_OK;
}

/* A block of sparse rows a side, as SGD streams them. */
struct sblock {
	uint8_t *raw;                /* their bytes */
	size_t raw_cap;
	uint32_t *index;             /* their values: block * features */
	float *value;
};

/* Row readers for the core: pread the encoded rows, decode to floats. */
struct reader {
	const struct index *x;
	struct job *j;
	uint8_t *raw;
	struct sblock *sb;           /* sparse rows streamed, per side, or NULL */
};

/* pread()s `want` bytes of shard s's rows from byte `from` of them.  The
 * input was read through once already: an end before them means the file
 * changed since, said with its byte, as is a read that fails. */
static int pread_rows(const struct index *x, struct job *j, const struct shard_ref *s,
                      void *buf, size_t want, size_t from)
{
	int fd = g2t_in_fd(x->in[s->input]);
	size_t got = 0;

	while (got < want) {
		ssize_t n = pread(fd, (char *)buf + got, want - got,
		                  (off_t)(s->offset + (long long)(from + got)));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			j->bad_input = s->input;
			return g2t_fail(&j->d, n ? G2T_EIO : G2T_ETRUNC, 0,
			                s->at + (long long)(from + got), "task %u: SHARD of class "
			                "'%s': %s", j->task.id.task, j->schema->klass[s->head.klass],
			                n ? strerror(errno) : "the input now ends before this byte: it "
			                "changed while training");
		}
		got += (size_t)n;
	}
	return G2T_OK;
}

/* pread()s `count` rows of a shard into buf. */
static int read_raw(const struct reader *r, const struct shard_ref *s, uint32_t first,
                    uint32_t count, void *buf)
{
	uint32_t size = g2t_shard_row_size(&s->head);

	return pread_rows(r->x, r->j, s, buf, (size_t)count * size, (size_t)first * size);
}

/* Refuses a NaN or an infinity among rows first.. of a shard, naming its byte. */
static int check_rows(const struct reader *r, const struct shard_ref *s, uint32_t first,
                      uint32_t count, const float *v)
{
	size_t n = (size_t)count * s->head.features, i = g2t_nonfinite(v, n);
	struct job *j = r->j;

	if (i == n)
		return G2T_OK;
	j->bad_input = s->input;
	return g2t_fail(&j->d, G2T_EDATA, 0,
	                s->at + (long long)first * g2t_shard_row_size(&s->head) +
	                (long long)i * 4, "task %u: a SHARD value of class '%s' is not "
	                "finite (NaN or infinity)", j->task.id.task,
	                j->schema->klass[s->head.klass]);
}

static int read_shard_rows(const struct reader *r, const struct shard_ref *s,
                           uint32_t first, uint32_t count, float *out)
{
	const struct g2t_shard *h = &s->head;
	int rc;

#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	/* float32 rows are already in memory order: read them in place */
	if (h->encoding == G2T_ENC_F32)
		return (rc = read_raw(r, s, first, count, out)) ? rc
		       : check_rows(r, s, first, count, out);
#endif
	if ((rc = read_raw(r, s, first, count, r->raw)))
		return rc;
	for (uint32_t i = 0; i < count; i++)
		g2t_shard_row_decode(h, r->raw + (size_t)i * g2t_shard_row_size(h),
		                     out + (size_t)i * h->features);
	return h->encoding == G2T_ENC_F32 ? check_rows(r, s, first, count, out) : G2T_OK;
}

static int read_rows(void *ctx, int side, uint32_t first, uint32_t count, float *out)
{
	const struct reader *r = ctx;
	const struct side *sd = &r->j->side[side];
	int rc = G2T_OK;

	while (count && !rc) {
		const struct shard_ref *s;
		uint32_t at, k = piece(sd, first, count, &s, &at);

		rc = read_shard_rows(r, s, at, k, out);
		out += (size_t)k * s->head.features;
		first += k;
		count -= k;
	}
	return rc;
}

/* The failure rc of g2t_rows_next() at byte `at` of a shard's rows, said. */
static int bad_row(struct job *j, const struct shard_ref *s, int rc, size_t at, uint32_t row)
{
	j->bad_input = s->input;
	return g2t_fail(&j->d, rc, 0, s->at + (long long)at, "task %u: SHARD of class '%s', "
	                "row %u: %s", j->task.id.task, j->schema->klass[s->head.klass], row,
	                rc == G2T_EDATA ? "a value is not finite (NaN or infinity)"
	                                : "malformed (g2t(5): sparse rows)");
}

/* Reads a shard's rows into memory as their non-zero values, checking
 * them; the caller holds the index's lock. */
static int load_rows(struct index *x, struct shard_ref *s, struct job *j)
{
	const struct g2t_shard *h = &s->head;
	uint8_t *raw = malloc(s->bytes ? s->bytes : 1);
	uint32_t *ix = malloc(h->features * sizeof *ix), n;
	float *v = malloc(h->features * sizeof *v);
	size_t cap = 0, nnz = 0;
	struct g2t_rows c;
	int rc = G2T_ENOMEM;

	s->start = malloc(((size_t)h->rows + 1) * sizeof *s->start);
	if (!raw || !ix || !v || !s->start)
		goto out;
	if ((rc = pread_rows(x, j, s, raw, s->bytes, 0)))
		goto out;
	g2t_rows_init(&c, h, raw, s->bytes);
	while ((rc = g2t_rows_next(&c, ix, v, &n)) == 1) {
		s->start[c.row - 1] = nnz;
		if (g2t_grow((void **)&s->index, &cap, nnz + n, sizeof *s->index) ||
		    !(s->value = realloc(s->value, cap * sizeof *s->value))) {
			rc = G2T_ENOMEM;
			break;
		}
		memcpy(s->index + nnz, ix, n * sizeof *ix);
		memcpy(s->value + nnz, v, n * sizeof *v);
		nnz += n;
	}
	s->start[h->rows] = nnz;
	if (rc < 0 && rc != G2T_ENOMEM)
		rc = bad_row(j, s, rc, c.at, c.row);
out:
	free(raw);
	free(ix);
	free(v);
	s->loaded = rc ? rc : 1;
	return rc;
}


/* Finds where every `every`-th row of a sparse shard starts, reading it
 * through a window that holds a row at least and checking its rows; the
 * caller holds the index's lock. */
static int mark_rows(struct index *x, struct shard_ref *s, struct job *j, uint32_t every)
{
	const struct g2t_shard *h = &s->head;
	/* a row: its count, then a step and a value a feature */
	size_t row = 5 + (size_t)h->features * (5u + ((h->encoding & G2T_ENC_U8) ? 1u : 4u));
	size_t win = row > ROW_BUFFER_BYTES ? row : ROW_BUFFER_BYTES, base = 0, len = 0;
	uint8_t *raw = malloc(win);
	uint32_t *ix = malloc(h->features * sizeof *ix), n;
	float *v = malloc(h->features * sizeof *v);
	struct g2t_rows c = { 0 };
	int rc = G2T_ENOMEM;

	s->every = every;
	s->marks = h->rows / every + (h->rows % every != 0);
	s->mark = malloc(((size_t)s->marks + 1) * sizeof *s->mark);
	if (!raw || !ix || !v || !s->mark)
		goto out;
	for (uint32_t r = 0;; r++) {
		size_t pos = base + c.at;

		if (r % every == 0)
			s->mark[r / every] = pos;
		for (;;) {
			g2t_rows_init(&c, h, raw, len);
			c.at = pos - base;
			c.row = r;
			rc = g2t_rows_next(&c, ix, v, &n);
			/* a row cut by the window's end: the window moves to it */
			if (rc != G2T_EFORMAT || base + len == s->bytes || (base == pos && len == win))
				break;
			base = pos;
			len = s->bytes - pos < win ? s->bytes - pos : win;
			if ((rc = pread_rows(x, j, s, raw, len, base)))
				goto out;
		}
		if (rc != 1)
			break;
	}
	s->mark[s->marks] = base + c.at;
	if (rc < 0)
		rc = bad_row(j, s, rc, base + c.at, c.row);
out:
	free(raw);
	free(ix);
	free(v);
	s->marked = rc ? rc : 1;
	return rc;
}

/* Both sides' shards, by the first task that needs each: their rows loaded
 * in memory (every 0), or marked for streaming every `every` rows. */
static int ready_sides(struct index *x, struct job *j, uint32_t every)
{
	int rc = G2T_OK;

	pthread_mutex_lock(&x->lock);
	for (int side = 0; side < 2 && !rc; side++)
		for (uint32_t i = 0; i < j->side[side].shards && !rc; i++) {
			struct shard_ref *s = (struct shard_ref *)j->side[side].shard[i];
			int done = every ? s->marked : s->loaded;

			rc = done == 1 ? G2T_OK : done < 0 ? done
			     : every ? mark_rows(x, s, j, every) : load_rows(x, s, j);
		}
	pthread_mutex_unlock(&x->lock);
	return rc;
}

static int load_sides(struct index *x, struct job *j)
{
	return ready_sides(x, j, 0);
}

/* An LEB128 number at p, bytes up to end: the byte after it, or NULL. */
static const uint8_t *uleb(const uint8_t *p, const uint8_t *end, uint32_t *v)
{
	uint32_t x = 0;

	for (int i = 0; i < 5 && p < end; i++) {
		uint8_t b = *p++;

		x |= (uint32_t)(b & 0x7f) << (7 * i);
		if (!(b & 0x80)) {
			*v = x;
			return p;
		}
	}
	return NULL;
}

/* A row at p of a sparse task's shard (g2t(5)), bytes up to end, which
 * g2t_rows_next() checked when the shard was marked.  A sparse row is
 * decoded without checking again but what keeps memory safe, should the
 * file have changed since: the same values several times faster.  Returns
 * the next row, or NULL. */
static const uint8_t *srow_decode(const struct g2t_shard *h, const uint8_t *p,
                                  const uint8_t *end, uint32_t *index, float *value,
                                  uint32_t *n)
{
	/* in locals: the stores below might alias *h */
	uint32_t count, step, next = 0, F = h->features, width = h->encoding & G2T_ENC_U8 ? 1 : 4;
	float lo = h->lo, scale = h->step;

	if (!(h->encoding & G2T_ENC_SPARSE)) { /* a dense shard of a sparse task */
		struct g2t_rows c;

		g2t_rows_init(&c, h, p, (size_t)(end - p));
		return g2t_rows_next(&c, index, value, n) == 1 ? p + c.at : NULL;
	}
	if (!(p = uleb(p, end, &count)) || count > F)
		return NULL;
	for (uint32_t k = 0; k < count; k++) {
		if (p < end && *p < 0x80) /* a step under 128: one byte */
			step = *p++;
		else if (!(p = uleb(p, end, &step)))
			return NULL;
		if (step == 0 || step - 1 >= F - next || end - p < width)
			return NULL;
		index[k] = next + (step - 1);
		next = index[k] + 1;
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
		if (width == 4)
			memcpy(&value[k], p, 4);
		else
#endif
		value[k] = width == 1 ? lo + scale * (float)*p : g2t_get_f32(p);
		p += width;
	}
	*n = count;
	return p;
}

/* Rows first.. of a side, streamed: each piece's rows from the mark before
 * it, into the side's block. */
static int stream_srows(const struct reader *r, int side, uint32_t first, uint32_t count,
                        struct g2t_srow *out)
{
	struct sblock *b = &r->sb[side];
	size_t fill = 0;

	while (count) {
		const struct shard_ref *s;
		uint32_t at, k = piece(&r->j->side[side], first, count, &s, &at), n;
		uint32_t m = at / s->every, past = (at + k - 1) / s->every + 1;
		size_t from = s->mark[m], len = s->mark[past] - from;
		const uint8_t *p;
		int rc;

		if (len > b->raw_cap) {
			uint8_t *raw = realloc(b->raw, len);

			if (!raw)
				return G2T_ENOMEM;
			b->raw = raw;
			b->raw_cap = len;
		}
		if ((rc = pread_rows(r->x, r->j, s, b->raw, len, from)))
			return rc;
		p = b->raw;
		/* the rows before `at` are decoded where the next is */
		for (uint32_t i = m * s->every; i < at + k; i++) {
			const uint8_t *row = p;

			p = srow_decode(&s->head, p, b->raw + len, b->index + fill, b->value + fill, &n);
			if (!p) { /* checked when marked: the file changed */
				r->j->bad_input = s->input;
				return g2t_fail(&r->j->d, G2T_EFORMAT, 0, s->at + (long long)(from +
				                (size_t)(row - b->raw)), "task %u: SHARD of class '%s', "
				                "row %u: it no longer decodes: the input changed while "
				                "training", r->j->task.id.task,
				                r->j->schema->klass[s->head.klass], i);
			}
			if (i >= at) {
				*out++ = (struct g2t_srow){ n, b->index + fill, b->value + fill };
				fill += n;
			}
		}
		first += k;
		count -= k;
	}
	return G2T_OK;
}

/* Row i of a loaded sparse shard. */
static struct g2t_srow shard_row(const struct shard_ref *s, uint32_t i)
{
	size_t at = s->start[i];

	return (struct g2t_srow){ (uint32_t)(s->start[i + 1] - at), s->index + at,
	                          s->value + at };
}

/* Row i of a side whose shards are loaded. */
static struct g2t_srow side_row(const struct side *s, uint32_t i)
{
	uint32_t p = part_of(s, i);

	return shard_row(s->shard[p], i - s->first[p]);
}

/* Loaded sparse rows of a side, piece by piece. */
static void side_rows(const struct side *sd, uint32_t first, uint32_t count,
                      struct g2t_srow *out)
{
	while (count) {
		const struct shard_ref *s;
		uint32_t at, k = piece(sd, first, count, &s, &at);

		for (uint32_t i = 0; i < k; i++)
			*out++ = shard_row(s, at + i);
		first += k;
		count -= k;
	}
}

static int read_srows(void *ctx, int side, uint32_t first, uint32_t count,
                      struct g2t_srow *out)
{
	const struct reader *r = ctx;

	if (r->sb)
		return stream_srows(r, side, first, count, out);
	side_rows(&r->j->side[side], first, count, out);
	return G2T_OK;
}

/* Sparse rows scattered into dense ones (g2t_row_reader). */
static int read_scattered(void *ctx, int side, uint32_t first, uint32_t count, float *buf)
{
	const struct reader *r = ctx;
	const struct side *sd = &r->j->side[side];
	size_t F = r->j->schema->features;

	memset(buf, 0, (size_t)count * F * sizeof *buf);
	while (count) {
		const struct shard_ref *s;
		uint32_t at, n = piece(sd, first, count, &s, &at);

		for (uint32_t i = 0; i < n; i++, buf += F)
			for (size_t k = s->start[at + i]; k < s->start[at + i + 1]; k++)
				buf[s->index[k]] = s->value[k];
		first += n;
		count -= n;
	}
	return G2T_OK;
}

/* The exact solver over sparse rows with at least a quarter of their
 * values non-zero: over them scattered dense, where its dot products and
 * updates vectorise, the same bits (g2t_dcd_train_sparse()) several times
 * faster, in at most twice the memory of the non-zeros. */
static int train_scattered(struct index *x, struct job *j, float *w, struct g2t_weights *out,
                           int *done)
{
	uint32_t F = j->schema->features;
	uint32_t n[2] = { j->side[0].rows, j->side[1].rows };
	struct reader r = { .x = x, .j = j };
	size_t need, nnz = 0;
	float *work;
	int rc;

	*done = 0;
	if ((rc = load_sides(x, j)))
		return rc;
	for (int side = 0; side < 2; side++)
		for (uint32_t i = 0; i < j->side[side].shards; i++)
			nnz += j->side[side].shard[i]->start[j->side[side].shard[i]->head.rows];
	if (4u * nnz < ((size_t)n[0] + n[1]) * F)
		return G2T_OK;
	need = g2t_dcd_work_floats(F, n, j->task.id.params.loss);
	if (need > j->scratch->floats) {
		free(j->scratch->work);
		j->scratch->floats = 0;
		if (!(j->scratch->work = malloc(need * sizeof *work)))
			return G2T_ENOMEM;
		j->scratch->floats = need;
	}
	work = j->scratch->work;
	out->w = w;
	rc = g2t_dcd_train(&j->task, F, n, read_scattered, &r, work, out, &j->cert);
	*done = 1;
	return rc;
}

/* A task over sparse rows: the exact solver holds them, O(non-zeros) memory
 * beyond the weights; SGD streams them a block a side at a time. */
static int train_sparse(struct index *x, struct job *j, uint32_t block, float *w,
                        struct g2t_weights *out)
{
	uint32_t F = j->schema->features;
	uint32_t n[2] = { j->side[0].rows, j->side[1].rows };
	int dcd = j->task.id.params.algo == G2T_ALGO_DCD, done, rc;

	if (dcd && ((rc = train_scattered(x, j, w, out, &done)) || done))
		return rc;
	float *work = malloc((dcd ? g2t_dcd_sparse_work_floats(F, n, j->task.id.params.loss)
	                          : 2u * (size_t)F) * sizeof *work);
	struct g2t_srow *rows = malloc((dcd ? (size_t)n[0] + n[1] : 2u * (size_t)block) *
	                               sizeof *rows);
	struct sblock sb[2] = { { 0 }, { 0 } };
	struct reader r = { .x = x, .j = j, .sb = dcd ? NULL : sb };

	for (int side = 0; side < 2 && !dcd; side++) {
		sb[side].index = malloc((size_t)block * F * sizeof *sb[side].index);
		sb[side].value = malloc((size_t)block * F * sizeof *sb[side].value);
	}
	rc = work && rows && (dcd || (sb[0].index && sb[0].value && sb[1].index && sb[1].value))
	     ? ready_sides(x, j, dcd ? 0 : block) : G2T_ENOMEM;
	out->w = w;
	if (!rc)
		rc = dcd ? g2t_dcd_train_sparse(&j->task, F, n, read_srows, &r, work, rows, out,
		                                &j->cert)
		         : g2t_train_sparse(&j->task, F, n, read_srows, &r, work, rows, block, out);
	for (int side = 0; side < 2; side++) {
		free(sb[side].raw);
		free(sb[side].index);
		free(sb[side].value);
	}
	free(work);
	free(rows);
	return rc;
}

/* The fixed-point trainer takes the bytes as they are. */
static const uint8_t *read_bytes(void *ctx, int side, uint32_t first, uint32_t count,
                                 uint8_t *buf)
{
	const struct reader *r = ctx;
	const struct side *sd = &r->j->side[side];
	uint8_t *o = buf;

	while (count) {
		const struct shard_ref *s;
		uint32_t at, k = piece(sd, first, count, &s, &at);

		if (read_raw(r, s, at, k, o))
			return NULL;
		o += (size_t)k * g2t_shard_row_size(&s->head);
		first += k;
		count -= k;
	}
	return buf;
}

/* Floats of training memory for a float task: the exact solver holds every
 * row, so that it reads them once; SGD streams them through the blocks. */
static size_t work_floats(const struct job *j, uint32_t F, uint32_t block,
                          const uint32_t n[2])
{
	if (j->task.id.params.algo == G2T_ALGO_DCD)
		return g2t_dcd_work_floats(F, n, j->task.id.params.loss);
	return g2t_train_work_floats(F, block);
}

/* Bytes of the buffer that read_rows() decodes `block` rows a side from:
 * none where both sides are float32 read in place. */
static size_t raw_bytes(const struct job *j, uint32_t block)
{
	uint32_t most = 0;

	for (int side = 0; side < 2; side++)
		for (uint32_t i = 0; i < j->side[side].shards; i++) {
			const struct g2t_shard *h = &j->side[side].shard[i]->head;

#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
			if (h->encoding == G2T_ENC_F32)
				continue;
#endif
			if (g2t_shard_row_size(h) > most)
				most = g2t_shard_row_size(h);
		}
	return (size_t)block * most;
}

#define PROB_FOLDS 5 /* LIBSVM's -b 1 */

/* A fold's training rows, picked from every row of both sides in memory:
 * dense rows, or a sparse task's rows as its shards hold them. */
struct picked {
	const float *rows[2];        /* all rows of class a, of class b */
	const struct side *side[2];  /* sparse: the shards instead */
	uint32_t *pick[2];           /* the training rows of each side */
	uint32_t features;
};

static int read_picked(void *ctx, int side, uint32_t first, uint32_t count, float *out)
{
	const struct picked *m = ctx;
	size_t F = m->features;

	for (uint32_t i = 0; i < count; i++)
		memcpy(out + i * F, m->rows[side] + m->pick[side][first + i] * F, F * sizeof *out);
	return G2T_OK;
}

static int read_spicked(void *ctx, int side, uint32_t first, uint32_t count,
                        struct g2t_srow *out)
{
	const struct picked *m = ctx;

	for (uint32_t i = 0; i < count; i++)
		out[i] = side_row(m->side[side], m->pick[side][first + i]);
	return G2T_OK;
}

/* splitmix32, as the core's */
static uint32_t next_random(uint32_t *state)
{
	uint32_t z = (*state += 0x9e3779b9u);

	z = (z ^ (z >> 16)) * 0x85ebca6bu;
	z = (z ^ (z >> 13)) * 0xc2b2ae35u;
	return z ^ (z >> 16);
}

/* A task's rows in memory, split into folds: for the probability sigmoid
 * and for choosing C. */
struct held {
	struct picked m;
	uint32_t n[2], l, folds;
	float *rows, *w, *work;
	struct g2t_srow *srows;      /* a sparse task's: the fold's rows */
	uint32_t *perm;
	uint8_t *fold;               /* each row's fold */
	double *dec;                 /* each row's decision value, held out */
};

static void held_free(struct held *h)
{
	free(h->rows);
	free(h->srows);
	free(h->w);
	free(h->work);
	free(h->perm);
	free(h->fold);
	free(h->dec);
	free(h->m.pick[0]);
}

/* Reads the task's rows and puts row perm[k] (class a's rows, then class
 * b's) in fold k * folds / l, perm a Fisher-Yates shuffle by splitmix32
 * from seed * 0x9e3779b9 ^ task ^ 0x5bd1e995.  A sparse task's rows stay
 * as its shards hold them. */
static int held_init(struct held *h, struct index *x, struct job *j, uint32_t folds)
{
	const struct g2t_params *p = &j->task.id.params;
	uint32_t F = j->schema->features, most, rng = p->seed * 0x9e3779b9u ^ j->task.id.task ^
	                                              0x5bd1e995u;
	int dcd = p->algo == G2T_ALGO_DCD, sparse = sparse_job(j);
	struct reader r = { .x = x, .j = j };
	size_t raw, work;
	int rc;

	memset(h, 0, sizeof *h);
	h->n[0] = j->side[0].rows;
	h->n[1] = j->side[1].rows;
	h->l = h->n[0] + h->n[1];
	h->folds = folds;
	h->m.features = F;
	most = h->n[0] > h->n[1] ? h->n[0] : h->n[1];
	raw = sparse ? 0 : raw_bytes(j, most);
	if (sparse) {
		work = dcd ? g2t_dcd_sparse_work_floats(F, h->n, p->loss) : 2u * (size_t)F;
		h->srows = malloc((dcd ? h->l : 2u * (size_t)most) * sizeof *h->srows);
	} else {
		work = dcd ? g2t_dcd_work_floats(F, h->n, p->loss) : g2t_train_work_floats(F, most);
		h->rows = malloc((size_t)h->l * F * sizeof *h->rows);
	}
	h->w = malloc(F * sizeof *h->w);
	h->work = malloc(work * sizeof *h->work);
	h->perm = malloc((size_t)h->l * sizeof *h->perm);
	h->fold = malloc(h->l);
	h->dec = malloc((size_t)h->l * sizeof *h->dec);
	h->m.pick[0] = malloc((size_t)h->l * sizeof *h->m.pick[0]);
	r.raw = raw ? malloc(raw) : NULL;
	if (!(h->rows || h->srows) || !h->w || !h->work || !h->perm || !h->fold || !h->dec ||
	    !h->m.pick[0] || (raw && !r.raw)) {
		free(r.raw);
		return G2T_ENOMEM;
	}
	h->m.pick[1] = h->m.pick[0] + h->n[0];
	if (sparse) {
		rc = load_sides(x, j);
		h->m.side[0] = &j->side[0];
		h->m.side[1] = &j->side[1];
	} else {
		h->m.rows[0] = h->rows;
		h->m.rows[1] = h->rows + (size_t)h->n[0] * F;
		rc = read_rows(&r, 0, 0, h->n[0], h->rows);
		if (!rc)
			rc = read_rows(&r, 1, 0, h->n[1], h->rows + (size_t)h->n[0] * F);
	}
	free(r.raw);
	for (uint32_t i = 0; i < h->l; i++)
		h->perm[i] = i;
	for (uint32_t i = h->l; i > 1; i--) {
		uint32_t k = next_random(&rng) % i, t = h->perm[i - 1];

		h->perm[i - 1] = h->perm[k];
		h->perm[k] = t;
	}
	for (uint32_t k = 0; k < h->l; k++)
		h->fold[h->perm[k]] = (uint8_t)((uint64_t)k * folds / h->l);
	return rc;
}

/* The fold's training rows, trained by the task's algorithm: the same bits
 * from sparse rows as from the same rows stored dense. */
static int train_picked(struct held *h, const struct g2t_task *t, const uint32_t k[2],
                        struct g2t_weights *out)
{
	uint32_t F = h->m.features, block = k[0] > k[1] ? k[0] : k[1];

	if (t->id.params.algo == G2T_ALGO_DCD)
		return h->srows ? g2t_dcd_train_sparse(t, F, k, read_spicked, &h->m, h->work,
		                                       h->srows, out, NULL)
		                : g2t_dcd_train(t, F, k, read_picked, &h->m, h->work, out, NULL);
	return h->srows ? g2t_train_sparse(t, F, k, read_spicked, &h->m, h->work, h->srows,
	                                   block, out)
	                : g2t_train(t, F, k, read_picked, &h->m, h->work, block, out);
}

/* w . x of row i of a side. */
static float held_dot(const struct held *h, int side, uint32_t i)
{
	struct g2t_srow x;

	if (!h->srows)
		return g2t_dot(h->w, h->m.rows[side] + (size_t)i * h->m.features, h->m.features);
	x = side_row(h->m.side[side], i);
	return g2t_sdot(h->w, &x);
}

/* Trains the task, with cost C and probability 0, on every row not in fold
 * f and puts the decision values of the rows in it into h->dec; a fold
 * whose other rows lack a class gives +-1 (LIBSVM). */
static int train_fold(struct held *h, const struct job *j, uint8_t f, float cost)
{
	struct g2t_task t = j->task;
	struct g2t_weights out = { .w = h->w };
	uint32_t k[2] = { 0, 0 };
	int rc = G2T_OK;

	t.id.params.probability = 0;
	t.id.params.cost = cost;
	for (int side = 0; side < 2; side++)
		for (uint32_t i = 0; i < h->n[side]; i++)
			if (h->fold[side ? h->n[0] + i : i] != f)
				h->m.pick[side][k[side]++] = i;
	if (k[0] && k[1])
		rc = train_picked(h, &t, k, &out);
	for (int side = 0; side < 2 && !rc; side++)
		for (uint32_t i = 0; i < h->n[side]; i++) {
			uint32_t r = side ? h->n[0] + i : i;

			if (h->fold[r] == f)
				h->dec[r] = !k[1] ? 1 : !k[0] ? -1
				            : (double)held_dot(h, side, i) + out.bias;
		}
	return rc;
}

/* Every row's decision value with its fold held out, at cost C. */
static int held_out(struct held *h, const struct job *j, float cost)
{
	int rc = G2T_OK;

	for (uint32_t f = 0; f < h->folds && !rc; f++)
		rc = train_fold(h, j, (uint8_t)f, cost);
	return rc;
}

/* Platt's sigmoid of a task, from the decision values of each row when its
 * fold (of PROB_FOLDS) is held out. */
static int fit_sigmoid(struct index *x, struct job *j, float ab[2])
{
	struct held h;
	double fit[2];
	int8_t *y = malloc(j->side[0].rows + (size_t)j->side[1].rows);
	int rc = y ? held_init(&h, x, j, PROB_FOLDS) : G2T_ENOMEM;

	if (!rc)
		rc = held_out(&h, j, j->task.id.params.cost);
	for (uint32_t i = 0; !rc && i < h.l; i++)
		y[i] = i < h.n[0] ? 1 : -1;
	if (!rc && !(rc = g2t_sigmoid_fit(h.dec, y, h.l, fit))) {
		ab[0] = (float)fit[0];
		ab[1] = (float)fit[1];
	}
	if (y)
		held_free(&h);
	free(y);
	return rc;
}

/* --cv K --grid: the C of the grid whose K-fold held-out accuracy is the
 * highest (the first in grid order of equals) becomes the task's cost. */
static int choose_cost(struct index *x, struct job *j)
{
	const struct g2t_train_opts *o = x->opts;
	struct held h;
	uint32_t best = 0;
	int rc = held_init(&h, x, j, o->cv);

	for (size_t g = 0; g < o->grid_n && !rc; g++) {
		uint32_t right = 0;

		if ((rc = held_out(&h, j, o->grid[g])))
			break;
		for (uint32_t i = 0; i < h.l; i++)
			right += (h.dec[i] > 0) == (i < h.n[0]);
		if (right > best || g == 0) {
			best = right;
			j->task.id.params.cost = o->grid[g];
		}
	}
	held_free(&h);
	g2t_task_hash(j->task.hash, &j->task.id);
	return rc;
}

uint32_t g2t_train_block(uint32_t algo, uint32_t features, const uint32_t n[2])
{
	uint32_t row = algo == G2T_ALGO_FIXED ? features : features * 4u;

	if (algo == G2T_ALGO_DCD)
		return n[0] > n[1] ? n[0] : n[1];
	return ROW_BUFFER_BYTES / row ? ROW_BUFFER_BYTES / row : 1;
}

static int train_job(struct index *x, struct job *j)
{
	uint32_t F = j->schema->features;
	int fixed = j->task.id.params.algo == G2T_ALGO_FIXED;
	int dcd = j->task.id.params.algo == G2T_ALGO_DCD;
	uint32_t n[2] = { j->side[0].rows, j->side[1].rows };
	/* rows a side in memory: as many as fit in ROW_BUFFER_BYTES, or all */
	uint32_t row = fixed ? F : F * 4u;
	uint32_t block = dcd ? (n[0] > n[1] ? n[0] : n[1])
	                     : ROW_BUFFER_BYTES / row ? ROW_BUFFER_BYTES / row : 1;
	int sparse = sparse_job(j);
	void *work = sparse ? NULL : malloc(fixed ? g2t_fixed_work_bytes(F, block)
	                                          : work_floats(j, F, block, n) * sizeof(float));
	float *w = malloc((size_t)F * sizeof *w);
	size_t raw = fixed || sparse ? 0 : raw_bytes(j, block);
	struct reader r = { .x = x, .j = j, .raw = raw ? malloc(raw) : NULL };
	struct g2t_weights out = { .w = w };
	size_t cap = G2T_HASH_SIZE + G2T_TASK_ID_SIZE + 44 + (size_t)F * 8 + G2T_TOKEN_MAX;
	int rc = G2T_ENOMEM;

	if (x->opts->cv && (rc = choose_cost(x, j)))
		goto done;
	rc = G2T_ENOMEM;
	if ((work || sparse) && w && (!raw || r.raw) && (j->out = malloc(cap))) {
		rc = sparse ? train_sparse(x, j, block, w, &out)
		     : fixed ? g2t_fixed_train(&j->task, F, j->side[0].shard[0]->head.step, n,
		                               read_bytes, &r, work, block, &out)
		     : dcd ? g2t_dcd_train(&j->task, F, n, read_rows, &r, work, &out, &j->cert)
		           : g2t_train(&j->task, F, n, read_rows, &r, work, block, &out);
		/* a trainer may diverge: no NaN or infinity leaves here */
		if (rc == G2T_OK && (g2t_nonfinite(w, F) < F || !isfinite(out.bias)))
			rc = g2t_fail(&j->d, G2T_EDATA, 0, -1, "task %u: training gave a weight "
			              "that is not finite (it diverged); nothing written",
			              j->task.id.task);
		if (rc == G2T_OK && j->task.id.params.probability)
			rc = fit_sigmoid(x, j, out.sigmoid);
		if (rc == G2T_OK) {
			j->out_len = g2t_weights_encode(j->out, cap, &out);
			rc = j->out_len < 0 ? (int)j->out_len : G2T_OK;
		}
		/* held until the end: a sparse set's weights are far below cap */
		if (rc == G2T_OK && (size_t)j->out_len < cap) {
			uint8_t *fit = realloc(j->out, (size_t)j->out_len);

			j->out = fit ? fit : j->out;
		}
	}
done:
	free(work);
	free(w);
	free(r.raw);
	return rc;
}

static void *worker(void *arg)
{
	struct index *x = arg;
	struct scratch mine = { NULL, 0 };

	for (;;) {
		size_t i;

		pthread_mutex_lock(&x->lock);
		i = x->next++;
		pthread_mutex_unlock(&x->lock);
		if (i >= x->jobs) {
			free(mine.work);
			return NULL;
		}
		x->job[i].scratch = &mine;
		x->job[i].rc = train_job(x, &x->job[i]);
		x->job[i].scratch = NULL;
		if (x->opts->progress) { /* jobs finish out of order: count them */
			pthread_mutex_lock(&x->lock);
			fprintf(stderr, "\rg2t-train: %zu/%zu tasks", ++x->finished, x->jobs);
			pthread_mutex_unlock(&x->lock);
		}
	}
}

static int run_jobs(struct index *x)
{
	unsigned n = x->opts->jobs ? x->opts->jobs : 1;
	pthread_t *t = calloc(n, sizeof *t);
	unsigned started = 0;

	if (!t)
		return G2T_ENOMEM;
	pthread_mutex_init(&x->lock, NULL);
	while (started + 1 < n && pthread_create(&t[started], NULL, worker, x) == 0)
		started++;
	worker(x);
	for (unsigned i = 0; i < started; i++)
		pthread_join(t[i], NULL);
	pthread_mutex_destroy(&x->lock);
	free(t);
	if (x->opts->progress)
		fputc('\n', stderr);
	return G2T_OK;
}

/* Each schema that has tasks, then its weights, in input order. */
static int write_output(const struct index *x, FILE *out)
{
	int rc = g2t_write_header(out);

	for (size_t s = 0; s < x->schemas.n && !rc; s++) {
		int wrote = 0;

		for (size_t i = 0; i < x->jobs && !rc; i++) {
			const struct job *j = &x->job[i];

			if (j->schema != x->schemas.at[s])
				continue;
			if (!wrote++)
				rc = g2t_write_record(out, G2T_REC_SCHEMA, j->schema->payload,
				                      j->schema->length);
			if (!rc)
				rc = g2t_write_record(out, G2T_REC_WEIGHTS, j->out,
				                      (uint32_t)j->out_len);
		}
	}
	return rc;
}

/* --stats: a line per task, tab-separated, in output order; the
 * certificate is "-" where the algorithm has none. */
static int write_stats(const struct index *x, FILE *f)
{
	fputs("task\tclass_a\tclass_b\trows\tpasses\tprimal\tdual\tgap\tcost\n", f);
	for (size_t s = 0; s < x->schemas.n; s++)
		for (size_t i = 0; i < x->jobs; i++) {
			const struct job *j = &x->job[i];
			const struct g2t_task_id *t = &j->task.id;

			if (j->schema != x->schemas.at[s])
				continue;
			fprintf(f, "%u\t%s\t%s\t%u", t->task, j->schema->klass[t->class_a],
			        g2t_class_name(j->schema, t->class_b),
			        j->side[0].rows + j->side[1].rows);
			if (t->params.algo == G2T_ALGO_DCD)
				fprintf(f, "\t%u%s\t%.9g\t%.9g\t%.3g", j->cert.passes,
				        j->cert.converged ? "" : "+", (double)j->cert.primal,
				        (double)j->cert.dual, (double)j->cert.gap);
			else
				fprintf(f, "\t%u\t-\t-\t-", t->params.epochs);
			fprintf(f, "\t%.9g\n", (double)t->params.cost);
		}
	return fflush(f) || ferror(f) ? G2T_EIO : G2T_OK;
}

static void free_index(struct index *x)
{
	for (size_t i = 0; i < x->shards; i++) {
		free(x->shard[i].index);
		free(x->shard[i].value);
		free(x->shard[i].start);
		free(x->shard[i].mark);
	}
	for (int i = 0; i < x->inputs; i++)
		g2t_in_free(x->in[i]);
	g2t_schemas_clear(&x->schemas);
	for (size_t i = 0; i < x->jobs; i++) {
		free(x->job[i].out);
		free_side(&x->job[i].side[0]);
		free_side(&x->job[i].side[1]);
	}
	free(x->in);
	free(x->shard);
	free(x->job);
}

int g2t_train_files(const char *const *paths, int n, const struct g2t_train_opts *o,
                    FILE *out, const char **bad, struct g2t_diag *d)
{
	struct index x = { .opts = o };
	const char *stdin_only = NULL;
	int rc = G2T_OK, i;
	size_t k;

	if (n == 0) {
		paths = &stdin_only;
		n = 1;
	}
	if (!(x.in = calloc((size_t)n, sizeof *x.in)))
		return G2T_ENOMEM;
	x.inputs = n;
	for (i = 0; i < n && !rc; i++) {
		size_t shards = x.shards;

		*bad = g2t_display_name(paths[i]);
		rc = g2t_in_open(&x.in[i], paths[i], 1, d);
		if (!rc)
			rc = scan(&x, i, d);
		if (!rc && x.shards == shards) { /* nothing to re-read here */
			g2t_in_free(x.in[i]);
			x.in[i] = NULL;
		}
	}
	if (!rc)
		*bad = n == 1 ? g2t_display_name(paths[0]) : NULL;
	if (!rc && x.jobs == 0)
		rc = g2t_fail(d, G2T_EDATA, 0, -1, o->task >= 0
		              ? "task %ld is not in the input"
		              : "no TASK records in the input (is it a task stream?)", o->task);
	for (k = 0; k < x.jobs && !rc; k++) {
		rc = resolve(&x, &x.job[k], d);
		if (rc)
			*bad = g2t_display_name(paths[x.job[k].input]);
	}
	if (!rc)
		rc = run_jobs(&x);
	if (!rc)
		*bad = NULL;
	for (k = 0; k < x.jobs && !rc; k++) {
		const struct job *j = &x.job[k];

		if (!(rc = j->rc))
			continue;
		/* a shard that failed to load says why in the job that loaded it,
		 * which with -j may come later */
		for (size_t l = k; !j->d.what[0] && ++l < x.jobs;)
			if (x.job[l].rc && x.job[l].d.what[0])
				j = &x.job[l], rc = j->rc;
		if (j->d.what[0])
			*d = j->d;
		else
			g2t_fail(d, rc, 0, -1, "task %u: %s", j->task.id.task, g2t_strerror(rc));
		if (j->bad_input >= 0)
			*bad = g2t_display_name(paths[j->bad_input]);
	}
	if (!rc && (rc = write_output(&x, out)) == G2T_EIO)
		g2t_fail(d, rc, 0, -1, "%s", strerror(errno));
	if (!rc && o->stats)
		rc = write_stats(&x, o->stats);
	free_index(&x);
	return rc;
}
