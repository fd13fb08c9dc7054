/* libustack packet buffers, with lwIP's pbuf semantics (src/core/pbuf.c): chains of segments with
 * len / tot_len, reference counts, header room reserved by layer, and five types:
 *   RAM    header + payload in one heap block (TX)
 *   POOL   fixed blocks from the PBUF_POOL pool, chained when the data does not fit one (RX)
 *   ROM    header only; payload points to constant memory
 *   REF    header only; payload points to memory that the caller keeps alive
 *   CUSTOM header in caller memory; payload owned elsewhere (e.g. a DMA buffer) and given back
 *          through the pbuf's free callback (zero-copy RX)
 * Ownership rule for every function taking a pbuf: on US_OK (or a non-NULL result where a pbuf is
 * returned) the documented transfer happens; on any failure the caller still owns every input and
 * none was modified. Failures other than running out of memory are counted in owner->pbuf_stats;
 * running out is counted by the pool or heap (stats.err). */
#ifndef USTACK_PBUF_H
#define USTACK_PBUF_H

#include "ustack/bufs.h"
#include "ustack/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Header room reserved in front of the payload, by layer (lwIP's pbuf_layer, as offsets). */
#define US_PBUF_LINK_HLEN 14u      /* Ethernet II header */
#define US_PBUF_IP_HLEN 20u        /* IPv4 header without options */
#define US_PBUF_TRANSPORT_HLEN 20u /* TCP header without options (UDP needs 8) */

typedef enum us_pbuf_layer {
    US_PBUF_TRANSPORT = US_PBUF_LINK_HLEN + US_PBUF_IP_HLEN + US_PBUF_TRANSPORT_HLEN, /* 54 */
    US_PBUF_IP = US_PBUF_LINK_HLEN + US_PBUF_IP_HLEN,                                 /* 34 */
    US_PBUF_LINK = US_PBUF_LINK_HLEN,                                                 /* 14 */
    US_PBUF_RAW_TX = 0, /* room for link encapsulation (none here) */
    US_PBUF_RAW = 0,
} us_pbuf_layer;

typedef enum us_pbuf_type {
    US_PBUF_RAM,
    US_PBUF_POOL,
    US_PBUF_ROM,
    US_PBUF_REF,
    US_PBUF_CUSTOM,
} us_pbuf_type;

typedef struct us_pbuf us_pbuf;

struct us_pbuf {
    us_pbuf *next;    /* next segment of this packet, or of a queue */
    void *payload;    /* first byte of this segment's data */
    uint32_t tot_len; /* len of this segment + tot_len of next (the rest of the chain) */
    uint32_t len;     /* bytes of data in this segment */
    uint8_t type;     /* us_pbuf_type */
    uint8_t flags;    /* US_PBUF_FLAG_* */
    uint16_t ref;     /* pointers to this pbuf; freed when it drops to 0 */
    us_bufs *owner;   /* where it was allocated (error counters; pool and heap to free into) */
};

#define US_PBUF_FLAG_PUSH 0x01u /* TCP: deliver to the application at once */

/* Bytes the pbuf struct occupies in front of the payload of RAM and POOL pbufs. */
#define US_PBUF_STRUCT_SIZE US_ALIGN_UP(sizeof(us_pbuf), 16u)

/* Called once when the last reference to a CUSTOM pbuf is dropped; it owns p again. */
typedef void (*us_pbuf_free_fn)(us_pbuf *p);

typedef struct us_pbuf_custom {
    us_pbuf pbuf;          /* must stay first */
    us_pbuf_free_fn free_fn;
    uint8_t *mem;          /* start of the caller's payload memory (header room included) */
} us_pbuf_custom;

/* ---- allocation and freeing ---- */

/* A pbuf for `length` bytes of data after the room of `layer`. RAM: one heap block. POOL: as many
 * pool blocks as the data needs, chained. ROM / REF: a header with payload NULL (set it). Length
 * 0 is valid for every type. Returns NULL when memory runs out (the pool or heap counts it; a
 * partly built chain is given back) or on a bad type/length (counted in pbuf_stats.einval). */
us_pbuf *us_pbuf_alloc(us_bufs *b, us_pbuf_layer layer, uint32_t length, us_pbuf_type type);

/* A ROM or REF pbuf whose payload is `payload` (length bytes, owned by the caller). */
us_pbuf *us_pbuf_alloc_reference(us_bufs *b, void *payload, uint32_t length, us_pbuf_type type);

/* Turn caller memory `p` into a CUSTOM pbuf whose payload is payload_mem + layer, length bytes,
 * with header room inside payload_mem. Returns &p->pbuf, or NULL (pbuf_stats.einval) if b, p or
 * p->free_fn is NULL or layer + length > payload_mem_len. */
us_pbuf *us_pbuf_alloced_custom(us_bufs *b, us_pbuf_layer layer, uint32_t length,
                                us_pbuf_custom *p, void *payload_mem, uint32_t payload_mem_len);

/* Drop one reference to each pbuf of the chain from p on, as far as the references fall to 0:
 * a segment whose count stays above 0 stops the walk. Returns the number of pbufs deallocated,
 * or US_EILLEGAL for NULL or a pbuf whose count is already 0 (pbuf_stats.illegal; nothing done). */
int us_pbuf_free(us_pbuf *p);

/* One more reference. US_OK, or US_EINVAL for NULL or a count at its maximum. */
us_status us_pbuf_ref(us_pbuf *p);

/* Number of pbufs in the chain (0 for NULL). */
uint32_t us_pbuf_clen(const us_pbuf *p);

/* ---- chains ---- */

/* Append t to h: h takes over the caller's reference to t. US_OK or US_EINVAL (NULL, h == t). */
us_status us_pbuf_cat(us_pbuf *h, us_pbuf *t);

/* Append t to h and take a new reference on t (the caller keeps its own). US_OK or US_EINVAL. */
us_status us_pbuf_chain(us_pbuf *h, us_pbuf *t);

/* Unlink the first segment from the rest. Returns the rest (its tot_len unchanged, p->tot_len set
 * to p->len), or NULL if there was none. If the rest lost its last reference by this (it had only
 * the one from p), it is freed and NULL is returned. */
us_pbuf *us_pbuf_dechain(us_pbuf *p);

/* The segment holding byte `offset`, and the offset within it in *out_offset. NULL if offset is
 * past tot_len (offset == tot_len gives NULL unless a zero-length segment follows). */
us_pbuf *us_pbuf_skip(us_pbuf *p, uint32_t offset, uint32_t *out_offset);

/* ---- copying ---- */

/* Copy all of from into to (to->tot_len >= from->tot_len; segment sizes may differ). US_OK, or
 * US_EBUF (to too small), US_EINVAL (NULL). */
us_status us_pbuf_copy(us_pbuf *to, const us_pbuf *from);

/* Copy up to len bytes from offset into dst; returns the number copied (0 if offset >= tot_len). */
uint32_t us_pbuf_copy_partial(const us_pbuf *p, void *dst, uint32_t len, uint32_t offset);

/* Copy len bytes of from, starting at from_offset, to the start of to. US_OK, or US_EBUF (to too
 * small), US_ERANGE (from has fewer than from_offset + len bytes), US_EINVAL (NULL). */
us_status us_pbuf_copy_partial_pbuf(us_pbuf *to, const us_pbuf *from, uint32_t len,
                                    uint32_t from_offset);

/* Copy len bytes of data into the chain from offset 0 / from offset. US_OK, or US_EBUF (the
 * chain is too short), US_EINVAL (NULL). */
us_status us_pbuf_take(us_pbuf *p, const void *data, uint32_t len);
us_status us_pbuf_take_at(us_pbuf *p, const void *data, uint32_t len, uint32_t offset);

/* Byte at offset (0..255), or US_ERANGE when offset >= tot_len. */
int us_pbuf_get_at(const us_pbuf *p, uint32_t offset);

/* Write one byte at offset. US_OK or US_ERANGE. */
us_status us_pbuf_put_at(us_pbuf *p, uint32_t offset, uint8_t value);

/* Compare n bytes at offset with s. 0 if equal, else 1 + the index of the first difference, or
 * UINT32_MAX if offset + n runs past tot_len. */
uint32_t us_pbuf_memcmp(const us_pbuf *p, uint32_t offset, const void *s, uint32_t n);

/* Offset of the first occurrence of mem[0, mem_len) at or after start, or UINT32_MAX. */
uint32_t us_pbuf_memfind(const us_pbuf *p, const void *mem, uint32_t mem_len, uint32_t start);

/* A pointer to len bytes at offset: into the pbuf when they lie in one segment, else copied into
 * buffer (bufsize bytes). NULL (counted) if the range runs past tot_len or buffer is too small. */
void *us_pbuf_get_contiguous(const us_pbuf *p, void *buffer, size_t bufsize, uint32_t len,
                             uint32_t offset);

/* ---- resizing and reshaping ---- */

/* Shrink the chain to new_len bytes: trailing segments are freed, a RAM segment's heap block is
 * trimmed. US_OK (also when new_len == tot_len), US_EINVAL when new_len > tot_len (no growth). */
us_status us_pbuf_realloc(us_pbuf *p, uint32_t new_len);

/* A copy of the whole chain in one new pbuf of `type` with room for `layer`, allocated from b. */
us_pbuf *us_pbuf_clone(us_bufs *b, us_pbuf_layer layer, us_pbuf_type type, const us_pbuf *p);

/* Make the chain one RAM segment (allocated from p->owner). Returns the new pbuf and frees p; if
 * p is already one segment, or memory runs out, returns p unchanged. */
us_pbuf *us_pbuf_coalesce(us_pbuf *p, us_pbuf_layer layer);

/* Move payload size bytes back into the header room (add) or forward (remove). US_OK, or US_EBUF
 * (not enough room / len), US_EINVAL (NULL, or add on ROM/REF where there is no room). The _force
 * variant may move the payload pointer of ROM/REF pbufs back (the caller vouches for the memory). */
us_status us_pbuf_add_header(us_pbuf *p, uint32_t size);
us_status us_pbuf_add_header_force(us_pbuf *p, uint32_t size);
us_status us_pbuf_remove_header(us_pbuf *p, uint32_t size);

/* Drop size bytes from the front of the chain, freeing segments that become empty. Returns the
 * new head (NULL if all of it went), or q unchanged (counted, US_ERANGE) if size > tot_len. */
us_pbuf *us_pbuf_free_header(us_pbuf *q, uint32_t size);

#ifdef __cplusplus
}
#endif

#endif /* USTACK_PBUF_H */
