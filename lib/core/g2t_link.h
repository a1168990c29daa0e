/*
 * g2t_link.h - the serial device protocol's framing (g2t-mcu(7), SERIAL
 * PROTOCOL), freestanding like the rest of the core: the device and the
 * host bridge (g2t-serial) share it.
 *
 * A frame on the wire is 0x00, then the COBS encoding of
 *     u8 type, u8 seq, payload, u32 CRC-32 (little-endian) of all before it,
 * then 0x00.  COBS leaves no 0x00 inside, so a receiver finds the next
 * frame after any damage; the CRC catches the damage.
 */
#ifndef G2T_LINK_H
#define G2T_LINK_H

#include "g2t_core.h"

#define G2T_LINK_VERSION 1u
#define G2T_LINK_OVERHEAD 9u /* bytes a frame adds to its payload, up to 248 */

/* Frame types. */
enum g2t_link_type {
	G2T_LINK_HI = 'H',      /* host: start a session */
	G2T_LINK_HELLO = 'P',   /* device: its profile */
	G2T_LINK_TASK = 'T',    /* host: a piece of the task's G2T stream */
	G2T_LINK_SIDES = 'S',   /* host: the two SHARD headers and the block */
	G2T_LINK_GET = 'G',     /* device: u8 side, u32 first, u16 count */
	G2T_LINK_NEXT = 'Q',    /* device: u32 position, u16 count in reading order */
	G2T_LINK_ROWS = 'R',    /* host: those rows' bytes */
	G2T_LINK_WEIGHTS = 'W', /* device: a piece of the WEIGHTS record */
	G2T_LINK_END = 'E',     /* device: its last piece */
	G2T_LINK_ACK = 'K',     /* either: received, go on */
	G2T_LINK_NAK = 'N',     /* either: a damaged frame came: send yours again */
	G2T_LINK_ERROR = 'X',   /* device: i32 status, refused or failed */
	G2T_LINK_RESET = 'Z'    /* device: no session (it has restarted) */
};

/* HELLO's payload. */
struct g2t_link_hello {
	uint32_t version;   /* G2T_LINK_VERSION */
	uint32_t algos;     /* bit 1 << enum g2t_algo it trains */
	uint32_t encodings; /* bit 1 << enum g2t_encoding of rows it reads */
	uint32_t features;  /* most features a row */
	uint32_t rows_ram;  /* bytes of RAM for rows */
	uint32_t frame;     /* most payload bytes in a frame it receives */
};
#define G2T_LINK_HELLO_SIZE 24u
void g2t_link_hello_encode(uint8_t out[G2T_LINK_HELLO_SIZE], const struct g2t_link_hello *h);
void g2t_link_hello_decode(struct g2t_link_hello *h, const uint8_t in[G2T_LINK_HELLO_SIZE]);

/* Sends one frame byte by byte through put (its bytes: at most
 * len + G2T_LINK_OVERHEAD + (len + 5) / 254). */
typedef void (*g2t_link_put)(void *ctx, uint8_t byte);
void g2t_link_send(g2t_link_put put, void *ctx, uint8_t type, uint8_t seq,
                   const uint8_t *payload, uint32_t len, g2t_crc_fn crc);

/* A receiver: frames gathered into the caller's buf[cap] (type, seq,
 * payload and CRC: cap is the largest payload + 6). */
struct g2t_link_rx {
	uint8_t *buf;
	uint32_t cap, len, got;
	uint8_t left, code, bad;
};
void g2t_link_rx_init(struct g2t_link_rx *r, uint8_t *buf, uint32_t cap);
/*
 * Takes one byte off the wire: 0 (more needed), 1 (a whole frame: buf[0]
 * its type, buf[1] its seq, the payload at buf + 2 of len bytes), or
 * G2T_ECRC for a damaged frame (bad CRC or encoding, or longer than cap).
 */
int g2t_link_rx_push(struct g2t_link_rx *r, uint8_t byte, g2t_crc_fn crc);

#endif
