/*
 * serial.h - g2t-serial: the host's side of the serial device protocol
 * (g2t-mcu(7), SERIAL PROTOCOL).  The device trains; the host keeps the
 * rows, the keys and the files.
 */
#ifndef G2T_SERIAL_H
#define G2T_SERIAL_H

#include "g2t.h"

struct g2t_serial_opts {
	const char *device;  /* a tty, a pty, or a Unix socket */
	int timeout_ms;      /* for each answer */
	unsigned tries;      /* sends of one frame before giving up */
	FILE *stats;         /* a line per task, or NULL */
};

/* Trains every task of the stream read from `in` on the device and writes
 * the stream g2t-train would write: header, SCHEMA, WEIGHTS. */
int g2t_serial_run(const struct g2t_serial_opts *o, FILE *in, FILE *out,
                   struct g2t_diag *d);

#endif
