/*
 * g2t-serve: the coordinator (G2T-C) over HTTP with libmicrohttpd.
 *
 *   POST /v1/lease           signed by a device: a task stream (SCHEMA, TASK
 *                            with a lease token), or 204 when there is none
 *   GET  /v1/shards/HASH     a class shard, for a lease that uses it (ETag)
 *   GET  /v1/tasks/N         the whole task stream, shards too, for the lease
 *                            holder (?token=HEX), for devices without a cache
 *   POST /v1/results         signed by a device: a signed packet; durable
 *                            before the 2xx
 *   GET  /v1/status          JSON; GET /v1/model; GET /metrics
 *   GET  /v1/devices         JSON: each device's figures
 *   GET  /                   the operator's page: progress, devices, refusals
 *
 * A request is judged on its headers before any of its body is read, the
 * cheapest check first (begin(), authenticate()); what a client may make
 * the server hold is bounded by the task set and one global budget.
 * Handlers run on libmicrohttpd's thread pool and check signatures there,
 * in parallel.  Leases and results then go to one committer thread, which
 * does the state's work (lib/store.c) of every request waiting, in one
 * transaction: a connection waits for it suspended, not holding a thread.
 * The state's connection and the memory (counters, devices, nonces) have a
 * mutex each, held for no network I/O.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>
#include <sodium.h>
#include <zlib.h>

#include "cli.h"
#include "g2t.h"

#define TOKEN_SIZE G2T_LEASE_TOKEN_SIZE
#define CLOCK_SKEW 300          /* seconds a signed request's time may be off */
#define NONCE_SLOTS (1u << 20)  /* nonces remembered within CLOCK_SKEW */
#define NONCE_PROBES 32
#define ADDRESS_SLOTS 4096     /* client addresses with a budget of their own */
#define LATENCY_BUCKETS 10
#define STOP_GRACE 3           /* seconds in-flight requests get at a stop */
#define NEAR_MAX 8             /* classes of X-G2T-Have a lease looks for */
#define LEASE_MAX 16           /* tasks one lease request may ask for */
#define CONNECTION_MEMORY 16384 /* bytes of libmicrohttpd's pool a connection */
#define HEADER_DEADLINE 10.0   /* seconds a request's headers may take */
#define BODY_GRACE 30.0        /* seconds a body may take, plus... */
#define BODY_MIN_RATE 1024.0   /* ...one for each this many bytes of it */
#define REAP_EVERY 250000000L  /* ns between looks for connections past deadline */
#define RECENT_REFUSALS 16     /* refusals the operator's page lists */
#define PROGRESS_EVERY 60      /* seconds between progress lines while work runs */
#define LOG_REPEAT 10.0        /* seconds a repeated 5xx cause is logged once */
#define UPLOADS_MAX 4          /* results requests of one device held at once */
#define DEVICES_UNSORTED 256   /* new keys found by a scan until sorted in */
#define MODEL_RETRY 10         /* seconds before a model that failed is built again */

static const double latency_le[LATENCY_BUCKETS] = {
	0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0
};

static const char *const verdict_name[G2T_RESULT_VERDICTS] = {
	"accepted", "recorded", "stale", "unknown lease token", "lease held by another device",
	"token of another task", "lease expired and re-issued", "does not fit its task"
};

/* The same, as keys of /v1/status and labels of /metrics. */
static const char *const verdict_key[G2T_RESULT_VERDICTS] = {
	"accepted", "recorded", "stale", "unknown_lease_token", "lease_of_another_device",
	"token_of_another_task", "lease_expired", "does_not_fit_task"
};

/* A class shard, framed once as the stream GET /v1/shards answers: every
 * answer is sent from it, not from a copy of its own. */
struct shard {
	uint8_t *stream;                /* stream header, then the SHARD record */
	uint32_t length;                /* of the record's payload */
};

#define SHARD_RECORD(sh) ((sh)->stream + G2T_HEADER_SIZE)
#define SHARD_RECORD_SIZE(sh) (G2T_HEADER_SIZE + (size_t)(sh)->length + G2T_CRC_SIZE)

/* A class by its shard's hash: an array of them sorted, for lookups. */
struct shard_key {
	uint8_t hash[G2T_HASH_SIZE];
	uint32_t klass;
};

/* A request budget: a token bucket. */
struct bucket {
	double tokens, at;          /* tokens < 0: not yet used */
};

/* An enrolled device, its request budget, and what it did since the start. */
struct device {
	uint8_t key[G2T_PK_SIZE];
	struct bucket rate;
	long long last_seen;        /* Unix time of its last signed request, or 0 */
	unsigned long long leases;  /* tasks leased to it */
	unsigned long long results; /* weight sets it sent that were taken */
	unsigned long long refused; /* weight sets and requests refused */
	unsigned uploads;           /* its results requests held now (UPLOADS_MAX) */
};

/* A refusal, for the operator's page. */
struct refusal {
	long long at;               /* Unix time */
	uint8_t key[G2T_PK_SIZE];
	long task;                  /* -1: the request's, not a weight set's */
	const char *why;            /* a constant string */
};

/* A client address's budget of signed requests, checked before its
 * signature costs anything; addresses whose slots collide share it. */
struct address {
	struct bucket rate;         /* all 0 at first: full at its first use */
};

struct nonce {
	uint8_t bytes[16];
	long long time;
};

/* Counters shown in /v1/status and /metrics (since the server started). */
struct counters {
	unsigned long long requests, leases, no_work, accepted, recorded, stale, duplicates;
	unsigned long long refused[G2T_RESULT_VERDICTS], denied, rate_limited;
	unsigned long long too_slow, over_budget; /* connections dropped; 503s */
	unsigned long long latency[LATENCY_BUCKETS + 1];
	double latency_sum;
};

struct g2t_server {
	struct g2t_serve_opts opts;
	struct MHD_Daemon *mhd;
	int listen_fd;                   /* bound before the state is made; then mhd's */
	unsigned port;                   /* that it is bound to */
	pthread_mutex_t lock;            /* everything in memory below */
	pthread_mutex_t store_lock;      /* the state's one connection */
	struct g2t_store *store;
	struct g2t_schema *schema;
	struct shard *shard;            /* one per class, by class index */
	struct shard_key *by_hash;      /* one per class, sorted by hash */
	struct g2t_task *task;          /* by task index */
	size_t tasks;
	struct device *device;          /* sorted by key up to device_sorted */
	size_t devices, device_cap, device_sorted;
	struct nonce *nonce;            /* open addressing over NONCE_SLOTS */
	struct address *address;        /* ADDRESS_SLOTS, by keyed hash */
	uint8_t nonce_key[crypto_shorthash_KEYBYTES];
	uint8_t *schema_record;         /* the SCHEMA record, framed once */
	size_t schema_record_len;
	struct counters n;
	unsigned long in_flight;        /* requests being answered */
	pthread_mutex_t qlock;          /* guards queue and stopping */
	pthread_cond_t queued;
	struct job *queue;              /* requests waiting for the committer */
	int stopping, committing;       /* committer told to stop; it runs */
	pthread_t committer;
	size_t done;                    /* tasks with an accepted result */
	uint8_t *model;                 /* built once every task is done */
	size_t model_len;
	long long model_retry;          /* after a build failed: no other before */
	int model_rc;                   /* and its status and words until then */
	struct g2t_diag model_why;
	int announced;                  /* completion logged */
	long long first_at;             /* when the first result of this run came */
	size_t first_done;              /* tasks done before it */
	long long progress_at;          /* last progress line */
	size_t progress_done;           /* tasks done then */
	unsigned long long progress_leases; /* leases given then */
	struct refusal recent[RECENT_REFUSALS]; /* a ring, newest at recent_at - 1 */
	size_t recent_at, recent_n;
	int state_failing;              /* the committer's last transaction failed */
	/* what a request may make us hold, from the task set (see size_limits) */
	size_t body_max, raw_max, sets_max, set_memory;
	size_t buffered;                /* bytes held for requests now, under lock */
	pthread_mutex_t conn_lock;      /* the connections and their deadlines */
	struct conn *conns;
	pthread_t reaper;
	int reaping;                    /* the reaper runs; stopped by clearing it */
};

/* An open connection and when it is dropped if its request is not in. */
struct conn {
	MHD_socket fd;
	double deadline;                /* 0: none (answering) */
	struct conn *prev, *next;
};

/* Decoded weight sets of a packet, checked against the schema; a refused
 * one keeps its identity only (w and payload NULL). */
struct batch {
	struct g2t_weights *w;
	uint8_t **payload;
	uint32_t *len;
	int *verdict;
	size_t n, cap;
	float *scratch;                /* F + 1 floats for checking */
};

/*
 * A request's work on the state, for the committer: a lease to pick, or a
 * packet's results to judge and keep.  Every job waiting is done in one
 * transaction, durable (synchronous=FULL) when it holds results, before
 * any of their connections is resumed: many results share one sync.
 */
enum { JOB_NONE, JOB_LEASE, JOB_RESULTS };
struct job {
	int kind;
	struct MHD_Connection *c;      /* suspended until done */
	uint8_t key[G2T_PK_SIZE];
	unsigned want, got;            /* lease: tasks asked for, leased */
	uint8_t token[LEASE_MAX][TOKEN_SIZE]; /* lease: out, their tokens */
	uint32_t near[NEAR_MAX];       /* lease: classes the device has */
	size_t nnear;
	int has_schema;                /* lease: the device has the schema */
	struct g2t_lease lease[LEASE_MAX]; /* lease: out */
	struct g2t_packet pk;          /* results: the verified packet */
	struct batch b;                /* results: its weight sets, verdicts out */
	uint8_t digest[G2T_HASH_SIZE]; /* results: of the PACKET payload */
	int seen, rc;                  /* out: G2T_SEEN_*, status */
	struct job *next;
};

/* One request: its uploaded body, when it started, and its job. */
struct request {
	uint8_t *body;
	size_t len, expect;            /* bytes in, bytes Content-Length said */
	size_t reserved;               /* of the server's budget, given back at the end */
	uint8_t key[G2T_PK_SIZE];      /* results: the device that signed the request */
	int upload;                    /* counted in that device's uploads */
	double start;
	struct job job;
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- loading the tasks ---- */

static int load_record(struct g2t_server *s, const struct g2t_rec *r, struct g2t_diag *d)
{
	struct g2t_schema *sc;
	struct g2t_shard head;
	struct g2t_task t;
	int rc;

	if (r->type == G2T_REC_SCHEMA) {
		if ((rc = g2t_schema_read(&sc, r->payload, r->length, d)))
			return rc == G2T_ENOMEM ? rc : g2t_fail(d, rc, 0, r->offset,
			                                        "bad SCHEMA record: %s", d->what);
		if (s->schema && memcmp(s->schema->id, sc->id, G2T_HASH_SIZE)) {
			g2t_schema_free(sc);
			return g2t_fail(d, G2T_ESCHEMA, 0, r->offset, "tasks of two schemas");
		}
		if (s->schema) {
			g2t_schema_free(sc);
			return G2T_OK;
		}
		if (sc->flags & G2T_SCHEMA_OVR) {
			g2t_schema_free(sc);
			return g2t_fail(d, G2T_ESCHEMA, 0, r->offset, "one-vs-rest tasks need "
			                "every class's rows; train them with g2t-train");
		}
		s->schema = sc;
		s->shard = calloc(sc->classes, sizeof *s->shard);
		s->task = calloc((size_t)sc->classes * (sc->classes - 1) / 2, sizeof *s->task);
		return s->shard && s->task ? G2T_OK : G2T_ENOMEM;
	}
	if (!s->schema && (r->type == G2T_REC_SHARD || r->type == G2T_REC_TASK))
		return g2t_fail(d, G2T_ESCHEMA, 0, r->offset, "record before its SCHEMA");
	if (r->type == G2T_REC_SHARD) {
		uint8_t hash[G2T_HASH_SIZE];
		struct shard *sh;

		if (g2t_shard_header_decode(&head, r->payload, r->length) ||
		    head.klass >= s->schema->classes)
			return g2t_fail(d, G2T_EFORMAT, 0, r->offset, "bad SHARD record");
		g2t_hash(hash, r->payload, r->length);
		sh = &s->shard[head.klass];
		if (memcmp(hash, s->schema->shard_hash[head.klass], G2T_HASH_SIZE))
			return g2t_fail(d, G2T_ESCHEMA, 0, r->offset, "shard not of the schema");
		if (sh->stream)
			return G2T_OK;
		if (!(sh->stream = malloc(2 * G2T_HEADER_SIZE + (size_t)r->length + G2T_CRC_SIZE)))
			return G2T_ENOMEM;
		sh->length = r->length;
		g2t_stream_header(sh->stream);
		g2t_record_frame(SHARD_RECORD(sh), SHARD_RECORD(sh) + G2T_HEADER_SIZE + r->length,
		                 G2T_REC_SHARD, r->payload, r->length, g2t_crc32);
		memcpy(SHARD_RECORD(sh) + G2T_HEADER_SIZE, r->payload, r->length);
		return G2T_OK;
	}
	if (r->type == G2T_REC_TASK) {
		uint32_t P = s->schema->classes * (s->schema->classes - 1) / 2;

		if (g2t_task_read(&t, r->payload, r->length, r->offset, d))
			return G2T_EFORMAT;
		if (t.id.task >= P || memcmp(t.id.schema_id, s->schema->id, G2T_HASH_SIZE) ||
		    g2t_pair_index(s->schema->classes, t.id.class_a, t.id.class_b) != t.id.task)
			return g2t_fail(d, G2T_EFORMAT, 0, r->offset, "bad TASK record");
		t.token = NULL;
		t.token_len = 0;
		s->task[t.id.task] = t;
		return G2T_OK;
	}
	return G2T_OK;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int load_stream(struct g2t_server *s, const char *path, struct g2t_diag *d)
{
	struct g2t_in *in;
	struct g2t_rec r;
	int rc = g2t_in_open(&in, path, 0, d);

	while (!rc && (rc = g2t_in_next(in, &r, d)) == 1)
		rc = load_record(s, &r, d);
	g2t_in_free(in);
	if (rc < 0 && d->offset >= 0) /* the place as every reader names it (g2t(5)) */
		return g2t_fail(d, rc, 0, d->offset, "%s: byte %lld: %s", path, d->offset,
		                d->what);
	return rc < 0 ? g2t_fail(d, rc, d->line, d->offset, "%s: %s", path, d->what) : rc;
}

/* Every *.g2t file of a directory, in name order. */
static int load_dir(struct g2t_server *s, const char *dir, struct g2t_diag *d)
{
	DIR *dp = opendir(dir);
	struct dirent *e;
	char **names = NULL;
	size_t n = 0, cap = 0;
	int rc = G2T_OK;

	if (!dp)
		return g2t_fail(d, G2T_EIO, 0, -1, "%s: %s", dir, strerror(errno));
	while (!rc && (e = readdir(dp))) {
		size_t len = strlen(e->d_name), size = strlen(dir) + len + 2;

		if (len < 5 || strcmp(e->d_name + len - 4, ".g2t"))
			continue;
		if (g2t_grow((void **)&names, &cap, n + 1, sizeof *names) ||
		    !(names[n] = malloc(size)))
			rc = G2T_ENOMEM;
		else
			g2t_path(names[n++], size, dir, e->d_name);
	}
	closedir(dp);
	qsort(names, n, sizeof *names, by_name);
	for (size_t i = 0; i < n; i++) {
		if (!rc)
			rc = load_stream(s, names[i], d);
		free(names[i]);
	}
	free(names);
	return rc;
}

static int load_path(struct g2t_server *s, const char *path, struct g2t_diag *d)
{
	struct stat st;

	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
		return load_dir(s, path, d);
	return load_stream(s, path, d);
}

/* Every task of the schema needs its TASK record and both shards. */
static int check_tasks(struct g2t_server *s, struct g2t_diag *d)
{
	uint32_t K;

	if (!s->schema)
		return g2t_fail(d, G2T_EDATA, 0, -1, "no tasks found");
	K = s->schema->classes;
	s->tasks = (size_t)K * (K - 1) / 2;
	for (size_t i = 0; i < s->tasks; i++) {
		const struct g2t_task *t = &s->task[i];

		if (memcmp(t->id.schema_id, s->schema->id, G2T_HASH_SIZE) || t->id.task != i)
			return g2t_fail(d, G2T_EDATA, 0, -1, "task %zu is missing", i);
		if (!s->shard[t->id.class_a].stream || !s->shard[t->id.class_b].stream)
			return g2t_fail(d, G2T_EDATA, 0, -1, "task %zu: a shard is missing", i);
	}
	return G2T_OK;
}

static int by_hash(const void *a, const void *b)
{
	return memcmp(a, b, G2T_HASH_SIZE); /* the hash comes first */
}

/* The class whose shard has hash h, or -1. */
static long class_of(const struct g2t_server *s, const uint8_t *h)
{
	const struct shard_key *k = bsearch(h, s->by_hash, s->schema->classes,
	                                    sizeof *s->by_hash, by_hash);

	return k ? (long)k->klass : -1;
}

/* The SCHEMA record as every lease sends it, framed once, and the classes
 * by shard hash. */
static int frame_schema(struct g2t_server *s)
{
	uint32_t len = s->schema->length;
	uint8_t *payload = NULL;

	if (!(s->by_hash = calloc(s->schema->classes, sizeof *s->by_hash)))
		return G2T_ENOMEM;
	for (uint32_t k = 0; k < s->schema->classes; k++) {
		memcpy(s->by_hash[k].hash, s->schema->shard_hash[k], G2T_HASH_SIZE);
		s->by_hash[k].klass = k;
	}
	qsort(s->by_hash, s->schema->classes, sizeof *s->by_hash, by_hash);

	/* a sparse set's lease answers carry the task form: a device needs no
	 * per-feature arrays, which for a text-sized feature space outweigh a
	 * task's shards */
	if (s->schema->flags & G2T_SCHEMA_SPARSE) {
		if (g2t_schema_task_form(s->schema, &payload, &len))
			return G2T_ENOMEM;
	}
	s->schema_record_len = G2T_HEADER_SIZE + len + G2T_CRC_SIZE;
	if (!(s->schema_record = malloc(s->schema_record_len))) {
		free(payload);
		return G2T_ENOMEM;
	}
	g2t_record_frame(s->schema_record, s->schema_record + G2T_HEADER_SIZE + len,
	                 G2T_REC_SCHEMA, payload ? payload : s->schema->payload, len, g2t_crc32);
	memcpy(s->schema_record + G2T_HEADER_SIZE, payload ? payload : s->schema->payload, len);
	free(payload);
	return G2T_OK;
}

/* ---- replies ---- */

/* Queues a response made for c, with its type and headers, and lets it go. */
static enum MHD_Result queue(struct MHD_Connection *c, unsigned status,
                             struct MHD_Response *r, const char *type,
                             const char *const *headers)
{
	enum MHD_Result ok;

	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	for (; headers && headers[0]; headers += 2)
		MHD_add_response_header(r, headers[0], headers[1]);
	ok = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ok;
}

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, const char *type,
                             void *body, size_t len, enum MHD_ResponseMemoryMode mode,
                             const char *const *headers)
{
	return queue(c, status, MHD_create_response_from_buffer(len, body, mode), type, headers);
}

/*
 * An answer read from buffers that outlive it (the schema's and the shards'
 * records) and one it owns, freed with it: a request for a task holds no
 * copy of its shards, which may be megabytes.
 */
#define PIECES_MAX 5
struct pieces {
	const uint8_t *p[PIECES_MAX];
	size_t len[PIECES_MAX];
	unsigned n;
	uint8_t *owned;                 /* freed with the answer */
};

static ssize_t read_pieces(void *cls, uint64_t pos, char *buf, size_t max)
{
	const struct pieces *ps = cls;
	size_t done = 0, n;

	for (unsigned i = 0; i < ps->n && done < max; i++) {
		if (pos >= ps->len[i]) {
			pos -= ps->len[i];
			continue;
		}
		n = ps->len[i] - (size_t)pos;
		n = n < max - done ? n : max - done;
		memcpy(buf + done, ps->p[i] + pos, n);
		done += n;
		pos = 0;
	}
	return done ? (ssize_t)done : MHD_CONTENT_READER_END_OF_STREAM;
}

static void free_pieces(void *cls)
{
	struct pieces *ps = cls;

	free(ps->owned);
	free(ps);
}

/* Sends the pieces, and frees them once sent (or now, on failure). */
static enum MHD_Result reply_pieces(struct MHD_Connection *c, struct pieces *ps)
{
	uint64_t total = 0;
	struct MHD_Response *r;

	for (unsigned i = 0; i < ps->n; i++)
		total += ps->len[i];
	if (!(r = MHD_create_response_from_callback(total, CONNECTION_MEMORY / 2, read_pieces,
	                                            ps, free_pieces))) {
		free_pieces(ps);
		return MHD_NO;
	}
	return queue(c, 200, r, "application/x-g2t", NULL);
}

/* A JSON reply built with printf. */
static enum MHD_Result json(struct MHD_Connection *c, unsigned status,
                            const char *const *headers, const char *fmt, ...)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	va_list ap;

	if (!f)
		return MHD_NO;
	va_start(ap, fmt);
	vfprintf(f, fmt, ap);
	va_end(ap);
	fputc('\n', f);
	fclose(f);
	return reply(c, status, "application/json", text, len, MHD_RESPMEM_MUST_FREE, headers);
}

/* Logs a 5xx answer and its cause; the same cause again within LOG_REPEAT
 * seconds is only counted, and the count told before the next line. */
static void log_5xx(unsigned status, const char *why)
{
	static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	static char last[160];
	static unsigned last_status;
	static double last_at;
	static unsigned long held;
	double now = now_s();

	pthread_mutex_lock(&lock);
	if (status == last_status && !strncmp(why, last, sizeof last - 1) &&
	    now - last_at < LOG_REPEAT) {
		held++;
	} else {
		if (held)
			g2t_warn("HTTP %u: %s: %lu more times", last_status, last, held);
		g2t_warn("HTTP %u: %s", status, why);
		snprintf(last, sizeof last, "%s", why);
		last_status = status;
		last_at = now;
		held = 0;
	}
	pthread_mutex_unlock(&lock);
}

static enum MHD_Result error(struct MHD_Connection *c, unsigned status, const char *why)
{
	static const char *const retry[] = { MHD_HTTP_HEADER_RETRY_AFTER, "1", NULL };

	if (status >= 500)
		log_5xx(status, why);
	return json(c, status, status == 429 || status == 503 ? retry : NULL,
	            "{\"error\":\"%s\"}", why);
}

/* A G2T stream of records, in memory. */
struct stream {
	FILE *f;
	char *p;
	size_t len;
};

static int stream_open(struct stream *st)
{
	st->p = NULL;
	st->f = open_memstream(&st->p, &st->len);
	return st->f && !g2t_write_header(st->f) ? G2T_OK : G2T_ENOMEM;
}

static enum MHD_Result stream_reply(struct MHD_Connection *c, struct stream *st,
                                    const char *const *headers)
{
	if (fclose(st->f) != 0) {
		free(st->p);
		return error(c, 500, "out of memory");
	}
	return reply(c, 200, "application/x-g2t", st->p, st->len, MHD_RESPMEM_MUST_FREE,
	             headers);
}

/* ---- devices: signatures, nonces, rate ---- */

static const char *header(struct MHD_Connection *c, const char *name)
{
	return MHD_lookup_connection_value(c, MHD_HEADER_KIND, name);
}

/* Remembers a nonce; 0 when new, 1 when seen within the window, -1 full. */
static int nonce_seen(struct g2t_server *s, const uint8_t n[16], long long now)
{
	uint32_t h;

	struct nonce *free_slot = NULL;
	uint8_t mac[crypto_shorthash_BYTES];

	/* keyed: clients do not choose where their nonces land */
	crypto_shorthash(mac, n, 16, s->nonce_key);
	memcpy(&h, mac, sizeof h);
	for (uint32_t i = 0; i < NONCE_PROBES; i++) {
		struct nonce *e = &s->nonce[(h + i) & (NONCE_SLOTS - 1)];
		int live = e->time && e->time >= now - CLOCK_SKEW;

		if (live && !memcmp(e->bytes, n, 16))
			return 1;
		if (!live && !free_slot)
			free_slot = e;
	}
	if (!free_slot)
		return -1;
	memcpy(free_slot->bytes, n, 16);
	free_slot->time = now;
	return 0;
}

static int by_key(const void *key, const void *dev)
{
	return memcmp(key, ((const struct device *)dev)->key, G2T_PK_SIZE);
}

static struct device *find_device(struct g2t_server *s, const uint8_t *key)
{
	struct device *dev = s->device_sorted ? bsearch(key, s->device, s->device_sorted,
	                                                sizeof *s->device, by_key) : NULL;

	for (size_t i = s->device_sorted; !dev && i < s->devices; i++)
		if (!memcmp(s->device[i].key, key, G2T_PK_SIZE))
			dev = &s->device[i];
	return dev;
}

/* Sorts the devices added since the last time in among the others, merging
 * from the end through room past them: O(n) once every DEVICES_UNSORTED
 * new keys, not a move of the array for each.  0, or G2T_ENOMEM with the
 * devices as they were. */
static int sort_devices(struct g2t_server *s)
{
	size_t n = s->devices - s->device_sorted, i = s->device_sorted, k = s->devices;
	struct device *tail;

	if (g2t_grow((void **)&s->device, &s->device_cap, s->devices + n, sizeof *s->device))
		return G2T_ENOMEM;
	tail = s->device + s->devices;
	memcpy(tail, s->device + i, n * sizeof *tail);
	qsort(tail, n, sizeof *tail, by_key); /* a device starts with its key */
	while (n)
		s->device[--k] = i && by_key(s->device[i - 1].key, &tail[n - 1]) > 0
		                 ? s->device[--i] : tail[--n];
	s->device_sorted = s->devices;
	return G2T_OK;
}

/* Adds a device; NULL when out of memory. */
static struct device *add_device(struct g2t_server *s, const uint8_t *key)
{
	struct device *dev;

	if (g2t_grow((void **)&s->device, &s->device_cap, s->devices + 1, sizeof *s->device))
		return NULL;
	dev = &s->device[s->devices++];
	memset(dev, 0, sizeof *dev);
	memcpy(dev->key, key, G2T_PK_SIZE);
	dev->rate.tokens = -1.0; /* a full budget at its first request */
	/* out of memory to sort: sorted at a later key */
	if (s->devices - s->device_sorted < DEVICES_UNSORTED || sort_devices(s))
		return dev;
	return find_device(s, key);
}

/* The device of an enrolled key (enrolling it under --open), or NULL. */
static struct device *enrolled(struct g2t_server *s, const uint8_t *key)
{
	struct device *dev = find_device(s, key);

	return dev ? dev : s->opts.open ? add_device(s, key) : NULL;
}

/* Keeps a refusal for the operator's page and counts it; under the lock. */
static void note_refusal(struct g2t_server *s, const uint8_t *key, long task,
                         const char *why)
{
	struct refusal *r = &s->recent[s->recent_at];
	struct device *dev = find_device(s, key);

	r->at = (long long)time(NULL);
	memcpy(r->key, key, G2T_PK_SIZE);
	r->task = task;
	r->why = why;
	s->recent_at = (s->recent_at + 1) % RECENT_REFUSALS;
	s->recent_n += s->recent_n < RECENT_REFUSALS;
	if (dev)
		dev->refused++;
}

/* Spends one request of a budget of `rate` a second; 0 when it is spent. */
static int spend(struct bucket *b, double rate, double now)
{
	double burst = 2.0 * rate;

	if (b->tokens < 0.0) {
		b->tokens = burst;
		b->at = now;
	}
	b->tokens += (now - b->at) * rate;
	b->tokens = b->tokens > burst ? burst : b->tokens;
	b->at = now;
	if (b->tokens < 1.0)
		return 0;
	b->tokens -= 1.0;
	return 1;
}

/* Spends one signed request of the client address's budget; under the lock. */
static int address_within_rate(struct g2t_server *s, struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *i =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr_in *a = i ? (const struct sockaddr_in *)i->client_addr : NULL;
	uint8_t mac[crypto_shorthash_BYTES];
	struct address *slot;
	uint32_t h;

	if (!s->opts.address_rate || !a || a->sin_family != AF_INET)
		return 1;
	/* keyed: a client does not choose whose slot it shares */
	crypto_shorthash(mac, (const uint8_t *)&a->sin_addr.s_addr, 4, s->nonce_key);
	memcpy(&h, mac, sizeof h);
	/* shared, never handed over full: two addresses that took turns on a
	 * slot once each refilled it for the other, and were never limited */
	slot = &s->address[h % ADDRESS_SLOTS];
	return spend(&slot->rate, s->opts.address_rate, now_s());
}

/* The signature headers of a request, parsed. */
struct signed_request {
	uint8_t key[G2T_PK_SIZE], nonce[16], signature[64];
	const char *time_text, *nonce_text;
	long long time;
};

/* X-G2T-Key, -Time, -Nonce and -Signature; 0 or -1 when one is missing or bad. */
static int signature_headers(struct MHD_Connection *c, struct signed_request *r)
{
	const char *k = header(c, "X-G2T-Key"), *t = header(c, "X-G2T-Time");
	const char *n = header(c, "X-G2T-Nonce"), *sig = header(c, "X-G2T-Signature");
	char *end;
	size_t got;

	if (!k || !t || !n || !sig ||
	    sodium_base642bin(r->key, G2T_PK_SIZE, k, strlen(k), NULL, &got, NULL,
	                      sodium_base64_VARIANT_ORIGINAL) || got != G2T_PK_SIZE ||
	    sodium_base642bin(r->signature, 64, sig, strlen(sig), NULL, &got, NULL,
	                      sodium_base64_VARIANT_ORIGINAL) || got != 64 ||
	    strlen(n) != 32 || sodium_hex2bin(r->nonce, 16, n, 32, NULL, &got, NULL) ||
	    got != 16)
		return -1;
	errno = 0;
	r->time = strtoll(t, &end, 10);
	r->time_text = t;
	r->nonce_text = n;
	return errno || *end || end == t ? -1 : 0;
}

/* Clock, nonce and rate of a request whose signature verified; under the lock. */
static unsigned admit(struct g2t_server *s, const struct signed_request *r,
                      const char **why)
{
	long long now = (long long)time(NULL);
	struct device *dev = enrolled(s, r->key); /* enrols under --open */

	*why = "device not enrolled";
	if (!dev)
		return 403;
	dev->last_seen = now;
	*why = "stale timestamp";
	if (r->time < now - CLOCK_SKEW || r->time > now + CLOCK_SKEW)
		return 401;
	switch (nonce_seen(s, r->nonce, now)) {
	case 1: *why = "nonce already used"; return 401;
	case -1: *why = "too many requests to remember"; return 503;
	}
	*why = "rate limit";
	if (!spend(&dev->rate, s->opts.rate, now_s())) {
		s->n.rate_limited++;
		return 429;
	}
	return 0;
}

/*
 * Whether a request signed over "g2t-lease-v1\nMETHOD\nPATH\nTIME\nNONCE"
 * may go on, the cheapest check first: the address's rate, enrolment, then
 * the signature, then clock, nonce and the device's rate.  0 and its key, or
 * a status and *why.
 */
static unsigned authenticate(struct g2t_server *s, struct MHD_Connection *c,
                             const char *method, const char *url,
                             uint8_t key[G2T_PK_SIZE], const char **why)
{
	struct signed_request r;
	char message[512];
	size_t len;
	unsigned status = 0;
	int known, limited;

	pthread_mutex_lock(&s->lock);
	limited = !address_within_rate(s, c);
	s->n.rate_limited += limited;
	pthread_mutex_unlock(&s->lock);
	*why = limited ? "rate limit of this address" : "missing or malformed signature headers";
	if (limited) {
		status = 429;
	} else if (signature_headers(c, &r)) {
		status = 401;
	} else {
		pthread_mutex_lock(&s->lock);
		known = find_device(s, r.key) != NULL;
		pthread_mutex_unlock(&s->lock);
		len = g2t_lease_message(message, sizeof message, method, url, r.time_text,
		                        r.nonce_text);
		if (!known && !s->opts.open) {
			*why = "device not enrolled";
			status = 403;
		} else if (!len || crypto_sign_verify_detached(r.signature, (uint8_t *)message,
		                                               len, r.key)) {
			*why = "bad signature";
			status = 401;
		}
	}
	pthread_mutex_lock(&s->lock);
	if (!status)
		status = admit(s, &r, why);
	if (status == 403) /* the operator may want to enrol it */
		note_refusal(s, r.key, -1, *why);
	s->n.denied += status && status != 429;
	pthread_mutex_unlock(&s->lock);
	if (!status)
		memcpy(key, r.key, G2T_PK_SIZE);
	return status;
}

/* ---- handlers ---- */

/*
 * What the device says it has cached (X-G2T-Have: hashes, most recently
 * used first): the classes of its first NEAR_MAX shards, into j->near, and
 * whether it has the schema.
 */
static void cached(const struct g2t_server *s, const char *have, struct job *j)
{
	j->nnear = 0;
	j->has_schema = 0;
	while (have && *have) {
		uint8_t h[G2T_HASH_SIZE];
		size_t got;
		long k;

		if (!sodium_hex2bin(h, sizeof h, have, strcspn(have, ","), NULL, &got, NULL) &&
		    got == G2T_HASH_SIZE) {
			j->has_schema |= !memcmp(h, s->schema->id, G2T_HASH_SIZE);
			if (j->nnear < NEAR_MAX && (k = class_of(s, h)) >= 0)
				j->near[j->nnear++] = (uint32_t)k;
		}
		have += strcspn(have, ",");
		have += *have == ',';
	}
}

/* A stream that starts with the SCHEMA record, if asked. */
static int schema_stream(const struct g2t_server *s, struct stream *st, int with_schema)
{
	if (stream_open(st) ||
	    (with_schema && fwrite(s->schema_record, 1, s->schema_record_len, st->f) !=
	                    s->schema_record_len))
		return G2T_ENOMEM;
	return G2T_OK;
}

#define TASK_PAYLOAD (G2T_HASH_SIZE + G2T_TASK_ID_SIZE + 4 + TOKEN_SIZE)
#define TASK_RECORD (G2T_HEADER_SIZE + TASK_PAYLOAD + G2T_CRC_SIZE)

/* The TASK record of a task with a lease token, framed into rec; its size. */
static size_t task_record(const struct g2t_server *s, uint8_t rec[TASK_RECORD], long task,
                          const uint8_t *token)
{
	struct g2t_task t = s->task[task];
	uint32_t len;

	t.token = token;
	t.token_len = TOKEN_SIZE;
	len = (uint32_t)g2t_task_encode(rec + G2T_HEADER_SIZE, TASK_PAYLOAD, &t);
	g2t_record_frame(rec, rec + G2T_HEADER_SIZE + len, G2T_REC_TASK, rec + G2T_HEADER_SIZE,
	                 len, g2t_crc32);
	return G2T_HEADER_SIZE + len + G2T_CRC_SIZE;
}

static int write_task(const struct g2t_server *s, FILE *f, long task, const uint8_t *token)
{
	uint8_t rec[TASK_RECORD];
	size_t n = task_record(s, rec, task, token);

	return fwrite(rec, 1, n, f) == n ? G2T_OK : G2T_ENOMEM;
}

/* Hands a job to the committer; the connection waits, suspended. */
static enum MHD_Result enqueue(struct g2t_server *s, struct MHD_Connection *c,
                               struct job *j, int kind)
{
	j->kind = kind;
	j->c = c;
	MHD_suspend_connection(c); /* before the committer can resume it */
	pthread_mutex_lock(&s->qlock);
	j->next = s->queue;
	s->queue = j;
	pthread_cond_signal(&s->queued);
	pthread_mutex_unlock(&s->qlock);
	return MHD_YES;
}

/* A verified, admitted lease request goes to the committer. */
static enum MHD_Result lease_start(struct g2t_server *s, struct MHD_Connection *c,
                                   const char *url, struct job *j)
{
	const char *why, *count = header(c, "X-G2T-Count");
	unsigned long want = 1;
	unsigned status;
	char *end;

	if (count) {
		errno = 0;
		want = strtoul(count, &end, 10);
		if (errno || *end || end == count || !want || want > LEASE_MAX)
			return error(c, 400, "X-G2T-Count must be a number from 1 to 16");
	}
	if ((status = authenticate(s, c, "POST", url, j->key, &why)))
		return error(c, status, why);
	j->want = (unsigned)want;
	cached(s, header(c, "X-G2T-Have"), j);
	return enqueue(s, c, j, JOB_LEASE);
}

/* The answer to a lease request: its tasks' stream, or 204 when none. */
static enum MHD_Result lease(struct g2t_server *s, struct MHD_Connection *c, const char *url,
                             struct job *j)
{
	char deadline[32], tasks[LEASE_MAX * 12], shards[LEASE_MAX * 2 * (2 * G2T_HASH_SIZE + 1)];
	size_t at = 0, sh = 0;
	struct stream st;
	struct device *dev;
	int complete, rc;

	if (!j->kind)
		return lease_start(s, c, url, j);
	pthread_mutex_lock(&s->lock);
	s->n.leases += j->rc ? 0 : j->got;
	s->n.no_work += !j->rc && !j->got;
	if (!j->rc && (dev = find_device(s, j->key)))
		dev->leases += j->got;
	complete = s->done == s->tasks;
	pthread_mutex_unlock(&s->lock);
	if (j->rc)
		return error(c, 503, "state unavailable");
	if (!j->got) {
		char wait[32];
		const char *const h[] = { MHD_HTTP_HEADER_RETRY_AFTER, wait, "X-G2T-Complete",
		                          complete ? "1" : "0", NULL };

		snprintf(wait, sizeof wait, "%lld",
		         j->lease[0].retry_after ? j->lease[0].retry_after : 10);
		return reply(c, 204, "application/json", "", 0, MHD_RESPMEM_PERSISTENT, h);
	}
	rc = schema_stream(s, &st, !j->has_schema);
	for (unsigned k = 0; k < j->got && !rc; k++) {
		const struct g2t_task *t = &s->task[j->lease[k].task];

		rc = write_task(s, st.f, j->lease[k].task, j->token[k]);
		at += (size_t)snprintf(tasks + at, sizeof tasks - at, "%s%ld", k ? "," : "",
		                       j->lease[k].task);
		for (int side = 0; side < 2; side++, sh += 2 * G2T_HASH_SIZE + 1) {
			sodium_bin2hex(shards + sh, 2 * G2T_HASH_SIZE + 1,
			               s->schema->shard_hash[side ? t->id.class_b : t->id.class_a],
			               G2T_HASH_SIZE);
			shards[sh + 2 * G2T_HASH_SIZE] = ',';
		}
	}
	if (rc) {
		if (st.f)
			fclose(st.f);
		free(st.p);
		return error(c, 500, "out of memory");
	}
	shards[sh - 1] = '\0'; /* the last comma */
	snprintf(deadline, sizeof deadline, "%lld", j->lease[0].deadline);
	{
		const char *const h[] = { "X-G2T-Task", tasks, "X-G2T-Deadline", deadline,
		                          "X-G2T-Shards", shards, NULL };
		return stream_reply(c, &st, h);
	}
}

/* The lease token of ?token=HEX, into token[TOKEN_SIZE]. */
static int token_arg(struct MHD_Connection *c, uint8_t *token)
{
	const char *hex = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "token");
	size_t got;

	return hex && strlen(hex) == 2 * TOKEN_SIZE &&
	       !sodium_hex2bin(token, TOKEN_SIZE, hex, 2 * TOKEN_SIZE, NULL, &got, NULL) &&
	       got == TOKEN_SIZE ? 0 : -1;
}

static int holds_class(struct g2t_server *s, const uint8_t *token, uint32_t klass)
{
	int yes;

	pthread_mutex_lock(&s->store_lock);
	yes = g2t_store_lease_uses(s->store, token, TOKEN_SIZE, (long long)time(NULL), klass);
	pthread_mutex_unlock(&s->store_lock);
	return yes;
}

static enum MHD_Result shard(struct g2t_server *s, struct MHD_Connection *c, const char *hex)
{
	const char *match = header(c, MHD_HTTP_HEADER_IF_NONE_MATCH);
	uint8_t h[G2T_HASH_SIZE], token[TOKEN_SIZE];
	char etag[2 * G2T_HASH_SIZE + 3];
	const char *const hdr[] = { MHD_HTTP_HEADER_ETAG, etag, NULL };
	struct shard *sh;
	size_t got;
	long k;

	if (sodium_hex2bin(h, sizeof h, hex, strlen(hex), NULL, &got, NULL) ||
	    got != G2T_HASH_SIZE || (k = class_of(s, h)) < 0)
		return error(c, 404, "no such shard");
	if (token_arg(c, token) || !holds_class(s, token, (uint32_t)k))
		return error(c, 403, "no open lease that uses this shard");
	snprintf(etag, sizeof etag, "\"%s\"", hex);
	if (match && !strcmp(match, etag))
		return reply(c, 304, "application/x-g2t", "", 0, MHD_RESPMEM_PERSISTENT, hdr);
	sh = &s->shard[k];
	return reply(c, 200, "application/x-g2t", sh->stream,
	             G2T_HEADER_SIZE + SHARD_RECORD_SIZE(sh), MHD_RESPMEM_PERSISTENT, hdr);
}

/* The whole task stream again, for the device that holds its lease. */
static enum MHD_Result task(struct g2t_server *s, struct MHD_Connection *c, const char *id)
{
	uint8_t token[TOKEN_SIZE];
	unsigned long n;
	char *end;
	struct pieces *ps;
	const struct shard *a, *b;
	int holds;

	errno = 0;
	n = strtoul(id, &end, 10);
	if (errno || *end || end == id || n >= s->tasks)
		return error(c, 404, "no such task");
	if (token_arg(c, token))
		return error(c, 403, "no open lease on this task");
	pthread_mutex_lock(&s->store_lock);
	holds = g2t_store_lease_holds(s->store, token, TOKEN_SIZE, (long long)time(NULL),
	                              (long)n);
	pthread_mutex_unlock(&s->store_lock);
	if (!holds)
		return error(c, 403, "no open lease on this task");
	if (!(ps = calloc(1, sizeof *ps)) || !(ps->owned = malloc(TASK_RECORD))) {
		free(ps);
		return error(c, 500, "out of memory");
	}
	a = &s->shard[s->task[n].id.class_a];
	b = &s->shard[s->task[n].id.class_b];
	ps->p[0] = a->stream; /* the stream header */
	ps->len[0] = G2T_HEADER_SIZE;
	ps->p[1] = s->schema_record;
	ps->len[1] = s->schema_record_len;
	ps->p[2] = SHARD_RECORD(a);
	ps->len[2] = SHARD_RECORD_SIZE(a);
	ps->p[3] = SHARD_RECORD(b);
	ps->len[3] = SHARD_RECORD_SIZE(b);
	ps->p[4] = ps->owned;
	ps->len[4] = task_record(s, ps->owned, (long)n, token);
	ps->n = PIECES_MAX;
	return reply_pieces(c, ps);
}

/* ---- results ---- */

/* The first PACKET record of a request body. */
static int find_packet(const uint8_t *p, size_t len, const uint8_t **pkt, uint32_t *plen)
{
	struct g2t_mem mem;
	const uint8_t *payload;
	uint32_t type, n;
	int rc;

	*pkt = NULL;
	g2t_mem_open(&mem, p, len);
	while ((rc = g2t_mem_next(&mem, &type, &payload, &n)) == 1)
		if (type == G2T_REC_PACKET && !*pkt) {
			*pkt = payload;
			*plen = n;
		}
	return rc == 0 && *pkt ? G2T_OK : G2T_EFORMAT;
}

static void batch_free(struct batch *b)
{
	for (size_t i = 0; i < b->n; i++) {
		free(b->w[i].w);
		free(b->payload[i]);
	}
	free(b->w);
	free(b->payload);
	free(b->len);
	free(b->verdict);
	free(b->scratch);
}

/*
 * Judges a weight set by what it holds: a set that does not fit its task
 * (identity, features, every value finite, as the model will need) is
 * refused; one that does is kept, encoded without its token.
 */
static int batch_add(struct g2t_server *s, struct batch *b, const struct g2t_weights *w)
{
	size_t cap = b->cap, F = s->schema->features, room;
	const struct g2t_task *t = w->id.task < s->tasks ? &s->task[w->id.task] : NULL;
	struct g2t_weights *x, check = { 0 };
	struct g2t_diag d;
	uint8_t id[G2T_HASH_SIZE];
	int fits;

	/* the identity, hashed, covers schema, classes and parameters */
	g2t_task_hash(id, &w->id);
	fits = t && w->features == F && w->token_len == TOKEN_SIZE &&
	       !memcmp(id, t->hash, G2T_HASH_SIZE) && !memcmp(w->task_hash, t->hash, G2T_HASH_SIZE);

	if (g2t_grow((void **)&b->w, &cap, b->n + 1, sizeof *b->w) ||
	    g2t_grow((void **)&b->payload, &b->cap, b->n + 1, sizeof *b->payload))
		return G2T_ENOMEM;
	b->len = realloc(b->len, b->cap * sizeof *b->len);
	b->verdict = realloc(b->verdict, b->cap * sizeof *b->verdict);
	if (!b->len || !b->verdict || (!b->scratch && !(b->scratch = malloc((F + 1) * 4))))
		return G2T_ENOMEM;
	x = &b->w[b->n];
	*x = *w;
	x->w = NULL;
	b->payload[b->n] = NULL;
	b->len[b->n] = 0;
	b->verdict[b->n++] = G2T_RESULT_BAD;
	if (!fits)
		return G2T_OK;
	room = G2T_HASH_SIZE + G2T_TASK_ID_SIZE + 44 + F * 8; /* 8: a sigmoid */
	if (!(x->w = malloc(F * sizeof *x->w)) || !(b->payload[b->n - 1] = malloc(room)))
		return G2T_ENOMEM;
	memcpy(x->w, w->w, F * sizeof *x->w);
	x->token_len = 0; /* kept without the token: the model needs none */
	b->len[b->n - 1] = (uint32_t)g2t_weights_encode(b->payload[b->n - 1], room, x);
	x->token_len = w->token_len;
	check.w = b->scratch;
	if (!g2t_weights_check(s->schema, b->payload[b->n - 1], b->len[b->n - 1], &check, -1, &d))
		b->verdict[b->n - 1] = G2T_RESULT_ACCEPTED;
	return G2T_OK;
}

static int open_batch(struct g2t_server *s, struct g2t_packet *pk, struct batch *b,
                      struct g2t_diag *d)
{
	struct g2t_packet_item item = { 0 };
	int rc;

	pk->features_max = s->schema->features;
	while ((rc = g2t_packet_next(pk, &item, d)) == 1) {
		if (pk->seen > pk->count) /* more than its budget was taken for */
			rc = G2T_EFORMAT;
		else if (item.type == G2T_REC_WEIGHTS)
			rc = batch_add(s, b, &item.weights);
		if (rc != 1 && rc)
			break;
	}
	free(item.room);
	return rc;
}

/* Lists each weight set's fate; the status is 409 when none was taken. */
static enum MHD_Result verdicts(struct g2t_server *s, struct MHD_Connection *c,
                                const char *digest, const uint8_t *key,
                                const struct batch *b)
{
	struct device *dev = find_device(s, key);
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	unsigned status = 409;

	if (!f)
		return MHD_NO;
	fprintf(f, "{\"digest\":\"%s\",\"results\":[", digest);
	for (size_t i = 0; i < b->n; i++) {
		int v = b->verdict[i];

		status = v <= G2T_RESULT_STALE ? 200 : status;
		fprintf(f, "%s{\"task\":%u,\"status\":\"%s\"%s%s%s}", i ? "," : "",
		        b->w[i].id.task, v == G2T_RESULT_STALE ? "ignored"
		        : v > G2T_RESULT_STALE ? "refused" : verdict_name[v],
		        v > G2T_RESULT_STALE ? ",\"reason\":\"" : "",
		        v > G2T_RESULT_STALE ? verdict_name[v] : "", v > G2T_RESULT_STALE ? "\"" : "");
		if (v == G2T_RESULT_ACCEPTED && !s->first_at) {
			s->first_at = (long long)time(NULL);
			s->first_done = s->done;
		}
		if (v > G2T_RESULT_STALE)
			note_refusal(s, key, (long)b->w[i].id.task, verdict_name[v]);
		else if (dev && v != G2T_RESULT_STALE)
			dev->results++;
		s->n.accepted += v == G2T_RESULT_ACCEPTED;
		s->n.recorded += v == G2T_RESULT_RECORDED;
		s->done += v == G2T_RESULT_ACCEPTED;
		s->n.stale += v == G2T_RESULT_STALE;
		s->n.refused[v] += v > G2T_RESULT_STALE;
	}
	fprintf(f, "],\"status\":\"%s\"}\n", status == 200 ? "accepted" : "refused");
	fclose(f);
	return reply(c, status, "application/json", text, len, MHD_RESPMEM_MUST_FREE, NULL);
}

static void commit_jobs(struct g2t_server *s, struct job *jobs)
{
	long long now = (long long)time(NULL);
	struct g2t_diag d;
	struct job *j;
	int rc, durable = 0;

	for (j = jobs; j; j = j->next)
		durable |= j->kind == JOB_RESULTS;
	pthread_mutex_lock(&s->store_lock);
	rc = g2t_store_begin(s->store, durable, &d);
	for (j = jobs; j && !rc; j = j->next) {
		if (j->kind == JOB_LEASE) {
			for (j->got = 0; j->got < j->want && !rc; j->got++)
				if ((rc = g2t_store_lease(s->store, j->key, now, s->opts.lease_timeout,
				                          j->near, j->nnear, j->token[j->got],
				                          &j->lease[j->got], &d)) ||
				    j->lease[j->got].task < 0)
					break;
			continue;
		}
		/* in the transaction: a second copy in the same batch is seen */
		j->seen = g2t_store_packet_seen(s->store, j->key, j->pk.seq, j->digest);
		if (j->seen == G2T_SEEN_NEW)
			rc = g2t_store_results(s->store, j->key, j->pk.seq, j->digest, now, j->b.w,
			                       (const uint8_t *const *)j->b.payload, j->b.len,
			                       j->b.n, j->b.verdict, &d);
	}
	if (g2t_store_end(s->store, !rc, &d) && !rc)
		rc = G2T_EIO;
	for (j = jobs; j; j = j->next)
		j->rc = rc;
	pthread_mutex_unlock(&s->store_lock);
	/* said once when it starts and once when it ends, not per request */
	if (rc && !s->state_failing)
		g2t_warn("%s; answering 503 until the state can be written",
		         d.what[0] ? d.what : "the state cannot be written");
	else if (!rc && s->state_failing)
		g2t_warn("the state is written again");
	s->state_failing = rc != 0;
}

static void *committer(void *arg)
{
	struct g2t_server *s = arg;

	pthread_mutex_lock(&s->qlock);
	for (;;) {
		struct job *jobs = s->queue, *j, *next, *fifo = NULL;

		if (!jobs && s->stopping)
			break;
		if (!jobs) {
			pthread_cond_wait(&s->queued, &s->qlock);
			continue;
		}
		s->queue = NULL;
		pthread_mutex_unlock(&s->qlock);
		for (j = jobs; j; j = next) { /* oldest first */
			next = j->next;
			j->next = fifo;
			fifo = j;
		}
		commit_jobs(s, fifo);
		for (j = fifo; j; j = next) {
			next = j->next; /* j may be freed once its connection resumes */
			MHD_resume_connection(j->c);
		}
		pthread_mutex_lock(&s->qlock);
	}
	pthread_mutex_unlock(&s->qlock);
	return NULL;
}

/* Takes n bytes of the budget of bytes held for requests; -1 when spent. */
static int reserve(struct g2t_server *s, struct request *rq, size_t n)
{
	int ok;

	pthread_mutex_lock(&s->lock);
	ok = n <= s->opts.buffer_budget - s->buffered;
	s->buffered += ok ? n : 0;
	rq->reserved += ok ? n : 0;
	s->n.over_budget += !ok;
	pthread_mutex_unlock(&s->lock);
	return ok ? 0 : -1;
}

static enum MHD_Result busy(struct MHD_Connection *c)
{
	return error(c, 503, "busy: too many bytes held for requests; retry");
}

/*
 * A packet signed by the device that signed the request goes to the
 * committer, checked in this order: what its header claims against what
 * this task set can need, the signature, then the body inflated and each
 * weight set judged.  Memory for all of it is taken from the budget first.
 */
static enum MHD_Result results_start(struct g2t_server *s, struct MHD_Connection *c,
                                     struct request *rq, struct job *j)
{
	struct g2t_diag d = { 0, -1, "" };
	const uint8_t *pkt;
	uint32_t plen = 0;
	char why[300];
	int rc;

	if (find_packet(rq->body, rq->len, &pkt, &plen))
		return error(c, 400, "body is not a G2T stream with a PACKET record");
	if (g2t_packet_head(&j->pk, pkt, plen, &d))
		return error(c, 400, "malformed packet header");
	if (memcmp(j->pk.pk, rq->key, G2T_PK_SIZE))
		return error(c, 403, "packet signed by another key than the request");
	if (j->pk.count > s->sets_max || j->pk.raw_len > s->raw_max)
		return error(c, 413, "packet holds more than this task set can need");
	if (reserve(s, rq, j->pk.raw_len + j->pk.count * s->set_memory))
		return busy(c);
	if ((rc = g2t_packet_verify(&j->pk, s->raw_max, &d))) {
		snprintf(why, sizeof why, "packet does not verify: %s", d.what);
		return error(c, rc == G2T_ENOMEM ? 500 : 400, why);
	}
	if ((rc = open_batch(s, &j->pk, &j->b, &d)))
		return error(c, rc == G2T_ENOMEM ? 500 : 400, rc == G2T_ENOMEM ? "out of memory"
		             : "malformed packet body");
	g2t_hash(j->digest, pkt, plen);
	memcpy(j->key, j->pk.pk, sizeof j->key);
	return enqueue(s, c, j, JOB_RESULTS);
}

static enum MHD_Result results(struct g2t_server *s, struct MHD_Connection *c,
                               struct request *rq, struct job *j)
{
	char hex[2 * G2T_HASH_SIZE + 1];
	enum MHD_Result ok;

	if (!j->kind)
		return results_start(s, c, rq, j);
	sodium_bin2hex(hex, sizeof hex, j->digest, sizeof j->digest);
	pthread_mutex_lock(&s->lock);
	if (j->rc) {
		ok = error(c, 503, "state unavailable");
	} else if (j->seen == G2T_SEEN_SAME) { /* the device did not get our answer */
		s->n.duplicates++;
		ok = json(c, 200, NULL, "{\"digest\":\"%s\",\"status\":\"duplicate\"}", hex);
	} else if (j->seen == G2T_SEEN_REPLAY) {
		s->n.denied++;
		note_refusal(s, j->key, -1, "sequence number already used");
		ok = json(c, 409, NULL, "{\"error\":\"sequence number already used\"}");
	} else {
		ok = verdicts(s, c, hex, j->key, &j->b);
	}
	pthread_mutex_unlock(&s->lock);
	return ok;
}

/* ---- model, status, metrics ---- */

/* The stored results, each checked as the model needs it before it is merged. */
struct rebuild {
	struct g2t_server *s;
	struct g2t_merge *m;
	float *w;
	long *bad;                    /* tasks whose stored result is refused */
	size_t nbad, cap;
};

static int merge_one(void *ctx, long task, const uint8_t *p, uint32_t len)
{
	struct rebuild *r = ctx;
	struct g2t_weights wt = { .w = r->w };
	struct g2t_diag d = { 0, -1, "" };

	if (!g2t_weights_check(r->s->schema, p, len, &wt, -1, &d) && wt.id.task == task)
		return g2t_merge_add_record(r->m, G2T_REC_WEIGHTS, p, len, "state", &d);
	g2t_warn("task %ld: the stored result is refused: %s", task,
	         d.what[0] ? d.what : "it is another task's");
	if (g2t_grow((void **)&r->bad, &r->cap, r->nbad + 1, sizeof *r->bad))
		return G2T_ENOMEM;
	r->bad[r->nbad++] = task;
	return G2T_OK;
}

/* Opens again the tasks whose stored result cannot go in a model (a state
 * from a version that took them): their devices are named, new ones redo them. */
static int reopen_bad(struct g2t_server *s, const struct rebuild *r, struct g2t_diag *d)
{
	uint8_t key[G2T_PK_SIZE];
	char id[17];
	int rc = G2T_OK;

	for (size_t i = 0; i < r->nbad && !rc; i++) {
		if ((rc = g2t_store_reopen(s->store, r->bad[i], key, d)))
			break;
		g2t_key_id(id, key);
		g2t_warn("task %ld: its result from device %s is taken back; the task is leased"
		         " again", r->bad[i], id);
		pthread_mutex_lock(&s->lock);
		s->done--;
		pthread_mutex_unlock(&s->lock);
	}
	return rc;
}

/* Builds the model once every task is done (same code as g2t-merge); under
 * store_lock.  G2T_EDATA: a task was opened again, the model must wait. */
static int build_model(struct g2t_server *s, struct g2t_diag *d)
{
	struct rebuild r = { s, g2t_merge_new(), malloc((s->schema->features + 1) * 4), NULL,
	                     0, 0 };
	const char *bad;
	char names[64];
	FILE *f;
	int rc = r.m && r.w ? G2T_OK : G2T_ENOMEM;

	if (!rc)
		rc = g2t_merge_add_record(r.m, G2T_REC_SCHEMA, s->schema->payload,
		                          s->schema->length, "state", d);
	if (!rc)
		rc = g2t_store_each_result(s->store, merge_one, &r, d);
	if (!rc && r.nbad)
		rc = (rc = reopen_bad(s, &r, d)) ? rc : G2T_EDATA;
	if (!rc)
		rc = g2t_merge_build(r.m, &bad, d);
	if (!rc && g2t_merge_missing(r.m, names, sizeof names))
		rc = g2t_fail(d, G2T_EDATA, 0, -1, "tasks without a result: %s", names);
	if (!rc && !(f = open_memstream((char **)&s->model, &s->model_len)))
		rc = G2T_ENOMEM;
	if (!rc) {
		rc = g2t_merge_write(r.m, f, d);
		fclose(f);
		if (rc) {
			free(s->model);
			s->model = NULL;
		}
	}
	g2t_merge_free(r.m);
	free(r.w);
	free(r.bad);
	return rc;
}

/* The model once every task is done; a build that failed fails again for
 * MODEL_RETRY seconds without running, so that requests cannot make the
 * state be read whole each.  *built: whether it ran.  Under store_lock. */
static int ready_model(struct g2t_server *s, struct g2t_diag *d, int *built)
{
	long long now = (long long)time(NULL);
	int rc;

	*built = 0;
	if (s->model)
		return G2T_OK;
	if (now < s->model_retry) {
		*d = s->model_why;
		return s->model_rc;
	}
	*built = 1;
	rc = build_model(s, d);
	if (rc && (rc != G2T_EDATA || d->what[0])) { /* not tasks opened again */
		s->model_retry = now + MODEL_RETRY;
		s->model_rc = rc;
		s->model_why = *d;
	}
	return rc;
}

static enum MHD_Result model(struct g2t_server *s, struct MHD_Connection *c)
{
	struct g2t_store_counts n;
	struct g2t_diag d = { 0, -1, "" };
	int rc, built = 0;

	pthread_mutex_lock(&s->store_lock);
	rc = g2t_store_counts(s->store, &n, (long long)time(NULL));
	if (!rc && n.done == n.tasks && (rc = ready_model(s, &d, &built)) == G2T_EDATA &&
	    !d.what[0])
		rc = g2t_store_counts(s->store, &n, (long long)time(NULL)); /* tasks reopened */
	pthread_mutex_unlock(&s->store_lock);
	if (rc) {
		if (built)
			g2t_warn("cannot build the model: %s", d.what[0] ? d.what : g2t_strerror(rc));
		return error(c, 500, "cannot build the model");
	}
	if (!s->model)
		return json(c, 404, NULL, "{\"error\":\"incomplete: %lld of %lld tasks done\"}",
		            n.done, n.tasks);
	return reply(c, 200, "application/x-g2t", s->model, s->model_len,
	             MHD_RESPMEM_PERSISTENT, NULL);
}

/* The state's counts and the counters since the start, for status and metrics. */
static int snapshot(struct g2t_server *s, struct g2t_store_counts *n, struct counters *k)
{
	int rc;

	pthread_mutex_lock(&s->store_lock);
	rc = g2t_store_counts(s->store, n, (long long)time(NULL));
	pthread_mutex_unlock(&s->store_lock);
	pthread_mutex_lock(&s->lock);
	*k = s->n;
	pthread_mutex_unlock(&s->lock);
	return rc;
}

static enum MHD_Result status(struct g2t_server *s, struct MHD_Connection *c)
{
	struct g2t_store_counts n;
	struct counters k;
	char refused[1024];
	size_t used = 0;
	int rc;

	rc = snapshot(s, &n, &k);
	if (rc)
		return error(c, 503, "state unavailable");
	refused[0] = '\0';
	for (int v = G2T_RESULT_UNKNOWN_LEASE; v < G2T_RESULT_VERDICTS; v++)
		used += (size_t)snprintf(refused + used, sizeof refused - used, "%s\"%s\":%llu",
		                         used ? "," : "", verdict_key[v], k.refused[v]);
	return json(c, 200, NULL,
	            "{\"tasks\":{\"total\":%lld,\"pending\":%lld,\"leased\":%lld,\"done\":%lld},"
	            "\"devices\":%lld,\"replicas\":%u,\"disagreeing_devices\":%lld,"
	            "\"leases\":{\"issued\":%lld,\"reissued\":%lld,\"backups\":%lld,"
	            "\"no_work\":%llu},"
	            "\"results\":{\"accepted\":%llu,\"recorded\":%llu,\"ignored_stale\":%llu,"
	            "\"duplicates\":%llu,\"refused\":{%s}},\"requests\":{\"total\":%llu,"
	            "\"denied\":%llu,\"rate_limited\":%llu,\"over_budget\":%llu},"
	            "\"connections_dropped_slow\":%llu,\"complete\":%s}",
	            n.tasks, n.pending, n.leased, n.done, n.devices, s->opts.replicas,
	            n.disagreeing, n.issued, n.reissued, n.backups, k.no_work, k.accepted,
	            k.recorded,
	            k.stale, k.duplicates, refused, k.requests, k.denied, k.rate_limited,
	            k.over_budget, k.too_slow, n.done == n.tasks ? "true" : "false");
}

/* One metric family: its HELP and TYPE lines, then the samples. */
static void family(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A family of one sample. */
static void metric(FILE *f, const char *name, const char *type, const char *help,
                   unsigned long long value)
{
	family(f, name, type, help);
	fprintf(f, "%s %llu\n", name, value);
}

static enum MHD_Result metrics(struct g2t_server *s, struct MHD_Connection *c)
{
	struct g2t_store_counts n;
	struct counters k;
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	unsigned long long cumulative = 0;
	int rc;

	if (!f)
		return MHD_NO;
	rc = snapshot(s, &n, &k);
	if (rc) {
		fclose(f);
		free(text);
		return error(c, 503, "state unavailable");
	}
	family(f, "g2t_tasks", "gauge", "Tasks by state: pending, leased, done.");
	fprintf(f, "g2t_tasks{state=\"pending\"} %lld\ng2t_tasks{state=\"leased\"} %lld\n"
	        "g2t_tasks{state=\"done\"} %lld\n", n.pending, n.leased, n.done);
	metric(f, "g2t_task_set_size", "gauge", "Tasks in the task set.",
	       (unsigned long long)n.tasks);
	metric(f, "g2t_complete", "gauge", "1 when every task is done, else 0.",
	       n.done == n.tasks);
	metric(f, "g2t_devices", "gauge", "Devices that have leased a task.",
	       (unsigned long long)n.devices);
	metric(f, "g2t_devices_disagreeing", "gauge",
	       "Devices with a result outvoted by the other replicas.",
	       (unsigned long long)n.disagreeing);
	metric(f, "g2t_replicas", "gauge", "Agreeing results each task needs.",
	       s->opts.replicas);
	metric(f, "g2t_leases_issued_total", "counter", "Leases given.",
	       (unsigned long long)n.issued);
	metric(f, "g2t_leases_reissued_total", "counter",
	       "Leases given for a replica that had been leased before.",
	       (unsigned long long)n.reissued);
	metric(f, "g2t_leases_backup_total", "counter",
	       "Backup leases: a second device on a task whose lease still runs, when no"
	       " other work is left.", (unsigned long long)n.backups);
	metric(f, "g2t_leases_no_work_total", "counter",
	       "Lease requests answered 204, no work now.", k.no_work);
	family(f, "g2t_results_total", "counter", "Weight sets received, by outcome: "
	       "accepted, recorded as a replica's vote, ignored_stale, refused by reason.");
	fprintf(f, "g2t_results_total{outcome=\"accepted\"} %llu\n", k.accepted);
	fprintf(f, "g2t_results_total{outcome=\"recorded\"} %llu\n", k.recorded);
	fprintf(f, "g2t_results_total{outcome=\"ignored_stale\"} %llu\n", k.stale);
	for (int v = G2T_RESULT_UNKNOWN_LEASE; v < G2T_RESULT_VERDICTS; v++)
		fprintf(f, "g2t_results_total{outcome=\"refused\",reason=\"%s\"} %llu\n",
		        verdict_key[v], k.refused[v]);
	metric(f, "g2t_packets_duplicate_total", "counter",
	       "Packets answered as duplicates of one already taken.", k.duplicates);
	metric(f, "g2t_requests_denied_total", "counter",
	       "Requests refused: 401, 403, or a reused sequence number.", k.denied);
	metric(f, "g2t_requests_rate_limited_total", "counter",
	       "Requests refused with 429: a device's or an address's rate, or a device's"
	       " results requests at once.",
	       k.rate_limited);
	metric(f, "g2t_requests_over_budget_total", "counter",
	       "Requests refused with 503: the bytes held for requests were spent.",
	       k.over_budget);
	metric(f, "g2t_connections_dropped_slow_total", "counter",
	       "Connections closed past their deadline for headers or body.", k.too_slow);
	family(f, "g2t_request_seconds", "histogram",
	       "Time from a request's headers to its answer; the count is every request.");
	for (int i = 0; i < LATENCY_BUCKETS; i++) {
		cumulative += k.latency[i];
		fprintf(f, "g2t_request_seconds_bucket{le=\"%g\"} %llu\n", latency_le[i], cumulative);
	}
	fprintf(f, "g2t_request_seconds_bucket{le=\"+Inf\"} %llu\n", k.requests);
	fprintf(f, "g2t_request_seconds_sum %.6f\ng2t_request_seconds_count %llu\n",
	        k.latency_sum, k.requests);
	fclose(f);
	return reply(c, 200, "text/plain; version=0.0.4", text, len, MHD_RESPMEM_MUST_FREE, NULL);
}

/* ---- the operator's view ---- */

/* A device as the operator sees it: the state's figures and this run's. */
struct device_row {
	struct device mem;              /* this run's; zeros when not enrolled now */
	struct g2t_store_device st;     /* the state's; zeros when it never leased */
	int enrolled;
};

struct device_list {
	struct device_row *row;
	size_t n, cap;
	size_t sorted;                  /* the enrolled ones first, in key order */
};

static int by_row_key(const void *a, const void *b)
{
	return memcmp(((const struct device_row *)a)->mem.key,
	              ((const struct device_row *)b)->mem.key, G2T_PK_SIZE);
}

static int add_stored(void *ctx, const uint8_t *key, const struct g2t_store_device *dev)
{
	struct device_list *l = ctx;
	struct device_row probe, *r;

	memcpy(probe.mem.key, key, G2T_PK_SIZE);
	r = l->sorted ? bsearch(&probe, l->row, l->sorted, sizeof *l->row, by_row_key) : NULL;
	if (!r) { /* known to the state only: after the sorted part */
		if (g2t_grow((void **)&l->row, &l->cap, l->n + 1, sizeof *l->row))
			return G2T_ENOMEM;
		r = &l->row[l->n++];
		memset(r, 0, sizeof *r);
		memcpy(r->mem.key, key, G2T_PK_SIZE);
	}
	r->st = *dev;
	return G2T_OK;
}

/* Every device enrolled or known to the state, in key order. */
static int list_devices(struct g2t_server *s, struct device_list *l)
{
	int rc = G2T_OK;

	memset(l, 0, sizeof *l);
	pthread_mutex_lock(&s->lock);
	if (sort_devices(s) ||
	    (s->devices && g2t_grow((void **)&l->row, &l->cap, s->devices, sizeof *l->row)))
		rc = G2T_ENOMEM;
	for (size_t i = 0; !rc && i < s->devices; i++) {
		memset(&l->row[i], 0, sizeof l->row[i]);
		l->row[i].mem = s->device[i];
		l->row[i].enrolled = 1;
	}
	l->sorted = l->n = rc ? 0 : s->devices;
	pthread_mutex_unlock(&s->lock);
	if (rc)
		return rc;
	pthread_mutex_lock(&s->store_lock);
	rc = g2t_store_each_device(s->store, add_stored, l, (long long)time(NULL));
	pthread_mutex_unlock(&s->store_lock);
	if (l->n)
		qsort(l->row, l->n, sizeof *l->row, by_row_key);
	return rc;
}

static enum MHD_Result devices(struct g2t_server *s, struct MHD_Connection *c)
{
	struct device_list l;
	char *text = NULL, id[17];
	size_t len = 0;
	FILE *f;

	if (list_devices(s, &l) || !(f = open_memstream(&text, &len))) {
		free(l.row);
		return error(c, 503, "state unavailable");
	}
	fputs("{\"devices\":[", f);
	for (size_t i = 0; i < l.n; i++) {
		const struct device_row *r = &l.row[i];

		g2t_key_id(id, r->mem.key);
		fprintf(f, "%s{\"id\":\"%s\",\"enrolled\":%s,\"last_seen\":%lld,\"leases\":%llu,"
		        "\"results\":%llu,\"refused\":%llu,\"leased_now\":%lld,\"done\":%lld,"
		        "\"expired\":%lld,\"disagreed\":%lld}", i ? "," : "", id,
		        r->enrolled ? "true" : "false", r->mem.last_seen, r->mem.leases,
		        r->mem.results, r->mem.refused, r->st.leased, r->st.done, r->st.expired,
		        r->st.disagreed);
	}
	fputs("]}\n", f);
	fclose(f);
	free(l.row);
	return reply(c, 200, "application/json", text, len, MHD_RESPMEM_MUST_FREE, NULL);
}

/* Tasks a second since the first result of this run, or 0. */
static double task_rate(const struct g2t_server *s, long long now)
{
	if (!s->first_at || now <= s->first_at || s->done <= s->first_done)
		return 0.0;
	return (double)(s->done - s->first_done) / (double)(now - s->first_at);
}

/* "3 min 20 s", "2 h 5 min", "45 s". */
static void span(char *out, size_t n, double seconds)
{
	long t = (long)(seconds + 0.5);

	if (t >= 3600)
		snprintf(out, n, "%ld h %ld min", t / 3600, t % 3600 / 60);
	else if (t >= 60)
		snprintf(out, n, "%ld min %ld s", t / 60, t % 60);
	else
		snprintf(out, n, "%ld s", t);
}

static const char page_style[] =
	"body{font:15px/1.4 system-ui,sans-serif;margin:2em auto;max-width:60em;"
	"padding:0 1em;color:#222}"
	"h1{font-size:1.4em}h2{font-size:1.1em;margin-top:1.6em}"
	".bar{background:#e4e4e4;height:1.2em;border-radius:3px;overflow:hidden}"
	".bar div{background:#2a7;height:100%}"
	"table{border-collapse:collapse;width:100%}"
	"th,td{text-align:right;padding:.2em .6em;border-bottom:1px solid #ddd}"
	"th:first-child,td:first-child{text-align:left;font-family:monospace}"
	".ready{color:#2a7;font-weight:bold}.muted{color:#777}";

static void page_devices(FILE *f, const struct device_list *l, long long now)
{
	char id[17], ago[32];

	fprintf(f, "<h2>Devices (%zu)</h2>\n<table id=\"devices\"><tr><th>device</th>"
	        "<th>last seen</th><th>leases</th><th>holds</th><th>results</th>"
	        "<th>refusals</th><th>leases run out</th><th>disagreements</th></tr>\n", l->n);
	for (size_t i = 0; i < l->n; i++) {
		const struct device_row *r = &l->row[i];

		g2t_key_id(id, r->mem.key);
		if (r->mem.last_seen)
			span(ago, sizeof ago, (double)(now - r->mem.last_seen));
		fprintf(f, "<tr><td>%s%s</td><td>%s%s</td><td>%llu</td><td>%lld</td>"
		        "<td>%lld</td><td>%llu</td><td>%lld</td><td>%lld</td></tr>\n", id,
		        r->enrolled ? "" : " (not enrolled)", r->mem.last_seen ? ago : "never",
		        r->mem.last_seen ? " ago" : "", r->mem.leases, r->st.leased, r->st.done,
		        r->mem.refused, r->st.expired, r->st.disagreed);
	}
	fputs("</table>\n", f);
}

static void page_refusals(FILE *f, struct g2t_server *s, long long now)
{
	struct refusal recent[RECENT_REFUSALS];
	size_t n, at;
	char id[17], ago[32];

	pthread_mutex_lock(&s->lock);
	memcpy(recent, s->recent, sizeof recent);
	n = s->recent_n;
	at = s->recent_at;
	pthread_mutex_unlock(&s->lock);
	fputs("<h2>Recent refusals</h2>\n", f);
	if (!n) {
		fputs("<p class=\"muted\" id=\"refusals\">none</p>\n", f);
		return;
	}
	fputs("<table id=\"refusals\"><tr><th>device</th><th>when</th><th>task</th>"
	      "<th>reason</th></tr>\n", f);
	for (size_t i = 0; i < n; i++) {
		const struct refusal *r = &recent[(at + RECENT_REFUSALS - 1 - i) % RECENT_REFUSALS];

		g2t_key_id(id, r->key);
		span(ago, sizeof ago, (double)(now - r->at));
		fprintf(f, "<tr><td>%s</td><td>%s ago</td><td>", id, ago);
		if (r->task >= 0)
			fprintf(f, "%ld", r->task);
		fprintf(f, "</td><td>%s</td></tr>\n", r->why);
	}
	fputs("</table>\n", f);
}

/* GET /: progress, devices and refusals on one page, refreshed every 5 s;
 * plain HTML and CSS, nothing fetched from elsewhere. */
static enum MHD_Result page(struct g2t_server *s, struct MHD_Connection *c)
{
	long long now = (long long)time(NULL);
	struct g2t_store_counts n;
	struct counters k;
	struct device_list l = { 0 };
	char *text = NULL, eta[32];
	size_t len = 0;
	double rate, pct;
	FILE *f;

	if (snapshot(s, &n, &k) || list_devices(s, &l) || !(f = open_memstream(&text, &len))) {
		free(l.row);
		return error(c, 503, "state unavailable");
	}
	pthread_mutex_lock(&s->lock);
	rate = task_rate(s, now);
	pthread_mutex_unlock(&s->lock);
	pct = n.tasks ? 100.0 * (double)n.done / (double)n.tasks : 100.0;
	fprintf(f, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
	        "<meta http-equiv=\"refresh\" content=\"5\">"
	        "<meta name=\"viewport\" content=\"width=device-width\">"
	        "<title>g2t-serve: %lld of %lld tasks</title><style>%s</style></head><body>\n"
	        "<h1>g2t-serve</h1>\n<h2>Progress</h2>\n"
	        "<div class=\"bar\"><div style=\"width:%.1f%%\"></div></div>\n"
	        "<p id=\"progress\">%lld of %lld tasks done (%.1f %%), %lld leased, "
	        "%lld pending.", n.done, n.tasks, page_style, pct, n.done, n.tasks, pct,
	        n.leased, n.pending);
	if (rate > 0 && n.done < n.tasks) {
		span(eta, sizeof eta, (double)(n.tasks - n.done) / rate);
		fprintf(f, " Rate %.1f tasks/min; about %s to go.", rate * 60.0, eta);
	}
	fputs("</p>\n", f);
	if (n.done == n.tasks)
		fputs("<p id=\"model\" class=\"ready\">Complete: the model is ready, "
		      "<a href=\"/v1/model\">/v1/model</a>.</p>\n", f);
	else
		fputs("<p id=\"model\" class=\"muted\">The model is not ready yet.</p>\n", f);
	fprintf(f, "<p class=\"muted\">Leases %lld issued, %lld re-issued, %lld backups; "
	        "results %llu accepted, %llu refused; %lld devices disagreeing.</p>\n",
	        n.issued, n.reissued, n.backups, k.accepted, k.refused[G2T_RESULT_UNKNOWN_LEASE] +
	        k.refused[G2T_RESULT_OTHER_DEVICE] + k.refused[G2T_RESULT_WRONG_TASK] +
	        k.refused[G2T_RESULT_EXPIRED] + k.refused[G2T_RESULT_BAD], n.disagreeing);
	page_devices(f, &l, now);
	page_refusals(f, s, now);
	fputs("<p class=\"muted\"><a href=\"/v1/status\">status</a> · "
	      "<a href=\"/v1/devices\">devices</a> · <a href=\"/metrics\">metrics</a></p>\n"
	      "</body></html>\n", f);
	fclose(f);
	free(l.row);
	return reply(c, 200, "text/html; charset=utf-8", text, len, MHD_RESPMEM_MUST_FREE,
	             NULL);
}

/* ---- dispatch ---- */

static enum MHD_Result wrong_method(struct MHD_Connection *c, const char *allow)
{
	const char *const h[] = { MHD_HTTP_HEADER_ALLOW, allow, NULL };

	return json(c, 405, h, "{\"error\":\"method not allowed; use %s\"}", allow);
}

static enum MHD_Result route(struct g2t_server *s, struct MHD_Connection *c,
                             const char *url, const char *method, struct request *rq)
{
	int post = !strcmp(method, "POST"), get = !strcmp(method, "GET");

	if (!strcmp(url, "/v1/lease"))
		return post ? lease(s, c, url, &rq->job) : wrong_method(c, "POST");
	if (!strcmp(url, "/v1/results"))
		return post ? results(s, c, rq, &rq->job) : wrong_method(c, "POST");
	if (!strncmp(url, "/v1/shards/", 11))
		return get ? shard(s, c, url + 11) : wrong_method(c, "GET");
	if (!strncmp(url, "/v1/tasks/", 10))
		return get ? task(s, c, url + 10) : wrong_method(c, "GET");
	if (!strcmp(url, "/v1/status"))
		return get ? status(s, c) : wrong_method(c, "GET");
	if (!strcmp(url, "/v1/model"))
		return get ? model(s, c) : wrong_method(c, "GET");
	if (!strcmp(url, "/metrics"))
		return get ? metrics(s, c) : wrong_method(c, "GET");
	if (!strcmp(url, "/v1/devices"))
		return get ? devices(s, c) : wrong_method(c, "GET");
	if (!strcmp(url, "/"))
		return get ? page(s, c) : wrong_method(c, "GET");
	return error(c, 404, "no such resource");
}

/* The connection's record, kept for its deadlines. */
static struct conn *conn_of(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *i =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

	return i ? i->socket_context : NULL;
}

/* The connection has `seconds` from now to bring its request in (0: no limit). */
static void set_deadline(struct g2t_server *s, struct MHD_Connection *c, double seconds)
{
	struct conn *k = conn_of(c);

	if (!k)
		return;
	pthread_mutex_lock(&s->conn_lock);
	k->deadline = seconds > 0 ? now_s() + seconds : 0;
	pthread_mutex_unlock(&s->conn_lock);
}

/*
 * Counts a results request against its device's UPLOADS_MAX; -1 when the
 * device holds that many already.  One device's slow uploads cannot so take
 * the budget every device's results need; g2t-pack sends one at a time.
 */
static int hold_upload(struct g2t_server *s, struct request *rq)
{
	struct device *dev;

	pthread_mutex_lock(&s->lock);
	dev = find_device(s, rq->key);
	rq->upload = dev && dev->uploads < UPLOADS_MAX;
	if (rq->upload)
		dev->uploads++;
	else
		s->n.rate_limited++;
	pthread_mutex_unlock(&s->lock);
	return rq->upload ? 0 : -1;
}

/*
 * What a request may bring, decided on its headers alone, before any of its
 * body is read: only POST /v1/results has a body, of at most body_max bytes,
 * with a Content-Length, signed for by an enrolled device (its rate spent),
 * and within the budget of bytes held for requests.
 */
static enum MHD_Result begin(struct g2t_server *s, struct MHD_Connection *c, const char *url,
                             const char *method, struct request *rq)
{
	const char *cl = header(c, MHD_HTTP_HEADER_CONTENT_LENGTH), *why;
	int chunked = header(c, MHD_HTTP_HEADER_TRANSFER_ENCODING) != NULL;
	unsigned long long len = cl ? strtoull(cl, NULL, 10) : 0; /* MHD checked it */
	unsigned status;

	if (strcmp(url, "/v1/results") || strcmp(method, "POST")) {
		set_deadline(s, c, BODY_GRACE);
		return len || chunked ? error(c, 413, "this request takes no body") : MHD_YES;
	}
	if (!cl || chunked)
		return error(c, 411, "a results body needs a Content-Length");
	if (len > s->body_max)
		return error(c, 413, "body too large for this task set");
	if ((status = authenticate(s, c, "POST", url, rq->key, &why)))
		return error(c, status, why);
	if (hold_upload(s, rq))
		return error(c, 429, "too many results requests of this device at once");
	if (reserve(s, rq, (size_t)len))
		return busy(c);
	rq->expect = (size_t)len;
	set_deadline(s, c, BODY_GRACE + (double)len / BODY_MIN_RATE);
	return MHD_YES;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version,
                              const char *upload, size_t *upload_size, void **con_cls)
{
	struct g2t_server *s = cls;
	struct request *rq = *con_cls;
	size_t n = *upload_size;

	(void)version;
	if (!rq) {
		if (!(rq = calloc(1, sizeof *rq)))
			return MHD_NO;
		rq->start = now_s();
		*con_cls = rq;
		pthread_mutex_lock(&s->lock);
		s->in_flight++;
		pthread_mutex_unlock(&s->lock);
		return begin(s, c, url, method, rq);
	}
	if (n) {
		if (n > rq->expect - rq->len || (!rq->body && !(rq->body = malloc(rq->expect))))
			return MHD_NO; /* more than was reserved for: close */
		memcpy(rq->body + rq->len, upload, n);
		rq->len += n;
		*upload_size = 0;
		return MHD_YES;
	}
	set_deadline(s, c, 0); /* in: answering it has no deadline but MHD's idle one */
	return route(s, c, url, method, rq);
}

/* Counts a finished request and its latency, and frees what it held. */
static void completed(void *cls, struct MHD_Connection *c, void **con_cls,
                      enum MHD_RequestTerminationCode why)
{
	struct g2t_server *s = cls;
	struct request *rq = *con_cls;
	struct device *dev;
	double t;
	int i;

	(void)why;
	if (!rq)
		return;
	set_deadline(s, c, HEADER_DEADLINE); /* for the next request on it */
	t = now_s() - rq->start;
	for (i = 0; i < LATENCY_BUCKETS && t > latency_le[i]; i++)
		;
	pthread_mutex_lock(&s->lock);
	if (rq->upload && (dev = find_device(s, rq->key)) && dev->uploads)
		dev->uploads--; /* 0: SIGHUP enrolled it anew meanwhile */
	s->in_flight--;
	s->buffered -= rq->reserved;
	s->n.requests++;
	s->n.latency[i]++;
	s->n.latency_sum += t;
	pthread_mutex_unlock(&s->lock);
	g2t_packet_close(&rq->job.pk);
	batch_free(&rq->job.b);
	free(rq->body);
	free(rq);
	*con_cls = NULL;
}

/* Connections come and go: each gets a record with a deadline for its headers. */
static void connection(void *cls, struct MHD_Connection *c, void **socket_context,
                       enum MHD_ConnectionNotificationCode code)
{
	struct g2t_server *s = cls;
	struct conn *k = *socket_context;
	const union MHD_ConnectionInfo *fd;

	pthread_mutex_lock(&s->conn_lock);
	if (code == MHD_CONNECTION_NOTIFY_STARTED &&
	    (fd = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD)) &&
	    (k = calloc(1, sizeof *k))) {
		k->fd = fd->connect_fd;
		k->deadline = now_s() + HEADER_DEADLINE;
		k->next = s->conns;
		if (s->conns)
			s->conns->prev = k;
		s->conns = k;
		*socket_context = k;
	} else if (code == MHD_CONNECTION_NOTIFY_CLOSED && k) {
		/* before MHD closes the socket: the reaper never sees a reused fd */
		if (k->prev)
			k->prev->next = k->next;
		else
			s->conns = k->next;
		if (k->next)
			k->next->prev = k->prev;
		free(k);
		*socket_context = NULL;
	}
	pthread_mutex_unlock(&s->conn_lock);
}

/*
 * Drops connections past their deadline: headers not in within
 * HEADER_DEADLINE of the connection or of its last answer, a body slower
 * than BODY_MIN_RATE after BODY_GRACE.  libmicrohttpd's own timeout restarts
 * with every byte, so a slow sender would never meet it.
 */
static void *reaper(void *arg)
{
	struct g2t_server *s = arg;
	int reaping = 1;

	while (reaping) {
		double now;
		unsigned long dropped = 0;

		nanosleep(&(struct timespec){ 0, REAP_EVERY }, NULL);
		now = now_s();
		pthread_mutex_lock(&s->conn_lock);
		for (struct conn *k = s->conns; k; k = k->next)
			if (k->deadline && now > k->deadline) {
				shutdown(k->fd, SHUT_RDWR); /* MHD sees it closed, and closes it */
				k->deadline = 0;
				dropped++;
			}
		reaping = s->reaping;
		pthread_mutex_unlock(&s->conn_lock);
		pthread_mutex_lock(&s->lock);
		s->n.too_slow += dropped;
		pthread_mutex_unlock(&s->lock);
	}
	return NULL;
}

/* ---- life cycle ---- */

static char *read_text(const char *path, struct g2t_diag *d)
{
	FILE *f = fopen(path, "rb");
	char *p = NULL;
	long n;

	if (!f) {
		g2t_fail(d, G2T_EIO, 0, -1, "%s: %s", path, strerror(errno));
		return NULL;
	}
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) > 0 && n < (1 << 20) &&
	    fseek(f, 0, SEEK_SET) == 0 && (p = calloc(1, (size_t)n + 1)) &&
	    fread(p, 1, (size_t)n, f) != (size_t)n) {
		free(p);
		p = NULL;
	}
	fclose(f);
	if (!p)
		g2t_fail(d, G2T_EIO, 0, -1, "%s: cannot read", path);
	return p;
}

/* libmicrohttpd's messages: why it cannot start; once serving, what it says
 * of each client's broken connection would let any client flood the log. */
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	const struct g2t_server *s = cls;

	if (!s->mhd) {
		fprintf(stderr, "g2t-serve: ");
		vfprintf(stderr, fmt, ap);
	}
}

static int start_http(struct g2t_server *s, struct g2t_diag *d)
{
	const struct g2t_serve_opts *o = &s->opts;
	unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME |
	                 MHD_USE_ERROR_LOG;
	char *cert = NULL, *key = NULL;

	if (o->tls_cert) {
		if (!(cert = read_text(o->tls_cert, d)) || !(key = read_text(o->tls_key, d))) {
			free(cert);
			return G2T_EIO;
		}
		flags |= MHD_USE_TLS;
	}
	s->mhd = MHD_start_daemon(flags, 0, NULL, NULL, handle, s,
	                          MHD_OPTION_EXTERNAL_LOGGER, mhd_log, s,
	                          MHD_OPTION_LISTEN_SOCKET, s->listen_fd,
	                          MHD_OPTION_THREAD_POOL_SIZE, o->threads > 1 ? o->threads : 0,
	                          MHD_OPTION_CONNECTION_LIMIT, o->connection_limit,
	                          MHD_OPTION_PER_IP_CONNECTION_LIMIT, o->per_ip_limit,
	                          MHD_OPTION_CONNECTION_TIMEOUT, o->idle_timeout,
	                          /* headers fit (X-G2T-Have: 64 hashes, 4 KiB); a
	                           * smaller pool is cheaper to clear per request */
	                          MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONNECTION_MEMORY,
	                          MHD_OPTION_NOTIFY_COMPLETED, completed, s,
	                          MHD_OPTION_NOTIFY_CONNECTION, connection, s,
	                          cert ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, cert,
	                          MHD_OPTION_HTTPS_MEM_KEY, key, MHD_OPTION_END);
	if (key)
		sodium_memzero(key, strlen(key));
	free(cert);
	free(key);
	if (!s->mhd)
		return g2t_fail(d, G2T_EIO, 0, -1, "cannot serve on port %u", s->port);
	s->listen_fd = -1; /* the daemon's now */
	s->reaping = 1;
	if (pthread_create(&s->reaper, NULL, reaper, s) != 0) {
		s->reaping = 0;
		return g2t_fail(d, G2T_ENOMEM, 0, -1, "cannot start the reaper thread");
	}
	return G2T_OK;
}

/* Binds the address, so that one in use is told before a state is made. */
static int bind_address(struct g2t_server *s, struct g2t_diag *d)
{
	struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons(s->opts.port) };
	socklen_t len = sizeof addr;
	int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	addr.sin_addr.s_addr = s->opts.address;
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) ||
	    bind(fd, (struct sockaddr *)&addr, sizeof addr) || listen(fd, SOMAXCONN) ||
	    getsockname(fd, (struct sockaddr *)&addr, &len)) {
		int e = errno;

		if (fd >= 0)
			close(fd);
		return g2t_fail(d, G2T_EIO, 0, -1, "cannot listen on port %u: %s", s->opts.port,
		                strerror(e));
	}
	s->listen_fd = fd;
	s->port = ntohs(addr.sin_port);
	return G2T_OK;
}

/*
 * What a request may make the server hold, from the task set: a packet of
 * at most two weight sets a task (one is all a device can hold; the second
 * is slack), each with every feature non-zero, and two schemas.
 */
static void size_limits(struct g2t_server *s)
{
	size_t min;
	size_t set = 1 + G2T_TASK_ID_SIZE + 5 + 4 + 10 + 5 + 4 + 5 + G2T_TOKEN_MAX + 5 + 4 +
	             (size_t)s->schema->features * (5 + 4);

	s->sets_max = 2 * s->tasks;
	s->raw_max = 2 * (5 + (size_t)s->schema->length) + s->sets_max * set;
	s->body_max = 2 * G2T_HEADER_SIZE + G2T_CRC_SIZE + 256 + compressBound(s->raw_max);
	s->body_max = s->body_max < s->opts.body_limit ? s->body_max : s->opts.body_limit;
	s->raw_max = s->raw_max < 256u << 20 ? s->raw_max : 256u << 20;
	/* a weight set kept: its floats, its payload and its identity */
	s->set_memory = (size_t)s->schema->features * 12 + G2T_TASK_ID_SIZE + 256;
	min = s->body_max + s->raw_max + s->sets_max * s->set_memory;
	if (s->opts.buffer_budget < min) /* the largest request must fit */
		s->opts.buffer_budget = min;
}

/* Room for every connection allowed: the open files limit raised, or the
 * connection limit lowered to fit it. */
static void fit_connections(struct g2t_server *s)
{
	struct rlimit r;
	rlim_t want = (rlim_t)s->opts.connection_limit + 64;

	if (getrlimit(RLIMIT_NOFILE, &r) != 0)
		return;
	if (r.rlim_cur < want) {
		r.rlim_cur = r.rlim_max == RLIM_INFINITY || r.rlim_max > want ? want : r.rlim_max;
		setrlimit(RLIMIT_NOFILE, &r);
		getrlimit(RLIMIT_NOFILE, &r);
	}
	if (r.rlim_cur < want) {
		g2t_warn("open files limited to %llu: at most %llu connections",
		         (unsigned long long)r.rlim_cur, (unsigned long long)r.rlim_cur - 64);
		s->opts.connection_limit = r.rlim_cur > 128 ? (unsigned)r.rlim_cur - 64 : 64;
	}
}

int g2t_server_start(struct g2t_server **out, const struct g2t_serve_opts *o,
                     struct g2t_diag *d)
{
	struct g2t_server *s = calloc(1, sizeof *s);
	struct g2t_keyring keys = { 0 };
	struct g2t_store_counts n;
	int rc = G2T_OK;

	*out = s;
	if (s)
		s->listen_fd = -1;
	if (!s || !(s->nonce = calloc(NONCE_SLOTS, sizeof *s->nonce)) ||
	    !(s->address = calloc(ADDRESS_SLOTS, sizeof *s->address)))
		return G2T_ENOMEM;
	g2t_crypto_init();
	randombytes_buf(s->nonce_key, sizeof s->nonce_key);
	s->opts = *o;
	pthread_mutex_init(&s->lock, NULL);
	pthread_mutex_init(&s->conn_lock, NULL);
	pthread_mutex_init(&s->store_lock, NULL);
	pthread_mutex_init(&s->qlock, NULL);
	pthread_cond_init(&s->queued, NULL);
	for (size_t i = 0; i < o->ntasks; i++)
		if ((rc = load_path(s, o->tasks[i], d)))
			return rc;
	if ((rc = check_tasks(s, d)) || (rc = frame_schema(s)))
		return rc;
	size_limits(s);
	fit_connections(s);
	for (size_t i = 0; i < o->ndevices; i++)
		if ((rc = g2t_keyring_add(&keys, o->devices[i], d))) {
			g2t_keyring_clear(&keys);
			return rc;
		}
	for (size_t i = 0; i < keys.n && !rc; i++)
		if (!find_device(s, keys.pk[i]) && !add_device(s, keys.pk[i]))
			rc = G2T_ENOMEM;
	g2t_keyring_clear(&keys);
	if (!rc && !o->open && !s->devices)
		g2t_warn("warning: no device key given (--devices): every device is refused "
		         "until keys are added and g2t-serve gets SIGHUP");
	if (rc || (rc = bind_address(s, d)) ||
	    (rc = g2t_store_open(&s->store, o->state, o->replicas, d)))
		return rc;
	g2t_store_backups(s->store, !o->no_backups);
	if ((rc = g2t_store_tasks(s->store, s->schema->id, s->task, s->tasks, d)) ||
	    (rc = g2t_store_counts(s->store, &n, (long long)time(NULL))))
		return rc;
	s->done = (size_t)n.done;
	if (pthread_create(&s->committer, NULL, committer, s) != 0)
		return g2t_fail(d, G2T_ENOMEM, 0, -1, "cannot start the committer thread");
	s->committing = 1;
	return start_http(s, d);
}

int g2t_server_reload(struct g2t_server *s, size_t *added, size_t *removed,
                      size_t *enrolled, struct g2t_diag *d)
{
	struct g2t_keyring keys = { 0 };
	int rc = G2T_OK;

	*added = *removed = 0;
	for (size_t i = 0; i < s->opts.ndevices && !rc; i++)
		rc = g2t_keyring_add(&keys, s->opts.devices[i], d);
	pthread_mutex_lock(&s->lock);
	for (size_t i = 0; i < keys.n && !rc; i++)
		if (!find_device(s, keys.pk[i]) && !(rc = add_device(s, keys.pk[i]) ? 0 : G2T_ENOMEM))
			++*added;
	/* under --open every key that came is enrolled: none goes */
	for (size_t i = s->devices; !rc && !s->opts.open && i-- > 0;)
		if (!g2t_keyring_has(&keys, s->device[i].key)) {
			memmove(s->device + i, s->device + i + 1,
			        (s->devices - i - 1) * sizeof *s->device);
			s->devices--;
			s->device_sorted -= i < s->device_sorted;
			++*removed;
		}
	*enrolled = s->devices;
	pthread_mutex_unlock(&s->lock);
	g2t_keyring_clear(&keys);
	return rc;
}

/* Builds the model and says so, once every task is done. */
static void announce(struct g2t_server *s)
{
	struct g2t_diag d = { 0, -1, "" };
	int rc, built;

	pthread_mutex_lock(&s->store_lock);
	rc = ready_model(s, &d, &built);
	pthread_mutex_unlock(&s->store_lock);
	if (rc) {
		pthread_mutex_lock(&s->lock);
		s->announced = 0; /* a task was opened again, or try again later */
		pthread_mutex_unlock(&s->lock);
		if (built && d.what[0])
			g2t_warn("complete, but the model cannot be built: %s", d.what);
		return;
	}
	g2t_warn("complete: %zu tasks done, model ready at /v1/model (%zu bytes)", s->tasks,
	         s->model_len);
}

void g2t_server_tick(struct g2t_server *s)
{
	long long now = (long long)time(NULL);
	struct g2t_store_counts n;
	int complete, progress;
	double rate;
	char eta[64] = "";

	pthread_mutex_lock(&s->lock);
	complete = s->done == s->tasks && !s->announced;
	s->announced |= complete;
	progress = s->done < s->tasks && now - s->progress_at >= PROGRESS_EVERY &&
	           (s->done != s->progress_done || s->n.leases != s->progress_leases);
	if (progress) {
		s->progress_at = now;
		s->progress_done = s->done;
		s->progress_leases = s->n.leases;
	}
	rate = task_rate(s, now);
	pthread_mutex_unlock(&s->lock);
	if (complete)
		announce(s);
	if (!progress)
		return;
	pthread_mutex_lock(&s->store_lock);
	progress = !g2t_store_counts(s->store, &n, now);
	pthread_mutex_unlock(&s->store_lock);
	if (!progress)
		return;
	if (rate > 0) { /* no rate before results came over a second or more */
		int k = snprintf(eta, sizeof eta, "; %.1f tasks/min, about ", rate * 60.0);

		span(eta + k, sizeof eta - (size_t)k, (double)(n.tasks - n.done) / rate);
	}
	g2t_warn("progress: %lld of %lld tasks done, %lld leased%s", n.done, n.tasks, n.leased,
	         eta);
}

unsigned g2t_server_port(const struct g2t_server *s)
{
	return s->port;
}

/* Requests whose headers have arrived and whose answer has not gone. */
static unsigned long in_flight(struct g2t_server *s)
{
	unsigned long n;

	pthread_mutex_lock(&s->lock);
	n = s->in_flight;
	pthread_mutex_unlock(&s->lock);
	return n;
}

void g2t_server_stop(struct g2t_server *s)
{
	if (!s)
		return;
	if (s->mhd) {
		MHD_socket fd = MHD_quiesce_daemon(s->mhd); /* no new connections */

		/* let the requests in flight finish, for at most STOP_GRACE s */
		for (int i = 0; i < STOP_GRACE * 20 && in_flight(s); i++)
			nanosleep(&(struct timespec){ 0, 50000000 }, NULL);
		MHD_stop_daemon(s->mhd);
		if (fd != MHD_INVALID_SOCKET)
			close(fd);
	}
	if (s->listen_fd >= 0)
		close(s->listen_fd);
	if (s->reaping) {
		pthread_mutex_lock(&s->conn_lock);
		s->reaping = 0;
		pthread_mutex_unlock(&s->conn_lock);
		pthread_join(s->reaper, NULL);
	}
	if (s->committing) { /* after the HTTP threads: no job can come now */
		pthread_mutex_lock(&s->qlock);
		s->stopping = 1;
		pthread_cond_signal(&s->queued);
		pthread_mutex_unlock(&s->qlock);
		pthread_join(s->committer, NULL);
	}
	g2t_store_close(s->store);
	for (uint32_t k = 0; s->shard && s->schema && k < s->schema->classes; k++)
		free(s->shard[k].stream);
	g2t_schema_free(s->schema);
	free(s->shard);
	free(s->by_hash);
	free(s->task);
	free(s->device);
	free(s->nonce);
	free(s->address);
	free(s->model);
	free(s->schema_record);
	pthread_mutex_destroy(&s->lock);
	pthread_mutex_destroy(&s->conn_lock);
	pthread_mutex_destroy(&s->store_lock);
	pthread_mutex_destroy(&s->qlock);
	pthread_cond_destroy(&s->queued);
	free(s);
}
