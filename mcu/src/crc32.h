/* CRC-32 of zlib, gzip and PNG, the checksum of G2T records: a 16-entry
 * table (64 bytes, in flash on AVR), two lookups a byte. */
#ifndef MCU_CRC32_H
#define MCU_CRC32_H

#include <stddef.h>
#include <stdint.h>

uint32_t mcu_crc32(uint32_t crc, const uint8_t *p, size_t n);

#endif
