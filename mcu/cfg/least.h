/* The least build profile of the core, for 8 KB of flash: what g2t-split
 * -q 8 writes with the default options, hinge loss and averaged SGD in
 * float32 from one-byte dense rows, no L1, no class weights or
 * probabilities, WEIGHTS records in the dense form only, 32-bit stream
 * offsets (streams under 4 GiB).  Used by the ATmega328P and by
 * tests/unit/test_profile.c. */
#define G2T_LOSSES (1u << G2T_LOSS_HINGE)
#define G2T_ALGOS (1u << G2T_ALGO_ASGD)
#define G2T_WITH_L1 0
#define G2T_WITH_SPARSE 0
#define G2T_WITH_OFFSET64 0
#define G2T_WITH_F32_ROWS 0
#define G2T_WITH_SPARSE_ROWS 0
#define G2T_WITH_CLASS_WEIGHTS 0
#define G2T_WITH_PROBABILITY 0
