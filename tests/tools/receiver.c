/* receiver: loopback HTTP server that takes g2t-pack --send uploads (tests). */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>
#include <sodium.h>

#include "core/g2t_core.h"

#define PATH "/v1/results"
#define PACKET 6	/* record type whose payload is hashed */
#define REFUSED "{\"status\":\"refused\",\"reason\":\"test\"}\n"

static const char usage[] =
	"usage: receiver [options]\n"
	"Serve POST " PATH " on 127.0.0.1 and acknowledge each packet's BLAKE2b digest.\n"
	"  --port N          port to bind (default 0: the kernel picks one)\n"
	"  --port-file FILE  write the bound port to FILE (via FILE.tmp + rename)\n"
	"  --dir DIR         save each body answered 200 as DIR/<seq>.pkt (seq from 1)\n"
	"  --log FILE        append '<method> <path> <status> <body bytes>' per request\n"
	"  --mode MODE       ack (default), refuse (403), fail (503 first N times),\n"
	"                    busy (429), wrong-digest (200, zero digest), slow (late ack)\n"
	"  --fail-count N    requests refused with 503 in mode fail (default 1)\n"
	"  --delay-ms MS     delay before answering in mode slow (default 3000)\n"
	"  --max-requests N  exit 0 after answering N requests (default 0: no limit)\n"
	"  --max-body BYTES  larger bodies get 413 (default 16777216)\n"
	"  --help            show this help\n"
	"The port is also printed on stdout. SIGTERM or SIGINT stops the server.\n";

static struct {
	unsigned long port;		/* port to bind, 0 = any free port */
	const char *port_file;		/* where to publish the bound port */
	const char *dir;		/* where to save accepted bodies, or NULL */
	const char *log;		/* request log file name, or NULL */
	const char *mode;		/* how to answer valid uploads */
	unsigned long fail_count;	/* 503 answers before acking (mode fail) */
	unsigned long delay_ms;		/* sleep before the ack (mode slow) */
	unsigned long max_requests;	/* stop after this many answers, 0 = never */
	unsigned long max_body;		/* largest body accepted, in bytes */
} opt = { 0, NULL, NULL, NULL, "ack", 1, 3000, 0, 16UL << 20 };

static FILE *log_file;			/* request log, or NULL */
static atomic_ulong answered;		/* requests answered so far */
static atomic_ulong failed;		/* 503 answers given (mode fail) */
static atomic_ulong seq;		/* bodies saved so far */
static atomic_int stopping;		/* set once shutdown has begun */

struct request {
	const char *method;	/* HTTP method (owned by MHD) */
	const char *url;	/* request path (owned by MHD) */
	unsigned char *buf;	/* body received so far, or NULL */
	size_t len;		/* bytes held in buf */
	size_t seen;		/* body bytes received, kept or not */
	int too_big;		/* body went over --max-body (or out of memory) */
	unsigned status;	/* HTTP status answered, 0 = none yet */
};

static _Noreturn void die(int code, const char *fmt, ...)
{
	va_list ap;

	fputs("receiver: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs(code == 2 ? "\nTry 'receiver --help'.\n" : "\n", stderr);
	exit(code);
}

static enum MHD_Result reply(struct MHD_Connection *c, struct request *r, unsigned status,
			     const char *body, const char *hdr, const char *val)
{
	struct MHD_Response *res;
	enum MHD_Result ret;

	res = MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
	if (!res)
		return MHD_NO;
	MHD_add_response_header(res, MHD_HTTP_HEADER_CONTENT_TYPE,
				body[0] == '{' ? "application/json" : "text/plain");
	if (hdr)
		MHD_add_response_header(res, hdr, val);
	ret = MHD_queue_response(c, status, res);
	MHD_destroy_response(res);
	r->status = status;
	if (log_file) {
		fprintf(log_file, "%s %s %u %zu\n", r->method, r->url, status, r->seen);
		fflush(log_file);
	}
	return ret;
}

/* Keep a chunk of the body; past --max-body (or out of memory) drop it all. */
static void take(struct request *r, const char *data, size_t n)
{
	unsigned char *p = NULL;

	r->seen += n;
	if (!r->too_big && n <= opt.max_body - r->len && (p = realloc(r->buf, r->len + n))) {
		memcpy(p + r->len, data, n);
		r->buf = p, r->len += n;
		return;
	}
	free(r->buf);
	r->buf = NULL, r->len = 0, r->too_big = 1;
}

static uint32_t le32(const unsigned char *p)
{
	return p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Check the stream's framing and find the first PACKET payload; NULL if ok. */
static const char *find_packet(const unsigned char *b, size_t n,
			       const unsigned char **pl, uint32_t *plen)
{
	static const unsigned char magic[8] = { 0x89, 'G', '2', 'T', G2T_FORMAT_VERSION, 0, 0, 0 };
	size_t at = 8;

	*pl = NULL;
	if (n < 8 || memcmp(b, magic, 8))
		return "not a G2T stream\n";
	while (at < n) {
		uint32_t type, len;

		if (n - at < 8)
			return "truncated record header\n";
		type = le32(b + at), len = le32(b + at + 4);
		if (n - at - 8 < (size_t)len + 4)
			return "truncated record\n";
		if (type == PACKET && !*pl)
			*pl = b + at + 8, *plen = len;
		at += 8 + (size_t)len + 4;
	}
	return *pl ? NULL : "no PACKET record\n";
}

static int save(const struct request *r)
{
	char path[4096];
	FILE *f;
	int ok;

	if (!opt.dir)
		return 1;
	snprintf(path, sizeof path, "%s/%lu.pkt", opt.dir, atomic_fetch_add(&seq, 1) + 1);
	f = fopen(path, "wb");
	ok = f && fwrite(r->buf, 1, r->len, f) == r->len;
	if (f && fclose(f))
		ok = 0;
	if (!ok)
		fprintf(stderr, "receiver: cannot write %s: %s\n", path, strerror(errno));
	return ok;
}

/* Sleep for ms milliseconds, or until shutdown begins. */
static void nap(unsigned long ms)
{
	for (; ms > 0 && !stopping; ms -= ms < 10 ? ms : 10)
		nanosleep(&(struct timespec){ 0, 10 * 1000000L }, NULL);
}

static enum MHD_Result answer(struct MHD_Connection *c, struct request *r)
{
	unsigned char digest[32] = { 0 };
	char hex[65], json[128];
	const unsigned char *pl;
	const char *why;
	uint32_t plen = 0;

	if (r->too_big)
		return reply(c, r, 413, "body too large\n", NULL, NULL);
	if ((why = find_packet(r->buf, r->len, &pl, &plen)))
		return reply(c, r, 400, why, NULL, NULL);
	if (!strcmp(opt.mode, "refuse"))
		return reply(c, r, 403, REFUSED, NULL, NULL);
	if (!strcmp(opt.mode, "busy"))
		return reply(c, r, 429, "busy\n", MHD_HTTP_HEADER_RETRY_AFTER, "2");
	if (!strcmp(opt.mode, "fail") && atomic_fetch_add(&failed, 1) < opt.fail_count)
		return reply(c, r, 503, "try again\n", MHD_HTTP_HEADER_RETRY_AFTER, "1");
	if (!strcmp(opt.mode, "slow"))
		nap(opt.delay_ms);
	if (stopping)	/* shutting down: ack nothing */
		return reply(c, r, 503, "shutting down\n", MHD_HTTP_HEADER_RETRY_AFTER, "1");
	if (!save(r))
		return reply(c, r, 500, "cannot save body\n", NULL, NULL);
	if (strcmp(opt.mode, "wrong-digest"))
		crypto_generichash(digest, sizeof digest, pl, plen, NULL, 0);
	sodium_bin2hex(hex, sizeof hex, digest, sizeof digest);
	snprintf(json, sizeof json, "{\"digest\":\"%s\",\"status\":\"accepted\"}\n", hex);
	return reply(c, r, 200, json, NULL, NULL);
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
			      const char *method, const char *version, const char *data,
			      size_t *size, void **con_cls)
{
	struct request *r = *con_cls;
	const char *cl;

	(void)cls, (void)version;
	if (!r) {	/* first call: only the headers are known */
		if (!(r = calloc(1, sizeof *r)))
			return MHD_NO;
		*con_cls = r, r->method = method, r->url = url;
		if (strcmp(url, PATH))
			return reply(c, r, 404, "not found\n", NULL, NULL);
		if (strcmp(method, "POST"))
			return reply(c, r, 405, "use POST\n", MHD_HTTP_HEADER_ALLOW, "POST");
		cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
		if (cl && strtoull(cl, NULL, 10) > opt.max_body)	/* early 413 */
			return reply(c, r, 413, "body too large\n", NULL, NULL);
		return MHD_YES;
	}
	if (r->status)	/* answered early: drop the rest of the body */
		return *size = 0, MHD_YES;
	if (*size) {
		take(r, data, *size);
		*size = 0;
		return MHD_YES;
	}
	return answer(c, r);
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls,
		      enum MHD_RequestTerminationCode toe)
{
	struct request *r = *con_cls;

	(void)cls, (void)c, (void)toe;
	if (!r)
		return;
	if (r->status && atomic_fetch_add(&answered, 1) + 1 == opt.max_requests)
		kill(getpid(), SIGUSR1);	/* wakes sigwait() in main */
	free(r->buf);
	free(r);
	*con_cls = NULL;
}

static int number(const char *s, unsigned long max, unsigned long *out)
{
	char *end;

	errno = 0;
	*out = strtoul(s, &end, 10);
	return s[0] >= '0' && s[0] <= '9' && !*end && !errno && *out <= max;
}

static void parse(int argc, char **argv)
{
	static const struct {
		const char *name;	/* option name */
		unsigned long *num;	/* numeric destination, or NULL */
		unsigned long max;	/* largest accepted number */
		const char **str;	/* string destination, or NULL */
	} opts[] = {
		{ "--port", &opt.port, 65535, NULL },
		{ "--fail-count", &opt.fail_count, ULONG_MAX, NULL },
		{ "--delay-ms", &opt.delay_ms, 86400000, NULL },
		{ "--max-requests", &opt.max_requests, ULONG_MAX, NULL },
		{ "--max-body", &opt.max_body, SIZE_MAX / 2, NULL },
		{ "--port-file", NULL, 0, &opt.port_file },
		{ "--dir", NULL, 0, &opt.dir },
		{ "--log", NULL, 0, &opt.log },
		{ "--mode", NULL, 0, &opt.mode },
	};
	static const char modes[] = " ack refuse fail busy wrong-digest slow ";
	char word[32];
	size_t i, n = sizeof opts / sizeof opts[0];

	for (int a = 1; a < argc; a += 2) {
		if (!strcmp(argv[a], "--help"))
			fputs(usage, stdout), exit(0);
		for (i = 0; i < n && strcmp(argv[a], opts[i].name); i++)
			;
		if (i == n)
			die(2, "unknown option: %s", argv[a]);
		if (a + 1 == argc)
			die(2, "missing value for %s", argv[a]);
		if (opts[i].str)
			*opts[i].str = argv[a + 1];
		else if (!number(argv[a + 1], opts[i].max, opts[i].num))
			die(2, "bad number for %s: %s", argv[a], argv[a + 1]);
	}
	snprintf(word, sizeof word, " %s ", opt.mode);
	if (strlen(opt.mode) > 20 || !strstr(modes, word))
		die(2, "unknown mode: %s", opt.mode);
}

static void publish(unsigned port)
{
	char tmp[4096];
	FILE *f;

	printf("%u\n", port);
	fflush(stdout);
	if (!opt.port_file)
		return;
	snprintf(tmp, sizeof tmp, "%s.tmp", opt.port_file);
	f = fopen(tmp, "w");
	if (!f || fprintf(f, "%u\n", port) < 0 || fclose(f) || rename(tmp, opt.port_file))
		die(1, "%s: %s", opt.port_file, strerror(errno));
}

int main(int argc, char **argv)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	const union MHD_DaemonInfo *info;
	struct MHD_Daemon *d;
	sigset_t set;
	int sig;

	parse(argc, argv);
	if (sodium_init() < 0)
		die(1, "cannot initialise libsodium");
	if (opt.log && !(log_file = fopen(opt.log, "a")))
		die(1, "%s: %s", opt.log, strerror(errno));
	sigemptyset(&set);
	sigaddset(&set, SIGTERM), sigaddset(&set, SIGINT), sigaddset(&set, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &set, NULL);	/* MHD threads inherit the mask */
	sa.sin_port = htons((uint16_t)opt.port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
			     MHD_USE_ERROR_LOG, (uint16_t)opt.port, NULL, NULL, handle, NULL,
			     MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
			     MHD_OPTION_NOTIFY_COMPLETED, completed, NULL, MHD_OPTION_END);
	if (!d)
		die(1, "cannot listen on 127.0.0.1:%lu", opt.port);
	info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
	if (!info || !info->port)
		die(1, "cannot get the bound port");
	publish(info->port);
	sigwait(&set, &sig);
	stopping = 1;
	MHD_stop_daemon(d);
	if (log_file)
		fclose(log_file);
	return 0;
}
