/* sbtraffic flow extraction: the three HTTP conversations (exact bytes, packets, messages, ISNs
 * each way), fragmented NFS over UDP (fragments attributed, repeated first fragments not
 * recounted), bad IPv4 checksums counted but used, ICMP echo flows over VLANs, loopback, and
 * crafted TCP cases (retransmission, SYN-ACK first, 5-tuple reuse after close). */
#include "traffic_test.h"

#include "sbtraffic/flows.h"

static void load(sb_trace *t, sb_flows *f, const char *name)
{
    char p[512];
    assert_int_equal(sb_trace_load(t, tt_public(p, name), NULL, NULL), SB_OK);
    sb_err err;
    assert_int_equal(sb_flows_extract(f, t, &err), SB_OK);
    assert_int_equal(f->n_frames, t->n);
}

typedef struct want_flow {
    uint16_t cport;
    uint32_t server;
    uint64_t start_ns;
    uint64_t bytes_c2s, bytes_s2c, pkts_c2s, pkts_s2c;
    uint32_t isn_c, isn_s;
} want_flow;

static void test_flows_three_http_streams_exact(void **state)
{
    (void)state;
    sb_trace t;
    sb_flows f;
    load(&t, &f, "three_http_streams.pcap");
    const want_flow want[3] = {
        {54615, 0x628ba11du /* 98.139.161.29 */, 0, 377, 441, 5, 4, 1034549864u, 4227263715u},
        {44305, 0x628a1358u /* 98.138.19.88 */, 15827000, 395, 610, 5, 5, 1025963775u,
         3380108789u},
        {52328, 0x628bf017u /* 98.139.240.23 */, 39459000, 728, 384, 5, 4, 1030928136u,
         545268u},
    };
    assert_int_equal(f.n, 3);
    for (size_t i = 0; i < 3; i++) {
        const sb_flow *fl = &f.flows[i];
        assert_int_equal(fl->key.proto, US_IP_PROTO_TCP);
        assert_int_equal(fl->key.client_ip, 0xac108584u); /* 172.16.133.132 */
        assert_int_equal(fl->key.client_port, want[i].cport);
        assert_int_equal(fl->key.server_ip, want[i].server);
        assert_int_equal(fl->key.server_port, 80);
        assert_int_equal(fl->start_ns, want[i].start_ns);
        assert_int_equal(fl->bytes[SB_C2S], want[i].bytes_c2s);
        assert_int_equal(fl->bytes[SB_S2C], want[i].bytes_s2c);
        assert_int_equal(fl->pkts[SB_C2S], want[i].pkts_c2s);
        assert_int_equal(fl->pkts[SB_S2C], want[i].pkts_s2c);
        assert_true(fl->syn_seen && fl->synack_seen);
        assert_true(fl->isn_known[SB_C2S] && fl->isn_known[SB_S2C]);
        assert_int_equal(fl->isn[SB_C2S], want[i].isn_c);
        assert_int_equal(fl->isn[SB_S2C], want[i].isn_s);
        assert_true(fl->fin[SB_C2S] && fl->fin[SB_S2C]);
        assert_false(fl->rst);
        assert_int_equal(fl->retrans_bytes[SB_C2S] + fl->retrans_bytes[SB_S2C], 0);
        /* One request, one response. */
        assert_int_equal(fl->n_msgs, 2);
        assert_int_equal(fl->msgs[0].dir, SB_C2S);
        assert_int_equal(fl->msgs[0].bytes, want[i].bytes_c2s);
        assert_int_equal(fl->msgs[0].pkts, 1);
        assert_int_equal(fl->msgs[1].dir, SB_S2C);
        assert_int_equal(fl->msgs[1].bytes, want[i].bytes_s2c);
    }
    /* Frame 4 (index 3) is flow 0's SYN-ACK; frame 23 (index 22) flow 1's response. */
    assert_int_equal(f.frame_flow[3], 0);
    assert_int_equal(f.frame_dir[3], SB_S2C);
    assert_int_equal(f.frame_flow[22], 1);
    assert_int_equal(f.frame_dir[22], SB_S2C);
    assert_int_equal(f.frame_flow[11], 2);
    assert_int_equal(f.frame_dir[11], SB_C2S);
    assert_int_equal(f.flows[1].msgs[1].start_ns, t.frames[22].ts_ns);
    assert_int_equal(f.stats.bad_ip_csum + f.stats.bad_l4_csum, 0);
    unsigned dir;
    assert_int_equal(sb_flows_find(&f, US_IP_PROTO_TCP, 0x628bf017u, 80, 0xac108584u, 52328, &dir),
                     2);
    assert_int_equal(dir, SB_S2C);
    assert_int_equal(sb_flows_find(&f, US_IP_PROTO_UDP, 0x628bf017u, 80, 0xac108584u, 52328, NULL),
                     SB_FLOW_NONE);
    sb_flows_free(&f);
    sb_trace_free(&t);
}

/* Six NFS writes of 8312 bytes, each in six fragments; three first fragments (and the fragments
 * of those datagrams) are sent twice; three 136-byte replies. */
static void test_flows_ip4_fragments_udp(void **state)
{
    (void)state;
    sb_trace t;
    sb_flows f;
    load(&t, &f, "ip4_fragments.pcap");
    assert_int_equal(f.n, 1);
    const sb_flow *fl = &f.flows[0];
    assert_int_equal(fl->key.proto, US_IP_PROTO_UDP);
    assert_int_equal(fl->key.client_ip, 0x0a76d5d4u); /* 10.118.213.212 */
    assert_int_equal(fl->key.client_port, 789);
    assert_int_equal(fl->key.server_ip, 0x0a76d5d3u);
    assert_int_equal(fl->key.server_port, 2049);
    assert_int_equal(fl->pkts[SB_C2S], 50);
    assert_int_equal(fl->pkts[SB_S2C], 3);
    assert_int_equal(fl->bytes[SB_C2S], 6 * 8312);
    assert_int_equal(fl->bytes[SB_S2C], 3 * 136);
    assert_int_equal(f.stats.fragments, 50);
    assert_int_equal(f.stats.dup_fragments, 3);
    assert_int_equal(f.stats.orphan_fragments, 0);
    /* Four writes, a reply, a write, a reply, a write, a reply. */
    const uint64_t msg_bytes[6] = {4 * 8312, 136, 8312, 136, 8312, 136};
    assert_int_equal(fl->n_msgs, 6);
    for (size_t i = 0; i < 6; i++) {
        assert_int_equal(fl->msgs[i].dir, i % 2 ? SB_S2C : SB_C2S);
        assert_int_equal(fl->msgs[i].bytes, msg_bytes[i]);
    }
    assert_int_equal(fl->msgs[0].pkts, 4);
    for (size_t i = 0; i < t.n; i++)
        assert_int_equal(f.frame_flow[i], 0);
    assert_int_equal(f.frame_dir[28], SB_S2C); /* frame 29: a reply */
    assert_int_equal(f.frame_dir[29], SB_C2S); /* frame 30: a last fragment again */
    sb_flows_free(&f);
    sb_trace_free(&t);
}

/* Eight frames carry a bad IPv4 header checksum: counted, and the flow is still whole. */
static void test_flows_bad_ip_checksums_counted_and_used(void **state)
{
    (void)state;
    sb_trace t;
    sb_flows f;
    load(&t, &f, "one_http_stream_fin.pcap");
    assert_int_equal(f.stats.bad_ip_csum, 8);
    assert_int_equal(f.stats.bad_l4_csum, 0);
    assert_int_equal(f.n, 1);
    const sb_flow *fl = &f.flows[0];
    assert_int_equal(fl->key.client_port, 49486);
    assert_int_equal(fl->bytes[SB_C2S], 367);
    assert_int_equal(fl->bytes[SB_S2C], 1380 + 321 + 1380 + 468);
    assert_int_equal(fl->pkts[SB_C2S], 7);
    assert_int_equal(fl->pkts[SB_S2C], 8);
    assert_int_equal(fl->n_msgs, 2);
    assert_int_equal(fl->msgs[1].pkts, 4);
    sb_flows_free(&f);
    sb_trace_free(&t);
}

/* Two ping conversations (ident 3) under double VLAN tags: 5 requests of 72 data bytes and their
 * replies each; messages alternate. */
static void test_flows_icmp_echo_over_vlan(void **state)
{
    (void)state;
    sb_trace t;
    sb_flows f;
    load(&t, &f, "VlanPackets.pcap");
    assert_int_equal(f.n, 2);
    const uint32_t client[2] = {0x0a760a01u, 0x0ad11403u}; /* 10.118.10.1, 10.209.20.3 */
    for (size_t i = 0; i < 2; i++) {
        const sb_flow *fl = &f.flows[i];
        assert_int_equal(fl->key.proto, US_IP_PROTO_ICMP);
        assert_int_equal(fl->key.client_ip, client[i]);
        assert_int_equal(fl->key.server_ip, client[i] + 1);
        assert_int_equal(fl->key.client_port, 3);
        assert_int_equal(fl->pkts[SB_C2S], 5);
        assert_int_equal(fl->pkts[SB_S2C], 5);
        assert_int_equal(fl->bytes[SB_C2S], 360);
        assert_int_equal(fl->bytes[SB_S2C], 360);
        assert_int_equal(fl->n_msgs, 10);
    }
    sb_flows_free(&f);
    sb_trace_free(&t);
}

/* Loopback with offloaded (wrong) TCP checksums on every frame. */
static void test_flows_loopback_bad_tcp_checksums(void **state)
{
    (void)state;
    sb_trace t;
    sb_flows f;
    load(&t, &f, "nanosecs_big_endian.pcap");
    assert_int_equal(f.stats.bad_l4_csum, 10);
    assert_int_equal(f.n, 1);
    assert_int_equal(f.flows[0].key.client_port, 43030);
    assert_int_equal(f.flows[0].key.server_port, 8000);
    assert_int_equal(f.flows[0].bytes[SB_C2S], 78);
    assert_int_equal(f.flows[0].bytes[SB_S2C], 188 + 1256);
    sb_flows_free(&f);
    sb_trace_free(&t);
}

static const tt_host cli = {0x0a000101u, {2, 0, 0, 0, 1, 1}, 40000};
static const tt_host srv = {0x0a000001u, {2, 0, 0, 0, 0, 1}, 7};

/* A retransmitted segment counts once (and in retrans_bytes); a partial overlap counts only the
 * new part. */
static void test_flows_tcp_retransmission_counted_once(void **state)
{
    (void)state;
    tt_trace tt;
    tt_trace_init(&tt);
    uint8_t a = US_TCP_ACK;
    tt_trace_add(&tt, tt_tcp_frame(tt.bytes[0], &cli, &srv, US_TCP_SYN, 100, 0, 0, NULL, 0), 0);
    tt_trace_add(&tt, tt_tcp_frame(tt.bytes[1], &srv, &cli, US_TCP_SYN | a, 900, 101, 0, NULL, 0),
                 10);
    tt_trace_add(&tt, tt_tcp_frame(tt.bytes[2], &cli, &srv, a, 101, 901, 50, NULL, 0), 20);
    tt_trace_add(&tt, tt_tcp_frame(tt.bytes[3], &cli, &srv, a, 101, 901, 50, NULL, 0), 30);
    tt_trace_add(&tt, tt_tcp_frame(tt.bytes[4], &cli, &srv, a, 131, 901, 40, NULL, 0), 40);
    tt_trace_add(&tt, tt_tcp_frame(tt.bytes[5], &srv, &cli, a, 901, 171, 10, NULL, 0), 50);
    tt_trace_add(&tt, tt_tcp_frame(tt.bytes[6], &cli, &srv, a, 171, 911, 5, NULL, 0), 60);
    sb_flows f;
    assert_int_equal(sb_flows_extract(&f, &tt.t, NULL), SB_OK);
    assert_int_equal(f.n, 1);
    const sb_flow *fl = &f.flows[0];
    assert_int_equal(fl->bytes[SB_C2S], 75); /* 50 + 0 + 20 (of 40) + 5 */
    assert_int_equal(fl->retrans_bytes[SB_C2S], 70);
    assert_int_equal(fl->bytes[SB_S2C], 10);
    assert_int_equal(fl->n_msgs, 3);
    assert_int_equal(fl->msgs[0].bytes, 70);
    assert_int_equal(fl->msgs[0].pkts, 2);
    assert_int_equal(fl->msgs[2].bytes, 5);
    assert_int_equal(fl->pkts[SB_C2S], 5);
    sb_flows_free(&f);
}

/* The capture starts at the SYN-ACK: its receiver is still the client. */
static void test_flows_tcp_synack_first_client_is_receiver(void **state)
{
    (void)state;
    tt_trace tt;
    tt_trace_init(&tt);
    tt_trace_add(&tt, tt_tcp_frame(tt.bytes[0], &srv, &cli, US_TCP_SYN | US_TCP_ACK, 900, 101, 0,
                                   NULL, 0),
                 0);
    tt_trace_add(&tt, tt_tcp_frame(tt.bytes[1], &cli, &srv, US_TCP_ACK, 101, 901, 3, NULL, 0), 5);
    sb_flows f;
    assert_int_equal(sb_flows_extract(&f, &tt.t, NULL), SB_OK);
    assert_int_equal(f.n, 1);
    assert_int_equal(f.flows[0].key.client_ip, cli.ip);
    assert_int_equal(f.flows[0].key.client_port, cli.port);
    assert_false(f.flows[0].syn_seen);
    assert_true(f.flows[0].synack_seen);
    assert_false(f.flows[0].isn_known[SB_C2S]);
    assert_int_equal(f.flows[0].isn[SB_S2C], 900);
    assert_int_equal(f.flows[0].bytes[SB_C2S], 3);
    assert_int_equal(f.frame_dir[0], SB_S2C);
    sb_flows_free(&f);
}

/* A new SYN on a 5-tuple whose connection has closed starts a second flow. */
static void test_flows_tcp_tuple_reuse_after_close(void **state)
{
    (void)state;
    tt_trace tt;
    tt_trace_init(&tt);
    uint8_t a = US_TCP_ACK;
    tt_trace_add(&tt, tt_tcp_frame(tt.bytes[0], &cli, &srv, US_TCP_SYN, 100, 0, 0, NULL, 0), 0);
    tt_trace_add(&tt, tt_tcp_frame(tt.bytes[1], &srv, &cli, US_TCP_SYN | a, 900, 101, 0, NULL, 0),
                 1);
    tt_trace_add(&tt, tt_tcp_frame(tt.bytes[2], &cli, &srv, US_TCP_RST, 101, 0, 0, NULL, 0), 2);
    tt_trace_add(&tt, tt_tcp_frame(tt.bytes[3], &cli, &srv, US_TCP_SYN, 5000, 0, 0, NULL, 0), 3);
    tt_trace_add(&tt, tt_tcp_frame(tt.bytes[4], &cli, &srv, a, 5001, 0, 7, NULL, 0), 4);
    sb_flows f;
    assert_int_equal(sb_flows_extract(&f, &tt.t, NULL), SB_OK);
    assert_int_equal(f.n, 2);
    assert_true(f.flows[0].rst);
    assert_int_equal(f.flows[1].isn[SB_C2S], 5000);
    assert_int_equal(f.flows[1].bytes[SB_C2S], 7);
    assert_int_equal(f.flows[1].start_ns, 3);
    assert_int_equal(f.frame_flow[4], 1);
    unsigned dir;
    assert_int_equal(sb_flows_find(&f, US_IP_PROTO_TCP, cli.ip, cli.port, srv.ip, srv.port, &dir),
                     1);
    assert_int_equal(dir, SB_C2S);
    sb_flows_free(&f);
}

static void test_flows_empty_trace(void **state)
{
    (void)state;
    sb_trace t;
    memset(&t, 0, sizeof t);
    sb_flows f;
    assert_int_equal(sb_flows_extract(&f, &t, NULL), SB_OK);
    assert_int_equal(f.n, 0);
    sb_flows_free(&f);
    sb_flows_free(NULL);
}

/* Everything a and b hold is the same (frames n), but for the bad-checksum counts. */
static void assert_flows_same(const sb_flows *a, const sb_flows *b, size_t n)
{
    sb_flows_stats sa = a->stats, sbs = b->stats;
    sa.bad_ip_csum = sbs.bad_ip_csum = 0;
    sa.bad_l4_csum = sbs.bad_l4_csum = 0;
    assert_memory_equal(&sa, &sbs, sizeof sa);
    assert_int_equal(a->n_frames, n);
    assert_int_equal(b->n_frames, n);
    assert_int_equal(a->n, b->n);
    if (n) {
        assert_memory_equal(a->frame_flow, b->frame_flow, n * sizeof *a->frame_flow);
        assert_memory_equal(a->frame_dir, b->frame_dir, n);
    }
    for (size_t i = 0; i < a->n; i++) {
        const sb_flow *x = &a->flows[i], *y = &b->flows[i];
        assert_memory_equal(&x->key, &y->key, sizeof x->key);
        assert_int_equal(x->start_ns, y->start_ns);
        assert_int_equal(x->end_ns, y->end_ns);
        assert_int_equal(x->first_frame, y->first_frame);
        assert_memory_equal(x->pkts, y->pkts, sizeof x->pkts);
        assert_memory_equal(x->bytes, y->bytes, sizeof x->bytes);
        assert_int_equal(x->syn_seen, y->syn_seen);
        assert_int_equal(x->synack_seen, y->synack_seen);
        assert_memory_equal(x->isn_known, y->isn_known, sizeof x->isn_known);
        assert_memory_equal(x->isn, y->isn, sizeof x->isn);
        assert_memory_equal(x->fin, y->fin, sizeof x->fin);
        assert_int_equal(x->rst, y->rst);
        assert_memory_equal(x->retrans_bytes, y->retrans_bytes, sizeof x->retrans_bytes);
        assert_int_equal(x->n_msgs, y->n_msgs);
        for (size_t m = 0; m < x->n_msgs; m++) {
            assert_int_equal(x->msgs[m].dir, y->msgs[m].dir);
            assert_int_equal(x->msgs[m].bytes, y->msgs[m].bytes);
            assert_int_equal(x->msgs[m].pkts, y->msgs[m].pkts);
            assert_int_equal(x->msgs[m].start_ns, y->msgs[m].start_ns);
        }
    }
}

/* Trace t's flows with checksums verified (every frame fully parsed) and without (a replay's flow
 * pass, which takes runs of UDP datagrams of one conversation without the full parse): the same
 * but for the bad-checksum counts, which stay 0 unchecked. */
static void assert_unchecked_same(const sb_trace *t)
{
    sb_flows a, b;
    assert_int_equal(sb_flows_extract(&a, t, NULL), SB_OK);
    sb_flows_opts o = sb_flows_opts_default();
    assert_true(o.check_csum);
    o.check_csum = false;
    assert_int_equal(sb_flows_extract_opts(&b, t, &o, NULL), SB_OK);
    assert_int_equal(b.stats.bad_ip_csum + b.stats.bad_l4_csum, 0);
    assert_flows_same(&a, &b, t->n);
    sb_flows_free(&a);
    sb_flows_free(&b);
}

/* Without checksum verification (a replay's flow pass) every public capture and canonical trace
 * gives the same flows, per-frame flows and counts; only the bad-checksum counts stay 0. */
static void test_flows_unchecked_checksums_same_flows(void **state)
{
    (void)state;
    sb_trace_opts to = sb_trace_opts_default();
    to.keep_partial = true; /* the pcapng capture libpcap stops reading part-way */
    char p[512];
    for (size_t k = 0; k < TT_N_PUBLIC + TT_N_CANONICAL; k++) {
        const char *path = k < TT_N_PUBLIC ? tt_public(p, tt_public_names[k])
                                           : tt_canonical(p, tt_canonical_names[k - TT_N_PUBLIC]);
        sb_trace t;
        sb_status st = sb_trace_load(&t, path, &to, NULL);
        assert_true(st == SB_OK || st == SB_EPARTIAL);
        assert_true(t.n > 0);
        assert_unchecked_same(&t);
        sb_trace_free(&t);
    }
}

/* One UDP conversation whose datagrams the unchecked pass takes in runs, and frames of it that end
 * a run: a reply (other direction), a datagram with IPv4 options, a first fragment, a total length
 * too short for the UDP header, UDP lengths beyond the datagram and below 8, another protocol
 * between the same addresses and ports, a total length beyond the frame; and ones a run takes:
 * no payload, Ethernet padding, DF. Exact flows and counts, checked and unchecked. */
static void test_flows_udp_runs_exact(void **state)
{
    (void)state;
    const tt_host a = {0x0a000101u, {2, 0, 0, 0, 1, 1}, 5000};
    const tt_host b = {0x0a000001u, {2, 0, 0, 0, 0, 1}, 53};
    const struct {
        bool reply;
        size_t plen;
        tt_udp_shape s;
    } fr[16] = {
        {false, 10, {0}},
        {false, 20, {0}},
        {false, 0, {0}},
        {true, 5, {0}},
        {false, 7, {0}},
        {false, 3, {0}},
        {false, 4, {.ip_opts = 4}},
        {false, 6, {.frag = 0x2000}},
        {false, 0, {.total_delta = -1}},
        {false, 4, {.ulen_delta = 1}},
        {false, 0, {.ulen_delta = -1}},
        {false, 2, {.proto = US_IP_PROTO_ICMP}},
        {false, 8, {.trailer = 6}},
        {false, 9, {.frag = 0x4000}},
        {false, 2, {0}},
        {false, 2, {.total_delta = 1}},
    };
    tt_trace tt;
    tt_trace_init(&tt);
    for (size_t i = 0; i < 16; i++) {
        size_t n = fr[i].reply ? tt_udp_frame(tt.bytes[i], &b, &a, fr[i].plen, &fr[i].s)
                               : tt_udp_frame(tt.bytes[i], &a, &b, fr[i].plen, &fr[i].s);
        tt_trace_add(&tt, n, 1000 * i);
    }
    assert_unchecked_same(&tt.t);
    sb_flows_opts o = sb_flows_opts_default();
    o.check_csum = false;
    sb_flows f;
    assert_int_equal(sb_flows_extract_opts(&f, &tt.t, &o, NULL), SB_OK);
    assert_int_equal(f.n, 1);
    const sb_flow *x = &f.flows[0];
    assert_int_equal(x->key.proto, US_IP_PROTO_UDP);
    assert_int_equal(x->key.client_ip, a.ip);
    assert_int_equal(x->key.client_port, a.port);
    assert_int_equal(x->key.server_ip, b.ip);
    assert_int_equal(x->key.server_port, b.port);
    assert_int_equal(x->bytes[SB_C2S], 69);
    assert_int_equal(x->bytes[SB_S2C], 5);
    assert_int_equal(x->pkts[SB_C2S], 10);
    assert_int_equal(x->pkts[SB_S2C], 1);
    assert_int_equal(x->start_ns, 0);
    assert_int_equal(x->end_ns, 14000);
    assert_int_equal(x->n_msgs, 3);
    const uint64_t mb[3] = {30, 5, 39}, mp[3] = {2, 1, 7}, ms[3] = {0, 3000, 4000};
    for (size_t m = 0; m < 3; m++) {
        assert_int_equal(x->msgs[m].dir, m == 1 ? SB_S2C : SB_C2S);
        assert_int_equal(x->msgs[m].bytes, mb[m]);
        assert_int_equal(x->msgs[m].pkts, mp[m]);
        assert_int_equal(x->msgs[m].start_ns, ms[m]);
    }
    for (size_t i = 0; i < 16; i++) {
        bool none = i == 8 || i == 9 || i == 10 || i == 11 || i == 15;
        assert_int_equal(f.frame_flow[i], none ? SB_FLOW_NONE : 0);
        assert_int_equal(f.frame_dir[i], i == 3 ? SB_S2C : SB_C2S);
    }
    assert_int_equal(f.stats.frames, 16);
    assert_int_equal(f.stats.ipv4, 16);
    assert_int_equal(f.stats.malformed_l4, 3);
    assert_int_equal(f.stats.malformed_ip, 1);
    assert_int_equal(f.stats.icmp_other, 1);
    assert_int_equal(f.stats.fragments, 1);
    assert_int_equal(f.stats.other_proto, 0);
    sb_flows_free(&f);
}

/* Frames a run must not take although their bytes where its addresses and ports would be match:
 * IPv4 options holding the port bytes, version 5, a total length below the IPv4 header's; and
 * times going backwards inside a run (the flow ends at its latest). */
static void test_flows_udp_runs_odd_headers(void **state)
{
    (void)state;
    const tt_host a = {0x0a000101u, {2, 0, 0, 0, 1, 1}, 5000};
    const tt_host b = {0x0a000001u, {2, 0, 0, 0, 0, 1}, 53};
    tt_trace tt;
    tt_trace_init(&tt);
    const uint64_t ts[8] = {1000, 2000, 3000, 3500, 3600, 500, 4000, 100};
    const size_t plen[8] = {10, 3, 4, 6, 0, 5, 1, 2};
    for (size_t i = 0; i < 8; i++) {
        tt_udp_shape sh = {0};
        if (i == 2)
            sh.ip_opts = 4;
        if (i == 4)
            sh.total_delta = -20; /* 8 */
        size_t n = tt_udp_frame(tt.bytes[i], &a, &b, plen[i], &sh);
        if (i == 2) /* the options where a run expects the ports */
            memcpy(tt.bytes[i] + 34, tt.bytes[0] + 34, 4);
        if (i == 3)
            tt.bytes[i][14] = 0x55;
        tt_trace_add(&tt, n, ts[i]);
    }
    assert_unchecked_same(&tt.t);
    sb_flows_opts o = sb_flows_opts_default();
    o.check_csum = false;
    sb_flows f;
    assert_int_equal(sb_flows_extract_opts(&f, &tt.t, &o, NULL), SB_OK);
    assert_int_equal(f.n, 1);
    assert_int_equal(f.flows[0].bytes[SB_C2S], 10 + 3 + 4 + 5 + 1 + 2);
    assert_int_equal(f.flows[0].pkts[SB_C2S], 6);
    assert_int_equal(f.flows[0].end_ns, 4000);
    assert_int_equal(f.stats.malformed_ip, 2);
    assert_int_equal(f.frame_flow[3], SB_FLOW_NONE);
    assert_int_equal(f.frame_flow[4], SB_FLOW_NONE);
    assert_int_equal(f.frame_flow[2], 0);
    sb_flows_free(&f);
}

/* Several UDP conversations interleaved, and one conversation's frames around another's: every
 * run ends where its conversation does; the same as the full parse. */
static void test_flows_udp_runs_interleaved(void **state)
{
    (void)state;
    const tt_host b = {0x0a000001u, {2, 0, 0, 0, 0, 1}, 53};
    tt_host c[3] = {{0x0a000101u, {2, 0, 0, 0, 1, 1}, 5000},
                    {0x0a000102u, {2, 0, 0, 0, 1, 2}, 5000},
                    {0x0a000101u, {2, 0, 0, 0, 1, 1}, 5001}};
    const int who[16] = {0, 0, 1, 1, 1, 0, 2, 0, 2, 2, 1, 0, 0, 0, 2, 1};
    tt_trace tt;
    tt_trace_init(&tt);
    for (size_t i = 0; i < 16; i++)
        tt_trace_add(&tt, tt_udp_frame(tt.bytes[i], &c[who[i]], &b, 1 + i, NULL), 10 * i);
    assert_unchecked_same(&tt.t);
    sb_flows_opts o = sb_flows_opts_default();
    o.check_csum = false;
    sb_flows f;
    assert_int_equal(sb_flows_extract_opts(&f, &tt.t, &o, NULL), SB_OK);
    assert_int_equal(f.n, 3);
    uint64_t bytes[3] = {0, 0, 0}, pkts[3] = {0, 0, 0};
    for (size_t i = 0; i < 16; i++) {
        bytes[who[i]] += 1 + i;
        pkts[who[i]]++;
    }
    const uint32_t order[3] = {0, 1, 2}; /* flows in order of first packet: c0, c1, c2 */
    for (size_t k = 0; k < 3; k++) {
        assert_int_equal(f.flows[order[k]].bytes[SB_C2S], bytes[k]);
        assert_int_equal(f.flows[order[k]].pkts[SB_C2S], pkts[k]);
        assert_int_equal(f.flows[order[k]].n_msgs, 1);
    }
    for (size_t i = 0; i < 16; i++)
        assert_int_equal(f.frame_flow[i], (uint32_t)who[i]);
    sb_flows_free(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_flows_three_http_streams_exact),
        cmocka_unit_test(test_flows_ip4_fragments_udp),
        cmocka_unit_test(test_flows_bad_ip_checksums_counted_and_used),
        cmocka_unit_test(test_flows_icmp_echo_over_vlan),
        cmocka_unit_test(test_flows_loopback_bad_tcp_checksums),
        cmocka_unit_test(test_flows_tcp_retransmission_counted_once),
        cmocka_unit_test(test_flows_tcp_synack_first_client_is_receiver),
        cmocka_unit_test(test_flows_tcp_tuple_reuse_after_close),
        cmocka_unit_test(test_flows_empty_trace),
        cmocka_unit_test(test_flows_unchecked_checksums_same_flows),
        cmocka_unit_test(test_flows_udp_runs_exact),
        cmocka_unit_test(test_flows_udp_runs_odd_headers),
        cmocka_unit_test(test_flows_udp_runs_interleaved),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
