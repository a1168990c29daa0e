/*
 * Cortex-M platform for QEMU: vector table and reset, console and exit code
 * through semihosting, a hardware timer as clock, stack painting.
 *
 * The clock: QEMU runs with -icount shift=0, so virtual time advances
 * exactly 1 ns per executed instruction and a timer tick of T ns stands for
 * T instructions.  PLAT_MICROBIT: nRF51 TIMER0 at 16 MHz (62.5 a tick);
 * otherwise the MPS2's CMSDK timer 0 at 25 MHz (40 a tick).
 */
#include "plat.h"

extern uint32_t _sidata[], _sdata[], _edata[], _sbss[], _ebss[], _estack[];
int main(void);

#define REG(a) (*(volatile uint32_t *)(a))

/* ---- semihosting ---------------------------------------------------------- */

static int semihost(int op, const void *arg)
{
	register int r0 __asm__("r0") = op;
	register const void *r1 __asm__("r1") = arg;

	__asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
	return r0;
}

#define SYS_WRITE0 0x04
#define SYS_EXIT_EXTENDED 0x20
#define ADP_Stopped_ApplicationExit 0x20026

static char line[256];
static unsigned used;

static void flush(void)
{
	line[used] = 0;
	if (used)
		semihost(SYS_WRITE0, line);
	used = 0;
}

void plat_putc(char c)
{
	line[used++] = c;
	if (c == '\n' || used == sizeof line - 1)
		flush();
}

void plat_exit(int code)
{
	uint32_t block[2] = { ADP_Stopped_ApplicationExit, (uint32_t)code };

	flush();
	for (;;)
		semihost(SYS_EXIT_EXTENDED, block);
}

/* ---- clock ------------------------------------------------------------------ */

#ifdef PLAT_MICROBIT
#define T0 0x40008000u
void plat_init(void)
{
	REG(T0 + 0x504) = 0;  /* MODE: timer */
	REG(T0 + 0x508) = 3;  /* BITMODE: 32 bits */
	REG(T0 + 0x510) = 0;  /* PRESCALER: 16 MHz */
	REG(T0 + 0x00c) = 1;  /* TASKS_CLEAR */
	REG(T0 + 0x000) = 1;  /* TASKS_START */
}

uint32_t plat_clock(void)
{
	REG(T0 + 0x040) = 1;  /* TASKS_CAPTURE[0] */
	return REG(T0 + 0x540); /* CC[0] */
}

uint32_t plat_clock_scale2(void) { return 125; }

/* nRF51 UART0, QEMU's first serial port: an event register says a byte
 * came (RXDRDY) or went (TXDRDY); a byte written to TXD while the last is
 * still going would be lost, so each waits for its TXDRDY. */
#define U0 0x40002000u
#define U0_RXDRDY (U0 + 0x108)
#define U0_TXDRDY (U0 + 0x11c)
static int uart_started;

static void uart_on(void)
{
	if (!uart_started) {
		REG(U0 + 0x524) = 0x01d7e000u; /* BAUDRATE: 115200 */
		REG(U0 + 0x500) = 4;           /* ENABLE */
		REG(U0 + 0x000) = 1;           /* TASKS_STARTRX */
		REG(U0 + 0x008) = 1;           /* TASKS_STARTTX */
		uart_started = 1;
	}
}

int plat_uart_getc(void)
{
	uart_on();
	while (!REG(U0_RXDRDY))
		;
	REG(U0_RXDRDY) = 0; /* before RXD: reading it raises the event again for the next byte */
	return (int)(REG(U0 + 0x518) & 0xff);
}

void plat_uart_putc(uint8_t c)
{
	uart_on();
	REG(U0_TXDRDY) = 0;
	REG(U0 + 0x51c) = c;
	while (!REG(U0_TXDRDY))
		;
}
#else
#define T0 0x40000000u
void plat_init(void)
{
	REG(T0 + 0x0) = 0;           /* CTRL: stop */
	REG(T0 + 0x8) = 0xffffffffu; /* RELOAD */
	REG(T0 + 0x4) = 0xffffffffu; /* VALUE */
	REG(T0 + 0x0) = 1;           /* CTRL: enable, counting down */
}

uint32_t plat_clock(void) { return 0xffffffffu - REG(T0 + 0x4); }
uint32_t plat_clock_scale2(void) { return 80; }

/* CMSDK UART0, QEMU's first serial port (-serial pty): DATA, STATE (bit 0
 * TX full, bit 1 RX full), CTRL (bit 0 TX, bit 1 RX enable), BAUDDIV. */
#define U0 0x40004000u
static void uart_on(void)
{
	if (!(REG(U0 + 0x8) & 3)) {
		REG(U0 + 0x10) = 217; /* 25 MHz / 115200 */
		REG(U0 + 0x8) = 3;
	}
}

int plat_uart_getc(void)
{
	uart_on();
	while (!(REG(U0 + 0x4) & 2))
		;
	return (int)(REG(U0 + 0x0) & 0xff);
}

void plat_uart_putc(uint8_t c)
{
	uart_on();
	while (REG(U0 + 0x4) & 1)
		;
	REG(U0 + 0x0) = c;
}
#endif

fstr plat_clock_unit(void) { return "instructions"; }

/* ---- stack --------------------------------------------------------------- */

#define PAINT 0xa5a5a5a5u
#define PAINT_MAX 16384u /* bytes painted below the caller at most */
static uint32_t *painted;

uintptr_t plat_stack_ptr(void)
{
	uintptr_t sp;

	__asm__ volatile("mov %0, sp" : "=r"(sp));
	return sp;
}

__attribute__((noinline)) void plat_stack_paint(void)
{
	uint32_t *p, *top = (uint32_t *)(plat_stack_ptr() - 64);

	p = (uintptr_t)top - (uintptr_t)_ebss > PAINT_MAX ? top - PAINT_MAX / 4 : _ebss;
	painted = p;
	while (p < top)
		*p++ = PAINT;
}

uintptr_t plat_stack_base(void) { return (uintptr_t)_estack; }

uintptr_t plat_stack_low(void)
{
	uint32_t *p = painted;

	while (*p == PAINT)
		p++;
	return (uintptr_t)p;
}

uint32_t plat_static_ram(void)
{
	return (uint32_t)((uintptr_t)_ebss - (uintptr_t)_sdata);
}

/* ---- reset and faults ---------------------------------------------------------- */

__attribute__((noreturn)) void reset_handler(void)
{
	uint32_t *s = _sidata, *d = _sdata;

	while (d < _edata)
		*d++ = *s++;
	for (d = _sbss; d < _ebss; d++)
		*d = 0;
#ifdef __ARM_FP
	REG(0xe000ed88) |= 0xfu << 20; /* CPACR: CP10, CP11 full access */
	__asm__ volatile("dsb\n\tisb" ::: "memory");
#endif
	plat_exit(main());
}

static void fault(void)
{
	static const char msg[] = "fault\n";

	for (const char *m = msg; *m; m++)
		plat_putc(*m);
	plat_exit(99);
}

__attribute__((section(".isr_vector"), used))
static void (*const vectors[16])(void) = {
	(void (*)(void))_estack, reset_handler, fault, fault, fault, fault, fault,
	0, 0, 0, 0, fault, fault, 0, fault, fault,
};
