/* IPv4 input and output: validation of malformed frames (each dropped and counted by its reason
 * with nothing else changed), destination and TTL checks, unknown protocols, reassembly of a real
 * fragmented datagram (in order, reversed, duplicated) and of generated fragments (overlaps,
 * timeout, memory and slot limits), and fragmentation on output reassembled by a peer stack. */
#include <stdlib.h>
#include <string.h>

#include "frag_frames.h"
#include "netpair.h"
#include "stack_internal.h"
#include "ustack/wire/bytes.h"
#include "ustack/wire/checksum.h"
#include "ustack/wire/icmp.h"
#include "ustack/wire/tcp.h"
#include "wire/frames.h"

#define SEC 1000000000ull

static const us_stack_stats *st(np_node *n)
{
    return us_stack_get_stats(n->s);
}

static uint64_t all_drops(np_node *n)
{
    uint64_t d = 0;
    for (int i = 0; i < US_DROP_COUNT; i++)
        d += st(n)->drop[i];
    for (int i = 0; i < US_WIRE_ERR_COUNT; i++)
        d += st(n)->drop_wire[i];
    return d;
}

static us_sock udp_sock(np_node *n, uint16_t port)
{
    us_sock h = us_udp_open(n->s);
    assert_true(h >= 0);
    assert_int_equal(us_udp_bind(n->s, h, port), US_OK);
    return h;
}

/* ---- the real fragmented datagram ---- */

#define NFS_IP 0x0A76D5D3u /* 10.118.213.211 */
static const uint8_t nfs_mac[6] = {0x00, 0x0b, 0xdb, 0x94, 0x14, 0x70};

typedef struct frags {
    uint8_t f[6][1600];
    uint32_t len[6];
    uint8_t payload[8312]; /* the UDP payload, from the fragments */
} frags;

static frags *load_frags(void)
{
    frags *x = calloc(1, sizeof(*x));
    assert_non_null(x);
    uint8_t whole[8320];
    for (int i = 0; i < 6; i++) {
        x->len[i] = np_hex(frag_frames[i], x->f[i], sizeof(x->f[i]));
        us_ipv4_repr ip;
        assert_int_equal(us_ipv4_parse(&ip, x->f[i] + 14, x->len[i] - 14, 0), US_WIRE_OK);
        memcpy(whole + ip.frag_offset, x->f[i] + 34, ip.payload_len);
    }
    memcpy(x->payload, whole + 8, sizeof(x->payload));
    return x;
}

static np_node *nfs_node(uint32_t reass_max, uint32_t slots)
{
    us_stack_config c;
    np_config(&c, NFS_IP, 0);
    memcpy(c.mac, nfs_mac, 6);
    c.udp_rx_buf = 32 * 1024;
    c.reass_max_bytes = reass_max;
    c.reass_slots = slots;
    return np_new(&c, 1500, 0);
}

static void expect_nfs_datagram(np_node *n, us_sock h, const frags *x)
{
    static uint8_t got[9000];
    uint32_t src = 0;
    uint16_t sport = 0;
    assert_int_equal(us_udp_recv(n->s, h, got, sizeof(got), &src, &sport), 8312);
    assert_memory_equal(got, x->payload, 8312);
    assert_int_equal(src, 0x0A76D5D4u);
    assert_int_equal(sport, 789);
}

static void expect_reass_empty(np_node *n)
{
    assert_int_equal(n->s->reass.bytes, 0);
    for (uint32_t i = 0; i < n->s->reass.n; i++)
        assert_false(n->s->reass.slot[i].used);
    assert_int_equal(n->s->reass.heap.stats.used, 0);
}

static void test_ipv4_reass_real_in_order(void **state)
{
    (void)state;
    frags *x = load_frags();
    np_node *n = nfs_node(16 * 1024, 4);
    us_sock h = udp_sock(n, 2049);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(np_inject(n, x->f[i], x->len[i], 0), US_INGRESS_PROCESSED);
        assert_int_equal(us_udp_recv(n->s, h, NULL, 0, NULL, NULL), US_EAGAIN);
    }
    assert_int_equal(n->s->reass.bytes, 5 * 1480);
    assert_int_equal(us_poll_at(n->s, 0), 15 * SEC); /* the reassembly timeout */
    assert_int_equal(np_inject(n, x->f[5], x->len[5], 0),
                     US_INGRESS_PROCESSED | US_INGRESS_STATE_CHANGED);
    expect_nfs_datagram(n, h, x);
    expect_reass_empty(n);
    assert_int_equal(all_drops(n), 0);
    assert_int_equal(us_poll_at(n->s, 0), US_TIME_NEVER);
    free(x);
    np_free(n);
}

static void test_ipv4_reass_real_reversed(void **state)
{
    (void)state;
    frags *x = load_frags();
    np_node *n = nfs_node(16 * 1024, 4);
    us_sock h = udp_sock(n, 2049);
    for (int i = 5; i >= 0; i--)
        np_inject(n, x->f[i], x->len[i], 0);
    expect_nfs_datagram(n, h, x);
    expect_reass_empty(n);
    assert_int_equal(all_drops(n), 0);
    free(x);
    np_free(n);
}

static void test_ipv4_reass_real_duplicates(void **state)
{
    (void)state;
    frags *x = load_frags();
    np_node *n = nfs_node(16 * 1024, 4);
    us_sock h = udp_sock(n, 2049);
    /* As frames 18-29 of the capture: 0 0 1 1 2 2 3 4 4 5, then the last fragment once more. */
    static const int order[] = {0, 0, 1, 1, 2, 2, 3, 4, 4, 5};
    for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++)
        np_inject(n, x->f[order[i]], x->len[order[i]], 0);
    expect_nfs_datagram(n, h, x);
    expect_reass_empty(n);
    assert_int_equal(all_drops(n), 0);
    /* The late duplicate of the last fragment opens a datagram that never completes. */
    np_inject(n, x->f[5], x->len[5], 1 * SEC);
    assert_int_equal(n->s->reass.bytes, 920);
    assert_int_equal(us_poll_at(n->s, SEC), 16 * SEC);
    assert_int_equal(us_egress(n->s, 16 * SEC - 1, US_EGRESS_ALL), 0);
    assert_int_equal(st(n)->drop[US_DROP_REASS_TIMEOUT], 0);
    us_egress(n->s, 16 * SEC, US_EGRESS_ALL);
    assert_int_equal(st(n)->drop[US_DROP_REASS_TIMEOUT], 1);
    expect_reass_empty(n);
    assert_int_equal(us_udp_recv(n->s, h, NULL, 0, NULL, NULL), US_EAGAIN);
    free(x);
    np_free(n);
}

static void test_ipv4_reass_memory_limit(void **state)
{
    (void)state;
    frags *x = load_frags();
    /* 4000 bytes of payload at most: fragments 0 and 1 fit (2960), 2 does not. */
    np_node *n = nfs_node(4000, 4);
    us_sock h = udp_sock(n, 2049);
    for (int i = 0; i < 6; i++)
        np_inject(n, x->f[i], x->len[i], 0);
    assert_int_equal(st(n)->drop[US_DROP_REASS_MEM], 3); /* 2, 3, 4 (5 fits: 920) */
    assert_int_equal(n->s->reass.bytes, 2960 + 920);
    assert_int_equal(us_udp_recv(n->s, h, NULL, 0, NULL, NULL), US_EAGAIN);
    us_egress(n->s, 15 * SEC, US_EGRESS_ALL);
    assert_int_equal(st(n)->drop[US_DROP_REASS_TIMEOUT], 1);
    expect_reass_empty(n);
    free(x);
    np_free(n);
}

/* ---- generated fragments ---- */

/* A fragment of datagram `ident` from B to A carrying bytes [off, off + len) of msg. */
static void inject_frag(np_node *n, uint16_t ident, const uint8_t *msg, uint32_t off, uint32_t len,
                        bool more, us_time now)
{
    uint8_t f[1600];
    us_ipv4_repr ip = np_ip(NP_IP_B, NP_IP_A, US_IP_PROTO_UDP, ident, len);
    ip.frag_offset = (uint16_t)off;
    ip.more_frags = more;
    uint32_t flen = np_build_ip(f, np_mac_a, np_mac_b, &ip, msg + off, len);
    np_inject(n, f, flen, now);
}

static void test_ipv4_reass_overlap_identical_accepted(void **state)
{
    (void)state;
    np_node *a = np_new_a();
    us_sock h = udp_sock(a, 7);
    uint8_t data[56], msg[64];
    for (uint32_t i = 0; i < sizeof(data); i++)
        data[i] = (uint8_t)(0x30 + i);
    assert_int_equal(np_udp_message(msg, NP_IP_B, NP_IP_A, 9, 7, data, sizeof(data)), 64);
    inject_frag(a, 77, msg, 0, 24, true, 0);
    inject_frag(a, 77, msg, 16, 24, true, 0);  /* [16, 40) overlaps [16, 24), same bytes */
    inject_frag(a, 77, msg, 8, 8, true, 0);    /* wholly inside: a duplicate */
    inject_frag(a, 77, msg, 40, 24, false, 0); /* last */
    uint8_t got[64];
    assert_int_equal(us_udp_recv(a->s, h, got, sizeof(got), NULL, NULL), 56);
    assert_memory_equal(got, data, 56);
    assert_int_equal(all_drops(a), 0);
    expect_reass_empty(a);
    np_free(a);
}

static void test_ipv4_reass_overlap_conflict_dropped(void **state)
{
    (void)state;
    np_node *a = np_new_a();
    us_sock h = udp_sock(a, 7);
    uint8_t data[56], msg[64], evil[64];
    memset(data, 0x41, sizeof(data));
    np_udp_message(msg, NP_IP_B, NP_IP_A, 9, 7, data, sizeof(data));
    memcpy(evil, msg, sizeof(msg));
    evil[20] ^= 0xFF; /* differs inside the overlap */
    inject_frag(a, 78, msg, 0, 24, true, 0);
    inject_frag(a, 78, evil, 16, 24, true, 0);
    assert_int_equal(st(a)->drop[US_DROP_REASS_OVERLAP], 1);
    expect_reass_empty(a);
    /* The rest of the datagram cannot complete it: it starts over and times out. */
    inject_frag(a, 78, msg, 40, 24, false, 0);
    assert_int_equal(us_udp_recv(a->s, h, NULL, 0, NULL, NULL), US_EAGAIN);
    us_egress(a->s, 15 * SEC, US_EGRESS_ALL);
    assert_int_equal(st(a)->drop[US_DROP_REASS_TIMEOUT], 1);
    /* Fragments disagreeing on the end of the datagram conflict too. */
    inject_frag(a, 79, msg, 40, 24, false, 20 * SEC);
    inject_frag(a, 79, msg, 40, 16, false, 20 * SEC);
    assert_int_equal(st(a)->drop[US_DROP_REASS_OVERLAP], 2);
    inject_frag(a, 80, msg, 40, 16, false, 20 * SEC); /* ends at 56 */
    inject_frag(a, 80, msg, 48, 16, true, 20 * SEC);  /* claims bytes past it */
    assert_int_equal(st(a)->drop[US_DROP_REASS_OVERLAP], 3);
    expect_reass_empty(a);
    assert_int_equal(all_drops(a), 4);
    np_free(a);
}

static void test_ipv4_reass_timeout_frees(void **state)
{
    (void)state;
    np_node *a = np_new_a();
    uint8_t msg[64] = {0};
    inject_frag(a, 5, msg, 0, 32, true, 2 * SEC);
    assert_int_equal(a->s->reass.bytes, 32);
    assert_true(a->s->reass.heap.stats.used > 0);
    assert_int_equal(us_poll_at(a->s, 2 * SEC), 17 * SEC);
    us_egress(a->s, 17 * SEC - 1, US_EGRESS_ALL);
    assert_int_equal(st(a)->drop[US_DROP_REASS_TIMEOUT], 0);
    us_egress(a->s, 17 * SEC, US_EGRESS_ALL);
    assert_int_equal(st(a)->drop[US_DROP_REASS_TIMEOUT], 1);
    expect_reass_empty(a);
    assert_int_equal(us_poll_at(a->s, 17 * SEC), US_TIME_NEVER);
    np_free(a);
}

static void test_ipv4_reass_slots_limit(void **state)
{
    (void)state;
    us_stack_config c;
    np_config(&c, NP_IP_A, 1);
    c.reass_slots = 2;
    np_node *a = np_new(&c, 1500, 0);
    uint8_t msg[64] = {0};
    inject_frag(a, 1, msg, 0, 16, true, 0);
    inject_frag(a, 2, msg, 0, 16, true, 0);
    inject_frag(a, 3, msg, 0, 16, true, 0);
    assert_int_equal(st(a)->drop[US_DROP_REASS_MEM], 1);
    /* A malformed fragment: not the last and not a multiple of 8 bytes. */
    inject_frag(a, 1, msg, 16, 12, true, 0);
    assert_int_equal(st(a)->drop_wire[US_WIRE_BAD_FRAGMENT], 1);
    us_egress(a->s, 15 * SEC, US_EGRESS_ALL);
    assert_int_equal(st(a)->drop[US_DROP_REASS_TIMEOUT], 2);
    expect_reass_empty(a);

    /* No reassembly at all (0 slots): every fragment is dropped. */
    np_free(a);
    c.reass_slots = 0;
    a = np_new(&c, 1500, 0);
    inject_frag(a, 1, msg, 0, 16, true, 0);
    assert_int_equal(st(a)->drop[US_DROP_REASS_MEM], 1);
    np_free(a);
}

/* ---- fragmentation on output ---- */

static void test_ipv4_fragment_4000_byte_datagram(void **state)
{
    (void)state;
    np_node *a = np_new_a(), *b = np_new_b();
    np_arp_pair(a, b, 0);
    us_sock ha = udp_sock(a, 1000), hb = udp_sock(b, 2000);
    static uint8_t data[4000];
    for (uint32_t i = 0; i < sizeof(data); i++)
        data[i] = (uint8_t)(i * 13 + (i >> 8));
    assert_int_equal(us_udp_send(a->s, ha, data, sizeof(data), NP_IP_B, 2000), US_OK);
    assert_int_equal(us_egress(a->s, 0, US_EGRESS_ALL), 3);
    /* 4008 bytes of UDP over MTU 1500: 1480 + 1480 + 1048. */
    static const uint32_t off[3] = {0, 1480, 2960}, plen[3] = {1480, 1480, 1048};
    uint16_t ident = 0;
    for (int i = 0; i < 3; i++) {
        us_ipv4_repr ip;
        assert_int_equal(a->tx_len[i], 14 + 20 + plen[i]);
        assert_int_equal(us_ipv4_parse(&ip, a->tx[i] + 14, a->tx_len[i] - 14, 0), US_WIRE_OK);
        assert_int_equal(ip.frag_offset, off[i]);
        assert_int_equal(ip.payload_len, plen[i]);
        assert_int_equal(ip.more_frags, i < 2);
        assert_false(ip.dont_frag);
        if (i == 0)
            ident = ip.ident;
        assert_int_equal(ip.ident, ident);
    }
    assert_int_equal(us_get_be16(a->tx[0] + 38), 4008); /* the UDP length, in fragment 0 */
    assert_int_equal(np_forward(a, b, 0), 3);
    static uint8_t got[5000];
    uint16_t sport;
    assert_int_equal(us_udp_recv(b->s, hb, got, sizeof(got), NULL, &sport), 4000);
    assert_memory_equal(got, data, 4000);
    assert_int_equal(sport, 1000);
    assert_int_equal(all_drops(a) + all_drops(b), 0);
    expect_reass_empty(b);
    np_free(a);
    np_free(b);
}

static void test_ipv4_fragment_queued_behind_arp(void **state)
{
    (void)state;
    us_stack_config c;
    np_config(&c, NP_IP_A, 1);
    np_node *a = np_new(&c, 576, 0); /* a small MTU: 552 bytes of payload per fragment */
    np_node *b = np_new_b();
    us_sock ha = udp_sock(a, 1000), hb = udp_sock(b, 2000);
    static uint8_t data[1200];
    for (uint32_t i = 0; i < sizeof(data); i++)
        data[i] = (uint8_t)(i * 3);
    assert_int_equal(us_udp_send(a->s, ha, data, sizeof(data), NP_IP_B, 2000), US_OK);
    assert_int_equal(us_egress(a->s, 0, US_EGRESS_ALL), 1); /* the ARP request */
    assert_int_equal(np_forward(a, b, 0), 1);
    /* The reply makes A flush its queue; the device takes the first fragment, refuses the
     * second: the whole packet stays queued and goes again on the next egress. */
    a->refuse_skip = 1;
    a->refuse = 1;
    assert_int_equal(np_forward(b, a, 0), 1);
    assert_int_equal(a->tx_n, 1);
    assert_int_equal(st(a)->tx_alloc_fail, 1);
    assert_int_equal(us_poll_at(a->s, 0), 0);
    assert_int_equal(us_egress(a->s, 0, US_EGRESS_READYLIST), 3); /* 1208 = 552 + 552 + 104 */
    assert_int_equal(a->tx_len[1], 14 + 20 + 552);
    assert_int_equal(a->tx_len[3], 14 + 20 + 104);
    assert_int_equal(us_poll_at(a->s, 0), 300 * SEC); /* only the ARP entry's age is left */
    /* The peer takes the repeated first fragment as a duplicate. */
    assert_int_equal(np_forward(a, b, 0), 4);
    static uint8_t got[1500];
    assert_int_equal(us_udp_recv(b->s, hb, got, sizeof(got), NULL, NULL), 1200);
    assert_memory_equal(got, data, 1200);
    assert_int_equal(us_udp_recv(b->s, hb, got, sizeof(got), NULL, NULL), US_EAGAIN);
    assert_int_equal(all_drops(a) + all_drops(b), 0);
    expect_reass_empty(b);
    np_free(a);
    np_free(b);
}

/* ---- malformed and foreign frames ---- */

typedef struct bad_case {
    const char *what;
    int wire;     /* expected drop_wire index, or -1 */
    int drop;     /* expected drop index, or -1 */
} bad_case;

/* Inject f into a fresh node (A with a UDP socket on 7 and a TCP listener on 80), in one pbuf
 * (at == 0) or chained at byte at, and check that exactly the expected counter moved, nothing was
 * sent and nothing leaked. */
static void expect_dropped_at(const uint8_t *f, uint32_t len, uint32_t at, int wire, int drop)
{
    np_node *a = np_new_a();
    us_sock u = udp_sock(a, 7);
    us_sock l = us_tcp_open(a->s);
    assert_int_equal(us_tcp_listen(a->s, l, 80, 4), US_OK);
    us_pbuf *p = at == 0 ? np_pbuf(a, f, len) : np_pbuf_split(a, f, len, at);
    unsigned r = us_ingress(a->s, p, 0);
    assert_int_equal(r, US_INGRESS_PROCESSED | US_INGRESS_DROPPED);
    for (int i = 0; i < US_WIRE_ERR_COUNT; i++)
        assert_int_equal(st(a)->drop_wire[i], i == wire ? 1 : 0);
    for (int i = 0; i < US_DROP_COUNT; i++)
        assert_int_equal(st(a)->drop[i], i == drop ? 1 : 0);
    assert_int_equal(a->tx_n, 0);
    assert_int_equal(us_udp_recv(a->s, u, NULL, 0, NULL, NULL), US_EAGAIN);
    assert_int_equal(us_tcp_accept(a->s, l), US_EAGAIN);
    assert_int_equal(us_poll_at(a->s, 0), US_TIME_NEVER);
    assert_int_equal(us_tcp_release(a->s, l), US_OK);
    np_free(a);
}

/* expect_dropped_at for the frame in one pbuf and chained at every header boundary and around it:
 * a frame whose headers are not all in its first segment takes the out-of-line input functions,
 * the others the inline path; both must drop it the same way. */
static void expect_dropped(const uint8_t *f, uint32_t len, int wire, int drop)
{
    static const uint32_t cuts[] = {0,  1,  6,  13, 14, 15, 20, 24, 33,
                                    34, 35, 38, 41, 42, 43, 53, 54, 55};
    for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++)
        if (cuts[i] < len)
            expect_dropped_at(f, len, cuts[i], wire, drop);
    if (len > 1)
        expect_dropped_at(f, len, len - 1, wire, drop);
}

static uint32_t good_udp(uint8_t *f)
{
    return np_build_udp(f, np_mac_a, np_mac_b, NP_IP_B, NP_IP_A, 9, 7, "payload!", 8);
}

static void refresh_ip_csum(uint8_t *f)
{
    uint32_t hl = (f[14] & 0x0Fu) * 4u;
    us_put_be16(f + 24, 0);
    us_put_be16(f + 24, us_csum(f + 14, hl));
}

/* A TCP segment B:9 -> A:80 with the given header (hdr_len bytes, options included). */
static uint32_t tcp_frame(uint8_t *f, const uint8_t *tcp, uint32_t tcp_len, bool fix_csum)
{
    uint8_t seg[80];
    memcpy(seg, tcp, tcp_len);
    if (fix_csum) {
        us_put_be16(seg + 16, 0);
        uint32_t sum = us_csum_pseudo_ipv4(NP_IP_B, NP_IP_A, US_IP_PROTO_TCP, (uint16_t)tcp_len);
        us_put_be16(seg + 16, us_csum_finish(us_csum_partial(seg, tcp_len, sum)));
    }
    us_ipv4_repr ip = np_ip(NP_IP_B, NP_IP_A, US_IP_PROTO_TCP, 1, tcp_len);
    return np_build_ip(f, np_mac_a, np_mac_b, &ip, seg, tcp_len);
}

static void test_ipv4_malformed_dropped_by_reason(void **state)
{
    (void)state;
    uint8_t f[256];
    uint32_t len;

    /* Ethernet: shorter than a header. */
    len = good_udp(f);
    expect_dropped(f, 13, US_WIRE_TRUNCATED, -1);
    /* IPv4: 19 bytes of header. */
    expect_dropped(f, 14 + 19, US_WIRE_TRUNCATED, -1);
    /* Version 6 in an IPv4 ethertype. */
    len = good_udp(f);
    f[14] = 0x65;
    expect_dropped(f, len, US_WIRE_BAD_VERSION, -1);
    /* IHL 4 (16 bytes) and IHL 15 (60 bytes) with a 36-byte packet. */
    len = good_udp(f);
    f[14] = 0x44;
    expect_dropped(f, len, US_WIRE_BAD_IHL, -1);
    len = good_udp(f);
    f[14] = 0x4F;
    expect_dropped(f, len, US_WIRE_BAD_IHL, -1);
    /* Total length beyond the frame, and below the header length. */
    len = good_udp(f);
    us_put_be16(f + 16, (uint16_t)(len - 14 + 1));
    refresh_ip_csum(f);
    expect_dropped(f, len, US_WIRE_BAD_TOTAL_LEN, -1);
    len = good_udp(f);
    us_put_be16(f + 16, 19);
    refresh_ip_csum(f);
    expect_dropped(f, len, US_WIRE_BAD_TOTAL_LEN, -1);
    /* Header checksum. */
    len = good_udp(f);
    f[24] ^= 0x10;
    expect_dropped(f, len, US_WIRE_BAD_CHECKSUM, -1);
    /* Fragment offset + length beyond 65535. */
    len = good_udp(f);
    us_put_be16(f + 20, 0x1FFF);
    refresh_ip_csum(f);
    expect_dropped(f, len, US_WIRE_BAD_FRAGMENT, -1);
    /* A real frame whose IPv4 checksum is wrong (offload capture), sent to us. */
    {
        np_node *a;
        us_stack_config c;
        np_config(&c, 0xC0A80102u, 0);
        static const uint8_t mac[6] = {0x00, 0x0f, 0x66, 0xae, 0xe9, 0x8a};
        memcpy(c.mac, mac, 6);
        a = np_new(&c, 1500, 0);
        const wire_frame *wf = NULL;
        for (size_t i = 0; i < sizeof(wire_frames) / sizeof(wire_frames[0]); i++)
            if (strcmp(wire_frames[i].name, "eth_bad_ipcsum") == 0)
                wf = &wire_frames[i];
        assert_non_null(wf);
        len = np_hex(wf->hex, f, sizeof(f));
        assert_int_equal(np_inject(a, f, len, 0), US_INGRESS_PROCESSED | US_INGRESS_DROPPED);
        assert_int_equal(st(a)->drop_wire[US_WIRE_BAD_CHECKSUM], 1);
        assert_int_equal(all_drops(a), 1);
        np_free(a);
    }

    /* TCP: data offset 4, data offset beyond the segment, options past the header, a zero-length
     * option, a bad checksum. */
    uint8_t tcp[40];
    memset(tcp, 0, sizeof(tcp));
    us_put_be16(tcp, 9);
    us_put_be16(tcp + 2, 80);
    us_put_be32(tcp + 4, 1000);
    tcp[12] = 0x50;
    tcp[13] = US_TCP_SYN;
    us_put_be16(tcp + 14, 8192);
    tcp[12] = 0x40;
    len = tcp_frame(f, tcp, 20, true);
    expect_dropped(f, len, US_WIRE_BAD_DATA_OFFSET, -1);
    tcp[12] = 0x60; /* 24 bytes of header in a 20-byte segment */
    len = tcp_frame(f, tcp, 20, true);
    expect_dropped(f, len, US_WIRE_BAD_DATA_OFFSET, -1);
    tcp[12] = 0x60; /* MSS option whose length runs past the header */
    tcp[20] = US_TCP_OPT_MSS;
    tcp[21] = 8;
    tcp[22] = 0x05;
    tcp[23] = 0xB4;
    len = tcp_frame(f, tcp, 24, true);
    expect_dropped(f, len, US_WIRE_BAD_OPTION, -1);
    tcp[20] = 30; /* an unknown option of length 0 */
    tcp[21] = 0;
    len = tcp_frame(f, tcp, 24, true);
    expect_dropped(f, len, US_WIRE_BAD_OPTION, -1);
    tcp[12] = 0x50;
    len = tcp_frame(f, tcp, 20, true);
    f[14 + 20 + 4] ^= 1; /* sequence number changed under the checksum */
    expect_dropped(f, len, US_WIRE_BAD_CHECKSUM, -1);

    /* UDP and ICMP shorter than their headers. */
    {
        us_ipv4_repr ip = np_ip(NP_IP_B, NP_IP_A, US_IP_PROTO_UDP, 1, 6);
        len = np_build_ip(f, np_mac_a, np_mac_b, &ip, "abcdef", 6);
        expect_dropped(f, len, US_WIRE_TRUNCATED, -1);
        ip.proto = US_IP_PROTO_ICMP;
        len = np_build_ip(f, np_mac_a, np_mac_b, &ip, "abcdef", 6);
        expect_dropped(f, len, US_WIRE_TRUNCATED, -1);
    }
}

static void test_ipv4_not_for_us(void **state)
{
    (void)state;
    uint8_t f[256];
    uint32_t len = good_udp(f);
    /* Another host's MAC, a multicast MAC. */
    static const uint8_t other[6] = {0x02, 0, 0, 0, 0, 0x09};
    static const uint8_t mcast[6] = {0x01, 0x00, 0x5e, 0, 0, 1};
    memcpy(f, other, 6);
    expect_dropped(f, len, -1, US_DROP_NOT_FOR_US);
    memcpy(f, mcast, 6);
    expect_dropped(f, len, -1, US_DROP_NOT_FOR_US);
    /* Our MAC, another IPv4 address. */
    len = np_build_udp(f, np_mac_a, np_mac_b, NP_IP_B, 0x0A000009u, 9, 7, "x", 1);
    expect_dropped(f, len, -1, US_DROP_NOT_FOR_US);
    /* TTL 0. */
    len = good_udp(f);
    f[22] = 0;
    refresh_ip_csum(f);
    expect_dropped(f, len, -1, US_DROP_TTL);
    /* Neither IPv4 nor ARP (IPv6), and an 802.3 length field (a real CDP frame). */
    len = good_udp(f);
    us_put_be16(f + 12, 0x86DD);
    expect_dropped(f, len, -1, US_DROP_ETHERTYPE);
}

static void test_ipv4_padding_ignored(void **state)
{
    (void)state;
    np_node *a = np_new_a();
    us_sock h = udp_sock(a, 7);
    uint8_t f[64];
    uint32_t len = np_build_udp(f, np_mac_a, np_mac_b, NP_IP_B, NP_IP_A, 9, 7, "ab", 2);
    assert_int_equal(len, 44);
    memset(f + len, 0xEE, 60 - len); /* Ethernet pads to 60 */
    assert_int_equal(np_inject(a, f, 60, 0), US_INGRESS_PROCESSED | US_INGRESS_STATE_CHANGED);
    char buf[8];
    assert_int_equal(us_udp_recv(a->s, h, buf, sizeof(buf), NULL, NULL), 2);
    assert_memory_equal(buf, "ab", 2);
    assert_int_equal(all_drops(a), 0);
    np_free(a);
}

static void test_ipv4_unknown_protocol_unreachable(void **state)
{
    (void)state;
    np_node *a = np_new_a();
    assert_int_equal(us_arp_add_static(a->s, NP_IP_B, np_mac_b), US_OK);
    uint8_t f[128];
    us_ipv4_repr ip = np_ip(NP_IP_B, NP_IP_A, 47 /* GRE */, 9, 12);
    uint32_t len = np_build_ip(f, np_mac_a, np_mac_b, &ip, "0123456789ab", 12);
    assert_int_equal(np_inject(a, f, len, 0), US_INGRESS_PROCESSED | US_INGRESS_DROPPED);
    assert_int_equal(st(a)->drop[US_DROP_IP_PROTO], 1);
    assert_int_equal(a->tx_n, 1);
    us_icmp_repr ic;
    assert_int_equal(a->tx_len[0], 14 + 20 + 8 + 28);
    assert_int_equal(us_icmp_parse(&ic, a->tx[0] + 34, 36, 0), US_WIRE_OK);
    assert_int_equal(ic.type, US_ICMP_DEST_UNREACH);
    assert_int_equal(ic.code, US_ICMP_UNREACH_PROTO);
    assert_memory_equal(ic.data, f + 14, 28);
    np_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ipv4_reass_real_in_order),
        cmocka_unit_test(test_ipv4_reass_real_reversed),
        cmocka_unit_test(test_ipv4_reass_real_duplicates),
        cmocka_unit_test(test_ipv4_reass_memory_limit),
        cmocka_unit_test(test_ipv4_reass_overlap_identical_accepted),
        cmocka_unit_test(test_ipv4_reass_overlap_conflict_dropped),
        cmocka_unit_test(test_ipv4_reass_timeout_frees),
        cmocka_unit_test(test_ipv4_reass_slots_limit),
        cmocka_unit_test(test_ipv4_fragment_4000_byte_datagram),
        cmocka_unit_test(test_ipv4_fragment_queued_behind_arp),
        cmocka_unit_test(test_ipv4_malformed_dropped_by_reason),
        cmocka_unit_test(test_ipv4_not_for_us),
        cmocka_unit_test(test_ipv4_padding_ignored),
        cmocka_unit_test(test_ipv4_unknown_protocol_unreachable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
