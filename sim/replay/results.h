/* stackbench replay: the result record of one run — summary.json (libjansson) and summary.csv
 * (header + one row) with the same keys in the same order (DESIGN.md "Results"), and the optional
 * timeseries.csv. Every file is written under a temporary name (NAME.tmp) and renamed by
 * sb_results_commit at the very end, summary.json last, so a run that fails leaves nothing that
 * looks complete. Integers are printed as integers, cpu_util with six decimals ("0.123456"). */
#ifndef SBREPLAY_RESULTS_H
#define SBREPLAY_RESULTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "harness.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The config echo of the record. */
typedef struct sb_record_echo {
    const char *env;          /* "replay" */
    const char *trace;        /* the trace file's name, without its directory */
    const char *mode;         /* "open" / "flow" */
    const char *sched;        /* "sync" / "async" / "napi" */
    uint64_t pool_size;       /* PBUF_POOL blocks */
    uint64_t idle_interval_ns;
    uint64_t rx_ring;
    uint64_t seed;
    const char *cost_profile; /* the profile's name */
} sb_record_echo;

/* The record's keys, in order (27 of them), NULL-terminated. */
extern const char *const sb_record_keys[];

/* The record as JSON text (an object, two-space indent, a final newline) / as CSV (header line
 * and one row). malloc'd; NULL when memory runs out. */
char *sb_record_json(const sb_record_echo *e, const sb_replay_result *r);
char *sb_record_csv(const sb_record_echo *e, const sb_replay_result *r);

/* Files of one run: written to DIR/NAME.tmp, renamed by sb_results_commit. */
typedef struct sb_results_out {
    char *dir;
    char *final[8];
    char *tmp[8];
    int n;
} sb_results_out;

/* Prepare output into dir (created with its parents if missing). Old summary.json,
 * summary.csv and timeseries.csv there are removed first: this run replaces them. Returns 0, or
 * -1 with a message in why. */
int sb_results_open(sb_results_out *o, const char *dir, char *why, size_t why_len);

/* Register an output file written elsewhere (e.g. the --pcap-out capture): final path; returns
 * the temporary path to write (owned by o), or NULL when memory runs out. */
const char *sb_results_add(sb_results_out *o, const char *final_path);

/* Write summary.json, summary.csv and, if r has one, timeseries.csv (as temporary files).
 * Returns 0, or -1 with a message in why. */
int sb_results_write(sb_results_out *o, const sb_record_echo *e, const sb_replay_result *r,
                     char *why, size_t why_len);

/* Rename every temporary file to its final name, summary.json last. Returns 0 or -1 (why). */
int sb_results_commit(sb_results_out *o, char *why, size_t why_len);

/* Remove the temporary files (after a failure) and free o. Also frees o after a commit. */
void sb_results_close(sb_results_out *o);

#ifdef __cplusplus
}
#endif

#endif /* SBREPLAY_RESULTS_H */
