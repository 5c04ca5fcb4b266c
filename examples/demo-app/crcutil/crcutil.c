/* libcrcutil: see crcutil.h. A table-less bitwise CRC-32: small, and the result can be checked
 * against zlib.crc32. */
#include "crcutil.h"

uint32_t crcutil_crc32(uint32_t crc, const unsigned char *data, size_t len)
{
    crc = ~crc;
    for (size_t i = 0; i < len; i++) {
        crc ^= data[i];
        for (int k = 0; k < 8; k++)
            crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
    }
    return ~crc;
}

const char *crcutil_version(void)
{
    return "crcutil 1.0";
}
