/* ARM MPS2 AN385, Cortex-M3, in QEMU. */
#define CFG_NAME "cortex-m3"
#include "mps2.h"
