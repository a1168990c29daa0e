/* libFuzzer: the packet reader, behind a valid signature and without one. */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>
#include <zlib.h>

#include "g2t.h"

/* Signs a packet whose inflated body is the fuzzer's bytes. */
static uint8_t *wrap(const uint8_t *data, size_t size, size_t *len)
{
	static uint8_t pk[32], sk[64], seed[32];
	uLongf zlen = compressBound(size);
	uint8_t *p = malloc(68 + zlen + 64);

	if (!p)
		return NULL;
	crypto_sign_seed_keypair(pk, sk, seed);
	memset(p, 0, 68);
	g2t_put_u32(p, 1);
	memcpy(p + 4, pk, 32);
	g2t_put_u32(p + 52, size ? data[0] % 3 : 0);
	g2t_put_u32(p + 60, (uint32_t)size);
	compress2(p + 68, &zlen, data, size, 1);
	g2t_put_u32(p + 64, (uint32_t)zlen);
	crypto_sign_detached(p + 68 + zlen, NULL, p, 68 + zlen, sk);
	*len = 68 + zlen + 64;
	return p;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct g2t_packet pk;
	struct g2t_packet_item item = { 0 };
	struct g2t_diag d;
	size_t len = size;
	uint8_t *p = size && (data[0] & 0x80) ? NULL : wrap(data, size, &len);

	g2t_crypto_init();
	if (g2t_packet_open(&pk, p ? p : data, len, &d) == G2T_OK) {
		while (g2t_packet_next(&pk, &item, &d) == 1)
			;
		g2t_packet_close(&pk);
	}
	free(item.room);
	free(p);
	return 0;
}
