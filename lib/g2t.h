/*
 * g2t.h - the hosted layer of g2t: files, text input, schemas, training
 * drivers, merging and models.  Built on the freestanding core.  Nothing
 * here prints or exits: functions return a G2T status and, where input is
 * at fault, fill a struct g2t_diag saying where and what.
 */
#ifndef G2T_H
#define G2T_H

#include <signal.h>
#include <stdio.h>

#include "core/g2t_core.h"

struct g2t_keyring;

/* The exit codes shared by every g2t program (see g2t(7)). */
enum g2t_exit {
	G2T_EXIT_OK = 0,
	G2T_EXIT_FAIL = 1,       /* I/O error, out of memory */
	G2T_EXIT_USAGE = 2,      /* bad option or argument */
	G2T_EXIT_DATA = 3,       /* bad input data */
	G2T_EXIT_INCOMPLETE = 4, /* result incomplete (merge: pairs missing) */
	G2T_EXIT_REFUSED = 5,    /* done, but some inputs were refused */
	G2T_EXIT_TEMPFAIL = 75   /* held, or no work now: try again later */
};

/* Where input went wrong: a text line or a stream byte offset, and what. */
struct g2t_diag {
	long line;          /* 1-based text line, 0 when not a text position */
	long long offset;   /* stream byte offset, -1 when none */
	char what[240];
};

const char *g2t_strerror(int status);
int g2t_exit_code(int status);
/* Sets d and returns status; what is a printf format. */
int g2t_fail(struct g2t_diag *d, int status, long line, long long offset,
             const char *what, ...)
	__attribute__((format(printf, 5, 6)));

/* Bounds the tools put on record payloads. */
#define G2T_SHARD_LIMIT (1u << 30)
#define G2T_RECORD_LIMIT (64u << 20)
#define G2T_NAME_LIMIT 4096u
/* Features are bounded by the records that hold a value or a name per
 * feature: 2^21 CSV columns of short names make a SCHEMA of 41 MB (an
 * svmlight one, of scales only, 8 MB), leaving room in G2T_RECORD_LIMIT
 * for the class names; dense WEIGHTS and a two-class MODEL take 8 MB. */
#define G2T_FEATURE_LIMIT (1u << 21)
/* Classes in a SCHEMA; a model of K classes must also fit one record. */
#define G2T_CLASS_LIMIT 65535u
/* Bytes of the MODEL record of K classes and F features (g2t(5)). */
#define G2T_MODEL_BYTES(K, F) (44 + (uint64_t)(K) * ((K) - 1) / 2 * \
	(1 + 4 * ((uint64_t)(F) + 1)))

/* BLAKE2b-256 helpers over libsodium; g2t_crypto_init() before direct use. */
void g2t_crypto_init(void);
void g2t_hash(uint8_t out[G2T_HASH_SIZE], const void *p, size_t len);
void g2t_task_hash(uint8_t out[G2T_HASH_SIZE], const struct g2t_task_id *id);
uint32_t g2t_crc32(uint32_t crc, const uint8_t *buf, size_t len);
/* Decodes a TASK payload and checks its hash; errors name `offset`. */
int g2t_task_read(struct g2t_task *t, const uint8_t *p, size_t len,
                  long long offset, struct g2t_diag *d);

/*
 * Output written atomically: to a temporary file beside `path`, renamed over
 * it by g2t_out_commit() after fsync.  path NULL or "-" is stdout.
 */
struct g2t_out {
	FILE *f;
	char *path, *tmp;
};
int g2t_out_open(struct g2t_out *o, const char *path, struct g2t_diag *d);
int g2t_out_commit(struct g2t_out *o, struct g2t_diag *d);
/* Removes the temporary file; safe after a commit and on a zeroed struct. */
void g2t_out_abort(struct g2t_out *o);
/* Removes the temporary files of the outputs open now; async-signal-safe,
 * for a handler of SIGINT or SIGTERM. */
void g2t_out_remove_temps(void);
int g2t_write_header(FILE *f);
int g2t_write_record(FILE *f, uint32_t type, const uint8_t *payload, uint32_t len);

/* One record read from a stream. */
struct g2t_rec {
	uint32_t type, length;
	const uint8_t *payload;  /* NULL for a SHARD read with shard_hash set */
	long long offset;        /* of the record header in the stream */
	uint8_t hash[G2T_HASH_SIZE]; /* shard_hash mode: BLAKE2b of the payload */
	uint8_t head[G2T_SHARD_HEADER_SIZE]; /* shard_hash mode: its header */
};

/*
 * Record reader over a file or stdin.  With `shard_hash`, SHARD payloads
 * are hashed as they pass instead of kept, and the input is made seekable
 * (a pipe is copied to an unlinked temporary file) so rows can be re-read
 * with pread() at rec.offset + 8.
 */
struct g2t_in;
int g2t_in_open(struct g2t_in **in, const char *path, int shard_hash,
                struct g2t_diag *d);
/* 1 and a record, 0 at a clean end, or a negative status. */
int g2t_in_next(struct g2t_in *in, struct g2t_rec *rec, struct g2t_diag *d);
int g2t_in_fd(const struct g2t_in *in);
/* Offset in g2t_in_fd() of stream byte pos. */
long long g2t_in_file_offset(const struct g2t_in *in, long long pos);
const char *g2t_in_name(const struct g2t_in *in);
void g2t_in_free(struct g2t_in *in);

/* Records of a stream held in memory, found in place (CRCs checked). */
struct g2t_mem {
	struct g2t_decoder dec;
	const uint8_t *p;
	size_t len, at;
};
void g2t_mem_open(struct g2t_mem *m, const uint8_t *p, size_t len);
/* Words and offset for a status the decoder returned. */
int g2t_decoder_fail(const struct g2t_decoder *dec, int rc, struct g2t_diag *d);
/* 1 and the next record (payload points into p), 0 at a clean end, or < 0;
 * m->at is then the offset reached. */
int g2t_mem_next(struct g2t_mem *m, uint32_t *type, const uint8_t **payload,
                 uint32_t *len);

/* The decoded SCHEMA record. */
struct g2t_schema {
	uint32_t features, classes, flags;
	char *label;               /* label column name */
	char **feature;            /* feature names */
	float *offset, *scale;     /* scaled = (raw - offset) * scale */
	double *wide;              /* G2T_SCHEMA_WIDE: the offsets, binary64 */
	char **klass;              /* class names, canonical order */
	uint32_t *rows;            /* rows per class */
	uint8_t (*shard_hash)[G2T_HASH_SIZE];
	uint8_t id[G2T_HASH_SIZE]; /* hash of the payload */
	uint8_t *payload;          /* encoded form, owned */
	uint32_t length;
};
#define G2T_SCHEMA_NUMERIC 1u /* classes in numeric order */
#define G2T_SCHEMA_SPARSE 2u  /* every offset 0, not listed: zeros stay 0 */
#define G2T_SCHEMA_INDEXED 4u /* feature j named f<j+1>, names not listed */
/* The task form a lease answer carries for a sparse set: no feature names,
 * offsets or scales (all 0 when read), the schema id written out */
#define G2T_SCHEMA_TASK 8u
/* One-vs-rest: K tasks, task k class k against every other (class_b = K),
 * and a MODEL of K classifiers; never with 2 classes */
#define G2T_SCHEMA_OVR 16u
/* Wide: the offsets are binary64 (schema->wide), and a text value, in
 * binary64, less its offset is rounded to binary32, then times the scale */
#define G2T_SCHEMA_WIDE 32u
/* Tasks of a schema: K(K-1)/2 pairs, or K one-vs-rest. */
uint32_t g2t_schema_tasks(const struct g2t_schema *s);
/* Whether task `task` of classes a (+1) and b (-1) is one of the schema's. */
int g2t_task_fits(const struct g2t_schema *s, uint32_t task, uint32_t a, uint32_t b);
/* The classes of a task of the schema (b = K: every other class). */
void g2t_task_classes(const struct g2t_schema *s, uint32_t task, uint32_t *a, uint32_t *b);
/* The name of class k, "rest" for K. */
const char *g2t_class_name(const struct g2t_schema *s, uint32_t k);

/* Builds an empty schema to be filled and encoded; caller frees. */
struct g2t_schema *g2t_schema_new(uint32_t features, uint32_t classes);
int g2t_schema_encode(struct g2t_schema *s);
/* The task form of an encoded schema: a new payload in *out, *len bytes. */
int g2t_schema_task_form(const struct g2t_schema *s, uint8_t **out, uint32_t *len);
int g2t_schema_decode(struct g2t_schema **out, const uint8_t *p, size_t len);
/* The same, and on bad input d->what says what is wrong. */
int g2t_schema_read(struct g2t_schema **out, const uint8_t *p, size_t len,
                    struct g2t_diag *d);
void g2t_schema_free(struct g2t_schema *s);
/* Index of a class or feature by name, or -1. */
long g2t_schema_class(const struct g2t_schema *s, const char *name, size_t len);

/* Text data: CSV (RFC 4180, header row) or svmlight. */
enum g2t_text_format { G2T_TEXT_AUTO, G2T_TEXT_CSV, G2T_TEXT_SVMLIGHT };
struct g2t_text_opts {
	int format;            /* enum g2t_text_format */
	char delimiter;        /* CSV field separator */
	const char *label;     /* column name or 1-based number; NULL: last */
	int label_optional;    /* a named label column may be absent */
	int wide;              /* rows carry their values in binary64 too */
};
/* One data row: the label and the feature values, dense or sparse. */
struct g2t_row {
	const char *label;     /* NULL when the input has no label column; may be "" */
	size_t label_len;
	uint32_t n;            /* values */
	const uint32_t *index; /* svmlight: 0-based feature indices; CSV: NULL */
	const float *value;
	const double *value64; /* opts.wide: the same values in binary64 */
	long line;
};
struct g2t_text;
int g2t_text_open(struct g2t_text **t, const char *path,
                  const struct g2t_text_opts *o, struct g2t_diag *d);
/* 1 and a row, 0 at the end, or a negative status. */
int g2t_text_next(struct g2t_text *t, struct g2t_row *row, struct g2t_diag *d);
int g2t_text_format(const struct g2t_text *t);
/* Bytes of the file read so far (compressed ones for gzip) and its size,
 * 0 when it is not known (a pipe). */
void g2t_text_position(const struct g2t_text *t, long long *read, long long *size);
/* CSV: names of the feature columns (in order) and of the label column. */
uint32_t g2t_text_columns(const struct g2t_text *t, const char *const **names);
/* CSV: feature column `column` is not read: whatever it holds, its value is 0. */
int g2t_text_ignore(struct g2t_text *t, uint32_t column);
const char *g2t_text_label_name(const struct g2t_text *t);
void g2t_text_free(struct g2t_text *t);

/* Class weights, as -w CLASS=WEIGHT and --balanced give them. */
struct g2t_class_weight {
	const char *name;           /* the class name (not NUL-terminated) */
	size_t len;
	float weight;               /* > 0, < 1e6 */
};
struct g2t_weighting {
	struct g2t_class_weight *w; /* owned: g2t_weighting_free() */
	size_t n, cap;
	int balanced;               /* other classes weigh n / (K n_c) */
};
/* Adds "CLASS=WEIGHT" (split at the last '='); G2T_EPARAM for a bad weight
 * or a class already given, G2T_ENOMEM.  The name points into spec. */
int g2t_weighting_add(struct g2t_weighting *w, const char *spec);
/* The weight of class k of schema s: as given, else n / (K n_c) when
 * balanced, else 1; k[1] = K (one-vs-rest's other classes) weighs 1.
 * G2T_EPARAM (d says why) when a given class is not in the schema or a
 * balanced weight is not below 1e6. */
int g2t_class_weights(const struct g2t_weighting *w, const struct g2t_schema *s,
                      const uint32_t k[2], float out[2], struct g2t_diag *d);
/* Whether any class weight was asked for. */
int g2t_weighting_set(const struct g2t_weighting *w);
void g2t_weighting_free(struct g2t_weighting *w);

/* g2t-split */
struct g2t_split_opts {
	struct g2t_text_opts text;
	const char *classes;        /* comma-separated subset, or NULL */
	int quantize;               /* 8 or 32 */
	struct g2t_params params;
	struct g2t_weighting weighting; /* each task's class weights */
	int ovr;                    /* one-vs-rest tasks (with 3 classes or more) */
	/* called now and then while the input is read, and once at its end */
	void (*progress)(void *ctx, unsigned long long rows, long long read,
	                 long long size, int end);
	void *progress_ctx;
};
struct g2t_dataset;
int g2t_dataset_load(struct g2t_dataset **ds, const char *path,
                     const struct g2t_split_opts *o, struct g2t_diag *d);
/* One stream: header, SCHEMA, shards, tasks. */
int g2t_split_stream(struct g2t_dataset *ds, FILE *out);
/* One self-contained file per task under dir. */
int g2t_split_dir(struct g2t_dataset *ds, const char *dir, struct g2t_diag *d);
/* Task files in dir of index `tasks` or more, named as g2t_split_dir()
 * names them: another split's, left there; the first in *first. */
uint32_t g2t_split_dir_stale(const char *dir, uint32_t tasks, uint32_t *first);
uint32_t g2t_dataset_classes(const struct g2t_dataset *ds);
uint32_t g2t_dataset_tasks(const struct g2t_dataset *ds);
/* The first dense feature whose values, from *lo to *hi, are fewer than
 * 1024 binary32 steps of size *step apart (so that reading them rounded
 * most of their differences away, as for timestamps): its name, or NULL. */
const char *g2t_dataset_coarse(const struct g2t_dataset *ds, float *lo, float *hi,
                               float *step);
/* A sparse set's first feature that is never 0 and of one sign, from *lo
 * to *hi, when its scale 1 / max |value| squeezes it into less than half
 * of [0, 1]: its name, or NULL. */
const char *g2t_dataset_squashed(const struct g2t_dataset *ds, float *lo, float *hi);
/* Whether the labels look like a measurement, not classes: more than 10,
 * every one a number, some not whole (a label column forgotten). */
int g2t_dataset_labels_continuous(const struct g2t_dataset *ds);
void g2t_dataset_free(struct g2t_dataset *ds);

/* g2t-train */
#define G2T_GRID_MAX 32
struct g2t_train_opts {
	unsigned jobs;
	long task;                  /* only this task, or -1 */
	struct g2t_params params;   /* overrides where `override` bits say so */
	struct g2t_weighting weighting; /* class weights, when asked for */
	unsigned override;          /* G2T_OVERRIDE_* */
	int progress;
	FILE *stats;                /* NULL, or where a line per task goes */
	uint32_t cv;                /* 0, or the folds that choose each task's C */
	float grid[G2T_GRID_MAX];   /* the Cs they choose from */
	size_t grid_n;
};
enum {
	G2T_OVERRIDE_LOSS = 1, G2T_OVERRIDE_ALGO = 2, G2T_OVERRIDE_COST = 4,
	G2T_OVERRIDE_L1 = 8, G2T_OVERRIDE_EPOCHS = 16, G2T_OVERRIDE_SEED = 32,
	G2T_OVERRIDE_WEIGHTS = 64, G2T_OVERRIDE_PROBABILITY = 128
};
/* After options that `set` (G2T_OVERRIDE_* bits) changed parameters that
 * had algorithm `was`: the loss and epochs take the defaults of the new
 * algorithm when --algo moved between SGD and the exact solver and they
 * were not given (SGD: hinge loss, 20 epochs; the exact solver: squared
 * hinge, at most 1000 passes). */
void g2t_params_settle(struct g2t_params *p, unsigned set, uint32_t was);
/* The parameters of a task made on a host: the exact solver, squared hinge
 * loss, C = 1, at most 1000 passes, seed 1.  (g2t_params_default() gives
 * SGD's, the only ones a small device may have.) */
void g2t_params_host_default(struct g2t_params *p);
/* Trains every task in the inputs and writes schemas and weights to out.
 * On input errors *bad names the input at fault. */
/* Rows a side g2t-train keeps in memory, the block of the row order
 * (g2t_order) its weights depend on: a device must train with it too. */
uint32_t g2t_train_block(uint32_t algo, uint32_t features, const uint32_t n[2]);
int g2t_train_files(const char *const *paths, int n, const struct g2t_train_opts *o,
                    FILE *out, const char **bad, struct g2t_diag *d);

/* g2t-merge */
struct g2t_merge;
struct g2t_merge *g2t_merge_new(void);
/* Trust mode: only packets signed by these keys, raw weights only when
 * allowed; refused inputs are listed by g2t_merge_refusals(). */
/* Whether a WEIGHTS payload fits schema s, as a model needs: decoded into *wt
 * (wt->w has room for F + 1 floats; the bias goes last), its task hash right,
 * every value finite.  Errors name `offset`. */
int g2t_weights_check(const struct g2t_schema *s, const uint8_t *p, uint32_t len,
                      struct g2t_weights *wt, long long offset, struct g2t_diag *d);
void g2t_merge_trust(struct g2t_merge *m, const struct g2t_keyring *trust,
                     int allow_unsigned);
size_t g2t_merge_refusals(const struct g2t_merge *m, const char *const **lines);
/* Adds every SCHEMA, WEIGHTS and PACKET record of one input. */
int g2t_merge_add(struct g2t_merge *m, const char *path, struct g2t_diag *d);
/* Adds one record held in memory, as if read from an input called name. */
int g2t_merge_add_record(struct g2t_merge *m, uint32_t type, const uint8_t *payload,
                         uint32_t len, const char *name, struct g2t_diag *d);
/* Checks every weights record and places it; *bad names the input at fault. */
int g2t_merge_build(struct g2t_merge *m, const char **bad, struct g2t_diag *d);
/* Missing pairs as "a/b (task N)" into buf; returns how many are missing. */
long g2t_merge_missing(const struct g2t_merge *m, char *buf, size_t cap);
int g2t_merge_write(const struct g2t_merge *m, FILE *out, struct g2t_diag *d);
void g2t_merge_free(struct g2t_merge *m);

/* A model: the schema and the K(K-1)/2 classifiers, held as their
 * non-zero weights by feature, so that a row costs O(its non-zeros times
 * the pairs that weigh them). */
struct g2t_model {
	struct g2t_schema *schema;
	uint32_t classes, features, pairs;
	uint8_t *present;   /* pairs flags: non-zero present */
	float *bias;        /* per pair */
	size_t *col;        /* features + 1: feature j's weights are col[j].. */
	uint32_t *pair;     /* the pair of each weight */
	float *w;           /* the weights, by feature, then pair */
	int zero_offset;    /* every offset is 0: a sparse row stays sparse */
	float *sigmoid;     /* pairs x 2: Platt's A and B, or NULL for none */
};
int g2t_model_load(struct g2t_model **m, const char *path, struct g2t_diag *d);
void g2t_model_free(struct g2t_model *m);
/* Scales the row x[0..m->features), raw values in the schema's feature
 * order, in place as the training rows were, and returns the class its
 * one-vs-one vote picks (named m->schema->klass[k]); -1 when out of memory. */
long g2t_model_predict(const struct g2t_model *m, float *x);

/* Probabilities (prob.c).  Fits Platt's sigmoid P(+1 | z) = 1 / (1 +
 * exp(A z + B)) to n decision values and their labels y (+1, -1): ab[0] =
 * A, ab[1] = B. */
int g2t_sigmoid_fit(const double *dec, const int8_t *y, size_t n, double ab[2]);
/* 1 / (1 + exp(A z + B)) */
double g2t_sigmoid(double z, const float ab[2]);
/* The k class probabilities p from pairwise ones, r[i k + j] = P(i | i or
 * j) (r[j k + i] = 1 - that), by Wu, Lin and Weng's method 2; work has
 * k (k + 1) doubles. */
void g2t_couple(uint32_t k, const double *r, double *p, double *work);

/* g2t-predict */
struct g2t_predict_opts {
	struct g2t_text_opts text;
	int eval, dag;
	int values;                 /* each row's decision values */
	int probability;            /* each row's class probabilities */
};
int g2t_predict_file(const struct g2t_model *m, const char *path,
                     const struct g2t_predict_opts *o, FILE *out,
                     struct g2t_diag *d);

/* Grows *p (of *cap items of `size` bytes) to hold `need` items, doubling. */
int g2t_grow(void **p, size_t *cap, size_t need, size_t size);
/* dir/name into out[n], a final '/' of dir not doubled; as snprintf(). */
int g2t_path(char *out, size_t n, const char *dir, const char *name);

/* A set of distinct schemas, as met in streams. */
struct g2t_schemas {
	struct g2t_schema **at;
	size_t n;
};
/* Adds the SCHEMA record r unless its id is known. */
int g2t_schemas_add(struct g2t_schemas *set, const struct g2t_rec *r,
                    struct g2t_diag *d);
const struct g2t_schema *g2t_schemas_find(const struct g2t_schemas *set,
                                          const uint8_t id[G2T_HASH_SIZE]);
void g2t_schemas_clear(struct g2t_schemas *set);

/* How messages name an input: "stdin" for NULL or "-". */
const char *g2t_display_name(const char *path);

/* Index of a name that occurs twice in names[0..n), or -1. */
long g2t_duplicate_name(const char *const *names, size_t n);

/* Signing keys: Ed25519 through libsodium. */
#define G2T_PK_SIZE 32u
#define G2T_SK_SIZE 64u
struct g2t_signer {
	uint8_t pk[G2T_PK_SIZE];
	uint8_t sk[G2T_SK_SIZE];    /* in guarded memory, wiped when freed */
};
/* Writes a new key pair; the secret file is created exclusively, mode 0600. */
int g2t_key_generate(const char *pub_path, const char *sec_path, struct g2t_diag *d);
/* Loads a secret key file, refusing one that group or others can read. */
int g2t_signer_load(struct g2t_signer **s, const char *path, struct g2t_diag *d);
void g2t_signer_free(struct g2t_signer *s);
/* Trusted public keys. */
struct g2t_keyring {
	uint8_t (*pk)[G2T_PK_SIZE];
	size_t n;
};
/* Adds a public key file, or every *.pub file of a directory. */
int g2t_keyring_add(struct g2t_keyring *k, const char *path, struct g2t_diag *d);
int g2t_keyring_has(const struct g2t_keyring *k, const uint8_t pk[G2T_PK_SIZE]);
void g2t_keyring_clear(struct g2t_keyring *k);
/* Short printable key id: 16 hex digits of BLAKE2b(pk). */
void g2t_key_id(char out[17], const uint8_t pk[G2T_PK_SIZE]);

/* Packets: weight sets encoded, deflated and signed (g2t(5), PACKET). */
enum g2t_precision { G2T_PREC_F32 = 0, G2T_PREC_F16 = 1, G2T_PREC_Q8 = 2 };
struct g2t_batch {
	const uint8_t *const *schema;  /* SCHEMA payloads the weights refer to */
	const uint32_t *schema_len;
	size_t schemas;
	const struct g2t_weights *weights;
	size_t count;
};
/* Builds a PACKET payload; *out is the caller's to free. */
int g2t_packet_build(uint8_t **out, size_t *len, const struct g2t_batch *b,
                     const struct g2t_signer *key, uint64_t seq, uint64_t time,
                     int precision);
/* An opened packet: its signature verified, its body inflated. */
struct g2t_packet {
	uint8_t pk[G2T_PK_SIZE];
	uint64_t seq, time;
	int precision;
	uint32_t count;           /* weight sets inside */
	const uint8_t *body;      /* signed bytes (points into the payload) */
	size_t body_len;
	uint8_t *raw;             /* inflated items, owned */
	size_t raw_len, at;
	uint32_t seen;            /* weight sets read so far */
	uint32_t features_max;    /* a weight set with more is malformed; 0: any */
};
/* What a packet holds, one at a time. */
struct g2t_packet_item {
	uint32_t type;            /* G2T_REC_SCHEMA or G2T_REC_WEIGHTS */
	const uint8_t *payload;   /* SCHEMA payload */
	uint32_t length;
	struct g2t_weights weights; /* WEIGHTS, decoded; w points into room */
	float *room;              /* grown as needed; free() when done */
	size_t room_floats;
};
/* Head, then verify with the format's own limit. */
int g2t_packet_open(struct g2t_packet *pk, const uint8_t *p, size_t len,
                    struct g2t_diag *d);
/* The header alone: who signed it, what it says it holds; nothing checked. */
int g2t_packet_head(struct g2t_packet *pk, const uint8_t *p, size_t len,
                    struct g2t_diag *d);
/* The signature, then the body inflated if it is at most raw_limit bytes. */
int g2t_packet_verify(struct g2t_packet *pk, size_t raw_limit, struct g2t_diag *d);
/* 1 and the next item, 0 at the end, or a negative status. */
int g2t_packet_next(struct g2t_packet *pk, struct g2t_packet_item *item,
                    struct g2t_diag *d);
void g2t_packet_close(struct g2t_packet *pk);

/* The device spool of g2t-pack (Algorithm 1); see lib/spool.c. */
struct g2t_link {
	double rtt_ms;        /* smoothed round-trip time of sends */
	double bytes_per_s;   /* smoothed upload throughput */
	double failure;       /* smoothed share of failed sends */
	uint64_t sends;       /* sends measured */
};
struct g2t_spool;
/* Creates, locks and recovers the spool directory. */
int g2t_spool_open(struct g2t_spool **s, const char *dir, struct g2t_diag *d);
void g2t_spool_close(struct g2t_spool *s);
/* Records the key whose packets the spool holds, or checks it: another key
 * is refused (G2T_EREFUSED), as the spool's sequence numbers are its key's. */
int g2t_spool_claim(struct g2t_spool *s, const uint8_t pk[G2T_PK_SIZE],
                    struct g2t_diag *d);
/* Keeps the SCHEMA and WEIGHTS records of an input stream, durably;
 * *added is how many weight sets were new. */
int g2t_spool_add(struct g2t_spool *s, const uint8_t *p, size_t len, uint32_t *added,
                  struct g2t_diag *d);
/* Weight sets held, not yet packed. */
uint32_t g2t_spool_held(const struct g2t_spool *s);
/* Packs every held set into one signed packet, kept until acknowledged;
 * with_schemas puts the SCHEMA records the weights belong to in it too. */
int g2t_spool_pack(struct g2t_spool *s, const struct g2t_signer *key, int precision,
                   int with_schemas, uint64_t now, uint64_t *seq, struct g2t_diag *d);
/* Sequence numbers of packets waiting, oldest first. */
size_t g2t_spool_pending(const struct g2t_spool *s, const uint64_t **seqs);
/* The PACKET payload of a waiting packet; *out is the caller's to free. */
int g2t_spool_packet(struct g2t_spool *s, uint64_t seq, uint8_t **out, size_t *len,
                     struct g2t_diag *d);
/* Drops a packet once it is acknowledged or written out, or sets a refused
 * one aside (p-<seq>.refused) so that it no longer blocks the others. */
int g2t_spool_packet_done(struct g2t_spool *s, uint64_t seq, int refused,
                          struct g2t_diag *d);
/* Records a send's outcome in the link statistics. */
int g2t_spool_note_send(struct g2t_spool *s, int ok, double rtt_ms, double bytes_per_s,
                        struct g2t_diag *d);
const struct g2t_link *g2t_spool_link(const struct g2t_spool *s);
/* Network quality q in (0, 1] from link statistics (formula in g2t-pack(1)). */
double g2t_link_quality(const struct g2t_link *l);
/* W_t = round(1/q), bounded by [lo, hi]. */
uint32_t g2t_batch_threshold(double q, uint32_t lo, uint32_t hi);

/* Sending packets over HTTP(S) with libcurl (curl_global_init first). */
struct g2t_send_opts {
	const char *url;          /* server base URL; POSTs go to URL/v1/results */
	const char *cacert;       /* CA bundle for a private CA, or NULL */
	long connect_timeout;     /* seconds */
	long timeout;             /* seconds for one attempt, and idle limit */
	long retry_max;           /* seconds of retrying in all */
	const struct g2t_signer *key; /* signs each request's headers */
};
struct g2t_send_result {
	int acked;                /* the server named the packet's digest */
	long http;                /* last HTTP status, 0 if none */
	unsigned attempts, failures;
	double rtt_ms, bytes_per_s; /* of the last attempt */
};
/* POSTs one packet until acknowledged, refused, or out of retry time. */
/* Appends X-G2T-Key, -Time, -Nonce and -Signature to *hdr: the request
 * "METHOD PATH" signed with a fresh time and nonce (g2t-serve(8)). */
struct curl_slist;
int g2t_sign_headers(struct curl_slist **hdr, const struct g2t_signer *key,
                     const char *method, const char *path);
int g2t_send_packet(const struct g2t_send_opts *o, const uint8_t *pkt, size_t len,
                    struct g2t_send_result *r, struct g2t_diag *d);
/* Whether a send's last attempt says the link worked: an HTTP answer other
 * than 408 or 5xx.  A refusal (403, 409, 422...) is the packet's fault, not
 * the link's, and must not lower the link quality. */
int g2t_send_link_ok(const struct g2t_send_result *r);
/* Sends the spool's waiting packets oldest first (lib/device.c).  A packet
 * refused for good is set aside (p-<seq>.refused), refused(ctx, seq, why)
 * is told, and the rest go on; a temporary failure stops the round with
 * G2T_ETEMP.  *acked and *nrefused count the packets. */
int g2t_spool_send(struct g2t_spool *s, const struct g2t_send_opts *o,
                   void (*refused)(void *ctx, uint64_t seq, const char *why), void *ctx,
                   unsigned *acked, unsigned *nrefused, struct g2t_diag *d);

/* The coordinator's durable state (SQLite); see lib/store.c. */
struct g2t_store;
struct g2t_lease {
	long task;              /* -1: no work now */
	long long deadline;     /* Unix seconds */
	long long retry_after;  /* no work: seconds the device is held back */
	int backup;             /* a second lease on a task still leased */
};
enum { G2T_SEEN_NEW, G2T_SEEN_SAME, G2T_SEEN_REPLAY };
/* In order: taken (the first three), then refused. */
enum g2t_result_verdict {
	G2T_RESULT_ACCEPTED,    /* completes its task */
	G2T_RESULT_RECORDED,    /* a replica's vote, the task waits for agreement */
	G2T_RESULT_STALE,       /* task already complete: acknowledged, not applied */ G2T_RESULT_UNKNOWN_LEASE,
	G2T_RESULT_OTHER_DEVICE, G2T_RESULT_WRONG_TASK, G2T_RESULT_EXPIRED,
	G2T_RESULT_BAD, G2T_RESULT_VERDICTS
};
struct g2t_store_counts {
	long long tasks, pending, leased, done, issued, reissued, devices, disagreeing;
	long long backups;      /* backup leases issued (not in issued) */
};
/* Opens the state in dir for tasks of `replicas` agreeing results each. */
int g2t_store_open(struct g2t_store **s, const char *dir, unsigned replicas,
                   struct g2t_diag *d);
void g2t_store_close(struct g2t_store *s);
/* Whether a device may get a backup lease when no other work is left. */
void g2t_store_backups(struct g2t_store *s, int on);
int g2t_store_tasks(struct g2t_store *s, const uint8_t schema_id[G2T_HASH_SIZE],
                    const struct g2t_task *tasks, size_t n, struct g2t_diag *d);
/* Leases and results go in transactions: begin (durable: synchronous=FULL,
 * for results), any number of leases and packets' results, end (commit, or
 * roll back). */
int g2t_store_begin(struct g2t_store *s, int durable, struct g2t_diag *d);
int g2t_store_end(struct g2t_store *s, int commit, struct g2t_diag *d);
/* A lease for the device, preferring tasks of the classes near[0..nnear),
 * and its token, when out->task >= 0. */
#define G2T_LEASE_TOKEN_SIZE 16
int g2t_store_lease(struct g2t_store *s, const uint8_t key[G2T_PK_SIZE], long long now,
                    long base, const uint32_t *near, size_t nnear,
                    uint8_t token[G2T_LEASE_TOKEN_SIZE], struct g2t_lease *out,
                    struct g2t_diag *d);
int g2t_store_packet_seen(struct g2t_store *s, const uint8_t key[G2T_PK_SIZE],
                          uint64_t seq, const uint8_t digest[G2T_HASH_SIZE]);
int g2t_store_results(struct g2t_store *s, const uint8_t key[G2T_PK_SIZE], uint64_t seq,
                      const uint8_t digest[G2T_HASH_SIZE], long long now,
                      const struct g2t_weights *w, const uint8_t *const *payload,
                      const uint32_t *len, size_t n, int *verdict, struct g2t_diag *d);
int g2t_store_counts(struct g2t_store *s, struct g2t_store_counts *c, long long now);
/* Calls back with every stored result; a state that cannot be read to the
 * end is G2T_EIO, not fewer results. */
int g2t_store_each_result(struct g2t_store *s,
                          int (*fn)(void *ctx, long task, const uint8_t *p, uint32_t len),
                          void *ctx, struct g2t_diag *d);
/* What the state knows of a device. */
struct g2t_store_device {
	long long done;         /* results that completed a task */
	long long expired;      /* leases it let run out */
	long long disagreed;    /* results outvoted by replicas */
	long long leased;       /* leases it holds now */
};
/* Calls back with every device the state knows, in key order. */
int g2t_store_each_device(struct g2t_store *s,
                          int (*fn)(void *ctx, const uint8_t *key,
                                    const struct g2t_store_device *dev),
                          void *ctx, long long now);
/* Takes a stored result back: the task is open again for new leases;
 * device gets the key of its last lease's device (zeros: none). */
int g2t_store_reopen(struct g2t_store *s, long task, uint8_t device[G2T_PK_SIZE],
                     struct g2t_diag *d);
int g2t_store_lease_uses(struct g2t_store *s, const uint8_t *token, size_t len,
                         long long now, uint32_t klass);
int g2t_store_lease_holds(struct g2t_store *s, const uint8_t *token, size_t len,
                          long long now, long task);

/*
 * Retrying HTTP requests (lib/send.c, shared by g2t_send_packet and
 * g2t_fetch_task): waits of 0.5 s doubling to at most 30 s, each times a
 * random factor in [0.5, 1], never shorter than the server's Retry-After,
 * and none ending more than `max` seconds after the first attempt began.
 */
struct g2t_retry {
	double start;             /* monotonic time of the first attempt */
	double backoff;           /* base of the next wait, seconds */
	long max;                 /* seconds of retrying in all */
};
void g2t_retry_start(struct g2t_retry *t, long max);
/* Once *flag is set (by a signal handler), waits end at once and retries
 * give up: the caller is stopping. */
void g2t_retry_cancel_on(volatile sig_atomic_t *flag);
/* Whether a libcurl result (a CURLcode) and HTTP status are worth a retry:
 * connection failures, timeouts, cut replies, 408, 429 and 5xx. */
int g2t_retryable(int curl_code, long http);
/* Sleeps before the next attempt; 0, or -1 at once when out of time. */
int g2t_retry_wait(struct g2t_retry *t, long retry_after);

/* Leasing tasks from a coordinator: g2t-fetch (curl_global_init first). */
struct g2t_fetch_opts {
	const char *url;          /* server base URL; POST URL/v1/lease */
	const char *cacert;       /* CA bundle for a private CA, or NULL */
	const char *cache;        /* shard cache directory, NULL for none */
	long connect_timeout;     /* seconds */
	long timeout;             /* seconds: a lease attempt, and idle limit */
	long retry_max;           /* seconds of retrying each request */
	long long limit_rate;     /* bytes per second each way, 0: no limit */
	unsigned count;           /* tasks to ask for, 1 to G2T_FETCH_MAX */
	const char *output;       /* the output's name in messages; NULL: "stdout" */
};
#define G2T_FETCH_MAX 16
struct g2t_fetch_result {
	long http;                /* last HTTP status, 0 if none */
	int no_work;              /* 204: nothing to lease now */
	int complete;             /* 204 with X-G2T-Complete: every task done */
	long retry_after;         /* seconds the server asked to wait, or 0 */
	uint32_t task;            /* index of the (first) leased task */
	unsigned tasks;           /* tasks leased */
	long long deadline;       /* its lease deadline, Unix seconds, or 0 */
	unsigned attempts;        /* HTTP requests tried */
	unsigned cached, downloaded; /* shards from the cache, from the server */
	int local;                /* the failure is the cache's or the output's,
	                             and d names the file, not the server */
	char warning[240];        /* a cache problem that did not stop us, or "" */
};
/*
 * Leases one task, or up to o->count, and writes them to out as one
 * self-contained stream: header, SCHEMA, the SHARD of each class they use,
 * the TASKs.  Nothing is
 * written until every part has arrived and verified.  G2T_ETEMP when the
 * server has no work (r->no_work) or retries ran out; G2T_EREFUSED when the
 * server refused; G2T_EDATA and stream statuses for a bad answer.
 */
int g2t_fetch_task(const struct g2t_fetch_opts *o, const struct g2t_signer *key,
                   FILE *out, struct g2t_fetch_result *r, struct g2t_diag *d);
/*
 * The bytes a lease request signs, in out[cap]:
 * "g2t-lease-v1\n" METHOD "\n" PATH "\n" TIME "\n" NONCE, no final newline.
 * Returns their length, or 0 when cap is too small.
 */
size_t g2t_lease_message(char *out, size_t cap, const char *method, const char *path,
                         const char *time, const char *nonce);

/* The device loop of g2t-device (lib/device.c; curl_global_init first). */
enum g2t_device_state {
	G2T_DEVICE_START, G2T_DEVICE_WORKING, G2T_DEVICE_IDLE, G2T_DEVICE_DONE,
	G2T_DEVICE_UNREACHABLE, G2T_DEVICE_REFUSED, G2T_DEVICE_STOPPED
};
struct g2t_device_opts {
	const char *url;            /* the coordinator's base URL */
	const struct g2t_signer *key;
	const char *spool;          /* the key's spool directory */
	const char *cache;          /* shard cache directory, NULL for none */
	const char *cacert;         /* CA bundle for a private CA, or NULL */
	uint32_t min_batch, max_batch; /* bounds of W_t */
	int precision;              /* G2T_PREC_* of the packets */
	unsigned jobs;              /* training threads */
	int once;                   /* stop when there is no work (cron) */
	long idle_max;              /* seconds: longest wait between polls */
	long retry_max;             /* seconds of retrying one request */
	volatile sig_atomic_t *stop; /* set by a signal: finish the step, stop */
	void (*say)(void *ctx, const char *line); /* a line per state change */
	void *ctx;
};
struct g2t_device_stats {
	unsigned long trained;      /* weight sets trained into the spool */
	unsigned long packets;      /* packets acknowledged */
	unsigned long refused;      /* packets refused and set aside */
	unsigned long leases;       /* lease requests answered with tasks */
	double net_seconds;         /* waiting on leases and on sends */
	double train_seconds;       /* training leased tasks */
	int said;                   /* the failure returned was told as a state */
};
/*
 * Runs the device until every task is done, or (once) there is no work, or
 * *stop is set.  G2T_OK then; G2T_ETEMP when once and results could not be
 * sent (they stay in the spool); G2T_EREFUSED when once and the server
 * refuses the device; other statuses for local failures.
 */
int g2t_device_run(const struct g2t_device_opts *o, struct g2t_device_stats *st,
                   struct g2t_diag *d);
/* Writes st to path (atomically) as "key value" lines: trained, packets,
 * refused, leases, net_ms, train_ms. */
int g2t_device_stats_write(const char *path, const struct g2t_device_stats *st,
                           struct g2t_diag *d);

/* The coordinator's HTTP server (libmicrohttpd); see lib/serve.c. */
struct g2t_serve_opts {
	const char *const *tasks;   /* task files or directories of them */
	size_t ntasks;
	const char *state;          /* directory of the SQLite state */
	const char *const *devices; /* public key files or directories */
	size_t ndevices;
	int open;                   /* enrol any key on first use */
	uint32_t address;           /* IPv4, network byte order */
	unsigned port;              /* 0: any free port */
	const char *tls_cert, *tls_key;
	long lease_timeout;         /* seconds, before adapting to the device */
	unsigned replicas;          /* agreeing results a task needs, >= 1 */
	int no_backups;             /* never lease a task still leased */
	double rate;                /* requests per second per device */
	double address_rate;        /* signed requests per second per address; 0: any */
	size_t body_limit;          /* bytes of a request body, at most */
	size_t buffer_budget;       /* bytes held for all requests at once */
	unsigned threads, connection_limit, per_ip_limit, idle_timeout;
};
struct g2t_server;
int g2t_server_start(struct g2t_server **s, const struct g2t_serve_opts *o,
                     struct g2t_diag *d);
unsigned g2t_server_port(const struct g2t_server *s);
/* Stops taking connections, finishes the requests in flight, checkpoints. */
void g2t_server_stop(struct g2t_server *s);
/* Reads the --devices keys again: new keys are enrolled, keys no longer
 * there are not (unless --open); the counts say what changed.  On an error
 * the devices stay as they were. */
int g2t_server_reload(struct g2t_server *s, size_t *added, size_t *removed,
                      size_t *enrolled, struct g2t_diag *d);
/* Called about once a second: logs completion once, building the model,
 * and a progress line a minute while work runs. */
void g2t_server_tick(struct g2t_server *s);

/* Index of the first NaN or infinity in v[0..n), or n when all are finite. */
size_t g2t_nonfinite(const float *v, size_t n);

/* Parses a number from s[0..n), spaces and tabs around it ignored: a
 * decimal (g2t_is_decimal), rounded to the nearest binary64 as strtod
 * does, then to the nearest binary32; 0, or G2T_EDATA when it is not a
 * decimal or its binary64 value is above FLT_MAX in magnitude. */
int g2t_parse_float(const char *s, size_t n, float *out);
/* Whether s[0..n) is completely a decimal number (g2t(5)): an optional
 * sign, digits with an optional fraction, at least one digit, an optional
 * exponent; no spaces, no hexadecimal, no inf or nan. */
int g2t_is_decimal(const char *s, size_t n);
/* Whether a class name is a number for the canonical order: a decimal
 * whose strtod value is finite. */
int g2t_class_is_number(const char *name);
/* The canonical order of two class names: < 0, 0 or > 0 as a goes before,
 * equals or goes after b (numeric: the order of numbers, g2t(5)). */
int g2t_class_cmp(const char *a, const char *b, int numeric);

#endif
