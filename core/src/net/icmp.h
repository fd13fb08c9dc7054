/* Internal: ICMPv4 — echo replies, and destination unreachable for what the stack cannot take. */
#ifndef USTACK_NET_ICMP_H
#define USTACK_NET_ICMP_H

#include "net/ipv4.h"

/* An ICMP message to us. Takes the frame (c->k->p). Returns US_INGRESS_* bits. */
unsigned us__icmp_input(us_stack *s, us__ipctx *c, us_time now);

/* Send destination unreachable (code) about datagram c to its source: its IPv4 header and the
 * first 8 bytes of its payload (RFC 792). Never for a broadcast datagram. Does not take the
 * frame. */
void us__icmp_unreach(us_stack *s, const us__ipctx *c, uint8_t code, us_time now);

#endif /* USTACK_NET_ICMP_H */
