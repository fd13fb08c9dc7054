/* sbtraffic: reducing a trace to flows, for closed-loop ("flow" mode) replay. A flow is one TCP
 * connection, one UDP conversation (5-tuple) or one ICMP echo conversation (addresses + identifier).
 * The client is the side that sent the flow's first packet — for TCP the SYN sender, for ICMP the
 * echo requester — and the server the other. Per flow: start time, payload bytes and packets each
 * way, and the sequence of messages: payload split at each change of direction, so a
 * request/response server can answer with the recorded response sizes.
 *
 * Counting. TCP bytes are new in-sequence data (a retransmission is counted in retrans_bytes, not
 * twice); UDP bytes are the datagram payload (UDP length - 8), counted once per datagram even when
 * it came in fragments; ICMP bytes are the echo data. Frames with a bad IPv4 or L4 checksum are
 * still used (real captures carry offloaded checksums) and counted. Non-first fragments are
 * attributed through (src, dst, protocol, IP ident) of their first fragment. */
#ifndef SBTRAFFIC_FLOWS_H
#define SBTRAFFIC_FLOWS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sbtraffic/err.h"
#include "sbtraffic/trace.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SB_FLOW_NONE UINT32_MAX

/* Directions, also indices of the per-direction arrays. */
#define SB_C2S 0u /* client to server */
#define SB_S2C 1u /* server to client */

typedef struct sb_flow_key {
    uint8_t proto;        /* US_IP_PROTO_TCP, US_IP_PROTO_UDP or US_IP_PROTO_ICMP */
    uint32_t client_ip;   /* host order */
    uint32_t server_ip;   /* host order */
    uint16_t client_port; /* ICMP echo: the identifier */
    uint16_t server_port; /* ICMP echo: the identifier */
} sb_flow_key;

/* A run of payload in one direction. */
typedef struct sb_flow_msg {
    uint8_t dir;       /* SB_C2S or SB_S2C */
    uint32_t pkts;     /* packets that added payload to it */
    uint64_t bytes;    /* payload bytes */
    uint64_t start_ns; /* timestamp of its first packet */
} sb_flow_msg;

typedef struct sb_flow {
    sb_flow_key key;
    uint64_t start_ns;      /* first packet */
    uint64_t end_ns;        /* last packet */
    uint32_t first_frame;   /* trace index of the first packet */
    uint64_t pkts[2];       /* frames each way, fragments and pure ACKs included */
    uint64_t bytes[2];      /* payload bytes each way (see "Counting" above) */
    size_t n_msgs;
    sb_flow_msg *msgs;
    /* TCP only. */
    bool syn_seen;           /* the client's SYN is in the trace */
    bool synack_seen;        /* the server's SYN-ACK is in the trace */
    bool isn_known[2];       /* isn[d] recorded (from the SYN / SYN-ACK) */
    uint32_t isn[2];         /* initial sequence number of each side */
    bool fin[2];             /* a FIN was sent that way */
    bool rst;                /* a RST was seen */
    uint64_t retrans_bytes[2]; /* payload bytes at or below what was already sent */
    /* Internal to the extractor: next expected sequence number each way, room in msgs. */
    bool seq_valid_[2];
    uint32_t seq_next_[2];
    size_t msgs_cap_;
} sb_flow;

typedef struct sb_flows_stats {
    uint64_t frames;           /* frames examined */
    uint64_t ipv4;             /* of which IPv4 */
    uint64_t arp;              /* of which ARP */
    uint64_t other;            /* of which neither */
    uint64_t malformed_ip;     /* IPv4 header unusable (version, lengths): in no flow */
    uint64_t malformed_l4;     /* TCP/UDP/ICMP header unusable: in no flow */
    uint64_t bad_ip_csum;      /* IPv4 header checksum wrong (frame used anyway; 0 unchecked) */
    uint64_t bad_l4_csum;      /* TCP/UDP/ICMP checksum wrong (frame used anyway; 0 unchecked) */
    uint64_t fragments;        /* IPv4 fragments (first ones included) */
    uint64_t dup_fragments;    /* first fragments of a datagram already seen: bytes not recounted */
    uint64_t orphan_fragments; /* later fragments without their first one before them: in no flow */
    uint64_t frag_other;       /* fragments of TCP/ICMP datagrams: attributed, bytes not counted */
    uint64_t icmp_other;       /* ICMP other than echo: in no flow */
    uint64_t other_proto;      /* IPv4 carrying neither TCP, UDP nor ICMP: in no flow */
} sb_flows_stats;

typedef struct sb_flows {
    size_t n;
    sb_flow *flows;        /* in order of first packet */
    size_t n_frames;       /* the trace's frame count */
    uint32_t *frame_flow;  /* per trace frame: index into flows, or SB_FLOW_NONE */
    uint8_t *frame_dir;    /* per trace frame: SB_C2S or SB_S2C (0 when in no flow) */
    sb_flows_stats stats;
} sb_flows;

typedef struct sb_flows_opts {
    bool check_csum; /* verify every IPv4 and L4 checksum, counting the wrong ones (bad_*_csum);
                        they change nothing else, so a replay, whose stack checks them itself,
                        skips the work; default true */
} sb_flows_opts;

sb_flows_opts sb_flows_opts_default(void);

/* Reduce trace t to flows into *out, with the default options. Returns SB_OK or SB_ENOMEM (*out
 * left empty). */
sb_status sb_flows_extract(sb_flows *out, const sb_trace *t, sb_err *err);

/* The same with options (NULL = the defaults). */
sb_status sb_flows_extract_opts(sb_flows *out, const sb_trace *t, const sb_flows_opts *opts,
                                sb_err *err);

/* sb_trace_load(t, path, topts, err) and then sb_flows_extract_opts(f, t, fopts, err), in one pass
 * over the file: the flows of each chunk of records are extracted as soon as it is loaded, while it
 * is in cache. Gives exactly what the two calls give: the same *t, *f, returns and messages.
 * Returns what sb_trace_load returns, *f then empty unless that is SB_OK or SB_EPARTIAL with
 * topts->keep_partial (*f then holds the flows of the frames in *t); or SB_ENOMEM from the flow
 * extraction (err "flow extraction: out of memory"), *f empty and *t still loaded. *flows_failed
 * (if non-NULL) tells that case from the load's errors: true then, false on every other return.
 * *t is freed with sb_trace_free whatever the return, *f with sb_flows_free. (In trace.c.) */
sb_status sb_trace_load_flows(sb_trace *t, sb_flows *f, const char *path,
                              const sb_trace_opts *topts, const sb_flows_opts *fopts,
                              bool *flows_failed, sb_err *err);

/* Release what sb_flows_extract allocated and zero *f. NULL and empty sets are fine. */
void sb_flows_free(sb_flows *f);

/* Index of the flow between (ip_a, port_a) and (ip_b, port_b) of protocol proto, in either role;
 * *dir (if non-NULL) gets SB_C2S when a is the client. For TCP the last connection on that
 * 5-tuple. Returns SB_FLOW_NONE if there is none. Linear in the number of flows. */
uint32_t sb_flows_find(const sb_flows *f, uint8_t proto, uint32_t ip_a, uint16_t port_a,
                       uint32_t ip_b, uint16_t port_b, unsigned *dir);

/* "tcp", "udp", "icmp" or "ip" (anything else). */
const char *sb_proto_name(uint8_t proto);

/* Format a host-order IPv4 address as dotted quad into buf (room for 16 bytes); returns buf. */
char *sb_ip_str(uint32_t ip, char buf[16]);

#ifdef __cplusplus
}
#endif

#endif /* SBTRAFFIC_FLOWS_H */
