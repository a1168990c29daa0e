/*
 * AVR platform for simavr, with the harness mcu/sim/avr-run.c: console
 * bytes are written to GPIOR1, the exit code to GPIOR2; writing GPIOR0
 * latches the cycle counter, which four reads of GPIOR0 then return, low
 * byte first.
 */
#include <avr/interrupt.h>
#include <avr/io.h>
#include <avr/sleep.h>

#include "plat.h"

extern uint8_t __data_start, __bss_end, __heap_start;

void plat_init(void) {}

void plat_putc(char c) { GPIOR1 = (uint8_t)c; }

void plat_exit(int code)
{
	GPIOR2 = (uint8_t)code;
	cli();
	sleep_enable();
	for (;;)
		sleep_cpu();
}

uint32_t plat_clock(void)
{
	uint32_t v;

	GPIOR0 = 1;
	v = GPIOR0;
	v |= (uint32_t)GPIOR0 << 8;
	v |= (uint32_t)GPIOR0 << 16;
	v |= (uint32_t)GPIOR0 << 24;
	return v;
}

fstr plat_clock_unit(void) { return FSTR("cycles"); }
uint32_t plat_clock_scale2(void) { return 2; }

#define PAINT 0xa5
static uint8_t *painted;

uintptr_t plat_stack_ptr(void) { return SP; }

__attribute__((noinline)) void plat_stack_paint(void)
{
	uint8_t *p = &__heap_start, *top = (uint8_t *)(SP - 16);

	painted = p;
	while (p < top)
		*p++ = PAINT;
}

uintptr_t plat_stack_base(void) { return RAMEND + 1; }

uintptr_t plat_stack_low(void)
{
	uint8_t *p = painted;

	while (*p == PAINT)
		p++;
	return (uintptr_t)p;
}

uint32_t plat_static_ram(void)
{
	return (uint32_t)(&__bss_end - &__data_start);
}

/* USART0 at 115200 baud (16 MHz, double speed: 2.1 % fast), 8N1. */
static void uart_on(void)
{
	if (!(UCSR0B & (1 << RXEN0))) {
		/* U2X first: simavr sets its line's speed when UBRR is written */
		UCSR0A = 1 << U2X0;
		UBRR0 = 16;
		UCSR0C = 3 << UCSZ00;
		UCSR0B = (1 << RXEN0) | (1 << TXEN0);
	}
}

/* GPIOR1 is 1 while it waits: mcu/sim/avr-serial counts those cycles apart. */
int plat_uart_getc(void)
{
	uart_on();
	GPIOR1 = 1;
	while (!(UCSR0A & (1 << RXC0)))
		;
	GPIOR1 = 0;
	return UDR0;
}

void plat_uart_putc(uint8_t c)
{
	uart_on();
	while (!(UCSR0A & (1 << UDRE0)))
		;
	UDR0 = c;
}
