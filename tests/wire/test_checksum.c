/* Internet checksum: RFC 1071 vector, odd lengths, agreement with a byte-wise reference over random
 * buffers, alignments and chained splits (odd offsets included), the pseudo-header, and RFC 1624
 * incremental updates agreeing with a full recompute. */
#include "wire_test.h"
#include "ustack/wire/bytes.h"
#include "ustack/wire/checksum.h"
#include "ustack/wire/tcp.h"

static void test_checksum_rfc1071_example(void **state)
{
    (void)state;
    const uint8_t b[] = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
    uint32_t s = us_csum_partial(b, sizeof(b), 0);
    assert_int_equal(us_csum_fold(s), 0xddf2);
    assert_int_equal(us_csum_finish(s), 0x220d);
    assert_int_equal(us_csum(b, sizeof(b)), 0x220d);
    /* The same bytes at an odd address. */
    uint8_t shifted[9];
    memcpy(shifted + 1, b, sizeof(b));
    assert_int_equal(us_csum_fold(us_csum_partial(shifted + 1, sizeof(b), 0)), 0xddf2);
}

static void test_checksum_odd_length_pads_low_byte(void **state)
{
    (void)state;
    const uint8_t one[] = {0xab};
    assert_int_equal(us_csum_fold(us_csum_partial(one, 1, 0)), 0xab00);
    const uint8_t three[] = {0xab, 0xcd, 0xef};
    assert_int_equal(us_csum_fold(us_csum_partial(three, 3, 0)), 0xabcd + 0xef00 - 0xffff);
    assert_int_equal(us_csum_partial(NULL, 0, 0), 0);
    assert_int_equal(us_csum_partial(NULL, 0, 0x12345), 0x2346);
}

static void test_checksum_all_ones_and_zero_sums(void **state)
{
    (void)state;
    uint8_t ff[64], zero[64] = {0};
    memset(ff, 0xff, sizeof(ff));
    assert_int_equal(us_csum_fold(us_csum_partial(ff, sizeof(ff), 0)), 0xffff);
    assert_int_equal(us_csum_fold(us_csum_partial(zero, sizeof(zero), 0)), 0);
    assert_int_equal(us_csum_fold(0xffffffffu), 0xffff);
    assert_int_equal(us_csum_fold(0x0001fffeu), 0xffff);
    assert_int_equal(us_csum_fold(0x00010000u), 0x0001);
}

static void test_checksum_matches_naive_on_random_buffers(void **state)
{
    (void)state;
    us_test_rng rng = {0xC0FFEE};
    static uint8_t buf[2100];
    for (int round = 0; round < 5000; round++) {
        size_t align = us_test_below(&rng, 8);
        size_t len = us_test_below(&rng, round < 4000 ? 80 : 2000);
        uint8_t *p = buf + align;
        /* Mostly random, sometimes saturated bytes to exercise the carries. */
        if (round % 7 == 0)
            memset(p, 0xff, len);
        else
            wt_fill_random(&rng, p, len);
        uint32_t s = us_csum_partial(p, len, 0);
        assert_true(s <= 0xffff);
        assert_int_equal(us_csum_fold(s), wt_naive_fold(p, len));
    }
}

static void test_checksum_large_buffer_matches_naive(void **state)
{
    (void)state;
    us_test_rng rng = {42};
    size_t len = (1u << 20) + 3;
    uint8_t *b = malloc(len);
    assert_non_null(b);
    memset(b, 0xff, len / 2);
    wt_fill_random(&rng, b + len / 2, len - len / 2);
    assert_int_equal(us_csum_fold(us_csum_partial(b, len, 0)), wt_naive_fold(b, len));
    free(b);
}

/* Buffers of one repeated 16-bit word, over several of the bulk loop's blocks (the SSE2 version
 * folds every 64 KiB): the words at the extremes of each version's lane arithmetic (0x0000 and
 * 0xffff; 0x8000 and 0x7fff, which the SSE2 version's bias maps to 0 and -1). */
static void test_checksum_extreme_words_over_many_blocks(void **state)
{
    (void)state;
    const uint16_t words[] = {0x0000, 0xffff, 0x8000, 0x7fff, 0x0001, 0xfffe};
    size_t len = (5u << 20) / 2 + 5;
    uint8_t *b = malloc(len);
    assert_non_null(b);
    for (size_t w = 0; w < sizeof(words) / sizeof(words[0]); w++) {
        for (size_t i = 0; i < len; i++)
            b[i] = (uint8_t)(i % 2 ? words[w] : words[w] >> 8);
        assert_int_equal(us_csum_fold(us_csum_partial(b, len, 0)), wt_naive_fold(b, len));
        assert_int_equal(us_csum_fold(us_csum_partial(b + 1, len - 1, 0)),
                         wt_naive_fold(b + 1, len - 1));
    }
    free(b);
}

/* Every length below 256 (each binary digit of the straight-line short path, and the bulk loop from
 * 128 on), at an even and an odd address: all-0xff words (every 64-bit add carries out), words
 * that cancel to a multiple of 0xffff without being zero, and zeros. The result is exactly the
 * naive end-around sum: 0 only for all-zero data, 0xffff for data that merely sums to zero. */
static void test_checksum_every_short_length_carries_and_zero(void **state)
{
    (void)state;
    static uint8_t buf[300];
    for (size_t len = 0; len < 256; len++) {
        for (size_t align = 0; align < 2; align++) {
            uint8_t *p = buf + align;
            memset(p, 0xff, len);
            assert_int_equal(us_csum_partial(p, len, 0), wt_naive_fold(p, len));
            for (size_t i = 0; i < len; i++) /* 0x8000 + 0x7fff = 0xffff */
                p[i] = (uint8_t)((i & 2) ? (i & 1 ? 0xff : 0x7f) : (i & 1 ? 0x00 : 0x80));
            assert_int_equal(us_csum_partial(p, len, 0), wt_naive_fold(p, len));
            if (len >= 4 && len % 4 == 0)
                assert_int_equal(us_csum_partial(p, len, 0), 0xffff);
            memset(p, 0, len);
            assert_int_equal(us_csum_partial(p, len, 0), 0);
            assert_int_equal(us_csum_partial(p, len, 0xffffffffu), 0xffff);
            assert_int_equal(us_csum_partial(p, len, 0x10000u), 1);
        }
    }
}

static void test_checksum_ipv4_hdr20_equals_general(void **state)
{
    (void)state;
    us_test_rng rng = {20};
    uint8_t b[24];
    for (int round = 0; round < 20000; round++) {
        size_t align = us_test_below(&rng, 4);
        if (round % 5 == 0)
            memset(b + align, round % 10 == 0 ? 0xff : 0x00, 20);
        else
            wt_fill_random(&rng, b + align, 20);
        assert_int_equal(us_csum_ipv4_hdr20(b + align), us_csum(b + align, 20));
    }
}

static void test_checksum_accepts_any_accumulator(void **state)
{
    (void)state;
    us_test_rng rng = {7};
    uint8_t b[100];
    for (int round = 0; round < 1000; round++) {
        size_t len = us_test_below(&rng, sizeof(b));
        wt_fill_random(&rng, b, len);
        uint32_t acc = round < 3 ? 0xffffffffu - (uint32_t)round : (uint32_t)us_test_rand(&rng);
        uint32_t s = us_csum_partial(b, len, acc);
        assert_true(s <= 0xffff);
        uint32_t expect = (uint32_t)us_csum_fold(acc) + wt_naive_fold(b, len);
        assert_int_equal(us_csum_fold(s), us_csum_fold(expect));
    }
}

/* A message cut into random segments (odd lengths, odd offsets) and summed segment by segment
 * with us_csum_combine gives the sum of the whole. */
static void test_checksum_random_splits_combine_to_whole(void **state)
{
    (void)state;
    us_test_rng rng = {0x5EED};
    static uint8_t buf[1600];
    for (int round = 0; round < 4000; round++) {
        size_t len = 1 + us_test_below(&rng, sizeof(buf) - 1);
        wt_fill_random(&rng, buf, len);
        uint16_t whole = wt_naive_fold(buf, len);
        uint32_t acc = 0;
        size_t off = 0;
        while (off < len) {
            size_t n = 1 + us_test_below(&rng, round % 2 ? 7 : 300);
            if (n > len - off)
                n = len - off;
            /* Each segment summed from its own (possibly odd) address, as if at offset 0. */
            acc = us_csum_combine(acc, us_csum_partial(buf + off, n, 0), off);
            off += n;
        }
        assert_int_equal(us_csum_fold(acc), whole);
    }
}

/* Segments at even offsets may be chained through the accumulator directly. */
static void test_checksum_even_splits_chain_through_acc(void **state)
{
    (void)state;
    us_test_rng rng = {99};
    uint8_t buf[512];
    for (int round = 0; round < 1000; round++) {
        size_t len = us_test_below(&rng, sizeof(buf));
        wt_fill_random(&rng, buf, len);
        uint32_t acc = 0;
        size_t off = 0;
        while (off < len) {
            size_t n = 2 * (1 + us_test_below(&rng, 40));
            if (n > len - off)
                n = len - off;
            acc = us_csum_partial(buf + off, n, acc);
            off += n;
        }
        assert_int_equal(us_csum_fold(acc), wt_naive_fold(buf, len));
    }
}

static void test_checksum_stored_checksum_verifies_to_zero(void **state)
{
    (void)state;
    us_test_rng rng = {3};
    uint8_t b[64];
    for (int round = 0; round < 500; round++) {
        size_t len = 4 + 2 * us_test_below(&rng, 30);
        wt_fill_random(&rng, b, len);
        us_put_be16(b + 2, 0);
        us_put_be16(b + 2, us_csum(b, len));
        assert_int_equal(us_csum(b, len), 0);
        assert_int_equal(us_csum_fold(us_csum_partial(b, len, 0)), 0xffff);
    }
}

static void test_checksum_pseudo_header_matches_bytes(void **state)
{
    (void)state;
    us_test_rng rng = {11};
    for (int round = 0; round < 1000; round++) {
        uint32_t src = (uint32_t)us_test_rand(&rng), dst = (uint32_t)us_test_rand(&rng);
        uint8_t proto = (uint8_t)us_test_rand(&rng);
        uint16_t len = (uint16_t)us_test_rand(&rng);
        uint8_t ph[12];
        us_put_be32(ph, src);
        us_put_be32(ph + 4, dst);
        ph[8] = 0;
        ph[9] = proto;
        us_put_be16(ph + 10, len);
        uint32_t s = us_csum_pseudo_ipv4(src, dst, proto, len);
        assert_true(s <= 0x5fffb);
        assert_int_equal(us_csum_fold(s), wt_naive_fold(ph, sizeof(ph)));
    }
}

/* Change one field in a checksummed message: the incremental update equals a full recompute. */
static void test_checksum_update16_equals_recompute(void **state)
{
    (void)state;
    us_test_rng rng = {1624};
    uint8_t b[64];
    int zeroed = 0;
    for (int round = 0; round < 5000; round++) {
        size_t len = 4 + us_test_below(&rng, 60);
        wt_fill_random(&rng, b, len);
        if (round % 5 == 0)
            memset(b, round % 10 ? 0xff : 0x00, len); /* edge sums */
        us_put_be16(b, 0);
        us_put_be16(b, us_csum(b, len));
        size_t at = 2 + us_test_below(&rng, (uint32_t)(len - 3)); /* any offset, odd too */
        uint16_t old_v = us_get_be16(b + at);
        uint16_t new_v =
            round % 3 ? (uint16_t)us_test_rand(&rng) : (uint16_t)(round % 2 ? 0 : 0xffff);
        us_put_be16(b + at, new_v);
        uint16_t inc;
        if (at & 1) /* a field at an odd offset takes its values byte-swapped */
            inc = us_csum_update16(us_get_be16(b), (uint16_t)((old_v << 8) | (old_v >> 8)),
                                   (uint16_t)((new_v << 8) | (new_v >> 8)));
        else
            inc = us_csum_update16(us_get_be16(b), old_v, new_v);
        us_put_be16(b, 0);
        if (wt_naive_fold(b, len) == 0) {
            /* The message became all zeros: 0x0000 stands for the recompute's 0xFFFF. */
            assert_int_equal(inc, 0);
            assert_int_equal(us_csum(b, len), 0xffff);
            zeroed++;
        } else {
            assert_int_equal(inc, us_csum(b, len));
        }
    }
    assert_true(zeroed > 0); /* the documented exception was exercised */
}

static void test_checksum_update32_equals_recompute(void **state)
{
    (void)state;
    us_test_rng rng = {0x1624};
    uint8_t b[64];
    for (int round = 0; round < 5000; round++) {
        size_t len = 2 * (4 + us_test_below(&rng, 28));
        wt_fill_random(&rng, b, len);
        us_put_be16(b, 0);
        us_put_be16(b, us_csum(b, len));
        size_t at = 2 + 2 * us_test_below(&rng, (uint32_t)(len - 4) / 2);
        uint32_t old_v = us_get_be32(b + at);
        uint32_t new_v = round % 4 ? (uint32_t)us_test_rand(&rng) : (round % 8 ? 0 : 0xffffffffu);
        us_put_be32(b + at, new_v);
        uint16_t inc = us_csum_update32(us_get_be16(b), old_v, new_v);
        us_put_be16(b, 0);
        assert_int_equal(inc, us_csum(b, len));
    }
}

/* What trace replay does: rewrite a captured segment's sequence number, acknowledgment number and
 * destination address with incremental updates only; the frame still verifies. */
static void test_checksum_incremental_rewrite_of_real_segment_verifies(void **state)
{
    (void)state;
    uint8_t f[WT_MAX_FRAME];
    size_t ipo;
    us_ipv4_repr ip;
    wt_ip_frame("eth_http_get", f, &ipo, &ip);
    uint8_t *iph = f + ipo, *tcph = iph + ip.header_len;

    uint32_t old_seq = us_get_be32(tcph + 4), new_seq = old_seq + 0x12345678u;
    uint32_t old_ack = us_get_be32(tcph + 8), new_ack = 0x00000001u;
    uint32_t old_dst = ip.dst, new_dst = 0x0a000002u;
    uint16_t tc = us_get_be16(tcph + 16);
    tc = us_csum_update32(tc, old_seq, new_seq);
    tc = us_csum_update32(tc, old_ack, new_ack);
    tc = us_csum_update32(tc, old_dst, new_dst); /* the pseudo-header */
    us_put_be32(tcph + 4, new_seq);
    us_put_be32(tcph + 8, new_ack);
    us_put_be16(tcph + 16, tc);
    us_put_be16(iph + 10, us_csum_update32(us_get_be16(iph + 10), old_dst, new_dst));
    us_put_be32(iph + 16, new_dst);

    us_ipv4_repr ip2;
    assert_int_equal(us_ipv4_parse(&ip2, iph, ip.header_len + ip.payload_len, 0), US_WIRE_OK);
    assert_int_equal(ip2.dst, new_dst);
    us_tcp_repr t;
    assert_int_equal(us_tcp_parse(&t, tcph, ip2.payload_len, ip2.src, ip2.dst, 0), US_WIRE_OK);
    assert_int_equal(t.seq, new_seq);
    assert_int_equal(t.ack, new_ack);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_checksum_rfc1071_example),
        cmocka_unit_test(test_checksum_odd_length_pads_low_byte),
        cmocka_unit_test(test_checksum_all_ones_and_zero_sums),
        cmocka_unit_test(test_checksum_matches_naive_on_random_buffers),
        cmocka_unit_test(test_checksum_large_buffer_matches_naive),
        cmocka_unit_test(test_checksum_every_short_length_carries_and_zero),
        cmocka_unit_test(test_checksum_ipv4_hdr20_equals_general),
        cmocka_unit_test(test_checksum_extreme_words_over_many_blocks),
        cmocka_unit_test(test_checksum_accepts_any_accumulator),
        cmocka_unit_test(test_checksum_random_splits_combine_to_whole),
        cmocka_unit_test(test_checksum_even_splits_chain_through_acc),
        cmocka_unit_test(test_checksum_stored_checksum_verifies_to_zero),
        cmocka_unit_test(test_checksum_pseudo_header_matches_bytes),
        cmocka_unit_test(test_checksum_update16_equals_recompute),
        cmocka_unit_test(test_checksum_update32_equals_recompute),
        cmocka_unit_test(test_checksum_incremental_rewrite_of_real_segment_verifies),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
