/*
 * g2t_core.h - the freestanding core of g2t: the G2T stream format, linear
 * binary training and one-vs-one prediction.
 *
 * No malloc, no stdio, no libm: every buffer is the caller's, so the same
 * code runs on a host and on a microcontroller.  All functions return
 * G2T_OK (0) or a negative G2T_E* status; nothing here prints or aborts.
 * The byte layout of every record is specified in g2t(5).
 */
#ifndef G2T_CORE_H
#define G2T_CORE_H

#include <stddef.h>
#include <stdint.h>

#define G2T_VERSION_STRING "0.1.0"

/* Status codes.  g2t_strerror() (hosted) turns them into words. */
enum g2t_status {
	G2T_OK = 0,
	G2T_ENOMEM = -1,    /* out of memory or caller buffer too small */
	G2T_EIO = -2,       /* read or write failed */
	G2T_ETRUNC = -3,    /* stream ends inside a record */
	G2T_EMAGIC = -4,    /* not a G2T stream */
	G2T_EVERSION = -5,  /* stream version not supported */
	G2T_ECRC = -6,      /* record checksum mismatch */
	G2T_ETOOBIG = -7,   /* length over the reader's limit */
	G2T_EFORMAT = -8,   /* malformed record payload */
	G2T_ESCHEMA = -9,   /* record does not belong to the schema */
	G2T_EPARAM = -10,   /* invalid parameter */
	G2T_EDATA = -11,    /* bad input data (text files) */
	G2T_ECONFLICT = -12, /* two different results for one task */
	G2T_ESIGNATURE = -13, /* signature does not verify */
	G2T_EREFUSED = -14,  /* refused by policy: untrusted key, replay, unsigned */
	G2T_ETEMP = -15      /* temporary failure: try again later */
};

/* Stream framing. */
#define G2T_MAGIC 0x54324789u /* bytes 89 47 32 54: "\x89G2T" */
#define G2T_FORMAT_VERSION 2u
#define G2T_HEADER_SIZE 8u /* u32 type (or magic), u32 length */
#define G2T_CRC_SIZE 4u

enum g2t_record_type {
	G2T_REC_SCHEMA = 1,
	G2T_REC_SHARD = 2,
	G2T_REC_TASK = 3,
	G2T_REC_WEIGHTS = 4,
	G2T_REC_MODEL = 5,
	G2T_REC_PACKET = 6
};

/* Types from here up are errors, not records to skip (g2t(5), Framing). */
#define G2T_TYPE_LIMIT 0x100u

#define G2T_HASH_SIZE 32u /* BLAKE2b-256 */

enum g2t_loss { G2T_LOSS_HINGE = 0, G2T_LOSS_LOGISTIC = 1, G2T_LOSS_SQHINGE = 2 };
/* G2T_ALGO_FIXED: averaged SGD in integers over uint8 rows, hinge loss,
 * no L1 (g2t_fixed_train); G2T_ALGO_DCD: the exact solver, dual coordinate
 * descent, no L1 (g2t_dcd_train); the others are float32 SGD (g2t_train). */
enum g2t_algo {
	G2T_ALGO_ASGD = 0, G2T_ALGO_PEGASOS = 1, G2T_ALGO_FIXED = 2, G2T_ALGO_DCD = 3
};

/*
 * Build profile: what this build of the core can train, everything unless
 * the build defines less, so that a small device carries only the code of
 * the tasks it takes.  g2t_params_check() refuses the rest with G2T_EPARAM.
 *   G2T_LOSSES   bit 1 << loss for each enum g2t_loss compiled in
 *   G2T_ALGOS    bit 1 << algo for each enum g2t_algo compiled in
 *   G2T_WITH_L1  1: L1 regularisation (l1 > 0) compiled in
 *   G2T_WITH_SPARSE  1: g2t_weights_encode() writes the sparse form when it
 *                is the smaller, as g2t-train does; 0: the dense form only,
 *                and weights that take the sparse form (fewer than half
 *                non-zero: L1, or mostly-zero features) are refused with
 *                G2T_EPARAM, never written differently
 *   G2T_WITH_OFFSET64  1: the decoder's stream offsets are 64-bit; 0: they
 *                are 32-bit (less code on 8-bit chips), and a push that
 *                would take a stream past 2^32 - 1 bytes is refused whole
 *                with G2T_ETOOBIG
 *   G2T_WITH_F32_ROWS  1: SHARD rows in float32 (G2T_ENC_F32) are decoded;
 *                0: uint8 rows only (g2t-split -q 8), and
 *                g2t_shard_header_decode() refuses a well-formed float32
 *                SHARD with G2T_EPARAM
 *   G2T_WITH_SPARSE_ROWS  1: SHARD rows in the sparse encodings
 *                (G2T_ENC_SPARSE) are decoded and trained; 0:
 *                g2t_shard_header_decode() refuses a sparse SHARD with
 *                G2T_EPARAM
 *   G2T_WITH_CLASS_WEIGHTS  1: class weights other than 1 compiled in;
 *                0: a task with one is refused with G2T_EPARAM
 *   G2T_WITH_PROBABILITY  1: tasks may ask for a probability sigmoid, which
 *                the caller fits (a host's g2t-train); 0: such a task is
 *                refused with G2T_EPARAM (devices: the core fits none)
 */
#ifndef G2T_LOSSES
#define G2T_LOSSES 7u
#endif
#ifndef G2T_ALGOS
#define G2T_ALGOS 15u
#endif
#ifndef G2T_WITH_L1
#define G2T_WITH_L1 1
#endif
#ifndef G2T_WITH_SPARSE
#define G2T_WITH_SPARSE 1
#endif
#ifndef G2T_WITH_OFFSET64
#define G2T_WITH_OFFSET64 1
#endif
#ifndef G2T_WITH_F32_ROWS
#define G2T_WITH_F32_ROWS 1
#endif
#ifndef G2T_WITH_SPARSE_ROWS
#define G2T_WITH_SPARSE_ROWS 1
#endif
#ifndef G2T_WITH_CLASS_WEIGHTS
#define G2T_WITH_CLASS_WEIGHTS 1
#endif
#ifndef G2T_WITH_PROBABILITY
#define G2T_WITH_PROBABILITY 1
#endif
#define G2T_HAS_LOSS(l) ((G2T_LOSSES >> (l)) & 1u)
#define G2T_HAS_ALGO(a) ((G2T_ALGOS >> (a)) & 1u)
/* A SHARD's encoding: the values' type, G2T_ENC_F32 or G2T_ENC_U8, plus
 * G2T_ENC_SPARSE when each row lists its non-zero values only. */
enum g2t_encoding { G2T_ENC_F32 = 0, G2T_ENC_U8 = 1, G2T_ENC_SPARSE = 2 };
enum g2t_weights_form { G2T_DENSE = 0, G2T_SPARSE = 1 };

/* Hyper-parameters: part of a task's identity, copied into its weights. */
struct g2t_params {
	uint32_t loss;   /* enum g2t_loss */
	uint32_t algo;   /* enum g2t_algo */
	float cost;      /* C > 0: the exact solver weighs the losses by C, SGD's
	                    L2 strength is lambda = 1/(C n) for n rows */
	float l1;        /* L1 strength for truncated gradient, >= 0 */
	uint32_t epochs; /* passes over the task's rows, >= 1; G2T_ALGO_DCD: at
	                    most that many */
	uint32_t seed;   /* shuffle seed */
	float weight[2]; /* class weights of class a, of class b: a row's loss
	                    counts weight times (LIBSVM's -wi), > 0, < 1e6;
	                    1 for G2T_ALGO_FIXED */
	uint32_t probability; /* 1: the weights carry a Platt sigmoid fitted on
	                         held-out folds; 0 or 1 */
};
#define G2T_PARAMS_SIZE 36u

/* What a task is: bytes [identity] are hashed into the task hash. */
struct g2t_task_id {
	uint8_t schema_id[G2T_HASH_SIZE]; /* BLAKE2b-256 of the SCHEMA payload */
	uint32_t task;                    /* index in canonical pair order */
	uint32_t class_a, class_b;        /* class indices, a < b; a is +1 */
	struct g2t_params params;
};
#define G2T_TASK_ID_SIZE (G2T_HASH_SIZE + 12u + G2T_PARAMS_SIZE)

/* A TASK record. */
struct g2t_task {
	uint8_t hash[G2T_HASH_SIZE]; /* BLAKE2b-256 of the encoded identity */
	struct g2t_task_id id;
	const uint8_t *token; /* lease token (points into the payload) */
	uint32_t token_len;   /* 0 when there is none */
};
#define G2T_TOKEN_MAX 256u

/* A SHARD record's header; its rows follow in the payload. */
struct g2t_shard {
	uint32_t klass;    /* class index in the schema */
	uint32_t rows;     /* rows in this shard */
	uint32_t features; /* values per row */
	uint32_t encoding; /* enum g2t_encoding: 0 to 3 */
	float lo, step;    /* G2T_ENC_U8: value = lo + step * byte; sparse: lo 0 */
};
#define G2T_SHARD_HEADER_SIZE 24u

/* A WEIGHTS record: one trained binary classifier. */
struct g2t_weights {
	uint8_t task_hash[G2T_HASH_SIZE];
	struct g2t_task_id id;
	uint32_t features; /* length of w */
	float bias;
	float *w;           /* caller-owned, `features` values */
	uint64_t rows_seen; /* rows processed over all epochs */
	uint32_t epochs;    /* epochs completed */
	float loss;         /* mean training loss of the last epoch, each row's
	                       times its class weight */
	float sigmoid[2];   /* params.probability: Platt's A and B, the
	                       probability of class a being 1 / (1 + exp(A z + B))
	                       for decision value z; the caller sets them */
	const uint8_t *token; /* the task's lease token, carried to the server */
	uint32_t token_len;
};

/* Little-endian scalar codecs (exact on any host byte order). */
uint32_t g2t_get_u32(const uint8_t *p);
void g2t_put_u32(uint8_t *p, uint32_t v);
float g2t_get_f32(const uint8_t *p);
void g2t_put_f32(uint8_t *p, float v);

/* CRC-32 hook (zlib's crc32 on a host): the core never implements one. */
typedef uint32_t (*g2t_crc_fn)(uint32_t crc, const uint8_t *buf, size_t len);

/*
 * Incremental stream decoder: push bytes in, get records out.  Payloads up
 * to `cap` bytes are gathered into the caller's buffer; larger records are
 * refused with G2T_ETOOBIG unless `stream_big` is set, in which case their
 * payload is handed out in pieces (G2T_EV_DATA) without being buffered.
 */
enum g2t_event {
	G2T_EV_NONE = 0,   /* need more input */
	G2T_EV_BEGIN = 1,  /* a streamed record starts: type and length are set */
	G2T_EV_DATA = 2,   /* data/data_len: next piece of a streamed payload */
	G2T_EV_RECORD = 3  /* a whole record: type, payload and length are set,
	                      its CRC verified (streamed: payload is NULL) */
};

/* A stream offset: 64-bit unless the profile says otherwise. */
#if G2T_WITH_OFFSET64
typedef uint64_t g2t_offset;
#else
typedef uint32_t g2t_offset;
#endif

struct g2t_decoder {
	/* caller-set */
	uint8_t *buf;      /* payload buffer */
	uint32_t cap;      /* its size */
	int stream_big;    /* stream payloads larger than cap */
	g2t_crc_fn crc;    /* NULL skips CRC checks (documented as unsafe) */
	/* outputs */
	uint32_t type, length;
	const uint8_t *payload; /* == buf when buffered, NULL when streamed */
	const uint8_t *data;    /* G2T_EV_DATA piece */
	uint32_t data_len;
	g2t_offset offset;      /* stream offset of the current record */
	/* private */
	g2t_offset pos;
	uint32_t got, crc_acc;
	uint8_t state, seen_magic; /* bytes: less code on 8-bit chips */
	uint8_t hdr[G2T_HEADER_SIZE];
};

/* Prepares a decoder over caller memory. */
void g2t_decoder_init(struct g2t_decoder *d, uint8_t *buf, uint32_t cap,
                      g2t_crc_fn crc);

/*
 * Consumes bytes from in[0..len) until one event is ready; *used says how
 * many.  Returns the event (>= 0) or a negative status; on error d->pos is
 * the stream offset of the offending byte.  Call again with the rest.
 * Without G2T_WITH_OFFSET64, a push that would take the stream past
 * 2^32 - 1 bytes is G2T_ETOOBIG, nothing used, d->pos where it began.
 */
int g2t_decoder_push(struct g2t_decoder *d, const uint8_t *in, size_t len,
                     size_t *used, int *event);

/* Non-zero when the decoder sits between records (a clean place to end). */
int g2t_decoder_at_boundary(const struct g2t_decoder *d);

/* Encoders: write a record's payload into out[0..cap); return its size or a
 * negative status.  g2t_record_frame() then adds header and CRC.
 * g2t_weights_encode() is G2T_EPARAM for sparse weights when the build
 * leaves G2T_WITH_SPARSE out. */
long g2t_task_id_encode(uint8_t *out, size_t cap, const struct g2t_task_id *id);
long g2t_task_encode(uint8_t *out, size_t cap, const struct g2t_task *t);
long g2t_shard_header_encode(uint8_t *out, size_t cap, const struct g2t_shard *s);
long g2t_weights_encode(uint8_t *out, size_t cap, const struct g2t_weights *w);

/* Decoders: parse a payload; pointers in the result point into it.
 * G2T_EFORMAT for a payload that breaks a constraint of g2t(5) the record
 * shows alone (a TASK's hash needs BLAKE2b: g2t_task_read() checks it).
 * g2t_shard_header_decode() is G2T_EPARAM for float32 rows when the build
 * leaves G2T_WITH_F32_ROWS out. */
int g2t_task_id_decode(struct g2t_task_id *id, const uint8_t *p, size_t len);
int g2t_task_decode(struct g2t_task *t, const uint8_t *p, size_t len);
int g2t_shard_header_decode(struct g2t_shard *s, const uint8_t *p, size_t len);
/* w->w must have room for `wcap` floats. */
int g2t_weights_decode(struct g2t_weights *w, size_t wcap, const uint8_t *p,
                       size_t len);

/* Fills in what a trained task's WEIGHTS record takes from the task: its
 * hash, identity and token, `features`, and the rows and epochs seen for
 * `rows` rows an epoch.  The trainer sets w, bias and loss. */
void g2t_weights_of_task(struct g2t_weights *w, const struct g2t_task *t,
                         uint32_t features, uint32_t rows);

/* Row bytes in a dense shard; 0 for a sparse one, whose rows vary: read
 * them with a g2t_rows cursor. */
uint32_t g2t_shard_row_size(const struct g2t_shard *s);
/* Converts one encoded row of a dense shard to floats. */
void g2t_shard_row_decode(const struct g2t_shard *s, const uint8_t *row,
                          float *out);

/* A row as its non-zero values: n of them, indices strictly increasing.
 * The same row stored dense has 0 everywhere else. */
struct g2t_srow {
	uint32_t n;
	const uint32_t *index;
	const float *value;
};

/*
 * A cursor over a SHARD's rows, dense or sparse, that checks them as it
 * goes (g2t(5)): the rows held in rows[0..len), the payload after its
 * header, all in memory.  Each call of g2t_rows_next() gives the next row
 * as its non-zero values (of a dense row too) in the caller's index[] and
 * value[], of s->features entries each: 1 and a row, 0 after the last
 * row when no byte is left over, or a negative status: G2T_EFORMAT for a
 * malformed row or payload, G2T_EDATA for a float32 value that is not
 * finite; c->at is then the offset in rows[] of the offending byte.
 * A sparse row is an LEB128 count of its values then, for each, the LEB128
 * step from the last index (from -1 for the first) and the value.
 */
struct g2t_rows {
	const struct g2t_shard *s;
	const uint8_t *rows;
	size_t len, at;         /* bytes, the next row's offset */
	uint32_t row;           /* rows read */
};
void g2t_rows_init(struct g2t_rows *c, const struct g2t_shard *s,
                   const uint8_t *rows, size_t len);
int g2t_rows_next(struct g2t_rows *c, uint32_t *index, float *value, uint32_t *n);

/*
 * Encodes one sparse row into out[0..cap): n non-zero values at strictly
 * increasing index[], whose encodings (4 bytes little-endian for float32,
 * 1 byte for uint8) are values[]; returns its size or G2T_ENOMEM.  Nothing
 * is checked: the writer keeps the rules of g2t(5).
 */
long g2t_srow_encode(uint8_t *out, size_t cap, const struct g2t_shard *s,
                     uint32_t n, const uint32_t *index, const uint8_t *values);

/* Writes the 8-byte stream header. */
void g2t_stream_header(uint8_t out[G2T_HEADER_SIZE]);
/* Fills header[8] and crc[4] around a payload. */
void g2t_record_frame(uint8_t header[G2T_HEADER_SIZE], uint8_t crc[G2T_CRC_SIZE],
                      uint32_t type, const uint8_t *payload, uint32_t len,
                      g2t_crc_fn crc_fn);

/* Parameter sanity: G2T_OK or G2T_EPARAM. */
int g2t_params_check(const struct g2t_params *p);
void g2t_params_default(struct g2t_params *p);

/*
 * Training.  Rows come through a reader: it copies `count` rows of side
 * `side` (0: class a, labelled +1; 1: class b, labelled -1), starting at
 * row `first`, as floats into out[count * features].  It returns 0 or a
 * negative status, which training passes back.
 */
typedef int (*g2t_row_reader)(void *ctx, int side, uint32_t first,
                              uint32_t count, float *out);

/*
 * The order training visits rows in, in O(1) memory: every epoch each
 * class's blocks of `block` rows in a random affine permutation, each
 * block's rows in another, and the two classes interleaved in proportion
 * to their sizes.  Every trainer (float, fixed point) uses it, so they all
 * see the same rows in the same order.
 */
struct g2t_order_side {
	uint32_t rows, blocks, block;  /* rows of this class, blocks, rows a block */
	uint32_t bstep, bpos;          /* the permutation of blocks */
	uint32_t first, count;         /* the block loaded: its first row (none
	                                  yet: 0xffffffff), rows */
	uint32_t rstep, rpos, left;    /* the permutation of its rows, rows of
	                                  it still to visit this time */
};
struct g2t_order {
	struct g2t_order_side side[2];
	uint32_t lead;                 /* where the interleaving stands (order.c) */
	uint32_t rng;                  /* splitmix32 state */
};
void g2t_order_init(struct g2t_order *o, const uint32_t n[2], uint32_t block,
                    uint32_t seed);
void g2t_order_epoch(struct g2t_order *o);
/*
 * The next row: its side and its index in that side's block.  When *load is
 * set, the caller loads rows first..first+count-1 of o->side[*side] before
 * using the index.
 */
void g2t_order_next(struct g2t_order *o, int *side, uint32_t *index, int *load);

/*
 * Sparse rows for training: a reader gives `count` rows of side `side`
 * from row `first` as out[count], whose arrays stay the reader's, valid
 * until its next call for that side.  It returns 0 or a negative status.
 */
typedef int (*g2t_srow_reader)(void *ctx, int side, uint32_t first,
                               uint32_t count, struct g2t_srow *out);

/* Floats of working memory g2t_train() needs for `block` rows per side. */
size_t g2t_train_work_floats(uint32_t features, uint32_t block);

/*
 * Trains one binary classifier over n[0] rows of class a and n[1] rows of
 * class b.  work has g2t_train_work_floats(features, block) floats; out->w
 * has `features` floats.  Bit-identical on every IEEE-754 binary32 target
 * built with -ffp-contract=off.  A G2T_ALGO_FIXED task is G2T_EPARAM: it is
 * for g2t_fixed_train().
 */
int g2t_train(const struct g2t_task *task, uint32_t features,
              const uint32_t n[2], g2t_row_reader read, void *ctx,
              float *work, uint32_t block, struct g2t_weights *out);

/*
 * g2t_train() a row at a time, for a device whose RAM holds fewer rows than
 * a block: the same weights, bit for bit, as g2t_train() with the same
 * block, from 3 * features floats of work.  When a block starts, `read` is
 * called with out NULL, a hint that rows first..first+count-1 of the side
 * come next (0, or a negative status); every other call reads one row.
 */
int g2t_train_each(const struct g2t_task *task, uint32_t features,
                   const uint32_t n[2], g2t_row_reader read, void *ctx,
                   float *work, uint32_t block, struct g2t_weights *out);

/*
 * g2t_train() over sparse rows, in O(non-zeros) a row (L1 aside: its
 * truncation costs O(features) every 16 rows): the same weights, bit for
 * bit, as g2t_train() over the same rows stored dense with the same block.
 * work has 2 * features floats, rows 2 * block entries.  Without
 * G2T_WITH_SPARSE_ROWS it is G2T_EPARAM.
 */
int g2t_train_sparse(const struct g2t_task *task, uint32_t features,
                     const uint32_t n[2], g2t_srow_reader read, void *ctx,
                     float *work, struct g2t_srow *rows, uint32_t block,
                     struct g2t_weights *out);

/*
 * Fixed-point training (G2T_ALGO_FIXED), for chips without a floating-point
 * unit: hinge loss and averaged SGD, as g2t_train() does with the default
 * parameters, over the same rows in the same order, but in integers: rows
 * stay as the bytes of a uint8 SHARD, weights are 32-bit integers in units
 * of 2^-G2T_FIXED_SHIFT, every step is integer arithmetic, so the result is
 * the same on every target.  The differences from g2t_train(): the learning
 * rate and the L2 shrink change every G2T_FIXED_PERIOD steps instead of
 * every step; decision values use the weights rounded down to 2^-21 (a byte
 * unit); a weight saturates at +-0.5 a byte unit (+-127.5 with g2t-split's
 * step of 1/255).  Floating point is used only to set the rates and to turn
 * the result into a g2t_weights, whose values are close to, not equal to,
 * g2t_train()'s.  On a Cortex-M0 a row of 64 features costs about 950
 * instructions, 26 times fewer than g2t_train() in soft float.
 */
#define G2T_FIXED_SHIFT 28  /* weights: V * 2^-28 per byte unit */
#define G2T_FIXED_PERIOD 128 /* steps between rate and L2 updates */

/* Gives `count` rows of side `side` from row `first`, as the SHARD's bytes
 * (features bytes a row): either copies them into buf and returns buf, or
 * returns where they already are in addressable memory (no copy: rows in
 * RAM or memory-mapped flash), valid until the next call for that side.
 * NULL is an I/O error. */
typedef const uint8_t *(*g2t_fixed_reader)(void *ctx, int side, uint32_t first,
                                           uint32_t count, uint8_t *buf);

/* Bytes of working memory (8-byte aligned) for `block` rows per side. */
size_t g2t_fixed_work_bytes(uint32_t features, uint32_t block);

/*
 * Trains a G2T_ALGO_FIXED task over n[0] rows of class a and n[1] rows of
 * class b, both in uint8 encoding with lo 0 and the given step (shard
 * header field); any other task is G2T_EPARAM, as G2T_ALGO_FIXED tasks are
 * for g2t_train().
 */
int g2t_fixed_train(const struct g2t_task *task, uint32_t features, float step,
                    const uint32_t n[2], g2t_fixed_reader read, void *ctx,
                    void *work, uint32_t block, struct g2t_weights *out);

/*
 * The exact solver (G2T_ALGO_DCD): dual coordinate descent to the optimum of
 *     min 0.5 (|w|^2 + b^2) + C sum_i loss(y_i (w.x_i + b)),
 * LIBLINEAR's problem with -B 1 (-s 3 hinge, -s 1 squared hinge without a
 * half, -s 7 logistic), C the params' cost times the row's class weight
 * (LIBLINEAR's -wi).  It reads every row
 * once, into work, with one call of `read` per side.  Each pass visits
 * the active rows in a new random order (dcd.c), shrinking out rows as
 * LIBLINEAR does (not for logistic loss).  When the projected
 * gradients of a pass over every row are within a tolerance eps of 0
 * (logistic: the largest gradient is below it), two more passes rebuild w
 * from the duals and evaluate the certificate: the solve ends when the
 * relative duality gap is at most G2T_DCD_GAP, or eps is already
 * G2T_DCD_EPS_MIN; else eps shrinks tenfold, from G2T_DCD_EPS.  It also
 * ends after `epochs` passes (not counting those of the certificate), the
 * certificate then telling how far it is from the optimum.  Squared hinge
 * on a task of rows (features + 1) >= G2T_DCD_NEWTON_VALUES not solved in
 * G2T_DCD_NEWTON passes goes on by Newton's method on the primal, as
 * LIBLINEAR's -s 1 goes on by -s 2 (dcd.c), each Newton step counting as
 * a pass, until the gap or LIBLINEAR's tolerance on the gradient is met.
 * work has g2t_dcd_work_floats() floats: the weights and bias, the rows,
 * three 4-byte values a row (four for logistic loss), and for squared
 * hinge seven vectors of features + 1.  Bit-identical on every
 * IEEE-754 binary32 target built with -ffp-contract=off.  cert may be NULL.
 */
#define G2T_DCD_COST 1.0f        /* default C, LIBSVM's and LIBLINEAR's */
#define G2T_DCD_LOSS G2T_LOSS_SQHINGE /* default loss, LIBLINEAR's (-s 1) */
#define G2T_DCD_PASSES 1000u     /* default cap on passes */
#define G2T_SGD_EPOCHS 20u       /* SGD's default epochs */
#define G2T_DCD_EPS 0.1f         /* first tolerance on the projected gradient */
#define G2T_DCD_EPS_MIN 1e-4f    /* the finest: float32 gradients hold no more */
#ifndef G2T_DCD_NEWTON /* (tests/unit/test_newton.c sets both lower) */
#define G2T_DCD_NEWTON 10u       /* squared hinge: passes before Newton's method */
#define G2T_DCD_NEWTON_VALUES 4194304u /* ... on tasks of rows (features + 1) this large */
#endif
#define G2T_DCD_GAP 1e-3f        /* relative duality gap that ends the solve */
#define G2T_DCD_INNER_EPS 1e-5f  /* logistic: the Newton steps' finest
                                    tolerance, a few float ulps of the
                                    terms of the gradient */
struct g2t_cert {
	float primal;       /* objective value at the result */
	float dual;         /* dual objective value: primal >= optimum >= dual */
	float gap;          /* (primal - dual) / primal */
	uint32_t passes;    /* passes over the rows */
	int converged;      /* 1: gap or tolerance met; 0: stopped by the cap */
};
size_t g2t_dcd_work_floats(uint32_t features, const uint32_t n[2], uint32_t loss);
int g2t_dcd_train(const struct g2t_task *task, uint32_t features, const uint32_t n[2],
                  g2t_row_reader read, void *ctx, float *work,
                  struct g2t_weights *out, struct g2t_cert *cert);

/*
 * g2t_dcd_train() over sparse rows: rows has n[0] + n[1] entries, read
 * with one call of `read` a side, and work g2t_dcd_sparse_work_floats()
 * floats, the rows' values staying the reader's.  A pass costs
 * O(non-zeros); the result is bit for bit g2t_dcd_train()'s over the same
 * rows stored dense.  Without G2T_WITH_SPARSE_ROWS it is G2T_EPARAM.
 */
size_t g2t_dcd_sparse_work_floats(uint32_t features, const uint32_t n[2], uint32_t loss);
int g2t_dcd_train_sparse(const struct g2t_task *task, uint32_t features,
                         const uint32_t n[2], g2t_srow_reader read, void *ctx,
                         float *work, struct g2t_srow *rows,
                         struct g2t_weights *out, struct g2t_cert *cert);

/* Deterministic exp and log for float, without libm (a few ulp). */
float g2t_expf(float x);
float g2t_logf(float x);

/* Sum of a[i] * b[i] in a fixed order: the same bits everywhere. */
float g2t_dot(const float *a, const float *b, uint32_t n);
/* g2t_dot(w, x) of a sparse row x, w NULL: g2t_dot(x, x); the same bits
 * as over x stored dense, w finite: the products of the zeros, +-0, change
 * none of g2t_dot()'s eight partial sums, which start at +0 and so are
 * never -0. */
float g2t_sdot(const float *w, const struct g2t_srow *x);

/*
 * One-vs-one prediction over K classes.  w holds P = K(K-1)/2 rows of
 * (features + 1) floats, weights then bias, in canonical pair order;
 * present[P] (NULL: all) marks the pairs a partial model has.
 * votes[K] and margin[K] are the caller's.  Ties in votes go to the larger
 * summed decision value, then to the lower class index.
 */
uint32_t g2t_ovo_predict(const float *w, const uint8_t *present,
                         uint32_t classes, uint32_t features, const float *x,
                         uint32_t *votes, float *margin);
/* DDAG: evaluates only K-1 classifiers; a missing pair keeps class a. */
uint32_t g2t_ddag_predict(const float *w, const uint8_t *present,
                          uint32_t classes, uint32_t features, const float *x);
/* Index of pair (a, b), a < b, in canonical order. */
uint32_t g2t_pair_index(uint32_t classes, uint32_t a, uint32_t b);
/* Inverse of g2t_pair_index. */
void g2t_pair_classes(uint32_t classes, uint32_t index, uint32_t *a, uint32_t *b);

#endif
