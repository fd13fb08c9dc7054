/* The sync scheduler: a superloop (smoltcp's classic loop, lwIP's NO_SYS main loop). Each
 * iteration drains RX up to the device's burst limit, runs egress over every socket (together:
 * us_poll), then the application step, then sleeps until min(poll_at, now + idle_interval).
 * RX does not wake it. A silent stretch of empty iterations is handed to host->skip_idle, which
 * accounts all of them in one step. */
#include "sched/sched_internal.h"

static void sync_iteration(us_sched *sc)
{
    us__step st = {0};
    const us_dev *dev = us_stack_get_dev(sc->stack);
    uint64_t visits_before = sc->stats.socket_visits;

    us__sched_wake_poll(sc);
    (void)us__sched_drain(sc, dev->max_burst, &st);
    us__sched_egress(sc, US_EGRESS_ALL, &st);
    us__sched_app(sc, &st);
    us__sched_end(sc, &st);

    us_time now = us__sched_now(sc);
    us_time poll_at = us_poll_at(sc->stack, now);
    us_time next = now + sc->cfg.idle_interval;
    if (poll_at < next)
        next = poll_at;
    int empty = st.frames_in == 0 && st.frames_out == 0 && !st.app_worked;
    if (empty && sc->tx_blocked && next <= now)
        next = now + 1; /* output waits for TX space: keep polling, but let time advance */

    if (empty && sc->host.skip_idle != NULL && poll_at > now) {
        /* Until input arrives or poll_at, every iteration would be this one again. */
        us_work each = {
            .wakeups = 1,
            .polls = 1,
            .socket_visits = sc->stats.socket_visits - visits_before,
        };
        uint64_t n = sc->host.skip_idle(sc->host.ctx, &each, sc->cfg.idle_interval, poll_at);
        sc->stats.wakeups += n;
        sc->stats.empty_wakeups += n;
        sc->stats.polls += n;
        sc->stats.socket_visits += n * each.socket_visits;
        sc->stats.skipped_iterations += n;
        if (n > 0) {
            now = us__sched_now(sc);
            next = now + sc->cfg.idle_interval;
            if (poll_at < next)
                next = poll_at;
        }
    }
    sc->host.arm_timer(sc->host.ctx, next);
}

void us__sync_start(us_sched *sc)
{
    sync_iteration(sc);
}

void us__sync_timer(us_sched *sc)
{
    sync_iteration(sc);
}
