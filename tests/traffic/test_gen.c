/* sbtraffic generator: determinism (same seed, same bytes; another seed, other bytes), validity of
 * every frame of every kind (all checksums verified by the wire parsers), the exact shape of each
 * kind (counts, spacing, message sizes), parameter refusals, and that a failed run leaves no file
 * behind and an existing one untouched. Also the deterministic logarithm. */
#include <math.h>
#include <sys/stat.h>

#include "traffic_test.h"

#include "sbtraffic/flows.h"
#include "sbtraffic/gen.h"
#include "sbtraffic/rng.h"

/* Short runs of every kind: small but with all their features. */
static void short_params(sb_gen_kind k, uint64_t seed, sb_gen_params *p)
{
    sb_gen_params_default(k, p);
    p->seed = seed;
    p->duration_ns = k == SB_GEN_IDLE_HEAVY ? 2000000000ull
                     : k == SB_GEN_TCP_BULK ? 20000000ull
                                            : 100000000ull;
}

static void gen_ok(sb_gen_kind k, const sb_gen_params *p, const char *path)
{
    sb_err err;
    if (sb_gen(k, p, path, &err) != SB_OK)
        fail_msg("%s: %s", sb_gen_info(k)->name, err.msg);
}

static uint8_t *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc((size_t)n + 1);
    assert_non_null(b);
    assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return b;
}

static bool exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static void load_gen(sb_gen_kind k, const sb_gen_params *p, sb_trace *t, sb_flows *f)
{
    char path[512];
    tt_tmp(path, "shape.pcap");
    gen_ok(k, p, path);
    assert_int_equal(sb_trace_load(t, path, NULL, NULL), SB_OK);
    unlink(path);
    if (f)
        assert_int_equal(sb_flows_extract(f, t, NULL), SB_OK);
}

static void test_gen_same_seed_same_bytes(void **state)
{
    (void)state;
    for (unsigned k = 0; k < SB_GEN_KIND_COUNT; k++) {
        char a[512], b[512];
        tt_tmp(a, "same_a.pcap");
        tt_tmp(b, "same_b.pcap");
        sb_gen_params p;
        short_params((sb_gen_kind)k, 7, &p);
        gen_ok((sb_gen_kind)k, &p, a);
        gen_ok((sb_gen_kind)k, &p, b);
        size_t na, nb;
        uint8_t *da = slurp(a, &na), *db = slurp(b, &nb);
        assert_int_equal(na, nb);
        assert_memory_equal(da, db, na);
        free(da);
        free(db);
        unlink(a);
        unlink(b);
    }
}

static void test_gen_different_seed_different_bytes(void **state)
{
    (void)state;
    for (unsigned k = 0; k < SB_GEN_KIND_COUNT; k++) {
        char a[512], b[512];
        tt_tmp(a, "seed_a.pcap");
        tt_tmp(b, "seed_b.pcap");
        sb_gen_params p;
        short_params((sb_gen_kind)k, 7, &p);
        gen_ok((sb_gen_kind)k, &p, a);
        p.seed = 8;
        gen_ok((sb_gen_kind)k, &p, b);
        size_t na, nb;
        uint8_t *da = slurp(a, &na), *db = slurp(b, &nb);
        assert_true(na != nb || memcmp(da, db, na) != 0);
        free(da);
        free(db);
        unlink(a);
        unlink(b);
    }
}

/* Every frame of every kind parses with every checksum verified; frames are at least the Ethernet
 * minimum; time never runs backwards; TCP flows are complete. */
static void test_gen_every_frame_valid(void **state)
{
    (void)state;
    for (unsigned k = 0; k < SB_GEN_KIND_COUNT; k++) {
        sb_gen_params p;
        short_params((sb_gen_kind)k, 3, &p);
        sb_trace t;
        sb_flows f;
        load_gen((sb_gen_kind)k, &p, &t, &f);
        assert_int_equal(t.linktype, SB_DLT_EN10MB);
        assert_true(t.nanosecond);
        assert_int_equal(t.stats.ts_backwards, 0);
        assert_int_equal(t.stats.truncated + t.stats.non_ip + t.stats.malformed, 0);
        assert_true(t.n > 2);
        assert_int_equal(t.start_ns, SB_GEN_EPOCH_S * 1000000000ull);
        for (size_t i = 0; i < t.n; i++) {
            assert_true(t.frames[i].len >= 60 && t.frames[i].len <= 1514);
            tt_assert_frame_valid(t.frames[i].data, t.frames[i].len);
        }
        assert_int_equal(f.stats.bad_ip_csum + f.stats.bad_l4_csum + f.stats.malformed_ip +
                             f.stats.malformed_l4 + f.stats.fragments,
                         0);
        assert_int_equal(f.stats.arp, 2 * (k == SB_GEN_IOT_MIX ? 20 : k == SB_GEN_BURSTY ? 4 : 1));
        for (size_t i = 0; i < f.n; i++) {
            const sb_flow *fl = &f.flows[i];
            assert_int_equal(fl->key.server_ip, 0x0a000001u);
            assert_int_equal(fl->key.client_ip >> 8, 0x0a0001u);
            if (fl->key.proto != US_IP_PROTO_TCP)
                continue;
            assert_true(fl->syn_seen && fl->synack_seen);
            assert_true(fl->fin[SB_C2S] && fl->fin[SB_S2C]);
            assert_false(fl->rst);
            assert_int_equal(fl->retrans_bytes[SB_C2S] + fl->retrans_bytes[SB_S2C], 0);
        }
        sb_flows_free(&f);
        sb_trace_free(&t);
    }
}

/* 64-byte datagrams every 100 µs from 1 ms on, for 0.2 s: 1990 of them after the ARP pair. */
static void test_gen_udp_oneway_exact(void **state)
{
    (void)state;
    sb_gen_params p;
    sb_gen_params_default(SB_GEN_UDP_ONEWAY, &p);
    p.seed = 1;
    p.duration_ns = 200000000;
    sb_trace t;
    sb_flows f;
    load_gen(SB_GEN_UDP_ONEWAY, &p, &t, &f);
    assert_int_equal(t.n, 1992);
    assert_int_equal(t.frames[2].ts_ns, SB_GEN_START_NS);
    for (size_t i = 3; i < t.n; i++)
        assert_int_equal(t.frames[i].ts_ns - t.frames[i - 1].ts_ns, 100000);
    assert_int_equal(t.frames[2].len, 14 + 20 + 8 + 64);
    assert_int_equal(f.n, 1);
    assert_int_equal(f.flows[0].key.proto, US_IP_PROTO_UDP);
    assert_int_equal(f.flows[0].bytes[SB_C2S], 1990 * 64);
    assert_int_equal(f.flows[0].pkts[SB_S2C], 0);
    assert_int_equal(f.flows[0].n_msgs, 1);
    sb_flows_free(&f);
    sb_trace_free(&t);
}

/* One connection; 1460-byte segments every 125 µs from the handshake's end (1.23 ms) to 10 ms; the
 * server ACKs every second one. */
static void test_gen_tcp_bulk_shape(void **state)
{
    (void)state;
    sb_gen_params p;
    sb_gen_params_default(SB_GEN_TCP_BULK, &p);
    p.seed = 2;
    p.duration_ns = 10000000;
    sb_trace t;
    sb_flows f;
    load_gen(SB_GEN_TCP_BULK, &p, &t, &f);
    assert_int_equal(f.n, 1);
    const sb_flow *fl = &f.flows[0];
    const uint64_t segs = 71; /* 1.23 ms + k * 0.125 ms < 10 ms */
    assert_int_equal(fl->bytes[SB_C2S], segs * 1460);
    assert_int_equal(fl->bytes[SB_S2C], 0);
    assert_int_equal(fl->n_msgs, 1);
    /* client: SYN, ACK, segments, FIN, last ACK; server: SYN-ACK, an ACK per 2 segments, FIN. */
    assert_int_equal(fl->pkts[SB_C2S], 2 + segs + 2);
    assert_int_equal(fl->pkts[SB_S2C], 1 + segs / 2 + 1);
    assert_int_equal(t.n, 2 + fl->pkts[SB_C2S] + fl->pkts[SB_S2C]);
    assert_int_equal(fl->key.server_port, 9001);
    sb_flows_free(&f);
    sb_trace_free(&t);
}

/* Request/response: every connection's messages alternate 100 bytes up, 1000 bytes down. */
static void test_gen_tcp_rr_messages_alternate(void **state)
{
    (void)state;
    sb_gen_params p;
    sb_gen_params_default(SB_GEN_TCP_RR, &p);
    p.seed = 3;
    p.duration_ns = 100000000;
    p.resp_size = 3000; /* three segments */
    sb_trace t;
    sb_flows f;
    load_gen(SB_GEN_TCP_RR, &p, &t, &f);
    assert_int_equal(f.n, 4);
    uint64_t requests = 0;
    for (size_t i = 0; i < f.n; i++) {
        const sb_flow *fl = &f.flows[i];
        assert_int_equal(fl->key.client_port, 49152 + i);
        assert_true(fl->n_msgs >= 2);
        assert_int_equal(fl->n_msgs % 2, 0);
        for (size_t m = 0; m < fl->n_msgs; m++) {
            assert_int_equal(fl->msgs[m].dir, m % 2 ? SB_S2C : SB_C2S);
            assert_int_equal(fl->msgs[m].bytes, m % 2 ? 3000 : 100);
            assert_int_equal(fl->msgs[m].pkts, m % 2 ? 3 : 1);
        }
        requests += fl->n_msgs / 2;
    }
    /* About rate x (duration - 1.5 ms) = 98 Poisson arrivals. */
    assert_true(requests > 60 && requests < 140);
    sb_flows_free(&f);
    sb_trace_free(&t);
}

static void test_gen_icmp_ping_every_10ms(void **state)
{
    (void)state;
    sb_gen_params p;
    sb_gen_params_default(SB_GEN_ICMP_PING, &p);
    p.seed = 4;
    p.duration_ns = 100000000;
    sb_trace t;
    sb_flows f;
    load_gen(SB_GEN_ICMP_PING, &p, &t, &f);
    assert_int_equal(t.n, 2 + 20);
    assert_int_equal(f.n, 1);
    assert_int_equal(f.flows[0].key.proto, US_IP_PROTO_ICMP);
    assert_int_equal(f.flows[0].pkts[SB_C2S], 10);
    assert_int_equal(f.flows[0].pkts[SB_S2C], 10);
    assert_int_equal(f.flows[0].bytes[SB_C2S], 560);
    assert_int_equal(f.flows[0].n_msgs, 20);
    assert_int_equal(t.frames[4].ts_ns - t.frames[2].ts_ns, 10000000);
    assert_int_equal(t.frames[3].ts_ns - t.frames[2].ts_ns, SB_GEN_SERVER_NS);
    sb_flows_free(&f);
    sb_trace_free(&t);
}

/* Within a burst, frames follow each other at exactly their wire time. */
static void test_gen_bursty_back_to_back(void **state)
{
    (void)state;
    sb_gen_params p;
    sb_gen_params_default(SB_GEN_BURSTY, &p);
    p.seed = 6;
    p.duration_ns = 100000000;
    sb_trace t;
    load_gen(SB_GEN_BURSTY, &p, &t, NULL);
    assert_true(t.n > 8 + 64);
    assert_int_equal((t.n - 8) % 64, 0);
    /* 14 + 20 + 8 + 128 bytes + 24 of preamble, FCS and gap, at 1 Gbit/s. */
    assert_int_equal(p.size, 128);
    assert_true(p.link_mbps == 1000);
    const uint64_t wire = (14 + 20 + 8 + 128 + 24) * 8;
    for (size_t i = 9; i < 8 + 64; i++)
        assert_int_equal(t.frames[i].ts_ns - t.frames[i - 1].ts_ns, wire);
    sb_trace_free(&t);
}

/* Long silences: most of the trace is gaps of tens of ms. */
static void test_gen_idle_heavy_long_gaps(void **state)
{
    (void)state;
    sb_gen_params p;
    sb_gen_params_default(SB_GEN_IDLE_HEAVY, &p);
    p.seed = 7;
    p.duration_ns = 2000000000;
    sb_trace t;
    sb_flows f;
    load_gen(SB_GEN_IDLE_HEAVY, &p, &t, &f);
    uint64_t long_gaps = 0;
    for (size_t i = 1; i < t.n; i++)
        long_gaps += t.frames[i].ts_ns - t.frames[i - 1].ts_ns >= 10000000 ? 1 : 0;
    assert_true(long_gaps >= 3);
    assert_true(t.n < 100);
    assert_true(f.n >= 2); /* the TCP connection and UDP exchanges */
    sb_flows_free(&f);
    sb_trace_free(&t);
}

static void test_gen_iot_mix_many_clients(void **state)
{
    (void)state;
    sb_gen_params p;
    sb_gen_params_default(SB_GEN_IOT_MIX, &p);
    p.seed = 5;
    p.duration_ns = 500000000;
    sb_trace t;
    sb_flows f;
    load_gen(SB_GEN_IOT_MIX, &p, &t, &f);
    uint32_t seen[256] = {0};
    size_t clients = 0, tcp = 0, udp = 0;
    for (size_t i = 0; i < f.n; i++) {
        uint32_t c = f.flows[i].key.client_ip & 0xffu;
        clients += seen[c]++ == 0;
        tcp += f.flows[i].key.proto == US_IP_PROTO_TCP;
        udp += f.flows[i].key.proto == US_IP_PROTO_UDP;
        for (size_t m = 0; m < f.flows[i].n_msgs; m++)
            if (f.flows[i].msgs[m].dir == SB_C2S)
                assert_true(f.flows[i].msgs[m].bytes >= 8);
    }
    assert_int_equal(clients, 20);
    assert_true(tcp >= 15 && udp >= 15);
    sb_flows_free(&f);
    sb_trace_free(&t);
}

static void test_gen_rejects_bad_params(void **state)
{
    (void)state;
    char path[512];
    tt_tmp(path, "bad.pcap");
    sb_gen_params p;
    sb_err err;
    sb_gen_params_default(SB_GEN_UDP_ONEWAY, &p);
    p.size = 2000;
    assert_int_equal(sb_gen(SB_GEN_UDP_ONEWAY, &p, path, &err), SB_EINVAL);
    assert_string_equal(err.msg, "--size 2000: must be 1 to 1472 for udp-oneway");
    sb_gen_params_default(SB_GEN_TCP_RR, &p);
    p.conns = 0;
    assert_int_equal(sb_gen(SB_GEN_TCP_RR, &p, path, &err), SB_EINVAL);
    assert_string_equal(err.msg, "--conns 0: must be 1 to 1000 for tcp-rr");
    sb_gen_params_default(SB_GEN_ICMP_PING, &p);
    p.rate = 0;
    assert_int_equal(sb_gen(SB_GEN_ICMP_PING, &p, path, &err), SB_EINVAL);
    p.rate = 100;
    p.duration_ns = 0;
    assert_int_equal(sb_gen(SB_GEN_ICMP_PING, &p, path, &err), SB_EINVAL);
    sb_gen_params_default(SB_GEN_TCP_BULK, &p);
    p.rate = 1e6;
    p.duration_ns = 3600ull * 1000000000ull;
    assert_int_equal(sb_gen(SB_GEN_TCP_BULK, &p, path, &err), SB_EINVAL);
    assert_non_null(strstr(err.msg, "frames"));
    assert_int_equal(sb_gen(SB_GEN_KIND_COUNT, &p, path, &err), SB_EINVAL);
    assert_false(exists(path));
}

static void test_gen_unwritable_output_leaves_nothing(void **state)
{
    (void)state;
    char path[512], tmp[600];
    sb_gen_params p;
    sb_gen_params_default(SB_GEN_ICMP_PING, &p);
    p.duration_ns = 50000000;
    sb_err err;
    tt_tmp(path, "no_such_dir/x.pcap");
    assert_int_equal(sb_gen(SB_GEN_ICMP_PING, &p, path, &err), SB_EIO);
    char want[600];
    snprintf(want, sizeof want, "cannot write %s: No such file or directory", path);
    assert_string_equal(err.msg, want);
    /* The output is a directory: written to .tmp, the rename fails, the .tmp is removed. */
    tt_tmp(path, "a_directory");
    mkdir(path, 0755);
    assert_int_equal(sb_gen(SB_GEN_ICMP_PING, &p, path, &err), SB_EIO);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    assert_false(exists(tmp));
    rmdir(path);
}

/* An existing output survives a failed run and is replaced by a good one. */
static void test_gen_existing_output_replaced_only_on_success(void **state)
{
    (void)state;
    char path[512], tmp[600];
    tt_tmp(path, "keep.pcap");
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("old", f);
    fclose(f);
    sb_gen_params p;
    sb_gen_params_default(SB_GEN_ICMP_PING, &p);
    p.duration_ns = 50000000;
    p.size = 5000;
    assert_int_equal(sb_gen(SB_GEN_ICMP_PING, &p, path, NULL), SB_EINVAL);
    size_t n;
    uint8_t *d = slurp(path, &n);
    assert_int_equal(n, 3);
    free(d);
    p.size = 56;
    assert_int_equal(sb_gen(SB_GEN_ICMP_PING, &p, path, NULL), SB_OK);
    d = slurp(path, &n);
    assert_true(n > 100);
    assert_int_equal(us_get_be32(d), 0x4d3cb2a1u); /* ns pcap magic, little-endian */
    free(d);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    assert_false(exists(tmp));
    unlink(path);
}

static void test_gen_kind_names(void **state)
{
    (void)state;
    const char *names[SB_GEN_KIND_COUNT] = {"udp-oneway", "tcp-bulk", "tcp-rr", "icmp-ping",
                                            "iot-mix", "bursty", "idle-heavy"};
    for (unsigned k = 0; k < SB_GEN_KIND_COUNT; k++) {
        sb_gen_kind got;
        assert_int_equal(sb_gen_kind_parse(names[k], &got, NULL), SB_OK);
        assert_int_equal(got, k);
        assert_string_equal(sb_gen_info(got)->name, names[k]);
        sb_gen_params p;
        sb_gen_params_default(got, &p);
        assert_int_equal(sb_gen_check(got, &p, NULL), SB_OK);
    }
    sb_gen_kind got;
    sb_err err;
    assert_int_equal(sb_gen_kind_parse("tcp_bulk", &got, &err), SB_EINVAL);
    assert_non_null(strstr(err.msg, "unknown kind 'tcp_bulk'"));
    assert_null(sb_gen_info(SB_GEN_KIND_COUNT));
}

/* The home-made logarithm agrees with libm's to a few ulp, and exponential variates have the
 * requested mean. */
static void test_rng_ln_and_exponential(void **state)
{
    (void)state;
    sb_rng r;
    sb_rng_seed(&r, 99);
    for (int i = 0; i < 100000; i++) {
        double u = sb_rng_unit(&r);
        assert_true(u > 0 && u <= 1);
        double a = sb_ln(u), b = log(u);
        assert_true(fabs(a - b) <= 4 * 2.220446049250313e-16 * fmax(1.0, fabs(b)));
    }
    assert_true(sb_ln(1.0) == 0.0);
    double sum = 0;
    for (int i = 0; i < 100000; i++)
        sum += (double)sb_rng_exp_ns(&r, 1000000.0);
    assert_true(fabs(sum / 100000 - 1000000.0) < 10000.0);
    sb_rng a, b;
    sb_rng_seed(&a, 5);
    sb_rng_seed(&b, 5);
    for (int i = 0; i < 100; i++)
        assert_int_equal(sb_rng_next(&a), sb_rng_next(&b));
    for (int i = 0; i < 1000; i++)
        assert_true(sb_rng_below(&a, 7) < 7);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gen_same_seed_same_bytes),
        cmocka_unit_test(test_gen_different_seed_different_bytes),
        cmocka_unit_test(test_gen_every_frame_valid),
        cmocka_unit_test(test_gen_udp_oneway_exact),
        cmocka_unit_test(test_gen_tcp_bulk_shape),
        cmocka_unit_test(test_gen_tcp_rr_messages_alternate),
        cmocka_unit_test(test_gen_icmp_ping_every_10ms),
        cmocka_unit_test(test_gen_bursty_back_to_back),
        cmocka_unit_test(test_gen_idle_heavy_long_gaps),
        cmocka_unit_test(test_gen_iot_mix_many_clients),
        cmocka_unit_test(test_gen_rejects_bad_params),
        cmocka_unit_test(test_gen_unwritable_output_leaves_nothing),
        cmocka_unit_test(test_gen_existing_output_replaced_only_on_success),
        cmocka_unit_test(test_gen_kind_names),
        cmocka_unit_test(test_rng_ln_and_exponential),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
