/* sbhost: one link direction — exact serialization (remainders carried in units of 1/rate ns),
 * a FIFO of departure times for the queue limit, seeded loss and reordering, and delivery either
 * by event at the arrival time from a reused buffer pool or straight away with the arrival time. */
#include "sbhost/link.h"

#include <stdlib.h>
#include <string.h>

struct sb_link_buf {
    sb_link_buf *next; /* free list */
    sb_link *link;
    sb_event_id ev;    /* pending delivery, SB_EVENT_NONE while free */
    us_time arrival;
    uint32_t len;
    uint8_t data[];
};

void sb_link_config_default(sb_link_config *cfg)
{
    *cfg = (sb_link_config){
        .rate_bps = 100000000,
        .delay = 0,
        .queue_frames = UINT32_MAX,
        .max_frame = 1518,
        .min_frame = 60,
        .overhead = 24,
        .loss = 0,
        .reorder = 0,
        .reorder_delay = 0,
        .seed = 0,
        .handover = SB_LINK_AT_ARRIVAL,
    };
}

/* A draw below the threshold hits with probability p: threshold = p * 2^64 (exact in binary
 * floating point, so the same on every machine). */
static void threshold(double p, uint64_t *thresh, int *all)
{
    *all = 0;
    *thresh = 0;
    if (p >= 1.0) {
        *all = 1;
        return;
    }
    double t = p * 18446744073709551616.0;
    if (t >= 18446744073709551616.0)
        *all = 1;
    else
        *thresh = (uint64_t)t;
}

static int prob_ok(double p)
{
    return p >= 0.0 && p <= 1.0; /* false for NaN */
}

sb_status sb_link_init(sb_link *l, const sb_link_config *cfg, const sb_clock *clock,
                       sb_link_deliver_fn deliver, void *ctx, sb_err *err)
{
    if (!prob_ok(cfg->loss))
        return sb__fail(err, SB_EINVAL, "link: loss %g: must be in [0, 1]", cfg->loss);
    if (!prob_ok(cfg->reorder))
        return sb__fail(err, SB_EINVAL, "link: reorder %g: must be in [0, 1]", cfg->reorder);
    if (cfg->reorder > 0 && cfg->reorder_delay == 0)
        return sb__fail(err, SB_EINVAL, "link: reorder needs a reorder_delay above 0");
    if (cfg->rate_bps > SB_LINK_MAX_RATE)
        return sb__fail(err, SB_EINVAL, "link: rate %llu bit/s: at most %llu",
                        (unsigned long long)cfg->rate_bps, SB_LINK_MAX_RATE);
    if (cfg->max_frame == 0 || cfg->max_frame > 65535)
        return sb__fail(err, SB_EINVAL, "link: max_frame %u: must be 1 to 65535",
                        (unsigned)cfg->max_frame);
    if (cfg->min_frame > 65535 || cfg->overhead > 65535)
        return sb__fail(err, SB_EINVAL, "link: min_frame and overhead must be at most 65535");
    if (!clock && cfg->handover != SB_LINK_AT_SEND)
        return sb__fail(err, SB_EINVAL, "link: delivery at the arrival time needs a clock");
    if (!deliver)
        return sb__fail(err, SB_EINVAL, "link: no delivery function");
    *l = (sb_link){.cfg = *cfg, .deliver = deliver, .deliver_ctx = ctx};
    if (clock) {
        l->clock = *clock;
        l->has_clock = 1;
    }
    uint64_t x = cfg->seed;
    sb_rng_seed(&l->loss_rng, sb_splitmix64(&x));
    sb_rng_seed(&l->reorder_rng, sb_splitmix64(&x));
    threshold(cfg->loss, &l->loss_thresh, &l->loss_all);
    threshold(cfg->reorder, &l->reorder_thresh, &l->reorder_all);
    l->direct = cfg->rate_bps == 0 && !l->loss_thresh && !l->loss_all && !l->reorder_thresh &&
                !l->reorder_all && cfg->handover == SB_LINK_AT_SEND;
    return SB_OK;
}

void sb_link_free(sb_link *l)
{
    for (uint32_t i = 0; i < l->nbufs; i++) {
        if (l->bufs[i]->ev != SB_EVENT_NONE)
            sb_clock_cancel(&l->clock, l->bufs[i]->ev);
        free(l->bufs[i]);
    }
    free(l->bufs);
    free(l->q);
    l->bufs = NULL;
    l->q = NULL;
    l->nbufs = l->bufs_cap = l->q_len = l->q_cap = 0;
    l->free_bufs = NULL;
    l->in_flight = 0;
}

/* The slot of the k-th departure from the queue's head (q_cap is a power of two: no division). */
static inline uint32_t q_at(const sb_link *l, uint32_t k)
{
    return (l->q_head + k) & (l->q_cap - 1u);
}

/* Forget the frames whose last bit left at or before now. */
static void queue_expire(sb_link *l, us_time now)
{
    while (l->q_len && l->q[l->q_head] <= now) {
        l->q_head = q_at(l, 1);
        l->q_len--;
    }
}

static int queue_push(sb_link *l, us_time departure)
{
    if (l->q_len == l->q_cap) {
        uint32_t cap = l->q_cap ? l->q_cap * 2 : 16;
        us_time *q = malloc((size_t)cap * sizeof(*q));
        if (!q)
            return 0;
        for (uint32_t i = 0; i < l->q_len; i++)
            q[i] = l->q[q_at(l, i)];
        free(l->q);
        l->q = q;
        l->q_head = 0;
        l->q_cap = cap;
    }
    l->q[q_at(l, l->q_len)] = departure;
    l->q_len++;
    return 1;
}

uint32_t sb_link_backlog(sb_link *l, us_time now)
{
    queue_expire(l, now);
    return l->q_len;
}

static sb_link_buf *buf_get(sb_link *l)
{
    if (l->free_bufs) {
        sb_link_buf *b = l->free_bufs;
        l->free_bufs = b->next;
        return b;
    }
    if (l->nbufs == l->bufs_cap) {
        uint32_t cap = l->bufs_cap ? l->bufs_cap * 2 : 16;
        sb_link_buf **bufs = realloc(l->bufs, (size_t)cap * sizeof(*bufs));
        if (!bufs)
            return NULL;
        l->bufs = bufs;
        l->bufs_cap = cap;
    }
    sb_link_buf *b = malloc(sizeof(*b) + l->cfg.max_frame);
    if (!b)
        return NULL;
    b->link = l;
    b->ev = SB_EVENT_NONE;
    l->bufs[l->nbufs++] = b;
    return b;
}

static void buf_put(sb_link *l, sb_link_buf *b)
{
    b->ev = SB_EVENT_NONE;
    b->next = l->free_bufs;
    l->free_bufs = b;
}

static void deliver_event(void *ctx, void *arg)
{
    sb_link *l = ctx;
    sb_link_buf *b = arg;
    b->ev = SB_EVENT_NONE;
    l->in_flight--;
    l->stats.frames_delivered++;
    l->deliver(l->deliver_ctx, b->data, b->len, b->arrival);
    buf_put(l, b);
}

/* Occupy the serializer with one frame from now; returns its departure (rounded up to a ns). */
static us_time serialize(sb_link *l, uint32_t len, us_time now)
{
    uint64_t rate = l->cfg.rate_bps;
    if (rate == 0)
        return now;
    uint64_t bytes = (uint64_t)(len < l->cfg.min_frame ? l->cfg.min_frame : len) + l->cfg.overhead;
    if (now > l->free_ns || (now == l->free_ns && l->free_rem == 0)) {
        l->free_ns = now;
        l->free_rem = 0;
    }
    /* bits * 1e9 <= 8 * 131070 * 1e9 < 2^61 and free_rem < rate <= 1e13: no overflow. */
    uint64_t num = l->free_rem + bytes * 8u * 1000000000u;
    l->free_ns += num / rate;
    l->free_rem = num % rate;
    return l->free_ns + (l->free_rem ? 1 : 0);
}

sb_link_verdict sb__link_send(sb_link *l, const uint8_t *data, uint32_t len, us_time now,
                              us_time *departure)
{
    if (now < l->last_now)
        now = l->last_now;
    l->last_now = now;
    if (departure)
        *departure = now;
    if (l->direct && len - 1u < l->cfg.max_frame)
        return sb_link_send(l, data, len, now, departure); /* its direct path, now in order */
    if (len == 0 || len > l->cfg.max_frame) {
        l->stats.drop_oversize++;
        return SB_LINK_DROP_OVERSIZE;
    }
    queue_expire(l, now);
    /* q_len counts the frame on the wire too: the waiting ones are q_len - 1. */
    if (l->q_len > 0 && l->q_len - 1 >= l->cfg.queue_frames) {
        l->stats.drop_queue++;
        return SB_LINK_DROP_QUEUE;
    }

    us_time dep = serialize(l, len, now);
    if (departure)
        *departure = dep;
    l->stats.frames_sent++;
    l->stats.bytes_sent += len;
    if (dep > now) {
        /* Out of memory here only means the frame is not counted against the queue limit. */
        if (queue_push(l, dep) && l->q_len - 1 > l->stats.queue_hwm)
            l->stats.queue_hwm = l->q_len - 1;
    }

    /* One draw of each stream per accepted frame, whatever the outcome. A stream whose threshold
     * is 0 (probability 0, or 1: loss_all / reorder_all) is never compared with, so its draws are
     * skipped: each stream belongs to this link alone, and nothing else sees its state. */
    int lost = l->loss_all || (l->loss_thresh && sb_rng_next(&l->loss_rng) < l->loss_thresh);
    int late = l->reorder_all ||
               (l->reorder_thresh && sb_rng_next(&l->reorder_rng) < l->reorder_thresh);
    if (lost) {
        l->stats.drop_loss++;
        return SB_LINK_LOST;
    }
    us_time arrival = dep + l->cfg.delay;
    if (late) {
        arrival += l->cfg.reorder_delay;
        l->stats.reordered++;
    }

    if (l->cfg.handover == SB_LINK_AT_SEND) {
        l->stats.frames_delivered++;
        l->deliver(l->deliver_ctx, data, len, arrival);
        return SB_LINK_SENT;
    }
    sb_link_buf *b = buf_get(l);
    if (!b) {
        l->stats.drop_nomem++;
        return SB_LINK_LOST;
    }
    memcpy(b->data, data, len);
    b->len = len;
    b->arrival = arrival;
    b->ev = sb_clock_schedule(&l->clock, arrival, deliver_event, l, b);
    if (b->ev == SB_EVENT_NONE) {
        buf_put(l, b);
        l->stats.drop_nomem++;
        return SB_LINK_LOST;
    }
    l->in_flight++;
    return SB_LINK_SENT;
}
