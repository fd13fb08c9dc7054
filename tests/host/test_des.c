/* sbhost event engine: events run in time order, ties in insertion order (also for events
 * scheduled from callbacks), cancel before and from inside callbacks (stale handles harmless),
 * run_until and stop, the sb_clock view, and a seeded random schedule/cancel mix checked against
 * a sorted reference. */
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#include "sbhost/des.h"

typedef struct log {
    sb_des *d;
    int ids[4096];
    us_time at[4096];
    int n;
} log_t;

typedef struct ev {
    log_t *log;
    int id;
    sb_event_id cancel_this;  /* cancelled by this event when it runs */
    int cancel_result;        /* what that cancel returned */
    int schedule_id;          /* > 0: schedule another event with this id ... */
    us_time schedule_at;      /* ... at this time */
    struct ev *child;
    int stop;
} ev_t;

static void record(void *ctx, void *arg)
{
    log_t *l = ctx;
    ev_t *e = arg;
    assert_true(l->n < 4096);
    l->ids[l->n] = e->id;
    l->at[l->n] = sb_des_now(l->d);
    l->n++;
    if (e->cancel_this != SB_EVENT_NONE)
        e->cancel_result = sb_des_cancel(l->d, e->cancel_this);
    if (e->child)
        assert_int_not_equal(sb_des_schedule(l->d, e->schedule_at, record, l, e->child),
                             SB_EVENT_NONE);
    if (e->stop)
        sb_des_stop(l->d);
}

static void test_des_order_by_time(void **state)
{
    (void)state;
    sb_des d;
    sb_des_init(&d);
    log_t l = {.d = &d};
    ev_t e[3] = {{.id = 30}, {.id = 10}, {.id = 20}};
    sb_des_schedule(&d, 30, record, &l, &e[0]);
    sb_des_schedule(&d, 10, record, &l, &e[1]);
    sb_des_schedule(&d, 20, record, &l, &e[2]);
    assert_int_equal(sb_des_pending(&d), 3);
    assert_int_equal(sb_des_next_time(&d), 10);
    assert_int_equal(sb_des_run(&d), SB_DES_DONE);
    assert_int_equal(l.n, 3);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(l.ids[i], 10 * (i + 1));
        assert_int_equal(l.at[i], 10 * (i + 1));
    }
    assert_int_equal(sb_des_now(&d), 30);
    assert_int_equal(sb_des_pending(&d), 0);
    assert_int_equal(sb_des_next_time(&d), US_TIME_NEVER);
    assert_int_equal(d.events_run, 3);
    sb_des_free(&d);
}

static void test_des_ties_insertion_order(void **state)
{
    (void)state;
    sb_des d;
    sb_des_init(&d);
    log_t l = {.d = &d};
    ev_t e[8];
    /* ids 0..7 at times 5,7,5,7,5,7,5,7: the 5s in order, then the 7s in order. */
    for (int i = 0; i < 8; i++) {
        e[i] = (ev_t){.id = i};
        sb_des_schedule(&d, i % 2 ? 7 : 5, record, &l, &e[i]);
    }
    sb_des_run(&d);
    int want[8] = {0, 2, 4, 6, 1, 3, 5, 7};
    assert_int_equal(l.n, 8);
    for (int i = 0; i < 8; i++)
        assert_int_equal(l.ids[i], want[i]);
    sb_des_free(&d);
}

static void test_des_schedule_from_callback_same_time_runs_last(void **state)
{
    (void)state;
    sb_des d;
    sb_des_init(&d);
    log_t l = {.d = &d};
    ev_t child = {.id = 99}, past = {.id = 98};
    ev_t a = {.id = 1, .child = &child, .schedule_at = 10};
    ev_t b = {.id = 2}, c = {.id = 3, .child = &past, .schedule_at = 4};
    sb_des_schedule(&d, 10, record, &l, &a);
    sb_des_schedule(&d, 10, record, &l, &b);
    sb_des_schedule(&d, 12, record, &l, &c);
    sb_des_run(&d);
    /* a's child (same time) runs after b, which was queued first; c's child, scheduled for a time
     * already past, runs at c's time. */
    int want[5] = {1, 2, 99, 3, 98};
    us_time want_at[5] = {10, 10, 10, 12, 12};
    assert_int_equal(l.n, 5);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(l.ids[i], want[i]);
        assert_int_equal(l.at[i], want_at[i]);
    }
    sb_des_free(&d);
}

static void test_des_cancel(void **state)
{
    (void)state;
    sb_des d;
    sb_des_init(&d);
    log_t l = {.d = &d};
    ev_t a = {.id = 1}, b = {.id = 2}, c = {.id = 3};
    sb_event_id ha = sb_des_schedule(&d, 10, record, &l, &a);
    sb_event_id hb = sb_des_schedule(&d, 20, record, &l, &b);
    assert_int_not_equal(ha, SB_EVENT_NONE);
    assert_int_not_equal(ha, hb);
    assert_int_equal(sb_des_cancel(&d, hb), 1);
    assert_int_equal(sb_des_cancel(&d, hb), 0);
    assert_int_equal(sb_des_cancel(&d, SB_EVENT_NONE), 0);
    assert_int_equal(sb_des_cancel(&d, 12345), 0);
    assert_int_equal(sb_des_pending(&d), 1);
    /* The freed slot is reused: the stale handle must not cancel its new occupant. */
    sb_event_id hc = sb_des_schedule(&d, 20, record, &l, &c);
    assert_int_not_equal(hc, hb);
    assert_int_equal(sb_des_cancel(&d, hb), 0);
    sb_des_run(&d);
    assert_int_equal(l.n, 2);
    assert_int_equal(l.ids[0], 1);
    assert_int_equal(l.ids[1], 3);
    assert_int_equal(sb_des_cancel(&d, ha), 0); /* already ran */
    sb_des_free(&d);
}

static void test_des_cancel_from_callback(void **state)
{
    (void)state;
    sb_des d;
    sb_des_init(&d);
    log_t l = {.d = &d};
    ev_t a = {.id = 1}, b = {.id = 2}, c = {.id = 3}, self = {.id = 4};
    sb_des_schedule(&d, 10, record, &l, &a);
    sb_event_id hb = sb_des_schedule(&d, 10, record, &l, &b); /* same time, after a */
    sb_event_id hc = sb_des_schedule(&d, 20, record, &l, &c);
    a.cancel_this = hb;
    sb_des_schedule(&d, 15, record, &l, &self);
    self.cancel_this = hc;
    /* An event cancelling itself finds its handle stale: it is already running. */
    ev_t me = {.id = 5};
    sb_event_id hme = sb_des_schedule(&d, 16, record, &l, &me);
    me.cancel_this = hme;
    sb_des_run(&d);
    assert_int_equal(a.cancel_result, 1);
    assert_int_equal(self.cancel_result, 1);
    assert_int_equal(me.cancel_result, 0);
    assert_int_equal(l.n, 3);
    assert_int_equal(l.ids[0], 1);
    assert_int_equal(l.ids[1], 4);
    assert_int_equal(l.ids[2], 5);
    assert_int_equal(sb_des_now(&d), 16);
    sb_des_free(&d);
}

static void test_des_run_until(void **state)
{
    (void)state;
    sb_des d;
    sb_des_init(&d);
    log_t l = {.d = &d};
    ev_t e[3] = {{.id = 10}, {.id = 20}, {.id = 30}};
    for (int i = 0; i < 3; i++)
        sb_des_schedule(&d, e[i].id, record, &l, &e[i]);
    assert_int_equal(sb_des_run_until(&d, 20), SB_DES_DONE);
    assert_int_equal(l.n, 2);
    assert_int_equal(sb_des_now(&d), 20);
    assert_int_equal(sb_des_run_until(&d, 25), SB_DES_DONE);
    assert_int_equal(l.n, 2);
    assert_int_equal(sb_des_now(&d), 25);
    assert_int_equal(sb_des_next_time(&d), 30);
    assert_int_equal(sb_des_run_until(&d, 5), SB_DES_DONE); /* the clock never goes back */
    assert_int_equal(sb_des_now(&d), 25);
    assert_int_equal(sb_des_step(&d), 1);
    assert_int_equal(sb_des_now(&d), 30);
    assert_int_equal(sb_des_step(&d), 0);
    assert_int_equal(sb_des_run_until(&d, US_TIME_NEVER), SB_DES_DONE);
    assert_int_equal(sb_des_now(&d), 30);
    sb_des_free(&d);
}

static void test_des_stop(void **state)
{
    (void)state;
    sb_des d;
    sb_des_init(&d);
    log_t l = {.d = &d};
    ev_t e[3] = {{.id = 1}, {.id = 2, .stop = 1}, {.id = 3}};
    for (int i = 0; i < 3; i++)
        sb_des_schedule(&d, 100 * (us_time)(i + 1), record, &l, &e[i]);
    assert_int_equal(sb_des_run_until(&d, 1000), SB_DES_STOPPED);
    assert_int_equal(l.n, 2);
    assert_int_equal(sb_des_now(&d), 200);
    assert_int_equal(sb_des_run(&d), SB_DES_DONE);
    assert_int_equal(l.n, 3);
    assert_int_equal(sb_des_now(&d), 300);
    sb_des_free(&d);
}

static void test_des_clock_interface(void **state)
{
    (void)state;
    sb_des d;
    sb_des_init(&d);
    log_t l = {.d = &d};
    sb_clock c = sb_des_clock(&d);
    ev_t a = {.id = 1}, b = {.id = 2};
    sb_event_id ha = sb_clock_schedule(&c, 50, record, &l, &a);
    sb_event_id hb = sb_clock_schedule(&c, 60, record, &l, &b);
    assert_int_equal(sb_clock_cancel(&c, hb), 1);
    assert_int_equal(sb_clock_now(&c), 0);
    sb_des_run(&d);
    assert_int_equal(sb_clock_now(&c), 50);
    assert_int_equal(l.n, 1);
    assert_int_equal(sb_clock_cancel(&c, ha), 0);
    sb_des_free(&d);
}

/* ---- randomized: the engine against a sorted reference ---- */

typedef struct rnd_ev {
    us_time at;
    sb_event_id h;
    int cancelled, ran;
} rnd_ev;

typedef struct rnd_ctx {
    sb_des *d;
    rnd_ev *evs;
    int *order;
    int n;
} rnd_ctx;

static void rnd_run(void *ctx, void *arg)
{
    rnd_ctx *r = ctx;
    int i = (int)(intptr_t)arg;
    assert_int_equal(sb_des_now(r->d), r->evs[i].at);
    r->evs[i].ran = 1;
    r->order[r->n++] = i;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void test_des_random_against_reference(void **state)
{
    (void)state;
    enum { N = 20000 };
    sb_des d;
    sb_des_init(&d);
    rnd_ev *evs = calloc(N, sizeof(*evs));
    int *order = calloc(N, sizeof(*order));
    uint64_t *keys = calloc(N, sizeof(*keys));
    assert_non_null(evs);
    assert_non_null(order);
    assert_non_null(keys);
    rnd_ctx r = {.d = &d, .evs = evs, .order = order};
    us_test_rng rng = {.s = 7};
    for (int i = 0; i < N; i++) {
        evs[i].at = us_test_below(&rng, 500); /* many ties */
        evs[i].h = sb_des_schedule(&d, evs[i].at, rnd_run, &r, (void *)(intptr_t)i);
        if (i > 0 && us_test_below(&rng, 4) == 0) {
            int j = (int)us_test_below(&rng, (uint32_t)i);
            assert_int_equal(sb_des_cancel(&d, evs[j].h), !evs[j].cancelled);
            evs[j].cancelled = 1;
        }
    }
    /* The reference order: (time, insertion index), as one sortable key each. */
    int nwant = 0;
    for (int i = 0; i < N; i++) {
        if (!evs[i].cancelled)
            keys[nwant++] = (evs[i].at << 32) | (uint64_t)i;
    }
    qsort(keys, (size_t)nwant, sizeof(*keys), cmp_u64);
    assert_int_equal(sb_des_pending(&d), nwant);
    sb_des_run(&d);
    assert_int_equal(r.n, nwant);
    for (int i = 0; i < nwant; i++)
        assert_int_equal(order[i], (int)(keys[i] & 0xFFFFFFFFu));
    for (int i = 0; i < N; i++)
        assert_int_equal(evs[i].ran, !evs[i].cancelled);
    free(keys);
    free(evs);
    free(order);
    sb_des_free(&d);
}

/* The event beside the heap runs in the same (time, insertion) order as heap events, a new one
 * replaces the pending one, it counts as pending, and step_until stops at the horizon. */
static void side_record(void *ctx, void *arg)
{
    log_t *l = ctx;
    ev_t *e = arg;
    l->ids[l->n] = e->id;
    l->at[l->n] = sb_des_now(l->d);
    l->n++;
    if (e->schedule_id) /* reschedule itself, as a trace source does */
        sb_des_schedule_side(l->d, e->schedule_at, side_record, l, e->child);
}

static void test_des_side_event_order(void **state)
{
    (void)state;
    sb_des d;
    sb_des_init(&d);
    log_t l = {.d = &d};
    ev_t h[3] = {{.id = 1}, {.id = 3}, {.id = 5}};
    ev_t s2 = {.id = 4};
    ev_t s1 = {.id = 2, .schedule_id = 4, .schedule_at = 20, .child = &s2};
    ev_t gone = {.id = 99};
    sb_des_schedule(&d, 10, record, &l, &h[0]);  /* seq 0 */
    sb_des_schedule_side(&d, 10, side_record, &l, &gone);
    sb_des_schedule_side(&d, 10, side_record, &l, &s1); /* replaces `gone`; after h[0] */
    sb_des_schedule(&d, 10, record, &l, &h[1]);  /* after s1 */
    sb_des_schedule(&d, 20, record, &l, &h[2]);  /* before s2, scheduled later from s1 */
    assert_int_equal(sb_des_pending(&d), 4);
    assert_int_equal(sb_des_next_time(&d), 10);
    assert_int_equal(sb_des_step_until(&d, 9), 0);
    assert_int_equal(sb_des_run_until(&d, 15), SB_DES_DONE);
    assert_int_equal(l.n, 3);
    assert_int_equal(sb_des_pending(&d), 2);
    assert_int_equal(sb_des_run(&d), SB_DES_DONE);
    const int want[5] = {1, 2, 3, 5, 4};
    assert_int_equal(l.n, 5);
    for (int i = 0; i < 5; i++)
        assert_int_equal(l.ids[i], want[i]);
    assert_int_equal(l.at[4], 20);
    assert_int_equal(d.events_run, 5);
    assert_int_equal(sb_des_pending(&d), 0);
    assert_int_equal(sb_des_next_time(&d), US_TIME_NEVER);
    sb_des_free(&d);
}

/* A source going on inline (sb_des_side_continue) runs exactly what rescheduling itself for each
 * item runs: the same order, times and events_run, with heap events (some due at the same time as
 * items) and horizons in between; and it does go on inline where it may. */
typedef struct src {
    log_t *log;
    const us_time *times;
    int n, next;
    int inline_ok;  /* use sb_des_side_continue */
    int continued;  /* items run inline */
} src_t;

static void src_fire(void *ctx, void *arg)
{
    (void)arg;
    src_t *s = ctx;
    sb_des *d = s->log->d;
    while (s->next < s->n) {
        us_time t = s->times[s->next];
        if (t > sb_des_now(d)) {
            if (!s->inline_ok || !sb_des_side_continue(d, t)) {
                sb_des_schedule_side(d, t, src_fire, s, NULL);
                return;
            }
            s->continued++;
        }
        log_t *l = s->log;
        l->ids[l->n] = 1000 + s->next;
        l->at[l->n] = sb_des_now(d);
        l->n++;
        s->next++;
    }
}

static void run_source(int inline_ok, uint64_t seed, log_t *l, src_t *s, uint64_t *events)
{
    static us_time times[300];
    static ev_t evs[200];
    sb_des d;
    sb_des_init(&d);
    *l = (log_t){.d = &d};
    uint64_t x = seed;
    us_time t = 0;
    for (int i = 0; i < 300; i++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        t += (x >> 60) & 3; /* 0..3 ns apart: many items due at the same time */
        times[i] = t;
    }
    *s = (src_t){.log = l, .times = times, .n = 300, .inline_ok = inline_ok};
    for (int i = 0; i < 200; i++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        evs[i] = (ev_t){.log = l, .id = i, .cancel_this = SB_EVENT_NONE};
        if (i % 7 == 0) { /* schedules another at a later item's time */
            evs[i].child = &evs[i + 1 < 200 ? i + 1 : i];
            evs[i].schedule_at = (x >> 33) % (t + 1);
        }
        if (i % 7 != 1)
            sb_des_schedule(&d, (x >> 40) % (t + 1), record, l, &evs[i]);
    }
    sb_des_schedule_side(&d, 0, src_fire, s, NULL);
    /* Horizons that cut through runs of items. */
    for (us_time h = 0; h < t; h += 37)
        assert_int_equal(sb_des_run_until(&d, h), SB_DES_DONE);
    assert_int_equal(sb_des_run(&d), SB_DES_DONE);
    *events = d.events_run;
    sb_des_free(&d);
}

static void test_des_side_continue_same_run(void **state)
{
    (void)state;
    for (uint64_t seed = 1; seed <= 20; seed++) {
        log_t a, b;
        src_t sa, sb;
        uint64_t ea, eb;
        run_source(0, seed, &a, &sa, &ea);
        run_source(1, seed, &b, &sb, &eb);
        assert_int_equal(sa.continued, 0);
        assert_true(sb.continued > 50);
        assert_int_equal(a.n, b.n);
        assert_int_equal(ea, eb);
        for (int i = 0; i < a.n; i++) {
            assert_int_equal(a.ids[i], b.ids[i]);
            assert_int_equal(a.at[i], b.at[i]);
        }
    }
}

/* It does not go on past the horizon of the step running, before an event due at the same time,
 * or after sb_des_stop(). */
static void test_des_side_continue_refused(void **state)
{
    (void)state;
    sb_des d;
    sb_des_init(&d);
    log_t l = {.d = &d};
    ev_t h = {.id = 1};
    sb_des_schedule(&d, 20, record, &l, &h);
    d.side.fn = NULL;
    assert_int_equal(sb_des_step_until(&d, 15), 0); /* nothing due: until stays unset */
    sb_des_schedule_side(&d, 5, side_record, &l, &(ev_t){.id = 2});
    assert_int_equal(sb_des_step_until(&d, 15), 1); /* runs the side event at 5, bound 15 */
    assert_int_equal(sb_des_now(&d), 5);
    uint64_t run = d.events_run;
    assert_int_equal(sb_des_side_continue(&d, 16), 0); /* past the bound */
    assert_int_equal(sb_des_side_continue(&d, 20), 0);
    assert_int_equal(sb_des_side_continue(&d, 12), 1); /* due first and within the bound */
    assert_int_equal(sb_des_now(&d), 12);
    assert_int_equal(d.events_run, run + 1);
    sb_des_stop(&d);
    assert_int_equal(sb_des_side_continue(&d, 13), 0);
    assert_int_equal(sb_des_run(&d), SB_DES_STOPPED); /* clears the stop after the heap event */
    assert_int_equal(sb_des_run_until(&d, US_TIME_NEVER), SB_DES_DONE);
    assert_int_equal(sb_des_now(&d), 20);
    /* An event due at the same time was scheduled earlier: it runs first. */
    sb_des_schedule(&d, 30, record, &l, &h);
    sb_des_schedule_side(&d, 25, side_record, &l, &(ev_t){.id = 3});
    assert_int_equal(sb_des_step(&d), 1);
    assert_int_equal(sb_des_side_continue(&d, 30), 0);
    assert_int_equal(sb_des_side_continue(&d, 29), 1);
    assert_int_equal(sb_des_run(&d), SB_DES_DONE);
    assert_int_equal(l.n, 4);
    sb_des_free(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_des_order_by_time),
        cmocka_unit_test(test_des_ties_insertion_order),
        cmocka_unit_test(test_des_schedule_from_callback_same_time_runs_last),
        cmocka_unit_test(test_des_cancel),
        cmocka_unit_test(test_des_cancel_from_callback),
        cmocka_unit_test(test_des_run_until),
        cmocka_unit_test(test_des_stop),
        cmocka_unit_test(test_des_clock_interface),
        cmocka_unit_test(test_des_random_against_reference),
        cmocka_unit_test(test_des_side_event_order),
        cmocka_unit_test(test_des_side_continue_same_run),
        cmocka_unit_test(test_des_side_continue_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
