/* The native twin: the firmware logic on the host, printing to stdout.
 * It measures nothing: its clock and stack readings are 0. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "plat.h"

void plat_init(void) {}
void plat_putc(char c) { putchar(c); }

void plat_exit(int code)
{
	if (fflush(stdout) || ferror(stdout))
		code = 1;
	exit(code);
}

uint32_t plat_clock(void) { return 0; }
fstr plat_clock_unit(void) { return "none"; }
uint32_t plat_clock_scale2(void) { return 0; }
void plat_stack_paint(void) {}
uintptr_t plat_stack_low(void) { return 0; }
uintptr_t plat_stack_ptr(void) { return 0; }
uintptr_t plat_stack_base(void) { return 0; }
uint32_t plat_static_ram(void) { return 0; }

int plat_uart_getc(void)
{
	unsigned char c;

	if (read(0, &c, 1) != 1)
		exit(0);
	return c;
}

void plat_uart_putc(uint8_t c)
{
	if (write(1, &c, 1) != 1)
		exit(1);
}
