/* sbtraffic internal: a small open-addressing hash map from a 16-byte key to a uint32_t value
 * (flow tables, fragment maps). Values must be below SB__KEYMAP_EMPTY. Grows as it fills. */
#ifndef SBTRAFFIC_KEYMAP_H
#define SBTRAFFIC_KEYMAP_H

#include <stddef.h>
#include <stdint.h>

#include "sbtraffic/err.h"

#define SB__KEYMAP_KEY 16u
#define SB__KEYMAP_EMPTY UINT32_MAX

typedef struct sb__keymap {
    uint8_t (*keys)[SB__KEYMAP_KEY];
    uint32_t *vals; /* SB__KEYMAP_EMPTY marks a free slot */
    size_t cap;     /* a power of two, or 0 before the first put */
    size_t n;
} sb__keymap;

/* The value stored under key, or NULL. The pointer is valid until the next put. */
uint32_t *sb__keymap_get(const sb__keymap *m, const uint8_t key[SB__KEYMAP_KEY]);

/* Store val (< SB__KEYMAP_EMPTY) under key, replacing any earlier value. Returns SB_OK or
 * SB_ENOMEM (the map is unchanged). */
sb_status sb__keymap_put(sb__keymap *m, const uint8_t key[SB__KEYMAP_KEY], uint32_t val);

/* Release the map's memory and zero it. */
void sb__keymap_free(sb__keymap *m);

#endif /* SBTRAFFIC_KEYMAP_H */
