/* stackbench replay: the command line of the harness (harness.h). Every flag is checked before
 * anything is written: a bad flag or value, or a trace or cost profile that cannot be read, is one
 * line "stackbench replay: <problem>" on stderr and exit 2, with nothing in --out. The result files
 * are written under temporary names and renamed when the run is complete (results.h); a short
 * summary goes to stdout. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <pcap/pcap.h>

#include "cli.h"
#include "harness.h"
#include "results.h"
#include "sbhost/link.h"

#define PROG "stackbench replay"

enum {
    OPT_HELP = 'h',
    OPT_TRACE = 256,
    OPT_MODE,
    OPT_SCHED,
    OPT_EGRESS,
    OPT_POOL,
    OPT_IDLE,
    OPT_RX_RING,
    OPT_TX_RING,
    OPT_IRQ,
    OPT_BURST,
    OPT_RATE,
    OPT_DELAY,
    OPT_LOSS,
    OPT_QUEUE,
    OPT_COST,
    OPT_SEED,
    OPT_OUT,
    OPT_PCAP,
    OPT_TS,
    OPT_TS_INTERVAL,
    OPT_SPEED,
    OPT_BUDGET,
    OPT_DRAIN,
    OPT_PROGRESS,
    OPT_NO_SKIP,
    OPT_QUIET,
    OPT_CSUM,
};

static const struct option long_opts[] = {
    {"trace", required_argument, NULL, OPT_TRACE},
    {"mode", required_argument, NULL, OPT_MODE},
    {"sched", required_argument, NULL, OPT_SCHED},
    {"egress", required_argument, NULL, OPT_EGRESS},
    {"pool", required_argument, NULL, OPT_POOL},
    {"idle-us", required_argument, NULL, OPT_IDLE},
    {"rx-ring", required_argument, NULL, OPT_RX_RING},
    {"tx-ring", required_argument, NULL, OPT_TX_RING},
    {"irq-ns", required_argument, NULL, OPT_IRQ},
    {"burst", required_argument, NULL, OPT_BURST},
    {"link-rate", required_argument, NULL, OPT_RATE},
    {"delay-us", required_argument, NULL, OPT_DELAY},
    {"loss", required_argument, NULL, OPT_LOSS},
    {"queue", required_argument, NULL, OPT_QUEUE},
    {"cost", required_argument, NULL, OPT_COST},
    {"seed", required_argument, NULL, OPT_SEED},
    {"out", required_argument, NULL, OPT_OUT},
    {"pcap-out", required_argument, NULL, OPT_PCAP},
    {"timeseries", no_argument, NULL, OPT_TS},
    {"ts-interval-us", required_argument, NULL, OPT_TS_INTERVAL},
    {"speed", required_argument, NULL, OPT_SPEED},
    {"napi-budget", required_argument, NULL, OPT_BUDGET},
    {"drain-ms", required_argument, NULL, OPT_DRAIN},
    {"progress", no_argument, NULL, OPT_PROGRESS},
    {"no-skip-idle", no_argument, NULL, OPT_NO_SKIP},
    {"quiet", no_argument, NULL, OPT_QUIET},
    {"rx-csum-offload", no_argument, NULL, OPT_CSUM},
    {"help", no_argument, NULL, OPT_HELP},
    {NULL, 0, NULL, 0},
};

static void help(void)
{
    printf(
        "usage: stackbench replay --trace FILE --out DIR [options]\n\n"
        "Runs libustack (the stack under test) behind a simulated NIC on one simulated CPU, under\n"
        "one scheduler, in virtual time, on a traffic trace; writes DIR/summary.json and\n"
        "DIR/summary.csv (one record, see docs/replay.md). The stack plays the trace's server\n"
        "(10.0.0.1); built-in applications answer (UDP sink, TCP sink / request-response server;\n"
        "ICMP echo is in the stack). The same inputs, profile and seed give the same record,\n"
        "except measured_cpu_ns and wall_ns.\n\n"
        "traffic:\n"
        "  --trace FILE        pcap / pcapng trace (required)\n"
        "  --mode open|flow    open: the clients' frames reach the stack at their timestamps,\n"
        "                      rewritten for it (open loop); flow: a peer stack re-enacts the\n"
        "                      trace's flows over a link model (closed loop) (default open)\n"
        "  --speed X           trace time is divided by X, > 0 (default 1)\n"
        "  --link-rate R       bit/s, with an optional k/M/G/T multiplier (powers of 1000) and\n"
        "                      unit bps, bit/s: 100M, 1G, 2500000. flow: the rate of both links\n"
        "                      (default 100M); open: replay back to back at R, each frame leaving\n"
        "                      when the link is free, instead of at the timestamps (default: off)\n"
        "  --delay-us D        propagation delay of each link direction, microseconds, up to 3\n"
        "                      decimals (default 0 in open mode, 100 in flow mode)\n"
        "  --loss P            probability each frame is lost on each link, 0 to 1 (default 0)\n"
        "  --queue N           frames that may wait on each link in flow mode, tail drop beyond\n"
        "                      (default 1000)\n"
        "  --drain-ms MS       end at most MS milliseconds of virtual time after the last trace\n"
        "                      event, if the traffic has not finished by then (default 2000)\n"
        "stack and scheduler:\n"
        "  --sched sync|async|napi  the scheduler (default sync)\n"
        "  --egress all|readylist   async/napi egress: every socket, or those that asked\n"
        "                      (default all; sync always visits all)\n"
        "  --idle-us U         sync: longest sleep between loop iterations, microseconds, up to 3\n"
        "                      decimals; 0 = busy polling (default 100)\n"
        "  --napi-budget B     napi: frames per poll, 1 to 65536 (default 64)\n"
        "  --pool N            PBUF_POOL blocks (RX buffers) of the stack, 1 to 1000000\n"
        "                      (default 32)\n"
        "  --rx-ring N         NIC RX descriptors, 1 to 65536 (default 16)\n"
        "  --tx-ring N         NIC TX descriptors, 1 to 65536 (default 8)\n"
        "  --irq-ns N          NIC frame arrival to interrupt handler, ns (default 500)\n"
        "  --burst N           frames one sync iteration drains, 0 = until empty (default 0)\n"
        "  --rx-csum-offload   the NIC has verified received checksums: the stack does not check\n"
        "                      them (for captures taken with checksum offload, whose TCP/UDP\n"
        "                      checksums are wrong) (default: the stack checks)\n"
        "  --cost PROFILE      CPU cost profile file (configs/*.ini), or 'default' for the built-in\n"
        "                      one, the same as configs/cost-default.ini (default default)\n"
        "  --seed S            seed of ISNs and link loss, 0 to 2^63-1 (default 0)\n"
        "output:\n"
        "  --out DIR           result directory, created if missing (required); previous\n"
        "                      summary.* and timeseries.csv in it are removed first\n"
        "  --timeseries        also write DIR/timeseries.csv: per interval t_ns, goodput_bps,\n"
        "                      cpu_busy_ns, pool_in_use\n"
        "  --ts-interval-us U  timeseries interval, microseconds (default 1000)\n"
        "  --pcap-out FILE     write every frame the stack sent to FILE (pcap, ns timestamps)\n"
        "  --progress          report progress on stderr every few seconds (default: only when\n"
        "                      stderr is a terminal)\n"
        "  --quiet             no summary on stdout\n"
        "  --no-skip-idle      run every silent sync iteration one by one instead of accounting a\n"
        "                      silent stretch in one step (slow; the record is the same)\n"
        "  --help              this text\n\n"
        "exit status: 0 done; 1 the run failed (a leak found at teardown, out of memory);\n"
        "2 bad usage, unreadable trace or profile, or output that could not be written.\n");
}

static uint64_t monotonic_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

static const char *sched_name(us_sched_kind k)
{
    return k == US_SCHED_SYNC ? "sync" : k == US_SCHED_ASYNC ? "async" : "napi";
}

/* --pcap-out: pcap dumper with ns timestamps at the trace's own clock. */
typedef struct capture {
    pcap_dumper_t *d;
    pcap_t *p;
    uint64_t start_ns;
} capture;

static void capture_frame(void *ctx, const uint8_t *frame, uint32_t len, us_time t)
{
    capture *c = ctx;
    uint64_t ns = c->start_ns + t;
    struct pcap_pkthdr h;
    h.ts.tv_sec = (time_t)(ns / 1000000000u);
    h.ts.tv_usec = (suseconds_t)(ns % 1000000000u); /* ns: the dumper is ns-precision */
    h.caplen = len;
    h.len = len;
    pcap_dump((u_char *)c->d, &h, frame);
}

static void progress(void *ctx, us_time now, us_time horizon, uint64_t frames)
{
    (void)ctx;
    if (horizon == US_TIME_NEVER)
        fprintf(stderr, PROG ": virtual %.3f s, %" PRIu64 " frames in\n", (double)now / 1e9,
                frames);
    else
        fprintf(stderr, PROG ": virtual %.3f s of at most %.3f s, %" PRIu64 " frames in\n",
                (double)now / 1e9, (double)horizon / 1e9, frames);
}

static void summary(const char *trace, const sb_replay_config *c, const char *cost_name,
                    const sb_replay_result *r, size_t trace_frames)
{
    printf("replay %s: %s mode, %s", trace, c->mode == SB_REPLAY_OPEN ? "open" : "flow",
           sched_name(c->sched.kind));
    if (c->sched.kind == US_SCHED_SYNC)
        printf(" (idle %.3f us)", (double)c->sched.idle_interval / 1e3);
    else
        printf(" (egress %s)", c->sched.egress == US_EGRESS_ALL ? "all" : "readylist");
    if (c->sched.kind == US_SCHED_NAPI)
        printf(" budget %u", (unsigned)c->sched.napi_budget);
    printf(", pool %u, rx ring %u, cost %s, seed %" PRIu64 "\n", (unsigned)c->pool,
           (unsigned)c->rx_ring, cost_name, c->seed);
    printf("  %.6f s virtual%s: %" PRIu64 " frames in, %" PRIu64 " out; delivered %" PRIu64
           " B, goodput %.3f Mbit/s\n",
           (double)r->sim_duration_ns / 1e9, r->finished ? "" : " (drain timeout)", r->frames_rx,
           r->frames_tx, r->bytes_delivered, (double)r->goodput_bps / 1e6);
    printf("  wakeups %" PRIu64 " (%" PRIu64 " empty), cpu_util %.6f, pool hwm %" PRIu32
           ", latency p50 %" PRIu64 " ns, p99 %" PRIu64 " ns\n",
           r->wakeups, r->empty_wakeups, (double)r->cpu_util_ppm / 1e6, r->pool_hwm,
           r->lat_p50_ns, r->lat_p99_ns);
    printf("  drops: rx ring %" PRIu64 ", rx pool %" PRIu64 ", tx refused %" PRIu64
           ", link %" PRIu64,
           r->rx_drop_ring, r->rx_drop_pool, r->tx_alloc_fail, r->link_lost + r->peer_link_lost);
    if (c->mode == SB_REPLAY_OPEN)
        printf("; held for ISN %" PRIu64 " (never sent %" PRIu64 "), unusable %" PRIu64 "\n",
               r->open_held, r->open_held_dropped, r->open_unusable);
    else
        printf("; flows done %" PRIu64 "/%" PRIu64 ", peer sent %" PRIu64 " B\n", r->flows_done,
               r->flows_total, r->peer_bytes_sent);
    double wall = (double)r->wall_ns / 1e9;
    printf("  wall %.3f s, %.0f trace frames/s\n", wall,
           wall > 0 ? (double)trace_frames / wall : 0.0);
}

int sb_cmd_replay(int argc, char **argv)
{
    sb_replay_config cfg;
    sb_replay_config_default(&cfg);
    const char *trace_path = NULL, *out = NULL, *pcap_out = NULL, *cost_path = "default";
    bool rate_given = false, delay_given = false, ts = false, want_progress = false,
         quiet = false, egress_given = false;
    unsigned long long ts_interval = 1000000; /* ns */
    unsigned long long v;
    unsigned long u;

    opterr = 0;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, ":h", long_opts, NULL)) != -1) {
        switch (c) {
        case OPT_HELP:
            help();
            return 0;
        case OPT_TRACE:
            trace_path = optarg;
            break;
        case OPT_MODE:
            if (strcmp(optarg, "open") == 0)
                cfg.mode = SB_REPLAY_OPEN;
            else if (strcmp(optarg, "flow") == 0)
                cfg.mode = SB_REPLAY_FLOW;
            else
                return sb_cli_bad_value(PROG, "mode", optarg, "must be open or flow");
            break;
        case OPT_SCHED:
            if (strcmp(optarg, "sync") == 0)
                cfg.sched.kind = US_SCHED_SYNC;
            else if (strcmp(optarg, "async") == 0)
                cfg.sched.kind = US_SCHED_ASYNC;
            else if (strcmp(optarg, "napi") == 0)
                cfg.sched.kind = US_SCHED_NAPI;
            else
                return sb_cli_bad_value(PROG, "sched", optarg, "must be sync, async or napi");
            break;
        case OPT_EGRESS:
            if (strcmp(optarg, "all") == 0)
                cfg.sched.egress = US_EGRESS_ALL;
            else if (strcmp(optarg, "readylist") == 0)
                cfg.sched.egress = US_EGRESS_READYLIST;
            else
                return sb_cli_bad_value(PROG, "egress", optarg, "must be all or readylist");
            egress_given = true;
            break;
        case OPT_POOL:
            if (sb_parse_u32(optarg, 1000000, &u) != 0 || u == 0)
                return sb_cli_bad_value(PROG, "pool", optarg, "not a whole number from 1 to 1000000");
            cfg.pool = (uint32_t)u;
            break;
        case OPT_IDLE:
            if (sb_parse_decimal_scaled(optarg, 3, 3600ull * 1000000000ull, &v) != 0)
                return sb_cli_bad_value(PROG, "idle-us", optarg,
                                 "not a number of microseconds from 0 to 3.6e9 (at most 3 "
                                 "decimals)");
            cfg.sched.idle_interval = v;
            break;
        case OPT_RX_RING:
            if (sb_parse_u32(optarg, 65536, &u) != 0 || u == 0)
                return sb_cli_bad_value(PROG, "rx-ring", optarg, "not a whole number from 1 to 65536");
            cfg.rx_ring = (uint32_t)u;
            break;
        case OPT_TX_RING:
            if (sb_parse_u32(optarg, 65536, &u) != 0 || u == 0)
                return sb_cli_bad_value(PROG, "tx-ring", optarg, "not a whole number from 1 to 65536");
            cfg.tx_ring = (uint32_t)u;
            break;
        case OPT_IRQ:
            if (sb_parse_u64(optarg, &v) != 0 || v > 1000000000ull)
                return sb_cli_bad_value(PROG, "irq-ns", optarg, "not a whole number of ns up to 1e9");
            cfg.irq_latency = v;
            break;
        case OPT_BURST:
            if (sb_parse_u32(optarg, 65536, &u) != 0)
                return sb_cli_bad_value(PROG, "burst", optarg, "not a whole number from 0 to 65536");
            cfg.max_burst = (uint32_t)u;
            break;
        case OPT_RATE:
            if (sb_parse_rate(optarg, SB_LINK_MAX_RATE, &v) != 0 || v == 0)
                return sb_cli_bad_value(PROG, "link-rate", optarg,
                                 "not a rate above 0 in bit/s (e.g. 100M, 1G, 2500000bps; at "
                                 "most 10T)");
            cfg.link_rate_bps = v;
            rate_given = true;
            break;
        case OPT_DELAY:
            if (sb_parse_decimal_scaled(optarg, 3, 3600ull * 1000000000ull, &v) != 0)
                return sb_cli_bad_value(PROG, "delay-us", optarg,
                                 "not a number of microseconds from 0 to 3.6e9 (at most 3 "
                                 "decimals)");
            cfg.delay = v;
            delay_given = true;
            break;
        case OPT_LOSS: {
            double p;
            if (sb_parse_double(optarg, &p) != 0 || p > 1.0)
                return sb_cli_bad_value(PROG, "loss", optarg, "not a probability from 0 to 1");
            cfg.loss = p;
            break;
        }
        case OPT_QUEUE:
            if (sb_parse_u32(optarg, 100000000, &u) != 0)
                return sb_cli_bad_value(PROG, "queue", optarg, "not a whole number of frames up to 1e8");
            cfg.queue_frames = (uint32_t)u;
            break;
        case OPT_COST:
            cost_path = optarg;
            break;
        case OPT_SEED:
            if (sb_parse_u64(optarg, &v) != 0 || v > (unsigned long long)INT64_MAX)
                return sb_cli_bad_value(PROG, "seed", optarg, "not a whole number from 0 to 2^63-1");
            cfg.seed = v;
            break;
        case OPT_OUT:
            out = optarg;
            break;
        case OPT_PCAP:
            pcap_out = optarg;
            break;
        case OPT_TS:
            ts = true;
            break;
        case OPT_TS_INTERVAL:
            if (sb_parse_decimal_scaled(optarg, 3, 3600ull * 1000000000ull, &v) != 0 || v == 0)
                return sb_cli_bad_value(PROG, "ts-interval-us", optarg,
                                 "not a number of microseconds above 0 (at most 3 decimals)");
            ts_interval = v;
            break;
        case OPT_SPEED: {
            double x;
            if (sb_parse_double(optarg, &x) != 0 || !(x > 0) || x > 1e9)
                return sb_cli_bad_value(PROG, "speed", optarg, "not a number above 0 (at most 1e9)");
            cfg.speed = x;
            break;
        }
        case OPT_BUDGET:
            if (sb_parse_u32(optarg, 65536, &u) != 0 || u == 0)
                return sb_cli_bad_value(PROG, "napi-budget", optarg, "not a whole number from 1 to 65536");
            cfg.sched.napi_budget = (uint32_t)u;
            break;
        case OPT_DRAIN:
            if (sb_parse_decimal_scaled(optarg, 6, 86400ull * 1000000000ull, &v) != 0)
                return sb_cli_bad_value(PROG, "drain-ms", optarg,
                                 "not a number of milliseconds from 0 to 86400000 (at most 6 "
                                 "decimals)");
            cfg.drain = v;
            break;
        case OPT_PROGRESS:
            want_progress = true;
            break;
        case OPT_NO_SKIP:
            cfg.skip_idle = false;
            break;
        case OPT_QUIET:
            quiet = true;
            break;
        case OPT_CSUM:
            cfg.rx_csum_offload = true;
            break;
        default: /* ':' (a flag without its value) or an unknown flag */
            return sb_cli_getopt_error(PROG, c, argv[optind - 1]);
        }
    }
    if (optind < argc) {
        fprintf(stderr, PROG ": unexpected argument '%s' (try " PROG " --help)\n", argv[optind]);
        return 2;
    }
    if (!trace_path)
        return sb_cli_fail(PROG, "no trace given (--trace FILE)");
    if (!out)
        return sb_cli_fail(PROG, "no output directory given (--out DIR)");
    if (egress_given && cfg.sched.egress == US_EGRESS_READYLIST &&
        cfg.sched.kind == US_SCHED_SYNC)
        return sb_cli_fail(PROG, "--egress readylist applies to async and napi (sync always visits every "
                    "socket)");
    if (cfg.mode == SB_REPLAY_FLOW) {
        if (!rate_given)
            cfg.link_rate_bps = 100000000ull;
        if (!delay_given)
            cfg.delay = 100000;
    }
    if (ts)
        cfg.ts_interval = ts_interval;

    sb_err err;
    if (strcmp(cost_path, "default") != 0 && sb_cost_load(&cfg.cost, cost_path, &err) != SB_OK)
        return sb_cli_fail(PROG, err.msg);
    /* wall_ns counts reading the trace too: the replay speed is that of the whole job, pcap read
     * included. */
    uint64_t read_start_ns = monotonic_ns();
    /* Checksums are the stack's business in a replay: the flow pass need not verify them. */
    sb_flows_opts fo = sb_flows_opts_default();
    fo.check_csum = false;
    sb_trace trace;
    sb_flows flows;
    bool flows_failed;
    sb_status st = sb_trace_load_flows(&trace, &flows, trace_path, NULL, &fo, &flows_failed, &err);
    if (st != SB_OK) {
        sb_trace_free(&trace);
        if (!flows_failed)
            return sb_cli_fail(PROG, err.msg);
        fprintf(stderr, PROG ": %s\n", err.msg);
        return 1;
    }

    int rc = 2;
    char why[768];
    sb_results_out res_out;
    capture cap = {0};
    sb_replay_result res;
    memset(&res, 0, sizeof res);
    if (sb_results_open(&res_out, out, why, sizeof why) != 0) {
        fprintf(stderr, PROG ": %s\n", why);
        sb_results_close(&res_out);
        goto done;
    }
    if (pcap_out) {
        const char *tmp = sb_results_add(&res_out, pcap_out);
        cap.p = pcap_open_dead_with_tstamp_precision(DLT_EN10MB, 65535,
                                                     PCAP_TSTAMP_PRECISION_NANO);
        cap.d = tmp && cap.p ? pcap_dump_open(cap.p, tmp) : NULL;
        if (!cap.d) {
            fprintf(stderr, PROG ": %s: cannot write: %s\n", pcap_out,
                    cap.p ? pcap_geterr(cap.p) : "out of memory");
            goto fail_out;
        }
        cap.start_ns = trace.start_ns;
        cfg.tx_hook = capture_frame;
        cfg.tx_hook_ctx = &cap;
    }
    if (want_progress || isatty(STDERR_FILENO))
        cfg.progress = progress;

    uint64_t read_ns = monotonic_ns() - read_start_ns;
    st = sb_replay_run(&cfg, &trace, &flows, &res, &err);
    res.wall_ns += read_ns;
    if (st != SB_OK) {
        fprintf(stderr, PROG ": %s\n", err.msg);
        rc = st == SB_EINVAL ? 2 : 1;
        goto fail_out;
    }
    if (res.leaked) {
        fprintf(stderr,
                PROG ": leak: after closing everything the stack under test still holds %" PRIu32
                     " pool blocks and %" PRIu32 " heap bytes, the peer %" PRIu32
                     " and %" PRIu32 "\n",
                res.leak_stack_pool, res.leak_stack_heap, res.leak_peer_pool,
                res.leak_peer_heap);
        rc = 1;
        goto fail_out;
    }
    if (cap.d) {
        int bad = pcap_dump_flush(cap.d) != 0;
        pcap_dump_close(cap.d);
        cap.d = NULL;
        if (bad) {
            fprintf(stderr, PROG ": %s: cannot write\n", pcap_out);
            goto fail_out;
        }
    }
    char cost_name[SB_COST_NAME_MAX];
    snprintf(cost_name, sizeof cost_name, "%s", cfg.cost.name);
    sb_record_echo echo = {
        .env = "replay",
        .trace = base_name(trace_path),
        .mode = cfg.mode == SB_REPLAY_OPEN ? "open" : "flow",
        .sched = sched_name(cfg.sched.kind),
        .pool_size = cfg.pool,
        .idle_interval_ns = cfg.sched.idle_interval,
        .rx_ring = cfg.rx_ring,
        .seed = cfg.seed,
        .cost_profile = cost_name,
    };
    if (sb_results_write(&res_out, &echo, &res, why, sizeof why) != 0 ||
        sb_results_commit(&res_out, why, sizeof why) != 0) {
        fprintf(stderr, PROG ": %s\n", why);
        goto fail_out;
    }
    sb_results_close(&res_out);
    if (!quiet)
        summary(base_name(trace_path), &cfg, cost_name, &res, trace.n);
    rc = 0;
    goto done;

fail_out:
    if (cap.d)
        pcap_dump_close(cap.d);
    sb_results_close(&res_out);
done:
    if (cap.p)
        pcap_close(cap.p);
    sb_replay_result_free(&res);
    sb_flows_free(&flows);
    sb_trace_free(&trace);
    return rc;
}
