/* ARP: real QinQ-tagged request and reply, Ethernet padding ignored, unsupported hardware and
 * protocol types, truncation at every length, and emit/parse round trips. */
#include "wire_test.h"
#include "ustack/wire/arp.h"
#include "ustack/wire/bytes.h"

/* The ARP body of a real frame into *arp; returns its length (padding included). */
static size_t arp_of(const char *name, uint8_t *f, const uint8_t **arp)
{
    const wire_frame *fr = wt_find(name);
    size_t len = wt_hex(fr->hex, f, WT_MAX_FRAME);
    size_t off = wt_l3_offset(fr, f, len);
    *arp = f + off;
    return len - off;
}

static void test_arp_parse_real_request_and_reply(void **state)
{
    (void)state;
    uint8_t f[WT_MAX_FRAME];
    const uint8_t *a;
    size_t len = arp_of("qinq_arp_req", f, &a);
    assert_true(len > US_ARP_LEN); /* padded to 64 on the wire */
    us_arp_repr r;
    assert_int_equal(us_arp_parse(&r, a, len), US_WIRE_OK);
    const uint8_t host_a[6] = {0x00, 0x20, 0xd2, 0x5a, 0xfb, 0x3f};
    const uint8_t host_b[6] = {0x00, 0x80, 0xea, 0x81, 0x88, 0x63};
    const uint8_t zero[6] = {0};
    assert_int_equal(r.op, US_ARP_OP_REQUEST);
    assert_memory_equal(r.sha, host_a, 6);
    assert_int_equal(r.spa, 0xac154f61u); /* 172.21.79.97 */
    assert_memory_equal(r.tha, zero, 6);
    assert_int_equal(r.tpa, 0xac154f64u); /* 172.21.79.100 */

    len = arp_of("qinq_arp_reply", f, &a);
    assert_int_equal(us_arp_parse(&r, a, len), US_WIRE_OK);
    assert_int_equal(r.op, US_ARP_OP_REPLY);
    assert_memory_equal(r.sha, host_b, 6);
    assert_int_equal(r.spa, 0xac154f64u);
    assert_memory_equal(r.tha, host_a, 6);
    assert_int_equal(r.tpa, 0xac154f61u);
}

static void test_arp_parse_then_emit_gives_same_bytes(void **state)
{
    (void)state;
    const char *names[] = {"qinq_arp_req", "qinq_arp_reply"};
    for (size_t k = 0; k < 2; k++) {
        uint8_t f[WT_MAX_FRAME];
        const uint8_t *a;
        size_t len = arp_of(names[k], f, &a);
        us_arp_repr r;
        assert_int_equal(us_arp_parse(&r, a, len), US_WIRE_OK);
        uint8_t out[US_ARP_LEN];
        assert_int_equal(us_arp_emit(&r, out), US_ARP_LEN);
        assert_memory_equal(out, a, US_ARP_LEN);
    }
}

static void test_arp_emit_then_parse_round_trips(void **state)
{
    (void)state;
    us_test_rng rng = {826};
    for (int round = 0; round < 200; round++) {
        us_arp_repr a;
        memset(&a, 0, sizeof(a));
        a.op = (uint16_t)us_test_rand(&rng);
        wt_fill_random(&rng, a.sha, 6);
        wt_fill_random(&rng, a.tha, 6);
        a.spa = (uint32_t)us_test_rand(&rng);
        a.tpa = (uint32_t)us_test_rand(&rng);
        uint8_t buf[US_ARP_LEN];
        assert_int_equal(us_arp_emit(&a, buf), US_ARP_LEN);
        uint8_t *p = wt_dup(buf, sizeof(buf));
        us_arp_repr b;
        memset(&b, 0, sizeof(b));
        assert_int_equal(us_arp_parse(&b, p, sizeof(buf)), US_WIRE_OK);
        free(p);
        assert_memory_equal(&a, &b, sizeof(a));
    }
}

static void test_arp_parse_rejects_non_ethernet_ipv4(void **state)
{
    (void)state;
    uint8_t f[WT_MAX_FRAME];
    const uint8_t *a;
    size_t len = arp_of("qinq_arp_req", f, &a);
    uint8_t m[64];
    us_arp_repr r;
    /* htype 6 (IEEE 802), ptype IPv6, hlen 8, plen 16: each alone is unsupported. */
    const size_t at[] = {0, 2, 4, 5};
    for (size_t k = 0; k < 4; k++) {
        memcpy(m, a, len);
        if (at[k] < 4)
            us_put_be16(m + at[k], at[k] == 0 ? 6 : 0x86dd);
        else
            m[at[k]] = at[k] == 4 ? 8 : 16;
        assert_int_equal(us_arp_parse(&r, m, len), US_WIRE_UNSUPPORTED);
        /* Even when the message is too short for an Ethernet/IPv4 body. */
        assert_int_equal(us_arp_parse(&r, m, US_ARP_FIXED_LEN), US_WIRE_UNSUPPORTED);
    }
}

static void test_arp_truncation_at_every_length(void **state)
{
    (void)state;
    uint8_t f[WT_MAX_FRAME];
    const uint8_t *a;
    size_t len = arp_of("qinq_arp_reply", f, &a);
    for (size_t n = 0; n <= len; n++) {
        uint8_t *p = wt_dup(a, n);
        us_arp_repr r;
        us_wire_err e = us_arp_parse(&r, p, n);
        assert_int_equal(e, n < US_ARP_LEN ? US_WIRE_TRUNCATED : US_WIRE_OK);
        free(p);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_arp_parse_real_request_and_reply),
        cmocka_unit_test(test_arp_parse_then_emit_gives_same_bytes),
        cmocka_unit_test(test_arp_emit_then_parse_round_trips),
        cmocka_unit_test(test_arp_parse_rejects_non_ethernet_ipv4),
        cmocka_unit_test(test_arp_truncation_at_every_length),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
