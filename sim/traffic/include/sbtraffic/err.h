/* sbtraffic: the status codes and the error message buffer every fallible function of the traffic
 * layer shares. A function that can fail returns an sb_status (SB_OK = 0, negatives for errors) and,
 * when given a non-NULL sb_err, writes one line saying what went wrong (no trailing newline), with
 * the file name where there is one. Nothing in the library prints, exits or aborts. */
#ifndef SBTRAFFIC_ERR_H
#define SBTRAFFIC_ERR_H

#ifdef __cplusplus
extern "C" {
#endif

typedef enum sb_status {
    SB_OK = 0,
    SB_EINVAL = -1,      /* argument misuse or a bad parameter value */
    SB_EIO = -2,         /* the file could not be opened, read, written or renamed */
    SB_EFORMAT = -3,     /* not a pcap file, or a damaged one */
    SB_EUNSUPPORTED = -4, /* well-formed but not handled: a link type we do not read */
    SB_EPARTIAL = -5,    /* a read error part-way through the file (see sb_trace_load) */
    SB_ENOMEM = -6,      /* malloc failed */
    SB_ENOTFOUND = -7,   /* no such flow */
    SB_EAGAIN = -8,      /* not possible yet (a TCP flow whose stack ISN is not known) */
} sb_status;

#define SB_ERR_MAX 512

/* One line of text describing the last failure. */
typedef struct sb_err {
    char msg[SB_ERR_MAX];
} sb_err;

/* "SB_EIO: input/output error", ...; never NULL. */
const char *sb_status_str(sb_status s);

/* Internal to the library: write the formatted message to err (if non-NULL) and return st. */
sb_status sb__fail(sb_err *err, sb_status st, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

#ifdef __cplusplus
}
#endif

#endif /* SBTRAFFIC_ERR_H */
