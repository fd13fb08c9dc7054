/* Ethernet: untagged and tagged real frames (802.1Q, 802.1ad, 0x9100), the tag limit, truncation at
 * every length, unknown ethertypes passed through, and emit/parse round trips. */
#include "wire_test.h"
#include "ustack/wire/bytes.h"
#include "ustack/wire/eth.h"

static void test_eth_parse_untagged_real_frame(void **state)
{
    (void)state;
    uint8_t f[WT_MAX_FRAME];
    size_t len = wt_frame("eth_syn", f), hl = 0;
    us_eth_repr r;
    assert_int_equal(us_eth_parse(&r, f, len, &hl), US_WIRE_OK);
    assert_int_equal(hl, 14);
    assert_int_equal(r.vlan_tags, 0);
    assert_int_equal(r.ethertype, US_ETHERTYPE_IPV4);
    const uint8_t dst[6] = {0x00, 0x90, 0x7f, 0x3e, 0x02, 0xd0};
    const uint8_t src[6] = {0x00, 0x50, 0x43, 0x01, 0x4d, 0xd4};
    assert_memory_equal(r.dst, dst, 6);
    assert_memory_equal(r.src, src, 6);
}

static void test_eth_parse_strips_double_8021q(void **state)
{
    (void)state;
    uint8_t f[WT_MAX_FRAME];
    size_t len = wt_frame("vlan_icmp_req", f), hl = 0;
    us_eth_repr r;
    assert_int_equal(us_eth_parse(&r, f, len, &hl), US_WIRE_OK);
    assert_int_equal(r.vlan_tags, 2);
    assert_int_equal(hl, 22);
    assert_int_equal(r.ethertype, US_ETHERTYPE_IPV4);
    assert_int_equal(f[hl] >> 4, 4); /* the IPv4 header follows */
}

static void test_eth_parse_strips_8021ad_qinq(void **state)
{
    (void)state;
    uint8_t f[WT_MAX_FRAME];
    size_t len = wt_frame("qinq_arp_req", f), hl = 0;
    assert_int_equal(us_get_be16(f + 12), US_ETHERTYPE_QINQ);
    us_eth_repr r;
    assert_int_equal(us_eth_parse(&r, f, len, &hl), US_WIRE_OK);
    assert_int_equal(r.vlan_tags, 2);
    assert_int_equal(hl, 22);
    assert_int_equal(r.ethertype, US_ETHERTYPE_ARP);
}

static void test_eth_parse_strips_single_and_9100_tags(void **state)
{
    (void)state;
    uint8_t f[64] = {0};
    us_put_be16(f + 12, US_ETHERTYPE_VLAN);
    us_put_be16(f + 14, 0x0064);
    us_put_be16(f + 16, US_ETHERTYPE_ARP);
    us_eth_repr r;
    size_t hl = 0;
    assert_int_equal(us_eth_parse(&r, f, sizeof(f), &hl), US_WIRE_OK);
    assert_int_equal(r.vlan_tags, 1);
    assert_int_equal(hl, 18);
    assert_int_equal(r.ethertype, US_ETHERTYPE_ARP);

    us_put_be16(f + 12, US_ETHERTYPE_QINQ_OLD);
    us_put_be16(f + 16, US_ETHERTYPE_VLAN);
    us_put_be16(f + 20, US_ETHERTYPE_IPV6);
    assert_int_equal(us_eth_parse(&r, f, sizeof(f), &hl), US_WIRE_OK);
    assert_int_equal(r.vlan_tags, 2);
    assert_int_equal(hl, 22);
    assert_int_equal(r.ethertype, US_ETHERTYPE_IPV6);
}

static void test_eth_parse_rejects_third_tag(void **state)
{
    (void)state;
    uint8_t f[64] = {0};
    us_put_be16(f + 12, US_ETHERTYPE_QINQ);
    us_put_be16(f + 16, US_ETHERTYPE_VLAN);
    us_put_be16(f + 20, US_ETHERTYPE_VLAN);
    us_put_be16(f + 24, US_ETHERTYPE_IPV4);
    us_eth_repr r;
    size_t hl = 0;
    assert_int_equal(us_eth_parse(&r, f, sizeof(f), &hl), US_WIRE_BAD_VLAN);
}

static void test_eth_parse_unknown_ethertype_is_not_an_error(void **state)
{
    (void)state;
    uint8_t f[WT_MAX_FRAME];
    size_t len = wt_frame("vlan_cdp", f), hl = 0;
    us_eth_repr r;
    assert_int_equal(us_eth_parse(&r, f, len, &hl), US_WIRE_OK);
    assert_int_equal(r.ethertype, 0x0169); /* an 802.3 length: the caller drops it */
    assert_int_equal(r.vlan_tags, 0);
    assert_int_equal(hl, 14);
}

/* Every prefix shorter than the header (tags included) is refused as truncated without reading
 * past it; every longer prefix parses to the same result. */
static void test_eth_truncation_at_every_length(void **state)
{
    (void)state;
    const char *names[] = {"eth_syn", "vlan_icmp_req", "qinq_arp_reply", "vlan_cdp"};
    for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
        uint8_t f[WT_MAX_FRAME];
        size_t len = wt_frame(names[k], f), full_hl = 0;
        us_eth_repr full;
        memset(&full, 0, sizeof(full));
        assert_int_equal(us_eth_parse(&full, f, len, &full_hl), US_WIRE_OK);
        for (size_t n = 0; n <= len; n++) {
            uint8_t *p = wt_dup(f, n);
            us_eth_repr r;
            memset(&r, 0, sizeof(r));
            size_t hl = 0;
            us_wire_err e = us_eth_parse(&r, p, n, &hl);
            if (n < full_hl) {
                assert_int_equal(e, US_WIRE_TRUNCATED);
            } else {
                assert_int_equal(e, US_WIRE_OK);
                assert_int_equal(hl, full_hl);
                assert_memory_equal(&r, &full, sizeof(r));
            }
            free(p);
        }
    }
}

static void test_eth_emit_then_parse_round_trips(void **state)
{
    (void)state;
    us_test_rng rng = {14};
    for (int round = 0; round < 200; round++) {
        us_eth_repr a;
        memset(&a, 0, sizeof(a));
        wt_fill_random(&rng, a.dst, 6);
        wt_fill_random(&rng, a.src, 6);
        do
            a.ethertype = (uint16_t)us_test_rand(&rng);
        while (a.ethertype == US_ETHERTYPE_VLAN || a.ethertype == US_ETHERTYPE_QINQ ||
               a.ethertype == US_ETHERTYPE_QINQ_OLD);
        uint8_t buf[US_ETH_HDR_LEN];
        assert_int_equal(us_eth_emit(&a, buf), US_ETH_HDR_LEN);
        us_eth_repr b;
        memset(&b, 0, sizeof(b));
        size_t hl = 0;
        uint8_t *p = wt_dup(buf, sizeof(buf));
        assert_int_equal(us_eth_parse(&b, p, sizeof(buf), &hl), US_WIRE_OK);
        free(p);
        assert_int_equal(hl, US_ETH_HDR_LEN);
        assert_memory_equal(&a, &b, sizeof(a));
    }
}

static void test_eth_parse_then_emit_gives_same_bytes(void **state)
{
    (void)state;
    uint8_t f[WT_MAX_FRAME];
    size_t len = wt_frame("eth_http_get", f), hl = 0;
    us_eth_repr r;
    assert_int_equal(us_eth_parse(&r, f, len, &hl), US_WIRE_OK);
    uint8_t out[US_ETH_HDR_LEN];
    assert_int_equal(us_eth_emit(&r, out), hl);
    assert_memory_equal(out, f, hl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_eth_parse_untagged_real_frame),
        cmocka_unit_test(test_eth_parse_strips_double_8021q),
        cmocka_unit_test(test_eth_parse_strips_8021ad_qinq),
        cmocka_unit_test(test_eth_parse_strips_single_and_9100_tags),
        cmocka_unit_test(test_eth_parse_rejects_third_tag),
        cmocka_unit_test(test_eth_parse_unknown_ethertype_is_not_an_error),
        cmocka_unit_test(test_eth_truncation_at_every_length),
        cmocka_unit_test(test_eth_emit_then_parse_round_trips),
        cmocka_unit_test(test_eth_parse_then_emit_gives_same_bytes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
