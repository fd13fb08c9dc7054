/* The split poll: ingress accounting and filtering, us_poll draining the device with its burst
 * limit, egress over all sockets vs the ready list (socket_visits exact), device refusals,
 * poll_at, the one-shot egress waker, and frames nobody takes being freed. */
#include <stdlib.h>
#include <string.h>

#include "netpair.h"
#include "ustack/wire/bytes.h"
#include "ustack/wire/checksum.h"
#include "wire/frames.h"

#define MS 1000000ull
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

static uint32_t arp_request_to_a(uint8_t *f, uint8_t sender_last)
{
    static const uint8_t zero[6] = {0};
    uint8_t mac[6] = {0x02, 0, 0, 0, 0, sender_last};
    return np_build_arp(f, np_mac_bcast, 1, mac, 0x0A000000u | sender_last, zero, NP_IP_A);
}

static void test_iface_ingress_accounting(void **state)
{
    (void)state;
    np_node *a = np_new_a();
    uint8_t f[128];
    uint32_t len = arp_request_to_a(f, 2);
    assert_int_equal(np_inject(a, f, len, 0), US_INGRESS_PROCESSED);
    len = np_build_udp(f, np_mac_a, np_mac_b, NP_IP_B, NP_IP_A, 1, 2, "abc", 3);
    assert_int_equal(np_inject(a, f, len, 0), US_INGRESS_PROCESSED | US_INGRESS_DROPPED);
    assert_int_equal(st(a)->ingress_calls, 2);
    assert_int_equal(st(a)->frames_rx, 2);
    assert_int_equal(st(a)->bytes_rx, 42 + 45);
    assert_int_equal(st(a)->frames_tx, 2); /* ARP reply, port unreachable */
    assert_int_equal(st(a)->bytes_tx, 42 + 14 + 20 + 8 + 28);
    assert_int_equal(st(a)->egress_calls, 0);
    /* A NULL frame is nothing; a NULL stack still frees the frame. */
    assert_int_equal(us_ingress(a->s, NULL, 0), 0);
    assert_int_equal(us_ingress(NULL, np_pbuf(a, f, len), 0), 0);
    assert_int_equal(us_egress(NULL, 0, US_EGRESS_ALL), 0);
    assert_int_equal(us_poll_at(NULL, 0), US_TIME_NEVER);
    assert_int_equal(us_poll(NULL, 0), 0);
    np_free(a);
}

static void test_iface_ethertype_and_mac_filter(void **state)
{
    (void)state;
    np_node *a = np_new_a();
    uint8_t f[512];
    uint32_t len = 0;
    for (size_t i = 0; i < sizeof(wire_frames) / sizeof(wire_frames[0]); i++)
        if (strcmp(wire_frames[i].name, "vlan_cdp") == 0)
            len = np_hex(wire_frames[i].hex, f, sizeof(f));
    assert_true(len > 0);
    /* A real CDP frame to its multicast group: not for us. */
    assert_int_equal(np_inject(a, f, len, 0), US_INGRESS_PROCESSED | US_INGRESS_DROPPED);
    assert_int_equal(st(a)->drop[US_DROP_NOT_FOR_US], 1);
    /* The same to our MAC: an 802.3 length field is no ethertype we speak. */
    memcpy(f, np_mac_a, 6);
    assert_int_equal(np_inject(a, f, len, 0), US_INGRESS_PROCESSED | US_INGRESS_DROPPED);
    assert_int_equal(st(a)->drop[US_DROP_ETHERTYPE], 1);
    /* Three VLAN tags: malformed. */
    static const uint8_t tagged[] = {2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x81, 0, 0, 1,
                                     0x81, 0, 0, 2, 0x81, 0, 0, 3, 0x08, 0x00};
    assert_int_equal(np_inject(a, tagged, sizeof(tagged), 0),
                     US_INGRESS_PROCESSED | US_INGRESS_DROPPED);
    assert_int_equal(st(a)->drop_wire[US_WIRE_BAD_VLAN], 1);
    assert_int_equal(a->tx_n, 0);
    np_free(a);
}

static void test_iface_poll_drains_all(void **state)
{
    (void)state;
    np_node *n = np_new_a();
    uint8_t f[64];
    for (uint8_t i = 2; i < 7; i++)
        np_rx_push(n, f, arp_request_to_a(f, i));
    /* max_burst 0: drain until rx returns NULL, then egress. */
    assert_int_equal(us_poll(n->s, 0), 1);
    assert_int_equal(n->rx_n, 0);
    assert_int_equal(st(n)->frames_rx, 5);
    assert_int_equal(n->tx_n, 5);
    assert_int_equal(st(n)->egress_calls, 1);
    np_tx_clear(n);
    assert_int_equal(us_poll(n->s, 0), 0);
    np_free(n);
}

static void test_iface_poll_burst_limit(void **state)
{
    (void)state;
    us_stack_config c;
    np_config(&c, NP_IP_A, 1);
    np_node *n = np_new_ex(&c, 1500, 0, 2);
    uint8_t f[64];
    for (uint8_t i = 2; i < 7; i++)
        np_rx_push(n, f, arp_request_to_a(f, i));
    assert_int_equal(us_poll(n->s, 0), 1);
    assert_int_equal(n->rx_n, 3);
    assert_int_equal(n->tx_n, 2);
    assert_int_equal(us_poll(n->s, 0), 1);
    assert_int_equal(us_poll(n->s, 0), 1);
    assert_int_equal(n->rx_n, 0);
    assert_int_equal(n->tx_n, 5);
    assert_int_equal(st(n)->egress_calls, 3);
    assert_int_equal(us_poll(n->s, 0), 0);
    np_free(n);
}

/* A with UDP sockets 0 and 1 holding two datagrams each, socket 2 empty, a TCP listener. */
static np_node *four_sockets(void)
{
    np_node *a = np_new_a();
    assert_int_equal(us_arp_add_static(a->s, NP_IP_B, np_mac_b), US_OK);
    us_sock h0 = udp_sock(a, 100), h1 = udp_sock(a, 101);
    (void)udp_sock(a, 102);
    us_sock l = us_tcp_open(a->s);
    assert_int_equal(us_tcp_listen(a->s, l, 80, 1), US_OK);
    assert_int_equal(us_udp_send(a->s, h0, "a0", 2, NP_IP_B, 9), US_OK);
    assert_int_equal(us_udp_send(a->s, h1, "b0", 2, NP_IP_B, 9), US_OK);
    assert_int_equal(us_udp_send(a->s, h0, "a1", 2, NP_IP_B, 9), US_OK);
    assert_int_equal(us_udp_send(a->s, h1, "b1", 2, NP_IP_B, 9), US_OK);
    return a;
}

static void expect_order(np_node *a)
{
    static const char *const want[4] = {"a0", "b0", "a1", "b1"};
    assert_int_equal(a->tx_n, 4);
    for (int i = 0; i < 4; i++)
        assert_memory_equal(a->tx[i] + 42, want[i], 2);
}

static void test_iface_egress_all_visits(void **state)
{
    (void)state;
    np_node *a = four_sockets();
    /* Passes of 4 visits (3 UDP + the listener): two that send, one that finds nothing. */
    assert_int_equal(us_egress(a->s, 0, US_EGRESS_ALL), 4);
    assert_int_equal(st(a)->socket_visits, 12);
    expect_order(a);
    assert_int_equal(us_poll_at(a->s, 0), US_TIME_NEVER);
    /* Nothing to send: still one pass over every socket. */
    assert_int_equal(us_egress(a->s, 0, US_EGRESS_ALL), 0);
    assert_int_equal(st(a)->socket_visits, 16);
    np_free(a);
}

static void test_iface_egress_readylist_visits(void **state)
{
    (void)state;
    np_node *a = four_sockets();
    /* Only the two sockets that asked, once per datagram: a socket that sent and has more
     * queues itself again at the tail, one that sent its last does not, so no visit finds
     * nothing. */
    assert_int_equal(us_egress(a->s, 0, US_EGRESS_READYLIST), 4);
    assert_int_equal(st(a)->socket_visits, 4);
    expect_order(a);
    assert_int_equal(us_egress(a->s, 0, US_EGRESS_READYLIST), 0);
    assert_int_equal(st(a)->socket_visits, 4);
    assert_int_equal(st(a)->egress_calls, 2);
    np_free(a);
}

static void test_iface_refusal_stops_egress(void **state)
{
    (void)state;
    np_node *a = four_sockets();
    a->refuse = 1;
    assert_int_equal(us_egress(a->s, 0, US_EGRESS_ALL), 0);
    assert_int_equal(st(a)->tx_alloc_fail, 1);
    assert_int_equal(st(a)->drop[US_DROP_TX_UDP], 1); /* "a0" */
    assert_int_equal(st(a)->socket_visits, 1);        /* stopped at the first refusal */
    assert_int_equal(us_poll_at(a->s, 0), 0);
    assert_int_equal(us_egress(a->s, 0, US_EGRESS_READYLIST), 3);
    assert_int_equal(a->tx_n, 3);
    assert_memory_equal(a->tx[0] + 42, "a1", 2);
    assert_memory_equal(a->tx[1] + 42, "b0", 2);
    assert_memory_equal(a->tx[2] + 42, "b1", 2);
    assert_int_equal(us_poll_at(a->s, 0), US_TIME_NEVER);
    np_free(a);
}

typedef struct waker_ctx {
    np_node *n;
    int calls;
    int rearm;
} waker_ctx;

static void on_egress(void *ctx)
{
    waker_ctx *w = ctx;
    w->calls++;
    if (w->rearm)
        us_set_egress_waker(w->n->s, on_egress, w); /* registering again from inside */
}

static void test_iface_egress_waker_one_shot(void **state)
{
    (void)state;
    np_node *a = np_new_a();
    assert_int_equal(us_arp_add_static(a->s, NP_IP_B, np_mac_b), US_OK);
    us_sock h = udp_sock(a, 100);
    waker_ctx w = {a, 0, 0};
    us_set_egress_waker(a->s, on_egress, &w);
    assert_int_equal(us_udp_send(a->s, h, "x", 1, NP_IP_B, 9), US_OK);
    assert_int_equal(us_udp_send(a->s, h, "y", 1, NP_IP_B, 9), US_OK);
    assert_int_equal(w.calls, 1);
    us_egress(a->s, 0, US_EGRESS_ALL);
    /* Re-registered from inside the callback: fires on every send. */
    w.rearm = 1;
    us_set_egress_waker(a->s, on_egress, &w);
    assert_int_equal(us_udp_send(a->s, h, "x", 1, NP_IP_B, 9), US_OK);
    assert_int_equal(us_udp_send(a->s, h, "y", 1, NP_IP_B, 9), US_OK);
    assert_int_equal(w.calls, 3);
    /* Removed: never again. */
    us_set_egress_waker(a->s, NULL, &w);
    assert_int_equal(us_udp_send(a->s, h, "z", 1, NP_IP_B, 9), US_OK);
    assert_int_equal(w.calls, 3);
    us_egress(a->s, 0, US_EGRESS_ALL);
    /* Ingress that leaves nothing pending does not fire it; ingress that queues output does. */
    w.rearm = 0;
    us_set_egress_waker(a->s, on_egress, &w);
    uint8_t f[128];
    uint32_t len = np_build_udp(f, np_mac_a, np_mac_b, NP_IP_B, NP_IP_A, 9, 100, "q", 1);
    np_inject(a, f, len, 0);
    assert_int_equal(w.calls, 3);
    a->refuse = 1; /* the port-unreachable reply is refused: it waits in the ARP queue */
    len = np_build_udp(f, np_mac_a, np_mac_b, NP_IP_B, NP_IP_A, 9, 555, "q", 1);
    np_inject(a, f, len, 0);
    assert_int_equal(w.calls, 4);
    assert_int_equal(us_egress(a->s, 0, US_EGRESS_READYLIST), 1);
    np_free(a);
}

static void test_iface_poll_at(void **state)
{
    (void)state;
    np_node *a = np_new_a();
    us_sock h = udp_sock(a, 100);
    assert_int_equal(us_poll_at(a->s, 123), US_TIME_NEVER);
    assert_int_equal(us_udp_send(a->s, h, "x", 1, NP_IP_B, 9), US_OK);
    assert_int_equal(us_poll_at(a->s, 123), 123);
    us_egress(a->s, 123, US_EGRESS_ALL); /* ARP request; datagram queued */
    assert_int_equal(us_poll_at(a->s, 123), 123 + SEC);
    /* Past due is reported as is. */
    assert_int_equal(us_poll_at(a->s, 5 * SEC), 123 + SEC);
    for (int i = 1; i <= 5; i++)
        us_egress(a->s, 123 + (us_time)i * SEC, US_EGRESS_READYLIST);
    assert_int_equal(us_poll_at(a->s, 10 * SEC), US_TIME_NEVER);
    assert_int_equal(st(a)->drop[US_DROP_ARP_QUEUE], 1);
    np_free(a);
}

static void test_iface_unclaimed_frame_freed(void **state)
{
    (void)state;
    np_node *a = np_new_a();
    us_bufs *b = us_stack_bufs(a->s);
    uint8_t f[128];
    /* A datagram to a closed port from a host whose MAC we do not know: the frame is freed at
     * once; the ICMP reply waits (in the heap) behind an ARP request. */
    uint32_t len = np_build_udp(f, np_mac_a, np_mac_b, NP_IP_B, NP_IP_A, 9, 4444, "zz", 2);
    np_inject(a, f, len, 0);
    assert_int_equal(b->pools[US_POOL_PBUF_POOL].stats.used, 0);
    assert_int_equal(b->pools[US_POOL_PBUF_POOL].stats.max, 1);
    assert_true(b->heap.stats.used > 0);
    assert_int_equal(a->tx_n, 1); /* the ARP request */
    for (int i = 1; i <= 5; i++)
        us_egress(a->s, (us_time)i * SEC, US_EGRESS_ALL);
    assert_int_equal(b->heap.stats.used, 0);
    assert_int_equal(st(a)->drop[US_DROP_ARP_QUEUE], 1);
    assert_int_equal(st(a)->drop[US_DROP_NO_SOCKET], 1);
    np_free(a);
}


/* ---- robustness: mutated frames, each in an exact-size buffer (ASan flags any read past it) ---- */

static uint32_t tcp_template(uint8_t *f, uint16_t dport, uint8_t flags)
{
    uint8_t seg[24];
    memset(seg, 0, sizeof(seg));
    us_put_be16(seg, 40000);
    us_put_be16(seg + 2, dport);
    us_put_be32(seg + 4, 1000);
    us_put_be32(seg + 8, 5);
    seg[12] = 0x60;
    seg[13] = flags;
    us_put_be16(seg + 14, 8192);
    seg[20] = 2; /* MSS 1460 */
    seg[21] = 4;
    us_put_be16(seg + 22, 1460);
    uint32_t sum = us_csum_pseudo_ipv4(NP_IP_B, NP_IP_A, 6, sizeof(seg));
    us_put_be16(seg + 16, us_csum_finish(us_csum_partial(seg, sizeof(seg), sum)));
    us_ipv4_repr ip = np_ip(NP_IP_B, NP_IP_A, 6, 1, sizeof(seg));
    ip.dont_frag = true;
    return np_build_ip(f, np_mac_a, np_mac_b, &ip, seg, sizeof(seg));
}

static uint32_t make_template(int k, uint8_t *f)
{
    static const uint8_t zero[6] = {0};
    uint8_t msg[200];
    switch (k) {
    case 0: return np_build_arp(f, np_mac_bcast, 1, np_mac_b, NP_IP_B, zero, NP_IP_A);
    case 1: return np_build_udp(f, np_mac_a, np_mac_b, NP_IP_B, NP_IP_A, 9, 100, "hello", 5);
    case 2: return np_build_udp(f, np_mac_a, np_mac_b, NP_IP_B, NP_IP_A, 9, 999, "closed", 6);
    case 3: {
        memset(msg, 0x61, 40);
        msg[0] = 8; /* echo request, checksum left for the mutations to fight */
        msg[1] = 0;
        us_put_be16(msg + 2, 0);
        us_put_be16(msg + 2, us_csum(msg, 40));
        us_ipv4_repr ip = np_ip(NP_IP_B, NP_IP_A, 1, 2, 40);
        return np_build_ip(f, np_mac_a, np_mac_b, &ip, msg, 40);
    }
    case 4: return tcp_template(f, 80, 0x02);   /* SYN to the listener */
    case 5: return tcp_template(f, 81, 0x10);   /* ACK to a closed port */
    case 6: {                                    /* first and last fragments */
        memset(msg, 0x33, 64);
        us_ipv4_repr ip = np_ip(NP_IP_B, NP_IP_A, 17, 7, 32);
        ip.more_frags = true;
        return np_build_ip(f, np_mac_a, np_mac_b, &ip, msg, 32);
    }
    default: {
        us_ipv4_repr ip = np_ip(NP_IP_B, NP_IP_A, 17, 7, 20);
        ip.frag_offset = 32;
        return np_build_ip(f, np_mac_a, np_mac_b, &ip, msg, 20);
    }
    }
}

typedef struct held_buf {
    uint8_t *mem;
    us_pbuf *p;
} held_buf;

static void fuzz_run(uint32_t caps, uint64_t seed)
{
    us_stack_config c;
    np_config(&c, NP_IP_A, 1);
    c.bufs.pbuf_count = 64;
    np_node *a = np_new(&c, 1500, caps);
    assert_int_equal(us_arp_add_static(a->s, NP_IP_B, np_mac_b), US_OK);
    us_sock u = udp_sock(a, 100);
    us_sock l = us_tcp_open(a->s);
    assert_int_equal(us_tcp_listen(a->s, l, 80, 4), US_OK);
    us_test_rng rng = {seed};
    enum { N = 3000 };
    static uint8_t *bufs[N];
    us_time now = 0;
    for (int i = 0; i < N; i++) {
        uint8_t f[256];
        uint32_t len = make_template((int)us_test_below(&rng, 8), f);
        switch (us_test_below(&rng, 4)) {
        case 0: /* a few random bytes */
            for (uint32_t k = 1 + us_test_below(&rng, 4); k > 0; k--)
                f[us_test_below(&rng, len)] = (uint8_t)us_test_rand(&rng);
            break;
        case 1: /* cut short */
            len = us_test_below(&rng, len + 1);
            break;
        case 2: /* a header byte of the IPv4 or transport header */
            f[14 + us_test_below(&rng, len > 54 ? 40 : len - 14)] = (uint8_t)us_test_rand(&rng);
            break;
        default: /* untouched */
            break;
        }
        /* An exact-size copy referenced by a REF pbuf: nothing may read past len. */
        bufs[i] = malloc(len ? len : 1);
        memcpy(bufs[i], f, len);
        us_pbuf *p = us_pbuf_alloc_reference(us_stack_bufs(a->s), bufs[i], len, US_PBUF_REF);
        if (p == NULL) { /* the REF pool is held by out-of-order data: let time pass */
            bufs[i] = (free(bufs[i]), NULL);
            now += SEC;
            us_egress(a->s, now, US_EGRESS_ALL);
            continue;
        }
        unsigned r = us_ingress(a->s, p, now);
        assert_true(r & US_INGRESS_PROCESSED);
        us_egress(a->s, now, (i & 1) ? US_EGRESS_ALL : US_EGRESS_READYLIST);
        while (us_udp_recv(a->s, u, NULL, 0, NULL, NULL) >= 0) {
        }
        us_sock h;
        while ((h = us_tcp_accept(a->s, l)) >= 0)
            assert_int_equal(us_tcp_release(a->s, h), US_OK);
        np_tx_clear(a);
        now += 1 * MS;
    }
    /* Close the listener, let every timer run out: nothing may remain. */
    assert_int_equal(us_tcp_release(a->s, l), US_OK);
    for (int k = 0; k < 40; k++) {
        now += 30 * SEC;
        us_egress(a->s, now, US_EGRESS_ALL);
        np_tx_clear(a);
    }
    assert_true(st(a)->frames_rx > N / 2);
    assert_int_equal(us_poll_at(a->s, now), US_TIME_NEVER);
    np_free(a);
    for (int i = 0; i < N; i++)
        free(bufs[i]);
}

static void test_iface_mutated_frames_never_overread(void **state)
{
    (void)state;
    fuzz_run(0, 1);
    fuzz_run(US_DEV_CSUM_RX, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_iface_ingress_accounting),
        cmocka_unit_test(test_iface_ethertype_and_mac_filter),
        cmocka_unit_test(test_iface_poll_drains_all),
        cmocka_unit_test(test_iface_poll_burst_limit),
        cmocka_unit_test(test_iface_egress_all_visits),
        cmocka_unit_test(test_iface_egress_readylist_visits),
        cmocka_unit_test(test_iface_refusal_stops_egress),
        cmocka_unit_test(test_iface_egress_waker_one_shot),
        cmocka_unit_test(test_iface_poll_at),
        cmocka_unit_test(test_iface_unclaimed_frame_freed),
        cmocka_unit_test(test_iface_mutated_frames_never_overread),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
