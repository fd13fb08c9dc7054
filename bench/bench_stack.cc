// Protocol benchmarks: libustack against Debian's lwIP 2.1.3, both in this one binary, fed the same
// frames in the same process. Each paired operation is registered as BM_us_<op>/<arg> and
// BM_lwip_<op>/<arg> (scripts/bench_table.py pairs them). One iteration = one received frame
// processed end to end, including the reply the stack sends for it, if any.
//
// Matrix:
//   op                     arg    one iteration
//   tcp_rx_segment         1460   one in-order 1460 B segment to an ESTABLISHED connection: frame
//                                 into an RX buffer, input, the ACK the stack's own policy produces
//                                 (both ACK every second full segment), the application reading
//                                 the 1460 B into its buffer (so the window stays open)
//   udp_rx                 64     one 64 B datagram to a bound socket, read by the application
//   icmp_echo              64     one echo request (64 B of data) answered; the reply reaches the
//                                 device
//   BM_us_tcp_bulk_transfer       (ours only) two libustack instances back to back over a
//                                 zero-copy device pair, 64 KiB windows; one iteration = one round
//                                 of the superloop (sender writes, both stacks poll, receiver
//                                 reads); counters Gbps (payload bits per second of real time)
//                                 and bytes_per_second
//
// Frames. We play the peer (10.0.0.2, 02:..:02) and build its frames with libustack's wire emit
// functions; both stacks under test are 10.0.0.1 / 02:..:01, so the frames given to the two are
// byte for byte the same — except, for TCP, the acknowledgment number (each stack's own ISN + 1,
// learnt from its SYN-ACK) and hence the checksum. Every connection is set up by a real exchange:
// an ARP request from the peer (without it lwIP's SYN-ACK waits behind an ARP request of its own),
// SYN (MSS 1460, no window scale, no timestamps, no SACK), the stack's SYN-ACK, our ACK.
// Per iteration the frame is written into a fresh RX buffer — ours a POOL pbuf from the stack's
// own bufs, as a NIC would fill it; lwIP a PBUF_RAM (its POOL elements are built too small, see
// bench_buf.cc) — by the same code on both sides: a copy of the prebuilt frame, then for TCP the
// next sequence number patched in with an incremental checksum update (us_csum_update32). That
// cost (~1514 B memcpy) is inside the timed region on both sides.
//
// Loops. Ours: us_ingress + us_egress(US_EGRESS_READYLIST) per frame, then the application call
// (us_tcp_recv / us_udp_recv into a buffer). lwIP: netif->input (ethernet_input; TCP runs
// tcp_output itself at the end of tcp_input) then sys_check_timeouts(), as its tcpip loop would;
// the application is its raw-API callback, which copies the pbuf into the same buffer
// (pbuf_copy_partial), calls tcp_recved and frees it. Both stacks verify every checksum (ours: the
// device claims no offload; lwIP: CHECKSUM_CHECK_* default on). A virtual clock advances 1 us per
// iteration and drives both (us: the `now` argument; lwIP: sys_now(), defined below, which
// interposes on the library's).
//
// Checks: each benchmark ends with SkipWithError if the application did not get every byte or
// datagram, the expected replies did not reach the device (TCP: at least one ACK per two segments
// and the last ACK acknowledging the last or the one before), our stack counted any drop or
// refused TX buffer, or — after the connection is torn down — any of our pool blocks or heap bytes
// is still in use. Counter acks_per_seg shows each stack's ACK policy as it really ran.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

extern "C" {
#include "ustack/iface.h"
#include "ustack/pbuf.h"
#include "ustack/socket.h"
#include "ustack/stack.h"
#include "ustack/wire/arp.h"
#include "ustack/wire/bytes.h"
#include "ustack/wire/checksum.h"
#include "ustack/wire/eth.h"
#include "ustack/wire/icmp.h"
#include "ustack/wire/ipv4.h"
#include "ustack/wire/tcp.h"
#include "ustack/wire/udp.h"

#include "lwip/etharp.h"
#include "lwip/init.h"
#include "lwip/netif.h"
#include "lwip/pbuf.h"
#include "lwip/tcp.h"
#include "lwip/timeouts.h"
#include "lwip/udp.h"
#include "netif/ethernet.h"
}

namespace {

// ---- the virtual clock ----

uint64_t g_now_ns = 0;    // advanced by the benchmarks; never goes back
constexpr uint64_t kTick = 1000; // virtual nanoseconds per iteration

} // namespace

// lwIP's clock (milliseconds). Debian's liblwip calls sys_now through its PLT, so this definition
// in the executable replaces the library's (which reads CLOCK_MONOTONIC): its timers follow the
// benchmark's virtual clock.
extern "C" u32_t sys_now(void) { return static_cast<u32_t>(g_now_ns / 1000000u); }

namespace {

// ---- addresses and frames ----

constexpr uint32_t kHostIp = 0x0A000001u; // the stack under test, ours or lwIP
constexpr uint32_t kPeerIp = 0x0A000002u; // us, playing the peer
const uint8_t kHostMac[6] = {0x02, 0, 0, 0, 0, 0x01};
const uint8_t kPeerMac[6] = {0x02, 0, 0, 0, 0, 0x02};
const uint8_t kBcastMac[6] = {0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF};
constexpr uint16_t kTcpPort = 5001;  // the stack's listener
constexpr uint16_t kUdpPort = 5002;  // the stack's bound UDP socket
constexpr uint16_t kPeerPort = 40000;
constexpr uint32_t kPeerIss = 0x7FFFF000u; // our ISN: the sequence numbers wrap past 2^31 early
constexpr uint16_t kMss = 1460;
constexpr uint32_t kFrameMax = 1514;
constexpr uint32_t kEthIp = US_ETH_HDR_LEN + US_IPV4_HDR_LEN; // 34

// The application's receive buffer, shared by both sides (same alignment, same addresses).
alignas(64) uint8_t g_app[65536];

// Ethernet + IPv4 header of a peer -> host packet with l4_len bytes of payload.
void EthIp(uint8_t *f, const uint8_t *dst_mac, uint8_t proto, uint32_t l4_len)
{
    us_eth_repr e{};
    std::memcpy(e.dst, dst_mac, 6);
    std::memcpy(e.src, kPeerMac, 6);
    e.ethertype = US_ETHERTYPE_IPV4;
    us_eth_emit(&e, f);
    us_ipv4_repr ip{};
    ip.src = kPeerIp;
    ip.dst = kHostIp;
    ip.proto = proto;
    ip.ttl = 64;
    ip.dont_frag = true;
    ip.payload_len = static_cast<uint16_t>(l4_len);
    us_ipv4_emit(&ip, f + US_ETH_HDR_LEN);
}

uint32_t BuildTcp(uint8_t *f, uint32_t seq, uint32_t ack, uint8_t flags, uint32_t len,
                  bool syn_opts)
{
    us_tcp_repr t{};
    t.src_port = kPeerPort;
    t.dst_port = kTcpPort;
    t.seq = seq;
    t.ack = ack;
    t.flags = flags;
    t.window = 65535;
    t.mss_present = syn_opts;
    t.mss = kMss;
    const auto hl = static_cast<uint32_t>(us_tcp_header_len(&t));
    uint8_t *data = f + kEthIp + hl;
    for (uint32_t i = 0; i < len; i++)
        data[i] = static_cast<uint8_t>(i * 7 + 1);
    t.payload_len = len;
    us_tcp_emit(&t, f + kEthIp, kPeerIp, kHostIp, len ? us_csum_partial(data, len, 0) : 0);
    EthIp(f, kHostMac, US_IP_PROTO_TCP, hl + len);
    return kEthIp + hl + len;
}

uint32_t BuildUdp(uint8_t *f, uint32_t len)
{
    uint8_t *data = f + kEthIp + US_UDP_HDR_LEN;
    for (uint32_t i = 0; i < len; i++)
        data[i] = static_cast<uint8_t>(i * 3 + 5);
    us_udp_repr u{};
    u.src_port = kPeerPort;
    u.dst_port = kUdpPort;
    u.payload_len = len;
    us_udp_emit(&u, f + kEthIp, kPeerIp, kHostIp, us_csum_partial(data, len, 0));
    EthIp(f, kHostMac, US_IP_PROTO_UDP, US_UDP_HDR_LEN + len);
    return kEthIp + US_UDP_HDR_LEN + len;
}

uint32_t BuildEcho(uint8_t *f, uint32_t len)
{
    uint8_t *data = f + kEthIp + US_ICMP_HDR_LEN;
    for (uint32_t i = 0; i < len; i++)
        data[i] = static_cast<uint8_t>(i + 0x20);
    us_icmp_repr r{};
    r.type = US_ICMP_ECHO_REQUEST;
    r.ident = 0x5bb5;
    r.seq = 1;
    r.data = data;
    r.data_len = len;
    us_icmp_emit(&r, f + kEthIp);
    EthIp(f, kHostMac, US_IP_PROTO_ICMP, US_ICMP_HDR_LEN + len);
    return kEthIp + US_ICMP_HDR_LEN + len;
}

// "Who has 10.0.0.1? Tell 10.0.0.2": the stack learns our MAC (RFC 826) and answers.
uint32_t BuildArpRequest(uint8_t *f)
{
    us_eth_repr e{};
    std::memcpy(e.dst, kBcastMac, 6);
    std::memcpy(e.src, kPeerMac, 6);
    e.ethertype = US_ETHERTYPE_ARP;
    us_eth_emit(&e, f);
    us_arp_repr a{};
    a.op = US_ARP_OP_REQUEST;
    std::memcpy(a.sha, kPeerMac, 6);
    a.spa = kPeerIp;
    a.tpa = kHostIp;
    us_arp_emit(&a, f + US_ETH_HDR_LEN);
    return US_ETH_HDR_LEN + US_ARP_LEN;
}

// The stream of in-order data segments: Write copies the current frame into an RX buffer, then
// moves the template on to the next sequence number (incremental checksum update). Same code,
// same cost, on both sides.
class SegGen {
  public:
    void Init(uint32_t seq, uint32_t ack, uint32_t len)
    {
        seq_ = seq;
        len_ = BuildTcp(f_, seq, ack, US_TCP_ACK, len, false);
        step_ = len;
    }
    uint32_t len() const { return len_; }
    uint32_t seq() const { return seq_; } // of the next segment Write produces

    void Write(uint8_t *dst)
    {
        std::memcpy(dst, f_, len_);
        const uint32_t next = seq_ + step_;
        const uint16_t csum = us_csum_update32(us_get_be16(f_ + kEthIp + 16), seq_, next);
        us_put_be32(f_ + kEthIp + 4, next);
        us_put_be16(f_ + kEthIp + 16, csum);
        seq_ = next;
    }

  private:
    alignas(64) uint8_t f_[kFrameMax];
    uint32_t len_ = 0, seq_ = 0, step_ = 0;
};

// The per-iteration sources live at fixed addresses, not on the stack (whose offset within a page
// ASLR changes from one process to the next), so the copy into the RX buffer sees the same address
// relations in every process.
SegGen g_gen;
alignas(64) uint8_t g_frame[kFrameMax]; // the UDP / ICMP frame

// What reached a device: a count, and the first bytes of the last frame. Both sides' devices
// copy the same amount (a TCP ACK or a 106 B echo reply fits).
struct Capture {
    uint64_t frames = 0;
    uint32_t last_len = 0;
    alignas(64) uint8_t last[128];

    void Take(const uint8_t *f, uint32_t len)
    {
        frames++;
        last_len = len;
        std::memcpy(last, f, std::min<uint32_t>(len, sizeof last));
    }
};

// A parsed TCP frame from a capture (ports, seq, ack, flags; checksums verified), or false.
bool ParseTcp(const Capture &c, us_tcp_repr *t)
{
    if (c.last_len > sizeof c.last)
        return false;
    us_eth_repr e;
    size_t hl;
    us_ipv4_repr ip;
    if (us_eth_parse(&e, c.last, c.last_len, &hl) != US_WIRE_OK ||
        e.ethertype != US_ETHERTYPE_IPV4 ||
        us_ipv4_parse(&ip, c.last + hl, c.last_len - hl, 0) != US_WIRE_OK ||
        ip.proto != US_IP_PROTO_TCP)
        return false;
    const uint8_t *seg = c.last + hl + ip.header_len;
    return us_tcp_parse(t, seg, ip.payload_len, ip.src, ip.dst, 0) == US_WIRE_OK &&
           t->src_port == kTcpPort && t->dst_port == kPeerPort;
}

// The last capture is an echo reply to our request of len data bytes (checksums verified).
bool IsEchoReply(const Capture &c, uint32_t len)
{
    us_eth_repr e;
    size_t hl;
    us_ipv4_repr ip;
    us_icmp_repr r;
    const uint32_t n = std::min<uint32_t>(c.last_len, sizeof c.last);
    return c.last_len == kEthIp + US_ICMP_HDR_LEN + len &&
           us_eth_parse(&e, c.last, n, &hl) == US_WIRE_OK &&
           us_ipv4_parse(&ip, c.last + hl, n - hl, 0) == US_WIRE_OK &&
           ip.proto == US_IP_PROTO_ICMP && ip.dst == kPeerIp &&
           us_icmp_parse(&r, c.last + hl + ip.header_len, ip.payload_len, 0) == US_WIRE_OK &&
           r.type == US_ICMP_ECHO_REPLY && r.ident == 0x5bb5 && r.data_len == len;
}

// ---- our side: one stack with a capturing device ----

// Failed buffer operations of a stack (an allocation that found its pool empty, a bad free, a
// misused pbuf call), as text; empty if none.
std::string BufErrors(const us_bufs *b)
{
    uint32_t errs = b->heap.stats.err + b->heap.stats.illegal + b->pbuf_stats.einval +
                    b->pbuf_stats.ebuf + b->pbuf_stats.erange + b->pbuf_stats.illegal;
    for (const us_pool &p : b->pools)
        errs += p.stats.err + p.stats.illegal;
    return errs ? "a buffer operation of our stack failed (see its us_bufs stats)" : std::string();
}

class UsHost {
  public:
    UsHost()
    {
        us_stack_config cfg;
        us_stack_config_default(&cfg);
        std::memcpy(cfg.mac, kHostMac, 6);
        cfg.ipv4_addr = kHostIp;
        cfg.tcp_sockets = 4;
        cfg.udp_sockets = 4;
        cfg.tcp_rx_buf = 65536;
        cfg.tcp_tx_buf = 65536;
        us_dev dev{};
        dev.ctx = this;
        dev.mtu = 1500;
        dev.rx = nullptr; // frames are handed to us_ingress directly
        dev.tx_acquire = [](void *ctx, uint32_t len) -> uint8_t * {
            auto *h = static_cast<UsHost *>(ctx);
            return len <= sizeof h->tx_ ? h->tx_ : nullptr;
        };
        dev.tx_commit = [](void *ctx, uint8_t *buf, uint32_t len) {
            static_cast<UsHost *>(ctx)->cap.Take(buf, len);
        };
        size_t n = us_stack_mem_size(&cfg);
        mem_ = n ? std::aligned_alloc(64, US_ALIGN_UP(n, 64u)) : nullptr;
        s = mem_ ? us_stack_init(mem_, n, &cfg, &dev, nullptr) : nullptr;
    }
    ~UsHost() { std::free(mem_); }
    UsHost(const UsHost &) = delete;
    UsHost &operator=(const UsHost &) = delete;

    // Setup (untimed): one frame as the loop hands it over. False if no RX buffer.
    bool Feed(const uint8_t *f, uint32_t len)
    {
        us_pbuf *p = us_pbuf_alloc(us_stack_bufs(s), US_PBUF_RAW, len, US_PBUF_POOL);
        if (p == nullptr || us_pbuf_take(p, f, len) != US_OK)
            return false;
        g_now_ns += kTick;
        us_ingress(s, p, g_now_ns);
        us_egress(s, g_now_ns, US_EGRESS_READYLIST);
        return true;
    }

    // Empty if the stack dropped nothing and the device refused nothing; else why.
    std::string Dirty() const
    {
        const us_stack_stats *st = us_stack_get_stats(s);
        for (int i = 0; i < US_DROP_COUNT; i++)
            if (st->drop[i])
                return std::string("our stack dropped frames: ") +
                       us_drop_name(static_cast<us_drop_reason>(i));
        for (int i = 0; i < US_WIRE_ERR_COUNT; i++)
            if (st->drop_wire[i])
                return std::string("our stack dropped malformed frames: ") +
                       us_wire_err_str(static_cast<us_wire_err>(i));
        if (st->tx_alloc_fail)
            return "our device refused a TX buffer";
        return BufErrors(us_stack_bufs(s));
    }

    // After teardown: every pool block and heap byte back.
    bool AllFree() { return us_bufs_all_free(us_stack_bufs(s)) != 0; }

    us_stack *s = nullptr;
    Capture cap;

  private:
    void *mem_ = nullptr;
    alignas(64) uint8_t tx_[2048];
};

// ---- lwIP's side: one netif whose linkoutput captures ----

struct netif g_netif;
Capture g_lwip_cap;

err_t LwipLinkOutput(struct netif *, struct pbuf *p)
{
    // LWIP_NETIF_TX_SINGLE_PBUF (Debian): one segment. Copy the same bytes our device keeps.
    const uint32_t n = std::min<uint32_t>(p->tot_len, sizeof g_lwip_cap.last);
    g_lwip_cap.frames++;
    g_lwip_cap.last_len = p->tot_len;
    if (p->len >= n)
        std::memcpy(g_lwip_cap.last, p->payload, n);
    else
        pbuf_copy_partial(p, g_lwip_cap.last, static_cast<u16_t>(n), 0);
    return ERR_OK;
}

err_t LwipNetifInit(struct netif *n)
{
    n->name[0] = 'b';
    n->name[1] = '0';
    n->hwaddr_len = 6;
    std::memcpy(n->hwaddr, kHostMac, 6);
    n->mtu = 1500;
    n->flags = NETIF_FLAG_BROADCAST | NETIF_FLAG_ETHARP | NETIF_FLAG_ETHERNET;
    n->output = etharp_output;
    n->linkoutput = LwipLinkOutput;
    return ERR_OK;
}

// Once, at the first lwIP benchmark (lwip_init ran in main): 10.0.0.1/24, up. Not before: under
// ASan only our side runs, and lwIP's allocations crash there (bench_buf.cc).
void LwipNetifOnce()
{
    static bool done = false;
    if (done)
        return;
    done = true;
    ip4_addr_t ip, mask, gw;
    IP4_ADDR(&ip, 10, 0, 0, 1);
    IP4_ADDR(&mask, 255, 255, 255, 0);
    IP4_ADDR(&gw, 0, 0, 0, 0);
    netif_add(&g_netif, &ip, &mask, &gw, nullptr, LwipNetifInit, ethernet_input);
    netif_set_default(&g_netif);
    netif_set_link_up(&g_netif);
    netif_set_up(&g_netif); // a gratuitous ARP goes out (captured, ignored)
}

class LwipHost {
  public:
    LwipHost() { LwipNetifOnce(); }

    // Setup (untimed): one frame as the loop hands it over. False if no buffer.
    bool Feed(const uint8_t *f, uint32_t len)
    {
        struct pbuf *p = pbuf_alloc(PBUF_RAW, static_cast<u16_t>(len), PBUF_RAM);
        if (p == nullptr)
            return false;
        std::memcpy(p->payload, f, len);
        g_now_ns += kTick;
        if (g_netif.input(p, &g_netif) != ERR_OK)
            pbuf_free(p);
        sys_check_timeouts();
        return true;
    }

    Capture &cap = g_lwip_cap;
};

// ---- connection setup shared by both sides ----

// ARP request, SYN, SYN-ACK (parsed: the stack's ISN), ACK. Returns "" or what went wrong.
template <class Host> std::string Handshake(Host &h, uint32_t *isn)
{
    alignas(64) uint8_t f[kFrameMax];
    const uint64_t before = h.cap.frames;
    if (!h.Feed(f, BuildArpRequest(f)))
        return "no RX buffer for the ARP request";
    if (h.cap.frames != before + 1)
        return "no ARP reply";
    if (!h.Feed(f, BuildTcp(f, kPeerIss, 0, US_TCP_SYN, 0, true)))
        return "no RX buffer for the SYN";
    us_tcp_repr t;
    if (h.cap.frames != before + 2 || !ParseTcp(h.cap, &t) ||
        t.flags != (US_TCP_SYN | US_TCP_ACK) || t.ack != kPeerIss + 1)
        return "no SYN-ACK";
    *isn = t.seq;
    if (!h.Feed(f, BuildTcp(f, kPeerIss + 1, t.seq + 1, US_TCP_ACK, 0, false)))
        return "no RX buffer for the ACK";
    return {};
}

// After a run of n segments of len bytes starting at seq0: ACKs the stack sent (acks) cover at
// least every second segment, and the last one acknowledges the end or one segment before it.
std::string CheckAcks(const Capture &c, uint64_t acks, uint64_t n, uint32_t seq0, uint32_t len)
{
    if (2 * acks + 2 < n)
        return "too few ACKs: " + std::to_string(acks) + " for " + std::to_string(n) + " segments";
    if (acks == 0)
        return {};
    us_tcp_repr t;
    if (!ParseTcp(c, &t) || (t.flags & (US_TCP_SYN | US_TCP_FIN | US_TCP_RST)) ||
        !(t.flags & US_TCP_ACK))
        return "the last frame sent is not an ACK";
    const uint32_t end = seq0 + static_cast<uint32_t>(n) * len;
    if (t.ack != end && t.ack != end - len)
        return "the last ACK does not acknowledge the data";
    return {};
}

// ---- tcp_rx_segment ----

void BM_us_tcp_rx_segment(benchmark::State &state)
{
    const auto len = static_cast<uint32_t>(state.range(0));
    std::unique_ptr<UsHost> host_mem(new UsHost); // off the stack, as g_gen
    UsHost &host = *host_mem;
    if (host.s == nullptr) {
        state.SkipWithError("us_stack_init failed");
        return;
    }
    us_stack *s = host.s;
    us_sock lh = us_tcp_open(s);
    if (lh < 0 || us_tcp_listen(s, lh, kTcpPort, 4) != US_OK) {
        state.SkipWithError("listen failed");
        return;
    }
    uint32_t isn = 0;
    std::string err = Handshake(host, &isn);
    us_sock h = err.empty() ? us_tcp_accept(s, lh) : -1;
    if (err.empty() && h < 0)
        err = "no connection to accept";
    if (!err.empty()) {
        state.SkipWithError(err.c_str());
        return;
    }
    SegGen &gen = g_gen;
    gen.Init(kPeerIss + 1, isn + 1, len);
    const uint32_t seq0 = gen.seq();
    us_bufs *b = us_stack_bufs(s);
    const uint64_t acks0 = host.cap.frames;
    uint64_t got = 0;
    for (auto _ : state) {
        g_now_ns += kTick;
        us_pbuf *p = us_pbuf_alloc(b, US_PBUF_RAW, gen.len(), US_PBUF_POOL);
        if (p == nullptr) {
            state.SkipWithError("no POOL pbuf for a frame");
            break;
        }
        gen.Write(static_cast<uint8_t *>(p->payload));
        us_ingress(s, p, g_now_ns);
        us_egress(s, g_now_ns, US_EGRESS_READYLIST);
        int32_t n = us_tcp_recv(s, h, g_app, sizeof g_app);
        got += n > 0 ? static_cast<uint32_t>(n) : 0u;
    }
    const uint64_t iters = state.iterations();
    const uint64_t acks = host.cap.frames - acks0;
    if (err.empty() && got != iters * len)
        err = "the application got " + std::to_string(got) + " bytes of " +
              std::to_string(iters * len);
    if (err.empty())
        err = CheckAcks(host.cap, acks, iters, seq0, len);
    if (err.empty())
        err = host.Dirty();
    // Teardown: RST out, handles back; then nothing of ours may be left in use.
    us_tcp_abort(s, h, g_now_ns);
    us_tcp_release(s, h);
    us_tcp_release(s, lh);
    us_egress(s, g_now_ns, US_EGRESS_ALL);
    if (err.empty() && !host.AllFree())
        err = "leak: us_bufs_all_free() is false after teardown";
    if (!err.empty())
        state.SkipWithError(err.c_str());
    state.counters["acks_per_seg"] = iters ? static_cast<double>(acks) / iters : 0.0;
    state.SetItemsProcessed(static_cast<int64_t>(iters));
    state.SetBytesProcessed(static_cast<int64_t>(got));
}

struct LwipConn {
    struct tcp_pcb *pcb = nullptr; // the accepted connection
    uint64_t got = 0;              // bytes the application read
    bool fin = false;
};

err_t LwipOnRecv(void *arg, struct tcp_pcb *pcb, struct pbuf *p, err_t)
{
    auto *c = static_cast<LwipConn *>(arg);
    if (p == nullptr) {
        c->fin = true;
        return ERR_OK;
    }
    const u16_t n = pbuf_copy_partial(p, g_app, p->tot_len, 0); // the application reads it
    c->got += n;
    tcp_recved(pcb, p->tot_len);
    pbuf_free(p);
    return ERR_OK;
}

void LwipOnErr(void *arg, err_t) { static_cast<LwipConn *>(arg)->pcb = nullptr; } // pcb is gone

err_t LwipOnAccept(void *arg, struct tcp_pcb *pcb, err_t err)
{
    if (err != ERR_OK || pcb == nullptr)
        return ERR_VAL;
    auto *c = static_cast<LwipConn *>(arg);
    c->pcb = pcb;
    tcp_arg(pcb, c);
    tcp_recv(pcb, LwipOnRecv);
    tcp_err(pcb, LwipOnErr);
    return ERR_OK;
}

void BM_lwip_tcp_rx_segment(benchmark::State &state)
{
    const auto len = static_cast<uint32_t>(state.range(0));
    LwipHost host;
    LwipConn conn;
    struct tcp_pcb *lpcb = tcp_new();
    if (lpcb == nullptr || tcp_bind(lpcb, IP4_ADDR_ANY, kTcpPort) != ERR_OK) {
        state.SkipWithError("lwIP tcp_new/tcp_bind failed");
        return;
    }
    lpcb = tcp_listen(lpcb);
    if (lpcb == nullptr) {
        state.SkipWithError("lwIP tcp_listen failed");
        return;
    }
    tcp_arg(lpcb, &conn);
    tcp_accept(lpcb, LwipOnAccept);
    uint32_t isn = 0;
    std::string err = Handshake(host, &isn);
    if (err.empty() && conn.pcb == nullptr)
        err = "lwIP accepted no connection";
    if (!err.empty()) {
        if (conn.pcb)
            tcp_abort(conn.pcb);
        tcp_close(lpcb);
        state.SkipWithError(err.c_str());
        return;
    }
    SegGen &gen = g_gen;
    gen.Init(kPeerIss + 1, isn + 1, len);
    const uint32_t seq0 = gen.seq();
    const uint64_t acks0 = host.cap.frames;
    for (auto _ : state) {
        g_now_ns += kTick;
        struct pbuf *p = pbuf_alloc(PBUF_RAW, static_cast<u16_t>(gen.len()), PBUF_RAM);
        if (p == nullptr) {
            state.SkipWithError("lwIP: no RAM pbuf for a frame");
            break;
        }
        gen.Write(static_cast<uint8_t *>(p->payload));
        if (g_netif.input(p, &g_netif) != ERR_OK)
            pbuf_free(p);
        sys_check_timeouts();
    }
    const uint64_t iters = state.iterations();
    const uint64_t acks = host.cap.frames - acks0;
    if (err.empty() && (conn.pcb == nullptr || conn.got != iters * len))
        err = "lwIP delivered " + std::to_string(conn.got) + " bytes of " +
              std::to_string(iters * len);
    if (err.empty())
        err = CheckAcks(host.cap, acks, iters, seq0, len);
    if (conn.pcb != nullptr)
        tcp_abort(conn.pcb); // RST out; LwipOnErr clears conn.pcb
    tcp_close(lpcb);
    if (!err.empty())
        state.SkipWithError(err.c_str());
    state.counters["acks_per_seg"] = iters ? static_cast<double>(acks) / iters : 0.0;
    state.SetItemsProcessed(static_cast<int64_t>(iters));
    state.SetBytesProcessed(static_cast<int64_t>(conn.got));
}

// ---- udp_rx ----

void BM_us_udp_rx(benchmark::State &state)
{
    const auto len = static_cast<uint32_t>(state.range(0));
    std::unique_ptr<UsHost> host_mem(new UsHost); // off the stack, as g_gen
    UsHost &host = *host_mem;
    if (host.s == nullptr) {
        state.SkipWithError("us_stack_init failed");
        return;
    }
    us_stack *s = host.s;
    us_sock u = us_udp_open(s);
    if (u < 0 || us_udp_bind(s, u, kUdpPort) != US_OK) {
        state.SkipWithError("UDP bind failed");
        return;
    }
    uint8_t *f = g_frame;
    if (!host.Feed(f, BuildArpRequest(f))) {
        state.SkipWithError("no RX buffer for the ARP request");
        return;
    }
    const uint32_t flen = BuildUdp(f, len);
    us_bufs *b = us_stack_bufs(s);
    uint64_t got = 0, dgrams = 0;
    for (auto _ : state) {
        g_now_ns += kTick;
        us_pbuf *p = us_pbuf_alloc(b, US_PBUF_RAW, flen, US_PBUF_POOL);
        if (p == nullptr) {
            state.SkipWithError("no POOL pbuf for a frame");
            break;
        }
        std::memcpy(p->payload, f, flen);
        us_ingress(s, p, g_now_ns);
        us_egress(s, g_now_ns, US_EGRESS_READYLIST);
        int32_t n = us_udp_recv(s, u, g_app, sizeof g_app, nullptr, nullptr);
        if (n >= 0) {
            got += static_cast<uint32_t>(n);
            dgrams++;
        }
    }
    const uint64_t iters = state.iterations();
    std::string err;
    if (dgrams != iters || got != iters * len)
        err = "the application got " + std::to_string(dgrams) + " datagrams of " +
              std::to_string(iters);
    if (err.empty())
        err = host.Dirty();
    us_udp_close(s, u);
    if (err.empty() && !host.AllFree())
        err = "leak: us_bufs_all_free() is false after teardown";
    if (!err.empty())
        state.SkipWithError(err.c_str());
    state.SetItemsProcessed(static_cast<int64_t>(iters));
}

struct LwipUdpSink {
    uint64_t got = 0, dgrams = 0;
};

void LwipOnUdp(void *arg, struct udp_pcb *, struct pbuf *p, const ip_addr_t *, u16_t)
{
    auto *k = static_cast<LwipUdpSink *>(arg);
    k->got += pbuf_copy_partial(p, g_app, p->tot_len, 0); // the application reads it
    k->dgrams++;
    pbuf_free(p);
}

void BM_lwip_udp_rx(benchmark::State &state)
{
    const auto len = static_cast<uint32_t>(state.range(0));
    LwipHost host;
    LwipUdpSink sink;
    struct udp_pcb *u = udp_new();
    if (u == nullptr || udp_bind(u, IP4_ADDR_ANY, kUdpPort) != ERR_OK) {
        if (u)
            udp_remove(u);
        state.SkipWithError("lwIP udp_new/udp_bind failed");
        return;
    }
    udp_recv(u, LwipOnUdp, &sink);
    uint8_t *f = g_frame;
    if (!host.Feed(f, BuildArpRequest(f))) {
        udp_remove(u);
        state.SkipWithError("lwIP: no RAM pbuf for the ARP request");
        return;
    }
    const uint32_t flen = BuildUdp(f, len);
    for (auto _ : state) {
        g_now_ns += kTick;
        struct pbuf *p = pbuf_alloc(PBUF_RAW, static_cast<u16_t>(flen), PBUF_RAM);
        if (p == nullptr) {
            state.SkipWithError("lwIP: no RAM pbuf for a frame");
            break;
        }
        std::memcpy(p->payload, f, flen);
        if (g_netif.input(p, &g_netif) != ERR_OK)
            pbuf_free(p);
        sys_check_timeouts();
    }
    const uint64_t iters = state.iterations();
    udp_remove(u);
    if (sink.dgrams != iters || sink.got != iters * len)
        state.SkipWithError(("lwIP delivered " + std::to_string(sink.dgrams) + " datagrams of " +
                             std::to_string(iters))
                                .c_str());
    state.SetItemsProcessed(static_cast<int64_t>(iters));
}

// ---- icmp_echo ----

void BM_us_icmp_echo(benchmark::State &state)
{
    const auto len = static_cast<uint32_t>(state.range(0));
    std::unique_ptr<UsHost> host_mem(new UsHost); // off the stack, as g_gen
    UsHost &host = *host_mem;
    if (host.s == nullptr) {
        state.SkipWithError("us_stack_init failed");
        return;
    }
    us_stack *s = host.s;
    uint8_t *f = g_frame;
    if (!host.Feed(f, BuildArpRequest(f))) {
        state.SkipWithError("no RX buffer for the ARP request");
        return;
    }
    const uint32_t flen = BuildEcho(f, len);
    us_bufs *b = us_stack_bufs(s);
    const uint64_t before = host.cap.frames;
    for (auto _ : state) {
        g_now_ns += kTick;
        us_pbuf *p = us_pbuf_alloc(b, US_PBUF_RAW, flen, US_PBUF_POOL);
        if (p == nullptr) {
            state.SkipWithError("no POOL pbuf for a frame");
            break;
        }
        std::memcpy(p->payload, f, flen);
        us_ingress(s, p, g_now_ns);
        us_egress(s, g_now_ns, US_EGRESS_READYLIST);
    }
    const uint64_t iters = state.iterations();
    std::string err;
    if (host.cap.frames - before != iters || (iters && !IsEchoReply(host.cap, len)))
        err = "replies sent: " + std::to_string(host.cap.frames - before) + " for " +
              std::to_string(iters) + " requests";
    if (err.empty())
        err = host.Dirty();
    if (err.empty() && !host.AllFree())
        err = "leak: us_bufs_all_free() is false after the run";
    if (!err.empty())
        state.SkipWithError(err.c_str());
    state.SetItemsProcessed(static_cast<int64_t>(iters));
}

void BM_lwip_icmp_echo(benchmark::State &state)
{
    const auto len = static_cast<uint32_t>(state.range(0));
    LwipHost host;
    uint8_t *f = g_frame;
    if (!host.Feed(f, BuildArpRequest(f))) {
        state.SkipWithError("lwIP: no RAM pbuf for the ARP request");
        return;
    }
    const uint32_t flen = BuildEcho(f, len);
    const uint64_t before = host.cap.frames;
    for (auto _ : state) {
        g_now_ns += kTick;
        struct pbuf *p = pbuf_alloc(PBUF_RAW, static_cast<u16_t>(flen), PBUF_RAM);
        if (p == nullptr) {
            state.SkipWithError("lwIP: no RAM pbuf for a frame");
            break;
        }
        std::memcpy(p->payload, f, flen);
        if (g_netif.input(p, &g_netif) != ERR_OK)
            pbuf_free(p);
        sys_check_timeouts();
    }
    const uint64_t iters = state.iterations();
    if (host.cap.frames - before != iters || (iters && !IsEchoReply(host.cap, len)))
        state.SkipWithError(("lwIP replies sent: " + std::to_string(host.cap.frames - before) +
                             " for " + std::to_string(iters) + " requests")
                                .c_str());
    state.SetItemsProcessed(static_cast<int64_t>(iters));
}

// ---- two libustack instances back to back ----

// One stack of a pair. Its device is zero-copy: tx_acquire hands out the payload of a POOL pbuf
// of the *peer's* stack (its RX buffer, as if the NIC DMA'd straight into it), tx_commit queues
// that pbuf on the peer's RX queue, and rx (us_poll) pops this node's queue.
class PairNode {
  public:
    static constexpr uint32_t kQueue = 512;

    PairNode(uint32_t ip, const uint8_t *mac)
    {
        us_stack_config cfg;
        us_stack_config_default(&cfg);
        std::memcpy(cfg.mac, mac, 6);
        cfg.ipv4_addr = ip;
        cfg.tcp_sockets = 4;
        cfg.udp_sockets = 1;
        cfg.tcp_rx_buf = 65536;
        cfg.tcp_tx_buf = 65536;
        cfg.bufs.pbuf_pool_count = 256; // a full window of frames in flight, and the ACKs
        us_dev dev{};
        dev.ctx = this;
        dev.mtu = 1500;
        dev.rx = [](void *ctx) -> us_pbuf * { return static_cast<PairNode *>(ctx)->Pop(); };
        dev.tx_acquire = [](void *ctx, uint32_t len) -> uint8_t * {
            return static_cast<PairNode *>(ctx)->Acquire(len);
        };
        dev.tx_commit = [](void *ctx, uint8_t *buf, uint32_t len) {
            static_cast<PairNode *>(ctx)->Commit(buf, len);
        };
        size_t n = us_stack_mem_size(&cfg);
        mem_ = n ? std::aligned_alloc(64, US_ALIGN_UP(n, 64u)) : nullptr;
        s = mem_ ? us_stack_init(mem_, n, &cfg, &dev, nullptr) : nullptr;
    }
    ~PairNode()
    {
        // Frames still queued are ours (the peer allocated them from our bufs). pending_ is
        // always NULL here: every acquired buffer is committed at once.
        while (us_pbuf *p = Pop())
            us_pbuf_free(p);
        std::free(mem_);
    }
    PairNode(const PairNode &) = delete;
    PairNode &operator=(const PairNode &) = delete;

    us_stack *s = nullptr;
    PairNode *peer = nullptr;
    uint64_t refused = 0; // TX buffers refused: the peer's pool or queue was full

  private:
    uint8_t *Acquire(uint32_t len)
    {
        if (peer->n_ == kQueue) {
            refused++;
            return nullptr;
        }
        us_pbuf *p = us_pbuf_alloc(us_stack_bufs(peer->s), US_PBUF_RAW, len, US_PBUF_POOL);
        if (p == nullptr || p->next != nullptr) { // > one POOL block: never for an MTU frame
            if (p)
                us_pbuf_free(p);
            refused++;
            return nullptr;
        }
        pending_ = p;
        return static_cast<uint8_t *>(p->payload);
    }

    void Commit(uint8_t *, uint32_t len)
    {
        us_pbuf *p = pending_;
        pending_ = nullptr;
        if (len != p->tot_len)
            us_pbuf_realloc(p, len);
        PairNode *d = peer;
        d->q_[(d->head_ + d->n_) % kQueue] = p;
        d->n_++;
    }

    us_pbuf *Pop()
    {
        if (n_ == 0)
            return nullptr;
        us_pbuf *p = q_[head_];
        head_ = (head_ + 1) % kQueue;
        n_--;
        return p;
    }

    void *mem_ = nullptr;
    us_pbuf *pending_ = nullptr;
    us_pbuf *q_[kQueue];
    uint32_t head_ = 0, n_ = 0;
};

alignas(64) uint8_t g_src[65536]; // what the sending application writes

// Anything our stack dropped or a TX buffer the pair refused, as text.
std::string PairDirty(const PairNode &n, const char *who)
{
    const us_stack_stats *st = us_stack_get_stats(n.s);
    for (int i = 0; i < US_DROP_COUNT; i++)
        if (st->drop[i])
            return std::string(who) + " dropped frames: " +
                   us_drop_name(static_cast<us_drop_reason>(i));
    for (int i = 0; i < US_WIRE_ERR_COUNT; i++)
        if (st->drop_wire[i])
            return std::string(who) + " dropped malformed frames: " +
                   us_wire_err_str(static_cast<us_wire_err>(i));
    std::string e = BufErrors(us_stack_bufs(n.s));
    return e.empty() ? e : std::string(who) + ": " + e;
}

void BM_us_tcp_bulk_transfer(benchmark::State &state)
{
    PairNode a(kPeerIp, kPeerMac); // sender: connects
    PairNode b(kHostIp, kHostMac); // receiver: listens
    if (a.s == nullptr || b.s == nullptr) {
        state.SkipWithError("us_stack_init failed");
        return;
    }
    a.peer = &b;
    b.peer = &a;
    for (size_t i = 0; i < sizeof g_src; i++)
        g_src[i] = static_cast<uint8_t>(i * 13 + 7);
    constexpr uint64_t kRound = 10000; // virtual ns per round
    us_sock lh = us_tcp_open(b.s);
    us_sock ha = us_tcp_open(a.s);
    if (lh < 0 || ha < 0 || us_tcp_listen(b.s, lh, kTcpPort, 4) != US_OK ||
        us_tcp_connect(a.s, ha, kHostIp, kTcpPort, kPeerPort, g_now_ns) != US_OK) {
        state.SkipWithError("listen/connect failed");
        return;
    }
    us_sock hb = -1;
    for (int i = 0; i < 20 && hb < 0; i++) { // ARP, SYN, SYN-ACK, ACK
        g_now_ns += kRound;
        us_poll(a.s, g_now_ns);
        us_poll(b.s, g_now_ns);
        hb = us_tcp_accept(b.s, lh);
    }
    if (hb < 0 || us_tcp_get_state(a.s, ha) != US_TCP_ESTABLISHED) {
        state.SkipWithError("no connection");
        return;
    }
    uint64_t sent = 0, got = 0;
    for (auto _ : state) {
        g_now_ns += kRound;
        us_poll(a.s, g_now_ns); // ACKs in (send space freed), segments out
        // The sender refills its send ring: it writes as fast as the ring takes it.
        uint32_t space = us_tcp_send_space(a.s, ha);
        if (space) {
            int32_t k = us_tcp_send(a.s, ha, g_src, std::min<uint32_t>(space, sizeof g_src));
            sent += k > 0 ? static_cast<uint32_t>(k) : 0u;
        }
        us_egress(a.s, g_now_ns, US_EGRESS_READYLIST); // segments out, into b's RX buffers
        us_poll(b.s, g_now_ns); // segments in, ACKs out
        int32_t n;
        while ((n = us_tcp_recv(b.s, hb, g_app, sizeof g_app)) > 0)
            got += static_cast<uint32_t>(n);
        us_egress(b.s, g_now_ns, US_EGRESS_READYLIST); // the window update the read made due
    }
    std::string err;
    const us_stack_stats *sa = us_stack_get_stats(a.s);
    if (state.iterations() > 0 && got == 0)
        err = "nothing delivered";
    if (err.empty() && got > sent)
        err = "delivered more than was sent";
    if (err.empty())
        err = PairDirty(a, "sender");
    if (err.empty())
        err = PairDirty(b, "receiver");
    state.counters["Gbps"] = benchmark::Counter(static_cast<double>(got) * 8 / 1e9,
                                                benchmark::Counter::kIsRate);
    state.counters["retransmits"] = static_cast<double>(sa->tcp_retransmits);
    state.counters["tx_refused"] = static_cast<double>(a.refused + b.refused);
    state.counters["segs_per_round"] =
        state.iterations() ? static_cast<double>(sa->frames_tx) / state.iterations() : 0.0;
    state.SetBytesProcessed(static_cast<int64_t>(got));
    // Teardown: abort (RST), release, let the frames settle; then everything must be back.
    us_tcp_abort(a.s, ha, g_now_ns);
    us_tcp_release(a.s, ha);
    us_tcp_release(b.s, hb);
    us_tcp_release(b.s, lh);
    for (int i = 0; i < 10; i++) {
        g_now_ns += kRound;
        us_poll(a.s, g_now_ns);
        us_poll(b.s, g_now_ns);
    }
    if (err.empty() &&
        (!us_bufs_all_free(us_stack_bufs(a.s)) || !us_bufs_all_free(us_stack_bufs(b.s))))
        err = "leak: us_bufs_all_free() is false after teardown";
    if (!err.empty())
        state.SkipWithError(err.c_str());
}

} // namespace

BENCHMARK(BM_us_tcp_rx_segment)->Arg(1460);
BENCHMARK(BM_lwip_tcp_rx_segment)->Arg(1460);
BENCHMARK(BM_us_udp_rx)->Arg(64);
BENCHMARK(BM_lwip_udp_rx)->Arg(64);
BENCHMARK(BM_us_icmp_echo)->Arg(64);
BENCHMARK(BM_lwip_icmp_echo)->Arg(64);
BENCHMARK(BM_us_tcp_bulk_transfer)->UseRealTime();

int main(int argc, char **argv)
{
    // Once: lwIP's mem, memp, pbuf, netif and timeouts (on the virtual clock, now 0). No tcpip
    // thread: the raw API is called from this one thread, which its core-lock check accepts.
    lwip_init();
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv))
        return 1;
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
