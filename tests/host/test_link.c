/* sbhost link: exact departure and arrival times (serialization with carried fractions, Ethernet
 * padding and overhead, infinite rate), the queue's tail drop, seeded loss over 100k frames
 * (within binomial bounds, and the exact count for the seed), deterministic reordering that does
 * not disturb the loss pattern, delivery at send time, teardown with frames in flight, and
 * configuration errors. */
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#include "sbhost/des.h"
#include "sbhost/link.h"

typedef struct rx_log {
    sb_des *d;
    uint32_t n;
    uint32_t seq[200000];   /* first 4 bytes of each frame */
    us_time arrival[200000];
    us_time now[200000];    /* engine time when delivered */
    uint32_t len[200000];
} rx_log;

static rx_log *log_new(sb_des *d)
{
    rx_log *l = calloc(1, sizeof(*l));
    assert_non_null(l);
    l->d = d;
    return l;
}

static void on_deliver(void *ctx, const uint8_t *data, uint32_t len, us_time arrival)
{
    rx_log *l = ctx;
    assert_true(l->n < 200000);
    uint32_t seq = 0;
    memcpy(&seq, data, len < 4 ? len : 4);
    l->seq[l->n] = seq;
    l->arrival[l->n] = arrival;
    l->now[l->n] = l->d ? sb_des_now(l->d) : 0;
    l->len[l->n] = len;
    l->n++;
}

static sb_link_config plain(uint64_t rate, us_time delay)
{
    sb_link_config c;
    sb_link_config_default(&c);
    c.rate_bps = rate;
    c.delay = delay;
    c.min_frame = 0;
    c.overhead = 0;
    return c;
}

static sb_link_verdict send_seq(sb_link *l, uint32_t seq, uint32_t len, us_time now, us_time *dep)
{
    uint8_t buf[2048] = {0};
    memcpy(buf, &seq, 4);
    return sb_link_send(l, buf, len, now, dep);
}

static void test_link_timing_exact(void **state)
{
    (void)state;
    sb_des d;
    sb_des_init(&d);
    sb_clock clk = sb_des_clock(&d);
    rx_log *log = log_new(&d);
    sb_link l;
    sb_link_config cfg = plain(1000000000, 1000); /* 1 Gbit/s: 8 ns per byte; 1 us delay */
    assert_int_equal(sb_link_init(&l, &cfg, &clk, on_deliver, log, NULL), SB_OK);
    us_time dep;
    /* Two back-to-back 100-byte frames at 0, then one after the link went idle. */
    assert_int_equal(send_seq(&l, 1, 100, 0, &dep), SB_LINK_SENT);
    assert_int_equal(dep, 800);
    assert_int_equal(send_seq(&l, 2, 100, 0, &dep), SB_LINK_SENT);
    assert_int_equal(dep, 1600);
    assert_int_equal(sb_link_backlog(&l, 0), 2);
    assert_int_equal(sb_link_backlog(&l, 800), 1);
    assert_int_equal(send_seq(&l, 3, 50, 2000, &dep), SB_LINK_SENT);
    assert_int_equal(dep, 2400);
    /* A send at 2100 queues behind frame 3. */
    assert_int_equal(send_seq(&l, 4, 10, 2100, &dep), SB_LINK_SENT);
    assert_int_equal(dep, 2480);
    sb_des_run(&d);
    us_time want[4] = {1800, 2600, 3400, 3480};
    assert_int_equal(log->n, 4);
    for (uint32_t i = 0; i < 4; i++) {
        assert_int_equal(log->seq[i], i + 1);
        assert_int_equal(log->arrival[i], want[i]);
        assert_int_equal(log->now[i], want[i]); /* delivered by an event at the arrival time */
    }
    assert_int_equal(log->len[2], 50);
    assert_int_equal(l.stats.frames_sent, 4);
    assert_int_equal(l.stats.frames_delivered, 4);
    assert_int_equal(l.stats.bytes_sent, 260);
    sb_link_free(&l);
    assert_int_equal(sb_des_pending(&d), 0);
    free(log);
    sb_des_free(&d);
}

static void test_link_fraction_carried(void **state)
{
    (void)state;
    sb_link l;
    rx_log *log = log_new(NULL);
    /* 3 Gbit/s and 1-byte frames: 8/3 ns each. Departures are ceil(8k/3), never drifting as
     * rounding each frame up (3, 6, 9, ...) would. */
    sb_link_config cfg = plain(3000000000ull, 0);
    cfg.handover = SB_LINK_AT_SEND;
    assert_int_equal(sb_link_init(&l, &cfg, NULL, on_deliver, log, NULL), SB_OK);
    for (uint32_t k = 1; k <= 3000; k++) {
        us_time dep;
        assert_int_equal(send_seq(&l, k, 1, 0, &dep), SB_LINK_SENT);
        assert_int_equal(dep, (8ull * k + 2) / 3);
    }
    assert_int_equal(log->n, 3000);
    assert_int_equal(log->arrival[2999], 8000);
    sb_link_free(&l);
    free(log);
}

static void test_link_ethernet_overhead(void **state)
{
    (void)state;
    sb_link l;
    rx_log *log = log_new(NULL);
    sb_link_config cfg;
    sb_link_config_default(&cfg); /* 100 Mbit/s, padding to 60, 24 bytes of overhead */
    cfg.handover = SB_LINK_AT_SEND;
    assert_int_equal(sb_link_init(&l, &cfg, NULL, on_deliver, log, NULL), SB_OK);
    us_time dep;
    assert_int_equal(send_seq(&l, 1, 1514, 0, &dep), SB_LINK_SENT);
    assert_int_equal(dep, (1514 + 24) * 80);                    /* 123040 ns */
    assert_int_equal(send_seq(&l, 2, 42, 1000000, &dep), SB_LINK_SENT); /* ARP: padded to 60 */
    assert_int_equal(dep, 1000000 + (60 + 24) * 80);
    assert_int_equal(log->len[1], 42); /* padding is on the wire only */
    sb_link_free(&l);
    free(log);
}

static void test_link_infinite_rate(void **state)
{
    (void)state;
    sb_des d;
    sb_des_init(&d);
    sb_clock clk = sb_des_clock(&d);
    rx_log *log = log_new(&d);
    sb_link l;
    sb_link_config cfg = plain(0, 500);
    cfg.queue_frames = 0;
    assert_int_equal(sb_link_init(&l, &cfg, &clk, on_deliver, log, NULL), SB_OK);
    us_time dep;
    for (uint32_t i = 0; i < 10; i++) {
        assert_int_equal(send_seq(&l, i, 1000, 100, &dep), SB_LINK_SENT);
        assert_int_equal(dep, 100);
    }
    assert_int_equal(sb_link_backlog(&l, 100), 0);
    sb_des_run(&d);
    assert_int_equal(log->n, 10);
    for (uint32_t i = 0; i < 10; i++) {
        assert_int_equal(log->seq[i], i);
        assert_int_equal(log->arrival[i], 600);
    }
    sb_link_free(&l);
    free(log);
    sb_des_free(&d);
}

static void test_link_queue_tail_drop(void **state)
{
    (void)state;
    sb_des d;
    sb_des_init(&d);
    sb_clock clk = sb_des_clock(&d);
    rx_log *log = log_new(&d);
    sb_link l;
    sb_link_config cfg = plain(1000000000, 0); /* 125 bytes = 1000 ns */
    cfg.queue_frames = 2;
    assert_int_equal(sb_link_init(&l, &cfg, &clk, on_deliver, log, NULL), SB_OK);
    us_time dep;
    /* One on the wire, two waiting, then the queue is full. */
    assert_int_equal(send_seq(&l, 1, 125, 0, &dep), SB_LINK_SENT);
    assert_int_equal(send_seq(&l, 2, 125, 0, &dep), SB_LINK_SENT);
    assert_int_equal(send_seq(&l, 3, 125, 0, &dep), SB_LINK_SENT);
    assert_int_equal(dep, 3000);
    assert_int_equal(send_seq(&l, 4, 125, 0, &dep), SB_LINK_DROP_QUEUE);
    assert_int_equal(dep, 0);
    assert_int_equal(send_seq(&l, 5, 125, 999, &dep), SB_LINK_DROP_QUEUE);
    /* At 1000 the first is out: room for one. */
    assert_int_equal(send_seq(&l, 6, 125, 1000, &dep), SB_LINK_SENT);
    assert_int_equal(dep, 4000);
    assert_int_equal(send_seq(&l, 7, 125, 1000, &dep), SB_LINK_DROP_QUEUE);
    assert_int_equal(l.stats.drop_queue, 3);
    assert_int_equal(l.stats.frames_sent, 4);
    assert_int_equal(l.stats.queue_hwm, 2);
    sb_des_run(&d);
    assert_int_equal(log->n, 4);
    uint32_t want[4] = {1, 2, 3, 6};
    for (uint32_t i = 0; i < 4; i++)
        assert_int_equal(log->seq[i], want[i]);
    /* queue_frames 0: nothing may wait. */
    sb_link_free(&l);
    cfg.queue_frames = 0;
    assert_int_equal(sb_link_init(&l, &cfg, &clk, on_deliver, log, NULL), SB_OK);
    us_time t = sb_des_now(&d);
    assert_int_equal(send_seq(&l, 8, 125, t, &dep), SB_LINK_SENT);
    assert_int_equal(send_seq(&l, 9, 125, t, &dep), SB_LINK_DROP_QUEUE);
    sb_link_free(&l);
    free(log);
    sb_des_free(&d);
}

/* Lost frames' sequence numbers folded into one value, and their count. */
static uint64_t run_loss(double loss, double reorder, uint64_t seed, uint32_t n, uint32_t *lost)
{
    sb_link l;
    rx_log *log = log_new(NULL);
    sb_link_config cfg = plain(0, 0);
    cfg.loss = loss;
    cfg.reorder = reorder;
    cfg.reorder_delay = 10;
    cfg.seed = seed;
    cfg.handover = SB_LINK_AT_SEND;
    assert_int_equal(sb_link_init(&l, &cfg, NULL, on_deliver, log, NULL), SB_OK);
    uint64_t h = 1469598103934665603ull;
    *lost = 0;
    for (uint32_t i = 0; i < n; i++) {
        sb_link_verdict v = send_seq(&l, i, 64, i, NULL);
        if (v == SB_LINK_LOST) {
            (*lost)++;
            h = (h ^ i) * 1099511628211ull;
        } else {
            assert_int_equal(v, SB_LINK_SENT);
        }
    }
    assert_int_equal(l.stats.drop_loss, *lost);
    assert_int_equal(l.stats.frames_delivered + *lost, n);
    sb_link_free(&l);
    free(log);
    return h;
}

static void test_link_loss_seeded(void **state)
{
    (void)state;
    uint32_t lost, lost2, lost3;
    uint64_t h = run_loss(0.01, 0, 42, 100000, &lost);
    /* Binomial(100000, 0.01): mean 1000, sd 31.5; +-5 sd. */
    assert_in_range(lost, 842, 1158);
    assert_int_equal(lost, 1032); /* this seed, on every machine */
    assert_int_equal(run_loss(0.01, 0, 42, 100000, &lost2), h);
    assert_int_equal(lost2, lost);
    /* Another seed, another pattern. */
    assert_int_not_equal(run_loss(0.01, 0, 43, 100000, &lost3), h);
    /* Reordering draws from its own stream: the same frames are lost. */
    assert_int_equal(run_loss(0.01, 0.2, 42, 100000, &lost2), h);
    assert_int_equal(lost2, lost);
    assert_int_equal(run_loss(0, 0, 42, 1000, &lost), 1469598103934665603ull);
    assert_int_equal(lost, 0);
    run_loss(1, 0, 42, 1000, &lost);
    assert_int_equal(lost, 1000);
}

static void run_reorder(uint32_t *order, uint32_t n, uint64_t *reordered)
{
    sb_des d;
    sb_des_init(&d);
    sb_clock clk = sb_des_clock(&d);
    rx_log *log = log_new(&d);
    sb_link l;
    sb_link_config cfg = plain(1000000000, 5000); /* 125 bytes: 1000 ns each */
    cfg.reorder = 0.1;
    cfg.reorder_delay = 2500; /* overtaken by the next two frames */
    cfg.seed = 9;
    assert_int_equal(sb_link_init(&l, &cfg, &clk, on_deliver, log, NULL), SB_OK);
    for (uint32_t i = 0; i < n; i++)
        assert_int_equal(send_seq(&l, i, 125, 0, NULL), SB_LINK_SENT);
    sb_des_run(&d);
    assert_int_equal(log->n, n);
    for (uint32_t i = 0; i < n; i++) {
        order[i] = log->seq[i];
        assert_int_equal(log->now[i], log->arrival[i]);
        us_time base = 1000ull * (log->seq[i] + 1) + 5000;
        assert_true(log->arrival[i] == base || log->arrival[i] == base + 2500);
    }
    *reordered = l.stats.reordered;
    sb_link_free(&l);
    free(log);
    sb_des_free(&d);
}

static void test_link_reorder_deterministic(void **state)
{
    (void)state;
    enum { N = 2000 };
    uint32_t a[N], b[N];
    uint64_t ra, rb;
    run_reorder(a, N, &ra);
    run_reorder(b, N, &rb);
    assert_memory_equal(a, b, sizeof a);
    assert_int_equal(ra, rb);
    assert_in_range(ra, 150, 250); /* about 10% of 2000 */
    assert_int_equal(ra, 190);     /* this seed */
    uint32_t out_of_order = 0;
    for (uint32_t i = 1; i < N; i++)
        out_of_order += a[i] < a[i - 1];
    assert_true(out_of_order > 0);
}

static void test_link_free_cancels_in_flight(void **state)
{
    (void)state;
    sb_des d;
    sb_des_init(&d);
    sb_clock clk = sb_des_clock(&d);
    rx_log *log = log_new(&d);
    sb_link l;
    sb_link_config cfg = plain(1000000000, 1000);
    assert_int_equal(sb_link_init(&l, &cfg, &clk, on_deliver, log, NULL), SB_OK);
    for (uint32_t i = 0; i < 40; i++)
        send_seq(&l, i, 100, 0, NULL);
    assert_int_equal(sb_des_pending(&d), 40);
    sb_des_run_until(&d, 1000 + 800 * 10);
    assert_int_equal(log->n, 10);
    sb_link_free(&l);
    assert_int_equal(sb_des_pending(&d), 0);
    sb_des_run(&d);
    assert_int_equal(log->n, 10);
    free(log);
    sb_des_free(&d);
}

static void test_link_oversize_and_config(void **state)
{
    (void)state;
    sb_des d;
    sb_des_init(&d);
    sb_clock clk = sb_des_clock(&d);
    rx_log *log = log_new(&d);
    sb_link l;
    sb_link_config cfg = plain(1000000000, 0);
    assert_int_equal(sb_link_init(&l, &cfg, &clk, on_deliver, log, NULL), SB_OK);
    us_time dep = 1;
    assert_int_equal(send_seq(&l, 1, 1519, 5, &dep), SB_LINK_DROP_OVERSIZE);
    assert_int_equal(dep, 5);
    assert_int_equal(send_seq(&l, 1, 0, 5, &dep), SB_LINK_DROP_OVERSIZE);
    assert_int_equal(l.stats.drop_oversize, 2);
    assert_int_equal(send_seq(&l, 1, 1518, 5, &dep), SB_LINK_SENT);
    sb_link_free(&l);

    sb_err err;
    sb_link_config bad = cfg;
    bad.loss = 1.5;
    assert_int_equal(sb_link_init(&l, &bad, &clk, on_deliver, log, &err), SB_EINVAL);
    assert_string_equal(err.msg, "link: loss 1.5: must be in [0, 1]");
    bad = cfg;
    bad.reorder = 0.1;
    assert_int_equal(sb_link_init(&l, &bad, &clk, on_deliver, log, &err), SB_EINVAL);
    assert_string_equal(err.msg, "link: reorder needs a reorder_delay above 0");
    bad = cfg;
    assert_int_equal(sb_link_init(&l, &bad, NULL, on_deliver, log, &err), SB_EINVAL);
    assert_string_equal(err.msg, "link: delivery at the arrival time needs a clock");
    bad.max_frame = 0;
    assert_int_equal(sb_link_init(&l, &bad, &clk, on_deliver, log, &err), SB_EINVAL);
    assert_string_equal(err.msg, "link: max_frame 0: must be 1 to 65535");
    free(log);
    sb_des_free(&d);
}

/* The direct path (no rate, loss or reordering, hand-over at send): every frame is delivered at
 * once with arrival = now + delay, departure = now, time never runs backwards, the counters move
 * as on the general path, and oversize frames are still dropped. */
static void test_link_direct_handover(void **state)
{
    (void)state;
    rx_log *log = log_new(NULL);
    sb_link l;
    sb_link_config cfg = plain(0, 250);
    cfg.handover = SB_LINK_AT_SEND;
    assert_int_equal(sb_link_init(&l, &cfg, NULL, on_deliver, log, NULL), SB_OK);
    assert_true(l.direct);
    us_time dep = 0;
    assert_int_equal(send_seq(&l, 1, 60, 1000, &dep), SB_LINK_SENT);
    assert_int_equal(dep, 1000);
    assert_int_equal(send_seq(&l, 2, 1518, 900, &dep), SB_LINK_SENT); /* earlier: taken as 1000 */
    assert_int_equal(dep, 1000);
    assert_int_equal(send_seq(&l, 3, 1519, 2000, &dep), SB_LINK_DROP_OVERSIZE);
    assert_int_equal(dep, 2000);
    assert_int_equal(send_seq(&l, 4, 0, 2000, NULL), SB_LINK_DROP_OVERSIZE);
    assert_int_equal(send_seq(&l, 5, 1, 2001, NULL), SB_LINK_SENT);
    assert_int_equal(log->n, 3);
    const uint32_t seq[3] = {1, 2, 5}, len[3] = {60, 1518, 1};
    const us_time arrival[3] = {1250, 1250, 2251};
    for (uint32_t i = 0; i < 3; i++) {
        assert_int_equal(log->seq[i], seq[i]);
        assert_int_equal(log->len[i], len[i]);
        assert_int_equal(log->arrival[i], arrival[i]);
    }
    assert_int_equal(l.stats.frames_sent, 3);
    assert_int_equal(l.stats.bytes_sent, 60 + 1518 + 1);
    assert_int_equal(l.stats.frames_delivered, 3);
    assert_int_equal(l.stats.drop_oversize, 2);
    assert_int_equal(sb_link_backlog(&l, 2001), 0);
    sb_link_free(&l);
    /* Any rate, loss or reordering takes the general path. */
    cfg.loss = 0.5;
    assert_int_equal(sb_link_init(&l, &cfg, NULL, on_deliver, log, NULL), SB_OK);
    assert_false(l.direct);
    sb_link_free(&l);
    cfg = plain(1000, 0);
    cfg.handover = SB_LINK_AT_SEND;
    assert_int_equal(sb_link_init(&l, &cfg, NULL, on_deliver, log, NULL), SB_OK);
    assert_false(l.direct);
    sb_link_free(&l);
    free(log);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_link_timing_exact),
        cmocka_unit_test(test_link_fraction_carried),
        cmocka_unit_test(test_link_ethernet_overhead),
        cmocka_unit_test(test_link_infinite_rate),
        cmocka_unit_test(test_link_direct_handover),
        cmocka_unit_test(test_link_queue_tail_drop),
        cmocka_unit_test(test_link_loss_seeded),
        cmocka_unit_test(test_link_reorder_deterministic),
        cmocka_unit_test(test_link_free_cancels_in_flight),
        cmocka_unit_test(test_link_oversize_and_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
