/* sbtraffic internal: open-addressing hash map, linear probing, load factor at most 1/2. */
#include "keymap.h"

#include <stdlib.h>
#include <string.h>

static uint64_t hash_key(const uint8_t *k)
{
    /* The key's two 64-bit halves, each multiplied by an odd constant, then a splitmix finaliser
     * to spread them (a byte-by-byte hash cost more than the lookup it served). Either byte order
     * of the halves hashes as well: nothing depends on where a key lands. */
    uint64_t a, b;
    memcpy(&a, k, 8);
    memcpy(&b, k + 8, 8);
    uint64_t h = a * 0x9e3779b97f4a7c15ull ^ (b * 0xc2b2ae3d27d4eb4full + (b >> 29));
    h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ull;
    h = (h ^ (h >> 27)) * 0x94d049bb133111ebull;
    return h ^ (h >> 31);
}

static size_t find_slot(const uint8_t (*keys)[SB__KEYMAP_KEY], const uint32_t *vals, size_t cap,
                        const uint8_t *key)
{
    size_t i = (size_t)hash_key(key) & (cap - 1);
    while (vals[i] != SB__KEYMAP_EMPTY && memcmp(keys[i], key, SB__KEYMAP_KEY) != 0)
        i = (i + 1) & (cap - 1);
    return i;
}

uint32_t *sb__keymap_get(const sb__keymap *m, const uint8_t key[SB__KEYMAP_KEY])
{
    if (m->cap == 0)
        return NULL;
    size_t i = find_slot((const uint8_t(*)[SB__KEYMAP_KEY])m->keys, m->vals, m->cap, key);
    return m->vals[i] == SB__KEYMAP_EMPTY ? NULL : &m->vals[i];
}

static sb_status grow(sb__keymap *m)
{
    size_t ncap = m->cap ? 2 * m->cap : 64;
    uint8_t(*nk)[SB__KEYMAP_KEY] = malloc(ncap * sizeof *nk);
    uint32_t *nv = malloc(ncap * sizeof *nv);
    if (!nk || !nv) {
        free(nk);
        free(nv);
        return SB_ENOMEM;
    }
    for (size_t i = 0; i < ncap; i++)
        nv[i] = SB__KEYMAP_EMPTY;
    for (size_t i = 0; i < m->cap; i++) {
        if (m->vals[i] == SB__KEYMAP_EMPTY)
            continue;
        size_t j = find_slot((const uint8_t(*)[SB__KEYMAP_KEY])nk, nv, ncap, m->keys[i]);
        memcpy(nk[j], m->keys[i], SB__KEYMAP_KEY);
        nv[j] = m->vals[i];
    }
    free(m->keys);
    free(m->vals);
    m->keys = nk;
    m->vals = nv;
    m->cap = ncap;
    return SB_OK;
}

sb_status sb__keymap_put(sb__keymap *m, const uint8_t key[SB__KEYMAP_KEY], uint32_t val)
{
    uint32_t *v = sb__keymap_get(m, key);
    if (v) {
        *v = val;
        return SB_OK;
    }
    if (2 * (m->n + 1) > m->cap && grow(m) != SB_OK)
        return SB_ENOMEM;
    size_t i = find_slot((const uint8_t(*)[SB__KEYMAP_KEY])m->keys, m->vals, m->cap, key);
    memcpy(m->keys[i], key, SB__KEYMAP_KEY);
    m->vals[i] = val;
    m->n++;
    return SB_OK;
}

void sb__keymap_free(sb__keymap *m)
{
    free(m->keys);
    free(m->vals);
    memset(m, 0, sizeof *m);
}
