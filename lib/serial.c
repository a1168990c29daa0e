/*
 * serial.c - g2t-serial: drives a device over the serial protocol of
 * g2t-mcu(7).  The host sends, waits for the answer, and sends again after
 * a NAK or a silence; the device answers a repeated frame with its last
 * answer, so that nothing is trained twice or on damaged bytes.
 */
#define _DEFAULT_SOURCE /* cfmakeraw */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include "serial.h"
#include "core/g2t_link.h"

#define GARBAGE_LIMIT 16 /* damaged frames in a row: not a g2t device */

struct link {
	const struct g2t_serial_opts *o;
	int fd;
	struct g2t_link_rx rx;
	uint8_t buf[65536 + 6];
	uint8_t seq;               /* of our last frame */
	uint8_t type;              /* our last frame, to send again */
	const uint8_t *p;
	uint32_t len;
	uint8_t out[2 * 65536];    /* a frame on its way out */
	size_t out_len;
	unsigned long long sent, received, resent; /* bytes, bytes, frames */
	struct g2t_link_hello hello;
};

static void put(void *ctx, uint8_t byte)
{
	struct link *l = ctx;

	l->out[l->out_len++] = byte;
}

static int write_all(struct link *l, struct g2t_diag *d)
{
	size_t at = 0;

	while (at < l->out_len) {
		ssize_t n = write(l->fd, l->out + at, l->out_len - at);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return g2t_fail(d, G2T_EIO, 0, -1, "%s: write: %s", l->o->device,
			                strerror(errno));
		at += (size_t)n;
	}
	l->sent += at;
	return G2T_OK;
}

static int emit(struct link *l, uint8_t type, uint8_t seq, const uint8_t *p, uint32_t len,
                struct g2t_diag *d)
{
	l->out_len = 0;
	g2t_link_send(put, l, type, seq, p, len, g2t_crc32);
	return write_all(l, d);
}

/* Our next frame: the answer to the device's last (or a HI, seq 0). */
static int send_frame(struct link *l, uint8_t type, const uint8_t *p, uint32_t len,
                      struct g2t_diag *d)
{
	l->seq = type == G2T_LINK_HI ? 0 : (uint8_t)(l->seq + 2);
	l->type = type;
	l->p = p;
	l->len = len;
	return emit(l, type, l->seq, p, len, d);
}

static const char *frame_name(uint8_t type)
{
	switch (type) {
	case G2T_LINK_HI: return "HI";
	case G2T_LINK_TASK: return "TASK";
	case G2T_LINK_SIDES: return "SIDES";
	case G2T_LINK_ROWS: return "ROWS";
	case G2T_LINK_ACK: return "ACK";
	default: return "frame";
	}
}

/*
 * The device's answer to our last frame: its type, its payload in
 * l->buf + 2, l->rx.len bytes.  Silence and NAKs make us send again.
 */
static int answer(struct link *l, uint8_t *type, struct g2t_diag *d)
{
	unsigned tries = 1, garbage = 0;

	for (;;) {
		struct pollfd pfd = { l->fd, POLLIN, 0 };
		uint8_t in[4096];
		ssize_t n;
		int rc = poll(&pfd, 1, l->o->timeout_ms);

		if (rc < 0 && errno == EINTR)
			continue;
		if (rc == 0) {
			if (tries++ == l->o->tries)
				return g2t_fail(d, G2T_EIO, 0, -1, "%s: no answer to %s in %d ms, "
				                "sent %u times: the device stalls, or runs no g2t "
				                "firmware", l->o->device, frame_name(l->type),
				                l->o->timeout_ms, l->o->tries);
			l->resent++;
			if ((rc = emit(l, l->type, l->seq, l->p, l->len, d)))
				return rc;
			continue;
		}
		n = read(l->fd, in, sizeof in);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0)
			return g2t_fail(d, G2T_EIO, 0, -1, "%s: %s", l->o->device,
			                n ? strerror(errno) : "the line closed (the device went away)");
		l->received += (size_t)n;
		for (ssize_t i = 0; i < n; i++) {
			rc = g2t_link_rx_push(&l->rx, in[i], g2t_crc32);
			if (rc < 0) {
				if (++garbage == GARBAGE_LIMIT)
					return g2t_fail(d, G2T_EFORMAT, 0, -1, "%s: %d damaged frames "
					                "in a row: a wrong speed, a bad line, or not a "
					                "g2t device", l->o->device, GARBAGE_LIMIT);
				l->resent++;
				if ((rc = emit(l, G2T_LINK_NAK, 0, NULL, 0, d)))
					return rc;
				continue;
			}
			if (rc == 0)
				continue;
			garbage = 0;
			if (l->buf[0] == G2T_LINK_NAK) {
				l->resent++;
				if ((rc = emit(l, l->type, l->seq, l->p, l->len, d)))
					return rc;
			} else if (l->buf[0] == G2T_LINK_RESET) {
				return g2t_fail(d, G2T_EIO, 0, -1, "%s: the device has restarted "
				                "(it answered our %s with RESET)", l->o->device,
				                frame_name(l->type));
			} else if (l->buf[1] == (uint8_t)(l->seq + 1)) {
				*type = l->buf[0];
				return G2T_OK; /* the rest of in[] is older or garbage */
			}
			/* else an old answer again: ignored */
		}
	}
}

/* An answer of the type wanted, or an error saying what came instead. */
static int expect(struct link *l, uint8_t want, const char *what, struct g2t_diag *d)
{
	uint8_t type;
	int rc = answer(l, &type, d);

	if (rc || type == want)
		return rc;
	if (type == G2T_LINK_ERROR && l->rx.len == 4) {
		int status = (int)g2t_get_u32(l->buf + 2);

		return g2t_fail(d, G2T_EIO, 0, -1, "%s: the device refused %s: %s", l->o->device, what,
		                g2t_strerror(status));
	}
	return g2t_fail(d, G2T_EFORMAT, 0, -1, "%s: a frame of type 0x%02x (%u bytes) "
	                "where %s was due", l->o->device, type, l->rx.len, what);
}

static int open_line(struct link *l, struct g2t_diag *d)
{
	const char *path = l->o->device;
	struct stat st;

	if (stat(path, &st))
		return g2t_fail(d, G2T_EIO, 0, -1, "%s: %s", path, strerror(errno));
	if (S_ISSOCK(st.st_mode)) {
		struct sockaddr_un a = { .sun_family = AF_UNIX };

		if (strlen(path) >= sizeof a.sun_path)
			return g2t_fail(d, G2T_EPARAM, 0, -1, "%s: socket path too long", path);
		strcpy(a.sun_path, path);
		l->fd = socket(AF_UNIX, SOCK_STREAM, 0);
		if (l->fd < 0 || connect(l->fd, (struct sockaddr *)&a, sizeof a))
			return g2t_fail(d, G2T_EIO, 0, -1, "%s: connect: %s", path, strerror(errno));
		return G2T_OK;
	}
	if ((l->fd = open(path, O_RDWR | O_NOCTTY)) < 0)
		return g2t_fail(d, G2T_EIO, 0, -1, "%s: %s", path, strerror(errno));
	if (isatty(l->fd)) {
		struct termios t;

		if (tcgetattr(l->fd, &t))
			return g2t_fail(d, G2T_EIO, 0, -1, "%s: %s", path, strerror(errno));
		cfmakeraw(&t);
		t.c_cflag |= CLOCAL | CREAD;
		t.c_cc[VMIN] = 1;
		t.c_cc[VTIME] = 0;
		if (cfsetispeed(&t, B115200) || cfsetospeed(&t, B115200) ||
		    tcsetattr(l->fd, TCSANOW, &t))
			return g2t_fail(d, G2T_EIO, 0, -1, "%s: setting 115200 baud raw: %s", path,
			                strerror(errno));
		tcflush(l->fd, TCIFLUSH);
	}
	return G2T_OK;
}

/* ---- the task stream ------------------------------------------------------ */

struct shard_ref {
	const struct g2t_schema *schema;
	struct g2t_shard h;
	const uint8_t *p; /* the payload: header, then rows */
};

struct result {
	const struct g2t_schema *schema;
	uint8_t *w;
	uint32_t len;
};

struct job {
	struct g2t_schema **schema;
	size_t schemas;
	struct shard_ref *shard;
	size_t shards;
	struct result *res;
	size_t results, res_cap, shard_cap, schema_cap;
};

static const struct shard_ref *find_shard(const struct job *j, const struct g2t_schema *s,
                                          uint32_t klass)
{
	for (size_t i = j->shards; i--;)
		if (j->shard[i].schema == s && j->shard[i].h.klass == klass)
			return &j->shard[i];
	return NULL;
}

/*
 * The rows in the order g2t_train_each() reads them, as the device does:
 * each epoch the order's rows, the first step preceded (but for Pegasos)
 * by its block's rows in turn, which set the first learning rate.
 */
struct sequence {
	struct g2t_order o;
	uint32_t total, i, epochs, e;
	int started, first, pegasos;
	uint32_t eta_side, eta_first, eta_count, eta_k; /* the block read for eta0 */
	int have_row;                                 /* the step's row, after it */
	uint32_t row_side, row;
	uint32_t pos;                                 /* rows given */
};

static void sequence_init(struct sequence *q, const struct g2t_task *t, const uint32_t n[2],
                          uint32_t block)
{
	memset(q, 0, sizeof *q);
	g2t_order_init(&q->o, n, block, t->id.params.seed * 0x9e3779b9u ^ t->id.task);
	q->total = n[0] + n[1];
	q->epochs = t->id.params.epochs;
	q->first = 1;
	q->pegasos = t->id.params.algo == G2T_ALGO_PEGASOS;
}

/* 1 and the next row, or 0 after the last. */
static int sequence_next(struct sequence *q, int *side, uint32_t *row)
{
	const struct g2t_order_side *f;
	uint32_t at;
	int load;

	if (q->eta_k < q->eta_count) {
		*side = (int)q->eta_side;
		*row = q->eta_first + q->eta_k++;
	} else if (q->have_row) {
		q->have_row = 0;
		*side = (int)q->row_side;
		*row = q->row;
	} else {
		if (!q->started || q->i == q->total) {
			if (q->started && ++q->e == q->epochs)
				return 0;
			q->started = 1;
			q->i = 0;
			g2t_order_epoch(&q->o);
		}
		g2t_order_next(&q->o, side, &at, &load);
		q->i++;
		f = &q->o.side[*side];
		q->row_side = (uint32_t)*side;
		q->row = f->first + at;
		q->have_row = 1;
		if (q->first && !q->pegasos) {
			q->eta_side = (uint32_t)*side;
			q->eta_first = f->first;
			q->eta_count = f->count;
		}
		q->first = 0;
		return sequence_next(q, side, row);
	}
	q->pos++;
	return 1;
}

/* Sends the next rows in reading order: u32 position, u16 count. */
static int send_next(struct link *l, const struct shard_ref *side[2], struct sequence *q,
                     uint8_t *buf, uint64_t *row_bytes, struct g2t_diag *d)
{
	const uint8_t *p = l->buf + 2;
	uint32_t count, size = g2t_shard_row_size(&side[0]->h), k = 0, row;
	int s;

	if (l->rx.len != 6 || size != g2t_shard_row_size(&side[1]->h))
		return g2t_fail(d, G2T_EFORMAT, 0, -1, "%s: a malformed NEXT", l->o->device);
	count = (uint32_t)p[4] | (uint32_t)p[5] << 8;
	if (g2t_get_u32(p) != q->pos || !count || (uint64_t)count * size > l->hello.frame)
		return g2t_fail(d, G2T_EFORMAT, 0, -1, "%s: NEXT of %u rows from row %u of the "
		                "order, out of step (the host is at %u) or over a frame",
		                l->o->device, count, g2t_get_u32(p), q->pos);
	while (k < count && sequence_next(q, &s, &row)) {
		memcpy(buf + (size_t)k * size,
		       side[s]->p + G2T_SHARD_HEADER_SIZE + (size_t)row * size, size);
		k++;
	}
	/* none left: an empty ROWS (a device that asks ahead asks once more) */
	*row_bytes += (uint64_t)k * size;
	return send_frame(l, G2T_LINK_ROWS, buf, k * size, d);
}

/* Sends rows a device asked for: u8 side, u32 first, u16 count. */
static int send_rows(struct link *l, const struct shard_ref *side[2], uint64_t *row_bytes,
                     struct g2t_diag *d)
{
	const uint8_t *q = l->buf + 2;
	uint32_t first, count, size;
	const struct shard_ref *s;

	if (l->rx.len != 7 || q[0] > 1)
		return g2t_fail(d, G2T_EFORMAT, 0, -1, "%s: a malformed GET", l->o->device);
	s = side[q[0]];
	first = g2t_get_u32(q + 1);
	count = (uint32_t)q[5] | (uint32_t)q[6] << 8;
	size = g2t_shard_row_size(&s->h);
	if (!count || first > s->h.rows || count > s->h.rows - first ||
	    (uint64_t)count * size > l->hello.frame)
		return g2t_fail(d, G2T_EFORMAT, 0, -1, "%s: GET of rows %u..%u of class %u, "
		                "which has %u (or more than a frame)", l->o->device, first,
		                first + count - 1, s->h.klass, s->h.rows);
	*row_bytes += (uint64_t)count * size;
	return send_frame(l, G2T_LINK_ROWS, s->p + G2T_SHARD_HEADER_SIZE + (size_t)first * size,
	                  count * size, d);
}

static int train_one(struct link *l, struct job *j, const struct g2t_task *t,
                     const struct g2t_schema *s, long long offset, struct g2t_diag *d)
{
	const struct shard_ref *side[2] = { find_shard(j, s, t->id.class_a),
	                                    find_shard(j, s, t->id.class_b) };
	uint8_t stream[G2T_HEADER_SIZE * 2 + 512], sides[2 * G2T_SHARD_HEADER_SIZE + 4];
	uint8_t *rec = NULL, *w = NULL, *next = NULL;
	uint32_t n[2], len, at = 0, F = s->features, frame = l->hello.frame, block;
	struct sequence seq;
	unsigned long long sent0 = l->sent, received0 = l->received, resent0 = l->resent;
	uint64_t row_bytes = 0;
	size_t rec_len = 0, rec_cap = 0;
	struct g2t_weights wt;
	uint8_t type;
	long enc;
	int rc;

	if (s->flags & G2T_SCHEMA_OVR)
		return g2t_fail(d, G2T_ESCHEMA, 0, offset, "task %u: one-vs-rest tasks need "
		                "every class's rows; train them with g2t-train", t->id.task);
	if (!side[0] || !side[1])
		return g2t_fail(d, G2T_ESCHEMA, 0, offset, "task %u: the SHARD of class %u is "
		                "missing", t->id.task, side[0] ? t->id.class_b : t->id.class_a);
	if (!((l->hello.algos >> t->id.params.algo) & 1) || F > l->hello.features ||
	    !((l->hello.encodings >> side[0]->h.encoding) & 1) ||
	    !((l->hello.encodings >> side[1]->h.encoding) & 1))
		return g2t_fail(d, G2T_EPARAM, 0, offset, "task %u: %s does not train it "
		                "(algorithm %u, %u features, row encoding %u; it takes "
		                "algorithms 0x%x, %u features, encodings 0x%x)", t->id.task,
		                l->o->device, t->id.params.algo, F, side[0]->h.encoding,
		                l->hello.algos, l->hello.features, l->hello.encodings);
	/* TASK: a G2T stream of the TASK record alone, in pieces of a frame */
	g2t_stream_header(stream);
	if ((enc = g2t_task_encode(stream + 2 * G2T_HEADER_SIZE, 512 - G2T_CRC_SIZE, t)) < 0)
		return (int)enc;
	len = (uint32_t)enc;
	g2t_record_frame(stream + G2T_HEADER_SIZE, stream + 2 * G2T_HEADER_SIZE + len,
	                 G2T_REC_TASK, stream + 2 * G2T_HEADER_SIZE, len, g2t_crc32);
	len += 2 * G2T_HEADER_SIZE + G2T_CRC_SIZE;
	for (at = 0; at < len; at += frame) {
		uint32_t k = len - at < frame ? len - at : frame;

		if ((rc = send_frame(l, G2T_LINK_TASK, stream + at, k, d)) ||
		    (rc = expect(l, G2T_LINK_ACK, "the TASK record", d)))
			return rc;
	}
	/* SIDES: the two SHARD headers and g2t-train's block */
	n[0] = side[0]->h.rows;
	n[1] = side[1]->h.rows;
	memcpy(sides, side[0]->p, G2T_SHARD_HEADER_SIZE);
	memcpy(sides + G2T_SHARD_HEADER_SIZE, side[1]->p, G2T_SHARD_HEADER_SIZE);
	block = g2t_train_block(t->id.params.algo, F, n);
	g2t_put_u32(sides + 2 * G2T_SHARD_HEADER_SIZE, block);
	sequence_init(&seq, t, n, block);
	if (!(next = malloc(frame)))
		return G2T_ENOMEM;
	rc = send_frame(l, G2T_LINK_SIDES, sides, sizeof sides, d);
	/* rows as the device asks, until its WEIGHTS record */
	while (!rc) {
		if ((rc = answer(l, &type, d)))
			break;
		if (type == G2T_LINK_GET) {
			rc = send_rows(l, side, &row_bytes, d);
		} else if (type == G2T_LINK_NEXT) {
			rc = send_next(l, side, &seq, next, &row_bytes, d);
		} else if (type == G2T_LINK_WEIGHTS || type == G2T_LINK_END) {
			if ((rc = g2t_grow((void **)&rec, &rec_cap, rec_len + l->rx.len, 1)))
				break;
			memcpy(rec + rec_len, l->buf + 2, l->rx.len);
			rec_len += l->rx.len;
			if (type == G2T_LINK_END)
				break;
			rc = send_frame(l, G2T_LINK_ACK, NULL, 0, d);
		} else {
			int status = type == G2T_LINK_ERROR && l->rx.len == 4 ?
			             (int)g2t_get_u32(l->buf + 2) : 0;

			rc = status ? g2t_fail(d, G2T_EIO, 0, offset, "task %u: %s failed it: %s",
			                       t->id.task, l->o->device, g2t_strerror(status))
			            : g2t_fail(d, G2T_EFORMAT, 0, offset, "task %u: %s sent a "
			                       "frame of type 0x%02x while training", t->id.task,
			                       l->o->device, type);
		}
	}
	free(next);
	/* the record: framed, its CRC right, a WEIGHTS of this task */
	if (!rc && (rec_len < G2T_HEADER_SIZE + G2T_CRC_SIZE ||
	            g2t_get_u32(rec) != G2T_REC_WEIGHTS ||
	            g2t_get_u32(rec + 4) != rec_len - G2T_HEADER_SIZE - G2T_CRC_SIZE ||
	            g2t_crc32(g2t_crc32(0, rec, G2T_HEADER_SIZE), rec + G2T_HEADER_SIZE,
	                      rec_len - 12) != g2t_get_u32(rec + rec_len - 4)))
		rc = g2t_fail(d, G2T_EFORMAT, 0, offset, "task %u: the device sent a "
		              "malformed WEIGHTS record", t->id.task);
	len = (uint32_t)rec_len - G2T_HEADER_SIZE - G2T_CRC_SIZE;
	if (!rc && !(w = malloc(F * sizeof(float))))
		rc = G2T_ENOMEM;
	if (!rc) {
		wt.w = (float *)w;
		rc = g2t_weights_check(s, rec + G2T_HEADER_SIZE, len, &wt, offset, d);
		free(w);
		if (!rc && memcmp(wt.task_hash, t->hash, G2T_HASH_SIZE))
			rc = g2t_fail(d, G2T_EFORMAT, 0, offset, "task %u: the device sent "
			              "the WEIGHTS of another task", t->id.task);
	}
	if (!rc && (rc = g2t_grow((void **)&j->res, &j->res_cap, j->results + 1,
	                          sizeof *j->res)) == G2T_OK) {
		memmove(rec, rec + G2T_HEADER_SIZE, len);
		j->res[j->results++] = (struct result){ s, rec, len };
		rec = NULL;
	}
	free(rec);
	if (!rc && l->o->stats)
		fprintf(l->o->stats, "task %u: rows %u, row bytes %llu, rows sent %llu, "
		        "wire bytes out %llu in %llu, frames sent again %llu\n", t->id.task,
		        n[0] + n[1], (unsigned long long)(n[0] * g2t_shard_row_size(&side[0]->h) +
		                                          n[1] * g2t_shard_row_size(&side[1]->h)),
		        (unsigned long long)row_bytes, l->sent - sent0, l->received - received0,
		        l->resent - resent0);
	return rc;
}

/* ---- the run ------------------------------------------------------------------ */

static int index_stream(struct job *j, const uint8_t *in, size_t len, struct link *l,
                        struct g2t_diag *d)
{
	struct g2t_mem m;
	const struct g2t_schema *cur = NULL;
	const uint8_t *p;
	uint32_t type, n;
	int rc;

	g2t_mem_open(&m, in, len);
	while ((rc = g2t_mem_next(&m, &type, &p, &n)) == 1) {
		long long offset = (long long)m.dec.offset;

		if (type == G2T_REC_SCHEMA) {
			struct g2t_schema *s;

			if ((rc = g2t_grow((void **)&j->schema, &j->schema_cap, j->schemas + 1,
			                   sizeof *j->schema)))
				return rc;
			if ((rc = g2t_schema_read(&s, p, n, d))) {
				d->offset = offset;
				return rc;
			}
			j->schema[j->schemas++] = s;
			cur = s;
		} else if (type == G2T_REC_SHARD) {
			struct shard_ref *r;
			uint8_t hash[G2T_HASH_SIZE];

			if ((rc = g2t_grow((void **)&j->shard, &j->shard_cap, j->shards + 1,
			                   sizeof *j->shard)))
				return rc;
			r = &j->shard[j->shards];
			if (g2t_shard_header_decode(&r->h, p, n) || !cur || r->h.klass >= cur->classes)
				return g2t_fail(d, G2T_EFORMAT, 0, offset, "a SHARD record that "
				                "is malformed or follows no SCHEMA");
			g2t_hash(hash, p, n);
			if (memcmp(hash, cur->shard_hash[r->h.klass], G2T_HASH_SIZE) ||
			    r->h.features != cur->features || r->h.rows != cur->rows[r->h.klass])
				return g2t_fail(d, G2T_ESCHEMA, 0, offset, "the SHARD of class %u "
				                "is not the one its SCHEMA lists", r->h.klass);
			if (!g2t_shard_row_size(&r->h))
				return g2t_fail(d, G2T_EPARAM, 0, offset, "the SHARD of class %u "
				                "has sparse rows: devices take dense rows", r->h.klass);
			r->schema = cur;
			r->p = p;
			j->shards++;
		} else if (type == G2T_REC_TASK) {
			struct g2t_task t;
			const struct g2t_schema *s = NULL;

			if ((rc = g2t_task_read(&t, p, n, offset, d)))
				return rc;
			for (size_t i = 0; i < j->schemas && !s; i++)
				if (!memcmp(j->schema[i]->id, t.id.schema_id, G2T_HASH_SIZE))
					s = j->schema[i];
			if (!s)
				return g2t_fail(d, G2T_ESCHEMA, 0, offset, "task %u: its SCHEMA "
				                "record is missing", t.id.task);
			if ((rc = train_one(l, j, &t, s, offset, d)))
				return rc;
		}
	}
	return rc < 0 ? g2t_decoder_fail(&m.dec, rc, d) : G2T_OK;
}

/* Each schema that has tasks, then its weights, in input order: as g2t-train. */
static int write_results(const struct job *j, FILE *out)
{
	int rc = g2t_write_header(out);

	for (size_t s = 0; s < j->schemas && !rc; s++) {
		int wrote = 0;

		for (size_t i = 0; i < j->results && !rc; i++) {
			if (j->res[i].schema != j->schema[s])
				continue;
			if (!wrote++)
				rc = g2t_write_record(out, G2T_REC_SCHEMA, j->schema[s]->payload,
				                      j->schema[s]->length);
			if (!rc)
				rc = g2t_write_record(out, G2T_REC_WEIGHTS, j->res[i].w, j->res[i].len);
		}
	}
	return rc;
}

/* The whole task stream: its SHARD rows are sent again and again. */
static int read_all(FILE *f, uint8_t **p, size_t *len, struct g2t_diag *d)
{
	size_t cap = 0;
	int rc;

	*p = NULL;
	*len = 0;
	for (;;) {
		if ((rc = g2t_grow((void **)p, &cap, *len + 65536, 1)))
			return rc;
		size_t n = fread(*p + *len, 1, cap - *len, f);

		*len += n;
		if (n == 0)
			break;
	}
	return ferror(f) ? g2t_fail(d, G2T_EIO, 0, -1, "reading the task stream: %s",
	                            strerror(errno)) : G2T_OK;
}

int g2t_serial_run(const struct g2t_serial_opts *o, FILE *f, FILE *out, struct g2t_diag *d)
{
	struct link *l = calloc(1, sizeof *l);
	struct job j = { 0 };
	uint8_t *in = NULL;
	size_t len = 0;
	int rc = l ? read_all(f, &in, &len, d) : G2T_ENOMEM;

	g2t_crypto_init();
	if (!rc) {
		l->o = o;
		l->fd = -1;
		g2t_link_rx_init(&l->rx, l->buf, sizeof l->buf);
		rc = open_line(l, d);
	}
	if (!rc && !(rc = send_frame(l, G2T_LINK_HI, NULL, 0, d)) &&
	    !(rc = expect(l, G2T_LINK_HELLO, "HELLO", d))) {
		if (l->rx.len != G2T_LINK_HELLO_SIZE)
			rc = g2t_fail(d, G2T_EFORMAT, 0, -1, "%s: a HELLO of %u bytes",
			              o->device, l->rx.len);
		else
			g2t_link_hello_decode(&l->hello, l->buf + 2);
		if (!rc && (l->hello.version != G2T_LINK_VERSION || l->hello.frame < 64 ||
		            l->hello.frame > 65535))
			rc = g2t_fail(d, G2T_EVERSION, 0, -1, "%s: protocol version %u, frames "
			              "of %u bytes: not ours", o->device, l->hello.version,
			              l->hello.frame);
		if (!rc && o->stats)
			fprintf(o->stats, "device: algorithms 0x%x, encodings 0x%x, %u features, "
			        "%u bytes for rows, frames of %u bytes\n", l->hello.algos,
			        l->hello.encodings, l->hello.features, l->hello.rows_ram,
			        l->hello.frame);
	}
	if (!rc)
		rc = index_stream(&j, in, len, l, d);
	if (!rc)
		rc = write_results(&j, out);
	if (l && l->fd >= 0)
		close(l->fd);
	for (size_t i = 0; i < j.results; i++)
		free(j.res[i].w);
	for (size_t i = 0; i < j.schemas; i++)
		g2t_schema_free(j.schema[i]);
	free(j.res);
	free(j.schema);
	free(j.shard);
	free(in);
	free(l);
	return rc;
}
