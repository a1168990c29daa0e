/*
 * rawpacket: the WEIGHTS records of a stream signed into one packet as they
 * are, without the checks g2t-pack makes: what a hostile or broken device
 * could send.
 *
 *   rawpacket KEYFILE WEIGHTS > packet
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "g2t.h"

int main(int argc, char **argv)
{
	struct g2t_diag d = { 0, -1, "" };
	struct g2t_signer *key;
	struct g2t_weights w[64];
	uint8_t token[64][G2T_TOKEN_MAX];
	struct g2t_in *in;
	struct g2t_rec r;
	uint8_t *pkt;
	size_t n = 0, len;

	if (argc != 3) {
		fprintf(stderr, "usage: rawpacket KEYFILE WEIGHTS\n");
		return 2;
	}
	if (g2t_signer_load(&key, argv[1], &d) || g2t_in_open(&in, argv[2], 0, &d)) {
		fprintf(stderr, "rawpacket: %s\n", d.what);
		return 1;
	}
	while (n < 64 && g2t_in_next(in, &r, &d) == 1) {
		if (r.type != G2T_REC_WEIGHTS)
			continue;
		if (!(w[n].w = malloc(G2T_FEATURE_LIMIT * sizeof(float))) ||
		    g2t_weights_decode(&w[n], G2T_FEATURE_LIMIT, r.payload, r.length))
			return 1;
		/* the record's bytes go with the next record read */
		memcpy(token[n], w[n].token, w[n].token_len);
		w[n].token = token[n];
		n++;
	}
	if (!n || g2t_packet_build(&pkt, &len, &(struct g2t_batch){ NULL, NULL, 0, w, n }, key,
	                           (uint64_t)time(NULL), (uint64_t)time(NULL), G2T_PREC_F32))
		return 1;
	g2t_write_header(stdout);
	g2t_write_record(stdout, G2T_REC_PACKET, pkt, (uint32_t)len);
	while (n--)
		free(w[n].w);
	free(pkt);
	g2t_in_free(in);
	g2t_signer_free(key);
	return fflush(stdout) ? 1 : 0;
}
