/* libustack wire: big-endian field accessors. Every header field is read and written through these,
 * byte by byte, so they work at any alignment and never depend on host byte order. Callers check
 * the length once (the parser's fixed-header check) before using them. */
#ifndef USTACK_WIRE_BYTES_H
#define USTACK_WIRE_BYTES_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The 16-bit big-endian value at p[0..2). */
static inline uint16_t us_get_be16(const uint8_t *p)
{
    return (uint16_t)(((unsigned)p[0] << 8) | (unsigned)p[1]);
}

/* The 32-bit big-endian value at p[0..4). */
static inline uint32_t us_get_be32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

/* Store v big-endian at p[0..2). */
static inline void us_put_be16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

/* Store v big-endian at p[0..4). */
static inline void us_put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

#ifdef __cplusplus
}
#endif

#endif /* USTACK_WIRE_BYTES_H */
