/*
 * plat.h - what the test firmware needs from its platform: a console, an
 * exit code, a clock for measurements, stack painting, and byte reads from
 * flash.  One implementation per platform: plat_host.c (the native twin),
 * plat_arm.c (QEMU Cortex-M, semihosting) and plat_avr.c (simavr).
 */
#ifndef MCU_PLAT_H
#define MCU_PLAT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __AVR__
/* Constant data lives in flash and is read with LPM (avr-gcc -std=gnu11). */
#define G2T_FLASH __flash
#define FSTR(s) (__extension__({ static const __flash char fstr_[] = (s); &fstr_[0]; }))
#else
#define G2T_FLASH
#define FSTR(s) (s)
#endif

typedef const G2T_FLASH char *fstr;

void plat_init(void);
void plat_putc(char c);
void plat_exit(int code) __attribute__((noreturn));
/* The serial line of the device firmware (device.c): a byte in, waiting
 * for it; a byte out.  The host twin reads stdin and writes stdout, and
 * exits when stdin ends. */
int plat_uart_getc(void);
void plat_uart_putc(uint8_t c);
/* DEV_RX_IRQ (plat_avr.c): the receive interrupt hands each byte to
 * plat_uart_rx() (device.c); plat_uart_waiting(1) and (0) mark a wait for
 * a frame, for the simulator's count of waiting cycles. */
void plat_uart_rx(uint8_t byte);
void plat_uart_waiting(int on);
/* device.c: serves the host on that line forever */
void g2t_device_run(void);

/* A free-running count for measurements (plat_clock_unit() names it:
 * "cycles" on simavr; on QEMU, timer ticks that -icount shift=0 turns into
 * executed instructions, plat_clock_scale() instructions a tick, times 2). */
uint32_t plat_clock(void);
fstr plat_clock_unit(void);
uint32_t plat_clock_scale2(void);

/* Fills the free stack below the current frame with a pattern; then
 * plat_stack_low() gives the lowest address written since. */
void plat_stack_paint(void);
uintptr_t plat_stack_low(void);
uintptr_t plat_stack_ptr(void);
uintptr_t plat_stack_base(void); /* just above the stack: end of RAM */
/* Statically allocated RAM (data + bss) and RAM size, for the report. */
uint32_t plat_static_ram(void);

/* Copies n bytes of flash at src into RAM. */
static inline void flash_copy(uint8_t *dst, const G2T_FLASH uint8_t *src, size_t n)
{
	while (n--)
		*dst++ = *src++;
}

#endif
