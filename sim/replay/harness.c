/* stackbench replay: one run. The host glue implementing us_host over sbhost's event engine (one
 * CPU whose clock runs ahead of the engine while a scheduler step is charged; engine events that
 * find the CPU busy wait until it is free), skip_idle, per-frame latency, the open-mode source with
 * its ISN holding, the run loop with its end condition, the timeseries, and the teardown
 * self-check. The flow-mode peer is in peer.c. */
#include "harness_internal.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#endif

#include "sbtraffic/compiler.h"
#include "ustack/wire/eth.h"
#include "ustack/wire/ipv4.h"
#include "ustack/wire/tcp.h"

#define TEARDOWN_AFTER (3600ull * 1000000000ull) /* every timer of a stack has run by then */
#define PROGRESS_EVERY_NS 2000000000ull          /* wall time between progress reports */

void sb_replay_config_default(sb_replay_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->mode = SB_REPLAY_OPEN;
    us_sched_config_default(&cfg->sched);
    cfg->pool = 32;
    cfg->rx_ring = 16;
    cfg->tx_ring = 8;
    cfg->irq_latency = 500;
    cfg->max_burst = 0;
    cfg->link_rate_bps = 0;
    cfg->delay = 0;
    cfg->loss = 0;
    cfg->queue_frames = 1000;
    cfg->speed = 1.0;
    cfg->drain = 2000000000ull;
    sb_cost_default(&cfg->cost);
    cfg->seed = 0;
    cfg->skip_idle = true;
    cfg->ts_interval = 0;
    cfg->udp_rx_buf = 64u * 1024u;
}

/* ---- small helpers ---- */

static inline uint64_t ticks(void)
{
#if defined(__x86_64__) || defined(__i386__)
    return __rdtsc();
#else
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
#endif
}

static uint64_t clock_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static us_time add_sat(us_time a, us_time b)
{
    return a > US_TIME_NEVER - b ? US_TIME_NEVER : a + b;
}

static us_time tmin(us_time a, us_time b)
{
    return a < b ? a : b;
}

static us_time tmax(us_time a, us_time b)
{
    return a > b ? a : b;
}

us_time sb__rp_scale(const sb_rp *rp, uint64_t trace_ns)
{
    if (rp->cfg.speed == 1.0)
        return trace_ns;
    double t = (double)trace_ns / rp->cfg.speed;
    return t >= 1.8e19 ? US_TIME_NEVER - 1 : (us_time)t;
}

/* ---- ISN -> flow ---- */

static int iss_grow(sb_rp *rp)
{
    uint32_t cap = rp->iss_cap ? rp->iss_cap * 2 : 64;
    uint64_t *keys = calloc(cap, sizeof(*keys));
    uint32_t *vals = malloc(cap * sizeof(*vals));
    if (!keys || !vals) {
        free(keys);
        free(vals);
        return 0;
    }
    for (uint32_t i = 0; i < rp->iss_cap; i++) {
        if (!rp->iss_keys[i])
            continue;
        uint32_t j = (uint32_t)(rp->iss_keys[i] * 0x9E3779B97F4A7C15ull >> 32) & (cap - 1);
        while (keys[j])
            j = (j + 1) & (cap - 1);
        keys[j] = rp->iss_keys[i];
        vals[j] = rp->iss_flow[i];
    }
    free(rp->iss_keys);
    free(rp->iss_flow);
    rp->iss_keys = keys;
    rp->iss_flow = vals;
    rp->iss_cap = cap;
    return 1;
}

void sb__rp_iss_put(sb_rp *rp, uint32_t iss, uint32_t fi)
{
    if ((rp->iss_n + 1) * 2 > rp->iss_cap && !iss_grow(rp))
        return; /* out of memory: the connection will be served as a sink */
    uint64_t key = (uint64_t)iss + 1;
    uint32_t j = (uint32_t)(key * 0x9E3779B97F4A7C15ull >> 32) & (rp->iss_cap - 1);
    while (rp->iss_keys[j] && rp->iss_keys[j] != key)
        j = (j + 1) & (rp->iss_cap - 1);
    if (!rp->iss_keys[j])
        rp->iss_n++;
    rp->iss_keys[j] = key;
    rp->iss_flow[j] = fi;
}

static uint32_t flow_of_iss(void *ctx, uint32_t iss)
{
    sb_rp *rp = ctx;
    if (!rp->iss_cap)
        return SB_FLOW_NONE;
    uint64_t key = (uint64_t)iss + 1;
    uint32_t j = (uint32_t)(key * 0x9E3779B97F4A7C15ull >> 32) & (rp->iss_cap - 1);
    while (rp->iss_keys[j]) {
        if (rp->iss_keys[j] == key)
            return rp->iss_flow[j];
        j = (j + 1) & (rp->iss_cap - 1);
    }
    return SB_FLOW_NONE;
}

/* ---- timeseries ---- */

static sb_replay_ts *ts_at(sb_rp *rp, us_time t)
{
    uint64_t idx = t / rp->cfg.ts_interval;
    if (idx >= rp->cap_ts) {
        uint64_t cap = rp->cap_ts ? rp->cap_ts : 1024;
        while (cap <= idx)
            cap *= 2;
        sb_replay_ts *ts = realloc(rp->ts, cap * sizeof(*ts));
        if (!ts)
            return NULL;
        memset(ts + rp->cap_ts, 0, (cap - rp->cap_ts) * sizeof(*ts));
        rp->ts = ts;
        rp->cap_ts = cap;
    }
    if (idx >= rp->n_ts)
        rp->n_ts = idx + 1;
    return &rp->ts[idx];
}

/* CPU busy over [a, b), split at interval boundaries. */
static void ts_busy(sb_rp *rp, us_time a, us_time b)
{
    const us_time T = rp->cfg.ts_interval;
    while (a < b) {
        us_time hi = (a / T + 1) * T;
        us_time e = b < hi ? b : hi;
        sb_replay_ts *x = ts_at(rp, a);
        if (!x)
            return;
        x->busy_ns += e - a;
        a = e;
    }
}

static void ts_pool(sb_rp *rp, us_time t)
{
    uint32_t used = us_stack_bufs(rp->stack)->pools[US_POOL_PBUF_POOL].stats.used;
    sb_replay_ts *x = ts_at(rp, t);
    if (!x)
        return;
    if (!x->sampled || used > x->pool_in_use)
        x->pool_in_use = used;
    x->sampled = 1;
    x->pool_last = used;
}

/* ---- the CPU: steps, charging, timer, interrupts ---- */

/* measured_cpu_ns: one step in TICK_SAMPLE is timed (a cycle counter read costs as much as a
 * small step) and the total scaled up by the steps counted. Information only. */
#define TICK_SAMPLE 8u

static void step_begin(sb_rp *rp)
{
    if (rp->cpu_now < rp->des.now)
        rp->cpu_now = rp->des.now; /* the CPU was idle until now */
    rp->step_start = rp->cpu_now;
    rp->in_step = 1;
    if (rp->steps++ % TICK_SAMPLE == 0)
        rp->ticks0 = ticks();
}

static void step_end(sb_rp *rp)
{
    if ((rp->steps - 1) % TICK_SAMPLE == 0) {
        rp->ticks_in += ticks() - rp->ticks0;
        rp->steps_timed++;
    }
    rp->in_step = 0;
    sb__rp_check_done(rp);
}

static us_time h_now(void *ctx)
{
    return ((sb_rp *)ctx)->cpu_now;
}

/* The charge right after a frame was handed out is its ingress (sched.h's order): its latency. */
static inline void charge_lat(sb_rp *rp)
{
    if (rp->lat_pending) {
        sb_lat_add(&rp->lat, rp->cpu_now - sb_nic_last_rx_arrival(&rp->nic));
        rp->lat_pending = 0;
    }
}

/* Every charge the fast path of h_charge does not take: saturating arithmetic, the timeseries. */
static SB_NOINLINE void charge_slow(sb_rp *rp, const us_work *w)
{
    us_time d = sb_cost_charge(&rp->acc, &rp->cfg.cost, w);
    if (rp->cfg.ts_interval) {
        ts_busy(rp, rp->cpu_now, rp->cpu_now + d);
        ts_pool(rp, rp->cpu_now + d);
    }
    rp->cpu_now += d;
    charge_lat(rp);
}

/* Several charges per frame: the common case is a leaf with no call (and so no registers to save),
 * sb_cost_charge without its saturating arithmetic where nothing can overflow (every cost at most
 * SB_COST_MAX_NS < 2^40 ps, every count below 2^20, the total below 2^62: the sum stays below
 * 2^63), which gives the same result. */
static void h_charge(void *ctx, const us_work *w)
{
    sb_rp *rp = ctx;
    const sb_cost *c = &rp->cfg.cost;
    if (!rp->charge_fast ||
        (w->wakeups | w->polls | w->socket_visits | w->frames | w->bytes) >= (1u << 20) ||
        rp->acc.ps >= (1ull << 62)) {
        charge_slow(rp, w);
        return;
    }
    uint64_t ps = c->wake_ps * w->wakeups + c->poll_ps * w->polls +
                  c->socket_visit_ps * w->socket_visits + c->frame_ps * w->frames +
                  c->byte_ps * w->bytes;
    uint64_t before = rp->acc.ps / 1000u;
    rp->acc.ps += ps;
    rp->cpu_now += rp->acc.ps / 1000u - before;
    charge_lat(rp);
}

static void timer_event(void *ctx, void *arg);

static void h_arm(void *ctx, us_time at)
{
    sb_rp *rp = ctx;
    if (rp->timer_ev != SB_EVENT_NONE)
        sb_des_cancel(&rp->des, rp->timer_ev);
    rp->timer_ev = SB_EVENT_NONE;
    if (at == US_TIME_NEVER || rp->teardown)
        return;
    /* Not before the CPU is free, and steps start at least 1 ns apart (sched.h: a zero-cost busy
     * poll still advances; skip_idle assumes the same). */
    us_time fire = tmax(at, rp->cpu_now);
    if (rp->in_step && fire < rp->step_start + 1)
        fire = rp->step_start + 1;
    rp->timer_ev = sb_des_schedule(&rp->des, fire, timer_event, rp, NULL);
}

static void timer_event(void *ctx, void *arg)
{
    (void)arg;
    sb_rp *rp = ctx;
    rp->timer_ev = SB_EVENT_NONE;
    if (rp->des.now < rp->cpu_now) {
        rp->timer_ev = sb_des_schedule(&rp->des, rp->cpu_now, timer_event, rp, NULL);
        return;
    }
    step_begin(rp);
    us_sched_on_timer(&rp->sched);
    step_end(rp);
}

static void irq_deferred(void *ctx, void *arg);

static void take_irq(sb_rp *rp)
{
    step_begin(rp);
    us_sched_on_rx(&rp->sched);
    step_end(rp);
}

/* The NIC's interrupt (an engine event). A busy CPU takes it when it is free. */
static void irq_handler(void *ctx)
{
    sb_rp *rp = ctx;
    rp->res->rx_irqs++;
    if (rp->des.now < rp->cpu_now) {
        if (rp->irq_ev == SB_EVENT_NONE)
            rp->irq_ev = sb_des_schedule(&rp->des, rp->cpu_now, irq_deferred, rp, NULL);
        return;
    }
    take_irq(rp);
}

static void irq_deferred(void *ctx, void *arg)
{
    (void)arg;
    sb_rp *rp = ctx;
    rp->irq_ev = SB_EVENT_NONE;
    if (rp->des.now < rp->cpu_now) {
        rp->irq_ev = sb_des_schedule(&rp->des, rp->cpu_now, irq_deferred, rp, NULL);
        return;
    }
    take_irq(rp);
}

static void h_set_irq(void *ctx, int enabled)
{
    sb_rp *rp = ctx;
    if (enabled != rp->irq_enabled)
        rp->res->irq_mask_changes++;
    rp->irq_enabled = enabled;
    sb_nic_set_irq(&rp->nic, enabled);
    /* An interrupt the CPU has not taken yet is masked with the rest; the NIC raises a new one at
     * unmask if frames are still waiting. */
    if (!enabled && rp->irq_ev != SB_EVENT_NONE) {
        sb_des_cancel(&rp->des, rp->irq_ev);
        rp->irq_ev = SB_EVENT_NONE;
    }
}

static void take_tx_space(sb_rp *rp)
{
    step_begin(rp);
    us_sched_on_tx_space(&rp->sched);
    step_end(rp);
}

static void txw_deferred(void *ctx, void *arg)
{
    (void)arg;
    sb_rp *rp = ctx;
    rp->txw_ev = SB_EVENT_NONE;
    if (rp->des.now < rp->cpu_now) {
        rp->txw_ev = sb_des_schedule(&rp->des, rp->cpu_now, txw_deferred, rp, NULL);
        return;
    }
    take_tx_space(rp);
}

/* A TX slot freed after a refusal (the NIC's TX-complete interrupt, an engine event). A busy CPU
 * takes it when it is free. */
static void tx_wake(void *ctx)
{
    sb_rp *rp = ctx;
    if (rp->des.now < rp->cpu_now) {
        if (rp->txw_ev == SB_EVENT_NONE)
            rp->txw_ev = sb_des_schedule(&rp->des, rp->cpu_now, txw_deferred, rp, NULL);
        return;
    }
    take_tx_space(rp);
}

/* ---- skip_idle (sched.h's contract) ----
 * An empty sync iteration starting at s costs `each`: its ring read happens at
 * r = s + (wake + poll) and it ends at e = s + cost(each), both through the ps accumulator; the
 * next starts at max(min(until, e + interval), e, s + 1) — exactly what h_arm and timer_event do
 * when iterating. Iteration k is counted when s_k <= end (the run loop runs events due at or before
 * end) and r_k < min(until, next input), next input being the earliest frame handed to the NIC and
 * not yet read, or the earliest pending engine event (any event may hand the NIC a frame, which
 * arrives no earlier than the event; while none is pending before r_k, nothing can reach the ring
 * by then, and no other event runs between the iterations, so the iterations are exactly those the
 * engine would run). With the ps accumulator at P0 and c = cost(each) in ps:
 *     s_k = s_0 + k * interval + F(k c),   r_k = s_0 + k * interval + F(k c + c_read),
 *     e_k = s_0 + k * interval + F((k + 1) c),   F(x) = floor((P0 + x) / 1000) - floor(P0 / 1000)
 * valid when every iteration takes at least 1 ns with its sleep (interval >= 1 or c >= 1000 ps);
 * s_k, r_k, e_k grow with k, so the count is found by bisection. Otherwise (zero-cost busy
 * polling) the iterations are walked one by one. */

typedef struct skip_calc {
    us_time s0, interval;
    uint64_t P0, c, c_read;
} skip_calc;

static us_time skip_F(const skip_calc *k, unsigned __int128 x)
{
    unsigned __int128 a = ((unsigned __int128)k->P0 + x) / 1000u;
    return (us_time)(a - k->P0 / 1000u);
}

static us_time skip_s(const skip_calc *k, uint64_t i)
{
    return k->s0 + i * k->interval + skip_F(k, (unsigned __int128)i * k->c);
}

static us_time skip_r(const skip_calc *k, uint64_t i)
{
    return k->s0 + i * k->interval + skip_F(k, (unsigned __int128)i * k->c + k->c_read);
}

static us_time skip_e(const skip_calc *k, uint64_t i)
{
    return k->s0 + i * k->interval + skip_F(k, (unsigned __int128)(i + 1) * k->c);
}

/* CPU busy time of the first n skipped iterations falling before B. */
static us_time skip_busy_before(const skip_calc *k, uint64_t n, us_time B)
{
    uint64_t lo = 0, hi = n; /* m = iterations with e_m <= B */
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        if (skip_e(k, mid) <= B)
            lo = mid + 1;
        else
            hi = mid;
    }
    us_time busy = skip_F(k, (unsigned __int128)lo * k->c);
    if (lo < n && skip_s(k, lo) < B)
        busy += B - skip_s(k, lo);
    return busy;
}

static uint64_t h_skip(void *ctx, const us_work *each, us_time interval, us_time until)
{
    sb_rp *rp = ctx;
    us_work pre = {.wakeups = each->wakeups, .polls = each->polls};
    uint64_t c = sb_cost_ps(&rp->cfg.cost, each), c_read = sb_cost_ps(&rp->cfg.cost, &pre);
    us_time limit = tmin(until, tmin(sb_nic_next_arrival(&rp->nic), sb_des_next_time(&rp->des)));
    us_time end = rp->end;
    us_time now = rp->cpu_now;
    us_time next = add_sat(now, interval);
    if (next >= until || limit == US_TIME_NEVER)
        return 0; /* the next iteration runs at poll_at and finds work, or nothing bounds it */
    skip_calc k = {.s0 = tmax(next, rp->step_start + 1), .interval = interval, .P0 = rp->acc.ps,
                   .c = c, .c_read = c_read};
    uint64_t n = 0;
    if (interval >= 1 || c >= 1000) {
        /* Each iteration takes >= 1 ns: at most (limit - s0) + 1 of them fit. */
        if (k.s0 >= limit)
            return 0;
        uint64_t lo = 0, hi = limit - k.s0 + 1; /* count in [lo, hi] */
        uint64_t step = interval + c / 1000u;
        if (step > 0 && (limit - k.s0) / step + 2 < hi)
            hi = (limit - k.s0) / step + 2;
        while (lo < hi) {
            uint64_t mid = lo + (hi - lo + 1) / 2; /* is iteration mid - 1 counted? */
            if (skip_s(&k, mid - 1) <= end && skip_r(&k, mid - 1) < limit)
                lo = mid;
            else
                hi = mid - 1;
        }
        n = lo;
        if (n == 0)
            return 0;
        if (rp->cfg.ts_interval) {
            const us_time T = rp->cfg.ts_interval;
            us_time last_e = skip_e(&k, n - 1);
            us_time prev = 0;
            for (us_time b = (k.s0 / T + 1) * T;; b += T) {
                us_time upto = b < last_e ? b : last_e;
                us_time cum = skip_busy_before(&k, n, upto);
                sb_replay_ts *x = ts_at(rp, b - T);
                if (x)
                    x->busy_ns += cum - prev;
                prev = cum;
                if (b >= last_e)
                    break;
            }
        }
        rp->step_start = skip_s(&k, n - 1);
        rp->cpu_now = skip_e(&k, n - 1);
        (void)sb_cost_acc_add(&rp->acc, (uint64_t)((unsigned __int128)n * c));
    } else {
        us_time s = k.s0;
        for (;;) {
            uint64_t P = rp->acc.ps;
            us_time r = s + (us_time)((P + c_read) / 1000u - P / 1000u);
            if (s > end || r >= limit)
                break;
            us_time e = s + sb_cost_acc_add(&rp->acc, c);
            if (rp->cfg.ts_interval)
                ts_busy(rp, s, e);
            n++;
            rp->step_start = s;
            rp->cpu_now = e;
            us_time nx = add_sat(e, interval);
            if (nx >= until)
                break;
            s = tmax(nx, s + 1);
        }
    }
    rp->res->skip_calls++;
    return n;
}

/* ---- the stack's device: the NIC, with latency timing on rx ---- */

static us_pbuf *d_rx(void *ctx)
{
    sb_rp *rp = ctx;
    us_pbuf *p = sb_nic_rx(&rp->nic);
    if (p) {
        rp->lat_pending = 1;
        if (!rp->irq_enabled)
            rp->res->frames_rx_masked++;
    }
    return p;
}

static uint8_t *d_tx_acquire(void *ctx, uint32_t len)
{
    sb_rp *rp = ctx;
    return rp->nic_dev.tx_acquire(rp->nic_dev.ctx, len);
}

static void d_tx_commit(void *ctx, uint8_t *buf, uint32_t len)
{
    sb_rp *rp = ctx;
    rp->nic_dev.tx_commit(rp->nic_dev.ctx, buf, len);
}

static us_time nic_clock_now(void *ctx)
{
    sb_rp *rp = ctx;
    if (rp->teardown)
        return rp->teardown_now;
    return rp->in_step ? rp->cpu_now : tmax(rp->des.now, rp->cpu_now);
}

static sb_event_id nic_clock_schedule(void *ctx, us_time at, sb_event_fn fn, void *fn_ctx,
                                      void *arg)
{
    return sb_des_schedule(&((sb_rp *)ctx)->des, at, fn, fn_ctx, arg);
}

static int nic_clock_cancel(void *ctx, sb_event_id ev)
{
    return sb_des_cancel(&((sb_rp *)ctx)->des, ev);
}

static us_time des_clock_now(void *ctx)
{
    sb_rp *rp = ctx;
    return rp->teardown ? rp->teardown_now : rp->des.now;
}

/* The application step, with the timeseries' delivered bytes. */
static int app_step(void *ctx, us_stack *s, us_time now, uint64_t *bytes)
{
    sb_rp *rp = ctx;
    uint64_t before = rp->apps.bytes_delivered;
    int r = sb_apps_step(&rp->apps, s, now, bytes);
    if (rp->cfg.ts_interval && rp->apps.bytes_delivered != before) {
        sb_replay_ts *x = ts_at(rp, now);
        if (x)
            x->bytes += rp->apps.bytes_delivered - before;
    }
    return r;
}

/* ---- what the stack sends ---- */

/* SYN-ACK of the stack: its destination port and ISN. */
static int parse_synack(const uint8_t *f, uint32_t len, uint16_t *dport, uint32_t *seq)
{
    us_eth_repr e;
    size_t off;
    us_ipv4_repr ip;
    us_tcp_repr t;
    if (us_eth_parse(&e, f, len, &off) != US_WIRE_OK || e.ethertype != US_ETHERTYPE_IPV4 ||
        us_ipv4_parse(&ip, f + off, len - off, US_WIRE_SKIP_CSUM) != US_WIRE_OK ||
        ip.proto != US_IP_PROTO_TCP || ip.frag_offset || ip.more_frags ||
        us_tcp_parse(&t, f + off + ip.header_len, ip.payload_len, ip.src, ip.dst,
                     US_WIRE_SKIP_CSUM) != US_WIRE_OK ||
        (t.flags & (US_TCP_SYN | US_TCP_ACK)) != (US_TCP_SYN | US_TCP_ACK))
        return 0;
    *dport = t.dst_port;
    *seq = t.seq;
    return 1;
}

static void release_event(void *ctx, void *arg);

static void tx_seen(void *ctx, const uint8_t *frame, uint32_t len, us_time now)
{
    sb_rp *rp = ctx;
    if (rp->cfg.mode == SB_REPLAY_OPEN) {
        uint32_t fi = SB_FLOW_NONE;
        (void)sb_rw_learn(&rp->rw, frame, len, &fi);
        if (fi != SB_FLOW_NONE) {
            sb__rp_iss_put(rp, rp->rw.stack_isn[fi], fi);
            if (rp->learned_at[fi] == US_TIME_NEVER)
                rp->learned_at[fi] = now;
            sb_rp_hold *h = &rp->hold[fi];
            if (h->len && h->release_ev == SB_EVENT_NONE && !rp->teardown)
                h->release_ev = sb_des_schedule(&rp->des, tmax(rp->learned_at[fi], rp->des.now),
                                                release_event, rp, (void *)(uintptr_t)fi);
        }
    } else {
        uint16_t port;
        uint32_t seq;
        if (parse_synack(frame, len, &port, &seq)) {
            uint32_t fi = sb__peer_flow_of_tcp_port(rp, port);
            if (fi != SB_FLOW_NONE)
                sb__rp_iss_put(rp, seq, fi);
        }
    }
    if (rp->cfg.tx_hook && !rp->teardown)
        rp->cfg.tx_hook(rp->cfg.tx_hook_ctx, frame, len, now);
}

/* Open mode: the stack's frames leave into a sink. */
static void sink_deliver(void *ctx, const uint8_t *data, uint32_t len, us_time arrival)
{
    (void)ctx, (void)data, (void)len, (void)arrival;
}

/* ---- open mode: the source ---- */

static int hold_push(sb_rp *rp, uint32_t fi, uint32_t idx)
{
    sb_rp_hold *h = &rp->hold[fi];
    if (h->len == h->cap) {
        uint32_t cap = h->cap ? h->cap * 2 : 8;
        uint32_t *q = malloc(cap * sizeof(*q));
        if (!q)
            return 0;
        for (uint32_t i = 0; i < h->len; i++)
            q[i] = h->idx[(h->head + i) % h->cap];
        free(h->idx);
        h->idx = q;
        h->head = 0;
        h->cap = cap;
    }
    h->idx[(h->head + h->len) % h->cap] = idx;
    h->len++;
    rp->held_now++;
    rp->res->open_held++;
    return 1;
}

/* A TCP segment carrying an ACK: its ack number is the stack's sequence space. */
static int tcp_with_ack(const sb_frame *fr)
{
    const uint8_t *f = fr->data;
    if (fr->len < 14 + 20 || fr->ethertype != US_ETHERTYPE_IPV4 || f[14 + 9] != US_IP_PROTO_TCP)
        return 0;
    uint32_t ihl = (f[14] & 0x0Fu) * 4u;
    if ((((uint32_t)f[14 + 6] << 8 | f[14 + 7]) & 0x1FFFu) != 0) /* a later fragment */
        return 0;
    if (fr->len < 14 + ihl + 14)
        return 0;
    return (f[14 + ihl + 13] & US_TCP_ACK) != 0;
}

static void src_send(sb_rp *rp, const uint8_t *f, uint32_t len, us_time now)
{
    us_time dep;
    (void)sb_link_send(&rp->link_in, f, len, now, &dep);
    rp->res->open_sent++;
    if (rp->cfg.link_rate_bps && dep > rp->last_departure)
        rp->last_departure = dep;
}

/* Where to rewrite a frame of len bytes: into the NIC's next arrival buffer, which it then queues
 * without a copy; a frame too long for the NIC (which drops it) goes through the scratch buffer. */
static uint8_t *src_buffer(sb_rp *rp, uint32_t len)
{
    uint8_t *b = len <= rp->nic.frame_max ? sb_nic_rx_buffer(&rp->nic) : NULL;
    return b ? b : rp->scratch;
}

static void src_frame(sb_rp *rp, size_t i, us_time now)
{
    const sb_frame *fr = &rp->trace->frames[i];
    uint32_t fi = rp->flows->frame_flow[i];
    if (fi != SB_FLOW_NONE && rp->hold[fi].len) {
        (void)hold_push(rp, fi, (uint32_t)i); /* keep the flow's order behind its held frames */
        return;
    }
    sb_rw_action act;
    uint8_t *out = src_buffer(rp, fr->len);
    sb_status st = sb_rw_frame(&rp->rw, i, fr->data, fr->len, out, &act, NULL);
    if (st == SB_EAGAIN) {
        /* Needs the stack's ISN, not known yet: hold it until the SYN-ACK leaves. */
        if (!hold_push(rp, fi, (uint32_t)i))
            rp->res->open_unusable++;
        return;
    }
    if (st != SB_OK) {
        rp->res->open_unusable++;
        return;
    }
    if (act != SB_RW_TO_STACK) {
        rp->res->open_not_for_stack++;
        return;
    }
    if (fi != SB_FLOW_NONE && rp->learned_at[fi] != US_TIME_NEVER && rp->learned_at[fi] > now &&
        tcp_with_ack(fr)) {
        /* The stack ran ahead of the engine: its SYN-ACK leaves later than this frame would. */
        if (!hold_push(rp, fi, (uint32_t)i)) {
            rp->res->open_unusable++;
            return;
        }
        if (rp->hold[fi].release_ev == SB_EVENT_NONE)
            rp->hold[fi].release_ev = sb_des_schedule(&rp->des, rp->learned_at[fi], release_event,
                                                      rp, (void *)(uintptr_t)fi);
        return;
    }
    src_send(rp, out, fr->len, now);
}

static void release_event(void *ctx, void *arg)
{
    sb_rp *rp = ctx;
    uint32_t fi = (uint32_t)(uintptr_t)arg;
    sb_rp_hold *h = &rp->hold[fi];
    h->release_ev = SB_EVENT_NONE;
    us_time now = rp->des.now;
    while (h->len) {
        uint32_t i = h->idx[h->head];
        const sb_frame *fr = &rp->trace->frames[i];
        sb_rw_action act;
        uint8_t *out = src_buffer(rp, fr->len);
        sb_status st = sb_rw_frame(&rp->rw, i, fr->data, fr->len, out, &act, NULL);
        if (st == SB_EAGAIN)
            break; /* cannot happen once learned; wait for the next SYN-ACK */
        h->head = (h->head + 1) % h->cap;
        h->len--;
        rp->held_now--;
        if (st != SB_OK)
            rp->res->open_unusable++;
        else if (act != SB_RW_TO_STACK)
            rp->res->open_not_for_stack++;
        else
            src_send(rp, out, fr->len, now);
    }
    sb__rp_check_done(rp);
}

static us_time src_time(const sb_rp *rp, size_t i)
{
    if (rp->cfg.link_rate_bps)
        return rp->last_departure; /* paced: each frame goes when the link is free */
    return sb__rp_scale(rp, rp->trace->frames[i].ts_ns);
}

static void src_event(void *ctx, void *arg)
{
    (void)arg;
    sb_rp *rp = ctx;
    us_time now = rp->des.now;
    while (rp->next_frame < rp->trace->n) {
        us_time t = src_time(rp, rp->next_frame);
        if (t > now) {
            /* Beside the heap: it is rescheduled for every frame (des.h); while it would be the
             * next event anyway, it goes on here. */
            if (!sb_des_side_continue(&rp->des, t)) {
                sb_des_schedule_side(&rp->des, t, src_event, rp, NULL);
                return;
            }
            now = t;
        }
        src_frame(rp, rp->next_frame, now);
        rp->next_frame++;
    }
    rp->src_exhausted = 1;
    rp->end = add_sat(now, rp->cfg.drain);
    sb__rp_check_done(rp);
}

/* ---- run control ---- */

void sb__rp_check_done(sb_rp *rp)
{
    if (rp->done || rp->in_step || rp->teardown)
        return;
    if (sb_nic_next_arrival(&rp->nic) != US_TIME_NEVER)
        return;
    if (rp->cfg.mode == SB_REPLAY_OPEN) {
        if (!rp->src_exhausted || rp->held_now)
            return;
    } else {
        if (!sb__peer_done(rp) || rp->link_out.in_flight || sb_apps_open_conns(&rp->apps))
            return;
    }
    rp->done = 1;
}

/* ---- setup and teardown ---- */

static sb_status fail(sb_err *err, sb_status st, const char *what)
{
    return sb__fail(err, st, "%s", what);
}

static uint32_t max_u32(uint32_t a, uint32_t b)
{
    return a > b ? a : b;
}

static sb_status setup(sb_rp *rp, sb_err *err)
{
    const sb_replay_config *cfg = &rp->cfg;
    const sb_flows *f = rp->flows;
    sb_status st;

    if (sb_lat_init(&rp->lat) != 0)
        return fail(err, SB_ENOMEM, "out of memory");
    const uint64_t max_ps = SB_COST_MAX_NS * 1000u;
    rp->charge_fast = cfg->cost.wake_ps <= max_ps && cfg->cost.poll_ps <= max_ps &&
                      cfg->cost.socket_visit_ps <= max_ps && cfg->cost.frame_ps <= max_ps &&
                      cfg->cost.byte_ps <= max_ps && cfg->ts_interval == 0;

    /* The stack under test: the recorded server, sized for the trace's sockets. */
    uint16_t *ports = malloc((f->n ? f->n : 1) * 2 * sizeof(*ports));
    if (!ports)
        return fail(err, SB_ENOMEM, "out of memory");
    uint32_t n_udp, n_tcp;
    sb_apps_ports(f, ports, &n_udp, ports + (f->n ? f->n : 1), &n_tcp);
    free(ports);
    uint32_t n_tcp_flows = 0;
    for (size_t i = 0; i < f->n; i++)
        n_tcp_flows += f->flows[i].key.proto == US_IP_PROTO_TCP;
    uint32_t conc = sb_apps_tcp_concurrency(f);
    uint32_t max_conns = n_tcp_flows < 2 * conc + 8 ? n_tcp_flows : 2 * conc + 8;
    if (max_conns == 0)
        max_conns = 1;

    us_stack_config sc;
    us_stack_config_default(&sc);
    const uint8_t smac[6] = {0x02, 0, 0, 0, 0, 0x01};
    memcpy(sc.mac, smac, 6);
    sc.ipv4_addr = SB_RP_STACK_IP;
    sc.ipv4_netmask = SB_RP_NETMASK;
    sc.bufs.pbuf_pool_count = cfg->pool;
    sc.udp_sockets = max_u32(n_udp, 1);
    sc.tcp_sockets = n_tcp + max_conns;
    sc.udp_rx_buf = cfg->udp_rx_buf;
    sc.seed = cfg->seed;

    /* Open mode: the rewriter maps every recorded client onto a peer identity. Flow mode uses it
     * for the pinger's echo requests, every client mapped onto the one peer. */
    sb_rw_config rwc = sb_rw_config_default();
    rwc.stack.ip = SB_RP_STACK_IP;
    memcpy(rwc.stack.mac, smac, 6);
    rwc.peer_ip_base = SB_RP_PEER_IP;
    if ((st = sb_rw_init(&rp->rw, &rwc, f, err)) != SB_OK)
        return st;
    rp->rw_ok = 1;
    if (cfg->mode == SB_REPLAY_FLOW) {
        sb_endpoint peer = {.ip = SB_RP_PEER_IP, .mac = {0x02, 0, 0, 0, 0x01, 0x01}};
        for (size_t k = 0; k < rp->rw.n_hosts; k++) {
            if ((st = sb_rw_set_peer(&rp->rw, rp->rw.host_ip[k], &peer, err)) != SB_OK)
                return st;
        }
    }
    sc.arp_entries = (uint32_t)rp->rw.n_hosts + 8;

    sb_nic_config nc;
    sb_nic_config_default(&nc);
    nc.rx_ring = cfg->rx_ring;
    nc.tx_ring = cfg->tx_ring;
    nc.irq_latency = cfg->irq_latency;
    nc.max_burst = cfg->max_burst;
    nc.caps = cfg->rx_csum_offload ? US_DEV_CSUM_RX : 0;
    rp->nic_clock = (sb_clock){.ctx = rp, .now = nic_clock_now, .schedule = nic_clock_schedule,
                               .cancel = nic_clock_cancel};
    rp->des_clock = (sb_clock){.ctx = rp, .now = des_clock_now, .schedule = nic_clock_schedule,
                               .cancel = nic_clock_cancel};
    if ((st = sb_nic_init(&rp->nic, &nc, &rp->nic_clock, err)) != SB_OK)
        return st;
    rp->nic_ok = 1;
    sb_nic_dev(&rp->nic, &rp->nic_dev);
    us_dev dev = rp->nic_dev;
    dev.ctx = rp;
    dev.rx = d_rx;
    dev.tx_acquire = d_tx_acquire;
    dev.tx_commit = d_tx_commit;

    size_t need = us_stack_mem_size(&sc);
    if (need == 0)
        return fail(err, SB_EINVAL, "the stack refuses this configuration (pool size?)");
    rp->mem = malloc(need);
    if (!rp->mem)
        return fail(err, SB_ENOMEM, "out of memory for the stack under test");
    us_status ust;
    rp->stack = us_stack_init(rp->mem, need, &sc, &dev, &ust);
    if (!rp->stack)
        return sb__fail(err, SB_EINVAL, "the stack refuses this configuration: %s",
                        us_status_str(ust));
    sb_nic_set_bufs(&rp->nic, us_stack_bufs(rp->stack));
    sb_nic_set_irq_handler(&rp->nic, irq_handler, rp);
    sb_nic_set_tx_wake(&rp->nic, tx_wake, rp);
    sb_nic_set_capture(&rp->nic, tx_seen, rp);

    /* Static ARP entries for every peer identity: replies need no ARP exchange. */
    for (size_t k = 0; k < rp->rw.n_hosts; k++) {
        if (us_arp_add_static(rp->stack, rp->rw.host_peer[k].ip, rp->rw.host_peer[k].mac) !=
            US_OK)
            return fail(err, SB_ENOMEM, "ARP cache too small for the peers");
    }

    /* Links. Into the stack: handed to the NIC at send time with the future arrival time. */
    uint64_t x = cfg->seed ^ 0x5EED11A7C0FFEEull;
    sb_link_config lc;
    sb_link_config_default(&lc);
    lc.rate_bps = cfg->link_rate_bps;
    lc.delay = cfg->delay;
    lc.loss = cfg->loss;
    lc.queue_frames = cfg->mode == SB_REPLAY_FLOW ? cfg->queue_frames : UINT32_MAX;
    lc.max_frame = 65535;
    lc.seed = sb_splitmix64(&x);
    lc.handover = SB_LINK_AT_SEND;
    if ((st = sb_link_init(&rp->link_in, &lc, NULL, sb_nic_link_deliver, &rp->nic, err)) != SB_OK)
        return st;
    rp->link_in_ok = 1;
    lc.seed = sb_splitmix64(&x);
    if (cfg->mode == SB_REPLAY_OPEN) {
        /* Out of the stack: into a sink, at the link rate if one was given. */
        lc.loss = 0;
        lc.delay = 0;
        lc.queue_frames = UINT32_MAX;
        st = sb_link_init(&rp->link_out, &lc, NULL, sink_deliver, rp, err);
    } else {
        lc.handover = SB_LINK_AT_ARRIVAL;
        st = sb_link_init(&rp->link_out, &lc, &rp->des_clock, sb__peer_deliver, rp, err);
    }
    if (st != SB_OK)
        return st;
    rp->link_out_ok = 1;
    sb_nic_attach_link(&rp->nic, &rp->link_out);

    if (cfg->mode == SB_REPLAY_OPEN) {
        size_t nf = f->n ? f->n : 1;
        rp->hold = calloc(nf, sizeof(*rp->hold));
        rp->learned_at = malloc(nf * sizeof(*rp->learned_at));
        rp->scratch = malloc(65536 + 64);
        if (!rp->hold || !rp->learned_at || !rp->scratch)
            return fail(err, SB_ENOMEM, "out of memory");
        for (size_t i = 0; i < nf; i++)
            rp->learned_at[i] = US_TIME_NEVER;
    } else {
        if ((st = sb__peer_init(rp, err)) != SB_OK)
            return st;
    }

    ust = sb_apps_init(&rp->apps, rp->stack, f, max_conns, flow_of_iss, rp);
    if (ust != US_OK)
        return sb__fail(err, SB_EINVAL, "applications on the stack under test: %s",
                        us_status_str(ust));
    rp->apps_ok = 1;

    us_host host = {.ctx = rp, .now = h_now, .charge = h_charge, .arm_timer = h_arm,
                    .set_rx_irq = h_set_irq, .skip_idle = cfg->skip_idle ? h_skip : NULL};
    us_app app = {.ctx = rp, .step = app_step};
    if (us_sched_init(&rp->sched, &cfg->sched, rp->stack, &host, &app) != US_OK)
        return fail(err, SB_EINVAL, "the scheduler refuses this configuration");
    sb_apps_set_sched(&rp->apps, &rp->sched);
    return SB_OK;
}

/* Close everything, then check that both stacks got every buffer back. */
static void teardown(sb_rp *rp, us_time end)
{
    sb_replay_result *res = rp->res;
    rp->teardown = 1;
    rp->teardown_now = add_sat(end, TEARDOWN_AFTER);
    if (rp->timer_ev != SB_EVENT_NONE)
        sb_des_cancel(&rp->des, rp->timer_ev);
    if (rp->irq_ev != SB_EVENT_NONE)
        sb_des_cancel(&rp->des, rp->irq_ev);
    if (rp->txw_ev != SB_EVENT_NONE)
        sb_des_cancel(&rp->des, rp->txw_ev);
    rp->timer_ev = rp->irq_ev = rp->txw_ev = SB_EVENT_NONE;
    if (rp->stack) {
        if (rp->apps_ok)
            sb_apps_close(&rp->apps, rp->teardown_now);
        /* Let every timer run (reassembly, ARP, TIME_WAIT) and the RSTs go. */
        rp->cpu_now = rp->teardown_now;
        (void)us_egress(rp->stack, rp->teardown_now, US_EGRESS_ALL);
    }
    sb__peer_free(rp, rp->teardown_now);
    if (rp->nic_ok)
        sb_nic_free(&rp->nic); /* gives the pbufs still in its ring back to the stack */
    rp->nic_ok = 0;
    if (rp->link_in_ok)
        sb_link_free(&rp->link_in);
    if (rp->link_out_ok)
        sb_link_free(&rp->link_out);
    rp->link_in_ok = rp->link_out_ok = 0;
    if (rp->stack) {
        us_bufs *b = us_stack_bufs(rp->stack);
        res->leak_stack_pool = b->pools[US_POOL_PBUF_POOL].stats.used +
                               b->pools[US_POOL_PBUF].stats.used;
        res->leak_stack_heap = b->heap.stats.used;
        if (!us_bufs_all_free(b))
            res->leaked = true;
    }
    if (res->leak_peer_pool || res->leak_peer_heap)
        res->leaked = true;
    if (rp->hold) {
        for (size_t i = 0; i < (rp->flows->n ? rp->flows->n : 1); i++)
            free(rp->hold[i].idx);
    }
    free(rp->hold);
    free(rp->learned_at);
    free(rp->scratch);
    free(rp->iss_keys);
    free(rp->iss_flow);
    if (rp->rw_ok)
        sb_rw_free(&rp->rw);
    free(rp->mem);
    sb_lat_free(&rp->lat);
    sb_des_free(&rp->des);
}

/* ---- the run ---- */

static void fill_result(sb_rp *rp, us_time end)
{
    sb_replay_result *r = rp->res;
    const sb_nic_stats *ns = sb_nic_get_stats(&rp->nic);
    const us_stack_stats *ss = us_stack_get_stats(rp->stack);
    r->sim_duration_ns = end;
    r->frames_rx = ns->rx_frames;
    r->frames_tx = ns->tx_frames;
    r->bytes_delivered = rp->apps.bytes_delivered;
    r->goodput_bps =
        end ? (uint64_t)((unsigned __int128)r->bytes_delivered * 8u * 1000000000u / end) : 0;
    r->rx_drop_ring = ns->rx_drop_ring;
    r->rx_drop_pool = ns->rx_drop_pool;
    r->tx_alloc_fail = ss->tx_alloc_fail;
    r->sched = rp->sched.stats;
    r->wakeups = rp->sched.stats.wakeups;
    r->empty_wakeups = rp->sched.stats.empty_wakeups;
    r->socket_visits = rp->sched.stats.socket_visits;
    r->cpu_busy_ns = rp->acc.ps / 1000u;
    r->cpu_util_ppm =
        end ? (uint64_t)(((unsigned __int128)r->cpu_busy_ns * 1000000u + end / 2) / end) : 0;
    r->pool_hwm = us_stack_bufs(rp->stack)->pools[US_POOL_PBUF_POOL].stats.max;
    r->lat_p50_ns = sb_lat_percentile(&rp->lat, 50);
    r->lat_p99_ns = sb_lat_percentile(&rp->lat, 99);
    r->latency_samples = rp->lat.n;

    r->frames_offered = ns->rx_arrived;
    r->rx_drop_other = ns->rx_drop_oversize + ns->rx_drop_nomem;
    r->rx_left = rp->nic.ring_len + rp->nic.arr_len;
    const sb_link_stats *li = sb_link_get_stats(&rp->link_in);
    r->link_lost = li->drop_loss + li->drop_queue + li->drop_oversize + li->drop_nomem;
    if (rp->cfg.mode == SB_REPLAY_FLOW) {
        const sb_link_stats *lo = sb_link_get_stats(&rp->link_out);
        r->peer_link_lost = lo->drop_loss + lo->drop_queue + lo->drop_oversize + lo->drop_nomem;
        sb__peer_report(rp);
    }
    r->open_held_dropped = rp->held_now;
    r->finished = rp->done != 0;
    r->events = rp->des.events_run;

    if (rp->cfg.ts_interval) {
        /* Cover the whole run; intervals without a sample keep the level of the one before. */
        if (end > 0)
            (void)ts_at(rp, end - 1);
        uint32_t level = 0;
        for (uint64_t i = 0; i < rp->n_ts; i++) {
            if (rp->ts[i].sampled) {
                level = rp->ts[i].pool_last;
            } else {
                rp->ts[i].pool_in_use = level;
            }
        }
        r->ts = rp->ts;
        r->n_ts = rp->n_ts;
        r->ts_interval = rp->cfg.ts_interval;
        rp->ts = NULL;
    }
}

void sb_replay_result_free(sb_replay_result *res)
{
    free(res->ts);
    res->ts = NULL;
    res->n_ts = 0;
}

sb_status sb_replay_run(const sb_replay_config *cfg, const sb_trace *t, const sb_flows *f,
                        sb_replay_result *res, sb_err *err)
{
    uint64_t wall0 = clock_ns(CLOCK_MONOTONIC);
    uint64_t cpu0 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
    uint64_t tk0 = ticks();
    memset(res, 0, sizeof(*res));
    if (!(cfg->speed > 0) || cfg->pool == 0 || (cfg->mode != SB_REPLAY_OPEN &&
                                                 cfg->mode != SB_REPLAY_FLOW))
        return sb__fail(err, SB_EINVAL, "bad replay configuration");
    sb_rp *rp = calloc(1, sizeof(*rp));
    if (!rp)
        return sb__fail(err, SB_ENOMEM, "out of memory");
    rp->cfg = *cfg;
    rp->trace = t;
    rp->flows = f;
    rp->res = res;
    rp->end = US_TIME_NEVER;
    sb_des_init(&rp->des);

    sb_status st = setup(rp, err);
    if (st != SB_OK) {
        teardown(rp, 0);
        sb_replay_result_free(res);
        free(rp->ts);
        free(rp);
        return st;
    }

    /* Start: the applications have bound and listen; the scheduler's first step at time 0. */
    step_begin(rp);
    us_sched_start(&rp->sched);
    step_end(rp);
    if (cfg->mode == SB_REPLAY_OPEN) {
        if (t->n)
            sb_des_schedule_side(&rp->des, src_time(rp, 0), src_event, rp, NULL);
        else
            src_event(rp, NULL);
    } else {
        rp->end = add_sat(sb__rp_scale(rp, t->duration_ns), cfg->drain);
    }

    uint64_t last_report = clock_ns(CLOCK_MONOTONIC);
    uint64_t n = 0;
    while (!rp->done && sb_des_step_until(&rp->des, rp->end)) {
        if (cfg->progress && (++n & 0x3FFFu) == 0) {
            uint64_t w = clock_ns(CLOCK_MONOTONIC);
            if (w - last_report >= PROGRESS_EVERY_NS) {
                last_report = w;
                cfg->progress(cfg->progress_ctx, rp->des.now, rp->end,
                              sb_nic_get_stats(&rp->nic)->rx_frames);
            }
        }
    }
    us_time end;
    if (rp->done || rp->end == US_TIME_NEVER)
        end = tmax(rp->des.now, rp->cpu_now);
    else
        end = tmax(rp->end, rp->cpu_now);
    fill_result(rp, end);
    teardown(rp, end);

    uint64_t tk1 = ticks();
    uint64_t cpu1 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
    /* The thread's CPU time, apportioned to the stack and scheduler calls by the cycles spent in
     * them (reading the thread CPU clock at every call would cost more than the calls). */
    if (tk1 > tk0 && rp->steps_timed)
        res->measured_cpu_ns = (uint64_t)((unsigned __int128)rp->ticks_in * rp->steps *
                                          (cpu1 - cpu0) / rp->steps_timed / (tk1 - tk0));
    free(rp->ts);
    free(rp);
    res->wall_ns = clock_ns(CLOCK_MONOTONIC) - wall0;
    return SB_OK;
}
