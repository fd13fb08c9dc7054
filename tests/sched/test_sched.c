/* Schedulers against a small fake host: virtual time, a fixed cost per unit of work, one timer,
 * an RX interrupt line, and UDP frames arriving at set times for a UDP sink application.
 * Checks the semantics DESIGN.md states: sync wakes every idle interval on a silent stretch (and
 * skip_idle accounts exactly what iterating would), async does not wake at all, napi keeps RX
 * interrupts masked while it polls. */
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "ustack/sched.h"
#include "ustack/socket.h"
#include "ustack/wire/checksum.h"
#include "ustack/wire/eth.h"
#include "ustack/wire/ipv4.h"
#include "ustack/wire/udp.h"

/* Costs of the fake host, in ns. */
#define C_WAKE 1000u
#define C_POLL 100u
#define C_VISIT 10u
#define C_FRAME 200u
#define C_BYTE 1u

#define STACK_IP 0x0A000001u /* 10.0.0.1 */
#define PEER_IP 0x0A000002u
#define PORT 7000u
#define MAX_FRAMES 512
#define FRAME_LEN (14u + 20u + 8u + 18u)

typedef struct fake_host {
    us_time now;
    us_time timer_at;
    int irq_enabled;
    int irq_changes;    /* set_rx_irq calls that changed the state */
    int polled_masked;  /* napi polls that ran while the interrupt was masked */
    int use_skip;
    us_time end; /* run_until's horizon: skip_idle never accounts past it */
    us_time arrival[MAX_FRAMES];
    uint32_t n_frames, next_frame; /* frames scheduled / handed to the stack */
    uint32_t irq_raised_upto;      /* frames whose arrival already raised an interrupt */
    us_stack *stack;
    us_sched sched;
    us_sock sink;
    uint64_t delivered;
    void *mem;
} fake_host;

static us_time cost_of(const us_work *w)
{
    return w->wakeups * C_WAKE + w->polls * C_POLL + w->socket_visits * C_VISIT +
           w->frames * C_FRAME + w->bytes * C_BYTE;
}

static us_time h_now(void *ctx)
{
    return ((fake_host *)ctx)->now;
}

static void h_charge(void *ctx, const us_work *w)
{
    ((fake_host *)ctx)->now += cost_of(w);
}

static void h_arm(void *ctx, us_time at)
{
    ((fake_host *)ctx)->timer_at = at;
}

static void h_irq(void *ctx, int enabled)
{
    fake_host *h = ctx;
    if (h->irq_enabled != enabled)
        h->irq_changes++;
    h->irq_enabled = enabled;
}

static us_time next_arrival(const fake_host *h)
{
    return h->next_frame < h->n_frames ? h->arrival[h->next_frame] : US_TIME_NEVER;
}

/* The contract of us_host.skip_idle, computed directly. */
static uint64_t h_skip(void *ctx, const us_work *each, us_time interval, us_time until)
{
    fake_host *h = ctx;
    if (!h->use_skip)
        return 0;
    us_time c = cost_of(each);
    us_work pre_work = {.wakeups = each->wakeups, .polls = each->polls};
    us_time pre = cost_of(&pre_work); /* the ring is read this long after the start */
    us_time spacing = c + interval > 0 ? c + interval : 1;
    us_time start = h->now + (interval > 0 ? interval : 1);
    uint64_t n = 0;
    while (start < until && start < h->end && start + pre < next_arrival(h)) {
        n++;
        h->now = start + c;
        start += spacing;
    }
    return n;
}

static us_pbuf *d_rx(void *ctx)
{
    fake_host *h = ctx;
    if (h->next_frame >= h->n_frames || h->arrival[h->next_frame] > h->now)
        return NULL;
    if (h->sched.cfg.kind == US_SCHED_NAPI && !h->irq_enabled)
        h->polled_masked = 1;
    h->next_frame++;
    /* A UDP datagram from the peer to the sink, built with the wire emitters. */
    uint8_t payload[18] = "sched test payload";
    us_pbuf *p = us_pbuf_alloc(us_stack_bufs(h->stack), US_PBUF_RAW, FRAME_LEN, US_PBUF_POOL);
    assert_non_null(p);
    uint8_t *f = p->payload;
    us_eth_repr eth = {.dst = {2, 0, 0, 0, 0, 1}, .src = {2, 0, 0, 0, 0, 2},
                       .ethertype = US_ETHERTYPE_IPV4};
    us_eth_emit(&eth, f);
    us_ipv4_repr ip = {.src = PEER_IP, .dst = STACK_IP, .proto = US_IP_PROTO_UDP, .ttl = 64,
                       .payload_len = 8 + sizeof(payload)};
    us_ipv4_emit(&ip, f + 14);
    memcpy(f + 14 + 20 + 8, payload, sizeof(payload));
    us_udp_repr udp = {.src_port = 5000, .dst_port = PORT, .payload_len = sizeof(payload)};
    us_udp_emit(&udp, f + 34, PEER_IP, STACK_IP, us_csum_partial(payload, sizeof(payload), 0));
    return p;
}

static uint8_t *d_tx_acquire(void *ctx, uint32_t len)
{
    (void)ctx;
    static uint8_t buf[2048];
    return len <= sizeof(buf) ? buf : NULL;
}

static void d_tx_commit(void *ctx, uint8_t *buf, uint32_t len)
{
    (void)ctx, (void)buf, (void)len;
}

/* The UDP sink: read every waiting datagram. */
static int app_step(void *ctx, us_stack *s, us_time now, uint64_t *bytes)
{
    (void)now;
    fake_host *h = ctx;
    uint8_t buf[64];
    int worked = 0;
    int32_t n;
    while ((n = us_udp_recv(s, h->sink, buf, sizeof(buf), NULL, NULL)) >= 0) {
        h->delivered++;
        *bytes += (uint64_t)n;
        worked = 1;
    }
    us_sock_set_rx_waker(s, h->sink, us_sched_app_waker, &h->sched);
    return worked;
}

static fake_host *host_new(us_sched_kind kind, us_time idle, int use_skip)
{
    fake_host *h = calloc(1, sizeof(*h));
    assert_non_null(h);
    h->timer_at = US_TIME_NEVER;
    h->use_skip = use_skip;
    us_stack_config cfg;
    us_stack_config_default(&cfg);
    cfg.ipv4_addr = STACK_IP;
    cfg.bufs.pbuf_pool_count = 256;
    us_dev dev = {.ctx = h, .mtu = 1500, .rx = d_rx, .tx_acquire = d_tx_acquire,
                  .tx_commit = d_tx_commit};
    size_t need = us_stack_mem_size(&cfg);
    h->mem = malloc(need);
    h->stack = us_stack_init(h->mem, need, &cfg, &dev, NULL);
    assert_non_null(h->stack);
    h->sink = us_udp_open(h->stack);
    assert_true(h->sink >= 0);
    assert_int_equal(us_udp_bind(h->stack, h->sink, PORT), US_OK);

    us_host host = {.ctx = h, .now = h_now, .charge = h_charge, .arm_timer = h_arm,
                    .set_rx_irq = h_irq, .skip_idle = h_skip};
    us_app app = {.ctx = h, .step = app_step};
    us_sched_config sc;
    us_sched_config_default(&sc);
    sc.kind = kind;
    sc.idle_interval = idle;
    assert_int_equal(us_sched_init(&h->sched, &sc, h->stack, &host, &app), US_OK);
    us_sock_set_rx_waker(h->stack, h->sink, us_sched_app_waker, &h->sched);
    return h;
}

static void host_free(fake_host *h)
{
    us_udp_close(h->stack, h->sink);
    assert_true(us_bufs_all_free(us_stack_bufs(h->stack)));
    free(h->mem);
    free(h);
}

/* Run events in time order until `end`: the timer, and RX interrupts for arrivals. */
static void run_until(fake_host *h, us_time end)
{
    h->end = end;
    for (;;) {
        us_time irq_at = US_TIME_NEVER;
        if (h->irq_enabled && h->next_frame < h->n_frames)
            irq_at = next_arrival(h);
        us_time t = h->timer_at < irq_at ? h->timer_at : irq_at;
        if (t >= end)
            break;
        if (t > h->now)
            h->now = t; /* the CPU was idle until the event */
        if (irq_at <= h->timer_at) {
            us_sched_on_rx(&h->sched);
        } else {
            h->timer_at = US_TIME_NEVER;
            us_sched_on_timer(&h->sched);
        }
    }
    if (h->now < end)
        h->now = end;
}

/* Iterations of an empty sync loop over [start, end): each costs wake + poll + socket visits. */
static void test_sched_sync_silent_stretch_wakes_every_interval(void **state)
{
    (void)state;
    const us_time idle = 100000, dur = 10000000; /* 100 µs, 10 ms */
    fake_host *h = host_new(US_SCHED_SYNC, idle, 0);
    us_sched_start(&h->sched);
    run_until(h, dur);
    /* One UDP socket, no TCP: an egress pass visits 1 socket. Iterations start every
     * idle + (1000 + 100 + 10) ns = 101110 ns from 0: those starting before 10 ms. */
    uint64_t expect = (dur - 1) / (idle + C_WAKE + C_POLL + C_VISIT) + 1;
    assert_int_equal(h->sched.stats.wakeups, expect);
    assert_int_equal(h->sched.stats.empty_wakeups, expect);
    assert_int_equal(h->sched.stats.skipped_iterations, 0);
    assert_int_equal(h->sched.stats.rx_irqs, 0);
    host_free(h);
}

static void test_sched_sync_skip_idle_accounts_exactly_what_iterating_does(void **state)
{
    (void)state;
    const us_time idle = 100000;
    for (int busy = 0; busy < 2; busy++) {
        fake_host *a = host_new(US_SCHED_SYNC, busy ? 0 : idle, 0);
        fake_host *b = host_new(US_SCHED_SYNC, busy ? 0 : idle, 1);
        /* Silence, three frames at 5 ms, silence. */
        for (fake_host **hp = (fake_host *[]){a, b, NULL}; *hp; hp++) {
            for (int i = 0; i < 3; i++)
                (*hp)->arrival[(*hp)->n_frames++] = 5000000;
            us_sched_start(&(*hp)->sched);
            run_until(*hp, 10000000);
        }
        assert_int_equal(a->sched.stats.wakeups, b->sched.stats.wakeups);
        assert_int_equal(a->sched.stats.empty_wakeups, b->sched.stats.empty_wakeups);
        assert_int_equal(a->sched.stats.socket_visits, b->sched.stats.socket_visits);
        assert_int_equal(a->sched.stats.polls, b->sched.stats.polls);
        assert_int_equal(a->delivered, 3);
        assert_int_equal(b->delivered, 3);
        assert_int_equal(a->sched.stats.skipped_iterations, 0);
        assert_true(b->sched.stats.skipped_iterations > 0);
        /* All but the iterations around the burst were accounted in bulk. */
        assert_true(b->sched.stats.wakeups - b->sched.stats.skipped_iterations < 10);
        host_free(a);
        host_free(b);
    }
}

static void test_sched_async_silent_stretch_makes_no_wakeups(void **state)
{
    (void)state;
    fake_host *h = host_new(US_SCHED_ASYNC, 0, 1);
    us_sched_start(&h->sched);
    uint64_t at_start = h->sched.stats.wakeups;
    run_until(h, 10000000);
    assert_int_equal(h->sched.stats.wakeups, at_start);
    assert_int_equal(h->timer_at, US_TIME_NEVER);
    host_free(h);
}

static void test_sched_async_frame_wakes_ingress_then_app(void **state)
{
    (void)state;
    fake_host *h = host_new(US_SCHED_ASYNC, 0, 1);
    h->arrival[h->n_frames++] = 1000000;
    us_sched_start(&h->sched);
    uint64_t at_start = h->sched.stats.wakeups;
    uint64_t empty_at_start = h->sched.stats.empty_wakeups;
    run_until(h, 2000000);
    assert_int_equal(h->delivered, 1);
    assert_int_equal(h->sched.stats.rx_irqs, 1);
    /* The interrupt ran the ingress task, whose datagram woke the application task. */
    assert_int_equal(h->sched.stats.wakeups - at_start, 2);
    assert_int_equal(h->sched.stats.empty_wakeups, empty_at_start);
    host_free(h);
}

static void test_sched_napi_keeps_rx_irq_masked_while_polling(void **state)
{
    (void)state;
    fake_host *h = host_new(US_SCHED_NAPI, 0, 1);
    for (int i = 0; i < 200; i++)
        h->arrival[h->n_frames++] = 1000000;
    us_sched_start(&h->sched);
    int changes_at_start = h->irq_changes;
    run_until(h, 5000000);
    assert_int_equal(h->delivered, 200);
    /* One interrupt for the whole burst: masked at once, unmasked after the poll that found
     * fewer than the budget (64 + 64 + 64 + 8). */
    assert_int_equal(h->sched.stats.rx_irqs, 1);
    assert_int_equal(h->irq_changes - changes_at_start, 2);
    assert_true(h->polled_masked);
    assert_true(h->irq_enabled);
    assert_int_equal(h->sched.stats.frames_in, 200);
    host_free(h);
}

static void test_sched_init_rejects_bad_config(void **state)
{
    (void)state;
    fake_host *h = host_new(US_SCHED_SYNC, 1000, 0);
    us_host host = {.ctx = h, .now = h_now, .charge = h_charge, .arm_timer = h_arm,
                    .set_rx_irq = h_irq};
    us_sched_config c;
    us_sched_config_default(&c);
    us_sched sc;
    c.kind = (us_sched_kind)7;
    assert_int_equal(us_sched_init(&sc, &c, h->stack, &host, NULL), US_EINVAL);
    us_sched_config_default(&c);
    c.kind = US_SCHED_NAPI;
    c.napi_budget = 0;
    assert_int_equal(us_sched_init(&sc, &c, h->stack, &host, NULL), US_EINVAL);
    us_sched_config_default(&c);
    host.now = NULL;
    assert_int_equal(us_sched_init(&sc, &c, h->stack, &host, NULL), US_EINVAL);
    host_free(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sched_sync_silent_stretch_wakes_every_interval),
        cmocka_unit_test(test_sched_sync_skip_idle_accounts_exactly_what_iterating_does),
        cmocka_unit_test(test_sched_async_silent_stretch_makes_no_wakeups),
        cmocka_unit_test(test_sched_async_frame_wakes_ingress_then_app),
        cmocka_unit_test(test_sched_napi_keeps_rx_irq_masked_while_polling),
        cmocka_unit_test(test_sched_init_rejects_bad_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
