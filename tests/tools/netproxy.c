/*
 * netproxy: a TCP relay that gives one device's path the delay, jitter, loss
 * and outages of a poor link, where the kernel has no netem (tests/net/).
 * Rate limits come from tc tbf on the test's veth pairs, not from here.
 *
 * Each direction of a connection is a queue of segments of at most MSS
 * bytes, each released to the other side one way's delay after it was read
 * (plus jitter), never before the segment ahead of it: a stream stays in
 * order, as TCP keeps it.  A lost segment is released one retransmission
 * timeout late, holding up the ones behind it, as TCP's would.  During an
 * outage nothing is released and new connections wait; what was held flows
 * when the link returns.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MSS 1460
#define QUEUE_MAX (256 * 1024) /* bytes held a direction before reading stops */
#define CONNS_MAX 64
#define RTO_MIN_MS 200

static const char usage[] =
	"usage: netproxy --to ADDR:PORT [options]\n"
	"Relay TCP connections to ADDR:PORT through a simulated link.\n"
	"  --listen ADDR:PORT  where to listen (127.0.0.1:0)\n"
	"  --rtt MS            round-trip delay added (0)\n"
	"  --jitter MS         each one-way delay varies by up to +-MS/2 (0)\n"
	"  --loss P            probability a segment is lost and resent (0)\n"
	"  --outage ON/EVERY   ON seconds without a link every EVERY seconds\n"
	"  --seed N            loss, jitter and outage phase (1)\n"
	"  --port-file FILE    write the port listened on to FILE\n"
	"  --stats FILE        write connections, requests and bytes at exit\n"
	"SIGTERM or SIGINT stops it.\n";

struct segment {
	struct segment *next;
	int64_t release_ms; /* when it may be written out */
	uint32_t len, off;  /* bytes, bytes already written */
	uint8_t data[];
};

struct direction {
	struct segment *head, *tail;
	uint32_t queued;    /* bytes held */
	int64_t last_ms;    /* release time of the tail: order is kept */
	int eof;            /* the source has closed its side */
	int shut;           /* the destination was told (shutdown) */
	unsigned match;     /* bytes of a request line matched so far */
	int which;          /* which pattern is being matched */
};

/* A relayed connection: fd[0] the device, fd[1] the server; dir[0] flows
 * device to server, dir[1] back. */
struct conn {
	int fd[2];
	struct direction dir[2];
};

static struct {
	struct sockaddr_in listen, to;
	int64_t rtt_ms, jitter_ms;
	double loss;
	int64_t outage_s, every_s;
	uint32_t seed;
	const char *port_file, *stats;
} opt;

static struct conn conns[CONNS_MAX];
static int nconns;
static uint64_t rng;
static int64_t start_ms, phase_ms;
static unsigned long long bytes[2], requests, connections;
static volatile sig_atomic_t stopping;

static _Noreturn void die(const char *fmt, ...)
{
	va_list ap;

	fputs("netproxy: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

static int64_t now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* Uniform in [0, 1): splitmix64. */
static double uniform(void)
{
	uint64_t z = (rng += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return (double)((z ^ (z >> 31)) >> 11) / 9007199254740992.0;
}

static void parse_addr(struct sockaddr_in *a, const char *s)
{
	char host[64];
	const char *colon = strrchr(s, ':');
	char *end;
	unsigned long port;

	if (!colon || (size_t)(colon - s) >= sizeof host)
		die("'%s': want ADDR:PORT", s);
	memcpy(host, s, (size_t)(colon - s));
	host[colon - s] = '\0';
	port = strtoul(colon + 1, &end, 10);
	memset(a, 0, sizeof *a);
	a->sin_family = AF_INET;
	a->sin_port = htons((uint16_t)port);
	if (*end || port > 65535 || inet_pton(AF_INET, host, &a->sin_addr) != 1)
		die("'%s': want ADDR:PORT with an IPv4 address", s);
}

static double number(const char *s, double lo, double hi)
{
	char *end;
	double v = strtod(s, &end);

	if (end == s || *end || !(v >= lo && v <= hi))
		die("'%s': want a number from %g to %g", s, lo, hi);
	return v;
}

static void parse(int argc, char **argv)
{
	opt.seed = 1;
	parse_addr(&opt.listen, "127.0.0.1:0");
	for (int i = 1; i < argc; i++) {
		const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(o, "--help")) {
			fputs(usage, stdout);
			exit(0);
		}
		if (!v)
			die("%s: missing value (see --help)", o);
		i++;
		if (!strcmp(o, "--listen"))
			parse_addr(&opt.listen, v);
		else if (!strcmp(o, "--to"))
			parse_addr(&opt.to, v);
		else if (!strcmp(o, "--rtt"))
			opt.rtt_ms = (int64_t)number(v, 0, 60000);
		else if (!strcmp(o, "--jitter"))
			opt.jitter_ms = (int64_t)number(v, 0, 60000);
		else if (!strcmp(o, "--loss"))
			opt.loss = number(v, 0, 0.5);
		else if (!strcmp(o, "--seed"))
			opt.seed = (uint32_t)number(v, 0, 4294967295.0);
		else if (!strcmp(o, "--port-file"))
			opt.port_file = v;
		else if (!strcmp(o, "--stats"))
			opt.stats = v;
		else if (!strcmp(o, "--outage")) {
			char *slash = strchr(v, '/');

			if (!slash)
				die("--outage '%s': want ON/EVERY seconds", v);
			*slash = '\0';
			opt.outage_s = (int64_t)number(v, 0, 86400);
			opt.every_s = (int64_t)number(slash + 1, 1, 86400);
			if (opt.outage_s >= opt.every_s)
				die("--outage: ON must be shorter than EVERY");
		} else
			die("unknown option '%s' (see --help)", o);
	}
	if (!opt.to.sin_port)
		die("--to ADDR:PORT is required (see --help)");
}

/* Whether the link is down at time t: the last ON seconds of each period,
 * the periods shifted by the seed so that devices fail at different times. */
static int in_outage(int64_t t)
{
	int64_t every = opt.every_s * 1000, at;

	if (!opt.outage_s)
		return 0;
	at = (t - start_ms + phase_ms) % every;
	return at >= every - opt.outage_s * 1000;
}

/* Counts request lines ("GET /", "POST /") in the device's bytes. */
static void count_requests(struct direction *d, const uint8_t *p, size_t n)
{
	static const char *const pattern[2] = { "GET /", "POST /" };

	for (size_t i = 0; i < n; i++) {
		if (d->match && p[i] != (uint8_t)pattern[d->which][d->match])
			d->match = 0;
		if (!d->match) {
			d->which = p[i] == 'P';
			if (p[i] != (uint8_t)pattern[d->which][0])
				continue;
		}
		if (!pattern[d->which][++d->match]) {
			requests++;
			d->match = 0;
		}
	}
}

/* Queues n bytes read at t, a segment at a time. */
static int enqueue(struct direction *d, const uint8_t *p, size_t n, int64_t t)
{
	int64_t oneway = opt.rtt_ms / 2, rto = opt.rtt_ms * 2;

	if (rto < RTO_MIN_MS)
		rto = RTO_MIN_MS;
	while (n) {
		uint32_t len = n < MSS ? (uint32_t)n : MSS;
		struct segment *s = malloc(sizeof *s + len);
		int64_t at = t + oneway;

		if (!s)
			return -1;
		if (opt.jitter_ms)
			at += (int64_t)((uniform() - 0.5) * (double)opt.jitter_ms);
		while (opt.loss > 0 && uniform() < opt.loss)
			at += rto;
		if (at < d->last_ms)
			at = d->last_ms;
		d->last_ms = at;
		s->next = NULL;
		s->release_ms = at;
		s->len = len;
		s->off = 0;
		memcpy(s->data, p, len);
		if (d->tail)
			d->tail->next = s;
		else
			d->head = s;
		d->tail = s;
		d->queued += len;
		p += len;
		n -= len;
	}
	return 0;
}

static void conn_close(int i)
{
	struct conn *c = &conns[i];

	for (int k = 0; k < 2; k++) {
		struct segment *s = c->dir[k].head;

		while (s) {
			struct segment *next = s->next;

			free(s);
			s = next;
		}
		close(c->fd[k]);
	}
	conns[i] = conns[--nconns];
}

static void accept_one(int lfd)
{
	int cfd = accept(lfd, NULL, NULL), sfd, one = 1;
	struct conn *c;

	if (cfd < 0)
		return;
	sfd = socket(AF_INET, SOCK_STREAM, 0);
	if (nconns == CONNS_MAX || sfd < 0 ||
	    connect(sfd, (struct sockaddr *)&opt.to, sizeof opt.to) != 0) {
		close(cfd);
		if (sfd >= 0)
			close(sfd);
		return;
	}
	for (int k = 0; k < 2; k++) {
		int fd = k ? sfd : cfd;

		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	}
	c = &conns[nconns++];
	memset(c, 0, sizeof *c);
	c->fd[0] = cfd;
	c->fd[1] = sfd;
	connections++;
}

/* Reads what fd k has into direction k; -1 when the connection is over. */
static int pull(struct conn *c, int k, int64_t t)
{
	uint8_t buf[16384];
	ssize_t n = read(c->fd[k], buf, sizeof buf);

	if (n == 0) {
		c->dir[k].eof = 1;
		return 0;
	}
	if (n < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -1;
	bytes[k] += (unsigned long long)n;
	if (k == 0)
		count_requests(&c->dir[0], buf, (size_t)n);
	return enqueue(&c->dir[k], buf, (size_t)n, t);
}

/* Writes direction k's released segments to the other side. */
static int push(struct conn *c, int k, int64_t t)
{
	struct direction *d = &c->dir[k];
	int out = c->fd[!k];

	while (d->head && d->head->release_ms <= t) {
		struct segment *s = d->head;
		ssize_t n = write(out, s->data + s->off, s->len - s->off);

		if (n < 0)
			return errno == EAGAIN || errno == EINTR ? 0 : -1;
		s->off += (uint32_t)n;
		d->queued -= (uint32_t)n;
		if (s->off < s->len)
			return 0;
		d->head = s->next;
		if (!d->head)
			d->tail = NULL;
		free(s);
	}
	if (!d->head && d->eof && !d->shut) {
		shutdown(out, SHUT_WR);
		d->shut = 1;
	}
	return 0;
}

static void write_stats(void)
{
	char tmp[4096];
	FILE *f;

	if (!opt.stats)
		return;
	snprintf(tmp, sizeof tmp, "%s.tmp", opt.stats);
	f = fopen(tmp, "w");
	if (!f)
		return;
	fprintf(f, "connections %llu\nrequests %llu\nbytes_up %llu\nbytes_down %llu\n",
	        connections, requests, bytes[0], bytes[1]);
	if (fclose(f) == 0)
		rename(tmp, opt.stats);
}

static void on_signal(int sig)
{
	(void)sig;
	stopping = 1;
}

static int listen_on(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
	socklen_t len = sizeof opt.listen;

	if (fd < 0)
		die("socket: %s", strerror(errno));
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (bind(fd, (struct sockaddr *)&opt.listen, sizeof opt.listen) != 0 ||
	    listen(fd, 64) != 0 ||
	    getsockname(fd, (struct sockaddr *)&opt.listen, &len) != 0)
		die("listen: %s", strerror(errno));
	if (opt.port_file) {
		char tmp[4096];
		FILE *f;

		snprintf(tmp, sizeof tmp, "%s.tmp", opt.port_file);
		f = fopen(tmp, "w");
		if (!f || fprintf(f, "%u\n", ntohs(opt.listen.sin_port)) < 0 ||
		    fclose(f) != 0 || rename(tmp, opt.port_file) != 0)
			die("%s: %s", opt.port_file, strerror(errno));
	}
	return fd;
}

/* One turn of the loop: wait for input, a writable side or a release. */
static void turn(int lfd)
{
	struct pollfd p[1 + 2 * CONNS_MAX];
	int64_t t = now_ms(), wake = t + 1000;
	int down = in_outage(t), n = 1;

	p[0] = (struct pollfd){ .fd = lfd, .events = down ? 0 : POLLIN };
	for (int i = 0; i < nconns; i++)
		for (int k = 0; k < 2; k++) {
			struct direction *d = &conns[i].dir[k];
			struct direction *back = &conns[i].dir[!k];
			short ev = 0;

			if (!d->eof && d->queued < QUEUE_MAX)
				ev |= POLLIN;
			if (!down && back->head && back->head->release_ms <= t)
				ev |= POLLOUT;
			else if (back->head && back->head->release_ms < wake)
				wake = back->head->release_ms;
			p[n++] = (struct pollfd){ .fd = conns[i].fd[k], .events = ev };
		}
	if (down && opt.every_s)
		wake = t + 100;
	if (poll(p, (nfds_t)n, (int)(wake > t ? wake - t : 0)) < 0)
		return;
	t = now_ms();
	down = in_outage(t);
	for (int i = nconns - 1; i >= 0; i--) {
		struct conn *c = &conns[i];
		int bad = 0;

		for (int k = 0; k < 2 && !bad; k++) {
			if (p[1 + 2 * i + k].revents & (POLLIN | POLLHUP | POLLERR))
				bad = pull(c, k, t) < 0;
			if (!bad && !down)
				bad = push(c, k, t) < 0;
		}
		if (bad || (c->dir[0].shut && c->dir[1].shut))
			conn_close(i);
	}
	if (p[0].revents & POLLIN)
		accept_one(lfd);
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_signal };
	int lfd;

	parse(argc, argv);
	signal(SIGPIPE, SIG_IGN);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	rng = opt.seed;
	start_ms = now_ms();
	phase_ms = opt.every_s ? (int64_t)(uniform() * (double)opt.every_s * 1000.0) : 0;
	lfd = listen_on();
	printf("%u\n", ntohs(opt.listen.sin_port));
	fflush(stdout);
	while (!stopping)
		turn(lfd);
	write_stats();
	return 0;
}
