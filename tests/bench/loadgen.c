/*
 * loadgen: many simulated devices against g2t-serve, on libcurl multi
 * (epoll, keep-alive HTTP/1.1, TCP_NODELAY, one easy handle per device).
 *
 *   loadgen --url http://127.0.0.1:PORT [--mode lease|lease+result]
 *           [--devices N] [--seconds S] [--warmup S] [--threads T]
 *           [--drain S] [--presign N] [--batch N] [--rate R] [--server-pid PID]
 *
 * Each device has its own Ed25519 key (made before the clock starts) and
 * signs every lease request (X-G2T-Key/-Time/-Nonce/-Signature) as
 * g2t-fetch does; nonces are 16 random bytes (ChaCha20 output under a
 * random per-thread seed and a counter, so never reused).  --presign N signs N lease requests per device up front
 * (live signing resumes when they run out), to take that cost off the
 * measured seconds.  In lease+result mode a device that got a task builds
 * its result in-process (g2t_packet_build over one WEIGHTS set of zeros
 * carrying the lease token, its own sequence numbers from 1), POSTs it to
 * /v1/results and then leases again; a 204 means no task was free and the
 * device asks again at once.  Like g2t-fetch with a cache, a device names
 * the schema it has in X-G2T-Have, so only its first lease answer holds it.
 * --batch N asks for N tasks a lease request (X-G2T-Count) and returns
 * their results in one packet, as a device holding W_t = N results does;
 * leases and results are then counted by task, requests by request.
 * --rate R paces the devices (open loop): R lease requests a second in all,
 * each device starting its next lease at its turn, devices/R seconds after
 * the last; a request's latency then counts from its turn, so a server that
 * falls behind is seen to (no coordinated omission).  Without it each
 * device starts its next lease as soon as the last is answered.
 *
 * Only requests completed inside the measured window (after --warmup) are
 * counted; requests still in flight at its end get --drain seconds (5) to
 * finish, uncounted, and the exit status is 1 if some did not (or if there
 * were transport errors).  Prints requests per second by kind, counts by HTTP status and
 * result verdict, latency percentiles (from the moment the request is
 * handed to libcurl to its last byte), transport errors, and the CPU used
 * in the window by this process, by the server (--server-pid, from
 * /proc/PID/stat) and by the whole machine (/proc/stat).  The last line,
 * "loadgen: key=value ...", is for scripts.
 */
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/epoll.h>

#include <curl/curl.h>
#include <sodium.h>

#include "g2t.h"

enum { LEASE, RESULT, KINDS };
static const char *const kind_name[KINDS] = { "lease", "result" };

#define STATUS_MAX 600
#define RETRY_DELAY 0.05 /* seconds a device waits after a transport error */

struct config {
	const char *url;
	char lease_url[512], results_url[512];
	int results;              /* lease+result mode */
	size_t devices;
	unsigned threads;
	double seconds, warmup, drain;
	size_t presign;
	unsigned batch;           /* tasks a lease request asks for */
	double rate;              /* lease requests a second in all, 0: unpaced */
	long server_pid;
	const char *cacert;       /* CA of an https --url */
	int fresh;                /* a new connection a request */
	int full_handshake;       /* and no TLS session resumed */
};
static struct config cfg = { .devices = 1000, .threads = 1, .seconds = 5.0, .drain = 5.0,
                             .batch = 1 };

#define BATCH_MAX 16

/* The measured window, on the monotonic clock; set before threads start. */
static double t_begin, t_end;

struct buf {
	uint8_t *p;
	size_t len, cap;
};

/* One signed lease request prepared ahead (--presign). */
struct signed_req {
	char when[24], nonce[33], sig[96];
};

struct stats {
	uint64_t status[STATUS_MAX];   /* by HTTP status (0: none) */
	uint64_t curl_error[CURL_LAST];
	uint64_t leased;                /* tasks in 200 lease answers */
	uint64_t accepted, ignored, refused, duplicate, bad_body; /* weight sets */
	uint64_t bytes_up, bytes_down;  /* request and answer bodies */
	float *ms;                     /* latencies of counted requests */
	size_t n, cap;
};

struct worker;

struct device {
	struct worker *w;
	CURL *easy;
	struct curl_slist *hdrs;
	uint8_t pk[G2T_PK_SIZE], sk[crypto_sign_SECRETKEYBYTES];
	char key64[64];
	uint64_t seq;                  /* last packet sequence number used */
	int kind;                      /* of the request in flight */
	int busy;
	double started, wake;
	double turn;                   /* --rate: when its next lease is due */
	struct buf resp;
	uint8_t *body;                 /* result request body */
	size_t body_len;
	struct signed_req *pre;        /* --presign */
	size_t npre, used_pre;
	char have[96];                 /* X-G2T-Have: the schema, once it has it */
};

struct worker {
	unsigned id;
	struct device *dev;
	size_t ndev;
	CURLM *multi;
	int epfd;
	double timer_at;               /* when libcurl wants a timeout call, or < 0 */
	uint8_t nonce_seed[randombytes_SEEDBYTES];
	uint64_t nonce_counter;
	uint32_t features;             /* F of the schema, from the first lease */
	float *zeros;
	struct stats st[KINDS];
	size_t waiting;                /* devices idle after a transport error */
	uint64_t late;                 /* completed after the window */
	uint64_t unfinished;           /* still running after the drain */
	uint64_t signatures, packets;  /* made in the window */
	double sign_s, pack_s;         /* time spent making them */
	pthread_t thread;
	int failed;
};

static double now_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Sleeps until the monotonic clock reads t. */
static void sleep_until(double t)
{
	struct timespec ts;

	ts.tv_sec = (time_t)t;
	ts.tv_nsec = (long)((t - (double)ts.tv_sec) * 1e9);
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

static void die(const char *what)
{
	fprintf(stderr, "loadgen: %s\n", what);
	exit(1);
}

static void buf_put(struct buf *b, const void *p, size_t n)
{
	if (g2t_grow((void **)&b->p, &b->cap, b->len + n, 1))
		die("out of memory");
	memcpy(b->p + b->len, p, n);
	b->len += n;
}

static void add_latency(struct stats *s, double ms)
{
	if (g2t_grow((void **)&s->ms, &s->cap, s->n + 1, sizeof *s->ms))
		die("out of memory");
	s->ms[s->n++] = (float)ms;
}

/* ---- libcurl plumbing: epoll, sockets, timers ---- */

static int on_socket(CURL *e, curl_socket_t fd, int what, void *userp, void *socketp)
{
	struct worker *w = userp;
	struct epoll_event ev = { 0 };

	(void)e;
	(void)socketp;
	if (what == CURL_POLL_REMOVE) {
		epoll_ctl(w->epfd, EPOLL_CTL_DEL, fd, NULL);
		return 0;
	}
	ev.data.fd = fd;
	ev.events = (what & CURL_POLL_IN ? EPOLLIN : 0u) | (what & CURL_POLL_OUT ? EPOLLOUT : 0u);
	if (epoll_ctl(w->epfd, EPOLL_CTL_MOD, fd, &ev) && errno == ENOENT)
		epoll_ctl(w->epfd, EPOLL_CTL_ADD, fd, &ev);
	return 0;
}

static int on_timer(CURLM *m, long ms, void *userp)
{
	struct worker *w = userp;

	(void)m;
	w->timer_at = ms < 0 ? -1.0 : now_mono() + (double)ms / 1000.0;
	return 0;
}

static size_t on_data(char *p, size_t size, size_t n, void *userp)
{
	struct device *d = userp;

	buf_put(&d->resp, p, size * n);
	return size * n;
}

static void headers(struct device *d, const char *const *lines, size_t n)
{
	curl_slist_free_all(d->hdrs);
	d->hdrs = NULL;
	for (size_t i = 0; i < n; i++) {
		struct curl_slist *l = curl_slist_append(d->hdrs, lines[i]);

		if (!l)
			die("out of memory");
		d->hdrs = l;
	}
}

static void submit(struct device *d, int kind, const char *url, const void *body, size_t len)
{
	struct worker *w = d->w;

	curl_easy_setopt(d->easy, CURLOPT_URL, url);
	curl_easy_setopt(d->easy, CURLOPT_HTTPHEADER, d->hdrs);
	curl_easy_setopt(d->easy, CURLOPT_POSTFIELDSIZE, (long)len);
	curl_easy_setopt(d->easy, CURLOPT_POSTFIELDS, body);
	d->kind = kind;
	d->resp.len = 0;
	d->busy = 1;
	d->started = now_mono();
	if (kind == LEASE && cfg.rate > 0 && d->turn < d->started)
		d->started = d->turn;
	if (curl_multi_add_handle(w->multi, d->easy) != CURLM_OK)
		die("curl_multi_add_handle failed");
}

/* ---- requests ---- */

static void sign_request(struct worker *w, struct device *d, struct signed_req *r,
                         const char *path)
{
	uint8_t nonce[16], sig[crypto_sign_BYTES];
	char msg[256];
	size_t len;

	snprintf(r->when, sizeof r->when, "%lld", (long long)time(NULL));
	/* 16 random-looking bytes, never repeated: ChaCha20 keyed by a random
	 * per-thread seed whose last 8 bytes count */
	for (int i = 0; i < 8; i++)
		w->nonce_seed[24 + i] = (uint8_t)(w->nonce_counter >> (56 - 8 * i));
	w->nonce_counter++;
	randombytes_buf_deterministic(nonce, sizeof nonce, w->nonce_seed);
	sodium_bin2hex(r->nonce, sizeof r->nonce, nonce, sizeof nonce);
	len = g2t_lease_message(msg, sizeof msg, "POST", path, r->when, r->nonce);
	crypto_sign_detached(sig, NULL, (const uint8_t *)msg, len, d->sk);
	sodium_bin2base64(r->sig, sizeof r->sig, sig, sizeof sig,
	                  sodium_base64_VARIANT_ORIGINAL);
}

static void start_lease(struct device *d)
{
	struct worker *w = d->w;
	struct signed_req live, *r = &live;
	char key[96], when[64], nonce[64], sig[128], count[32];
	const char *lines[] = { key, when, nonce, sig, "Content-Type:", "Expect:",
	                        "Accept: application/x-g2t",
	                        d->have[0] ? d->have : "X-G2T-Have:", count };

	if (d->used_pre < d->npre) {
		r = &d->pre[d->used_pre++];
	} else {
		double t0 = now_mono();

		sign_request(w, d, r, "/v1/lease");
		if (t0 >= t_begin && t0 < t_end) {
			w->signatures++;
			w->sign_s += now_mono() - t0;
		}
	}
	snprintf(key, sizeof key, "X-G2T-Key: %s", d->key64);
	snprintf(when, sizeof when, "X-G2T-Time: %s", r->when);
	snprintf(nonce, sizeof nonce, "X-G2T-Nonce: %s", r->nonce);
	snprintf(sig, sizeof sig, "X-G2T-Signature: %s", r->sig);
	if (cfg.batch > 1)
		snprintf(count, sizeof count, "X-G2T-Count: %u", cfg.batch);
	else
		snprintf(count, sizeof count, "X-G2T-Count:");
	headers(d, lines, sizeof lines / sizeof *lines);
	submit(d, LEASE, cfg.lease_url, "", 0);
}

/* The TASKs of a lease answer, into t[0..*n) (and from its schema, the
 * first time, F and the device's X-G2T-Have); 0 or -1. */
static int leased_tasks(struct worker *w, struct device *d, const struct buf *b,
                        struct g2t_task *t, size_t *n)
{
	size_t at = G2T_HEADER_SIZE;

	*n = 0;
	if (b->len < G2T_HEADER_SIZE || g2t_get_u32(b->p) != G2T_MAGIC)
		return -1;
	while (at + G2T_HEADER_SIZE + G2T_CRC_SIZE <= b->len) {
		uint32_t type = g2t_get_u32(b->p + at), len = g2t_get_u32(b->p + at + 4);
		const uint8_t *p = b->p + at + G2T_HEADER_SIZE;

		if (len > b->len - at - G2T_HEADER_SIZE - G2T_CRC_SIZE)
			return -1;
		if (type == G2T_REC_SCHEMA && (!w->features || !d->have[0])) {
			struct g2t_schema *sc;
			char hex[2 * G2T_HASH_SIZE + 1];

			if (g2t_schema_decode(&sc, p, len))
				return -1;
			sodium_bin2hex(hex, sizeof hex, sc->id, G2T_HASH_SIZE);
			snprintf(d->have, sizeof d->have, "X-G2T-Have: %s", hex);
			if (!w->features) {
				w->features = sc->features;
				if (!(w->zeros = calloc(w->features ? w->features : 1, sizeof *w->zeros)))
					die("out of memory");
			}
			g2t_schema_free(sc);
		}
		if (type == G2T_REC_TASK) {
			if (*n == BATCH_MAX || g2t_task_decode(&t[*n], p, len) || !t[*n].token_len)
				return -1;
			++*n;
		}
		at += G2T_HEADER_SIZE + len + G2T_CRC_SIZE;
	}
	return *n && w->features ? 0 : -1;
}

/* Builds the signed result packet of leased tasks t[0..n) and POSTs it. */
static int start_result(struct device *d, const struct g2t_task *t, size_t n)
{
	struct worker *w = d->w;
	struct g2t_signer key;
	struct g2t_weights wt[BATCH_MAX] = { 0 };
	struct g2t_batch b = { NULL, NULL, 0, wt, n };
	uint8_t *pkt = NULL;
	size_t len = 0;
	double t0 = now_mono();
	struct signed_req r;
	char hkey[96], when[64], nonce[64], sig[128];
	const char *lines[] = { "Content-Type: application/x-g2t", "Expect:",
	                        "Accept: application/json", hkey, when, nonce, sig };

	memcpy(key.pk, d->pk, sizeof key.pk);
	memcpy(key.sk, d->sk, sizeof key.sk);
	for (size_t i = 0; i < n; i++) {
		memcpy(wt[i].task_hash, t[i].hash, G2T_HASH_SIZE);
		wt[i].id = t[i].id;
		wt[i].features = w->features;
		wt[i].w = w->zeros;
		wt[i].epochs = 1;
		wt[i].token = t[i].token;
		wt[i].token_len = t[i].token_len;
	}
	if (g2t_packet_build(&pkt, &len, &b, &key, d->seq + 1, (uint64_t)time(NULL),
	                     G2T_PREC_F32)) {
		sodium_memzero(&key, sizeof key);
		return -1;
	}
	sodium_memzero(&key, sizeof key);
	d->seq++;
	free(d->body);
	d->body_len = 2 * G2T_HEADER_SIZE + len + G2T_CRC_SIZE;
	if (!(d->body = malloc(d->body_len)))
		die("out of memory");
	g2t_stream_header(d->body);
	g2t_record_frame(d->body + G2T_HEADER_SIZE, d->body + 2 * G2T_HEADER_SIZE + len,
	                 G2T_REC_PACKET, pkt, (uint32_t)len, g2t_crc32);
	memcpy(d->body + 2 * G2T_HEADER_SIZE, pkt, len);
	free(pkt);
	if (t0 >= t_begin && t0 < t_end) {
		w->packets++;
		w->pack_s += now_mono() - t0;
	}
	sign_request(w, d, &r, "/v1/results"); /* the server admits no unsigned body */
	snprintf(hkey, sizeof hkey, "X-G2T-Key: %s", d->key64);
	snprintf(when, sizeof when, "X-G2T-Time: %s", r.when);
	snprintf(nonce, sizeof nonce, "X-G2T-Nonce: %s", r.nonce);
	snprintf(sig, sizeof sig, "X-G2T-Signature: %s", r.sig);
	headers(d, lines, sizeof lines / sizeof *lines);
	submit(d, RESULT, cfg.results_url, d->body, d->body_len);
	return 0;
}

/* How often needle occurs in text. */
static uint64_t occurrences(const char *text, const char *needle)
{
	uint64_t n = 0;

	for (const char *p = text; (p = strstr(p, needle)); p++)
		n++;
	return n;
}

/* Counts what a 200 results answer said about each weight set sent: one
 * "status" each, then the packet's, "accepted". */
static void judge_result(struct stats *s, long http, const struct buf *b)
{
	char text[4096];
	size_t n = b->len < sizeof text - 1 ? b->len : sizeof text - 1;
	uint64_t accepted;

	memcpy(text, b->p ? (const char *)b->p : "", n);
	text[n] = '\0';
	if (http != 200)
		return;
	if (strstr(text, "\"status\":\"duplicate\"")) {
		s->duplicate++;
		return;
	}
	accepted = occurrences(text, "\"status\":\"accepted\"");
	if (!accepted) {
		s->bad_body++;
		return;
	}
	s->accepted += accepted - 1;
	s->ignored += occurrences(text, "\"status\":\"ignored\"");
	s->refused += occurrences(text, "\"status\":\"refused\"");
}

/* Starts the device's next lease now or, paced, at its turn. */
static void next_lease(struct device *d, double t)
{
	if (cfg.rate > 0) {
		d->turn += (double)cfg.devices / cfg.rate;
		if (d->turn > t) {
			d->wake = d->turn;
			d->w->waiting++;
			return;
		}
	}
	start_lease(d);
}

static void finished(struct device *d, CURLcode code)
{
	struct worker *w = d->w;
	double t = now_mono();
	int counted = t >= t_begin && t < t_end, kind = d->kind;
	struct stats *s = &w->st[kind];
	struct g2t_task task[BATCH_MAX];
	size_t ntask = 0;
	long http = 0;

	curl_multi_remove_handle(w->multi, d->easy);
	d->busy = 0;
	curl_easy_getinfo(d->easy, CURLINFO_RESPONSE_CODE, &http);
	if (counted) {
		if (code != CURLE_OK)
			s->curl_error[code < CURL_LAST ? code : 0]++;
		else
			s->status[http >= 0 && http < STATUS_MAX ? http : 0]++;
		add_latency(s, 1000.0 * (t - d->started));
		s->bytes_down += d->resp.len;
		s->bytes_up += kind == RESULT ? d->body_len : 0;
	} else if (t >= t_end) {
		w->late++;
	}
	if (code != CURLE_OK) {
		d->wake = t + RETRY_DELAY;
		w->waiting++;
		return;
	}
	if (kind == RESULT && counted)
		judge_result(s, http, &d->resp);
	d->wake = 0;
	if (kind == LEASE && http == 200) {
		int bad = leased_tasks(w, d, &d->resp, task, &ntask);

		s->leased += counted ? ntask : 0;
		if (!bad && cfg.results && t < t_end) {
			if (!start_result(d, task, ntask))
				return;
			bad = 1;
		}
		s->bad_body += bad && counted;
	}
	if (t < t_end)
		next_lease(d, t);
}

static void drain_messages(struct worker *w)
{
	CURLMsg *m;
	int left;

	while ((m = curl_multi_info_read(w->multi, &left)))
		if (m->msg == CURLMSG_DONE) {
			char *d = NULL;
			CURLcode code = m->data.result;

			curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &d);
			finished((struct device *)(void *)d, code);
		}
}

static void *run(void *arg)
{
	struct worker *w = arg;
	struct epoll_event ev[256];
	double next_wake = -1.0, t0 = now_mono();

	for (size_t i = 0; i < w->ndev; i++) {
		struct device *d = &w->dev[i];

		/* paced: turns spread evenly over the first interval */
		d->turn = t0 + (double)(w->id + i * cfg.threads) / (cfg.rate > 0 ? cfg.rate : 1.0);
		if (cfg.rate > 0) {
			d->wake = d->turn;
			w->waiting++;
		} else {
			start_lease(d);
		}
	}
	for (;;) {
		double t = now_mono(), wait_s = 0.01;
		int n, still = 0;

		if (t >= t_end) {
			size_t busy = 0;

			for (size_t i = 0; i < w->ndev; i++)
				busy += (size_t)w->dev[i].busy;
			if (!busy)
				break;
			if (t >= t_end + cfg.drain) {
				w->unfinished = busy;
				break;
			}
			wait_s = 0.001;
		}
		if (w->timer_at >= 0 && w->timer_at - t < wait_s)
			wait_s = w->timer_at - t;
		if (next_wake >= 0 && next_wake - t < wait_s)
			wait_s = next_wake - t;
		n = epoll_wait(w->epfd, ev, 256, wait_s <= 0 ? 0 : (int)(wait_s * 1000.0) + 1);
		for (int i = 0; i < n; i++) {
			int flags = (ev[i].events & EPOLLIN ? CURL_CSELECT_IN : 0) |
			            (ev[i].events & EPOLLOUT ? CURL_CSELECT_OUT : 0) |
			            (ev[i].events & (EPOLLERR | EPOLLHUP) ? CURL_CSELECT_ERR : 0);

			curl_multi_socket_action(w->multi, ev[i].data.fd, flags, &still);
		}
		t = now_mono();
		if (w->timer_at >= 0 && t >= w->timer_at) {
			w->timer_at = -1.0;
			curl_multi_socket_action(w->multi, CURL_SOCKET_TIMEOUT, 0, &still);
		}
		drain_messages(w);
		/* devices waiting for their turn, or after a transport error */
		next_wake = -1.0;
		for (size_t i = 0; w->waiting && t < t_end && i < w->ndev; i++) {
			struct device *d = &w->dev[i];

			if (d->busy || d->wake <= 0)
				continue;
			if (t >= d->wake) {
				w->waiting--;
				d->wake = 0;
				start_lease(d);
			} else if (next_wake < 0 || d->wake < next_wake) {
				next_wake = d->wake;
			}
		}
	}
	return NULL;
}

/* ---- set-up ---- */

static void worker_init(struct worker *w, unsigned id, struct device *dev, size_t n)
{
	w->id = id;
	w->dev = dev;
	w->ndev = n;
	w->timer_at = -1.0;
	randombytes_buf(w->nonce_seed, sizeof w->nonce_seed);
	if ((w->epfd = epoll_create1(0)) < 0 || !(w->multi = curl_multi_init()))
		die("cannot set up epoll or libcurl");
	curl_multi_setopt(w->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
	curl_multi_setopt(w->multi, CURLMOPT_SOCKETDATA, w);
	curl_multi_setopt(w->multi, CURLMOPT_TIMERFUNCTION, on_timer);
	curl_multi_setopt(w->multi, CURLMOPT_TIMERDATA, w);
	curl_multi_setopt(w->multi, CURLMOPT_MAXCONNECTS, (long)n + 16);
	curl_multi_setopt(w->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)n);
	curl_multi_setopt(w->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_NOTHING);
	for (size_t i = 0; i < n; i++) {
		struct device *d = &dev[i];

		d->w = w;
		crypto_sign_keypair(d->pk, d->sk);
		sodium_bin2base64(d->key64, sizeof d->key64, d->pk, G2T_PK_SIZE,
		                  sodium_base64_VARIANT_ORIGINAL);
		if (!(d->easy = curl_easy_init()))
			die("curl_easy_init failed");
		curl_easy_setopt(d->easy, CURLOPT_PRIVATE, (char *)d);
		curl_easy_setopt(d->easy, CURLOPT_WRITEFUNCTION, on_data);
		curl_easy_setopt(d->easy, CURLOPT_WRITEDATA, d);
		curl_easy_setopt(d->easy, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
		curl_easy_setopt(d->easy, CURLOPT_TCP_NODELAY, 1L);
		curl_easy_setopt(d->easy, CURLOPT_NOSIGNAL, 1L);
		curl_easy_setopt(d->easy, CURLOPT_CONNECTTIMEOUT, 10L);
		curl_easy_setopt(d->easy, CURLOPT_TIMEOUT, 30L);
		curl_easy_setopt(d->easy, CURLOPT_POST, 1L);
		curl_easy_setopt(d->easy, CURLOPT_PROXY, "");
		if (cfg.cacert)
			curl_easy_setopt(d->easy, CURLOPT_CAINFO, cfg.cacert);
		if (cfg.fresh) {
			curl_easy_setopt(d->easy, CURLOPT_FRESH_CONNECT, 1L);
			curl_easy_setopt(d->easy, CURLOPT_FORBID_REUSE, 1L);
		}
		if (cfg.full_handshake)
			curl_easy_setopt(d->easy, CURLOPT_SSL_SESSIONID_CACHE, 0L);
		if (cfg.presign) {
			if (!(d->pre = calloc(cfg.presign, sizeof *d->pre)))
				die("out of memory");
			for (size_t k = 0; k < cfg.presign; k++)
				sign_request(w, d, &d->pre[k], "/v1/lease");
			d->npre = cfg.presign;
		}
	}
}

static void worker_free(struct worker *w)
{
	for (size_t i = 0; i < w->ndev; i++) {
		struct device *d = &w->dev[i];

		if (d->busy)
			curl_multi_remove_handle(w->multi, d->easy);
		curl_easy_cleanup(d->easy);
		curl_slist_free_all(d->hdrs);
		free(d->resp.p);
		free(d->body);
		free(d->pre);
		sodium_memzero(d->sk, sizeof d->sk);
	}
	curl_multi_cleanup(w->multi);
	close(w->epfd);
	free(w->zeros);
	for (int k = 0; k < KINDS; k++)
		free(w->st[k].ms);
}

/* ---- CPU accounting ---- */

/* utime + stime of a process in seconds (user, system), or -1. */
static int proc_cpu(long pid, double *user, double *sys)
{
	char path[64], text[4096], *p;
	unsigned long long ut, st;
	FILE *f;
	size_t n;

	if (pid > 0)
		snprintf(path, sizeof path, "/proc/%ld/stat", pid);
	else
		snprintf(path, sizeof path, "/proc/self/stat");
	if (!(f = fopen(path, "r")))
		return -1;
	n = fread(text, 1, sizeof text - 1, f);
	fclose(f);
	text[n] = '\0';
	/* after the ")" ending the command name: fields 3.. ; utime, stime are 14, 15 */
	if (!(p = strrchr(text, ')')) ||
	    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
		return -1;
	*user = (double)ut / (double)sysconf(_SC_CLK_TCK);
	*sys = (double)st / (double)sysconf(_SC_CLK_TCK);
	return 0;
}

/* Busy, interrupt (irq + softirq: loopback TCP runs much of its receive
 * path there) and total CPU seconds of the machine (all cores). */
static int machine_cpu(double *busy, double *irq, double *total)
{
	unsigned long long v[10] = { 0 };
	FILE *f = fopen("/proc/stat", "r");
	int n;

	if (!f)
		return -1;
	n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1],
	           &v[2], &v[3], &v[4], &v[5], &v[6], &v[7], &v[8], &v[9]);
	fclose(f);
	if (n < 5)
		return -1;
	*total = 0;
	for (int i = 0; i < 8; i++) /* guest time is already in user */
		*total += (double)v[i];
	*busy = *total - (double)v[3] - (double)v[4]; /* minus idle and iowait */
	*busy /= (double)sysconf(_SC_CLK_TCK);
	*irq = (double)(v[5] + v[6]) / (double)sysconf(_SC_CLK_TCK);
	*total /= (double)sysconf(_SC_CLK_TCK);
	return 0;
}

struct cpu_sample {
	double self_u, self_s, srv_u, srv_s, busy, irq, total;
	int self_ok, srv_ok, machine_ok;
};

static void cpu_sample(struct cpu_sample *c)
{
	c->self_ok = !proc_cpu(0, &c->self_u, &c->self_s);
	c->srv_ok = cfg.server_pid > 0 && !proc_cpu(cfg.server_pid, &c->srv_u, &c->srv_s);
	c->machine_ok = !machine_cpu(&c->busy, &c->irq, &c->total);
}

/* ---- report ---- */

static int by_value(const void *a, const void *b)
{
	float x = *(const float *)a, y = *(const float *)b;

	return (x > y) - (x < y);
}

static double percentile(const float *v, size_t n, double q)
{
	size_t i;

	if (!n)
		return 0.0;
	i = (size_t)(q * (double)(n - 1) + 0.5);
	return v[i < n ? i : n - 1];
}

static void usage(void)
{
	fprintf(stderr,
	        "usage: loadgen --url http://HOST:PORT [--mode lease|lease+result]\n"
	        "               [--devices N] [--seconds S] [--warmup S] [--threads T]\n"
	        "               [--drain S] [--presign N] [--batch N] [--rate R]\n"
	        "               [--server-pid PID] [--cacert FILE] [--fresh yes|full]\n"
	        "--fresh: a new connection a request (yes: TLS sessions resumed, full: not)\n");
	exit(2);
}

static double number(const char *s, double lo, double hi)
{
	char *end;
	double v = strtod(s, &end);

	if (end == s || *end || !(v >= lo && v <= hi))
		usage();
	return v;
}

int main(int argc, char **argv)
{
	struct worker *w;
	struct device *dev;
	struct stats all[KINDS] = { 0 };
	struct cpu_sample c0, c1;
	uint64_t late = 0, unfinished = 0, signatures = 0, packets = 0, errors = 0;
	double sign_s = 0, pack_s = 0, p[KINDS][5] = { { 0 } };
	size_t at = 0;

	for (int i = 1; i < argc; i++) {
		const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!v)
			usage();
		if (!strcmp(o, "--url"))
			cfg.url = v;
		else if (!strcmp(o, "--mode") && (!strcmp(v, "lease") || !strcmp(v, "lease+result")))
			cfg.results = !strcmp(v, "lease+result");
		else if (!strcmp(o, "--devices"))
			cfg.devices = (size_t)number(v, 1, 100000);
		else if (!strcmp(o, "--threads"))
			cfg.threads = (unsigned)number(v, 1, 64);
		else if (!strcmp(o, "--seconds"))
			cfg.seconds = number(v, 0.1, 3600);
		else if (!strcmp(o, "--warmup"))
			cfg.warmup = number(v, 0, 600);
		else if (!strcmp(o, "--drain"))
			cfg.drain = number(v, 0, 600);
		else if (!strcmp(o, "--presign"))
			cfg.presign = (size_t)number(v, 0, 1e6);
		else if (!strcmp(o, "--batch"))
			cfg.batch = (unsigned)number(v, 1, BATCH_MAX);
		else if (!strcmp(o, "--rate"))
			cfg.rate = number(v, 1, 1e7);
		else if (!strcmp(o, "--cacert"))
			cfg.cacert = v;
		else if (!strcmp(o, "--fresh") && (!strcmp(v, "yes") || !strcmp(v, "full"))) {
			cfg.fresh = 1;
			cfg.full_handshake = !strcmp(v, "full");
		} else if (!strcmp(o, "--server-pid"))
			cfg.server_pid = (long)number(v, 1, 1e9);
		else
			usage();
		i++;
	}
	if (!cfg.url)
		usage();
	if (cfg.threads > cfg.devices)
		cfg.threads = (unsigned)cfg.devices;
	snprintf(cfg.lease_url, sizeof cfg.lease_url, "%s/v1/lease", cfg.url);
	snprintf(cfg.results_url, sizeof cfg.results_url, "%s/v1/results", cfg.url);
	/* zlib's deflate state (g2t_packet_build) is above glibc's mmap
	 * threshold: without this every packet maps and faults in fresh pages */
	mallopt(M_MMAP_THRESHOLD, 64 << 20);
	mallopt(M_TRIM_THRESHOLD, 128 << 20);
	if (sodium_init() < 0 || curl_global_init(CURL_GLOBAL_DEFAULT))
		die("cannot initialise libsodium or libcurl");
	g2t_crypto_init();

	/* keys (and presigned requests) before the clock starts */
	w = calloc(cfg.threads, sizeof *w);
	dev = calloc(cfg.devices, sizeof *dev);
	if (!w || !dev)
		die("out of memory");
	t_begin = t_end = 1e300; /* nothing is counted while presigning */
	for (unsigned i = 0; i < cfg.threads; i++) {
		size_t n = cfg.devices / cfg.threads + (i < cfg.devices % cfg.threads);

		worker_init(&w[i], i, dev + at, n);
		at += n;
	}
	t_begin = now_mono() + cfg.warmup;
	t_end = t_begin + cfg.seconds;
	for (unsigned i = 0; i < cfg.threads; i++)
		if (pthread_create(&w[i].thread, NULL, run, &w[i]))
			die("cannot start a thread");
	/* CPU is sampled at the window's edges */
	sleep_until(t_begin);
	cpu_sample(&c0);
	sleep_until(t_end);
	cpu_sample(&c1);
	for (unsigned i = 0; i < cfg.threads; i++)
		pthread_join(w[i].thread, NULL);

	for (unsigned i = 0; i < cfg.threads; i++) {
		late += w[i].late;
		unfinished += w[i].unfinished;
		signatures += w[i].signatures;
		packets += w[i].packets;
		sign_s += w[i].sign_s;
		pack_s += w[i].pack_s;
		for (int k = 0; k < KINDS; k++) {
			struct stats *s = &w[i].st[k], *a = &all[k];

			for (int j = 0; j < STATUS_MAX; j++)
				a->status[j] += s->status[j];
			for (int j = 0; j < CURL_LAST; j++)
				a->curl_error[j] += s->curl_error[j];
			a->accepted += s->accepted;
			a->leased += s->leased;
			a->ignored += s->ignored;
			a->refused += s->refused;
			a->duplicate += s->duplicate;
			a->bad_body += s->bad_body;
			a->bytes_up += s->bytes_up;
			a->bytes_down += s->bytes_down;
			for (size_t j = 0; j < s->n; j++)
				add_latency(a, s->ms[j]);
		}
	}

	printf("loadgen: %s, %zu devices on %u thread%s, %.1f s measured after %.1f s warm-up, %s%s\n",
	       cfg.results ? "lease+result" : "lease", cfg.devices, cfg.threads,
	       cfg.threads == 1 ? "" : "s", cfg.seconds, cfg.warmup, cfg.url,
	       cfg.presign ? " (lease requests presigned)" : "");
	if (cfg.batch > 1 || cfg.rate > 0)
		printf("loadgen: %u task%s a lease request; %s\n", cfg.batch, cfg.batch > 1 ? "s" : "",
		       cfg.rate > 0 ? "paced" : "unpaced");
	if (cfg.rate > 0)
		printf("loadgen: paced at %.0f lease requests/s in all\n", cfg.rate);
	printf("%-7s %9s %9s | %8s %8s %8s %8s | %s\n", "kind", "requests", "per s",
	       "p50 ms", "p90 ms", "p99 ms", "max ms", "HTTP status: count");
	for (int k = 0; k < KINDS; k++) {
		struct stats *a = &all[k];
		char codes[512] = "";
		size_t used = 0;

		if (!a->n)
			continue;
		qsort(a->ms, a->n, sizeof *a->ms, by_value);
		p[k][0] = percentile(a->ms, a->n, 0.50);
		p[k][1] = percentile(a->ms, a->n, 0.90);
		p[k][2] = percentile(a->ms, a->n, 0.99);
		p[k][3] = a->ms[a->n - 1];
		for (int j = 0; j < STATUS_MAX && used < sizeof codes - 32; j++)
			if (a->status[j])
				used += (size_t)snprintf(codes + used, sizeof codes - used, "%s%d: %llu",
				                         used ? ", " : "", j,
				                         (unsigned long long)a->status[j]);
		printf("%-7s %9zu %9.0f | %8.2f %8.2f %8.2f %8.2f | %s\n", kind_name[k], a->n,
		       (double)a->n / cfg.seconds, p[k][0], p[k][1], p[k][2], p[k][3],
		       used ? codes : "-");
		printf("        bodies: %.0f bytes up, %.0f bytes down per request on average\n",
		       (double)a->bytes_up / (double)a->n, (double)a->bytes_down / (double)a->n);
		for (int j = 0; j < CURL_LAST; j++)
			if (a->curl_error[j]) {
				printf("        transport error: %s: %llu\n",
				       curl_easy_strerror((CURLcode)j),
				       (unsigned long long)a->curl_error[j]);
				errors += a->curl_error[j];
			}
	}
	printf("leases: %.0f/s granted in %.0f answers/s (200), %.0f/s no task free (204)\n",
	       (double)all[LEASE].leased / cfg.seconds,
	       (double)all[LEASE].status[200] / cfg.seconds,
	       (double)all[LEASE].status[204] / cfg.seconds);
	if (cfg.results)
		printf("results: %.0f/s accepted, %.0f/s ignored (stale), %llu refused, %llu duplicate,"
		       " %llu unreadable answers or leases\n",
		       (double)all[RESULT].accepted / cfg.seconds,
		       (double)all[RESULT].ignored / cfg.seconds,
		       (unsigned long long)all[RESULT].refused,
		       (unsigned long long)all[RESULT].duplicate,
		       (unsigned long long)(all[RESULT].bad_body + all[LEASE].bad_body));
	printf("requests finished after the window: %llu; still running after a %.0f s drain: %llu\n",
	       (unsigned long long)late, cfg.drain, (unsigned long long)unfinished);
	printf("client work in the window: %llu lease signatures (%.1f us each), "
	       "%llu result packets built (%.1f us each)\n",
	       (unsigned long long)signatures, signatures ? 1e6 * sign_s / (double)signatures : 0.0,
	       (unsigned long long)packets, packets ? 1e6 * pack_s / (double)packets : 0.0);
	{
		double span = cfg.seconds;
		double self = c1.self_ok && c0.self_ok ? (c1.self_u + c1.self_s - c0.self_u - c0.self_s) / span : -1;
		double srv = c1.srv_ok && c0.srv_ok ? (c1.srv_u + c1.srv_s - c0.srv_u - c0.srv_s) / span : -1;
		double busy = c1.machine_ok && c0.machine_ok ? (c1.busy - c0.busy) / span : -1;

		printf("cpu in the window (100%% = one core, %ld cores):", sysconf(_SC_NPROCESSORS_ONLN));
		if (srv >= 0)
			printf(" server %.0f%% (user %.0f%%, sys %.0f%%),", 100 * srv,
			       100 * (c1.srv_u - c0.srv_u) / span, 100 * (c1.srv_s - c0.srv_s) / span);
		if (self >= 0)
			printf(" loadgen %.0f%% (user %.0f%%, sys %.0f%%),", 100 * self,
			       100 * (c1.self_u - c0.self_u) / span, 100 * (c1.self_s - c0.self_s) / span);
		if (busy >= 0)
			printf(" machine busy %.0f%%", 100 * busy);
		if (busy >= 0)
			printf(" (irq+softirq %.0f%%)", 100 * (c1.irq - c0.irq) / span);
		if (busy >= 0 && srv >= 0 && self >= 0)
			printf("; the rest (interrupts, kernel threads, other processes) %.0f%%",
			       100 * (busy - srv - self));
		printf("\n");
		printf("loadgen: mode=%s devices=%zu batch=%u seconds=%.1f leases_per_s=%.0f"
		       " lease_requests_per_s=%.0f no_work_per_s=%.0f"
		       " lease_p50_ms=%.2f lease_p90_ms=%.2f lease_p99_ms=%.2f lease_max_ms=%.2f"
		       " results_per_s=%.0f accepted_per_s=%.0f result_p50_ms=%.2f result_p90_ms=%.2f"
		       " result_p99_ms=%.2f result_max_ms=%.2f errors=%llu non_2xx=%llu"
		       " cpu_server=%.0f cpu_loadgen=%.0f cpu_machine=%.0f connections=%s\n",
		       cfg.results ? "lease+result" : "lease", cfg.devices, cfg.batch, cfg.seconds,
		       (double)all[LEASE].leased / cfg.seconds,
		       (double)all[LEASE].status[200] / cfg.seconds,
		       (double)all[LEASE].status[204] / cfg.seconds, p[LEASE][0], p[LEASE][1],
		       p[LEASE][2], p[LEASE][3], (double)all[RESULT].n / cfg.seconds,
		       (double)all[RESULT].accepted / cfg.seconds, p[RESULT][0], p[RESULT][1],
		       p[RESULT][2], p[RESULT][3], (unsigned long long)errors,
		       (unsigned long long)(all[LEASE].n + all[RESULT].n - all[LEASE].status[200] -
		                            all[LEASE].status[204] - all[RESULT].status[200] - errors),
		       100 * srv, 100 * self, 100 * busy,
		       !cfg.fresh ? "keep-alive" : cfg.full_handshake ? "fresh-full" : "fresh");
	}
	for (unsigned i = 0; i < cfg.threads; i++)
		worker_free(&w[i]);
	for (int k = 0; k < KINDS; k++)
		free(all[k].ms);
	free(w);
	free(dev);
	curl_global_cleanup();
	return errors || unfinished ? 1 : 0;
}
