/*
 * bigpacket: a small signed packet whose weight sets each claim 2^24
 * features (all zero, so nothing of them is sent), for task 0 of a task
 * file, with lease token TOKEN (hex).  What a reader allocates for it
 * before checking that it fits its task is what this measures.
 *
 *   bigpacket KEYFILE TASKFILE TOKEN SETS > packet
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "g2t.h"

int main(int argc, char **argv)
{
	struct g2t_diag d = { 0, -1, "" };
	struct g2t_signer *key;
	struct g2t_in *in;
	struct g2t_rec r;
	struct g2t_task t;
	struct g2t_weights *w;
	float *zeros;
	uint8_t token[16], *pkt;
	size_t len, got, sets;
	int found = 0;

	if (argc != 5 || (sets = strtoul(argv[4], NULL, 10)) == 0 || sets > 64) {
		fprintf(stderr, "usage: bigpacket KEYFILE TASKFILE TOKEN SETS\n");
		return 2;
	}
	if (g2t_signer_load(&key, argv[1], &d) || g2t_in_open(&in, argv[2], 0, &d) ||
	    sodium_hex2bin(token, sizeof token, argv[3], strlen(argv[3]), NULL, &got, NULL) ||
	    got != sizeof token) {
		fprintf(stderr, "bigpacket: %s\n", d.what[0] ? d.what : "bad token");
		return 1;
	}
	while (!found && g2t_in_next(in, &r, &d) == 1)
		found = r.type == G2T_REC_TASK && !g2t_task_decode(&t, r.payload, r.length);
	if (!found || !(w = calloc(sets, sizeof *w)) || !(zeros = calloc(1u << 24, 4)))
		return 1;
	for (size_t i = 0; i < sets; i++) {
		w[i].id = t.id;
		memcpy(w[i].task_hash, t.hash, G2T_HASH_SIZE);
		w[i].features = 1u << 24;
		w[i].w = zeros; /* not sent: only non-zero values are */
		w[i].token = token;
		w[i].token_len = sizeof token;
	}
	if (g2t_packet_build(&pkt, &len, &(struct g2t_batch){ NULL, NULL, 0, w, sets }, key, 1,
	                     (uint64_t)time(NULL), G2T_PREC_F32))
		return 1;
	g2t_write_header(stdout);
	g2t_write_record(stdout, G2T_REC_PACKET, pkt, (uint32_t)len);
	free(zeros);
	free(w);
	free(pkt);
	g2t_in_free(in);
	g2t_signer_free(key);
	return fflush(stdout) ? 1 : 0;
}
