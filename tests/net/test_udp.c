/* UDP sockets end to end between two stacks, and the receive path against crafted frames: exact
 * bytes and ports, closed ports, full rings, argument errors, ephemeral ports, checksums (zero,
 * bad, offloaded), device refusals, chained frames, broadcast, wakers. */
#include <string.h>

#include "netpair.h"
#include "ustack/wire/bytes.h"
#include "ustack/wire/checksum.h"
#include "ustack/wire/icmp.h"
#include "ustack/wire/udp.h"

#define SEC 1000000000ull

static const us_stack_stats *st(np_node *n)
{
    return us_stack_get_stats(n->s);
}

static us_sock udp_sock(np_node *n, uint16_t port)
{
    us_sock h = us_udp_open(n->s);
    assert_true(h >= 0);
    assert_int_equal(us_udp_bind(n->s, h, port), US_OK);
    return h;
}

static uint64_t drops(np_node *n)
{
    uint64_t d = 0;
    for (int i = 0; i < US_DROP_COUNT; i++)
        d += st(n)->drop[i];
    for (int i = 0; i < US_WIRE_ERR_COUNT; i++)
        d += st(n)->drop_wire[i];
    return d;
}

static void test_udp_send_recv_both_ways(void **state)
{
    (void)state;
    np_node *a = np_new_a(), *b = np_new_b();
    np_arp_pair(a, b, 0);
    us_sock ha = udp_sock(a, 1000), hb = udp_sock(b, 2000);
    const char msg[] = "stackbench says hi";
    const uint32_t n = sizeof(msg) - 1;
    assert_int_equal(us_udp_send(a->s, ha, msg, n, NP_IP_B, 2000), US_OK);
    assert_int_equal(us_egress(a->s, 0, US_EGRESS_ALL), 1);
    /* The frame: Ethernet to B, IPv4 A -> B (UDP, TTL 64, no fragment), UDP exactly as emitted. */
    assert_int_equal(a->tx_n, 1);
    const uint8_t *f = a->tx[0];
    assert_int_equal(a->tx_len[0], 14 + 20 + 8 + n);
    assert_memory_equal(f, np_mac_b, 6);
    assert_memory_equal(f + 6, np_mac_a, 6);
    us_ipv4_repr ip;
    assert_int_equal(us_ipv4_parse(&ip, f + 14, a->tx_len[0] - 14, 0), US_WIRE_OK);
    assert_int_equal(ip.src, NP_IP_A);
    assert_int_equal(ip.dst, NP_IP_B);
    assert_int_equal(ip.proto, US_IP_PROTO_UDP);
    assert_int_equal(ip.ttl, 64);
    assert_false(ip.dont_frag);
    assert_false(ip.more_frags);
    assert_int_equal(ip.payload_len, 8 + n);
    uint8_t want[64];
    assert_int_equal(np_udp_message(want, NP_IP_A, NP_IP_B, 1000, 2000, msg, n), 8 + n);
    assert_memory_equal(f + 34, want, 8 + n);

    assert_int_equal(np_forward(a, b, 0), 1);
    char buf[64];
    uint32_t src = 0;
    uint16_t sport = 0;
    assert_int_equal(us_udp_recv(b->s, hb, buf, sizeof(buf), &src, &sport), n);
    assert_memory_equal(buf, msg, n);
    assert_int_equal(src, NP_IP_A);
    assert_int_equal(sport, 1000);
    assert_int_equal(us_udp_recv(b->s, hb, buf, sizeof(buf), &src, &sport), US_EAGAIN);

    /* And back, an empty datagram then a 1472-byte one (the largest in one frame). */
    static uint8_t big[1472];
    for (uint32_t i = 0; i < sizeof(big); i++)
        big[i] = (uint8_t)(i * 7 + 3);
    assert_int_equal(us_udp_send(b->s, hb, NULL, 0, NP_IP_A, 1000), US_OK);
    assert_int_equal(us_udp_send(b->s, hb, big, sizeof(big), NP_IP_A, 1000), US_OK);
    assert_int_equal(us_egress(b->s, 0, US_EGRESS_ALL), 2);
    assert_int_equal(b->tx_len[1], 14 + 20 + 8 + 1472);
    assert_int_equal(np_forward(b, a, 0), 2);
    assert_int_equal(us_udp_recv(a->s, ha, buf, sizeof(buf), &src, &sport), 0);
    assert_int_equal(sport, 2000);
    static uint8_t got[2000];
    assert_int_equal(us_udp_recv(a->s, ha, got, sizeof(got), &src, &sport), 1472);
    assert_memory_equal(got, big, sizeof(big));
    assert_int_equal(src, NP_IP_B);
    assert_int_equal(drops(a) + drops(b), 0);
    assert_int_equal(st(a)->frames_rx, 3); /* ARP reply + 2 datagrams */
    np_free(a);
    np_free(b);
}

static void test_udp_closed_port_unreachable(void **state)
{
    (void)state;
    np_node *a = np_new_a();
    assert_int_equal(us_arp_add_static(a->s, NP_IP_B, np_mac_b), US_OK);
    uint8_t f[128];
    uint32_t len =
        np_build_udp(f, np_mac_a, np_mac_b, NP_IP_B, NP_IP_A, 5555, 9999, "0123456789", 10);
    unsigned r = np_inject(a, f, len, 0);
    assert_int_equal(r, US_INGRESS_PROCESSED | US_INGRESS_DROPPED);
    assert_int_equal(st(a)->drop[US_DROP_NO_SOCKET], 1);
    /* Destination unreachable, port unreachable, quoting the IPv4 header and 8 bytes (RFC 792). */
    assert_int_equal(a->tx_n, 1);
    const uint8_t *o = a->tx[0];
    assert_int_equal(a->tx_len[0], 14 + 20 + 8 + 28);
    assert_memory_equal(o, np_mac_b, 6);
    us_ipv4_repr ip;
    assert_int_equal(us_ipv4_parse(&ip, o + 14, a->tx_len[0] - 14, 0), US_WIRE_OK);
    assert_int_equal(ip.src, NP_IP_A);
    assert_int_equal(ip.dst, NP_IP_B);
    assert_int_equal(ip.proto, US_IP_PROTO_ICMP);
    us_icmp_repr ic;
    assert_int_equal(us_icmp_parse(&ic, o + 34, 36, 0), US_WIRE_OK);
    assert_int_equal(ic.type, US_ICMP_DEST_UNREACH);
    assert_int_equal(ic.code, US_ICMP_UNREACH_PORT);
    assert_int_equal(ic.rest, 0);
    assert_int_equal(ic.data_len, 28);
    assert_memory_equal(ic.data, f + 14, 28);
    np_free(a);
}

static void test_udp_broadcast(void **state)
{
    (void)state;
    np_node *a = np_new_a();
    us_sock h = udp_sock(a, 67);
    uint8_t f[128];
    /* To the limited broadcast address: delivered to the bound port. */
    uint32_t len =
        np_build_udp(f, np_mac_bcast, np_mac_b, NP_IP_B, 0xFFFFFFFFu, 68, 67, "dhcp", 4);
    assert_int_equal(np_inject(a, f, len, 0), US_INGRESS_PROCESSED | US_INGRESS_STATE_CHANGED);
    char buf[8];
    assert_int_equal(us_udp_recv(a->s, h, buf, sizeof(buf), NULL, NULL), 4);
    /* To the subnet broadcast on a closed port: dropped, never answered with ICMP. */
    len = np_build_udp(f, np_mac_bcast, np_mac_b, NP_IP_B, 0x0A0000FFu, 68, 99, "x", 1);
    assert_int_equal(np_inject(a, f, len, 0), US_INGRESS_PROCESSED | US_INGRESS_DROPPED);
    assert_int_equal(st(a)->drop[US_DROP_NO_SOCKET], 1);
    assert_int_equal(a->tx_n, 0);
    /* Sending to broadcast needs no ARP. */
    assert_int_equal(us_udp_send(a->s, h, "offer", 5, 0xFFFFFFFFu, 68), US_OK);
    assert_int_equal(us_udp_send(a->s, h, "offer", 5, 0x0A0000FFu, 68), US_OK);
    assert_int_equal(us_egress(a->s, 0, US_EGRESS_ALL), 2);
    assert_memory_equal(a->tx[0], np_mac_bcast, 6);
    assert_memory_equal(a->tx[1], np_mac_bcast, 6);
    np_free(a);
}

static void test_udp_recv_ring_full(void **state)
{
    (void)state;
    us_stack_config c;
    np_config(&c, NP_IP_A, 1);
    c.udp_rx_buf = 64;
    np_node *a = np_new(&c, 1500, 0);
    us_sock h = udp_sock(a, 7);
    uint8_t f[128], d[20];
    memset(d, 0xAB, sizeof(d));
    uint32_t len = np_build_udp(f, np_mac_a, np_mac_b, NP_IP_B, NP_IP_A, 1, 7, d, sizeof(d));
    /* Each datagram takes 8 + 20 bytes of the 64-byte ring: two fit. */
    assert_int_equal(np_inject(a, f, len, 0), US_INGRESS_PROCESSED | US_INGRESS_STATE_CHANGED);
    assert_int_equal(np_inject(a, f, len, 0), US_INGRESS_PROCESSED | US_INGRESS_STATE_CHANGED);
    assert_int_equal(np_inject(a, f, len, 0), US_INGRESS_PROCESSED | US_INGRESS_DROPPED);
    assert_int_equal(st(a)->drop[US_DROP_SOCKET_FULL], 1);
    assert_int_equal(a->tx_n, 0);
    /* Reading one makes room again; a short buffer truncates but returns the full length. */
    uint8_t out[4];
    assert_int_equal(us_udp_recv(a->s, h, out, sizeof(out), NULL, NULL), 20);
    assert_memory_equal(out, d, 4);
    assert_int_equal(np_inject(a, f, len, 0), US_INGRESS_PROCESSED | US_INGRESS_STATE_CHANGED);
    assert_int_equal(us_udp_recv(a->s, h, out, 0, NULL, NULL), 20);
    assert_int_equal(us_udp_recv(a->s, h, out, 4, NULL, NULL), 20);
    assert_int_equal(us_udp_recv(a->s, h, out, 4, NULL, NULL), US_EAGAIN);
    assert_int_equal(st(a)->drop[US_DROP_SOCKET_FULL], 1);
    np_free(a);
}

static void test_udp_api_errors(void **state)
{
    (void)state;
    us_stack_config c;
    np_config(&c, NP_IP_A, 1);
    c.udp_sockets = 2;
    c.udp_tx_buf = 100;
    np_node *a = np_new(&c, 1500, 0);
    us_sock h = us_udp_open(a->s);
    assert_int_equal(h, 0);
    static uint8_t d[70000];
    assert_int_equal(us_udp_send(a->s, h, d, 1, NP_IP_B, 1), US_EINVAL); /* unbound */
    assert_int_equal(us_udp_bind(a->s, h, 53), US_OK);
    assert_int_equal(us_udp_bind(a->s, h, 54), US_EINVAL); /* bound already */
    assert_int_equal(us_udp_send(a->s, h, d, 65508, NP_IP_B, 1), US_EINVAL);
    assert_int_equal(us_udp_send(a->s, h, d, 65507, NP_IP_B, 1), US_EBUF); /* never fits */
    assert_int_equal(us_udp_send(a->s, h, d, 1, NP_IP_B, 0), US_EINVAL);
    assert_int_equal(us_udp_send(a->s, h, NULL, 1, NP_IP_B, 1), US_EINVAL);
    assert_int_equal(us_udp_send(a->s, h, d, 50, NP_IP_B, 1), US_OK);  /* 58 of 100 */
    assert_int_equal(us_udp_send(a->s, h, d, 40, NP_IP_B, 1), US_EBUF); /* 48 > 42 */
    assert_int_equal(us_udp_send(a->s, h, d, 34, NP_IP_B, 1), US_OK);  /* exactly full */
    assert_int_equal(us_udp_recv(a->s, h, d, 10, NULL, NULL), US_EAGAIN);
    us_sock h2 = us_udp_open(a->s);
    assert_int_equal(h2, 1);
    assert_int_equal(us_udp_open(a->s), US_ENOMEM);
    assert_int_equal(us_udp_bind(a->s, h2, 53), US_EINVAL); /* in use */
    assert_int_equal(us_udp_send(a->s, 7, d, 1, NP_IP_B, 1), US_EINVAL);
    assert_int_equal(us_udp_recv(a->s, -1, d, 1, NULL, NULL), US_EINVAL);
    assert_int_equal(us_udp_close(a->s, 5), US_EINVAL);
    /* Closing drops the queued datagrams; the handle can be reused. */
    assert_int_equal(us_udp_close(a->s, h), US_OK);
    assert_int_equal(us_udp_close(a->s, h), US_EINVAL);
    assert_int_equal(us_udp_bind(a->s, h2, 53), US_OK);
    assert_int_equal(us_egress(a->s, 0, US_EGRESS_ALL), 0);
    assert_int_equal(a->tx_n, 0);
    np_free(a);
}

static void test_udp_ephemeral_ports_seeded(void **state)
{
    (void)state;
    uint16_t ports[2][3];
    for (int k = 0; k < 2; k++) {
        us_stack_config c;
        np_config(&c, NP_IP_A, 1);
        c.seed = 42;
        np_node *a = np_new(&c, 1500, 0);
        for (int i = 0; i < 3; i++) {
            us_sock h = us_udp_open(a->s);
            assert_int_equal(us_udp_bind(a->s, h, 0), US_OK);
            /* Learn the port from what goes on the wire. */
            assert_int_equal(us_udp_send(a->s, h, "p", 1, 0xFFFFFFFFu, 9), US_OK);
            assert_int_equal(us_egress(a->s, 0, US_EGRESS_ALL), 1);
            ports[k][i] = us_get_be16(a->tx[0] + 34);
            np_tx_clear(a);
            assert_true(ports[k][i] >= 49152);
        }
        np_free(a);
    }
    assert_memory_equal(ports[0], ports[1], sizeof(ports[0]));
    assert_true(ports[0][0] != ports[0][1] && ports[0][1] != ports[0][2] &&
                ports[0][0] != ports[0][2]);
}

static void test_udp_checksums(void **state)
{
    (void)state;
    np_node *a = np_new_a();
    us_sock h = udp_sock(a, 7);
    uint8_t f[128];
    uint32_t len = np_build_udp(f, np_mac_a, np_mac_b, NP_IP_B, NP_IP_A, 1, 7, "abcd", 4);
    /* Zero checksum: none, accepted. */
    us_put_be16(f + 40, 0);
    assert_int_equal(np_inject(a, f, len, 0), US_INGRESS_PROCESSED | US_INGRESS_STATE_CHANGED);
    /* Corrupted payload under a checksum: dropped as BAD_CHECKSUM. */
    len = np_build_udp(f, np_mac_a, np_mac_b, NP_IP_B, NP_IP_A, 1, 7, "abcd", 4);
    f[42] ^= 0x01;
    assert_int_equal(np_inject(a, f, len, 0), US_INGRESS_PROCESSED | US_INGRESS_DROPPED);
    assert_int_equal(st(a)->drop_wire[US_WIRE_BAD_CHECKSUM], 1);
    /* Length field beyond the datagram. */
    len = np_build_udp(f, np_mac_a, np_mac_b, NP_IP_B, NP_IP_A, 1, 7, "abcd", 4);
    us_put_be16(f + 38, 13);
    assert_int_equal(np_inject(a, f, len, 0), US_INGRESS_PROCESSED | US_INGRESS_DROPPED);
    assert_int_equal(st(a)->drop_wire[US_WIRE_BAD_LENGTH], 1);
    char buf[8];
    assert_int_equal(us_udp_recv(a->s, h, buf, sizeof(buf), NULL, NULL), 4);
    assert_int_equal(us_udp_recv(a->s, h, buf, sizeof(buf), NULL, NULL), US_EAGAIN);
    assert_int_equal(drops(a), 2);
    np_free(a);

    /* With US_DEV_CSUM_RX the device vouched for the checksum: not verified again. */
    us_stack_config c;
    np_config(&c, NP_IP_A, 1);
    a = np_new(&c, 1500, US_DEV_CSUM_RX);
    h = udp_sock(a, 7);
    len = np_build_udp(f, np_mac_a, np_mac_b, NP_IP_B, NP_IP_A, 1, 7, "abcd", 4);
    f[42] ^= 0x01;
    assert_int_equal(np_inject(a, f, len, 0), US_INGRESS_PROCESSED | US_INGRESS_STATE_CHANGED);
    assert_int_equal(us_udp_recv(a->s, h, buf, sizeof(buf), NULL, NULL), 4);
    assert_memory_equal(buf, "`bcd", 4);
    np_free(a);
}

static void test_udp_csum_tx_offload(void **state)
{
    (void)state;
    us_stack_config c;
    np_config(&c, NP_IP_A, 1);
    np_node *a = np_new(&c, 1500, US_DEV_CSUM_TX);
    assert_int_equal(us_arp_add_static(a->s, NP_IP_B, np_mac_b), US_OK);
    us_sock h = udp_sock(a, 1000);
    assert_int_equal(us_udp_send(a->s, h, "abc", 3, NP_IP_B, 2000), US_OK);
    assert_int_equal(us_egress(a->s, 0, US_EGRESS_ALL), 1);
    assert_int_equal(us_get_be16(a->tx[0] + 40), 0); /* left to the device */
    np_free(a);
}

static void test_udp_tx_refused_counts_drop(void **state)
{
    (void)state;
    np_node *a = np_new_a();
    assert_int_equal(us_arp_add_static(a->s, NP_IP_B, np_mac_b), US_OK);
    us_sock h = udp_sock(a, 1000);
    assert_int_equal(us_udp_send(a->s, h, "one", 3, NP_IP_B, 2000), US_OK);
    assert_int_equal(us_udp_send(a->s, h, "two", 3, NP_IP_B, 2000), US_OK);
    a->refuse = 1;
    assert_int_equal(us_egress(a->s, 0, US_EGRESS_ALL), 0);
    assert_int_equal(st(a)->tx_alloc_fail, 1);
    assert_int_equal(st(a)->drop[US_DROP_TX_UDP], 1);
    assert_int_equal(us_poll_at(a->s, 0), 0); /* the socket stays ready */
    assert_int_equal(us_egress(a->s, 0, US_EGRESS_READYLIST), 1);
    assert_int_equal(a->tx_len[0], 14 + 20 + 8 + 3);
    assert_memory_equal(a->tx[0] + 42, "two", 3);
    assert_int_equal(us_poll_at(a->s, 0), US_TIME_NEVER);
    np_free(a);
}

static void test_udp_no_route(void **state)
{
    (void)state;
    np_node *a = np_new_a();
    us_sock h = udp_sock(a, 1000);
    assert_int_equal(us_udp_send(a->s, h, "x", 1, 0xC0A80101u, 53), US_OK);
    assert_int_equal(us_egress(a->s, 0, US_EGRESS_ALL), 0);
    assert_int_equal(st(a)->drop[US_DROP_NO_ROUTE], 1);
    assert_int_equal(a->tx_n, 0);
    np_free(a);

    /* With a gateway, off-link datagrams go to the gateway's MAC. */
    us_stack_config c;
    np_config(&c, NP_IP_A, 1);
    c.ipv4_gateway = 0x0A0000FEu;
    a = np_new(&c, 1500, 0);
    static const uint8_t gw_mac[6] = {0x02, 0, 0, 0, 0, 0xFE};
    assert_int_equal(us_arp_add_static(a->s, 0x0A0000FEu, gw_mac), US_OK);
    h = udp_sock(a, 1000);
    assert_int_equal(us_udp_send(a->s, h, "x", 1, 0xC0A80101u, 53), US_OK);
    assert_int_equal(us_egress(a->s, 0, US_EGRESS_ALL), 1);
    assert_memory_equal(a->tx[0], gw_mac, 6);
    assert_int_equal(us_get_be32(a->tx[0] + 30), 0xC0A80101u);
    np_free(a);
}

static void test_udp_chained_frame(void **state)
{
    (void)state;
    us_stack_config c;
    np_config(&c, NP_IP_A, 1);
    c.bufs.pbuf_pool_bufsize = 128;
    c.bufs.pbuf_pool_count = 64;
    np_node *a = np_new(&c, 1500, 0);
    us_sock h = udp_sock(a, 7);
    static uint8_t d[600], f[700];
    for (uint32_t i = 0; i < sizeof(d); i++)
        d[i] = (uint8_t)(i ^ (i >> 3));
    uint32_t len = np_build_udp(f, np_mac_a, np_mac_b, NP_IP_B, NP_IP_A, 1, 7, d, sizeof(d));
    us_pbuf *p = np_pbuf(a, f, len);
    assert_true(us_pbuf_clen(p) > 1);
    assert_int_equal(us_ingress(a->s, p, 0), US_INGRESS_PROCESSED | US_INGRESS_STATE_CHANGED);
    static uint8_t got[700];
    assert_int_equal(us_udp_recv(a->s, h, got, sizeof(got), NULL, NULL), 600);
    assert_memory_equal(got, d, 600);
    /* A byte flipped in the third segment: the chained checksum catches it. */
    f[300] ^= 0x40;
    assert_int_equal(np_inject(a, f, len, 0), US_INGRESS_PROCESSED | US_INGRESS_DROPPED);
    assert_int_equal(st(a)->drop_wire[US_WIRE_BAD_CHECKSUM], 1);
    /* A chain cut short inside the IPv4 header. */
    assert_int_equal(np_inject(a, f, 30, 0), US_INGRESS_PROCESSED | US_INGRESS_DROPPED);
    assert_int_equal(st(a)->drop_wire[US_WIRE_TRUNCATED], 1);
    np_free(a);
}

/* A datagram chained at any byte — inside the Ethernet, IPv4 or UDP header or the data — is
 * delivered exactly as in one pbuf (the inline path and the out-of-line chained path agree), and
 * one to a closed port gets the same port unreachable, byte for byte. */
static void test_udp_every_split_delivers_the_same(void **state)
{
    (void)state;
    uint8_t f[128], d[30];
    for (uint32_t i = 0; i < sizeof(d); i++)
        d[i] = (uint8_t)(0xC0 + i);
    uint32_t len = np_build_udp(f, np_mac_a, np_mac_b, NP_IP_B, NP_IP_A, 4242, 7, d, sizeof(d));
    uint8_t closed[128], reply[128];
    uint32_t clen =
        np_build_udp(closed, np_mac_a, np_mac_b, NP_IP_B, NP_IP_A, 4242, 8, d, sizeof(d));
    uint32_t reply_len = 0;
    for (uint32_t at = 0; at < len; at++) {
        np_node *a = np_new_a();
        assert_int_equal(us_arp_add_static(a->s, NP_IP_B, np_mac_b), US_OK);
        us_sock h = udp_sock(a, 7);
        us_pbuf *p = at == 0 ? np_pbuf(a, f, len) : np_pbuf_split(a, f, len, at);
        assert_int_equal(us_ingress(a->s, p, 0), US_INGRESS_PROCESSED | US_INGRESS_STATE_CHANGED);
        uint8_t got[64];
        uint32_t src = 0;
        uint16_t sport = 0;
        assert_int_equal(us_udp_recv(a->s, h, got, sizeof(got), &src, &sport), sizeof(d));
        assert_memory_equal(got, d, sizeof(d));
        assert_int_equal(src, NP_IP_B);
        assert_int_equal(sport, 4242);
        assert_int_equal(us_udp_recv(a->s, h, got, sizeof(got), &src, &sport), US_EAGAIN);
        assert_int_equal(drops(a), 0);

        p = at == 0 ? np_pbuf(a, closed, clen) : np_pbuf_split(a, closed, clen, at);
        assert_int_equal(us_ingress(a->s, p, 0), US_INGRESS_PROCESSED | US_INGRESS_DROPPED);
        assert_int_equal(st(a)->drop[US_DROP_NO_SOCKET], 1);
        assert_int_equal(drops(a), 1);
        assert_int_equal(a->tx_n, 1);
        if (at == 0) {
            reply_len = a->tx_len[0];
            assert_int_equal(reply_len, 14 + 20 + 8 + 28);
            memcpy(reply, a->tx[0], reply_len);
        } else {
            assert_int_equal(a->tx_len[0], reply_len);
            assert_memory_equal(a->tx[0], reply, reply_len);
        }
        np_free(a);
    }
}

/* The receive ring against a model FIFO: datagrams of 0..30 bytes into a 50-byte ring, so that
 * record headers and data wrap around its end at every offset; reads with buffers shorter and
 * longer than the datagram, and none. Every datagram that fits is read back exactly (length,
 * truncated copy, source address and port), every one that does not is SOCKET_FULL. */
static void test_udp_recv_ring_wraps_model(void **state)
{
    (void)state;
    us_stack_config c;
    np_config(&c, NP_IP_A, 1);
    c.udp_rx_buf = 50;
    np_node *a = np_new(&c, 1500, 0);
    us_sock h = udp_sock(a, 7);
    us_test_rng rng = {0x1234};
    enum { Q = 16 };
    struct { uint32_t len; uint16_t sport; uint8_t first; } q[Q];
    /* head: where the oldest record starts, as the ring keeps it (back to 0 whenever it empties) */
    uint32_t qh = 0, qn = 0, used = 0, head = 0, full = 0, hdr_wraps = 0, data_wraps = 0;
    for (int round = 0; round < 4000; round++) {
        if (us_test_below(&rng, 2) == 0) {
            uint32_t n = us_test_below(&rng, 31);
            uint16_t sport = (uint16_t)(1 + us_test_below(&rng, 60000));
            uint8_t first = (uint8_t)round, d[30], f[128];
            for (uint32_t i = 0; i < n; i++)
                d[i] = (uint8_t)(first + i);
            uint32_t len = np_build_udp(f, np_mac_a, np_mac_b, NP_IP_B, NP_IP_A, sport, 7, d, n);
            unsigned r = np_inject(a, f, len, 0);
            if (used + 8 + n > 50) {
                assert_int_equal(r, US_INGRESS_PROCESSED | US_INGRESS_DROPPED);
                full++;
            } else {
                assert_int_equal(r, US_INGRESS_PROCESSED | US_INGRESS_STATE_CHANGED);
                assert_true(qn < Q);
                q[(qh + qn) % Q].len = n;
                q[(qh + qn) % Q].sport = sport;
                q[(qh + qn) % Q].first = first;
                qn++;
                used += 8 + n;
            }
        } else {
            uint32_t cap = us_test_below(&rng, 40);
            uint8_t buf[40];
            memset(buf, 0xEE, sizeof(buf));
            uint32_t src = 0;
            uint16_t sport = 0;
            int32_t got = us_udp_recv(a->s, h, cap ? buf : NULL, cap, &src, &sport);
            if (qn == 0) {
                assert_int_equal(got, US_EAGAIN);
                continue;
            }
            uint32_t n = q[qh].len, k = n < cap ? n : cap;
            assert_int_equal(got, n);
            assert_int_equal(src, NP_IP_B);
            assert_int_equal(sport, q[qh].sport);
            for (uint32_t i = 0; i < k; i++)
                assert_int_equal(buf[i], (uint8_t)(q[qh].first + i));
            for (uint32_t i = k; i < sizeof(buf); i++)
                assert_int_equal(buf[i], 0xEE);
            if (head + 8 > 50)
                hdr_wraps++;
            else if (head + 8 + n > 50)
                data_wraps++;
            qh = (qh + 1) % Q;
            qn--;
            used -= 8 + n;
            head = used == 0 ? 0 : (head + 8 + n) % 50;
        }
    }
    assert_int_equal(st(a)->drop[US_DROP_SOCKET_FULL], full);
    assert_true(full > 100);
    assert_true(hdr_wraps > 50);
    assert_true(data_wraps > 50);
    np_free(a);
}

typedef struct wake_log {
    int rx, tx;
    us_stack *s;
    us_sock h;
    int clear_tx_from_rx;
} wake_log;

static void on_rx(void *ctx)
{
    wake_log *w = ctx;
    w->rx++;
    if (w->clear_tx_from_rx)
        us_sock_set_tx_waker(w->s, w->h, NULL, NULL);
}

static void on_tx(void *ctx)
{
    ((wake_log *)ctx)->tx++;
}

static void test_udp_wakers(void **state)
{
    (void)state;
    np_node *a = np_new_a();
    assert_int_equal(us_arp_add_static(a->s, NP_IP_B, np_mac_b), US_OK);
    us_set_egress_waker(a->s, np_count_wake, a);
    us_sock h = udp_sock(a, 7);
    wake_log w = {0, 0, a->s, h, 1};
    us_sock_set_rx_waker(a->s, h, on_rx, &w);
    us_sock_set_tx_waker(a->s, h, on_tx, &w);
    uint8_t f[128];
    uint32_t len = np_build_udp(f, np_mac_a, np_mac_b, NP_IP_B, NP_IP_A, 1, 7, "x", 1);
    np_inject(a, f, len, 0);
    np_inject(a, f, len, 0);
    assert_int_equal(w.rx, 1); /* one shot */
    /* The rx callback cleared the tx waker: sending does not fire it. */
    assert_int_equal(us_udp_send(a->s, h, "y", 1, NP_IP_B, 9), US_OK);
    assert_int_equal(a->wakes, 1); /* the egress waker fired once for the send */
    assert_int_equal(us_udp_send(a->s, h, "y", 1, NP_IP_B, 9), US_OK);
    assert_int_equal(a->wakes, 1); /* not registered again */
    assert_int_equal(us_egress(a->s, 0, US_EGRESS_READYLIST), 2);
    assert_int_equal(w.tx, 0);
    /* Registered again, the tx waker fires when a datagram leaves the ring. */
    us_sock_set_tx_waker(a->s, h, on_tx, &w);
    us_sock_set_rx_waker(a->s, h, on_rx, &w);
    w.clear_tx_from_rx = 0;
    assert_int_equal(us_udp_send(a->s, h, "z", 1, NP_IP_B, 9), US_OK);
    assert_int_equal(us_egress(a->s, 0, US_EGRESS_ALL), 1);
    assert_int_equal(w.tx, 1);
    np_inject(a, f, len, 0);
    assert_int_equal(w.rx, 2);
    /* A failed call fires nothing. */
    us_set_egress_waker(a->s, np_count_wake, a);
    static uint8_t big[9000];
    assert_int_equal(us_udp_send(a->s, h, big, sizeof(big), NP_IP_B, 9), US_EBUF);
    assert_int_equal(a->wakes, 1);
    np_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_udp_send_recv_both_ways),
        cmocka_unit_test(test_udp_closed_port_unreachable),
        cmocka_unit_test(test_udp_broadcast),
        cmocka_unit_test(test_udp_recv_ring_full),
        cmocka_unit_test(test_udp_api_errors),
        cmocka_unit_test(test_udp_ephemeral_ports_seeded),
        cmocka_unit_test(test_udp_checksums),
        cmocka_unit_test(test_udp_csum_tx_offload),
        cmocka_unit_test(test_udp_tx_refused_counts_drop),
        cmocka_unit_test(test_udp_no_route),
        cmocka_unit_test(test_udp_chained_frame),
        cmocka_unit_test(test_udp_every_split_delivers_the_same),
        cmocka_unit_test(test_udp_recv_ring_wraps_model),
        cmocka_unit_test(test_udp_wakers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
