/* sbhost: the discrete-event engine — a binary min-heap of slot indices keyed on (time, sequence),
 * with each slot remembering its heap position so cancel removes in O(log n). Slots are recycled
 * through a free list; a handle is (generation << 32 | slot + 1), so a handle outliving its event
 * never cancels the slot's next occupant. */
#include "sbhost/des.h"

#include <assert.h>
#include <stdlib.h>

#define NO_SLOT UINT32_MAX

void sb_des_init(sb_des *d)
{
    *d = (sb_des){.free_slot = NO_SLOT};
}

void sb_des_free(sb_des *d)
{
    free(d->slots);
    free(d->heap);
    sb_des_init(d);
}

static int slot_before(const sb_des *d, uint32_t a, uint32_t b)
{
    const sb_des_slot *x = &d->slots[a], *y = &d->slots[b];
    return x->at < y->at || (x->at == y->at && x->seq < y->seq);
}

static void heap_set(sb_des *d, uint32_t pos, uint32_t slot)
{
    d->heap[pos] = slot;
    d->slots[slot].heap_pos = pos;
}

static void sift_up(sb_des *d, uint32_t pos)
{
    uint32_t slot = d->heap[pos];
    while (pos > 0) {
        uint32_t parent = (pos - 1) / 2;
        if (!slot_before(d, slot, d->heap[parent]))
            break;
        heap_set(d, pos, d->heap[parent]);
        pos = parent;
    }
    heap_set(d, pos, slot);
}

static void sift_down(sb_des *d, uint32_t pos)
{
    uint32_t slot = d->heap[pos];
    for (;;) {
        uint32_t child = 2 * pos + 1;
        if (child >= d->heap_len)
            break;
        if (child + 1 < d->heap_len && slot_before(d, d->heap[child + 1], d->heap[child]))
            child++;
        if (!slot_before(d, d->heap[child], slot))
            break;
        heap_set(d, pos, d->heap[child]);
        pos = child;
    }
    heap_set(d, pos, slot);
}

/* Take the slot at heap position pos out of the heap (it stays allocated). */
static void heap_remove(sb_des *d, uint32_t pos)
{
    assert(pos < d->heap_len);
    d->heap_len--;
    if (pos == d->heap_len)
        return;
    heap_set(d, pos, d->heap[d->heap_len]);
    if (pos > 0 && slot_before(d, d->heap[pos], d->heap[(pos - 1) / 2]))
        sift_up(d, pos);
    else
        sift_down(d, pos);
}

static void slot_release(sb_des *d, uint32_t slot)
{
    sb_des_slot *s = &d->slots[slot];
    s->fn = NULL;
    s->gen++;
    s->heap_pos = d->free_slot;
    d->free_slot = slot;
}

static int grow(sb_des *d)
{
    if (d->slots_cap == UINT32_MAX / 2)
        return 0;
    uint32_t cap = d->slots_cap ? d->slots_cap * 2 : 64;
    sb_des_slot *slots = realloc(d->slots, (size_t)cap * sizeof(*slots));
    if (!slots)
        return 0;
    d->slots = slots;
    uint32_t *heap = realloc(d->heap, (size_t)cap * sizeof(*heap));
    if (!heap)
        return 0;
    d->heap = heap;
    d->slots_cap = cap;
    return 1;
}

sb_event_id sb_des_schedule(sb_des *d, us_time at, sb_event_fn fn, void *ctx, void *arg)
{
    assert(fn != NULL);
    uint32_t slot;
    if (d->free_slot != NO_SLOT) {
        slot = d->free_slot;
        d->free_slot = d->slots[slot].heap_pos;
    } else {
        if (d->nslots == d->slots_cap && !grow(d)) {
            d->alloc_fail++;
            return SB_EVENT_NONE;
        }
        slot = d->nslots++;
        d->slots[slot].gen = 1;
    }
    sb_des_slot *s = &d->slots[slot];
    s->at = at < d->now ? d->now : at;
    s->seq = d->seq++;
    s->fn = fn;
    s->ctx = ctx;
    s->arg = arg;
    d->heap[d->heap_len] = slot;
    d->slots[slot].heap_pos = d->heap_len;
    d->heap_len++;
    sift_up(d, d->heap_len - 1);
    return ((sb_event_id)s->gen << 32) | ((sb_event_id)slot + 1);
}

int sb_des_cancel(sb_des *d, sb_event_id ev)
{
    if (ev == SB_EVENT_NONE)
        return 0;
    uint64_t low = ev & 0xFFFFFFFFu;
    if (low == 0 || low > d->nslots)
        return 0;
    uint32_t slot = (uint32_t)(low - 1);
    sb_des_slot *s = &d->slots[slot];
    if (s->fn == NULL || s->gen != (uint32_t)(ev >> 32))
        return 0;
    heap_remove(d, s->heap_pos);
    slot_release(d, slot);
    return 1;
}

void sb_des_schedule_side(sb_des *d, us_time at, sb_event_fn fn, void *ctx, void *arg)
{
    assert(fn != NULL);
    d->side.at = at < d->now ? d->now : at;
    d->side.seq = d->seq++;
    d->side.fn = fn;
    d->side.ctx = ctx;
    d->side.arg = arg;
}

int sb_des_side_continue(sb_des *d, us_time at)
{
    assert(d->side.fn == NULL && "only from the side event's callback, before it reschedules");
    if (at < d->now)
        at = d->now;
    if (at > d->until || d->stop || (d->heap_len && d->slots[d->heap[0]].at <= at))
        return 0;
    d->now = at;
    d->seq++;
    d->events_run++;
    return 1;
}

/* The event beside the heap is the next to run. */
static int side_first(const sb_des *d)
{
    if (d->side.fn == NULL)
        return 0;
    if (d->heap_len == 0)
        return 1;
    const sb_des_slot *h = &d->slots[d->heap[0]];
    return d->side.at < h->at || (d->side.at == h->at && d->side.seq < h->seq);
}

us_time sb_des_next_time(const sb_des *d)
{
    us_time t = d->heap_len ? d->slots[d->heap[0]].at : US_TIME_NEVER;
    return d->side.fn != NULL && d->side.at < t ? d->side.at : t;
}

int sb_des_step(sb_des *d)
{
    return sb_des_step_until(d, US_TIME_NEVER);
}

int sb_des_step_until(sb_des *d, us_time t)
{
    if (side_first(d)) {
        if (d->side.at > t)
            return 0;
        sb_des_slot s = d->side;
        d->side.fn = NULL; /* before the call: it may schedule the next one */
        d->now = s.at;
        d->until = t;
        d->events_run++;
        s.fn(s.ctx, s.arg);
        return 1;
    }
    if (d->heap_len == 0 || d->slots[d->heap[0]].at > t)
        return 0;
    uint32_t slot = d->heap[0];
    sb_des_slot s = d->slots[slot];
    heap_remove(d, 0);
    /* Freed before the call: the event's own handle is stale inside its callback, and the slot
     * may be reused by what the callback schedules. */
    slot_release(d, slot);
    d->now = s.at;
    d->until = t;
    d->events_run++;
    s.fn(s.ctx, s.arg);
    return 1;
}

sb_des_result sb_des_run_until(sb_des *d, us_time t)
{
    while (sb_des_step_until(d, t)) {
        if (d->stop) {
            d->stop = 0;
            return SB_DES_STOPPED;
        }
    }
    if (t != US_TIME_NEVER && t > d->now)
        d->now = t;
    return SB_DES_DONE;
}

sb_des_result sb_des_run(sb_des *d)
{
    return sb_des_run_until(d, US_TIME_NEVER);
}

void sb_des_stop(sb_des *d)
{
    d->stop = 1;
}

static us_time clock_now(void *ctx)
{
    return sb_des_now(ctx);
}

static sb_event_id clock_schedule(void *ctx, us_time at, sb_event_fn fn, void *fn_ctx, void *arg)
{
    return sb_des_schedule(ctx, at, fn, fn_ctx, arg);
}

static int clock_cancel(void *ctx, sb_event_id ev)
{
    return sb_des_cancel(ctx, ev);
}

sb_clock sb_des_clock(sb_des *d)
{
    return (sb_clock){.ctx = d, .now = clock_now, .schedule = clock_schedule, .cancel = clock_cancel};
}
