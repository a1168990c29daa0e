/*
 * Leasing a task from a coordinator with libcurl: a signed POST to
 * URL/v1/lease, then GET URL/v1/shards/HEX for each of the task's two class
 * shards that the cache does not hold.  Everything is checked before a byte
 * is written: stream framing and checksums, the task against its schema,
 * each shard against the BLAKE2b-256 the schema names.  Protocol and files
 * in g2t-fetch(1).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <sodium.h>

#include "g2t.h"

#define HEX_SIZE (2 * G2T_HASH_SIZE + 1)     /* 64 digits and a NUL */
#define HAVE_MAX 64                          /* hashes named in X-G2T-Have */
#define NONCE_SIZE 16
#define LEASE_BODY_LIMIT (2 * (size_t)G2T_RECORD_LIMIT + 64)
#define SHARD_BODY_LIMIT ((size_t)G2T_SHARD_LIMIT + 64)
#define REASON_LIMIT 160                     /* bytes of a server's reason shown */
#define ERROR_KEEP 4096                      /* bytes kept of an error's body */
#define TEMP_AGE 3600                        /* seconds: older cache temp files are junk */
#define MEDIA_TYPE "application/x-g2t"

/* A response: its body, bounded, and the headers that matter. */
struct reply {
	uint8_t *body;              /* NUL-terminated for reading reasons */
	size_t len, cap, limit;
	size_t seen;                /* bytes of the body read, kept or not */
	int over;                   /* the body passed `limit` and was cut */
	int failed;                 /* not 2xx: only ERROR_KEEP bytes are kept */
	long long rate;             /* bytes per second to pace the body at, or 0 */
	struct timespec start;      /* when the attempt began, for pacing */
	char type[128];             /* Content-Type */
	char task[G2T_FETCH_MAX * 12]; /* X-G2T-Task */
	char deadline[24];          /* X-G2T-Deadline */
	char complete[8];           /* X-G2T-Complete */
	char shards[2 * G2T_FETCH_MAX * HEX_SIZE + 8]; /* X-G2T-Shards */
};

/* A record of a stream held in memory. */
struct rec {
	uint32_t type, length;
	const uint8_t *payload;     /* points into the stream */
	long long offset;           /* of its header in the stream */
};

/* One cached shard file name and when it was last used. */
struct entry {
	char hex[HEX_SIZE];
	struct timespec mtime;
};

/* One fetch: the handle, the leased tasks, and their classes' shards as
 * they arrive, each class once. */
struct fetch {
	const struct g2t_fetch_opts *o;
	const struct g2t_signer *key;
	struct g2t_fetch_result *r;
	unsigned want;                  /* tasks to ask for */
	CURL *c;
	char err[CURL_ERROR_SIZE];
	char *lease_url;
	char have[HAVE_MAX * HEX_SIZE]; /* X-G2T-Have value, "" for none */
	struct reply lease;             /* the lease answer, kept: records point in */
	struct rec schema_rec;
	uint8_t *schema_buf;            /* the cached schema's file, when used */
	struct g2t_schema *schema;
	size_t tasks;
	struct rec task_rec[G2T_FETCH_MAX];
	struct g2t_task task[G2T_FETCH_MAX];
	size_t shards;
	uint32_t klass[2 * G2T_FETCH_MAX];  /* the classes the tasks use */
	size_t user[2 * G2T_FETCH_MAX];     /* a task using each: its token */
	uint8_t *shard_buf[2 * G2T_FETCH_MAX]; /* file or body holding each shard */
	struct rec shard[2 * G2T_FETCH_MAX];
};

size_t g2t_lease_message(char *out, size_t cap, const char *method, const char *path,
                         const char *time, const char *nonce)
{
	int n = snprintf(out, cap, "g2t-lease-v1\n%s\n%s\n%s\n%s", method, path, time,
	                 nonce);

	return n < 0 || (size_t)n >= cap ? 0 : (size_t)n;
}

/* Makes text fit a one-line message: control bytes become spaces. */
static void one_line(char *text)
{
	size_t n = strlen(text);

	for (char *c = text; *c; c++)
		if ((unsigned char)*c < ' ' || *c == 0x7f)
			*c = ' ';
	while (n && text[n - 1] == ' ')
		text[--n] = '\0';
}

/* The server's reason: the "error" string of a JSON body, or its start. */
static void reason(const struct reply *rep, char *out, size_t cap)
{
	const char *b = rep->body ? (const char *)rep->body : "";
	const char *p = strstr(b, "\"error\"");
	size_t n = 0;

	if (p) {
		p += 7;
		p += strspn(p, " \t\r\n");
		if (*p++ == ':') {
			p += strspn(p, " \t\r\n");
			if (*p++ == '"') {
				for (; *p && *p != '"' && n + 1 < cap; p++) {
					if (*p == '\\' && p[1])
						p++;
					out[n++] = *p;
				}
				out[n] = '\0';
				one_line(out);
				if (*out)
					return;
			}
		}
	}
	n = rep->len < cap - 1 ? rep->len : cap - 1;
	memcpy(out, b, n);
	out[n] = '\0';
	one_line(out);
}

static int is_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return 1;
}

/* Keeps a header we read; an over-long value is kept as "?", never cut. */
static void keep(char *field, size_t cap, const char *v, size_t n)
{
	if (n >= cap) {
		v = "?";
		n = 1;
	}
	memcpy(field, v, n);
	field[n] = '\0';
}

static size_t on_header(char *p, size_t size, size_t count, void *ctx)
{
#define FIELD(name, f) { name, offsetof(struct reply, f), sizeof ((struct reply *)0)->f }
	static const struct { const char *name; size_t off, cap; } want[] = {
		FIELD("content-type", type), FIELD("x-g2t-task", task),
		FIELD("x-g2t-deadline", deadline), FIELD("x-g2t-complete", complete),
		FIELD("x-g2t-shards", shards),
	};
#undef FIELD
	struct reply *rep = ctx;
	size_t n = size * count, name;
	const char *colon = memchr(p, ':', n);

	if (n >= 5 && !memcmp(p, "HTTP/", 5)) { /* a new response (after 1xx) */
		const char *code = memchr(p, ' ', n);

		rep->type[0] = rep->task[0] = rep->deadline[0] = '\0';
		rep->complete[0] = rep->shards[0] = '\0';
		rep->failed = !code || (size_t)(code - p) + 2 > n || code[1] != '2';
		return n;
	}
	if (!colon)
		return n;
	name = (size_t)(colon - p);
	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
		const char *v = colon + 1, *end = p + n;

		if (strlen(want[i].name) != name || strncasecmp(p, want[i].name, name))
			continue;
		while (v < end && (*v == ' ' || *v == '\t'))
			v++;
		while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' ||
		                   end[-1] == '\t'))
			end--;
		keep((char *)rep + want[i].off, want[i].cap, v, (size_t)(end - v));
	}
	return n;
}

/*
 * Holds the body's average speed to rep->rate by sleeping: libcurl's own
 * limit lets a small answer through at once when it sits in the socket
 * buffer, as it does on a fast local link.
 */
static void pace(const struct reply *rep)
{
	struct timespec now, wait;
	double due = (double)rep->seen / (double)rep->rate, spent;

	clock_gettime(CLOCK_MONOTONIC, &now);
	spent = (double)(now.tv_sec - rep->start.tv_sec) +
	        (double)(now.tv_nsec - rep->start.tv_nsec) / 1e9;
	if (due <= spent)
		return;
	wait.tv_sec = (time_t)(due - spent);
	wait.tv_nsec = (long)((due - spent - (double)wait.tv_sec) * 1e9);
	while (nanosleep(&wait, &wait) != 0 && errno == EINTR)
		;
}

static size_t on_body(char *p, size_t size, size_t count, void *ctx)
{
	struct reply *rep = ctx;
	size_t n = size * count, keep = n;

	if (rep->seen + n > rep->limit) {
		rep->over = 1;
		return 0; /* libcurl stops with CURLE_WRITE_ERROR */
	}
	rep->seen += n;
	/* an error's reason is at its start: a server cannot make a device
	 * hold a large error body */
	if (rep->failed)
		keep = rep->len < ERROR_KEEP ? (n < ERROR_KEEP - rep->len ? n : ERROR_KEEP - rep->len)
		                             : 0;
	if (g2t_grow((void **)&rep->body, &rep->cap, rep->len + keep + 1, 1))
		return 0;
	memcpy(rep->body + rep->len, p, keep);
	rep->len += keep;
	rep->body[rep->len] = '\0';
	if (rep->rate > 0)
		pace(rep);
	return n;
}

static void reply_reset(struct reply *rep, size_t limit, long long rate)
{
	uint8_t *body = rep->body;
	size_t cap = rep->cap;

	memset(rep, 0, sizeof *rep);
	rep->body = body;
	rep->cap = cap;
	rep->limit = limit;
	rep->rate = rate;
	clock_gettime(CLOCK_MONOTONIC, &rep->start);
	if (body)
		body[0] = '\0';
}

/*
 * The URL of `path` (and `query`, or NULL) on the server: the base URL's
 * path without a final '/', then `path`; the caller's to curl_free().
 */
static int make_url(const char *base, const char *path, const char *query, char **url,
                    struct g2t_diag *d)
{
	CURLU *u = curl_url();
	char *part = NULL, *joined = NULL;
	size_t n;
	int rc = G2T_OK;

	*url = NULL;
	if (!u)
		return G2T_ENOMEM;
	if (curl_url_set(u, CURLUPART_URL, base, CURLU_GUESS_SCHEME) != CURLUE_OK) {
		rc = g2t_fail(d, G2T_EPARAM, 0, -1, "not a URL");
		goto done;
	}
	if (curl_url_get(u, CURLUPART_SCHEME, &part, 0) != CURLUE_OK ||
	    (strcmp(part, "http") && strcmp(part, "https"))) {
		rc = g2t_fail(d, G2T_EPARAM, 0, -1, "only http and https URLs are served");
		goto done;
	}
	curl_free(part);
	part = NULL;
	if (curl_url_get(u, CURLUPART_QUERY, &part, 0) == CURLUE_OK ||
	    curl_url_get(u, CURLUPART_FRAGMENT, &part, 0) == CURLUE_OK) {
		rc = g2t_fail(d, G2T_EPARAM, 0, -1,
		              "the server URL may not have a query or fragment");
		goto done;
	}
	if (curl_url_get(u, CURLUPART_PATH, &part, 0) != CURLUE_OK) {
		rc = G2T_ENOMEM;
		goto done;
	}
	n = strlen(part);
	while (n && part[n - 1] == '/')
		n--;
	if (!(joined = malloc(n + strlen(path) + 1))) {
		rc = G2T_ENOMEM;
		goto done;
	}
	memcpy(joined, part, n);
	strcpy(joined + n, path);
	if (curl_url_set(u, CURLUPART_PATH, joined, 0) != CURLUE_OK ||
	    (query && curl_url_set(u, CURLUPART_QUERY, query, 0) != CURLUE_OK) ||
	    curl_url_get(u, CURLUPART_URL, url, 0) != CURLUE_OK) {
		curl_free(*url);
		*url = NULL;
		rc = g2t_fail(d, G2T_EPARAM, 0, -1, "cannot make a URL for %s", path);
	}
done:
	free(joined);
	curl_free(part);
	curl_url_cleanup(u);
	return rc;
}

/* Appends one printf-made header line; 0 or G2T_ENOMEM. */
static int add_header(struct curl_slist **list, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static int add_header(struct curl_slist **list, const char *fmt, ...)
{
	char line[HAVE_MAX * HEX_SIZE + 64];
	struct curl_slist *l;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	if (!(l = curl_slist_append(*list, line)))
		return G2T_ENOMEM;
	*list = l;
	return G2T_OK;
}

/* The headers of one lease attempt, signed afresh. */
static int lease_headers(struct fetch *f, struct curl_slist **hdr)
{
	int rc = add_header(hdr, "Accept: " MEDIA_TYPE);

	if (!rc)
		rc = add_header(hdr, "Content-Type:"); /* no form type on the empty body */
	if (!rc)
		rc = g2t_sign_headers(hdr, f->key, "POST", "/v1/lease");
	if (!rc && f->have[0])
		rc = add_header(hdr, "X-G2T-Have: %s", f->have);
	if (!rc && f->want > 1)
		rc = add_header(hdr, "X-G2T-Count: %u", f->want);
	return rc;
}

/* One attempt: POST with an empty body (lease) or GET. */
static CURLcode perform(struct fetch *f, const char *url, int post, struct curl_slist *hdr,
                        struct reply *rep, long *http, long *retry_after)
{
	const struct g2t_fetch_opts *o = f->o;
	curl_off_t after = 0;
	CURL *c = f->c;
	CURLcode rc;

	curl_easy_reset(c);
	f->err[0] = '\0';
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, rep);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, rep);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, f->err);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, o->connect_timeout);
	/* a lease answer is small; a shard may take long on a slow link */
	if (post)
		curl_easy_setopt(c, CURLOPT_TIMEOUT, o->timeout);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, o->timeout);
	if (o->limit_rate > 0) {
		curl_easy_setopt(c, CURLOPT_MAX_RECV_SPEED_LARGE, (curl_off_t)o->limit_rate);
		curl_easy_setopt(c, CURLOPT_MAX_SEND_SPEED_LARGE, (curl_off_t)o->limit_rate);
		curl_easy_setopt(c, CURLOPT_BUFFERSIZE, o->limit_rate < 16384 ? 1024L : 16384L);
	}
	if (o->cacert)
		curl_easy_setopt(c, CURLOPT_CAINFO, o->cacert);
	if (post) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)0);
	}
	rc = curl_easy_perform(c);
	*http = 0;
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, http);
	curl_easy_getinfo(c, CURLINFO_RETRY_AFTER, &after);
	*retry_after = (long)after;
	return rc;
}

/*
 * Makes a request until it gets an answer not worth retrying, which the
 * caller judges by f->r->http; G2T_ETEMP when retries ran out.
 */
static int request(struct fetch *f, const char *what, const char *url, int post,
                   struct reply *rep, size_t limit, struct g2t_diag *d)
{
	struct g2t_retry t;
	char why[REASON_LIMIT];
	int rc;

	g2t_retry_start(&t, f->o->retry_max);
	for (;;) {
		struct curl_slist *hdr = NULL;
		long http, after;
		CURLcode cc;

		reply_reset(rep, limit, f->o->limit_rate);
		rc = post ? lease_headers(f, &hdr) : add_header(&hdr, "Accept: " MEDIA_TYPE);
		if (rc) {
			curl_slist_free_all(hdr);
			return g2t_fail(d, rc, 0, -1, "%s", g2t_strerror(rc));
		}
		cc = perform(f, url, post, hdr, rep, &http, &after);
		curl_slist_free_all(hdr);
		f->r->attempts++;
		f->r->http = http;
		f->r->retry_after = after;
		if (cc == CURLE_WRITE_ERROR && rep->over)
			return g2t_fail(d, G2T_ETOOBIG, 0, -1, "%s: HTTP %ld: answer over %zu bytes",
			                what, http, limit);
		if (cc == CURLE_OK && !g2t_retryable(cc, http))
			return G2T_OK;
		if (cc != CURLE_OK) {
			one_line(f->err);
			g2t_fail(d, G2T_EIO, 0, -1, "%s: %s", what,
			         f->err[0] ? f->err : curl_easy_strerror(cc));
		} else {
			reason(rep, why, sizeof why);
			g2t_fail(d, G2T_ETEMP, 0, -1, "%s: HTTP %ld%s%s", what, http,
			         *why ? ": " : "", why);
		}
		if (!g2t_retryable(cc, http))
			return G2T_EIO;
		if (g2t_retry_wait(&t, after)) {
			size_t n = strlen(d->what);

			snprintf(d->what + n, sizeof d->what - n, " (gave up after %u attempt%s)",
			         f->r->attempts, f->r->attempts == 1 ? "" : "s");
			return G2T_ETEMP;
		}
	}
}

/* A refusal: the HTTP status and the server's reason. */
static int refused(const struct reply *rep, long http, const char *what,
                   struct g2t_diag *d)
{
	char why[REASON_LIMIT];

	reason(rep, why, sizeof why);
	return g2t_fail(d, G2T_EREFUSED, 0, -1, "%s: HTTP %ld%s%s", what, http,
	                *why ? ": " : "", why);
}

/*
 * Checks the stream in p[0..len): magic, version, framing, checksums and
 * record limits, and lists its records, at most `max`; *n says how many.
 */
static int records(const uint8_t *p, size_t len, const char *what, struct rec *out,
                   int max, int *n, struct g2t_diag *d)
{
	struct g2t_decoder dec;
	uint8_t buf[256]; /* small: larger payloads are read in place */
	size_t at = 0;

	*n = 0;
	g2t_decoder_init(&dec, buf, sizeof buf, g2t_crc32);
	dec.stream_big = 1;
	while (at < len) {
		size_t used;
		int ev, rc = g2t_decoder_push(&dec, p + at, len - at, &used, &ev);

		at += used;
		if (rc < 0)
			return g2t_fail(d, rc, 0, -1, "%s, byte %llu: %s", what,
			                (unsigned long long)dec.pos, g2t_strerror(rc));
		if (ev != G2T_EV_RECORD)
			continue;
		if (dec.length > (dec.type == G2T_REC_SHARD ? G2T_SHARD_LIMIT
		                                             : G2T_RECORD_LIMIT))
			return g2t_fail(d, G2T_ETOOBIG, 0, -1, "%s, byte %llu: record too large",
			                what, (unsigned long long)dec.offset);
		if (*n == max)
			return g2t_fail(d, G2T_EFORMAT, 0, -1,
			                "%s, byte %llu: more records than expected", what,
			                (unsigned long long)dec.offset);
		out[*n].type = dec.type;
		out[*n].length = dec.length;
		out[*n].offset = (long long)dec.offset;
		out[*n].payload = p + dec.offset + G2T_HEADER_SIZE;
		++*n;
	}
	if (!len || !g2t_decoder_at_boundary(&dec))
		return g2t_fail(d, len ? G2T_ETRUNC : G2T_EMAGIC, 0, -1, "%s: %s", what,
		                len ? "stream ends inside a record" : "empty");
	return G2T_OK;
}

/* Whether the stream p[0..len) is one SHARD record of class `klass`
 * whose payload hashes to `hash`; fills *out. */
static int shard_check(const uint8_t *p, size_t len, const char *what,
                       const struct g2t_schema *s, uint32_t klass,
                       const uint8_t hash[G2T_HASH_SIZE], struct rec *out,
                       struct g2t_diag *d)
{
	uint8_t got[G2T_HASH_SIZE];
	struct g2t_shard head;
	int n, rc = records(p, len, what, out, 1, &n, d);

	if (rc)
		return rc;
	if (n != 1 || out->type != G2T_REC_SHARD)
		return g2t_fail(d, G2T_EFORMAT, 0, -1, "%s: not one SHARD record", what);
	g2t_hash(got, out->payload, out->length);
	if (sodium_memcmp(got, hash, G2T_HASH_SIZE))
		return g2t_fail(d, G2T_EDATA, 0, -1,
		                "%s: BLAKE2b-256 of the shard does not match the schema", what);
	if (g2t_shard_header_decode(&head, out->payload, out->length) ||
	    head.klass != klass || head.features != s->features)
		return g2t_fail(d, G2T_EFORMAT, 0, -1, "%s: bad SHARD record for class %u",
		                what, klass);
	return G2T_OK;
}

static int by_recent(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;

	if (x->mtime.tv_sec != y->mtime.tv_sec)
		return x->mtime.tv_sec > y->mtime.tv_sec ? -1 : 1;
	if (x->mtime.tv_nsec != y->mtime.tv_nsec)
		return x->mtime.tv_nsec > y->mtime.tv_nsec ? -1 : 1;
	return strcmp(x->hex, y->hex);
}

/* Whether a cache file name is HEX.g2t, or a temporary HEX.g2t.XXXXXX. */
static int cache_name(const char *name, int *temp)
{
	size_t n = strlen(name), base = HEX_SIZE - 1 + 4;

	if (n < base || !is_hex(name, HEX_SIZE - 1) || memcmp(name + HEX_SIZE - 1, ".g2t", 4))
		return 0;
	*temp = n != base;
	return n == base || (n == base + 7 && name[base] == '.');
}

/*
 * Creates the cache directory if needed, removes temporary files that a
 * crash left an hour or more ago, and lists the shards held, most recently
 * used first, into f->have.
 */
static int cache_open(struct fetch *f, struct g2t_diag *d)
{
	const char *dir = f->o->cache;
	struct entry *e = NULL;
	size_t n = 0, cap = 0, at = 0;
	struct dirent *de;
	time_t now = time(NULL);
	DIR *dp;
	int rc = G2T_OK;

	if (!dir)
		return G2T_OK;
	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		return g2t_fail(d, G2T_EIO, 0, -1, "cache %s: %s", dir, strerror(errno));
	if (!(dp = opendir(dir)))
		return g2t_fail(d, G2T_EIO, 0, -1, "cache %s: %s", dir, strerror(errno));
	while ((de = readdir(dp))) {
		char path[4096];
		struct stat st;
		int temp;

		if (!cache_name(de->d_name, &temp))
			continue;
		snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
		if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
			continue;
		if (temp) {
			if (now - st.st_mtime >= TEMP_AGE)
				unlink(path);
			continue;
		}
		if (g2t_grow((void **)&e, &cap, n + 1, sizeof *e)) {
			rc = G2T_ENOMEM;
			break;
		}
		memcpy(e[n].hex, de->d_name, HEX_SIZE - 1);
		e[n].hex[HEX_SIZE - 1] = '\0';
		e[n++].mtime = st.st_mtim;
	}
	closedir(dp);
	if (!rc && n) {
		qsort(e, n, sizeof *e, by_recent);
		for (size_t i = 0; i < n && i < HAVE_MAX; i++) {
			if (i)
				f->have[at++] = ',';
			memcpy(f->have + at, e[i].hex, HEX_SIZE - 1);
			at += HEX_SIZE - 1;
		}
		f->have[at] = '\0';
	}
	free(e);
	return rc;
}

/* Reads all of a cache file, at most `limit` bytes; 0, or -1 when unusable. */
static int read_file(int fd, size_t limit, uint8_t **out, size_t *len)
{
	struct stat st;
	size_t got = 0;

	*out = NULL;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size <= 0 ||
	    (unsigned long long)st.st_size > limit || !(*out = malloc((size_t)st.st_size)))
		return -1;
	while (got < (size_t)st.st_size) {
		ssize_t r = read(fd, *out + got, (size_t)st.st_size - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	*len = got;
	return got == (size_t)st.st_size ? 0 : -1;
}

/* Takes shard i from the cache if it is there and sound; a file that is
 * not is removed.  1 when taken, 0 when not. */
static int cache_get(struct fetch *f, size_t i, const char *hex)
{
	uint32_t klass = f->klass[i];
	const uint8_t *hash = f->schema->shard_hash[klass];
	struct g2t_diag ignored;
	char path[4096];
	uint8_t *buf;
	size_t len;
	int fd, ok;

	if (!f->o->cache)
		return 0;
	snprintf(path, sizeof path, "%s/%s.g2t", f->o->cache, hex);
	if ((fd = open(path, O_RDONLY)) < 0)
		return 0;
	ok = !read_file(fd, SHARD_BODY_LIMIT, &buf, &len) &&
	     !shard_check(buf, len, "cached shard", f->schema, klass, hash, &f->shard[i],
	                  &ignored);
	if (ok)
		futimens(fd, NULL); /* most recently used: first in X-G2T-Have */
	close(fd);
	if (!ok) {
		free(buf);
		unlink(path);
		return 0;
	}
	f->shard_buf[i] = buf;
	return 1;
}

/* Keeps a verified shard or schema in the cache; a failure is only a
 * warning. */
static void cache_put(struct fetch *f, const char *hex, const struct rec *s)
{
	struct g2t_out out;
	struct g2t_diag d;
	char path[4096];
	int rc;

	if (!f->o->cache)
		return;
	snprintf(path, sizeof path, "%s/%s.g2t", f->o->cache, hex);
	d.what[0] = '\0';
	rc = g2t_out_open(&out, path, &d);
	if (!rc && (g2t_write_header(out.f) ||
	            g2t_write_record(out.f, s->type, s->payload, s->length)))
		rc = g2t_fail(&d, G2T_EIO, 0, -1, "%s", strerror(errno));
	if (!rc)
		rc = g2t_out_commit(&out, &d);
	g2t_out_abort(&out);
	if (rc)
		snprintf(f->r->warning, sizeof f->r->warning,
		         "cache %.90s: %s %.16s... not kept: %.90s", f->o->cache,
		         s->type == G2T_REC_SHARD ? "shard" : "schema", hex,
		         d.what[0] ? d.what : g2t_strerror(rc));
}

/* Downloads shard i with the lease token of a task that uses it, verifies
 * and caches it. */
static int download(struct fetch *f, size_t i, const char *hex, struct g2t_diag *d)
{
	const struct g2t_task *t = &f->task[f->user[i]];
	uint32_t klass = f->klass[i];
	char path[16 + HEX_SIZE], query[8 + 2 * G2T_TOKEN_MAX + 1], what[48];
	char *url = NULL;
	struct reply rep = { 0 };
	int rc;

	snprintf(path, sizeof path, "/v1/shards/%s", hex);
	memcpy(query, "token=", 6);
	sodium_bin2hex(query + 6, sizeof query - 6, t->token, t->token_len);
	snprintf(what, sizeof what, "shard %.16s...", hex);
	if ((rc = make_url(f->o->url, path, query, &url, d)))
		goto done;
	if ((rc = request(f, what, url, 0, &rep, SHARD_BODY_LIMIT, d)))
		goto done;
	if (f->r->http != 200) {
		rc = refused(&rep, f->r->http, what, d);
		goto done;
	}
	if ((rc = shard_check(rep.body, rep.len, what, f->schema, klass,
	                      f->schema->shard_hash[klass], &f->shard[i], d)))
		goto done;
	f->shard_buf[i] = rep.body;
	rep.body = NULL;
	f->r->downloaded++;
	cache_put(f, hex, &f->shard[i]);
done:
	free(rep.body);
	curl_free(url);
	return rc;
}

/* Parses a header holding a whole decimal number; 0 or -1. */
static int header_number(const char *s, long long *out)
{
	char *end;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	*out = strtoll(s, &end, 10);
	return errno || *end ? -1 : 0;
}

/*
 * The schema the server left out of its answer, as the device said it had
 * it cached (X-G2T-Have): the file must hold one SCHEMA record whose
 * BLAKE2b-256 is the task's schema identity, or its task form (g2t(5)).  A file that does not is
 * removed, and the lease given up: asked again, the server sends the schema.
 */
static int cached_schema(struct fetch *f, const uint8_t *id, struct g2t_diag *d)
{
	char hex[HEX_SIZE], path[4096];
	uint8_t hash[G2T_HASH_SIZE];
	struct g2t_diag ignored;
	size_t len = 0;
	int fd, n = 0, ok;

	sodium_bin2hex(hex, sizeof hex, id, G2T_HASH_SIZE);
	snprintf(path, sizeof path, "%s/%s.g2t", f->o->cache, hex);
	if ((fd = open(path, O_RDONLY)) < 0)
		return g2t_fail(d, G2T_ETEMP, 0, -1, "cache %s: schema %.16s... is gone; ask again",
		                f->o->cache, hex);
	ok = !read_file(fd, LEASE_BODY_LIMIT, &f->schema_buf, &len) &&
	     !records(f->schema_buf, len, "cached schema", &f->schema_rec, 1, &n, &ignored) &&
	     n == 1 && f->schema_rec.type == G2T_REC_SCHEMA;
	if (ok) { /* the schema id: the payload's hash, or a task form's own */
		struct g2t_schema *s = NULL;

		g2t_hash(hash, f->schema_rec.payload, f->schema_rec.length);
		ok = !memcmp(hash, id, G2T_HASH_SIZE) ||
		     (!g2t_schema_decode(&s, f->schema_rec.payload, f->schema_rec.length) &&
		      s->flags & G2T_SCHEMA_TASK && !memcmp(s->id, id, G2T_HASH_SIZE));
		g2t_schema_free(s);
	}
	if (ok)
		futimens(fd, NULL); /* most recently used: first in X-G2T-Have */
	close(fd);
	if (ok)
		return G2T_OK;
	unlink(path);
	return g2t_fail(d, G2T_ETEMP, 0, -1, "cache %s: schema %.16s... is unusable and was"
	                " removed; ask again", f->o->cache, hex);
}

/* Checks a leased task against the schema; notes the classes it uses. */
static int take_task(struct fetch *f, size_t k, struct g2t_diag *d)
{
	struct g2t_task *t = &f->task[k];
	uint8_t hash[G2T_HASH_SIZE];

	g2t_task_hash(hash, &t->id);
	if (memcmp(hash, t->hash, G2T_HASH_SIZE) ||
	    memcmp(t->id.schema_id, f->schema->id, G2T_HASH_SIZE) ||
	    !g2t_task_fits(f->schema, t->id.task, t->id.class_a, t->id.class_b))
		return g2t_fail(d, G2T_ESCHEMA, 0, -1,
		                "lease answer: task %u does not fit its schema", t->id.task);
	if (f->schema->flags & G2T_SCHEMA_OVR) /* g2t-serve leases none */
		return g2t_fail(d, G2T_ESCHEMA, 0, -1, "lease answer: task %u is one-vs-rest, "
		                "which needs every class's rows; train it with g2t-train",
		                t->id.task);
	if (!t->token_len)
		return g2t_fail(d, G2T_EFORMAT, 0, -1, "lease answer: task %u has no lease token",
		                t->id.task);
	for (int side = 0; side < 2; side++) {
		uint32_t klass = side ? t->id.class_b : t->id.class_a;
		size_t i = 0;

		while (i < f->shards && f->klass[i] != klass)
			i++;
		if (i == f->shards) {
			f->klass[f->shards] = klass;
			f->user[f->shards++] = k;
		}
	}
	return G2T_OK;
}

/*
 * Checks the lease answer: a SCHEMA (unless the device has it cached), then
 * one to f->want TASK records of it with tokens, and headers that agree
 * with them: X-G2T-Task lists the tasks, X-G2T-Shards the class a and
 * class b shards of each.
 */
static int take_lease(struct fetch *f, struct g2t_diag *d)
{
	const struct reply *rep = &f->lease;
	char listed[sizeof rep->task], shards[sizeof rep->shards];
	struct rec rec[1 + G2T_FETCH_MAX];
	size_t at = 0, sh = 0;
	long long v;
	int n, rc, first, tasks = 0;

	if (strncasecmp(rep->type, MEDIA_TYPE, strlen(MEDIA_TYPE)) ||
	    (rep->type[strlen(MEDIA_TYPE)] && rep->type[strlen(MEDIA_TYPE)] != ';'))
		return g2t_fail(d, G2T_EDATA, 0, -1,
		                "lease: HTTP 200 without a G2T stream (Content-Type: %s)",
		                rep->type[0] ? rep->type : "none");
	if ((rc = records(rep->body, rep->len, "lease answer", rec, 1 + (int)f->want, &n, d)))
		return rc;
	first = n > 0 && rec[0].type == G2T_REC_SCHEMA;
	for (int i = first; i < n; i++)
		tasks += rec[i].type == G2T_REC_TASK;
	if (!tasks || first + tasks != n || tasks > (int)f->want || (!first && !f->have[0]))
		return g2t_fail(d, G2T_EFORMAT, 0, -1, "lease answer: not a SCHEMA record then"
		                " one to %u TASK records", f->want);
	for (int i = first; i < n; i++)
		f->task_rec[f->tasks++] = rec[i];
	for (size_t k = 0; k < f->tasks; k++)
		if (g2t_task_read(&f->task[k], f->task_rec[k].payload, f->task_rec[k].length,
		                  -1, d))
			return g2t_fail(d, G2T_EFORMAT, 0, -1, "lease answer: %s", d->what);
	if (first) {
		f->schema_rec = rec[0];
	} else if ((rc = cached_schema(f, f->task[0].id.schema_id, d))) {
		f->r->local = 1;
		return rc;
	}
	if ((rc = g2t_schema_decode(&f->schema, f->schema_rec.payload, f->schema_rec.length)))
		return g2t_fail(d, rc, 0, -1, "lease answer: bad SCHEMA record");
	for (size_t k = 0; k < f->tasks; k++) {
		const struct g2t_task *t = &f->task[k];

		if ((rc = take_task(f, k, d)))
			return rc;
		at += (size_t)snprintf(listed + at, sizeof listed - at, "%s%u", k ? "," : "",
		                       t->id.task);
		for (int side = 0; side < 2; side++, sh += HEX_SIZE) {
			sodium_bin2hex(shards + sh, HEX_SIZE,
			               f->schema->shard_hash[side ? t->id.class_b : t->id.class_a],
			               G2T_HASH_SIZE);
			shards[sh + HEX_SIZE - 1] = ',';
		}
	}
	shards[sh - 1] = '\0';
	if (rep->task[0] && strcmp(rep->task, listed))
		return g2t_fail(d, G2T_EFORMAT, 0, -1,
		                "lease answer: X-G2T-Task %s is not the TASK records' %s",
		                rep->task, listed);
	if (rep->shards[0] && strcmp(rep->shards, shards))
		return g2t_fail(d, G2T_EFORMAT, 0, -1,
		                "lease answer: X-G2T-Shards does not name the tasks' shards");
	f->r->task = f->task[0].id.task;
	f->r->tasks = (unsigned)f->tasks;
	if (rep->deadline[0] && !header_number(rep->deadline, &v))
		f->r->deadline = v;
	if (first) {
		sodium_bin2hex(listed, HEX_SIZE, f->schema->id, G2T_HASH_SIZE);
		cache_put(f, listed, &f->schema_rec);
	}
	return G2T_OK;
}

/* Asks for a lease: G2T_OK with one, G2T_ETEMP for none now. */
static int lease(struct fetch *f, struct g2t_diag *d)
{
	long http;
	int rc = request(f, "lease", f->lease_url, 1, &f->lease, LEASE_BODY_LIMIT, d);

	if (rc)
		return rc;
	http = f->r->http;
	if (http == 204) {
		f->r->no_work = 1;
		f->r->complete = !strcmp(f->lease.complete, "1");
		return g2t_fail(d, G2T_ETEMP, 0, -1, "%s", f->r->complete ? "all tasks are done"
		                                                           : "no work now");
	}
	if (http != 200)
		return refused(&f->lease, http, "lease", d);
	return take_lease(f, d);
}

/* The stream g2t-train reads: SCHEMA, each class's SHARD once, the TASKs. */
static int write_tasks(const struct fetch *f, FILE *out, struct g2t_diag *d)
{
	int rc = g2t_write_header(out);

	if (!rc)
		rc = g2t_write_record(out, G2T_REC_SCHEMA, f->schema_rec.payload,
		                      f->schema_rec.length);
	for (size_t i = 0; i < f->shards && !rc; i++)
		rc = g2t_write_record(out, G2T_REC_SHARD, f->shard[i].payload, f->shard[i].length);
	for (size_t k = 0; k < f->tasks && !rc; k++)
		rc = g2t_write_record(out, G2T_REC_TASK, f->task_rec[k].payload,
		                      f->task_rec[k].length);
	return rc ? g2t_fail(d, rc, 0, -1, "%s: %s", f->o->output ? f->o->output : "stdout",
	                     strerror(errno))
	          : G2T_OK;
}

int g2t_fetch_task(const struct g2t_fetch_opts *o, const struct g2t_signer *key,
                   FILE *out, struct g2t_fetch_result *r, struct g2t_diag *d)
{
	struct fetch f = { .o = o, .key = key, .r = r };
	int rc;

	f.want = o->count < 1 ? 1 : o->count > G2T_FETCH_MAX ? G2T_FETCH_MAX : o->count;
	memset(r, 0, sizeof *r);
	g2t_crypto_init();
	if (!(f.c = curl_easy_init()))
		return G2T_ENOMEM;
	if ((rc = make_url(o->url, "/v1/lease", NULL, &f.lease_url, d)))
		goto done;
	if ((rc = cache_open(&f, d))) {
		r->local = 1;
		goto done;
	}
	if ((rc = lease(&f, d)))
		goto done;
	for (size_t i = 0; i < f.shards && !rc; i++) {
		char hex[HEX_SIZE];

		sodium_bin2hex(hex, sizeof hex, f.schema->shard_hash[f.klass[i]], G2T_HASH_SIZE);
		if (cache_get(&f, i, hex))
			r->cached++;
		else
			rc = download(&f, i, hex, d);
	}
	if (!rc && (rc = write_tasks(&f, out, d)))
		r->local = 1;
done:
	curl_easy_cleanup(f.c);
	curl_free(f.lease_url);
	free(f.lease.body);
	for (size_t i = 0; i < f.shards; i++)
		free(f.shard_buf[i]);
	free(f.schema_buf);
	g2t_schema_free(f.schema);
	return rc;
}
