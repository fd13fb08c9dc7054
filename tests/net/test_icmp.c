/* ICMP: echo replies to a real ping (VlanPackets.pcap) compared byte for byte with the real reply,
 * the reply queued behind ARP when the pinger's MAC is unknown, large (reassembled, fragmented)
 * and chained echoes, the types the stack does not answer, malformed messages, port unreachable. */
#include <string.h>

#include "netpair.h"
#include "ustack/wire/bytes.h"
#include "ustack/wire/checksum.h"
#include "ustack/wire/icmp.h"
#include "wire/frames.h"

#define SEC 1000000000ull

static const us_stack_stats *st(np_node *n)
{
    return us_stack_get_stats(n->s);
}

static uint32_t real_frame(const char *name, uint8_t *out, uint32_t cap)
{
    for (size_t i = 0; i < sizeof(wire_frames) / sizeof(wire_frames[0]); i++)
        if (strcmp(wire_frames[i].name, name) == 0)
            return np_hex(wire_frames[i].hex, out, cap);
    fail_msg("no frame %s", name);
    return 0;
}

/* The pinged host of VlanPackets.pcap: 10.118.10.2 at 00:1b:d4:1b:a4:d8; the pinger is
 * 10.118.10.1 at 00:13:c3:df:ae:18. */
#define PINGED_IP 0x0A760A02u
#define PINGER_IP 0x0A760A01u
static const uint8_t pinged_mac[6] = {0x00, 0x1b, 0xd4, 0x1b, 0xa4, 0xd8};
static const uint8_t pinger_mac[6] = {0x00, 0x13, 0xc3, 0xdf, 0xae, 0x18};

static np_node *pinged_node(void)
{
    us_stack_config c;
    np_config(&c, PINGED_IP, 0);
    memcpy(c.mac, pinged_mac, 6);
    return np_new(&c, 1500, 0);
}

/* Check that frame i of n is our untagged echo reply to the real request: its ICMP message equals
 * the one in the real (tagged) reply. */
static void expect_real_reply(np_node *n, uint32_t i)
{
    uint8_t real[256];
    uint32_t rlen = real_frame("vlan_icmp_reply", real, sizeof(real));
    const uint32_t tags = 8, icmp_len = 80;
    assert_int_equal(rlen, 14 + tags + 20 + icmp_len);
    assert_int_equal(n->tx_len[i], 14 + 20 + icmp_len);
    const uint8_t *f = n->tx[i];
    assert_memory_equal(f, pinger_mac, 6);
    assert_memory_equal(f + 6, pinged_mac, 6);
    assert_int_equal(us_get_be16(f + 12), 0x0800);
    us_ipv4_repr ip;
    assert_int_equal(us_ipv4_parse(&ip, f + 14, n->tx_len[i] - 14, 0), US_WIRE_OK);
    assert_int_equal(ip.src, PINGED_IP);
    assert_int_equal(ip.dst, PINGER_IP);
    assert_int_equal(ip.proto, US_IP_PROTO_ICMP);
    assert_int_equal(ip.payload_len, icmp_len);
    assert_memory_equal(f + 34, real + 14 + tags + 20, icmp_len);
}

static void test_icmp_echo_real_ping(void **state)
{
    (void)state;
    np_node *n = pinged_node();
    assert_int_equal(us_arp_add_static(n->s, PINGER_IP, pinger_mac), US_OK);
    uint8_t req[256];
    uint32_t len = real_frame("vlan_icmp_req", req, sizeof(req));
    /* Double-tagged (802.1Q in 802.1Q): the tags are stripped, the reply goes untagged, at once. */
    assert_int_equal(np_inject(n, req, len, 0), US_INGRESS_PROCESSED);
    assert_int_equal(n->tx_n, 1);
    expect_real_reply(n, 0);
    assert_int_equal(us_stack_bufs(n->s)->heap.stats.used, 0);
    np_free(n);
}

static void test_icmp_echo_queued_behind_arp(void **state)
{
    (void)state;
    np_node *n = pinged_node();
    uint8_t req[256], f[64];
    uint32_t len = real_frame("vlan_icmp_req", req, sizeof(req));
    /* The pinger's MAC is not learned from the IPv4 frame: the reply waits for ARP. */
    assert_int_equal(np_inject(n, req, len, 0), US_INGRESS_PROCESSED);
    assert_int_equal(n->tx_n, 1);
    uint8_t want[64];
    static const uint8_t zero[6] = {0};
    assert_int_equal(np_build_arp(want, np_mac_bcast, 1, pinged_mac, PINGED_IP, zero, PINGER_IP),
                     42);
    assert_memory_equal(n->tx[0], want, 42);
    assert_true(us_stack_bufs(n->s)->heap.stats.used > 0);
    np_tx_clear(n);
    uint32_t flen = np_build_arp(f, pinged_mac, 2, pinger_mac, PINGER_IP, pinged_mac, PINGED_IP);
    assert_int_equal(np_inject(n, f, flen, 1000), US_INGRESS_PROCESSED);
    assert_int_equal(n->tx_n, 1);
    expect_real_reply(n, 0);
    assert_int_equal(us_stack_bufs(n->s)->heap.stats.used, 0);
    np_free(n);
}

/* An echo request from B to A with `data_len` bytes of data, as one IPv4 payload in msg. */
static uint32_t echo_request(uint8_t *msg, uint16_t ident, uint16_t seq, uint32_t data_len)
{
    for (uint32_t i = 0; i < data_len; i++)
        msg[8 + i] = (uint8_t)(i + 1);
    us_icmp_repr r;
    memset(&r, 0, sizeof(r));
    r.type = US_ICMP_ECHO_REQUEST;
    r.ident = ident;
    r.seq = seq;
    r.data = msg + 8;
    r.data_len = data_len;
    return (uint32_t)us_icmp_emit(&r, msg);
}

static void test_icmp_large_echo_fragmented_both_ways(void **state)
{
    (void)state;
    np_node *a = np_new_a();
    assert_int_equal(us_arp_add_static(a->s, NP_IP_B, np_mac_b), US_OK);
    static uint8_t msg[3000];
    uint32_t mlen = echo_request(msg, 0x4242, 7, 2992);
    assert_int_equal(mlen, 3000);
    /* Fragments of 1480, 1480 and 40 bytes. */
    uint8_t f[1600];
    for (uint32_t off = 0; off < mlen; off += 1480) {
        uint32_t n = mlen - off < 1480 ? mlen - off : 1480;
        us_ipv4_repr ip = np_ip(NP_IP_B, NP_IP_A, US_IP_PROTO_ICMP, 0x99, n);
        ip.frag_offset = (uint16_t)off;
        ip.more_frags = off + n < mlen;
        uint32_t flen = np_build_ip(f, np_mac_a, np_mac_b, &ip, msg + off, n);
        np_inject(a, f, flen, 0);
    }
    /* The reply is as large: built in a RAM pbuf and sent in three fragments. */
    assert_int_equal(a->tx_n, 3);
    static uint8_t reply[3000];
    uint16_t ident = 0;
    for (uint32_t i = 0; i < 3; i++) {
        us_ipv4_repr ip;
        assert_int_equal(us_ipv4_parse(&ip, a->tx[i] + 14, a->tx_len[i] - 14, 0), US_WIRE_OK);
        assert_int_equal(ip.frag_offset, i * 1480);
        assert_int_equal(ip.more_frags, i < 2);
        if (i == 0)
            ident = ip.ident;
        assert_int_equal(ip.ident, ident);
        memcpy(reply + ip.frag_offset, a->tx[i] + 34, ip.payload_len);
    }
    us_icmp_repr r;
    assert_int_equal(us_icmp_parse(&r, reply, 3000, 0), US_WIRE_OK);
    assert_int_equal(r.type, US_ICMP_ECHO_REPLY);
    assert_int_equal(r.ident, 0x4242);
    assert_int_equal(r.seq, 7);
    assert_memory_equal(r.data, msg + 8, 2992);
    assert_int_equal(us_stack_bufs(a->s)->heap.stats.used, 0);
    np_free(a);
}

static void test_icmp_echo_chained_frame(void **state)
{
    (void)state;
    us_stack_config c;
    np_config(&c, NP_IP_A, 1);
    c.bufs.pbuf_pool_bufsize = 64;
    c.bufs.pbuf_pool_count = 64;
    np_node *a = np_new(&c, 1500, 0);
    assert_int_equal(us_arp_add_static(a->s, NP_IP_B, np_mac_b), US_OK);
    uint8_t msg[400], f[500];
    uint32_t mlen = echo_request(msg, 1, 2, 300);
    us_ipv4_repr ip = np_ip(NP_IP_B, NP_IP_A, US_IP_PROTO_ICMP, 3, mlen);
    uint32_t flen = np_build_ip(f, np_mac_a, np_mac_b, &ip, msg, mlen);
    us_pbuf *p = np_pbuf(a, f, flen);
    assert_true(us_pbuf_clen(p) >= 6);
    assert_int_equal(us_ingress(a->s, p, 0), US_INGRESS_PROCESSED);
    assert_int_equal(a->tx_n, 1);
    us_icmp_repr r;
    assert_int_equal(us_icmp_parse(&r, a->tx[0] + 34, mlen, 0), US_WIRE_OK);
    assert_int_equal(r.type, US_ICMP_ECHO_REPLY);
    assert_memory_equal(r.data, msg + 8, 300);
    /* A flipped byte deep in the chain fails the checksum. */
    f[300] ^= 0x80;
    assert_int_equal(np_inject(a, f, flen, 0), US_INGRESS_PROCESSED | US_INGRESS_DROPPED);
    assert_int_equal(st(a)->drop_wire[US_WIRE_BAD_CHECKSUM], 1);
    assert_int_equal(a->tx_n, 1);
    np_free(a);
}

static void test_icmp_unanswered_types_dropped(void **state)
{
    (void)state;
    np_node *a = np_new_a();
    assert_int_equal(us_arp_add_static(a->s, NP_IP_B, np_mac_b), US_OK);
    uint8_t msg[64], f[128];
    static const uint8_t types[] = {US_ICMP_ECHO_REPLY, US_ICMP_DEST_UNREACH,
                                    US_ICMP_TIME_EXCEEDED, 13 /* timestamp */};
    for (size_t i = 0; i < sizeof(types); i++) {
        us_icmp_repr r;
        memset(&r, 0, sizeof(r));
        r.type = types[i];
        memset(msg + 8, 0x11, 28);
        r.data = msg + 8;
        r.data_len = 28;
        uint32_t mlen = (uint32_t)us_icmp_emit(&r, msg);
        us_ipv4_repr ip = np_ip(NP_IP_B, NP_IP_A, US_IP_PROTO_ICMP, 3, mlen);
        uint32_t flen = np_build_ip(f, np_mac_a, np_mac_b, &ip, msg, mlen);
        assert_int_equal(np_inject(a, f, flen, 0), US_INGRESS_PROCESSED | US_INGRESS_DROPPED);
    }
    assert_int_equal(st(a)->drop[US_DROP_ICMP_TYPE], 4);
    /* An echo request to the broadcast address is not answered either. */
    uint32_t mlen = echo_request(msg, 1, 1, 8);
    us_ipv4_repr ip = np_ip(NP_IP_B, 0xFFFFFFFFu, US_IP_PROTO_ICMP, 3, mlen);
    uint32_t flen = np_build_ip(f, np_mac_bcast, np_mac_b, &ip, msg, mlen);
    assert_int_equal(np_inject(a, f, flen, 0), US_INGRESS_PROCESSED | US_INGRESS_DROPPED);
    assert_int_equal(st(a)->drop[US_DROP_ICMP_TYPE], 5);
    /* A bad checksum, and a message shorter than the header. */
    mlen = echo_request(msg, 1, 1, 8);
    msg[9] ^= 1;
    ip = np_ip(NP_IP_B, NP_IP_A, US_IP_PROTO_ICMP, 3, mlen);
    flen = np_build_ip(f, np_mac_a, np_mac_b, &ip, msg, mlen);
    assert_int_equal(np_inject(a, f, flen, 0), US_INGRESS_PROCESSED | US_INGRESS_DROPPED);
    assert_int_equal(st(a)->drop_wire[US_WIRE_BAD_CHECKSUM], 1);
    assert_int_equal(a->tx_n, 0);
    np_free(a);
}

static void test_icmp_echo_refused_then_sent(void **state)
{
    (void)state;
    np_node *a = np_new_a();
    assert_int_equal(us_arp_add_static(a->s, NP_IP_B, np_mac_b), US_OK);
    us_set_egress_waker(a->s, np_count_wake, a);
    uint8_t msg[64], f[128];
    uint32_t mlen = echo_request(msg, 5, 6, 16);
    us_ipv4_repr ip = np_ip(NP_IP_B, NP_IP_A, US_IP_PROTO_ICMP, 3, mlen);
    uint32_t flen = np_build_ip(f, np_mac_a, np_mac_b, &ip, msg, mlen);
    a->refuse = 1;
    assert_int_equal(np_inject(a, f, flen, 0), US_INGRESS_PROCESSED);
    assert_int_equal(a->tx_n, 0);
    assert_int_equal(st(a)->tx_alloc_fail, 1);
    /* Kept in the ARP entry's queue; ingress left output pending: the egress waker fired. */
    assert_int_equal(a->wakes, 1);
    assert_int_equal(us_poll_at(a->s, 5), 5);
    assert_int_equal(us_egress(a->s, 5, US_EGRESS_READYLIST), 1);
    us_icmp_repr r;
    assert_int_equal(us_icmp_parse(&r, a->tx[0] + 34, mlen, 0), US_WIRE_OK);
    assert_int_equal(r.type, US_ICMP_ECHO_REPLY);
    assert_int_equal(r.ident, 5);
    assert_int_equal(r.seq, 6);
    assert_int_equal(us_stack_bufs(a->s)->heap.stats.used, 0);
    np_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_icmp_echo_real_ping),
        cmocka_unit_test(test_icmp_echo_queued_behind_arp),
        cmocka_unit_test(test_icmp_large_echo_fragmented_both_ways),
        cmocka_unit_test(test_icmp_echo_chained_frame),
        cmocka_unit_test(test_icmp_unanswered_types_dropped),
        cmocka_unit_test(test_icmp_echo_refused_then_sent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
