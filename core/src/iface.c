/* The split poll schedulers drive: ingress of one frame, egress (timers, owed ARP output, then
 * sockets), poll_at, and the superloop's poll. Also the device TX helpers, drop counting and the
 * ready list every output path shares.
 *
 * Egress, in order:
 *   1. timers: every deadline due at `now` runs (TCP retransmission / delayed ACK /
 *      TIME_WAIT via us__tcp_timers, ARP retry / failure / aging, reassembly timeout); a TCP
 *      socket whose timer ran joins the ready list;
 *   2. ARP output owed: gratuitous ARP, requests the device refused earlier, packets queued on
 *      resolved entries;
 *   3. sockets: ALL walks the UDP table then the TCP table, one datagram or segment per socket per
 *      pass, passes repeated until one sends nothing; READYLIST pops the ready list (a socket that
 *      sent goes back to its tail). socket_visits counts each socket examined. A device refusal
 *      (tx_alloc_fail) stops egress; the refused socket stays first on the ready list. */
#include <string.h>

#include "net/rx.h"
#include "stack_internal.h"
#include "wire/check.h"

const uint8_t us__eth_bcast[US_ETH_ADDR_LEN] = {0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF};

/* ---- helpers shared by the output paths ---- */

uint8_t *us__tx_acquire(us_stack *s, uint32_t len)
{
    uint8_t *b = s->dev.tx_acquire(s->dev.ctx, len);
    if (b == NULL)
        s->stats.tx_alloc_fail++;
    return b;
}

void us__tx_commit(us_stack *s, uint8_t *buf, uint32_t len)
{
    s->dev.tx_commit(s->dev.ctx, buf, len);
    s->stats.frames_tx++;
    s->stats.bytes_tx += len;
}

void us__eth_header(const us_stack *s, uint8_t *buf, const uint8_t *dst, uint16_t ethertype)
{
    us_eth_repr e;
    memcpy(e.dst, dst, US_ETH_ADDR_LEN);
    memcpy(e.src, s->cfg.mac, US_ETH_ADDR_LEN);
    e.ethertype = ethertype;
    e.vlan_tags = 0;
    us_eth_emit(&e, buf);
}

unsigned us__drop(us_stack *s, us_drop_reason r)
{
    s->stats.drop[r]++;
    return US_INGRESS_DROPPED;
}

unsigned us__drop_wire(us_stack *s, us_wire_err e)
{
    s->stats.drop_wire[e]++;
    return US_INGRESS_DROPPED;
}

US__COLD unsigned us__rx_drop(us_stack *s, us__pkt *k, us_drop_reason r)
{
    us__pkt_release(k);
    return us__drop(s, r);
}

US__COLD unsigned us__rx_drop_wire(us_stack *s, us__pkt *k, us_wire_err e)
{
    us__pkt_release(k);
    return us__drop_wire(s, e);
}

/* ---- the ready list ---- */

void us__ready_push(us_stack *s, uint32_t id)
{
    if (s->rl_in[id])
        return;
    s->rl_in[id] = 1;
    s->rl_next[id] = US__NONE;
    if (s->rl_tail == US__NONE)
        s->rl_head = id;
    else
        s->rl_next[s->rl_tail] = id;
    s->rl_tail = id;
}

void us__ready_push_front(us_stack *s, uint32_t id)
{
    if (s->rl_in[id])
        return;
    s->rl_in[id] = 1;
    s->rl_next[id] = s->rl_head;
    s->rl_head = id;
    if (s->rl_tail == US__NONE)
        s->rl_tail = id;
}

static uint32_t ready_pop(us_stack *s)
{
    uint32_t id = s->rl_head;
    if (id == US__NONE)
        return id;
    s->rl_head = s->rl_next[id];
    if (s->rl_head == US__NONE)
        s->rl_tail = US__NONE;
    s->rl_in[id] = 0;
    return id;
}

static void ready_clear(us_stack *s)
{
    while (ready_pop(s) != US__NONE) {
    }
}

int us__output_pending(const us_stack *s)
{
    return s->rl_head != US__NONE || s->arp.dirty;
}

void us__egress_wanted(us_stack *s)
{
    us__wake(&s->egress_waker);
}

void us_set_egress_waker(us_stack *s, us_waker_fn fn, void *ctx)
{
    if (s == NULL)
        return;
    s->egress_waker.fn = fn;
    s->egress_waker.ctx = fn ? ctx : NULL;
}

/* ---- ingress ---- */

/* Ours or broadcast; any other unicast or multicast destination is another host's business. */
static int mac_for_us(const us_stack *s, const uint8_t *dst)
{
    return memcmp(dst, s->cfg.mac, US_ETH_ADDR_LEN) == 0 ||
           memcmp(dst, us__eth_bcast, US_ETH_ADDR_LEN) == 0;
}

unsigned us_ingress(us_stack *s, us_pbuf *frame, us_time now)
{
    if (frame == NULL)
        return 0;
    if (s == NULL) {
        (void)us_pbuf_free(frame);
        return 0;
    }
    s->stats.ingress_calls++;
    if (now > s->now)
        s->now = now;
    s->stats.frames_rx++;
    s->stats.bytes_rx += frame->tot_len;

    us__pkt k;
    us__pkt_set(&k, frame);
    uint8_t scratch[US_ETH_HDR_LEN + US_ETH_MAX_VLAN_TAGS * US_ETH_VLAN_TAG_LEN];
    uint32_t got;
    const uint8_t *h = us__pkt_view(&k, 0, sizeof(scratch), scratch, &got);
    uint16_t type = 0;
    uint32_t hl = 0;
    us_wire_err e = us__eth_check(h, got, &type, &hl);
    unsigned r;
    if (e != US_WIRE_OK)
        r = us__rx_drop_wire(s, &k, e);
    else if (!mac_for_us(s, h))
        r = us__rx_drop(s, &k, US_DROP_NOT_FOR_US);
    else if (type == US_ETHERTYPE_IPV4)
        r = us__ipv4_rx(s, &k, hl, now);
    else if (type == US_ETHERTYPE_ARP)
        r = us__arp_input(s, &k, hl, now);
    else
        r = us__rx_drop(s, &k, US_DROP_ETHERTYPE);
    if (us__output_pending(s))
        us__egress_wanted(s);
    return r | US_INGRESS_PROCESSED;
}

/* ---- egress ---- */

/* Run every deadline due at now. Each owner re-arms past now (a TCB after its timers ran, an ARP
 * retry, ...); the bound only keeps a misbehaving one from spinning here. Items are taken from the
 * heap one at a time, so a callback that re-enters the stack finds it consistent. */
static void run_timers(us_stack *s, us_time now)
{
    uint32_t arp_base = s->tcp_n, reass_base = s->tcp_n + s->arp.n;
    for (uint32_t guard = 0; guard <= 2 * s->dl.cap && s->dl.n && us__dl_min(&s->dl) <= now;
         guard++) {
        uint32_t item = us__dl_top(&s->dl);
        us__dl_cancel(&s->dl, item);
        if (item < arp_base)
            us__tcp_sock_timer(s, item, now);
        else if (item < reass_base)
            us__arp_timer(s, item - arp_base, now);
        else
            us__reass_timer(s, item - reass_base, now);
    }
}

static us__visit visit(us_stack *s, uint32_t id, us_time now)
{
    s->stats.socket_visits++;
    if (id < s->udp_n)
        return us__udp_egress(s, id, now);
    return us__tcp_egress(s, id - s->udp_n, now);
}

/* Socket id (UDP slots first, then TCP) names a slot that is taken. */
static int socket_in_use(const us_stack *s, uint32_t id)
{
    return id < s->udp_n ? s->udp[id].in_use : s->tcp[id - s->udp_n].in_use;
}

static void egress_all(us_stack *s, us_time now)
{
    for (;;) {
        int progress = 0;
        for (uint32_t id = 0; id < s->udp_n + s->tcp_n; id++) {
            if (!socket_in_use(s, id))
                continue;
            us__visit v = visit(s, id, now);
            if (v == US__VISIT_REFUSED) {
                us__ready_push_front(s, id);
                return;
            }
            if (v == US__VISIT_SENT)
                progress = 1;
        }
        if (!progress)
            break;
    }
    /* Every socket was just examined and had nothing more to send. */
    ready_clear(s);
}

static void egress_ready(us_stack *s, us_time now)
{
    uint32_t id;
    while ((id = ready_pop(s)) != US__NONE) {
        if (!socket_in_use(s, id))
            continue;
        us__visit v = visit(s, id, now);
        if (v == US__VISIT_REFUSED) {
            us__ready_push_front(s, id);
            return;
        }
        /* A socket that sent and has more to send has queued itself again, at the tail: round
         * robin, one segment per turn, and no visit that finds nothing. */
    }
}

uint32_t us_egress(us_stack *s, us_time now, us_egress_mode mode)
{
    if (s == NULL)
        return 0;
    s->stats.egress_calls++;
    if (now > s->now)
        s->now = now;
    uint64_t before = s->stats.frames_tx;
    run_timers(s, now);
    if (us__arp_flush(s, now)) {
        if (mode == US_EGRESS_READYLIST)
            egress_ready(s, now);
        else
            egress_all(s, now);
    }
    return (uint32_t)(s->stats.frames_tx - before);
}

us_time us_poll_at(const us_stack *s, us_time now)
{
    if (s == NULL)
        return US_TIME_NEVER;
    if (us__output_pending(s))
        return now;
    return us__dl_min(&s->dl);
}

int us_poll(us_stack *s, us_time now)
{
    if (s == NULL)
        return 0;
    int did = 0;
    if (s->dev.rx) {
        for (uint32_t n = 0; s->dev.max_burst == 0 || n < s->dev.max_burst; n++) {
            us_pbuf *p = s->dev.rx(s->dev.ctx);
            if (p == NULL)
                break;
            (void)us_ingress(s, p, now);
            did = 1;
        }
    }
    if (us_egress(s, now, US_EGRESS_ALL) > 0)
        did = 1;
    return did;
}
