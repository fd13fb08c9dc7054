#!/usr/bin/env python3
"""Writes the seed corpus of tests/fuzz/fuzz_stack.c into tests/fuzz/corpus/.

Every seed is a list of records [op][length, 2 bytes big-endian][argument] (the format and the ops
are described at the top of fuzz_stack.c). The frames are the real ones of tests/wire/frames.h and
tests/net/frag_frames.h (from /work/shared/traces/public), readdressed to the fuzzed stack
(10.0.0.1, 02:00:00:00:00:01) from the peer 10.0.0.2 (or kept off-link, through the gateway
10.0.0.254) with their checksums recomputed, so that they get past the address checks; a few
are also kept byte for byte. Run from anywhere: python3 tests/fuzz/make_corpus.py
The output is deterministic; the files are committed.
"""
import os
import re
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)

# ops of fuzz_stack.c
FRAME, TIME, APP, TXCTL, TCPPEER, ARPPEER, UDPPEER, IPPEER = range(8)
F_RAM, F_QUEUE, F_FIX = 0x80, 0x40, 0x20
# APP actions
A_ACCEPT, A_RECV, A_SEND, A_CLOSE, A_ABORT, A_RELEASE, A_CONNECT = range(7)
A_UDP_RECV, A_UDP_SEND, A_LISTENER, A_INFO, A_WAKERS, A_UDP_REOPEN, A_ARP = range(7, 14)
# TCP flags
FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10

US_MAC = bytes.fromhex("020000000001")
PEER_MAC = bytes.fromhex("020000000002")
GW_MAC = bytes.fromhex("0200000000fe")
US_IP = bytes([10, 0, 0, 1])
PEER_IP = bytes([10, 0, 0, 2])
GW_IP = bytes([10, 0, 0, 254])


def c_hex_strings(path, start_pattern):
    """Concatenated C string literals after each match of start_pattern (a regex with one group
    naming the entry)."""
    text = open(path).read()
    out = {}
    for m in re.finditer(start_pattern, text):
        rest = text[m.end():]
        lits = re.match(r'((?:\s*"[0-9a-fA-F]*")+)', rest)
        out[m.group(1)] = bytes.fromhex("".join(re.findall(r'"([0-9a-fA-F]*)"', lits.group(1))))
    return out


def load_frames():
    frames = c_hex_strings(os.path.join(TESTS, "wire", "frames.h"),
                           r'\{"(\w+)", FRAME_\w+,')
    src = open(os.path.join(TESTS, "net", "frag_frames.h")).read()
    body = src[src.index("frag_frames[6]"):]
    frags = []
    for m in re.finditer(r'/\* frame (\d+)[^*]*\*/((?:\s*"[0-9a-fA-F]*")+)', body):
        frags.append(bytes.fromhex("".join(re.findall(r'"([0-9a-fA-F]*)"', m.group(2)))))
    if len(frags) != 6:
        sys.exit("make_corpus: expected 6 fragments in frag_frames.h, found %d" % len(frags))
    return frames, frags


def csum(data, acc=0):
    if len(data) % 2:
        data += b"\0"
    for (w,) in struct.iter_unpack("!H", data):
        acc += w
    while acc >> 16:
        acc = (acc & 0xFFFF) + (acc >> 16)
    return acc


def finish(acc):
    return (~acc) & 0xFFFF


def pseudo(src, dst, proto, length):
    return csum(src + dst + bytes([0, proto]) + struct.pack("!H", length))


def rec(op, arg=b""):
    assert len(arg) <= 0xFFFF
    return bytes([op]) + struct.pack("!H", len(arg)) + arg


def time_rec(mode=0, amount=1, unit=0):
    """TIME: mode bit 0 READYLIST, bit 1 jump to poll_at, bits 2-3 unit (us, ms, 100 ms, s),
    bit 4 us_poll."""
    return rec(TIME, bytes([mode | (unit << 2)]) + struct.pack("!H", amount))


def app(action, sel=0, arg=b""):
    return rec(APP, bytes([action, sel]) + arg)


def tcp_peer(flags, data=b"", which=0, opts=0, dseq=0, dack=0, window=0xFFFF):
    return rec(TCPPEER, bytes([flags, which | opts, dseq & 0xFF, dack & 0xFF]) +
               struct.pack("!H", window) + data)


def eth_split(f):
    """(header incl. VLAN tags, ethertype offset, payload offset)."""
    off = 12
    while struct.unpack_from("!H", f, off)[0] in (0x8100, 0x88A8, 0x9100):
        off += 4
    return off, off + 2


def readdress_ipv4(f, src_ip=PEER_IP, dst_port=None, keep_src=False):
    """Our MAC and address as destination, src_ip as source (unless keep_src), dst_port for UDP /
    TCP if given; checksums recomputed. f is an Ethernet frame (VLAN tags kept)."""
    f = bytearray(f)
    f[0:6] = US_MAC
    _, ip = eth_split(f)
    ihl = (f[ip] & 0x0F) * 4
    total = struct.unpack_from("!H", f, ip + 2)[0]
    if not keep_src:
        f[ip + 12:ip + 16] = src_ip
    f[ip + 16:ip + 20] = US_IP
    f[ip + 10:ip + 12] = b"\0\0"
    f[ip + 10:ip + 12] = struct.pack("!H", finish(csum(bytes(f[ip:ip + ihl]))))
    proto = f[ip + 9]
    frag = struct.unpack_from("!H", f, ip + 6)[0] & 0x3FFF
    t = ip + ihl
    tl = total - ihl
    if frag:
        return bytes(f)
    if dst_port is not None and proto in (6, 17):
        struct.pack_into("!H", f, t + 2, dst_port)
    s, d = bytes(f[ip + 12:ip + 16]), bytes(f[ip + 16:ip + 20])
    if proto == 6:
        f[t + 16:t + 18] = b"\0\0"
        c = finish(csum(bytes(f[t:t + tl]), pseudo(s, d, 6, tl)))
        struct.pack_into("!H", f, t + 16, c)
    elif proto == 17:
        f[t + 6:t + 8] = b"\0\0"
        c = finish(csum(bytes(f[t:t + tl]), pseudo(s, d, 17, tl))) or 0xFFFF
        struct.pack_into("!H", f, t + 6, c)
    elif proto == 1:
        f[t + 2:t + 4] = b"\0\0"
        struct.pack_into("!H", f, t + 2, finish(csum(bytes(f[t:t + tl]))))
    return bytes(f)


def eth_from_l3(l3, src_mac=PEER_MAC):
    return US_MAC + src_mac + b"\x08\x00" + l3


def arp_request_from_peer(qinq_req, tagged=True):
    """The real 802.1ad ARP request, now asking for 10.0.0.1 on behalf of 10.0.0.2."""
    f = bytearray(qinq_req)
    _, a = eth_split(f)
    f[a + 14:a + 18] = PEER_IP   # spa
    f[a + 24:a + 28] = US_IP     # tpa
    if not tagged:
        f = f[:12] + f[a - 2:]
    return bytes(f)


def tcp_payload(f):
    _, ip = eth_split(f)
    ihl = (f[ip] & 0x0F) * 4
    total = struct.unpack_from("!H", f, ip + 2)[0]
    t = ip + ihl
    doff = (f[t + 12] >> 4) * 4
    return f[t + doff:ip + total]


def fragments(frags, dst_port=7):
    """The six real fragments of one 8320-byte UDP datagram, readdressed; the UDP checksum (in the
    first fragment, over the whole datagram) recomputed for the new addresses and port."""
    out = [bytearray(readdress_ipv4(f)) for f in frags]
    pieces = []
    for f in out:
        _, ip = eth_split(f)
        ihl = (f[ip] & 0x0F) * 4
        total = struct.unpack_from("!H", f, ip + 2)[0]
        off = (struct.unpack_from("!H", f, ip + 6)[0] & 0x1FFF) * 8
        pieces.append((off, f, ip + ihl, ip + total))
    first = min(pieces, key=lambda p: p[0])
    f0, t0 = first[1], first[2]
    struct.pack_into("!H", f0, t0 + 2, dst_port)
    f0[t0 + 6:t0 + 8] = b"\0\0"
    data = bytearray()
    for off, f, a, b in sorted(pieces, key=lambda p: p[0]):
        assert off == len(data), "fragments not contiguous"
        data += f[a:b]
    ulen = struct.unpack_from("!H", data, 4)[0]
    assert ulen == len(data)
    c = finish(csum(bytes(data), pseudo(PEER_IP, US_IP, 17, ulen))) or 0xFFFF
    struct.pack_into("!H", f0, t0 + 6, c)
    return [bytes(f) for f in out]


def sll_to_eth(f):
    return eth_from_l3(f[16:])


def main():
    frames, frags = load_frames()
    arp_req = arp_request_from_peer(frames["qinq_arp_req"])
    arp_req_plain = arp_request_from_peer(frames["qinq_arp_req"], tagged=False)
    learn = rec(FRAME, arp_req_plain)
    syn = readdress_ipv4(frames["eth_syn"])
    syn_offlink = readdress_ipv4(frames["eth_syn"], keep_src=True)
    get = tcp_payload(frames["eth_http_get"])
    response = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"
    seeds = {}

    seeds["arp-request-qinq"] = rec(FRAME, arp_req) + time_rec()
    seeds["arp-request"] = learn + time_rec()
    seeds["arp-reply-unsolicited"] = rec(FRAME | F_FIX, frames["qinq_arp_reply"]) + time_rec()
    seeds["icmp-echo"] = (learn + rec(FRAME, readdress_ipv4(frames["vlan_icmp_req"])) +
                          time_rec() + rec(FRAME | F_RAM, readdress_ipv4(frames["vlan_icmp_req"])) +
                          time_rec(mode=1))
    seeds["icmp-echo-needs-arp"] = (rec(FRAME, readdress_ipv4(frames["vlan_icmp_req"])) +
                                    time_rec() + rec(ARPPEER) + time_rec(mode=1))
    # A whole HTTP exchange on port 80, the peer answering the stack's own segments.
    seeds["tcp-syn-port80"] = b"".join([
        learn, rec(FRAME, syn), time_rec(),
        tcp_peer(ACK), app(A_ACCEPT), tcp_peer(ACK | PSH, get), time_rec(amount=50, unit=1),
        app(A_RECV, 0), app(A_SEND, 0, response), time_rec(),
        tcp_peer(ACK), app(A_CLOSE, 0), time_rec(), tcp_peer(FIN | ACK), time_rec(),
        app(A_INFO), time_rec(mode=2), app(A_RELEASE, 0), time_rec(amount=61, unit=3),
    ])
    seeds["tcp-syn-port80-reset"] = b"".join([
        learn, rec(FRAME | F_QUEUE, syn), time_rec(mode=0x10), tcp_peer(ACK), app(A_ACCEPT),
        tcp_peer(RST), app(A_RECV, 0), time_rec(),
    ])
    seeds["tcp-syn-offlink"] = b"".join([
        rec(FRAME, syn_offlink), time_rec(), rec(ARPPEER, GW_MAC), time_rec(),
        tcp_peer(ACK | PSH, get), app(A_ACCEPT), app(A_RECV, 0), time_rec(amount=1, unit=3),
        time_rec(mode=2), time_rec(mode=2),
    ])
    seeds["tcp-syn-closed-port"] = learn + rec(
        FRAME, readdress_ipv4(frames["eth_syn"], dst_port=81)) + time_rec()
    seeds["tcp-linux-syn"] = learn + rec(FRAME, readdress_ipv4(sll_to_eth(frames["sll_syn"]))) + \
        time_rec() + rec(FRAME, readdress_ipv4(sll_to_eth(frames["sll_ack"]))) + time_rec()
    seeds["tcp-connect"] = b"".join([
        app(A_CONNECT, 0, struct.pack("!HH", 80, 0)), time_rec(), rec(ARPPEER), time_rec(),
        tcp_peer(SYN | ACK, opts=0x3C), app(A_SEND, 0, b"\x01\x10\x00"), time_rec(),
        tcp_peer(ACK), time_rec(), tcp_peer(ACK, b"x" * 300), app(A_RECV, 0), app(A_CLOSE, 0),
        time_rec(), tcp_peer(FIN | ACK), time_rec(mode=2),
    ])
    seeds["tcp-refused-tx"] = rec(TXCTL, b"\x55\xaa") + seeds["tcp-syn-port80"]
    seeds["tcp-retransmit"] = b"".join([
        learn, rec(FRAME, syn), time_rec(), tcp_peer(ACK), app(A_ACCEPT),
        app(A_SEND, 0, b"\x01\x10\x00"), time_rec(), time_rec(mode=2), time_rec(mode=2),
        time_rec(mode=3), tcp_peer(ACK, dack=0), time_rec(mode=2),
    ])
    seeds["arp-static-announce"] = app(A_ARP, 1) + time_rec() + app(A_ARP, 0) + rec(
        FRAME, readdress_ipv4(frames["vlan_icmp_req"])) + time_rec()
    udp = readdress_ipv4(frames["eth_udp_nfs"], dst_port=7)
    seeds["udp-port7"] = learn + rec(FRAME, udp) + app(A_UDP_RECV, 0, b"\x01") + time_rec()
    seeds["udp-dns-raw"] = learn + rec(FRAME, readdress_ipv4(eth_from_l3(
        frames["raw_udp_dns"]), dst_port=7)) + app(A_UDP_RECV, 0, b"\x01") + time_rec()
    seeds["udp-closed-port"] = learn + rec(
        FRAME, readdress_ipv4(frames["eth_udp_nfs"])) + time_rec()
    seeds["udp-peer"] = learn + rec(UDPPEER, struct.pack("!HH", 5353, 7) + b"ping") + \
        app(A_UDP_RECV, 0, b"\x01") + time_rec()
    fr = fragments(frags)
    seeds["ip-fragments"] = learn + b"".join(rec(FRAME, f) for f in fr) + \
        app(A_UDP_RECV, 0, b"\x01") + time_rec()
    seeds["ip-fragments-reversed"] = learn + b"".join(rec(FRAME, f) for f in reversed(fr)) + \
        app(A_UDP_RECV, 0, b"\x01") + time_rec()
    seeds["ip-fragments-timeout"] = learn + b"".join(rec(FRAME, f) for f in fr[:3]) + \
        time_rec(amount=16, unit=3) + time_rec(mode=2)
    seeds["ip-peer-fragment"] = learn + rec(IPPEER, bytes([17]) + struct.pack("!HH", 7, 0x2000) +
                                            bytes([64, 0]) + b"\0" * 64) + time_rec()
    seeds["real-frames-raw"] = b"".join(
        rec(FRAME, frames[k]) for k in ("eth_synack", "eth_http_get", "eth_padded_ack",
                                        "eth_bad_ipcsum", "vlan_icmp_reply", "vlan_cdp",
                                        "qinq_arp_reply", "eth_ip_frag_last")) + time_rec()
    seeds["real-frames-fixed"] = learn + b"".join(
        rec(FRAME | F_FIX, frames[k]) for k in ("eth_padded_ack", "eth_bad_ipcsum",
                                                "vlan_icmp_req", "eth_udp_nfs")) + time_rec()
    seeds["udp-send-fragmented"] = learn + app(
        A_UDP_SEND, 0, struct.pack("!H", 9) + b"\x01\x0b\xb8") + time_rec() + time_rec(mode=1)

    out = os.path.join(HERE, "corpus")
    os.makedirs(out, exist_ok=True)
    for name in os.listdir(out):
        if name.startswith("seed-"):
            os.remove(os.path.join(out, name))
    total = 0
    for name, data in sorted(seeds.items()):
        with open(os.path.join(out, "seed-" + name), "wb") as fp:
            fp.write(data)
        total += len(data)
    print("make_corpus: %d seeds, %d bytes in %s" % (len(seeds), total, out))


if __name__ == "__main__":
    main()
