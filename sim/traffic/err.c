/* sbtraffic: status names and the error message helper. */
#include "sbtraffic/err.h"

#include <stdarg.h>
#include <stdio.h>

const char *sb_status_str(sb_status s)
{
    switch (s) {
    case SB_OK: return "SB_OK: success";
    case SB_EINVAL: return "SB_EINVAL: invalid argument";
    case SB_EIO: return "SB_EIO: input/output error";
    case SB_EFORMAT: return "SB_EFORMAT: not a readable pcap file";
    case SB_EUNSUPPORTED: return "SB_EUNSUPPORTED: unsupported input";
    case SB_EPARTIAL: return "SB_EPARTIAL: file only partly read";
    case SB_ENOMEM: return "SB_ENOMEM: out of memory";
    case SB_ENOTFOUND: return "SB_ENOTFOUND: not found";
    case SB_EAGAIN: return "SB_EAGAIN: not possible yet";
    }
    return "unknown sb_status";
}

sb_status sb__fail(sb_err *err, sb_status st, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return st;
}
