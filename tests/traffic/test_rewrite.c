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
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
