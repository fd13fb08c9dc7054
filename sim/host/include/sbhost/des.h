/* sbhost: the discrete-event engine of the replay harness. A virtual clock in ns and a binary
 * min-heap of events ordered by (time, insertion sequence): events due at the same time run in the
 * order they were scheduled, so a run depends only on its inputs. Cancelling removes the event from
 * the heap at once (a position index per event slot), so a timer re-armed a million times leaves no
 * garbage behind and sb_des_pending() is exact; an event may cancel or schedule others, itself
 * included, from inside its callback. The clock moves only when an event runs (to its time) or when
 * sb_des_run_until() reaches its horizon. Models see the engine only through sb_des_clock().
 *
 * One event may also be kept beside the heap (sb_des_schedule_side): for a source that reschedules
 * itself for every frame of a long trace, the heap's sifting costs more than the source's own
 * work. It takes its sequence number from the same counter and runs in the same (time, sequence)
 * order, so a run is the same whichever way its events were scheduled. */
#ifndef SBHOST_DES_H
#define SBHOST_DES_H

#include <stdint.h>

#include "sbhost/clock.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One scheduled event (internal; exposed so an sb_des can live in a caller's struct). */
typedef struct sb_des_slot {
    us_time at;
    uint64_t seq;      /* insertion order: breaks ties between events due at the same time */
    sb_event_fn fn;
    void *ctx;
    void *arg;
    uint32_t heap_pos; /* index in heap[] while pending; next free slot while free */
    uint32_t gen;      /* bumped each time the slot is freed: stale handles do not match */
} sb_des_slot;

typedef struct sb_des {
    us_time now;
    uint64_t seq;
    sb_des_slot *slots;
    uint32_t nslots, slots_cap;
    uint32_t free_slot; /* head of the free-slot list, UINT32_MAX if none */
    uint32_t *heap;     /* slot indices, min-heap on (at, seq) */
    uint32_t heap_len;
    sb_des_slot side;   /* the event beside the heap, pending while side.fn != NULL */
    us_time until;      /* the bound of the step running now (sb_des_side_continue) */
    int stop;
    uint64_t events_run;
    uint64_t alloc_fail; /* schedules refused for lack of memory */
} sb_des;

typedef enum sb_des_result {
    SB_DES_DONE = 0,    /* the horizon was reached or nothing is left */
    SB_DES_STOPPED = 1, /* an event called sb_des_stop() */
} sb_des_result;

/* An empty engine at time 0. Allocates nothing yet. */
void sb_des_init(sb_des *d);

/* Release the engine's memory; pending events are dropped without being called. */
void sb_des_free(sb_des *d);

static inline us_time sb_des_now(const sb_des *d)
{
    return d->now;
}

/* Run fn(ctx, arg) at `at` (clamped to now if earlier). Returns the handle (never SB_EVENT_NONE),
 * or SB_EVENT_NONE when memory runs out (counted in alloc_fail; fn will not be called). */
sb_event_id sb_des_schedule(sb_des *d, us_time at, sb_event_fn fn, void *ctx, void *arg);

/* Remove a pending event. Returns 1 if it was pending (it will not run), 0 if it already ran, was
 * cancelled, or is SB_EVENT_NONE. */
int sb_des_cancel(sb_des *d, sb_event_id ev);

/* Run fn(ctx, arg) at `at` (clamped to now if earlier) as the event beside the heap, replacing the
 * one pending there, if any (it will not run). Cannot fail. */
void sb_des_schedule_side(sb_des *d, us_time at, sb_event_fn fn, void *ctx, void *arg);

/* For the side event's own callback, which would reschedule itself at `at`: returns 1 if that
 * event would be the very next one the running step loop runs — due no later than the loop's
 * bound, before every event in the heap (an event there due at the same time was scheduled earlier
 * and runs first), and no sb_des_stop() pending — after moving the engine on as running it would
 * (the clock to `at`, a sequence number, one more event run): the callback then goes on inline.
 * Returns 0 otherwise (the callback schedules itself with sb_des_schedule_side). A run is the
 * same either way; a source going on inline saves a return to the loop per frame. */
int sb_des_side_continue(sb_des *d, us_time at);

/* Events pending (the one beside the heap included), and the time of the earliest (US_TIME_NEVER
 * if none). */
static inline uint32_t sb_des_pending(const sb_des *d)
{
    return d->heap_len + (d->side.fn != NULL);
}
us_time sb_des_next_time(const sb_des *d);

/* Run the earliest event (the clock moves to its time). Returns 1 if one ran, 0 if none was left. */
int sb_des_step(sb_des *d);

/* The same if the earliest event is due at or before t; else (or with none left) return 0. */
int sb_des_step_until(sb_des *d, us_time t);

/* Run every event due at or before t, in order, then move the clock to t (if t is later than now
 * and not US_TIME_NEVER). If an event calls sb_des_stop(), return SB_DES_STOPPED right after it,
 * the clock at that event's time. */
sb_des_result sb_des_run_until(sb_des *d, us_time t);

/* Run until no event is left (SB_DES_DONE) or one calls sb_des_stop() (SB_DES_STOPPED). */
sb_des_result sb_des_run(sb_des *d);

/* Ask the running sb_des_run / sb_des_run_until to return after the current event. The flag is
 * cleared when that call returns; called outside a run, it makes the next run return after its
 * first event. */
void sb_des_stop(sb_des *d);

/* The sb_clock of this engine (ctx = d), for the models. */
sb_clock sb_des_clock(sb_des *d);

#ifdef __cplusplus
}
#endif

#endif /* SBHOST_DES_H */
