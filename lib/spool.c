/*
 * The device spool (Algorithm 1): a directory where weight sets wait until
 * there are W_t of them, and where signed packets wait for an ack.
 *
 *   lock              flock()ed while a g2t-pack or g2t-device works here
 *   state             next sequence number and link statistics
 *   key               the public key whose packets these are: one spool per
 *                     key, as sequence numbers are the key's
 *   w-<hash>.g2t      one accepted input: SCHEMA and WEIGHTS records
 *   p-<seq>.pkt       a packet: PACKET record, then the names of the
 *                     entries it consumed (a private MANIFEST record)
 *   p-<seq>.refused   a packet the server refused for good, kept aside
 *
 * Every file is written to a temporary name, fsync'd and renamed, then the
 * directory is fsync'd, so a crash leaves the old or the new state.  A
 * packet is made durable before the entries it holds are removed; opening
 * the spool finishes any removal a crash interrupted, so a weight set is
 * never packed twice under two sequence numbers.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "g2t.h"

#define REC_MANIFEST 0x80u /* private to the spool; never sent */
#define ENTRY_HASH 16u
#define SMOOTH 0.3         /* weight of a new sample in the link averages */

struct entry {
	char name[64];
	uint8_t hash[ENTRY_HASH];
	uint32_t weights;
};

struct g2t_spool {
	char *dir;
	int lock_fd;
	uint64_t next_seq;
	struct g2t_link link;
	struct entry *entry;
	size_t entries, entry_cap;
	uint64_t *pending;        /* sequence numbers of p-*.pkt, ascending */
	size_t npending, pending_cap;
};

static void path_of(const struct g2t_spool *s, const char *name, char *out, size_t n)
{
	g2t_path(out, n, s->dir, name);
}

static int fail_errno(struct g2t_diag *d, const char *path)
{
	return g2t_fail(d, G2T_EIO, 0, -1, "%s: %s", path, strerror(errno));
}

/* Writes data to dir/name atomically and durably. */
static int write_file(const struct g2t_spool *s, const char *name, const void *a,
                      size_t alen, const void *b, size_t blen, struct g2t_diag *d)
{
	char path[4096];
	struct g2t_out o;
	int rc;

	path_of(s, name, path, sizeof path);
	if ((rc = g2t_out_open(&o, path, d)))
		return g2t_fail(d, rc, 0, -1, "%s: %s", path, d->what);
	if (fwrite(a, 1, alen, o.f) != alen || (blen && fwrite(b, 1, blen, o.f) != blen))
		rc = fail_errno(d, path);
	if (!rc && (rc = g2t_out_commit(&o, d)))
		g2t_fail(d, rc, 0, -1, "%s: %s", path, d->what);
	g2t_out_abort(&o);
	return rc;
}

static int sync_dir(const struct g2t_spool *s, struct g2t_diag *d)
{
	int fd = open(s->dir, O_RDONLY | O_DIRECTORY), rc = G2T_OK;

	if (fd < 0 || fsync(fd) != 0)
		rc = fail_errno(d, s->dir);
	if (fd >= 0)
		close(fd);
	return rc;
}

static int save_state(struct g2t_spool *s, struct g2t_diag *d)
{
	char text[512];
	int n = snprintf(text, sizeof text,
	                 "g2t-spool 1\nnext-seq %" PRIu64 "\nrtt-ms %.3f\n"
	                 "throughput %.1f\nfailure %.4f\nsends %" PRIu64 "\n",
	                 s->next_seq, s->link.rtt_ms, s->link.bytes_per_s,
	                 s->link.failure, s->link.sends);

	return write_file(s, "state", text, (size_t)n, NULL, 0, d);
}

static int load_state(struct g2t_spool *s, struct g2t_diag *d)
{
	char path[4096];
	FILE *f;
	int n;

	path_of(s, "state", path, sizeof path);
	s->next_seq = 1;
	if (!(f = fopen(path, "r")))
		return errno == ENOENT ? G2T_OK : fail_errno(d, path);
	n = fscanf(f, "g2t-spool 1 next-seq %" SCNu64 " rtt-ms %lf throughput %lf "
	           "failure %lf sends %" SCNu64, &s->next_seq, &s->link.rtt_ms,
	           &s->link.bytes_per_s, &s->link.failure, &s->link.sends);
	fclose(f);
	if (n != 5 || s->next_seq == 0)
		return g2t_fail(d, G2T_EDATA, 0, -1, "%s: not a spool state file", path);
	return G2T_OK;
}

/* Reads a whole small file (entries and packets are bounded). */
static int slurp(const char *path, uint8_t **out, size_t *len, struct g2t_diag *d)
{
	struct stat st;
	int fd = open(path, O_RDONLY), rc;
	ssize_t r;

	*out = NULL;
	if (fd < 0)
		return fail_errno(d, path);
	if (fstat(fd, &st) != 0 || st.st_size > (off_t)G2T_RECORD_LIMIT * 4) {
		close(fd);
		return g2t_fail(d, G2T_ETOOBIG, 0, -1, "%s: too large", path);
	}
	*out = malloc((size_t)st.st_size + 1);
	r = *out ? read(fd, *out, (size_t)st.st_size) : -1;
	close(fd);
	if (r != st.st_size) {
		rc = *out ? fail_errno(d, path) : G2T_ENOMEM;
		free(*out);
		*out = NULL;
		return rc;
	}
	*len = (size_t)r;
	return G2T_OK;
}

static int hex_name(char *out, size_t n, const char *prefix, const uint8_t *hash,
                    const char *suffix)
{
	size_t k = strlen(prefix);

	if (n < k + 2 * ENTRY_HASH + strlen(suffix) + 1)
		return G2T_ENOMEM;
	memcpy(out, prefix, k);
	for (size_t i = 0; i < ENTRY_HASH; i++)
		snprintf(out + k + 2 * i, 3, "%02x", hash[i]);
	strcpy(out + k + 2 * ENTRY_HASH, suffix);
	return G2T_OK;
}

/*
 * Calls visit() with every record of the spool file `name`; visit returns
 * 0 to go on, 1 to stop there, or a negative status.  Payloads point into
 * the file's bytes, which are freed on return.
 */
typedef int (*visitor)(void *ctx, uint32_t type, const uint8_t *payload, uint32_t len,
                       struct g2t_diag *d);

static int walk(struct g2t_spool *s, const char *name, visitor visit, void *ctx,
                struct g2t_diag *d)
{
	char path[4096];
	struct g2t_mem mem;
	const uint8_t *payload;
	uint32_t type, plen;
	uint8_t *p;
	size_t len = 0;
	int rc;

	path_of(s, name, path, sizeof path);
	if ((rc = slurp(path, &p, &len, d)))
		return rc;
	d->what[0] = '\0';
	g2t_mem_open(&mem, p, len);
	while ((rc = g2t_mem_next(&mem, &type, &payload, &plen)) == 1 &&
	       !(rc = visit(ctx, type, payload, plen, d)))
		;
	free(p);
	if (rc < 0 && !d->what[0])
		g2t_fail(d, rc, 0, -1, "%s: %s", path, g2t_strerror(rc));
	return rc;
}

static int count_weights(void *ctx, uint32_t type, const uint8_t *payload, uint32_t len,
                         struct g2t_diag *d)
{
	(void)payload, (void)len, (void)d;
	*(uint32_t *)ctx += type == G2T_REC_WEIGHTS;
	return 0;
}

/* Counts the WEIGHTS records of an entry file. */
static int count_entry(struct g2t_spool *s, struct entry *e, struct g2t_diag *d)
{
	e->weights = 0;
	return walk(s, e->name, count_weights, &e->weights, d);
}

static int parse_hex(const char *s, uint8_t *out)
{
	for (size_t i = 0; i < ENTRY_HASH; i++) {
		unsigned v;

		if (sscanf(s + 2 * i, "%2x", &v) != 1)
			return -1;
		out[i] = (uint8_t)v;
	}
	return 0;
}

static int cmp_seq(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Lists entries and packets; removes temporary files a crash left. */
static int scan(struct g2t_spool *s, struct g2t_diag *d)
{
	DIR *dir = opendir(s->dir);
	struct dirent *e;
	int rc = G2T_OK;

	if (!dir)
		return fail_errno(d, s->dir);
	while (!rc && (e = readdir(dir))) {
		const char *n = e->d_name;
		size_t len = strlen(n);
		char path[4096];
		unsigned long long seq;
		char tail;

		if (len == 2 + 2 * ENTRY_HASH + 4 && !strncmp(n, "w-", 2) &&
		    !strcmp(n + len - 4, ".g2t")) {
			struct entry *en;

			if (g2t_grow((void **)&s->entry, &s->entry_cap, s->entries + 1,
			             sizeof *s->entry))
				rc = G2T_ENOMEM;
			else if (!parse_hex(n + 2, (en = &s->entry[s->entries])->hash)) {
				memcpy(en->name, n, len + 1); /* len is known to fit */
				s->entries++;
			}
		} else if (sscanf(n, "p-%llu.pk%c", &seq, &tail) == 2 && tail == 't' &&
		           !strcmp(n + len - 4, ".pkt")) {
			if (g2t_grow((void **)&s->pending, &s->pending_cap, s->npending + 1,
			             sizeof *s->pending))
				rc = G2T_ENOMEM;
			else
				s->pending[s->npending++] = seq;
		} else if (strstr(n, ".g2t.") || strstr(n, ".pkt.") || !strncmp(n, "state.", 6)) {
			path_of(s, n, path, sizeof path);
			unlink(path);
		}
	}
	closedir(dir);
	if (s->npending)
		qsort(s->pending, s->npending, sizeof *s->pending, cmp_seq);
	return rc;
}

static struct entry *find_entry(struct g2t_spool *s, const uint8_t *hash)
{
	for (size_t i = 0; i < s->entries; i++)
		if (!memcmp(s->entry[i].hash, hash, ENTRY_HASH))
			return &s->entry[i];
	return NULL;
}

static int remove_entry(struct g2t_spool *s, struct entry *e, struct g2t_diag *d)
{
	char path[4096];

	path_of(s, e->name, path, sizeof path);
	if (unlink(path) != 0 && errno != ENOENT)
		return fail_errno(d, path);
	*e = s->entry[--s->entries];
	return G2T_OK;
}

/* The MANIFEST of a packet file: the entries it holds go. */
struct settling {
	struct g2t_spool *s;
	int removed;
};

static int remove_listed(void *ctx, uint32_t type, const uint8_t *payload, uint32_t len,
                         struct g2t_diag *d)
{
	struct settling *st = ctx;
	int rc = G2T_OK;

	for (uint32_t i = 0; type == REC_MANIFEST && i + ENTRY_HASH <= len && !rc;
	     i += ENTRY_HASH) {
		struct entry *e = find_entry(st->s, payload + i);

		if (e && !(rc = remove_entry(st->s, e, d)))
			st->removed = 1;
	}
	return rc;
}

/* Finishes what a packet's creation started: its entries must be gone. */
static int settle_packet(struct g2t_spool *s, uint64_t seq, struct g2t_diag *d)
{
	struct settling st = { s, 0 };
	char name[64];
	int rc;

	snprintf(name, sizeof name, "p-%020" PRIu64 ".pkt", seq);
	if ((rc = walk(s, name, remove_listed, &st, d)))
		return rc;
	return st.removed ? sync_dir(s, d) : G2T_OK;
}

int g2t_spool_open(struct g2t_spool **out, const char *dir, struct g2t_diag *d)
{
	struct g2t_spool *s = calloc(1, sizeof *s);
	char path[4096];
	int rc;

	*out = s;
	if (!s || !(s->dir = strdup(dir)))
		return G2T_ENOMEM;
	s->lock_fd = -1;
	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		return fail_errno(d, dir);
	path_of(s, "lock", path, sizeof path);
	if ((s->lock_fd = open(path, O_RDWR | O_CREAT, 0600)) < 0)
		return fail_errno(d, path);
	if (flock(s->lock_fd, LOCK_EX | LOCK_NB) != 0)
		return errno == EWOULDBLOCK
		       ? g2t_fail(d, G2T_EREFUSED, 0, -1,
		                  "%s: in use by another g2t-pack or g2t-device", dir)
		       : fail_errno(d, path);
	if ((rc = load_state(s, d)) || (rc = scan(s, d)))
		return rc;
	for (size_t i = 0; i < s->npending && !rc; i++) {
		rc = settle_packet(s, s->pending[i], d);
		if (s->pending[i] >= s->next_seq)
			s->next_seq = s->pending[i] + 1;
	}
	for (size_t i = 0; i < s->entries && !rc; i++)
		rc = count_entry(s, &s->entry[i], d);
	return rc;
}

void g2t_spool_close(struct g2t_spool *s)
{
	if (!s)
		return;
	if (s->lock_fd >= 0)
		close(s->lock_fd); /* releases the lock */
	free(s->dir);
	free(s->entry);
	free(s->pending);
	free(s);
}

/*
 * Ties the spool to the key that signs its packets: the server numbers each
 * key's packets, so a second key's packets here would reuse numbers it has
 * already seen from the first (409).
 */
int g2t_spool_claim(struct g2t_spool *s, const uint8_t pk[G2T_PK_SIZE],
                    struct g2t_diag *d)
{
	char path[4096], text[2 * G2T_PK_SIZE + 32], was[sizeof text];
	char mine[17], theirs[17];
	uint8_t other[G2T_PK_SIZE];
	int n = snprintf(text, sizeof text, "g2t-spool-key 1\n");
	FILE *f;
	int rc;

	for (size_t i = 0; i < G2T_PK_SIZE; i++)
		n += snprintf(text + n, sizeof text - (size_t)n, "%02x", pk[i]);
	text[n++] = '\n';
	text[n] = '\0';
	path_of(s, "key", path, sizeof path);
	if (!(f = fopen(path, "r"))) {
		if (errno != ENOENT)
			return fail_errno(d, path);
		if ((rc = write_file(s, "key", text, (size_t)n, NULL, 0, d)))
			return rc;
		return sync_dir(s, d);
	}
	n = fgets(was, sizeof was, f) && !strcmp(was, "g2t-spool-key 1\n") &&
	    fgets(was, sizeof was, f) && strlen(was) == 2 * G2T_PK_SIZE + 1 &&
	    !parse_hex(was, other) && !parse_hex(was + 2 * ENTRY_HASH, other + ENTRY_HASH);
	fclose(f);
	if (!n)
		return g2t_fail(d, G2T_EDATA, 0, -1, "%s: not a spool key file", path);
	if (memcmp(other, pk, G2T_PK_SIZE)) {
		g2t_key_id(mine, pk);
		g2t_key_id(theirs, other);
		return g2t_fail(d, G2T_EREFUSED, 0, -1, "%s: the spool of key %s, not of key "
		                "%s: one spool per key (give each key its own --spool)",
		                s->dir, theirs, mine);
	}
	return G2T_OK;
}

uint32_t g2t_spool_held(const struct g2t_spool *s)
{
	uint32_t n = 0;

	for (size_t i = 0; i < s->entries; i++)
		n += s->entry[i].weights;
	return n;
}

size_t g2t_spool_pending(const struct g2t_spool *s, const uint64_t **seqs)
{
	*seqs = s->pending;
	return s->npending;
}

const struct g2t_link *g2t_spool_link(const struct g2t_spool *s)
{
	return &s->link;
}

/*
 * Checks an input stream (every WEIGHTS record valid and its SCHEMA present)
 * and keeps its SCHEMA and WEIGHTS records as a new entry.
 */
int g2t_spool_add(struct g2t_spool *s, const uint8_t *p, size_t len, uint32_t *added,
                  struct g2t_diag *d)
{
	struct g2t_schemas schemas = { 0 };
	uint8_t hash[G2T_HASH_SIZE];
	char name[64];
	struct g2t_mem mem;
	size_t keep_len = G2T_HEADER_SIZE;
	uint32_t type, plen, weights = 0;
	const uint8_t *payload;
	uint8_t *keep = malloc(len + G2T_HEADER_SIZE);
	float *w = NULL;
	size_t wcap = 0;
	int rc;

	*added = 0;
	if (!keep)
		return G2T_ENOMEM;
	g2t_stream_header(keep);
	g2t_mem_open(&mem, p, len);
	while ((rc = g2t_mem_next(&mem, &type, &payload, &plen)) == 1) {
		struct g2t_rec r = { .type = type, .length = plen, .payload = payload,
		                     .offset = (long long)(payload - p) - G2T_HEADER_SIZE };

		if (type == G2T_REC_SCHEMA && (rc = g2t_schemas_add(&schemas, &r, d)))
			break;
		if (type != G2T_REC_WEIGHTS && type != G2T_REC_SCHEMA)
			continue;
		if (type == G2T_REC_WEIGHTS) {
			struct g2t_weights wt;
			const struct g2t_schema *sc;

			if (plen < 2 * G2T_HASH_SIZE ||
			    !(sc = g2t_schemas_find(&schemas, payload + G2T_HASH_SIZE))) {
				rc = g2t_fail(d, G2T_ESCHEMA, 0, r.offset,
				              "WEIGHTS record without its SCHEMA before it");
				break;
			}
			if (g2t_grow((void **)&w, &wcap, (size_t)sc->features + 1, sizeof *w)) {
				rc = G2T_ENOMEM;
				break;
			}
			wt.w = w;
			if ((rc = g2t_weights_check(sc, payload, plen, &wt, r.offset, d)))
				break;
			weights++;
		}
		memcpy(keep + keep_len, payload - G2T_HEADER_SIZE,
		       G2T_HEADER_SIZE + plen + G2T_CRC_SIZE);
		keep_len += G2T_HEADER_SIZE + plen + G2T_CRC_SIZE;
	}
	if (rc < 0 && !d->what[0])
		g2t_decoder_fail(&mem.dec, rc, d);
	if (!rc && !weights)
		rc = g2t_fail(d, G2T_EDATA, 0, -1, "no WEIGHTS records in the input");
	g2t_schemas_clear(&schemas);
	free(w);
	if (rc) {
		free(keep);
		return rc;
	}
	g2t_hash(hash, keep, keep_len);
	hex_name(name, sizeof name, "w-", hash, ".g2t");
	if (!find_entry(s, hash) &&
	    !(rc = write_file(s, name, keep, keep_len, NULL, 0, d))) {
		if (g2t_grow((void **)&s->entry, &s->entry_cap, s->entries + 1, sizeof *s->entry)) {
			rc = G2T_ENOMEM;
		} else {
			struct entry *e = &s->entry[s->entries++];

			memcpy(e->name, name, sizeof e->name);
			memcpy(e->hash, hash, ENTRY_HASH);
			e->weights = weights;
			*added = weights;
		}
	}
	free(keep);
	return rc;
}

/* Everything the entries hold, decoded, for one packet. */
struct gathered {
	struct g2t_schemas schemas;
	struct g2t_weights *weights;
	size_t count, cap;
};

static void gathered_free(struct gathered *g)
{
	for (size_t i = 0; i < g->count; i++)
		free(g->weights[i].w);
	free(g->weights);
	g2t_schemas_clear(&g->schemas);
}

static int gather_record(void *ctx, uint32_t type, const uint8_t *payload, uint32_t len,
                         struct g2t_diag *d)
{
	struct gathered *g = ctx;
	struct g2t_rec r = { .type = type, .length = len, .payload = payload };
	const struct g2t_schema *sc;
	struct g2t_weights *w;

	if (type == G2T_REC_SCHEMA)
		return g2t_schemas_add(&g->schemas, &r, d);
	if (type != G2T_REC_WEIGHTS)
		return 0;
	if (!(sc = g2t_schemas_find(&g->schemas, payload + G2T_HASH_SIZE)))
		return G2T_ESCHEMA;
	if (g2t_grow((void **)&g->weights, &g->cap, g->count + 1, sizeof *w))
		return G2T_ENOMEM;
	w = &g->weights[g->count];
	/* room for the token too: the entry's bytes are freed after the walk */
	if (!(w->w = malloc(sc->features * sizeof *w->w + G2T_TOKEN_MAX)))
		return G2T_ENOMEM;
	g->count++;
	if (g2t_weights_decode(w, sc->features, payload, len))
		return G2T_EFORMAT;
	w->token = memcpy(w->w + sc->features, w->token, w->token_len);
	return 0;
}

/* The packet file: stream header, PACKET, MANIFEST of consumed entries. */
static int write_packet(struct g2t_spool *s, uint64_t seq, const uint8_t *pkt,
                        size_t len, struct g2t_diag *d)
{
	size_t mlen = s->entries * ENTRY_HASH, n = 0;
	size_t total = G2T_HEADER_SIZE + 2 * (G2T_HEADER_SIZE + G2T_CRC_SIZE) + len + mlen;
	uint8_t *f = malloc(total), *m = malloc(mlen ? mlen : 1);
	char name[64];
	int rc;

	if (!f || !m) {
		free(f);
		free(m);
		return G2T_ENOMEM;
	}
	for (size_t i = 0; i < s->entries; i++)
		memcpy(m + i * ENTRY_HASH, s->entry[i].hash, ENTRY_HASH);
	g2t_stream_header(f);
	n = G2T_HEADER_SIZE;
	g2t_record_frame(f + n, f + n + G2T_HEADER_SIZE + len, G2T_REC_PACKET, pkt,
	                 (uint32_t)len, g2t_crc32);
	memcpy(f + n + G2T_HEADER_SIZE, pkt, len);
	n += G2T_HEADER_SIZE + len + G2T_CRC_SIZE;
	g2t_record_frame(f + n, f + n + G2T_HEADER_SIZE + mlen, REC_MANIFEST, m,
	                 (uint32_t)mlen, g2t_crc32);
	memcpy(f + n + G2T_HEADER_SIZE, m, mlen);
	snprintf(name, sizeof name, "p-%020" PRIu64 ".pkt", seq);
	rc = write_file(s, name, f, total, NULL, 0, d);
	free(f);
	free(m);
	return rc;
}

static int by_entry_id(const void *a, const void *b)
{
	return memcmp(((const struct entry *)a)->hash, ((const struct entry *)b)->hash,
	              ENTRY_HASH);
}

/* float16 makes a weight of 65520 or more infinite, and every reader refuses
 * a packet with one (g2t(5)): refuse to pack it, leaving it held. */
static int fit_half(const struct gathered *g, struct g2t_diag *d)
{
	for (size_t i = 0; i < g->count; i++)
		for (uint32_t j = 0; j < g->weights[i].features; j++)
			if (fabsf(g->weights[i].w[j]) >= 65520.0f)
				return g2t_fail(d, G2T_EPARAM, 0, -1, "-P 16: weight %u of task %u, "
				                "%g, is beyond float16 and would be sent infinite: "
				                "pack with -P 32 or 8", j, g->weights[i].id.task,
				                (double)g->weights[i].w[j]);
	return G2T_OK;
}

int g2t_spool_pack(struct g2t_spool *s, const struct g2t_signer *key, int precision,
                   int with_schemas, uint64_t now, uint64_t *seq, struct g2t_diag *d)
{
	struct gathered g = { { 0 }, NULL, 0, 0 };
	const uint8_t **sp = NULL;
	uint32_t *sl = NULL;
	uint8_t *pkt = NULL;
	size_t len, i;
	int rc = G2T_OK;

	/* g2t(5): entries by id, not in the order a directory lists them */
	qsort(s->entry, s->entries, sizeof *s->entry, by_entry_id);
	for (i = 0; i < s->entries && !rc; i++)
		rc = walk(s, s->entry[i].name, gather_record, &g, d);
	if (!rc && !g.count)
		rc = g2t_fail(d, G2T_EDATA, 0, -1, "nothing held to pack");
	if (!rc && precision == G2T_PREC_F16)
		rc = fit_half(&g, d);
	if (!rc && (!(sp = malloc(g.schemas.n * sizeof *sp)) ||
	            !(sl = malloc(g.schemas.n * sizeof *sl))))
		rc = G2T_ENOMEM;
	for (i = 0; !rc && i < g.schemas.n; i++) {
		sp[i] = g.schemas.at[i]->payload;
		sl[i] = g.schemas.at[i]->length;
	}
	*seq = s->next_seq++;
	/* the sequence number is spent before it is used: never reused */
	if (!rc)
		rc = save_state(s, d);
	if (!rc) {
		struct g2t_batch b = { sp, sl, with_schemas ? g.schemas.n : 0, g.weights,
		                       g.count };
		rc = g2t_packet_build(&pkt, &len, &b, key, *seq, now, precision);
	}
	if (!rc)
		rc = write_packet(s, *seq, pkt, len, d);
	while (!rc && s->entries)
		rc = remove_entry(s, &s->entry[s->entries - 1], d);
	if (!rc)
		rc = sync_dir(s, d);
	if (!rc && !g2t_grow((void **)&s->pending, &s->pending_cap, s->npending + 1,
	                     sizeof *s->pending))
		s->pending[s->npending++] = *seq;
	free(pkt);
	free(sp);
	free(sl);
	gathered_free(&g);
	return rc;
}

/* The first PACKET record of a packet file, copied. */
struct found {
	uint8_t *payload;
	size_t len;
};

static int copy_packet(void *ctx, uint32_t type, const uint8_t *payload, uint32_t len,
                       struct g2t_diag *d)
{
	struct found *f = ctx;

	(void)d;
	if (type != G2T_REC_PACKET)
		return 0;
	if (!(f->payload = malloc(len ? len : 1)))
		return G2T_ENOMEM;
	memcpy(f->payload, payload, len);
	f->len = len;
	return 1;
}

int g2t_spool_packet(struct g2t_spool *s, uint64_t seq, uint8_t **out, size_t *len,
                     struct g2t_diag *d)
{
	struct found f = { NULL, 0 };
	char name[64];
	int rc;

	snprintf(name, sizeof name, "p-%020" PRIu64 ".pkt", seq);
	rc = walk(s, name, copy_packet, &f, d);
	*out = f.payload;
	*len = f.len;
	if (rc == 0)
		return g2t_fail(d, G2T_EFORMAT, 0, -1, "%s: no packet inside", name);
	return rc < 0 ? rc : G2T_OK;
}

int g2t_spool_packet_done(struct g2t_spool *s, uint64_t seq, int refused,
                          struct g2t_diag *d)
{
	char name[64], path[4096], aside[4096];

	snprintf(name, sizeof name, "p-%020" PRIu64 ".pkt", seq);
	path_of(s, name, path, sizeof path);
	snprintf(aside, sizeof aside, "%s/p-%020" PRIu64 ".refused", s->dir, seq);
	if (refused ? rename(path, aside) != 0 : unlink(path) != 0 && errno != ENOENT)
		return fail_errno(d, path);
	for (size_t i = 0; i < s->npending; i++)
		if (s->pending[i] == seq) {
			memmove(s->pending + i, s->pending + i + 1,
			        (s->npending - i - 1) * sizeof *s->pending);
			s->npending--;
			break;
		}
	return sync_dir(s, d);
}

int g2t_spool_note_send(struct g2t_spool *s, int ok, double rtt_ms, double bytes_per_s,
                        struct g2t_diag *d)
{
	struct g2t_link *l = &s->link;

	if (l->sends == 0) {
		l->rtt_ms = rtt_ms;
		l->bytes_per_s = bytes_per_s;
		l->failure = ok ? 0.0 : 1.0;
	} else {
		if (ok) {
			l->rtt_ms += SMOOTH * (rtt_ms - l->rtt_ms);
			l->bytes_per_s += SMOOTH * (bytes_per_s - l->bytes_per_s);
		}
		l->failure += SMOOTH * ((ok ? 0.0 : 1.0) - l->failure);
	}
	l->sends++;
	return save_state(s, d);
}

/*
 * q = (1 - f) * T / (T + 32 KiB/s) * 250 ms / (RTT + 250 ms), within
 * [0.01, 1]; 1 before any send was measured.
 */
double g2t_link_quality(const struct g2t_link *l)
{
	double q;

	if (l->sends == 0)
		return 1.0;
	q = (1.0 - l->failure) * l->bytes_per_s / (l->bytes_per_s + 32768.0) *
	    250.0 / (l->rtt_ms + 250.0);
	return q < 0.01 ? 0.01 : q > 1.0 ? 1.0 : q;
}

/* W_t = round(1 / q), within [lo, hi]. */
uint32_t g2t_batch_threshold(double q, uint32_t lo, uint32_t hi)
{
	double w = 1.0 / q + 0.5;
	uint32_t t = w >= (double)hi ? hi : (uint32_t)w;

	return t < lo ? lo : t;
}
