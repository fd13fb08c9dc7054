/* The napi scheduler's poll (Linux NAPI): the first RX interrupt masked RX interrupts and set this
 * poll pending (sched.c); each poll takes at most napi_budget frames. A full budget means more may
 * wait: poll again (after the application and egress had their turn), interrupts still masked.
 * Fewer means the ring is empty: unmask. Timers and socket wakers work as for async (async.c). */
#include "sched/sched_internal.h"

void us__napi_poll(us_sched *sc)
{
    us__step st = {0};
    us__sched_wake_poll(sc);
    uint32_t budget = sc->cfg.napi_budget;
    uint32_t n = us__sched_drain(sc, budget, &st);
    if (n == budget) {
        sc->napi_pending = 1; /* budget used up: more may wait; poll again, interrupts stay masked */
    } else {
        /* Ring found empty: back to interrupts. A host raises one at once if frames arrived in
         * the meantime. */
        sc->host.set_rx_irq(sc->host.ctx, 1);
    }
    us__sched_end(sc, &st);
}

