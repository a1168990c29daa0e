/* ATmega328P (Arduino Uno: 32 KB flash, 2 KB SRAM) in simavr.  The letter
 * A/B task from the first 6000 training rows (443 rows, 7 KB of flash);
 * rows stay in flash and are read one at a time (block 1). */
#define CFG_NAME "atmega328p"
#define ARENA_BYTES 760
#include "least.h"
#define USE_LETTER_SMALL 1
#define JOBS JOB(letter_small, MODE_FLOAT, 1)
