/* The task streams and held-out rows a configuration embeds; the headers
 * are generated from g2t-split output by mcu/tools/mcu-tool (see mcu.mk). */
#if USE_LETTER
#include "letter.h"
#endif
#if USE_LETTER_SMALL
#include "letter_small.h"
#endif
#if USE_DIGITS2
#include "digits2.h"
#endif
#if USE_DIGITS45
#include "digits45.h"
#endif
#if USE_DIGITS2S
#include "digits2s.h"
#endif
