/* IPv4: real headers (flags, DSCP, fragments, link padding, an offloaded zero checksum), options
 * skipped, each error reason from a crafted header, truncation at every length, and round trips. */
#include "wire_test.h"
#include "ustack/wire/bytes.h"
#include "ustack/wire/checksum.h"
#include "ustack/wire/ipv4.h"

static const char *const ip_frames[] = {
    "sll_syn",    "sll_synack",      "sll_ack",     "eth_syn",     "eth_synack",
    "eth_http_get", "eth_padded_ack", "vlan_icmp_req", "vlan_icmp_reply", "raw_udp_dns",
    "eth_udp_nfs", "eth_ip_frag_last",
};
#define N_IP_FRAMES (sizeof(ip_frames) / sizeof(ip_frames[0]))

/* Store a correct header checksum for the first hl bytes of b. */
static void fix_csum(uint8_t *b, size_t hl)
{
    us_put_be16(b + 10, 0);
    us_put_be16(b + 10, us_csum(b, hl));
}

/* A valid 20-byte header + payload_len zero bytes in b; returns the total length. */
static size_t make_packet(uint8_t *b, uint16_t payload_len)
{
    us_ipv4_repr r;
    memset(&r, 0, sizeof(r));
    r.src = 0x0a000001u;
    r.dst = 0x0a000002u;
    r.proto = US_IP_PROTO_UDP;
    r.ttl = 64;
    r.payload_len = payload_len;
    us_ipv4_emit(&r, b);
    memset(b + US_IPV4_HDR_LEN, 0, payload_len);
    return US_IPV4_HDR_LEN + payload_len;
}

static void test_ipv4_parse_real_tcp_syn(void **state)
{
    (void)state;
    uint8_t f[WT_MAX_FRAME];
    size_t off;
    us_ipv4_repr r;
    wt_ip_frame("eth_syn", f, &off, &r);
    assert_int_equal(r.src, 0xac108584u); /* 172.16.133.132 */
    assert_int_equal(r.dst, 0x628ba11du); /* 98.139.161.29 */
    assert_int_equal(r.proto, US_IP_PROTO_TCP);
    assert_int_equal(r.ttl, 64);
    assert_int_equal(r.dscp_ecn, 0);
    assert_int_equal(r.ident, 0x36e2);
    assert_true(r.dont_frag);
    assert_false(r.more_frags);
    assert_int_equal(r.frag_offset, 0);
    assert_int_equal(r.header_len, 20);
    assert_int_equal(r.payload_len, 40);
}

static void test_ipv4_parse_real_dscp_and_last_fragment(void **state)
{
    (void)state;
    uint8_t f[WT_MAX_FRAME];
    size_t off;
    us_ipv4_repr r;
    wt_ip_frame("eth_synack", f, &off, &r);
    assert_int_equal(r.dscp_ecn, 0x20);
    assert_int_equal(r.ttl, 51);

    wt_ip_frame("eth_ip_frag_last", f, &off, &r);
    assert_int_equal(r.proto, US_IP_PROTO_UDP);
    assert_false(r.dont_frag);
    assert_false(r.more_frags);
    assert_int_equal(r.frag_offset, 7400);
    assert_int_equal(r.ident, 0x1ea0);
    assert_int_equal(r.payload_len, 920);
}

static void test_ipv4_parse_ignores_link_padding(void **state)
{
    (void)state;
    uint8_t f[WT_MAX_FRAME];
    size_t off;
    us_ipv4_repr r;
    size_t len = wt_ip_frame("eth_padded_ack", f, &off, &r);
    assert_int_equal(len - off, 50); /* 6 bytes of padding and 4 of FCS after the datagram */
    assert_int_equal(r.header_len + r.payload_len, 40);
    assert_int_equal(r.payload_len, 20);
}

static void test_ipv4_parse_skips_options(void **state)
{
    (void)state;
    uint8_t b[64];
    size_t total = make_packet(b, 12);
    /* Insert a router alert option (94 04 00 00): IHL 6. */
    memmove(b + 24, b + 20, total - 20);
    b[20] = 0x94;
    b[21] = 0x04;
    b[22] = 0;
    b[23] = 0;
    b[0] = 0x46;
    us_put_be16(b + 2, (uint16_t)(total + 4));
    b[24] = 0xab; /* first payload byte */
    fix_csum(b, 24);
    us_ipv4_repr r;
    assert_int_equal(us_ipv4_parse(&r, b, total + 4, 0), US_WIRE_OK);
    assert_int_equal(r.header_len, 24);
    assert_int_equal(r.payload_len, 12);
    assert_int_equal(b[r.header_len], 0xab);
}

static void test_ipv4_parse_rejects_short_buffer(void **state)
{
    (void)state;
    uint8_t b[64];
    make_packet(b, 0);
    us_ipv4_repr r;
    assert_int_equal(us_ipv4_parse(&r, b, 19, 0), US_WIRE_TRUNCATED);
    assert_int_equal(us_ipv4_parse(&r, b, 20, 0), US_WIRE_OK);
}

static void test_ipv4_parse_rejects_bad_version(void **state)
{
    (void)state;
    uint8_t b[64];
    size_t total = make_packet(b, 8);
    us_ipv4_repr r;
    b[0] = 0x65; /* IPv6 version nibble */
    fix_csum(b, 20);
    assert_int_equal(us_ipv4_parse(&r, b, total, 0), US_WIRE_BAD_VERSION);
    b[0] = 0x05;
    assert_int_equal(us_ipv4_parse(&r, b, total, US_WIRE_SKIP_CSUM), US_WIRE_BAD_VERSION);
}

static void test_ipv4_parse_rejects_bad_ihl(void **state)
{
    (void)state;
    uint8_t b[64];
    size_t total = make_packet(b, 20);
    us_ipv4_repr r;
    for (uint8_t ihl = 0; ihl < 5; ihl++) {
        b[0] = (uint8_t)(0x40 | ihl);
        assert_int_equal(us_ipv4_parse(&r, b, total, US_WIRE_SKIP_CSUM), US_WIRE_BAD_IHL);
    }
    /* IHL 15 (60 bytes) in a 40-byte datagram: beyond the frame. */
    b[0] = 0x4f;
    uint8_t *p = wt_dup(b, total);
    assert_int_equal(us_ipv4_parse(&r, p, total, US_WIRE_SKIP_CSUM), US_WIRE_BAD_IHL);
    free(p);
}

static void test_ipv4_parse_rejects_bad_total_len(void **state)
{
    (void)state;
    uint8_t b[64];
    size_t total = make_packet(b, 8);
    us_ipv4_repr r;
    /* Below the header length. */
    us_put_be16(b + 2, 19);
    fix_csum(b, 20);
    assert_int_equal(us_ipv4_parse(&r, b, total, 0), US_WIRE_BAD_TOTAL_LEN);
    /* Beyond the bytes delivered. */
    us_put_be16(b + 2, (uint16_t)(total + 1));
    fix_csum(b, 20);
    assert_int_equal(us_ipv4_parse(&r, b, total, 0), US_WIRE_BAD_TOTAL_LEN);
    /* Exactly the header: an empty payload is fine. */
    us_put_be16(b + 2, 20);
    fix_csum(b, 20);
    assert_int_equal(us_ipv4_parse(&r, b, total, 0), US_WIRE_OK);
    assert_int_equal(r.payload_len, 0);
}

static void test_ipv4_parse_rejects_bad_checksum(void **state)
{
    (void)state;
    uint8_t f[WT_MAX_FRAME];
    size_t len = wt_frame("eth_bad_ipcsum", f);
    us_ipv4_repr r;
    /* Captured before the NIC filled the checksum in: zero. */
    assert_int_equal(us_get_be16(f + 14 + 10), 0);
    assert_int_equal(us_ipv4_parse(&r, f + 14, len - 14, 0), US_WIRE_BAD_CHECKSUM);
    assert_int_equal(us_ipv4_parse(&r, f + 14, len - 14, US_WIRE_SKIP_CSUM), US_WIRE_OK);
    assert_int_equal(r.payload_len, 20);

    /* Any single bit flipped in a good header is caught. */
    uint8_t b[64];
    size_t total = make_packet(b, 4);
    for (size_t bit = 0; bit < 20 * 8; bit++) {
        if (bit / 8 < 4) /* version/IHL/TOS/total length: would fail earlier checks */
            continue;
        b[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        us_wire_err e = us_ipv4_parse(&r, b, total, 0);
        assert_int_equal(e, US_WIRE_BAD_CHECKSUM);
        b[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
    assert_int_equal(us_ipv4_parse(&r, b, total, 0), US_WIRE_OK);
}

static void test_ipv4_parse_rejects_fragment_past_64k(void **state)
{
    (void)state;
    uint8_t b[64];
    size_t total = make_packet(b, 8);
    us_ipv4_repr r;
    us_put_be16(b + 6, 0x1fff); /* offset 65528 */
    fix_csum(b, 20);
    assert_int_equal(us_ipv4_parse(&r, b, total, 0), US_WIRE_BAD_FRAGMENT);
    /* 65528 + 7 = 65535: the last byte a datagram may have. */
    us_put_be16(b + 2, (uint16_t)(total - 1));
    fix_csum(b, 20);
    assert_int_equal(us_ipv4_parse(&r, b, total, 0), US_WIRE_OK);
    assert_int_equal(r.frag_offset, 65528);
    assert_int_equal(r.payload_len, 7);
}

/* Every prefix of a real datagram shorter than its total length is an error, read in bounds. */
static void test_ipv4_truncation_at_every_length(void **state)
{
    (void)state;
    for (size_t k = 0; k < N_IP_FRAMES; k++) {
        uint8_t f[WT_MAX_FRAME];
        size_t off;
        us_ipv4_repr full;
        memset(&full, 0, sizeof(full));
        size_t len = wt_ip_frame(ip_frames[k], f, &off, &full);
        size_t total = full.header_len + full.payload_len;
        for (size_t n = 0; n <= len - off; n++) {
            uint8_t *p = wt_dup(f + off, n);
            us_ipv4_repr r;
            memset(&r, 0, sizeof(r));
            us_wire_err e = us_ipv4_parse(&r, p, n, 0);
            if (n < 20)
                assert_int_equal(e, US_WIRE_TRUNCATED);
            else if (n < total)
                assert_int_equal(e, US_WIRE_BAD_TOTAL_LEN);
            else {
                assert_int_equal(e, US_WIRE_OK);
                assert_memory_equal(&r, &full, sizeof(r));
            }
            free(p);
        }
    }
}

/* The same with a maximal header (IHL 15, options of NOPs): prefixes inside the options are
 * refused as BAD_IHL, in bounds. */
static void test_ipv4_truncation_of_header_with_options(void **state)
{
    (void)state;
    uint8_t b[68];
    make_packet(b, 8);
    b[0] = 0x4f;
    us_put_be16(b + 2, 68);
    memset(b + 20, 0x01, 40);
    memset(b + 60, 0x5a, 8);
    fix_csum(b, 60);
    for (size_t n = 0; n <= sizeof(b); n++) {
        uint8_t *p = wt_dup(b, n);
        us_ipv4_repr r;
        us_wire_err e = us_ipv4_parse(&r, p, n, 0);
        if (n < 20)
            assert_int_equal(e, US_WIRE_TRUNCATED);
        else if (n < 60)
            assert_int_equal(e, US_WIRE_BAD_IHL);
        else if (n < 68)
            assert_int_equal(e, US_WIRE_BAD_TOTAL_LEN);
        else {
            assert_int_equal(e, US_WIRE_OK);
            assert_int_equal(r.header_len, 60);
            assert_int_equal(r.payload_len, 8);
        }
        free(p);
    }
}

static void test_ipv4_parse_then_emit_gives_same_bytes(void **state)
{
    (void)state;
    for (size_t k = 0; k < N_IP_FRAMES; k++) {
        uint8_t f[WT_MAX_FRAME];
        size_t off;
        us_ipv4_repr r;
        wt_ip_frame(ip_frames[k], f, &off, &r);
        assert_int_equal(r.header_len, 20);
        uint8_t out[US_IPV4_HDR_LEN];
        assert_int_equal(us_ipv4_emit(&r, out), US_IPV4_HDR_LEN);
        assert_memory_equal(out, f + off, US_IPV4_HDR_LEN);
    }
}

static void test_ipv4_emit_then_parse_round_trips(void **state)
{
    (void)state;
    us_test_rng rng = {791};
    static uint8_t buf[US_IPV4_HDR_LEN + 1500];
    for (int round = 0; round < 2000; round++) {
        us_ipv4_repr a;
        memset(&a, 0, sizeof(a));
        a.src = (uint32_t)us_test_rand(&rng);
        a.dst = (uint32_t)us_test_rand(&rng);
        a.proto = (uint8_t)us_test_rand(&rng);
        a.ttl = (uint8_t)us_test_rand(&rng);
        a.dscp_ecn = (uint8_t)us_test_rand(&rng);
        a.ident = (uint16_t)us_test_rand(&rng);
        a.dont_frag = us_test_below(&rng, 2);
        a.more_frags = us_test_below(&rng, 2);
        a.payload_len = (uint16_t)us_test_below(&rng, 1501);
        a.frag_offset = (uint16_t)(8 * us_test_below(&rng, (65536 - a.payload_len) / 8));
        a.header_len = US_IPV4_HDR_LEN;
        assert_int_equal(us_ipv4_emit(&a, buf), US_IPV4_HDR_LEN);
        size_t total = US_IPV4_HDR_LEN + a.payload_len;
        uint8_t *p = wt_dup(buf, total);
        us_ipv4_repr b;
        memset(&b, 0, sizeof(b));
        assert_int_equal(us_ipv4_parse(&b, p, total, 0), US_WIRE_OK);
        free(p);
        assert_memory_equal(&a, &b, sizeof(a));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ipv4_parse_real_tcp_syn),
        cmocka_unit_test(test_ipv4_parse_real_dscp_and_last_fragment),
        cmocka_unit_test(test_ipv4_parse_ignores_link_padding),
        cmocka_unit_test(test_ipv4_parse_skips_options),
        cmocka_unit_test(test_ipv4_parse_rejects_short_buffer),
        cmocka_unit_test(test_ipv4_parse_rejects_bad_version),
        cmocka_unit_test(test_ipv4_parse_rejects_bad_ihl),
        cmocka_unit_test(test_ipv4_parse_rejects_bad_total_len),
        cmocka_unit_test(test_ipv4_parse_rejects_bad_checksum),
        cmocka_unit_test(test_ipv4_parse_rejects_fragment_past_64k),
        cmocka_unit_test(test_ipv4_truncation_at_every_length),
        cmocka_unit_test(test_ipv4_truncation_of_header_with_options),
        cmocka_unit_test(test_ipv4_parse_then_emit_gives_same_bytes),
        cmocka_unit_test(test_ipv4_emit_then_parse_round_trips),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
