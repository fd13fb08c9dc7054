/* libustack wire: the Internet checksum (RFC 1071) over contiguous and chained data, the IPv4
 * pseudo-header, and incremental update of a stored checksum when one field changes (RFC 1624).
 *
 * Partial sums. A partial sum is a uint32_t whose value is congruent, modulo 0xFFFF, to the
 * ones-complement sum of the data read as big-endian 16-bit words from the data's first byte (an
 * odd trailing byte is the high byte of a word whose low byte is zero), and is zero only if all
 * those words are. Every value here is in that "network word" sense, whatever the host byte order.
 * Partial sums add with plain `+` as long as the total stays below 2^32: us_csum_partial and
 * us_csum_combine return at most 0xFFFF and us_csum_pseudo_ipv4 at most 0x5FFFB, so adding a few
 * thousand of them is safe. us_csum_fold / us_csum_finish reduce one to 16 bits at the end.
 *
 * Chained data. Sum each segment on its own with us_csum_partial(seg, n, 0) and merge it with
 * us_csum_combine(acc, seg_sum, offset), where offset is the segment's byte offset from the start
 * of the checksummed message. A segment that starts at an odd offset has its bytes in the other
 * lane of the message's 16-bit words; combine swaps its folded sum back (RFC 1071 section 2(B)).
 * Segments at even offsets may also be chained directly: us_csum_partial(seg, n, acc).
 *
 * Verifying. Sum the whole received message, checksum field included (plus the pseudo-header for
 * UDP/TCP): it is intact iff us_csum_fold(sum) == 0xFFFF, i.e. us_csum_finish(sum) == 0.
 * Emitting. Zero the field, sum the message (plus pseudo-header), store us_csum_finish(sum). */
#ifndef USTACK_WIRE_CHECKSUM_H
#define USTACK_WIRE_CHECKSUM_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Add the partial sum of data[0, len) to acc (any value). data may have any alignment; len may be
 * odd (the data is taken to start at an even offset of the message; see us_csum_combine otherwise).
 * Returns the new partial sum, in [0, 0xFFFF]. len == 0 returns acc folded. */
uint32_t us_csum_partial(const void *data, size_t len, uint32_t acc);

/* Fold a partial sum to 16 bits with end-around carry: the ones-complement sum itself, NOT
 * complemented. 0xFFFF means "sums to zero" for a verified message. Any acc is accepted. */
static inline uint16_t us_csum_fold(uint32_t acc)
{
    acc = (acc & 0xFFFFu) + (acc >> 16); /* <= 0x1FFFE */
    acc = (acc & 0xFFFFu) + (acc >> 16); /* <= 0xFFFF  */
    return (uint16_t)acc;
}

/* The checksum to store in a header: the ones-complement of the folded sum (host-order value; write
 * it with us_put_be16). When verifying, 0 means intact. */
static inline uint16_t us_csum_finish(uint32_t acc)
{
    return (uint16_t)~us_csum_fold(acc);
}

/* Merge seg_sum, the partial sum of a segment computed as if it started at offset 0, into acc, the
 * partial sum of the message so far, given that the segment begins `offset` bytes into the message.
 * Returns a partial sum in [0, 0xFFFF]. */
static inline uint32_t us_csum_combine(uint32_t acc, uint32_t seg_sum, size_t offset)
{
    uint32_t s = us_csum_fold(seg_sum);
    if (offset & 1u)
        s = ((s & 0xFFu) << 8) | (s >> 8);
    return us_csum_fold((uint32_t)us_csum_fold(acc) + s);
}

/* Partial sum of the IPv4 pseudo-header used by UDP and TCP (RFC 768, RFC 793): source and
 * destination address (host-order values), zero, protocol, and the UDP/TCP length (header + data).
 * Returns a partial sum in [0, 0x5FFFB]. */
static inline uint32_t us_csum_pseudo_ipv4(uint32_t src, uint32_t dst, uint8_t proto, uint16_t len)
{
    return (src >> 16) + (src & 0xFFFFu) + (dst >> 16) + (dst & 0xFFFFu) + (uint32_t)proto + len;
}

/* The ones-complement sum of a whole message: us_csum_finish(us_csum_partial(data, len, 0)). For a
 * message whose checksum field holds a correct checksum this returns 0. */
uint16_t us_csum(const void *data, size_t len);

/* Internal to the checksum code: s + w with the carry out of bit 63 added back in (end-around
 * carry, RFC 1071 2(C) on 64-bit words). 2^64 - 1 is a multiple of 0xFFFF, so the result is
 * congruent to s + w modulo 0xFFFF, and it is zero only if s and w both are (a wrapped sum is at
 * most 2^64 - 2 before the carry is added, so adding it never wraps again). Two instructions
 * (add, adc) where the compiler has the builtin. USTACK_CSUM_NO_BUILTINS forces the portable
 * form, for the tests. */
static inline uint64_t us__csum_add64(uint64_t s, uint64_t w)
{
#if defined(__GNUC__) && !defined(USTACK_CSUM_NO_BUILTINS)
    uint64_t r;
    unsigned carry = __builtin_add_overflow(s, w, &r);
    return r + carry;
#else
    s += w;
    return s + (s < w);
#endif
}

/* The same on 32 bits (2^32 - 1 is a multiple of 0xFFFF too). */
static inline uint32_t us__csum_add32(uint32_t s, uint32_t w)
{
#if defined(__GNUC__) && !defined(USTACK_CSUM_NO_BUILTINS)
    uint32_t r;
    unsigned carry = __builtin_add_overflow(s, w, &r);
    return r + carry;
#else
    s += w;
    return s + (s < w);
#endif
}

/* A 64-bit end-around sum reduced to 32 bits the same way: congruent modulo 0xFFFF, zero only if
 * it was. */
static inline uint32_t us__csum_fold64(uint64_t s)
{
    return us__csum_add32((uint32_t)s, (uint32_t)(s >> 32));
}

/* Internal: the folded sum (not complemented) of the 20 bytes at p in host order — the byte swap
 * of the network-order one on a little-endian host: two 64-bit words and one 32-bit word added with
 * end-around carry. A header that verifies folds to 0xFFFF in either order. */
static inline uint16_t us__csum_hdr20_fold(const uint8_t *p)
{
    uint64_t a, b;
    uint32_t c;
    memcpy(&a, p, sizeof(a));
    memcpy(&b, p + 8, sizeof(b));
    memcpy(&c, p + 16, sizeof(c));
    return us_csum_fold(us__csum_fold64(us__csum_add64(us__csum_add64(a, b), c)));
}

/* us_csum(p, 20) inline, for the option-less IPv4 header every frame carries in and out: the sum
 * above, byte-swapped on a little-endian host (RFC 1071 2(B)) and complemented; no call, a fraction
 * of the general function's instructions at this size. */
static inline uint16_t us_csum_ipv4_hdr20(const uint8_t *p)
{
    uint16_t f = us__csum_hdr20_fold(p);
    const uint16_t one = 1;
    uint8_t first;
    memcpy(&first, &one, 1); /* a constant to the compiler */
    if (first == 1)
        f = (uint16_t)((f >> 8) | (f << 8));
    return (uint16_t)~f;
}

/* RFC 1624 eqn. 3, HC' = ~(~HC + ~m + m'): the new checksum after a 16-bit field that is covered
 * by checksum `csum` (the stored value, host order) changed from old_val to new_val. Given a csum
 * that a full compute produced, the result equals a full recompute, except when the message becomes
 * all zeros: then it is 0x0000 where the recompute gives the equivalent 0xFFFF. (UDP: a stored 0
 * means "no checksum" and is the caller's to keep as 0; a result of 0 must then be sent as 0xFFFF.)
 * Also valid for a 16-bit field at an odd offset if old_val and new_val are given byte-swapped. */
static inline uint16_t us_csum_update16(uint16_t csum, uint16_t old_val, uint16_t new_val)
{
    uint32_t acc = (uint32_t)(uint16_t)~csum + (uint16_t)~old_val + new_val;
    return (uint16_t)~us_csum_fold(acc);
}

/* As us_csum_update16 for a 32-bit field at an even offset (an IPv4 address, a TCP sequence or
 * acknowledgment number): both halves change at once. */
static inline uint16_t us_csum_update32(uint16_t csum, uint32_t old_val, uint32_t new_val)
{
    uint32_t acc = (uint32_t)(uint16_t)~csum + (uint16_t)~(old_val >> 16) +
                   (uint16_t)~(old_val & 0xFFFFu) + (new_val >> 16) + (new_val & 0xFFFFu);
    return (uint16_t)~us_csum_fold(acc);
}

#ifdef __cplusplus
}
#endif

#endif /* USTACK_WIRE_CHECKSUM_H */
