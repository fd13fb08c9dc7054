/* sbtraffic: pcap reading through libpcap, and the normalisation of every link type we read into
 * an untagged Ethernet II frame. libpcap does the file format (byte order, µs/ns, pcapng with one
 * link type); this file does link headers, VLAN tags and the accounting of what was skipped.
 *
 * sb_trace_load of a classic pcap file (version 2.4, either byte order, µs or ns) maps the file and
 * walks its records in place, because libpcap's two freads and the copies after them cost several
 * hundred instructions a record, a good part of replaying the frame: an Ethernet frame without
 * tags is then used where it lies in the file, anything else is normalised into the arena. It reads a record directly only when libpcap
 * would hand it out unchanged (whole header and data present, caplen within the snapshot length
 * and libpcap's sanity maximum, both timestamp fields below 2^31 so their signedness cannot
 * matter); at the first record that needs libpcap's judgement (a damaged or cut-off record, an
 * oversized caplen) libpcap is moved to that record's offset and reads the rest, so what is
 * loaded, the counts and every error message are libpcap's. pcapng and older pcap versions are
 * read by libpcap throughout. */
#include "sbtraffic/trace.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* Every page is read once, in order: mapping them all up front costs one call instead of a fault
 * per few pages (Linux). */
#ifdef MAP_POPULATE
#define MAP_POPULATE_IF_ANY MAP_POPULATE
#else
#define MAP_POPULATE_IF_ANY 0
#endif

#include <pcap/pcap.h>

#include "bigalloc.h"
#include "flowpass.h"
#include "sbtraffic/compiler.h"
#include "ustack/wire/bytes.h"
#include "ustack/wire/eth.h"

#define SLL_HDR_LEN 16u  /* pkttype, hatype, halen, addr[8], protocol */
#define SLL2_HDR_LEN 20u /* protocol, reserved, ifindex, hatype, pkttype, halen, addr[8] */

struct sb_trace_reader {
    pcap_t *pcap;
    char *path;
    sb_trace_opts opts;
    int linktype;
    bool nanosecond;
    bool pcapng;
    bool swapped;
    bool have_first;
    int64_t first_abs_ns;
    uint64_t last_rel_ns;
    sb_trace_stats stats;
    bool failed;            /* a read error happened; next() keeps returning it */
    char fail_msg[SB_ERR_MAX];
    uint8_t *buf;           /* the normalised frame handed out */
    size_t buf_cap;
};

sb_trace_opts sb_trace_opts_default(void)
{
    sb_trace_opts o = {.keep_non_ip = false, .keep_partial = false};
    return o;
}

const char *sb_linktype_name(int linktype)
{
    switch (linktype) {
    case SB_DLT_EN10MB: return "EN10MB";
    case SB_DLT_RAW: return "RAW";
    case SB_DLT_LINUX_SLL: return "LINUX_SLL";
    case SB_DLT_IPV4: return "IPV4";
    case SB_DLT_LINUX_SLL2: return "LINUX_SLL2";
    }
    const char *n = pcap_datalink_val_to_name(linktype);
    return n ? n : "unknown";
}

static bool linktype_supported(int lt)
{
    return lt == SB_DLT_EN10MB || lt == SB_DLT_RAW || lt == SB_DLT_LINUX_SLL ||
           lt == SB_DLT_IPV4 || lt == SB_DLT_LINUX_SLL2;
}

sb_status sb_frame_normalise(int linktype, const uint8_t *in, size_t caplen, uint8_t *out,
                             size_t *out_len, uint16_t *ethertype, uint8_t *vlan_tags)
{
    static const uint8_t synth_src[US_ETH_ADDR_LEN] = SB_TRACE_SYNTH_SRC_MAC;
    static const uint8_t synth_dst[US_ETH_ADDR_LEN] = SB_TRACE_SYNTH_DST_MAC;
    size_t len;
    /* First lay the frame out as Ethernet II (possibly still tagged) at out. */
    if (linktype == SB_DLT_EN10MB) {
        memcpy(out, in, caplen);
        len = caplen;
    } else {
        size_t hdr;
        uint16_t proto;
        switch (linktype) {
        case SB_DLT_RAW:
        case SB_DLT_IPV4:
            if (caplen < 1)
                return SB_EFORMAT;
            hdr = 0;
            if (linktype == SB_DLT_IPV4 || (in[0] >> 4) == 4)
                proto = US_ETHERTYPE_IPV4;
            else if ((in[0] >> 4) == 6)
                proto = US_ETHERTYPE_IPV6;
            else
                proto = 0; /* neither: counted as non-IP */
            break;
        case SB_DLT_LINUX_SLL:
            if (caplen < SLL_HDR_LEN)
                return SB_EFORMAT;
            hdr = SLL_HDR_LEN;
            proto = us_get_be16(in + 14);
            break;
        case SB_DLT_LINUX_SLL2:
            if (caplen < SLL2_HDR_LEN)
                return SB_EFORMAT;
            hdr = SLL2_HDR_LEN;
            proto = us_get_be16(in);
            break;
        default:
            return SB_EUNSUPPORTED;
        }
        us_eth_repr e;
        memcpy(e.dst, synth_dst, US_ETH_ADDR_LEN);
        memcpy(e.src, synth_src, US_ETH_ADDR_LEN);
        e.ethertype = proto;
        e.vlan_tags = 0;
        us_eth_emit(&e, out);
        memcpy(out + US_ETH_HDR_LEN, in + hdr, caplen - hdr);
        len = US_ETH_HDR_LEN + caplen - hdr;
    }
    /* Then strip tags: move the payload down over them and rewrite the ethertype. */
    us_eth_repr e;
    size_t hdr_len;
    if (us_eth_parse(&e, out, len, &hdr_len) != US_WIRE_OK)
        return SB_EFORMAT;
    if (hdr_len > US_ETH_HDR_LEN) {
        memmove(out + US_ETH_HDR_LEN, out + hdr_len, len - hdr_len);
        len -= hdr_len - US_ETH_HDR_LEN;
        us_put_be16(out + 2 * US_ETH_ADDR_LEN, e.ethertype);
    }
    *out_len = len;
    *ethertype = e.ethertype;
    *vlan_tags = e.vlan_tags;
    return SB_OK;
}

/* The file's own timestamp precision from its magic number (libpcap reports only the precision we
 * asked for). pcapng: per interface, so left as "not ns". */
static void sniff_magic(const uint8_t m[4], bool *ns, bool *pcapng)
{
    uint32_t be = us_get_be32(m);
    *ns = be == 0xa1b23c4du || be == 0x4d3cb2a1u;
    *pcapng = be == 0x0a0d0d0au;
}

sb_status sb_trace_reader_open(sb_trace_reader **rp, const char *path, const sb_trace_opts *opts,
                               sb_err *err)
{
    *rp = NULL;
    if (!path)
        return sb__fail(err, SB_EINVAL, "no trace file given");
    FILE *f = fopen(path, "rb");
    if (!f)
        return sb__fail(err, SB_EIO, "%s: cannot open: %s", path, strerror(errno));
    uint8_t magic[4] = {0, 0, 0, 0};
    errno = 0;
    size_t got = fread(magic, 1, sizeof magic, f);
    int read_errno = ferror(f) ? errno : 0;
    fclose(f);
    if (read_errno)
        return sb__fail(err, SB_EIO, "%s: cannot read: %s", path, strerror(read_errno));
    if (got < sizeof magic)
        return sb__fail(err, SB_EFORMAT, "%s: not a pcap file: only %zu bytes", path, got);

    char ebuf[PCAP_ERRBUF_SIZE];
    ebuf[0] = '\0';
    pcap_t *p = pcap_open_offline_with_tstamp_precision(path, PCAP_TSTAMP_PRECISION_NANO, ebuf);
    if (!p)
        return sb__fail(err, SB_EFORMAT, "%s: not a readable pcap file: %s", path, ebuf);
    int lt = pcap_datalink(p);
    if (!linktype_supported(lt)) {
        pcap_close(p);
        return sb__fail(err, SB_EUNSUPPORTED,
                        "%s: unsupported link type %s (%d): only EN10MB, RAW, IPV4, LINUX_SLL and "
                        "LINUX_SLL2 are read",
                        path, sb_linktype_name(lt), lt);
    }
    sb_trace_reader *r = calloc(1, sizeof *r);
    char *pathcopy = malloc(strlen(path) + 1);
    if (!r || !pathcopy) {
        free(r);
        free(pathcopy);
        pcap_close(p);
        return sb__fail(err, SB_ENOMEM, "%s: out of memory", path);
    }
    strcpy(pathcopy, path);
    r->pcap = p;
    r->path = pathcopy;
    r->opts = opts ? *opts : sb_trace_opts_default();
    r->linktype = lt;
    r->swapped = pcap_is_swapped(p) != 0;
    sniff_magic(magic, &r->nanosecond, &r->pcapng);
    *rp = r;
    return SB_OK;
}

void sb_trace_reader_close(sb_trace_reader *r)
{
    if (!r)
        return;
    pcap_close(r->pcap);
    free(r->path);
    free(r->buf);
    free(r);
}

void sb_trace_reader_info(const sb_trace_reader *r, sb_trace *info)
{
    memset(info, 0, sizeof *info);
    info->linktype = r->linktype;
    info->nanosecond = r->nanosecond;
    info->swapped = r->swapped;
    info->pcapng = r->pcapng;
    info->start_ns = r->have_first ? (uint64_t)r->first_abs_ns : 0;
    info->duration_ns = r->last_rel_ns;
    info->stats = r->stats;
}

/* The accounting every record goes through, however it was read: its time relative to the first
 * record (clamped so that it never runs backwards), its index, and caplen < len skipped. Returns
 * false for a record to skip. */
static bool record_begin(sb_trace_reader *r, int64_t abs_ns, uint32_t caplen, uint32_t len,
                         uint64_t *rel_ns, uint64_t *index)
{
    *index = r->stats.records++;
    if (!r->have_first) {
        r->have_first = true;
        r->first_abs_ns = abs_ns;
    }
    uint64_t rel = abs_ns > r->first_abs_ns ? (uint64_t)(abs_ns - r->first_abs_ns) : 0;
    if (rel < r->last_rel_ns) {
        r->stats.ts_backwards++;
        rel = r->last_rel_ns;
    }
    r->last_rel_ns = rel;
    *rel_ns = rel;
    if (caplen < len) {
        r->stats.truncated++;
        return false;
    }
    return true;
}

/* After normalising: the ethertype filter and the counts of kept frames. Returns false for a frame
 * to skip. */
static bool record_keep(sb_trace_reader *r, uint16_t et, uint8_t tags)
{
    if (et != US_ETHERTYPE_IPV4 && et != US_ETHERTYPE_ARP) {
        r->stats.non_ip++;
        if (!r->opts.keep_non_ip)
            return false;
    }
    if (tags)
        r->stats.vlan_frames++;
    r->stats.kept++;
    return true;
}

static void record_frame(sb_frame *f, uint64_t rel, uint64_t index, size_t len, uint16_t et,
                         uint8_t tags, const uint8_t *data)
{
    f->ts_ns = rel;
    f->len = (uint32_t)len;
    f->index = index > UINT32_MAX ? UINT32_MAX : (uint32_t)index;
    f->ethertype = et;
    f->vlan_tags = tags;
    f->data = data;
}

int sb_trace_reader_next(sb_trace_reader *r, sb_frame *f, sb_err *err)
{
    if (r->failed)
        return sb__fail(err, SB_EPARTIAL, "%s", r->fail_msg);
    for (;;) {
        struct pcap_pkthdr *h;
        const u_char *d;
        int rc = pcap_next_ex(r->pcap, &h, &d);
        if (rc == PCAP_ERROR_BREAK) /* -2: end of file */
            return 0;
        if (rc != 1) {
            r->failed = true;
            r->stats.read_error = true;
            r->stats.error_at = r->stats.records;
            snprintf(r->fail_msg, sizeof r->fail_msg, "%s: read %llu frames, then: %s", r->path,
                     (unsigned long long)r->stats.records, pcap_geterr(r->pcap));
            return sb__fail(err, SB_EPARTIAL, "%s", r->fail_msg);
        }
        /* ns since the epoch (tv_usec holds ns: we opened with nanosecond precision). */
        int64_t abs_ns = (int64_t)h->ts.tv_sec * 1000000000 + (int64_t)h->ts.tv_usec;
        uint64_t rel, index;
        if (!record_begin(r, abs_ns, h->caplen, h->len, &rel, &index))
            continue;
        size_t need = (size_t)h->caplen + US_ETH_HDR_LEN;
        if (need > r->buf_cap) {
            uint8_t *nb = realloc(r->buf, need);
            if (!nb) {
                r->failed = true;
                r->stats.read_error = true;
                r->stats.error_at = index;
                snprintf(r->fail_msg, sizeof r->fail_msg,
                         "%s: read %llu frames, then: out of memory", r->path,
                         (unsigned long long)index);
                return sb__fail(err, SB_EPARTIAL, "%s", r->fail_msg);
            }
            r->buf = nb;
            r->buf_cap = need;
        }
        size_t len;
        uint16_t et;
        uint8_t tags;
        if (sb_frame_normalise(r->linktype, d, h->caplen, r->buf, &len, &et, &tags) != SB_OK) {
            r->stats.malformed++;
            continue;
        }
        if (!record_keep(r, et, tags))
            continue;
        record_frame(f, rel, index, len, et, tags, r->buf);
        return 1;
    }
}

/* What sb_trace_load is building. Frames normalised into the arena get their data pointer at the
 * end (the arena moves as it grows): fix_idx / fix_off remember which and where. */
typedef struct loader {
    sb_frame *frames;
    size_t n, cap;
    uint8_t *arena;
    size_t arena_len, arena_cap;
    size_t *fix_idx, *fix_off;
    size_t n_fix, fix_cap;
} loader;

static void loader_free(loader *L)
{
    free(L->frames);
    free(L->arena);
    free(L->fix_idx);
    free(L->fix_off);
    memset(L, 0, sizeof *L);
}

/* Room for one more frame. */
static bool loader_frame_room(loader *L)
{
    if (L->n < L->cap)
        return true;
    size_t ncap = L->cap ? 2 * L->cap : 256;
    sb_frame *nf = realloc(L->frames, ncap * sizeof *nf);
    if (!nf)
        return false;
    L->frames = nf;
    L->cap = ncap;
    return true;
}

/* Room for need more bytes in the arena: where they go, or NULL. */
static uint8_t *loader_arena_room(loader *L, size_t need)
{
    if (L->arena_len + need > L->arena_cap) {
        size_t ncap = L->arena_cap ? 2 * L->arena_cap : 65536;
        while (ncap < L->arena_len + need)
            ncap *= 2;
        uint8_t *na = realloc(L->arena, ncap);
        if (!na)
            return NULL;
        L->arena = na;
        L->arena_cap = ncap;
    }
    return L->arena + L->arena_len;
}

/* The frame about to be appended (L->n) lives at the arena's current end; len bytes are there. */
static bool loader_arena_frame(loader *L, size_t len)
{
    if (L->n_fix == L->fix_cap) {
        size_t ncap = L->fix_cap ? 2 * L->fix_cap : 256;
        size_t *ni = realloc(L->fix_idx, ncap * sizeof *ni);
        if (ni)
            L->fix_idx = ni;
        size_t *no = ni ? realloc(L->fix_off, ncap * sizeof *no) : NULL;
        if (!no)
            return false;
        L->fix_off = no;
        L->fix_cap = ncap;
    }
    L->fix_idx[L->n_fix] = L->n;
    L->fix_off[L->n_fix] = L->arena_len;
    L->n_fix++;
    L->arena_len += len;
    return true;
}

#define PCAP_FILE_HDR 24u
#define PCAP_REC_HDR 16u
#define PCAP_MAX_CAPLEN 262144u /* libpcap's sanity maximum for every link type read here */

static uint32_t swap32(uint32_t v)
{
    return (v >> 24) | ((v >> 8) & 0xff00u) | ((v << 8) & 0xff0000u) | (v << 24);
}

/* Map path when it is a classic pcap file of version 2.4 in the byte order libpcap found (the
 * records sb_trace_load reads in place). NULL otherwise, or when it cannot be mapped: libpcap
 * then reads it all. */
static const uint8_t *map_classic_pcap(const sb_trace_reader *r, const char *path, size_t *len)
{
    if (r->pcapng)
        return NULL;
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return NULL;
    struct stat st;
    void *m = MAP_FAILED;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size >= (off_t)PCAP_FILE_HDR &&
        (uint64_t)st.st_size <= SIZE_MAX)
        m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE | MAP_POPULATE_IF_ANY, fd, 0);
    close(fd);
    if (m == MAP_FAILED)
        return NULL;
    const uint8_t *p = m;
    uint32_t magic;
    uint16_t vmaj, vmin;
    memcpy(&magic, p, 4);
    memcpy(&vmaj, p + 4, 2);
    memcpy(&vmin, p + 6, 2);
    bool swapped = magic == 0xd4c3b2a1u || magic == 0x4d3cb2a1u;
    if (swapped) {
        vmaj = (uint16_t)(vmaj >> 8 | vmaj << 8);
        vmin = (uint16_t)(vmin >> 8 | vmin << 8);
    }
    bool classic = magic == 0xa1b2c3d4u || magic == 0xa1b23c4du || swapped;
    if (!classic || swapped != r->swapped || vmaj != 2 || vmin != 4) {
        munmap(m, (size_t)st.st_size);
        return NULL;
    }
    *len = (size_t)st.st_size;
    return p;
}

/* Reserve room for cap frames at once (the mapped walk knows a bound: the file size) when that is
 * a large array (sb__big_alloc: on huge pages, and trimmed at the end without a copy); a small one
 * grows as it goes, as the libpcap path's does. Failing is fine: the walk then grows the array. */
static void loader_reserve(loader *L, size_t cap)
{
    if (L->frames || cap > SIZE_MAX / sizeof *L->frames || cap * sizeof *L->frames < SB__BIG)
        return;
    sb_frame *f = sb__big_alloc(cap * sizeof *f);
    if (f) {
        L->frames = f;
        L->cap = cap;
    }
}

/* Where load_mapped's bulk walk stands: the reader's accounting and the frame array copied into
 * one local struct for the walk, so that the compiler can keep them in registers (through *r and
 * *L it would reload them around every store into the frame array, which may alias them). */
typedef struct walk {
    sb_trace_stats s;
    int64_t first;     /* r->first_abs_ns, valid once a record has been read */
    uint64_t last_rel; /* r->last_rel_ns */
    size_t off;        /* next record */
    size_t n, cap;     /* frames, room */
    sb_frame *frames;
} walk;

/* How far ahead of the record it reads the bulk walk asks for the file's bytes (measured on the
 * 1 M-frame udp-oneway trace: 8 KiB gave the shortest load, 1-4 KiB less of a gain). */
#define WALK_PREFETCH 8192u

/* The common record, taken in bulk: an untagged IPv4 or ARP Ethernet frame, whole (caplen = len,
 * within the snapshot length and the file), both timestamp fields below 2^31, stamped no earlier
 * than the record before (whose time is w->last_rel), with room in the frame array. For such a
 * record record_begin, record_keep and record_frame come down to what is done here; the walk stops,
 * without touching it, at the first record that is anything else. Needs a first record already
 * read (w->first set). Takes frames up to w->frames[lim - 1] at most (lim <= w->cap). Specialised
 * (always inlined with constants) for the byte order and for
 * `inner`: walking only records that start at least PCAP_REC_HDR + max_cap bytes before the end of
 * the file, which then need no check against it. */
static SB_ALWAYS_INLINE void walk_common(walk *w, const uint8_t *map,
                                                              size_t map_len, uint32_t max_cap,
                                                              int64_t frac_ns, bool swapped,
                                                              bool inner, size_t lim)
{
    size_t off = w->off, n = w->n;
    sb_frame *const frames = w->frames;
    uint64_t last_rel = w->last_rel;
    const int64_t first = w->first;
    const uint64_t index0 = w->s.records - n; /* a taken record's index: this + its frame's */
    /* Stop at lim (<= w->cap: before the array is full), and before an index needs clamping to
     * UINT32_MAX. */
    if (index0 + lim > (uint64_t)UINT32_MAX + 1)
        lim = index0 > UINT32_MAX ? 0 : (size_t)((uint64_t)UINT32_MAX + 1 - index0);
    /* US_ETH_HDR_LEN <= caplen <= max_cap in one comparison. */
    const uint32_t cap_span = max_cap >= US_ETH_HDR_LEN ? max_cap - US_ETH_HDR_LEN : 0;
    const bool none = max_cap < US_ETH_HDR_LEN;
    size_t end = map_len - PCAP_REC_HDR; /* the last offset a record header fits at */
    if (inner)
        end = map_len - PCAP_REC_HDR >= max_cap ? map_len - PCAP_REC_HDR - max_cap : 0;
    while (!none && n < lim && off <= end) {
        /* Where the next record lies is known only once this one's header is read, so the walk
         * is a chain of loads through a file larger than any cache; the hardware's prefetcher
         * stops at each 4 KiB page. Ask for the bytes WALK_PREFETCH ahead (a hint: no fault past
         * the mapping's end). */
        __builtin_prefetch(map + off + WALK_PREFETCH);
        uint32_t h[4];
        memcpy(h, map + off, sizeof h);
        if (swapped) {
            for (int i = 0; i < 4; i++)
                h[i] = swap32(h[i]);
        }
        uint32_t caplen = h[2];
        if ((h[0] | h[1]) >= 0x80000000u || caplen - US_ETH_HDR_LEN > cap_span ||
            caplen != h[3] || (!inner && caplen > map_len - off - PCAP_REC_HDR))
            break;
        const uint8_t *d = map + off + PCAP_REC_HDR;
        uint16_t et = us_get_be16(d + 2 * US_ETH_ADDR_LEN);
        if (et != US_ETHERTYPE_IPV4 && et != US_ETHERTYPE_ARP)
            break;
        /* Earlier than the first record (< 0) or than the one before: the general step. */
        int64_t rel = (int64_t)h[0] * 1000000000 + (int64_t)h[1] * frac_ns - first;
        if (rel < (int64_t)last_rel)
            break;
        last_rel = (uint64_t)rel;
        frames[n] = (sb_frame){.ts_ns = last_rel,
                               .len = caplen,
                               .index = (uint32_t)(index0 + n),
                               .ethertype = et,
                               .vlan_tags = 0,
                               .data = d};
        n++;
        off += PCAP_REC_HDR + caplen;
    }
    w->s.records += n - w->n;
    w->s.kept += n - w->n;
    w->n = n;
    w->off = off;
    w->last_rel = last_rel;
}

/* sb_trace_load_flows: the flow pass fed with each chunk of frames as soon as it is loaded, while
 * its records are in cache (the file is then streamed from memory once, not twice). A chunk of
 * FUSE_CHUNK frames of small datagrams is some 128 KB of file, well within L2. */
#define FUSE_CHUNK 1024u

typedef struct fuse {
    sb__flowpass *fp;
    size_t fed;   /* frames fed */
    size_t fix_k; /* loader fix list entries whose frame has been fed */
} fuse;

/* Feed the frames of L not fed yet. Frames in the arena get their data pointer now, for the pass
 * (sb_trace_load sets them all again at the end, when the arena has stopped moving). */
static void fuse_feed(fuse *F, loader *L)
{
    while (F->fix_k < L->n_fix && L->fix_idx[F->fix_k] < L->n) {
        L->frames[L->fix_idx[F->fix_k]].data = L->arena + L->fix_off[F->fix_k];
        F->fix_k++;
    }
    sb__flowpass_feed(F->fp, L->frames, L->n, L->cap);
    F->fed = L->n;
}

/* Read the mapped records in place from the first on, as libpcap would hand them out (see the
 * top of the file). *stop gets the offset of the first record left to libpcap (map_len when every
 * record was read); *used whether a frame points into the map. SB_OK or SB_ENOMEM.
 * Ethernet records go through walk_common while they are the common kind; every other record, one
 * at a time, through the general step below, which is record_begin, sb_frame_normalise (or the
 * untagged frame in place), record_keep and record_frame as the libpcap reader does them.
 * F (NULL for none): fed every FUSE_CHUNK frames (the bulk walk stops at each chunk's end). */
static sb_status load_mapped(sb_trace_reader *r, loader *L, const uint8_t *map, size_t map_len,
                             size_t *stop, bool *used, fuse *F)
{
    int snap = pcap_snapshot(r->pcap);
    uint32_t max_cap = snap > 0 && (uint32_t)snap < PCAP_MAX_CAPLEN ? (uint32_t)snap
                                                                     : PCAP_MAX_CAPLEN;
    const bool swapped = r->swapped, en10mb = r->linktype == SB_DLT_EN10MB;
    const int64_t frac_ns = r->nanosecond ? 1 : 1000;
    /* A kept record takes its header and at least one byte (RAW), 14 for Ethernet. */
    const size_t min_rec = PCAP_REC_HDR + (en10mb ? US_ETH_HDR_LEN : 1u);
    loader_reserve(L, (map_len - PCAP_FILE_HDR) / min_rec + 1);
    size_t off = PCAP_FILE_HDR;
    *used = false;
    while (map_len - off >= PCAP_REC_HDR) {
        if (F && L->n - F->fed >= FUSE_CHUNK)
            fuse_feed(F, L);
        if (en10mb && r->have_first) {
            size_t lim = F && F->fed + FUSE_CHUNK < L->cap ? F->fed + FUSE_CHUNK : L->cap;
            walk w = {.s = r->stats,
                      .first = r->first_abs_ns,
                      .last_rel = r->last_rel_ns,
                      .off = off,
                      .n = L->n,
                      .cap = L->cap,
                      .frames = L->frames};
            if (swapped) {
                walk_common(&w, map, map_len, max_cap, frac_ns, true, true, lim);
                walk_common(&w, map, map_len, max_cap, frac_ns, true, false, lim);
            } else {
                walk_common(&w, map, map_len, max_cap, frac_ns, false, true, lim);
                walk_common(&w, map, map_len, max_cap, frac_ns, false, false, lim);
            }
            *used |= w.n != L->n;
            r->stats = w.s;
            r->last_rel_ns = w.last_rel;
            L->n = w.n;
            off = w.off;
            if (map_len - off < PCAP_REC_HDR)
                break;
            if (L->n == lim && lim < L->cap)
                continue; /* the chunk is full: feed it, then walk on */
        }
        /* The general step, one record, as sb_trace_reader_next does it. */
        uint32_t h[4];
        memcpy(h, map + off, sizeof h);
        if (swapped) {
            for (int i = 0; i < 4; i++)
                h[i] = swap32(h[i]);
        }
        uint32_t caplen = h[2], len = h[3];
        if (h[0] >= 0x80000000u || h[1] >= 0x80000000u || caplen > max_cap ||
            caplen > map_len - off - PCAP_REC_HDR)
            break;
        const uint8_t *d = map + off + PCAP_REC_HDR;
        off += PCAP_REC_HDR + caplen;
        int64_t abs_ns = (int64_t)h[0] * 1000000000 + (int64_t)h[1] * frac_ns;
        uint64_t rel, index;
        if (!record_begin(r, abs_ns, caplen, len, &rel, &index))
            continue;
        if (!loader_frame_room(L))
            return SB_ENOMEM;
        if (en10mb && caplen >= US_ETH_HDR_LEN) {
            /* Untagged: the frame is already what normalising would make of it. */
            uint16_t et = us_get_be16(d + 2 * US_ETH_ADDR_LEN);
            if (et != US_ETHERTYPE_VLAN && et != US_ETHERTYPE_QINQ &&
                et != US_ETHERTYPE_QINQ_OLD) {
                if (record_keep(r, et, 0)) {
                    record_frame(&L->frames[L->n++], rel, index, caplen, et, 0, d);
                    *used = true;
                }
                continue;
            }
        }
        uint8_t *out = loader_arena_room(L, (size_t)caplen + US_ETH_HDR_LEN);
        if (!out)
            return SB_ENOMEM;
        size_t flen;
        uint16_t et;
        uint8_t tags;
        if (sb_frame_normalise(r->linktype, d, caplen, out, &flen, &et, &tags) != SB_OK) {
            r->stats.malformed++;
            continue;
        }
        if (!record_keep(r, et, tags))
            continue;
        if (!loader_arena_frame(L, flen))
            return SB_ENOMEM;
        record_frame(&L->frames[L->n++], rel, index, flen, et, tags, NULL);
    }
    *stop = off;
    return SB_OK;
}

/* sb_trace_load, feeding F (NULL for none) with the frames of a mapped file as they are read. */
static sb_status load(sb_trace *t, const char *path, const sb_trace_opts *opts, sb_err *err,
                      fuse *F)
{
    memset(t, 0, sizeof *t);
    sb_trace_opts o = opts ? *opts : sb_trace_opts_default();
    sb_trace_reader *r;
    sb_status st = sb_trace_reader_open(&r, path, &o, err);
    if (st != SB_OK)
        return st;

    loader L;
    memset(&L, 0, sizeof L);
    size_t map_len = 0;
    const uint8_t *map = map_classic_pcap(r, path, &map_len);
    bool map_used = false;
    bool libpcap_reads = true;
    if (map) {
        size_t stop = map_len;
        st = load_mapped(r, &L, map, map_len, &stop, &map_used, F);
        if (st != SB_OK)
            st = sb__fail(err, SB_ENOMEM, "%s: out of memory after %zu frames", path, L.n);
        else if (stop >= map_len)
            libpcap_reads = false;
        else if (fseeko(pcap_file(r->pcap), (off_t)stop, SEEK_SET) != 0)
            st = sb__fail(err, SB_EIO, "%s: cannot seek to offset %zu: %s", path, stop,
                          strerror(errno));
    }

    sb_frame f;
    int rc = 0;
    while (st == SB_OK && libpcap_reads && (rc = sb_trace_reader_next(r, &f, err)) == 1) {
        uint8_t *out;
        if (!loader_frame_room(&L) || !(out = loader_arena_room(&L, f.len)) ||
            !loader_arena_frame(&L, f.len)) {
            st = sb__fail(err, SB_ENOMEM, "%s: out of memory after %zu frames", path, L.n);
            break;
        }
        memcpy(out, f.data, f.len);
        f.data = NULL;
        L.frames[L.n++] = f;
    }
    if (st == SB_OK && rc < 0)
        st = (sb_status)rc; /* SB_EPARTIAL, message already in err */
    sb_trace_reader_info(r, t);
    sb_trace_reader_close(r);

    if (st != SB_OK && !(st == SB_EPARTIAL && o.keep_partial)) {
        loader_free(&L);
        if (map)
            munmap((void *)(uintptr_t)map, map_len);
        sb_trace_stats keep = t->stats;
        memset(t, 0, sizeof *t);
        t->stats = keep; /* the counts still tell what happened */
        return st;
    }
    for (size_t i = 0; i < L.n_fix; i++)
        L.frames[L.fix_idx[i]].data = L.arena + L.fix_off[i];
    if (L.n == 0) {
        free(L.frames); /* reserved for nothing */
        L.frames = NULL;
    } else if (L.cap - L.n > L.n / 8) {
        /* Give back the reserve (the file size bounds the frames loosely): the untouched pages
         * of a large array go without a copy (mremap). */
        sb_frame *fit = realloc(L.frames, L.n * sizeof *fit);
        if (fit)
            L.frames = fit;
    }
    if (map && map_used) {
        t->map_ = map;
        t->map_len_ = map_len;
    } else if (map) {
        munmap((void *)(uintptr_t)map, map_len);
    }
    t->n = L.n;
    t->frames = L.frames;
    t->arena = L.arena;
    t->duration_ns = L.n ? L.frames[L.n - 1].ts_ns : 0;
    free(L.fix_idx);
    free(L.fix_off);
    return st;
}

sb_status sb_trace_load(sb_trace *t, const char *path, const sb_trace_opts *opts, sb_err *err)
{
    return load(t, path, opts, err, NULL);
}

sb_status sb_trace_load_flows(sb_trace *t, sb_flows *f, const char *path,
                              const sb_trace_opts *topts, const sb_flows_opts *fopts,
                              bool *flows_failed, sb_err *err)
{
    if (flows_failed)
        *flows_failed = false;
    fuse F = {.fp = sb__flowpass_new(f, fopts), .fed = 0, .fix_k = 0};
    sb_status st = load(t, path, topts, err, F.fp ? &F : NULL);
    bool partial_kept = st == SB_EPARTIAL && topts && topts->keep_partial;
    if (st != SB_OK && !partial_kept) {
        /* The load's error, as sb_trace_load gives it; no flows. */
        if (F.fp)
            (void)sb__flowpass_finish(F.fp, false, NULL);
        else
            memset(f, 0, sizeof *f);
        return st;
    }
    /* The frames past the mapped walk (read by libpcap), now that every data pointer is final. */
    sb_status fst = SB_ENOMEM;
    if (F.fp) {
        sb__flowpass_feed(F.fp, t->frames, t->n, t->n);
        fst = sb__flowpass_finish(F.fp, true, err);
    } else {
        (void)sb__fail(err, fst, "flow extraction: out of memory");
    }
    if (fst != SB_OK) {
        if (flows_failed)
            *flows_failed = true;
        return fst;
    }
    return st;
}

void sb_trace_free(sb_trace *t)
{
    if (!t)
        return;
    free(t->frames);
    free(t->arena);
    if (t->map_)
        munmap((void *)(uintptr_t)t->map_, t->map_len_);
    memset(t, 0, sizeof *t);
}
