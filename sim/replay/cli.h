/* stackbench command line: one function per sub-command, called with the sub-command's own
 * argv (argv[0] is the sub-command's name). Each returns the process exit status: 0 done,
 * 1 the input could not be (fully) used, 2 a usage error or an output that could not be written.
 * Problems are one line on stderr: "stackbench <command>: <problem>". */
#ifndef STACKBENCH_CLI_H
#define STACKBENCH_CLI_H

int sb_cmd_gen(int argc, char **argv);
int sb_cmd_info(int argc, char **argv);

/* Parsers shared by the sub-commands. Each returns 0 on success, -1 (with nothing stored) if text
 * is not a valid value. */
int sb_parse_u64(const char *text, unsigned long long *v);
int sb_parse_u32(const char *text, unsigned long max, unsigned long *v);
int sb_parse_double(const char *text, double *v);
/* Seconds as a decimal ("1", "0.25", "2.000000001") into ns, exactly; at most 9 decimals. */
int sb_parse_seconds_ns(const char *text, unsigned long long *ns);

#endif /* STACKBENCH_CLI_H */
