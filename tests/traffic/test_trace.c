/* sbtraffic trace reading: every public capture (frame counts, link types, µs vs ns, byte-swapped
 * files, VLAN and QinQ stripping, SLL and RAW headers, the pcapng libpcap stops reading part-way),
 * crafted files (caplen < len, SLL2, LINKTYPE_IPV4, unsupported link type, short link headers, a
 * third VLAN tag), refusals (non-pcap, missing file) and the streaming reader; sb_trace_load_flows
 * against sb_trace_load + sb_flows_extract_opts on all of these. */
#include "traffic_test.h"

#include <sys/stat.h>

#include "sbtraffic/flows.h"
#include "sbtraffic/gen.h"

static const uint8_t synth_src[6] = SB_TRACE_SYNTH_SRC_MAC;
static const uint8_t synth_dst[6] = SB_TRACE_SYNTH_DST_MAC;

/* Load a public capture with default options and check the frame count. */
static void load_public(sb_trace *t, const char *name, size_t frames)
{
    char p[512];
    sb_err err;
    assert_int_equal(sb_trace_load(t, tt_public(p, name), NULL, &err), SB_OK);
    assert_int_equal(t->n, frames);
    assert_int_equal(t->stats.kept, frames);
    assert_false(t->stats.read_error);
    for (size_t i = 0; i < t->n; i++) {
        assert_true(t->frames[i].len >= US_ETH_HDR_LEN);
        if (i)
            assert_true(t->frames[i].ts_ns >= t->frames[i - 1].ts_ns);
    }
    assert_int_equal(t->frames[0].ts_ns, 0);
}

static void test_trace_three_http_streams_ethernet(void **state)
{
    (void)state;
    sb_trace t;
    load_public(&t, "three_http_streams.pcap", 28);
    assert_int_equal(t.linktype, SB_DLT_EN10MB);
    assert_false(t.nanosecond);
    assert_false(t.swapped);
    assert_int_equal(t.stats.records, 28);
    assert_int_equal(t.frames[0].len, 74);
    assert_int_equal(t.frames[0].ethertype, US_ETHERTYPE_IPV4);
    /* µs file: 1361916156.693315 - 1361916156.677488 s */
    assert_int_equal(t.frames[1].ts_ns, 15827000);
    assert_int_equal(t.start_ns, 1361916156677488000ull);
    assert_int_equal(t.duration_ns, 204295000);
    sb_trace_free(&t);
    assert_null(t.frames);
}

static void test_trace_one_http_stream_fin_count(void **state)
{
    (void)state;
    sb_trace t;
    load_public(&t, "one_http_stream_fin.pcap", 15);
    assert_int_equal(t.stats.truncated, 0);
    sb_trace_free(&t);
}

static void test_trace_ip4_fragments_count(void **state)
{
    (void)state;
    sb_trace t;
    load_public(&t, "ip4_fragments.pcap", 53);
    assert_int_equal(t.frames[0].len, 1514);
    assert_int_equal(t.frames[5].len, 954);
    sb_trace_free(&t);
}

/* 20 ICMP frames with two 802.1Q tags each, 6 CDP frames (802.3 LLC, some tagged): the ICMP ones
 * come out untagged, the CDP ones counted as non-IP (or kept when asked). */
static void test_trace_vlan_packets_double_tags_stripped(void **state)
{
    (void)state;
    sb_trace t;
    load_public(&t, "VlanPackets.pcap", 20);
    assert_int_equal(t.stats.records, 26);
    assert_int_equal(t.stats.non_ip, 6);
    assert_int_equal(t.stats.vlan_frames, 20);
    for (size_t i = 0; i < t.n; i++) {
        assert_int_equal(t.frames[i].len, 122 - 8);
        assert_int_equal(t.frames[i].vlan_tags, 2);
        assert_int_equal(us_get_be16(t.frames[i].data + 12), US_ETHERTYPE_IPV4);
        assert_int_equal(t.frames[i].data[14], 0x45); /* the IPv4 header follows directly */
        assert_int_equal(t.frames[i].index, i);
    }
    sb_trace_free(&t);

    char p[512];
    sb_trace_opts o = sb_trace_opts_default();
    o.keep_non_ip = true;
    assert_int_equal(sb_trace_load(&t, tt_public(p, "VlanPackets.pcap"), &o, NULL), SB_OK);
    assert_int_equal(t.n, 26);
    assert_int_equal(t.stats.non_ip, 6);
    assert_int_equal(t.frames[20].index, 20);
    assert_true(t.frames[20].ethertype < 0x0600); /* an 802.3 length field */
    sb_trace_free(&t);
}

/* 802.1ad S-tag (0x88a8) over an 802.1Q C-tag over ARP. */
static void test_trace_qinq_8021ad_stripped(void **state)
{
    (void)state;
    sb_trace t;
    load_public(&t, "802.1ad_QinQ.pcap", 2);
    for (size_t i = 0; i < 2; i++) {
        assert_int_equal(t.frames[i].len, 64 - 8);
        assert_int_equal(t.frames[i].vlan_tags, 2);
        assert_int_equal(t.frames[i].ethertype, US_ETHERTYPE_ARP);
        us_arp_repr a;
        assert_int_equal(us_arp_parse(&a, t.frames[i].data + 14, t.frames[i].len - 14),
                         US_WIRE_OK);
        assert_int_equal(a.op, i == 0 ? US_ARP_OP_REQUEST : US_ARP_OP_REPLY);
    }
    const uint8_t src0[6] = {0x00, 0x20, 0xd2, 0x5a, 0xfb, 0x3f};
    assert_memory_equal(t.frames[0].data + 6, src0, 6);
    assert_int_equal(t.stats.vlan_frames, 2);
    sb_trace_free(&t);
}

/* Byte-swapped file with ns timestamps: exact ns survive. */
static void test_trace_nanosecs_big_endian_exact_ns(void **state)
{
    (void)state;
    sb_trace t;
    load_public(&t, "nanosecs_big_endian.pcap", 10);
    assert_true(t.nanosecond);
    assert_true(t.swapped);
    assert_int_equal(t.start_ns, 1766361926167647291ull);
    assert_int_equal(t.frames[1].ts_ns, 10800);  /* .167658091 - .167647291 */
    assert_int_equal(t.frames[9].ts_ns, 804603); /* .168451894 - .167647291 */
    assert_int_equal(t.frames[7].len, 1322);
    sb_trace_free(&t);
}

/* Linux cooked capture v1: the 16-byte SLL header becomes a 14-byte Ethernet header. */
static void test_trace_sll_handshake_nano(void **state)
{
    (void)state;
    sb_trace t;
    load_public(&t, "tcp-handshake-nano.pcap", 3);
    assert_int_equal(t.linktype, SB_DLT_LINUX_SLL);
    assert_true(t.nanosecond);
    assert_int_equal(t.frames[0].len, 76 - 16 + 14);
    assert_int_equal(t.frames[2].len, 68 - 16 + 14);
    assert_int_equal(t.frames[1].ts_ns, 127521774);
    assert_int_equal(t.frames[2].ts_ns, 127609669);
    for (size_t i = 0; i < 3; i++) {
        assert_memory_equal(t.frames[i].data, synth_dst, 6);
        assert_memory_equal(t.frames[i].data + 6, synth_src, 6);
        assert_int_equal(t.frames[i].ethertype, US_ETHERTYPE_IPV4);
        assert_int_equal(tt_assert_frame_valid(t.frames[i].data, t.frames[i].len),
                         US_IP_PROTO_TCP);
    }
    sb_trace_free(&t);
}

/* DLT_RAW: an IPv4 packet without link header gets a synthesized one. */
static void test_trace_raw_ipv4_one_frame(void **state)
{
    (void)state;
    sb_trace t;
    load_public(&t, "LINKTYPE_RAW_ipv4.pcap", 1);
    assert_int_equal(t.linktype, SB_DLT_RAW);
    assert_int_equal(t.frames[0].len, 57 + 14);
    assert_memory_equal(t.frames[0].data + 6, synth_src, 6);
    assert_int_equal(us_get_be16(t.frames[0].data + 12), US_ETHERTYPE_IPV4);
    assert_int_equal(tt_assert_frame_valid(t.frames[0].data, t.frames[0].len), US_IP_PROTO_UDP);
    sb_trace_free(&t);
}

/* libpcap 1.10 reads the pcapng's first 59 frames, then fails on an interface of another link
 * type: the error names the frame index, and the 59 frames are kept when asked. */
static void test_trace_pcapng_partial_kept(void **state)
{
    (void)state;
    char p[512];
    tt_public(p, "pcapng-example.pcapng");
    sb_trace_opts o = sb_trace_opts_default();
    o.keep_partial = true;
    sb_trace t;
    sb_err err;
    assert_int_equal(sb_trace_load(&t, p, &o, &err), SB_EPARTIAL);
    assert_int_equal(t.n, 59);
    assert_true(t.stats.read_error);
    assert_int_equal(t.stats.error_at, 59);
    assert_int_equal(t.stats.records, 59);
    assert_true(t.pcapng);
    char want[600];
    snprintf(want, sizeof want, "%s: read 59 frames, then: ", p);
    assert_memory_equal(err.msg, want, strlen(want));
    assert_non_null(strstr(err.msg, "different from the type of the first interface"));
    assert_null(strchr(err.msg, '\n'));
    size_t bytes = 0;
    for (size_t i = 0; i < t.n; i++)
        bytes += t.frames[i].len;
    assert_int_equal(bytes, 8227); /* as tshark counts the first 59 frames */
    sb_trace_free(&t);
}

static void test_trace_pcapng_partial_refused(void **state)
{
    (void)state;
    char p[512];
    sb_trace t;
    sb_err err;
    assert_int_equal(sb_trace_load(&t, tt_public(p, "pcapng-example.pcapng"), NULL, &err),
                     SB_EPARTIAL);
    assert_int_equal(t.n, 0);
    assert_null(t.frames);
    assert_int_equal(t.stats.error_at, 59);
    assert_non_null(strstr(err.msg, "read 59 frames, then: "));
    sb_trace_free(&t);
}

/* caplen < len: counted and skipped; the frames around it are intact and keep their index. */
static void test_trace_caplen_short_counted_and_skipped(void **state)
{
    (void)state;
    char p[512];
    tt_tmp(p, "caplen_short.pcap");
    tt_host a = {0x0a000101u, {2, 0, 0, 0, 1, 1}, 1000}, b = {0x0a000001u, {2, 0, 0, 0, 0, 1}, 80};
    uint8_t f[3][1514];
    size_t n0 = tt_tcp_frame(f[0], &a, &b, US_TCP_SYN, 1, 0, 0, NULL, 0);
    size_t n1 = tt_tcp_frame(f[1], &b, &a, US_TCP_SYN | US_TCP_ACK, 7, 2, 0, NULL, 0);
    size_t n2 = tt_tcp_frame(f[2], &a, &b, US_TCP_ACK, 2, 8, 100, NULL, 0);
    const uint8_t *data[3] = {f[0], f[1], f[2]};
    uint32_t caplen[3] = {(uint32_t)n0, 40, (uint32_t)n2};
    uint32_t len[3] = {(uint32_t)n0, (uint32_t)n1, (uint32_t)n2};
    uint64_t ts[3] = {0, 100, 250};
    tt_write_pcap(p, DLT_EN10MB, 3, data, caplen, len, ts);

    sb_trace t;
    assert_int_equal(sb_trace_load(&t, p, NULL, NULL), SB_OK);
    assert_int_equal(t.stats.records, 3);
    assert_int_equal(t.stats.truncated, 1);
    assert_int_equal(t.n, 2);
    assert_int_equal(t.frames[1].index, 2);
    assert_int_equal(t.frames[1].ts_ns, 250000);
    assert_int_equal(t.frames[1].len, n2);
    assert_memory_equal(t.frames[1].data, f[2], n2);
    assert_int_equal(t.duration_ns, 250000);
    sb_trace_free(&t);
    unlink(p);
}

/* SLL2 (protocol first, 20-byte header) and LINKTYPE_IPV4 (228), crafted. */
static void test_trace_sll2_and_ipv4_linktypes(void **state)
{
    (void)state;
    char p[512];
    tt_host a = {0x0a000101u, {2, 0, 0, 0, 1, 1}, 1000}, b = {0x0a000001u, {2, 0, 0, 0, 0, 1}, 80};
    uint8_t eth[1514];
    size_t n = tt_tcp_frame(eth, &a, &b, US_TCP_SYN, 1, 0, 0, NULL, 0);
    size_t iplen = n - 14;

    uint8_t sll2[1514];
    memset(sll2, 0, 20);
    us_put_be16(sll2, US_ETHERTYPE_IPV4); /* protocol */
    us_put_be32(sll2 + 4, 2);             /* ifindex */
    us_put_be16(sll2 + 8, 1);             /* ARPHRD_ETHER */
    sll2[11] = 6;
    memcpy(sll2 + 12, a.mac, 6);
    memcpy(sll2 + 20, eth + 14, iplen);
    const uint8_t *d1[1] = {sll2};
    uint32_t l1[1] = {(uint32_t)(20 + iplen)};
    uint64_t ts[1] = {0};
    tt_write_pcap(tt_tmp(p, "sll2.pcap"), SB_DLT_LINUX_SLL2, 1, d1, l1, l1, ts);
    sb_trace t;
    assert_int_equal(sb_trace_load(&t, p, NULL, NULL), SB_OK);
    assert_int_equal(t.linktype, SB_DLT_LINUX_SLL2);
    assert_int_equal(t.n, 1);
    assert_int_equal(t.frames[0].len, n);
    assert_memory_equal(t.frames[0].data + 12, eth + 12, n - 12); /* ethertype and IP packet */
    sb_trace_free(&t);
    unlink(p);

    const uint8_t *d2[1] = {eth + 14};
    uint32_t l2[1] = {(uint32_t)iplen};
    tt_write_pcap(tt_tmp(p, "ipv4.pcap"), SB_DLT_IPV4, 1, d2, l2, l2, ts);
    assert_int_equal(sb_trace_load(&t, p, NULL, NULL), SB_OK);
    assert_int_equal(t.linktype, SB_DLT_IPV4);
    assert_int_equal(t.n, 1);
    assert_int_equal(t.frames[0].len, n);
    assert_memory_equal(t.frames[0].data + 12, eth + 12, n - 12);
    sb_trace_free(&t);
    unlink(p);
}

/* Too short for the SLL header, and an Ethernet frame with three VLAN tags: counted malformed. */
static void test_trace_malformed_link_headers_counted(void **state)
{
    (void)state;
    char p[512];
    uint8_t shortsll[10] = {0};
    const uint8_t *d[1] = {shortsll};
    uint32_t l[1] = {10};
    uint64_t ts[1] = {0};
    tt_write_pcap(tt_tmp(p, "short_sll.pcap"), SB_DLT_LINUX_SLL, 1, d, l, l, ts);
    sb_trace t;
    assert_int_equal(sb_trace_load(&t, p, NULL, NULL), SB_OK);
    assert_int_equal(t.n, 0);
    assert_int_equal(t.stats.malformed, 1);
    sb_trace_free(&t);
    unlink(p);

    uint8_t tags3[64];
    memset(tags3, 0, sizeof tags3);
    for (int i = 0; i < 3; i++) {
        us_put_be16(tags3 + 12 + 4 * i, US_ETHERTYPE_VLAN);
        us_put_be16(tags3 + 14 + 4 * i, 100);
    }
    us_put_be16(tags3 + 24, US_ETHERTYPE_IPV4);
    d[0] = tags3;
    l[0] = sizeof tags3;
    tt_write_pcap(tt_tmp(p, "tags3.pcap"), DLT_EN10MB, 1, d, l, l, ts);
    assert_int_equal(sb_trace_load(&t, p, NULL, NULL), SB_OK);
    assert_int_equal(t.n, 0);
    assert_int_equal(t.stats.malformed, 1);
    sb_trace_free(&t);
    unlink(p);
}

static void test_trace_unsupported_linktype_refused(void **state)
{
    (void)state;
    char p[512];
    uint8_t x[32] = {0};
    const uint8_t *d[1] = {x};
    uint32_t l[1] = {32};
    uint64_t ts[1] = {0};
    tt_write_pcap(tt_tmp(p, "ieee80211.pcap"), 105 /* DLT_IEEE802_11 */, 1, d, l, l, ts);
    sb_trace t;
    sb_err err;
    assert_int_equal(sb_trace_load(&t, p, NULL, &err), SB_EUNSUPPORTED);
    char want[600];
    snprintf(want, sizeof want, "%s: unsupported link type IEEE802_11 (105)", p);
    assert_memory_equal(err.msg, want, strlen(want));
    assert_null(strchr(err.msg, '\n'));
    sb_trace_reader *r;
    assert_int_equal(sb_trace_reader_open(&r, p, NULL, NULL), SB_EUNSUPPORTED);
    assert_null(r);
    unlink(p);
}

static void test_trace_not_pcap_one_line_error(void **state)
{
    (void)state;
    char p[512];
    FILE *f = fopen(tt_tmp(p, "not_a_pcap.txt"), "w");
    assert_non_null(f);
    fputs("hello, this is not a capture\nsecond line\n", f);
    fclose(f);
    sb_trace t;
    sb_err err;
    assert_int_equal(sb_trace_load(&t, p, NULL, &err), SB_EFORMAT);
    char want[600];
    snprintf(want, sizeof want, "%s: not a readable pcap file: ", p);
    assert_memory_equal(err.msg, want, strlen(want));
    assert_null(strchr(err.msg, '\n'));
    assert_int_equal(t.n, 0);
    unlink(p);

    f = fopen(p, "w"); /* shorter than a magic number */
    assert_non_null(f);
    fputs("ab", f);
    fclose(f);
    assert_int_equal(sb_trace_load(&t, p, NULL, &err), SB_EFORMAT);
    snprintf(want, sizeof want, "%s: not a pcap file: only 2 bytes", p);
    assert_string_equal(err.msg, want);
    unlink(p);
}

static void test_trace_missing_file_one_line_error(void **state)
{
    (void)state;
    char p[512];
    tt_tmp(p, "no/such/file.pcap");
    sb_trace t;
    sb_err err;
    assert_int_equal(sb_trace_load(&t, p, NULL, &err), SB_EIO);
    char want[600];
    snprintf(want, sizeof want, "%s: cannot open: No such file or directory", p);
    assert_string_equal(err.msg, want);
    /* A directory opens but cannot be read. */
    assert_int_equal(sb_trace_load(&t, SB_TEST_TMPDIR, NULL, &err), SB_EIO);
    snprintf(want, sizeof want, "%s: cannot read: Is a directory", SB_TEST_TMPDIR);
    assert_string_equal(err.msg, want);
}

/* The streaming reader hands out the same frames as the loader. */
static void test_trace_reader_streams_same_frames(void **state)
{
    (void)state;
    char p[512];
    sb_trace t;
    load_public(&t, "ip4_fragments.pcap", 53);
    sb_trace_reader *r;
    assert_int_equal(sb_trace_reader_open(&r, tt_public(p, "ip4_fragments.pcap"), NULL, NULL),
                     SB_OK);
    sb_frame f;
    size_t i = 0;
    int rc;
    while ((rc = sb_trace_reader_next(r, &f, NULL)) == 1) {
        assert_true(i < t.n);
        assert_int_equal(f.len, t.frames[i].len);
        assert_int_equal(f.ts_ns, t.frames[i].ts_ns);
        assert_memory_equal(f.data, t.frames[i].data, f.len);
        i++;
    }
    assert_int_equal(rc, 0);
    assert_int_equal(i, 53);
    sb_trace info;
    sb_trace_reader_info(r, &info);
    assert_int_equal(info.stats.records, 53);
    assert_int_equal(info.linktype, SB_DLT_EN10MB);
    sb_trace_reader_close(r);
    sb_trace_free(&t);
}

/* After a read error the reader keeps reporting it. */
static void test_trace_reader_error_sticks(void **state)
{
    (void)state;
    char p[512];
    sb_trace_reader *r;
    assert_int_equal(sb_trace_reader_open(&r, tt_public(p, "pcapng-example.pcapng"), NULL, NULL),
                     SB_OK);
    sb_frame f;
    int n = 0, rc;
    while ((rc = sb_trace_reader_next(r, &f, NULL)) == 1)
        n++;
    assert_int_equal(n, 59);
    assert_int_equal(rc, SB_EPARTIAL);
    sb_err err;
    assert_int_equal(sb_trace_reader_next(r, &f, &err), SB_EPARTIAL);
    assert_non_null(strstr(err.msg, "read 59 frames, then: "));
    sb_trace_reader_close(r);
}

/* sb_trace_load_flows gives exactly what sb_trace_load then sb_flows_extract_opts give (the latter
 * when the load leaves frames to extract from): returns, messages, trace fields, every frame, every
 * flow and the per-frame flow and direction. */
static void assert_fused_matches_opts(const char *path, const sb_trace_opts *to,
                                      const sb_flows_opts *fo)
{
    sb_trace t, u;
    sb_flows f, g;
    sb_err e1, e2;
    memset(&e1, 0, sizeof e1);
    memset(&e2, 0, sizeof e2);
    memset(&f, 0, sizeof f);
    sb_status st = sb_trace_load(&t, path, to, &e1);
    bool extracted = st == SB_OK || (st == SB_EPARTIAL && to && to->keep_partial);
    if (extracted) {
        sb_err fe;
        assert_int_equal(sb_flows_extract_opts(&f, &t, fo, &fe), SB_OK);
    }
    bool flows_failed = true;
    memset(&g, 0xa5, sizeof g); /* whatever it held before */
    assert_int_equal(sb_trace_load_flows(&u, &g, path, to, fo, &flows_failed, &e2), st);
    assert_false(flows_failed);
    if (st != SB_OK)
        assert_string_equal(e1.msg, e2.msg);
    assert_int_equal(u.linktype, t.linktype);
    assert_int_equal(u.nanosecond, t.nanosecond);
    assert_int_equal(u.swapped, t.swapped);
    assert_int_equal(u.pcapng, t.pcapng);
    assert_int_equal(u.start_ns, t.start_ns);
    assert_int_equal(u.duration_ns, t.duration_ns);
    assert_memory_equal(&u.stats, &t.stats, sizeof t.stats);
    assert_int_equal(u.n, t.n);
    assert_int_equal(u.frames == NULL, t.frames == NULL);
    assert_int_equal(u.arena == NULL, t.arena == NULL);
    assert_int_equal(u.map_ == NULL, t.map_ == NULL);
    for (size_t i = 0; i < t.n; i++) {
        const sb_frame *a = &t.frames[i], *b = &u.frames[i];
        assert_int_equal(b->ts_ns, a->ts_ns);
        assert_int_equal(b->len, a->len);
        assert_int_equal(b->index, a->index);
        assert_int_equal(b->ethertype, a->ethertype);
        assert_int_equal(b->vlan_tags, a->vlan_tags);
        assert_memory_equal(b->data, a->data, a->len);
    }
    assert_int_equal(g.n, f.n);
    assert_int_equal(g.n_frames, f.n_frames);
    assert_memory_equal(&g.stats, &f.stats, sizeof f.stats);
    assert_int_equal(g.frame_flow == NULL, f.frame_flow == NULL);
    assert_int_equal(g.frame_dir == NULL, f.frame_dir == NULL);
    assert_int_equal(g.flows == NULL, f.flows == NULL);
    if (f.n_frames) {
        assert_memory_equal(g.frame_flow, f.frame_flow, f.n_frames * sizeof *f.frame_flow);
        assert_memory_equal(g.frame_dir, f.frame_dir, f.n_frames);
    }
    for (size_t i = 0; i < f.n; i++) {
        sb_flow a, b;
        memcpy(&a, &f.flows[i], sizeof a);
        memcpy(&b, &g.flows[i], sizeof b);
        assert_int_equal(b.n_msgs, a.n_msgs);
        for (size_t k = 0; k < a.n_msgs; k++) { /* field by field: padding is not set */
            assert_int_equal(b.msgs[k].dir, a.msgs[k].dir);
            assert_int_equal(b.msgs[k].pkts, a.msgs[k].pkts);
            assert_int_equal(b.msgs[k].bytes, a.msgs[k].bytes);
            assert_int_equal(b.msgs[k].start_ns, a.msgs[k].start_ns);
        }
        a.msgs = b.msgs = NULL;
        assert_memory_equal(&b, &a, sizeof a); /* every field, padding zeroed by the extractor */
    }
    sb_flows_free(&f);
    sb_flows_free(&g);
    sb_trace_free(&t);
    sb_trace_free(&u);
}

/* The same under every option: IPv4/ARP only or all frames, partial files refused or kept,
 * checksums checked or not; and NULL options. */
static void assert_fused_matches(const char *path)
{
    assert_fused_matches_opts(path, NULL, NULL);
    for (int k = 0; k < 8; k++) {
        sb_trace_opts to = sb_trace_opts_default();
        to.keep_non_ip = k & 1;
        to.keep_partial = k & 2;
        sb_flows_opts fo = sb_flows_opts_default();
        fo.check_csum = k & 4;
        assert_fused_matches_opts(path, &to, &fo);
    }
}

/* sb_trace_load (which reads classic pcap records in place) and the libpcap reader give the same
 * frames, counts and error for the file at path. */
static void assert_load_matches_reader_opts(const char *path, bool keep_non_ip)
{
    sb_trace_opts o = sb_trace_opts_default();
    o.keep_partial = true;
    o.keep_non_ip = keep_non_ip;
    sb_trace t;
    sb_err lerr, rerr;
    memset(&lerr, 0, sizeof lerr);
    memset(&rerr, 0, sizeof rerr);
    sb_status lst = sb_trace_load(&t, path, &o, &lerr);
    sb_trace_reader *r;
    assert_int_equal(sb_trace_reader_open(&r, path, &o, NULL), SB_OK);
    sb_frame f;
    size_t i = 0;
    int rc;
    while ((rc = sb_trace_reader_next(r, &f, &rerr)) == 1) {
        assert_true(i < t.n);
        const sb_frame *g = &t.frames[i];
        assert_int_equal(f.len, g->len);
        assert_int_equal(f.ts_ns, g->ts_ns);
        assert_int_equal(f.index, g->index);
        assert_int_equal(f.ethertype, g->ethertype);
        assert_int_equal(f.vlan_tags, g->vlan_tags);
        assert_memory_equal(f.data, g->data, f.len);
        i++;
    }
    assert_int_equal(i, t.n);
    assert_int_equal(lst, rc == 0 ? SB_OK : rc);
    if (rc < 0)
        assert_string_equal(lerr.msg, rerr.msg);
    sb_trace info;
    sb_trace_reader_info(r, &info);
    assert_memory_equal(&info.stats, &t.stats, sizeof info.stats);
    assert_int_equal(info.start_ns, t.start_ns);
    assert_int_equal(t.duration_ns, t.n ? t.frames[t.n - 1].ts_ns : 0);
    sb_trace_reader_close(r);
    sb_trace_free(&t);
}

/* ... and sb_trace_load_flows what sb_trace_load and sb_flows_extract_opts give. */
static void assert_load_matches_reader(const char *path)
{
    assert_load_matches_reader_opts(path, false);
    assert_load_matches_reader_opts(path, true);
    assert_fused_matches(path);
}

static void test_trace_load_matches_reader_public(void **state)
{
    (void)state;
    static const char *const names[] = {
        "802.1ad_QinQ.pcap",       "LINKTYPE_RAW_ipv4.pcap",  "VlanPackets.pcap",
        "ip4_fragments.pcap",      "nanosecs_big_endian.pcap", "one_http_stream_fin.pcap",
        "pcapng-example.pcapng",   "tcp-handshake-nano.pcap", "three_http_streams.pcap",
    };
    char p[512];
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        assert_load_matches_reader(tt_public(p, names[i]));
}

/* Classic pcap records the loader must leave to libpcap: a file cut inside a record's data and
 * inside a record header, a caplen above the file's snapshot length, timestamps whose sign libpcap
 * would see, and the same in the other byte order. */
static void write_raw_pcap(const char *path, bool swapped, uint32_t snaplen, size_t n,
                           const uint32_t (*hdr)[4], const uint8_t *data, size_t data_len,
                           size_t cut)
{
    uint8_t buf[8192];
    size_t len = 0;
    uint32_t fh32[5] = {0xa1b2c3d4u, 0, 0, snaplen, SB_DLT_EN10MB};
    uint16_t ver[2] = {2, 4};
    if (swapped) {
        for (int i = 0; i < 5; i++)
            fh32[i] = __builtin_bswap32(fh32[i]);
        for (int i = 0; i < 2; i++)
            ver[i] = __builtin_bswap16(ver[i]);
    }
    memcpy(buf, &fh32[0], 4);
    memcpy(buf + 4, ver, 4);
    memcpy(buf + 8, &fh32[1], 16);
    len = 24;
    for (size_t i = 0; i < n; i++) {
        uint32_t h[4];
        for (int k = 0; k < 4; k++)
            h[k] = swapped ? __builtin_bswap32(hdr[i][k]) : hdr[i][k];
        memcpy(buf + len, h, 16);
        len += 16;
        /* A record longer than the data given is cut there (and the file with it). */
        size_t d = hdr[i][2] < data_len ? hdr[i][2] : data_len;
        assert_true(len + d <= sizeof buf);
        memcpy(buf + len, data, d);
        len += d;
    }
    if (cut && cut < len)
        len = cut;
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(buf, 1, len, fp), len);
    assert_int_equal(fclose(fp), 0);
}

static void test_trace_load_matches_reader_odd_records(void **state)
{
    (void)state;
    char p[512];
    tt_tmp(p, "odd_records.pcap");
    tt_host a = {0x0a000101u, {2, 0, 0, 0, 1, 1}, 1000}, b = {0x0a000001u, {2, 0, 0, 0, 0, 1}, 80};
    uint8_t f[1514];
    uint32_t n = (uint32_t)tt_tcp_frame(f, &a, &b, US_TCP_ACK, 1, 2, 200, NULL, 0);
    for (int swapped = 0; swapped < 2; swapped++) {
        /* Well-formed, then cut inside the third record's data and inside its header. */
        const uint32_t ok[3][4] = {{1700000000u, 5, n, n}, {1700000000u, 9, n, n},
                                   {1700000001u, 1, n, n}};
        write_raw_pcap(p, swapped, 65535, 3, ok, f, n, 0);
        assert_load_matches_reader(p);
        size_t third = 24 + 2 * (16 + n);
        write_raw_pcap(p, swapped, 65535, 3, ok, f, n, third + 16 + 10);
        assert_load_matches_reader(p);
        write_raw_pcap(p, swapped, 65535, 3, ok, f, n, third + 7);
        assert_load_matches_reader(p);
        /* caplen above the snapshot length: libpcap cuts the record to it (then caplen < len). */
        write_raw_pcap(p, swapped, 100, 3, ok, f, n, 0);
        assert_load_matches_reader(p);
        /* Timestamp fields with their top bit set, and a caplen above libpcap's maximum. */
        const uint32_t odd[4][4] = {{1700000000u, 5, n, n}, {0x80000001u, 9, n, n},
                                    {1700000002u, 0x80000000u, n, n}, {1700000003u, 1, 300000u, n}};
        write_raw_pcap(p, swapped, 65535, 3, odd, f, n, 0);
        assert_load_matches_reader(p);
        write_raw_pcap(p, swapped, 65535, 1, &odd[3], f, n, 0);
        assert_load_matches_reader(p);
    }
    unlink(p);
}

/* A classic pcap file of n records: header h[i] (ts_sec, ts_frac, caplen, len) and data[i] (caplen
 * bytes; NULL for none), link type dlt, snapshot length snap, µs or ns magic, in either byte
 * order. */
static void write_records(const char *path, bool swapped, bool ns, uint32_t snap, uint32_t dlt,
                          size_t n, const uint32_t (*h)[4], const uint8_t *const *data)
{
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    uint32_t fh32[5] = {ns ? 0xa1b23c4du : 0xa1b2c3d4u, 0, 0, snap, dlt};
    uint16_t ver[2] = {2, 4};
    for (int i = 0; swapped && i < 5; i++)
        fh32[i] = __builtin_bswap32(fh32[i]);
    for (int i = 0; swapped && i < 2; i++)
        ver[i] = __builtin_bswap16(ver[i]);
    assert_int_equal(fwrite(&fh32[0], 4, 1, fp), 1);
    assert_int_equal(fwrite(ver, 2, 2, fp), 2);
    assert_int_equal(fwrite(&fh32[1], 4, 4, fp), 4);
    for (size_t i = 0; i < n; i++) {
        uint32_t r[4];
        for (int k = 0; k < 4; k++)
            r[k] = swapped ? __builtin_bswap32(h[i][k]) : h[i][k];
        assert_int_equal(fwrite(r, 4, 4, fp), 4);
        if (h[i][2])
            assert_int_equal(fwrite(data[i], 1, h[i][2], fp), h[i][2]);
    }
    assert_int_equal(fclose(fp), 0);
}

/* The loader's walk over the common records (untagged IPv4 and ARP) and every record that makes it
 * stop and step: time going backwards and before the first record, caplen < len and > len, too
 * short, non-IP, VLAN-tagged, empty; long runs of common records; the same after a first record
 * that is skipped; in both byte orders, µs and ns: frames, counts and times as the libpcap
 * reader gives them, and exactly as specified for the plain file. */
static void test_trace_load_walk_matches_reader(void **state)
{
    (void)state;
    enum { N = 211 };
    static uint32_t h[N][4];
    static const uint8_t *d[N];
    tt_host a = {0x0a000101u, {2, 0, 0, 0, 1, 1}, 1000}, b = {0x0a000001u, {2, 0, 0, 0, 0, 1}, 53};
    static uint8_t ip[1514], arp[64], ip6[54], vlan[1514], shortf[10];
    uint32_t L = (uint32_t)tt_udp_frame(ip, &a, &b, 40, NULL);
    uint32_t A = (uint32_t)tt_arp_request(arp, &a, &b);
    memcpy(ip6, ip, 12);
    us_put_be16(ip6 + 12, US_ETHERTYPE_IPV6);
    memcpy(vlan, ip, 12);
    us_put_be16(vlan + 12, US_ETHERTYPE_VLAN);
    us_put_be16(vlan + 14, 7);
    memcpy(vlan + 16, ip + 12, L - 12);
    uint32_t V = L + 4;
    const uint32_t head[10][4] = {
        {1000, 5, L, L},       {1000, 9, A, A},      {1000, 7, L, L},  {999, 0, L, L},
        {1000, 20, L - 4, L},  {1000, 21, L, L - 10}, {1000, 22, 10, 10}, {1000, 23, 54, 54},
        {1000, 24, V, V},      {1000, 25, 0, 0},
    };
    const uint8_t *hd[10] = {ip, arp, ip, ip, ip, ip, shortf, ip6, vlan, NULL};
    for (size_t i = 0; i < 10; i++) {
        memcpy(h[i], head[i], sizeof h[i]);
        d[i] = hd[i];
    }
    for (size_t i = 10; i < N; i++) {
        uint32_t r[4] = {1001 + (uint32_t)(i / 100), (uint32_t)(i % 100) * 3, L, L};
        memcpy(h[i], r, sizeof r);
        d[i] = i % 7 == 3 ? arp : ip;
        if (i % 7 == 3)
            h[i][2] = h[i][3] = A;
    }
    char p[512];
    tt_tmp(p, "walk.pcap");
    for (int sw = 0; sw < 2; sw++) {
        for (int ns = 0; ns < 2; ns++) {
            write_records(p, sw, ns, 65535, SB_DLT_EN10MB, N, h, d);
            assert_load_matches_reader(p);
            /* Skipped first records (truncated, then too short): the walk starts after them. */
            write_records(p, sw, ns, 65535, SB_DLT_EN10MB, N - 4, h + 4, d + 4);
            assert_load_matches_reader(p);
        }
    }
    /* The plain file, exactly. */
    write_records(p, false, false, 65535, SB_DLT_EN10MB, N, h, d);
    sb_trace t;
    assert_int_equal(sb_trace_load(&t, p, NULL, NULL), SB_OK);
    assert_int_equal(t.stats.records, N);
    assert_int_equal(t.stats.truncated, 1);
    assert_int_equal(t.stats.malformed, 2);
    assert_int_equal(t.stats.non_ip, 1);
    assert_int_equal(t.stats.vlan_frames, 1);
    assert_int_equal(t.stats.ts_backwards, 2);
    assert_int_equal(t.n, N - 4);
    assert_int_equal(t.stats.kept, N - 4);
    const uint64_t ts[6] = {0, 4000, 4000, 4000, 16000, 19000}; /* records 0, 1, 2, 3, 5, 8 */
    const uint32_t idx[6] = {0, 1, 2, 3, 5, 8}, len[6] = {L, A, L, L, L, L};
    for (size_t i = 0; i < 6; i++) {
        assert_int_equal(t.frames[i].ts_ns, ts[i]);
        assert_int_equal(t.frames[i].index, idx[i]);
        assert_int_equal(t.frames[i].len, len[i]);
    }
    assert_int_equal(t.frames[5].vlan_tags, 1);
    assert_memory_equal(t.frames[5].data, ip, L);
    assert_int_equal(t.frames[6].index, 10);
    assert_int_equal(t.frames[6].ts_ns, 1000025000ull);
    assert_int_equal(t.frames[N - 5].index, N - 1);
    assert_int_equal(t.frames[N - 5].ts_ns, 3000000000ull + 10 * 3000 - 5000);
    assert_int_equal(t.frames[N - 5].ethertype, US_ETHERTYPE_IPV4);
    assert_int_equal(t.duration_ns, t.frames[N - 5].ts_ns);
    sb_trace_free(&t);
    unlink(p);
}

/* A trace large enough for the frame array to be reserved from the file size at once (and trimmed
 * after): the same frames and counts as the libpcap reader, every frame used in place. */
static void test_trace_load_large_matches_reader(void **state)
{
    (void)state;
    char p[512];
    tt_tmp(p, "large.pcap");
    sb_gen_params gp;
    sb_gen_params_default(SB_GEN_UDP_ONEWAY, &gp);
    gp.seed = 3;
    gp.duration_ns = 250000000ull; /* 25 000 datagrams of 122 bytes a record: 3 MB */
    gp.rate = 100000;
    assert_int_equal(sb_gen(SB_GEN_UDP_ONEWAY, &gp, p, NULL), SB_OK);
    sb_trace t;
    assert_int_equal(sb_trace_load(&t, p, NULL, NULL), SB_OK);
    assert_true(t.n > 24000);
    assert_int_equal(t.n, t.stats.records);
    assert_null(t.arena);
    sb_trace_free(&t);
    assert_load_matches_reader_opts(p, false);
    assert_fused_matches(p);
    unlink(p);
}

/* Nothing kept: no frame array at all. */
static void test_trace_load_nothing_kept(void **state)
{
    (void)state;
    tt_host a = {0x0a000101u, {2, 0, 0, 0, 1, 1}, 1000}, b = {0x0a000001u, {2, 0, 0, 0, 0, 1}, 53};
    uint8_t ip[1514];
    uint32_t L = (uint32_t)tt_udp_frame(ip, &a, &b, 40, NULL);
    const uint32_t h[2][4] = {{1000, 0, L - 1, L}, {1000, 1, L - 1, L}};
    const uint8_t *d[2] = {ip, ip};
    char p[512];
    tt_tmp(p, "none_kept.pcap");
    write_records(p, false, false, 65535, SB_DLT_EN10MB, 2, h, d);
    sb_trace t;
    assert_int_equal(sb_trace_load(&t, p, NULL, NULL), SB_OK);
    assert_int_equal(t.n, 0);
    assert_null(t.frames);
    assert_int_equal(t.stats.truncated, 2);
    assert_int_equal(t.duration_ns, 0);
    sb_trace_free(&t);
    assert_fused_matches(p);
    unlink(p);
}

/* sb_trace_load_flows on every committed canonical trace. */
static void test_trace_load_flows_canonical(void **state)
{
    (void)state;
    char p[512];
    for (size_t i = 0; i < TT_N_CANONICAL; i++)
        assert_fused_matches(tt_canonical(p, tt_canonical_names[i]));
}

/* Records the loader normalises into its arena (VLAN-tagged), skips (cut short, non-IP) or takes in
 * bulk (two UDP conversations and their replies, ARP), some thousands of them so that the flow
 * pass is fed in many chunks with runs of one conversation and arena frames across their ends; in
 * both byte orders, then cut off part-way (the rest left to libpcap, which fails). */
static void test_trace_load_flows_chunks(void **state)
{
    (void)state;
    enum { N = 5000 };
    static uint32_t h[N][4];
    static const uint8_t *d[N];
    tt_host a = {0x0a000101u, {2, 0, 0, 0, 1, 1}, 1000}, b = {0x0a000001u, {2, 0, 0, 0, 0, 1}, 53};
    tt_host c = {0x0a000102u, {2, 0, 0, 0, 1, 2}, 2000};
    static uint8_t ab[1514], ba[1514], cb[1514], ab0[1514], vlan[1514], ip6[1514], arp[64];
    uint32_t AB = (uint32_t)tt_udp_frame(ab, &a, &b, 40, NULL);
    uint32_t BA = (uint32_t)tt_udp_frame(ba, &b, &a, 400, NULL);
    uint32_t CB = (uint32_t)tt_udp_frame(cb, &c, &b, 18, NULL);
    uint32_t AB0 = (uint32_t)tt_udp_frame(ab0, &a, &b, 0, NULL);
    memcpy(vlan, ab, 12);
    us_put_be16(vlan + 12, US_ETHERTYPE_VLAN);
    us_put_be16(vlan + 14, 7);
    memcpy(vlan + 16, ab + 12, AB - 12);
    uint32_t V = AB + 4;
    memcpy(ip6, ab, AB);
    us_put_be16(ip6 + 12, US_ETHERTYPE_IPV6);
    uint32_t A = (uint32_t)tt_arp_request(arp, &a, &b);
    size_t file_len = 24;
    for (size_t i = 0; i < N; i++) {
        uint32_t len;
        const uint8_t *x;
        /* Long runs of a -> b, broken now and then (irregularly, to land across chunk ends). */
        size_t m = (i * 7919u) % 1013u;
        if (m < 3) {
            x = vlan, len = V;
        } else if (m < 5) {
            x = ba, len = BA;
        } else if (m < 7) {
            x = cb, len = CB;
        } else if (m == 7) {
            x = arp, len = A;
        } else if (m == 8) {
            x = ip6, len = AB;
        } else if (m == 9) {
            x = ab0, len = AB0;
        } else {
            x = ab, len = AB;
        }
        uint32_t r[4] = {1000 + (uint32_t)(i / 1000), (uint32_t)(i % 1000) * 7, len, len};
        if (m == 10)
            r[2] = len - 4; /* cut short: skipped */
        memcpy(h[i], r, sizeof r);
        d[i] = x;
        file_len += 16 + r[2];
    }
    char p[512];
    tt_tmp(p, "fuse_chunks.pcap");
    for (int sw = 0; sw < 2; sw++) {
        for (int ns = 0; ns < 2; ns++) {
            write_records(p, sw, ns, 65535, SB_DLT_EN10MB, N, h, d);
            assert_fused_matches(p);
        }
    }
    write_records(p, false, false, 65535, SB_DLT_EN10MB, N, h, d);
    sb_trace t;
    sb_flows f;
    bool ff = true;
    sb_flows_opts fo = sb_flows_opts_default();
    fo.check_csum = false;
    assert_int_equal(sb_trace_load_flows(&t, &f, p, NULL, &fo, &ff, NULL), SB_OK);
    assert_false(ff);
    assert_true(t.n > N - 20);
    assert_non_null(t.arena); /* some frames normalised */
    assert_int_equal(f.n, 2);  /* a <-> b, c -> b */
    assert_int_equal(f.n_frames, t.n);
    sb_flows_free(&f);
    sb_trace_free(&t);
    /* Cut off inside a record 3/4 of the way: libpcap reads from it and fails. */
    FILE *fp = fopen(p, "r+b");
    assert_non_null(fp);
    assert_int_equal(ftruncate(fileno(fp), (off_t)(file_len * 3 / 4)), 0);
    fclose(fp);
    assert_fused_matches(p);
    unlink(p);
}

/* The load's errors come out of sb_trace_load_flows unchanged: missing file, a directory, not a
 * pcap file, an unsupported link type, the pcapng libpcap stops reading part-way (refused, or kept
 * with its flows), with no flows and flows_failed false. */
static void test_trace_load_flows_errors(void **state)
{
    (void)state;
    char p[512];
    sb_trace t;
    sb_flows f;
    sb_err err;
    bool ff = true;
    tt_tmp(p, "no/such/file.pcap");
    assert_int_equal(sb_trace_load_flows(&t, &f, p, NULL, NULL, &ff, &err), SB_EIO);
    char want[600];
    snprintf(want, sizeof want, "%s: cannot open: No such file or directory", p);
    assert_string_equal(err.msg, want);
    assert_false(ff);
    assert_int_equal(f.n, 0);
    assert_null(f.flows);
    assert_null(f.frame_flow);
    assert_int_equal(t.n, 0);
    sb_trace_free(&t);
    sb_flows_free(&f);
    assert_fused_matches(p);
    assert_fused_matches(SB_TEST_TMPDIR);

    FILE *fp = fopen(tt_tmp(p, "fuse_not_a_pcap.txt"), "w");
    assert_non_null(fp);
    fputs("hello, this is not a capture\n", fp);
    fclose(fp);
    assert_fused_matches(p);
    fp = fopen(p, "w");
    assert_non_null(fp);
    fputs("ab", fp);
    fclose(fp);
    assert_fused_matches(p);
    unlink(p);

    uint8_t x[32] = {0};
    const uint8_t *d[1] = {x};
    uint32_t l[1] = {32};
    uint64_t ts[1] = {0};
    tt_write_pcap(tt_tmp(p, "fuse_ieee80211.pcap"), 105 /* DLT_IEEE802_11 */, 1, d, l, l, ts);
    assert_fused_matches(p);
    unlink(p);

    /* Unreadable (not as root, who reads everything). */
    if (geteuid() != 0) {
        tt_write_pcap(tt_tmp(p, "fuse_unreadable.pcap"), SB_DLT_EN10MB, 1, d, l, l, ts);
        assert_int_equal(chmod(p, 0), 0);
        assert_fused_matches(p);
        unlink(p);
    }

    tt_public(p, "pcapng-example.pcapng");
    ff = true;
    assert_int_equal(sb_trace_load_flows(&t, &f, p, NULL, NULL, &ff, &err), SB_EPARTIAL);
    assert_false(ff);
    assert_non_null(strstr(err.msg, "read 59 frames, then: "));
    assert_int_equal(t.n, 0);
    assert_null(f.frame_flow);
    sb_trace_free(&t);
    sb_flows_free(&f);
    sb_trace_opts o = sb_trace_opts_default();
    o.keep_partial = true;
    assert_int_equal(sb_trace_load_flows(&t, &f, p, &o, NULL, NULL, &err), SB_EPARTIAL);
    assert_non_null(strstr(err.msg, "read 59 frames, then: "));
    assert_int_equal(t.n, 59);
    assert_int_equal(f.n_frames, 59);
    assert_true(f.n > 0);
    sb_trace_free(&t);
    sb_flows_free(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_trace_three_http_streams_ethernet),
        cmocka_unit_test(test_trace_one_http_stream_fin_count),
        cmocka_unit_test(test_trace_ip4_fragments_count),
        cmocka_unit_test(test_trace_vlan_packets_double_tags_stripped),
        cmocka_unit_test(test_trace_qinq_8021ad_stripped),
        cmocka_unit_test(test_trace_nanosecs_big_endian_exact_ns),
        cmocka_unit_test(test_trace_sll_handshake_nano),
        cmocka_unit_test(test_trace_raw_ipv4_one_frame),
        cmocka_unit_test(test_trace_pcapng_partial_kept),
        cmocka_unit_test(test_trace_pcapng_partial_refused),
        cmocka_unit_test(test_trace_caplen_short_counted_and_skipped),
        cmocka_unit_test(test_trace_sll2_and_ipv4_linktypes),
        cmocka_unit_test(test_trace_malformed_link_headers_counted),
        cmocka_unit_test(test_trace_unsupported_linktype_refused),
        cmocka_unit_test(test_trace_not_pcap_one_line_error),
        cmocka_unit_test(test_trace_missing_file_one_line_error),
        cmocka_unit_test(test_trace_reader_streams_same_frames),
        cmocka_unit_test(test_trace_reader_error_sticks),
        cmocka_unit_test(test_trace_load_matches_reader_public),
        cmocka_unit_test(test_trace_load_matches_reader_odd_records),
        cmocka_unit_test(test_trace_load_walk_matches_reader),
        cmocka_unit_test(test_trace_load_large_matches_reader),
        cmocka_unit_test(test_trace_load_nothing_kept),
        cmocka_unit_test(test_trace_load_flows_canonical),
        cmocka_unit_test(test_trace_load_flows_chunks),
        cmocka_unit_test(test_trace_load_flows_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
