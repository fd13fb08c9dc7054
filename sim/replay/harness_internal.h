/* stackbench replay: the state of one run, shared by the harness (harness.c: host glue, open-mode
 * source, run loop, results) and the flow-mode peer (peer.c). Not a public header. */
#ifndef SBREPLAY_HARNESS_INTERNAL_H
#define SBREPLAY_HARNESS_INTERNAL_H

#include "apps.h"
#include "harness.h"
#include "latency.h"
#include "sbhost/des.h"
#include "sbhost/link.h"
#include "sbhost/nic.h"
#include "sbtraffic/rewrite.h"

/* Addresses: the stack under test is the recorded server; peers sit in the same /16. */
#define SB_RP_STACK_IP 0x0A000001u   /* 10.0.0.1 */
#define SB_RP_NETMASK 0xFFFF0000u
#define SB_RP_PEER_IP 0x0A000101u    /* 10.0.1.1: flow mode's peer, open mode's first identity */

/* Open mode: frames of one flow held until the stack's ISN is known (FIFO of trace indices). */
typedef struct sb_rp_hold {
    uint32_t *idx;
    uint32_t head, len, cap;
    sb_event_id release_ev;
} sb_rp_hold;

typedef struct sb_peer sb_peer;

typedef struct sb_rp {
    sb_replay_config cfg;
    const sb_trace *trace;
    const sb_flows *flows;
    sb_replay_result *res;
    sb_des des;
    sb_clock des_clock; /* the engine itself */
    sb_clock nic_clock; /* now = the host's CPU time: what the NIC of the stack under test sees */

    /* The CPU of the stack under test. */
    us_time cpu_now;    /* runs ahead of the engine inside a step */
    us_time step_start; /* start of the current step (or of the last iteration skip_idle counted) */
    int in_step;
    int teardown;       /* clocks read teardown_now */
    us_time teardown_now;
    sb_cost_acc acc;
    int charge_fast; /* every cost <= SB_COST_MAX_NS and no timeseries: h_charge's fast path */
    sb_event_id timer_ev, irq_ev, txw_ev;
    int irq_enabled;
    int lat_pending; /* a frame was handed out and not yet timed */
    sb_lat lat;
    uint64_t ticks_in, ticks0; /* cycles inside the sampled stack / scheduler calls */
    uint64_t steps, steps_timed;

    /* The stack under test. */
    sb_nic nic;
    int nic_ok;
    us_dev nic_dev; /* the NIC's own callbacks, wrapped by the stack's device */
    void *mem;
    us_stack *stack;
    us_sched sched;
    sb_apps apps;
    int apps_ok;
    sb_link link_in;  /* source / peer -> NIC (delivery at send time) */
    sb_link link_out; /* NIC -> sink (open) / peer (flow) */
    int link_in_ok, link_out_ok;

    /* SYN-ACKs the stack sent: its ISN -> flow (open addressing, key+1 so 0 is empty). */
    uint64_t *iss_keys;
    uint32_t *iss_flow;
    uint32_t iss_cap, iss_n;

    /* Run control. */
    us_time end; /* hard end: drain after the last trace event; US_TIME_NEVER until known */
    int done;

    /* Timeseries. */
    sb_replay_ts *ts;
    uint64_t n_ts, cap_ts;
    uint32_t pool_last;

    /* Open mode. */
    sb_rw rw;
    int rw_ok;
    size_t next_frame;
    int src_exhausted;
    us_time last_departure; /* paced mode: when the link is free again */
    uint8_t *scratch;
    sb_rp_hold *hold;   /* per flow */
    us_time *learned_at; /* per flow: when the stack's SYN-ACK left (US_TIME_NEVER: not yet) */
    uint64_t held_now;  /* frames held at present */

    /* Flow mode. */
    sb_peer *peer;
} sb_rp;

/* Trace time (ns) -> virtual time, through --speed. */
us_time sb__rp_scale(const sb_rp *rp, uint64_t trace_ns);

/* An ISN of the stack's SYN-ACK and the flow it answered. */
void sb__rp_iss_put(sb_rp *rp, uint32_t iss, uint32_t fi);

/* Re-evaluate whether all traffic is done (after any event that may have finished it). */
void sb__rp_check_done(sb_rp *rp);

/* ---- peer.c: flow mode ---- */

/* Build the peer stack, its device and applications, and schedule each flow's start. Needs
 * rp->link_in (peer -> NIC) to exist; the link from the NIC delivers to sb__peer_deliver. */
sb_status sb__peer_init(sb_rp *rp, sb_err *err);
/* Frames from the stack under test reaching the peer (an sb_link_deliver_fn, ctx = rp). */
void sb__peer_deliver(void *ctx, const uint8_t *data, uint32_t len, us_time arrival);
/* All flows finished. */
int sb__peer_done(const sb_rp *rp);
/* The flow whose peer port is `port` (TCP), or SB_FLOW_NONE. */
uint32_t sb__peer_flow_of_tcp_port(const sb_rp *rp, uint16_t port);
/* Fill the peer's counters into rp->res. */
void sb__peer_report(sb_rp *rp);
/* Close everything at time now; set the leak counters; free. Safe on a partly built peer. */
void sb__peer_free(sb_rp *rp, us_time now);

#endif /* SBREPLAY_HARNESS_INTERNAL_H */
