/*
 * app.c - the test firmware: the same logic on every microcontroller and,
 * built natively, on the host (its "twin").
 *
 * Each job takes one G2T task stream kept in flash (made by g2t-split at
 * build time) and pushes it into g2t_decoder_push() one byte at a time, as
 * it would arrive over a UART.  SCHEMA and SHARD records are parsed as they
 * stream past; the rows of a SHARD stay where they arrived (here: flash)
 * and only their offset is kept.  Every TASK record is trained as soon as
 * it is complete, as its identity says: in float32 (g2t_train) or, for
 * G2T_ALGO_FIXED, in fixed point (g2t_fixed_train); a fixed-point job
 * pushes the TASK records of the fixed-point split after the same SCHEMA
 * and SHARDs.  Each WEIGHTS record is printed in hex, framed and with its
 * CRC, ready for a gateway's g2t tools.  At the end of the stream the
 * held-out rows are classified one-vs-one with g2t_ovo_predict().
 *
 * Output lines: "job ...", "W <hex>", "acc ...", "end ..." must be the
 * same on every target and on the host; "M ..." lines are measurements.
 * The job list comes from mcu/cfg/TARGET.h (JOBS, ARENA_BYTES, CFG_NAME,
 * and the core's build profile).
 */
#include "g2t_core.h"
#include "plat.h"
#include "crc32.h"

#include "datasets.h"

/* Sparse SHARDs (g2t(5)), decoded into RAM as they arrive: the profiles
 * that train them, on targets whose flash is in the data address space */
#if G2T_WITH_SPARSE_ROWS && !defined(__AVR__)
#define APP_SPARSE 1
#else
#define APP_SPARSE 0
#endif

/* MODE_DCD trains each float32 task with the exact solver instead (hinge
 * loss, C = 1): its weights must be the same bits on every target too */
enum { MODE_FLOAT, MODE_FIXED, MODE_DCD };
#define BLOCK_ALL 0 /* block = the larger class's rows: one block a side */
#define DEC_CAP 128 /* buffered records: TASK (104 bytes + a token <= 24) */
/* the largest WEIGHTS payload: dense, with the task's token */
#define ENC_MAX(F) (G2T_HASH_SIZE + G2T_TASK_ID_SIZE + 28u + 4u * (size_t)(F) + 4u + \
                    (DEC_CAP - 104u))

/* ---- output ------------------------------------------------------------ */

static void put_s(fstr s)
{
	while (*s)
		plat_putc(*s++);
}

static void put_u(uint32_t v)
{
	char b[10];
	int n = 0;

	do
		b[n++] = (char)('0' + v % 10);
	while ((v /= 10) != 0);
	while (n)
		plat_putc(b[--n]);
}

static void put_hex(const uint8_t *p, uint32_t n)
{
	static const G2T_FLASH char hex[] = "0123456789abcdef";

	while (n--) {
		plat_putc(hex[*p >> 4]);
		plat_putc(hex[*p++ & 15]);
	}
}

static void put_x32(uint32_t v)
{
	uint8_t b[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v };

	put_hex(b, 4);
}

/* ---- memory: one arena, reset per job ---------------------------------- */

static union {
	uint64_t align;
	uint8_t b[ARENA_BYTES];
} arena;
static size_t arena_used, arena_peak;

static void *take(size_t n)
{
	void *p;

	n = (n + 7u) & ~(size_t)7u;
	if (n > sizeof arena.b - arena_used)
		return 0;
	p = arena.b + arena_used;
	arena_used += n;
	if (arena_used > arena_peak)
		arena_peak = arena_used;
	return p;
}

/* ---- the job's state --------------------------------------------------- */

struct shard_at {
	struct g2t_shard h;
	uint32_t rows_at; /* stream offset of row 0; 0: shard not seen */
};

struct job {
	int mode;
	uint32_t block;                  /* BLOCK_ALL or rows per side */
	const G2T_FLASH uint8_t *stream; /* where the rows stay */
	/* schema */
	uint32_t F, K, P, flags;
	float *offset, *scale;
	uint32_t *rows;
	struct shard_at *shard;
	/* results */
	float *w;          /* P x (F + 1): weights then bias, pair order */
	uint8_t *present;  /* P */
	void *work;        /* training memory, reused by every task */
	size_t work_size, train_size;
	uint8_t *row;      /* one encoded row */
	struct g2t_srow *srows; /* a sparse set: the trainer's rows, */
	struct g2t_srow **srow; /* each class's rows, decoded */
	uint32_t blk;      /* block used */
	int sides[2];      /* classes of the task being trained */
	/* measurements */
	uint32_t t_train, t_all;
	uint32_t rowsteps, tasks, sparse; /* sparse: SHARDs of sparse rows */
	uint32_t stack_train;
};

/* Incremental parser of a streamed record's payload. */
struct parse {
	uint32_t type, skip, state, i, got;
	uint8_t acc[G2T_SHARD_HEADER_SIZE];
	int err;
};

enum { S_F, S_K, S_FLAGS, S_LABEL, S_FNAME, S_OFFSET, S_SCALE, S_CNAME, S_ROWS, S_END };

static int schema_alloc(struct job *j)
{
	j->P = j->K * (j->K - 1) / 2;
	j->offset = take(j->F * sizeof(float));
	j->scale = take(j->F * sizeof(float));
	j->rows = take(j->K * sizeof(uint32_t));
	j->shard = take(j->K * sizeof(struct shard_at));
	return j->offset && j->scale && j->rows && j->shard ? G2T_OK : G2T_ENOMEM;
}

/* One payload byte of a SCHEMA record (layout in g2t(5)). */
static void schema_byte(struct job *j, struct parse *ps, uint8_t b)
{
	uint32_t v;

	if (ps->skip) {
		ps->skip--;
		return;
	}
	ps->acc[ps->got++] = b;
	if (ps->got < 4)
		return;
	ps->got = 0;
	v = g2t_get_u32(ps->acc);
	switch (ps->state) {
	case S_F:
		j->F = v;
		ps->state = S_K;
		break;
	case S_K:
		j->K = v;
		if (j->F == 0 || j->F > 4096 || v < 2 || v > 256) {
			ps->err = G2T_EFORMAT;
			return;
		}
		ps->err = schema_alloc(j);
		ps->state = S_FLAGS;
		break;
	case S_FLAGS:
		/* bit 0, numeric classes; bits 1 (a sparse set: scales only) and
		 * 2 (no feature names) where sparse rows are trained */
		if (v > (APP_SPARSE ? 7u : 1u))
			ps->err = G2T_EPARAM;
		j->flags = v;
		ps->state = S_LABEL;
		break;
	case S_LABEL:
	case S_FNAME:
	case S_CNAME:
		if (v > 4096) {
			ps->err = G2T_EFORMAT;
			return;
		}
		ps->skip = v;
		if (ps->state == S_LABEL)
			ps->state = !(j->flags & 4) ? S_FNAME : j->flags & 2 ? S_SCALE : S_OFFSET;
		else if (ps->state == S_CNAME)
			ps->state = S_ROWS;
		else if (++ps->i == j->F)
			ps->i = 0, ps->state = j->flags & 2 ? S_SCALE : S_OFFSET;
		break;
	case S_OFFSET:
		j->offset[ps->i] = g2t_get_f32(ps->acc);
		ps->state = S_SCALE;
		break;
	case S_SCALE:
		if (j->flags & 2)
			j->offset[ps->i] = 0.0f;
		j->scale[ps->i] = g2t_get_f32(ps->acc);
		ps->state = j->flags & 2 ? S_SCALE : S_OFFSET;
		if (++ps->i == j->F)
			ps->i = 0, ps->state = S_CNAME;
		break;
	case S_ROWS:
		j->rows[ps->i] = v;
		j->shard[ps->i].rows_at = 0;
		ps->skip = G2T_HASH_SIZE;
		ps->state = ++ps->i == j->K ? S_END : S_CNAME;
		break;
	default:
		ps->err = G2T_EFORMAT;
	}
}

static void shard_byte(struct parse *ps, uint8_t b)
{
	if (ps->got < G2T_SHARD_HEADER_SIZE)
		ps->acc[ps->got++] = b;
}

/* ---- training ------------------------------------------------------------ */

/* Row readers: copy rows of one side out of flash. */
static int read_float(void *ctx, int side, uint32_t first, uint32_t count, float *out)
{
	struct job *j = ctx;
	const struct shard_at *s = &j->shard[j->sides[side]];
	uint32_t size = g2t_shard_row_size(&s->h);
	const G2T_FLASH uint8_t *src = j->stream + s->rows_at + first * size;

	while (count--) {
		flash_copy(j->row, src, size);
		g2t_shard_row_decode(&s->h, j->row, out);
		src += size;
		out += j->F;
	}
	return G2T_OK;
}

#if APP_SPARSE
static int read_sparse(void *ctx, int side, uint32_t first, uint32_t count,
                       struct g2t_srow *out)
{
	struct job *j = ctx;
	const struct g2t_srow *r = j->srow[j->sides[side]] + first;

	while (count--)
		*out++ = *r++;
	return G2T_OK;
}

/* A sparse SHARD's rows, checked and decoded into the arena. */
static int shard_decode(struct job *j, uint32_t k, uint32_t len)
{
	const struct shard_at *sa = &j->shard[k];
	struct g2t_rows c;
	uint32_t *index = (uint32_t *)j->work, n, r, e;
	float *value = (float *)j->work + j->F;
	struct g2t_srow *srow = j->srow[k] = take(sa->h.rows * sizeof *srow);
	int rc;

	if (!srow)
		return G2T_ENOMEM;
	g2t_rows_init(&c, &sa->h, j->stream + sa->rows_at, len);
	for (r = 0; (rc = g2t_rows_next(&c, index, value, &n)) == 1; r++) {
		uint32_t *i = take(n * sizeof *i);
		float *v = take(n * sizeof *v);

		if ((n && (!i || !v)) || r >= sa->h.rows)
			return n && (!i || !v) ? G2T_ENOMEM : G2T_EFORMAT;
		for (e = 0; e < n; e++)
			i[e] = index[e], v[e] = value[e];
		srow[r] = (struct g2t_srow){ n, i, v };
	}
	return rc < 0 ? rc : r == sa->h.rows ? G2T_OK : G2T_EFORMAT;
}
#endif

static const uint8_t *read_fixed(void *ctx, int side, uint32_t first, uint32_t count,
                                 uint8_t *buf)
{
	struct job *j = ctx;
	const G2T_FLASH uint8_t *src = j->stream + j->shard[j->sides[side]].rows_at + first * j->F;

#ifdef __AVR__
	flash_copy(buf, src, (size_t)count * j->F); /* flash is not in data space */
	return buf;
#else
	(void)buf, (void)count;
	return src; /* memory-mapped flash: no copy */
#endif
}

static uint32_t max_rows(const struct job *j)
{
	uint32_t m = 0, k;

	for (k = 0; k < j->K; k++)
		m = j->rows[k] > m ? j->rows[k] : m;
	return m;
}

/* After the SCHEMA: results and training memory for the whole job. */
static int job_alloc(struct job *j)
{
	uint32_t k;
	size_t need;

	j->w = take((size_t)j->P * (j->F + 1) * sizeof(float));
	j->present = take(j->P);
	j->row = take((size_t)j->F * 4);
	j->blk = j->block == BLOCK_ALL ? max_rows(j) : j->block;
	if (j->mode == MODE_DCD) { /* every row of the task, both sides at most blk */
		uint32_t n[2] = { j->blk, j->blk };

		need = (j->flags & 2 ? g2t_dcd_sparse_work_floats(j->F, n, G2T_LOSS_HINGE) :
		        g2t_dcd_work_floats(j->F, n, G2T_LOSS_HINGE)) * sizeof(float);
	} else if (j->flags & 2 && j->mode == MODE_FLOAT) {
		need = 2u * j->F * sizeof(float); /* g2t_train_sparse()'s */
	} else {
		need = j->mode == MODE_FLOAT ? g2t_train_work_floats(j->F, j->blk) * sizeof(float)
		                             : g2t_fixed_work_bytes(j->F, j->blk);
	}
	j->train_size = need;
	/* the work area also holds the encoded WEIGHTS and the prediction's x */
	if (need < ENC_MAX(j->F))
		need = ENC_MAX(j->F);
	if (need < (size_t)j->F * 4 + (size_t)j->K * 8)
		need = (size_t)j->F * 4 + (size_t)j->K * 8;
	if (j->flags & 2 && need < (size_t)j->F * 8) /* shard_decode()'s row */
		need = (size_t)j->F * 8;
	j->work = take(need);
	j->work_size = need;
	if (!j->w || !j->present || !j->row || !j->work)
		return G2T_ENOMEM;
	if (j->flags & 2 && (!(j->srows = take(2u * j->blk * sizeof *j->srows)) ||
	                     !(j->srow = take(j->K * sizeof *j->srow))))
		return G2T_ENOMEM;
	for (k = 0; k < j->P; k++)
		j->present[k] = 0;
	return G2T_OK;
}

static int train_task(struct job *j, const uint8_t *payload, uint32_t len)
{
	static struct g2t_task task; /* static: keeps the AVR stack small */
	struct g2t_weights out;
	const struct shard_at *sa, *sb;
	uint32_t n[2], t0, size;
	uintptr_t sp;
	uint8_t hdr[G2T_HEADER_SIZE], crc[G2T_CRC_SIZE];
	long enc;
	int rc;

	if ((rc = g2t_task_decode(&task, payload, len)))
		return rc;
	if (!j->w || task.id.class_b >= j->K ||
	    g2t_pair_index(j->K, task.id.class_a, task.id.class_b) != task.id.task)
		return G2T_ESCHEMA;
	sa = &j->shard[task.id.class_a];
	sb = &j->shard[task.id.class_b];
	if (!sa->rows_at || !sb->rows_at)
		return G2T_ESCHEMA;
	j->sides[0] = (int)task.id.class_a;
	j->sides[1] = (int)task.id.class_b;
	n[0] = sa->h.rows;
	n[1] = sb->h.rows;
	out.w = j->w + (size_t)task.id.task * (j->F + 1);
	sp = plat_stack_ptr();
	plat_stack_paint();
	t0 = plat_clock();
	if ((task.id.params.algo == G2T_ALGO_FIXED) != (j->mode == MODE_FIXED)) {
		rc = G2T_EPARAM; /* the work area is sized for the job's mode */
#if APP_SPARSE
	} else if (j->flags & 2 && j->mode == MODE_FLOAT) {
		rc = g2t_train_sparse(&task, j->F, n, read_sparse, j, j->work, j->srows, j->blk,
		                      &out);
	} else if (j->flags & 2 && j->mode == MODE_DCD) {
		task.id.params.algo = G2T_ALGO_DCD;
		task.id.params.cost = 1.0f;
		task.id.params.epochs = 1000;
		rc = !G2T_HAS_ALGO(G2T_ALGO_DCD) || j->block != BLOCK_ALL ? G2T_EPARAM :
		     g2t_dcd_train_sparse(&task, j->F, n, read_sparse, j, j->work, j->srows,
		                          &out, NULL);
	} else if (j->flags & 2) {
		rc = G2T_EPARAM; /* no fixed point over sparse rows */
#endif
	} else if (j->mode == MODE_FLOAT) {
		rc = g2t_train(&task, j->F, n, read_float, j, j->work, j->blk, &out);
	} else if (j->mode == MODE_DCD) {
		/* the task's identity, hash aside, becomes the exact solver's */
		task.id.params.algo = G2T_ALGO_DCD;
		task.id.params.cost = 1.0f;
		task.id.params.epochs = 1000;
		rc = !G2T_HAS_ALGO(G2T_ALGO_DCD) || j->block != BLOCK_ALL ? G2T_EPARAM :
		     g2t_dcd_train(&task, j->F, n, read_float, j, j->work, &out, NULL);
	} else if (!G2T_HAS_ALGO(G2T_ALGO_FIXED) ||
	           sa->h.encoding != G2T_ENC_U8 || sb->h.encoding != G2T_ENC_U8 ||
	           sa->h.lo != 0.0f || sb->h.lo != 0.0f || sa->h.step != sb->h.step) {
		rc = G2T_EPARAM; /* left out of this build, or rows it cannot train */
	} else {
		rc = g2t_fixed_train(&task, j->F, sa->h.step, n, read_fixed, j, j->work,
		                     j->blk, &out);
	}
	j->t_train += plat_clock() - t0;
	if (sp - plat_stack_low() > j->stack_train)
		j->stack_train = (uint32_t)(sp - plat_stack_low());
	if (rc)
		return rc;
	j->rowsteps += (n[0] + n[1]) * out.epochs;
	j->tasks++;
	out.w[j->F] = out.bias;
	j->present[task.id.task] = 1;
	/* the WEIGHTS record, as a gateway would receive it */
	enc = g2t_weights_encode(j->work, j->work_size, &out);
	if (enc < 0)
		return (int)enc;
	size = (uint32_t)enc;
	g2t_record_frame(hdr, crc, G2T_REC_WEIGHTS, j->work, size, mcu_crc32);
	put_s(FSTR("W "));
	put_hex(hdr, sizeof hdr);
	put_hex(j->work, size);
	put_hex(crc, sizeof crc);
	plat_putc('\n');
	return G2T_OK;
}

/* ---- a job: decode, train, predict --------------------------------------- */

static int record_done(struct job *j, struct parse *ps, const struct g2t_decoder *d)
{
	uint32_t i;

	if (d->payload && (d->type == G2T_REC_SCHEMA || d->type == G2T_REC_SHARD)) {
		/* small enough to have been buffered: parse it all now */
		for (i = 0; i < d->length && !ps->err; i++)
			if (d->type == G2T_REC_SCHEMA)
				schema_byte(j, ps, d->payload[i]);
			else
				shard_byte(ps, d->payload[i]);
	}
	if (ps->err)
		return ps->err;
	if (d->type == G2T_REC_SCHEMA) {
		if (j->w || ps->state != S_END || ps->skip || ps->got)
			return G2T_EFORMAT; /* one schema a job */
		return job_alloc(j);
	}
	if (d->type == G2T_REC_SHARD) {
		struct g2t_shard h;
		int rc;

		if (!j->w)
			return G2T_ESCHEMA;
		if ((rc = g2t_shard_header_decode(&h, ps->acc, d->length)))
			return rc;
		if (h.klass >= j->K || h.rows != j->rows[h.klass] || h.features != j->F)
			return G2T_ESCHEMA;
		if (h.encoding & G2T_ENC_SPARSE && !(j->flags & 2))
			return G2T_EPARAM; /* trained as a sparse set only */
		j->shard[h.klass].h = h;
		j->shard[h.klass].rows_at = (uint32_t)d->offset + G2T_HEADER_SIZE +
		                            G2T_SHARD_HEADER_SIZE;
#if APP_SPARSE
		/* a sparse set's shards, dense ones too, as their non-zeros */
		if (j->flags & 2) {
			j->sparse += (h.encoding & G2T_ENC_SPARSE) != 0;
			return shard_decode(j, h.klass, d->length - G2T_SHARD_HEADER_SIZE);
		}
#endif
		return G2T_OK;
	}
	if (d->type == G2T_REC_TASK)
		return d->payload ? train_task(j, d->payload, d->length) : G2T_ETOOBIG;
	return G2T_OK; /* other types: skipped */
}

static void predict(struct job *j, const G2T_FLASH uint8_t *tx,
                    const G2T_FLASH uint8_t *ty, uint32_t tests)
{
	float *x = j->work;
	uint32_t *votes = (uint32_t *)(x + j->F);
	float *margin = (float *)(votes + j->K);
	uint32_t r, i, ok = 0, crc = 0;

	for (r = 0; r < tests; r++, tx += j->F) {
		uint8_t pred;

		flash_copy(j->row, tx, j->F);
		for (i = 0; i < j->F; i++)
			x[i] = ((float)j->row[i] - j->offset[i]) * j->scale[i];
		pred = (uint8_t)g2t_ovo_predict(j->w, j->present, j->K, j->F, x, votes, margin);
		ok += pred == ty[r];
		crc = mcu_crc32(crc, &pred, 1);
	}
	put_s(FSTR("acc "));
	put_u(ok);
	plat_putc('/');
	put_u(tests);
	put_s(FSTR(" predictions-crc "));
	put_x32(crc);
	plat_putc('\n');
}

static int failures;

/*
 * One job: the task stream of `len` bytes, whose TASK records start at
 * `tasks_at`; a fixed-point job replaces them with the `fixed_len` bytes of
 * `fixed`, the TASK records of the same rows split for fixed point.
 */
static __attribute__((noinline)) void run_job(fstr name, const G2T_FLASH uint8_t *stream,
                    uint32_t len, uint32_t tasks_at, const G2T_FLASH uint8_t *fixed,
                    uint32_t fixed_len, const G2T_FLASH uint8_t *tx,
                    const G2T_FLASH uint8_t *ty, uint32_t tests, int mode, uint32_t block)
{
	static struct job j;
	static struct parse ps;
	static struct g2t_decoder d;
	uint32_t pos, t0, t1, head = mode == MODE_FIXED ? tasks_at : len;
	int rc = G2T_OK;

	put_s(FSTR("job "));
	put_s(name);
	put_s(mode == MODE_FLOAT ? FSTR(" float32") : mode == MODE_DCD ? FSTR(" dcd") : FSTR(" fixed"));
	put_s(FSTR(" block "));
	if (block == BLOCK_ALL)
		put_s(FSTR("all"));
	else
		put_u(block);
	plat_putc('\n');
	arena_used = 0;
	j = (struct job){ .mode = mode, .block = block, .stream = stream };
	ps = (struct parse){ 0 };
	g2t_decoder_init(&d, take(DEC_CAP), DEC_CAP, mcu_crc32);
	d.stream_big = 1;
	plat_stack_paint();
	t0 = plat_clock();
	/* the wire: one byte at a time */
	if (mode == MODE_FIXED)
		len = tasks_at + fixed_len;
	for (pos = 0; pos < len && rc == G2T_OK; pos++) {
		uint8_t b = pos < head ? stream[pos] : fixed[pos - head];
		size_t used;
		int ev;

		rc = g2t_decoder_push(&d, &b, 1, &used, &ev);
		if (rc < 0)
			break;
		rc = G2T_OK;
		if (ev == G2T_EV_BEGIN) {
			ps = (struct parse){ .type = d.type };
		} else if (ev == G2T_EV_DATA) {
			if (d.type == G2T_REC_SCHEMA)
				schema_byte(&j, &ps, *d.data);
			else if (d.type == G2T_REC_SHARD)
				shard_byte(&ps, *d.data);
			rc = ps.err;
		} else if (ev == G2T_EV_RECORD) {
			rc = record_done(&j, &ps, &d);
			ps = (struct parse){ 0 };
		}
	}
	if (rc == G2T_OK && !g2t_decoder_at_boundary(&d))
		rc = G2T_ETRUNC;
	t1 = plat_clock();
	if (rc == G2T_OK) {
		if (j.sparse) {
			put_s(FSTR("sparse-shards "));
			put_u(j.sparse);
			plat_putc('\n');
		}
		predict(&j, tx, ty, tests);
	} else {
		put_s(FSTR("error "));
		put_u((uint32_t)-rc);
		put_s(FSTR(" at byte "));
		put_u(pos);
		plat_putc('\n');
		failures++;
	}
	j.t_all = plat_clock() - t0;
	/* measurements: not compared with the host */
	put_s(FSTR("M tasks "));
	put_u(j.tasks);
	put_s(FSTR(" rowsteps "));
	put_u(j.rowsteps);
	put_s(FSTR(" train "));
	put_u(j.t_train);
	put_s(FSTR(" decode "));
	put_u(t1 - t0 - j.t_train);
	put_s(FSTR(" predict "));
	put_u(j.t_all - (t1 - t0));
	put_s(FSTR(" unit "));
	put_s(plat_clock_unit());
	put_s(FSTR(" x2 "));
	put_u(plat_clock_scale2());
	put_s(FSTR(" stream "));
	put_u(len);
	put_s(FSTR(" tests "));
	put_u(tests);
	plat_putc('\n');
	put_s(FSTR("M ram arena "));
	put_u((uint32_t)arena_used);
	put_s(FSTR(" static "));
	put_u(plat_static_ram());
	put_s(FSTR(" work "));
	put_u((uint32_t)j.train_size);
	put_s(FSTR(" weights "));
	put_u((j.F + 1) * 4);
	put_s(FSTR(" decoder "));
	put_u((uint32_t)sizeof d + DEC_CAP);
	put_s(FSTR(" task "));
	put_u((uint32_t)sizeof(struct g2t_task));
	put_s(FSTR(" stack-train "));
	put_u(j.stack_train);
	put_s(FSTR(" stack-peak "));
	put_u((uint32_t)(plat_stack_base() - plat_stack_low()));
	plat_putc('\n');
}

int main(void)
{
	plat_init();
	put_s(FSTR("g2t-mcu " CFG_NAME "\n"));
#define JOB(ds, mode, block)                                                     \
	run_job(FSTR(#ds), ds_##ds##_stream, sizeof ds_##ds##_stream, DS_##ds##_TASKS_AT, \
	        ds_##ds##_fixed, sizeof ds_##ds##_fixed, ds_##ds##_tx, ds_##ds##_ty,     \
	        sizeof ds_##ds##_ty, mode, block);
	JOBS
	put_s(FSTR("end "));
	put_u((uint32_t)failures);
	put_s(FSTR(" failed\n"));
	put_s(FSTR("M arena-peak "));
	put_u((uint32_t)arena_peak);
	put_s(FSTR(" of "));
	put_u(ARENA_BYTES);
	plat_putc('\n');
	plat_exit(failures ? 1 : 0);
}
