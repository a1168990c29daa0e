/*
 * The ATmega device firmware's receive interrupt (DEV_RX_IRQ, device.c):
 * USART0 as plat_avr.c sets it up, and its receive interrupt on, which
 * hands each byte to device.c while the device trains.
 */
#include <avr/interrupt.h>
#include <avr/io.h>

#include "plat.h"

#ifdef USART0_RX_vect
ISR(USART0_RX_vect)
#else
ISR(USART_RX_vect)
#endif
{
	plat_uart_rx(UDR0);
}

/* GPIOR1 is 1 while it waits: mcu/sim/avr-serial counts those cycles apart. */
void plat_uart_waiting(int on)
{
	if (!(UCSR0B & (1 << RXCIE0))) {
		UCSR0A = 1 << U2X0; /* 115200 baud, as plat_avr.c */
		UBRR0 = 16;
		UCSR0C = 3 << UCSZ00;
		UCSR0B = (1 << RXEN0) | (1 << TXEN0) | (1 << RXCIE0);
		sei();
	}
	GPIOR1 = (uint8_t)on;
}
