/* libustack schedulers: decide *when* ingress, egress and the application step run. They touch no
 * protocol internals — only us_ingress / us_egress / us_poll_at / us_poll, the wakers, and the
 * application's step — and talk to their world only through us_host, so the same scheduler runs
 * in the discrete-event harness, in ns-3, and later in real time.
 *
 *   sync   superloop: each iteration = us_poll (drain RX up to the burst limit + egress over all
 *          sockets), then the application step, then sleep until min(poll_at, now + idle_interval).
 *          RX does not wake it: it finds frames on its next iteration. idle_interval 0 = busy poll.
 *   async  split poll: three wake sources — RX interrupt (ingress task drains the ring), socket
 *          wakers (the egress-wanted waker → egress task; socket rx/tx wakers → application task),
 *          and one timer armed at poll_at (→ egress task). Each task run is one wakeup.
 *   napi   the first RX interrupt masks RX interrupts and schedules a poll of at most `budget`
 *          frames (then egress and the application); polls repeat while frames remain, and RX
 *          interrupts are unmasked when the ring is found empty (Linux NAPI). Timer and socket
 *          wakers as async.
 *
 * Charging: the wakeup and poll call are charged when they happen, each received frame right
 * after its us_ingress (so now() advances frame by frame and the host can time each one), the
 * application's copies after its step, and egress's socket visits, frames and bytes after it.
 * sync drains the device itself, frame by frame, then calls us_egress(ALL): exactly what us_poll
 * does, with the per-frame charging us_poll cannot offer. */
#ifndef USTACK_SCHED_H
#define USTACK_SCHED_H

#include "ustack/iface.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Work done by one scheduler step, which the host turns into CPU time with its cost model. */
typedef struct us_work {
    uint64_t wakeups;       /* times the CPU was woken to run a task / loop iteration */
    uint64_t polls;         /* calls of us_poll / us_egress / us_ingress drains */
    uint64_t socket_visits; /* sockets examined by egress */
    uint64_t frames;        /* frames received or sent */
    uint64_t bytes;         /* bytes copied or checksummed (frames + application copies) */
} us_work;

/* The scheduler's world. Every callback is required except skip_idle. */
typedef struct us_host {
    void *ctx;
    /* Current time: the host advances it as it charges CPU time. */
    us_time (*now)(void *ctx);
    /* CPU work just done: the host converts it to time with its cost model, the CPU is busy that
     * long, and now() moves on. */
    void (*charge)(void *ctx, const us_work *w);
    /* Arm the one timer at `at`, replacing any earlier one; US_TIME_NEVER disarms. Expiry calls
     * us_sched_on_timer. */
    void (*arm_timer)(void *ctx, us_time at);
    /* Mask (0) or unmask (1) the RX interrupt. While unmasked, a frame reaching the RX ring calls
     * us_sched_on_rx (after the host's interrupt latency). */
    void (*set_rx_irq)(void *ctx, int enabled);
    /* Account a silent stretch of sync iterations in one step (DESIGN: busy polling over ten
     * silent seconds must not cost ten seconds of simulation). Called right after an empty
     * iteration, with `each` the work of that iteration: the next would start at now + interval,
     * and each costs `each` and sleeps `interval` after it ends. An iteration reads the RX ring
     * once its wakeup and poll call are paid (each->wakeups, each->polls). The host counts the
     * iterations that would start before `until` (the stack's poll_at) and before the end of the
     * simulation, and read the ring before any frame reaches it, charges them all at once, leaves now() at the end of the last one,
     * and returns how many. Iterations start at least 1 ns apart, so a zero-cost busy poll still
     * advances. NULL if the host cannot know its future (real time): every iteration runs. */
    uint64_t (*skip_idle)(void *ctx, const us_work *each, us_time interval, us_time until);
} us_host;

/* The application running on the stack under test. Its step services its sockets (accept, read,
 * write, close) and reports what it did. Its sockets' wakers should be us_sched_app_waker with
 * the scheduler as ctx, so that async and napi run it when a socket wakes. */
typedef struct us_app {
    void *ctx;
    /* Returns 1 if it did any work (moved data, changed a socket), else 0; adds the bytes it copied
     * to *bytes. */
    int (*step)(void *ctx, us_stack *s, us_time now, uint64_t *bytes);
} us_app;

typedef enum us_sched_kind {
    US_SCHED_SYNC,
    US_SCHED_ASYNC,
    US_SCHED_NAPI,
} us_sched_kind;

typedef struct us_sched_config {
    us_sched_kind kind;
    us_time idle_interval;  /* sync: longest sleep between iterations; 0 = busy polling */
    us_egress_mode egress;  /* async and napi: all sockets or the ready list; sync: always all */
    uint32_t napi_budget;   /* napi: frames per poll; default 64 */
} us_sched_config;

typedef struct us_sched_stats {
    uint64_t wakeups;       /* task runs (async/napi) or loop iterations (sync) */
    uint64_t empty_wakeups; /* wakeups that processed no frame, sent nothing, ran no app work */
    uint64_t polls;
    uint64_t socket_visits;
    uint64_t frames_in;
    uint64_t frames_out;
    uint64_t rx_irqs;       /* RX interrupts taken */
    uint64_t skipped_iterations; /* sync: empty iterations accounted in bulk (part of wakeups) */
} us_sched_stats;

typedef struct us_sched {
    us_sched_config cfg;
    us_stack *stack;
    us_host host;
    us_app app;
    us_sched_stats stats;
    /* pending tasks (async / napi) */
    int rx_pending, egress_pending, app_pending, napi_pending, in_step;
    int tx_blocked; /* the device refused a TX buffer: wait for us_sched_on_tx_space */
} us_sched;

/* Defaults: sync, idle 100 µs, egress all, budget 64. */
void us_sched_config_default(us_sched_config *cfg);

/* Bind a scheduler to its stack, host and application (all copied / referenced; they must
 * outlive it) and install the stack's egress-wanted waker. US_OK or US_EINVAL. */
us_status us_sched_init(us_sched *sc, const us_sched_config *cfg, us_stack *s, const us_host *h,
                        const us_app *app);

/* Start: sync runs its first iteration; async/napi unmask RX interrupts and arm the timer. */
void us_sched_start(us_sched *sc);

/* Host events: an RX interrupt (async, napi), the armed timer expired, a TX buffer came free
 * after the device had refused one (embassy-net's "TX space freed" wake: without it a stack
 * with output pending and no TX space would spin on its own timer). */
void us_sched_on_rx(us_sched *sc);
void us_sched_on_timer(us_sched *sc);
void us_sched_on_tx_space(us_sched *sc);

/* A waker function for the application's sockets (ctx = the us_sched). */
void us_sched_app_waker(void *ctx);

#ifdef __cplusplus
}
#endif

#endif /* USTACK_SCHED_H */
