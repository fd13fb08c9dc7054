/* The stack instance: configuration defaults and checks, the layout of everything a stack owns
 * over the caller's memory, init, getters, drop names, and the seeded PRNG (splitmix64) that
 * draws ISNs and ephemeral ports. */
#include <string.h>

#include "stack_internal.h"

#define MS 1000000ull
#define SEC 1000000000ull

static const char *const drop_names[US_DROP_COUNT] = {
#define US_DROP_NAME(id, name) name,
    US_DROP_TABLE(US_DROP_NAME)
#undef US_DROP_NAME
};

const char *us_drop_name(us_drop_reason r)
{
    return (unsigned)r < US_DROP_COUNT ? drop_names[r] : "?";
}

void us_stack_config_default(us_stack_config *cfg)
{
    if (cfg == NULL)
        return;
    memset(cfg, 0, sizeof(*cfg));
    static const uint8_t mac[6] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x01};
    memcpy(cfg->mac, mac, sizeof(mac));
    cfg->ipv4_addr = 0x0A000001u;    /* 10.0.0.1 */
    cfg->ipv4_netmask = 0xFFFFFF00u; /* /24 */
    cfg->ipv4_gateway = 0;
    us_bufs_config_default(&cfg->bufs);
    cfg->udp_sockets = 8;
    cfg->tcp_sockets = 8;
    cfg->udp_rx_buf = 8u * 1024u;
    cfg->udp_tx_buf = 8u * 1024u;
    cfg->tcp_rx_buf = 64u * 1024u;
    cfg->tcp_tx_buf = 64u * 1024u;
    cfg->arp_entries = 16;
    cfg->arp_queue = 4;
    cfg->arp_max_age = 300 * SEC;
    cfg->arp_retry = 1 * SEC;
    cfg->arp_max_retries = 5;
    cfg->reass_max_bytes = 16u * 1024u;
    cfg->reass_slots = 4;
    cfg->reass_timeout = 15 * SEC;
    cfg->tcp_mss = 0;
    cfg->tcp_ooseq_max = 64;
    cfg->tcp_time_wait = 60 * SEC;
    cfg->tcp_fin_wait2_timeout = 60 * SEC;
    cfg->tcp_delayed_ack = 40 * MS;
    cfg->tcp_rto_initial = 1 * SEC;
    cfg->tcp_rto_min = 200 * MS;
    cfg->tcp_rto_max = 60 * SEC;
    cfg->tcp_max_retries = 12;
    cfg->seed = 0;
}

/* ---- configuration checks ---- */

#define MAX_SOCKETS 4096u
#define MAX_RING (1u << 30) /* the largest TCP window (RFC 7323) */

static int mask_contiguous(uint32_t m)
{
    uint32_t inv = ~m;
    return (inv & (inv + 1u)) == 0; /* ~m is 0...01...1 */
}

static int cfg_valid(const us_stack_config *c)
{
    if (c->ipv4_addr == 0 || c->ipv4_addr == 0xFFFFFFFFu || !mask_contiguous(c->ipv4_netmask))
        return 0;
    if (c->mac[0] & 1u) /* a multicast MAC cannot be a station address */
        return 0;
    if (us_bufs_mem_size(&c->bufs) == 0)
        return 0;
    if (c->udp_sockets > MAX_SOCKETS || c->tcp_sockets > MAX_SOCKETS)
        return 0;
    if (c->udp_sockets && (c->udp_rx_buf <= US__UDP_REC_LEN || c->udp_tx_buf <= US__UDP_REC_LEN ||
                           c->udp_rx_buf > MAX_RING || c->udp_tx_buf > MAX_RING))
        return 0;
    if (c->tcp_sockets && (c->tcp_rx_buf == 0 || c->tcp_tx_buf == 0 || c->tcp_rx_buf > MAX_RING ||
                           c->tcp_tx_buf > MAX_RING))
        return 0;
    if (c->arp_entries == 0 || c->arp_entries > MAX_SOCKETS || c->arp_queue > 1024 ||
        c->arp_max_age == 0 || c->arp_retry == 0 || c->arp_max_retries == 0)
        return 0;
    if (c->reass_slots > 256 || c->reass_max_bytes > (1u << 24))
        return 0;
    if (c->reass_slots && (c->reass_max_bytes < 8 || c->reass_timeout == 0))
        return 0;
    if (c->tcp_ooseq_max > 1024)
        return 0;
    if (c->tcp_rto_min == 0 || c->tcp_rto_min > c->tcp_rto_initial ||
        c->tcp_rto_initial > c->tcp_rto_max || c->tcp_max_retries == 0)
        return 0;
    if (c->tcp_mss != 0 && c->tcp_mss < 64)
        return 0;
    return 1;
}

/* ---- layout ---- */

typedef struct layout {
    size_t stack, bufs, bufs_len, udp, udp_rings, tcp, tcp_rings, ooseq, arp, arp_len, reass_slot,
        reass_heap, reass_heap_len, dl_heap, dl_pos, dl_key, rl_next, rl_in, total;
} layout;

/* Reserve n bytes at the 16-aligned offset *off; 0 on overflow. */
static int take(size_t *off, size_t *at, size_t n)
{
    size_t a = US_ALIGN_UP(*off, 16u);
    if (a < *off || a + n < a)
        return 0;
    *at = a;
    *off = a + n;
    return 1;
}

static int mul(size_t a, size_t b, size_t *out)
{
    if (a != 0 && b > SIZE_MAX / a)
        return 0;
    *out = a * b;
    return 1;
}

static int make_layout(const us_stack_config *c, layout *l)
{
    if (!cfg_valid(c))
        return 0;
    size_t off = 0, n;
    int ok = take(&off, &l->stack, sizeof(us_stack));
    l->bufs_len = us_bufs_mem_size(&c->bufs);
    ok = ok && take(&off, &l->bufs, l->bufs_len);
    ok = ok && mul(c->udp_sockets, sizeof(us__udp_sock), &n) && take(&off, &l->udp, n);
    ok = ok && mul(c->udp_sockets, (size_t)c->udp_rx_buf + c->udp_tx_buf, &n) &&
         take(&off, &l->udp_rings, n);
    ok = ok && mul(c->tcp_sockets, sizeof(us__tcp_sock), &n) && take(&off, &l->tcp, n);
    ok = ok && mul(c->tcp_sockets, (size_t)c->tcp_rx_buf + c->tcp_tx_buf, &n) &&
         take(&off, &l->tcp_rings, n);
    ok = ok && mul((size_t)c->tcp_sockets * c->tcp_ooseq_max, sizeof(us_tcp_ooseg), &n) &&
         take(&off, &l->ooseq, n);
    l->arp_len = us__arp_mem_size(c->arp_entries, c->arp_queue);
    ok = ok && take(&off, &l->arp, l->arp_len);
    ok = ok && take(&off, &l->reass_slot, (size_t)c->reass_slots * sizeof(us__reass_slot));
    l->reass_heap_len = us__reass_mem_size(c->reass_slots, c->reass_max_bytes);
    ok = ok && take(&off, &l->reass_heap, l->reass_heap_len);
    size_t items = (size_t)c->tcp_sockets + c->arp_entries + c->reass_slots;
    size_t socks = (size_t)c->udp_sockets + c->tcp_sockets;
    ok = ok && take(&off, &l->dl_heap, items * sizeof(uint32_t));
    ok = ok && take(&off, &l->dl_pos, items * sizeof(uint32_t));
    ok = ok && take(&off, &l->dl_key, items * sizeof(us_time));
    ok = ok && take(&off, &l->rl_next, socks * sizeof(uint32_t));
    ok = ok && take(&off, &l->rl_in, socks);
    if (!ok || off + 16 < off)
        return 0;
    l->total = off + 16; /* slack to align an arbitrary mem */
    return 1;
}

size_t us_stack_mem_size(const us_stack_config *cfg)
{
    layout l;
    if (cfg == NULL || !make_layout(cfg, &l))
        return 0;
    return l.total;
}

us_stack *us_stack_init(void *mem, size_t mem_len, const us_stack_config *cfg, const us_dev *dev,
                        us_status *st)
{
    layout l;
    if (st)
        *st = US_EINVAL;
    if (mem == NULL || cfg == NULL || dev == NULL || dev->tx_acquire == NULL ||
        dev->tx_commit == NULL || !make_layout(cfg, &l) || mem_len < l.total)
        return NULL;
    if (dev->mtu < 68 || dev->mtu > US_IPV4_MAX_LEN)
        return NULL;
    if (cfg->tcp_mss != 0 && (uint32_t)cfg->tcp_mss + 40u > dev->mtu)
        return NULL;

    uint8_t *base = (uint8_t *)US_ALIGN_UP((uintptr_t)mem, 16u);
    us_stack *s = (us_stack *)(base + l.stack);
    memset(s, 0, sizeof(*s));
    s->cfg = *cfg;
    s->dev = *dev;
    if (us_bufs_init(&s->bufs, &cfg->bufs, base + l.bufs, l.bufs_len) != US_OK)
        return NULL;
    us_pool_set_reclaim(&s->bufs.pools[US_POOL_PBUF_POOL], us__tcp_reclaim, s);

    s->rng = cfg->seed;
    s->ip_ident = (uint16_t)us__rand(s);
    s->bcast = cfg->ipv4_addr | ~cfg->ipv4_netmask;

    us_tcp_params *tp = &s->tcp_params;
    uint32_t mss = cfg->tcp_mss ? cfg->tcp_mss : dev->mtu - 40u;
    tp->mss = (uint16_t)(mss > 0xFFFFu ? 0xFFFFu : mss);
    tp->ooseq_max = cfg->tcp_ooseq_max;
    tp->time_wait = cfg->tcp_time_wait;
    tp->fin_wait2_timeout = cfg->tcp_fin_wait2_timeout;
    tp->delayed_ack = cfg->tcp_delayed_ack;
    tp->rto_initial = cfg->tcp_rto_initial;
    tp->rto_min = cfg->tcp_rto_min;
    tp->rto_max = cfg->tcp_rto_max;
    tp->max_retries = cfg->tcp_max_retries;

    s->udp_n = cfg->udp_sockets;
    s->tcp_n = cfg->tcp_sockets;
    s->udp = (us__udp_sock *)(base + l.udp);
    s->tcp = (us__tcp_sock *)(base + l.tcp);

    uint32_t items = s->tcp_n + cfg->arp_entries + cfg->reass_slots;
    us__dl_init(&s->dl, (uint32_t *)(base + l.dl_heap), (uint32_t *)(base + l.dl_pos),
                (us_time *)(base + l.dl_key), items);
    s->rl_next = (uint32_t *)(base + l.rl_next);
    s->rl_in = base + l.rl_in;
    memset(s->rl_in, 0, (size_t)s->udp_n + s->tcp_n);
    s->rl_head = s->rl_tail = US__NONE;

    us__arp_init(&s->arp, base + l.arp, cfg->arp_entries, cfg->arp_queue, s->tcp_n);
    us__reass_init(&s->reass, (us__reass_slot *)(base + l.reass_slot), base + l.reass_heap,
                   l.reass_heap_len, cfg->reass_slots, cfg->reass_max_bytes,
                   s->tcp_n + cfg->arp_entries);
    us__sockets_init(s, base + l.udp_rings, base + l.tcp_rings, (us_tcp_ooseg *)(base + l.ooseq));
    if (st)
        *st = US_OK;
    return s;
}

const us_stack_stats *us_stack_get_stats(const us_stack *s)
{
    return &s->stats;
}

us_bufs *us_stack_bufs(us_stack *s)
{
    return &s->bufs;
}

const us_stack_config *us_stack_get_config(const us_stack *s)
{
    return &s->cfg;
}

const us_dev *us_stack_get_dev(const us_stack *s)
{
    return &s->dev;
}

uint64_t us__rand(us_stack *s)
{
    uint64_t z = (s->rng += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
