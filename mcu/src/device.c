/*
 * device.c - the serial device firmware: trains the tasks a host sends over
 * the UART, protocol in g2t-mcu(7), SERIAL PROTOCOL; g2t-serial(1) is the
 * host's side.  Freestanding: static buffers, no malloc, no stdio.
 *
 * The task's rows stay on the host.  When the blocks of rows of the row
 * order fit in DEV_ROWS_RAM / 2 bytes a side, the device fetches each
 * block whole when it starts (g2t_train_each's hint) and keeps it (GET);
 * otherwise it asks for the rows in the order training reads them, as
 * many as a frame holds at a time (NEXT), which the host knows as well, so
 * that a device of any size trains a task of any size.
 *
 * DEV_RX_IRQ (the AVR builds): the UART's receive interrupt decodes the
 * host's frames while the device trains, and a device that asks for rows
 * in reading order asks for the next ones as soon as it has the last, so
 * that the line and the training overlap.
 */
#include "g2t_core.h"
#include "g2t_link.h"
#include "plat.h"
#include "crc32.h"

#ifndef DEV_FEATURES
#define DEV_FEATURES 256 /* most features a row */
#endif
#ifndef DEV_ROWS_RAM
#define DEV_ROWS_RAM 32768 /* bytes for rows, both sides; the WEIGHTS record after */
#endif
#ifndef DEV_FRAME
#define DEV_FRAME 1024 /* most payload bytes in a frame received */
#endif
#ifndef DEV_TASK_CAP
#define DEV_TASK_CAP 384 /* a TASK record: 104 bytes and its token */
#endif

static struct {
	struct g2t_link_rx rx;
	uint8_t seq_in, seq_out, last_type, session;
	const uint8_t *last;     /* our last frame's payload, to send again */
	uint32_t last_len;
	struct g2t_decoder dec;  /* the TASK's G2T stream */
	struct g2t_task task;
	int have_task;
	struct side {
		struct g2t_shard h;
		uint32_t size;         /* bytes a row */
		uint32_t first, count; /* rows held in cache */
		uint8_t *cache;
	} side[2];
	uint8_t get[7];
	uint8_t status[4];
	int stream;              /* NEXT: rows in reading order */
	uint32_t pos;            /* rows read so far (NEXT) */
	uint32_t have, at;       /* rows in rows_ram, the next to read */
	int ahead;               /* a NEXT sent before its rows were needed */
} dev;

static uint8_t rx_buf[DEV_FRAME + 6];
static uint8_t task_buf[DEV_TASK_CAP];
static union {
	uint64_t align;
	uint8_t b[DEV_ROWS_RAM];
} rows_ram;
static float work[3 * DEV_FEATURES], weights[DEV_FEATURES];

#ifdef DEV_RX_IRQ
/* 0 while the interrupt decodes; then 1 for a frame in rx_buf, -1 for a
 * damaged one, and bytes are dropped until release() (the host sends
 * nothing more before our answer but a repeat, which we can do without). */
static volatile int8_t rx_state;

void plat_uart_rx(uint8_t byte)
{
	int rc;

	if (!rx_state && (rc = g2t_link_rx_push(&dev.rx, byte, mcu_crc32)))
		rx_state = rc > 0 ? 1 : -1;
}

static int frame(void)
{
	int rc;

	plat_uart_waiting(1);
	while (!(rc = rx_state))
		;
	plat_uart_waiting(0);
	__asm__ volatile("" ::: "memory");
	return rc;
}

/* rx_buf may take the next frame: before anything is sent */
static void release(void)
{
	__asm__ volatile("" ::: "memory");
	rx_state = 0;
}
#else
static int frame(void)
{
	return g2t_link_rx_push(&dev.rx, (uint8_t)plat_uart_getc(), mcu_crc32);
}

static void release(void) {}
#endif

static void put(void *ctx, uint8_t byte)
{
	(void)ctx;
	plat_uart_putc(byte);
}

static void send(uint8_t type, const uint8_t *p, uint32_t len)
{
	dev.last_type = type;
	dev.last = p;
	dev.last_len = len;
	dev.seq_out = (uint8_t)(dev.seq_in + 1);
	release();
	g2t_link_send(put, 0, type, dev.seq_out, p, len, mcu_crc32);
}

static void send_status(uint8_t type, int status)
{
	g2t_put_u32(dev.status, (uint32_t)status);
	send(type, dev.status, 4);
}

/*
 * The host's next frame: its type, its payload at rx_buf + 2.  A damaged
 * frame is answered NAK; a NAK, or the host's last frame again (our answer
 * was lost), by our last frame again; a HI starts a session whatever
 * came before.
 */
static uint8_t receive(void)
{
	for (;;) {
		int rc = frame();
		uint8_t type = rx_buf[0], seq = rx_buf[1];

		if (rc == 0)
			continue;
		if (rc < 0) {
			release();
			g2t_link_send(put, 0, G2T_LINK_NAK, 0, 0, 0, mcu_crc32);
		} else if (type == G2T_LINK_HI) {
			dev.seq_in = seq;
			return type;
		} else if (!dev.session) {
			dev.seq_in = seq; /* restarted in the middle: tell the host */
			send_status(G2T_LINK_RESET, G2T_EIO);
		} else if (type == G2T_LINK_NAK || seq == dev.seq_in) {
			release();
			g2t_link_send(put, 0, dev.last_type, dev.seq_out, dev.last, dev.last_len,
			              mcu_crc32);
		} else if (seq == (uint8_t)(dev.seq_out + 1)) {
			dev.seq_in = seq;
			return type;
		}
		release(); /* a frame out of turn: not answered */
	}
}

static void hello(void)
{
	static uint8_t p[G2T_LINK_HELLO_SIZE];
	struct g2t_link_hello h = {
		.version = G2T_LINK_VERSION,
		.algos = G2T_ALGOS & ((1u << G2T_ALGO_ASGD) | (1u << G2T_ALGO_PEGASOS)),
		.encodings = (1u << G2T_ENC_U8) | (G2T_WITH_F32_ROWS ? 1u << G2T_ENC_F32 : 0),
		.features = DEV_FEATURES,
		.rows_ram = DEV_ROWS_RAM,
		.frame = DEV_FRAME,
	};

	g2t_link_hello_encode(p, &h);
	dev.session = 1;
	dev.have_task = 0;
	dev.ahead = 0;
	g2t_decoder_init(&dev.dec, task_buf, sizeof task_buf, mcu_crc32);
	send(G2T_LINK_HELLO, p, sizeof p);
}

/* A piece of the task's stream: 0, 1 when its TASK record is complete. */
static int task_piece(const uint8_t *p, uint32_t len)
{
	while (len) {
		size_t used;
		int ev, rc = g2t_decoder_push(&dev.dec, p, len, &used, &ev);

		if (rc < 0)
			return rc;
		p += used;
		len -= (uint32_t)used;
		if (ev == G2T_EV_RECORD && dev.dec.type == G2T_REC_TASK) {
			if ((rc = g2t_task_decode(&dev.task, dev.dec.payload, dev.dec.length)))
				return rc;
			if (len)
				return G2T_EFORMAT;
			dev.have_task = 1;
			return 1;
		}
		if (ev != G2T_EV_NONE)
			return G2T_EFORMAT; /* a task stream holds its TASK record only */
	}
	return 0;
}

/* Rows first..first+count-1 of a side into dst, in frames the host sends. */
static int fetch(int side, uint32_t first, uint32_t count, uint8_t *dst)
{
	uint32_t size = dev.side[side].size, most = DEV_FRAME / size;

	while (count) {
		uint32_t k = count < most ? count : most, i;

		dev.get[0] = (uint8_t)side;
		g2t_put_u32(dev.get + 1, first);
		dev.get[5] = (uint8_t)k;
		dev.get[6] = (uint8_t)(k >> 8);
		send(G2T_LINK_GET, dev.get, sizeof dev.get);
		if (receive() != G2T_LINK_ROWS || dev.rx.len != k * size)
			return G2T_EIO;
		for (i = 0; i < k * size; i++)
			*dst++ = rx_buf[2 + i];
		first += k;
		count -= k;
	}
	return G2T_OK;
}

/* NEXT: u32 position, u16 count, as many rows as a frame holds. */
static void send_next(uint32_t pos, uint32_t size)
{
	uint32_t k = (DEV_ROWS_RAM < DEV_FRAME ? DEV_ROWS_RAM : DEV_FRAME) / size;

	g2t_put_u32(dev.get, pos);
	dev.get[4] = (uint8_t)k;
	dev.get[5] = (uint8_t)(k >> 8);
	send(G2T_LINK_NEXT, dev.get, 6);
}

/* The next row in reading order, from rows_ram, asking for more when it
 * is empty. */
static int read_next(struct side *s, float *out)
{
	if (dev.at == dev.have) {
		uint32_t i, most = (DEV_ROWS_RAM < DEV_FRAME ? DEV_ROWS_RAM : DEV_FRAME) / s->size;

		if (!dev.ahead)
			send_next(dev.pos, s->size);
		dev.ahead = 0;
		/* k rows, fewer at the end */
		if (receive() != G2T_LINK_ROWS || !dev.rx.len || dev.rx.len % s->size ||
		    dev.rx.len > most * s->size)
			return G2T_EIO;
		for (i = 0; i < dev.rx.len; i++)
			rows_ram.b[i] = rx_buf[2 + i];
		dev.have = dev.rx.len / s->size;
		dev.at = 0;
#if defined DEV_RX_IRQ || defined DEV_AHEAD
		/* the next rows come while these are trained on (after the
		 * last, rows not needed or an empty ROWS) */
		send_next(dev.pos + dev.have, s->size);
		dev.ahead = 1;
#endif
	}
	g2t_shard_row_decode(&s->h, rows_ram.b + dev.at++ * s->size, out);
	dev.pos++;
	return G2T_OK;
}

static int read_rows(void *ctx, int side, uint32_t first, uint32_t count, float *out)
{
	struct side *s = &dev.side[side];
	int rc = G2T_OK;

	(void)ctx;
	if (dev.stream)
		return out ? read_next(s, out) : G2T_OK;
	if (!out) { /* a block starts: keep it when it fits */
		if ((size_t)count * s->size <= DEV_ROWS_RAM / 2 &&
		    (s->first != first || s->count != count)) {
			s->count = 0;
			if ((rc = fetch(side, first, count, s->cache)) == G2T_OK)
				s->first = first, s->count = count;
		}
		return rc;
	}
	if (first - s->first >= s->count || first < s->first) {
		s->count = 0; /* one row, in place of what was kept */
		if ((rc = fetch(side, first, 1, s->cache)))
			return rc;
		s->first = first, s->count = 1;
	}
	g2t_shard_row_decode(&s->h, s->cache + (first - s->first) * s->size, out);
	return G2T_OK;
}

/* SIDES: the SHARD headers of class a and class b, u32 block. */
static int sides(const uint8_t *p, uint32_t len)
{
	const struct g2t_task_id *id = &dev.task.id;
	int k, rc;

	if (!dev.have_task || len != 2 * G2T_SHARD_HEADER_SIZE + 4)
		return G2T_EFORMAT;
	for (k = 0; k < 2; k++) {
		struct side *s = &dev.side[k];

		const uint8_t *q = p + k * G2T_SHARD_HEADER_SIZE;
		/* the payload's length, as if its rows had come too */
		uint64_t rows = (uint64_t)g2t_get_u32(q + 4) * g2t_get_u32(q + 8) *
		                (g2t_get_u32(q + 12) == G2T_ENC_U8 ? 1u : 4u);

		if (g2t_get_u32(q + 12) & G2T_ENC_SPARSE || rows > (size_t)-1 - G2T_SHARD_HEADER_SIZE)
			return G2T_EPARAM;
		if ((rc = g2t_shard_header_decode(&s->h, q, G2T_SHARD_HEADER_SIZE + (size_t)rows)))
			return rc;
		s->size = g2t_shard_row_size(&s->h);
		if (s->h.klass != (k ? id->class_b : id->class_a) || !s->h.rows ||
		    s->h.features != dev.side[0].h.features || !s->size)
			return G2T_EPARAM;
		s->cache = rows_ram.b + k * (DEV_ROWS_RAM / 2);
		s->count = 0;
	}
	if (dev.side[0].h.features > DEV_FEATURES || dev.side[0].size > DEV_ROWS_RAM / 2 ||
	    dev.side[0].size > DEV_FRAME || dev.side[1].size > DEV_FRAME)
		return G2T_ENOMEM;
	/* blocks that do not fit: rows in reading order, when both sides'
	 * rows have one size */
	dev.stream = 0;
	for (k = 0; k < 2; k++) {
		uint32_t block = g2t_get_u32(p + 2 * G2T_SHARD_HEADER_SIZE), n = dev.side[k].h.rows;

		if ((uint64_t)(block < n ? block : n) * dev.side[k].size > DEV_ROWS_RAM / 2)
			dev.stream = dev.side[0].size == dev.side[1].size;
	}
	dev.pos = dev.have = dev.at = 0;
	dev.ahead = 0;
	return G2T_OK;
}

/* Trains the task and sends its WEIGHTS record; 1 when a HI broke in. */
static int train(uint32_t block)
{
	struct g2t_weights out = { .w = weights };
	uint32_t n[2] = { dev.side[0].h.rows, dev.side[1].h.rows };
	uint32_t F = dev.side[0].h.features, len, at = 0;
	uint8_t *rec = rows_ram.b;
	long enc = 0;
	int rc = g2t_train_each(&dev.task, F, n, read_rows, 0, work, block, &out);

	if (rc == G2T_OK && dev.ahead) { /* the answer to the NEXT after the last rows */
		dev.ahead = 0;
		if (receive() != G2T_LINK_ROWS)
			rc = G2T_EIO;
	}
	if (rc == G2T_EIO && rx_buf[0] == G2T_LINK_HI)
		return 1;
	if (rc == G2T_OK) {
		/* the record, framed, where the rows were */
		enc = g2t_weights_encode(rec + G2T_HEADER_SIZE,
		                         DEV_ROWS_RAM - G2T_HEADER_SIZE - G2T_CRC_SIZE, &out);
		rc = enc < 0 ? (int)enc : G2T_OK;
	}
	dev.have_task = 0;
	g2t_decoder_init(&dev.dec, task_buf, sizeof task_buf, mcu_crc32);
	if (rc) {
		send_status(G2T_LINK_ERROR, rc);
		return 0;
	}
	len = (uint32_t)enc;
	g2t_record_frame(rec, rec + G2T_HEADER_SIZE + len, G2T_REC_WEIGHTS,
	                 rec + G2T_HEADER_SIZE, len, mcu_crc32);
	len += G2T_HEADER_SIZE + G2T_CRC_SIZE;
	for (;;) {
		uint32_t k = len - at < DEV_FRAME ? len - at : DEV_FRAME;

		send(at + k == len ? G2T_LINK_END : G2T_LINK_WEIGHTS, rec + at, k);
		if ((at += k) == len)
			return 0; /* the host's next frame is the next task's */
		if (receive() != G2T_LINK_ACK)
			return rx_buf[0] == G2T_LINK_HI;
	}
}

/* Serves the host forever; the Arduino library's G2T.run() (mcu/arduino). */
void g2t_device_run(void)
{
	uint8_t type;

	g2t_link_rx_init(&dev.rx, rx_buf, sizeof rx_buf);
	type = receive();
	for (;;) {
		const uint8_t *p = rx_buf + 2;
		uint32_t len = dev.rx.len;
		int rc;

		if (type == G2T_LINK_HI) {
			hello();
		} else if (type == G2T_LINK_TASK) {
			rc = task_piece(p, len);
			if (rc < 0)
				send_status(G2T_LINK_ERROR, rc);
			else
				send(G2T_LINK_ACK, 0, 0);
		} else if (type == G2T_LINK_SIDES) {
			if ((rc = sides(p, len)))
				send_status(G2T_LINK_ERROR, rc);
			else if (train(g2t_get_u32(p + 2 * G2T_SHARD_HEADER_SIZE))) {
				type = G2T_LINK_HI; /* a HI came while training: start again */
				continue;
			}
		} else {
			send_status(G2T_LINK_ERROR, G2T_EFORMAT);
		}
		type = receive();
	}
}

#ifndef G2T_ARDUINO
int main(void)
{
	plat_init();
	plat_stack_paint(); /* the runner measures the stack's peak (avr-serial) */
	g2t_device_run();
	return 0;
}
#endif
