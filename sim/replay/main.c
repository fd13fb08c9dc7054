/* stackbench: the command line. Dispatches to one sub-command; the ones not written yet say so
 * and exit 2. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

typedef struct command {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv); /* NULL: not implemented yet */
} command;

static const command commands[] = {
    {"gen", "generate a canonical traffic trace (pcap)", sb_cmd_gen},
    {"info", "describe a trace: link type, frames, duration, what was skipped, flows", sb_cmd_info},
    {"replay", "replay a trace against the stack under one scheduler", sb_cmd_replay},
    {"sweep", "run a grid of replays from a sweep config", NULL},
    {"plot", "draw the results of a sweep with gnuplot", NULL},
    {"calibrate", "measure this machine's per-operation costs into a cost profile",
     sb_cmd_calibrate},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: stackbench COMMAND [ARGS...]\n"
               "       stackbench COMMAND --help\n\n"
               "Measures a small TCP/IP stack (libustack) under different schedulers and buffer\n"
               "pool sizes by replaying traffic traces in virtual time.\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-10s %s%s\n", commands[i].name, commands[i].summary,
                commands[i].run ? "" : " (not implemented yet)");
    fprintf(f, "\nexit status: 0 done, 1 the input could not be (fully) used, 2 usage error or "
               "output not written.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "stackbench: no command given (try stackbench --help)\n");
        return 2;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        if (strcmp(argv[1], commands[i].name) != 0)
            continue;
        if (!commands[i].run) {
            fprintf(stderr, "stackbench %s: not implemented yet\n", commands[i].name);
            return 2;
        }
        return commands[i].run(argc - 1, argv + 1);
    }
    fprintf(stderr, "stackbench: unknown command '%s' (try stackbench --help)\n", argv[1]);
    return 2;
}
