/*
 * storebench: leases per second of the coordinator's state alone (lib/store.c
 * in one thread, as g2t-serve's committer runs it), for transactions of 1,
 * 10 and 100 leases, on K classes' tasks in a fresh state under DIR.
 * usage: storebench DIR [K] [LEASES]
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <sodium.h>

#include "g2t.h"

#define DEVICES 1000

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Leases per second, `batch` a transaction, in a fresh state in dir. */
static double run(const char *dir, const struct g2t_task *t, size_t n, long leases,
                  long batch, uint8_t (*keys)[G2T_PK_SIZE])
{
	uint8_t schema_id[G2T_HASH_SIZE] = { 0 }, token[G2T_LEASE_TOKEN_SIZE];
	struct g2t_store *s;
	struct g2t_lease l;
	struct g2t_diag d;
	double t0;
	int rc;

	if ((rc = g2t_store_open(&s, dir, 1, &d)) ||
	    (rc = g2t_store_tasks(s, schema_id, t, n, &d))) {
		fprintf(stderr, "storebench: %s\n", d.what);
		exit(1);
	}
	t0 = now();
	for (long i = 0; i < leases && !rc; i += batch) {
		rc = g2t_store_begin(s, 0, &d);
		for (long j = i; j < i + batch && j < leases && !rc; j++)
			rc = g2t_store_lease(s, keys[j % DEVICES], (long long)time(NULL), 3600,
			                     NULL, 0, token, &l, &d);
		if (!rc)
			rc = g2t_store_end(s, 1, &d);
	}
	t0 = now() - t0;
	g2t_store_close(s);
	if (rc) {
		fprintf(stderr, "storebench: %s\n", d.what);
		exit(1);
	}
	return (double)leases / t0;
}

int main(int argc, char **argv)
{
	uint32_t K = argc > 2 ? (uint32_t)atoi(argv[2]) : 450;
	long leases = argc > 3 ? atol(argv[3]) : 50000, batches[] = { 1, 10, 100 };
	size_t n = (size_t)K * (K - 1) / 2, i = 0;
	struct g2t_task *t = calloc(n ? n : 1, sizeof *t);
	uint8_t (*keys)[G2T_PK_SIZE] = malloc(DEVICES * G2T_PK_SIZE);
	char dir[4096];

	if (argc < 2 || K < 2 || leases < 1 || (size_t)leases > n || !t || !keys) {
		fprintf(stderr, "usage: storebench DIR [K >= 2] [LEASES <= K(K-1)/2]\n");
		return 2;
	}
	g2t_crypto_init();
	randombytes_buf(keys, DEVICES * G2T_PK_SIZE);
	for (uint32_t a = 0; a < K; a++)
		for (uint32_t b = a + 1; b < K; b++, i++) {
			t[i].id.task = (uint32_t)i;
			t[i].id.class_a = a;
			t[i].id.class_b = b;
			randombytes_buf(t[i].hash, G2T_HASH_SIZE);
		}
	for (size_t k = 0; k < sizeof batches / sizeof *batches; k++) {
		snprintf(dir, sizeof dir, "%s/state-%ld", argv[1], batches[k]);
		printf("state alone: %.0f leases/s in transactions of %ld\n",
		       run(dir, t, n, leases, batches[k], keys), batches[k]);
	}
	free(t);
	free(keys);
	return 0;
}
