/* The Internet checksum over contiguous memory. Words are loaded with memcpy (any alignment, no
 * aliasing trouble) in host order: short data as 64-bit words added with end-around carry
 * (us__csum_add64), long data through a bulk loop whose lanes cannot overflow, so carries are
 * never folded per 16-bit word; the total is folded once at the end and byte-swapped on
 * little-endian hosts (the ones-complement sum commutes with byte swapping, RFC 1071 2(B)). */
#include "ustack/wire/checksum.h"

#include <string.h>

#include "compiler.h"
#include "wire/csum_short.h"

/* The bulk loop, sum_bulk(p, rounds): p[0, 64 * rounds) summed as host-order 16-bit words (or any
 * value congruent to that sum modulo 0xFFFF), for rounds <= BULK_ROUNDS_MAX, returning < 2^62. Three
 * versions; the build picks the first the compiler supports, and USTACK_CSUM_IMPL (1 = scalar,
 * 2 = vector extensions, 3 = SSE2) forces one and USTACK_CSUM_NO_AVX2 leaves out SSE2's AVX2 variant,
 * so that the tests run every version on this machine. */
#ifndef USTACK_CSUM_IMPL
#if defined(__SSE2__)
#define USTACK_CSUM_IMPL 3
#elif defined(__GNUC__)
#define USTACK_CSUM_IMPL 2
#else
#define USTACK_CSUM_IMPL 1
#endif
#endif

#if USTACK_CSUM_IMPL == 3
#include <emmintrin.h>

/* SSE2 (every x86-64). PMADDWD against ones adds adjacent 16-bit words into 32-bit lanes: 4
 * instructions per 16 bytes, load included. It reads words as signed, so each is biased first:
 * (w ^ 0x8000) read as signed is exactly w - 32768, and the 32768 per word is added back at the end.
 * A 32-bit lane gains at most 65536 = 2^16 in magnitude per round; blocks of 2^10 rounds (64 KiB)
 * keep even the sum of all 16 lanes within 32 bits.
 * bench: tcp_rx_segment checksums 1480 bytes per segment, a third of its instructions before. */
#define BULK_ROUNDS_MAX ((size_t)1 << 10)

static uint64_t sum_bulk_sse2(const uint8_t *p, size_t rounds)
{
    const __m128i bias = _mm_set1_epi16((short)0x8000);
    const __m128i ones = _mm_set1_epi16(1);
    __m128i a0 = _mm_setzero_si128(), a1 = a0, a2 = a0, a3 = a0; /* independent chains */
    for (size_t r = 0; r < rounds; r++, p += 64) {
        __m128i x0 = _mm_loadu_si128((const __m128i *)(const void *)p);
        __m128i x1 = _mm_loadu_si128((const __m128i *)(const void *)(p + 16));
        __m128i x2 = _mm_loadu_si128((const __m128i *)(const void *)(p + 32));
        __m128i x3 = _mm_loadu_si128((const __m128i *)(const void *)(p + 48));
        a0 = _mm_add_epi32(a0, _mm_madd_epi16(_mm_xor_si128(x0, bias), ones));
        a1 = _mm_add_epi32(a1, _mm_madd_epi16(_mm_xor_si128(x1, bias), ones));
        a2 = _mm_add_epi32(a2, _mm_madd_epi16(_mm_xor_si128(x2, bias), ones));
        a3 = _mm_add_epi32(a3, _mm_madd_epi16(_mm_xor_si128(x3, bias), ones));
    }
    /* Horizontal sum in 32 bits: 16 lanes of at most 2^16 * 2^10 in magnitude each. */
    __m128i t = _mm_add_epi32(_mm_add_epi32(a0, a1), _mm_add_epi32(a2, a3));
    t = _mm_add_epi32(t, _mm_shuffle_epi32(t, _MM_SHUFFLE(1, 0, 3, 2)));
    t = _mm_add_epi32(t, _mm_shuffle_epi32(t, _MM_SHUFFLE(2, 3, 0, 1)));
    int64_t sum = (int32_t)_mm_cvtsi128_si32(t);
    return (uint64_t)(sum + (int64_t)rounds * 32 * 32768); /* 32 words per round */
}

#if defined(__GNUC__) && defined(__x86_64__) && !defined(USTACK_CSUM_NO_AVX2)
#include <immintrin.h>

/* The same with AVX2 where the CPU has it (chosen at run time, so the build stays baseline
 * x86-64): 32 bytes per instruction, the loads folded into VPXOR; half the instructions. Two
 * accumulators of 8 lanes: 16 lanes again, the same bound per block. */
__attribute__((target("avx2"))) static uint64_t sum_bulk_avx2(const uint8_t *p, size_t rounds)
{
    const __m256i bias = _mm256_set1_epi16((short)0x8000);
    const __m256i ones = _mm256_set1_epi16(1);
    __m256i a0 = _mm256_setzero_si256(), a1 = a0;
    for (size_t r = 0; r < rounds; r++, p += 64) {
        __m256i x0 = _mm256_loadu_si256((const __m256i *)(const void *)p);
        __m256i x1 = _mm256_loadu_si256((const __m256i *)(const void *)(p + 32));
        a0 = _mm256_add_epi32(a0, _mm256_madd_epi16(_mm256_xor_si256(x0, bias), ones));
        a1 = _mm256_add_epi32(a1, _mm256_madd_epi16(_mm256_xor_si256(x1, bias), ones));
    }
    __m256i a = _mm256_add_epi32(a0, a1);
    __m128i t = _mm_add_epi32(_mm256_castsi256_si128(a), _mm256_extracti128_si256(a, 1));
    t = _mm_add_epi32(t, _mm_shuffle_epi32(t, _MM_SHUFFLE(1, 0, 3, 2)));
    t = _mm_add_epi32(t, _mm_shuffle_epi32(t, _MM_SHUFFLE(2, 3, 0, 1)));
    int64_t sum = (int32_t)_mm_cvtsi128_si32(t);
    return (uint64_t)(sum + (int64_t)rounds * 32 * 32768);
}

static uint64_t sum_bulk(const uint8_t *p, size_t rounds)
{
    /* A load and a test of libgcc's CPU model, filled in before main. */
    if (__builtin_cpu_supports("avx2"))
        return sum_bulk_avx2(p, rounds);
    return sum_bulk_sse2(p, rounds);
}
#else
static uint64_t sum_bulk(const uint8_t *p, size_t rounds)
{
    return sum_bulk_sse2(p, rounds);
}
#endif

#elif USTACK_CSUM_IMPL == 2
/* GCC/Clang vector extensions: 128-bit vectors (NEON on AArch64, scalar code where there is no
 * SIMD). Each 64-bit lane sums the two 32-bit halves of its lane of the data into separate
 * accumulators, gaining < 2^33 per round: < 2^57 after 2^24 rounds. */
#define BULK_ROUNDS_MAX ((size_t)1 << 24)
typedef uint64_t v2u64 __attribute__((vector_size(16)));

static inline v2u64 loadv(const uint8_t *p)
{
    v2u64 v;
    memcpy(&v, p, sizeof(v));
    return v;
}

static uint64_t sum_bulk(const uint8_t *p, size_t rounds)
{
    const v2u64 lo = {0xFFFFFFFFu, 0xFFFFFFFFu};
    v2u64 a0 = {0, 0}, a1 = {0, 0}, a2 = {0, 0}, a3 = {0, 0};
    while (rounds--) {
        v2u64 x0 = loadv(p), x1 = loadv(p + 16), x2 = loadv(p + 32), x3 = loadv(p + 48);
        a0 += x0 & lo;
        a1 += x0 >> 32;
        a2 += x1 & lo;
        a3 += x1 >> 32;
        a0 += x2 & lo;
        a1 += x2 >> 32;
        a2 += x3 & lo;
        a3 += x3 >> 32;
        p += 64;
    }
    v2u64 t = a0 + a1 + a2 + a3;
    return t[0] + t[1];
}

#else
/* Portable C: four independent 64-bit accumulators of 32-bit halves (no carry chain between
 * them), each gaining < 2^34 per round. */
#define BULK_ROUNDS_MAX ((size_t)1 << 24)

/* Both 32-bit halves of a 64-bit load, added without carries lost (< 2^33). */
static inline uint64_t halves(uint64_t w)
{
    return (w & 0xFFFFFFFFu) + (w >> 32);
}

static uint64_t sum_bulk(const uint8_t *p, size_t rounds)
{
    uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    while (rounds--) {
        for (int k = 0; k < 64; k += 32) {
            s0 += halves(us__csum_load64(p + k));
            s1 += halves(us__csum_load64(p + k + 8));
            s2 += halves(us__csum_load64(p + k + 16));
            s3 += halves(us__csum_load64(p + k + 24));
        }
        p += 64;
    }
    return s0 + s1 + s2 + s3;
}
#endif

/* us_csum_partial from 128 bytes on: the whole 64-byte rounds through the bulk loop in blocks of
 * at most BULK_ROUNDS_MAX rounds (which keeps its accumulators from overflowing), the blocks' sums
 * (< 2^62 each) added with end-around carry, whatever len is; then the rest. Out of line, so that
 * short data, which never comes here, needs no stack frame for the bulk loop's registers. */
US__NOINLINE static uint32_t partial_long(const uint8_t *p, size_t len, uint32_t acc)
{
    uint64_t sum = 0;
    size_t whole = len & ~(size_t)63;
    len -= whole;
    while (whole > 0) {
        size_t rounds = whole / 64;
        if (rounds > BULK_ROUNDS_MAX)
            rounds = BULK_ROUNDS_MAX;
        sum = us__csum_add64(sum, sum_bulk(p, rounds));
        p += rounds * 64;
        whole -= rounds * 64;
    }
    return us__csum_finish_short(us__csum_short(sum, p, len), acc);
}

uint32_t us_csum_partial(const void *data, size_t len, uint32_t acc)
{
    if (len >= US__CSUM_SHORT_MAX)
        return partial_long((const uint8_t *)data, len, acc);
    return us__csum_partial_short(data, len, acc);
}

uint16_t us_csum(const void *data, size_t len)
{
    return us_csum_finish(us_csum_partial(data, len, 0));
}
