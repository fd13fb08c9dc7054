/* TCP: real segments (Linux SYN with MSS/SACK-permitted/timestamps/window scale, other layouts,
 * an HTTP request), option walking edge cases (past the header, length 0 and 1, wrong lengths for
 * known kinds, unknown kinds, EOL in the middle, clamped window scale, SACK blocks), every error
 * reason, truncation at every length, emit layout and SACK trimming, round trips. */
#include "wire_test.h"
#include "ustack/wire/bytes.h"
#include "ustack/wire/checksum.h"
#include "ustack/wire/tcp.h"

#define SRC_IP 0xc0a80001u
#define DST_IP 0xc0a80002u

typedef struct tcp_frame {
    uint8_t f[WT_MAX_FRAME];
    uint8_t *tcp; /* start of the TCP header in f */
    size_t len;   /* segment length (IPv4 payload length) */
    us_ipv4_repr ip;
} tcp_frame;

static void load(tcp_frame *t, const char *name)
{
    const wire_frame *fr = wt_find(name);
    size_t len = wt_hex(fr->hex, t->f, WT_MAX_FRAME);
    size_t off = wt_l3_offset(fr, t->f, len);
    /* IPv4 checksum not verified: eth_bad_ipcsum's is zero (offload), its TCP checksum is fine. */
    assert_int_equal(us_ipv4_parse(&t->ip, t->f + off, len - off, US_WIRE_SKIP_CSUM), US_WIRE_OK);
    assert_int_equal(t->ip.proto, US_IP_PROTO_TCP);
    t->tcp = t->f + off + t->ip.header_len;
    t->len = t->ip.payload_len;
}

/* A segment in b with the given option bytes (a multiple of 4) and paylen payload bytes, checksum
 * over SRC_IP -> DST_IP. Returns its length. */
static size_t make_segment(uint8_t *b, const uint8_t *opt, size_t optlen, size_t paylen)
{
    assert_int_equal(optlen % 4, 0);
    assert_true(optlen <= 40);
    memset(b, 0, US_TCP_HDR_LEN);
    us_put_be16(b, 40000);
    us_put_be16(b + 2, 80);
    us_put_be32(b + 4, 1000);
    us_put_be32(b + 8, 2000);
    b[12] = (uint8_t)(((US_TCP_HDR_LEN + optlen) / 4) << 4);
    b[13] = US_TCP_ACK;
    us_put_be16(b + 14, 512);
    if (optlen)
        memcpy(b + US_TCP_HDR_LEN, opt, optlen);
    size_t len = US_TCP_HDR_LEN + optlen + paylen;
    for (size_t i = US_TCP_HDR_LEN + optlen; i < len; i++)
        b[i] = (uint8_t)i;
    uint32_t sum = us_csum_pseudo_ipv4(SRC_IP, DST_IP, US_IP_PROTO_TCP, (uint16_t)len);
    us_put_be16(b + 16, us_csum_finish(us_csum_partial(b, len, sum)));
    return len;
}

/* Parse a crafted segment with these options from an exact-size copy. */
static us_wire_err parse_opts(us_tcp_repr *r, const uint8_t *opt, size_t optlen)
{
    uint8_t b[128];
    size_t len = make_segment(b, opt, optlen, 3);
    uint8_t *p = wt_dup(b, len);
    us_wire_err e = us_tcp_parse(r, p, len, SRC_IP, DST_IP, 0);
    free(p);
    return e;
}

/* Everything but header_len and the payload pointer (which depend on layout and buffer). */
static void assert_same_tcp(const us_tcp_repr *a, const us_tcp_repr *b)
{
    assert_int_equal(a->src_port, b->src_port);
    assert_int_equal(a->dst_port, b->dst_port);
    assert_int_equal(a->seq, b->seq);
    assert_int_equal(a->ack, b->ack);
    assert_int_equal(a->flags, b->flags);
    assert_int_equal(a->window, b->window);
    assert_int_equal(a->urgent, b->urgent);
    assert_int_equal(a->mss_present, b->mss_present);
    if (a->mss_present)
        assert_int_equal(a->mss, b->mss);
    assert_int_equal(a->wscale_present, b->wscale_present);
    if (a->wscale_present)
        assert_int_equal(a->wscale, b->wscale);
    assert_int_equal(a->sack_permitted, b->sack_permitted);
    assert_int_equal(a->ts_present, b->ts_present);
    if (a->ts_present) {
        assert_int_equal(a->tsval, b->tsval);
        assert_int_equal(a->tsecr, b->tsecr);
    }
    assert_int_equal(a->sack_count, b->sack_count);
    for (unsigned i = 0; i < a->sack_count; i++) {
        assert_int_equal(a->sack[i].left, b->sack[i].left);
        assert_int_equal(a->sack[i].right, b->sack[i].right);
    }
    assert_int_equal(a->payload_len, b->payload_len);
}

static void test_tcp_parse_real_linux_syn(void **state)
{
    (void)state;
    tcp_frame t;
    load(&t, "sll_syn");
    us_tcp_repr r;
    assert_int_equal(us_tcp_parse(&r, t.tcp, t.len, t.ip.src, t.ip.dst, 0), US_WIRE_OK);
    assert_int_equal(r.src_port, 46656);
    assert_int_equal(r.dst_port, 80);
    assert_int_equal(r.seq, 0x2f842acbu);
    assert_int_equal(r.ack, 0);
    assert_int_equal(r.flags, US_TCP_SYN);
    assert_int_equal(r.window, 27200);
    assert_int_equal(r.urgent, 0);
    assert_true(r.mss_present);
    assert_int_equal(r.mss, 1360);
    assert_true(r.sack_permitted);
    assert_true(r.ts_present);
    assert_int_equal(r.tsval, 0x436a0362u);
    assert_int_equal(r.tsecr, 0);
    assert_true(r.wscale_present);
    assert_int_equal(r.wscale, 7);
    assert_int_equal(r.sack_count, 0);
    assert_int_equal(r.header_len, 40);
    assert_int_equal(r.payload_len, 0);
}

static void test_tcp_parse_real_synack_and_ack(void **state)
{
    (void)state;
    tcp_frame t;
    load(&t, "sll_synack");
    us_tcp_repr r;
    assert_int_equal(us_tcp_parse(&r, t.tcp, t.len, t.ip.src, t.ip.dst, 0), US_WIRE_OK);
    assert_int_equal(r.flags, US_TCP_SYN | US_TCP_ACK);
    assert_int_equal(r.ack, 0x2f842accu);
    assert_int_equal(r.mss, 1440);
    assert_int_equal(r.wscale, 8);
    assert_true(r.sack_permitted);
    assert_int_equal(r.tsval, 0x0df5af50u);
    assert_int_equal(r.tsecr, 0x436a0362u);

    load(&t, "sll_ack");
    assert_int_equal(us_tcp_parse(&r, t.tcp, t.len, t.ip.src, t.ip.dst, 0), US_WIRE_OK);
    assert_int_equal(r.flags, US_TCP_ACK);
    assert_false(r.mss_present);
    assert_false(r.wscale_present);
    assert_false(r.sack_permitted);
    assert_true(r.ts_present);
    assert_int_equal(r.tsval, 0x436a0382u);
    assert_int_equal(r.tsecr, 0x0df5af50u);
    assert_int_equal(r.header_len, 32);
}

static void test_tcp_parse_real_http_request_payload(void **state)
{
    (void)state;
    tcp_frame t;
    load(&t, "eth_http_get");
    us_tcp_repr r;
    assert_int_equal(us_tcp_parse(&r, t.tcp, t.len, t.ip.src, t.ip.dst, 0), US_WIRE_OK);
    assert_int_equal(r.flags, US_TCP_PSH | US_TCP_ACK);
    assert_int_equal(r.header_len, 32);
    assert_int_equal(r.payload_len, 377);
    assert_ptr_equal(r.payload, t.tcp + 32);
    assert_memory_equal(r.payload, "GET /", 5);
    assert_memory_equal(r.payload + r.payload_len - 4, "\r\n\r\n", 4);
}

/* Linux lays options out as emit does: parse then emit gives back the header byte for byte. */
static void test_tcp_parse_then_emit_gives_same_bytes(void **state)
{
    (void)state;
    const char *names[] = {"sll_syn", "sll_ack", "eth_syn", "eth_http_get", "eth_padded_ack",
                           "eth_bad_ipcsum"};
    for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
        tcp_frame t;
        load(&t, names[k]);
        us_tcp_repr r;
        assert_int_equal(us_tcp_parse(&r, t.tcp, t.len, t.ip.src, t.ip.dst, 0), US_WIRE_OK);
        assert_int_equal(us_tcp_header_len(&r), r.header_len);
        uint8_t hdr[US_TCP_MAX_HDR_LEN];
        uint32_t psum = us_csum_partial(r.payload, r.payload_len, 0);
        assert_int_equal(us_tcp_emit(&r, hdr, t.ip.src, t.ip.dst, psum), r.header_len);
        assert_memory_equal(hdr, t.tcp, r.header_len);
    }
}

/* Other layouts re-emit in Linux's layout: the bytes differ, the repr does not. */
static void test_tcp_other_layouts_keep_repr_through_emit(void **state)
{
    (void)state;
    const char *names[] = {"sll_synack", "eth_synack"};
    for (size_t k = 0; k < 2; k++) {
        tcp_frame t;
        load(&t, names[k]);
        us_tcp_repr a, b;
        assert_int_equal(us_tcp_parse(&a, t.tcp, t.len, t.ip.src, t.ip.dst, 0), US_WIRE_OK);
        uint8_t seg[US_TCP_MAX_HDR_LEN];
        size_t hl = us_tcp_emit(&a, seg, t.ip.src, t.ip.dst, 0);
        assert_int_equal(hl, a.header_len);
        assert_memory_not_equal(seg, t.tcp, hl);
        assert_int_equal(us_tcp_parse(&b, seg, hl, t.ip.src, t.ip.dst, 0), US_WIRE_OK);
        assert_same_tcp(&a, &b);
    }
}

static void random_repr(us_test_rng *rng, us_tcp_repr *a)
{
    memset(a, 0, sizeof(*a));
    a->src_port = (uint16_t)us_test_rand(rng);
    a->dst_port = (uint16_t)us_test_rand(rng);
    a->seq = (uint32_t)us_test_rand(rng);
    a->ack = (uint32_t)us_test_rand(rng);
    a->flags = (uint8_t)us_test_rand(rng);
    a->window = (uint16_t)us_test_rand(rng);
    a->urgent = (uint16_t)us_test_rand(rng);
    a->mss_present = us_test_below(rng, 2);
    a->mss = a->mss_present ? (uint16_t)us_test_rand(rng) : 0;
    a->wscale_present = us_test_below(rng, 2);
    a->wscale = a->wscale_present ? (uint8_t)us_test_below(rng, US_TCP_MAX_WSCALE + 1) : 0;
    a->sack_permitted = us_test_below(rng, 2);
    a->ts_present = us_test_below(rng, 2);
    if (a->ts_present) {
        a->tsval = (uint32_t)us_test_rand(rng);
        a->tsecr = (uint32_t)us_test_rand(rng);
    }
    a->sack_count = (uint8_t)us_test_below(rng, US_TCP_MAX_SACK + 1);
    for (unsigned i = 0; i < a->sack_count; i++) {
        a->sack[i].left = (uint32_t)us_test_rand(rng);
        a->sack[i].right = (uint32_t)us_test_rand(rng);
    }
}

static void test_tcp_emit_then_parse_round_trips(void **state)
{
    (void)state;
    us_test_rng rng = {793};
    static uint8_t seg[US_TCP_MAX_HDR_LEN + 1500], payload[1500];
    for (int round = 0; round < 3000; round++) {
        us_tcp_repr a, b;
        random_repr(&rng, &a);
        a.payload_len = us_test_below(&rng, 1501);
        wt_fill_random(&rng, payload, a.payload_len);
        uint32_t src = (uint32_t)us_test_rand(&rng), dst = (uint32_t)us_test_rand(&rng);
        size_t hl = us_tcp_header_len(&a);
        assert_int_equal(hl % 4, 0);
        assert_true(hl <= US_TCP_MAX_HDR_LEN);
        assert_int_equal(us_tcp_emit(&a, seg, src, dst, us_csum_partial(payload, a.payload_len, 0)),
                         hl);
        memcpy(seg + hl, payload, a.payload_len);
        size_t len = hl + a.payload_len;
        uint8_t *p = wt_dup(seg, len);
        assert_int_equal(us_tcp_parse(&b, p, len, src, dst, 0), US_WIRE_OK);
        assert_int_equal(b.header_len, hl);
        assert_ptr_equal(b.payload, p + hl);
        /* SACK blocks that did not fit in 40 option bytes were left out, the last ones first. */
        size_t other = (a.mss_present ? 4u : 0u) + (a.wscale_present ? 4u : 0u) +
                       (a.ts_present ? 12u : a.sack_permitted ? 4u : 0u);
        size_t room = (40 - other - 4) / 8;
        assert_int_equal(b.sack_count, a.sack_count < room ? a.sack_count : room);
        a.sack_count = b.sack_count;
        assert_same_tcp(&a, &b);
        free(p);
    }
}

static void test_tcp_header_len_and_sack_trimming(void **state)
{
    (void)state;
    us_tcp_repr r;
    memset(&r, 0, sizeof(r));
    assert_int_equal(us_tcp_header_len(&r), 20);
    r.sack_permitted = true;
    assert_int_equal(us_tcp_header_len(&r), 24);
    r.ts_present = true;
    assert_int_equal(us_tcp_header_len(&r), 32); /* SACK-permitted rides in the TS padding */
    r.mss_present = true;
    r.wscale_present = true;
    assert_int_equal(us_tcp_header_len(&r), 40); /* the Linux SYN */

    us_tcp_repr s;
    memset(&s, 0, sizeof(s));
    s.sack_count = 4;
    for (uint32_t i = 0; i < 4; i++) {
        s.sack[i].left = 100 * (i + 1);
        s.sack[i].right = 100 * (i + 1) + 50;
    }
    assert_int_equal(us_tcp_header_len(&s), 20 + 4 + 32);
    s.ts_present = true;
    assert_int_equal(us_tcp_header_len(&s), 20 + 12 + 4 + 24); /* 3 blocks fit */
    s.mss_present = s.wscale_present = true;
    assert_int_equal(us_tcp_header_len(&s), 20 + 4 + 12 + 4 + 4 + 16); /* 2 blocks fit */

    uint8_t seg[US_TCP_MAX_HDR_LEN];
    size_t hl = us_tcp_emit(&s, seg, SRC_IP, DST_IP, 0);
    assert_int_equal(hl, 60);
    us_tcp_repr b;
    assert_int_equal(us_tcp_parse(&b, seg, hl, SRC_IP, DST_IP, 0), US_WIRE_OK);
    assert_int_equal(b.sack_count, 2);
    assert_int_equal(b.sack[0].left, 100);
    assert_int_equal(b.sack[1].right, 250);
}

static void test_tcp_parse_rejects_zero_length_option(void **state)
{
    (void)state;
    us_tcp_repr r;
    const uint8_t unknown0[] = {0x1e, 0x00, 0x01, 0x01};
    assert_int_equal(parse_opts(&r, unknown0, 4), US_WIRE_BAD_OPTION);
    const uint8_t mss0[] = {0x01, 0x01, 0x02, 0x00};
    assert_int_equal(parse_opts(&r, mss0, 4), US_WIRE_BAD_OPTION);
}

static void test_tcp_parse_rejects_length_one_option(void **state)
{
    (void)state;
    us_tcp_repr r;
    const uint8_t unknown1[] = {0xfe, 0x01, 0x01, 0x01};
    assert_int_equal(parse_opts(&r, unknown1, 4), US_WIRE_BAD_OPTION);
    const uint8_t ts1[] = {0x08, 0x01, 0x00, 0x00};
    assert_int_equal(parse_opts(&r, ts1, 4), US_WIRE_BAD_OPTION);
}

static void test_tcp_parse_rejects_option_running_past_header(void **state)
{
    (void)state;
    us_tcp_repr r;
    /* MSS needs 4 bytes, 2 are left. */
    const uint8_t mss[] = {0x01, 0x01, 0x02, 0x04};
    assert_int_equal(parse_opts(&r, mss, 4), US_WIRE_BAD_OPTION);
    /* A kind byte as the last header byte: no room for its length. */
    const uint8_t kind_last[] = {0x01, 0x01, 0x01, 0x08};
    assert_int_equal(parse_opts(&r, kind_last, 4), US_WIRE_BAD_OPTION);
    /* An unknown kind whose length reaches one byte past the header. */
    const uint8_t unknown[] = {0x01, 0x01, 0x01, 0x01, 0xfd, 0x05, 0xaa, 0xbb};
    assert_int_equal(parse_opts(&r, unknown, 8), US_WIRE_BAD_OPTION);
    /* The same reaching exactly the end is fine and skipped. */
    const uint8_t unknown_fits[] = {0x01, 0x01, 0x01, 0x01, 0xfd, 0x04, 0xaa, 0xbb};
    assert_int_equal(parse_opts(&r, unknown_fits, 8), US_WIRE_OK);
}

static void test_tcp_parse_rejects_wrong_length_for_known_kinds(void **state)
{
    (void)state;
    const struct {
        uint8_t kind, len;
    } bad[] = {
        {US_TCP_OPT_MSS, 3},       {US_TCP_OPT_MSS, 5},      {US_TCP_OPT_WSCALE, 2},
        {US_TCP_OPT_WSCALE, 4},    {US_TCP_OPT_SACK_PERM, 3}, {US_TCP_OPT_SACK_PERM, 4},
        {US_TCP_OPT_TS, 8},        {US_TCP_OPT_TS, 12},       {US_TCP_OPT_SACK, 2},
        {US_TCP_OPT_SACK, 9},      {US_TCP_OPT_SACK, 11},     {US_TCP_OPT_SACK, 17},
        {US_TCP_OPT_SACK, 40},
    };
    for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
        uint8_t opt[40] = {0};
        opt[0] = bad[k].kind;
        opt[1] = bad[k].len;
        us_tcp_repr r;
        assert_int_equal(parse_opts(&r, opt, 40), US_WIRE_BAD_OPTION);
    }
}

static void test_tcp_parse_skips_unknown_kinds(void **state)
{
    (void)state;
    us_tcp_repr r;
    /* MPTCP-like kind 30 and experimental 254 around an MSS. */
    const uint8_t opt[] = {0x1e, 0x04, 0xaa, 0xbb, 0x02, 0x04, 0x05, 0xb4,
                           0xfe, 0x06, 0x12, 0x34, 0x56, 0x78, 0x01, 0x00};
    assert_int_equal(parse_opts(&r, opt, sizeof(opt)), US_WIRE_OK);
    assert_true(r.mss_present);
    assert_int_equal(r.mss, 1460);
    assert_false(r.ts_present);
    assert_int_equal(r.payload_len, 3);
}

static void test_tcp_parse_eol_in_the_middle_ends_options(void **state)
{
    (void)state;
    us_tcp_repr r;
    /* After EOL comes padding, even if it looks like a broken option. */
    const uint8_t opt[] = {0x02, 0x04, 0x05, 0xb4, 0x00, 0x02, 0x00, 0xff};
    assert_int_equal(parse_opts(&r, opt, sizeof(opt)), US_WIRE_OK);
    assert_true(r.mss_present);
    const uint8_t first[] = {0x00, 0x02, 0x04, 0x05, 0xb4, 0x00, 0x00, 0x00};
    assert_int_equal(parse_opts(&r, first, sizeof(first)), US_WIRE_OK);
    assert_false(r.mss_present);
}

static void test_tcp_parse_all_nops_and_repeated_options(void **state)
{
    (void)state;
    us_tcp_repr r;
    uint8_t nops[40];
    memset(nops, US_TCP_OPT_NOP, sizeof(nops));
    assert_int_equal(parse_opts(&r, nops, sizeof(nops)), US_WIRE_OK);
    assert_int_equal(r.header_len, 60);
    const uint8_t twice[] = {0x02, 0x04, 0x01, 0x00, 0x02, 0x04, 0x02, 0x00};
    assert_int_equal(parse_opts(&r, twice, sizeof(twice)), US_WIRE_OK);
    assert_int_equal(r.mss, 0x0200); /* the last one wins */
}

static void test_tcp_parse_clamps_window_scale(void **state)
{
    (void)state;
    us_tcp_repr r;
    const uint8_t shifts[] = {0, 14, 15, 200, 255};
    const uint8_t expect[] = {0, 14, 14, 14, 14};
    for (size_t k = 0; k < sizeof(shifts); k++) {
        const uint8_t opt[] = {0x01, 0x03, 0x03, shifts[k]};
        assert_int_equal(parse_opts(&r, opt, sizeof(opt)), US_WIRE_OK);
        assert_true(r.wscale_present);
        assert_int_equal(r.wscale, expect[k]);
    }
}

static void test_tcp_parse_sack_blocks(void **state)
{
    (void)state;
    us_tcp_repr r;
    uint8_t opt[36] = {0x01, 0x01, 0x05, 34};
    for (uint32_t i = 0; i < 4; i++) {
        us_put_be32(opt + 4 + 8 * i, 0x10000000u * (i + 1));
        us_put_be32(opt + 8 + 8 * i, 0x10000000u * (i + 1) + 1448);
    }
    assert_int_equal(parse_opts(&r, opt, sizeof(opt)), US_WIRE_OK);
    assert_int_equal(r.sack_count, 4);
    assert_int_equal(r.sack[3].left, 0x40000000u);
    assert_int_equal(r.sack[3].right, 0x40000000u + 1448);
    opt[3] = 10;
    memset(opt + 12, 0, sizeof(opt) - 12); /* EOL padding */
    assert_int_equal(parse_opts(&r, opt, 12), US_WIRE_OK);
    assert_int_equal(r.sack_count, 1);
    assert_int_equal(r.sack[0].left, 0x10000000u);
}

static void test_tcp_parse_rejects_bad_data_offset(void **state)
{
    (void)state;
    uint8_t b[64];
    size_t len = make_segment(b, NULL, 0, 20);
    us_tcp_repr r;
    for (uint8_t doff = 0; doff < 5; doff++) {
        b[12] = (uint8_t)(doff << 4);
        assert_int_equal(us_tcp_parse(&r, b, len, SRC_IP, DST_IP, US_WIRE_SKIP_CSUM),
                         US_WIRE_BAD_DATA_OFFSET);
    }
    b[12] = 0xf0; /* 60 bytes of header in a 40-byte segment */
    uint8_t *p = wt_dup(b, len);
    assert_int_equal(us_tcp_parse(&r, p, len, SRC_IP, DST_IP, US_WIRE_SKIP_CSUM),
                     US_WIRE_BAD_DATA_OFFSET);
    free(p);
    b[12] = 0xa0; /* 40 bytes: the payload bytes read as options, allowed with the checksum off */
    assert_int_equal(us_tcp_parse(&r, b, len, SRC_IP, DST_IP, US_WIRE_SKIP_CSUM),
                     US_WIRE_BAD_OPTION);
}

static void test_tcp_parse_rejects_bad_checksum(void **state)
{
    (void)state;
    tcp_frame t;
    load(&t, "eth_http_get");
    us_tcp_repr r;
    t.tcp[t.len - 1] ^= 0x20;
    assert_int_equal(us_tcp_parse(&r, t.tcp, t.len, t.ip.src, t.ip.dst, 0), US_WIRE_BAD_CHECKSUM);
    assert_int_equal(us_tcp_parse(&r, t.tcp, t.len, t.ip.src, t.ip.dst, US_WIRE_SKIP_CSUM),
                     US_WIRE_OK);
    t.tcp[t.len - 1] ^= 0x20;
    assert_int_equal(us_tcp_parse(&r, t.tcp, t.len, t.ip.src, t.ip.dst ^ 0x100, 0),
                     US_WIRE_BAD_CHECKSUM);
    assert_int_equal(us_tcp_parse(&r, t.tcp, t.len, t.ip.src, t.ip.dst, 0), US_WIRE_OK);
}

static void test_tcp_parse_rejects_segment_over_64k(void **state)
{
    (void)state;
    size_t len = 65536;
    uint8_t *b = calloc(1, len);
    assert_non_null(b);
    make_segment(b, NULL, 0, 0);
    us_tcp_repr r;
    assert_int_equal(us_tcp_parse(&r, b, len, SRC_IP, DST_IP, 0), US_WIRE_BAD_LENGTH);
    assert_int_equal(us_tcp_parse(&r, b, len - 1, SRC_IP, DST_IP, US_WIRE_SKIP_CSUM), US_WIRE_OK);
    free(b);
}

/* Every prefix of every real segment, from an exact-size copy: checked, an error, in bounds. With
 * the checksum skipped, every prefix that holds the header parses, options intact. */
static void test_tcp_truncation_at_every_length(void **state)
{
    (void)state;
    const char *names[] = {"sll_syn", "sll_synack", "sll_ack", "eth_syn", "eth_synack",
                           "eth_http_get", "eth_padded_ack", "eth_bad_ipcsum"};
    for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
        tcp_frame t;
        load(&t, names[k]);
        us_tcp_repr full;
        assert_int_equal(us_tcp_parse(&full, t.tcp, t.len, t.ip.src, t.ip.dst, 0), US_WIRE_OK);
        for (size_t n = 0; n <= t.len; n++) {
            uint8_t *p = wt_dup(t.tcp, n);
            us_tcp_repr r;
            us_wire_err e = us_tcp_parse(&r, p, n, t.ip.src, t.ip.dst, 0);
            us_wire_err e_skip = us_tcp_parse(&r, p, n, t.ip.src, t.ip.dst, US_WIRE_SKIP_CSUM);
            if (n < 20) {
                assert_int_equal(e, US_WIRE_TRUNCATED);
                assert_int_equal(e_skip, US_WIRE_TRUNCATED);
            } else if (n < full.header_len) {
                assert_int_equal(e, US_WIRE_BAD_DATA_OFFSET);
                assert_int_equal(e_skip, US_WIRE_BAD_DATA_OFFSET);
            } else {
                assert_int_equal(e, n < t.len ? US_WIRE_BAD_CHECKSUM : US_WIRE_OK);
                assert_int_equal(e_skip, US_WIRE_OK);
                full.payload_len = n - full.header_len;
                assert_same_tcp(&full, &r);
            }
            free(p);
        }
    }
}

/* Random option bytes never make the walk read past the header or loop: OK or BAD_OPTION only. */
static void test_tcp_random_options_stay_in_bounds(void **state)
{
    (void)state;
    us_test_rng rng = {0x7C9};
    const uint8_t kinds[] = {0, 1, 2, 3, 4, 5, 8, 30, 254};
    for (int round = 0; round < 20000; round++) {
        uint8_t opt[40];
        size_t optlen = 4 * us_test_below(&rng, 11);
        for (size_t i = 0; i < optlen; i++) {
            uint32_t pick = us_test_below(&rng, 4);
            if (pick == 0)
                opt[i] = kinds[us_test_below(&rng, sizeof(kinds))];
            else if (pick == 1)
                opt[i] = (uint8_t)us_test_below(&rng, 12);
            else
                opt[i] = (uint8_t)us_test_rand(&rng);
        }
        us_tcp_repr r;
        us_wire_err e = parse_opts(&r, opt, optlen);
        assert_true(e == US_WIRE_OK || e == US_WIRE_BAD_OPTION);
        if (e == US_WIRE_OK) {
            assert_true(r.sack_count <= US_TCP_MAX_SACK);
            assert_true(!r.wscale_present || r.wscale <= US_TCP_MAX_WSCALE);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tcp_parse_real_linux_syn),
        cmocka_unit_test(test_tcp_parse_real_synack_and_ack),
        cmocka_unit_test(test_tcp_parse_real_http_request_payload),
        cmocka_unit_test(test_tcp_parse_then_emit_gives_same_bytes),
        cmocka_unit_test(test_tcp_other_layouts_keep_repr_through_emit),
        cmocka_unit_test(test_tcp_emit_then_parse_round_trips),
        cmocka_unit_test(test_tcp_header_len_and_sack_trimming),
        cmocka_unit_test(test_tcp_parse_rejects_zero_length_option),
        cmocka_unit_test(test_tcp_parse_rejects_length_one_option),
        cmocka_unit_test(test_tcp_parse_rejects_option_running_past_header),
        cmocka_unit_test(test_tcp_parse_rejects_wrong_length_for_known_kinds),
        cmocka_unit_test(test_tcp_parse_skips_unknown_kinds),
        cmocka_unit_test(test_tcp_parse_eol_in_the_middle_ends_options),
        cmocka_unit_test(test_tcp_parse_all_nops_and_repeated_options),
        cmocka_unit_test(test_tcp_parse_clamps_window_scale),
        cmocka_unit_test(test_tcp_parse_sack_blocks),
        cmocka_unit_test(test_tcp_parse_rejects_bad_data_offset),
        cmocka_unit_test(test_tcp_parse_rejects_bad_checksum),
        cmocka_unit_test(test_tcp_parse_rejects_segment_over_64k),
        cmocka_unit_test(test_tcp_truncation_at_every_length),
        cmocka_unit_test(test_tcp_random_options_stay_in_bounds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
