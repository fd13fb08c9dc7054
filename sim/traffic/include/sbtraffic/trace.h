/* sbtraffic: reading pcap traces. Every frame comes out normalised to an untagged Ethernet II frame
 * whatever the file's link type (Ethernet, raw IPv4, Linux SLL / SLL2), with µs or ns timestamps
 * turned into ns since the file's first record. Frames whose capture was cut short (caplen < len)
 * are counted and skipped: the replay must not feed a stack half a frame as if it were whole.
 * Two ways in: sb_trace_load reads a whole file into memory (a classic pcap file is mapped and its
 * untagged Ethernet frames used in place, everything else is normalised into one arena); the reader
 * streams a file one frame at a time through libpcap. Both are bounded by caplen in all parsing,
 * and give the same frames, counts and errors. */
#ifndef SBTRAFFIC_TRACE_H
#define SBTRAFFIC_TRACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sbtraffic/err.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Link types read (DLT values as libpcap reports them). */
#define SB_DLT_EN10MB 1
#define SB_DLT_RAW 12        /* LINKTYPE_RAW (101) is reported as DLT_RAW */
#define SB_DLT_LINUX_SLL 113
#define SB_DLT_IPV4 228      /* LINKTYPE_IPV4 */
#define SB_DLT_LINUX_SLL2 276

/* Placeholder addresses of the Ethernet header synthesised for link types without one (RAW, IPV4,
 * SLL, SLL2). Locally administered; the open-mode rewriter replaces them anyway. */
#define SB_TRACE_SYNTH_SRC_MAC {0x02, 0x00, 0x00, 0x00, 0xfe, 0x01}
#define SB_TRACE_SYNTH_DST_MAC {0x02, 0x00, 0x00, 0x00, 0xfe, 0x02}

/* One normalised frame. */
typedef struct sb_frame {
    uint64_t ts_ns;      /* since the first record of the file; never decreases (see ts_backwards) */
    uint32_t len;        /* bytes at data: the Ethernet II frame, VLAN tags removed */
    uint32_t index;      /* record number in the file, from 0 (counts skipped records too) */
    uint16_t ethertype;  /* of the payload: 0x0800 IPv4, 0x0806 ARP, anything else if kept */
    uint8_t vlan_tags;   /* tags removed (0..2) */
    const uint8_t *data; /* sb_trace_load: into the trace's arena or file mapping, valid until
                            sb_trace_free; reader: valid until the next call */
} sb_frame;

typedef struct sb_trace_opts {
    bool keep_non_ip;  /* keep frames that are neither IPv4 nor ARP (default: count and skip) */
    bool keep_partial; /* sb_trace_load: after a read error mid-file, keep the frames read so far */
} sb_trace_opts;

typedef struct sb_trace_stats {
    uint64_t records;      /* records libpcap returned, whatever became of them */
    uint64_t kept;         /* frames delivered */
    uint64_t truncated;    /* caplen < len: skipped */
    uint64_t non_ip;       /* neither IPv4 nor ARP (skipped unless keep_non_ip) */
    uint64_t malformed;    /* shorter than its link header, or a third VLAN tag: skipped */
    uint64_t vlan_frames;  /* kept frames that carried at least one VLAN tag */
    uint64_t ts_backwards; /* records stamped earlier than the one before: clamped to it */
    bool read_error;       /* reading stopped at a damaged or unreadable record */
    uint64_t error_at;     /* if read_error: index of the record that could not be read */
} sb_trace_stats;

/* A whole trace in memory. */
typedef struct sb_trace {
    int linktype;        /* DLT_ value of the file */
    bool nanosecond;     /* the file stores ns timestamps (else µs) */
    bool swapped;        /* the file was written on a machine of the other byte order */
    bool pcapng;         /* the file is pcapng (precision per interface: nanosecond left false) */
    uint64_t start_ns;   /* absolute time of the first record, ns since the Unix epoch */
    uint64_t duration_ns; /* timestamp of the last kept frame (0 if none) */
    size_t n;            /* frames */
    sb_frame *frames;
    uint8_t *arena;      /* the bytes of the frames that had to be normalised */
    sb_trace_stats stats;
    const void *map_;    /* internal: the file, mapped read-only, when frames point into it */
    size_t map_len_;
} sb_trace;

/* The defaults: IPv4 and ARP only, refuse a partly readable file. */
sb_trace_opts sb_trace_opts_default(void);

/* Read the pcap (or single-link-type pcapng) file at path into *t (opts NULL = defaults).
 * Returns SB_OK; SB_EIO (cannot open), SB_EFORMAT (not a pcap file), SB_EUNSUPPORTED (link type
 * not read here), SB_ENOMEM; or SB_EPARTIAL: a record could not be read (libpcap's pcap_next_ex
 * returned -1), with err "PATH: read N frames, then: REASON", where N = t->stats.error_at is the
 * number of records read before it. With opts->keep_partial *t then holds what was read
 * (t->stats.read_error set) and must be freed; otherwise, and on every other error, *t holds no
 * frames, only the counts (t->stats) of what was read (freeing it is harmless). Messages are one line naming the file. */
sb_status sb_trace_load(sb_trace *t, const char *path, const sb_trace_opts *opts, sb_err *err);

/* Release what sb_trace_load allocated and zero *t. NULL and empty traces are fine. */
void sb_trace_free(sb_trace *t);

/* "EN10MB", "RAW", "LINUX_SLL", ...; for unknown values "DLT_<n>". Never NULL. */
const char *sb_linktype_name(int linktype);

/* Streaming: one frame at a time, for files too large to hold. */
typedef struct sb_trace_reader sb_trace_reader;

/* Open path for streaming. Returns as sb_trace_load's open step (SB_OK, SB_EIO, SB_EFORMAT,
 * SB_EUNSUPPORTED, SB_ENOMEM); on success *r must be closed with sb_trace_reader_close. */
sb_status sb_trace_reader_open(sb_trace_reader **r, const char *path, const sb_trace_opts *opts,
                               sb_err *err);

/* The next kept frame into *f; f->data is valid until the next call or close.
 * Returns 1 (a frame), 0 (end of file) or SB_EPARTIAL (a record could not be read: err says
 * "PATH: read N frames, then: REASON"; further calls return the same). */
int sb_trace_reader_next(sb_trace_reader *r, sb_frame *f, sb_err *err);

/* Link type, timestamp precision, byte order and counts so far (into the sb_trace fields of
 * *info; n, frames and arena stay empty). */
void sb_trace_reader_info(const sb_trace_reader *r, sb_trace *info);

void sb_trace_reader_close(sb_trace_reader *r);

/* Normalise one captured frame of the given link type (caplen bytes at in) into an untagged
 * Ethernet II frame at out (room for caplen + 14 bytes). Sets *out_len, *ethertype and *vlan_tags.
 * Returns SB_OK, SB_EFORMAT (too short for its link header, or a third VLAN tag) or
 * SB_EUNSUPPORTED (link type). Does not filter by ethertype. out must not overlap in. */
sb_status sb_frame_normalise(int linktype, const uint8_t *in, size_t caplen, uint8_t *out,
                             size_t *out_len, uint16_t *ethertype, uint8_t *vlan_tags);

#ifdef __cplusplus
}
#endif

#endif /* SBTRAFFIC_TRACE_H */
