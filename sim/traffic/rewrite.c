/* sbtraffic: open-mode rewriting — addresses onto the stack and the peer identities, TCP seq/ack
 * onto the stack's ISN, every checksum patched with the RFC 1624 incremental update. Each frame is
 * checked completely before a byte of out is written, so a refused frame leaves out untouched.
 * A frame whose rewrite depends on nothing the run learns (all but TCP segments) is rewritten from
 * its flow's cached constants (rw_flow_cache) once the full path has rewritten one like it. */
#include "sbtraffic/rewrite.h"

#include <stdlib.h>
#include <string.h>

#include "keymap.h"
#include "sbtraffic/compiler.h"
#include "ustack/wire/arp.h"
#include "ustack/wire/bytes.h"
#include "ustack/wire/checksum.h"
#include "ustack/wire/eth.h"
#include "ustack/wire/ipv4.h"
#include "ustack/wire/tcp.h"
#include "ustack/wire/udp.h"

/* Field offsets used for in-place patching. */
#define IP_CSUM_OFF 10u
#define IP_SRC_OFF 12u
#define IP_DST_OFF 16u
#define TCP_SEQ_OFF 4u
#define TCP_ACK_OFF 8u
#define TCP_CSUM_OFF 16u
#define UDP_CSUM_OFF 6u

/* The rewriting of one flow in one direction that does not depend on the run: the new MACs and
 * addresses are the flow's constants, and so is the change they make to the IPv4 header checksum
 * and the UDP pseudo-header one, given the recorded addresses. Remembered from the last full
 * rewrite of a frame of the flow that way that was not TCP, together with that frame's shape
 * (ethertype, IPv4 version and header length, protocol); rw_cached applies it to later frames of
 * the same shape between the same addresses that are not later fragments. */
typedef struct rw_flow_cache {
    bool valid;
    bool udp;             /* protocol UDP: its checksum is patched too */
    uint8_t proto;        /* IPv4 protocol (never TCP) */
    uint8_t hl;           /* IPv4 header length */
    uint8_t min_total;    /* smallest IPv4 total length taken: hl, + 8 for UDP */
    uint8_t shape[4];     /* frame bytes 12..14 (ethertype, version/IHL) and 0 */
    uint8_t old_addrs[8]; /* recorded IPv4 source and destination (wire order) */
    uint8_t macs[12];     /* new destination and source MAC */
    uint8_t new_addrs[8]; /* new IPv4 source and destination (wire order) */
    uint16_t delta_wire;  /* the RFC 1624 sum of ~old and new 16-bit words of the addresses,
                             folded (see csum_add_delta16), as its two bytes in wire order read
                             as a native uint16_t (see rw_cached) */
} rw_flow_cache;

struct sb_rw_maps {
    sb__keymap hosts;   /* recorded client address -> host index */
    sb__keymap servers; /* recorded server addresses (value unused) */
    sb__keymap keys;  /* rewritten 5-tuple -> flow index */
    rw_flow_cache *cache; /* per flow and direction: [2 * flow + dir] */
    bool cached;          /* some entry of cache was filled */
};

sb_rw_config sb_rw_config_default(void)
{
    sb_rw_config c;
    memset(&c, 0, sizeof c);
    c.stack.ip = 0x0a000001u; /* 10.0.0.1 */
    const uint8_t smac[6] = {0x02, 0, 0, 0, 0, 0x01};
    const uint8_t pmac[6] = {0x02, 0, 0, 0, 0x01, 0x01};
    memcpy(c.stack.mac, smac, 6);
    c.peer_ip_base = 0x0a000101u; /* 10.0.1.1 */
    memcpy(c.peer_mac_base, pmac, 6);
    c.map_peer_seq = false;
    c.peer_isn = 0;
    return c;
}

static void ip_key(uint8_t k[SB__KEYMAP_KEY], uint32_t ip)
{
    memset(k, 0, SB__KEYMAP_KEY);
    us_put_be32(k, ip);
}

static void rewritten_key(uint8_t k[SB__KEYMAP_KEY], const sb_flow_key *key)
{
    memset(k, 0, SB__KEYMAP_KEY);
    k[0] = key->proto;
    us_put_be32(k + 1, key->client_ip);
    us_put_be16(k + 5, key->client_port);
    us_put_be32(k + 7, key->server_ip);
    us_put_be16(k + 11, key->server_port);
}

sb_status sb_rw_flow_key(const sb_rw *rw, uint32_t fi, sb_flow_key *key)
{
    if (!rw->flows || fi >= rw->flows->n)
        return SB_EINVAL;
    *key = rw->flows->flows[fi].key;
    key->client_ip = rw->host_peer[rw->flow_host[fi]].ip;
    key->server_ip = rw->cfg.stack.ip;
    return SB_OK;
}

/* (Re)build the rewritten-5-tuple index; counts collisions (the first flow keeps the key). */
static sb_status build_keys(sb_rw *rw)
{
    sb__keymap_free(&rw->maps_->keys);
    rw->stats.collisions = 0;
    for (size_t i = 0; i < rw->flows->n; i++) {
        sb_flow_key key;
        memset(&key, 0, sizeof key);
        sb_rw_flow_key(rw, (uint32_t)i, &key); /* i < n: cannot fail */
        uint8_t k[SB__KEYMAP_KEY];
        rewritten_key(k, &key);
        uint32_t *v = sb__keymap_get(&rw->maps_->keys, k);
        if (v) {
            /* A TCP connection reusing its 5-tuple is the same key on purpose: the later one
             * takes it (it is the one live when its frames come). */
            const sb_flow_key *a = &rw->flows->flows[*v].key, *b = &rw->flows->flows[i].key;
            bool reuse = a->proto == b->proto && a->client_ip == b->client_ip &&
                         a->server_ip == b->server_ip && a->client_port == b->client_port &&
                         a->server_port == b->server_port;
            if (!reuse)
                rw->stats.collisions++;
            else
                *v = (uint32_t)i;
            continue;
        }
        if (sb__keymap_put(&rw->maps_->keys, k, (uint32_t)i) != SB_OK)
            return SB_ENOMEM;
    }
    return SB_OK;
}

sb_status sb_rw_init(sb_rw *rw, const sb_rw_config *cfg, const sb_flows *flows, sb_err *err)
{
    memset(rw, 0, sizeof *rw);
    rw->cfg = cfg ? *cfg : sb_rw_config_default();
    rw->flows = flows;
    size_t n = flows->n ? flows->n : 1;
    rw->maps_ = calloc(1, sizeof *rw->maps_);
    if (rw->maps_)
        rw->maps_->cache = calloc(2 * n, sizeof *rw->maps_->cache);
    rw->host_ip = malloc(n * sizeof *rw->host_ip);
    rw->host_peer = malloc(n * sizeof *rw->host_peer);
    rw->flow_host = malloc(n * sizeof *rw->flow_host);
    rw->isn_known = calloc(n, sizeof *rw->isn_known);
    rw->stack_isn = calloc(n, sizeof *rw->stack_isn);
    if (!rw->maps_ || !rw->maps_->cache || !rw->host_ip || !rw->host_peer || !rw->flow_host ||
        !rw->isn_known || !rw->stack_isn)
        goto nomem;
    for (size_t i = 0; i < flows->n; i++) {
        uint8_t k[SB__KEYMAP_KEY];
        uint32_t cip = flows->flows[i].key.client_ip;
        ip_key(k, cip);
        uint8_t sk[SB__KEYMAP_KEY];
        ip_key(sk, flows->flows[i].key.server_ip);
        if (sb__keymap_put(&rw->maps_->servers, sk, 0) != SB_OK)
            goto nomem;
        uint32_t *v = sb__keymap_get(&rw->maps_->hosts, k);
        if (v) {
            rw->flow_host[i] = *v;
            continue;
        }
        size_t h = rw->n_hosts++;
        if (sb__keymap_put(&rw->maps_->hosts, k, (uint32_t)h) != SB_OK)
            goto nomem;
        rw->host_ip[h] = cip;
        sb_endpoint *p = &rw->host_peer[h];
        p->ip = rw->cfg.peer_ip_base + (uint32_t)h;
        memcpy(p->mac, rw->cfg.peer_mac_base, 6);
        uint32_t low = ((uint32_t)p->mac[4] << 8 | p->mac[5]) + (uint32_t)h;
        p->mac[4] = (uint8_t)(low >> 8);
        p->mac[5] = (uint8_t)low;
        rw->flow_host[i] = (uint32_t)h;
    }
    if (build_keys(rw) != SB_OK)
        goto nomem;
    return SB_OK;
nomem:
    sb_rw_free(rw);
    return sb__fail(err, SB_ENOMEM, "rewriter: out of memory");
}

void sb_rw_free(sb_rw *rw)
{
    if (!rw)
        return;
    if (rw->maps_) {
        sb__keymap_free(&rw->maps_->hosts);
        sb__keymap_free(&rw->maps_->servers);
        sb__keymap_free(&rw->maps_->keys);
        free(rw->maps_->cache);
        free(rw->maps_);
    }
    free(rw->host_ip);
    free(rw->host_peer);
    free(rw->flow_host);
    free(rw->isn_known);
    free(rw->stack_isn);
    memset(rw, 0, sizeof *rw);
}

sb_status sb_rw_set_peer(sb_rw *rw, uint32_t recorded_ip, const sb_endpoint *peer, sb_err *err)
{
    uint8_t k[SB__KEYMAP_KEY];
    ip_key(k, recorded_ip);
    uint32_t *v = sb__keymap_get(&rw->maps_->hosts, k);
    if (!v) {
        char b[16];
        return sb__fail(err, SB_ENOTFOUND, "rewriter: %s is the client of no flow",
                        sb_ip_str(recorded_ip, b));
    }
    rw->host_peer[*v] = *peer;
    /* The cached rewrites of this host's flows hold its old identity. */
    for (size_t i = 0; rw->maps_->cached && i < rw->flows->n; i++) {
        if (rw->flow_host[i] == *v) {
            rw->maps_->cache[2 * i].valid = false;
            rw->maps_->cache[2 * i + 1].valid = false;
        }
    }
    if (build_keys(rw) != SB_OK)
        return sb__fail(err, SB_ENOMEM, "rewriter: out of memory");
    return SB_OK;
}

uint32_t sb_rw_find(const sb_rw *rw, const sb_flow_key *key)
{
    uint8_t k[SB__KEYMAP_KEY];
    rewritten_key(k, key);
    uint32_t *v = sb__keymap_get(&rw->maps_->keys, k);
    return v ? *v : SB_FLOW_NONE;
}

sb_status sb_rw_set_stack_isn(sb_rw *rw, uint32_t fi, uint32_t isn, sb_err *err)
{
    if (fi >= rw->flows->n || rw->flows->flows[fi].key.proto != US_IP_PROTO_TCP)
        return sb__fail(err, SB_EINVAL, "rewriter: flow %u is not a TCP flow", (unsigned)fi);
    rw->isn_known[fi] = true;
    rw->stack_isn[fi] = isn;
    return SB_OK;
}

sb_status sb_rw_set_stack_isn_by_key(sb_rw *rw, const sb_flow_key *key, uint32_t isn, sb_err *err)
{
    uint32_t fi = sb_rw_find(rw, key);
    if (fi == SB_FLOW_NONE) {
        char c[16], s[16];
        return sb__fail(err, SB_ENOTFOUND, "rewriter: no flow %s %s:%u -> %s:%u",
                        sb_proto_name(key->proto), sb_ip_str(key->client_ip, c),
                        (unsigned)key->client_port, sb_ip_str(key->server_ip, s),
                        (unsigned)key->server_port);
    }
    return sb_rw_set_stack_isn(rw, fi, isn, err);
}

sb_status sb_rw_learn(sb_rw *rw, const uint8_t *frame, size_t len, uint32_t *fip)
{
    if (fip)
        *fip = SB_FLOW_NONE;
    us_eth_repr e;
    size_t off;
    us_ipv4_repr ip;
    us_tcp_repr t;
    if (us_eth_parse(&e, frame, len, &off) != US_WIRE_OK || e.ethertype != US_ETHERTYPE_IPV4)
        return SB_OK;
    if (us_ipv4_parse(&ip, frame + off, len - off, US_WIRE_SKIP_CSUM) != US_WIRE_OK ||
        ip.proto != US_IP_PROTO_TCP || ip.more_frags || ip.frag_offset)
        return SB_OK;
    /* Most frames the stack sends are no SYN-ACK: look at the flags before parsing (a segment
     * shorter than a TCP header would not parse). */
    const uint8_t *l4 = frame + off + ip.header_len;
    if (ip.payload_len < US_TCP_HDR_LEN ||
        (l4[13] & (US_TCP_SYN | US_TCP_ACK)) != (US_TCP_SYN | US_TCP_ACK))
        return SB_OK;
    if (us_tcp_parse(&t, l4, ip.payload_len, ip.src, ip.dst, US_WIRE_SKIP_CSUM) != US_WIRE_OK)
        return SB_OK;
    sb_flow_key key = {.proto = US_IP_PROTO_TCP,
                       .client_ip = ip.dst,
                       .client_port = t.dst_port,
                       .server_ip = ip.src,
                       .server_port = t.src_port};
    uint32_t fi = sb_rw_find(rw, &key);
    if (fi == SB_FLOW_NONE)
        return SB_OK;
    rw->isn_known[fi] = true;
    rw->stack_isn[fi] = t.seq;
    if (fip)
        *fip = fi;
    return SB_OK;
}

/* RFC 1624 update for a 32-bit field at byte offset off of the checksummed message. At an odd
 * offset the field's bytes sit in the other lanes of the 16-bit words: swapping the bytes of each
 * half gives the same ones-complement contribution. */
static uint16_t csum_update32_at(uint16_t csum, uint32_t oldv, uint32_t newv, size_t off)
{
    if (off & 1u) {
        oldv = ((oldv & 0x00ff00ffu) << 8) | ((oldv >> 8) & 0x00ff00ffu);
        newv = ((newv & 0x00ff00ffu) << 8) | ((newv >> 8) & 0x00ff00ffu);
    }
    return us_csum_update32(csum, oldv, newv);
}

/* Replace the 32-bit field at hdr + off (off counted from the checksummed message's start) and
 * patch *csum. */
static inline void patch32(uint8_t *hdr, size_t off, uint32_t newv, uint16_t *csum)
{
    uint32_t oldv = us_get_be32(hdr + off);
    us_put_be32(hdr + off, newv);
    *csum = csum_update32_at(*csum, oldv, newv, off);
}

/* A checksum after fields changed by delta = the sum of ~old and new 16-bit words (< 2^20). */
static inline uint16_t csum_add_delta(uint16_t csum, uint32_t delta)
{
    return (uint16_t)~us_csum_fold((uint32_t)(uint16_t)~csum + delta);
}

/* csum_add_delta with the delta folded to 16 bits first, which gives the same bits: both fold sums
 * that are congruent modulo 0xffff, zero exactly when ~csum and the delta are, and a fold returns
 * the one value of [1, 0xffff] congruent to a nonzero sum. With both terms below 2^16 one step of
 * the fold is all of it. */
static inline uint16_t csum_add_delta16(uint16_t csum, uint16_t delta16)
{
    uint32_t s = (uint32_t)(uint16_t)~csum + delta16; /* <= 0x1fffe */
    return (uint16_t)~((s & 0xFFFFu) + (s >> 16));
}

/* Shift every SACK edge in the TCP options at tcp[20, hl) by delta. */
static void patch_sack(uint8_t *tcp, size_t hl, uint32_t delta, uint16_t *csum)
{
    size_t i = US_TCP_HDR_LEN;
    while (i < hl) {
        uint8_t kind = tcp[i];
        if (kind == US_TCP_OPT_EOL)
            break;
        if (kind == US_TCP_OPT_NOP) {
            i++;
            continue;
        }
        if (i + 1 >= hl)
            break;
        size_t olen = tcp[i + 1];
        if (olen < 2 || i + olen > hl)
            break;
        if (kind == US_TCP_OPT_SACK && (olen - 2) % 8 == 0) {
            for (size_t b = i + 2; b + 4 <= i + olen; b += 4)
                patch32(tcp, b, us_get_be32(tcp + b) + delta, csum);
        }
        i += olen;
    }
}

/* The peer identity of recorded address ip, or NULL if it is no flow's client. */
static const sb_endpoint *peer_of_ip(const sb_rw *rw, uint32_t ip)
{
    uint8_t k[SB__KEYMAP_KEY];
    ip_key(k, ip);
    uint32_t *v = sb__keymap_get(&rw->maps_->hosts, k);
    return v ? &rw->host_peer[*v] : NULL;
}

static bool is_server_ip(const sb_rw *rw, uint32_t ip)
{
    uint8_t k[SB__KEYMAP_KEY];
    ip_key(k, ip);
    return sb__keymap_get(&rw->maps_->servers, k) != NULL;
}

/* ARP between a recorded client and a recorded server: the client's side goes to the stack, the
 * server's side is the stack's. Returns false (nothing written) for any other frame. */
static bool rewrite_arp(const sb_rw *rw, const uint8_t *in, size_t len, uint8_t *out,
                        sb_rw_action *act)
{
    static const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    static const uint8_t zero[6] = {0, 0, 0, 0, 0, 0};
    us_eth_repr e;
    size_t off;
    us_arp_repr a;
    if (us_eth_parse(&e, in, len, &off) != US_WIRE_OK || e.ethertype != US_ETHERTYPE_ARP ||
        off != US_ETH_HDR_LEN || us_arp_parse(&a, in + off, len - off) != US_WIRE_OK)
        return false;
    const sb_endpoint *peer;
    bool to_stack;
    if ((peer = peer_of_ip(rw, a.spa)) != NULL && is_server_ip(rw, a.tpa))
        to_stack = true;
    else if ((peer = peer_of_ip(rw, a.tpa)) != NULL && is_server_ip(rw, a.spa))
        to_stack = false;
    else
        return false;
    const sb_endpoint *from = to_stack ? peer : &rw->cfg.stack;
    const sb_endpoint *to = to_stack ? &rw->cfg.stack : peer;
    if (out != in)
        memmove(out, in, len);
    us_eth_repr ne = e;
    memcpy(ne.src, from->mac, 6);
    if (memcmp(e.dst, bcast, 6) != 0)
        memcpy(ne.dst, to->mac, 6);
    us_eth_emit(&ne, out);
    memcpy(a.sha, from->mac, 6);
    a.spa = from->ip;
    if (memcmp(a.tha, zero, 6) != 0)
        memcpy(a.tha, to->mac, 6);
    a.tpa = to->ip;
    us_arp_emit(&a, out + off);
    *act = to_stack ? SB_RW_TO_STACK : SB_RW_FROM_STACK;
    return true;
}

/* The IPv4 header fields the rewriting reads. */
typedef struct rw_ipv4 {
    uint32_t src, dst;
    size_t header_len, payload_len;
    uint16_t frag_offset; /* in 8-byte units: only whether it is 0 matters */
    bool more_frags;
    uint8_t proto;
} rw_ipv4;

/* Read the IPv4 header of an untagged Ethernet II frame (a trace's frames are normalised so).
 * Only the checks that keep every later access inside the frame: the frame's flow was found by
 * parsing these same bytes in full (sb_flows_extract), and doing that again for every replayed
 * frame cost more than the rewriting itself. */
static bool rw_ipv4_read(const uint8_t *in, size_t len, rw_ipv4 *ip)
{
    if (len < US_ETH_HDR_LEN + US_IPV4_HDR_LEN ||
        us_get_be16(in + 2 * US_ETH_ADDR_LEN) != US_ETHERTYPE_IPV4)
        return false;
    const uint8_t *h = in + US_ETH_HDR_LEN;
    size_t avail = len - US_ETH_HDR_LEN;
    size_t hl = (size_t)(h[0] & 0x0Fu) * 4u, total = us_get_be16(h + 2);
    if ((h[0] >> 4) != 4 || hl < US_IPV4_HDR_LEN || hl > avail || total < hl || total > avail)
        return false;
    uint16_t frag = us_get_be16(h + 6);
    ip->src = us_get_be32(h + IP_SRC_OFF);
    ip->dst = us_get_be32(h + IP_DST_OFF);
    ip->header_len = hl;
    ip->payload_len = total - hl;
    ip->frag_offset = frag & 0x1FFFu;
    ip->more_frags = (frag & 0x2000u) != 0;
    ip->proto = h[9];
    return true;
}

/* The TCP header fields the rewriting reads. */
typedef struct rw_tcp {
    uint32_t seq, ack;
    uint8_t flags;
    uint8_t header_len;
    uint8_t sack_count;
} rw_tcp;

/* Read the TCP header at l4 (a segment of len bytes from src to dst) into *t; false where
 * us_tcp_parse (checksum not verified) refuses it. The usual layouts, no options or NOP NOP
 * timestamps, are read directly: us_tcp_parse accepts them whenever the header fits, and they hold
 * no SACK blocks; any other goes through us_tcp_parse. */
static inline bool rw_tcp_read(const uint8_t *l4, size_t len, uint32_t src, uint32_t dst,
                               rw_tcp *t)
{
    static const uint8_t nop_nop_ts[4] = {US_TCP_OPT_NOP, US_TCP_OPT_NOP, US_TCP_OPT_TS, 10};
    if (len >= US_TCP_HDR_LEN && len <= US_IPV4_MAX_LEN) {
        size_t hl = (size_t)(l4[12] >> 4) * 4;
        if (hl <= len && (hl == US_TCP_HDR_LEN ||
                          (hl == US_TCP_HDR_LEN + 12 && memcmp(l4 + 20, nop_nop_ts, 4) == 0))) {
            t->seq = us_get_be32(l4 + 4);
            t->ack = us_get_be32(l4 + 8);
            t->flags = l4[13];
            t->header_len = (uint8_t)hl;
            t->sack_count = 0;
            return true;
        }
    }
    us_tcp_repr r;
    if (us_tcp_parse(&r, l4, len, src, dst, US_WIRE_SKIP_CSUM) != US_WIRE_OK)
        return false;
    t->seq = r.seq;
    t->ack = r.ack;
    t->flags = r.flags;
    t->header_len = r.header_len;
    t->sack_count = r.sack_count;
    return true;
}

/* The rewrite of a frame that needs only its flow's constants (c, for its flow and direction dir):
 * the shape c was made for (so an IPv4 frame that rw_ipv4_read accepts once its total length is
 * checked, neither TCP nor a later fragment), between the addresses c was made for. Writes out
 * exactly what the full path of sb_rw_frame would, sets *act and counts it, and returns true; false
 * (nothing written or counted) for any other frame. */
static inline bool rw_cached(sb_rw *rw, const rw_flow_cache *c, unsigned dir, const uint8_t *in,
                             size_t len, uint8_t *out, sb_rw_action *act)
{
    enum { IP = US_ETH_HDR_LEN };
    static const uint8_t shape_mask[4] = {0xff, 0xff, 0xff, 0}; /* not the DSCP/ECN byte */
    uint32_t shape, want, mask;
    if (!c->valid || len < IP + US_IPV4_HDR_LEN)
        return false;
    memcpy(&shape, in + 2 * US_ETH_ADDR_LEN, 4);
    memcpy(&want, c->shape, 4);
    memcpy(&mask, shape_mask, 4);
    size_t total = us_get_be16(in + IP + 2);
    if ((shape & mask) != want || in[IP + 9] != c->proto ||
        (us_get_be16(in + IP + 6) & 0x1FFFu) != 0 || total < c->min_total || total > len - IP ||
        memcmp(in + IP + IP_SRC_OFF, c->old_addrs, 8) != 0)
        return false;
    if (dir == SB_C2S) {
        *act = SB_RW_TO_STACK;
        rw->stats.to_stack++;
    } else {
        *act = SB_RW_FROM_STACK;
        rw->stats.from_stack++;
    }
    if (out != in)
        memmove(out, in, len);
    memcpy(out, c->macs, sizeof c->macs);
    uint8_t *iph = out + IP;
    memcpy(iph + IP_SRC_OFF, c->new_addrs, 8);
    /* The checksums in wire byte order as they lie, the delta likewise: ones-complement sums do
     * not depend on the byte order (RFC 1071 2(B): swapping the bytes of every term swaps those
     * of the sum, 0 and 0xffff included), so these are the bytes the full path writes. */
    uint16_t w;
    memcpy(&w, iph + IP_CSUM_OFF, 2);
    w = csum_add_delta16(w, c->delta_wire);
    memcpy(iph + IP_CSUM_OFF, &w, 2);
    if (c->udp) {
        uint8_t *l4o = iph + c->hl;
        memcpy(&w, l4o + UDP_CSUM_OFF, 2);
        if (w != 0) { /* 0: sent without checksum, stays so */
            w = csum_add_delta16(w, c->delta_wire);
            if (w == 0)
                w = 0xffffu;
            memcpy(l4o + UDP_CSUM_OFF, &w, 2);
        }
    }
    return true;
}

/* The full rewrite: every frame rw_cached does not take (and the first of each flow and
 * direction, whose rewrite it remembers for them). Kept out of line so that the cached path stays
 * a small function. */
static SB_NOINLINE sb_status rw_frame_full(sb_rw *rw, size_t index, uint32_t fi,
                                                         const uint8_t *in, size_t len,
                                                         uint8_t *out, sb_rw_action *act,
                                                         sb_err *err)
{
    const sb_flows *fl = rw->flows;
    if (fi == SB_FLOW_NONE && rewrite_arp(rw, in, len, out, act)) {
        if (*act == SB_RW_TO_STACK)
            rw->stats.to_stack++;
        else
            rw->stats.from_stack++;
        return SB_OK;
    }
    if (fi == SB_FLOW_NONE) {
        if (out != in)
            memmove(out, in, len);
        *act = SB_RW_SKIP;
        rw->stats.skipped++;
        return SB_OK;
    }
    /* Check everything on in first. */
    const size_t off = US_ETH_HDR_LEN;
    rw_ipv4 ip;
    if (!rw_ipv4_read(in, len, &ip))
        return sb__fail(err, SB_EINVAL, "rewriter: frame %zu is not the IPv4 frame of flow %u",
                        index, (unsigned)fi);
    const sb_flow *f = &fl->flows[fi];
    unsigned dir = fl->frame_dir[index];
    const sb_endpoint *peer = &rw->host_peer[rw->flow_host[fi]];
    const uint8_t *l4 = in + off + ip.header_len;
    size_t l4len = ip.payload_len;
    bool has_l4 = ip.frag_offset == 0; /* later fragments carry no L4 header */

    rw_tcp t;
    bool tcp = false;
    if (has_l4 && ip.proto == US_IP_PROTO_TCP) {
        tcp = rw_tcp_read(l4, l4len, ip.src, ip.dst, &t);
        if (!tcp && !ip.more_frags)
            return sb__fail(err, SB_EINVAL, "rewriter: frame %zu: unparseable TCP header",
                            index);
    }
    /* What the sequence space mapping needs. */
    bool map_ack = false, map_seq = false; /* ack/SACK and seq of this segment */
    uint32_t ack_delta = 0, seq_delta = 0;
    if (tcp) {
        bool ack = t.flags & US_TCP_ACK;
        /* The stack's side: peer acks (C2S) and the server's seq (S2C). */
        bool stack_side = dir == SB_C2S ? ack : true;
        /* The peer's side: its seq (C2S) and the server's acks (S2C), if mapped at all. */
        bool peer_side = rw->cfg.map_peer_seq && (dir == SB_C2S ? true : ack);
        if (stack_side) {
            if (!f->isn_known[SB_S2C])
                return sb__fail(err, SB_EUNSUPPORTED,
                                "rewriter: frame %zu: flow %u has no recorded SYN-ACK, its "
                                "server ISN is unknown",
                                index, (unsigned)fi);
            if (!rw->isn_known[fi]) {
                rw->stats.need_isn++;
                return sb__fail(err, SB_EAGAIN,
                                "rewriter: frame %zu: the stack's ISN for flow %u is not known yet",
                                index, (unsigned)fi);
            }
        }
        if (peer_side && !f->isn_known[SB_C2S])
            return sb__fail(err, SB_EUNSUPPORTED,
                            "rewriter: frame %zu: flow %u has no recorded SYN, its client ISN is "
                            "unknown",
                            index, (unsigned)fi);
        uint32_t stack_delta = rw->stack_isn[fi] - f->isn[SB_S2C];
        uint32_t peer_delta = rw->cfg.peer_isn - f->isn[SB_C2S];
        if (dir == SB_C2S) {
            map_ack = stack_side;
            ack_delta = stack_delta;
            map_seq = peer_side;
            seq_delta = peer_delta;
        } else {
            map_seq = stack_side;
            seq_delta = stack_delta;
            map_ack = peer_side;
            ack_delta = peer_delta;
        }
    }

    /* Now write. */
    if (out != in)
        memmove(out, in, len);
    uint32_t new_src = dir == SB_C2S ? peer->ip : rw->cfg.stack.ip;
    uint32_t new_dst = dir == SB_C2S ? rw->cfg.stack.ip : peer->ip;
    memcpy(out, dir == SB_C2S ? rw->cfg.stack.mac : peer->mac, US_ETH_ADDR_LEN);
    memcpy(out + US_ETH_ADDR_LEN, dir == SB_C2S ? peer->mac : rw->cfg.stack.mac, US_ETH_ADDR_LEN);

    uint8_t *iph = out + off;
    us_put_be32(iph + IP_SRC_OFF, new_src);
    us_put_be32(iph + IP_DST_OFF, new_dst);
    /* The two addresses change the IPv4 header checksum and, through the pseudo-header, the TCP or
     * UDP one by the same amount: summed once, added to each (RFC 1624 eqn. 3; folding once gives
     * the same bits as updating field by field). */
    uint32_t addr_delta = (uint16_t)~(ip.src >> 16) + (uint16_t)~(ip.src & 0xFFFFu) +
                          (uint16_t)~(ip.dst >> 16) + (uint16_t)~(ip.dst & 0xFFFFu) +
                          (new_src >> 16) + (new_src & 0xFFFFu) + (new_dst >> 16) +
                          (new_dst & 0xFFFFu);
    uint16_t ipcsum = us_get_be16(iph + IP_CSUM_OFF);
    us_put_be16(iph + IP_CSUM_OFF, csum_add_delta(ipcsum, addr_delta));

    uint8_t *l4o = iph + ip.header_len;
    if (tcp) {
        uint16_t c = csum_add_delta(us_get_be16(l4o + TCP_CSUM_OFF), addr_delta);
        if (map_seq)
            patch32(l4o, TCP_SEQ_OFF, t.seq + seq_delta, &c);
        if (map_ack) {
            patch32(l4o, TCP_ACK_OFF, t.ack + ack_delta, &c);
            if (t.sack_count)
                patch_sack(l4o, t.header_len, ack_delta, &c);
        }
        us_put_be16(l4o + TCP_CSUM_OFF, c);
    } else if (has_l4 && ip.proto == US_IP_PROTO_UDP && l4len >= US_UDP_HDR_LEN) {
        uint16_t c = us_get_be16(l4o + UDP_CSUM_OFF);
        if (c != 0) { /* 0: sent without checksum, stays so */
            c = csum_add_delta(c, addr_delta);
            us_put_be16(l4o + UDP_CSUM_OFF, c ? c : 0xffffu);
        }
    }
    /* ICMP: its checksum does not cover the addresses. */

    /* What this flow's later frames this way can reuse (rw_cached): all of it follows from the
     * flow, the direction, the recorded addresses and the frame's shape, whichever frame it is
     * (rw_cached decides per frame whether there is a UDP header to patch); not from TCP, whose
     * segments rw_cached never takes. */
    if (ip.proto != US_IP_PROTO_TCP) {
        rw_flow_cache *cache =
            &rw->maps_->cache[2 * (size_t)fi + (dir == SB_C2S ? SB_C2S : SB_S2C)];
        cache->udp = ip.proto == US_IP_PROTO_UDP;
        cache->proto = ip.proto;
        cache->hl = (uint8_t)ip.header_len;
        cache->min_total = (uint8_t)(ip.header_len + (cache->udp ? US_UDP_HDR_LEN : 0));
        memcpy(cache->shape, in + 2 * US_ETH_ADDR_LEN, 3);
        cache->shape[3] = 0;
        us_put_be32(cache->old_addrs, ip.src);
        us_put_be32(cache->old_addrs + 4, ip.dst);
        memcpy(cache->macs, out, sizeof cache->macs);
        memcpy(cache->new_addrs, iph + IP_SRC_OFF, sizeof cache->new_addrs);
        uint8_t wire[2];
        us_put_be16(wire, us_csum_fold(addr_delta));
        memcpy(&cache->delta_wire, wire, 2);
        cache->valid = true;
        rw->maps_->cached = true;
    }
    *act = dir == SB_C2S ? SB_RW_TO_STACK : SB_RW_FROM_STACK;
    if (dir == SB_C2S)
        rw->stats.to_stack++;
    else
        rw->stats.from_stack++;
    return SB_OK;
}

sb_status sb_rw_frame(sb_rw *rw, size_t index, const uint8_t *in, size_t len, uint8_t *out,
                      sb_rw_action *act, sb_err *err)
{
    const sb_flows *fl = rw->flows;
    if (index >= fl->n_frames)
        return sb__fail(err, SB_EINVAL, "rewriter: frame %zu beyond the trace's %zu", index,
                        fl->n_frames);
    uint32_t fi = fl->frame_flow[index];
    if (fi != SB_FLOW_NONE) {
        unsigned d = fl->frame_dir[index] == SB_C2S ? SB_C2S : SB_S2C;
        if (rw_cached(rw, &rw->maps_->cache[2 * (size_t)fi + d], d, in, len, out, act))
            return SB_OK;
    }
    return rw_frame_full(rw, index, fi, in, len, out, act, err);
}
