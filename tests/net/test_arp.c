/* ARP cache: replies to requests for us, learning (RFC 826 merge rule), resolution with a queue,
 * retries then failure, aging, static entries, gratuitous ARP, eviction, refusals, bad messages.
 * Every test ends with np_free, which fails on any leaked pool block or heap byte. */
#include <string.h>

#include "netpair.h"
#include "ustack/wire/arp.h"
#include "ustack/wire/bytes.h"

#define SEC 1000000000ull
#define IP_C 0x0A000003u
#define IP_D 0x0A000004u

static const uint8_t zero_mac[6] = {0};
static const uint8_t mac_c[6] = {0x02, 0, 0, 0, 0, 0x03};
static const uint8_t mac_d[6] = {0x02, 0, 0, 0, 0, 0x04};

static const us_stack_stats *st(np_node *n)
{
    return us_stack_get_stats(n->s);
}

/* The frame n captured at i is exactly the ARP frame described. */
static void expect_arp(np_node *n, uint32_t i, const uint8_t *eth_dst, uint16_t op,
                       const uint8_t *tha, uint32_t tpa)
{
    uint8_t want[64];
    const us_stack_config *c = us_stack_get_config(n->s);
    uint32_t len = np_build_arp(want, eth_dst, op, c->mac, c->ipv4_addr, tha, tpa);
    assert_true(i < n->tx_n);
    assert_int_equal(n->tx_len[i], len);
    assert_memory_equal(n->tx[i], want, len);
}

/* The frame at i is IPv4 sent to dst_mac. */
static void expect_ipv4_to(np_node *n, uint32_t i, const uint8_t *dst_mac)
{
    assert_true(i < n->tx_n);
    assert_memory_equal(n->tx[i], dst_mac, 6);
    assert_int_equal(us_get_be16(n->tx[i] + 12), 0x0800);
}

static us_sock udp_sock(np_node *n, uint16_t port)
{
    us_sock h = us_udp_open(n->s);
    assert_true(h >= 0);
    assert_int_equal(us_udp_bind(n->s, h, port), US_OK);
    return h;
}

static void test_arp_request_for_us_replied(void **state)
{
    (void)state;
    np_node *a = np_new_a();
    uint8_t f[64];
    uint32_t len = np_build_arp(f, np_mac_bcast, US_ARP_OP_REQUEST, np_mac_b, NP_IP_B, zero_mac,
                                NP_IP_A);
    unsigned r = np_inject(a, f, len, 0);
    assert_int_equal(r, US_INGRESS_PROCESSED);
    assert_int_equal(a->tx_n, 1);
    expect_arp(a, 0, np_mac_b, US_ARP_OP_REPLY, np_mac_b, NP_IP_B);
    np_tx_clear(a);
    /* The asker was learned: a datagram to it goes out at once, no request. */
    us_sock h = udp_sock(a, 1000);
    assert_int_equal(us_udp_send(a->s, h, "x", 1, NP_IP_B, 2000), US_OK);
    assert_int_equal(us_egress(a->s, 0, US_EGRESS_ALL), 1);
    expect_ipv4_to(a, 0, np_mac_b);
    assert_int_equal(st(a)->frames_tx, 2);
    assert_int_equal(us_udp_close(a->s, h), US_OK);
    np_free(a);
}

static void test_arp_request_for_other_ignored(void **state)
{
    (void)state;
    np_node *a = np_new_a();
    uint8_t f[64];
    uint32_t len = np_build_arp(f, np_mac_bcast, US_ARP_OP_REQUEST, mac_c, IP_C, zero_mac, IP_D);
    unsigned r = np_inject(a, f, len, 0);
    assert_int_equal(r, US_INGRESS_PROCESSED | US_INGRESS_DROPPED);
    assert_int_equal(a->tx_n, 0);
    assert_int_equal(st(a)->drop[US_DROP_NOT_FOR_US], 1);
    /* C was not learned (the request was not addressed to us). */
    us_sock h = udp_sock(a, 1000);
    assert_int_equal(us_udp_send(a->s, h, "x", 1, IP_C, 2000), US_OK);
    us_egress(a->s, 0, US_EGRESS_ALL);
    assert_int_equal(a->tx_n, 1);
    expect_arp(a, 0, np_mac_bcast, US_ARP_OP_REQUEST, zero_mac, IP_C);
    /* Let the resolution fail so the queued datagram is freed. */
    for (us_time t = 1; t <= 5; t++)
        us_egress(a->s, t * SEC, US_EGRESS_ALL);
    assert_int_equal(st(a)->drop[US_DROP_ARP_QUEUE], 1);
    np_free(a);
}

static void test_arp_resolve_then_send_queued(void **state)
{
    (void)state;
    np_node *a = np_new_a(), *b = np_new_b();
    us_sock ha = udp_sock(a, 1000), hb = udp_sock(b, 2000);
    assert_int_equal(us_udp_send(a->s, ha, "hello", 5, NP_IP_B, 2000), US_OK);
    assert_int_equal(us_egress(a->s, 0, US_EGRESS_ALL), 1);
    assert_int_equal(a->tx_n, 1);
    expect_arp(a, 0, np_mac_bcast, US_ARP_OP_REQUEST, zero_mac, NP_IP_B);
    assert_true(us_stack_bufs(a->s)->heap.stats.used > 0); /* the datagram waits in a pbuf */
    /* B answers (and learns A); A sends the queued datagram from ingress of the reply. */
    assert_int_equal(np_forward(a, b, 0), 1);
    assert_int_equal(b->tx_n, 1);
    expect_arp(b, 0, np_mac_a, US_ARP_OP_REPLY, np_mac_a, NP_IP_A);
    assert_int_equal(np_forward(b, a, 0), 1);
    assert_int_equal(a->tx_n, 1);
    expect_ipv4_to(a, 0, np_mac_b);
    assert_int_equal(us_stack_bufs(a->s)->heap.stats.used, 0);
    assert_int_equal(np_forward(a, b, 0), 1);
    char buf[16];
    uint32_t src;
    uint16_t sport;
    assert_int_equal(us_udp_recv(b->s, hb, buf, sizeof(buf), &src, &sport), 5);
    assert_memory_equal(buf, "hello", 5);
    assert_int_equal(src, NP_IP_A);
    assert_int_equal(sport, 1000);
    assert_int_equal(st(a)->drop[US_DROP_ARP_QUEUE], 0);
    np_free(a);
    np_free(b);
}

static void test_arp_retry_then_failure(void **state)
{
    (void)state;
    np_node *a = np_new_a();
    us_sock h = udp_sock(a, 1000);
    assert_int_equal(us_udp_send(a->s, h, "x", 1, IP_C, 7), US_OK);
    us_egress(a->s, 0, US_EGRESS_ALL);
    assert_int_equal(a->tx_n, 1);
    assert_int_equal(us_poll_at(a->s, 0), 1 * SEC);
    /* Nothing due before the retry interval. */
    assert_int_equal(us_egress(a->s, SEC - 1, US_EGRESS_ALL), 0);
    for (uint64_t t = 1; t <= 4; t++) {
        assert_int_equal(us_egress(a->s, t * SEC, US_EGRESS_ALL), 1);
        assert_int_equal(us_poll_at(a->s, t * SEC), (t + 1) * SEC);
    }
    assert_int_equal(a->tx_n, 5); /* arp_max_retries = 5 requests */
    for (uint32_t i = 0; i < 5; i++)
        expect_arp(a, i, np_mac_bcast, US_ARP_OP_REQUEST, zero_mac, IP_C);
    assert_int_equal(st(a)->drop[US_DROP_ARP_QUEUE], 0);
    assert_int_equal(us_egress(a->s, 5 * SEC, US_EGRESS_ALL), 0);
    assert_int_equal(st(a)->drop[US_DROP_ARP_QUEUE], 1);
    assert_int_equal(us_poll_at(a->s, 5 * SEC), US_TIME_NEVER);
    assert_int_equal(us_stack_bufs(a->s)->heap.stats.used, 0);
    /* A new datagram asks again from scratch. */
    np_tx_clear(a);
    assert_int_equal(us_udp_send(a->s, h, "y", 1, IP_C, 7), US_OK);
    assert_int_equal(us_egress(a->s, 6 * SEC, US_EGRESS_ALL), 1);
    expect_arp(a, 0, np_mac_bcast, US_ARP_OP_REQUEST, zero_mac, IP_C);
    for (us_time t = 7; t <= 11; t++)
        us_egress(a->s, t * SEC, US_EGRESS_ALL);
    assert_int_equal(st(a)->drop[US_DROP_ARP_QUEUE], 2);
    np_free(a);
}

static void test_arp_queue_limit(void **state)
{
    (void)state;
    np_node *a = np_new_a(), *b = np_new_b();
    us_sock h = udp_sock(a, 1000);
    us_sock hb = udp_sock(b, 2000);
    for (int i = 0; i < 6; i++) {
        uint8_t d = (uint8_t)i;
        assert_int_equal(us_udp_send(a->s, h, &d, 1, NP_IP_B, 2000), US_OK);
    }
    /* One request; 4 datagrams queued (arp_queue = 4), 2 dropped. */
    assert_int_equal(us_egress(a->s, 0, US_EGRESS_ALL), 1);
    assert_int_equal(st(a)->drop[US_DROP_ARP_QUEUE], 2);
    assert_int_equal(np_forward(a, b, 0), 1);
    assert_int_equal(np_forward(b, a, 0), 1); /* the reply: A flushes its queue */
    assert_int_equal(a->tx_n, 4);
    assert_int_equal(np_forward(a, b, 0), 4);
    for (int i = 0; i < 4; i++) {
        uint8_t d = 0xFF;
        assert_int_equal(us_udp_recv(b->s, hb, &d, 1, NULL, NULL), 1);
        assert_int_equal(d, i); /* in order */
    }
    assert_int_equal(us_udp_recv(b->s, hb, NULL, 0, NULL, NULL), US_EAGAIN);
    np_free(a);
    np_free(b);
}

static void test_arp_aging(void **state)
{
    (void)state;
    np_node *a = np_new_a();
    uint8_t f[64];
    uint32_t len = np_build_arp(f, np_mac_bcast, US_ARP_OP_REQUEST, np_mac_b, NP_IP_B, zero_mac,
                                NP_IP_A);
    np_inject(a, f, len, 0);
    np_tx_clear(a);
    const us_time age = us_stack_get_config(a->s)->arp_max_age;
    assert_int_equal(age, 300 * SEC);
    assert_int_equal(us_poll_at(a->s, 0), age);
    us_sock h = udp_sock(a, 1000);
    assert_int_equal(us_udp_send(a->s, h, "x", 1, NP_IP_B, 9), US_OK);
    assert_int_equal(us_egress(a->s, age - 1, US_EGRESS_ALL), 1);
    expect_ipv4_to(a, 0, np_mac_b);
    np_tx_clear(a);
    /* At max age the entry goes; the next datagram asks again. */
    assert_int_equal(us_egress(a->s, age, US_EGRESS_ALL), 0);
    assert_int_equal(us_poll_at(a->s, age), US_TIME_NEVER);
    assert_int_equal(us_udp_send(a->s, h, "x", 1, NP_IP_B, 9), US_OK);
    assert_int_equal(us_egress(a->s, age, US_EGRESS_ALL), 1);
    expect_arp(a, 0, np_mac_bcast, US_ARP_OP_REQUEST, zero_mac, NP_IP_B);
    np_tx_clear(a);
    /* A reply resolves it and refreshes the age from now. */
    len = np_build_arp(f, np_mac_a, US_ARP_OP_REPLY, np_mac_b, NP_IP_B, np_mac_a, NP_IP_A);
    np_inject(a, f, len, age + 5);
    assert_int_equal(a->tx_n, 1);
    expect_ipv4_to(a, 0, np_mac_b);
    assert_int_equal(us_poll_at(a->s, age + 5), age + 5 + age);
    np_free(a);
}

static void test_arp_static_entry(void **state)
{
    (void)state;
    us_stack_config c;
    np_config(&c, NP_IP_A, 1);
    c.arp_entries = 2;
    np_node *a = np_new(&c, 1500, 0);
    assert_int_equal(us_arp_add_static(a->s, NP_IP_B, np_mac_b), US_OK);
    assert_int_equal(us_arp_add_static(a->s, IP_C, mac_c), US_OK);
    assert_int_equal(us_arp_add_static(a->s, IP_D, mac_d), US_ENOMEM); /* full of static */
    assert_int_equal(us_arp_add_static(a->s, IP_C, mac_d), US_OK);    /* replace in place */
    assert_int_equal(us_poll_at(a->s, 0), US_TIME_NEVER);              /* static: no aging */
    /* The network cannot overwrite a static entry. */
    uint8_t f[64];
    uint32_t len = np_build_arp(f, np_mac_a, US_ARP_OP_REPLY, mac_c, NP_IP_B, np_mac_a, NP_IP_A);
    np_inject(a, f, len, 0);
    us_sock h = udp_sock(a, 1000);
    assert_int_equal(us_udp_send(a->s, h, "x", 1, NP_IP_B, 9), US_OK);
    assert_int_equal(us_udp_send(a->s, h, "y", 1, IP_C, 9), US_OK);
    assert_int_equal(us_egress(a->s, 3600 * SEC, US_EGRESS_ALL), 2);
    expect_ipv4_to(a, 0, np_mac_b);
    expect_ipv4_to(a, 1, mac_d);
    /* A lookup that needs an entry finds the table full of static ones: dropped, counted. */
    np_tx_clear(a);
    assert_int_equal(us_udp_send(a->s, h, "z", 1, IP_D, 9), US_OK);
    assert_int_equal(us_egress(a->s, 3600 * SEC, US_EGRESS_ALL), 0);
    assert_int_equal(st(a)->drop[US_DROP_ARP_QUEUE], 1);
    assert_int_equal(us_arp_add_static(a->s, 0, mac_d), US_EINVAL);
    assert_int_equal(us_arp_add_static(a->s, IP_D, np_mac_bcast), US_EINVAL);
    np_free(a);
}

static void test_arp_static_resolves_pending(void **state)
{
    (void)state;
    np_node *a = np_new_a();
    us_sock h = udp_sock(a, 1000);
    assert_int_equal(us_udp_send(a->s, h, "x", 1, NP_IP_B, 9), US_OK);
    us_egress(a->s, 0, US_EGRESS_ALL); /* request; the datagram waits */
    np_tx_clear(a);
    assert_int_equal(us_arp_add_static(a->s, NP_IP_B, np_mac_b), US_OK);
    assert_int_equal(a->tx_n, 1); /* the queue went out at once */
    expect_ipv4_to(a, 0, np_mac_b);
    np_free(a);
}

static void test_arp_gratuitous_announce(void **state)
{
    (void)state;
    np_node *a = np_new_a();
    us_set_egress_waker(a->s, np_count_wake, a);
    assert_int_equal(us_poll_at(a->s, 7), US_TIME_NEVER);
    us_arp_announce(a->s);
    assert_int_equal(a->wakes, 1);
    assert_int_equal(us_poll_at(a->s, 7), 7);
    assert_int_equal(a->tx_n, 0); /* sent on the next egress */
    assert_int_equal(us_egress(a->s, 7, US_EGRESS_READYLIST), 1);
    expect_arp(a, 0, np_mac_bcast, US_ARP_OP_REQUEST, zero_mac, NP_IP_A);
    assert_int_equal(us_poll_at(a->s, 7), US_TIME_NEVER);
    /* Our own announcement coming back is not learned or answered. */
    uint32_t len = a->tx_len[0];
    uint8_t f[64];
    memcpy(f, a->tx[0], len);
    np_tx_clear(a);
    assert_int_equal(np_inject(a, f, len, 8), US_INGRESS_PROCESSED | US_INGRESS_DROPPED);
    assert_int_equal(a->tx_n, 0);
    assert_int_equal(st(a)->drop[US_DROP_NOT_FOR_US], 1);
    np_free(a);
}

static void test_arp_gratuitous_received(void **state)
{
    (void)state;
    np_node *a = np_new_a();
    assert_int_equal(us_arp_add_static(a->s, IP_D, mac_d), US_OK);
    uint8_t f[64];
    uint32_t len = np_build_arp(f, np_mac_bcast, US_ARP_OP_REQUEST, np_mac_b, NP_IP_B, zero_mac,
                                NP_IP_A);
    np_inject(a, f, len, 0);
    np_tx_clear(a);
    /* B moves to mac_c and announces it: the existing entry is updated. */
    len = np_build_arp(f, np_mac_bcast, US_ARP_OP_REQUEST, mac_c, NP_IP_B, zero_mac, NP_IP_B);
    assert_int_equal(np_inject(a, f, len, 1), US_INGRESS_PROCESSED);
    assert_int_equal(a->tx_n, 0);
    /* An announcement of an address we do not know adds nothing. */
    len = np_build_arp(f, np_mac_bcast, US_ARP_OP_REQUEST, mac_c, IP_C, zero_mac, IP_C);
    assert_int_equal(np_inject(a, f, len, 1), US_INGRESS_PROCESSED | US_INGRESS_DROPPED);
    assert_int_equal(st(a)->drop[US_DROP_NOT_FOR_US], 1);
    us_sock h = udp_sock(a, 1000);
    assert_int_equal(us_udp_send(a->s, h, "x", 1, NP_IP_B, 9), US_OK);
    assert_int_equal(us_udp_send(a->s, h, "y", 1, IP_C, 9), US_OK);
    us_egress(a->s, 2, US_EGRESS_ALL);
    assert_int_equal(a->tx_n, 2);
    expect_ipv4_to(a, 0, mac_c);
    expect_arp(a, 1, np_mac_bcast, US_ARP_OP_REQUEST, zero_mac, IP_C);
    for (us_time t = 1; t <= 5; t++)
        us_egress(a->s, 2 + t * SEC, US_EGRESS_ALL);
    assert_int_equal(st(a)->drop[US_DROP_ARP_QUEUE], 1);
    np_free(a);
}

static void test_arp_evicts_oldest_resolved(void **state)
{
    (void)state;
    us_stack_config c;
    np_config(&c, NP_IP_A, 1);
    c.arp_entries = 2;
    np_node *a = np_new(&c, 1500, 0);
    uint8_t f[64];
    uint32_t len = np_build_arp(f, np_mac_bcast, US_ARP_OP_REQUEST, np_mac_b, NP_IP_B, zero_mac,
                                NP_IP_A);
    np_inject(a, f, len, 1);
    len = np_build_arp(f, np_mac_bcast, US_ARP_OP_REQUEST, mac_c, IP_C, zero_mac, NP_IP_A);
    np_inject(a, f, len, 2);
    np_tx_clear(a);
    us_sock h = udp_sock(a, 1000);
    /* D needs an entry: B (confirmed first) makes room. */
    assert_int_equal(us_udp_send(a->s, h, "d", 1, IP_D, 9), US_OK);
    assert_int_equal(us_udp_send(a->s, h, "c", 1, IP_C, 9), US_OK);
    assert_int_equal(us_udp_send(a->s, h, "b", 1, NP_IP_B, 9), US_OK);
    us_egress(a->s, 3, US_EGRESS_ALL);
    assert_int_equal(a->tx_n, 3);
    expect_arp(a, 0, np_mac_bcast, US_ARP_OP_REQUEST, zero_mac, IP_D);
    expect_ipv4_to(a, 1, mac_c);
    /* B's lookup then finds D pending and C resolved: C makes room (pending ones never go). */
    expect_arp(a, 2, np_mac_bcast, US_ARP_OP_REQUEST, zero_mac, NP_IP_B);
    assert_int_equal(st(a)->drop[US_DROP_ARP_QUEUE], 0);
    for (us_time t = 1; t <= 6; t++)
        us_egress(a->s, 3 + t * SEC, US_EGRESS_ALL);
    assert_int_equal(st(a)->drop[US_DROP_ARP_QUEUE], 2);
    np_free(a);
}

static void test_arp_refused_request_is_owed(void **state)
{
    (void)state;
    np_node *a = np_new_a();
    us_sock h = udp_sock(a, 1000);
    assert_int_equal(us_udp_send(a->s, h, "x", 1, NP_IP_B, 9), US_OK);
    a->refuse = 1;
    assert_int_equal(us_egress(a->s, 0, US_EGRESS_ALL), 0);
    assert_int_equal(st(a)->tx_alloc_fail, 1);
    assert_int_equal(us_poll_at(a->s, 0), 0); /* the request is owed */
    assert_int_equal(us_egress(a->s, 0, US_EGRESS_READYLIST), 1);
    expect_arp(a, 0, np_mac_bcast, US_ARP_OP_REQUEST, zero_mac, NP_IP_B);
    assert_int_equal(us_poll_at(a->s, 0), SEC);
    /* A refused reply to a request is simply not sent: the asker retries. */
    np_tx_clear(a);
    uint8_t f[64];
    uint32_t len = np_build_arp(f, np_mac_bcast, US_ARP_OP_REQUEST, mac_c, IP_C, zero_mac,
                                NP_IP_A);
    a->refuse = 1;
    assert_int_equal(np_inject(a, f, len, 0), US_INGRESS_PROCESSED);
    assert_int_equal(a->tx_n, 0);
    assert_int_equal(st(a)->tx_alloc_fail, 2);
    for (us_time t = 1; t <= 5; t++)
        us_egress(a->s, t * SEC, US_EGRESS_ALL);
    assert_int_equal(st(a)->drop[US_DROP_ARP_QUEUE], 1);
    np_free(a);
}

static void test_arp_malformed(void **state)
{
    (void)state;
    np_node *a = np_new_a();
    uint8_t f[64];
    uint32_t len = np_build_arp(f, np_mac_bcast, US_ARP_OP_REQUEST, np_mac_b, NP_IP_B, zero_mac,
                                NP_IP_A);
    /* Truncated: 20 bytes of ARP. */
    assert_int_equal(np_inject(a, f, 34, 0), US_INGRESS_PROCESSED | US_INGRESS_DROPPED);
    assert_int_equal(st(a)->drop_wire[US_WIRE_TRUNCATED], 1);
    /* Hardware type 6 (IEEE 802). */
    uint8_t g[64];
    memcpy(g, f, len);
    us_put_be16(g + 14, 6);
    assert_int_equal(np_inject(a, g, len, 0), US_INGRESS_PROCESSED | US_INGRESS_DROPPED);
    assert_int_equal(st(a)->drop_wire[US_WIRE_UNSUPPORTED], 1);
    /* Operation 3 (RARP request). */
    memcpy(g, f, len);
    us_put_be16(g + 20, 3);
    assert_int_equal(np_inject(a, g, len, 0), US_INGRESS_PROCESSED | US_INGRESS_DROPPED);
    assert_int_equal(st(a)->drop_wire[US_WIRE_UNSUPPORTED], 2);
    assert_int_equal(a->tx_n, 0);
    assert_int_equal(st(a)->frames_rx, 3);
    /* Nothing else changed: no drop of another kind, nothing learned. */
    uint64_t other = 0;
    for (int i = 0; i < US_DROP_COUNT; i++)
        other += st(a)->drop[i];
    assert_int_equal(other, 0);
    assert_int_equal(us_poll_at(a->s, 0), US_TIME_NEVER);
    np_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_arp_request_for_us_replied),
        cmocka_unit_test(test_arp_request_for_other_ignored),
        cmocka_unit_test(test_arp_resolve_then_send_queued),
        cmocka_unit_test(test_arp_retry_then_failure),
        cmocka_unit_test(test_arp_queue_limit),
        cmocka_unit_test(test_arp_aging),
        cmocka_unit_test(test_arp_static_entry),
        cmocka_unit_test(test_arp_static_resolves_pending),
        cmocka_unit_test(test_arp_gratuitous_announce),
        cmocka_unit_test(test_arp_gratuitous_received),
        cmocka_unit_test(test_arp_evicts_oldest_resolved),
        cmocka_unit_test(test_arp_refused_request_is_owed),
        cmocka_unit_test(test_arp_malformed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
