/*
 * kiseki/alloc.h : the allocator every Kiseki library allocates through.
 *
 * Exports: ksk_alloc (a table of malloc/realloc/free plus a context pointer)
 * and ksk_alloc_default(), the libc table. There is no process-wide hook:
 * every object that allocates takes a `const ksk_alloc *` at creation
 * (NULL = libc) and keeps it, so tests can route one object through a
 * counting or failure-injecting allocator without touching anything else.
 *
 * Policy: libraries return KSK_ENOMEM when an allocation fails; only a
 * binary's main.c may decide to abort.
 */
#ifndef KSK_ALLOC_H
#define KSK_ALLOC_H

#include <stdbool.h>
#include <stddef.h>

typedef struct ksk_alloc {
	void *(*malloc_fn)(void *ctx, size_t size);            /* NULL on failure */
	void *(*realloc_fn)(void *ctx, void *ptr, size_t size); /* NULL on failure, `ptr` kept */
	void (*free_fn)(void *ctx, void *ptr);                 /* accepts NULL */
	void *ctx;                                             /* passed to each call */
} ksk_alloc;

/*! ksk_alloc_default() : the libc allocator table. Static; thread-safe. */
const ksk_alloc *ksk_alloc_default(void);

/*! ksk_alloc_or_default() : `a` when non-NULL, else the libc table. */
static inline const ksk_alloc *ksk_alloc_or_default(const ksk_alloc *a)
{
	return a ? a : ksk_alloc_default();
}

static inline void *ksk_malloc(const ksk_alloc *a, size_t n)
{
	return a->malloc_fn(a->ctx, n ? n : 1);
}

static inline void *ksk_realloc(const ksk_alloc *a, void *p, size_t n)
{
	return a->realloc_fn(a->ctx, p, n ? n : 1);
}

static inline void ksk_free(const ksk_alloc *a, void *p)
{
	if (p)
		a->free_fn(a->ctx, p);
}

/*! ksk_calloc() : zeroed allocation of n*size bytes, with overflow check.
 *  @return : NULL on overflow or failure. */
void *ksk_calloc(const ksk_alloc *a, size_t n, size_t size);

/*! ksk_grow() : makes room for `need` elements of `elem` bytes in the
 *  array *arr of capacity *cap (elements), doubling from `first` (or from
 *  *cap); overflow-checked. On success *arr and *cap are updated (the old
 *  pointer is invalid); on failure both are unchanged.
 *  @return : true on success, false on overflow or allocation failure. */
bool ksk_grow(const ksk_alloc *a, void **arr, size_t *cap, size_t need, size_t elem,
              size_t first);

/* ksk_failalloc : a test allocator that forwards to libc and fails the
 * allocation whose ordinal (counting from 1) equals `fail_at`, and every
 * later one when `fail_after` is set. Counts live calls so tests can check
 * that everything allocated was freed. Single-threaded use only. */
typedef struct ksk_failalloc {
	ksk_alloc table;      /* pass &fa.table where a ksk_alloc is wanted */
	unsigned long calls;  /* allocations attempted so far */
	unsigned long fail_at; /* 0 = never fail */
	int fail_after;       /* non-zero: also fail every call after fail_at */
	long live;            /* successful allocations not yet freed */
} ksk_failalloc;

/*! ksk_failalloc_init() : fills `fa` (caller-owned) with counters at 0. */
void ksk_failalloc_init(ksk_failalloc *fa, unsigned long fail_at, int fail_after);

#endif /* KSK_ALLOC_H */
