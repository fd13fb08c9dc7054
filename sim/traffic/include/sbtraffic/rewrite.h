/* sbtraffic: open-mode rewriting. In open mode every recorded frame a client sent reaches the stack
 * under test as if the stack were that flow's server: the recorded server of every flow becomes the
 * stack (its IPv4 and MAC address), and each remote host (recorded client) becomes a peer identity
 * chosen per host. Checksums are patched incrementally (RFC 1624) — a checksum that was wrong in
 * the recording stays wrong, as on the wire.
 *
 * TCP, as tcpliveplay does it: a live stack picks its own ISN, so the ack numbers a peer sends must
 * follow it. Per flow the rewriter keeps both recorded ISNs; once the harness has seen the stack's
 * SYN-ACK and told the rewriter the stack's ISN (sb_rw_set_stack_isn or sb_rw_learn), the ack
 * number (and SACK blocks) of every peer->stack segment become
 *     recorded ack - recorded server ISN + stack ISN        (mod 2^32)
 * and the peer's own sequence numbers stay as recorded, or with map_peer_seq become
 *     recorded seq - recorded client ISN + peer_isn.
 * Timestamp options are left as recorded. Frames the recorded server sent are rewritten the mirror
 * way (their seq onto the stack's ISN) for comparison with what the stack really sends. ARP
 * between a recorded client and a recorded server is mapped the same way (a broadcast request
 * stays broadcast), so the stack learns the peer's MAC as it would on a live link. */
#ifndef SBTRAFFIC_REWRITE_H
#define SBTRAFFIC_REWRITE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sbtraffic/err.h"
#include "sbtraffic/flows.h"

#ifdef __cplusplus
extern "C" {
#endif

/* An IPv4 host on Ethernet. */
typedef struct sb_endpoint {
    uint32_t ip; /* host order */
    uint8_t mac[6];
} sb_endpoint;

typedef struct sb_rw_config {
    sb_endpoint stack;        /* the stack under test: every recorded server becomes it */
    uint32_t peer_ip_base;    /* remote host k (0, 1, ... in order of first appearance as a */
    uint8_t peer_mac_base[6]; /* client) becomes ip base + k, MAC base + k (in its last 2 bytes) */
    bool map_peer_seq;        /* rewrite peer seq numbers onto peer_isn (else keep recorded) */
    uint32_t peer_isn;
} sb_rw_config;

/* What to do with a rewritten frame. */
typedef enum sb_rw_action {
    SB_RW_TO_STACK = 0, /* a peer's packet: deliver it to the stack under test */
    SB_RW_FROM_STACK,   /* the recorded server's packet: what the stack should send; do not deliver */
    SB_RW_SKIP,         /* in no flow (other ARP, non-IP, ICMP errors, orphan fragments): as is */
} sb_rw_action;

typedef struct sb_rw_stats {
    uint64_t to_stack;   /* frames rewritten towards the stack */
    uint64_t from_stack; /* frames rewritten as the stack's */
    uint64_t skipped;    /* SB_RW_SKIP */
    uint64_t need_isn;   /* calls refused with SB_EAGAIN: stack ISN not known yet */
    uint64_t collisions; /* flows whose rewritten 5-tuple equals an earlier flow's */
} sb_rw_stats;

struct sb_rw_maps;

/* The fields are for reading: identities change through sb_rw_set_peer, ISNs through
 * sb_rw_set_stack_isn[_by_key] and sb_rw_learn (the rewriter caches per flow what follows from
 * the identities). */
typedef struct sb_rw {
    sb_rw_config cfg;
    const sb_flows *flows;  /* borrowed: must outlive the rewriter */
    size_t n_hosts;         /* remote hosts: recorded client addresses */
    uint32_t *host_ip;      /* recorded address of host k */
    sb_endpoint *host_peer; /* its peer identity */
    uint32_t *flow_host;    /* per flow: its client's host index */
    bool *isn_known;        /* per flow: the stack's ISN was given */
    uint32_t *stack_isn;    /* per flow: the stack's ISN */
    sb_rw_stats stats;
    struct sb_rw_maps *maps_; /* internal lookup tables */
} sb_rw;

/* Stack 10.0.0.1 / 02:00:00:00:00:01, peers from 10.0.1.1 / 02:00:00:00:01:01, seq kept. */
sb_rw_config sb_rw_config_default(void);

/* Set up a rewriter for the flows of one trace (extracted by sb_flows_extract). Returns SB_OK or
 * SB_ENOMEM (*rw left empty). */
sb_status sb_rw_init(sb_rw *rw, const sb_rw_config *cfg, const sb_flows *flows, sb_err *err);

/* Release the rewriter's memory and zero it. NULL is fine. */
void sb_rw_free(sb_rw *rw);

/* Give the remote host whose recorded address is recorded_ip the identity *peer instead of the
 * default. Returns SB_OK, SB_ENOTFOUND (that address is no flow's client) or SB_ENOMEM. */
sb_status sb_rw_set_peer(sb_rw *rw, uint32_t recorded_ip, const sb_endpoint *peer, sb_err *err);

/* The 5-tuple of flow fi as the stack sees it: client = the peer identity, server = the stack,
 * ports as recorded. Returns SB_OK or SB_EINVAL (no such flow). */
sb_status sb_rw_flow_key(const sb_rw *rw, uint32_t fi, sb_flow_key *key);

/* The flow whose rewritten 5-tuple is *key (client = peer, server = stack), or SB_FLOW_NONE. */
uint32_t sb_rw_find(const sb_rw *rw, const sb_flow_key *key);

/* The stack's ISN for TCP flow fi (the seq of its SYN-ACK). Returns SB_OK or SB_EINVAL (no such
 * TCP flow). May be given again (a new connection on the same flow replaces the old ISN). */
sb_status sb_rw_set_stack_isn(sb_rw *rw, uint32_t fi, uint32_t isn, sb_err *err);

/* As sb_rw_set_stack_isn for the flow whose rewritten 5-tuple is *key. Returns SB_OK, SB_EINVAL
 * or SB_ENOTFOUND. */
sb_status sb_rw_set_stack_isn_by_key(sb_rw *rw, const sb_flow_key *key, uint32_t isn,
                                     sb_err *err);

/* Look at a frame the stack under test sent (Ethernet II, len bytes): if it is a SYN-ACK of one of
 * the flows, learn the stack's ISN from it. *fi (may be NULL) gets the flow or SB_FLOW_NONE.
 * Returns SB_OK whether or not it learned anything. */
sb_status sb_rw_learn(sb_rw *rw, const uint8_t *frame, size_t len, uint32_t *fi);

/* Rewrite frame `index` of the trace the flows were extracted from (its bytes: in, len) into out
 * (room for len bytes; out == in is allowed), and say what it is in *act.
 * Returns SB_OK; SB_EAGAIN when the frame needs the stack's ISN and it is not known yet (out
 * untouched: a peer's ACK of the SYN-ACK must wait for the stack's SYN-ACK, as in tcpliveplay);
 * SB_EUNSUPPORTED for a TCP flow whose recorded server ISN is unknown (SYN-ACK not captured);
 * SB_EINVAL (index beyond the trace, or the bytes are not an untagged IPv4 frame whose headers fit
 * in len: only that much is checked again, since the flow pass parsed these bytes in full).
 * For SB_RW_SKIP the bytes are copied unchanged. */
sb_status sb_rw_frame(sb_rw *rw, size_t index, const uint8_t *in, size_t len, uint8_t *out,
                      sb_rw_action *act, sb_err *err);

#ifdef __cplusplus
}
#endif

#endif /* SBTRAFFIC_REWRITE_H */
