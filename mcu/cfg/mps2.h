/* The MPS2 boards in QEMU (AN385 Cortex-M3, AN386 Cortex-M4F): 4 MB code,
 * 4 MB data SSRAM.  "all" blocks hold each side whole, as g2t-train does for
 * these tasks: those weights must equal g2t-train's, in float32 and in
 * fixed point.  The dcd jobs run the exact solver on both boards; digits2s
 * is a sparse set, its rows decoded from sparse SHARDs. */
#define G2T_WITH_PROBABILITY 0 /* the core fits no sigmoid */
#define ARENA_BYTES (96 * 1024) /* the largest job, digits45 with whole sides, needs 88 KB */
#define USE_LETTER 1
#define USE_LETTER_SMALL 1
#define USE_DIGITS2 1
#define USE_DIGITS45 1
#define USE_DIGITS2S 1
#define JOBS                                    \
	JOB(letter_small, MODE_FLOAT, 1)        \
	JOB(letter, MODE_FLOAT, 1)              \
	JOB(letter, MODE_FLOAT, BLOCK_ALL)      \
	JOB(letter, MODE_FIXED, 1)              \
	JOB(letter, MODE_FIXED, BLOCK_ALL)      \
	JOB(digits2, MODE_FLOAT, 1)             \
	JOB(digits2, MODE_FLOAT, BLOCK_ALL)     \
	JOB(digits2, MODE_FIXED, 1)             \
	JOB(digits2, MODE_FIXED, BLOCK_ALL)     \
	JOB(digits45, MODE_FLOAT, BLOCK_ALL)    \
	JOB(digits45, MODE_FIXED, 1)            \
	JOB(digits45, MODE_FIXED, BLOCK_ALL)    \
	JOB(letter_small, MODE_DCD, BLOCK_ALL)  \
	JOB(digits2, MODE_DCD, BLOCK_ALL)       \
	JOB(digits2s, MODE_FLOAT, 1)            \
	JOB(digits2s, MODE_FLOAT, BLOCK_ALL)    \
	JOB(digits2s, MODE_DCD, BLOCK_ALL)
