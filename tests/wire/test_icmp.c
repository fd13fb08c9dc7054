/* ICMPv4: real echo request/reply (the reply rebuilt in place from the request matches the real
 * one byte for byte), destination unreachable and time exceeded carrying the original datagram,
 * generic types, checksum and truncation errors. */
#include "wire_test.h"
#include "ustack/wire/bytes.h"
#include "ustack/wire/checksum.h"
#include "ustack/wire/icmp.h"

/* The ICMP message of a real frame: *msg points into f; returns its length. */
static size_t icmp_of(const char *name, uint8_t *f, uint8_t **msg)
{
    size_t off;
    us_ipv4_repr ip;
    wt_ip_frame(name, f, &off, &ip);
    assert_int_equal(ip.proto, US_IP_PROTO_ICMP);
    *msg = f + off + ip.header_len;
    return ip.payload_len;
}

static void test_icmp_parse_real_echo_request(void **state)
{
    (void)state;
    uint8_t f[WT_MAX_FRAME], *m;
    size_t len = icmp_of("vlan_icmp_req", f, &m);
    us_icmp_repr r;
    assert_int_equal(us_icmp_parse(&r, m, len, 0), US_WIRE_OK);
    assert_int_equal(r.type, US_ICMP_ECHO_REQUEST);
    assert_int_equal(r.code, 0);
    assert_int_equal(r.ident, 3);
    assert_int_equal(r.seq, 0);
    assert_int_equal(r.rest, 0x00030000u);
    assert_ptr_equal(r.data, m + 8);
    assert_int_equal(r.data_len, 72);
    assert_int_equal(r.data[r.data_len - 1], 0xcd); /* ...abcdabcd pattern */
}

static void test_icmp_parse_then_emit_gives_same_bytes(void **state)
{
    (void)state;
    const char *names[] = {"vlan_icmp_req", "vlan_icmp_reply"};
    for (size_t k = 0; k < 2; k++) {
        uint8_t f[WT_MAX_FRAME], *m;
        size_t len = icmp_of(names[k], f, &m);
        us_icmp_repr r;
        assert_int_equal(us_icmp_parse(&r, m, len, 0), US_WIRE_OK);
        uint8_t out[256];
        assert_int_equal(us_icmp_emit(&r, out), len);
        assert_memory_equal(out, m, len);
    }
}

/* What the stack's echo responder does: turn the request into a reply in its own buffer. */
static void test_icmp_echo_reply_built_in_place_matches_real_reply(void **state)
{
    (void)state;
    uint8_t f[WT_MAX_FRAME], g[WT_MAX_FRAME], *req, *rep;
    size_t len = icmp_of("vlan_icmp_req", f, &req);
    size_t rlen = icmp_of("vlan_icmp_reply", g, &rep);
    us_icmp_repr r;
    assert_int_equal(us_icmp_parse(&r, req, len, 0), US_WIRE_OK);
    r.type = US_ICMP_ECHO_REPLY;
    assert_int_equal(us_icmp_emit(&r, req), rlen);
    assert_memory_equal(req, rep, rlen);
}

static void test_icmp_emit_data_overlapping_header(void **state)
{
    (void)state;
    uint8_t b[64], expect[64];
    for (size_t i = 0; i < sizeof(b); i++)
        b[i] = (uint8_t)i;
    us_icmp_repr r;
    memset(&r, 0, sizeof(r));
    r.type = US_ICMP_ECHO_REQUEST;
    r.ident = 1;
    r.seq = 2;
    r.data = b + 3; /* overlaps the header being written */
    r.data_len = 20;
    memcpy(expect + 8, b + 3, 20);
    assert_int_equal(us_icmp_emit(&r, b), 28);
    assert_memory_equal(b + 8, expect + 8, 20);
    assert_int_equal(us_csum(b, 28), 0);
}

/* A port unreachable quoting a real datagram's header and first 8 bytes. */
static void test_icmp_dest_unreachable_round_trip(void **state)
{
    (void)state;
    uint8_t f[WT_MAX_FRAME];
    size_t off;
    us_ipv4_repr ip;
    wt_ip_frame("raw_udp_dns", f, &off, &ip);
    const uint8_t *orig = f + off;
    size_t quoted = ip.header_len + 8u;

    us_icmp_repr a;
    memset(&a, 0, sizeof(a));
    a.type = US_ICMP_DEST_UNREACH;
    a.code = US_ICMP_UNREACH_PORT;
    a.data = orig;
    a.data_len = quoted;
    uint8_t out[128];
    assert_int_equal(us_icmp_emit(&a, out), 8 + quoted);
    assert_int_equal(us_get_be32(out + 4), 0);

    uint8_t *p = wt_dup(out, 8 + quoted);
    us_icmp_repr b;
    assert_int_equal(us_icmp_parse(&b, p, 8 + quoted, 0), US_WIRE_OK);
    assert_int_equal(b.type, US_ICMP_DEST_UNREACH);
    assert_int_equal(b.code, US_ICMP_UNREACH_PORT);
    assert_int_equal(b.rest, 0);
    assert_int_equal(b.ident, 0);
    assert_int_equal(b.seq, 0);
    assert_int_equal(b.data_len, quoted);
    assert_memory_equal(b.data, orig, quoted);
    /* The quoted header is the original's: same addresses, same UDP ports. */
    assert_int_equal(us_get_be32(b.data + 12), ip.src);
    assert_int_equal(us_get_be16(b.data + 20), 12345);
    assert_int_equal(us_get_be16(b.data + 22), 53);
    free(p);

    /* Fragmentation needed carries the next-hop MTU in the rest word. */
    a.code = US_ICMP_UNREACH_FRAG_NEEDED;
    a.rest = 1400;
    us_icmp_emit(&a, out);
    assert_int_equal(us_icmp_parse(&b, out, 8 + quoted, 0), US_WIRE_OK);
    assert_int_equal(b.rest & 0xffffu, 1400);
}

static void test_icmp_time_exceeded_and_generic_types_round_trip(void **state)
{
    (void)state;
    us_test_rng rng = {792};
    uint8_t data[64], out[128];
    for (int round = 0; round < 500; round++) {
        us_icmp_repr a;
        memset(&a, 0, sizeof(a));
        a.type = round == 0 ? US_ICMP_TIME_EXCEEDED : (uint8_t)us_test_rand(&rng);
        a.code = (uint8_t)us_test_rand(&rng);
        a.data_len = us_test_below(&rng, sizeof(data) + 1);
        wt_fill_random(&rng, data, a.data_len);
        a.data = data;
        if (a.type == US_ICMP_ECHO_REQUEST || a.type == US_ICMP_ECHO_REPLY) {
            a.ident = (uint16_t)us_test_rand(&rng);
            a.seq = (uint16_t)us_test_rand(&rng);
            a.rest = ((uint32_t)a.ident << 16) | a.seq;
        } else {
            a.rest = (uint32_t)us_test_rand(&rng);
        }
        size_t len = us_icmp_emit(&a, out);
        assert_int_equal(len, 8 + a.data_len);
        uint8_t *p = wt_dup(out, len);
        us_icmp_repr b;
        assert_int_equal(us_icmp_parse(&b, p, len, 0), US_WIRE_OK);
        assert_int_equal(b.type, a.type);
        assert_int_equal(b.code, a.code);
        assert_int_equal(b.rest, a.rest);
        assert_int_equal(b.ident, a.ident);
        assert_int_equal(b.seq, a.seq);
        assert_ptr_equal(b.data, p + 8);
        assert_int_equal(b.data_len, a.data_len);
        if (a.data_len)
            assert_memory_equal(b.data, data, a.data_len);
        free(p);
    }
}

static void test_icmp_parse_rejects_bad_checksum(void **state)
{
    (void)state;
    uint8_t f[WT_MAX_FRAME], *m;
    size_t len = icmp_of("vlan_icmp_req", f, &m);
    us_icmp_repr r;
    m[len - 1] ^= 0x10; /* last data byte: the checksum covers the whole message */
    assert_int_equal(us_icmp_parse(&r, m, len, 0), US_WIRE_BAD_CHECKSUM);
    assert_int_equal(us_icmp_parse(&r, m, len, US_WIRE_SKIP_CSUM), US_WIRE_OK);
}

static void test_icmp_truncation_at_every_length(void **state)
{
    (void)state;
    uint8_t f[WT_MAX_FRAME], *m;
    size_t len = icmp_of("vlan_icmp_reply", f, &m);
    for (size_t n = 0; n <= len; n++) {
        uint8_t *p = wt_dup(m, n);
        us_icmp_repr r;
        us_wire_err e = us_icmp_parse(&r, p, n, 0);
        if (n < 8)
            assert_int_equal(e, US_WIRE_TRUNCATED);
        else if (n < len)
            assert_int_equal(e, US_WIRE_BAD_CHECKSUM);
        else
            assert_int_equal(e, US_WIRE_OK);
        free(p);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_icmp_parse_real_echo_request),
        cmocka_unit_test(test_icmp_parse_then_emit_gives_same_bytes),
        cmocka_unit_test(test_icmp_echo_reply_built_in_place_matches_real_reply),
        cmocka_unit_test(test_icmp_emit_data_overlapping_header),
        cmocka_unit_test(test_icmp_dest_unreachable_round_trip),
        cmocka_unit_test(test_icmp_time_exceeded_and_generic_types_round_trip),
        cmocka_unit_test(test_icmp_parse_rejects_bad_checksum),
        cmocka_unit_test(test_icmp_truncation_at_every_length),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
