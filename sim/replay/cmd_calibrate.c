/* stackbench calibrate: measure this build's per-operation costs on the current machine and write
 * them as a cost profile (sbhost/cost.h). Every figure comes from timed loops over the real
 * libustack code paths (CLOCK_MONOTONIC around batches of operations; the MEDIAN of several
 * repetitions, after one untimed warm-up repetition):
 *   poll_ns          us_egress(ALL) + us_poll_at on a stack with no socket open
 *   socket_visit_ns  (egress over N idle bound UDP sockets - egress over none) / visits per call
 *   frame_ns,byte_ns us_ingress of a valid UDP datagram + the us_udp_recv that drains it, at two
 *                    payload sizes; t = frame + byte * (frame length + payload copied), the bytes
 *                    the schedulers charge for it (ingress: the frame; application: the copy)
 *   wake_ns          one async egress task run with nothing to do (us_sched_on_timer on a fake
 *                    host: scheduler bookkeeping, three charge callbacks, the waker re-registration,
 *                    arming the timer) minus poll_ns
 * Any problem is one line on stderr, exit 2, and no output file. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>

#include "cli.h"
#include "sbhost/cost.h"
#include "ustack/sched.h"
#include "ustack/socket.h"
#include "ustack/wire/checksum.h"
#include "ustack/wire/eth.h"
#include "ustack/wire/ipv4.h"
#include "ustack/wire/udp.h"

#define PROG "stackbench calibrate"

#define DEF_ITERS 100000ul
#define QUICK_ITERS 2000ul
#define MAX_ITERS 100000000ul
#define DEF_REPS 9
#define QUICK_REPS 5
#define N_SOCKS 8
#define BATCH 32           /* frames prepared (untimed) and then ingested (timed) at a time */
#define SMALL_PAYLOAD 64u
#define LARGE_PAYLOAD 1400u
#define HDRS (14u + 20u + 8u)
#define STACK_IP 0x0A000001u /* 10.0.0.1, libustack's default */
#define PEER_IP 0x0A000002u
#define PORT 7000u

enum { OPT_OUT = 'o', OPT_NAME = 'n', OPT_ITERS = 'i', OPT_QUICK = 'q', OPT_HELP = 'h' };

static const struct option long_opts[] = {
    {"out", required_argument, NULL, OPT_OUT},
    {"name", required_argument, NULL, OPT_NAME},
    {"iterations", required_argument, NULL, OPT_ITERS},
    {"quick", no_argument, NULL, OPT_QUICK},
    {"help", no_argument, NULL, OPT_HELP},
    {NULL, 0, NULL, 0},
};

static void help(void)
{
    printf("usage: stackbench calibrate --out FILE.ini [--name NAME] [--iterations N] [--quick]\n\n"
           "Measures this build's per-operation costs on the current machine by timing the real\n"
           "libustack code paths in loops (CLOCK_MONOTONIC; each figure is the median of several\n"
           "repetitions after one warm-up), and writes them as a cost profile for\n"
           "`stackbench replay --cost FILE.ini`. The file is written as FILE.ini.tmp and renamed.\n\n"
           "measured (all in ns):\n"
           "  poll_ns          us_egress(all sockets) + us_poll_at with no socket open\n"
           "  socket_visit_ns  extra egress time per idle socket visited (%d UDP sockets)\n"
           "  frame_ns         fixed cost of one received UDP datagram: us_ingress + us_udp_recv\n"
           "  byte_ns          per byte of frame and of payload copy (from %u B and %u B payloads)\n"
           "  wake_ns          one async scheduler task run with nothing to do, minus poll_ns;\n"
           "                   interrupt entry and context switch of a real MCU are not included\n\n"
           "options:\n"
           "  --out FILE       profile to write (required)\n"
           "  --name NAME      profile name, 1 to %d bytes, no '#', ';', line break or leading or\n"
           "                   trailing blank (default calibrated-MACHINE, MACHINE from uname -m)\n"
           "  --iterations N   operations timed per repetition, 1 to %lu (default %lu; %lu with\n"
           "                   --quick)\n"
           "  --quick          a fast, noisier run: %lu iterations and %d repetitions instead of %d\n"
           "                   (an explicit --iterations still wins)\n"
           "  --help           this text\n\n"
           "A value that measures at or below 0 (noise) is written as 0.001 ns and reported.\n"
           "exit status: 0 written; 2 bad usage or the file could not be written (nothing is left\n"
           "behind).\n",
           N_SOCKS, SMALL_PAYLOAD, LARGE_PAYLOAD, SB_COST_NAME_MAX - 1, MAX_ITERS, DEF_ITERS,
           QUICK_ITERS, QUICK_ITERS, QUICK_REPS, DEF_REPS);
}

static int bad_name(const char *s)
{
    size_t n = strlen(s);
    return n == 0 || n >= SB_COST_NAME_MAX || strpbrk(s, "#;\r\n") != NULL || s[0] == ' ' ||
           s[0] == '\t' || s[n - 1] == ' ' || s[n - 1] == '\t';
}

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* ---- a stack on a fake device ---- */

typedef struct bench {
    us_stack *s;
    void *mem;
    us_sock socks[N_SOCKS];
    int nsocks;
    us_sched sched;
    us_time now;
    uint64_t charges;
    int broken; /* a datagram did not come back as sent */
} bench;

static uint8_t tx_buf[2048];

static uint8_t *d_tx_acquire(void *ctx, uint32_t len)
{
    (void)ctx;
    return len <= sizeof tx_buf ? tx_buf : NULL;
}

static void d_tx_commit(void *ctx, uint8_t *buf, uint32_t len)
{
    (void)ctx, (void)buf, (void)len;
}

static us_time h_now(void *ctx)
{
    return ((bench *)ctx)->now;
}

static void h_charge(void *ctx, const us_work *w)
{
    bench *b = ctx;
    b->charges += w->wakeups + w->polls;
}

static void h_arm(void *ctx, us_time at)
{
    (void)ctx, (void)at;
}

static void h_irq(void *ctx, int enabled)
{
    (void)ctx, (void)enabled;
}

/* A stack with nsocks bound UDP sockets (ports PORT, PORT+1, ...) and an async scheduler. */
static int bench_open(bench *b, int nsocks)
{
    memset(b, 0, sizeof *b);
    b->now = 1000000;
    us_stack_config cfg;
    us_stack_config_default(&cfg);
    cfg.ipv4_addr = STACK_IP;
    cfg.udp_sockets = N_SOCKS;
    cfg.udp_rx_buf = 16384;
    cfg.bufs.pbuf_pool_count = 2 * BATCH;
    us_dev dev = {.ctx = b, .mtu = 1500, .rx = NULL, .tx_acquire = d_tx_acquire,
                  .tx_commit = d_tx_commit};
    size_t need = us_stack_mem_size(&cfg);
    b->mem = need ? malloc(need) : NULL;
    if (!b->mem)
        return -1;
    b->s = us_stack_init(b->mem, need, &cfg, &dev, NULL);
    if (!b->s)
        return -1;
    for (int i = 0; i < nsocks; i++) {
        b->socks[i] = us_udp_open(b->s);
        if (b->socks[i] < 0 || us_udp_bind(b->s, b->socks[i], (uint16_t)(PORT + i)) != US_OK)
            return -1;
        b->nsocks++;
    }
    us_host host = {.ctx = b, .now = h_now, .charge = h_charge, .arm_timer = h_arm,
                    .set_rx_irq = h_irq, .skip_idle = NULL};
    us_app app = {.ctx = b, .step = NULL};
    us_sched_config sc;
    us_sched_config_default(&sc);
    sc.kind = US_SCHED_ASYNC;
    sc.egress = US_EGRESS_ALL;
    if (us_sched_init(&b->sched, &sc, b->s, &host, &app) != US_OK)
        return -1;
    us_sched_start(&b->sched);
    return 0;
}

static void bench_close(bench *b)
{
    for (int i = 0; i < b->nsocks; i++)
        us_udp_close(b->s, b->socks[i]);
    free(b->mem);
    b->mem = NULL;
}

/* ---- the timed operations: each runs n operations and returns the ns spent in them ---- */

typedef double (*op_fn)(bench *b, unsigned long n, unsigned arg);

static double op_poll(bench *b, unsigned long n, unsigned arg)
{
    (void)arg;
    volatile us_time sink = 0;
    double t0 = now_ns();
    for (unsigned long i = 0; i < n; i++) {
        (void)us_egress(b->s, b->now, US_EGRESS_ALL);
        sink = us_poll_at(b->s, b->now);
    }
    (void)sink;
    return now_ns() - t0;
}

static double op_wake(bench *b, unsigned long n, unsigned arg)
{
    (void)arg;
    double t0 = now_ns();
    for (unsigned long i = 0; i < n; i++)
        us_sched_on_timer(&b->sched);
    return now_ns() - t0;
}

/* A valid UDP datagram of `payload` bytes from the peer to the first socket, in a POOL pbuf. */
static us_pbuf *make_frame(bench *b, unsigned payload)
{
    us_pbuf *p = us_pbuf_alloc(us_stack_bufs(b->s), US_PBUF_RAW, HDRS + payload, US_PBUF_POOL);
    if (!p)
        return NULL;
    uint8_t *f = p->payload;
    us_eth_repr eth = {.dst = {2, 0, 0, 0, 0, 1}, .src = {2, 0, 0, 0, 0, 2},
                       .ethertype = US_ETHERTYPE_IPV4};
    us_eth_emit(&eth, f);
    us_ipv4_repr ip = {.src = PEER_IP, .dst = STACK_IP, .proto = US_IP_PROTO_UDP, .ttl = 64,
                       .payload_len = (uint16_t)(8 + payload)};
    us_ipv4_emit(&ip, f + 14);
    for (unsigned i = 0; i < payload; i++)
        f[HDRS + i] = (uint8_t)(i * 7u + 1u);
    us_udp_repr udp = {.src_port = 5000, .dst_port = PORT, .payload_len = (uint16_t)payload};
    us_udp_emit(&udp, f + 34, PEER_IP, STACK_IP, us_csum_partial(f + HDRS, payload, 0));
    return p;
}

static double op_rx(bench *b, unsigned long n, unsigned payload)
{
    static uint8_t buf[2048];
    us_pbuf *frames[BATCH];
    double total = 0;
    while (n > 0) {
        unsigned k = n < BATCH ? (unsigned)n : BATCH;
        for (unsigned i = 0; i < k; i++) {
            frames[i] = make_frame(b, payload);
            if (!frames[i]) {
                b->broken = 1;
                for (unsigned j = 0; j < i; j++)
                    us_pbuf_free(frames[j]);
                return total;
            }
        }
        int ok = 1;
        double t0 = now_ns();
        for (unsigned i = 0; i < k; i++) {
            (void)us_ingress(b->s, frames[i], b->now);
            ok &= us_udp_recv(b->s, b->socks[0], buf, sizeof buf, NULL, NULL) == (int32_t)payload;
        }
        total += now_ns() - t0;
        if (!ok)
            b->broken = 1;
        n -= k;
    }
    return total;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Median over reps repetitions (after one untimed warm-up) of the ns per operation. */
static double measure(bench *b, op_fn fn, unsigned arg, unsigned long iters, int reps)
{
    double t[DEF_REPS > QUICK_REPS ? DEF_REPS : QUICK_REPS];
    (void)fn(b, iters < 1000 ? iters : 1000, arg);
    for (int r = 0; r < reps; r++)
        t[r] = fn(b, iters, arg) / (double)iters;
    qsort(t, (size_t)reps, sizeof t[0], cmp_double);
    return reps % 2 ? t[reps / 2] : (t[reps / 2 - 1] + t[reps / 2]) / 2;
}

/* ns (double) into ps, at least 1 ps; *clamped set when the measurement was not positive. */
static uint64_t to_ps(double ns, int *clamped)
{
    double ps = ns * 1000.0 + 0.5;
    if (!(ps >= 1.0)) {
        *clamped = 1;
        return 1;
    }
    if (ps > (double)SB_COST_MAX_NS * 1000.0)
        return SB_COST_MAX_NS * 1000ull;
    return (uint64_t)ps;
}

/* "model name" from /proc/cpuinfo, with '#' and ';' blanked, or "" if not readable. */
static void cpu_model(char *out, size_t len)
{
    out[0] = '\0';
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f)
        return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "model name", 10) != 0)
            continue;
        char *v = strchr(line, ':');
        if (!v)
            break;
        v++;
        while (*v == ' ' || *v == '\t')
            v++;
        v[strcspn(v, "\r\n")] = '\0';
        snprintf(out, len, "%s", v);
        for (char *p = out; *p; p++)
            if (*p == '#' || *p == ';')
                *p = ' ';
        size_t n = strlen(out);
        while (n > 0 && (out[n - 1] == ' ' || out[n - 1] == '\t'))
            out[--n] = '\0';
        break;
    }
    fclose(f);
}

static const char *build_kind(void)
{
#if defined(__SANITIZE_ADDRESS__)
    return "AddressSanitizer build: costs are inflated";
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
    return "AddressSanitizer build: costs are inflated";
#endif
#endif
#ifdef __OPTIMIZE__
    return "optimised build";
#else
    return "unoptimised build: costs are inflated";
#endif
}

int sb_cmd_calibrate(int argc, char **argv)
{
    const char *out = NULL, *name = NULL;
    unsigned long iters = 0;
    int quick = 0;

    opterr = 0;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, ":o:n:i:qh", long_opts, NULL)) != -1) {
        switch (c) {
        case OPT_HELP:
            help();
            return 0;
        case OPT_OUT:
            out = optarg;
            break;
        case OPT_NAME:
            name = optarg;
            if (bad_name(name)) {
                fprintf(stderr, PROG ": --name '%s': want 1 to %d bytes without '#', ';', line "
                                "breaks or leading/trailing blanks\n",
                        name, SB_COST_NAME_MAX - 1);
                return 2;
            }
            break;
        case OPT_ITERS:
            if (sb_parse_u32(optarg, MAX_ITERS, &iters) != 0 || iters == 0) {
                fprintf(stderr, PROG ": --iterations '%s': want a whole number from 1 to %lu\n",
                        optarg, MAX_ITERS);
                return 2;
            }
            break;
        case OPT_QUICK:
            quick = 1;
            break;
        default: /* ':' (a flag without its value) or an unknown flag */
            return sb_cli_getopt_error(PROG, c, argv[optind - 1]);
        }
    }
    if (optind < argc) {
        fprintf(stderr, PROG ": unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    if (!out)
        return sb_cli_fail(PROG, "no output file given (--out FILE.ini)");
    if (iters == 0)
        iters = quick ? QUICK_ITERS : DEF_ITERS;
    int reps = quick ? QUICK_REPS : DEF_REPS;

    struct utsname un;
    const char *machine = uname(&un) == 0 ? un.machine : "unknown";
    char model[256];
    cpu_model(model, sizeof model);
    char defname[128];
    snprintf(defname, sizeof defname, "calibrated-%s", machine);
    if (!name)
        name = bad_name(defname) ? "calibrated" : defname;

    /* Measure. */
    bench b0, bn;
    memset(&b0, 0, sizeof b0);
    memset(&bn, 0, sizeof bn);
    if (bench_open(&b0, 1) != 0 || bench_open(&bn, N_SOCKS) != 0) {
        bench_close(&b0);
        bench_close(&bn);
        return sb_cli_fail(PROG, "cannot set up the stack to measure (out of memory?)");
    }
    /* The poll and wake figures need a stack with no socket: close b0's after the RX runs. */
    double rx_small = measure(&b0, op_rx, SMALL_PAYLOAD, iters, reps);
    double rx_large = measure(&b0, op_rx, LARGE_PAYLOAD, iters, reps);
    int broken = b0.broken;
    bench_close(&b0);
    if (bench_open(&b0, 0) != 0) {
        bench_close(&b0);
        bench_close(&bn);
        return sb_cli_fail(PROG, "cannot set up the stack to measure (out of memory?)");
    }
    const us_stack_stats *st0 = us_stack_get_stats(b0.s), *stn = us_stack_get_stats(bn.s);
    uint64_t v0 = st0->socket_visits, c0 = st0->egress_calls;
    double poll = measure(&b0, op_poll, 0, iters, reps);
    double per0 = (double)(st0->socket_visits - v0) / (double)(st0->egress_calls - c0);
    uint64_t vn = stn->socket_visits, cn = stn->egress_calls;
    double polln = measure(&bn, op_poll, 0, iters, reps);
    double pern = (double)(stn->socket_visits - vn) / (double)(stn->egress_calls - cn);
    double task = measure(&b0, op_wake, 0, iters, reps);
    bench_close(&b0);
    bench_close(&bn);
    if (broken)
        return sb_cli_fail(PROG, "internal error: a test datagram was not received as sent");
    if (!(pern > per0))
        return sb_cli_fail(PROG, "internal error: egress visited no more sockets with sockets open");

    /* Solve. The schedulers charge a received datagram frame + byte * (frame length) at ingress
     * and byte * (payload copied) for the application's read. */
    double bs = (double)(HDRS + 2 * SMALL_PAYLOAD), bl = (double)(HDRS + 2 * LARGE_PAYLOAD);
    double byte = (rx_large - rx_small) / (bl - bs);
    double frame = rx_small - byte * bs;
    double visit = (polln - poll) / (pern - per0);
    double wake = task - poll;

    sb_cost cost;
    sb_cost_default(&cost);
    int cl_wake = 0, cl_poll = 0, cl_visit = 0, cl_frame = 0, cl_byte = 0;
    cost.wake_ps = to_ps(wake, &cl_wake);
    cost.poll_ps = to_ps(poll, &cl_poll);
    cost.socket_visit_ps = to_ps(visit, &cl_visit);
    cost.frame_ps = to_ps(frame, &cl_frame);
    cost.byte_ps = to_ps(byte, &cl_byte);
    memcpy(cost.name, name, strlen(name) + 1); /* checked: shorter than SB_COST_NAME_MAX */
    char desc[512];
    snprintf(desc, sizeof desc, "Measured by stackbench calibrate on this build, %s%s%s", machine,
             model[0] ? ", " : "", model);
    desc[120] = '\0'; /* well within SB_COST_DESC_MAX */
    memcpy(cost.description, desc, strlen(desc) + 1);
    size_t dl = strlen(cost.description);
    while (dl > 0 && cost.description[dl - 1] == ' ')
        cost.description[--dl] = '\0';

    char comments[4096];
    snprintf(
        comments, sizeof comments,
        "stackbench CPU cost profile measured by `stackbench calibrate`.\n"
        "\n"
        "MEASURED on the machine that ran it, for the build that ran it (not a microcontroller):\n"
        "machine: %s\n"
        "cpu: %s\n"
        "build: %s\n"
        "\n"
        "Method: each figure times the real libustack code paths in loops with CLOCK_MONOTONIC,\n"
        "%lu operations per repetition, %d repetitions after one warm-up; the MEDIAN repetition\n"
        "is kept. Values are wall-clock ns per operation, rounded to 1 ps.\n"
        "- poll_ns: us_egress(all sockets) + us_poll_at on a stack with no socket open.\n"
        "- socket_visit_ns: egress over %d idle bound UDP sockets minus egress over none, divided\n"
        "  by the extra sockets visited per call (stack stats socket_visits).\n"
        "- frame_ns, byte_ns: us_ingress of a valid UDP datagram (checksummed) plus the\n"
        "  us_udp_recv that reads it, at %u and %u payload bytes (frames prepared outside the\n"
        "  timed region); solved from t = frame_ns + byte_ns * (frame length + payload copied),\n"
        "  the bytes the schedulers charge for a received datagram.\n"
        "- wake_ns: one async egress task run with nothing to do (us_sched_on_timer on a fake\n"
        "  host: scheduler bookkeeping, the host's charge callbacks, the waker re-registration,\n"
        "  arming the timer) minus poll_ns. On a real MCU a wakeup also includes interrupt entry,\n"
        "  the context switch and leaving sleep, which a user-space calibration cannot measure:\n"
        "  this wake_ns is a lower bound.\n"
        "A value measured at or below 0 (noise) is written as 0.001.%s",
        machine, model[0] ? model : "(unknown)", build_kind(), iters, reps, N_SOCKS,
        SMALL_PAYLOAD, LARGE_PAYLOAD,
        (cl_wake | cl_poll | cl_visit | cl_frame | cl_byte) ? " Clamped here: " : "");
    if (cl_wake | cl_poll | cl_visit | cl_frame | cl_byte) {
        size_t l = strlen(comments);
        snprintf(comments + l, sizeof comments - l, "%s%s%s%s%s", cl_wake ? "wake_ns " : "",
                 cl_poll ? "poll_ns " : "", cl_visit ? "socket_visit_ns " : "",
                 cl_frame ? "frame_ns " : "", cl_byte ? "byte_ns " : "");
    }

    sb_err err;
    sb_status s = sb_cost_write(out, &cost, comments, &err);
    if (s != SB_OK)
        return sb_cli_fail(PROG, err.msg);

    char w[32], p[32], v[32], f[32], by[32];
    printf("wrote %s: %s (median of %d x %lu operations, %s)\n", out, cost.name, reps, iters,
           machine);
    printf("  wake_ns         = %s%s\n", sb_cost_format_ns(w, sizeof w, cost.wake_ps),
           cl_wake ? "  (clamped: measured <= 0)" : "");
    printf("  poll_ns         = %s%s\n", sb_cost_format_ns(p, sizeof p, cost.poll_ps),
           cl_poll ? "  (clamped: measured <= 0)" : "");
    printf("  socket_visit_ns = %s%s\n", sb_cost_format_ns(v, sizeof v, cost.socket_visit_ps),
           cl_visit ? "  (clamped: measured <= 0)" : "");
    printf("  frame_ns        = %s%s\n", sb_cost_format_ns(f, sizeof f, cost.frame_ps),
           cl_frame ? "  (clamped: measured <= 0)" : "");
    printf("  byte_ns         = %s%s\n", sb_cost_format_ns(by, sizeof by, cost.byte_ps),
           cl_byte ? "  (clamped: measured <= 0)" : "");
    return 0;
}
