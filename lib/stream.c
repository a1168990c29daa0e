/* Reading records from files and pipes with the core's decoder. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "g2t.h"

#define READ_SIZE (1u << 16)

enum { COLLECT, HASH_SHARD };

struct g2t_in {
	const char *name;
	int fd, spool;            /* spool: copy of a pipe, or -1 */
	long long base;           /* file offset of stream byte 0 */
	int shard_hash, eof, mode;
	size_t have, at;
	uint8_t *big;             /* payload of a record larger than `small` */
	size_t bigcap;
	uint32_t fill;            /* bytes of the streamed payload seen */
	crypto_generichash_state hs;
	struct g2t_decoder dec;
	uint8_t head[G2T_SHARD_HEADER_SIZE];
	uint8_t rbuf[READ_SIZE];
	uint8_t small[READ_SIZE];
};

static int spool_open(struct g2t_in *in)
{
	const char *dir = getenv("TMPDIR");
	char path[4096];

	snprintf(path, sizeof path, "%s/g2t-spool.XXXXXX", dir && *dir ? dir : "/tmp");
	in->spool = mkstemp(path);
	if (in->spool < 0)
		return G2T_EIO;
	unlink(path);
	return G2T_OK;
}

int g2t_in_open(struct g2t_in **out, const char *path, int shard_hash,
                struct g2t_diag *d)
{
	struct g2t_in *in = calloc(1, sizeof *in);
	struct stat st;

	*out = NULL;
	if (!in)
		return G2T_ENOMEM;
	in->spool = -1;
	in->shard_hash = shard_hash;
	in->name = g2t_display_name(path);
	if (!path || !strcmp(path, "-")) {
		in->fd = STDIN_FILENO;
	} else {
		in->fd = open(path, O_RDONLY);
		if (in->fd < 0) {
			free(in);
			return g2t_fail(d, G2T_EIO, 0, -1, "%s", strerror(errno));
		}
	}
	if (fstat(in->fd, &st) != 0) {
		g2t_in_free(in);
		return g2t_fail(d, G2T_EIO, 0, -1, "%s", strerror(errno));
	}
	if (shard_hash) {
		off_t at = S_ISREG(st.st_mode) ? lseek(in->fd, 0, SEEK_CUR) : -1;

		in->base = at < 0 ? 0 : (long long)at;
		if (at < 0 && spool_open(in)) {
			g2t_in_free(in);
			return g2t_fail(d, G2T_EIO, 0, -1, "cannot make a temporary file: %s",
			                strerror(errno));
		}
	}
	g2t_decoder_init(&in->dec, in->small, sizeof in->small, g2t_crc32);
	in->dec.stream_big = 1;
	*out = in;
	return G2T_OK;
}

int g2t_in_fd(const struct g2t_in *in)
{
	return in->spool >= 0 ? in->spool : in->fd;
}

const char *g2t_in_name(const struct g2t_in *in)
{
	return in->name;
}

/* Offset in g2t_in_fd() of stream byte `pos`. */
long long g2t_in_file_offset(const struct g2t_in *in, long long pos)
{
	return in->base + pos;
}

void g2t_in_free(struct g2t_in *in)
{
	if (!in)
		return;
	if (in->fd > STDIN_FILENO)
		close(in->fd);
	if (in->spool >= 0)
		close(in->spool);
	free(in->big);
	free(in);
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return G2T_EIO;
		p += w;
		n -= (size_t)w;
	}
	return G2T_OK;
}

int g2t_decoder_fail(const struct g2t_decoder *dec, int rc, struct g2t_diag *d)
{
	if (rc == G2T_EFORMAT) /* the decoder's only one */
		return g2t_fail(d, rc, 0, (long long)dec->pos, "record type %u is not one "
		                "to skip (0x100 or more)", dec->type);
	if (rc == G2T_ETRUNC)
		return g2t_fail(d, rc, 0, (long long)dec->pos, "stream ends inside a record");
	return g2t_fail(d, rc, 0, (long long)dec->pos, "%s", g2t_strerror(rc));
}

static int refill(struct g2t_in *in, struct g2t_diag *d)
{
	ssize_t n;

	do
		n = read(in->fd, in->rbuf, sizeof in->rbuf);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return g2t_fail(d, G2T_EIO, 0, -1, "%s", strerror(errno));
	in->at = 0;
	in->have = (size_t)n;
	in->eof = n == 0;
	if (n > 0 && in->spool >= 0 && write_all(in->spool, in->rbuf, (size_t)n))
		return g2t_fail(d, G2T_EIO, 0, -1, "cannot spool input: %s", strerror(errno));
	return G2T_OK;
}

static int begin(struct g2t_in *in, struct g2t_diag *d)
{
	uint32_t type = in->dec.type, len = in->dec.length;

	in->fill = 0;
	if (type == G2T_REC_SHARD && in->shard_hash) {
		in->mode = HASH_SHARD;
		g2t_crypto_init();
		crypto_generichash_init(&in->hs, NULL, 0, G2T_HASH_SIZE);
		return G2T_OK;
	}
	in->mode = COLLECT;
	if (len > (type == G2T_REC_SHARD ? G2T_SHARD_LIMIT : G2T_RECORD_LIMIT))
		return g2t_fail(d, G2T_ETOOBIG, 0, (long long)in->dec.offset,
		                "record of %u bytes is over the limit", len);
	if (len > in->bigcap) {
		uint8_t *p = realloc(in->big, len);

		if (!p)
			return G2T_ENOMEM;
		in->big = p;
		in->bigcap = len;
	}
	return G2T_OK;
}

static void data(struct g2t_in *in)
{
	const uint8_t *p = in->dec.data;
	uint32_t n = in->dec.data_len;

	if (in->mode == COLLECT) {
		memcpy(in->big + in->fill, p, n);
	} else {
		crypto_generichash_update(&in->hs, p, n);
		for (uint32_t i = 0; i < n && in->fill + i < sizeof in->head; i++)
			in->head[in->fill + i] = p[i];
	}
	in->fill += n;
}

static void finish(struct g2t_in *in, struct g2t_rec *rec)
{
	const struct g2t_decoder *dec = &in->dec;

	rec->type = dec->type;
	rec->length = dec->length;
	rec->offset = (long long)dec->offset;
	rec->payload = dec->payload ? dec->payload : in->mode == COLLECT ? in->big : NULL;
	if (rec->type != G2T_REC_SHARD || !in->shard_hash)
		return;
	if (rec->payload) {
		g2t_hash(rec->hash, rec->payload, rec->length);
		memcpy(rec->head, rec->payload,
		       rec->length < sizeof rec->head ? rec->length : sizeof rec->head);
	} else {
		crypto_generichash_final(&in->hs, rec->hash, G2T_HASH_SIZE);
		memcpy(rec->head, in->head, sizeof rec->head);
	}
}

/* Bad magic at byte 0, said with what the input seems to be instead: the
 * common mistake is a data file given to a program that reads streams. */
static int not_a_stream(const uint8_t *b, struct g2t_diag *d)
{
	const char *what = b[0] == 0x1f && b[1] == 0x8b
	                   ? ": it is gzip data (streams are read uncompressed; "
	                     "g2t-split reads data files)"
	                   : b[0] >= ' ' && b[0] < 0x7f && b[1] >= ' ' && b[1] < 0x7f
	                   ? ": it starts as text does (g2t-split reads CSV and svmlight)"
	                   : "";

	return g2t_fail(d, G2T_EMAGIC, 0, 0, "%s%s", g2t_strerror(G2T_EMAGIC), what);
}

int g2t_in_next(struct g2t_in *in, struct g2t_rec *rec, struct g2t_diag *d)
{
	for (;;) {
		size_t used;
		int ev, rc;

		if (in->at == in->have) {
			if (in->eof) {
				if (g2t_decoder_at_boundary(&in->dec))
					return 0;
				if (!in->dec.pos)
					return g2t_fail(d, G2T_EMAGIC, 0, 0, "empty input");
				return g2t_decoder_fail(&in->dec, G2T_ETRUNC, d);
			}
			if ((rc = refill(in, d)))
				return rc;
			continue;
		}
		rc = g2t_decoder_push(&in->dec, in->rbuf + in->at, in->have - in->at,
		                      &used, &ev);
		if (rc == G2T_EMAGIC && in->at == 0 && in->dec.pos < 8 && in->have >= 2)
			return not_a_stream(in->rbuf, d);
		in->at += used;
		if (rc < 0)
			return g2t_decoder_fail(&in->dec, rc, d);
		if (ev == G2T_EV_BEGIN && (rc = begin(in, d)))
			return rc;
		if (ev == G2T_EV_DATA)
			data(in);
		if (ev == G2T_EV_RECORD) {
			finish(in, rec);
			return 1;
		}
	}
}

void g2t_mem_open(struct g2t_mem *m, const uint8_t *p, size_t len)
{
	/* no buffer: every payload is streamed, and so found in place */
	g2t_decoder_init(&m->dec, NULL, 0, g2t_crc32);
	m->dec.stream_big = 1;
	m->p = p;
	m->len = len;
	m->at = 0;
}

int g2t_mem_next(struct g2t_mem *m, uint32_t *type, const uint8_t **payload,
                 uint32_t *len)
{
	const uint8_t *start = NULL;

	while (m->at < m->len) {
		size_t used;
		int ev, rc = g2t_decoder_push(&m->dec, m->p + m->at, m->len - m->at, &used, &ev);

		if (rc < 0)
			return rc;
		if (ev == G2T_EV_BEGIN)
			start = m->p + m->at + used;
		m->at += used;
		if (ev == G2T_EV_RECORD) {
			*type = m->dec.type;
			*len = m->dec.length;
			*payload = start ? start : m->p + m->at - G2T_CRC_SIZE; /* empty */
			return 1;
		}
	}
	if (!m->at)
		return G2T_EMAGIC;
	return g2t_decoder_at_boundary(&m->dec) ? 0 : G2T_ETRUNC;
}
