/* stackbench command line: strict number parsers — the whole text must be the value — and the
 * one-line usage errors every sub-command prints. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

int sb_parse_u64(const char *text, unsigned long long *v)
{
    if (!text || !isdigit((unsigned char)text[0]))
        return -1; /* also refuses signs and blanks, which strtoull would take */
    errno = 0;
    char *end;
    unsigned long long x = strtoull(text, &end, 0);
    if (errno || *end)
        return -1;
    *v = x;
    return 0;
}

int sb_parse_u32(const char *text, unsigned long max, unsigned long *v)
{
    unsigned long long x;
    if (sb_parse_u64(text, &x) != 0 || x > max)
        return -1;
    *v = (unsigned long)x;
    return 0;
}

int sb_parse_double(const char *text, double *v)
{
    if (!text || !(isdigit((unsigned char)text[0]) || text[0] == '.'))
        return -1;
    errno = 0;
    char *end;
    double x = strtod(text, &end);
    if (errno || *end || !isfinite(x))
        return -1;
    *v = x;
    return 0;
}

int sb_parse_seconds_ns(const char *text, unsigned long long *ns)
{
    if (!text || !*text)
        return -1;
    unsigned long long whole = 0, frac = 0;
    const char *p = text;
    int digits = 0;
    for (; isdigit((unsigned char)*p); p++, digits++) {
        if (whole > 1000000000ull) /* far beyond any accepted duration */
            return -1;
        whole = whole * 10 + (unsigned)(*p - '0');
    }
    int fdigits = 0;
    if (*p == '.') {
        for (p++; isdigit((unsigned char)*p); p++, fdigits++) {
            if (fdigits == 9)
                return -1;
            frac = frac * 10 + (unsigned)(*p - '0');
        }
    }
    if (*p || digits + fdigits == 0)
        return -1;
    for (int i = fdigits; i < 9; i++)
        frac *= 10;
    *ns = whole * 1000000000ull + frac;
    return 0;
}

int sb_parse_decimal_scaled(const char *text, unsigned decimals, unsigned long long max,
                            unsigned long long *v)
{
    if (!text || !*text)
        return -1;
    unsigned long long whole = 0, frac = 0;
    const char *p = text;
    int digits = 0;
    for (; isdigit((unsigned char)*p); p++, digits++) {
        if (whole > max)
            return -1;
        whole = whole * 10 + (unsigned)(*p - '0');
    }
    unsigned fdigits = 0;
    if (*p == '.') {
        for (p++; isdigit((unsigned char)*p); p++, fdigits++) {
            if (fdigits == decimals)
                return -1;
            frac = frac * 10 + (unsigned)(*p - '0');
        }
    }
    if (*p || digits + (int)fdigits == 0)
        return -1;
    unsigned long long scale = 1;
    for (unsigned i = 0; i < decimals; i++)
        scale *= 10;
    for (unsigned i = fdigits; i < decimals; i++)
        frac *= 10;
    if (whole > max / scale)
        return -1;
    unsigned long long x = whole * scale + frac;
    if (x > max)
        return -1;
    *v = x;
    return 0;
}

int sb_parse_rate(const char *text, unsigned long long max, unsigned long long *bps)
{
    if (!text || !(isdigit((unsigned char)text[0]) || text[0] == '.'))
        return -1;
    /* The number: whole and up to 12 decimals, exactly. */
    const char *p = text;
    unsigned long long whole = 0, frac = 0, fscale = 1;
    for (; isdigit((unsigned char)*p); p++) {
        if (whole > 100000000000000ull)
            return -1;
        whole = whole * 10 + (unsigned)(*p - '0');
    }
    if (*p == '.') {
        for (p++; isdigit((unsigned char)*p); p++) {
            if (fscale == 1000000000000ull)
                return -1;
            frac = frac * 10 + (unsigned)(*p - '0');
            fscale *= 10;
        }
    }
    unsigned long long mult = 1;
    switch (*p) {
    case 'k': case 'K': mult = 1000ull; p++; break;
    case 'M': mult = 1000000ull; p++; break;
    case 'G': mult = 1000000000ull; p++; break;
    case 'T': mult = 1000000000000ull; p++; break;
    default: break;
    }
    static const char *const units[] = {"", "bps", "bit/s", "bits/s", "b/s", "bit", "bits"};
    int unit_ok = 0;
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        unit_ok |= strcmp(p, units[i]) == 0;
    if (!unit_ok)
        return -1;
    if (whole > max / mult)
        return -1;
    unsigned long long x = whole * mult;
    /* frac / fscale * mult, rounded down: fscale and mult are powers of ten. */
    unsigned long long fm = mult >= fscale ? frac * (mult / fscale) : frac / (fscale / mult);
    if (x > max - fm)
        return -1;
    *bps = x + fm;
    return 0;
}

int sb_cli_fail(const char *prog, const char *msg)
{
    fprintf(stderr, "%s: %s\n", prog, msg);
    return 2;
}

int sb_cli_bad_value(const char *prog, const char *flag, const char *value, const char *want)
{
    fprintf(stderr, "%s: --%s '%s': %s\n", prog, flag, value, want);
    return 2;
}

int sb_cli_getopt_error(const char *prog, int c, const char *arg)
{
    if (c == ':')
        fprintf(stderr, "%s: option '%s' needs a value\n", prog, arg);
    else
        fprintf(stderr, "%s: unknown option '%s' (try %s --help)\n", prog, arg, prog);
    return 2;
}
