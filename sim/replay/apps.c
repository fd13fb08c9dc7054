/* stackbench replay: the applications on the stack under test (see apps.h). */
#include "apps.h"

#include <stdlib.h>
#include <string.h>

#include "ustack/wire/ipv4.h"

#define APP_BUF (64u * 1024u)

static int port_cmp(const void *a, const void *b)
{
    uint16_t x = *(const uint16_t *)a, y = *(const uint16_t *)b;
    return (x > y) - (x < y);
}

static uint32_t uniq(uint16_t *v, uint32_t n)
{
    if (n == 0)
        return 0;
    qsort(v, n, sizeof(*v), port_cmp);
    uint32_t m = 1;
    for (uint32_t i = 1; i < n; i++) {
        if (v[i] != v[m - 1])
            v[m++] = v[i];
    }
    return m;
}

void sb_apps_ports(const sb_flows *f, uint16_t *udp, uint32_t *n_udp, uint16_t *tcp,
                   uint32_t *n_tcp)
{
    uint32_t nu = 0, nt = 0;
    for (size_t i = 0; i < f->n; i++) {
        const sb_flow_key *k = &f->flows[i].key;
        if (k->proto == US_IP_PROTO_UDP && k->server_port != 0)
            udp[nu++] = k->server_port;
        else if (k->proto == US_IP_PROTO_TCP && k->server_port != 0)
            tcp[nt++] = k->server_port;
    }
    *n_udp = uniq(udp, nu);
    *n_tcp = uniq(tcp, nt);
}

typedef struct edge {
    uint64_t t;
    int open; /* 1 start, 0 end; ends sort after starts at the same time */
} edge;

static int edge_cmp(const void *a, const void *b)
{
    const edge *x = a, *y = b;
    if (x->t != y->t)
        return x->t < y->t ? -1 : 1;
    return y->open - x->open;
}

uint32_t sb_apps_tcp_concurrency(const sb_flows *f)
{
    size_t n = 0;
    for (size_t i = 0; i < f->n; i++)
        n += f->flows[i].key.proto == US_IP_PROTO_TCP;
    if (n == 0)
        return 0;
    edge *e = malloc(2 * n * sizeof(*e));
    if (!e)
        return (uint32_t)n;
    size_t m = 0;
    for (size_t i = 0; i < f->n; i++) {
        if (f->flows[i].key.proto != US_IP_PROTO_TCP)
            continue;
        e[m++] = (edge){f->flows[i].start_ns, 1};
        e[m++] = (edge){f->flows[i].end_ns, 0};
    }
    qsort(e, m, sizeof(*e), edge_cmp);
    uint32_t cur = 0, best = 0;
    for (size_t i = 0; i < m; i++) {
        if (e[i].open) {
            if (++cur > best)
                best = cur;
        } else {
            cur--;
        }
    }
    free(e);
    return best;
}

us_status sb_apps_init(sb_apps *a, us_stack *s, const sb_flows *f, uint32_t max_conns,
                       sb_apps_flow_of_iss_fn fn, void *fn_ctx)
{
    memset(a, 0, sizeof(*a));
    a->stack = s;
    a->flows = f;
    a->flow_of_iss = fn;
    a->flow_of_iss_ctx = fn_ctx;
    size_t n = f->n ? f->n : 1;
    a->udp_port = malloc(n * sizeof(*a->udp_port));
    a->listen_port = malloc(n * sizeof(*a->listen_port));
    a->udp = malloc(n * sizeof(*a->udp));
    a->listen = malloc(n * sizeof(*a->listen));
    a->cap_conns = max_conns ? max_conns : 1;
    a->conns = calloc(a->cap_conns, sizeof(*a->conns));
    a->buf_len = APP_BUF;
    a->buf = malloc(a->buf_len);
    if (!a->udp_port || !a->listen_port || !a->udp || !a->listen || !a->conns || !a->buf) {
        sb_apps_close(a, 0);
        return US_ENOMEM;
    }
    /* 'a'..'z' repeated: one alphabet, then the filled part doubled (a byte loop with a modulo
     * was a quarter of a short replay's set-up). */
    uint32_t filled = a->buf_len < 26 ? a->buf_len : 26;
    for (uint32_t i = 0; i < filled; i++)
        a->buf[i] = (uint8_t)('a' + i);
    while (filled < a->buf_len) {
        uint32_t chunk = filled < a->buf_len - filled ? filled : a->buf_len - filled;
        memcpy(a->buf + filled, a->buf, chunk);
        filled += chunk;
    }
    uint32_t nu, nt;
    sb_apps_ports(f, a->udp_port, &nu, a->listen_port, &nt);
    for (uint32_t i = 0; i < nu; i++) {
        us_sock h = us_udp_open(s);
        if (h < 0) {
            sb_apps_close(a, 0);
            return (us_status)h;
        }
        a->udp[a->n_udp++] = h;
        us_status st = us_udp_bind(s, h, a->udp_port[i]);
        if (st != US_OK) {
            sb_apps_close(a, 0);
            return st;
        }
    }
    for (uint32_t i = 0; i < nt; i++) {
        us_sock h = us_tcp_open(s);
        if (h < 0) {
            sb_apps_close(a, 0);
            return (us_status)h;
        }
        a->listen[a->n_listen++] = h;
        us_status st = us_tcp_listen(s, h, a->listen_port[i], a->cap_conns);
        if (st != US_OK) {
            sb_apps_close(a, 0);
            return st;
        }
    }
    return US_OK;
}

static void arm(sb_apps *a, us_sock h)
{
    us_sock_set_rx_waker(a->stack, h, us_sched_app_waker, a->sched);
    us_sock_set_tx_waker(a->stack, h, us_sched_app_waker, a->sched);
}

void sb_apps_set_sched(sb_apps *a, us_sched *sc)
{
    a->sched = sc;
    for (uint32_t i = 0; i < a->n_udp; i++)
        us_sock_set_rx_waker(a->stack, a->udp[i], us_sched_app_waker, sc);
    for (uint32_t i = 0; i < a->n_listen; i++)
        us_sock_set_rx_waker(a->stack, a->listen[i], us_sched_app_waker, sc);
}

static void conn_remove(sb_apps *a, uint32_t i)
{
    a->conns[i] = a->conns[--a->n_conns];
}

/* Serve one connection. Returns 1 if it did anything, and 2 if the connection is gone (the caller
 * removes it). */
static int conn_serve(sb_apps *a, sb_app_conn *c, uint64_t *bytes)
{
    us_stack *s = a->stack;
    int worked = 0;
    for (;;) {
        int32_t n = us_tcp_recv(s, c->h, a->buf, a->buf_len);
        if (n > 0) {
            c->rx_total += (uint64_t)n;
            a->bytes_delivered += (uint64_t)n;
            *bytes += (uint64_t)n;
            worked = 1;
            continue;
        }
        if (n == 0) {
            if (!c->eof)
                worked = 1;
            c->eof = 1;
        } else if (n != US_EAGAIN) {
            /* Reset or closed under us. */
            a->resets++;
            (void)us_tcp_release(s, c->h);
            return 2;
        }
        break;
    }
    /* The recorded server's part: wait for each client message, send each server message. */
    const sb_flow *f = c->flow;
    while (f && c->msg < f->n_msgs) {
        const sb_flow_msg *m = &f->msgs[c->msg];
        if (m->dir == SB_C2S) {
            if (c->rx_total < c->c2s_before + m->bytes)
                break;
            c->c2s_before += m->bytes;
            c->msg++;
            continue;
        }
        uint64_t left = m->bytes - c->tx_done;
        if (left > 0) {
            uint32_t chunk = left > a->buf_len ? a->buf_len : (uint32_t)left;
            int32_t k = us_tcp_send(s, c->h, a->buf, chunk);
            if (k < 0) {
                c->msg = f->n_msgs; /* the connection can no longer send: nothing to answer */
                break;
            }
            if (k == 0)
                break; /* no room now: the tx waker fires when there is */
            c->tx_done += (uint64_t)k;
            a->bytes_sent += (uint64_t)k;
            *bytes += (uint64_t)k;
            worked = 1;
            if (c->tx_done < m->bytes)
                continue;
        }
        c->tx_done = 0;
        c->msg++;
    }
    /* Close once the client has closed and nothing is left to answer: the flow is over, or it
     * waits for client bytes that will not come. */
    if (c->eof && !c->closing &&
        (!f || c->msg >= f->n_msgs || f->msgs[c->msg].dir == SB_C2S)) {
        (void)us_tcp_close(s, c->h);
        c->closing = 1;
        worked = 1;
    }
    if (c->closing) {
        us_tcp_state st = us_tcp_get_state(s, c->h);
        if (st == US_TCP_CLOSED || st == US_TCP_TIME_WAIT) {
            a->closed++;
            (void)us_tcp_release(s, c->h);
            return 2;
        }
    }
    arm(a, c->h);
    return worked;
}

int sb_apps_step(void *ctx, us_stack *s, us_time now, uint64_t *bytes)
{
    (void)now;
    sb_apps *a = ctx;
    int worked = 0;
    for (uint32_t i = 0; i < a->n_udp; i++) {
        int32_t n;
        while ((n = us_udp_recv(s, a->udp[i], a->buf, a->buf_len, NULL, NULL)) >= 0) {
            a->datagrams++;
            a->bytes_delivered += (uint64_t)n;
            *bytes += (uint64_t)n < a->buf_len ? (uint64_t)n : a->buf_len;
            worked = 1;
        }
        us_sock_set_rx_waker(s, a->udp[i], us_sched_app_waker, a->sched);
    }
    for (uint32_t i = 0; i < a->n_listen; i++) {
        while (a->n_conns < a->cap_conns) {
            us_sock h = us_tcp_accept(s, a->listen[i]);
            if (h < 0)
                break;
            sb_app_conn *c = &a->conns[a->n_conns++];
            memset(c, 0, sizeof(*c));
            c->h = h;
            us_tcp_info info;
            uint32_t fi = SB_FLOW_NONE;
            /* Nothing has been sent on it yet: snd_una is the SYN-ACK's ISN + 1. */
            if (a->flow_of_iss && us_tcp_get_info(s, h, &info) == US_OK)
                fi = a->flow_of_iss(a->flow_of_iss_ctx, info.snd_una - 1u);
            if (fi != SB_FLOW_NONE && fi < a->flows->n)
                c->flow = &a->flows->flows[fi];
            else
                a->unmatched++;
            a->accepted++;
            worked = 1;
        }
        us_sock_set_rx_waker(s, a->listen[i], us_sched_app_waker, a->sched);
    }
    for (uint32_t i = 0; i < a->n_conns;) {
        int r = conn_serve(a, &a->conns[i], bytes);
        if (r == 2) {
            conn_remove(a, i);
            worked = 1;
            continue;
        }
        worked |= r;
        i++;
    }
    return worked;
}

void sb_apps_close(sb_apps *a, us_time now)
{
    if (a->stack) {
        for (uint32_t i = 0; i < a->n_conns; i++) {
            (void)us_tcp_abort(a->stack, a->conns[i].h, now);
            (void)us_tcp_release(a->stack, a->conns[i].h);
        }
        for (uint32_t i = 0; i < a->n_listen; i++) {
            (void)us_tcp_abort(a->stack, a->listen[i], now);
            (void)us_tcp_release(a->stack, a->listen[i]);
        }
        for (uint32_t i = 0; i < a->n_udp; i++)
            (void)us_udp_close(a->stack, a->udp[i]);
    }
    free(a->udp);
    free(a->udp_port);
    free(a->listen);
    free(a->listen_port);
    free(a->conns);
    free(a->buf);
    memset(a, 0, sizeof(*a));
}
