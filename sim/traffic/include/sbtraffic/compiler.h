/* The function attributes the simulation's per-frame paths use (GCC and Clang; none elsewhere):
 * rare paths kept out of line so that the hot functions stay small, and a hot helper inlined with
 * its constant arguments whatever the compiler's size heuristics say. */
#ifndef SBTRAFFIC_COMPILER_H
#define SBTRAFFIC_COMPILER_H

#if defined(__GNUC__)
#define SB_NOINLINE __attribute__((noinline))
#define SB_ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define SB_NOINLINE
#define SB_ALWAYS_INLINE inline
#endif

#endif /* SBTRAFFIC_COMPILER_H */
