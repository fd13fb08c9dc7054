/* Test device and two-stack wiring (see netpair.h). */
#include "netpair.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ustack/pbuf.h"
#include "ustack/wire/arp.h"
#include "ustack/wire/checksum.h"
#include "ustack/wire/eth.h"
#include "ustack/wire/udp.h"

const uint8_t np_mac_a[6] = {0x02, 0, 0, 0, 0, 0x01};
const uint8_t np_mac_b[6] = {0x02, 0, 0, 0, 0, 0x02};
const uint8_t np_mac_bcast[6] = {0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF};

static uint8_t *dev_tx_acquire(void *ctx, uint32_t len)
{
    np_node *n = ctx;
    n->acquires++;
    if (n->refuse > 0 && n->refuse_skip > 0) {
        n->refuse_skip--;
    } else if (n->refuse > 0) {
        n->refuse--;
        n->refused++;
        return NULL;
    }
    if (len > NP_FRAME_MAX)
        fail_msg("tx_acquire of %u bytes: larger than any frame", len);
    if (n->tx_n >= NP_TX_SLOTS)
        fail_msg("TX capture full (%u frames): the test forgot to read them", n->tx_n);
    return n->tx[n->tx_n];
}

static void dev_tx_commit(void *ctx, uint8_t *buf, uint32_t len)
{
    np_node *n = ctx;
    assert_ptr_equal(buf, n->tx[n->tx_n]);
    assert_true(len <= NP_FRAME_MAX);
    n->tx_len[n->tx_n++] = len;
}

static us_pbuf *dev_rx(void *ctx)
{
    np_node *n = ctx;
    if (n->rx_n == 0)
        return NULL;
    us_pbuf *p = n->rxq[n->rx_head];
    n->rx_head = (n->rx_head + 1) % NP_RXQ;
    n->rx_n--;
    return p;
}

void np_config(us_stack_config *cfg, uint32_t ip, uint8_t mac_last)
{
    us_stack_config_default(cfg);
    cfg->ipv4_addr = ip;
    cfg->mac[5] = mac_last;
}

np_node *np_new(const us_stack_config *cfg, uint32_t mtu, uint32_t caps)
{
    return np_new_ex(cfg, mtu, caps, 0);
}

np_node *np_new_ex(const us_stack_config *cfg, uint32_t mtu, uint32_t caps, uint32_t max_burst)
{
    np_node *n = calloc(1, sizeof(*n));
    assert_non_null(n);
    if (cfg)
        n->cfg = *cfg;
    else
        np_config(&n->cfg, NP_IP_A, 1);
    n->dev.ctx = n;
    n->dev.mtu = mtu;
    n->dev.max_burst = max_burst;
    n->dev.caps = caps;
    n->dev.rx = dev_rx;
    n->dev.tx_acquire = dev_tx_acquire;
    n->dev.tx_commit = dev_tx_commit;
    size_t need = us_stack_mem_size(&n->cfg);
    assert_true(need > 0);
    n->mem = malloc(need);
    assert_non_null(n->mem);
    us_status st = US_EINVAL;
    n->s = us_stack_init(n->mem, need, &n->cfg, &n->dev, &st);
    assert_non_null(n->s);
    assert_int_equal(st, US_OK);
    return n;
}

np_node *np_new_a(void)
{
    us_stack_config c;
    np_config(&c, NP_IP_A, 1);
    return np_new(&c, 1500, 0);
}

np_node *np_new_b(void)
{
    us_stack_config c;
    np_config(&c, NP_IP_B, 2);
    return np_new(&c, 1500, 0);
}

void np_free(np_node *n)
{
    if (n == NULL)
        return;
    while (n->rx_n) {
        assert_true(us_pbuf_free(dev_rx(n)) >= 1);
    }
    us_bufs *b = us_stack_bufs(n->s);
    for (int i = 0; i < US_POOL_COUNT; i++)
        if (b->pools[i].stats.used != 0)
            fail_msg("leak: pool %s has %u blocks in use at teardown",
                     us_pool_name((us_pool_id)i), b->pools[i].stats.used);
    if (b->heap.stats.used != 0)
        fail_msg("leak: heap has %u bytes in use at teardown", b->heap.stats.used);
    assert_true(us_bufs_all_free(b));
    free(n->mem);
    free(n);
}

us_pbuf *np_pbuf(np_node *n, const uint8_t *frame, uint32_t len)
{
    us_pbuf *p = us_pbuf_alloc(us_stack_bufs(n->s), US_PBUF_RAW, len, US_PBUF_POOL);
    assert_non_null(p);
    assert_int_equal(us_pbuf_take(p, frame, len), US_OK);
    return p;
}

us_pbuf *np_pbuf_split(np_node *n, const uint8_t *frame, uint32_t len, uint32_t at)
{
    assert_true(at > 0 && at < len);
    us_pbuf *h = np_pbuf(n, frame, at);
    us_pbuf *t = np_pbuf(n, frame + at, len - at);
    assert_int_equal(us_pbuf_cat(h, t), US_OK);
    assert_int_equal(h->tot_len, len);
    return h;
}

unsigned np_inject(np_node *n, const uint8_t *frame, uint32_t len, us_time now)
{
    return us_ingress(n->s, np_pbuf(n, frame, len), now);
}

void np_rx_push(np_node *n, const uint8_t *frame, uint32_t len)
{
    assert_true(n->rx_n < NP_RXQ);
    n->rxq[(n->rx_head + n->rx_n) % NP_RXQ] = np_pbuf(n, frame, len);
    n->rx_n++;
}

void np_tx_remove(np_node *n, uint32_t i)
{
    assert_true(i < n->tx_n);
    for (uint32_t k = i; k + 1 < n->tx_n; k++) {
        memcpy(n->tx[k], n->tx[k + 1], n->tx_len[k + 1]);
        n->tx_len[k] = n->tx_len[k + 1];
    }
    n->tx_n--;
}

void np_tx_clear(np_node *n)
{
    n->tx_n = 0;
}

uint32_t np_forward(np_node *from, np_node *to, us_time now)
{
    /* Copy first: ingress may make `from` transmit again (it does not here, but be safe). */
    uint32_t count = from->tx_n;
    static uint8_t copy[NP_TX_SLOTS][NP_FRAME_MAX];
    static uint32_t lens[NP_TX_SLOTS];
    for (uint32_t i = 0; i < count; i++) {
        memcpy(copy[i], from->tx[i], from->tx_len[i]);
        lens[i] = from->tx_len[i];
    }
    from->tx_n = 0;
    for (uint32_t i = 0; i < count; i++) {
        us_pbuf *p = us_pbuf_alloc(us_stack_bufs(to->s), US_PBUF_RAW, lens[i], US_PBUF_POOL);
        if (p == NULL) {
            to->rx_nobuf++;
            continue;
        }
        assert_int_equal(us_pbuf_take(p, copy[i], lens[i]), US_OK);
        (void)us_ingress(to->s, p, now);
    }
    return count;
}

uint32_t np_exchange(np_node *a, np_node *b, us_time now)
{
    uint32_t moved = 0;
    for (int round = 0; round < 10000; round++) {
        us_egress(a->s, now, US_EGRESS_ALL);
        us_egress(b->s, now, US_EGRESS_ALL);
        uint32_t m = np_forward(a, b, now) + np_forward(b, a, now);
        if (m == 0)
            return moved;
        moved += m;
    }
    fail_msg("np_exchange: the nodes never went quiet");
    return moved;
}

void np_arp_pair(np_node *a, np_node *b, us_time now)
{
    uint8_t f[64];
    const us_stack_config *ca = us_stack_get_config(a->s), *cb = us_stack_get_config(b->s);
    static const uint8_t zero[6] = {0};
    uint32_t len = np_build_arp(f, np_mac_bcast, US_ARP_OP_REQUEST, ca->mac, ca->ipv4_addr, zero,
                                cb->ipv4_addr);
    /* b learns a from the request and answers; a learns b from the reply. */
    (void)np_inject(b, f, len, now);
    assert_int_equal(b->tx_n, 1);
    (void)np_forward(b, a, now);
}

void np_count_wake(void *ctx)
{
    ((np_node *)ctx)->wakes++;
}

uint32_t np_build_ip(uint8_t *buf, const uint8_t *dst_mac, const uint8_t *src_mac,
                     const us_ipv4_repr *ip, const void *payload, uint32_t len)
{
    us_eth_repr e;
    memcpy(e.dst, dst_mac, 6);
    memcpy(e.src, src_mac, 6);
    e.ethertype = US_ETHERTYPE_IPV4;
    e.vlan_tags = 0;
    us_eth_emit(&e, buf);
    us_ipv4_repr r = *ip;
    r.payload_len = (uint16_t)len;
    us_ipv4_emit(&r, buf + 14);
    if (len)
        memcpy(buf + 34, payload, len);
    return 34 + len;
}

uint32_t np_udp_message(uint8_t *out, uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport,
                        const void *data, uint32_t len)
{
    if (len)
        memmove(out + 8, data, len);
    us_udp_repr u = {.src_port = sport, .dst_port = dport, .payload = NULL, .payload_len = len};
    us_udp_emit(&u, out, src, dst, us_csum_partial(out + 8, len, 0));
    return 8 + len;
}

uint32_t np_build_udp(uint8_t *buf, const uint8_t *dst_mac, const uint8_t *src_mac, uint32_t src,
                      uint32_t dst, uint16_t sport, uint16_t dport, const void *data, uint32_t len)
{
    static uint8_t msg[65536];
    uint32_t n = np_udp_message(msg, src, dst, sport, dport, data, len);
    us_ipv4_repr ip = np_ip(src, dst, US_IP_PROTO_UDP, 0x1234, n);
    return np_build_ip(buf, dst_mac, src_mac, &ip, msg, n);
}

uint32_t np_build_arp(uint8_t *buf, const uint8_t *eth_dst, uint16_t op, const uint8_t *sha,
                      uint32_t spa, const uint8_t *tha, uint32_t tpa)
{
    us_eth_repr e;
    memcpy(e.dst, eth_dst, 6);
    memcpy(e.src, sha, 6);
    e.ethertype = US_ETHERTYPE_ARP;
    e.vlan_tags = 0;
    us_eth_emit(&e, buf);
    us_arp_repr r;
    r.op = op;
    memcpy(r.sha, sha, 6);
    r.spa = spa;
    memcpy(r.tha, tha, 6);
    r.tpa = tpa;
    us_arp_emit(&r, buf + 14);
    return 14 + US_ARP_LEN;
}

us_ipv4_repr np_ip(uint32_t src, uint32_t dst, uint8_t proto, uint16_t ident, uint32_t payload_len)
{
    us_ipv4_repr ip;
    memset(&ip, 0, sizeof(ip));
    ip.src = src;
    ip.dst = dst;
    ip.proto = proto;
    ip.ttl = 64;
    ip.ident = ident;
    ip.header_len = 20;
    ip.payload_len = (uint16_t)payload_len;
    return ip;
}

static uint8_t nib(char c)
{
    if (c >= '0' && c <= '9')
        return (uint8_t)(c - '0');
    if (c >= 'a' && c <= 'f')
        return (uint8_t)(c - 'a' + 10);
    if (c >= 'A' && c <= 'F')
        return (uint8_t)(c - 'A' + 10);
    fail_msg("bad hex digit '%c'", c);
    return 0;
}

uint32_t np_hex(const char *hex, uint8_t *out, uint32_t cap)
{
    uint32_t n = 0;
    while (*hex) {
        if (*hex == ' ' || *hex == '\n') {
            hex++;
            continue;
        }
        assert_true(hex[1] != '\0');
        assert_true(n < cap);
        out[n++] = (uint8_t)((nib(hex[0]) << 4) | nib(hex[1]));
        hex += 2;
    }
    return n;
}
