/* sbtraffic open-mode rewriting: three_http_streams onto a stack with made-up ISNs (addresses,
 * MACs, seq/ack exact, every checksum verified after the incremental updates), waiting for the
 * stack's ISN, learning it from a SYN-ACK, peer seq mapping, in-place use, fragmented UDP (the
 * checksum verified over the reassembled datagram), SACK edges at odd and even offsets, ARP, peer
 * identities, refusals. */
#include "traffic_test.h"

#include "sbtraffic/flows.h"
#include "sbtraffic/gen.h"
#include "sbtraffic/rewrite.h"

#define STACK_IP 0x0a000001u /* defaults of sb_rw_config_default */
#define PEER_IP 0x0a000101u

static const uint8_t stack_mac[6] = {2, 0, 0, 0, 0, 1};
static const uint8_t peer_mac[6] = {2, 0, 0, 0, 1, 1};

typedef struct fixture {
    sb_trace t;
    sb_flows f;
    sb_rw rw;
} fixture;

static void setup_public(fixture *x, const char *name, const sb_rw_config *cfg)
{
    char p[512];
    assert_int_equal(sb_trace_load(&x->t, tt_public(p, name), NULL, NULL), SB_OK);
    assert_int_equal(sb_flows_extract(&x->f, &x->t, NULL), SB_OK);
    assert_int_equal(sb_rw_init(&x->rw, cfg, &x->f, NULL), SB_OK);
}

static void teardown(fixture *x)
{
    sb_rw_free(&x->rw);
    sb_flows_free(&x->f);
    sb_trace_free(&x->t);
}

/* The headers of a rewritten TCP frame, checksums verified. */
typedef struct seg {
    us_eth_repr eth;
    us_ipv4_repr ip;
    us_tcp_repr tcp;
} seg;

static void parse_seg(seg *s, const uint8_t *f, size_t len)
{
    size_t off;
    assert_int_equal(us_eth_parse(&s->eth, f, len, &off), US_WIRE_OK);
    assert_int_equal(us_ipv4_parse(&s->ip, f + off, len - off, 0), US_WIRE_OK);
    assert_int_equal(us_tcp_parse(&s->tcp, f + off + s->ip.header_len, s->ip.payload_len,
                                  s->ip.src, s->ip.dst, 0),
                     US_WIRE_OK);
}

/* Rewrite frame i into out; returns the action. */
static sb_rw_action rewrite(fixture *x, size_t i, uint8_t *out)
{
    sb_rw_action act;
    sb_err err;
    sb_status st = sb_rw_frame(&x->rw, i, x->t.frames[i].data, x->t.frames[i].len, out, &act, &err);
    if (st != SB_OK)
        fail_msg("frame %zu: %s", i, err.msg);
    return act;
}

static void set_isn(fixture *x, uint32_t fi, uint32_t isn)
{
    sb_flow_key k;
    assert_int_equal(sb_rw_flow_key(&x->rw, fi, &k), SB_OK);
    assert_int_equal(k.client_ip, PEER_IP);
    assert_int_equal(k.server_ip, STACK_IP);
    assert_int_equal(sb_rw_set_stack_isn_by_key(&x->rw, &k, isn, NULL), SB_OK);
}

static void test_rewrite_three_http_streams_to_stack(void **state)
{
    (void)state;
    fixture x;
    setup_public(&x, "three_http_streams.pcap", NULL);
    for (uint32_t fi = 0; fi < 3; fi++)
        set_isn(&x, fi, 1000 + 100000 * fi);
    for (size_t i = 0; i < x.t.n; i++) {
        uint8_t out[1514];
        sb_rw_action act = rewrite(&x, i, out);
        seg orig, s;
        parse_seg(&orig, x.t.frames[i].data, x.t.frames[i].len);
        parse_seg(&s, out, x.t.frames[i].len); /* every checksum still verifies */
        uint32_t fi = x.f.frame_flow[i];
        const sb_flow *fl = &x.f.flows[fi];
        uint32_t stack_isn = 1000 + 100000 * fi;
        assert_int_equal(act, x.f.frame_dir[i] == SB_C2S ? SB_RW_TO_STACK : SB_RW_FROM_STACK);
        if (act == SB_RW_TO_STACK) {
            assert_memory_equal(s.eth.dst, stack_mac, 6);
            assert_memory_equal(s.eth.src, peer_mac, 6);
            assert_int_equal(s.ip.src, PEER_IP);
            assert_int_equal(s.ip.dst, STACK_IP);
            assert_int_equal(s.tcp.seq, orig.tcp.seq);
            if (orig.tcp.flags & US_TCP_ACK)
                assert_int_equal(s.tcp.ack, orig.tcp.ack - fl->isn[SB_S2C] + stack_isn);
            else
                assert_int_equal(s.tcp.ack, orig.tcp.ack);
        } else {
            assert_memory_equal(s.eth.src, stack_mac, 6);
            assert_memory_equal(s.eth.dst, peer_mac, 6);
            assert_int_equal(s.ip.src, STACK_IP);
            assert_int_equal(s.ip.dst, PEER_IP);
            assert_int_equal(s.tcp.seq, orig.tcp.seq - fl->isn[SB_S2C] + stack_isn);
            assert_int_equal(s.tcp.ack, orig.tcp.ack);
        }
        assert_int_equal(s.tcp.src_port, orig.tcp.src_port);
        assert_int_equal(s.tcp.dst_port, orig.tcp.dst_port);
        assert_int_equal(s.tcp.flags, orig.tcp.flags);
        assert_int_equal(s.tcp.payload_len, orig.tcp.payload_len);
        assert_memory_equal(s.tcp.payload, orig.tcp.payload, orig.tcp.payload_len);
        assert_int_equal(s.ip.ident, orig.ip.ident);
    }
    /* Exact values, flow 0 (stack ISN 1000, recorded server ISN 4227263715). */
    uint8_t out[1514];
    seg s;
    rewrite(&x, 4, out); /* frame 5: the handshake's ACK */
    parse_seg(&s, out, x.t.frames[4].len);
    assert_int_equal(s.tcp.seq, 1034549865u);
    assert_int_equal(s.tcp.ack, 1001);
    rewrite(&x, 5, out); /* frame 6: the 377-byte request */
    parse_seg(&s, out, x.t.frames[5].len);
    assert_int_equal(s.tcp.ack, 1001);
    assert_int_equal(s.tcp.payload_len, 377);
    rewrite(&x, 15, out); /* frame 16: the client's FIN, acking 441 bytes + FIN */
    parse_seg(&s, out, x.t.frames[15].len);
    assert_int_equal(s.tcp.ack, 1443);
    rewrite(&x, 3, out); /* frame 4: the recorded SYN-ACK, as the stack's */
    parse_seg(&s, out, x.t.frames[3].len);
    assert_int_equal(s.tcp.seq, 1000);
    assert_int_equal(s.tcp.ack, 1034549865u);
    rewrite(&x, 26, out); /* frame 27: flow 2's last ACK (stack ISN 201000, server ISN 545268) */
    parse_seg(&s, out, x.t.frames[26].len);
    assert_int_equal(s.tcp.seq, 201000 + 545654 - 545268);
    assert_int_equal(x.rw.stats.collisions, 0);
    teardown(&x);
}

/* As tcpliveplay: the peer's ACK of the SYN-ACK waits until the stack's ISN is known. */
static void test_rewrite_ack_waits_for_stack_isn(void **state)
{
    (void)state;
    fixture x;
    setup_public(&x, "three_http_streams.pcap", NULL);
    uint8_t out[1514];
    assert_int_equal(rewrite(&x, 0, out), SB_RW_TO_STACK); /* a SYN needs no ISN */
    seg s;
    parse_seg(&s, out, x.t.frames[0].len);
    assert_int_equal(s.tcp.flags, US_TCP_SYN);

    memset(out, 0xaa, sizeof out);
    sb_rw_action act;
    sb_err err;
    assert_int_equal(sb_rw_frame(&x.rw, 4, x.t.frames[4].data, x.t.frames[4].len, out, &act, &err),
                     SB_EAGAIN);
    assert_non_null(strstr(err.msg, "ISN"));
    for (size_t i = 0; i < sizeof out; i++)
        assert_int_equal(out[i], 0xaa); /* untouched */
    assert_int_equal(sb_rw_frame(&x.rw, 3, x.t.frames[3].data, x.t.frames[3].len, out, &act, NULL),
                     SB_EAGAIN);
    assert_int_equal(x.rw.stats.need_isn, 2);

    /* The stack answers the SYN: 10.0.0.1:80 -> 10.0.1.1:54615, SYN-ACK, seq 777. */
    tt_host st = {STACK_IP, {2, 0, 0, 0, 0, 1}, 80}, pe = {PEER_IP, {2, 0, 0, 0, 1, 1}, 54615};
    uint8_t synack[1514];
    size_t n = tt_tcp_frame(synack, &st, &pe, US_TCP_SYN | US_TCP_ACK, 777, 1034549865u, 0, NULL,
                            0);
    uint32_t fi = 7;
    uint8_t ack_only[1514];
    size_t m = tt_tcp_frame(ack_only, &st, &pe, US_TCP_ACK, 778, 1034549865u, 0, NULL, 0);
    assert_int_equal(sb_rw_learn(&x.rw, ack_only, m, &fi), SB_OK);
    assert_int_equal(fi, SB_FLOW_NONE);
    assert_int_equal(sb_rw_learn(&x.rw, synack, n, &fi), SB_OK);
    assert_int_equal(fi, 0);
    assert_int_equal(rewrite(&x, 4, out), SB_RW_TO_STACK);
    parse_seg(&s, out, x.t.frames[4].len);
    assert_int_equal(s.tcp.ack, 778);
    teardown(&x);
}

/* With map_peer_seq the peer's sequence numbers start at peer_isn, and the recorded server's acks
 * follow. */
static void test_rewrite_map_peer_seq(void **state)
{
    (void)state;
    sb_rw_config cfg = sb_rw_config_default();
    cfg.map_peer_seq = true;
    cfg.peer_isn = 5000;
    fixture x;
    setup_public(&x, "three_http_streams.pcap", &cfg);
    assert_int_equal(sb_rw_set_stack_isn(&x.rw, 0, 1000, NULL), SB_OK);
    uint8_t out[1514];
    seg s;
    rewrite(&x, 0, out);
    parse_seg(&s, out, x.t.frames[0].len);
    assert_int_equal(s.tcp.seq, 5000);
    rewrite(&x, 5, out);
    parse_seg(&s, out, x.t.frames[5].len);
    assert_int_equal(s.tcp.seq, 5001);
    assert_int_equal(s.tcp.ack, 1001);
    rewrite(&x, 3, out);
    parse_seg(&s, out, x.t.frames[3].len);
    assert_int_equal(s.tcp.seq, 1000);
    assert_int_equal(s.tcp.ack, 5001);
    rewrite(&x, 12, out); /* frame 13: the 441-byte response acks the 377-byte request */
    parse_seg(&s, out, x.t.frames[12].len);
    assert_int_equal(s.tcp.seq, 1001);
    assert_int_equal(s.tcp.ack, 5001 + 377);
    assert_int_equal(sb_rw_set_stack_isn(&x.rw, 3, 1, NULL), SB_EINVAL); /* no flow 3 */
    teardown(&x);
}

static void test_rewrite_in_place_same_as_copy(void **state)
{
    (void)state;
    fixture x;
    setup_public(&x, "three_http_streams.pcap", NULL);
    for (uint32_t fi = 0; fi < 3; fi++)
        assert_int_equal(sb_rw_set_stack_isn(&x.rw, fi, 0xfffffff0u, NULL), SB_OK); /* wraps */
    for (size_t i = 0; i < x.t.n; i++) {
        uint8_t out[1514], buf[1514];
        size_t len = x.t.frames[i].len;
        rewrite(&x, i, out);
        memcpy(buf, x.t.frames[i].data, len);
        sb_rw_action act;
        assert_int_equal(sb_rw_frame(&x.rw, i, buf, len, buf, &act, NULL), SB_OK);
        assert_memory_equal(buf, out, len);
        tt_assert_frame_valid(out, len);
    }
    teardown(&x);
}

/* Fragmented UDP: every IPv4 header verifies; the UDP checksum, patched in the first fragment
 * only, verifies over the datagram reassembled with the new addresses. */
static void test_rewrite_fragments_udp_checksum_after_reassembly(void **state)
{
    (void)state;
    fixture x;
    setup_public(&x, "ip4_fragments.pcap", NULL);
    static uint8_t out[53][1514];
    for (size_t i = 0; i < x.t.n; i++) {
        sb_rw_action act = rewrite(&x, i, out[i]);
        us_ipv4_repr ip;
        assert_int_equal(us_ipv4_parse(&ip, out[i] + 14, x.t.frames[i].len - 14, 0), US_WIRE_OK);
        assert_int_equal(act == SB_RW_TO_STACK ? ip.dst : ip.src, STACK_IP);
        assert_int_equal(act == SB_RW_TO_STACK ? ip.src : ip.dst, PEER_IP);
        if (i == 28) { /* frame 29: an unfragmented reply */
            assert_int_equal(act, SB_RW_FROM_STACK);
            tt_assert_frame_valid(out[i], x.t.frames[i].len);
        }
    }
    /* Datagram 0x1ea0: frames 1..6. */
    static uint8_t dgram[8320];
    size_t total = 0;
    for (size_t i = 0; i < 6; i++) {
        us_ipv4_repr ip;
        assert_int_equal(us_ipv4_parse(&ip, out[i] + 14, x.t.frames[i].len - 14, 0), US_WIRE_OK);
        assert_int_equal(ip.ident, 0x1ea0);
        assert_true(ip.frag_offset + ip.payload_len <= sizeof dgram);
        memcpy(dgram + ip.frag_offset, out[i] + 14 + ip.header_len, ip.payload_len);
        total += ip.payload_len;
    }
    assert_int_equal(total, 8320);
    us_udp_repr u;
    assert_int_equal(us_udp_parse(&u, dgram, total, PEER_IP, STACK_IP, 0), US_WIRE_OK);
    assert_int_equal(u.src_port, 789);
    assert_int_equal(u.payload_len, 8312);
    /* ... and it would not verify with the recorded addresses any more. */
    assert_int_equal(us_udp_parse(&u, dgram, total, 0x0a76d5d4u, 0x0a76d5d3u, 0),
                     US_WIRE_BAD_CHECKSUM);
    assert_int_equal(x.rw.stats.to_stack, 50);
    assert_int_equal(x.rw.stats.from_stack, 3);
    teardown(&x);
}

/* SACK edges of a peer's segment follow the stack's ISN, at an odd and at an even offset. */
static void test_rewrite_sack_edges_odd_and_even_offsets(void **state)
{
    (void)state;
    const tt_host cli = {0xc0a80002u, {2, 0, 0, 0, 9, 2}, 40000};
    const tt_host srv = {0xc0a80001u, {2, 0, 0, 0, 9, 1}, 7};
    const uint32_t isn_s = 0xfffffff0u;
    uint8_t odd[12] = {1, 5, 10}, even[12] = {1, 1, 5, 10};
    us_put_be32(odd + 3, isn_s + 101); /* TCP offset 23 */
    us_put_be32(odd + 7, isn_s + 201);
    us_put_be32(even + 4, isn_s + 301); /* TCP offset 24 */
    us_put_be32(even + 8, isn_s + 401);
    tt_trace tt;
    tt_trace_init(&tt);
    uint8_t a = US_TCP_ACK;
    tt_trace_add(&tt, tt_tcp_frame(tt.bytes[0], &cli, &srv, US_TCP_SYN, 10, 0, 0, NULL, 0), 0);
    tt_trace_add(&tt, tt_tcp_frame(tt.bytes[1], &srv, &cli, US_TCP_SYN | a, isn_s, 11, 0, NULL, 0),
                 1);
    tt_trace_add(&tt, tt_tcp_frame(tt.bytes[2], &cli, &srv, a, 11, isn_s + 1, 0, odd, 12), 2);
    tt_trace_add(&tt, tt_tcp_frame(tt.bytes[3], &cli, &srv, a, 11, isn_s + 1, 3, even, 12), 3);
    sb_flows f;
    assert_int_equal(sb_flows_extract(&f, &tt.t, NULL), SB_OK);
    sb_rw rw;
    assert_int_equal(sb_rw_init(&rw, NULL, &f, NULL), SB_OK);
    assert_int_equal(sb_rw_set_stack_isn(&rw, 0, 5000, NULL), SB_OK);
    for (size_t i = 2; i < 4; i++) {
        uint8_t out[1514];
        sb_rw_action act;
        assert_int_equal(sb_rw_frame(&rw, i, tt.bytes[i], tt.frames[i].len, out, &act, NULL),
                         SB_OK);
        seg s;
        parse_seg(&s, out, tt.frames[i].len);
        assert_int_equal(s.tcp.ack, 5001);
        assert_int_equal(s.tcp.sack_count, 1);
        assert_int_equal(s.tcp.sack[0].left, i == 2 ? 5101 : 5301);
        assert_int_equal(s.tcp.sack[0].right, i == 2 ? 5201 : 5401);
    }
    sb_rw_free(&rw);
    sb_flows_free(&f);
}

static void gen_trace(fixture *x, sb_gen_kind kind, uint64_t duration_ns, uint32_t conns,
                      const sb_rw_config *cfg)
{
    char p[512];
    tt_tmp(p, "rewrite_gen.pcap");
    sb_gen_params gp;
    sb_gen_params_default(kind, &gp);
    gp.seed = 11;
    gp.duration_ns = duration_ns;
    if (conns)
        gp.conns = conns;
    sb_err err;
    if (sb_gen(kind, &gp, p, &err) != SB_OK)
        fail_msg("%s", err.msg);
    assert_int_equal(sb_trace_load(&x->t, p, NULL, NULL), SB_OK);
    unlink(p);
    assert_int_equal(sb_flows_extract(&x->f, &x->t, NULL), SB_OK);
    assert_int_equal(sb_rw_init(&x->rw, cfg, &x->f, NULL), SB_OK);
}

/* A generated bulk transfer replayed against another identity: the ARP exchange maps too, and a
 * harness-like loop that supplies the stack's ISN at the recorded SYN-ACK rewrites everything. */
static void test_rewrite_generated_bulk_with_arp(void **state)
{
    (void)state;
    sb_rw_config cfg = sb_rw_config_default();
    cfg.stack.ip = 0xc0a80701u; /* 192.168.7.1 */
    const uint8_t smac[6] = {2, 0xaa, 0, 0, 0, 1};
    memcpy(cfg.stack.mac, smac, 6);
    cfg.peer_ip_base = 0xac10000au; /* 172.16.0.10 */
    fixture x;
    gen_trace(&x, SB_GEN_TCP_BULK, 5000000, 0, &cfg);
    const uint8_t pmac[6] = {2, 0, 0, 0, 1, 1};
    uint8_t out[1514];
    /* Frame 0: the client's ARP request, broadcast. */
    assert_int_equal(rewrite(&x, 0, out), SB_RW_TO_STACK);
    us_arp_repr a;
    assert_int_equal(us_arp_parse(&a, out + 14, x.t.frames[0].len - 14), US_WIRE_OK);
    assert_int_equal(a.op, US_ARP_OP_REQUEST);
    assert_int_equal(a.spa, 0xac10000au);
    assert_memory_equal(a.sha, pmac, 6);
    assert_int_equal(a.tpa, 0xc0a80701u);
    const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    assert_memory_equal(out, bcast, 6);
    assert_memory_equal(out + 6, pmac, 6);
    /* Frame 1: the server's reply, now the stack's. */
    assert_int_equal(rewrite(&x, 1, out), SB_RW_FROM_STACK);
    assert_int_equal(us_arp_parse(&a, out + 14, x.t.frames[1].len - 14), US_WIRE_OK);
    assert_int_equal(a.op, US_ARP_OP_REPLY);
    assert_int_equal(a.spa, 0xc0a80701u);
    assert_memory_equal(a.sha, smac, 6);
    assert_int_equal(a.tpa, 0xac10000au);
    assert_memory_equal(a.tha, pmac, 6);
    assert_memory_equal(out, pmac, 6);

    size_t to_stack = 0;
    for (size_t i = 0; i < x.t.n; i++) {
        sb_rw_action act;
        sb_status st = sb_rw_frame(&x.rw, i, x.t.frames[i].data, x.t.frames[i].len, out, &act,
                                   NULL);
        if (st == SB_EAGAIN) { /* the recorded SYN-ACK: the stack answers with ISN 4242 */
            assert_int_equal(x.f.frame_dir[i], SB_S2C);
            assert_int_equal(sb_rw_set_stack_isn(&x.rw, x.f.frame_flow[i], 4242, NULL), SB_OK);
            st = sb_rw_frame(&x.rw, i, x.t.frames[i].data, x.t.frames[i].len, out, &act, NULL);
        }
        assert_int_equal(st, SB_OK);
        tt_assert_frame_valid(out, x.t.frames[i].len);
        to_stack += act == SB_RW_TO_STACK;
    }
    assert_int_equal(x.rw.stats.need_isn, 1);
    assert_int_equal(x.rw.stats.skipped, 0);
    assert_int_equal(x.rw.stats.to_stack, to_stack + 1); /* + frame 0 above */
    teardown(&x);
}

/* Remote hosts get peers base + k in order of first appearance; one can be set by hand. */
static void test_rewrite_peer_identities(void **state)
{
    (void)state;
    fixture x;
    gen_trace(&x, SB_GEN_IOT_MIX, 200000000, 5, NULL);
    assert_int_equal(x.rw.n_hosts, 5);
    for (size_t k = 0; k < x.rw.n_hosts; k++) {
        assert_int_equal(x.rw.host_peer[k].ip, PEER_IP + k);
        assert_int_equal(x.rw.host_peer[k].mac[5], 1 + k);
        assert_int_equal((x.rw.host_ip[k] >> 8), 0x0a0001u); /* recorded 10.0.1.x */
    }
    assert_int_equal(x.rw.host_ip[0], x.f.flows[0].key.client_ip);
    sb_endpoint me = {0xc0a80063u, {2, 0xbb, 0, 0, 0, 0x63}};
    assert_int_equal(sb_rw_set_peer(&x.rw, x.rw.host_ip[0], &me, NULL), SB_OK);
    sb_flow_key k;
    assert_int_equal(sb_rw_flow_key(&x.rw, 0, &k), SB_OK);
    assert_int_equal(k.client_ip, 0xc0a80063u);
    assert_int_equal(sb_rw_find(&x.rw, &k), 0);
    uint8_t out[1514];
    size_t i = x.f.flows[0].first_frame;
    assert_int_equal(rewrite(&x, i, out), SB_RW_TO_STACK); /* a UDP report or a SYN */
    assert_memory_equal(out + 6, me.mac, 6);
    assert_int_equal(us_get_be32(out + 14 + 12), 0xc0a80063u);
    tt_assert_frame_valid(out, x.t.frames[i].len);
    sb_err err;
    assert_int_equal(sb_rw_set_peer(&x.rw, 0x01020304u, &me, &err), SB_ENOTFOUND);
    assert_string_equal(err.msg, "rewriter: 1.2.3.4 is the client of no flow");
    teardown(&x);
}

/* A flow without its handshake cannot be mapped onto a live stack's ISN. */
static void test_rewrite_no_handshake_unsupported(void **state)
{
    (void)state;
    const tt_host cli = {0xc0a80002u, {2, 0, 0, 0, 9, 2}, 40000};
    const tt_host srv = {0xc0a80001u, {2, 0, 0, 0, 9, 1}, 7};
    tt_trace tt;
    tt_trace_init(&tt);
    tt_trace_add(&tt, tt_tcp_frame(tt.bytes[0], &cli, &srv, US_TCP_ACK, 11, 99, 10, NULL, 0), 0);
    sb_flows f;
    assert_int_equal(sb_flows_extract(&f, &tt.t, NULL), SB_OK);
    sb_rw rw;
    assert_int_equal(sb_rw_init(&rw, NULL, &f, NULL), SB_OK);
    uint8_t out[1514];
    sb_rw_action act;
    sb_err err;
    assert_int_equal(sb_rw_frame(&rw, 0, tt.bytes[0], tt.frames[0].len, out, &act, &err),
                     SB_EUNSUPPORTED);
    assert_non_null(strstr(err.msg, "no recorded SYN-ACK"));
    assert_int_equal(sb_rw_frame(&rw, 1, tt.bytes[0], tt.frames[0].len, out, &act, &err),
                     SB_EINVAL);
    sb_rw_free(&rw);
    sb_flows_free(&f);
}

/* Frames in no flow (CDP here) are copied unchanged and marked SKIP. */
static void test_rewrite_skip_frames_outside_flows(void **state)
{
    (void)state;
    char p[512];
    sb_trace_opts o = sb_trace_opts_default();
    o.keep_non_ip = true;
    fixture x;
    assert_int_equal(sb_trace_load(&x.t, tt_public(p, "VlanPackets.pcap"), &o, NULL), SB_OK);
    assert_int_equal(sb_flows_extract(&x.f, &x.t, NULL), SB_OK);
    assert_int_equal(sb_rw_init(&x.rw, NULL, &x.f, NULL), SB_OK);
    static uint8_t out[1514];
    assert_int_equal(rewrite(&x, 21, out), SB_RW_SKIP);
    assert_memory_equal(out, x.t.frames[21].data, x.t.frames[21].len);
    assert_int_equal(rewrite(&x, 0, out), SB_RW_TO_STACK); /* an echo request */
    tt_assert_frame_valid(out, x.t.frames[0].len);
    assert_int_equal(rewrite(&x, 1, out), SB_RW_FROM_STACK); /* its reply */
    tt_assert_frame_valid(out, x.t.frames[1].len);
    assert_int_equal(x.rw.stats.skipped, 1);
    teardown(&x);
}

/* Two recorded servers, one client port: after mapping both servers onto the stack the two flows
 * share a 5-tuple; counted. */
static void test_rewrite_collision_counted(void **state)
{
    (void)state;
    const tt_host cli = {0xc0a80002u, {2, 0, 0, 0, 9, 2}, 40000};
    const tt_host s1 = {0xc0a80001u, {2, 0, 0, 0, 9, 1}, 80};
    const tt_host s2 = {0xc0a80003u, {2, 0, 0, 0, 9, 3}, 80};
    tt_trace tt;
    tt_trace_init(&tt);
    tt_trace_add(&tt, tt_tcp_frame(tt.bytes[0], &cli, &s1, US_TCP_SYN, 1, 0, 0, NULL, 0), 0);
    tt_trace_add(&tt, tt_tcp_frame(tt.bytes[1], &cli, &s2, US_TCP_SYN, 1, 0, 0, NULL, 0), 1);
    sb_flows f;
    assert_int_equal(sb_flows_extract(&f, &tt.t, NULL), SB_OK);
    assert_int_equal(f.n, 2);
    sb_rw rw;
    assert_int_equal(sb_rw_init(&rw, NULL, &f, NULL), SB_OK);
    assert_int_equal(rw.stats.collisions, 1);
    assert_int_equal(rw.n_hosts, 1);
    sb_rw_free(&rw);
    sb_flows_free(&f);
}

/* The ISN the stack is said to have picked for flow fi in the equivalence tests: some flows get
 * one, the others none (their acks are refused with SB_EAGAIN). */
static void give_isns(sb_rw *rw, const sb_flows *f)
{
    for (uint32_t fi = 0; fi < f->n; fi++) {
        if (f->flows[fi].key.proto == US_IP_PROTO_TCP && fi % 3 != 2)
            assert_int_equal(sb_rw_set_stack_isn(rw, fi, 0x9e3779b9u * (fi + 1), NULL), SB_OK);
    }
}

/* Every frame of t rewritten by one rewriter in order (its cache warm: frames rewritten from their
 * flow's cached constants once one like them was rewritten in full), in place by another, and by a
 * fresh rewriter each (cache empty: the full rewrite): the same status, action, message and bytes,
 * a refused frame's buffer untouched, and the same counts in the end. */
static void assert_cached_same_as_full(const sb_trace *t)
{
    sb_flows f;
    assert_int_equal(sb_flows_extract(&f, t, NULL), SB_OK);
    sb_rw warm, inplace;
    assert_int_equal(sb_rw_init(&warm, NULL, &f, NULL), SB_OK);
    assert_int_equal(sb_rw_init(&inplace, NULL, &f, NULL), SB_OK);
    give_isns(&warm, &f);
    give_isns(&inplace, &f);
    sb_rw_stats sum;
    memset(&sum, 0, sizeof sum);
    static uint8_t a[1600], b[1600], c[1600];
    for (size_t i = 0; i < t->n; i++) {
        const sb_frame *fr = &t->frames[i];
        assert_true(fr->len <= sizeof a);
        sb_rw_action acta = SB_RW_SKIP, actb = SB_RW_SKIP, actc = SB_RW_SKIP;
        sb_err erra, errb, errc;
        memset(&erra, 0, sizeof erra);
        memset(&errb, 0, sizeof errb);
        memset(&errc, 0, sizeof errc);
        memset(a, 0x5a, sizeof a);
        memset(b, 0x5a, sizeof b);
        sb_status sa = sb_rw_frame(&warm, i, fr->data, fr->len, a, &acta, &erra);
        sb_rw full;
        assert_int_equal(sb_rw_init(&full, NULL, &f, NULL), SB_OK);
        give_isns(&full, &f);
        sb_status sbs = sb_rw_frame(&full, i, fr->data, fr->len, b, &actb, &errb);
        sum.to_stack += full.stats.to_stack;
        sum.from_stack += full.stats.from_stack;
        sum.skipped += full.stats.skipped;
        sum.need_isn += full.stats.need_isn;
        sb_rw_free(&full);
        memcpy(c, fr->data, fr->len);
        sb_status sc = sb_rw_frame(&inplace, i, c, fr->len, c, &actc, &errc);
        if (sa != sbs || sa != sc)
            fail_msg("frame %zu: status %d warm, %d full, %d in place", i, sa, sbs, sc);
        assert_memory_equal(a, b, sizeof a); /* the frame, and nothing beyond it */
        if (sa == SB_OK) {
            assert_int_equal(acta, actb);
            assert_int_equal(acta, actc);
            assert_memory_equal(c, a, fr->len);
        } else {
            assert_string_equal(erra.msg, errb.msg);
            assert_string_equal(erra.msg, errc.msg);
            assert_memory_equal(c, fr->data, fr->len);
        }
    }
    assert_int_equal(warm.stats.to_stack, sum.to_stack);
    assert_int_equal(warm.stats.from_stack, sum.from_stack);
    assert_int_equal(warm.stats.skipped, sum.skipped);
    assert_int_equal(warm.stats.need_isn, sum.need_isn);
    assert_memory_equal(&warm.stats, &inplace.stats, sizeof warm.stats);
    sb_rw_free(&warm);
    sb_rw_free(&inplace);
    sb_flows_free(&f);
}

/* The cached rewrite gives the full rewrite's frames, byte for byte, for every frame of every
 * public capture and canonical trace. */
static void test_rewrite_cached_same_as_full_traces(void **state)
{
    (void)state;
    sb_trace_opts to = sb_trace_opts_default();
    to.keep_partial = true;
    to.keep_non_ip = true; /* frames in no flow too */
    char p[512];
    for (size_t k = 0; k < TT_N_PUBLIC + TT_N_CANONICAL; k++) {
        const char *path = k < TT_N_PUBLIC ? tt_public(p, tt_public_names[k])
                                           : tt_canonical(p, tt_canonical_names[k - TT_N_PUBLIC]);
        sb_trace t;
        sb_status st = sb_trace_load(&t, path, &to, NULL);
        assert_true(st == SB_OK || st == SB_EPARTIAL);
        assert_cached_same_as_full(&t);
        sb_trace_free(&t);
    }
}

/* The UDP checksum change of flow 0 of the crafted conversation below (192.168.1.2 ->
 * 192.168.1.1 becomes the default peer -> the stack), folded. */
static uint16_t crafted_delta16(void)
{
    uint32_t d = 0;
    const uint32_t oldv[2] = {0xc0a80102u, 0xc0a80101u}, newv[2] = {PEER_IP, STACK_IP};
    for (int k = 0; k < 2; k++)
        d += (uint16_t)~(oldv[k] >> 16) + (uint16_t)~(oldv[k] & 0xffff) + (newv[k] >> 16) +
             (newv[k] & 0xffff);
    return us_csum_fold(d);
}

/* A UDP conversation whose frames change shape: the cache is made from the first frame of each
 * shape and used only for frames of that shape. 16 frames (see the table). */
static void crafted_udp(tt_trace *tt)
{
    const tt_host a = {0xc0a80102u, {2, 0, 0, 0, 9, 2}, 40000};
    const tt_host b = {0xc0a80101u, {2, 0, 0, 0, 9, 1}, 53};
    const struct {
        bool reply;
        size_t plen;
        tt_udp_shape s;
    } fr[16] = {
        {false, 10, {0}},                               /* 0: full, cached */
        {false, 20, {0}},                               /* 1: from the cache */
        {false, 4, {.no_csum = true}},                  /* 2: no UDP checksum: stays 0 */
        {false, 4, {.csum = 1}},                        /* 3: becomes 0: written 0xffff */
        {false, 8, {.ip_opts = 8}},                     /* 4: another shape: full */
        {false, 9, {.ip_opts = 8}},                     /* 5: ... then from the cache */
        {false, 3, {0}},                                /* 6: back: full */
        {false, 16, {.frag = 0x2000}},                  /* 7: first fragment: cache */
        {false, 8, {.frag = 0x0002}},                   /* 8: later fragment: full */
        {false, 0, {.total_delta = -3}},                /* 9: UDP header cut: no flow */
        {true, 5, {0}},                                 /* 10: the reply: full */
        {true, 6, {0}},                                 /* 11: ... then from the cache */
        {false, 2, {.total_delta = 1}},                 /* 12: beyond the frame: no flow */
        {false, 7, {.trailer = 6}},                     /* 13: Ethernet padding: cache */
        {false, 7, {0}},                                /* 14: DSCP set: cache */
        {false, 2, {.proto = US_IP_PROTO_ICMP}},        /* 15: no flow (ICMP type 0x9c) */
    };
    tt_trace_init(tt);
    for (size_t i = 0; i < 16; i++) {
        tt_udp_shape s = fr[i].s;
        if (i == 3)
            s.csum = crafted_delta16();
        size_t n = fr[i].reply ? tt_udp_frame(tt->bytes[i], &b, &a, fr[i].plen, &s)
                               : tt_udp_frame(tt->bytes[i], &a, &b, fr[i].plen, &s);
        if (i == 14) { /* DSCP EF, the IPv4 header checksum made again */
            uint8_t *ip = tt->bytes[i] + 14;
            ip[1] = 0xb8;
            us_put_be16(ip + 10, 0);
            us_put_be16(ip + 10, us_csum_finish(us_csum_partial(ip, 20, 0)));
        }
        tt_trace_add(tt, n, 1000 * i);
    }
}

static void test_rewrite_cached_same_as_full_shapes(void **state)
{
    (void)state;
    static tt_trace tt;
    crafted_udp(&tt);
    assert_cached_same_as_full(&tt.t);
    /* And exactly: */
    sb_flows f;
    assert_int_equal(sb_flows_extract(&f, &tt.t, NULL), SB_OK);
    assert_int_equal(f.n, 1);
    for (size_t i = 0; i < 16; i++) /* in no flow: 9, 12, 15 */
        assert_int_equal(f.frame_flow[i], i == 9 || i == 12 || i == 15 ? SB_FLOW_NONE : 0);
    sb_rw rw;
    assert_int_equal(sb_rw_init(&rw, NULL, &f, NULL), SB_OK);
    uint8_t out[1514];
    sb_rw_action act;
    for (size_t i = 0; i < 16; i++) {
        sb_err err;
        sb_status st = sb_rw_frame(&rw, i, tt.bytes[i], tt.frames[i].len, out, &act, &err);
        assert_int_equal(st, SB_OK);
        if (i == 9 || i == 12 || i == 15) {
            assert_int_equal(act, SB_RW_SKIP);
            continue;
        }
        bool reply = i == 10 || i == 11;
        assert_int_equal(act, reply ? SB_RW_FROM_STACK : SB_RW_TO_STACK);
        us_ipv4_repr ip;
        assert_int_equal(us_ipv4_parse(&ip, out + 14, tt.frames[i].len - 14, 0), US_WIRE_OK);
        assert_int_equal(ip.src, reply ? STACK_IP : PEER_IP);
        assert_int_equal(ip.dst, reply ? PEER_IP : STACK_IP);
        assert_memory_equal(out, reply ? peer_mac : stack_mac, 6);
        assert_memory_equal(out + 6, reply ? stack_mac : peer_mac, 6);
        const uint8_t *udp = out + 14 + ip.header_len;
        if (i == 2)
            assert_int_equal(us_get_be16(udp + 6), 0);
        else if (i == 3)
            assert_int_equal(us_get_be16(udp + 6), 0xffff);
        if (!ip.more_frags && !ip.frag_offset && i != 3) { /* (3: made wrong) */
            us_udp_repr u;
            assert_int_equal(us_udp_parse(&u, udp, ip.payload_len, ip.src, ip.dst, 0),
                             US_WIRE_OK);
        }
    }
    assert_int_equal(rw.stats.to_stack, 11);
    assert_int_equal(rw.stats.from_stack, 2);
    assert_int_equal(rw.stats.skipped, 3);
    sb_rw_free(&rw);
    sb_flows_free(&f);
}

/* Bytes that are not the frame's, given for a frame whose flow has a cached rewrite: what the
 * full rewrite makes of them (refused, out untouched; or rewritten from what they say). */
static void test_rewrite_cached_other_bytes(void **state)
{
    (void)state;
    static tt_trace tt;
    crafted_udp(&tt);
    sb_flows f;
    assert_int_equal(sb_flows_extract(&f, &tt.t, NULL), SB_OK);
    sb_rw rw;
    assert_int_equal(sb_rw_init(&rw, NULL, &f, NULL), SB_OK);
    uint8_t out[1514], ref[1514], bad[1514];
    sb_rw_action act, ract;
    assert_int_equal(sb_rw_frame(&rw, 0, tt.bytes[0], tt.frames[0].len, out, &act, NULL), SB_OK);
    const size_t len = tt.frames[1].len; /* 14 + 20 + 8 + 20 */
    for (int k = 0; k < 11; k++) {
        memcpy(bad, tt.bytes[1], len);
        size_t blen = len;
        sb_status want = SB_OK;
        switch (k) {
        case 0: blen = 33; want = SB_EINVAL; break;                     /* no IPv4 header */
        case 1: us_put_be16(bad + 12, US_ETHERTYPE_ARP); want = SB_EINVAL; break;
        case 2: bad[14] = 0x65; want = SB_EINVAL; break;                /* version 6 */
        case 3: us_put_be16(bad + 16, (uint16_t)(len - 13)); want = SB_EINVAL; break;
        case 4: bad[14] = 0x44; want = SB_EINVAL; break;                /* IHL 4 */
        case 5: us_put_be16(bad + 16, 20 + 5); break;                   /* UDP header cut */
        case 6: us_put_be32(bad + 26, 0xc0a80109u); break;              /* other source */
        case 7: bad[23] = US_IP_PROTO_ICMP; break;
        case 8: us_put_be16(bad + 20, 0x0001); break;                   /* a later fragment */
        case 9: bad[14] = 0x46; break;                                  /* IHL 6 */
        case 10: us_put_be16(bad + 16, (uint16_t)(len - 15)); break;    /* total < frame */
        }
        memset(out, 0xa5, sizeof out);
        memset(ref, 0xa5, sizeof ref);
        sb_err err, rerr;
        sb_status st = sb_rw_frame(&rw, 1, bad, blen, out, &act, &err);
        sb_rw full;
        assert_int_equal(sb_rw_init(&full, NULL, &f, NULL), SB_OK);
        assert_int_equal(sb_rw_frame(&full, 1, bad, blen, ref, &ract, &rerr), st);
        sb_rw_free(&full);
        if (st != want)
            fail_msg("case %d: status %d", k, st);
        assert_memory_equal(out, ref, sizeof out);
        if (st != SB_OK) {
            assert_string_equal(err.msg, "rewriter: frame 1 is not the IPv4 frame of flow 0");
            assert_string_equal(rerr.msg, err.msg);
            for (size_t i = 0; i < sizeof out; i++)
                assert_int_equal(out[i], 0xa5);
        } else {
            assert_int_equal(act, SB_RW_TO_STACK);
            assert_int_equal(ract, SB_RW_TO_STACK);
            assert_int_equal(us_get_be32(out + 26), PEER_IP);
        }
        /* The cache still serves the flow's own frames. */
        assert_int_equal(sb_rw_frame(&rw, 1, tt.bytes[1], len, out, &act, NULL), SB_OK);
        tt_assert_frame_valid(out, len);
    }
    sb_rw_free(&rw);
    sb_flows_free(&f);
}

/* TCP headers in the layouts read directly (none, NOP NOP timestamps) and in others (through
 * us_tcp_parse: MSS, timestamps then NOPs, timestamps and SACK): acks onto the stack's ISN, SACK
 * edges too, checksums right; and headers us_tcp_parse refuses, given for a segment of the flow:
 * a data offset beyond the segment, a bad option length, timestamps cut short. */
static void test_rewrite_tcp_header_layouts(void **state)
{
    (void)state;
    const tt_host cli = {0xc0a80002u, {2, 0, 0, 0, 9, 2}, 40000};
    const tt_host srv = {0xc0a80001u, {2, 0, 0, 0, 9, 1}, 80};
    const uint32_t isn_s = 5000, stack_isn = 0x80000000u;
    uint8_t ts[12] = {1, 1, 8, 10, 0, 0, 0, 7, 0, 0, 0, 9};
    uint8_t ts_last[12] = {8, 10, 0, 0, 0, 7, 0, 0, 0, 9, 1, 1};
    uint8_t mss[4] = {2, 4, 0x05, 0xb4};
    uint8_t ts_sack[24] = {1, 1, 8, 10, 0, 0, 0, 7, 0, 0, 0, 9, 1, 1, 5, 10};
    us_put_be32(ts_sack + 16, isn_s + 101);
    us_put_be32(ts_sack + 20, isn_s + 201);
    const uint8_t a = US_TCP_ACK;
    static tt_trace tt;
    tt_trace_init(&tt);
    tt_trace_add(&tt, tt_tcp_frame(tt.bytes[0], &cli, &srv, US_TCP_SYN, 10, 0, 0, mss, 4), 0);
    tt_trace_add(&tt, tt_tcp_frame(tt.bytes[1], &srv, &cli, US_TCP_SYN | a, isn_s, 11, 0, NULL, 0),
                 1);
    tt_trace_add(&tt, tt_tcp_frame(tt.bytes[2], &cli, &srv, a, 11, isn_s + 1, 0, NULL, 0), 2);
    tt_trace_add(&tt, tt_tcp_frame(tt.bytes[3], &cli, &srv, a, 11, isn_s + 2, 5, ts, 12), 3);
    tt_trace_add(&tt, tt_tcp_frame(tt.bytes[4], &cli, &srv, a, 16, isn_s + 3, 0, ts_last, 12), 4);
    tt_trace_add(&tt, tt_tcp_frame(tt.bytes[5], &cli, &srv, a, 16, isn_s + 4, 0, ts_sack, 24), 5);
    tt_trace_add(&tt, tt_tcp_frame(tt.bytes[6], &cli, &srv, a, 16, isn_s + 5, 0, mss, 4), 6);
    assert_cached_same_as_full(&tt.t);
    sb_flows f;
    assert_int_equal(sb_flows_extract(&f, &tt.t, NULL), SB_OK);
    assert_int_equal(f.n, 1);
    sb_rw rw;
    assert_int_equal(sb_rw_init(&rw, NULL, &f, NULL), SB_OK);
    assert_int_equal(sb_rw_set_stack_isn(&rw, 0, stack_isn, NULL), SB_OK);
    uint8_t out[1514];
    sb_rw_action act;
    for (size_t i = 2; i < 7; i++) {
        assert_int_equal(sb_rw_frame(&rw, i, tt.bytes[i], tt.frames[i].len, out, &act, NULL),
                         SB_OK);
        seg sg;
        parse_seg(&sg, out, tt.frames[i].len);
        assert_int_equal(sg.tcp.ack, stack_isn + (uint32_t)(i - 1));
        if (i == 5) {
            assert_int_equal(sg.tcp.sack_count, 1);
            assert_int_equal(sg.tcp.sack[0].left, stack_isn + 101);
            assert_int_equal(sg.tcp.sack[0].right, stack_isn + 201);
        }
        if (i == 3 || i == 4)
            assert_true(sg.tcp.ts_present);
    }
    /* Refused headers, given for frame 3 (NOP NOP timestamps, 5 payload bytes). */
    const size_t len = tt.frames[3].len; /* 14 + 20 + 32 + 5 */
    uint8_t bad[1514];
    for (int k = 0; k < 3; k++) {
        memcpy(bad, tt.bytes[3], len);
        if (k == 0)
            bad[34 + 12] = 0xf0; /* 60-byte header in a 37-byte segment */
        else if (k == 1)
            bad[34 + 23] = 11; /* a timestamp option of length 11 */
        else /* the segment cut to 30 bytes: the NOP NOP timestamps header does not fit */
            us_put_be16(bad + 16, 20 + 30);
        memset(out, 0xa5, sizeof out);
        sb_err err;
        assert_int_equal(sb_rw_frame(&rw, 3, bad, len, out, &act, &err), SB_EINVAL);
        assert_string_equal(err.msg, "rewriter: frame 3: unparseable TCP header");
        for (size_t i = 0; i < sizeof out; i++)
            assert_int_equal(out[i], 0xa5);
    }
    sb_rw_free(&rw);
    sb_flows_free(&f);
}

/* sb_rw_learn learns from a SYN-ACK of a flow only: not from a bare SYN, a SYN-ACK whose header
 * does not parse (bad option, cut short) or one of no flow; then from the SYN-ACK. */
static void test_rewrite_learn_only_from_synack(void **state)
{
    (void)state;
    fixture x;
    setup_public(&x, "three_http_streams.pcap", NULL);
    tt_host st = {STACK_IP, {2, 0, 0, 0, 0, 1}, 80}, pe = {PEER_IP, {2, 0, 0, 0, 1, 1}, 54615};
    uint8_t f[1514];
    uint32_t fi = 7;
    size_t n = tt_tcp_frame(f, &st, &pe, US_TCP_SYN, 777, 0, 0, NULL, 0);
    assert_int_equal(sb_rw_learn(&x.rw, f, n, &fi), SB_OK);
    assert_int_equal(fi, SB_FLOW_NONE);
    const uint8_t badopt[4] = {2, 5, 0, 0}; /* MSS of length 5 */
    n = tt_tcp_frame(f, &st, &pe, US_TCP_SYN | US_TCP_ACK, 777, 1, 0, badopt, 4);
    assert_int_equal(sb_rw_learn(&x.rw, f, n, &fi), SB_OK);
    assert_int_equal(fi, SB_FLOW_NONE);
    n = tt_tcp_frame(f, &st, &pe, US_TCP_SYN | US_TCP_ACK, 777, 1, 0, NULL, 0);
    us_put_be16(f + 16, 20 + 19); /* a 19-byte segment */
    assert_int_equal(sb_rw_learn(&x.rw, f, n, &fi), SB_OK);
    assert_int_equal(fi, SB_FLOW_NONE);
    tt_host other = {PEER_IP, {2, 0, 0, 0, 1, 1}, 9};
    n = tt_tcp_frame(f, &st, &other, US_TCP_SYN | US_TCP_ACK, 777, 1, 0, NULL, 0);
    assert_int_equal(sb_rw_learn(&x.rw, f, n, &fi), SB_OK);
    assert_int_equal(fi, SB_FLOW_NONE);
    assert_false(x.rw.isn_known[0]);
    n = tt_tcp_frame(f, &st, &pe, US_TCP_SYN | US_TCP_ACK, 777, 1, 0, NULL, 0);
    assert_int_equal(sb_rw_learn(&x.rw, f, n, &fi), SB_OK);
    assert_int_equal(fi, 0);
    assert_true(x.rw.isn_known[0]);
    assert_int_equal(x.rw.stack_isn[0], 777);
    teardown(&x);
}

/* A flow's cached rewrite follows a new identity given to its host. */
static void test_rewrite_cache_follows_set_peer(void **state)
{
    (void)state;
    static tt_trace tt;
    crafted_udp(&tt);
    sb_flows f;
    assert_int_equal(sb_flows_extract(&f, &tt.t, NULL), SB_OK);
    sb_rw rw;
    assert_int_equal(sb_rw_init(&rw, NULL, &f, NULL), SB_OK);
    uint8_t out[1514];
    sb_rw_action act;
    for (size_t i = 0; i < 12; i += i == 1 ? 9 : 1) /* 0, 1 (cached); 10, 11 (the replies) */
        assert_int_equal(sb_rw_frame(&rw, i, tt.bytes[i], tt.frames[i].len, out, &act, NULL),
                         SB_OK);
    assert_int_equal(us_get_be32(out + 30), PEER_IP);
    sb_endpoint me = {0xc0a80063u, {2, 0xbb, 0, 0, 0, 0x63}};
    assert_int_equal(sb_rw_set_peer(&rw, 0xc0a80102u, &me, NULL), SB_OK);
    assert_int_equal(sb_rw_frame(&rw, 11, tt.bytes[11], tt.frames[11].len, out, &act, NULL),
                     SB_OK);
    assert_int_equal(act, SB_RW_FROM_STACK);
    assert_memory_equal(out, me.mac, 6);
    assert_int_equal(us_get_be32(out + 26), STACK_IP);
    assert_int_equal(us_get_be32(out + 30), 0xc0a80063u);
    tt_assert_frame_valid(out, tt.frames[11].len);
    for (size_t i = 1; i < 15; i += 13) { /* frames 1 and 14 */
        assert_int_equal(sb_rw_frame(&rw, i, tt.bytes[i], tt.frames[i].len, out, &act, NULL),
                         SB_OK);
        assert_memory_equal(out + 6, me.mac, 6);
        assert_int_equal(us_get_be32(out + 26), 0xc0a80063u);
        assert_int_equal(us_get_be32(out + 30), STACK_IP);
        tt_assert_frame_valid(out, tt.frames[i].len);
    }
    sb_rw_free(&rw);
    sb_flows_free(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rewrite_three_http_streams_to_stack),
        cmocka_unit_test(test_rewrite_ack_waits_for_stack_isn),
        cmocka_unit_test(test_rewrite_map_peer_seq),
        cmocka_unit_test(test_rewrite_in_place_same_as_copy),
        cmocka_unit_test(test_rewrite_fragments_udp_checksum_after_reassembly),
        cmocka_unit_test(test_rewrite_sack_edges_odd_and_even_offsets),
        cmocka_unit_test(test_rewrite_generated_bulk_with_arp),
        cmocka_unit_test(test_rewrite_peer_identities),
        cmocka_unit_test(test_rewrite_no_handshake_unsupported),
        cmocka_unit_test(test_rewrite_skip_frames_outside_flows),
        cmocka_unit_test(test_rewrite_collision_counted),
        cmocka_unit_test(test_rewrite_cached_same_as_full_traces),
        cmocka_unit_test(test_rewrite_cached_same_as_full_shapes),
        cmocka_unit_test(test_rewrite_cached_other_bytes),
        cmocka_unit_test(test_rewrite_cache_follows_set_peer),
        cmocka_unit_test(test_rewrite_tcp_header_layouts),
        cmocka_unit_test(test_rewrite_learn_only_from_synack),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
