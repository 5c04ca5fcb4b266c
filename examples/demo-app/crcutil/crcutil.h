/* libcrcutil: CRC-32 (IEEE 802.3, the polynomial zlib uses), as a shared library that lives in
 * its own store path. The fastcrc extension module links against it. */
#ifndef CRCUTIL_H
#define CRCUTIL_H

#include <stddef.h>
#include <stdint.h>

/* CRC-32 of len bytes at data, continuing from crc (0 to start). */
uint32_t crcutil_crc32(uint32_t crc, const unsigned char *data, size_t len);

/* "crcutil 1.0". */
const char *crcutil_version(void);

#endif
