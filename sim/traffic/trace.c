/* sbtraffic: pcap reading through libpcap, and the normalisation of every link type we read into
 * an untagged Ethernet II frame. libpcap does the file format (byte order, µs/ns, pcapng with one
 * link type); this file does link headers, VLAN tags and the accounting of what was skipped. */
#include "sbtraffic/trace.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pcap/pcap.h>

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
        uint64_t index = r->stats.records++;
        /* ns since the epoch (tv_usec holds ns: we opened with nanosecond precision). */
        int64_t abs_ns = (int64_t)h->ts.tv_sec * 1000000000 + (int64_t)h->ts.tv_usec;
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
        if (h->caplen < h->len) {
            r->stats.truncated++;
            continue;
        }
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
        if (et != US_ETHERTYPE_IPV4 && et != US_ETHERTYPE_ARP) {
            r->stats.non_ip++;
            if (!r->opts.keep_non_ip)
                continue;
        }
        if (tags)
            r->stats.vlan_frames++;
        r->stats.kept++;
        f->ts_ns = rel;
        f->len = (uint32_t)len;
        f->index = index > UINT32_MAX ? UINT32_MAX : (uint32_t)index;
        f->ethertype = et;
        f->vlan_tags = tags;
        f->data = r->buf;
        return 1;
    }
}

sb_status sb_trace_load(sb_trace *t, const char *path, const sb_trace_opts *opts, sb_err *err)
{
    memset(t, 0, sizeof *t);
    sb_trace_opts o = opts ? *opts : sb_trace_opts_default();
    sb_trace_reader *r;
    sb_status st = sb_trace_reader_open(&r, path, &o, err);
    if (st != SB_OK)
        return st;

    size_t cap = 0, arena_cap = 0, arena_len = 0;
    size_t *offs = NULL;
    sb_frame *frames = NULL;
    uint8_t *arena = NULL;
    size_t n = 0;
    sb_frame f;
    int rc;
    st = SB_OK;
    while ((rc = sb_trace_reader_next(r, &f, err)) == 1) {
        if (n == cap) {
            size_t ncap = cap ? 2 * cap : 256;
            sb_frame *nf = realloc(frames, ncap * sizeof *nf);
            size_t *no = nf ? realloc(offs, ncap * sizeof *no) : NULL;
            if (nf)
                frames = nf;
            if (!no) {
                st = sb__fail(err, SB_ENOMEM, "%s: out of memory after %zu frames", path, n);
                break;
            }
            offs = no;
            cap = ncap;
        }
        if (arena_len + f.len > arena_cap) {
            size_t ncap = arena_cap ? 2 * arena_cap : 65536;
            while (ncap < arena_len + f.len)
                ncap *= 2;
            uint8_t *na = realloc(arena, ncap);
            if (!na) {
                st = sb__fail(err, SB_ENOMEM, "%s: out of memory after %zu frames", path, n);
                break;
            }
            arena = na;
            arena_cap = ncap;
        }
        memcpy(arena + arena_len, f.data, f.len);
        frames[n] = f;
        offs[n] = arena_len;
        arena_len += f.len;
        n++;
    }
    if (st == SB_OK && rc < 0)
        st = (sb_status)rc; /* SB_EPARTIAL, message already in err */
    sb_trace_reader_info(r, t);
    sb_trace_reader_close(r);

    if (st != SB_OK && !(st == SB_EPARTIAL && o.keep_partial)) {
        free(frames);
        free(offs);
        free(arena);
        sb_trace_stats keep = t->stats;
        memset(t, 0, sizeof *t);
        t->stats = keep; /* the counts still tell what happened */
        return st;
    }
    for (size_t i = 0; i < n; i++)
        frames[i].data = arena + offs[i];
    free(offs);
    t->n = n;
    t->frames = frames;
    t->arena = arena;
    t->duration_ns = n ? frames[n - 1].ts_ns : 0;
    return st;
}

void sb_trace_free(sb_trace *t)
{
    if (!t)
        return;
    free(t->frames);
    free(t->arena);
    memset(t, 0, sizeof *t);
}
