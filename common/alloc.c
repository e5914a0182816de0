/*
 * alloc.c : the default libc allocator table and the failure-injecting test
 * allocator.
 *
 * Data in: sizes and pointers. Data out: memory or NULL.
 * Invariants: the default table is a constant; ksk_failalloc keeps all its
 * state in the caller's struct (no globals), so several can coexist.
 */
#include "kiseki/alloc.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void *ksk_libc_malloc(void *ctx, size_t n)
{
	(void)ctx;
	return malloc(n);
}

static void *ksk_libc_realloc(void *ctx, void *p, size_t n)
{
	(void)ctx;
	return realloc(p, n);
}

static void ksk_libc_free(void *ctx, void *p)
{
	(void)ctx;
	free(p);
}

static const ksk_alloc ksk_alloc_libc = {
	ksk_libc_malloc, ksk_libc_realloc, ksk_libc_free, NULL};

const ksk_alloc *ksk_alloc_default(void)
{
	return &ksk_alloc_libc;
}

void *ksk_calloc(const ksk_alloc *a, size_t n, size_t size)
{
	if (size && n > SIZE_MAX / size)
		return NULL;
	void *p = ksk_malloc(a, n * size);
	if (p)
		memset(p, 0, n * size);
	return p;
}

bool ksk_grow(const ksk_alloc *a, void **arr, size_t *cap, size_t need, size_t elem,
              size_t first)
{
	if (need <= *cap)
		return true;
	size_t nc = *cap ? *cap : (first ? first : 1);
	while (nc < need) {
		if (nc > SIZE_MAX / 2)
			return false;
		nc *= 2;
	}
	if (elem && nc > SIZE_MAX / elem)
		return false;
	void *p = ksk_realloc(a, *arr, nc * elem);
	if (!p)
		return false;
	*arr = p;
	*cap = nc;
	return true;
}

static int ksk_failalloc_should_fail(ksk_failalloc *fa)
{
	fa->calls++;
	if (fa->fail_at == 0)
		return 0;
	if (fa->calls == fa->fail_at)
		return 1;
	return fa->fail_after && fa->calls > fa->fail_at;
}

static void *ksk_failalloc_malloc(void *ctx, size_t n)
{
	ksk_failalloc *fa = ctx;
	if (ksk_failalloc_should_fail(fa))
		return NULL;
	void *p = malloc(n);
	if (p)
		fa->live++;
	return p;
}

static void *ksk_failalloc_realloc(void *ctx, void *p, size_t n)
{
	ksk_failalloc *fa = ctx;
	if (ksk_failalloc_should_fail(fa))
		return NULL;
	void *q = realloc(p, n);
	if (q && !p)
		fa->live++;
	return q;
}

static void ksk_failalloc_free(void *ctx, void *p)
{
	ksk_failalloc *fa = ctx;
	if (p)
		fa->live--;
	free(p);
}

void ksk_failalloc_init(ksk_failalloc *fa, unsigned long fail_at, int fail_after)
{
	memset(fa, 0, sizeof(*fa));
	fa->table.malloc_fn = ksk_failalloc_malloc;
	fa->table.realloc_fn = ksk_failalloc_realloc;
	fa->table.free_fn = ksk_failalloc_free;
	fa->table.ctx = fa;
	fa->fail_at = fail_at;
	fa->fail_after = fail_after;
}
