/* The stack instance (defaults, validation, layout, getters, names, seeded numbers) and TCP
 * through two stacks wired back to back: connect / accept / transfer / close, RST for a closed
 * port, listener backlog and slot limits, device refusals, pool exhaustion in the middle of a
 * transfer, the out-of-order reclaim path, release and abort, and ready-list egress. */
#include <stdlib.h>
#include <string.h>

#include "netpair.h"
#include "stack_internal.h"
#include "ustack/wire/bytes.h"
#include "ustack/wire/checksum.h"
#include "ustack/wire/tcp.h"
#include "wire/frames.h"

#define MS 1000000ull
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

/* ---- the instance ---- */

static void test_stack_config_default_values(void **state)
{
    (void)state;
    us_stack_config c;
    memset(&c, 0xAB, sizeof(c));
    us_stack_config_default(&c);
    static const uint8_t mac[6] = {0x02, 0, 0, 0, 0, 0x01};
    assert_memory_equal(c.mac, mac, 6);
    assert_int_equal(c.ipv4_addr, 0x0A000001u);
    assert_int_equal(c.ipv4_netmask, 0xFFFFFF00u);
    assert_int_equal(c.ipv4_gateway, 0);
    assert_int_equal(c.bufs.pbuf_pool_count, 32);
    assert_int_equal(c.bufs.pbuf_pool_bufsize, 1536);
    assert_int_equal(c.bufs.pbuf_count, 32);
    assert_int_equal(c.bufs.heap_size, 65536);
    assert_int_equal(c.udp_sockets, 8);
    assert_int_equal(c.tcp_sockets, 8);
    assert_int_equal(c.udp_rx_buf, 8192);
    assert_int_equal(c.udp_tx_buf, 8192);
    assert_int_equal(c.tcp_rx_buf, 65536);
    assert_int_equal(c.tcp_tx_buf, 65536);
    assert_int_equal(c.arp_entries, 16);
    assert_int_equal(c.arp_queue, 4);
    assert_int_equal(c.arp_max_age, 300 * SEC);
    assert_int_equal(c.arp_retry, 1 * SEC);
    assert_int_equal(c.arp_max_retries, 5);
    assert_int_equal(c.reass_max_bytes, 16384);
    assert_int_equal(c.reass_slots, 4);
    assert_int_equal(c.reass_timeout, 15 * SEC);
    assert_int_equal(c.tcp_mss, 0);
    assert_int_equal(c.tcp_ooseq_max, 64);
    assert_int_equal(c.tcp_time_wait, 60 * SEC);
    assert_int_equal(c.tcp_fin_wait2_timeout, 60 * SEC);
    assert_int_equal(c.tcp_delayed_ack, 40 * MS);
    assert_int_equal(c.tcp_rto_initial, 1 * SEC);
    assert_int_equal(c.tcp_rto_min, 200 * MS);
    assert_int_equal(c.tcp_rto_max, 60 * SEC);
    assert_int_equal(c.tcp_max_retries, 12);
    assert_int_equal(c.seed, 0);
}

static uint8_t *never_acquire(void *ctx, uint32_t len)
{
    (void)ctx;
    (void)len;
    return NULL;
}

static void never_commit(void *ctx, uint8_t *buf, uint32_t len)
{
    (void)ctx;
    (void)buf;
    (void)len;
    fail_msg("commit without a buffer");
}

static us_dev plain_dev(void)
{
    us_dev d;
    memset(&d, 0, sizeof(d));
    d.mtu = 1500;
    d.tx_acquire = never_acquire;
    d.tx_commit = never_commit;
    return d; /* rx NULL: the host calls us_ingress itself */
}

static void expect_invalid(const us_stack_config *c, const us_dev *d, int size_ok)
{
    size_t need = us_stack_mem_size(c);
    if (!size_ok) {
        assert_int_equal(need, 0);
        need = 1u << 20;
    }
    void *mem = malloc(need);
    us_status s = US_OK;
    assert_null(us_stack_init(mem, need, c, d, &s));
    assert_int_equal(s, US_EINVAL);
    free(mem);
}

static void test_stack_init_validation(void **state)
{
    (void)state;
    us_stack_config c;
    us_stack_config_default(&c);
    us_dev d = plain_dev();
    size_t need = us_stack_mem_size(&c);
    assert_true(need > 0);
    assert_int_equal(us_stack_mem_size(NULL), 0);

    /* Exactly mem_size works, at any alignment; one byte less does not. */
    uint8_t *mem = malloc(need + 1);
    us_status s = US_EINVAL;
    us_stack *st1 = us_stack_init(mem + 1, need, &c, &d, &s);
    assert_non_null(st1);
    assert_int_equal(s, US_OK);
    assert_true(((uintptr_t)st1 & 15u) == 0);
    assert_true(us_bufs_all_free(us_stack_bufs(st1)));
    assert_null(us_stack_init(mem, need - 1, &c, &d, NULL));
    assert_null(us_stack_init(NULL, need, &c, &d, &s));
    assert_null(us_stack_init(mem, need, NULL, &d, &s));
    assert_null(us_stack_init(mem, need, &c, NULL, &s));
    free(mem);

    us_stack_config b;
#define BAD(stmt)                                                                                  \
    do {                                                                                           \
        b = c;                                                                                     \
        stmt;                                                                                      \
        expect_invalid(&b, &d, 0);                                                                 \
    } while (0)
    BAD(b.ipv4_addr = 0);
    BAD(b.ipv4_netmask = 0xFF00FF00u);
    BAD(b.mac[0] = 0x01);
    BAD(b.bufs.pbuf_pool_count = 0);
    BAD(b.udp_rx_buf = 8);
    BAD(b.tcp_tx_buf = 0);
    BAD(b.arp_entries = 0);
    BAD(b.arp_retry = 0);
    BAD(b.arp_max_retries = 0);
    BAD(b.reass_max_bytes = 0);
    BAD(b.reass_timeout = 0);
    BAD(b.tcp_rto_min = 2 * SEC);
    BAD(b.tcp_rto_initial = 100 * SEC);
    BAD(b.tcp_max_retries = 0);
    BAD(b.tcp_mss = 10);
#undef BAD
    /* Zero sockets, no reassembly: valid. */
    b = c;
    b.udp_sockets = 0;
    b.tcp_sockets = 0;
    b.reass_slots = 0;
    assert_true(us_stack_mem_size(&b) > 0);

    /* Device checks happen at init. */
    us_dev e = d;
    e.tx_acquire = NULL;
    expect_invalid(&c, &e, 1);
    e = d;
    e.tx_commit = NULL;
    expect_invalid(&c, &e, 1);
    e = d;
    e.mtu = 67;
    expect_invalid(&c, &e, 1);
    b = c;
    b.tcp_mss = 1461; /* 1461 + 40 > 1500 */
    expect_invalid(&b, &d, 1);
}

static void test_stack_getters_and_names(void **state)
{
    (void)state;
    np_node *a = np_new_a();
    const us_stack_config *c = us_stack_get_config(a->s);
    assert_int_equal(c->ipv4_addr, NP_IP_A);
    assert_memory_equal(c->mac, np_mac_a, 6);
    us_bufs *b = us_stack_bufs(a->s);
    assert_int_equal(b->pools[US_POOL_PBUF_POOL].count, 32);
    assert_non_null(b->pools[US_POOL_PBUF_POOL].reclaim); /* TCP out-of-order reclaim */
    const us_stack_stats *s = st(a);
    assert_int_equal(s->frames_rx + s->frames_tx + s->socket_visits, 0);
    assert_string_equal(us_drop_name(US_DROP_NOT_FOR_US), "not_for_us");
    assert_string_equal(us_drop_name(US_DROP_REASS_OVERLAP), "reass_overlap");
    assert_string_equal(us_drop_name(US_DROP_TX_UDP), "tx_udp");
    assert_string_equal(us_drop_name((us_drop_reason)US_DROP_COUNT), "?");
    assert_string_equal(us_tcp_state_name(US_TCP_TIME_WAIT), "TIME_WAIT");
    assert_string_equal(us_tcp_state_name(US_TCP_SYN_RCVD), "SYN_RCVD");
    assert_string_equal(us_tcp_state_name((us_tcp_state)99), "?");
    /* TCP's MSS from the MTU (1500 - 40). */
    assert_int_equal(a->s->tcp_params.mss, 1460);
    np_free(a);
}

/* ---- TCP between two stacks ---- */

static us_sock listen_on(np_node *a, uint16_t port, uint32_t backlog)
{
    us_sock l = us_tcp_open(a->s);
    assert_true(l >= 0);
    assert_int_equal(us_tcp_listen(a->s, l, port, backlog), US_OK);
    assert_int_equal(us_tcp_get_state(a->s, l), US_TCP_LISTEN);
    return l;
}

static us_sock connect_to(np_node *b, uint32_t ip, uint16_t port, us_time now)
{
    us_sock h = us_tcp_open(b->s);
    assert_true(h >= 0);
    assert_int_equal(us_tcp_connect(b->s, h, ip, port, 0, now), US_OK);
    assert_int_equal(us_tcp_get_state(b->s, h), US_TCP_SYN_SENT);
    return h;
}

/* Let time pass in steps, exchanging frames at each. */
static void settle(np_node *a, np_node *b, us_time *now, us_time step, int steps)
{
    for (int i = 0; i < steps; i++) {
        *now += step;
        np_exchange(a, b, *now);
    }
}

/* An established pair: a listens on 80, b connects. *ha / *hb the two ends; returns the
 * listener. */
static us_sock establish(np_node *a, np_node *b, us_sock *ha, us_sock *hb, us_time now)
{
    us_sock l = listen_on(a, 80, 4);
    *hb = connect_to(b, NP_IP_A, 80, now);
    np_exchange(a, b, now);
    assert_int_equal(us_tcp_get_state(b->s, *hb), US_TCP_ESTABLISHED);
    *ha = us_tcp_accept(a->s, l);
    assert_true(*ha >= 0);
    assert_int_equal(us_tcp_get_state(a->s, *ha), US_TCP_ESTABLISHED);
    return l;
}

/* Move len bytes from (from, hs) to (to, hr), driving both stacks; checks them exactly. */
static void transfer(np_node *from, us_sock hs, np_node *to, us_sock hr, const uint8_t *data,
                     uint32_t len, us_time *now)
{
    static uint8_t got[1 << 20];
    assert_true(len <= sizeof(got));
    uint32_t sent = 0, recvd = 0;
    for (int round = 0; round < 200000 && recvd < len; round++) {
        if (sent < len) {
            int32_t n = us_tcp_send(from->s, hs, data + sent, len - sent);
            assert_true(n >= 0);
            sent += (uint32_t)n;
        }
        np_exchange(from, to, *now);
        for (;;) {
            int32_t n = us_tcp_recv(to->s, hr, got + recvd, len - recvd);
            if (n == US_EAGAIN || n == 0)
                break;
            assert_true(n > 0);
            recvd += (uint32_t)n;
        }
        *now += 1 * MS;
    }
    assert_int_equal(recvd, len);
    assert_memory_equal(got, data, len);
}

static uint8_t *pattern(uint32_t len, uint32_t seed)
{
    uint8_t *d = malloc(len);
    assert_non_null(d);
    us_test_rng r = {seed};
    for (uint32_t i = 0; i < len; i++)
        d[i] = (uint8_t)us_test_rand(&r);
    return d;
}

static uint32_t slot_of(np_node *n, us_sock h)
{
    return (uint32_t)h - n->s->udp_n;
}

static int listener_wakes;
static void on_listener(void *ctx)
{
    (void)ctx;
    listener_wakes++;
}

static void test_stack_tcp_connect_transfer_close(void **state)
{
    (void)state;
    np_node *a = np_new_a(), *b = np_new_b();
    us_time now = 0;
    us_sock l = listen_on(a, 80, 4);
    listener_wakes = 0;
    us_sock_set_rx_waker(a->s, l, on_listener, NULL);
    us_sock hb = connect_to(b, NP_IP_A, 80, now);
    assert_int_equal(us_tcp_accept(a->s, l), US_EAGAIN);
    /* ARP first (B does not know A), then the handshake, all at t = 0: no timer involved. */
    np_exchange(a, b, now);
    assert_int_equal(us_tcp_get_state(b->s, hb), US_TCP_ESTABLISHED);
    assert_int_equal(listener_wakes, 1);
    us_sock ha = us_tcp_accept(a->s, l);
    assert_true(ha >= 0);
    assert_int_equal(us_tcp_accept(a->s, l), US_EAGAIN);
    us_tcp_info ia, ib;
    assert_int_equal(us_tcp_get_info(a->s, ha, &ia), US_OK);
    assert_int_equal(us_tcp_get_info(b->s, hb, &ib), US_OK);
    assert_int_equal(ia.state, US_TCP_ESTABLISHED);
    assert_int_equal(ia.snd_nxt, ib.rcv_nxt);
    assert_int_equal(ib.snd_nxt, ia.rcv_nxt);
    assert_int_equal(ia.mss, 1460);

    uint8_t *up = pattern(200000, 1), *down = pattern(5000, 2);
    transfer(b, hb, a, ha, up, 200000, &now);
    transfer(a, ha, b, hb, down, 5000, &now);

    /* B closes: A reads the end of the stream, closes; B lingers in TIME_WAIT. */
    assert_int_equal(us_tcp_close(b->s, hb), US_OK);
    assert_int_equal(us_tcp_send(b->s, hb, "x", 1), US_EINVAL);
    settle(a, b, &now, MS, 50);
    assert_int_equal(us_tcp_get_state(a->s, ha), US_TCP_CLOSE_WAIT);
    uint8_t buf[16];
    assert_int_equal(us_tcp_recv(a->s, ha, buf, sizeof(buf)), 0);
    assert_int_equal(us_tcp_close(a->s, ha), US_OK);
    settle(a, b, &now, MS, 50);
    assert_int_equal(us_tcp_get_state(a->s, ha), US_TCP_CLOSED);
    assert_int_equal(us_tcp_get_state(b->s, hb), US_TCP_TIME_WAIT);
    assert_int_equal(us_tcp_recv(a->s, ha, buf, sizeof(buf)), 0);
    assert_int_equal(us_tcp_recv(b->s, hb, buf, sizeof(buf)), 0);

    /* Released: A's slot goes at once; B's when TIME_WAIT ends (60 s). */
    uint32_t sa = slot_of(a, ha), sb = slot_of(b, hb);
    assert_int_equal(us_tcp_release(a->s, ha), US_OK);
    assert_false(a->s->tcp[sa].in_use);
    assert_int_equal(us_tcp_release(b->s, hb), US_OK);
    assert_true(b->s->tcp[sb].in_use);
    us_time tw = us_poll_at(b->s, now);
    assert_true(tw > now && tw <= now + 60 * SEC);
    us_egress(b->s, tw, US_EGRESS_ALL);
    assert_false(b->s->tcp[sb].in_use);
    assert_int_equal(us_tcp_get_state(b->s, hb), US_TCP_CLOSED); /* a stale handle */
    assert_int_equal(us_tcp_release(b->s, hb), US_EINVAL);
    assert_int_equal(us_tcp_release(a->s, l), US_OK);
    assert_int_equal(all_drops(a) + all_drops(b), 0);
    free(up);
    free(down);
    np_free(a);
    np_free(b);
}

static void test_stack_tcp_rst_for_closed_port(void **state)
{
    (void)state;
    np_node *a = np_new_a(), *b = np_new_b();
    us_sock hb = connect_to(b, NP_IP_A, 81, 0);
    np_exchange(a, b, 0);
    assert_int_equal(st(a)->drop[US_DROP_NO_SOCKET], 1);
    assert_int_equal(us_tcp_get_state(b->s, hb), US_TCP_CLOSED);
    uint8_t buf[4];
    assert_int_equal(us_tcp_recv(b->s, hb, buf, sizeof(buf)), US_EINVAL);
    assert_int_equal(us_tcp_send(b->s, hb, buf, sizeof(buf)), US_EINVAL);
    /* A RST to a closed port is not answered. */
    uint8_t seg[20], f[64];
    memset(seg, 0, sizeof(seg));
    us_put_be16(seg, 5000);
    us_put_be16(seg + 2, 81);
    us_put_be32(seg + 4, 77);
    seg[12] = 0x50;
    seg[13] = US_TCP_RST;
    uint32_t sum = us_csum_pseudo_ipv4(NP_IP_B, NP_IP_A, US_IP_PROTO_TCP, 20);
    us_put_be16(seg + 16, us_csum_finish(us_csum_partial(seg, 20, sum)));
    us_ipv4_repr ip = np_ip(NP_IP_B, NP_IP_A, US_IP_PROTO_TCP, 1, 20);
    uint32_t len = np_build_ip(f, np_mac_a, np_mac_b, &ip, seg, 20);
    assert_int_equal(np_inject(a, f, len, 0), US_INGRESS_PROCESSED | US_INGRESS_DROPPED);
    assert_int_equal(st(a)->drop[US_DROP_NO_SOCKET], 2);
    assert_int_equal(a->tx_n, 0);
    assert_int_equal(us_tcp_release(b->s, hb), US_OK);
    np_free(a);
    np_free(b);
}

static void test_stack_tcp_backlog_full(void **state)
{
    (void)state;
    np_node *a = np_new_a(), *b = np_new_b();
    us_time now = 0;
    us_sock l = listen_on(a, 80, 1);
    us_sock h1 = connect_to(b, NP_IP_A, 80, now);
    us_sock h2 = connect_to(b, NP_IP_A, 80, now);
    np_exchange(a, b, now);
    assert_int_equal(us_tcp_get_state(b->s, h1), US_TCP_ESTABLISHED);
    assert_int_equal(us_tcp_get_state(b->s, h2), US_TCP_SYN_SENT);
    assert_int_equal(st(a)->drop[US_DROP_SOCKET_FULL], 1);
    us_sock a1 = us_tcp_accept(a->s, l);
    assert_true(a1 >= 0);
    /* B's SYN is retransmitted after the initial RTO (1 s): now there is room. */
    assert_int_equal(us_poll_at(b->s, now), 1 * SEC);
    now = 1 * SEC;
    np_exchange(a, b, now);
    assert_int_equal(us_tcp_get_state(b->s, h2), US_TCP_ESTABLISHED);
    us_sock a2 = us_tcp_accept(a->s, l);
    assert_true(a2 >= 0 && a2 != a1);
    assert_int_equal(st(b)->tcp_retransmits, 1);
    /* Abort everything: RSTs go out, every slot comes back. */
    assert_int_equal(us_tcp_abort(a->s, a1, now), US_OK);
    assert_int_equal(us_tcp_abort(a->s, a2, now), US_OK);
    np_exchange(a, b, now);
    assert_int_equal(us_tcp_get_state(b->s, h1), US_TCP_CLOSED);
    assert_int_equal(us_tcp_get_state(b->s, h2), US_TCP_CLOSED);
    assert_int_equal(us_tcp_recv(b->s, h1, NULL, 0), US_EINVAL);
    us_tcp_release(a->s, a1);
    us_tcp_release(a->s, a2);
    us_tcp_release(a->s, l);
    us_tcp_release(b->s, h1);
    us_tcp_release(b->s, h2);
    for (uint32_t i = 0; i < a->s->tcp_n; i++)
        assert_false(a->s->tcp[i].in_use);
    for (uint32_t i = 0; i < b->s->tcp_n; i++)
        assert_false(b->s->tcp[i].in_use);
    np_free(a);
    np_free(b);
}

static void test_stack_tcp_no_free_slot(void **state)
{
    (void)state;
    us_stack_config c;
    np_config(&c, NP_IP_A, 1);
    c.tcp_sockets = 2;
    np_node *a = np_new(&c, 1500, 0), *b = np_new_b();
    us_sock l = listen_on(a, 80, 8);
    us_sock h1 = connect_to(b, NP_IP_A, 80, 0);
    us_sock h2 = connect_to(b, NP_IP_A, 80, 0);
    np_exchange(a, b, 0);
    assert_int_equal(us_tcp_get_state(b->s, h1), US_TCP_ESTABLISHED);
    assert_int_equal(us_tcp_get_state(b->s, h2), US_TCP_SYN_SENT);
    assert_int_equal(st(a)->drop[US_DROP_NO_SOCKET], 1);
    assert_int_equal(us_tcp_open(a->s), US_ENOMEM);
    /* Closing the listener aborts the connection not yet accepted and frees its slot. */
    assert_int_equal(us_tcp_close(a->s, l), US_OK);
    np_exchange(a, b, 0);
    assert_int_equal(us_tcp_get_state(b->s, h1), US_TCP_CLOSED);
    assert_int_equal(us_tcp_release(a->s, l), US_OK);
    for (uint32_t i = 0; i < a->s->tcp_n; i++)
        assert_false(a->s->tcp[i].in_use);
    /* B's second SYN now meets no listener at all: RST. */
    np_exchange(a, b, 1 * SEC);
    assert_int_equal(us_tcp_get_state(b->s, h2), US_TCP_CLOSED);
    us_tcp_release(b->s, h1);
    us_tcp_release(b->s, h2);
    np_free(a);
    np_free(b);
}

static void test_stack_tcp_tx_refused_goes_later(void **state)
{
    (void)state;
    np_node *a = np_new_a(), *b = np_new_b();
    us_sock ha, hb;
    us_sock l = establish(a, b, &ha, &hb, 0);
    uint8_t *d = pattern(1000, 3);
    assert_int_equal(us_tcp_send(a->s, ha, d, 1000), 1000);
    assert_int_equal(us_tcp_send_space(a->s, ha), 65536 - 1000);
    a->refuse = 1;
    assert_int_equal(us_egress(a->s, 0, US_EGRESS_ALL), 0);
    assert_int_equal(st(a)->tx_alloc_fail, 1);
    assert_int_equal(us_poll_at(a->s, 0), 0); /* still ready */
    assert_int_equal(us_egress(a->s, 0, US_EGRESS_READYLIST), 1);
    assert_int_equal(a->tx_len[0], 14 + 20 + 20 + 1000);
    assert_memory_equal(a->tx[0] + 54, d, 1000);
    assert_int_equal(np_forward(a, b, 0), 1);
    uint8_t got[1000];
    assert_int_equal(us_tcp_recv_queue(b->s, hb), 1000);
    assert_int_equal(us_tcp_recv(b->s, hb, got, sizeof(got)), 1000);
    assert_memory_equal(got, d, 1000);
    us_tcp_abort(a->s, ha, 0);
    np_exchange(a, b, 0);
    us_tcp_release(a->s, ha);
    us_tcp_release(a->s, l);
    us_tcp_release(b->s, hb);
    free(d);
    np_free(a);
    np_free(b);
}

static void test_stack_tcp_pool_exhaustion_recovers(void **state)
{
    (void)state;
    us_stack_config c;
    np_config(&c, NP_IP_A, 1);
    c.bufs.pbuf_pool_count = 6;
    np_node *a = np_new(&c, 1500, 0), *b = np_new_b();
    us_time now = 0;
    us_sock ha, hb;
    us_sock l = establish(a, b, &ha, &hb, now);
    uint8_t *d = pattern(100000, 4);
    transfer(b, hb, a, ha, d, 20000, &now);
    /* Take every free block of A's receive pool: the next frames find none (dropped by the NIC
     * model) until they come back. */
    us_bufs *bufs = us_stack_bufs(a->s);
    us_pbuf *held[8];
    uint32_t nheld = 0;
    while ((held[nheld] = us_pbuf_alloc(bufs, US_PBUF_RAW, 100, US_PBUF_POOL)) != NULL)
        nheld++;
    assert_int_equal(nheld, 6);
    assert_int_equal(us_tcp_send(b->s, hb, d + 20000, 30000), 30000);
    settle(a, b, &now, 10 * MS, 50);
    assert_true(a->rx_nobuf > 0);
    assert_int_equal(us_tcp_recv_queue(a->s, ha), 0);
    for (uint32_t i = 0; i < nheld; i++)
        us_pbuf_free(held[i]);
    /* Retransmissions carry it through. */
    uint8_t *got = malloc(30000);
    uint32_t recvd = 0;
    for (int i = 0; i < 5000 && recvd < 30000; i++) {
        now += 10 * MS;
        np_exchange(a, b, now);
        int32_t n = us_tcp_recv(a->s, ha, got + recvd, 30000 - recvd);
        if (n > 0)
            recvd += (uint32_t)n;
    }
    assert_int_equal(recvd, 30000);
    assert_memory_equal(got, d + 20000, 30000);
    assert_true(st(b)->tcp_retransmits > 0);
    assert_true(st(b)->tcp_timeouts > 0);
    transfer(b, hb, a, ha, d + 50000, 50000, &now);
    us_tcp_abort(b->s, hb, now);
    np_exchange(a, b, now);
    us_tcp_release(a->s, ha);
    us_tcp_release(b->s, hb);
    us_tcp_release(a->s, l);
    free(got);
    free(d);
    np_free(a);
    np_free(b);
}

/* TCP payload length of an IPv4/TCP frame, 0 for anything else. */
static uint32_t tcp_payload(const uint8_t *f, uint32_t len)
{
    if (len < 54 || us_get_be16(f + 12) != 0x0800 || f[23] != US_IP_PROTO_TCP)
        return 0;
    uint32_t total = us_get_be16(f + 16), ihl = (f[14] & 0x0Fu) * 4u;
    uint32_t doff = (f[14 + ihl + 12] >> 4) * 4u;
    return total - ihl - doff;
}

static void test_stack_tcp_ooseq_reclaim(void **state)
{
    (void)state;
    np_node *a = np_new_a(), *b = np_new_b();
    us_time now = 0;
    us_sock ha, hb;
    us_sock l = establish(a, b, &ha, &hb, now);
    const uint32_t total = 4 * 1460;
    uint8_t *d = pattern(total, 5);
    /* B sends what its initial window allows (RFC 5681: 3 segments of 1460, 4 with a larger
     * initial window); the first is lost on the way, the others wait out of order at A. */
    assert_int_equal(us_tcp_send(b->s, hb, d, total), total);
    uint32_t sent = us_egress(b->s, now, US_EGRESS_ALL);
    assert_true(sent == 3 || sent == 4);
    const uint32_t held_segs = sent - 1;
    assert_int_equal(tcp_payload(b->tx[0], b->tx_len[0]), 1460);
    np_tx_remove(b, 0);
    assert_int_equal(np_forward(b, a, now), held_segs);
    us_tcp_info ia;
    assert_int_equal(us_tcp_get_info(a->s, ha, &ia), US_OK);
    assert_int_equal(ia.ooseq_segs, held_segs);
    assert_int_equal(us_tcp_recv_queue(a->s, ha), 0);
    us_bufs *bufs = us_stack_bufs(a->s);
    assert_int_equal(bufs->pools[US_POOL_PBUF_POOL].stats.used, held_segs);
    /* Someone takes the pool dry: the reclaim gives the held segments back. */
    us_pbuf *held[40];
    uint32_t nheld = 0;
    while (nheld < 40 &&
           (held[nheld] = us_pbuf_alloc(bufs, US_PBUF_RAW, 10, US_PBUF_POOL)) != NULL)
        nheld++;
    assert_int_equal(nheld, 32);
    assert_int_equal(st(a)->tcp_ooseq_reclaimed, held_segs);
    assert_int_equal(us_tcp_get_info(a->s, ha, &ia), US_OK);
    assert_int_equal(ia.ooseq_segs, 0);
    /* Reclaimed when the pool first ran dry, and once more by the get that found it dry again. */
    assert_int_equal(bufs->pools[US_POOL_PBUF_POOL].reclaims, 2);
    for (uint32_t i = 0; i < nheld; i++)
        us_pbuf_free(held[i]);
    /* B retransmits (dup ACKs / RTO); everything arrives in order. */
    np_exchange(a, b, now);
    uint8_t *got = malloc(total);
    uint32_t recvd = 0;
    for (int i = 0; i < 3000 && recvd < total; i++) {
        int32_t n = us_tcp_recv(a->s, ha, got + recvd, total - recvd);
        if (n > 0)
            recvd += (uint32_t)n;
        now += 10 * MS;
        np_exchange(a, b, now);
    }
    assert_int_equal(recvd, total);
    assert_memory_equal(got, d, total);
    us_tcp_abort(a->s, ha, now);
    np_exchange(a, b, now);
    us_tcp_release(a->s, ha);
    us_tcp_release(b->s, hb);
    us_tcp_release(a->s, l);
    free(got);
    free(d);
    np_free(a);
    np_free(b);
}

static void test_stack_tcp_release_closes_in_background(void **state)
{
    (void)state;
    np_node *a = np_new_a(), *b = np_new_b();
    us_time now = 0;
    us_sock ha, hb;
    us_sock l = establish(a, b, &ha, &hb, now);
    uint32_t sa = slot_of(a, ha);
    assert_int_equal(us_tcp_send(a->s, ha, "bye", 3), 3);
    assert_int_equal(us_tcp_release(a->s, ha), US_OK);
    assert_int_equal(us_tcp_send(a->s, ha, "x", 1), US_EINVAL); /* the handle is gone */
    settle(a, b, &now, MS, 50);
    uint8_t buf[8];
    assert_int_equal(us_tcp_recv(b->s, hb, buf, sizeof(buf)), 3);
    assert_int_equal(us_tcp_recv(b->s, hb, buf, sizeof(buf)), 0);
    assert_int_equal(us_tcp_get_state(b->s, hb), US_TCP_CLOSE_WAIT);
    /* Data to a released socket is read by nobody: discarded, the window stays open. */
    static uint8_t junk[100000];
    uint32_t sent = 0;
    for (int i = 0; i < 400 && sent < sizeof(junk); i++) {
        int32_t n = us_tcp_send(b->s, hb, junk + sent, sizeof(junk) - sent);
        assert_true(n >= 0);
        sent += (uint32_t)n;
        now += MS;
        np_exchange(a, b, now);
    }
    assert_int_equal(sent, sizeof(junk));
    assert_int_equal(us_tcp_close(b->s, hb), US_OK);
    settle(a, b, &now, MS, 100);
    assert_int_equal(us_tcp_get_state(b->s, hb), US_TCP_CLOSED);
    assert_true(a->s->tcp[sa].in_use); /* TIME_WAIT */
    us_egress(a->s, now + 60 * SEC, US_EGRESS_ALL);
    assert_false(a->s->tcp[sa].in_use);
    us_tcp_release(b->s, hb);
    us_tcp_release(a->s, l);
    np_free(a);
    np_free(b);
}

/* Egress through the ready list only: each stack's egress runs when its waker fired. */
typedef struct flag {
    int set;
} flag;

static void raise_flag(void *ctx)
{
    ((flag *)ctx)->set = 1;
}

static void test_stack_tcp_readylist_transfer(void **state)
{
    (void)state;
    np_node *a = np_new_a(), *b = np_new_b();
    us_time now = 0;
    flag fa = {0}, fb = {0};
    us_sock l = listen_on(a, 80, 4);
    us_set_egress_waker(b->s, raise_flag, &fb);
    us_sock hb = connect_to(b, NP_IP_A, 80, now);
    assert_int_equal(fb.set, 1);
    uint8_t *d = pattern(150000, 6);
    uint8_t *got = malloc(150000);
    uint32_t sent = 0, recvd = 0;
    us_sock ha = US_EAGAIN;
    for (int round = 0; round < 100000 && recvd < 150000; round++) {
        int moved = 0;
        /* A scheduler that egresses a stack when it asked, or when its deadline came. */
        if (fa.set || us_poll_at(a->s, now) <= now) {
            fa.set = 0;
            us_set_egress_waker(a->s, raise_flag, &fa);
            us_egress(a->s, now, US_EGRESS_READYLIST);
        }
        if (fb.set || us_poll_at(b->s, now) <= now) {
            fb.set = 0;
            us_set_egress_waker(b->s, raise_flag, &fb);
            us_egress(b->s, now, US_EGRESS_READYLIST);
        }
        moved += (int)np_forward(a, b, now);
        moved += (int)np_forward(b, a, now);
        if (ha < 0)
            ha = us_tcp_accept(a->s, l);
        if (us_tcp_get_state(b->s, hb) == US_TCP_ESTABLISHED && sent < 150000) {
            int32_t n = us_tcp_send(b->s, hb, d + sent, 150000 - sent);
            if (n > 0)
                sent += (uint32_t)n;
        }
        if (ha >= 0) {
            int32_t n = us_tcp_recv(a->s, ha, got + recvd, 150000 - recvd);
            if (n > 0)
                recvd += (uint32_t)n;
        }
        if (!moved && !fa.set && !fb.set)
            now += MS;
    }
    assert_int_equal(recvd, 150000);
    assert_memory_equal(got, d, 150000);
    /* Ready-list egress only ever visited the one socket that had something to send. */
    assert_true(st(b)->socket_visits <= st(b)->frames_tx + st(b)->egress_calls);
    us_tcp_abort(b->s, hb, now);
    np_exchange(a, b, now);
    us_tcp_release(a->s, ha);
    us_tcp_release(b->s, hb);
    us_tcp_release(a->s, l);
    free(got);
    free(d);
    np_free(a);
    np_free(b);
}

static void test_stack_seed_gives_same_numbers(void **state)
{
    (void)state;
    uint32_t iss[3];
    uint16_t port[3];
    static const uint64_t seeds[3] = {7, 7, 8};
    for (int k = 0; k < 3; k++) {
        us_stack_config c;
        np_config(&c, NP_IP_B, 2);
        c.seed = seeds[k];
        np_node *b = np_new(&c, 1500, 0);
        assert_int_equal(us_arp_add_static(b->s, NP_IP_A, np_mac_a), US_OK);
        us_sock h = connect_to(b, NP_IP_A, 80, 0);
        assert_int_equal(us_egress(b->s, 0, US_EGRESS_ALL), 1);
        us_tcp_repr syn;
        assert_int_equal(us_tcp_parse(&syn, b->tx[0] + 34, b->tx_len[0] - 34, NP_IP_B, NP_IP_A, 0),
                         US_WIRE_OK);
        assert_int_equal(syn.flags, US_TCP_SYN);
        iss[k] = syn.seq;
        port[k] = syn.src_port;
        assert_true(port[k] >= 49152);
        us_tcp_release(b->s, h);
        np_free(b);
    }
    assert_int_equal(iss[0], iss[1]);
    assert_int_equal(port[0], port[1]);
    assert_true(iss[0] != iss[2] || port[0] != port[2]);
}

static void test_stack_tcp_api_errors(void **state)
{
    (void)state;
    np_node *a = np_new_a();
    us_sock h = us_tcp_open(a->s);
    assert_int_equal(h, 8); /* after the 8 UDP handles */
    assert_int_equal(us_tcp_send(a->s, h, "x", 1), US_EINVAL);        /* not connected */
    assert_int_equal(us_tcp_recv(a->s, h, NULL, 0), US_EINVAL);       /* never opened */
    assert_int_equal(us_tcp_listen(a->s, h, 0, 1), US_EINVAL);
    assert_int_equal(us_tcp_listen(a->s, h, 80, 0), US_EINVAL);
    assert_int_equal(us_tcp_accept(a->s, h), US_EINVAL);              /* not a listener */
    assert_int_equal(us_tcp_connect(a->s, h, 0xC0A80001u, 80, 0, 0), US_EINVAL); /* no route */
    assert_int_equal(us_tcp_connect(a->s, h, NP_IP_B, 0, 0, 0), US_EINVAL);
    us_sock l2 = us_tcp_open(a->s);
    assert_int_equal(us_tcp_listen(a->s, h, 80, 1), US_OK);
    assert_int_equal(us_tcp_listen(a->s, l2, 80, 1), US_EINVAL);       /* port taken */
    assert_int_equal(us_tcp_connect(a->s, h, NP_IP_B, 80, 0, 0), US_EINVAL); /* listening */
    assert_int_equal(us_tcp_send_space(a->s, h), 0);
    assert_int_equal(us_tcp_get_state(a->s, 3), US_TCP_CLOSED);        /* a UDP handle */
    assert_int_equal(us_tcp_get_state(a->s, 99), US_TCP_CLOSED);
    us_tcp_info info;
    assert_int_equal(us_tcp_get_info(a->s, 99, &info), US_EINVAL);
    assert_int_equal(us_tcp_close(a->s, -1), US_EINVAL);
    assert_int_equal(us_tcp_abort(a->s, 99, 0), US_EINVAL);
    assert_int_equal(us_tcp_release(a->s, l2), US_OK);
    assert_int_equal(us_tcp_release(a->s, h), US_OK);
    assert_int_equal(us_tcp_release(a->s, h), US_EINVAL);
    np_free(a);
}

static void test_stack_tcp_real_syn_via_gateway(void **state)
{
    (void)state;
    /* three_http_streams.pcap's server: 98.139.161.29 at 00:90:7f:3e:02:d0; the client
     * 172.16.133.132 is off-link, behind a router at 00:50:43:01:4d:d4. */
    us_stack_config c;
    np_config(&c, 0x628BA11Du, 0);
    static const uint8_t srv_mac[6] = {0x00, 0x90, 0x7f, 0x3e, 0x02, 0xd0};
    static const uint8_t gw_mac[6] = {0x00, 0x50, 0x43, 0x01, 0x4d, 0xd4};
    memcpy(c.mac, srv_mac, 6);
    c.ipv4_gateway = 0x628BA101u;
    np_node *a = np_new(&c, 1500, 0);
    assert_int_equal(us_arp_add_static(a->s, 0x628BA101u, gw_mac), US_OK);
    us_sock l = listen_on(a, 80, 4);
    uint8_t f[256];
    uint32_t len = 0;
    for (size_t i = 0; i < sizeof(wire_frames) / sizeof(wire_frames[0]); i++)
        if (strcmp(wire_frames[i].name, "eth_syn") == 0)
            len = np_hex(wire_frames[i].hex, f, sizeof(f));
    assert_true(len > 0);
    us_tcp_repr syn;
    assert_int_equal(us_tcp_parse(&syn, f + 34, len - 34, 0xAC108584u, 0x628BA11Du, 0),
                     US_WIRE_OK);
    assert_int_equal(np_inject(a, f, len, 0), US_INGRESS_PROCESSED | US_INGRESS_STATE_CHANGED);
    assert_int_equal(us_egress(a->s, 0, US_EGRESS_ALL), 1);
    const uint8_t *o = a->tx[0];
    assert_memory_equal(o, gw_mac, 6);
    us_ipv4_repr ip;
    assert_int_equal(us_ipv4_parse(&ip, o + 14, a->tx_len[0] - 14, 0), US_WIRE_OK);
    assert_int_equal(ip.dst, 0xAC108584u);
    assert_true(ip.dont_frag);
    us_tcp_repr sa;
    assert_int_equal(us_tcp_parse(&sa, o + 34, ip.payload_len, ip.src, ip.dst, 0), US_WIRE_OK);
    assert_int_equal(sa.flags, US_TCP_SYN | US_TCP_ACK);
    assert_int_equal(sa.src_port, 80);
    assert_int_equal(sa.dst_port, syn.src_port);
    assert_int_equal(sa.ack, syn.seq + 1);
    assert_true(sa.mss_present);
    assert_int_equal(sa.mss, 1460);
    assert_int_equal(us_tcp_release(a->s, l), US_OK); /* aborts the half-open child */
    us_egress(a->s, 0, US_EGRESS_ALL);
    for (uint32_t i = 0; i < a->s->tcp_n; i++)
        assert_false(a->s->tcp[i].in_use);
    np_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stack_config_default_values),
        cmocka_unit_test(test_stack_init_validation),
        cmocka_unit_test(test_stack_getters_and_names),
        cmocka_unit_test(test_stack_tcp_connect_transfer_close),
        cmocka_unit_test(test_stack_tcp_rst_for_closed_port),
        cmocka_unit_test(test_stack_tcp_backlog_full),
        cmocka_unit_test(test_stack_tcp_no_free_slot),
        cmocka_unit_test(test_stack_tcp_tx_refused_goes_later),
        cmocka_unit_test(test_stack_tcp_pool_exhaustion_recovers),
        cmocka_unit_test(test_stack_tcp_ooseq_reclaim),
        cmocka_unit_test(test_stack_tcp_release_closes_in_background),
        cmocka_unit_test(test_stack_tcp_readylist_transfer),
        cmocka_unit_test(test_stack_seed_gives_same_numbers),
        cmocka_unit_test(test_stack_tcp_api_errors),
        cmocka_unit_test(test_stack_tcp_real_syn_via_gateway),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
