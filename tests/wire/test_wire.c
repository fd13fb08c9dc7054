/* The wire layer as a whole: every error reason has its own name, every real frame parses through
 * all its layers, and random garbage or mutated real frames never make a parser read out of
 * bounds (each input is an exact-size heap copy, so ASan catches any overread). */
#include "wire_test.h"
#include "ustack/wire/arp.h"
#include "ustack/wire/icmp.h"
#include "ustack/wire/tcp.h"
#include "ustack/wire/udp.h"

static void test_wire_err_str_names_every_reason(void **state)
{
    (void)state;
    for (int i = 0; i < US_WIRE_ERR_COUNT; i++) {
        const char *s = us_wire_err_str((us_wire_err)i);
        assert_non_null(s);
        assert_true(strncmp(s, "US_WIRE_", 8) == 0);
        assert_null(strstr(s, "?"));
        for (int j = 0; j < i; j++)
            assert_string_not_equal(s, us_wire_err_str((us_wire_err)j));
    }
    assert_non_null(strstr(us_wire_err_str(US_WIRE_TRUNCATED), "TRUNCATED"));
    assert_non_null(strstr(us_wire_err_str(US_WIRE_ERR_COUNT), "?"));
    assert_non_null(strstr(us_wire_err_str((us_wire_err)99), "?"));
}

/* Parse one frame from b[0, len) through every layer, as the stack's ingress will; returns the
 * first error (or US_WIRE_OK). Unknown ethertypes and protocols stop without error. */
static us_wire_err parse_frame(wire_link link, const uint8_t *b, size_t len, unsigned flags)
{
    size_t off = 0;
    uint16_t type = US_ETHERTYPE_IPV4;
    if (link == FRAME_ETH) {
        us_eth_repr eth;
        us_wire_err e = us_eth_parse(&eth, b, len, &off);
        if (e)
            return e;
        type = eth.ethertype;
    } else if (link == FRAME_SLL) {
        if (len < 16)
            return US_WIRE_TRUNCATED;
        off = 16;
    }
    if (type == US_ETHERTYPE_ARP) {
        us_arp_repr arp;
        return us_arp_parse(&arp, b + off, len - off);
    }
    if (type != US_ETHERTYPE_IPV4)
        return US_WIRE_OK;
    us_ipv4_repr ip;
    us_wire_err e = us_ipv4_parse(&ip, b + off, len - off, flags);
    if (e)
        return e;
    const uint8_t *l4 = b + off + ip.header_len;
    if (ip.frag_offset != 0 || ip.more_frags)
        return US_WIRE_OK; /* reassembly first */
    switch (ip.proto) {
    case US_IP_PROTO_ICMP: {
        us_icmp_repr icmp;
        return us_icmp_parse(&icmp, l4, ip.payload_len, flags);
    }
    case US_IP_PROTO_UDP: {
        us_udp_repr udp;
        return us_udp_parse(&udp, l4, ip.payload_len, ip.src, ip.dst, flags);
    }
    case US_IP_PROTO_TCP: {
        us_tcp_repr tcp;
        return us_tcp_parse(&tcp, l4, ip.payload_len, ip.src, ip.dst, flags);
    }
    default:
        return US_WIRE_OK;
    }
}

static void test_wire_real_frames_parse_through_all_layers(void **state)
{
    (void)state;
    for (size_t k = 0; k < sizeof(wire_frames) / sizeof(wire_frames[0]); k++) {
        uint8_t f[WT_MAX_FRAME];
        size_t len = wt_hex(wire_frames[k].hex, f, sizeof(f));
        uint8_t *p = wt_dup(f, len);
        us_wire_err e = parse_frame(wire_frames[k].link, p, len, 0);
        if (strcmp(wire_frames[k].name, "eth_bad_ipcsum") == 0) {
            assert_int_equal(e, US_WIRE_BAD_CHECKSUM);
            e = parse_frame(wire_frames[k].link, p, len, US_WIRE_SKIP_CSUM);
        }
        if (e != US_WIRE_OK)
            fail_msg("%s: %s", wire_frames[k].name, us_wire_err_str(e));
        free(p);
    }
}

static void test_wire_random_garbage_stays_in_bounds(void **state)
{
    (void)state;
    us_test_rng rng = {0xBAD};
    uint8_t b[256];
    for (int round = 0; round < 20000; round++) {
        size_t len = us_test_below(&rng, sizeof(b));
        wt_fill_random(&rng, b, len);
        /* Steer some inputs past the first checks so deeper code runs. */
        if (len > 14 && round % 2) {
            b[12] = 0x08;
            b[13] = 0x00;
            if (len > 16)
                b[14] = (uint8_t)(0x45 + us_test_below(&rng, 11));
        }
        uint8_t *p = wt_dup(b, len);
        for (int link = FRAME_ETH; link <= FRAME_RAW; link++) {
            us_wire_err e = parse_frame((wire_link)link, p, len, US_WIRE_SKIP_CSUM);
            assert_true((unsigned)e < US_WIRE_ERR_COUNT);
            e = parse_frame((wire_link)link, p, len, 0);
            assert_true((unsigned)e < US_WIRE_ERR_COUNT);
        }
        free(p);
    }
}

/* Real frames with random bytes overwritten (headers and options most often), checksums skipped so
 * the mutations reach every field. */
static void test_wire_mutated_real_frames_stay_in_bounds(void **state)
{
    (void)state;
    us_test_rng rng = {0x5A17};
    size_t nframes = sizeof(wire_frames) / sizeof(wire_frames[0]);
    for (int round = 0; round < 20000; round++) {
        const wire_frame *fr = &wire_frames[us_test_below(&rng, (uint32_t)nframes)];
        uint8_t f[WT_MAX_FRAME];
        size_t len = wt_hex(fr->hex, f, sizeof(f));
        unsigned muts = 1 + us_test_below(&rng, 4);
        for (unsigned m = 0; m < muts; m++) {
            size_t at = us_test_below(&rng, (uint32_t)(len < 96 ? len : 96));
            f[at] = (uint8_t)us_test_rand(&rng);
        }
        size_t cut = round % 3 ? len : us_test_below(&rng, (uint32_t)len + 1);
        uint8_t *p = wt_dup(f, cut);
        us_wire_err e = parse_frame(fr->link, p, cut, round % 2 ? US_WIRE_SKIP_CSUM : 0);
        assert_true((unsigned)e < US_WIRE_ERR_COUNT);
        free(p);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wire_err_str_names_every_reason),
        cmocka_unit_test(test_wire_real_frames_parse_through_all_layers),
        cmocka_unit_test(test_wire_random_garbage_stays_in_bounds),
        cmocka_unit_test(test_wire_mutated_real_frames_stay_in_bounds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
