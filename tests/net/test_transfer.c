/* One large TCP transfer between two stacks over a seeded lossy, reordering link, on a virtual
 * clock that jumps to the next event: min(us_poll_at of both stacks, the next frame's arrival).
 * A connects to B and sends STACKBENCH_XFER_MB MiB (default 100) of a seeded pattern; B reads
 * and checks every byte in order; A closes after the last byte, B when it reads the end of the
 * stream; both must reach CLOSED (A through TIME_WAIT), every slot is released and no pool block
 * or heap byte is left in use (np_free).
 *
 * The link, one lane per direction: 100 Mbit/s serialization, 1 ms propagation, independent loss
 * with probability p, and reordering: with probability 1 % a frame is held back and delivered
 * right after the next one on its lane (or after 2 ms if none follows). The receiving "NIC" takes
 * all frames due at one instant into POOL pbufs of the receiving stack before handing them to
 * us_ingress, so a burst can find the pool empty (counted in np_node.rx_nobuf, like a NIC
 * without RX descriptors).
 *
 * Matrix: loss 0 %, 1 %, 5 % (each with the reordering above); and a run (1 % loss, at most
 * 16 MiB) where B's PBUF_POOL shrinks to 5 free blocks for the middle third of the transfer, on a
 * link without a rate limit (every window arrives as one burst): it must still complete, with the
 * frames the NIC could not take counted. At 0 % loss A must retransmit nothing (a frame held back
 * behind one other makes one duplicate ACK, never three); with loss it must retransmit.
 *
 * Size: 100 MiB per loss level in a normal build. Under ASan + UBSan (STACKBENCH_XFER_SANITIZED,
 * set by tests/CMakeLists.txt from STACKBENCH_SANITIZE) the default is 32 MiB. Measured on the
 * 2-core build machine, wall time for 0 % / 1 % / 5 % loss, then the pool test (16 MiB):
 *   release (gcc 12 -O3), 100 MiB:       0.65 s / 0.77 s / 0.74 s, 0.11 s
 *   ASan + UBSan (clang 14 -O0), 32 MiB: 2.1 s / 1.8 s / 1.6 s, 0.7 s
 *   ASan + UBSan, 100 MiB:               5.0 s / 7.9 s / 7.3 s (21 s) on a quiet machine, but
 *                                        22 s / 25 s / 20 s (67 s) at load average 8 - over the
 *                                        ~60 s budget on a shared machine, hence 32 MiB there.
 * Virtual time for 100 MiB: 8.8 s at 0 % loss (95 Mbit/s), 147 s at 1 %, 289 s at 5 %.
 * STACKBENCH_XFER_MB=n overrides both. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "netpair.h"
#include "stack_internal.h"

#define US 1000ull
#define MS 1000000ull
#define SEC 1000000000ull
#define MIB (1u << 20)

#ifdef STACKBENCH_XFER_SANITIZED
#define XFER_DEFAULT_MB 32u
#else
#define XFER_DEFAULT_MB 100u
#endif

#define XFER_PORT 5001
#define LANE_CAP 4096u         /* frames in flight on one lane */
#define LINK_DELAY (1 * MS)
#define LINK_RATE 100000000ull /* bit/s */
#define HOLD_MAX (2 * MS)      /* a held-back frame goes alone after this */
#define CHUNK 65536u

/* ---- the seeded pattern: byte i is byte i % 8 of mix(seed, i / 8) ---- */

static uint64_t mix(uint64_t seed, uint64_t k)
{
    uint64_t z = seed + (k + 1) * 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static void fill_pattern(uint8_t *dst, uint64_t seed, uint64_t off, uint32_t len)
{
    uint32_t i = 0;
    while (i < len) {
        uint64_t pos = off + i, w = mix(seed, pos / 8);
        for (uint32_t b = (uint32_t)(pos % 8); b < 8 && i < len; b++, i++)
            dst[i] = (uint8_t)(w >> (8 * b));
    }
}

/* ---- the link ---- */

typedef struct xframe {
    us_time at; /* arrival */
    uint32_t len;
    uint8_t data[NP_FRAME_MAX];
} xframe;

typedef struct lane {
    xframe *q; /* FIFO ring; arrivals never decrease */
    uint32_t head, n;
    us_time wire_free; /* when the sender's wire finishes the previous frame */
    bool held;
    xframe hold;
    us_time hold_until;
    uint64_t sent, lost, reordered, delivered, nobuf;
} lane;

typedef struct link_cfg {
    uint32_t loss_ppm, reorder_ppm;
    uint64_t rate; /* bit/s; 0 = no serialization delay */
    us_time delay;
} link_cfg;

typedef struct xfer {
    np_node *a, *b;
    lane ab, ba;
    link_cfg cfg;
    us_test_rng rng;
    us_time now;
    uint32_t moved; /* frames that entered or left a lane this round */
} xfer;

static void lane_init(lane *l)
{
    memset(l, 0, sizeof(*l));
    l->q = calloc(LANE_CAP, sizeof(xframe));
    assert_non_null(l->q);
}

static void lane_push(lane *l, const uint8_t *f, uint32_t len, us_time at)
{
    if (l->n == LANE_CAP)
        fail_msg("link lane full (%u frames in flight)", l->n);
    if (l->n) {
        us_time last = l->q[(l->head + l->n - 1) % LANE_CAP].at;
        if (at < last)
            at = last;
    }
    xframe *x = &l->q[(l->head + l->n) % LANE_CAP];
    x->at = at;
    x->len = len;
    memcpy(x->data, f, len);
    l->n++;
}

/* A frame leaves a stack at x->now: lost, held back, or queued with its arrival time. */
static void lane_send(xfer *x, lane *l, const uint8_t *f, uint32_t len)
{
    l->sent++;
    x->moved++;
    if (us_test_below(&x->rng, 1000000) < x->cfg.loss_ppm) {
        l->lost++;
        return;
    }
    us_time at;
    if (x->cfg.rate) {
        us_time start = l->wire_free > x->now ? l->wire_free : x->now;
        l->wire_free = start + (us_time)len * 8u * SEC / x->cfg.rate;
        at = l->wire_free + x->cfg.delay;
    } else {
        at = x->now + x->cfg.delay;
    }
    if (l->held) { /* this one overtakes the held frame, which follows it at once */
        lane_push(l, f, len, at);
        lane_push(l, l->hold.data, l->hold.len, at);
        l->held = false;
        l->reordered++;
        return;
    }
    if (us_test_below(&x->rng, 1000000) < x->cfg.reorder_ppm) {
        l->held = true;
        l->hold.len = len;
        memcpy(l->hold.data, f, len);
        l->hold.at = at;
        l->hold_until = at + HOLD_MAX;
        return;
    }
    lane_push(l, f, len, at);
}

/* Move what n transmitted onto its lane. */
static void drain_tx(xfer *x, np_node *n, lane *l)
{
    for (uint32_t i = 0; i < n->tx_n; i++)
        lane_send(x, l, n->tx[i], n->tx_len[i]);
    np_tx_clear(n);
}

/* Deliver every frame due at x->now to `to`: the NIC takes the whole burst into POOL pbufs
 * first (a frame finding no block is dropped and counted), then the stack gets them one by one.
 * Whatever `to` transmits meanwhile goes onto `back`. */
static void lane_deliver(xfer *x, lane *l, np_node *to, lane *back)
{
    if (l->held && l->hold_until <= x->now) {
        lane_push(l, l->hold.data, l->hold.len, x->now);
        l->held = false;
    }
    static us_pbuf *burst[LANE_CAP];
    uint32_t nb = 0;
    us_bufs *bufs = us_stack_bufs(to->s);
    while (l->n && l->q[l->head].at <= x->now) {
        xframe *f = &l->q[l->head];
        us_pbuf *p = us_pbuf_alloc(bufs, US_PBUF_RAW, f->len, US_PBUF_POOL);
        if (p == NULL) {
            l->nobuf++;
            to->rx_nobuf++;
        } else {
            assert_int_equal(us_pbuf_take(p, f->data, f->len), US_OK);
            burst[nb++] = p;
        }
        l->head = (l->head + 1) % LANE_CAP;
        l->n--;
        x->moved++;
    }
    for (uint32_t i = 0; i < nb; i++) {
        (void)us_ingress(to->s, burst[i], x->now);
        l->delivered++;
        drain_tx(x, to, back);
    }
}

static us_time lane_next(const lane *l)
{
    us_time t = US_TIME_NEVER;
    if (l->n)
        t = l->q[l->head].at;
    if (l->held && l->hold_until < t)
        t = l->hold_until;
    return t;
}

static bool lane_empty(const lane *l)
{
    return l->n == 0 && !l->held;
}

/* ---- one transfer ---- */

typedef struct xfer_case {
    const char *name;
    uint32_t loss_ppm, reorder_ppm;
    uint64_t rate;
    uint64_t seed;
    uint32_t mib;
    bool tiny_pool; /* B's pool down to 5 free blocks for the middle third */
} xfer_case;

static uint32_t xfer_mib(void)
{
    const char *e = getenv("STACKBENCH_XFER_MB");
    if (e == NULL || *e == '\0')
        return XFER_DEFAULT_MB;
    char *end = NULL;
    unsigned long v = strtoul(e, &end, 10);
    if (end == e || *end != '\0' || v == 0 || v > 100000)
        fail_msg("STACKBENCH_XFER_MB=%s: want a whole number of MiB, 1..100000", e);
    return (uint32_t)v;
}

static double wall_seconds(void)
{
    struct timespec ts;
    timespec_get(&ts, TIME_UTC);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void check_all_slots_free(np_node *n, const char *who)
{
    for (uint32_t i = 0; i < n->s->tcp_n; i++)
        if (n->s->tcp[i].in_use)
            fail_msg("%s: TCP slot %u still in use (%s)", who, i,
                     us_tcp_state_name(n->s->tcp[i].tcb.state));
}

static void run_case(const xfer_case *c)
{
    const uint64_t total = (uint64_t)c->mib * MIB;
    const uint64_t pattern_seed = c->seed * 0x51ED27u + 7;
    us_stack_config ca, cb;
    np_config(&ca, NP_IP_A, 1);
    np_config(&cb, NP_IP_B, 2);
    ca.seed = c->seed * 2 + 1;
    cb.seed = c->seed * 2 + 2;
    xfer x;
    memset(&x, 0, sizeof(x));
    x.a = np_new(&ca, 1500, 0);
    x.b = np_new(&cb, 1500, 0);
    x.cfg.loss_ppm = c->loss_ppm;
    x.cfg.reorder_ppm = c->reorder_ppm;
    x.cfg.rate = c->rate;
    x.cfg.delay = LINK_DELAY;
    x.rng.s = c->seed;
    lane_init(&x.ab);
    lane_init(&x.ba);
    np_node *a = x.a, *b = x.b;

    us_sock l = us_tcp_open(b->s);
    assert_true(l >= 0);
    assert_int_equal(us_tcp_listen(b->s, l, XFER_PORT, 1), US_OK);
    us_sock ha = us_tcp_open(a->s);
    assert_true(ha >= 0);
    assert_int_equal(us_tcp_connect(a->s, ha, NP_IP_B, XFER_PORT, 0, 0), US_OK);
    us_sock hb = US_EAGAIN;

    uint8_t *sbuf = malloc(CHUNK), *rbuf = malloc(CHUNK), *want = malloc(CHUNK);
    assert_true(sbuf && rbuf && want);
    uint64_t sent = 0, rcvd = 0;
    bool a_closed = false, b_eof = false;
    us_bufs *bb = us_stack_bufs(b->s);
    us_pbuf *held[64];
    uint32_t nheld = 0;
    bool pool_squeezed = false, pool_restored = false;
    uint64_t nobuf_squeezed = 0;
    const uint64_t max_rounds = 40 * (total / 1000) + 1000000;
    us_time t_done = 0; /* when B had the last byte */
    double t0 = wall_seconds();

    for (uint64_t round = 0;; round++) {
        if (round > max_rounds)
            fail_msg("%s: no end after %llu rounds (sent %llu, received %llu of %llu)", c->name,
                     (unsigned long long)round, (unsigned long long)sent,
                     (unsigned long long)rcvd, (unsigned long long)total);
        x.moved = 0;
        uint64_t progress = sent + rcvd;

        /* B's pool shrinks for the middle third of the transfer */
        if (c->tiny_pool && !pool_squeezed && rcvd >= total / 3) {
            uint32_t keep = 5;
            while (bb->pools[US_POOL_PBUF_POOL].stats.used + keep <
                       bb->pools[US_POOL_PBUF_POOL].stats.avail &&
                   nheld < 64) {
                held[nheld] = us_pbuf_alloc(bb, US_PBUF_RAW, 64, US_PBUF_POOL);
                assert_non_null(held[nheld]);
                nheld++;
            }
            pool_squeezed = true;
            nobuf_squeezed = x.ab.nobuf;
        }
        if (c->tiny_pool && pool_squeezed && !pool_restored && rcvd >= 2 * total / 3) {
            for (uint32_t i = 0; i < nheld; i++)
                assert_true(us_pbuf_free(held[i]) >= 1);
            nheld = 0;
            pool_restored = true;
            nobuf_squeezed = x.ab.nobuf - nobuf_squeezed;
        }

        /* the applications */
        if (hb < 0) {
            hb = us_tcp_accept(b->s, l);
            assert_true(hb >= 0 || hb == US_EAGAIN);
        }
        us_tcp_state sa = us_tcp_get_state(a->s, ha);
        if ((sa == US_TCP_ESTABLISHED || sa == US_TCP_CLOSE_WAIT) && sent < total) {
            uint32_t space = us_tcp_send_space(a->s, ha);
            uint64_t left = total - sent;
            uint32_t n = (uint32_t)(left < space ? left : space);
            if (n > CHUNK)
                n = CHUNK;
            if (n) {
                fill_pattern(sbuf, pattern_seed, sent, n);
                int32_t got = us_tcp_send(a->s, ha, sbuf, n);
                assert_int_equal(got, (int32_t)n); /* send_space said so */
                sent += n;
            }
        }
        if (sent == total && !a_closed && sa == US_TCP_ESTABLISHED) {
            assert_int_equal(us_tcp_close(a->s, ha), US_OK);
            a_closed = true;
        }
        while (hb >= 0 && !b_eof) {
            int32_t n = us_tcp_recv(b->s, hb, rbuf, CHUNK);
            if (n == US_EAGAIN)
                break;
            if (n < 0)
                fail_msg("%s: recv failed (%d) at byte %llu, B in %s", c->name, (int)n,
                         (unsigned long long)rcvd,
                         us_tcp_state_name(us_tcp_get_state(b->s, hb)));
            if (n == 0) {
                b_eof = true;
                assert_int_equal(rcvd, total);
                assert_int_equal(us_tcp_close(b->s, hb), US_OK);
                break;
            }
            if (rcvd + (uint64_t)n > total)
                fail_msg("%s: %llu bytes received, %llu sent", c->name,
                         (unsigned long long)(rcvd + (uint64_t)n), (unsigned long long)total);
            fill_pattern(want, pattern_seed, rcvd, (uint32_t)n);
            if (memcmp(rbuf, want, (size_t)n) != 0) {
                uint32_t k = 0;
                while (rbuf[k] == want[k])
                    k++;
                fail_msg("%s: byte %llu is 0x%02x, sent 0x%02x", c->name,
                         (unsigned long long)(rcvd + k), rbuf[k], want[k]);
            }
            rcvd += (uint64_t)n;
            if (rcvd == total)
                t_done = x.now;
        }

        /* the stacks, then the wire */
        us_egress(a->s, x.now, US_EGRESS_ALL);
        drain_tx(&x, a, &x.ab);
        us_egress(b->s, x.now, US_EGRESS_ALL);
        drain_tx(&x, b, &x.ba);
        lane_deliver(&x, &x.ab, b, &x.ba);
        lane_deliver(&x, &x.ba, a, &x.ab);

        us_tcp_state fa = us_tcp_get_state(a->s, ha);
        us_tcp_state fb = hb >= 0 ? us_tcp_get_state(b->s, hb) : US_TCP_LISTEN;
        if (b_eof && fa == US_TCP_CLOSED && fb == US_TCP_CLOSED && lane_empty(&x.ab) &&
            lane_empty(&x.ba))
            break;

        us_time next = us_poll_at(a->s, x.now);
        us_time t = us_poll_at(b->s, x.now);
        if (t < next)
            next = t;
        t = lane_next(&x.ab);
        if (t < next)
            next = t;
        t = lane_next(&x.ba);
        if (t < next)
            next = t;
        if (next <= x.now) {
            /* Work due now: fine once more if something moved, else a scheduler would spin. */
            if (x.moved == 0 && sent + rcvd == progress)
                fail_msg("%s: poll_at says work is due at %llu but nothing moves (A %s, B %s)",
                         c->name, (unsigned long long)x.now, us_tcp_state_name(fa),
                         us_tcp_state_name(fb));
            continue;
        }
        if (next == US_TIME_NEVER)
            fail_msg("%s: stalled at %llu of %llu bytes: nothing scheduled (A %s, B %s)",
                     c->name, (unsigned long long)rcvd, (unsigned long long)total,
                     us_tcp_state_name(fa), us_tcp_state_name(fb));
        x.now = next;
    }
    double wall = wall_seconds() - t0;

    assert_int_equal(rcvd, total);
    const us_stack_stats *st_a = us_stack_get_stats(a->s);
    const us_stack_stats *st_b = us_stack_get_stats(b->s);
    printf("[ xfer     ] %-8s %4u MiB  loss %.1f%%  reorder %.1f%%: %.2f s wall; all data in "
           "%.2f s virtual (%.1f Mbit/s), closed at %.2f s\n",
           c->name, c->mib, c->loss_ppm / 1e4, c->reorder_ppm / 1e4, wall, (double)t_done / 1e9,
           (double)total * 8 / ((double)t_done / 1e9) / 1e6, (double)x.now / 1e9);
    printf("[ xfer     ]   A->B frames %llu: lost %llu, reordered %llu, no RX buffer %llu; "
           "B->A frames %llu: lost %llu, reordered %llu\n",
           (unsigned long long)x.ab.sent, (unsigned long long)x.ab.lost,
           (unsigned long long)x.ab.reordered, (unsigned long long)x.ab.nobuf,
           (unsigned long long)x.ba.sent, (unsigned long long)x.ba.lost,
           (unsigned long long)x.ba.reordered);
    printf("[ xfer     ]   A retransmits %llu (fast %llu, RTO timeouts %llu); B retransmits "
           "%llu; B out-of-order reclaimed %llu, B drops tcp_ooseq %llu\n",
           (unsigned long long)st_a->tcp_retransmits,
           (unsigned long long)st_a->tcp_fast_retransmits,
           (unsigned long long)st_a->tcp_timeouts, (unsigned long long)st_b->tcp_retransmits,
           (unsigned long long)st_b->tcp_ooseq_reclaimed,
           (unsigned long long)st_b->drop[US_DROP_TCP_OOSEQ]);
    if (c->tiny_pool)
        printf("[ xfer     ]   frames dropped for want of a B pool block while it had 5: %llu\n",
               (unsigned long long)nobuf_squeezed);

    /* What each loss level implies. */
    if (c->loss_ppm == 0 && !c->tiny_pool) {
        /* A frame held back behind one other yields one duplicate ACK, never three. */
        assert_int_equal(st_a->tcp_retransmits, 0);
    } else {
        assert_true(st_a->tcp_retransmits > 0);
    }
    if (c->tiny_pool) {
        assert_true(pool_squeezed && pool_restored);
        assert_true(nobuf_squeezed > 0);
    }

    /* Released: every slot free, every buffer back (np_free fails on a leak). */
    assert_int_equal(us_tcp_release(a->s, ha), US_OK);
    assert_int_equal(us_tcp_release(b->s, hb), US_OK);
    assert_int_equal(us_tcp_release(b->s, l), US_OK);
    check_all_slots_free(a, "A");
    check_all_slots_free(b, "B");
    free(sbuf);
    free(rbuf);
    free(want);
    free(x.ab.q);
    free(x.ba.q);
    np_free(a);
    np_free(b);
}

static void test_transfer_loss_0(void **state)
{
    (void)state;
    xfer_case c = {"loss0", 0, 10000, LINK_RATE, 1, xfer_mib(), false};
    run_case(&c);
}

static void test_transfer_loss_1pct(void **state)
{
    (void)state;
    xfer_case c = {"loss1", 10000, 10000, LINK_RATE, 2, xfer_mib(), false};
    run_case(&c);
}

static void test_transfer_loss_5pct(void **state)
{
    (void)state;
    xfer_case c = {"loss5", 50000, 10000, LINK_RATE, 3, xfer_mib(), false};
    run_case(&c);
}

static void test_transfer_tiny_pool_midway(void **state)
{
    (void)state;
    uint32_t mib = xfer_mib();
    xfer_case c = {"tinypool", 10000, 10000, 0, 4, mib < 16 ? mib : 16, true};
    run_case(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_transfer_loss_0),
        cmocka_unit_test(test_transfer_loss_1pct),
        cmocka_unit_test(test_transfer_loss_5pct),
        cmocka_unit_test(test_transfer_tiny_pool_midway),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
