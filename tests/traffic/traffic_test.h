/* Helpers shared by the sbtraffic tests: where the public captures and the scratch directory are,
 * and builders for small crafted traces (frames made with the wire emitters, held in memory or
 * written with libpcap). */
#ifndef STACKBENCH_TRAFFIC_TEST_H
#define STACKBENCH_TRAFFIC_TEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <pcap/pcap.h>

#include "testutil.h"

#include "sbtraffic/trace.h"
#include "ustack/wire/arp.h"
#include "ustack/wire/bytes.h"
#include "ustack/wire/checksum.h"
#include "ustack/wire/eth.h"
#include "ustack/wire/icmp.h"
#include "ustack/wire/ipv4.h"
#include "ustack/wire/tcp.h"
#include "ustack/wire/udp.h"

#ifndef SB_PUBLIC_TRACES
#error "SB_PUBLIC_TRACES must name the directory of the public captures"
#endif
#ifndef SB_TEST_TMPDIR
#error "SB_TEST_TMPDIR must name a scratch directory"
#endif

/* Path of public capture `name` into buf (room for 512 bytes); skips the test if the public
 * captures are not on this machine. */
static inline const char *tt_public(char *buf, const char *name)
{
    snprintf(buf, 512, "%s/%s", SB_PUBLIC_TRACES, name);
    if (access(buf, R_OK) != 0) {
        print_message("public capture %s not found: skipped\n", buf);
        skip();
    }
    return buf;
}

#ifndef SB_CANONICAL_TRACES
#error "SB_CANONICAL_TRACES must name the directory of the committed canonical traces"
#endif

/* The committed canonical traces (traces/README.md) and the public captures of the classic pcap
 * and pcapng kinds: what the equivalence tests of the fast paths run over. */
static const char *const tt_canonical_names[] = {
    "udp-oneway.pcap", "tcp-bulk.pcap", "tcp-rr.pcap",    "icmp-ping.pcap",
    "iot-mix.pcap",    "bursty.pcap",   "idle-heavy.pcap",
};
static const char *const tt_public_names[] = {
    "802.1ad_QinQ.pcap",       "LINKTYPE_RAW_ipv4.pcap",   "VlanPackets.pcap",
    "ip4_fragments.pcap",      "nanosecs_big_endian.pcap", "one_http_stream_fin.pcap",
    "pcapng-example.pcapng",   "tcp-handshake-nano.pcap",  "three_http_streams.pcap",
};
#define TT_N_CANONICAL (sizeof tt_canonical_names / sizeof tt_canonical_names[0])
#define TT_N_PUBLIC (sizeof tt_public_names / sizeof tt_public_names[0])

/* Path of committed canonical trace `name` into buf (room for 512 bytes). */
static inline const char *tt_canonical(char *buf, const char *name)
{
    snprintf(buf, 512, "%s/%s", SB_CANONICAL_TRACES, name);
    return buf;
}

/* A scratch file path (room for 512 bytes), unique per test executable. */
static inline const char *tt_tmp(char *buf, const char *name)
{
    snprintf(buf, 512, "%s/%s", SB_TEST_TMPDIR, name);
    return buf;
}

/* Write a pcap of link type dlt holding n frames (data[i], caplen[i], len[i]), µs timestamps
 * ts_us[i]. */
static inline void tt_write_pcap(const char *path, int dlt, size_t n, const uint8_t *const *data,
                                 const uint32_t *caplen, const uint32_t *len,
                                 const uint64_t *ts_us)
{
    pcap_t *pd = pcap_open_dead(dlt, 65535);
    assert_non_null(pd);
    pcap_dumper_t *d = pcap_dump_open(pd, path);
    assert_non_null(d);
    for (size_t i = 0; i < n; i++) {
        struct pcap_pkthdr h;
        memset(&h, 0, sizeof h);
        h.ts.tv_sec = (time_t)(1700000000 + ts_us[i] / 1000000);
        h.ts.tv_usec = (suseconds_t)(ts_us[i] % 1000000);
        h.caplen = caplen[i];
        h.len = len[i];
        pcap_dump((u_char *)d, &h, data[i]);
    }
    pcap_dump_close(d);
    pcap_close(pd);
}

/* One endpoint of a crafted TCP conversation. */
typedef struct tt_host {
    uint32_t ip;
    uint8_t mac[6];
    uint16_t port;
} tt_host;

/* A TCP segment from a to b as an Ethernet frame into f (room for 1514 bytes); returns its length.
 * extra_opts (may be NULL) are raw option bytes (a multiple of 4) placed after the header, the
 * checksum computed over them. */
static inline size_t tt_tcp_frame(uint8_t *f, const tt_host *a, const tt_host *b, uint8_t flags,
                                  uint32_t seq, uint32_t ack, size_t plen,
                                  const uint8_t *extra_opts, size_t extra_len)
{
    us_eth_repr e;
    memcpy(e.dst, b->mac, 6);
    memcpy(e.src, a->mac, 6);
    e.ethertype = US_ETHERTYPE_IPV4;
    e.vlan_tags = 0;
    us_eth_emit(&e, f);
    uint8_t *tcp = f + 34;
    size_t hl = 20 + extra_len;
    memset(tcp, 0, hl);
    us_put_be16(tcp, a->port);
    us_put_be16(tcp + 2, b->port);
    us_put_be32(tcp + 4, seq);
    us_put_be32(tcp + 8, ack);
    tcp[12] = (uint8_t)((hl / 4) << 4);
    tcp[13] = flags;
    us_put_be16(tcp + 14, 65535);
    if (extra_len)
        memcpy(tcp + 20, extra_opts, extra_len);
    for (size_t i = 0; i < plen; i++)
        tcp[hl + i] = (uint8_t)('A' + i % 26);
    uint32_t sum = us_csum_pseudo_ipv4(a->ip, b->ip, US_IP_PROTO_TCP, (uint16_t)(hl + plen));
    us_put_be16(tcp + 16, us_csum_finish(us_csum_partial(tcp, hl + plen, sum)));
    us_ipv4_repr ip;
    memset(&ip, 0, sizeof ip);
    ip.src = a->ip;
    ip.dst = b->ip;
    ip.proto = US_IP_PROTO_TCP;
    ip.ttl = 64;
    ip.payload_len = (uint16_t)(hl + plen);
    us_ipv4_emit(&ip, f + 14);
    return 34 + hl + plen;
}

/* How tt_udp_frame departs from a plain datagram (all zero: a plain one). */
typedef struct tt_udp_shape {
    size_t ip_opts;      /* bytes of IPv4 options (NOPs; a multiple of 4, at most 40) */
    uint16_t frag;       /* the IPv4 flags and fragment offset field (e.g. 0x2000: MF) */
    uint8_t proto;       /* the IPv4 protocol field (0: UDP) */
    int total_delta;     /* added to the IPv4 total length once the checksums are made */
    int ulen_delta;      /* added to the UDP length once the checksums are made */
    bool no_csum;        /* UDP checksum field 0 ("none") */
    uint16_t csum;       /* if not 0: the UDP checksum field written instead of the right one */
    size_t trailer;      /* bytes of Ethernet padding after the datagram */
} tt_udp_shape;

/* A UDP datagram from a to b with plen payload bytes as an Ethernet frame into f (room for 1514
 * bytes), shaped by s (NULL: plain); returns the frame's length. Checksums are right unless s
 * changes fields after them. */
static inline size_t tt_udp_frame(uint8_t *f, const tt_host *a, const tt_host *b, size_t plen,
                                  const tt_udp_shape *s)
{
    static const tt_udp_shape plain;
    if (!s)
        s = &plain;
    us_eth_repr e;
    memcpy(e.dst, b->mac, 6);
    memcpy(e.src, a->mac, 6);
    e.ethertype = US_ETHERTYPE_IPV4;
    e.vlan_tags = 0;
    us_eth_emit(&e, f);
    size_t hl = 20 + s->ip_opts;
    uint8_t *ip = f + 14, *udp = ip + hl;
    us_put_be16(udp, a->port);
    us_put_be16(udp + 2, b->port);
    us_put_be16(udp + 4, (uint16_t)(8 + plen));
    us_put_be16(udp + 6, 0);
    for (size_t i = 0; i < plen; i++)
        udp[8 + i] = (uint8_t)('a' + i % 26);
    uint16_t c = us_csum_finish(us_csum_partial(
        udp, 8 + plen, us_csum_pseudo_ipv4(a->ip, b->ip, US_IP_PROTO_UDP, (uint16_t)(8 + plen))));
    us_put_be16(udp + 6, s->no_csum ? 0 : s->csum ? s->csum : c ? c : 0xffff);
    ip[0] = (uint8_t)(0x40 | hl / 4);
    ip[1] = 0;
    us_put_be16(ip + 2, (uint16_t)(hl + 8 + plen));
    us_put_be16(ip + 4, 0x1234);
    us_put_be16(ip + 6, s->frag);
    ip[8] = 64;
    ip[9] = s->proto ? s->proto : US_IP_PROTO_UDP;
    us_put_be16(ip + 10, 0);
    us_put_be32(ip + 12, a->ip);
    us_put_be32(ip + 16, b->ip);
    memset(ip + 20, US_TCP_OPT_NOP, s->ip_opts);
    us_put_be16(ip + 10, us_csum_finish(us_csum_partial(ip, hl, 0)));
    us_put_be16(ip + 2, (uint16_t)(hl + 8 + plen + s->total_delta));
    us_put_be16(udp + 4, (uint16_t)(8 + plen + s->ulen_delta));
    memset(udp + 8 + plen, 0, s->trailer);
    return 14 + hl + 8 + plen + s->trailer;
}

/* A broadcast ARP request from a for b's address (14 + 28 bytes). Returns its length. */
static inline size_t tt_arp_request(uint8_t *f, const tt_host *a, const tt_host *b)
{
    us_eth_repr e = {.dst = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, .ethertype = US_ETHERTYPE_ARP};
    memcpy(e.src, a->mac, 6);
    us_eth_emit(&e, f);
    us_arp_repr ar = {.op = US_ARP_OP_REQUEST, .spa = a->ip, .tpa = b->ip};
    memcpy(ar.sha, a->mac, 6);
    us_arp_emit(&ar, f + 14);
    return 14 + 28;
}

/* An in-memory trace of up to 16 crafted frames. */
typedef struct tt_trace {
    sb_trace t;
    sb_frame frames[16];
    uint8_t bytes[16][1514];
} tt_trace;

static inline void tt_trace_init(tt_trace *tt)
{
    memset(tt, 0, sizeof *tt);
    tt->t.linktype = SB_DLT_EN10MB;
    tt->t.frames = tt->frames;
}

/* Append the frame just built in tt->bytes[tt->t.n] (len bytes) at time ts_ns. */
static inline void tt_trace_add(tt_trace *tt, size_t len, uint64_t ts_ns)
{
    size_t i = tt->t.n++;
    assert_true(i < 16);
    tt->frames[i].ts_ns = ts_ns;
    tt->frames[i].len = (uint32_t)len;
    tt->frames[i].index = (uint32_t)i;
    tt->frames[i].ethertype = us_get_be16(tt->bytes[i] + 12);
    tt->frames[i].data = tt->bytes[i];
}

/* Parse an Ethernet frame fully with every checksum verified: Ethernet, then IPv4 and TCP / UDP /
 * ICMP (unfragmented), or ARP. Fails the test on any error. Returns the IP protocol (0 for ARP). */
static inline uint8_t tt_assert_frame_valid(const uint8_t *f, size_t len)
{
    us_eth_repr e;
    size_t off;
    assert_int_equal(us_eth_parse(&e, f, len, &off), US_WIRE_OK);
    if (e.ethertype == US_ETHERTYPE_ARP) {
        us_arp_repr a;
        assert_int_equal(us_arp_parse(&a, f + off, len - off), US_WIRE_OK);
        return 0;
    }
    assert_int_equal(e.ethertype, US_ETHERTYPE_IPV4);
    us_ipv4_repr ip;
    assert_int_equal(us_ipv4_parse(&ip, f + off, len - off, 0), US_WIRE_OK);
    assert_false(ip.more_frags || ip.frag_offset);
    const uint8_t *l4 = f + off + ip.header_len;
    if (ip.proto == US_IP_PROTO_TCP) {
        us_tcp_repr t;
        assert_int_equal(us_tcp_parse(&t, l4, ip.payload_len, ip.src, ip.dst, 0), US_WIRE_OK);
    } else if (ip.proto == US_IP_PROTO_UDP) {
        us_udp_repr u;
        assert_int_equal(us_udp_parse(&u, l4, ip.payload_len, ip.src, ip.dst, 0), US_WIRE_OK);
        assert_int_not_equal(us_get_be16(l4 + 6), 0); /* a checksum is there */
    } else {
        assert_int_equal(ip.proto, US_IP_PROTO_ICMP);
        us_icmp_repr m;
        assert_int_equal(us_icmp_parse(&m, l4, ip.payload_len, 0), US_WIRE_OK);
    }
    return ip.proto;
}

#endif /* STACKBENCH_TRAFFIC_TEST_H */
