/* sbhost NIC: the lazy move of arrived frames into the RX ring at rx time (later arrivals stay
 * queued), exact ring-full and pool-empty drop counts, the RX interrupt rules (one per idle period,
 * masked, unmasked with frames waiting, future arrivals handed over out of order), TX slots refused
 * while busy and freed at the frame's departure (with the TX-wake hook), capture, and a real
 * us_stack answering ARP through the NIC and a link. Every test ends with no pbuf in use. */
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#include "sbhost/des.h"
#include "sbhost/link.h"
#include "sbhost/nic.h"
#include "ustack/iface.h"
#include "ustack/wire/arp.h"
#include "ustack/wire/eth.h"

/* A host clock: the engine's time, or later while a test plays a CPU running ahead of it. */
typedef struct host_clock {
    sb_des d;
    us_time cpu; /* host time; never behind the engine */
} host_clock;

static us_time hc_now(void *ctx)
{
    host_clock *h = ctx;
    us_time e = sb_des_now(&h->d);
    return h->cpu > e ? h->cpu : e;
}

static sb_event_id hc_schedule(void *ctx, us_time at, sb_event_fn fn, void *fn_ctx, void *arg)
{
    return sb_des_schedule(&((host_clock *)ctx)->d, at, fn, fn_ctx, arg);
}

static int hc_cancel(void *ctx, sb_event_id ev)
{
    return sb_des_cancel(&((host_clock *)ctx)->d, ev);
}

static sb_clock hc_clock(host_clock *h)
{
    return (sb_clock){.ctx = h, .now = hc_now, .schedule = hc_schedule, .cancel = hc_cancel};
}

typedef struct fixture {
    host_clock hc;
    sb_clock clk;
    us_bufs *bufs;
    sb_nic nic;
    us_dev dev;
    int irqs;
    us_time irq_at[64];
    int drain_in_irq; /* the IRQ handler drains the ring and frees the frames */
    uint32_t drained;
} fixture;

static void on_irq(void *ctx)
{
    fixture *f = ctx;
    assert_true(f->irqs < 64);
    f->irq_at[f->irqs++] = sb_des_now(&f->hc.d);
    if (f->drain_in_irq) {
        us_pbuf *p;
        while ((p = f->dev.rx(f->dev.ctx)) != NULL) {
            f->drained++;
            us_pbuf_free(p);
        }
    }
}

static fixture *fx_new(uint32_t rx_ring, uint32_t tx_ring, uint32_t pool)
{
    fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    sb_des_init(&f->hc.d);
    f->clk = hc_clock(&f->hc);
    us_bufs_config bc;
    us_bufs_config_default(&bc);
    bc.pbuf_pool_count = pool;
    f->bufs = us_test_bufs_new(&bc);
    sb_nic_config cfg;
    sb_nic_config_default(&cfg);
    cfg.rx_ring = rx_ring;
    cfg.tx_ring = tx_ring;
    cfg.irq_latency = 1000;
    assert_int_equal(sb_nic_init(&f->nic, &cfg, &f->clk, NULL), SB_OK);
    sb_nic_dev(&f->nic, &f->dev);
    sb_nic_set_bufs(&f->nic, f->bufs);
    sb_nic_set_irq_handler(&f->nic, on_irq, f);
    return f;
}

static void fx_free(fixture *f)
{
    sb_nic_free(&f->nic);
    assert_int_equal(sb_des_pending(&f->hc.d), 0); /* nothing left armed */
    us_test_bufs_free(f->bufs);
    sb_des_free(&f->hc.d);
    free(f);
}

/* A frame of len bytes whose first 4 bytes are seq. */
static void arrive(fixture *f, uint32_t seq, uint32_t len, us_time at)
{
    uint8_t buf[1514] = {0};
    memcpy(buf, &seq, 4);
    for (uint32_t i = 4; i < len; i++)
        buf[i] = (uint8_t)(seq + i);
    sb_nic_arrive(&f->nic, buf, len, at);
}

static uint32_t seq_of(us_pbuf *p)
{
    uint32_t seq = 0;
    assert_int_equal(us_pbuf_copy_partial(p, &seq, 4, 0), 4);
    return seq;
}

/* rx at host time t: the frame's seq (and it is freed), or UINT32_MAX for NULL. */
static uint32_t rx_at(fixture *f, us_time t)
{
    f->hc.cpu = t;
    us_pbuf *p = f->dev.rx(f->dev.ctx);
    if (!p)
        return UINT32_MAX;
    uint32_t s = seq_of(p);
    assert_int_equal(p->type, US_PBUF_POOL);
    us_pbuf_free(p);
    return s;
}

static void test_nic_rx_lazy_move(void **state)
{
    (void)state;
    fixture *f = fx_new(8, 2, 16);
    assert_int_equal(sb_nic_next_arrival(&f->nic), US_TIME_NEVER);
    arrive(f, 1, 100, 100);
    arrive(f, 2, 1514, 200);
    arrive(f, 3, 60, 300);
    assert_int_equal(sb_nic_next_arrival(&f->nic), 100);
    assert_int_equal(rx_at(f, 50), UINT32_MAX); /* nothing has arrived yet */
    assert_int_equal(sb_nic_rx_ring_used(&f->nic), 0);

    /* At 250 two frames are in; the third (300) stays out of the ring. */
    f->hc.cpu = 250;
    us_pbuf *p = f->dev.rx(f->dev.ctx);
    assert_non_null(p);
    assert_int_equal(seq_of(p), 1);
    assert_int_equal(p->tot_len, 100);
    assert_int_equal(sb_nic_last_rx_arrival(&f->nic), 100);
    assert_int_equal(sb_nic_rx_ring_used(&f->nic), 1);
    us_pbuf_free(p);
    p = f->dev.rx(f->dev.ctx);
    assert_non_null(p);
    assert_int_equal(seq_of(p), 2);
    assert_int_equal(p->tot_len, 1514);
    assert_int_equal(us_pbuf_get_at(p, 1513), (uint8_t)(2 + 1513));
    assert_int_equal(sb_nic_last_rx_arrival(&f->nic), 200);
    us_pbuf_free(p);
    assert_int_equal(rx_at(f, 299), UINT32_MAX);
    assert_int_equal(sb_nic_next_arrival(&f->nic), 300);
    assert_int_equal(rx_at(f, 300), 3);
    assert_int_equal(sb_nic_last_rx_arrival(&f->nic), 300);
    assert_int_equal(sb_nic_next_arrival(&f->nic), US_TIME_NEVER);
    const sb_nic_stats *st = sb_nic_get_stats(&f->nic);
    assert_int_equal(st->rx_arrived, 3);
    assert_int_equal(st->rx_frames, 3);
    assert_int_equal(st->rx_bytes, 100 + 1514 + 60);
    assert_int_equal(st->rx_ring_hwm, 2);
    assert_int_equal(st->rx_drop_ring + st->rx_drop_pool, 0);
    fx_free(f);
}

static void test_nic_rx_out_of_order_handover(void **state)
{
    (void)state;
    fixture *f = fx_new(8, 2, 16);
    /* Handed over out of arrival order (a reordering link with delivery at send time); ties keep
     * hand-over order. */
    arrive(f, 1, 64, 500);
    arrive(f, 2, 64, 300);
    arrive(f, 3, 64, 500);
    arrive(f, 4, 64, 100);
    assert_int_equal(sb_nic_next_arrival(&f->nic), 100);
    uint32_t want[4] = {4, 2, 1, 3};
    for (int i = 0; i < 4; i++)
        assert_int_equal(rx_at(f, 1000), want[i]);
    assert_int_equal(rx_at(f, 1000), UINT32_MAX);
    fx_free(f);
}

static void test_nic_ring_full_drops(void **state)
{
    (void)state;
    fixture *f = fx_new(4, 2, 32);
    /* 10 frames by t = 100, the first rx at 100: 4 fit the ring, 6 are dropped. */
    for (uint32_t i = 0; i < 10; i++)
        arrive(f, i, 64, 10 * i);
    assert_int_equal(rx_at(f, 100), 0);
    const sb_nic_stats *st = sb_nic_get_stats(&f->nic);
    assert_int_equal(st->rx_drop_ring, 6);
    assert_int_equal(sb_nic_rx_ring_used(&f->nic), 3);
    assert_int_equal(rx_at(f, 100), 1);
    /* Ring holds 2 (frames 2, 3); 5 more arrive before the next rx: 2 fit, 3 dropped. */
    for (uint32_t i = 20; i < 25; i++)
        arrive(f, i, 64, 200 + i);
    assert_int_equal(rx_at(f, 300), 2);
    assert_int_equal(st->rx_drop_ring, 9);
    uint32_t want[] = {3, 20, 21};
    for (int i = 0; i < 3; i++)
        assert_int_equal(rx_at(f, 300), want[i]);
    assert_int_equal(rx_at(f, 300), UINT32_MAX);
    assert_int_equal(st->rx_frames, 6);
    assert_int_equal(st->rx_ring_hwm, 4);
    assert_int_equal(st->rx_drop_pool, 0);
    /* Frames left in the ring at teardown are freed by sb_nic_free. */
    arrive(f, 30, 64, 400);
    arrive(f, 31, 64, 400);
    assert_int_equal(rx_at(f, 400), 30);
    assert_int_equal(sb_nic_rx_ring_used(&f->nic), 1);
    arrive(f, 32, 64, 10000); /* and arrived ones never moved in */
    fx_free(f);
}

static void test_nic_pool_empty_drops(void **state)
{
    (void)state;
    fixture *f = fx_new(16, 2, 4); /* 4 POOL blocks of 1536 bytes */
    us_pbuf *held[8];
    int nheld = 0;
    /* The stack keeps what it receives: after 4 frames the pool is dry. */
    for (uint32_t i = 0; i < 6; i++)
        arrive(f, i, 1000, 10 + i);
    f->hc.cpu = 100;
    us_pbuf *p;
    while ((p = f->dev.rx(f->dev.ctx)) != NULL)
        held[nheld++] = p;
    assert_int_equal(nheld, 4);
    const sb_nic_stats *st = sb_nic_get_stats(&f->nic);
    assert_int_equal(st->rx_drop_pool, 2);
    assert_int_equal(st->rx_drop_ring, 0);
    assert_int_equal(f->bufs->pools[US_POOL_PBUF_POOL].stats.err, 2);
    /* One freed: exactly one of the next three gets a buffer. */
    us_pbuf_free(held[--nheld]);
    for (uint32_t i = 10; i < 13; i++)
        arrive(f, i, 1000, 200);
    f->hc.cpu = 200;
    p = f->dev.rx(f->dev.ctx);
    assert_non_null(p);
    assert_int_equal(seq_of(p), 10);
    held[nheld++] = p;
    assert_null(f->dev.rx(f->dev.ctx));
    assert_int_equal(st->rx_drop_pool, 4);
    /* A frame larger than one block takes a chain of two. */
    for (int i = 0; i < nheld; i++)
        us_pbuf_free(held[i]);
    nheld = 0;
    arrive(f, 99, 1514, 300);
    f->hc.cpu = 300;
    p = f->dev.rx(f->dev.ctx);
    assert_non_null(p);
    assert_int_equal(p->tot_len, 1514);
    us_pbuf_free(p);
    fx_free(f);
}

static void test_nic_oversize(void **state)
{
    (void)state;
    fixture *f = fx_new(4, 2, 4);
    uint8_t big[1515] = {0};
    sb_nic_arrive(&f->nic, big, sizeof big, 0);
    sb_nic_arrive(&f->nic, big, 0, 0);
    assert_int_equal(sb_nic_get_stats(&f->nic)->rx_drop_oversize, 2);
    assert_int_equal(sb_nic_next_arrival(&f->nic), US_TIME_NEVER);
    assert_null(f->dev.tx_acquire(f->dev.ctx, 1515));
    assert_int_equal(sb_nic_get_stats(&f->nic)->tx_oversize, 1);
    assert_int_equal(f->dev.mtu, 1500);
    fx_free(f);
}

static void test_nic_irq_once_per_idle_period(void **state)
{
    (void)state;
    fixture *f = fx_new(16, 2, 32);
    sb_nic_set_irq(&f->nic, 1);
    /* A burst at 100..500: one IRQ, at the first arrival + latency. */
    for (uint32_t i = 1; i <= 5; i++)
        arrive(f, i, 64, 100 * i);
    assert_int_equal(sb_des_pending(&f->hc.d), 1);
    sb_des_run_until(&f->hc.d, 4000);
    assert_int_equal(f->irqs, 1);
    assert_int_equal(f->irq_at[0], 1100);
    /* The handler did not drain: the waiting frames raise nothing more. */
    assert_int_equal(sb_des_pending(&f->hc.d), 0);
    /* A frame arriving during the pending IRQ is covered; one after it raises a new one. */
    arrive(f, 6, 64, 5000);
    arrive(f, 7, 64, 5500);
    arrive(f, 8, 64, 6001);
    sb_des_run(&f->hc.d);
    assert_int_equal(f->irqs, 3);
    assert_int_equal(f->irq_at[1], 6000);
    assert_int_equal(f->irq_at[2], 7001);
    assert_int_equal(sb_nic_get_stats(&f->nic)->irqs, 3);
    for (int i = 0; i < 8; i++)
        assert_int_not_equal(rx_at(f, 8000), UINT32_MAX);
    fx_free(f);
}

static void test_nic_irq_handler_drains(void **state)
{
    (void)state;
    fixture *f = fx_new(16, 2, 32);
    f->drain_in_irq = 1;
    sb_nic_set_irq(&f->nic, 1);
    /* The handler runs at 1100 and drains what arrived by then (100..1100: 6 frames); the frame
     * at 1500 raises its own IRQ. */
    for (uint32_t i = 0; i < 6; i++)
        arrive(f, i, 64, 100 + 200 * i);
    arrive(f, 9, 64, 1500);
    sb_des_run(&f->hc.d);
    assert_int_equal(f->irqs, 2);
    assert_int_equal(f->irq_at[0], 1100);
    assert_int_equal(f->irq_at[1], 2500);
    assert_int_equal(f->drained, 7);
    fx_free(f);
}

static void test_nic_irq_masked(void **state)
{
    (void)state;
    fixture *f = fx_new(16, 2, 32);
    /* Masked from the start: arrivals raise nothing. */
    arrive(f, 1, 64, 100);
    arrive(f, 2, 64, 200);
    sb_des_run_until(&f->hc.d, 2000);
    assert_int_equal(f->irqs, 0);
    assert_int_equal(sb_des_pending(&f->hc.d), 0);
    /* Unmasking at 2000 with frames waiting: one IRQ at 2000 + latency. */
    sb_nic_set_irq(&f->nic, 1);
    sb_nic_set_irq(&f->nic, 1); /* no-op */
    sb_des_run_until(&f->hc.d, 10000);
    assert_int_equal(f->irqs, 1);
    assert_int_equal(f->irq_at[0], 3000);
    /* Masking cancels a pending IRQ. */
    arrive(f, 3, 64, 11000);
    assert_int_equal(sb_des_pending(&f->hc.d), 1);
    sb_nic_set_irq(&f->nic, 0);
    assert_int_equal(sb_des_pending(&f->hc.d), 0);
    sb_des_run_until(&f->hc.d, 20000);
    assert_int_equal(f->irqs, 1);
    /* The consumer empties the ring while masked; unmasking then raises nothing... */
    for (int i = 0; i < 3; i++)
        assert_int_not_equal(rx_at(f, 20000), UINT32_MAX);
    sb_nic_set_irq(&f->nic, 1);
    assert_int_equal(sb_des_pending(&f->hc.d), 0);
    /* ... until the next arrival. */
    arrive(f, 4, 64, 30000);
    sb_des_run(&f->hc.d);
    assert_int_equal(f->irqs, 2);
    assert_int_equal(f->irq_at[1], 31000);
    /* NAPI-style: the handler masks; frames arriving meanwhile wait for the unmask. */
    arrive(f, 5, 64, 40000);
    sb_nic_set_irq(&f->nic, 0);
    arrive(f, 6, 64, 40100);
    sb_des_run_until(&f->hc.d, 50000);
    assert_int_equal(f->irqs, 2);
    f->hc.cpu = 50000;
    assert_int_equal(rx_at(f, 50000), 4);
    sb_nic_set_irq(&f->nic, 1); /* 5 and 6 still waiting */
    sb_des_run(&f->hc.d);
    assert_int_equal(f->irqs, 3);
    assert_int_equal(f->irq_at[2], 51000);
    fx_free(f);
}

static void test_nic_irq_future_arrivals(void **state)
{
    (void)state;
    fixture *f = fx_new(16, 2, 32);
    f->nic.cfg.irq_latency = 100;
    sb_nic_set_irq(&f->nic, 1);
    /* A later-arriving frame handed over first, then an earlier one: the IRQ moves earlier. */
    arrive(f, 1, 64, 500);
    arrive(f, 2, 64, 300);
    assert_int_equal(sb_des_pending(&f->hc.d), 1);
    assert_int_equal(sb_des_next_time(&f->hc.d), 400);
    sb_des_run(&f->hc.d);
    /* 300 -> IRQ at 400; 500 arrived after it was delivered -> IRQ at 600. */
    assert_int_equal(f->irqs, 2);
    assert_int_equal(f->irq_at[0], 400);
    assert_int_equal(f->irq_at[1], 600);
    assert_int_equal(rx_at(f, 600), 2);
    assert_int_equal(rx_at(f, 600), 1);
    fx_free(f);
}

/* ---- TX ---- */

typedef struct tx_sink {
    uint32_t n;
    us_time at[16];
    uint32_t len[16];
    int wakes;
    us_time wake_at[8];
    sb_des *d;
} tx_sink;

static void sink_deliver(void *ctx, const uint8_t *data, uint32_t len, us_time arrival)
{
    tx_sink *s = ctx;
    (void)data;
    assert_true(s->n < 16);
    s->at[s->n] = arrival;
    s->len[s->n++] = len;
}

static void on_tx_wake(void *ctx)
{
    tx_sink *s = ctx;
    s->wake_at[s->wakes++] = sb_des_now(s->d);
}

typedef struct capture {
    uint32_t n;
    us_time at[16];
    uint8_t first[16];
} capture;

static void on_capture(void *ctx, const uint8_t *frame, uint32_t len, us_time now)
{
    capture *c = ctx;
    (void)len;
    c->at[c->n] = now;
    c->first[c->n++] = frame[0];
}

static uint8_t *tx_send(fixture *f, us_time t, uint8_t tag, uint32_t len)
{
    f->hc.cpu = t;
    uint8_t *b = f->dev.tx_acquire(f->dev.ctx, len);
    if (b) {
        memset(b, tag, len);
        f->dev.tx_commit(f->dev.ctx, b, len);
    }
    return b;
}

static void test_nic_tx_slots(void **state)
{
    (void)state;
    fixture *f = fx_new(4, 2, 4);
    tx_sink sink = {.d = &f->hc.d};
    capture cap = {0};
    sb_link link;
    sb_link_config lc;
    sb_link_config_default(&lc);
    lc.rate_bps = 1000000000; /* 125 bytes: 1000 ns */
    lc.min_frame = 0;
    lc.overhead = 0;
    lc.delay = 50;
    assert_int_equal(sb_link_init(&link, &lc, &f->clk, sink_deliver, &sink, NULL), SB_OK);
    sb_nic_attach_link(&f->nic, &link);
    sb_nic_set_capture(&f->nic, on_capture, &cap);
    sb_nic_set_tx_wake(&f->nic, on_tx_wake, &sink);

    assert_non_null(tx_send(f, 0, 0xA1, 125)); /* leaves at 1000 */
    assert_non_null(tx_send(f, 0, 0xA2, 125)); /* queued behind it: leaves at 2000 */
    assert_int_equal(sb_nic_tx_busy(&f->nic, 0), 2);
    assert_null(tx_send(f, 10, 0xA3, 125)); /* both slots busy */
    assert_null(tx_send(f, 999, 0xA3, 125));
    const sb_nic_stats *st = sb_nic_get_stats(&f->nic);
    assert_int_equal(st->tx_refused, 2);
    assert_int_equal(sb_des_pending(&f->hc.d), 3); /* two deliveries, one TX wake */
    /* The host running ahead to 1000 finds the first slot free, no event needed. */
    assert_non_null(tx_send(f, 1000, 0xA4, 125)); /* leaves at 3000 */
    assert_null(tx_send(f, 1000, 0xA5, 125));
    assert_int_equal(st->tx_refused, 3);
    sb_des_run(&f->hc.d);
    assert_int_equal(sink.wakes, 1); /* at the first slot's release */
    assert_int_equal(sink.wake_at[0], 1000);
    assert_int_equal(sink.n, 3);
    assert_int_equal(sink.at[0], 1050);
    assert_int_equal(sink.at[1], 2050);
    assert_int_equal(sink.at[2], 3050);
    assert_int_equal(st->tx_frames, 3);
    assert_int_equal(st->tx_bytes, 375);
    assert_int_equal(st->tx_ring_hwm, 2);
    assert_int_equal(cap.n, 3);
    assert_int_equal(cap.first[2], 0xA4);
    assert_int_equal(cap.at[2], 1000);
    assert_int_equal(sb_nic_tx_busy(&f->nic, 3000), 0);

    /* Without a TX function frames are counted and the slot frees at once. */
    sb_nic_set_tx(&f->nic, NULL, NULL);
    for (int i = 0; i < 5; i++)
        assert_non_null(tx_send(f, 5000, 0xB0, 60));
    assert_int_equal(st->tx_frames, 8);
    sb_link_free(&link);
    fx_free(f);
}

/* ---- a real stack on the NIC ---- */

typedef struct stack_env {
    sb_des d;
    us_stack *s;
    int polls;
} stack_env;

static void stack_irq(void *ctx)
{
    stack_env *e = ctx;
    e->polls++;
    us_poll(e->s, sb_des_now(&e->d));
}

static void test_nic_under_stack_arp(void **state)
{
    (void)state;
    stack_env e = {0};
    sb_des_init(&e.d);
    sb_clock clk = sb_des_clock(&e.d);
    sb_nic nic;
    sb_nic_config nc;
    sb_nic_config_default(&nc); /* IRQ latency 500 ns */
    assert_int_equal(sb_nic_init(&nic, &nc, &clk, NULL), SB_OK);
    us_dev dev;
    sb_nic_dev(&nic, &dev);
    /* The stack brings its own buffers; the NIC allocates RX pbufs from them. */
    us_stack_config cfg;
    us_stack_config_default(&cfg);
    cfg.bufs.pbuf_pool_count = 4;
    size_t need = us_stack_mem_size(&cfg);
    assert_true(need > 0);
    void *mem = malloc(need);
    assert_non_null(mem);
    us_status st;
    e.s = us_stack_init(mem, need, &cfg, &dev, &st);
    assert_non_null(e.s);
    sb_nic_set_bufs(&nic, us_stack_bufs(e.s));
    sb_nic_set_irq_handler(&nic, stack_irq, &e);

    tx_sink sink = {.d = &e.d};
    sb_link link;
    sb_link_config lc;
    sb_link_config_default(&lc); /* 100 Mbit/s, Ethernet padding and overhead */
    lc.delay = 1000;
    assert_int_equal(sb_link_init(&link, &lc, &clk, sink_deliver, &sink, NULL), SB_OK);
    sb_nic_attach_link(&nic, &link);
    sb_nic_set_irq(&nic, 1);

    /* A peer asks who has the stack's address. */
    static const uint8_t peer_mac[6] = {0x02, 0, 0, 0, 0, 0x09};
    uint8_t frame[60] = {0};
    us_eth_repr eth = {.ethertype = US_ETHERTYPE_ARP};
    memset(eth.dst, 0xFF, 6);
    memcpy(eth.src, peer_mac, 6);
    size_t off = us_eth_emit(&eth, frame);
    us_arp_repr arp = {.op = US_ARP_OP_REQUEST, .spa = (cfg.ipv4_addr & ~0xFFu) | 9,
                       .tpa = cfg.ipv4_addr};
    memcpy(arp.sha, peer_mac, 6);
    us_arp_emit(&arp, frame + off);
    sb_nic_arrive(&nic, frame, sizeof frame, 5000);
    sb_des_run(&e.d);

    assert_int_equal(e.polls, 1);
    assert_int_equal(us_stack_get_stats(e.s)->frames_rx, 1);
    assert_int_equal(us_stack_get_stats(e.s)->frames_tx, 1);
    assert_int_equal(sb_nic_last_rx_arrival(&nic), 5000);
    /* IRQ at 5500, the reply serialized at 100 Mbit/s ((60 + 24) * 80 ns), then 1 us of delay. */
    assert_int_equal(sink.n, 1);
    assert_int_equal(sink.at[0], 5500 + 6720 + 1000);
    assert_int_equal(sink.len[0], 42);
    assert_int_equal(sb_nic_get_stats(&nic)->tx_frames, 1);

    sb_link_free(&link);
    sb_nic_free(&nic);
    assert_int_equal(sb_des_pending(&e.d), 0);
    assert_true(us_bufs_all_free(us_stack_bufs(e.s)));
    free(mem);
    sb_des_free(&e.d);
}

/* A frame built in sb_nic_rx_buffer is queued as it is (through a link too); a buffer not handed
 * over is lent again; frames from elsewhere are copied, into the buffer that was lent (it is the
 * next frame's, whatever the frame), so the next one lent is another. */
static void test_nic_rx_buffer_in_place(void **state)
{
    (void)state;
    fixture *f = fx_new(8, 2, 16);
    uint8_t *b = sb_nic_rx_buffer(&f->nic);
    assert_non_null(b);
    assert_ptr_equal(sb_nic_rx_buffer(&f->nic), b); /* not handed over yet: the same */
    uint32_t seq = 7;
    memset(b, 0xAB, 200);
    memcpy(b, &seq, 4);
    sb_nic_arrive(&f->nic, b, 200, 100);
    uint8_t *b2 = sb_nic_rx_buffer(&f->nic);
    assert_non_null(b2);
    assert_ptr_not_equal(b2, b); /* b is in the queue now */
    arrive(f, 9, 100, 150); /* copied from the caller's buffer, into b2 */
    uint32_t in_b2;
    memcpy(&in_b2, b2, 4);
    assert_int_equal(in_b2, 9);
    uint8_t *b3 = sb_nic_rx_buffer(&f->nic);
    assert_non_null(b3);
    assert_ptr_not_equal(b3, b);
    assert_ptr_not_equal(b3, b2);
    seq = 8;
    memcpy(b3, &seq, 4);
    sb_link lossy;
    sb_link_config lc;
    sb_link_config_default(&lc);
    lc.rate_bps = 0;
    lc.loss = 1.0;
    lc.handover = SB_LINK_AT_SEND;
    assert_int_equal(sb_link_init(&lossy, &lc, NULL, sb_nic_link_deliver, &f->nic, NULL), SB_OK);
    assert_int_equal(sb_link_send(&lossy, b3, 120, 160, NULL), SB_LINK_LOST);
    assert_ptr_equal(sb_nic_rx_buffer(&f->nic), b3);
    sb_link_free(&lossy);
    f->hc.cpu = 200;
    us_pbuf *p = f->dev.rx(f->dev.ctx);
    assert_non_null(p);
    assert_int_equal(seq_of(p), 7);
    assert_int_equal(p->tot_len, 200);
    uint8_t byte;
    assert_int_equal(us_pbuf_copy_partial(p, &byte, 1, 150), 1);
    assert_int_equal(byte, 0xAB);
    us_pbuf_free(p);
    assert_int_equal(rx_at(f, 200), 9);
    assert_int_equal(rx_at(f, 200), UINT32_MAX);
    assert_int_equal(sb_nic_get_stats(&f->nic)->rx_arrived, 2);
    fx_free(f);
}

/* The arrival queue grows (its slots, and the buffers they own, move with it) while it wraps
 * around: frames built in place and copied ones alternate and come out in order, bytes intact. */
static void test_nic_rx_queue_grows_wrapped(void **state)
{
    (void)state;
    fixture *f = fx_new(128, 2, 128);
    uint32_t next_out = 0, seq = 0;
    for (int round = 0; round < 3; round++) {
        /* 5 + 40 * round frames in: past the queue's 16 slots, then its 32, then its 64. */
        for (uint32_t k = 0; k < 5 + 40u * (uint32_t)round; k++, seq++) {
            if (seq % 2 == 0) {
                uint8_t *b = sb_nic_rx_buffer(&f->nic);
                assert_non_null(b);
                memset(b, (int)(seq & 0xFF), 300);
                memcpy(b, &seq, 4);
                sb_nic_arrive(&f->nic, b, 300, 1000 + seq);
            } else {
                arrive(f, seq, 300, 1000 + seq);
            }
        }
        /* Read all but two: the head moves, so the next round's slots wrap around. */
        while (next_out + 2 < seq) {
            f->hc.cpu = 1000 + seq;
            us_pbuf *p = f->dev.rx(f->dev.ctx);
            assert_non_null(p);
            assert_int_equal(seq_of(p), next_out);
            if (next_out % 2 == 0) {
                uint8_t last;
                assert_int_equal(us_pbuf_copy_partial(p, &last, 1, 299), 1);
                assert_int_equal(last, next_out & 0xFF);
            }
            us_pbuf_free(p);
            next_out++;
        }
    }
    while (next_out < seq)
        assert_int_equal(rx_at(f, 1000 + seq), next_out++);
    assert_int_equal(rx_at(f, 1000 + seq), UINT32_MAX);
    const sb_nic_stats *st = sb_nic_get_stats(&f->nic);
    assert_int_equal(st->rx_arrived, seq);
    assert_int_equal(st->rx_frames, seq);
    assert_int_equal(st->rx_drop_nomem + st->rx_drop_ring + st->rx_drop_pool, 0);
    fx_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nic_rx_lazy_move),
        cmocka_unit_test(test_nic_rx_out_of_order_handover),
        cmocka_unit_test(test_nic_ring_full_drops),
        cmocka_unit_test(test_nic_pool_empty_drops),
        cmocka_unit_test(test_nic_oversize),
        cmocka_unit_test(test_nic_irq_once_per_idle_period),
        cmocka_unit_test(test_nic_irq_handler_drains),
        cmocka_unit_test(test_nic_irq_masked),
        cmocka_unit_test(test_nic_irq_future_arrivals),
        cmocka_unit_test(test_nic_tx_slots),
        cmocka_unit_test(test_nic_under_stack_arp),
        cmocka_unit_test(test_nic_rx_buffer_in_place),
        cmocka_unit_test(test_nic_rx_queue_grows_wrapped),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
