/* The replay harness (sim/replay) on the canonical traces: determinism for every scheduler,
 * skip_idle exactness (the same record with and without it), conservation of frames and bytes,
 * the schedulers' semantics seen from the harness (sync's idle wakeups, async's silence, napi's
 * masked polling), pool pressure, ISN holding in open mode, latency, the timeseries, and the
 * latency histogram. Every run asserts the teardown self-check: both stacks got every buffer
 * back. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "latency.h"
#include "results.h"
#include "testutil.h"

#ifndef SB_TRACES
#error "SB_TRACES must name the canonical traces directory"
#endif

/* ---- fixtures ---- */

typedef struct loaded {
    const char *name;
    sb_trace t;
    sb_flows f;
} loaded;

static loaded cache[8];

static loaded *load(const char *name)
{
    for (size_t i = 0; i < sizeof cache / sizeof cache[0]; i++) {
        if (cache[i].name && strcmp(cache[i].name, name) == 0)
            return &cache[i];
        if (!cache[i].name) {
            char path[512];
            snprintf(path, sizeof path, "%s/%s.pcap", SB_TRACES, name);
            sb_err err;
            if (sb_trace_load(&cache[i].t, path, NULL, &err) != SB_OK)
                fail_msg("%s", err.msg);
            assert_int_equal(sb_flows_extract(&cache[i].f, &cache[i].t, &err), SB_OK);
            cache[i].name = name;
            return &cache[i];
        }
    }
    fail_msg("trace cache full");
    return NULL;
}

static int teardown_cache(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof cache / sizeof cache[0]; i++) {
        if (cache[i].name) {
            sb_flows_free(&cache[i].f);
            sb_trace_free(&cache[i].t);
            cache[i].name = NULL;
        }
    }
    return 0;
}

static sb_replay_config config(sb_replay_mode mode, us_sched_kind kind)
{
    sb_replay_config c;
    sb_replay_config_default(&c);
    c.mode = mode;
    c.sched.kind = kind;
    if (mode == SB_REPLAY_FLOW) { /* what the command line defaults to */
        c.link_rate_bps = 100000000;
        c.delay = 100000;
    }
    return c;
}

/* Run, then the checks every run must pass: no leak, and the frames reaching the NIC add up. */
static void run(const char *trace, const sb_replay_config *cfg, sb_replay_result *r)
{
    loaded *L = load(trace);
    sb_err err;
    sb_status st = sb_replay_run(cfg, &L->t, &L->f, r, &err);
    if (st != SB_OK)
        fail_msg("%s: %s", trace, err.msg);
    if (r->leaked)
        fail_msg("%s: leak: stack %u pool blocks / %u heap bytes, peer %u / %u", trace,
                 r->leak_stack_pool, r->leak_stack_heap, r->leak_peer_pool, r->leak_peer_heap);
    assert_int_equal(r->frames_offered,
                     r->frames_rx + r->rx_drop_ring + r->rx_drop_pool + r->rx_drop_other +
                         r->rx_left);
    assert_true(r->cpu_busy_ns <= r->sim_duration_ns);
    assert_int_equal(r->latency_samples, r->frames_rx);
}

static const char *sched_name(us_sched_kind k)
{
    return k == US_SCHED_SYNC ? "sync" : k == US_SCHED_ASYNC ? "async" : "napi";
}

/* The summary.json text with the two measured fields zeroed. */
static char *record(const char *trace, const sb_replay_config *c, const sb_replay_result *r)
{
    sb_replay_result x = *r;
    x.wall_ns = 0;
    x.measured_cpu_ns = 0;
    sb_record_echo e = {.env = "replay", .trace = trace,
                        .mode = c->mode == SB_REPLAY_OPEN ? "open" : "flow",
                        .sched = sched_name(c->sched.kind), .pool_size = c->pool,
                        .idle_interval_ns = c->sched.idle_interval, .rx_ring = c->rx_ring,
                        .seed = c->seed, .cost_profile = c->cost.name};
    char *j = sb_record_json(&e, &x);
    assert_non_null(j);
    return j;
}

static const us_sched_kind kinds[] = {US_SCHED_SYNC, US_SCHED_ASYNC, US_SCHED_NAPI};

/* ---- determinism ---- */

static void test_replay_same_inputs_same_record(void **state)
{
    (void)state;
    static const char *traces[] = {"udp-oneway", "tcp-rr", "bursty", "iot-mix"};
    for (int m = 0; m < 2; m++) {
        for (size_t k = 0; k < 3; k++) {
            for (size_t t = 0; t < sizeof traces / sizeof traces[0]; t++) {
                sb_replay_config c = config((sb_replay_mode)m, kinds[k]);
                c.seed = 7;
                c.loss = m == 1 ? 0.01 : 0; /* the seeded loss too */
                sb_replay_result a, b;
                run(traces[t], &c, &a);
                run(traces[t], &c, &b);
                char *ja = record(traces[t], &c, &a), *jb = record(traces[t], &c, &b);
                if (strcmp(ja, jb) != 0)
                    fail_msg("%s %s %s: records differ:\n%s\n%s", traces[t],
                             m ? "flow" : "open", sched_name(kinds[k]), ja, jb);
                assert_true(a.frames_rx > 0);
                free(ja);
                free(jb);
                sb_replay_result_free(&a);
                sb_replay_result_free(&b);
            }
        }
    }
}

/* ---- skip_idle ---- */

static void test_replay_skip_idle_changes_nothing(void **state)
{
    (void)state;
    static const char *traces[] = {"idle-heavy", "tcp-rr", "iot-mix", "bursty"};
    static const us_time idles[] = {0, 37500, 100000, 1000000};
    for (int m = 0; m < 2; m++) {
        for (size_t t = 0; t < sizeof traces / sizeof traces[0]; t++) {
            for (size_t i = 0; i < sizeof idles / sizeof idles[0]; i++) {
                sb_replay_config c = config((sb_replay_mode)m, US_SCHED_SYNC);
                c.sched.idle_interval = idles[i];
                c.ts_interval = 250000;
                sb_replay_result a, b;
                c.skip_idle = true;
                run(traces[t], &c, &a);
                c.skip_idle = false;
                run(traces[t], &c, &b);
                char *ja = record(traces[t], &c, &a), *jb = record(traces[t], &c, &b);
                if (strcmp(ja, jb) != 0)
                    fail_msg("%s %s idle %llu: skip_idle changed the record:\n%s\n%s",
                             traces[t], m ? "flow" : "open", (unsigned long long)idles[i], ja,
                             jb);
                free(ja);
                free(jb);
                /* It did skip, and the timeseries is the same too. */
                assert_true(a.skip_calls > 0);
                assert_int_equal(b.skip_calls, 0);
                assert_true(a.events < b.events);
                assert_int_equal(a.n_ts, b.n_ts);
                uint64_t busy = 0, bytes = 0;
                for (uint64_t x = 0; x < a.n_ts; x++) {
                    assert_int_equal(a.ts[x].busy_ns, b.ts[x].busy_ns);
                    assert_int_equal(a.ts[x].bytes, b.ts[x].bytes);
                    assert_int_equal(a.ts[x].pool_in_use, b.ts[x].pool_in_use);
                    busy += a.ts[x].busy_ns;
                    bytes += a.ts[x].bytes;
                }
                assert_int_equal(busy, a.cpu_busy_ns);
                assert_int_equal(bytes, a.bytes_delivered);
                assert_int_equal(a.n_ts, (a.sim_duration_ns + 249999) / 250000);
                sb_replay_result_free(&a);
                sb_replay_result_free(&b);
            }
        }
    }
}

/* ---- conservation ---- */

static void test_replay_flow_bytes_sent_are_delivered(void **state)
{
    (void)state;
    static const char *traces[] = {"udp-oneway", "tcp-bulk", "tcp-rr", "iot-mix", "bursty",
                                   "idle-heavy", "icmp-ping"};
    for (size_t k = 0; k < 3; k++) {
        for (size_t t = 0; t < sizeof traces / sizeof traces[0]; t++) {
            sb_replay_config c = config(SB_REPLAY_FLOW, kinds[k]);
            c.pool = 64;
            sb_replay_result r;
            run(traces[t], &c, &r);
            if (!r.finished || r.flows_done != r.flows_total)
                fail_msg("%s %s: %llu of %llu flows done", traces[t], sched_name(kinds[k]),
                         (unsigned long long)r.flows_done, (unsigned long long)r.flows_total);
            assert_int_equal(r.rx_drop_ring + r.rx_drop_pool + r.link_lost, 0);
            assert_int_equal(r.peer_bytes_sent, r.bytes_delivered);
            assert_int_equal(r.pings_sent, r.pings_answered);
            assert_int_equal(r.rx_left, 0);
            sb_replay_result_free(&r);
        }
    }
    /* The peer's bytes equal the trace's client bytes. */
    loaded *L = load("tcp-rr");
    uint64_t c2s = 0;
    for (size_t i = 0; i < L->f.n; i++)
        c2s += L->f.flows[i].bytes[SB_C2S];
    sb_replay_config c = config(SB_REPLAY_FLOW, US_SCHED_ASYNC);
    sb_replay_result r;
    run("tcp-rr", &c, &r);
    assert_int_equal(r.bytes_delivered, c2s);
    sb_replay_result_free(&r);
}

static void test_replay_flow_tcp_recovers_from_loss(void **state)
{
    (void)state;
    static const char *traces[] = {"tcp-bulk", "tcp-rr"};
    for (size_t t = 0; t < 2; t++) {
        for (uint64_t seed = 1; seed <= 3; seed++) {
            sb_replay_config c = config(SB_REPLAY_FLOW, kinds[seed % 3]);
            c.loss = 0.03;
            c.seed = seed;
            c.drain = 10000000000ull;
            sb_replay_result r;
            run(traces[t], &c, &r);
            assert_true(r.link_lost + r.peer_link_lost > 0);
            assert_true(r.finished);
            assert_int_equal(r.flows_done, r.flows_total);
            assert_int_equal(r.peer_bytes_sent, r.bytes_delivered);
            sb_replay_result_free(&r);
        }
    }
}

static void test_replay_open_frames_add_up(void **state)
{
    (void)state;
    static const char *traces[] = {"udp-oneway", "tcp-bulk", "tcp-rr", "icmp-ping",
                                   "iot-mix", "bursty", "idle-heavy"};
    for (size_t k = 0; k < 3; k++) {
        for (size_t t = 0; t < sizeof traces / sizeof traces[0]; t++) {
            sb_replay_config c = config(SB_REPLAY_OPEN, kinds[k]);
            c.pool = 4;
            c.rx_ring = 4;
            c.sched.idle_interval = 500000; /* pressure: frames pile up between iterations */
            sb_replay_result r;
            run(traces[t], &c, &r);
            loaded *L = load(traces[t]);
            /* Every trace frame was sent, left out (the server's own), or held and sent. */
            assert_int_equal(r.open_sent + r.open_not_for_stack + r.open_unusable +
                                 r.open_held_dropped,
                             L->t.n);
            assert_int_equal(r.frames_offered + r.link_lost, r.open_sent);
            sb_replay_result_free(&r);
        }
    }
}

/* ---- scheduler semantics ---- */

static void test_replay_sync_wakes_every_interval_in_silence(void **state)
{
    (void)state;
    static const us_time idles[] = {50000, 100000, 1000000};
    for (int m = 0; m < 2; m++) {
        for (size_t i = 0; i < 3; i++) {
            const us_time I = idles[i];
            sb_replay_config c = config((sb_replay_mode)m, US_SCHED_SYNC);
            c.sched.idle_interval = I;
            sb_replay_result r;
            run("idle-heavy", &c, &r);
            /* The loop is either running (cpu_busy_ns in all) or sleeping I after each
             * iteration; a sleep is shorter only when a TCP timer (poll_at) comes first, a few
             * per frame at most. So wakeups * I + cpu_busy_ns covers the run to within one
             * period and those shortened sleeps. */
            uint64_t silent = r.sim_duration_ns - r.cpu_busy_ns;
            uint64_t slack = 2 * (r.frames_rx + r.frames_tx) + 2;
            if (r.wakeups > silent / I + 1 + slack || r.wakeups + slack < silent / I)
                fail_msg("idle %llu: %llu wakeups, expected about %llu (silent %llu ns)",
                         (unsigned long long)I, (unsigned long long)r.wakeups,
                         (unsigned long long)(silent / I), (unsigned long long)silent);
            /* Nearly all of them empty. */
            assert_true(r.empty_wakeups + r.frames_rx + r.frames_tx >= r.wakeups);
            sb_replay_result_free(&r);
        }
    }
}

static void test_replay_async_silence_makes_no_wakeups(void **state)
{
    (void)state;
    for (int m = 0; m < 2; m++) {
        sb_replay_config c = config((sb_replay_mode)m, US_SCHED_ASYNC);
        sb_replay_result a, s;
        run("idle-heavy", &c, &a);
        c.sched.kind = US_SCHED_SYNC;
        run("idle-heavy", &c, &s);
        /* A handful of empty task runs (start, a timer) over 2 s, against ~20 000 polls. */
        assert_true(a.empty_wakeups <= 8);
        assert_true(a.wakeups <= 3 * (a.frames_rx + a.frames_tx) + 8);
        assert_true(s.empty_wakeups > 1000 * a.empty_wakeups);
        assert_int_equal(a.frames_rx_masked, 0); /* every frame came with an interrupt */
        sb_replay_result_free(&a);
        sb_replay_result_free(&s);
    }
}

static void test_replay_napi_polls_with_rx_irq_masked(void **state)
{
    (void)state;
    /* bursty at 20x: datagrams every 2.3 us, faster than the stack takes them. */
    sb_replay_config c = config(SB_REPLAY_OPEN, US_SCHED_NAPI);
    c.speed = 20;
    c.sched.napi_budget = 4;
    c.rx_ring = 256;
    c.pool = 256;
    sb_replay_result n, a;
    run("bursty", &c, &n);
    c.sched.kind = US_SCHED_ASYNC;
    run("bursty", &c, &a);
    assert_true(n.frames_rx > 400);
    assert_int_equal(n.frames_rx_masked, n.frames_rx); /* every poll ran masked */
    assert_true(n.sched.rx_irqs * 4 < n.frames_rx);     /* one interrupt per busy period */
    assert_true(n.irq_mask_changes >= 2 * n.sched.rx_irqs);
    assert_true(n.sched.polls > n.sched.rx_irqs);       /* repolls after full budgets */
    assert_int_equal(a.frames_rx_masked, 0);
    assert_int_equal(a.irq_mask_changes, 1);            /* async unmasks once, at start */
    sb_replay_result_free(&n);
    sb_replay_result_free(&a);
}

/* ---- buffers ---- */

/* bursty at the default settings (RX ring 16, sync at 100 us): every scheduler runs its small
 * pools dry, and drops never grow as the pool grows. A UDP datagram's pbuf goes back to the pool
 * in its ingress (the socket keeps a copy), so the blocks in use never exceed the ring's
 * occupancy: from a pool as large as the ring on, the ring overflows first. With a ring larger
 * than the pool, the pool is what overflows (sync). */
static void test_replay_pool_drops_never_grow_with_the_pool(void **state)
{
    (void)state;
    static const uint32_t pools[] = {2, 4, 8, 16, 32, 64, 128, 256};
    for (size_t k = 0; k < 3; k++) {
        uint64_t prev = UINT64_MAX;
        for (size_t i = 0; i < sizeof pools / sizeof pools[0]; i++) {
            sb_replay_config c = config(SB_REPLAY_OPEN, kinds[k]);
            c.pool = pools[i];
            sb_replay_result r;
            run("bursty", &c, &r);
            if (r.rx_drop_pool > prev)
                fail_msg("%s: pool %u drops %llu > %llu with a smaller pool",
                         sched_name(kinds[k]), pools[i], (unsigned long long)r.rx_drop_pool,
                         (unsigned long long)prev);
            if (pools[i] < c.rx_ring && r.rx_drop_pool == 0)
                fail_msg("%s: pool %u below the ring never ran dry", sched_name(kinds[k]),
                         pools[i]);
            if (pools[i] >= c.rx_ring) {
                assert_int_equal(r.rx_drop_pool, 0);
                assert_true(r.rx_drop_ring > 0); /* the burst still overflowed the ring */
            }
            assert_true(r.pool_hwm <= pools[i] && r.pool_hwm <= c.rx_ring);
            prev = r.rx_drop_pool;
            sb_replay_result_free(&r);
        }
    }
    uint64_t prev = UINT64_MAX;
    for (size_t i = 4; i < sizeof pools / sizeof pools[0]; i++) {
        sb_replay_config c = config(SB_REPLAY_OPEN, US_SCHED_SYNC);
        c.pool = pools[i];
        c.rx_ring = 256;
        sb_replay_result r;
        run("bursty", &c, &r);
        if (pools[i] == 32)
            assert_true(r.rx_drop_pool > 0);
        assert_true(r.rx_drop_pool <= prev);
        assert_int_equal(r.rx_drop_ring, 0);
        prev = r.rx_drop_pool;
        sb_replay_result_free(&r);
    }
    assert_int_equal(prev, 0);
}

/* ---- open mode: the stack's ISN ---- */

static void test_replay_open_holds_frames_until_the_isn_is_known(void **state)
{
    (void)state;
    /* Back to back at 1 Gbit/s the client's ACK of the SYN-ACK comes before the stack has sent
     * its SYN-ACK: held, then sent; every request still arrives and is answered. */
    loaded *L = load("tcp-rr");
    uint64_t c2s = 0;
    for (size_t i = 0; i < L->f.n; i++)
        c2s += L->f.flows[i].bytes[SB_C2S];
    for (size_t k = 0; k < 3; k++) {
        sb_replay_config c = config(SB_REPLAY_OPEN, kinds[k]);
        c.link_rate_bps = 1000000000;
        c.rx_ring = 1024;
        c.pool = 1024;
        sb_replay_result r;
        run("tcp-rr", &c, &r);
        assert_true(r.open_held > 0);
        assert_int_equal(r.open_held_dropped, 0);
        assert_int_equal(r.open_unusable, 0);
        assert_int_equal(r.rx_drop_ring + r.rx_drop_pool, 0);
        assert_true(r.sim_duration_ns < 50000000); /* compressed: far below the trace's 0.2 s */
        sb_replay_result_free(&r);
    }
    /* At the timestamps the same bytes arrive. */
    sb_replay_config c = config(SB_REPLAY_OPEN, US_SCHED_ASYNC);
    sb_replay_result r;
    run("tcp-rr", &c, &r);
    assert_int_equal(r.bytes_delivered, c2s);
    sb_replay_result_free(&r);
}

/* ---- latency ---- */

static void test_replay_latency_is_arrival_to_end_of_ingress(void **state)
{
    (void)state;
    /* async, one 106-byte datagram at a time: IRQ latency + wake + poll + frame + 106 bytes. */
    sb_replay_config c = config(SB_REPLAY_OPEN, US_SCHED_ASYNC);
    sb_replay_result r;
    run("udp-oneway", &c, &r);
    us_work w = {.wakeups = 1, .polls = 1, .frames = 1, .bytes = 106};
    us_time expect = c.irq_latency + sb_cost_of(&c.cost, &w);
    assert_true(r.lat_p50_ns >= expect && r.lat_p50_ns <= expect + 1);
    assert_true(r.lat_p99_ns >= expect && r.lat_p99_ns <= expect + 1);
    sb_replay_result_free(&r);
    /* sync polls every 100 us + its cost: frames wait up to a period. */
    c.sched.kind = US_SCHED_SYNC;
    run("udp-oneway", &c, &r);
    assert_true(r.lat_p99_ns > 90000 && r.lat_p99_ns < 120000);
    assert_true(r.lat_p50_ns < r.lat_p99_ns);
    sb_replay_result_free(&r);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static void test_replay_latency_histogram_percentiles(void **state)
{
    (void)state;
    sb_lat h;
    assert_int_equal(sb_lat_init(&h), 0);
    assert_int_equal(sb_lat_percentile(&h, 50), 0);
    for (uint64_t v = 1; v <= 1000; v++)
        sb_lat_add(&h, v);
    assert_int_equal(sb_lat_percentile(&h, 50), 500); /* exact below 2048 */
    assert_int_equal(sb_lat_percentile(&h, 99), 990);
    assert_int_equal(sb_lat_percentile(&h, 100), 1000);
    sb_lat_free(&h);
    assert_int_equal(sb_lat_init(&h), 0);
    us_test_rng rng = {42};
    uint64_t *v = malloc(10000 * sizeof(*v));
    assert_non_null(v);
    for (int i = 0; i < 10000; i++) {
        v[i] = us_test_rand(&rng) % 100000000u;
        sb_lat_add(&h, v[i]);
    }
    /* Against the exact nearest rank: never below, at most 1/1024 above. */
    qsort(v, 10000, sizeof(*v), cmp_u64);
    for (unsigned pct = 1; pct <= 100; pct++) {
        uint64_t exact = v[(10000u * pct + 99) / 100 - 1];
        uint64_t got = sb_lat_percentile(&h, pct);
        assert_true(got >= exact);
        assert_true(got - exact <= exact / 1024 + 1);
    }
    free(v);
    sb_lat_free(&h);
    assert_int_equal(sb_lat_bucket(UINT64_MAX), SB_LAT_BUCKETS - 1);
}

/* ---- the record ---- */

static void test_replay_record_keys_in_order(void **state)
{
    (void)state;
    sb_replay_config c = config(SB_REPLAY_OPEN, US_SCHED_SYNC);
    sb_replay_result r;
    run("icmp-ping", &c, &r);
    char *j = record("icmp-ping.pcap", &c, &r);
    const char *p = j;
    int n = 0;
    for (int i = 0; sb_record_keys[i]; i++, n++) {
        char key[64];
        snprintf(key, sizeof key, "\"%s\": ", sb_record_keys[i]);
        const char *q = strstr(p, key);
        if (!q)
            fail_msg("key %s missing or out of order in\n%s", sb_record_keys[i], j);
        p = q + strlen(key);
    }
    assert_int_equal(n, 27);
    assert_non_null(strstr(j, "\"cpu_util\": 0."));
    free(j);
    sb_replay_result_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_replay_same_inputs_same_record),
        cmocka_unit_test(test_replay_skip_idle_changes_nothing),
        cmocka_unit_test(test_replay_flow_bytes_sent_are_delivered),
        cmocka_unit_test(test_replay_flow_tcp_recovers_from_loss),
        cmocka_unit_test(test_replay_open_frames_add_up),
        cmocka_unit_test(test_replay_sync_wakes_every_interval_in_silence),
        cmocka_unit_test(test_replay_async_silence_makes_no_wakeups),
        cmocka_unit_test(test_replay_napi_polls_with_rx_irq_masked),
        cmocka_unit_test(test_replay_pool_drops_never_grow_with_the_pool),
        cmocka_unit_test(test_replay_open_holds_frames_until_the_isn_is_known),
        cmocka_unit_test(test_replay_latency_is_arrival_to_end_of_ingress),
        cmocka_unit_test(test_replay_latency_histogram_percentiles),
        cmocka_unit_test(test_replay_record_keys_in_order),
    };
    return cmocka_run_group_tests(tests, NULL, teardown_cache);
}
