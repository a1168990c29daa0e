/*
 * avr-serial MCU FIRMWARE - run an AVR firmware, .elf or .hex (the
 * Arduino build's), in simavr (libsimavr)
 * at 16 MHz with its USART0 on stdin and stdout, as a serial line; with
 * tests/tools/serial-relay it is a device on a pty for g2t-serial.  From
 * the end of the firmware's frame to the end of the host's answer, the
 * simulation runs only while the host's bytes are there: emulated time is
 * that of a host that answers at once.  Ends
 * at the end of stdin, printing the cycles run, those spent waiting for a
 * byte (GPIOR1 is 1 then: plat_avr.c), the bytes in and the stack's peak
 * on stderr; exits 98 if the firmware crashes.  The peak: the firmware paints
 * the free RAM below its stack with 0xa5 (plat_stack_paint), and the
 * lowest byte changed above the first 32 painted in a row is its reach.
 */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <simavr/avr_uart.h>
#include <simavr/sim_avr.h>
#include <simavr/sim_elf.h>
#include <simavr/sim_hex.h>
#include <simavr/sim_io.h>
#include <simavr/sim_irq.h>

static int out_fd, xon = 1, asked; /* asked: a frame sent since the host last sent */
static avr_cycle_count_t wait_from, waited;

static void on_wait(avr_t *avr, avr_io_addr_t addr, uint8_t v, void *p)
{
	(void)addr, (void)p;
	if (v)
		wait_from = avr->cycle;
	else
		waited += avr->cycle - wait_from;
}

static void on_out(struct avr_irq_t *irq, uint32_t v, void *p)
{
	uint8_t b = (uint8_t)v;

	static uint8_t last;

	(void)irq, (void)p;
	if (!b && last)
		asked = 1; /* the end of a frame */
	last = b;
	if (write(out_fd, &b, 1) != 1)
		exit(1);
}

static void on_xon(struct avr_irq_t *irq, uint32_t v, void *p)
{
	(void)irq, (void)v, (void)p;
	xon = 1;
}

static void on_xoff(struct avr_irq_t *irq, uint32_t v, void *p)
{
	(void)irq, (void)v, (void)p;
	xon = 0;
}

int main(int argc, char **argv)
{
	elf_firmware_t fw;
	avr_t *avr;
	avr_irq_t *in;
	uint8_t buf[256];
	size_t at = 0, got = 0;
	unsigned long long bytes_in = 0;
	uint32_t flags = 0;
	int state = cpu_Running, last_in = 0;

	if (argc != 3) {
		fprintf(stderr, "usage: avr-serial MCU FIRMWARE.elf|FIRMWARE.hex\n");
		return 2;
	}
	/* libsimavr prints on stdout: the line is a copy of it */
	if ((out_fd = dup(1)) < 0 || dup2(2, 1) < 0) {
		perror("avr-serial");
		return 2;
	}
	memset(&fw, 0, sizeof fw);
	size_t n = strlen(argv[2]);
	int bad;

	if (n > 4 && !strcmp(argv[2] + n - 4, ".hex")) {
		ihex_chunk_p chunk = NULL;
		int chunks = read_ihex_chunks(argv[2], &chunk);

		bad = chunks < 1;
		for (int i = 0; i < chunks; i++)
			if (chunk[i].baseaddr < 0x100000) { /* flash; EEPROM is above */
				fw.flash = chunk[i].data;
				fw.flashsize = chunk[i].size;
				fw.flashbase = chunk[i].baseaddr;
			}
		bad = bad || !fw.flash;
	} else {
		bad = elf_read_firmware(argv[2], &fw) != 0;
	}
	if (bad || !(avr = avr_make_mcu_by_name(argv[1]))) {
		fprintf(stderr, "avr-serial: %s, %s: cannot load\n", argv[1], argv[2]);
		return 2;
	}
	avr_init(avr);
	avr->log = 0;
	avr->frequency = 16000000;
	avr_load_firmware(avr, &fw);
	avr_ioctl(avr, AVR_IOCTL_UART_GET_FLAGS('0'), &flags);
	flags &= ~(uint32_t)AVR_UART_FLAG_STDIO;
	avr_ioctl(avr, AVR_IOCTL_UART_SET_FLAGS('0'), &flags);
	avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_OUTPUT),
	                        on_out, NULL);
	avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_OUT_XON),
	                        on_xon, NULL);
	avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_OUT_XOFF),
	                        on_xoff, NULL);
	in = avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_INPUT);
	avr_register_io_write(avr, 0x4a, on_wait, NULL); /* GPIOR1 */
	while (state != cpu_Done && state != cpu_Crashed) {
		struct pollfd p = { 0, POLLIN, 0 };

		for (int i = 0; i < 2000 && state != cpu_Done && state != cpu_Crashed; i++)
			state = avr_run(avr);
		/* a byte at a time while the USART's input FIFO has room */
		while (xon && at < got)
			avr_raise_irq(in, last_in = buf[at++]);
		/* the host's answer to the firmware's last frame not come, or
		 * not all of it (its 0): no cycles run until more does, as if
		 * the host answered at once (the line's time is the UART's,
		 * 115200 baud) */
		if (at < got || poll(&p, 1, asked || last_in ? 1000 : 0) != 1)
			continue;
		ssize_t n = read(0, buf, sizeof buf);

		if (n <= 0)
			break;
		got = (size_t)n;
		at = 0;
		asked = 0;
		bytes_in += got;
	}
	uint32_t a = 0x100, run = 0, low = avr->ramend + 1;

	for (; a <= avr->ramend && run < 32; a++)
		run = avr->data[a] == 0xa5 ? run + 1 : 0;
	for (; a <= avr->ramend; a++)
		if (avr->data[a] != 0xa5) {
			low = a;
			break;
		}
	fprintf(stderr, "avr-serial: %llu cycles, %llu of them waiting for a byte; %llu bytes "
	        "in; stack peak %u bytes\n", (unsigned long long)avr->cycle,
	        (unsigned long long)waited, bytes_in, avr->ramend + 1 - low);
	return state == cpu_Crashed ? 98 : 0;
}
