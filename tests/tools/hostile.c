/*
 * hostile: clients that try to make a server hold memory and connections,
 * for tests/stress/attack.sh.  Loopback only.
 *
 *   hostile PORT SECONDS SLOW BODIES [ADDRESSES]
 *
 * SLOW connections send a request's headers one byte a second (slowloris);
 * BODIES clients each POST /v1/results with a 60 MiB Content-Length,
 * unsigned, sending the body as fast as the server takes it.  Connections
 * come from 127.0.0.2 ... 127.0.0.(1 + ADDRESSES) in turn (16), and each one
 * the server closes is opened again at once.  Prints how many were closed
 * by the server, and the statuses of the answers.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { SLOW, BODY };

struct client {
	int fd, kind;
	size_t sent;            /* bytes of the request sent */
	double next;            /* slow: when its next byte goes */
};

static const char slow_request[] =
	"POST /v1/lease HTTP/1.1\r\nHost: 127.0.0.1\r\nX-G2T-Key: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa=\r\n"
	"X-G2T-Padding: xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\n\r\n";
static const char body_head[] =
	"POST /v1/results HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-g2t\r\n"
	"Content-Length: 62914560\r\n\r\n";
#define BODY_SIZE 62914560u

static unsigned port, addresses = 16, next_address;
static unsigned long closed, statuses[6];

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int dial(void)
{
	struct sockaddr_in from = { .sin_family = AF_INET }, to = { .sin_family = AF_INET };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);

	if (fd < 0)
		return -1;
	from.sin_addr.s_addr = htonl(0x7f000002u + next_address++ % addresses);
	to.sin_addr.s_addr = htonl(0x7f000001u);
	to.sin_port = htons((uint16_t)port);
	if (bind(fd, (struct sockaddr *)&from, sizeof from) != 0 ||
	    (connect(fd, (struct sockaddr *)&to, sizeof to) != 0 && errno != EINPROGRESS)) {
		close(fd);
		return -1;
	}
	return fd;
}

static void open_client(struct client *c, double now)
{
	c->fd = now >= c->next ? dial() : -1;
	c->sent = 0;
	c->next = now;
}

/* Reads what the server says; 0 while the connection is open. */
static int drain(struct client *c)
{
	char buf[4096];
	ssize_t n = read(c->fd, buf, sizeof buf);

	if (n > 0) {
		if (n > 12 && !memcmp(buf, "HTTP/1.1 ", 9) && buf[9] >= '1' && buf[9] <= '5')
			statuses[buf[9] - '0']++;
		return 0;
	}
	return n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK);
}

static void step(struct client *c, short revents, double now)
{
	static char zeros[65536];

	if (c->fd < 0) {
		open_client(c, now);
		return;
	}
	if ((revents & (POLLIN | POLLHUP | POLLERR)) && drain(c)) {
		close(c->fd);
		closed++;
		c->fd = -1;
		c->next = now + 0.1; /* the attacker's machine, not ours, should spin */
		return;
	}
	if (c->kind == SLOW && now >= c->next && c->sent < sizeof slow_request - 1) {
		if (send(c->fd, slow_request + c->sent, 1, MSG_NOSIGNAL) == 1)
			c->sent++;
		c->next = now + 1.0;
	} else if (c->kind == BODY && (revents & POLLOUT)) {
		size_t head = sizeof body_head - 1;
		ssize_t n;

		if (c->sent < head)
			n = send(c->fd, body_head + c->sent, head - c->sent, MSG_NOSIGNAL);
		else if (c->sent < head + BODY_SIZE)
			n = send(c->fd, zeros, sizeof zeros, MSG_NOSIGNAL);
		else
			n = 0;
		c->sent += n > 0 ? (size_t)n : 0;
	}
}

int main(int argc, char **argv)
{
	unsigned seconds, slow, bodies, n;
	struct client *c;
	struct pollfd *p;
	struct rlimit r;
	double end;

	if (argc < 5 || argc > 6) {
		fprintf(stderr, "usage: hostile PORT SECONDS SLOW BODIES [ADDRESSES]\n");
		return 2;
	}
	port = (unsigned)atoi(argv[1]);
	seconds = (unsigned)atoi(argv[2]);
	slow = (unsigned)atoi(argv[3]);
	bodies = (unsigned)atoi(argv[4]);
	if (argc == 6)
		addresses = (unsigned)atoi(argv[5]);
	n = slow + bodies;
	if (getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur < n + 64) {
		r.rlim_cur = r.rlim_max < n + 64 ? r.rlim_max : n + 64;
		setrlimit(RLIMIT_NOFILE, &r);
	}
	if (!(c = calloc(n, sizeof *c)) || !(p = calloc(n, sizeof *p)))
		return 1;
	end = now_s() + seconds;
	for (unsigned i = 0; i < n; i++) {
		c[i].kind = i < slow ? SLOW : BODY;
		open_client(&c[i], now_s());
	}
	while (now_s() < end) {
		double now;

		for (unsigned i = 0; i < n; i++) {
			p[i].fd = c[i].fd;
			p[i].events = POLLIN | (c[i].kind == BODY ? POLLOUT : 0);
		}
		if (poll(p, n, 100) < 0 && errno != EINTR)
			return 1;
		now = now_s();
		for (unsigned i = 0; i < n; i++)
			step(&c[i], c[i].fd < 0 ? 0 : p[i].revents, now);
	}
	printf("hostile: %u slow and %u body clients for %u s: %lu connections closed by the"
	       " server; answers 4xx %lu, 5xx %lu\n", slow, bodies, seconds, closed, statuses[4],
	       statuses[5]);
	return 0;
}
