/* sbhost: the NIC model — an arrival-ordered queue of handed-over frames, moved lazily into the
 * RX ring at rx time; one RX interrupt event at a time; TX slots freed lazily at their frames'
 * departure times. See nic.h for the exact semantics. */
#include "sbhost/nic.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "sbtraffic/compiler.h"
#include "ustack/wire/eth.h"

enum { TX_FREE = 0, TX_ACQUIRED = 1, TX_BUSY = 2 };

/* Slots of the k-th entry from the head of the RX ring and of the arrival queue, without a
 * division (an integer divide costs more than the rest of a frame's ring handling): k is below the
 * ring's size, and the queue's capacity is a power of two. */
static inline uint32_t ring_at(const sb_nic *nic, uint32_t k)
{
    uint32_t i = nic->ring_head + k;
    return i >= nic->cfg.rx_ring ? i - nic->cfg.rx_ring : i;
}

static inline uint32_t arr_at(const sb_nic *nic, uint32_t k)
{
    return (nic->arr_head + k) & (nic->arr_cap - 1u);
}

void sb_nic_config_default(sb_nic_config *cfg)
{
    *cfg = (sb_nic_config){
        .rx_ring = 16,
        .tx_ring = 8,
        .irq_latency = 500,
        .mtu = 1500,
        .max_burst = 0,
        .caps = 0,
    };
}

sb_status sb_nic_init(sb_nic *nic, const sb_nic_config *cfg, const sb_clock *clock, sb_err *err)
{
    if (cfg->rx_ring == 0 || cfg->rx_ring > 65536)
        return sb__fail(err, SB_EINVAL, "nic: rx_ring %u: must be 1 to 65536",
                        (unsigned)cfg->rx_ring);
    if (cfg->tx_ring == 0 || cfg->tx_ring > 65536)
        return sb__fail(err, SB_EINVAL, "nic: tx_ring %u: must be 1 to 65536",
                        (unsigned)cfg->tx_ring);
    if (cfg->mtu < 68 || cfg->mtu > 65535 - US_ETH_HDR_LEN)
        return sb__fail(err, SB_EINVAL, "nic: mtu %u: must be 68 to %u", (unsigned)cfg->mtu,
                        65535u - US_ETH_HDR_LEN);
    *nic = (sb_nic){.cfg = *cfg, .clock = *clock, .frame_max = cfg->mtu + US_ETH_HDR_LEN};
    nic->ring = calloc(cfg->rx_ring, sizeof(*nic->ring));
    nic->tx = calloc(cfg->tx_ring, sizeof(*nic->tx));
    if (!nic->ring || !nic->tx)
        goto nomem;
    for (uint32_t i = 0; i < cfg->tx_ring; i++) {
        nic->tx[i].buf = malloc(nic->frame_max);
        if (!nic->tx[i].buf)
            goto nomem;
    }
    return SB_OK;
nomem:
    sb_nic_free(nic);
    return sb__fail(err, SB_ENOMEM, "nic: out of memory");
}

void sb_nic_free(sb_nic *nic)
{
    if (nic->irq_ev != SB_EVENT_NONE)
        sb_clock_cancel(&nic->clock, nic->irq_ev);
    if (nic->tx_wake_ev != SB_EVENT_NONE)
        sb_clock_cancel(&nic->clock, nic->tx_wake_ev);
    nic->irq_ev = nic->tx_wake_ev = SB_EVENT_NONE;
    if (nic->ring) {
        for (uint32_t i = 0; i < nic->ring_len; i++)
            us_pbuf_free(nic->ring[ring_at(nic, i)].p);
    }
    for (uint32_t i = 0; i < nic->arr_cap; i++)
        free(nic->arr[i].data);
    if (nic->tx) {
        for (uint32_t i = 0; i < nic->cfg.tx_ring; i++)
            free(nic->tx[i].buf);
    }
    free(nic->ring);
    free(nic->arr);
    free(nic->tx);
    nic->ring = NULL;
    nic->arr = NULL;
    nic->tx = NULL;
    nic->ring_len = nic->arr_len = nic->arr_cap = 0;
}

void sb_nic_set_bufs(sb_nic *nic, us_bufs *bufs)
{
    nic->bufs = bufs;
}

void sb_nic_set_tx(sb_nic *nic, sb_nic_tx_fn fn, void *ctx)
{
    nic->tx_fn = fn;
    nic->tx_ctx = ctx;
}

static us_time link_tx(void *ctx, const uint8_t *frame, uint32_t len, us_time now)
{
    us_time departure;
    (void)sb_link_send(ctx, frame, len, now, &departure);
    return departure;
}

void sb_nic_attach_link(sb_nic *nic, sb_link *link)
{
    sb_nic_set_tx(nic, link_tx, link);
}

void sb_nic_set_capture(sb_nic *nic, sb_nic_capture_fn fn, void *ctx)
{
    nic->capture = fn;
    nic->capture_ctx = ctx;
}

void sb_nic_set_tx_wake(sb_nic *nic, sb_nic_tx_wake_fn fn, void *ctx)
{
    nic->tx_wake = fn;
    nic->tx_wake_ctx = ctx;
}

/* ---- RX interrupt ---- */

static void irq_rescan(sb_nic *nic);

static void irq_event(void *ctx, void *arg)
{
    sb_nic *nic = ctx;
    (void)arg;
    nic->irq_ev = SB_EVENT_NONE;
    nic->irq_uncovered_from = nic->irq_at + 1;
    nic->stats.irqs++;
    nic->irq_fn(nic->irq_ctx);
    /* The handler may have masked, consumed frames, or left later ones waiting: look again. */
    irq_rescan(nic);
}

/* A frame arriving at frame_arrival (not covered by a delivered IRQ) wants an IRQ: make sure one
 * is pending no later than it asks. Invariant kept by every caller: while unmasked, if any such
 * frame is waiting, an IRQ is pending. */
static void irq_schedule(sb_nic *nic, us_time frame_arrival)
{
    if (!nic->irq_enabled || !nic->irq_fn || frame_arrival < nic->irq_uncovered_from)
        return;
    us_time t = frame_arrival > nic->irq_enabled_since ? frame_arrival : nic->irq_enabled_since;
    us_time fire = t + nic->cfg.irq_latency;
    if (nic->irq_ev != SB_EVENT_NONE) {
        if (fire >= nic->irq_at)
            return;
        sb_clock_cancel(&nic->clock, nic->irq_ev);
    }
    nic->irq_at = fire;
    nic->irq_ev = sb_clock_schedule(&nic->clock, fire, irq_event, nic, NULL);
}

/* Re-establish the invariant from scratch (unmask, handler installed). */
static void irq_rescan(sb_nic *nic)
{
    for (uint32_t i = 0; i < nic->ring_len; i++) {
        const sb_nic_rx_slot *s = &nic->ring[ring_at(nic, i)];
        if (s->arrival >= nic->irq_uncovered_from) {
            irq_schedule(nic, s->arrival);
            break;
        }
    }
    for (uint32_t i = 0; i < nic->arr_len; i++) {
        const sb_nic_arrival *a = &nic->arr[arr_at(nic, i)];
        if (a->arrival >= nic->irq_uncovered_from) {
            irq_schedule(nic, a->arrival);
            break;
        }
    }
}

void sb_nic_set_irq_handler(sb_nic *nic, sb_nic_irq_fn fn, void *ctx)
{
    nic->irq_fn = fn;
    nic->irq_ctx = ctx;
    if (!fn && nic->irq_ev != SB_EVENT_NONE) {
        sb_clock_cancel(&nic->clock, nic->irq_ev);
        nic->irq_ev = SB_EVENT_NONE;
    }
    irq_rescan(nic);
}

void sb_nic_set_irq(sb_nic *nic, int enabled)
{
    if (enabled && !nic->irq_enabled) {
        nic->irq_enabled = 1;
        nic->irq_enabled_since = sb_clock_now(&nic->clock);
        irq_rescan(nic);
    } else if (!enabled && nic->irq_enabled) {
        nic->irq_enabled = 0;
        if (nic->irq_ev != SB_EVENT_NONE)
            sb_clock_cancel(&nic->clock, nic->irq_ev);
        nic->irq_ev = SB_EVENT_NONE;
    }
}

/* ---- RX ----
 * Every slot of the arrival queue owns its frame buffer for good (allocated when the slot is first
 * used): a frame is queued in the buffer of the slot after the last, which sb_nic_rx_buffer lends
 * out to be written in place, and moving a frame into the ring copies it out, leaving the buffer
 * with its slot. The slot after the last stays the same one when the head moves on. */

static int arr_grow(sb_nic *nic)
{
    uint32_t cap = nic->arr_cap ? nic->arr_cap * 2 : 16;
    sb_nic_arrival *arr = calloc(cap, sizeof(*arr));
    if (!arr)
        return 0;
    /* Every slot in queue order, the free ones (and their buffers) included: the slot after the
     * last, whose buffer may be lent out, stays the slot after the last. */
    for (uint32_t i = 0; i < nic->arr_cap; i++)
        arr[i] = nic->arr[arr_at(nic, i)];
    free(nic->arr);
    nic->arr = arr;
    nic->arr_head = 0;
    nic->arr_cap = cap;
    return 1;
}

/* The slot after the last, with its buffer; NULL when memory runs out. */
static SB_NOINLINE sb_nic_arrival *arr_tail_slow(sb_nic *nic)
{
    if (nic->arr_len == nic->arr_cap && !arr_grow(nic))
        return NULL;
    sb_nic_arrival *a = &nic->arr[arr_at(nic, nic->arr_len)];
    if (!a->data && !(a->data = malloc(nic->frame_max)))
        return NULL;
    return a;
}

static inline sb_nic_arrival *arr_tail(sb_nic *nic)
{
    if (nic->arr_len < nic->arr_cap) {
        sb_nic_arrival *a = &nic->arr[arr_at(nic, nic->arr_len)];
        if (a->data)
            return a;
    }
    return arr_tail_slow(nic);
}

void sb_nic_arrive(sb_nic *nic, const uint8_t *data, uint32_t len, us_time arrival)
{
    nic->stats.rx_arrived++;
    if (len == 0 || len > nic->frame_max) {
        nic->stats.rx_drop_oversize++;
        return;
    }
    sb_nic_arrival *tail = arr_tail(nic);
    if (!tail) {
        nic->stats.rx_drop_nomem++;
        return;
    }
    if (data != tail->data) /* else built in place (sb_nic_rx_buffer) */
        memcpy(tail->data, data, len);
    uint32_t n = nic->arr_len;
    if (n == 0 || nic->arr[arr_at(nic, n - 1)].arrival <= arrival) {
        tail->arrival = arrival; /* the usual case: appended, in the slot it was built in */
        tail->len = len;
    } else {
        /* Insert after every frame arriving at or before it, the slots' structs, buffers
         * included, moving up by one. */
        sb_nic_arrival a = {.arrival = arrival, .len = len, .data = tail->data};
        uint32_t pos = n;
        while (pos > 0 && nic->arr[arr_at(nic, pos - 1)].arrival > arrival) {
            nic->arr[arr_at(nic, pos)] = nic->arr[arr_at(nic, pos - 1)];
            pos--;
        }
        nic->arr[arr_at(nic, pos)] = a;
    }
    nic->arr_len = n + 1;
    irq_schedule(nic, arrival);
}

uint8_t *sb_nic_rx_buffer(sb_nic *nic)
{
    sb_nic_arrival *tail = arr_tail(nic);
    return tail ? tail->data : NULL;
}

void sb_nic_link_deliver(void *nic, const uint8_t *data, uint32_t len, us_time arrival)
{
    sb_nic_arrive(nic, data, len, arrival);
}

/* Move every frame arrived by t into the ring, in arrival order. */
static void rx_move(sb_nic *nic, us_time t)
{
    while (nic->arr_len && nic->arr[nic->arr_head].arrival <= t) {
        const sb_nic_arrival a = nic->arr[nic->arr_head]; /* its buffer stays in the slot */
        nic->arr_head = arr_at(nic, 1);
        nic->arr_len--;
        if (nic->ring_len == nic->cfg.rx_ring) {
            nic->stats.rx_drop_ring++;
        } else {
            assert(nic->bufs != NULL && "sb_nic_set_bufs before the first rx");
            us_pbuf *p = us_pbuf_alloc(nic->bufs, US_PBUF_RAW, a.len, US_PBUF_POOL);
            if (!p) {
                nic->stats.rx_drop_pool++;
            } else {
                us_status st = us_pbuf_take(p, a.data, a.len);
                assert(st == US_OK);
                (void)st;
                nic->ring[ring_at(nic, nic->ring_len)] =
                    (sb_nic_rx_slot){.p = p, .arrival = a.arrival};
                nic->ring_len++;
                if (nic->ring_len > nic->stats.rx_ring_hwm)
                    nic->stats.rx_ring_hwm = nic->ring_len;
            }
        }
    }
}

us_pbuf *sb_nic_rx(sb_nic *nic)
{
    rx_move(nic, sb_clock_now(&nic->clock));
    if (nic->ring_len == 0)
        return NULL;
    sb_nic_rx_slot s = nic->ring[nic->ring_head];
    nic->ring_head = ring_at(nic, 1);
    nic->ring_len--;
    nic->last_rx_arrival = s.arrival;
    nic->stats.rx_frames++;
    nic->stats.rx_bytes += s.p->tot_len;
    return s.p;
}

us_time sb_nic_next_arrival(const sb_nic *nic)
{
    if (nic->ring_len)
        return nic->ring[nic->ring_head].arrival;
    if (nic->arr_len)
        return nic->arr[nic->arr_head].arrival;
    return US_TIME_NEVER;
}

/* ---- TX ---- */

static int slot_free(const sb_nic_tx_slot *s, us_time now)
{
    return s->state == TX_FREE || (s->state == TX_BUSY && s->free_at <= now);
}

uint32_t sb_nic_tx_busy(const sb_nic *nic, us_time now)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < nic->cfg.tx_ring; i++)
        n += !slot_free(&nic->tx[i], now);
    return n;
}

static void tx_wake_event(void *ctx, void *arg)
{
    sb_nic *nic = ctx;
    (void)arg;
    nic->tx_wake_ev = SB_EVENT_NONE;
    if (nic->tx_wake)
        nic->tx_wake(nic->tx_wake_ctx);
}

static uint8_t *nic_tx_acquire(void *ctx, uint32_t len)
{
    sb_nic *nic = ctx;
    if (len > nic->frame_max) {
        nic->stats.tx_oversize++;
        return NULL;
    }
    us_time now = sb_clock_now(&nic->clock);
    sb_nic_tx_slot *slot = NULL;
    us_time next_free = US_TIME_NEVER;
    uint32_t busy = 0;
    for (uint32_t i = 0; i < nic->cfg.tx_ring; i++) {
        sb_nic_tx_slot *s = &nic->tx[i];
        if (slot_free(s, now)) {
            if (!slot)
                slot = s;
        } else {
            busy++;
            if (s->state == TX_BUSY && s->free_at < next_free)
                next_free = s->free_at;
        }
    }
    if (!slot) {
        nic->stats.tx_refused++;
        if (nic->tx_wake && nic->tx_wake_ev == SB_EVENT_NONE && next_free != US_TIME_NEVER)
            nic->tx_wake_ev = sb_clock_schedule(&nic->clock, next_free, tx_wake_event, nic, NULL);
        return NULL;
    }
    slot->state = TX_ACQUIRED;
    if (busy + 1 > nic->stats.tx_ring_hwm)
        nic->stats.tx_ring_hwm = busy + 1;
    return slot->buf;
}

static void nic_tx_commit(void *ctx, uint8_t *buf, uint32_t len)
{
    sb_nic *nic = ctx;
    sb_nic_tx_slot *slot = NULL;
    for (uint32_t i = 0; i < nic->cfg.tx_ring && !slot; i++) {
        if (nic->tx[i].buf == buf)
            slot = &nic->tx[i];
    }
    assert(slot != NULL && slot->state == TX_ACQUIRED && len <= nic->frame_max);
    us_time now = sb_clock_now(&nic->clock);
    nic->stats.tx_frames++;
    nic->stats.tx_bytes += len;
    if (nic->capture)
        nic->capture(nic->capture_ctx, buf, len, now);
    us_time free_at = nic->tx_fn ? nic->tx_fn(nic->tx_ctx, buf, len, now) : now;
    slot->free_at = free_at;
    slot->state = free_at > now ? TX_BUSY : TX_FREE;
}

static us_pbuf *nic_rx(void *ctx)
{
    return sb_nic_rx(ctx);
}

void sb_nic_dev(sb_nic *nic, us_dev *dev)
{
    *dev = (us_dev){
        .ctx = nic,
        .mtu = nic->cfg.mtu,
        .max_burst = nic->cfg.max_burst,
        .caps = nic->cfg.caps,
        .rx = nic_rx,
        .tx_acquire = nic_tx_acquire,
        .tx_commit = nic_tx_commit,
    };
}
