/* stackbench replay: the standalone pcap-driven harness. One run = libustack (the stack under test)
 * behind a simulated NIC, driven by one scheduler on one CPU in virtual time (sbhost's event engine
 * and cost model), fed by a trace in one of two ways:
 *   open  every frame a recorded client sent, rewritten so the stack is its destination
 *         (sbtraffic rewrite, TCP acks onto the stack's ISN), reaches the NIC at its timestamp
 *         (x 1/speed) or back to back at the link rate;
 *   flow  the trace reduced to flows, re-enacted by a second libustack instance (the peer: ample
 *         buffers, zero CPU cost, processing every event at once) over two links.
 * Applications on the stack under test (apps.h) answer. The run ends when all the traffic is done
 * or drain_ns after the last trace event. Everything is deterministic: the same trace, config,
 * cost profile and seed give the same result, except the two measured fields (measured_cpu_ns,
 * wall_ns). */
#ifndef SBREPLAY_HARNESS_H
#define SBREPLAY_HARNESS_H

#include <stdbool.h>
#include <stdint.h>

#include "sbhost/cost.h"
#include "sbtraffic/err.h"
#include "sbtraffic/flows.h"
#include "sbtraffic/trace.h"
#include "ustack/sched.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum sb_replay_mode {
    SB_REPLAY_OPEN = 0,
    SB_REPLAY_FLOW = 1,
} sb_replay_mode;

/* Sees every frame the stack under test sends, at the (virtual) time it is committed. */
typedef void (*sb_replay_tx_fn)(void *ctx, const uint8_t *frame, uint32_t len, us_time t);
/* Progress report, called every few seconds of wall time when set. */
typedef void (*sb_replay_progress_fn)(void *ctx, us_time now, us_time horizon, uint64_t frames_rx);

typedef struct sb_replay_config {
    sb_replay_mode mode;
    us_sched_config sched;    /* kind, idle_interval, egress, napi_budget */
    uint32_t pool;            /* PBUF_POOL blocks of the stack under test; default 32 */
    uint32_t rx_ring;         /* NIC RX descriptors; default 16 */
    uint32_t tx_ring;         /* NIC TX descriptors; default 8 */
    us_time irq_latency;      /* frame arrival to interrupt handler, ns; default 500 */
    uint32_t max_burst;       /* frames one sync iteration drains; 0 = all; default 0 */
    bool rx_csum_offload;     /* the NIC verified received checksums (US_DEV_CSUM_RX): the stack
                                 skips them, for captures with offloaded (wrong) checksums;
                                 default false */
    uint64_t link_rate_bps;   /* flow: both links (0 = no serialization); open: 0 = frames at their
                                 timestamps, else back to back at this rate; default 0 */
    us_time delay;            /* propagation delay each way, ns; default 0 */
    double loss;              /* loss probability of each link, [0, 1]; default 0 */
    uint32_t queue_frames;    /* frames waiting per link (flow mode); default 1000 */
    double speed;             /* trace time is divided by this; default 1 */
    us_time drain;            /* run at most this long after the last trace event; default 2 s */
    sb_cost cost;             /* default: sb_cost_default */
    uint64_t seed;            /* ISNs, link loss; default 0 */
    bool skip_idle;           /* account silent sync stretches in one step; default true */
    us_time ts_interval;      /* timeseries interval, ns; 0 = no timeseries; default 0 */
    uint32_t udp_rx_buf;      /* bytes of receive ring per UDP socket of the stack; default 64 KiB */
    sb_replay_tx_fn tx_hook;  /* optional: every frame the stack under test sends */
    void *tx_hook_ctx;
    sb_replay_progress_fn progress; /* optional */
    void *progress_ctx;
} sb_replay_config;

void sb_replay_config_default(sb_replay_config *cfg);

/* One interval of the timeseries. */
typedef struct sb_replay_ts {
    uint64_t bytes;        /* application bytes delivered */
    uint64_t busy_ns;      /* CPU busy time falling in the interval */
    uint32_t pool_in_use;  /* most PBUF_POOL blocks in use (sampled at every charge; an interval
                              without a charge has the level the previous one ended with) */
    uint32_t pool_last;    /* internal: the last sample in the interval */
    uint8_t sampled;       /* internal: at least one sample */
} sb_replay_ts;

/* Everything a run measured: the summary record's metrics and the counters behind them. */
typedef struct sb_replay_result {
    /* The record (results.h writes these). */
    uint64_t sim_duration_ns, frames_rx, frames_tx, bytes_delivered, goodput_bps;
    uint64_t rx_drop_ring, rx_drop_pool, tx_alloc_fail;
    uint64_t wakeups, empty_wakeups, socket_visits;
    uint64_t cpu_busy_ns;
    uint64_t cpu_util_ppm;    /* cpu_busy_ns / sim_duration_ns in millionths, rounded */
    uint32_t pool_hwm;
    uint64_t lat_p50_ns, lat_p99_ns;
    uint64_t measured_cpu_ns;
    uint64_t wall_ns;         /* of sb_replay_run; `stackbench replay` adds reading the trace */

    /* Traffic accounting. frames_offered reached the NIC; the record's counters add up:
     * frames_offered = frames_rx + rx_drop_ring + rx_drop_pool + rx_drop_other + rx_left. */
    uint64_t frames_offered;
    uint64_t rx_drop_other;   /* NIC: oversize, out of host memory */
    uint64_t rx_left;         /* still in the NIC when the run ended */
    uint64_t link_lost;       /* lost on the link(s) into the stack (loss, queue) */
    uint64_t peer_link_lost;  /* flow: lost on the link from the stack to the peer */
    uint64_t open_sent;       /* open: frames of the trace sent towards the stack */
    uint64_t open_not_for_stack; /* open: the recorded server's frames and others not replayed */
    uint64_t open_unusable;   /* open: frames the rewriter refused (TCP without recorded ISN) */
    uint64_t open_held;       /* open: frames held for the stack's ISN at some point */
    uint64_t open_held_dropped; /* open: still held at the end (the stack never sent a SYN-ACK) */
    uint64_t peer_bytes_sent; /* flow: TCP + UDP payload the peer's applications sent */
    uint64_t peer_bytes_rcvd; /* flow: payload the peer's applications received */
    uint64_t pings_sent, pings_answered; /* flow */
    uint64_t flows_total, flows_done;    /* flow: peer flows finished (all exchanged, closed) */
    bool finished;            /* all traffic done before the drain timeout */
    uint64_t latency_samples;

    /* Scheduler and NIC details. */
    us_sched_stats sched;
    uint64_t rx_irqs;          /* RX interrupts the NIC raised */
    uint64_t irq_mask_changes; /* set_rx_irq calls that changed the mask */
    uint64_t frames_rx_masked; /* frames taken from the ring while the RX interrupt was masked */
    uint64_t skip_calls;       /* skip_idle calls that accounted at least one iteration */
    uint64_t events;           /* engine events run */

    /* Teardown self-check: buffers still in use after closing everything (0 = no leak). */
    uint32_t leak_stack_pool, leak_peer_pool;
    uint32_t leak_stack_heap, leak_peer_heap;
    bool leaked;

    /* Timeseries (ts_interval > 0): n_ts intervals from t = 0; freed by sb_replay_result_free. */
    sb_replay_ts *ts;
    uint64_t n_ts;
    us_time ts_interval;
} sb_replay_result;

/* Run one replay of trace t (flows f extracted from it). Returns SB_OK with *res filled (check
 * res->leaked: a leak is a failure of the stack or the harness, never of the input);
 * SB_EINVAL for a config the models refuse (message names it); SB_ENOMEM. */
sb_status sb_replay_run(const sb_replay_config *cfg, const sb_trace *t, const sb_flows *f,
                        sb_replay_result *res, sb_err *err);

void sb_replay_result_free(sb_replay_result *res);

#ifdef __cplusplus
}
#endif

#endif /* SBREPLAY_HARNESS_H */
