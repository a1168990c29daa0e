/*
 * Sending packets with libcurl: POST URL/v1/results, TLS verified, bounded
 * by timeouts, retried with exponential backoff, jitter and Retry-After.
 * Only a response naming the packet's digest counts as an acknowledgement.
 * The retry clock (g2t_retry_*) serves lib/fetch.c too.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <sodium.h>

#include "g2t.h"

#define RESPONSE_LIMIT 65536
#define BACKOFF_FIRST 0.5   /* seconds */
#define BACKOFF_CAP 30.0

/* Set by a signal handler to cut waits short (g2t_retry_cancel_on). */
static volatile sig_atomic_t *cancel;

struct response {
	char buf[RESPONSE_LIMIT];
	size_t len;
};

static size_t collect(char *p, size_t size, size_t n, void *ctx)
{
	struct response *r = ctx;
	size_t k = size * n, room = sizeof r->buf - 1 - r->len;

	memcpy(r->buf + r->len, p, k < room ? k : room);
	r->len += k < room ? k : room;
	r->buf[r->len] = '\0';
	return k;
}

/* The server's words, made fit for a one-line message. */
static const char *one_line(char *text)
{
	size_t n = strlen(text);

	for (char *c = text; *c; c++)
		if ((unsigned char)*c < ' ')
			*c = ' ';
	while (n && text[n - 1] == ' ')
		text[--n] = '\0';
	return text;
}

static void sleep_for(double s)
{
	struct timespec ts = { (time_t)s, (long)((s - (double)(time_t)s) * 1e9) };

	while (nanosleep(&ts, &ts) != 0 && !(cancel && *cancel))
		;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void g2t_retry_cancel_on(volatile sig_atomic_t *flag)
{
	cancel = flag;
}

int g2t_send_link_ok(const struct g2t_send_result *r)
{
	return r->http >= 200 && r->http < 500 && r->http != 408;
}

void g2t_retry_start(struct g2t_retry *t, long max)
{
	t->start = now_s();
	t->backoff = BACKOFF_FIRST;
	t->max = max;
}

int g2t_retry_wait(struct g2t_retry *t, long retry_after)
{
	/* full backoff halved by jitter, never below the server's Retry-After */
	double wait = t->backoff * (0.5 + 0.5 * (double)randombytes_uniform(1001) / 1000.0);

	wait = (double)retry_after > wait ? (double)retry_after : wait;
	if ((cancel && *cancel) || now_s() + wait - t->start > (double)t->max)
		return -1;
	sleep_for(wait);
	if (cancel && *cancel)
		return -1;
	t->backoff = t->backoff * 2.0 > BACKOFF_CAP ? BACKOFF_CAP : t->backoff * 2.0;
	return 0;
}

int g2t_retryable(int curl_code, long http)
{
	CURLcode c = (CURLcode)curl_code;

	if (c != CURLE_OK)
		return c == CURLE_COULDNT_CONNECT || c == CURLE_OPERATION_TIMEDOUT ||
		       c == CURLE_SEND_ERROR || c == CURLE_RECV_ERROR ||
		       c == CURLE_GOT_NOTHING || c == CURLE_COULDNT_RESOLVE_HOST ||
		       c == CURLE_PARTIAL_FILE;
	return http == 408 || http == 429 || http >= 500;
}

int g2t_sign_headers(struct curl_slist **hdr, const struct g2t_signer *key,
                     const char *method, const char *path)
{
	uint8_t nonce[16], sig[crypto_sign_BYTES];
	char key64[sodium_base64_ENCODED_LEN(G2T_PK_SIZE, sodium_base64_VARIANT_ORIGINAL)];
	char sig64[sodium_base64_ENCODED_LEN(crypto_sign_BYTES,
	                                     sodium_base64_VARIANT_ORIGINAL)];
	char hex[2 * sizeof nonce + 1], when[24], line[160], *msg;
	size_t cap = strlen(method) + strlen(path) + 128, n;
	const char *name[] = { "X-G2T-Key", "X-G2T-Time", "X-G2T-Nonce", "X-G2T-Signature" };
	const char *value[] = { key64, when, hex, sig64 };

	if (!(msg = malloc(cap)))
		return G2T_ENOMEM;
	randombytes_buf(nonce, sizeof nonce);
	sodium_bin2hex(hex, sizeof hex, nonce, sizeof nonce);
	snprintf(when, sizeof when, "%lld", (long long)time(NULL));
	n = g2t_lease_message(msg, cap, method, path, when, hex);
	crypto_sign_detached(sig, NULL, (const unsigned char *)msg, n, key->sk);
	free(msg);
	sodium_bin2base64(key64, sizeof key64, key->pk, G2T_PK_SIZE,
	                  sodium_base64_VARIANT_ORIGINAL);
	sodium_bin2base64(sig64, sizeof sig64, sig, sizeof sig, sodium_base64_VARIANT_ORIGINAL);
	for (int i = 0; i < 4; i++) {
		struct curl_slist *l;

		snprintf(line, sizeof line, "%s: %s", name[i], value[i]);
		if (!(l = curl_slist_append(*hdr, line)))
			return G2T_ENOMEM;
		*hdr = l;
	}
	return G2T_OK;
}

/* One POST; fills *http, the response and the link figures. */
static CURLcode post(CURL *c, const struct g2t_send_opts *o, const uint8_t *body,
                     size_t len, struct response *resp, long *http, long *retry_after,
                     struct g2t_send_result *r)
{
	struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/x-g2t");
	size_t n = strlen(o->url);
	char url[4096];
	curl_off_t connect_us = 0, speed = 0, after = 0;
	CURLcode rc;

	snprintf(url, sizeof url, "%s%s", o->url,
	         n && o->url[n - 1] == '/' ? "v1/results" : "/v1/results");
	/* signed afresh each attempt: the server spends a nonce on each */
	if (!hdr || g2t_sign_headers(&hdr, o->key, "POST", "/v1/results")) {
		curl_slist_free_all(hdr);
		return CURLE_OUT_OF_MEMORY;
	}
	resp->len = 0;
	resp->buf[0] = '\0';
	curl_easy_reset(c);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, resp);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, o->connect_timeout);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, o->timeout);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, o->timeout);
	if (o->cacert)
		curl_easy_setopt(c, CURLOPT_CAINFO, o->cacert);
	rc = curl_easy_perform(c);
	*http = 0;
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, http);
	curl_easy_getinfo(c, CURLINFO_RETRY_AFTER, &after);
	curl_easy_getinfo(c, CURLINFO_CONNECT_TIME_T, &connect_us);
	curl_easy_getinfo(c, CURLINFO_SPEED_UPLOAD_T, &speed);
	*retry_after = (long)after;
	r->rtt_ms = (double)connect_us / 1000.0;
	r->bytes_per_s = (double)speed;
	curl_slist_free_all(hdr);
	return rc;
}

int g2t_send_packet(const struct g2t_send_opts *o, const uint8_t *pkt, size_t len,
                    struct g2t_send_result *r, struct g2t_diag *d)
{
	uint8_t digest[G2T_HASH_SIZE], *body = malloc(len + G2T_HEADER_SIZE * 2 + G2T_CRC_SIZE);
	char hex[2 * G2T_HASH_SIZE + 1], want[2 * G2T_HASH_SIZE + 16];
	struct g2t_retry retry;
	struct response *resp = malloc(sizeof *resp);
	CURL *c = curl_easy_init();
	int rc = G2T_OK;

	memset(r, 0, sizeof *r);
	if (!body || !resp || !c) {
		rc = G2T_ENOMEM;
		goto done;
	}
	g2t_hash(digest, pkt, len);
	sodium_bin2hex(hex, sizeof hex, digest, sizeof digest);
	snprintf(want, sizeof want, "\"digest\":\"%s\"", hex);
	g2t_stream_header(body);
	g2t_record_frame(body + G2T_HEADER_SIZE, body + 2 * G2T_HEADER_SIZE + len,
	                 G2T_REC_PACKET, pkt, (uint32_t)len, g2t_crc32);
	memcpy(body + 2 * G2T_HEADER_SIZE, pkt, len);
	len += 2 * G2T_HEADER_SIZE + G2T_CRC_SIZE;
	g2t_retry_start(&retry, o->retry_max);
	for (;;) {
		long http, after;
		CURLcode cc = post(c, o, body, len, resp, &http, &after, r);

		r->attempts++;
		r->http = http;
		if (cc == CURLE_OK && http >= 200 && http < 300 && strstr(resp->buf, want)) {
			r->acked = 1;
			break;
		}
		if (cc == CURLE_OK && http >= 200 && http < 300) {
			rc = g2t_fail(d, G2T_EREFUSED, 0, -1,
			              "HTTP %ld without an acknowledgement of digest %.16s...",
			              http, hex);
		} else if (cc != CURLE_OK) {
			rc = g2t_fail(d, G2T_EIO, 0, -1, "%s", curl_easy_strerror(cc));
		} else {
			rc = g2t_fail(d, G2T_EREFUSED, 0, -1, "HTTP %ld: %.160s", http,
			              one_line(resp->buf));
		}
		r->failures++;
		if (!g2t_retryable(cc, http))
			break;
		rc = G2T_ETEMP; /* unless a retry works; d keeps the last reason */
		if (g2t_retry_wait(&retry, after))
			break;
	}
	if (r->acked)
		rc = G2T_OK;
done:
	curl_easy_cleanup(c);
	free(body);
	free(resp);
	return rc;
}
