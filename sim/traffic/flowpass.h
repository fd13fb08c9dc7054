/* sbtraffic internal: the flow pass of flows.c fed frame by frame range while a trace is still
 * loading (sb_trace_load_flows), so that each chunk of records is passed while it is in cache.
 * Feeding frames [0, n1), [n1, n2), ... gives exactly what sb_flows_extract_opts gives on the
 * frames at once: it is the same pass, and a run it takes in bulk comes out the same cut anywhere. */
#ifndef SBTRAFFIC_FLOWPASS_H
#define SBTRAFFIC_FLOWPASS_H

#include <stdbool.h>
#include <stddef.h>

#include "sbtraffic/flows.h"

typedef struct sb__flowpass sb__flowpass;

/* Start a pass filling *out (zeroed here; opts NULL = the defaults). NULL when out of memory. */
sb__flowpass *sb__flowpass_new(sb_flows *out, const sb_flows_opts *opts);

/* Pass frames [frames passed so far, n) of frames (their data valid now; a frame's data is read
 * only during this call). cap: the room in the caller's frame array, which the per-frame arrays
 * follow (so they grow, and are reserved, with it). After running out of memory it does nothing;
 * sb__flowpass_finish reports it. */
void sb__flowpass_feed(sb__flowpass *fp, const sb_frame *frames, size_t n, size_t cap);

/* End the pass and free fp. keep: the caller wants the flows. Then returns SB_OK (*out holds the
 * flows of the frames fed) or SB_ENOMEM (err "flow extraction: out of memory", *out empty), as
 * sb_flows_extract_opts would; without keep *out is emptied and it returns SB_OK. */
sb_status sb__flowpass_finish(sb__flowpass *fp, bool keep, sb_err *err);

#endif /* SBTRAFFIC_FLOWPASS_H */
