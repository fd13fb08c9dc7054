/* sbhost: the NIC of a simulated host, implementing libustack's us_dev (sb_nic_dev). Shared by the
 * replay harness and the ns-3 app: it sees time only through an sb_clock.
 *
 * Time. The NIC reads "now" from its clock at every rx, tx_acquire, tx_commit and IRQ mask change.
 * A host whose CPU runs ahead of the event engine inside a scheduler step (charge() moves the
 * host's now() past the engine's) must give the NIC a clock whose now() is that host time; events
 * are still scheduled on the engine.
 *
 * RX, exactly:
 *   1. Frames are handed over with sb_nic_arrive (or sb_nic_link_deliver, an sb_link deliver
 *      function) together with their arrival time, which may lie in the future (an sb_link with
 *      SB_LINK_AT_SEND hands frames over when they are sent). They are copied into an "arrived"
 *      queue kept in arrival order (equal times: hand-over order). Frames longer than mtu + 14
 *      are dropped there (rx_drop_oversize).
 *   2. When the stack calls dev->rx at time T, every arrived frame with arrival <= T first moves
 *      into the RX ring, oldest first: if the ring already holds rx_ring frames the frame is
 *      dropped (rx_drop_ring: no descriptor, so no buffer is touched); otherwise a POOL pbuf is
 *      allocated from the stack's us_bufs (us_pbuf_alloc(bufs, US_PBUF_RAW, len, US_PBUF_POOL))
 *      and the frame copied in; if the pool is empty it is dropped (rx_drop_pool). Then the oldest
 *      frame of the ring is returned (the stack owns the pbuf), or NULL if the ring is empty.
 *      The ring drains only at rx calls, so its occupancy when each frame arrived, and therefore
 *      every ring drop, is exact. The pool is looked at when the frame moves (at T), not when it
 *      arrived: a buffer the stack frees between the two counts as free.
 *   3. sb_nic_last_rx_arrival() is the arrival time of the frame rx returned last (latency).
 *
 * RX interrupt (initially masked; us_host.set_rx_irq maps onto sb_nic_set_irq):
 *   - while unmasked, a frame arriving when no IRQ is pending raises one: an event at
 *     arrival + irq_latency calls the handler installed with sb_nic_set_irq_handler (the harness
 *     runs us_sched_on_rx from it when the CPU is free). Frames arriving while it is pending,
 *     i.e. up to and including its time, are covered by it: one IRQ per idle period;
 *   - masking cancels a pending IRQ; unmasking at time U with frames waiting (arrived, not yet
 *     returned by rx, not covered by an IRQ that was delivered) raises one at U + irq_latency;
 *   - an IRQ whose frames were consumed before it fired still fires (it was latched): the
 *     handler may find the ring empty.
 *
 * TX: tx_ring slots, each a buffer of mtu + 14 bytes. tx_acquire takes a free slot or returns
 * NULL when every slot is busy (tx_refused; the stack counts tx_alloc_fail and retries later);
 * tx_commit hands the frame to the capture hook, then to the TX function (sb_nic_attach_link:
 * an sb_link), which returns when the frame's last bit has left; the slot stays busy until that
 * time (checked lazily against now, no event). With no TX function frames are counted and
 * dropped and the slot frees at once. An optional TX-wake hook (the driver's TX-complete
 * interrupt) is called when a slot frees after a refusal. */
#ifndef SBHOST_NIC_H
#define SBHOST_NIC_H

#include <stdint.h>

#include "sbhost/clock.h"
#include "sbhost/link.h"
#include "sbtraffic/err.h"
#include "ustack/dev.h"
#include "ustack/pbuf.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sb_nic_config {
    uint32_t rx_ring;     /* RX descriptors; default 16 */
    uint32_t tx_ring;     /* TX descriptors; default 8 */
    us_time irq_latency;  /* frame arrival to interrupt handler; default 500 ns */
    uint32_t mtu;         /* us_dev.mtu; frames up to mtu + 14 bytes; default 1500 */
    uint32_t max_burst;   /* us_dev.max_burst; default 0 (drain until empty) */
    uint32_t caps;        /* us_dev.caps (US_DEV_CSUM_*); default 0 */
} sb_nic_config;

typedef struct sb_nic_stats {
    uint64_t rx_arrived;       /* frames handed to the NIC */
    uint64_t rx_frames;        /* frames returned by rx */
    uint64_t rx_bytes;
    uint64_t rx_drop_ring;     /* ring full when the frame moved in */
    uint64_t rx_drop_pool;     /* no POOL pbuf for it */
    uint64_t rx_drop_oversize; /* longer than mtu + 14, or empty */
    uint64_t rx_drop_nomem;    /* no host memory to queue it (malloc failed) */
    uint64_t tx_frames;        /* frames committed */
    uint64_t tx_bytes;
    uint64_t tx_refused;       /* tx_acquire with every slot busy */
    uint64_t tx_oversize;      /* tx_acquire of more than mtu + 14 bytes (also NULL) */
    uint64_t irqs;             /* RX interrupts delivered to the handler */
    uint32_t rx_ring_hwm;      /* most frames in the RX ring at once */
    uint32_t tx_ring_hwm;      /* most TX slots busy at once */
} sb_nic_stats;

/* Called at the IRQ's time, from an event. */
typedef void (*sb_nic_irq_fn)(void *ctx);
/* Transmit frame[0, len) at now (the bytes are valid during the call only); returns the time the
 * frame's last bit leaves, when its TX slot frees (now or later). */
typedef us_time (*sb_nic_tx_fn)(void *ctx, const uint8_t *frame, uint32_t len, us_time now);
/* Sees every committed frame, before it is transmitted. */
typedef void (*sb_nic_capture_fn)(void *ctx, const uint8_t *frame, uint32_t len, us_time now);
/* A TX slot has freed after a refusal. */
typedef void (*sb_nic_tx_wake_fn)(void *ctx);

typedef struct sb_nic_rx_slot {
    us_pbuf *p;
    us_time arrival;
} sb_nic_rx_slot;

typedef struct sb_nic_arrival {
    us_time arrival;
    uint32_t len;
    uint8_t *data;
} sb_nic_arrival;

typedef struct sb_nic_tx_slot {
    uint8_t *buf;
    us_time free_at; /* busy until then */
    uint8_t state;   /* internal */
} sb_nic_tx_slot;

typedef struct sb_nic {
    sb_nic_config cfg;
    sb_clock clock;
    us_bufs *bufs;
    uint32_t frame_max;
    sb_nic_rx_slot *ring;
    uint32_t ring_head, ring_len;
    sb_nic_arrival *arr; /* arrival-ordered ring buffer; each slot owns its frame buffer */
    uint32_t arr_head, arr_len, arr_cap;
    us_time last_rx_arrival;
    sb_nic_tx_slot *tx;
    sb_nic_tx_fn tx_fn;
    void *tx_ctx;
    sb_nic_capture_fn capture;
    void *capture_ctx;
    sb_nic_tx_wake_fn tx_wake;
    void *tx_wake_ctx;
    sb_event_id tx_wake_ev;
    sb_nic_irq_fn irq_fn;
    void *irq_ctx;
    int irq_enabled;
    sb_event_id irq_ev;
    us_time irq_at;            /* time of the pending IRQ */
    us_time irq_enabled_since; /* time of the last unmask */
    us_time irq_uncovered_from;/* arrivals before this were covered by a delivered IRQ */
    sb_nic_stats stats;
} sb_nic;

/* Defaults as documented in sb_nic_config. */
void sb_nic_config_default(sb_nic_config *cfg);

/* Set up nic with its rings (malloc). clock is copied. SB_OK, SB_EINVAL (a ring of 0 or above
 * 65536 slots, mtu below 68 or above 65521), SB_ENOMEM. */
sb_status sb_nic_init(sb_nic *nic, const sb_nic_config *cfg, const sb_clock *clock, sb_err *err);

/* Cancel the NIC's pending events, free the pbufs still in the RX ring (so the us_bufs must still
 * be alive) and all memory. */
void sb_nic_free(sb_nic *nic);

/* The device to give us_stack_init (ctx = nic). */
void sb_nic_dev(sb_nic *nic, us_dev *dev);

/* The buffers RX pbufs come from: us_stack_bufs() of the stack, once it exists. Required before
 * the first rx. */
void sb_nic_set_bufs(sb_nic *nic, us_bufs *bufs);

void sb_nic_set_irq_handler(sb_nic *nic, sb_nic_irq_fn fn, void *ctx);
/* Unmask (1) or mask (0) the RX interrupt at now (us_host.set_rx_irq). */
void sb_nic_set_irq(sb_nic *nic, int enabled);

void sb_nic_set_tx(sb_nic *nic, sb_nic_tx_fn fn, void *ctx);
/* Transmit onto link (sb_link_send; the slot frees at the frame's departure). */
void sb_nic_attach_link(sb_nic *nic, sb_link *link);
void sb_nic_set_capture(sb_nic *nic, sb_nic_capture_fn fn, void *ctx);
void sb_nic_set_tx_wake(sb_nic *nic, sb_nic_tx_wake_fn fn, void *ctx);

/* Hand a frame to the NIC: data[0, len) is copied; arrival may be in the future. */
void sb_nic_arrive(sb_nic *nic, const uint8_t *data, uint32_t len, us_time arrival);

/* A buffer of mtu + 14 bytes to build the next frame in, for a source that would otherwise build
 * it elsewhere and have sb_nic_arrive copy it: handed to sb_nic_arrive (directly, or through an
 * sb_link with SB_LINK_AT_SEND) it is queued as it is. It is the buffer the next sb_nic_arrive
 * queues its frame in, whatever the frame: write into it only right before handing it over (a
 * frame that was not handed over, e.g. lost on the link, is simply overwritten by the next).
 * NULL when memory runs out. */
uint8_t *sb_nic_rx_buffer(sb_nic *nic);

/* sb_nic_arrive with ctx = the sb_nic: an sb_link_deliver_fn. */
void sb_nic_link_deliver(void *nic, const uint8_t *data, uint32_t len, us_time arrival);

/* dev->rx: see the header comment. Returns a pbuf the caller owns, or NULL. */
us_pbuf *sb_nic_rx(sb_nic *nic);

/* Earliest arrival time of a frame handed over and not yet returned by rx (in the ring, or
 * arrived or still to arrive), or US_TIME_NEVER: for us_host.next_input. A time <= now means
 * input is waiting. */
us_time sb_nic_next_arrival(const sb_nic *nic);

/* Arrival time of the frame rx returned last (0 before the first). */
static inline us_time sb_nic_last_rx_arrival(const sb_nic *nic)
{
    return nic->last_rx_arrival;
}

/* Frames in the RX ring now (not counting arrived frames not yet moved in). */
static inline uint32_t sb_nic_rx_ring_used(const sb_nic *nic)
{
    return nic->ring_len;
}

/* 1 while an RX interrupt is scheduled and not yet delivered. */
static inline int sb_nic_irq_pending(const sb_nic *nic)
{
    return nic->irq_ev != SB_EVENT_NONE;
}

/* TX slots busy at time now. */
uint32_t sb_nic_tx_busy(const sb_nic *nic, us_time now);

static inline const sb_nic_stats *sb_nic_get_stats(const sb_nic *nic)
{
    return &nic->stats;
}

#ifdef __cplusplus
}
#endif

#endif /* SBHOST_NIC_H */
