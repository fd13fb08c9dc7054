/* Schedulers: binding to stack, host and application; the host events, dispatched by kind; and
 * the measured building blocks every kind uses (wake, poll call, per-frame drain, egress pass,
 * application step). */
#include <string.h>

#include "sched/sched_internal.h"

void us_sched_config_default(us_sched_config *cfg)
{
    cfg->kind = US_SCHED_SYNC;
    cfg->idle_interval = 100000; /* 100 µs: the reL4 thesis' sync baseline polled every 0.1-0.6 ms */
    cfg->egress = US_EGRESS_ALL;
    cfg->napi_budget = 64; /* Linux's default NAPI weight */
}

void us__sched_egress_waker(void *ctx)
{
    us_sched *sc = ctx;
    sc->egress_pending = 1;
}

us_status us_sched_init(us_sched *sc, const us_sched_config *cfg, us_stack *s, const us_host *h,
                        const us_app *app)
{
    if (sc == NULL || cfg == NULL || s == NULL || h == NULL || h->now == NULL ||
        h->charge == NULL || h->arm_timer == NULL || h->set_rx_irq == NULL ||
        (unsigned)cfg->kind > US_SCHED_NAPI || (unsigned)cfg->egress > US_EGRESS_READYLIST ||
        (cfg->kind == US_SCHED_NAPI && cfg->napi_budget == 0))
        return US_EINVAL;
    memset(sc, 0, sizeof(*sc));
    sc->cfg = *cfg;
    sc->stack = s;
    sc->host = *h;
    if (app != NULL)
        sc->app = *app;
    /* The superloop polls every socket each iteration and needs no waker; the event-driven kinds
     * run their egress task when the stack asks. */
    if (cfg->kind != US_SCHED_SYNC)
        us_set_egress_waker(s, us__sched_egress_waker, sc);
    return US_OK;
}

void us_sched_start(us_sched *sc)
{
    if (sc->cfg.kind == US_SCHED_SYNC) {
        sc->host.set_rx_irq(sc->host.ctx, 0);
        us__sync_start(sc);
        return;
    }
    sc->host.set_rx_irq(sc->host.ctx, 1);
    /* Whatever the application set up before the start (listeners, connects) gets its egress. */
    sc->egress_pending = 1;
    sc->app_pending = 1;
    us__tasks_run(sc);
}

void us_sched_on_rx(us_sched *sc)
{
    sc->stats.rx_irqs++;
    if (sc->cfg.kind == US_SCHED_SYNC)
        return; /* a superloop takes no interrupts: it finds the frames on its next iteration */
    if (sc->cfg.kind == US_SCHED_NAPI) {
        /* Mask at once: until the ring is found empty, polling replaces interrupts. */
        sc->host.set_rx_irq(sc->host.ctx, 0);
        sc->napi_pending = 1;
    } else {
        sc->rx_pending = 1;
    }
    us__tasks_run(sc);
}

void us_sched_on_timer(us_sched *sc)
{
    if (sc->cfg.kind == US_SCHED_SYNC) {
        us__sync_timer(sc);
        return;
    }
    sc->egress_pending = 1;
    us__tasks_run(sc);
}

void us_sched_on_tx_space(us_sched *sc)
{
    if (!sc->tx_blocked)
        return;
    sc->tx_blocked = 0;
    if (sc->cfg.kind == US_SCHED_SYNC)
        return; /* the loop retries on its own next iteration */
    sc->egress_pending = 1;
    us__tasks_run(sc);
}

void us_sched_app_waker(void *ctx)
{
    us_sched *sc = ctx;
    sc->app_pending = 1;
}

/* ---- measured building blocks ---- */

static void charge(us_sched *sc, const us_work *w)
{
    sc->host.charge(sc->host.ctx, w);
}

uint32_t us__sched_drain(us_sched *sc, uint32_t max, us__step *st)
{
    const us_dev *dev = us_stack_get_dev(sc->stack);
    if (dev->rx == NULL)
        return 0;
    uint32_t n = 0;
    while (max == 0 || n < max) {
        us_pbuf *p = dev->rx(dev->ctx);
        if (p == NULL)
            break;
        us_work w = {.frames = 1, .bytes = p->tot_len};
        (void)us_ingress(sc->stack, p, us__sched_now(sc));
        charge(sc, &w);
        n++;
    }
    sc->stats.frames_in += n;
    st->frames_in += n;
    return n;
}

void us__sched_egress(us_sched *sc, us_egress_mode mode, us__step *st)
{
    const us_stack_stats *ss = us_stack_get_stats(sc->stack);
    uint64_t visits = ss->socket_visits, frames = ss->frames_tx, bytes = ss->bytes_tx;
    uint64_t refused = ss->tx_alloc_fail;
    (void)us_egress(sc->stack, us__sched_now(sc), mode);
    us_work w = {
        .socket_visits = ss->socket_visits - visits,
        .frames = ss->frames_tx - frames,
        .bytes = ss->bytes_tx - bytes,
    };
    if (ss->tx_alloc_fail != refused)
        sc->tx_blocked = 1;
    sc->stats.socket_visits += w.socket_visits;
    sc->stats.frames_out += w.frames;
    st->frames_out += (uint32_t)w.frames;
    charge(sc, &w);
}

void us__sched_app(us_sched *sc, us__step *st)
{
    if (sc->app.step == NULL)
        return;
    uint64_t bytes = 0;
    if (sc->app.step(sc->app.ctx, sc->stack, us__sched_now(sc), &bytes))
        st->app_worked = 1;
    if (bytes != 0) {
        us_work w = {.bytes = bytes};
        charge(sc, &w);
    }
}

