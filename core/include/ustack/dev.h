/* libustack device seam: how frames enter and leave one stack. The host hands received frames to
 * us_ingress (or the stack pulls them through rx during us_poll); to send, the stack asks for a TX
 * buffer, which the device may refuse (the stack counts tx_alloc_fail and tries again on a later
 * egress; it never aborts), fills it, and commits it. Every acquired buffer is committed exactly
 * once, right after it is filled, so no TX buffer can leak (cf. smoltcp issue #1053). */
#ifndef USTACK_DEV_H
#define USTACK_DEV_H

#include "ustack/pbuf.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Capabilities (us_dev.caps). */
#define US_DEV_CSUM_RX 0x1u /* the device verified IPv4/TCP/UDP/ICMP checksums of received frames */
#define US_DEV_CSUM_TX 0x2u /* the device fills checksums of sent frames: the stack writes none */

typedef struct us_dev {
    void *ctx;
    uint32_t mtu;       /* largest IPv4 packet (header included) the link carries, e.g. 1500 */
    uint32_t max_burst; /* frames us_poll drains per call; 0 = until rx returns NULL */
    uint32_t caps;      /* US_DEV_CSUM_* */
    /* Next received frame (Ethernet II, starting at the destination MAC), or NULL if none is
     * waiting. The stack owns the pbuf from then on. May be NULL when the host calls us_ingress
     * itself. */
    us_pbuf *(*rx)(void *ctx);
    /* A TX buffer of at least len bytes, or NULL when the device has none free now (TX ring
     * full). */
    uint8_t *(*tx_acquire)(void *ctx, uint32_t len);
    /* Send len bytes (<= the length acquired) of buf, a buffer from tx_acquire. Cannot fail. */
    void (*tx_commit)(void *ctx, uint8_t *buf, uint32_t len);
} us_dev;

#ifdef __cplusplus
}
#endif

#endif /* USTACK_DEV_H */
