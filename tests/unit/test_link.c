/* The serial link's frames (lib/core/link.c): COBS round trips at the run
 * lengths where COBS has its edge cases, damage detected, and
 * g2t_train_each() against g2t_train(). */
#include <string.h>

#include "g2t.h"
#include "core/g2t_link.h"
#include "check.h"

static uint8_t wire[4096];
static size_t wired;

static void put(void *ctx, uint8_t b)
{
	(void)ctx;
	if (wired < sizeof wire)
		wire[wired++] = b;
}

/* Sends payload p[n] and receives it; 1 when it comes back whole. */
static int round_trip(const uint8_t *p, uint32_t n, size_t *bytes)
{
	uint8_t buf[2048];
	struct g2t_link_rx rx;
	int got = 0;

	wired = 0;
	g2t_link_send(put, NULL, 'R', 7, p, n, g2t_crc32);
	*bytes = wired;
	g2t_link_rx_init(&rx, buf, sizeof buf);
	for (size_t i = 0; i < wired; i++) {
		int rc = g2t_link_rx_push(&rx, wire[i], g2t_crc32);

		if (rc < 0 || (rc == 1 && got++))
			return 0;
		if (rc == 1 && (buf[0] != 'R' || buf[1] != 7 || rx.len != n ||
		                memcmp(buf + 2, p, n)))
			return 0;
	}
	for (size_t i = 1; i + 1 < wired; i++)
		if (!wire[i])
			return 0; /* a zero inside the frame */
	return got == 1 && wire[0] == 0 && wire[wired - 1] == 0;
}

static int rows(void *ctx, int side, uint32_t first, uint32_t count, float *out)
{
	const float *x = ctx;

	if (!out)
		return 0;
	for (uint32_t i = 0; i < count * 3; i++)
		out[i] = x[(side * 40 + first) * 3 + i];
	return 0;
}

int main(void)
{
	static const uint32_t lens[] = { 0, 1, 247, 248, 249, 250, 253, 254, 255, 508, 509, 1500 };
	uint8_t p[1500], frame[64];
	size_t bytes;
	uint32_t seed = 1;

	for (size_t k = 0; k < sizeof lens / sizeof *lens; k++) {
		uint32_t n = lens[k];
		int ok = 1;

		memset(p, 0xa5, n);
		ok &= round_trip(p, n, &bytes);
		CHECK(bytes <= n + G2T_LINK_OVERHEAD + (n + 5) / 254, "%u bytes without zeros: "
		      "%zu on the wire", n, bytes);
		for (int r = 0; r < 50; r++) { /* zeros here and there, at the ends too */
			for (uint32_t i = 0; i < n; i++) {
				seed = seed * 1103515245u + 12345u;
				p[i] = (seed >> 16) % 5 == 0 ? 0 : (uint8_t)(seed >> 8);
			}
			if (n && r % 3 == 0)
				p[n - 1] = 0;
			if (n && r % 3 == 1)
				p[0] = 0;
			ok &= round_trip(p, n, &bytes);
		}
		CHECK(ok, "%u-byte payloads come back whole, one frame, no zero inside", n);
	}
	/* every single byte changed or dropped: damaged, never a frame */
	{
		int caught = 1;

		for (uint32_t i = 0; i < 20; i++)
			p[i] = (uint8_t)(i * 37);
		wired = 0;
		g2t_link_send(put, NULL, 'R', 2, p, 20, g2t_crc32);
		memcpy(frame, wire, wired);
		for (size_t at = 1; at + 1 < wired; at++)
			for (int drop = 0; drop < 2; drop++) {
				struct g2t_link_rx rx;
				uint8_t buf[64];
				int bad = 0, good = 0;

				g2t_link_rx_init(&rx, buf, sizeof buf);
				for (size_t i = 0; i < wired; i++) {
					uint8_t b = frame[i];
					int rc;

					if (i == at && drop)
						continue;
					if (i == at)
						b ^= 0x40;
					rc = g2t_link_rx_push(&rx, b, g2t_crc32);
					bad += rc < 0;
					good += rc == 1;
				}
				caught &= good == 0 && bad >= 1;
			}
		CHECK(caught, "a changed or dropped byte anywhere in a frame is damage, never a frame");
	}
	/* a row at a time, the same bits as whole blocks */
	{
		struct g2t_task t = { 0 };
		float x[80 * 3], work[2 * 3 + 2 * 40 * 3], w1[3], w2[3];
		struct g2t_weights a = { .w = w1 }, b = { .w = w2 };
		uint32_t n[2] = { 40, 33 };
		int same = 1;

		for (int i = 0; i < 240; i++) {
			seed = seed * 1103515245u + 12345u;
			x[i] = (float)((seed >> 16) % 1000) / 500.0f - (i >= 120 ? 0.3f : -0.3f);
		}
		g2t_params_default(&t.id.params);
		for (uint32_t block = 1; block <= 40; block += 13) {
			same &= g2t_train(&t, 3, n, rows, x, work, block, &a) == 0 &&
			        g2t_train_each(&t, 3, n, rows, x, work, block, &b) == 0 &&
			        !memcmp(w1, w2, sizeof w1) && a.bias == b.bias && a.loss == b.loss;
		}
		CHECK(same, "g2t_train_each gives g2t_train's weights, blocks of 1, 14, 27, 40");
	}
	return check_done();
}
