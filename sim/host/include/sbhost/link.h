/* sbhost: one direction of a point-to-point link. A frame handed to sb_link_send at time `now`
 * waits for the serializer, is clocked out at the link rate, then travels for the propagation
 * delay:
 *     start     = max(now, end of the previous frame's serialization)
 *     departure = start + wire_bits / rate            (exact: the fraction of a ns is carried to
 *                                                      the next frame; departure rounds up)
 *     arrival   = departure + delay (+ reorder_delay for a frame picked for reordering)
 * with wire_bits = 8 * (max(len, min_frame) + overhead); the Ethernet defaults (min_frame 60,
 * overhead 24: preamble + SFD 8, FCS 4, inter-frame gap 12) match the trace generator's spacing.
 *
 * Queue: at most queue_frames frames wait behind the one being serialized; a frame arriving to a
 * full queue is tail-dropped (drop_queue) and takes no link time. Loss: each accepted frame is
 * serialized, then lost with probability `loss` (drop_loss). Reordering: each accepted frame is,
 * with probability `reorder`, delayed by reorder_delay on top of the propagation delay, so frames
 * sent up to reorder_delay after it overtake it (counted in `reordered`, whether or not one does).
 * Loss and reordering draw from two xoshiro256** streams seeded from `seed` (one draw of each per
 * accepted frame), so switching reordering on does not change which frames are lost.
 *
 * Delivery, per cfg.handover:
 *   SB_LINK_AT_ARRIVAL  the frame is copied into a link-owned buffer (a pool grown with malloc and
 *                       reused) and delivered by an event at the arrival time (clock->now() ==
 *                       arrival inside the callback); data is valid during the callback only.
 *   SB_LINK_AT_SEND     deliver is called from inside sb_link_send with the sender's bytes and
 *                       the (future) arrival time: for a receiver that queues frames by arrival
 *                       time itself, as sb_nic does. This is what makes the NIC exact when the
 *                       receiving host's CPU runs ahead of the event engine inside a step (see
 *                       nic.h). Needs no clock.
 * Sends must come with non-decreasing `now` (one sender per direction); an earlier time is taken
 * as the latest one seen. */
#ifndef SBHOST_LINK_H
#define SBHOST_LINK_H

#include <stdint.h>

#include "sbhost/clock.h"
#include "sbtraffic/err.h"
#include "sbtraffic/rng.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SB_LINK_MAX_RATE 10000000000000ull /* 10 Tbit/s */

typedef enum sb_link_handover {
    SB_LINK_AT_ARRIVAL = 0,
    SB_LINK_AT_SEND = 1,
} sb_link_handover;

typedef struct sb_link_config {
    uint64_t rate_bps;     /* bit/s; 0 = infinite (no serialization time, no queueing) */
    us_time delay;         /* propagation delay, ns */
    uint32_t queue_frames; /* frames that may wait behind the one being sent; UINT32_MAX =
                              unlimited; default UINT32_MAX */
    uint32_t max_frame;    /* largest frame accepted, bytes; default 1518 */
    uint32_t min_frame;    /* shorter frames are padded to this on the wire; default 60 */
    uint32_t overhead;     /* bytes added on the wire to every frame; default 24 */
    double loss;           /* probability a frame is lost, [0, 1]; default 0 */
    double reorder;        /* probability a frame is delayed by reorder_delay, [0, 1]; default 0 */
    us_time reorder_delay; /* extra delay of a reordered frame; > 0 when reorder > 0 */
    uint64_t seed;         /* loss and reordering streams */
    sb_link_handover handover; /* default SB_LINK_AT_ARRIVAL */
} sb_link_config;

/* Receives a frame: data[0, len) (valid during the call only), at time `arrival`. */
typedef void (*sb_link_deliver_fn)(void *ctx, const uint8_t *data, uint32_t len, us_time arrival);

typedef struct sb_link_stats {
    uint64_t frames_sent;   /* accepted (serialized): delivered + lost + drop_nomem */
    uint64_t bytes_sent;    /* bytes of the accepted frames (not counting padding or overhead) */
    uint64_t frames_delivered;
    uint64_t drop_queue;    /* tail drops: queue full */
    uint64_t drop_loss;     /* lost on the wire */
    uint64_t drop_oversize; /* longer than max_frame (or 0 bytes) */
    uint64_t drop_nomem;    /* no buffer or no event for the delivery (out of memory) */
    uint64_t reordered;     /* frames given the extra reorder_delay */
    uint32_t queue_hwm;     /* most frames waiting behind the one being sent */
} sb_link_stats;

typedef struct sb_link_buf sb_link_buf;

typedef struct sb_link {
    sb_link_config cfg;
    sb_clock clock;
    int has_clock;
    sb_link_deliver_fn deliver;
    void *deliver_ctx;
    sb_rng loss_rng, reorder_rng;
    uint64_t loss_thresh, reorder_thresh; /* a draw below it hits; see loss_all / reorder_all */
    int loss_all, reorder_all;
    int direct;             /* no rate, loss or reordering, handed over at send: sb_link_send's
                               fast path */
    us_time last_now;
    us_time free_ns;        /* serializer busy until free_ns + free_rem / rate_bps ns */
    uint64_t free_rem;
    us_time *q;             /* departure times of frames not yet fully sent, FIFO ring */
    uint32_t q_head, q_len, q_cap;
    sb_link_buf **bufs;     /* every buffer allocated (AT_ARRIVAL) */
    uint32_t nbufs, bufs_cap;
    sb_link_buf *free_bufs; /* buffers not in flight */
    uint32_t in_flight;
    sb_link_stats stats;
} sb_link;

typedef enum sb_link_verdict {
    SB_LINK_SENT = 0,          /* on its way; *departure is when its last bit leaves */
    SB_LINK_LOST = 1,          /* serialized (*departure set) but lost, or no memory to deliver */
    SB_LINK_DROP_QUEUE = 2,    /* queue full: dropped at once (*departure = now) */
    SB_LINK_DROP_OVERSIZE = 3, /* len 0 or above max_frame (*departure = now) */
} sb_link_verdict;

/* Defaults as documented in sb_link_config; rate 100 Mbit/s, delay 0. */
void sb_link_config_default(sb_link_config *cfg);

/* Set up l. clock may be NULL only with SB_LINK_AT_SEND; it is copied. deliver is required.
 * SB_OK, or SB_EINVAL naming the bad field (probability outside [0, 1], reorder without
 * reorder_delay, rate above SB_LINK_MAX_RATE, max_frame 0 or above 65535, no clock). */
sb_status sb_link_init(sb_link *l, const sb_link_config *cfg, const sb_clock *clock,
                       sb_link_deliver_fn deliver, void *ctx, sb_err *err);

/* Cancel the deliveries still in flight (they are never delivered) and free the buffers. */
void sb_link_free(sb_link *l);

/* Send a copy of data[0, len) at time now. Returns the verdict; *departure (may be NULL) is when
 * the frame's last bit leaves the sender, i.e. when a NIC TX slot holding it is free again. */
sb_link_verdict sb__link_send(sb_link *l, const uint8_t *data, uint32_t len, us_time now,
                              us_time *departure);
static inline sb_link_verdict sb_link_send(sb_link *l, const uint8_t *data, uint32_t len,
                                           us_time now, us_time *departure)
{
    if (l->direct && len - 1u < l->cfg.max_frame && now >= l->last_now) {
        /* What sb__link_send does with no rate (no serialization, so nothing queues), no draws
         * and hand-over at send: the open-mode source's link, once per trace frame, inline. */
        l->last_now = now;
        if (departure)
            *departure = now;
        l->stats.frames_sent++;
        l->stats.bytes_sent += len;
        l->stats.frames_delivered++;
        l->deliver(l->deliver_ctx, data, len, now + l->cfg.delay);
        return SB_LINK_SENT;
    }
    return sb__link_send(l, data, len, now, departure);
}

/* Frames accepted and not yet fully serialized at time now (the one on the wire included). */
uint32_t sb_link_backlog(sb_link *l, us_time now);

static inline const sb_link_stats *sb_link_get_stats(const sb_link *l)
{
    return &l->stats;
}

#ifdef __cplusplus
}
#endif

#endif /* SBHOST_LINK_H */
