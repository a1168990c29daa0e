/*
 * G2T.cpp - the Arduino side of the device (src/g2t/device.c, a copy of
 * mcu/src/device.c): its serial line is a Stream.
 */
#include "G2T.h"

extern "C" {
void g2t_device_run(void);
int plat_uart_getc(void);
void plat_uart_putc(uint8_t c);
}

static Stream *line;

int plat_uart_getc(void)
{
	int c;

	while ((c = line->read()) < 0)
		;
	return c;
}

void plat_uart_putc(uint8_t c)
{
	line->write(c);
}

#ifdef __AVR__
extern uint8_t __heap_start;

/* Fills the free RAM below the stack with 0xa5, so that a simulator
 * (mcu/sim/avr-serial) can tell the stack's peak; 20-odd bytes of flash. */
static void __attribute__((noinline)) paint(void)
{
	uint8_t *p = &__heap_start, *top = (uint8_t *)(SP - 16);

	while (p < top)
		*p++ = 0xa5;
}
#else
static void paint(void) {}
#endif

void G2TDevice::run(Stream &s)
{
	line = &s;
	paint();
	g2t_device_run();
	for (;;)
		;
}

G2TDevice G2T;
