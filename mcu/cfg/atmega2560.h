/* ATmega2560 (Arduino Mega: 256 KB flash, 8 KB SRAM) in simavr.  Rows stay
 * in flash, read one at a time (block 1). */
#define G2T_WITH_PROBABILITY 0 /* the core fits no sigmoid */
#define CFG_NAME "atmega2560"
#define ARENA_BYTES 4096
#define USE_LETTER 1
#define USE_LETTER_SMALL 1
#define USE_DIGITS2 1
#define JOBS                                    \
	JOB(letter_small, MODE_FLOAT, 1)        \
	JOB(letter, MODE_FLOAT, 1)              \
	JOB(letter, MODE_FIXED, 1)              \
	JOB(digits2, MODE_FLOAT, 1)             \
	JOB(digits2, MODE_FIXED, 1)
