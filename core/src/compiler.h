/* Internal: the function attributes libustack's hot paths use (GCC and Clang; none elsewhere).
 * Rare paths are kept out of the hot functions, so these need fewer saved registers and less
 * stack; error paths are also marked cold; the receive path's steps (net/rx.h) are inlined into
 * one function whatever the compiler's size heuristics say. */
#ifndef USTACK_COMPILER_H
#define USTACK_COMPILER_H

#if defined(__GNUC__)
#define US__NOINLINE __attribute__((noinline))
#define US__COLD __attribute__((noinline, cold))
#define US__ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define US__NOINLINE
#define US__COLD
#define US__ALWAYS_INLINE inline
#endif

#endif /* USTACK_COMPILER_H */
