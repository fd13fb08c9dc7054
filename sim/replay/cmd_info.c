/* stackbench info: what a trace holds, as the replay will see it — or the one-line reason it
 * cannot be read. A file libpcap stops reading part-way is described up to that point, and the
 * reason is printed (exit 1); --strict refuses it instead. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "sbtraffic/flows.h"
#include "sbtraffic/trace.h"

#define PROG "stackbench info"

static void help(void)
{
    printf("usage: stackbench info [--flows N] [--strict] FILE\n\n"
           "Describes a trace as the replay reads it: link type, timestamp precision, frames read\n"
           "and kept, what was skipped (truncated: caplen < len; non-IP: neither IPv4 nor ARP;\n"
           "malformed link header), duration, and the flows (TCP connections, UDP conversations,\n"
           "ICMP echo) with payload bytes and packets each way.\n\n"
           "options:\n"
           "  --flows N   list at most N flows (default 20; 0 lists none)\n"
           "  --strict    refuse a file libpcap cannot read to its end (default: describe what\n"
           "              was read, print the reason, exit 1)\n"
           "  --help      this text\n\n"
           "exit status: 0 read completely; 1 refused or only partly read; 2 bad usage.\n");
}

static void print_ns(const char *label, uint64_t ns)
{
    printf("%s%" PRIu64 ".%09" PRIu64 " s\n", label, ns / 1000000000u, ns % 1000000000u);
}

int sb_cmd_info(int argc, char **argv)
{
    static const struct option opts[] = {
        {"flows", required_argument, NULL, 'f'},
        {"strict", no_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    unsigned long max_flows = 20;
    bool strict = false;
    opterr = 0;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'h':
            help();
            return 0;
        case 'f':
            if (sb_parse_u32(optarg, 1000000000, &max_flows) != 0) {
                fprintf(stderr, PROG ": --flows '%s': not a whole number\n", optarg);
                return 2;
            }
            break;
        case 's':
            strict = true;
            break;
        default: /* ':' (a flag without its value) or an unknown flag */
            return sb_cli_getopt_error(PROG, c, argv[optind - 1]);
        }
    }
    if (optind >= argc) {
        fprintf(stderr, PROG ": no FILE given (try " PROG " --help)\n");
        return 2;
    }
    if (optind + 1 < argc) {
        fprintf(stderr, PROG ": unexpected argument '%s'\n", argv[optind + 1]);
        return 2;
    }
    const char *path = argv[optind];
    sb_trace_opts o = sb_trace_opts_default();
    o.keep_partial = !strict;
    sb_trace t;
    sb_err err;
    sb_status st = sb_trace_load(&t, path, &o, &err);
    if (st != SB_OK && !(st == SB_EPARTIAL && !strict)) {
        fprintf(stderr, PROG ": %s\n", err.msg);
        sb_trace_free(&t);
        return 1;
    }
    sb_flows f;
    sb_err ferr;
    if (sb_flows_extract(&f, &t, &ferr) != SB_OK) {
        fprintf(stderr, PROG ": %s\n", ferr.msg);
        sb_trace_free(&t);
        return 1;
    }
    const sb_trace_stats *s = &t.stats;
    printf("file: %s\n", path);
    printf("format: %s, link type %s (%d), %s timestamps%s\n", t.pcapng ? "pcapng" : "pcap",
           sb_linktype_name(t.linktype), t.linktype,
           t.pcapng ? "per-interface" : (t.nanosecond ? "ns" : "us"),
           t.swapped ? ", byte-swapped" : "");
    printf("frames: %" PRIu64 " read, %zu kept; skipped: %" PRIu64 " truncated, %" PRIu64
           " non-IP, %" PRIu64 " malformed\n",
           s->records, t.n, s->truncated, s->non_ip, s->malformed);
    if (s->vlan_frames || s->ts_backwards)
        printf("notes: %" PRIu64 " VLAN-tagged frames stripped, %" PRIu64
               " timestamps going backwards clamped\n",
               s->vlan_frames, s->ts_backwards);
    print_ns("duration: ", t.duration_ns);
    const sb_flows_stats *fs = &f.stats;
    size_t ntcp = 0, nudp = 0, nicmp = 0;
    for (size_t i = 0; i < f.n; i++) {
        uint8_t p = f.flows[i].key.proto;
        ntcp += p == 6;
        nudp += p == 17;
        nicmp += p == 1;
    }
    printf("frames by kind: %" PRIu64 " IPv4, %" PRIu64 " ARP, %" PRIu64 " other\n", fs->ipv4,
           fs->arp, fs->other);
    if (fs->bad_ip_csum || fs->bad_l4_csum || fs->malformed_ip || fs->malformed_l4 ||
        fs->fragments)
        printf("checks: %" PRIu64 " bad IPv4 checksums, %" PRIu64 " bad TCP/UDP/ICMP checksums, "
               "%" PRIu64 " malformed IPv4, %" PRIu64 " malformed L4, %" PRIu64
               " fragments (%" PRIu64 " orphan, %" PRIu64 " repeated)\n",
               fs->bad_ip_csum, fs->bad_l4_csum, fs->malformed_ip, fs->malformed_l4,
               fs->fragments, fs->orphan_fragments, fs->dup_fragments);
    printf("flows: %zu (tcp %zu, udp %zu, icmp echo %zu)\n", f.n, ntcp, nudp, nicmp);
    for (size_t i = 0; i < f.n && i < max_flows; i++) {
        const sb_flow *fl = &f.flows[i];
        char cip[16], sip[16];
        printf("  %-4s %s:%u -> %s:%u  start %" PRIu64 ".%09" PRIu64 " s  c->s %" PRIu64
               " B/%" PRIu64 " pkts  s->c %" PRIu64 " B/%" PRIu64 " pkts  %zu msgs%s\n",
               sb_proto_name(fl->key.proto), sb_ip_str(fl->key.client_ip, cip),
               (unsigned)fl->key.client_port, sb_ip_str(fl->key.server_ip, sip),
               (unsigned)fl->key.server_port, fl->start_ns / 1000000000u,
               fl->start_ns % 1000000000u, fl->bytes[0], fl->pkts[0], fl->bytes[1],
               fl->pkts[1], fl->n_msgs,
               fl->key.proto == 6 && !(fl->syn_seen && fl->synack_seen) ? "  (no handshake)"
                                                                        : "");
    }
    if (f.n > max_flows)
        printf("  ... and %zu more\n", f.n - max_flows);
    sb_flows_free(&f);
    sb_trace_free(&t);
    if (st == SB_EPARTIAL) {
        fprintf(stderr, PROG ": %s\n", err.msg);
        return 1;
    }
    return 0;
}
