// Buffer micro-benchmarks: libustack's pools and pbufs against Debian's lwIP 2.1.3, in one binary.
// Each operation is registered twice, as BM_us_<op>/<arg> and BM_lwip_<op>/<arg> with the same
// <op>/<arg>, so scripts/bench_table.py can pair them. Every figure is one iteration = one item.
//
// Matrix (arg = payload bytes unless said otherwise; layer RAW, i.e. no header room, unless said):
//   op                         args                  one iteration
//   pool_get_put               -                     get + put of one header-sized block
//                                                    (us: pools[US_POOL_PBUF]; lwIP: memp MEMP_PBUF)
//   pbuf_alloc_free_pool       64 512 1514 9000      alloc + free of a POOL pbuf (9000: a chain)
//   pbuf_alloc_free_ram        64 512 1514 9000      alloc + free of a RAM pbuf
//   pbuf_alloc_free_ref        64 512 1514 9000      alloc_reference (REF, header only) + free
//   pbuf_alloc_free_custom     64 512 1514 9000      alloced_custom over caller memory + free
//                                                    (runs the free callback)
//   pbuf_rx_frame              64 1514               buffer for one received frame, alloc + free:
//                                                    us POOL, lwIP RAM (see below)
//   pbuf_cat                   512                   alloc 2 POOL pbufs + cat + free the chain
//   pbuf_chain_dechain         512                   chain + dechain of two live pbufs (no alloc)
//   pbuf_copy_partial          1514 64               copy out of a 3-segment RAM chain
//                                                    (512+512+490): all 1514 B from offset 0, or
//                                                    64 B from offset 480 (straddles segments 1-2)
//   pbuf_add_remove_header     14                    add_header(14) + remove_header(14) on one
//                                                    RAM pbuf of 512 B allocated at layer LINK
//
// lwIP side, Debian's build (see /work/shared/REFERENCES.md): pools and the heap are on malloc
// (MEM_LIBC_MALLOC, MEMP_MEM_MALLOC), NO_SYS=0 so pbuf_free takes sys_arch_protect's mutex.
// lwip_init() is called once in main(); no tcpip thread is started, which is what the core-lock
// check expects of a single-threaded user. Debian's library allocates PBUF_POOL elements of 616 B
// (memp_pools[MEMP_PBUF_POOL]->size) but pbuf.c fills them up to PBUF_POOL_BUFSIZE = 1536 B: any
// POOL pbuf whose header room + data exceeds 592 B writes past its malloc block (valgrind:
// "Invalid write ... 0 bytes after a block of size 616"). So BM_lwip_pbuf_alloc_free_pool is
// registered at 64 and 512 only; 1514 and 9000 have no lwIP pair. For the same reason lwIP is fed
// received frames as PBUF_RAM (REFERENCES.md), so pbuf_rx_frame — the pair the acceptance target
// uses — compares our RX path (POOL) with the buffer lwIP really gets a frame in (RAM).
//
// Our side: each benchmark lays out its own us_bufs (defaults, larger counts) and fails with
// SkipWithError unless us_bufs_all_free() holds at the end and no pool, heap or pbuf error was
// counted; lwIP keeps no stats in Debian's build, so each lwIP benchmark probes its allocation once.
//
// Noise: on these VMs the same code swings by up to 2x between processes (address aliasing with
// the stack, neighbours); within a process it is steady. Compare medians over several process runs
// (scripts/bench_table.py a.json b.json ...) or instruction counts under callgrind.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstring>
#include <new>
#include <vector>

extern "C" {
#include "ustack/bufs.h"
#include "ustack/pbuf.h"
#include "ustack/pool.h"

#include "lwip/init.h"
#include "lwip/memp.h"
#include "lwip/pbuf.h"
}

namespace {

constexpr uint32_t kMaxPayload = 9000;
constexpr uint32_t kRoom = 128; // header room for the custom pbufs' caller memory

// Caller memory that REF and custom pbufs point into.
alignas(64) uint8_t g_payload[kMaxPayload + kRoom];
// Where both sides' copy_partial copy to: one buffer, so the destination's alignment and page
// offset (worth up to 50% on a 1514 B memcpy here) are the same for both.
alignas(64) uint8_t g_copy_dst[kMaxPayload];

// One us_bufs per benchmark. The struct and its memory area sit together in one heap block, the
// struct first, so every benchmark sees the same layout (with the struct on the stack, identical
// loops differed by up to 50% from one frame layout to another: address aliasing).
class UsBufs {
  public:
    UsBufs()
    {
        us_bufs_config cfg;
        us_bufs_config_default(&cfg);
        cfg.pbuf_pool_count = 64;
        cfg.pbuf_count = 64;
        cfg.heap_size = 256u * 1024u;
        size_t n = us_bufs_mem_size(&cfg);
        size_t head = US_ALIGN_UP(sizeof(us_bufs), 64u);
        mem_.resize(64 + head + n);
        auto at = reinterpret_cast<uint8_t *>(US_ALIGN_UP(reinterpret_cast<uintptr_t>(mem_.data()), 64u));
        b_ = new (at) us_bufs{};
        ok_ = n != 0 && us_bufs_init(b_, &cfg, at + head, n) == US_OK;
    }
    us_bufs *get() { return b_; }

    // Call before the loop: false (and the benchmark is skipped) if init failed.
    bool Start(benchmark::State &state)
    {
        if (!ok_)
            state.SkipWithError("us_bufs_init failed");
        return ok_;
    }

    // Call after the loop: every pool and the heap must be back to zero in use, and no operation
    // may have failed (a failed alloc would time nothing).
    void Finish(benchmark::State &state)
    {
        uint32_t errs = b_->heap.stats.err + b_->pbuf_stats.einval + b_->pbuf_stats.ebuf +
                        b_->pbuf_stats.erange + b_->pbuf_stats.illegal;
        for (const us_pool &p : b_->pools)
            errs += p.stats.err + p.stats.illegal;
        if (!us_bufs_all_free(b_))
            state.SkipWithError("leak: us_bufs_all_free() is false after the run");
        else if (errs != 0)
            state.SkipWithError("an operation failed during the run (see us_bufs stats)");
        state.SetItemsProcessed(state.iterations());
    }

  private:
    std::vector<uint8_t> mem_;
    us_bufs *b_ = nullptr;
    bool ok_ = false;
};

void LwipFinish(benchmark::State &state) { state.SetItemsProcessed(state.iterations()); }

// lwIP keeps no statistics in Debian's build (LWIP_STATS 0), so a benchmark checks once before
// its loop that the allocation it times succeeds (and frees the probe): false = skipped.
bool LwipProbe(benchmark::State &state, struct pbuf *p)
{
    if (p == nullptr) {
        state.SkipWithError("lwIP allocation failed");
        return false;
    }
    pbuf_free(p);
    return true;
}

unsigned g_custom_frees; // counts free callbacks, so they have an effect

void UsCustomFree(us_pbuf *) { ++g_custom_frees; }
void LwipCustomFree(struct pbuf *) { ++g_custom_frees; }

// ---- pool get + put ----

void BM_us_pool_get_put(benchmark::State &state)
{
    UsBufs ub;
    if (!ub.Start(state))
        return;
    us_pool *pool = &ub.get()->pools[US_POOL_PBUF];
    for (auto _ : state) {
        void *p = us_pool_get(pool);
        benchmark::DoNotOptimize(p);
        us_pool_put(pool, p);
    }
    ub.Finish(state);
}

void BM_lwip_pool_get_put(benchmark::State &state)
{
    void *probe = memp_malloc(MEMP_PBUF);
    if (probe == nullptr) {
        state.SkipWithError("memp_malloc failed");
        return;
    }
    memp_free(MEMP_PBUF, probe);
    for (auto _ : state) {
        void *p = memp_malloc(MEMP_PBUF);
        benchmark::DoNotOptimize(p);
        memp_free(MEMP_PBUF, p);
    }
    LwipFinish(state);
}

// ---- pbuf alloc + free, by type ----

void UsAllocFree(benchmark::State &state, us_pbuf_type type)
{
    UsBufs ub;
    if (!ub.Start(state))
        return;
    us_bufs *b = ub.get();
    const auto len = static_cast<uint32_t>(state.range(0));
    for (auto _ : state) {
        us_pbuf *p = us_pbuf_alloc(b, US_PBUF_RAW, len, type);
        benchmark::DoNotOptimize(p);
        us_pbuf_free(p);
    }
    ub.Finish(state);
}

void LwipAllocFree(benchmark::State &state, pbuf_type type)
{
    const auto len = static_cast<u16_t>(state.range(0));
    if (!LwipProbe(state, pbuf_alloc(PBUF_RAW, len, type)))
        return;
    for (auto _ : state) {
        struct pbuf *p = pbuf_alloc(PBUF_RAW, len, type);
        benchmark::DoNotOptimize(p);
        pbuf_free(p);
    }
    LwipFinish(state);
}

void BM_us_pbuf_alloc_free_pool(benchmark::State &state) { UsAllocFree(state, US_PBUF_POOL); }
void BM_lwip_pbuf_alloc_free_pool(benchmark::State &state) { LwipAllocFree(state, PBUF_POOL); }
void BM_us_pbuf_alloc_free_ram(benchmark::State &state) { UsAllocFree(state, US_PBUF_RAM); }
void BM_lwip_pbuf_alloc_free_ram(benchmark::State &state) { LwipAllocFree(state, PBUF_RAM); }

// The frame a driver hands up: our RX pbufs are POOL, lwIP is fed frames as RAM (header comment).
void BM_us_pbuf_rx_frame(benchmark::State &state) { UsAllocFree(state, US_PBUF_POOL); }
void BM_lwip_pbuf_rx_frame(benchmark::State &state) { LwipAllocFree(state, PBUF_RAM); }

void BM_us_pbuf_alloc_free_ref(benchmark::State &state)
{
    UsBufs ub;
    if (!ub.Start(state))
        return;
    us_bufs *b = ub.get();
    const auto len = static_cast<uint32_t>(state.range(0));
    for (auto _ : state) {
        us_pbuf *p = us_pbuf_alloc_reference(b, g_payload, len, US_PBUF_REF);
        benchmark::DoNotOptimize(p);
        us_pbuf_free(p);
    }
    ub.Finish(state);
}

void BM_lwip_pbuf_alloc_free_ref(benchmark::State &state)
{
    const auto len = static_cast<u16_t>(state.range(0));
    if (!LwipProbe(state, pbuf_alloc_reference(g_payload, len, PBUF_REF)))
        return;
    for (auto _ : state) {
        struct pbuf *p = pbuf_alloc_reference(g_payload, len, PBUF_REF);
        benchmark::DoNotOptimize(p);
        pbuf_free(p);
    }
    LwipFinish(state);
}

void BM_us_pbuf_alloc_free_custom(benchmark::State &state)
{
    UsBufs ub;
    if (!ub.Start(state))
        return;
    us_bufs *b = ub.get();
    const auto len = static_cast<uint32_t>(state.range(0));
    us_pbuf_custom c{};
    c.free_fn = UsCustomFree;
    for (auto _ : state) {
        us_pbuf *p = us_pbuf_alloced_custom(b, US_PBUF_RAW, len, &c, g_payload, sizeof g_payload);
        benchmark::DoNotOptimize(p);
        us_pbuf_free(p);
    }
    benchmark::DoNotOptimize(g_custom_frees);
    ub.Finish(state);
}

void BM_lwip_pbuf_alloc_free_custom(benchmark::State &state)
{
    const auto len = static_cast<u16_t>(state.range(0));
    struct pbuf_custom c {};
    c.custom_free_function = LwipCustomFree;
    if (!LwipProbe(state, pbuf_alloced_custom(PBUF_RAW, len, PBUF_REF, &c, g_payload,
                                              static_cast<u16_t>(sizeof g_payload))))
        return;
    for (auto _ : state) {
        struct pbuf *p = pbuf_alloced_custom(PBUF_RAW, len, PBUF_REF, &c, g_payload,
                                             static_cast<u16_t>(sizeof g_payload));
        benchmark::DoNotOptimize(p);
        pbuf_free(p);
    }
    benchmark::DoNotOptimize(g_custom_frees);
    LwipFinish(state);
}

// ---- chains ----

void BM_us_pbuf_cat(benchmark::State &state)
{
    UsBufs ub;
    if (!ub.Start(state))
        return;
    us_bufs *b = ub.get();
    const auto len = static_cast<uint32_t>(state.range(0));
    for (auto _ : state) {
        us_pbuf *h = us_pbuf_alloc(b, US_PBUF_RAW, len, US_PBUF_POOL);
        us_pbuf *t = us_pbuf_alloc(b, US_PBUF_RAW, len, US_PBUF_POOL);
        us_status st = us_pbuf_cat(h, t);
        benchmark::DoNotOptimize(st);
        us_pbuf_free(h); // frees both
    }
    ub.Finish(state);
}

void BM_lwip_pbuf_cat(benchmark::State &state)
{
    const auto len = static_cast<u16_t>(state.range(0));
    if (!LwipProbe(state, pbuf_alloc(PBUF_RAW, len, PBUF_POOL)))
        return;
    for (auto _ : state) {
        struct pbuf *h = pbuf_alloc(PBUF_RAW, len, PBUF_POOL);
        struct pbuf *t = pbuf_alloc(PBUF_RAW, len, PBUF_POOL);
        pbuf_cat(h, t);
        benchmark::DoNotOptimize(h);
        pbuf_free(h); // frees both
    }
    LwipFinish(state);
}

void BM_us_pbuf_chain_dechain(benchmark::State &state)
{
    UsBufs ub;
    if (!ub.Start(state))
        return;
    us_bufs *b = ub.get();
    const auto len = static_cast<uint32_t>(state.range(0));
    us_pbuf *h = us_pbuf_alloc(b, US_PBUF_RAW, len, US_PBUF_POOL);
    us_pbuf *t = us_pbuf_alloc(b, US_PBUF_RAW, len, US_PBUF_POOL);
    if (h == nullptr || t == nullptr) {
        state.SkipWithError("us_pbuf_alloc failed");
        return;
    }
    for (auto _ : state) {
        us_status st = us_pbuf_chain(h, t); // t->ref 2
        benchmark::DoNotOptimize(st);
        us_pbuf *rest = us_pbuf_dechain(h); // t->ref 1 again, t returned
        benchmark::DoNotOptimize(rest);
    }
    us_pbuf_free(h);
    us_pbuf_free(t);
    ub.Finish(state);
}

void BM_lwip_pbuf_chain_dechain(benchmark::State &state)
{
    const auto len = static_cast<u16_t>(state.range(0));
    struct pbuf *h = pbuf_alloc(PBUF_RAW, len, PBUF_POOL);
    struct pbuf *t = pbuf_alloc(PBUF_RAW, len, PBUF_POOL);
    if (h == nullptr || t == nullptr) {
        state.SkipWithError("pbuf_alloc failed");
        return;
    }
    for (auto _ : state) {
        pbuf_chain(h, t);
        benchmark::ClobberMemory();
        struct pbuf *rest = pbuf_dechain(h);
        benchmark::DoNotOptimize(rest);
    }
    pbuf_free(h);
    pbuf_free(t);
    LwipFinish(state);
}

// ---- copy out of a chain ----

constexpr uint32_t kSeg[3] = {512, 512, 490}; // 1514 B in three segments

// Offset and length of a copy_partial run, by its argument.
void CopyShape(int64_t arg, uint32_t *len, uint32_t *off)
{
    if (arg == 1514) {
        *len = 1514;
        *off = 0;
    } else {
        *len = static_cast<uint32_t>(arg);
        *off = 480;
    }
}

void BM_us_pbuf_copy_partial(benchmark::State &state)
{
    UsBufs ub;
    if (!ub.Start(state))
        return;
    us_bufs *b = ub.get();
    us_pbuf *chain = nullptr;
    for (uint32_t s : kSeg) {
        us_pbuf *q = us_pbuf_alloc(b, US_PBUF_RAW, s, US_PBUF_RAM);
        if (q == nullptr) {
            state.SkipWithError("us_pbuf_alloc failed");
            return;
        }
        std::memset(q->payload, 0x5a, s);
        if (chain == nullptr)
            chain = q;
        else
            us_pbuf_cat(chain, q);
    }
    uint32_t len, off;
    CopyShape(state.range(0), &len, &off);
    for (auto _ : state) {
        uint32_t n = us_pbuf_copy_partial(chain, g_copy_dst, len, off);
        benchmark::DoNotOptimize(n);
        benchmark::ClobberMemory();
    }
    us_pbuf_free(chain);
    state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(len));
    ub.Finish(state);
}

void BM_lwip_pbuf_copy_partial(benchmark::State &state)
{
    struct pbuf *chain = nullptr;
    for (uint32_t s : kSeg) {
        struct pbuf *q = pbuf_alloc(PBUF_RAW, static_cast<u16_t>(s), PBUF_RAM);
        if (q == nullptr) {
            state.SkipWithError("pbuf_alloc failed");
            return;
        }
        std::memset(q->payload, 0x5a, s);
        if (chain == nullptr)
            chain = q;
        else
            pbuf_cat(chain, q);
    }
    uint32_t len, off;
    CopyShape(state.range(0), &len, &off);
    for (auto _ : state) {
        u16_t n = pbuf_copy_partial(chain, g_copy_dst, static_cast<u16_t>(len),
                                    static_cast<u16_t>(off));
        benchmark::DoNotOptimize(n);
        benchmark::ClobberMemory();
    }
    pbuf_free(chain);
    state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(len));
    LwipFinish(state);
}

// ---- header room ----

void BM_us_pbuf_add_remove_header(benchmark::State &state)
{
    UsBufs ub;
    if (!ub.Start(state))
        return;
    us_pbuf *p = us_pbuf_alloc(ub.get(), US_PBUF_LINK, 512, US_PBUF_RAM);
    if (p == nullptr) {
        state.SkipWithError("us_pbuf_alloc failed");
        return;
    }
    const auto hl = static_cast<uint32_t>(state.range(0));
    for (auto _ : state) {
        us_status a = us_pbuf_add_header(p, hl);
        benchmark::DoNotOptimize(a);
        us_status r = us_pbuf_remove_header(p, hl);
        benchmark::DoNotOptimize(r);
    }
    us_pbuf_free(p);
    ub.Finish(state);
}

void BM_lwip_pbuf_add_remove_header(benchmark::State &state)
{
    struct pbuf *p = pbuf_alloc(PBUF_LINK, 512, PBUF_RAM);
    if (p == nullptr) {
        state.SkipWithError("pbuf_alloc failed");
        return;
    }
    const auto hl = static_cast<size_t>(state.range(0));
    for (auto _ : state) {
        u8_t a = pbuf_add_header(p, hl);
        benchmark::DoNotOptimize(a);
        u8_t r = pbuf_remove_header(p, hl);
        benchmark::DoNotOptimize(r);
    }
    pbuf_free(p);
    LwipFinish(state);
}

void Sizes(benchmark::internal::Benchmark *b)
{
    for (int64_t n : {64, 512, 1514, 9000})
        b->Arg(n);
}

} // namespace

BENCHMARK(BM_us_pool_get_put);
BENCHMARK(BM_lwip_pool_get_put);
BENCHMARK(BM_us_pbuf_alloc_free_pool)->Apply(Sizes);
// Only sizes whose header room + data fit Debian's 616 B POOL element (see the header comment).
BENCHMARK(BM_lwip_pbuf_alloc_free_pool)->Arg(64)->Arg(512);
BENCHMARK(BM_us_pbuf_alloc_free_ram)->Apply(Sizes);
BENCHMARK(BM_lwip_pbuf_alloc_free_ram)->Apply(Sizes);
BENCHMARK(BM_us_pbuf_alloc_free_ref)->Apply(Sizes);
BENCHMARK(BM_lwip_pbuf_alloc_free_ref)->Apply(Sizes);
BENCHMARK(BM_us_pbuf_alloc_free_custom)->Apply(Sizes);
BENCHMARK(BM_lwip_pbuf_alloc_free_custom)->Apply(Sizes);
BENCHMARK(BM_us_pbuf_rx_frame)->Arg(64)->Arg(1514);
BENCHMARK(BM_lwip_pbuf_rx_frame)->Arg(64)->Arg(1514);
BENCHMARK(BM_us_pbuf_cat)->Arg(512);
BENCHMARK(BM_lwip_pbuf_cat)->Arg(512);
BENCHMARK(BM_us_pbuf_chain_dechain)->Arg(512);
BENCHMARK(BM_lwip_pbuf_chain_dechain)->Arg(512);
BENCHMARK(BM_us_pbuf_copy_partial)->Arg(1514)->Arg(64);
BENCHMARK(BM_lwip_pbuf_copy_partial)->Arg(1514)->Arg(64);
BENCHMARK(BM_us_pbuf_add_remove_header)->Arg(14);
BENCHMARK(BM_lwip_pbuf_add_remove_header)->Arg(14);

int main(int argc, char **argv)
{
    // Once, before any lwIP benchmark: mem, memp, pbuf, netif and timeout init. No tcpip thread.
    lwip_init();
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv))
        return 1;
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
