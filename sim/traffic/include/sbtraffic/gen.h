/* sbtraffic: the canonical trace generator. Each kind is a recording, at the server's NIC, of
 * clients 10.0.1.x (MAC 02:00:00:00:01:xx) talking to a server 10.0.0.1 (MAC 02:00:00:00:00:01):
 * the server is the part the stack under test plays on replay. Frames are built with libustack's
 * wire emitters, so every checksum is right; TCP conversations are complete (ARP, handshake with
 * MSS, data, ACKs from the receiver, FIN close) and consistent as a protocol analyser sees them.
 *
 * Timing model, in capture (server) time: the server reacts SB_GEN_SERVER_NS after a frame
 * arrives; a client reacts SB_GEN_RTT_NS + SB_GEN_CLIENT_NS after the server sent; frames in one
 * direction never overlap on the link (--link-mbps, preamble + FCS + gap counted). Each client ARPs
 * for the server at the start; traffic begins at SB_GEN_START_NS.
 *
 * Deterministic: the same kind, parameters and seed give the same bytes on every machine (xoshiro,
 * our own logarithm, timestamps from a fixed epoch, nothing from the clock or the environment). */
#ifndef SBTRAFFIC_GEN_H
#define SBTRAFFIC_GEN_H

#include <stdint.h>

#include "sbtraffic/err.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SB_GEN_RTT_NS 200000ull   /* client <-> server round trip */
#define SB_GEN_SERVER_NS 20000ull /* server reaction time */
#define SB_GEN_CLIENT_NS 10000ull /* client reaction time, on top of the round trip */
#define SB_GEN_START_NS 1000000ull /* first traffic after the ARP exchanges */
#define SB_GEN_EPOCH_S 1704067200ull /* 2024-01-01T00:00:00Z: timestamp of t = 0 */
#define SB_GEN_MAX_FRAMES 5000000u /* refuse parameters that would write more */

typedef enum sb_gen_kind {
    SB_GEN_UDP_ONEWAY = 0, /* steady datagrams from one client: UDP receive */
    SB_GEN_TCP_BULK,       /* one connection, the client streams MSS segments, the server ACKs */
    SB_GEN_TCP_RR,         /* request/response over a few connections */
    SB_GEN_ICMP_PING,      /* echo request/reply at a fixed interval */
    SB_GEN_IOT_MIX,        /* many clients, small sporadic UDP and TCP messages */
    SB_GEN_BURSTY,         /* on/off bursts of back-to-back datagrams */
    SB_GEN_IDLE_HEAVY,     /* long silences between small exchanges */
    SB_GEN_KIND_COUNT
} sb_gen_kind;

/* Which parameters a kind reads (sb_gen_kind_info.params). */
#define SB_GEN_P_RATE 0x01u
#define SB_GEN_P_SIZE 0x02u
#define SB_GEN_P_RESP_SIZE 0x04u
#define SB_GEN_P_CONNS 0x08u
#define SB_GEN_P_BURST 0x10u
#define SB_GEN_P_LINK 0x20u

typedef struct sb_gen_params {
    uint64_t seed;
    uint64_t duration_ns; /* traffic starts within [0, duration); exchanges under way finish */
    double rate;          /* per second; what is counted depends on the kind (rate_unit) */
    uint32_t size;        /* payload bytes per message (iot-mix: the largest) */
    uint32_t resp_size;   /* response payload bytes (tcp-rr, idle-heavy) */
    uint32_t conns;       /* connections (tcp-rr) or clients (iot-mix) */
    uint32_t burst;       /* datagrams per burst (bursty) */
    double link_mbps;     /* link rate that spaces back-to-back frames, Mbit/s */
} sb_gen_params;

/* What a kind is and how its parameters read, for help texts and validation. */
typedef struct sb_gen_kind_info {
    const char *name;      /* "udp-oneway", ... */
    const char *summary;   /* one line: what it stands for */
    const char *rate_unit; /* "datagrams/s", ... */
    const char *size_what; /* what --size is */
    unsigned params;       /* SB_GEN_P_* it reads */
    uint32_t size_min, size_max;
    uint32_t resp_max;
    uint32_t conns_max;
    sb_gen_params defaults; /* seed 0 */
} sb_gen_kind_info;

/* The table entry of kind (NULL if out of range). */
const sb_gen_kind_info *sb_gen_info(sb_gen_kind kind);

/* Kind from its name. Returns SB_OK or SB_EINVAL (message lists the kinds). */
sb_status sb_gen_kind_parse(const char *name, sb_gen_kind *kind, sb_err *err);

/* The defaults of kind into *p (seed 0). */
void sb_gen_params_default(sb_gen_kind kind, sb_gen_params *p);

/* Check p against kind's limits. Returns SB_OK or SB_EINVAL with a message naming the parameter
 * as its command-line flag ("--size 2000: at most 1472 for udp-oneway"). */
sb_status sb_gen_check(sb_gen_kind kind, const sb_gen_params *p, sb_err *err);

/* Generate the trace of kind with parameters p into out_path (pcap, EN10MB, ns timestamps). It is
 * written to "out_path.tmp" and renamed over out_path only when complete; on any failure the
 * temporary file is removed and out_path is not touched.
 * Returns SB_OK; SB_EINVAL (parameters; see sb_gen_check; or more than SB_GEN_MAX_FRAMES frames);
 * SB_EIO (cannot write or rename: the message names the file and the reason); SB_ENOMEM. */
sb_status sb_gen(sb_gen_kind kind, const sb_gen_params *p, const char *out_path, sb_err *err);

#ifdef __cplusplus
}
#endif

#endif /* SBTRAFFIC_GEN_H */
