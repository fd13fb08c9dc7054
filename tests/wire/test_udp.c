/* UDP: real datagrams (odd length, DF), emit from a chained payload's partial sum, the zero
 * checksum in both directions, length-field errors, trailing bytes ignored, truncation. */
#include "wire_test.h"
#include "ustack/wire/bytes.h"
#include "ustack/wire/checksum.h"
#include "ustack/wire/udp.h"

typedef struct udp_frame {
    uint8_t f[WT_MAX_FRAME];
    uint8_t *udp; /* start of the UDP header in f */
    size_t len;   /* IPv4 payload length */
    us_ipv4_repr ip;
} udp_frame;

static void load(udp_frame *u, const char *name)
{
    size_t off;
    wt_ip_frame(name, u->f, &off, &u->ip);
    assert_int_equal(u->ip.proto, US_IP_PROTO_UDP);
    u->udp = u->f + off + u->ip.header_len;
    u->len = u->ip.payload_len;
}

static void test_udp_parse_real_dns_query(void **state)
{
    (void)state;
    udp_frame u;
    load(&u, "raw_udp_dns");
    us_udp_repr r;
    assert_int_equal(us_udp_parse(&r, u.udp, u.len, u.ip.src, u.ip.dst, 0), US_WIRE_OK);
    assert_int_equal(r.src_port, 12345);
    assert_int_equal(r.dst_port, 53);
    assert_int_equal(r.payload_len, 29);
    assert_ptr_equal(r.payload, u.udp + 8);
    assert_int_equal(r.payload[r.payload_len - 1], 0x01); /* QCLASS IN */
}

static void test_udp_parse_then_emit_gives_same_bytes(void **state)
{
    (void)state;
    const char *names[] = {"raw_udp_dns", "eth_udp_nfs"};
    for (size_t k = 0; k < 2; k++) {
        udp_frame u;
        load(&u, names[k]);
        us_udp_repr r;
        assert_int_equal(us_udp_parse(&r, u.udp, u.len, u.ip.src, u.ip.dst, 0), US_WIRE_OK);
        uint8_t hdr[US_UDP_HDR_LEN];
        uint32_t psum = us_csum_partial(r.payload, r.payload_len, 0);
        assert_int_equal(us_udp_emit(&r, hdr, u.ip.src, u.ip.dst, psum), US_UDP_HDR_LEN);
        assert_memory_equal(hdr, u.udp, US_UDP_HDR_LEN);
    }
}

/* The payload sits in three segments of odd lengths; their sums merged with us_csum_combine give
 * the same header as a contiguous payload. */
static void test_udp_emit_from_chained_payload_sum(void **state)
{
    (void)state;
    us_test_rng rng = {768};
    for (int round = 0; round < 500; round++) {
        uint8_t dgram[US_UDP_HDR_LEN + 600];
        uint8_t *payload = dgram + US_UDP_HDR_LEN;
        us_udp_repr a;
        memset(&a, 0, sizeof(a));
        a.src_port = (uint16_t)us_test_rand(&rng);
        a.dst_port = (uint16_t)us_test_rand(&rng);
        a.payload_len = us_test_below(&rng, 601);
        wt_fill_random(&rng, payload, a.payload_len);
        uint32_t src = (uint32_t)us_test_rand(&rng), dst = (uint32_t)us_test_rand(&rng);

        /* Segments copied apart, each at its own address. */
        size_t cut1 = us_test_below(&rng, (uint32_t)a.payload_len + 1);
        size_t cut2 = cut1 + us_test_below(&rng, (uint32_t)(a.payload_len - cut1) + 1);
        uint8_t s1[600], s2[600], s3[600];
        memcpy(s1, payload, cut1);
        memcpy(s2 + 1, payload + cut1, cut2 - cut1); /* odd address too */
        memcpy(s3, payload + cut2, a.payload_len - cut2);
        uint32_t psum = us_csum_partial(s1, cut1, 0);
        psum = us_csum_combine(psum, us_csum_partial(s2 + 1, cut2 - cut1, 0), cut1);
        psum = us_csum_combine(psum, us_csum_partial(s3, a.payload_len - cut2, 0), cut2);

        us_udp_emit(&a, dgram, src, dst, psum);
        size_t len = US_UDP_HDR_LEN + a.payload_len;
        assert_int_not_equal(us_get_be16(dgram + 6), 0);
        uint8_t *p = wt_dup(dgram, len);
        us_udp_repr b;
        assert_int_equal(us_udp_parse(&b, p, len, src, dst, 0), US_WIRE_OK);
        assert_int_equal(b.src_port, a.src_port);
        assert_int_equal(b.dst_port, a.dst_port);
        assert_int_equal(b.payload_len, a.payload_len);
        assert_ptr_equal(b.payload, p + US_UDP_HDR_LEN);
        free(p);
    }
}

/* A checksum that computes to 0 goes out as 0xFFFF (0 would mean "no checksum") and verifies. */
static void test_udp_emit_sends_zero_checksum_as_ffff(void **state)
{
    (void)state;
    uint8_t d[US_UDP_HDR_LEN + 2];
    us_udp_repr a = {.src_port = 1000, .dst_port = 2000, .payload = NULL, .payload_len = 2};
    uint32_t src = 0x0a000001u, dst = 0x0a000002u;
    /* Choose the payload word that makes the whole sum 0xFFFF. */
    us_put_be16(d + 8, 0);
    us_udp_emit(&a, d, src, dst, 0);
    us_put_be16(d + 6, 0);
    uint16_t rest = us_csum_fold(
        us_csum_partial(d, US_UDP_HDR_LEN, us_csum_pseudo_ipv4(src, dst, 17, sizeof(d))));
    uint16_t word = (uint16_t)(0xffffu - rest);
    us_put_be16(d + 8, word);
    us_udp_emit(&a, d, src, dst, us_csum_partial(d + 8, 2, 0));
    assert_int_equal(us_get_be16(d + 6), 0xffff);
    us_udp_repr b;
    assert_int_equal(us_udp_parse(&b, d, sizeof(d), src, dst, 0), US_WIRE_OK);
}

static void test_udp_parse_zero_checksum_is_not_verified(void **state)
{
    (void)state;
    udp_frame u;
    load(&u, "raw_udp_dns");
    us_put_be16(u.udp + 6, 0);
    u.udp[u.len - 1] ^= 0xff; /* would fail any checksum */
    us_udp_repr r;
    assert_int_equal(us_udp_parse(&r, u.udp, u.len, u.ip.src, u.ip.dst, 0), US_WIRE_OK);
    assert_int_equal(r.payload_len, 29);
}

static void test_udp_parse_rejects_bad_checksum(void **state)
{
    (void)state;
    udp_frame u;
    load(&u, "eth_udp_nfs");
    us_udp_repr r;
    u.udp[20] ^= 0x01;
    assert_int_equal(us_udp_parse(&r, u.udp, u.len, u.ip.src, u.ip.dst, 0), US_WIRE_BAD_CHECKSUM);
    assert_int_equal(us_udp_parse(&r, u.udp, u.len, u.ip.src, u.ip.dst, US_WIRE_SKIP_CSUM),
                     US_WIRE_OK);
    u.udp[20] ^= 0x01;
    /* The pseudo-header counts: the right bytes from the wrong address fail. */
    assert_int_equal(us_udp_parse(&r, u.udp, u.len, u.ip.src + 1, u.ip.dst, 0),
                     US_WIRE_BAD_CHECKSUM);
    assert_int_equal(us_udp_parse(&r, u.udp, u.len, u.ip.src, u.ip.dst, 0), US_WIRE_OK);
}

static void test_udp_parse_rejects_bad_length_field(void **state)
{
    (void)state;
    udp_frame u;
    load(&u, "raw_udp_dns");
    us_udp_repr r;
    for (uint16_t bad = 0; bad < 8; bad++) {
        us_put_be16(u.udp + 4, bad);
        assert_int_equal(us_udp_parse(&r, u.udp, u.len, u.ip.src, u.ip.dst, US_WIRE_SKIP_CSUM),
                         US_WIRE_BAD_LENGTH);
    }
    us_put_be16(u.udp + 4, (uint16_t)(u.len + 1));
    uint8_t *p = wt_dup(u.udp, u.len);
    assert_int_equal(us_udp_parse(&r, p, u.len, u.ip.src, u.ip.dst, US_WIRE_SKIP_CSUM),
                     US_WIRE_BAD_LENGTH);
    free(p);
}

/* Bytes past the UDP length field (e.g. a sloppy sender's padding) are not payload. */
static void test_udp_parse_ignores_bytes_past_length(void **state)
{
    (void)state;
    udp_frame u;
    load(&u, "raw_udp_dns");
    uint8_t b[128];
    memcpy(b, u.udp, u.len);
    memset(b + u.len, 0xee, 5);
    us_udp_repr r;
    assert_int_equal(us_udp_parse(&r, b, u.len + 5, u.ip.src, u.ip.dst, 0), US_WIRE_OK);
    assert_int_equal(r.payload_len, 29);
}

static void test_udp_truncation_at_every_length(void **state)
{
    (void)state;
    udp_frame u;
    load(&u, "eth_udp_nfs");
    for (size_t n = 0; n <= u.len; n++) {
        uint8_t *p = wt_dup(u.udp, n);
        us_udp_repr r;
        us_wire_err e = us_udp_parse(&r, p, n, u.ip.src, u.ip.dst, 0);
        if (n < 8)
            assert_int_equal(e, US_WIRE_TRUNCATED);
        else if (n < u.len)
            assert_int_equal(e, US_WIRE_BAD_LENGTH);
        else
            assert_int_equal(e, US_WIRE_OK);
        free(p);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_udp_parse_real_dns_query),
        cmocka_unit_test(test_udp_parse_then_emit_gives_same_bytes),
        cmocka_unit_test(test_udp_emit_from_chained_payload_sum),
        cmocka_unit_test(test_udp_emit_sends_zero_checksum_as_ffff),
        cmocka_unit_test(test_udp_parse_zero_checksum_is_not_verified),
        cmocka_unit_test(test_udp_parse_rejects_bad_checksum),
        cmocka_unit_test(test_udp_parse_rejects_bad_length_field),
        cmocka_unit_test(test_udp_parse_ignores_bytes_past_length),
        cmocka_unit_test(test_udp_truncation_at_every_length),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
