/* Status names shared by every module. */
#include "ustack/common.h"

const char *us_status_str(us_status s)
{
    switch (s) {
    case US_OK: return "US_OK: success";
    case US_ENOMEM: return "US_ENOMEM: out of memory";
    case US_EINVAL: return "US_EINVAL: invalid argument";
    case US_EBUF: return "US_EBUF: buffer too small";
    case US_EILLEGAL: return "US_EILLEGAL: illegal free";
    case US_EAGAIN: return "US_EAGAIN: resource busy, try again";
    case US_ERANGE: return "US_ERANGE: offset or length out of range";
    }
    return "US_?: unknown status";
}
