/*
 * avr-run MCU FIRMWARE.elf - run an AVR firmware in simavr (libsimavr) at
 * 16 MHz, as mcu/src/plat_avr.c expects: bytes written to GPIOR1 go to
 * stdout (simavr's own messages to stderr), a byte written to GPIOR2 ends the run with that exit code, a write
 * to GPIOR0 latches the cycle counter for four reads of GPIOR0.  Exits 98
 * if the firmware crashes, sleeps for good without an exit code, or runs
 * past MAX_CYCLES.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <simavr/sim_avr.h>
#include <simavr/sim_elf.h>
#include <simavr/sim_io.h>

#define MAX_CYCLES 20000000000ull

static FILE *console; /* the real stdout: libsimavr prints on stdout too */
static int exit_code = -1;
static avr_cycle_count_t latched;
static int next_byte;

/* GPIOR0, GPIOR1, GPIOR2 in data space: the same on ATmega328P and 2560 */
#define A_GPIOR0 0x3e
#define A_GPIOR1 0x4a
#define A_GPIOR2 0x4b

static void on_console(avr_t *avr, avr_io_addr_t addr, uint8_t v, void *p)
{
	(void)avr, (void)addr, (void)p;
	putc(v, console);
}

static void on_exit_code(avr_t *avr, avr_io_addr_t addr, uint8_t v, void *p)
{
	(void)addr, (void)p;
	exit_code = v;
	avr->state = cpu_Done;
}

static void on_latch(avr_t *avr, avr_io_addr_t addr, uint8_t v, void *p)
{
	(void)addr, (void)v, (void)p;
	latched = avr->cycle;
	next_byte = 0;
}

static uint8_t on_read_clock(avr_t *avr, avr_io_addr_t addr, void *p)
{
	(void)avr, (void)addr, (void)p;
	return (uint8_t)(latched >> (8 * (next_byte++ & 3)));
}

int main(int argc, char **argv)
{
	elf_firmware_t fw;
	avr_t *avr;
	int state;

	if (argc != 3) {
		fprintf(stderr, "usage: avr-run MCU FIRMWARE.elf\n");
		return 2;
	}
	if (!(console = fdopen(dup(1), "w")) || dup2(2, 1) < 0) {
		perror("avr-run");
		return 2;
	}
	memset(&fw, 0, sizeof fw);
	if (elf_read_firmware(argv[2], &fw)) {
		fprintf(stderr, "avr-run: %s: cannot read\n", argv[2]);
		return 2;
	}
	if (!(avr = avr_make_mcu_by_name(argv[1]))) {
		fprintf(stderr, "avr-run: unknown MCU %s\n", argv[1]);
		return 2;
	}
	avr_init(avr);
	avr->log = 0;
	avr->frequency = 16000000;
	avr_load_firmware(avr, &fw);
	avr_register_io_write(avr, A_GPIOR1, on_console, NULL);
	avr_register_io_write(avr, A_GPIOR2, on_exit_code, NULL);
	avr_register_io_write(avr, A_GPIOR0, on_latch, NULL);
	avr_register_io_read(avr, A_GPIOR0, on_read_clock, NULL);
	do
		state = avr_run(avr);
	while (state != cpu_Done && state != cpu_Crashed && exit_code < 0 &&
	       avr->cycle < MAX_CYCLES);
	if (fflush(console))
		return 2;
	if (exit_code < 0) {
		fprintf(stderr, "avr-run: %s: %s after %llu cycles (pc 0x%x)\n", argv[2],
		        state == cpu_Crashed ? "crashed" : avr->cycle >= MAX_CYCLES
		        ? "too long" : "stopped without an exit code",
		        (unsigned long long)avr->cycle, avr->pc);
		return 98;
	}
	return exit_code;
}
