/* sbhost: the CPU cost model. A scheduler step reports the work it did (us_work: wakeups, polls,
 * socket visits, frames, bytes); the host turns it into CPU time with a cost profile and keeps the
 * CPU busy that long. Costs are stored in integer picoseconds, so fractional nanoseconds per byte
 * stay exact and every machine computes the same sums. The host accumulates picoseconds and moves
 * its clock by whole nanoseconds (sb_cost_acc): the fraction left over is carried to the next
 * charge, never lost, so N charges of 0.4 ns advance the clock by floor(0.4 N) ns, not 0.
 *
 * A profile is a small INI-style file (configs/cost-default.ini, or one `stackbench calibrate`
 * wrote), read with libinih:
 *
 *     # comment            ; also a comment
 *     name = cortex-m7-400
 *     description = free text, one line
 *     wake_ns = 1000       # a comment after a value: '#' or ';' preceded by a blank
 *     poll_ns = 250
 *     socket_visit_ns = 50
 *     frame_ns = 2000
 *     byte_ns = 2.0
 *
 * Values are decimal nanoseconds with at most three decimals (1 ps): no sign, no exponent, at most
 * SB_COST_MAX_NS. Every key but description is required, none may repeat, there are no sections.
 * name and description cannot contain '#', ';' or line breaks. */
#ifndef SBHOST_COST_H
#define SBHOST_COST_H

#include <stddef.h>
#include <stdint.h>

#include "sbtraffic/err.h"
#include "ustack/sched.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SB_COST_NAME_MAX 64  /* bytes of name, NUL included */
#define SB_COST_DESC_MAX 160 /* bytes of description, NUL included */
#define SB_COST_MAX_NS 1000000000ull /* 1 s: the largest value one operation may cost */

typedef struct sb_cost {
    uint64_t wake_ps;         /* per wakeup (task run or loop iteration) */
    uint64_t poll_ps;         /* per poll call (us_poll / us_ingress drain / us_egress) */
    uint64_t socket_visit_ps; /* per socket examined by egress */
    uint64_t frame_ps;        /* per frame received or sent: fixed protocol cost */
    uint64_t byte_ps;         /* per byte copied or checksummed */
    char name[SB_COST_NAME_MAX];
    char description[SB_COST_DESC_MAX];
} sb_cost;

/* The built-in profile: the same values as configs/cost-default.ini (a test checks they agree). */
void sb_cost_default(sb_cost *c);

/* Exact cost of w in picoseconds (saturates at UINT64_MAX, about 213 days). */
uint64_t sb_cost_ps(const sb_cost *c, const us_work *w);

/* Cost of w in whole ns, rounded down. For one-off figures only: a host charging step after step
 * uses sb_cost_acc, which carries the fractions. */
us_time sb_cost_of(const sb_cost *c, const us_work *w);

/* The picoseconds charged so far. Zero-initialise ({0}). */
typedef struct sb_cost_acc {
    uint64_t ps;
} sb_cost_acc;

/* Add ps to the total and return the ns the clock must advance now:
 * floor((total + ps) / 1000) - floor(total / 1000). The clock then always equals the start time +
 * floor(total ps / 1000), whatever the sizes of the individual charges. */
us_time sb_cost_acc_add(sb_cost_acc *a, uint64_t ps);

/* sb_cost_acc_add(a, sb_cost_ps(c, w)). */
us_time sb_cost_charge(sb_cost_acc *a, const sb_cost *c, const us_work *w);

/* Parse a decimal ns value ("2", "0.35", "1234.500") into ps. SB_OK, or SB_EINVAL with *why set to
 * "negative", "not a number", "finer than 1 ps" or "too large" (*ps unchanged). */
sb_status sb_cost_parse_ns(const char *s, uint64_t *ps, const char **why);

/* Write ps as decimal ns with no trailing zeros ("2", "0.35", "1234.5"): the form the loader reads
 * back exactly. buf needs 32 bytes. Returns buf. */
char *sb_cost_format_ns(char *buf, size_t len, uint64_t ps);

/* Load the profile at path into *c. SB_OK; SB_EIO when the file cannot be opened or read
 * ("PATH: cannot open: REASON"); SB_EFORMAT for anything wrong inside it, one line naming
 * PATH:LINE and the problem, e.g. "costs.ini:4: unknown key 'wake'",
 * "costs.ini:5: byte_ns: '-1' is negative", "costs.ini: missing key 'frame_ns'" (the first
 * problem in the file is reported). On failure *c is unchanged. */
sb_status sb_cost_load(sb_cost *c, const char *path, sb_err *err);

/* The same, from text in memory; `origin` names it in messages. */
sb_status sb_cost_parse(sb_cost *c, const char *text, const char *origin, sb_err *err);

/* Write c as a profile to path, through path.tmp and a rename (an existing file is replaced only
 * once the new one is complete). comments (may be NULL) go first, each of its lines as a "# "
 * line; each value is followed by a comment giving its unit. SB_OK; SB_EINVAL for a name that is
 * empty or a name/description that is too long, has leading or trailing blanks, or holds '#', ';'
 * or a line break, or a value above SB_COST_MAX_NS; SB_EIO if writing or renaming fails (the
 * temporary file is removed). */
sb_status sb_cost_write(const char *path, const sb_cost *c, const char *comments, sb_err *err);

#ifdef __cplusplus
}
#endif

#endif /* SBHOST_COST_H */
