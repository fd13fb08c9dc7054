/* sbhost: the clock interface every model takes. A model (link, NIC) reads the time and schedules
 * its own events only through an sb_clock, never through an engine directly, so the same models run
 * under sbhost's discrete-event engine (sb_des_clock) and under ns-3's simulator (whose adapter
 * keeps a table from sb_event_id to ns3::EventId).
 *
 * Contract an implementation must keep:
 *   - now() never goes backwards;
 *   - schedule(at, ...) runs fn(fn_ctx, arg) once, at time `at` (a time before now() is taken as
 *     now()), unless cancelled first; events due at the same time run in the order they were
 *     scheduled; it returns a handle that is never SB_EVENT_NONE, or SB_EVENT_NONE if it could not
 *     schedule (out of memory), in which case fn is never called;
 *   - cancel(handle) of a pending event guarantees fn is not called and returns 1; of an event that
 *     already ran, was cancelled, or SB_EVENT_NONE, it does nothing and returns 0. An event may
 *     cancel another (or schedule new ones) from inside its callback. */
#ifndef SBHOST_CLOCK_H
#define SBHOST_CLOCK_H

#include <stdint.h>

#include "ustack/stack.h" /* us_time, US_TIME_NEVER */

#ifdef __cplusplus
extern "C" {
#endif

typedef uint64_t sb_event_id;
#define SB_EVENT_NONE ((sb_event_id)0)

typedef void (*sb_event_fn)(void *ctx, void *arg);

typedef struct sb_clock {
    void *ctx;
    us_time (*now)(void *ctx);
    sb_event_id (*schedule)(void *ctx, us_time at, sb_event_fn fn, void *fn_ctx, void *arg);
    int (*cancel)(void *ctx, sb_event_id ev);
} sb_clock;

static inline us_time sb_clock_now(const sb_clock *c)
{
    return c->now(c->ctx);
}

static inline sb_event_id sb_clock_schedule(const sb_clock *c, us_time at, sb_event_fn fn,
                                            void *fn_ctx, void *arg)
{
    return c->schedule(c->ctx, at, fn, fn_ctx, arg);
}

static inline int sb_clock_cancel(const sb_clock *c, sb_event_id ev)
{
    return c->cancel(c->ctx, ev);
}

#ifdef __cplusplus
}
#endif

#endif /* SBHOST_CLOCK_H */
