/* sbhost: cost arithmetic in picoseconds, the profile loader (libinih, fed by a line reader of our
 * own that counts lines, strips '#' and ';' comments and leading blanks, so the handler knows the
 * line it is on and no line is ever taken for a continuation) and the profile writer. */
#include "sbhost/cost.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ini.h>

/* ---- arithmetic ---- */

static uint64_t sat_mul(uint64_t a, uint64_t b)
{
    if (a != 0 && b > UINT64_MAX / a)
        return UINT64_MAX;
    return a * b;
}

static uint64_t sat_add(uint64_t a, uint64_t b)
{
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

void sb_cost_default(sb_cost *c)
{
    /* Keep in step with configs/cost-default.ini (test_cost_default_file_matches). */
    *c = (sb_cost){
        .wake_ps = 1000000,
        .poll_ps = 250000,
        .socket_visit_ps = 50000,
        .frame_ps = 2000000,
        .byte_ps = 2000,
        .name = "cortex-m7-400mhz-estimate",
        .description = "Estimated costs for a Cortex-M7 MCU at 400 MHz (STM32H7 class); "
                       "not measured, see configs/cost-default.ini",
    };
}

uint64_t sb_cost_ps(const sb_cost *c, const us_work *w)
{
    uint64_t t = sat_mul(c->wake_ps, w->wakeups);
    t = sat_add(t, sat_mul(c->poll_ps, w->polls));
    t = sat_add(t, sat_mul(c->socket_visit_ps, w->socket_visits));
    t = sat_add(t, sat_mul(c->frame_ps, w->frames));
    return sat_add(t, sat_mul(c->byte_ps, w->bytes));
}

us_time sb_cost_of(const sb_cost *c, const us_work *w)
{
    return sb_cost_ps(c, w) / 1000;
}

us_time sb_cost_acc_add(sb_cost_acc *a, uint64_t ps)
{
    uint64_t before = a->ps / 1000;
    a->ps = sat_add(a->ps, ps);
    return a->ps / 1000 - before;
}

us_time sb_cost_charge(sb_cost_acc *a, const sb_cost *c, const us_work *w)
{
    return sb_cost_acc_add(a, sb_cost_ps(c, w));
}

/* ---- numbers ---- */

/* Unsigned decimal with at most 3 significant decimals; see sb_cost_parse_ns. */
static sb_status parse_unsigned_ns(const char *s, uint64_t *ps, const char **why)
{
    const char *p = s;
    uint64_t whole = 0, frac = 0;
    int big = 0, fine = 0;
    if (!isdigit((unsigned char)*p)) {
        *why = "is not a decimal number";
        return SB_EINVAL;
    }
    for (; isdigit((unsigned char)*p); p++) {
        if (whole > SB_COST_MAX_NS)
            big = 1;
        else
            whole = whole * 10 + (uint64_t)(*p - '0');
    }
    if (*p == '.') {
        p++;
        if (!isdigit((unsigned char)*p)) {
            *why = "is not a decimal number";
            return SB_EINVAL;
        }
        int ndig = 0;
        for (; isdigit((unsigned char)*p); p++, ndig++) {
            if (ndig < 3)
                frac = frac * 10 + (uint64_t)(*p - '0');
            else if (*p != '0')
                fine = 1;
        }
        for (; ndig < 3; ndig++) /* to thousandths: "0.5" is 500 ps */
            frac *= 10;
    }
    if (*p != '\0') {
        *why = "is not a decimal number";
        return SB_EINVAL;
    }
    if (big || whole * 1000 + frac > SB_COST_MAX_NS * 1000) {
        *why = "is above the limit of 1000000000 ns";
        return SB_EINVAL;
    }
    if (fine) {
        *why = "has more than 3 decimals (the resolution is 1 ps)";
        return SB_EINVAL;
    }
    *ps = whole * 1000 + frac;
    return SB_OK;
}

sb_status sb_cost_parse_ns(const char *s, uint64_t *ps, const char **why)
{
    const char *dummy;
    if (!why)
        why = &dummy;
    if (s == NULL || ps == NULL) {
        *why = "is not a decimal number";
        return SB_EINVAL;
    }
    if (*s == '-') {
        uint64_t v;
        const char *w;
        sb_status st = parse_unsigned_ns(s + 1, &v, &w);
        *why = st == SB_OK || strcmp(w, "is not a decimal number") != 0 ? "is negative"
                                                                         : "is not a decimal number";
        return SB_EINVAL;
    }
    return parse_unsigned_ns(s, ps, why);
}

char *sb_cost_format_ns(char *buf, size_t len, uint64_t ps)
{
    unsigned long long whole = ps / 1000;
    unsigned frac = (unsigned)(ps % 1000);
    if (frac == 0) {
        snprintf(buf, len, "%llu", whole);
        return buf;
    }
    int digits = 3;
    while (frac % 10 == 0) {
        frac /= 10;
        digits--;
    }
    snprintf(buf, len, "%llu.%0*u", whole, digits, frac);
    return buf;
}

/* ---- loading ---- */

enum { K_NAME, K_DESC, K_WAKE, K_POLL, K_VISIT, K_FRAME, K_BYTE, K_COUNT };

static const char *const key_names[K_COUNT] = {
    "name", "description", "wake_ns", "poll_ns", "socket_visit_ns", "frame_ns", "byte_ns",
};

#define RAW_LINE_MAX 1024

typedef struct parse_ctx {
    const char *origin;
    FILE *fp;            /* reading a file, or */
    const char *text;    /* reading text (advances) */
    int lineno;
    int read_errno;      /* nonzero: reading the file failed */
    int err_line;        /* first problem found by the reader or handler (0: none) */
    char err_msg[SB_ERR_MAX];
    int seen[K_COUNT];   /* line each key was given on, 0 if not yet */
    sb_cost out;
} parse_ctx;

static void ctx_fail(parse_ctx *x, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

static void ctx_fail(parse_ctx *x, const char *fmt, ...)
{
    if (x->err_line)
        return; /* the first problem is the one reported */
    x->err_line = x->lineno;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(x->err_msg, sizeof x->err_msg, fmt, ap);
    va_end(ap);
}

/* Next character of the input, or EOF. */
static int ctx_getc(parse_ctx *x)
{
    if (x->fp) {
        int c = getc(x->fp);
        if (c == EOF && ferror(x->fp) && !x->read_errno)
            x->read_errno = errno ? errno : EIO;
        return c;
    }
    if (*x->text == '\0')
        return EOF;
    return (unsigned char)*x->text++;
}

/* inih's line source: one raw line per call (so inih's line count is ours), comments and outer
 * blanks removed, problems inih cannot see (sections, overlong lines) recorded and replaced by an
 * empty line. */
static char *ctx_read_line(char *str, int num, void *stream)
{
    parse_ctx *x = stream;
    char raw[RAW_LINE_MAX];
    size_t n = 0;
    int c, truncated = 0, any = 0;
    while ((c = ctx_getc(x)) != EOF) {
        any = 1;
        if (c == '\n')
            break;
        if (n < sizeof raw - 1)
            raw[n++] = (char)c;
        else
            truncated = 1;
    }
    if (!any || x->read_errno)
        return NULL;
    raw[n] = '\0';
    x->lineno++;

    char *s = raw;
    if (x->lineno == 1 && (unsigned char)s[0] == 0xEF && (unsigned char)s[1] == 0xBB &&
        (unsigned char)s[2] == 0xBF)
        s += 3;
    /* A comment starts at '#' or ';' at the start of the line or after a blank. */
    int cut = 0;
    for (char *p = s; *p; p++) {
        if ((*p == '#' || *p == ';') && (p == s || isspace((unsigned char)p[-1]))) {
            *p = '\0';
            cut = 1;
            break;
        }
    }
    while (isspace((unsigned char)*s))
        s++;
    size_t len = strlen(s);
    while (len > 0 && isspace((unsigned char)s[len - 1]))
        s[--len] = '\0';

    if (truncated && !cut)
        ctx_fail(x, "line longer than %d characters", RAW_LINE_MAX - 1);
    else if (s[0] == '[')
        ctx_fail(x, "unexpected section '%s': a profile has no sections", s);
    else if (num < 3 || len > (size_t)num - 3)
        ctx_fail(x, "line longer than %d characters (comments aside)", num - 3);
    else {
        memcpy(str, s, len);
        str[len] = '\n';
        str[len + 1] = '\0';
        return str;
    }
    str[0] = '\n';
    str[1] = '\0';
    return str;
}

static int copy_text(parse_ctx *x, const char *key, char *dst, size_t cap, const char *value,
                     int allow_empty)
{
    size_t len = strlen(value);
    if (len == 0 && !allow_empty) {
        ctx_fail(x, "%s: empty", key);
        return 0;
    }
    if (len >= cap) {
        ctx_fail(x, "%s: longer than %zu characters", key, cap - 1);
        return 0;
    }
    memcpy(dst, value, len + 1);
    return 1;
}

static int ctx_handle(void *user, const char *section, const char *name, const char *value)
{
    parse_ctx *x = user;
    (void)section; /* always "": the reader refuses section lines */
    int k = 0;
    while (k < K_COUNT && strcmp(name, key_names[k]) != 0)
        k++;
    if (k == K_COUNT) {
        ctx_fail(x, "unknown key '%s'", name);
        return 0;
    }
    if (x->seen[k]) {
        ctx_fail(x, "'%s' given twice (first on line %d)", name, x->seen[k]);
        return 0;
    }
    x->seen[k] = x->lineno;
    switch (k) {
    case K_NAME:
        return copy_text(x, name, x->out.name, sizeof x->out.name, value, 0);
    case K_DESC:
        return copy_text(x, name, x->out.description, sizeof x->out.description, value, 1);
    default: {
        uint64_t ps = 0;
        const char *why = "";
        if (sb_cost_parse_ns(value, &ps, &why) != SB_OK) {
            ctx_fail(x, "%s: '%s' %s", name, value, why);
            return 0;
        }
        uint64_t *dst[] = {[K_WAKE] = &x->out.wake_ps,
                           [K_POLL] = &x->out.poll_ps,
                           [K_VISIT] = &x->out.socket_visit_ps,
                           [K_FRAME] = &x->out.frame_ps,
                           [K_BYTE] = &x->out.byte_ps};
        *dst[k] = ps;
        return 1;
    }
    }
}

static sb_status ctx_run(parse_ctx *x, sb_cost *c, sb_err *err)
{
    int ret = ini_parse_stream(ctx_read_line, x, ctx_handle, x);
    if (x->read_errno)
        return sb__fail(err, SB_EIO, "%s: read error: %s", x->origin, strerror(x->read_errno));
    if (ret < 0)
        return sb__fail(err, SB_EIO, "%s: the INI parser failed (%d)", x->origin, ret);
    if (ret > 0 && (x->err_line == 0 || ret < x->err_line))
        return sb__fail(err, SB_EFORMAT, "%s:%d: expected 'key = value'", x->origin, ret);
    if (x->err_line)
        return sb__fail(err, SB_EFORMAT, "%s:%d: %s", x->origin, x->err_line, x->err_msg);
    static const int required[] = {K_NAME, K_WAKE, K_POLL, K_VISIT, K_FRAME, K_BYTE};
    for (size_t i = 0; i < sizeof required / sizeof required[0]; i++) {
        if (!x->seen[required[i]])
            return sb__fail(err, SB_EFORMAT, "%s: missing key '%s'", x->origin,
                            key_names[required[i]]);
    }
    *c = x->out;
    return SB_OK;
}

sb_status sb_cost_load(sb_cost *c, const char *path, sb_err *err)
{
    FILE *fp = fopen(path, "r");
    if (!fp)
        return sb__fail(err, SB_EIO, "%s: cannot open: %s", path, strerror(errno));
    parse_ctx *x = calloc(1, sizeof *x);
    if (!x) {
        fclose(fp);
        return sb__fail(err, SB_ENOMEM, "%s: out of memory", path);
    }
    x->origin = path;
    x->fp = fp;
    errno = 0;
    sb_status st = ctx_run(x, c, err);
    fclose(fp);
    free(x);
    return st;
}

sb_status sb_cost_parse(sb_cost *c, const char *text, const char *origin, sb_err *err)
{
    parse_ctx *x = calloc(1, sizeof *x);
    if (!x)
        return sb__fail(err, SB_ENOMEM, "%s: out of memory", origin);
    x->origin = origin;
    x->text = text;
    sb_status st = ctx_run(x, c, err);
    free(x);
    return st;
}

/* ---- writing ---- */

static sb_status check_text(const char *what, const char *s, size_t cap, int allow_empty,
                            sb_err *err)
{
    size_t len = strnlen(s, cap);
    if (len == cap)
        return sb__fail(err, SB_EINVAL, "cost profile %s: longer than %zu characters", what,
                        cap - 1);
    if (len == 0 && !allow_empty)
        return sb__fail(err, SB_EINVAL, "cost profile %s: empty", what);
    if (len > 0 && (isspace((unsigned char)s[0]) || isspace((unsigned char)s[len - 1])))
        return sb__fail(err, SB_EINVAL, "cost profile %s: leading or trailing blanks", what);
    if (strpbrk(s, "#;\r\n"))
        return sb__fail(err, SB_EINVAL, "cost profile %s: must not contain '#', ';' or a line break",
                        what);
    return SB_OK;
}

sb_status sb_cost_write(const char *path, const sb_cost *c, const char *comments, sb_err *err)
{
    sb_status st;
    if ((st = check_text("name", c->name, sizeof c->name, 0, err)) != SB_OK ||
        (st = check_text("description", c->description, sizeof c->description, 1, err)) != SB_OK)
        return st;
    const struct {
        const char *key;
        uint64_t ps;
        const char *unit;
    } vals[] = {
        {"wake_ns", c->wake_ps, "ns of CPU per wakeup (task run or loop iteration)"},
        {"poll_ns", c->poll_ps, "ns per poll call (us_poll, ingress drain, egress)"},
        {"socket_visit_ns", c->socket_visit_ps, "ns per socket examined by egress"},
        {"frame_ns", c->frame_ps, "ns per frame received or sent (fixed protocol cost)"},
        {"byte_ns", c->byte_ps, "ns per byte copied or checksummed"},
    };
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        if (vals[i].ps > SB_COST_MAX_NS * 1000)
            return sb__fail(err, SB_EINVAL, "cost profile %s: above the limit of 1000000000 ns",
                            vals[i].key);
    }

    size_t n = strlen(path);
    char *tmp = malloc(n + 5);
    if (!tmp)
        return sb__fail(err, SB_ENOMEM, "%s: out of memory", path);
    memcpy(tmp, path, n);
    memcpy(tmp + n, ".tmp", 5);
    FILE *fp = fopen(tmp, "w");
    if (!fp) {
        st = sb__fail(err, SB_EIO, "%s: cannot create: %s", tmp, strerror(errno));
        free(tmp);
        return st;
    }
    if (comments) {
        const char *p = comments;
        while (*p) {
            size_t len = strcspn(p, "\n");
            if (len == 0)
                fputs("#\n", fp);
            else
                fprintf(fp, "# %.*s\n", (int)len, p);
            p += len;
            if (*p == '\n')
                p++;
        }
    }
    fprintf(fp, "name = %s\n", c->name);
    if (c->description[0])
        fprintf(fp, "description = %s\n", c->description);
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        char num[32];
        sb_cost_format_ns(num, sizeof num, vals[i].ps);
        fprintf(fp, "%-15s = %-12s # %s\n", vals[i].key, num, vals[i].unit);
    }
    int bad = ferror(fp);
    int saved = errno;
    if (fclose(fp) != 0 && !bad) {
        bad = 1;
        saved = errno;
    }
    if (bad) {
        remove(tmp);
        free(tmp);
        return sb__fail(err, SB_EIO, "%s: write error: %s", path, strerror(saved));
    }
    if (rename(tmp, path) != 0) {
        saved = errno;
        remove(tmp);
        free(tmp);
        return sb__fail(err, SB_EIO, "%s: cannot rename %s.tmp into place: %s", path, path,
                        strerror(saved));
    }
    free(tmp);
    return SB_OK;
}
