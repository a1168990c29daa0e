/*
 * packbench: packets built and verified per second on one core, against raw
 * Ed25519 verification.  usage: packbench WEIGHTS_STREAM SECONDS
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "g2t.h"

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Reads the first schema and every weights set of a stream. */
static int load(const char *path, struct g2t_schemas *s, struct g2t_weights **w, size_t *n)
{
	struct g2t_in *in;
	struct g2t_rec r;
	struct g2t_diag d;
	size_t cap = 0;

	if (g2t_in_open(&in, path, 0, &d))
		return -1;
	while (g2t_in_next(in, &r, &d) == 1) {
		const struct g2t_schema *sc;

		if (r.type == G2T_REC_SCHEMA)
			g2t_schemas_add(s, &r, &d);
		if (r.type != G2T_REC_WEIGHTS || !(sc = g2t_schemas_find(s, r.payload + 32)))
			continue;
		g2t_grow((void **)w, &cap, *n + 1, sizeof **w);
		(*w)[*n].w = malloc(sc->features * sizeof(float));
		if (g2t_weights_decode(&(*w)[*n], sc->features, r.payload, r.length) == 0)
			++*n;
	}
	g2t_in_free(in);
	return *n ? 0 : -1;
}

int main(int argc, char **argv)
{
	struct g2t_schemas schemas = { 0 };
	struct g2t_weights *w = NULL;
	struct g2t_signer key;
	struct g2t_diag d;
	size_t n = 0, built = 0, checked = 0, raw = 0;
	double secs = argc > 2 ? atof(argv[2]) : 2.0, t0;
	uint8_t *pkt = NULL, msg[128] = { 0 }, sig[64];
	size_t len = 0;

	if (argc < 2 || load(argv[1], &schemas, &w, &n)) {
		fprintf(stderr, "usage: packbench WEIGHTS_STREAM [SECONDS]\n");
		return 2;
	}
	g2t_crypto_init();
	crypto_sign_keypair(key.pk, key.sk);
	for (t0 = now(); now() - t0 < secs; built++) {
		const uint8_t *sp = schemas.at[0]->payload;
		uint32_t sl = schemas.at[0]->length;
		struct g2t_batch b = { &sp, &sl, 0, &w[built % n], 1 };

		free(pkt);
		g2t_packet_build(&pkt, &len, &b, &key, built + 1, 0, G2T_PREC_F32);
	}
	printf("pack    %8.0f packets/s (one weight set of %u features each, %zu bytes)\n",
	       (double)built / secs, w[0].features, len);
	for (t0 = now(); now() - t0 < secs; checked++) {
		struct g2t_packet p;

		if (g2t_packet_open(&p, pkt, len, &d))
			return 1;
		g2t_packet_close(&p);
	}
	printf("verify  %8.0f packets/s (signature checked, body inflated)\n",
	       (double)checked / secs);
	crypto_sign_detached(sig, NULL, msg, sizeof msg, key.sk);
	for (t0 = now(); now() - t0 < secs; raw++)
		if (crypto_sign_verify_detached(sig, msg, sizeof msg, key.pk))
			return 1;
	printf("ed25519 %8.0f verifications/s (128-byte message, the ceiling)\n",
	       (double)raw / secs);
	free(pkt);
	return 0;
}
