/* The async and napi schedulers: an executor of tasks (embassy-net's model). Wake sources set a
 * task pending; the executor runs pending tasks one at a time — each run is one wakeup — until
 * none is left, then arms the one timer at poll_at.
 *   ingress task (async)  drains the RX ring
 *   napi poll (napi)      napi.c
 *   application task      the application's step (its socket wakers)
 *   egress task           us_egress in the configured mode (the stack's egress-wanted waker, the
 *                         timer, TX space freed)
 * Order when several are pending: ingress, application, egress, napi repoll — received data is
 * consumed and the replies it causes go out in the same activation. */
#include "sched/sched_internal.h"

static void task_ingress(us_sched *sc)
{
    us__step st = {0};
    us__sched_wake_poll(sc);
    (void)us__sched_drain(sc, 0, &st);
    us__sched_end(sc, &st);
}

static void task_app(us_sched *sc)
{
    us__step st = {0};
    us__sched_wake(sc);
    us__sched_app(sc, &st);
    us__sched_end(sc, &st);
}

static void task_egress(us_sched *sc)
{
    us__step st = {0};
    us__sched_wake_poll(sc);
    us__sched_egress(sc, sc->cfg.egress, &st);
    us__sched_end(sc, &st);
}

void us__tasks_arm(us_sched *sc)
{
    us_time now = us__sched_now(sc);
    us_time at = us_poll_at(sc->stack, now);
    if (sc->tx_blocked && at <= now)
        at = US_TIME_NEVER; /* wait for us_sched_on_tx_space instead of spinning */
    else if (at < now)
        at = now;
    sc->host.arm_timer(sc->host.ctx, at);
}

void us__tasks_run(us_sched *sc)
{
    if (sc->in_step)
        return; /* called from inside a task (a waker): the loop below picks it up */
    sc->in_step = 1;
    for (;;) {
        if (sc->rx_pending) {
            sc->rx_pending = 0;
            task_ingress(sc);
        } else if (sc->app_pending) {
            sc->app_pending = 0;
            task_app(sc);
        } else if (sc->egress_pending && !sc->tx_blocked) {
            sc->egress_pending = 0;
            task_egress(sc);
        } else if (sc->napi_pending) {
            /* After the application and egress had their turn, as a softirq yields between
             * polls: a steady stream cannot starve them. */
            sc->napi_pending = 0;
            us__napi_poll(sc);
        } else {
            break;
        }
        /* The stack's waker is one-shot: keep it registered. */
        us_set_egress_waker(sc->stack, us__sched_egress_waker, sc);
    }
    sc->in_step = 0;
    us__tasks_arm(sc);
}
