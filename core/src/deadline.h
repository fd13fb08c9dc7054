/* Internal: the stack's deadline heap, an indexed binary min-heap of timer items (libuv keeps its
 * timers the same way). Every timer owner — a TCP slot, an ARP entry, a reassembly slot — has one
 * fixed item id and at most one deadline, so setting a deadline is an insert or a move, and
 * cancelling is O(log n) through the position index. Ties break on the item id, so the order in
 * which equal deadlines run is deterministic. */
#ifndef USTACK_DEADLINE_H
#define USTACK_DEADLINE_H

#include <stdint.h>

#include "ustack/stack.h"

#define US__DL_NONE UINT32_MAX

typedef struct us__dl {
    uint32_t *heap; /* item ids in heap order, n valid */
    uint32_t *pos;  /* per item: its index in heap, or US__DL_NONE */
    us_time *key;   /* per item: its deadline (valid while in the heap) */
    uint32_t n;
    uint32_t cap; /* items */
} us__dl;

static inline void us__dl_init(us__dl *d, uint32_t *heap, uint32_t *pos, us_time *key,
                               uint32_t cap)
{
    d->heap = heap;
    d->pos = pos;
    d->key = key;
    d->n = 0;
    d->cap = cap;
    for (uint32_t i = 0; i < cap; i++)
        pos[i] = US__DL_NONE;
}

static inline int us__dl_less(const us__dl *d, uint32_t a, uint32_t b)
{
    return d->key[a] < d->key[b] || (d->key[a] == d->key[b] && a < b);
}

static inline void us__dl_place(us__dl *d, uint32_t i, uint32_t item)
{
    d->heap[i] = item;
    d->pos[item] = i;
}

static inline void us__dl_up(us__dl *d, uint32_t i)
{
    uint32_t item = d->heap[i];
    while (i > 0) {
        uint32_t parent = (i - 1) / 2;
        if (!us__dl_less(d, item, d->heap[parent]))
            break;
        us__dl_place(d, i, d->heap[parent]);
        i = parent;
    }
    us__dl_place(d, i, item);
}

static inline void us__dl_down(us__dl *d, uint32_t i)
{
    uint32_t item = d->heap[i];
    for (;;) {
        uint32_t c = 2 * i + 1;
        if (c >= d->n)
            break;
        if (c + 1 < d->n && us__dl_less(d, d->heap[c + 1], d->heap[c]))
            c++;
        if (!us__dl_less(d, d->heap[c], item))
            break;
        us__dl_place(d, i, d->heap[c]);
        i = c;
    }
    us__dl_place(d, i, item);
}

/* Remove item's deadline, if it has one. */
static inline void us__dl_cancel(us__dl *d, uint32_t item)
{
    uint32_t i = d->pos[item];
    if (i == US__DL_NONE)
        return;
    d->pos[item] = US__DL_NONE;
    d->n--;
    if (i == d->n)
        return;
    uint32_t moved = d->heap[d->n];
    us__dl_place(d, i, moved);
    us__dl_up(d, i);
    us__dl_down(d, d->pos[moved]);
}

/* Set item's deadline to t (US_TIME_NEVER cancels it). */
static inline void us__dl_set(us__dl *d, uint32_t item, us_time t)
{
    if (t == US_TIME_NEVER) {
        us__dl_cancel(d, item);
        return;
    }
    uint32_t i = d->pos[item];
    if (i == US__DL_NONE) {
        d->key[item] = t;
        i = d->n++;
        us__dl_place(d, i, item);
        us__dl_up(d, i);
        return;
    }
    us_time old = d->key[item];
    d->key[item] = t;
    if (t < old)
        us__dl_up(d, i);
    else if (t > old)
        us__dl_down(d, i);
}

/* The earliest deadline, or US_TIME_NEVER. */
static inline us_time us__dl_min(const us__dl *d)
{
    return d->n ? d->key[d->heap[0]] : US_TIME_NEVER;
}

/* The item with the earliest deadline (the heap must not be empty). */
static inline uint32_t us__dl_top(const us__dl *d)
{
    return d->heap[0];
}

/* The item's deadline, or US_TIME_NEVER. */
static inline us_time us__dl_get(const us__dl *d, uint32_t item)
{
    return d->pos[item] == US__DL_NONE ? US_TIME_NEVER : d->key[item];
}

#endif /* USTACK_DEADLINE_H */
