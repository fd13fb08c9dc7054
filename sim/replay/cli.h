/* stackbench command line: one function per sub-command, called with the sub-command's own
 * argv (argv[0] is the sub-command's name). Each returns the process exit status: 0 done,
 * 1 the input could not be (fully) used, 2 a usage error or an output that could not be written.
 * Problems are one line on stderr: "stackbench <command>: <problem>". */
#ifndef STACKBENCH_CLI_H
#define STACKBENCH_CLI_H

int sb_cmd_gen(int argc, char **argv);
int sb_cmd_info(int argc, char **argv);
int sb_cmd_replay(int argc, char **argv);
int sb_cmd_calibrate(int argc, char **argv);

/* Report a usage problem: "<prog>: <msg>" on stderr. Returns 2, the exit status for it. */
int sb_cli_fail(const char *prog, const char *msg);
/* Report a bad flag value: "<prog>: --<flag> '<value>': <want>". Returns 2. */
int sb_cli_bad_value(const char *prog, const char *flag, const char *value, const char *want);

/* Report what getopt_long refused: c ':' is a flag without its value, anything else an unknown
 * flag; `arg` is argv[optind - 1]. Returns 2. */
int sb_cli_getopt_error(const char *prog, int c, const char *arg);

/* Parsers shared by the sub-commands. Each returns 0 on success, -1 (with nothing stored) if text
 * is not a valid value. */
int sb_parse_u64(const char *text, unsigned long long *v);
int sb_parse_u32(const char *text, unsigned long max, unsigned long *v);
int sb_parse_double(const char *text, double *v);
/* Seconds as a decimal ("1", "0.25", "2.000000001") into ns, exactly; at most 9 decimals. */
int sb_parse_seconds_ns(const char *text, unsigned long long *ns);
/* A decimal with at most `decimals` fraction digits, times 10^decimals, exactly ("2.5" with 3
 * decimals is 2500); at most max after scaling. */
int sb_parse_decimal_scaled(const char *text, unsigned decimals, unsigned long long max,
                            unsigned long long *v);
/* A rate in bit/s: a decimal number, an optional SI multiplier k/K, M, G, T (powers of 1000) and an
 * optional unit bps, bit/s, bits/s, b/s ("100M", "1.5G", "2500000", "10Mbit/s"); fractions of a
 * bit/s are dropped; at most max. */
int sb_parse_rate(const char *text, unsigned long long max, unsigned long long *bps);

#endif /* STACKBENCH_CLI_H */
