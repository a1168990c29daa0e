/*
 * libFuzzer: the coordinator's request handlers, through a real server on
 * loopback (the iris tasks of the seeds, a state in a temporary directory).
 * An input whose first byte is even is sent as it is: method, path, headers
 * and body.  One whose first byte is odd becomes a request the server
 * admits: a lease, or results whose body is a packet signed by an enrolled
 * key around the input's bytes, so the fuzzer reaches the handlers behind
 * the signature checks too.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>
#include <zlib.h>

#include "g2t.h"

static struct g2t_server *server;
static unsigned port;
static uint8_t pk[32], sk[64];
static char state[] = "/tmp/g2t-fuzz-serve-XXXXXX";

static void stop(void)
{
	static const char *const files[] = { "g2t.db", "g2t.db-wal", "g2t.db-shm", "lock" };
	char path[sizeof state + 16];

	g2t_server_stop(server);
	for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
		snprintf(path, sizeof path, "%s/%s", state, files[i]);
		unlink(path);
	}
	rmdir(state);
}

static void start(void)
{
	static const char *tasks[] = { "tests/fuzz/seeds/iris-split.g2t" };
	struct g2t_serve_opts o = {
		.tasks = tasks, .ntasks = 1, .open = 1, .lease_timeout = 300, .replicas = 1,
		.rate = 1e9, .body_limit = 1u << 20, .buffer_budget = 8u << 20, .threads = 1,
		.connection_limit = 64, .per_ip_limit = 64, .idle_timeout = 5
	};
	struct g2t_diag d = { 0, -1, "" };
	uint8_t seed[32] = { 7 };

	o.address = htonl(INADDR_LOOPBACK);
	o.state = mkdtemp(state);
	if (!o.state || g2t_server_start(&server, &o, &d)) {
		fprintf(stderr, "fuzz_serve: cannot start the server: %s\n", d.what);
		exit(1);
	}
	port = g2t_server_port(server);
	atexit(stop);
	crypto_sign_seed_keypair(pk, sk, seed);
}

/* Sends a request and reads the answer: what comes within 200 ms, then
 * until 20 ms pass without more (a kept-alive connection stays open). */
static void exchange(const uint8_t *req, size_t len)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int fd = socket(AF_INET, SOCK_STREAM, 0), wait_ms = 200;
	char buf[65536];

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0)
		return;
	if (connect(fd, (struct sockaddr *)&a, sizeof a) == 0) {
		for (size_t at = 0; at < len;) {
			ssize_t n = send(fd, req + at, len - at, MSG_NOSIGNAL);
			if (n <= 0)
				break;
			at += (size_t)n;
		}
		shutdown(fd, SHUT_WR);
		for (;;) {
			struct pollfd p = { fd, POLLIN, 0 };

			if (poll(&p, 1, wait_ms) <= 0 || read(fd, buf, sizeof buf) <= 0)
				break;
			wait_ms = 20;
		}
	}
	close(fd);
}

/* A request the server admits: signed headers, and for results a packet. */
static void admitted(const uint8_t *data, size_t size)
{
	const char *path = data[0] & 2 ? "/v1/results" : "/v1/lease";
	uint8_t nonce[16], sig[64], *req, *p = NULL;
	char when[24], hex[33], msg[256], key64[64], sig64[128];
	size_t plen = 0, n;
	uLongf zlen = compressBound(size);
	int head;

	if (data[0] & 2 && (p = malloc(68 + zlen + 64))) { /* packet around the bytes */
		memset(p, 0, 68);
		g2t_put_u32(p, 1);
		memcpy(p + 4, pk, 32);
		g2t_put_u32(p + 36, (uint32_t)randombytes_random()); /* a fresh sequence */
		g2t_put_u32(p + 52, data[0] >> 2 & 3);
		g2t_put_u32(p + 56, size > 1 ? data[1] : 0);
		g2t_put_u32(p + 60, (uint32_t)size);
		compress2(p + 68, &zlen, data, size, 1);
		g2t_put_u32(p + 64, (uint32_t)zlen);
		crypto_sign_detached(p + 68 + zlen, NULL, p, 68 + zlen, sk);
		plen = 68 + zlen + 64;
	}
	randombytes_buf(nonce, sizeof nonce);
	sodium_bin2hex(hex, sizeof hex, nonce, sizeof nonce);
	snprintf(when, sizeof when, "%lld", (long long)time(NULL));
	n = g2t_lease_message(msg, sizeof msg, "POST", path, when, hex);
	crypto_sign_detached(sig, NULL, (uint8_t *)msg, n, sk);
	sodium_bin2base64(key64, sizeof key64, pk, 32, sodium_base64_VARIANT_ORIGINAL);
	sodium_bin2base64(sig64, sizeof sig64, sig, 64, sodium_base64_VARIANT_ORIGINAL);
	if (!(req = malloc(1024 + plen + 32))) {
		free(p);
		return;
	}
	head = snprintf((char *)req, 1024, "POST %s HTTP/1.1\r\nHost: x\r\nX-G2T-Key: %s\r\n"
	                "X-G2T-Time: %s\r\nX-G2T-Nonce: %s\r\nX-G2T-Signature: %s\r\n"
	                "X-G2T-Count: %u\r\nContent-Length: %zu\r\n\r\n", path, key64, when,
	                hex, sig64, 1 + data[0] % 16, p ? plen + 8 + 12 : 0);
	n = (size_t)head;
	if (p) { /* a G2T stream of one PACKET record */
		g2t_stream_header(req + n);
		g2t_record_frame(req + n + 8, req + n + 16 + plen, G2T_REC_PACKET, p,
		                 (uint32_t)plen, g2t_crc32);
		memcpy(req + n + 16, p, plen);
		n += plen + 8 + 12;
	}
	exchange(req, n);
	free(req);
	free(p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!server)
		start();
	if (size && data[0] & 1)
		admitted(data, size);
	else
		exchange(data, size);
	return 0;
}
