/* ARM MPS2 AN386, Cortex-M4F, in QEMU. */
#define CFG_NAME "cortex-m4f"
#include "mps2.h"
