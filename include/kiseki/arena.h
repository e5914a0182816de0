/*
 * kiseki/arena.h : a bump allocator for batch work.
 *
 * Exports: ksk_arena (opaque), create/destroy, alloc, strdup, reset.
 * One arena holds everything decoded from one frame (or built for one batch);
 * ksk_arena_reset() frees all of it at once, so the hot path never calls
 * free per field. The arena has a byte cap: a hostile frame cannot make it
 * grow without bound.
 *
 * Ownership: the arena owns its chunks. Pointers it returns are valid until
 * the next ksk_arena_reset() or ksk_arena_destroy().
 * Threading: one owner thread; no internal locking.
 */
#ifndef KSK_ARENA_H
#define KSK_ARENA_H

#include <stddef.h>

#include "kiseki/alloc.h"
#include "kiseki/err.h"

typedef struct ksk_arena ksk_arena;

/*! ksk_arena_create() : a new arena.
 *  @alloc     : allocator for chunks (NULL = libc); must outlive the arena.
 *  @chunk     : preferred chunk size in bytes (0 = 64 KiB).
 *  @max_bytes : cap on the total bytes of chunks held (0 = no cap).
 *  @return : KSK_OK and *out set, or KSK_ENOMEM. */
ksk_err ksk_arena_create(const ksk_alloc *alloc, size_t chunk, size_t max_bytes,
                         ksk_arena **out);

/*! ksk_arena_destroy() : frees every chunk. NULL is a no-op. */
void ksk_arena_destroy(ksk_arena *a);

/*! ksk_arena_alloc() : `size` bytes aligned to 16, uninitialised.
 *  @return : NULL when the cap would be passed (ksk_arena_error() says
 *            KSK_ELIMIT) or the allocator failed (KSK_ENOMEM). */
void *ksk_arena_alloc(ksk_arena *a, size_t size);

/*! ksk_arena_calloc() : n*size zeroed bytes, overflow-checked. */
void *ksk_arena_calloc(ksk_arena *a, size_t n, size_t size);

/*! ksk_arena_memdup() : a copy of `len` bytes plus a trailing NUL. */
char *ksk_arena_memdup(ksk_arena *a, const void *p, size_t len);

/*! ksk_arena_error() : why the last failed allocation failed. */
ksk_err ksk_arena_error(const ksk_arena *a);

/*! ksk_arena_reset() : forgets every allocation; keeps the first chunk for
 *  reuse and frees the rest. */
void ksk_arena_reset(ksk_arena *a);

/*! ksk_arena_used() : bytes handed out since the last reset. */
size_t ksk_arena_used(const ksk_arena *a);

/*! ksk_arena_held() : bytes of chunks currently held (what the cap limits). */
size_t ksk_arena_held(const ksk_arena *a);

#endif /* KSK_ARENA_H */
