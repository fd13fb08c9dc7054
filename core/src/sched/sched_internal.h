/* Internal: what the three schedulers share — charging, the per-frame RX drain, the measured
 * egress pass and the application step. Every function charges the host for exactly the work it
 * did and adds it to the scheduler's counters. */
#ifndef USTACK_SCHED_INTERNAL_H
#define USTACK_SCHED_INTERNAL_H

#include "ustack/sched.h"

/* What one task or iteration did, to decide whether its wakeup was empty. */
typedef struct us__step {
    uint32_t frames_in;
    uint32_t frames_out;
    int app_worked;
} us__step;

static inline us_time us__sched_now(const us_sched *sc)
{
    return sc->host.now(sc->host.ctx);
}

/* A wakeup, counted and charged. */
static inline void us__sched_wake(us_sched *sc)
{
    us_work w = {.wakeups = 1};
    sc->stats.wakeups++;
    sc->host.charge(sc->host.ctx, &w);
}

/* A wakeup that polls the stack at once: one charge for both (the host sees the same time after
 * it as after two charges, nothing looking at the clock in between), each counted. */
static inline void us__sched_wake_poll(us_sched *sc)
{
    us_work w = {.wakeups = 1, .polls = 1};
    sc->stats.wakeups++;
    sc->stats.polls++;
    sc->host.charge(sc->host.ctx, &w);
}

/* Take up to max frames (0 = no limit) from the device, one us_ingress each, charging each frame
 * right after it. Adds to st->frames_in; returns the number taken. */
uint32_t us__sched_drain(us_sched *sc, uint32_t max, us__step *st);

/* One us_egress pass in `mode`, charging its socket visits, frames and bytes. Notes a device
 * refusal in sc->tx_blocked. */
void us__sched_egress(us_sched *sc, us_egress_mode mode, us__step *st);

/* The application's step, charging the bytes it copied. */
void us__sched_app(us_sched *sc, us__step *st);

/* Close a wakeup: counts it empty if it did nothing. */
static inline void us__sched_end(us_sched *sc, const us__step *st)
{
    if (st->frames_in == 0 && st->frames_out == 0 && !st->app_worked)
        sc->stats.empty_wakeups++;
}

/* The stack's egress-wanted waker (ctx = the us_sched): sets the egress task pending. */
void us__sched_egress_waker(void *ctx);

/* The scheduler kinds. */
void us__sync_start(us_sched *sc);
void us__sync_timer(us_sched *sc);
void us__tasks_run(us_sched *sc); /* async and napi */
void us__tasks_arm(us_sched *sc);
void us__napi_poll(us_sched *sc);

#endif /* USTACK_SCHED_INTERNAL_H */
