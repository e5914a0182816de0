/*
 * arena.c : chunked bump allocator with a byte cap.
 *
 * Data in: allocation sizes. Data out: 16-byte aligned pointers.
 * Layout: a singly linked list of chunks, newest first; each chunk is one
 * allocator call holding a header followed by its bytes. A request larger
 * than the preferred chunk size gets a chunk of its own.
 * Invariants: held <= max_bytes (when a cap is set); `used` counts bytes
 * handed out since the last reset; reset keeps only the oldest chunk (the
 * list tail) so a steady batch size reuses memory without allocator calls.
 */
#include "kiseki/arena.h"

#include <stdint.h>
#include <string.h>

#define KSK_ARENA_ALIGN 16u

typedef struct ksk_arena_chunk {
	struct ksk_arena_chunk *next; /* older chunk */
	size_t size;                  /* usable bytes after the header */
	size_t off;                   /* bytes used */
	_Alignas(16) unsigned char data[];
} ksk_arena_chunk;

struct ksk_arena {
	const ksk_alloc *alloc;  /* borrowed; outlives the arena */
	ksk_arena_chunk *head;   /* newest chunk, allocations come from it */
	size_t chunk;            /* preferred chunk size */
	size_t max_bytes;        /* 0 = unlimited */
	size_t held;             /* sum of chunk allocations */
	size_t used;             /* bytes handed out since reset */
	ksk_err last;            /* why the last failure failed */
};

ksk_err ksk_arena_create(const ksk_alloc *alloc, size_t chunk, size_t max_bytes,
                         ksk_arena **out)
{
	alloc = ksk_alloc_or_default(alloc);
	ksk_arena *a = ksk_calloc(alloc, 1, sizeof(*a));
	if (!a)
		return KSK_ENOMEM;
	a->alloc = alloc;
	a->chunk = chunk ? chunk : 64 * 1024;
	a->max_bytes = max_bytes;
	a->last = KSK_OK;
	*out = a;
	return KSK_OK;
}

static void ksk_arena_free_list(ksk_arena *a, ksk_arena_chunk *c)
{
	while (c) {
		ksk_arena_chunk *next = c->next;
		a->held -= sizeof(*c) + c->size;
		ksk_free(a->alloc, c);
		c = next;
	}
}

void ksk_arena_destroy(ksk_arena *a)
{
	if (!a)
		return;
	ksk_arena_free_list(a, a->head);
	ksk_free(a->alloc, a);
}

static size_t ksk_arena_round(size_t n)
{
	return (n + (KSK_ARENA_ALIGN - 1)) & ~(size_t)(KSK_ARENA_ALIGN - 1);
}

void *ksk_arena_alloc(ksk_arena *a, size_t size)
{
	if (size > SIZE_MAX / 2) {
		a->last = KSK_ELIMIT;
		return NULL;
	}
	size_t need = ksk_arena_round(size ? size : 1);
	ksk_arena_chunk *c = a->head;
	if (!c || c->size - c->off < need) {
		size_t csize = need > a->chunk ? need : a->chunk;
		size_t total = sizeof(ksk_arena_chunk) + csize;
		if (a->max_bytes && a->held + total > a->max_bytes) {
			/* try an exact-size chunk before giving up */
			csize = need;
			total = sizeof(ksk_arena_chunk) + csize;
			if (a->held + total > a->max_bytes) {
				a->last = KSK_ELIMIT;
				return NULL;
			}
		}
		c = ksk_malloc(a->alloc, total);
		if (!c) {
			a->last = KSK_ENOMEM;
			return NULL;
		}
		c->size = csize;
		c->off = 0;
		c->next = a->head;
		a->head = c;
		a->held += total;
	}
	void *p = c->data + c->off;
	c->off += need;
	a->used += need;
	return p;
}

void *ksk_arena_calloc(ksk_arena *a, size_t n, size_t size)
{
	if (size && n > SIZE_MAX / size) {
		a->last = KSK_ELIMIT;
		return NULL;
	}
	void *p = ksk_arena_alloc(a, n * size);
	if (p)
		memset(p, 0, n * size);
	return p;
}

char *ksk_arena_memdup(ksk_arena *a, const void *p, size_t len)
{
	if (len == SIZE_MAX) {
		a->last = KSK_ELIMIT;
		return NULL;
	}
	char *q = ksk_arena_alloc(a, len + 1);
	if (!q)
		return NULL;
	if (len)
		memcpy(q, p, len);
	q[len] = '\0';
	return q;
}

ksk_err ksk_arena_error(const ksk_arena *a)
{
	return a->last;
}

void ksk_arena_reset(ksk_arena *a)
{
	ksk_arena_chunk *c = a->head, *keep = NULL;
	/* the oldest chunk is the list tail */
	while (c && c->next) {
		ksk_arena_chunk *next = c->next;
		a->held -= sizeof(*c) + c->size;
		ksk_free(a->alloc, c);
		c = next;
	}
	keep = c;
	if (keep)
		keep->off = 0;
	a->head = keep;
	a->used = 0;
	a->last = KSK_OK;
}

size_t ksk_arena_used(const ksk_arena *a)
{
	return a->used;
}

size_t ksk_arena_held(const ksk_arena *a)
{
	return a->held;
}
