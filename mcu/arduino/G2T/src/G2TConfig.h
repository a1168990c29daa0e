/*
 * G2TConfig.h - what the board's build of the core and the device takes,
 * included first by every file of src/g2t/ (which `make arduino` copies
 * from lib/core and mcu/src: edit those, never the copies).
 *
 * On an ATmega328P (Uno, Nano: 2 KB SRAM) the core is the least profile of
 * mcu/cfg/least.h and the device keeps the sizes of its build in
 * mcu/mcu.mk: 320 bytes for rows, frames of 240 bytes, rows of up to 16
 * features; a bigger board takes the whole core and more.
 */
#ifndef G2T_CONFIG_H
#define G2T_CONFIG_H

/* float32 results the same bits on every board as on the host's g2t-train
 * (no fused multiply-add on a Cortex-M4F) */
#pragma GCC optimize("fp-contract=off")

#define G2T_ARDUINO 1
#define CFG_NAME "arduino"

#if defined(__AVR_ATmega328P__) || defined(__AVR_ATmega328__) || defined(__AVR_ATmega168__)
#include "g2t/least.h"
#define DEV_ROWS_RAM 320
#define DEV_FRAME 240
#define DEV_FEATURES 16
#define DEV_TASK_CAP 160
#elif defined(__AVR__)
#include "g2t/least.h"
#define DEV_ROWS_RAM 2048
#define DEV_FRAME 512
#define DEV_FEATURES 64
#define DEV_TASK_CAP 256
#else
#define DEV_ROWS_RAM 16384
#define DEV_FRAME 1024
#define DEV_FEATURES 256
#endif

#endif
