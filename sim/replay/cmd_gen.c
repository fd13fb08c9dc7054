/* stackbench gen: write a canonical trace. Every flag is checked against the kind (a flag the kind
 * does not read is an error, not silently ignored); any problem is one line on stderr, exit 2, and
 * no output file. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "sbtraffic/gen.h"
#include "sbtraffic/trace.h"

#define PROG "stackbench gen"

enum {
    OPT_OUT = 'o',
    OPT_SEED = 's',
    OPT_DURATION = 'd',
    OPT_RATE = 'r',
    OPT_HELP = 'h',
    OPT_SIZE = 256,
    OPT_RESP_SIZE,
    OPT_CONNS,
    OPT_BURST,
    OPT_LINK,
};

static const struct option long_opts[] = {
    {"out", required_argument, NULL, OPT_OUT},
    {"seed", required_argument, NULL, OPT_SEED},
    {"duration", required_argument, NULL, OPT_DURATION},
    {"rate", required_argument, NULL, OPT_RATE},
    {"size", required_argument, NULL, OPT_SIZE},
    {"resp-size", required_argument, NULL, OPT_RESP_SIZE},
    {"conns", required_argument, NULL, OPT_CONNS},
    {"burst", required_argument, NULL, OPT_BURST},
    {"link-mbps", required_argument, NULL, OPT_LINK},
    {"help", no_argument, NULL, OPT_HELP},
    {NULL, 0, NULL, 0},
};

/* Print text word-wrapped to 96 columns, every line indented by indent spaces. */
static void print_wrapped(int indent, const char *text)
{
    int col = 0;
    const char *p = text;
    while (*p) {
        while (*p == ' ')
            p++;
        size_t w = strcspn(p, " ");
        if (w == 0)
            break;
        if (col > 0 && col + 1 + (int)w > 96) {
            printf("\n");
            col = 0;
        }
        if (col == 0)
            col = printf("%*s%.*s", indent, "", (int)w, p);
        else
            col += printf(" %.*s", (int)w, p);
        p += w;
    }
    printf("\n");
}

static void help(void)
{
    printf("usage: stackbench gen KIND --out FILE.pcap --seed N [options]\n\n"
           "Writes a canonical trace: a recording, at the server's NIC, of clients 10.0.1.x talking\n"
           "to a server 10.0.0.1 (the part the stack under test plays on replay). pcap, Ethernet,\n"
           "nanosecond timestamps; valid checksums; complete TCP conversations. The same KIND,\n"
           "options and seed always give the same bytes. The file is written as FILE.pcap.tmp and\n"
           "renamed when complete.\n\n"
           "options:\n"
           "  --out FILE         output file (required)\n"
           "  --seed N           seed of the random choices, 0 to 2^64-1 (required)\n"
           "  --duration SEC     seconds during which traffic starts, decimal, up to 3600;\n"
           "                     exchanges under way then finish (default 1)\n"
           "  --rate R           events per second, what is counted depends on KIND (below)\n"
           "  --size BYTES       payload bytes per message (meaning per KIND below)\n"
           "  --resp-size BYTES  response payload bytes (tcp-rr, idle-heavy)\n"
           "  --conns N          TCP connections (tcp-rr) or clients (iot-mix)\n"
           "  --burst N          datagrams per burst (bursty)\n"
           "  --link-mbps M      link rate in Mbit/s, 1 to 400000; frames one way never\n"
           "                     overlap on it (default per KIND below)\n"
           "  --help             this text\n\n"
           "A flag that KIND does not read is an error. Kinds and their defaults:\n");
    for (unsigned k = 0; k < SB_GEN_KIND_COUNT; k++) {
        const sb_gen_kind_info *i = sb_gen_info((sb_gen_kind)k);
        const sb_gen_params *d = &i->defaults;
        char line[512];
        snprintf(line, sizeof line, "%s: %s.", i->name, i->summary);
        printf("\n");
        print_wrapped(2, line);
        printf("    --rate       %s (default %g)\n", i->rate_unit, d->rate);
        printf("    --size       %s, %u to %u (default %u)\n", i->size_what,
               (unsigned)i->size_min, (unsigned)i->size_max, (unsigned)d->size);
        if (i->params & SB_GEN_P_RESP_SIZE)
            printf("    --resp-size  response payload bytes, 0 to %u (default %u)\n",
                   (unsigned)i->resp_max, (unsigned)d->resp_size);
        if (i->params & SB_GEN_P_CONNS)
            printf("    --conns      %s, 1 to %u (default %u)\n",
                   k == SB_GEN_IOT_MIX ? "clients" : "TCP connections", (unsigned)i->conns_max,
                   (unsigned)d->conns);
        if (i->params & SB_GEN_P_BURST)
            printf("    --burst      datagrams per burst, 1 to 100000 (default %u)\n",
                   (unsigned)d->burst);
        if (i->params & SB_GEN_P_LINK)
            printf("    --link-mbps  Mbit/s (default %g)\n", d->link_mbps);
    }
    printf("\nexit status: 0 written; 2 bad usage or the file could not be written (nothing is "
           "left behind).\n");
}

int sb_cmd_gen(int argc, char **argv)
{
    const char *out = NULL, *kind_name = NULL;
    unsigned long long seed = 0, duration_ns = 1000000000ull;
    bool have_seed = false;
    double rate = 0, link = 0;
    unsigned long size = 0, resp = 0, conns = 0, burst = 0;
    unsigned given = 0; /* SB_GEN_P_* flags given */

    opterr = 0;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, ":o:s:d:r:h", long_opts, NULL)) != -1) {
        switch (c) {
        case OPT_HELP:
            help();
            return 0;
        case OPT_OUT:
            out = optarg;
            break;
        case OPT_SEED:
            if (sb_parse_u64(optarg, &seed) != 0)
                return sb_cli_bad_value(PROG, "seed", optarg, "not a whole number from 0 to 2^64-1");
            have_seed = true;
            break;
        case OPT_DURATION:
            if (sb_parse_seconds_ns(optarg, &duration_ns) != 0 || duration_ns == 0 ||
                duration_ns > 3600ull * 1000000000ull)
                return sb_cli_bad_value(PROG, "duration", optarg,
                                 "not a number of seconds above 0 and at most 3600 (at most 9 "
                                 "decimals)");
            break;
        case OPT_RATE:
            if (sb_parse_double(optarg, &rate) != 0 || !(rate > 0))
                return sb_cli_bad_value(PROG, "rate", optarg, "not a positive number");
            given |= SB_GEN_P_RATE;
            break;
        case OPT_SIZE:
            if (sb_parse_u32(optarg, 65535, &size) != 0)
                return sb_cli_bad_value(PROG, "size", optarg, "not a whole number of bytes up to 65535");
            given |= SB_GEN_P_SIZE;
            break;
        case OPT_RESP_SIZE:
            if (sb_parse_u32(optarg, 65535, &resp) != 0)
                return sb_cli_bad_value(PROG, "resp-size", optarg, "not a whole number of bytes up to 65535");
            given |= SB_GEN_P_RESP_SIZE;
            break;
        case OPT_CONNS:
            if (sb_parse_u32(optarg, 1000000, &conns) != 0)
                return sb_cli_bad_value(PROG, "conns", optarg, "not a whole number");
            given |= SB_GEN_P_CONNS;
            break;
        case OPT_BURST:
            if (sb_parse_u32(optarg, 1000000, &burst) != 0)
                return sb_cli_bad_value(PROG, "burst", optarg, "not a whole number");
            given |= SB_GEN_P_BURST;
            break;
        case OPT_LINK:
            if (sb_parse_double(optarg, &link) != 0 || !(link > 0))
                return sb_cli_bad_value(PROG, "link-mbps", optarg, "not a positive number");
            given |= SB_GEN_P_LINK;
            break;
        default: /* ':' (a flag without its value) or an unknown flag */
            return sb_cli_getopt_error(PROG, c, argv[optind - 1]);
        }
    }
    for (int i = optind; i < argc; i++) {
        if (kind_name) {
            fprintf(stderr, PROG ": unexpected argument '%s'\n", argv[i]);
            return 2;
        }
        kind_name = argv[i];
    }
    if (!kind_name)
        return sb_cli_fail(PROG, "no KIND given (try " PROG " --help)");
    sb_gen_kind kind;
    sb_err err;
    if (sb_gen_kind_parse(kind_name, &kind, &err) != SB_OK)
        return sb_cli_fail(PROG, err.msg);
    if (!out)
        return sb_cli_fail(PROG, "no output file given (--out FILE)");
    if (!have_seed)
        return sb_cli_fail(PROG, "no seed given (--seed N)");
    const sb_gen_kind_info *info = sb_gen_info(kind);
    static const struct {
        unsigned bit;
        const char *flag;
    } flags[] = {{SB_GEN_P_RESP_SIZE, "--resp-size"},
                 {SB_GEN_P_CONNS, "--conns"},
                 {SB_GEN_P_BURST, "--burst"}};
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++) {
        if ((given & flags[i].bit) && !(info->params & flags[i].bit)) {
            fprintf(stderr, PROG ": %s does not apply to %s\n", flags[i].flag, info->name);
            return 2;
        }
    }

    sb_gen_params p;
    sb_gen_params_default(kind, &p);
    p.seed = seed;
    p.duration_ns = duration_ns;
    if (given & SB_GEN_P_RATE)
        p.rate = rate;
    if (given & SB_GEN_P_SIZE)
        p.size = (uint32_t)size;
    if (given & SB_GEN_P_RESP_SIZE)
        p.resp_size = (uint32_t)resp;
    if (given & SB_GEN_P_CONNS)
        p.conns = (uint32_t)conns;
    if (given & SB_GEN_P_BURST)
        p.burst = (uint32_t)burst;
    if (given & SB_GEN_P_LINK)
        p.link_mbps = link;
    sb_status st = sb_gen(kind, &p, out, &err);
    if (st != SB_OK) {
        fprintf(stderr, PROG ": %s\n", err.msg);
        return st == SB_ENOMEM ? 1 : 2;
    }

    /* Say what was written: count it back. */
    sb_trace t;
    if (sb_trace_load(&t, out, NULL, &err) == SB_OK) {
        printf("wrote %s: %s, %zu frames, %llu.%09llu s\n", out, info->name, t.n,
               (unsigned long long)(t.duration_ns / 1000000000u),
               (unsigned long long)(t.duration_ns % 1000000000u));
        sb_trace_free(&t);
    }
    return 0;
}
