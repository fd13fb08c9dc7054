/* stackbench command line: strict number parsers — the whole text must be the value. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>

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
