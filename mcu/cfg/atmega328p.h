/* ATmega328P (Arduino Uno: 32 KB flash, 2 KB SRAM) in simavr.  The letter
 * A/B task from the first 6000 training rows (443 rows, 7 KB of flash);
 * rows stay in flash and are read one at a time (block 1). */
#define CFG_NAME "atmega328p"
#define ARENA_BYTES 760
/* The least build profile, for 8 KB of flash: what g2t-split -q 8 writes
 * with the default options, hinge loss and averaged SGD in float32 from
 * one-byte rows, no L1, WEIGHTS records in the dense form only, 32-bit
 * stream offsets (streams under 4 GiB). */
#define G2T_LOSSES (1u << G2T_LOSS_HINGE)
#define G2T_ALGOS (1u << G2T_ALGO_ASGD)
#define G2T_WITH_L1 0
#define G2T_WITH_SPARSE 0
#define G2T_WITH_OFFSET64 0
#define G2T_WITH_F32_ROWS 0
#define USE_LETTER_SMALL 1
#define JOBS JOB(letter_small, MODE_FLOAT, 1)
