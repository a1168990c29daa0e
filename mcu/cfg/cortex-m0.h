/* Cortex-M0: BBC micro:bit (nRF51822, 256 KB flash, 16 KB RAM) in QEMU.
 * Block 1 everywhere: the RAM holds the 45 classifiers of digits45, not
 * rows; fixed point for the 45-pair problem (no FPU). */
#define G2T_WITH_PROBABILITY 0 /* the core fits no sigmoid */
#define CFG_NAME "cortex-m0"
#define ARENA_BYTES 13952
#define USE_LETTER 1
#define USE_LETTER_SMALL 1
#define USE_DIGITS2 1
#define USE_DIGITS45 1
#define JOBS                                    \
	JOB(letter_small, MODE_FLOAT, 1)        \
	JOB(letter, MODE_FLOAT, 1)              \
	JOB(letter, MODE_FIXED, 1)              \
	JOB(digits2, MODE_FLOAT, 1)             \
	JOB(digits2, MODE_FIXED, 1)             \
	JOB(digits45, MODE_FIXED, 1)
