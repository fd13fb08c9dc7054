/* stackbench replay: the result files (see results.h). The record is built as a jansson object
 * from one key table; JSON and CSV are both printed from it in the table's order, so the two
 * never disagree. Strings go through jansson's encoder (escaping); cpu_util, the one real, is
 * printed with a fixed six decimals so the text does not depend on a float-printing heuristic. */
#include "results.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

const char *const sb_record_keys[] = {
    "env", "trace", "mode", "sched", "pool_size", "idle_interval_ns", "rx_ring", "seed",
    "cost_profile", "sim_duration_ns", "frames_rx", "frames_tx", "bytes_delivered", "goodput_bps",
    "rx_drop_ring", "rx_drop_pool", "tx_alloc_fail", "wakeups", "empty_wakeups", "socket_visits",
    "cpu_busy_ns", "cpu_util", "pool_hwm", "lat_p50_ns", "lat_p99_ns", "measured_cpu_ns",
    "wall_ns", NULL,
};

static json_t *u64(uint64_t v)
{
    /* Every figure of a run fits (2^63 ns is 292 years); larger values saturate. */
    return json_integer(v > (uint64_t)INT64_MAX ? INT64_MAX : (json_int_t)v);
}

static json_t *record(const sb_record_echo *e, const sb_replay_result *r)
{
    json_t *o = json_object();
    if (!o)
        return NULL;
    int bad = 0;
#define SET(k, v) bad |= json_object_set_new(o, k, v)
    SET("env", json_string(e->env));
    SET("trace", json_string(e->trace));
    SET("mode", json_string(e->mode));
    SET("sched", json_string(e->sched));
    SET("pool_size", u64(e->pool_size));
    SET("idle_interval_ns", u64(e->idle_interval_ns));
    SET("rx_ring", u64(e->rx_ring));
    SET("seed", u64(e->seed));
    SET("cost_profile", json_string(e->cost_profile));
    SET("sim_duration_ns", u64(r->sim_duration_ns));
    SET("frames_rx", u64(r->frames_rx));
    SET("frames_tx", u64(r->frames_tx));
    SET("bytes_delivered", u64(r->bytes_delivered));
    SET("goodput_bps", u64(r->goodput_bps));
    SET("rx_drop_ring", u64(r->rx_drop_ring));
    SET("rx_drop_pool", u64(r->rx_drop_pool));
    SET("tx_alloc_fail", u64(r->tx_alloc_fail));
    SET("wakeups", u64(r->wakeups));
    SET("empty_wakeups", u64(r->empty_wakeups));
    SET("socket_visits", u64(r->socket_visits));
    SET("cpu_busy_ns", u64(r->cpu_busy_ns));
    SET("cpu_util", json_real((double)r->cpu_util_ppm / 1e6));
    SET("pool_hwm", u64(r->pool_hwm));
    SET("lat_p50_ns", u64(r->lat_p50_ns));
    SET("lat_p99_ns", u64(r->lat_p99_ns));
    SET("measured_cpu_ns", u64(r->measured_cpu_ns));
    SET("wall_ns", u64(r->wall_ns));
#undef SET
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* A growable string. */
typedef struct sbuf {
    char *p;
    size_t len, cap;
    int nomem;
} sbuf;

static void put(sbuf *b, const char *s, size_t n)
{
    if (b->nomem)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (b->len + n + 1 > cap)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->nomem = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void puts_(sbuf *b, const char *s)
{
    put(b, s, strlen(s));
}

/* One value as JSON text (strings escaped by jansson) or as a CSV field. */
static void value(sbuf *b, json_t *v, int csv)
{
    char tmp[64];
    if (json_is_real(v)) {
        snprintf(tmp, sizeof tmp, "%.6f", json_real_value(v));
        puts_(b, tmp);
    } else if (json_is_integer(v)) {
        snprintf(tmp, sizeof tmp, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        puts_(b, tmp);
    } else if (!csv) {
        char *s = json_dumps(v, JSON_ENCODE_ANY);
        if (!s) {
            b->nomem = 1;
            return;
        }
        puts_(b, s);
        free(s);
    } else {
        /* RFC 4180: quoted (quotes doubled) only when it holds a comma, quote or line break. */
        const char *s = json_string_value(v);
        if (strpbrk(s, ",\"\r\n") == NULL) {
            puts_(b, s);
            return;
        }
        put(b, "\"", 1);
        for (; *s; s++) {
            if (*s == '"')
                put(b, "\"", 1);
            put(b, s, 1);
        }
        put(b, "\"", 1);
    }
}

char *sb_record_json(const sb_record_echo *e, const sb_replay_result *r)
{
    json_t *o = record(e, r);
    if (!o)
        return NULL;
    sbuf b = {0};
    puts_(&b, "{\n");
    for (int i = 0; sb_record_keys[i]; i++) {
        json_t *k = json_string(sb_record_keys[i]);
        char *ks = k ? json_dumps(k, JSON_ENCODE_ANY) : NULL;
        json_decref(k);
        if (!ks) {
            b.nomem = 1;
            break;
        }
        puts_(&b, "  ");
        puts_(&b, ks);
        puts_(&b, ": ");
        free(ks);
        value(&b, json_object_get(o, sb_record_keys[i]), 0);
        puts_(&b, sb_record_keys[i + 1] ? ",\n" : "\n");
    }
    puts_(&b, "}\n");
    json_decref(o);
    if (b.nomem) {
        free(b.p);
        return NULL;
    }
    return b.p;
}

char *sb_record_csv(const sb_record_echo *e, const sb_replay_result *r)
{
    json_t *o = record(e, r);
    if (!o)
        return NULL;
    sbuf b = {0};
    for (int i = 0; sb_record_keys[i]; i++) {
        puts_(&b, sb_record_keys[i]);
        puts_(&b, sb_record_keys[i + 1] ? "," : "\n");
    }
    for (int i = 0; sb_record_keys[i]; i++) {
        value(&b, json_object_get(o, sb_record_keys[i]), 1);
        puts_(&b, sb_record_keys[i + 1] ? "," : "\n");
    }
    json_decref(o);
    if (b.nomem) {
        free(b.p);
        return NULL;
    }
    return b.p;
}

/* ---- files ---- */

static char *join(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/%s", dir, name);
    return p;
}

static int mkdirs(const char *dir)
{
    char *p = strdup(dir);
    if (!p)
        return -1;
    for (char *s = p + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        if (mkdir(p, 0777) != 0 && errno != EEXIST) {
            free(p);
            return -1;
        }
        *s = '/';
    }
    int r = mkdir(p, 0777) != 0 && errno != EEXIST ? -1 : 0;
    free(p);
    struct stat st;
    if (r == 0 && (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))) {
        errno = ENOTDIR;
        r = -1;
    }
    return r;
}

int sb_results_open(sb_results_out *o, const char *dir, char *why, size_t why_len)
{
    memset(o, 0, sizeof(*o));
    if (mkdirs(dir) != 0) {
        snprintf(why, why_len, "%s: cannot create the output directory: %s", dir,
                 strerror(errno));
        return -1;
    }
    o->dir = strdup(dir);
    if (!o->dir) {
        snprintf(why, why_len, "out of memory");
        return -1;
    }
    static const char *const old[] = {"summary.json", "summary.csv", "timeseries.csv"};
    for (size_t i = 0; i < sizeof old / sizeof old[0]; i++) {
        char *p = join(dir, old[i]);
        if (p && unlink(p) != 0 && errno != ENOENT) {
            snprintf(why, why_len, "%s: cannot remove the previous result: %s", p,
                     strerror(errno));
            free(p);
            return -1;
        }
        free(p);
    }
    return 0;
}

const char *sb_results_add(sb_results_out *o, const char *final_path)
{
    if (o->n == (int)(sizeof o->final / sizeof o->final[0]))
        return NULL;
    size_t n = strlen(final_path) + 5;
    char *tmp = malloc(n);
    char *fin = strdup(final_path);
    if (!tmp || !fin) {
        free(tmp);
        free(fin);
        return NULL;
    }
    snprintf(tmp, n, "%s.tmp", final_path);
    o->final[o->n] = fin;
    o->tmp[o->n] = tmp;
    o->n++;
    return tmp;
}

static int write_text(const char *path, const char *text, char *why, size_t why_len)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        snprintf(why, why_len, "%s: cannot write: %s", path, strerror(errno));
        return -1;
    }
    size_t n = strlen(text);
    int bad = fwrite(text, 1, n, f) != n;
    bad |= fclose(f) != 0;
    if (bad) {
        snprintf(why, why_len, "%s: cannot write: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

static int write_ts(const char *path, const sb_replay_result *r, char *why, size_t why_len)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        snprintf(why, why_len, "%s: cannot write: %s", path, strerror(errno));
        return -1;
    }
    int bad = fprintf(f, "t_ns,goodput_bps,cpu_busy_ns,pool_in_use\n") < 0;
    for (uint64_t i = 0; i < r->n_ts && !bad; i++) {
        const sb_replay_ts *x = &r->ts[i];
        uint64_t bps =
            (uint64_t)((unsigned __int128)x->bytes * 8u * 1000000000u / r->ts_interval);
        bad |= fprintf(f, "%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu32 "\n",
                       i * r->ts_interval, bps, x->busy_ns, x->pool_in_use) < 0;
    }
    bad |= fclose(f) != 0;
    if (bad) {
        snprintf(why, why_len, "%s: cannot write: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

int sb_results_write(sb_results_out *o, const sb_record_echo *e, const sb_replay_result *r,
                     char *why, size_t why_len)
{
    if (r->ts_interval) {
        char *fin = join(o->dir, "timeseries.csv");
        const char *tmp = fin ? sb_results_add(o, fin) : NULL;
        free(fin);
        if (!tmp || write_ts(tmp, r, why, why_len) != 0) {
            if (!tmp)
                snprintf(why, why_len, "out of memory");
            return -1;
        }
    }
    static const char *const names[] = {"summary.csv", "summary.json"};
    for (int i = 0; i < 2; i++) {
        char *text = i == 0 ? sb_record_csv(e, r) : sb_record_json(e, r);
        char *fin = join(o->dir, names[i]);
        const char *tmp = fin && text ? sb_results_add(o, fin) : NULL;
        free(fin);
        if (!tmp) {
            free(text);
            snprintf(why, why_len, "out of memory");
            return -1;
        }
        int st = write_text(tmp, text, why, why_len);
        free(text);
        if (st != 0)
            return -1;
    }
    return 0;
}

int sb_results_commit(sb_results_out *o, char *why, size_t why_len)
{
    /* In registration order: extra files first, summary.json (registered last) last. */
    for (int i = 0; i < o->n; i++) {
        if (rename(o->tmp[i], o->final[i]) != 0) {
            snprintf(why, why_len, "%s: cannot rename to %s: %s", o->tmp[i], o->final[i],
                     strerror(errno));
            return -1;
        }
        free(o->tmp[i]);
        o->tmp[i] = NULL;
    }
    return 0;
}

void sb_results_close(sb_results_out *o)
{
    for (int i = 0; i < o->n; i++) {
        if (o->tmp[i])
            (void)unlink(o->tmp[i]);
        free(o->tmp[i]);
        free(o->final[i]);
    }
    free(o->dir);
    memset(o, 0, sizeof(*o));
}
