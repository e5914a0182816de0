/*
 * buf.c : growable byte buffer with a cap.
 *
 * Data in: bytes to append. Data out: one contiguous owned array.
 * Invariants: len <= cap; cap <= max when max is set; growth doubles so
 * appends are amortised O(1); the first error is sticky in `err` until
 * ksk_buf_clear(), so an encoder can append many pieces and check once.
 */
#include "kiseki/buf.h"

#include <string.h>

void ksk_buf_init(ksk_buf *b, const ksk_alloc *alloc, size_t max)
{
	memset(b, 0, sizeof(*b));
	b->alloc = ksk_alloc_or_default(alloc);
	b->max = max;
}

void ksk_buf_fini(ksk_buf *b)
{
	if (b->data && b->alloc)
		ksk_free(b->alloc, b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

ksk_err ksk_buf_reserve(ksk_buf *b, size_t extra)
{
	if (b->err != KSK_OK)
		return b->err;
	if (extra <= b->cap - b->len)
		return KSK_OK;
	if (extra > SIZE_MAX / 2 - b->len ||
	    (b->max && b->len + extra > b->max)) {
		b->err = KSK_ELIMIT;
		return b->err;
	}
	size_t want = b->len + extra;
	size_t ncap = b->cap ? b->cap : 256;
	while (ncap < want)
		ncap *= 2;
	if (b->max && ncap > b->max)
		ncap = b->max;
	uint8_t *p = ksk_realloc(b->alloc, b->data, ncap);
	if (!p) {
		b->err = KSK_ENOMEM;
		return b->err;
	}
	b->data = p;
	b->cap = ncap;
	return KSK_OK;
}

ksk_err ksk_buf_append(ksk_buf *b, const void *p, size_t n)
{
	ksk_err rc = ksk_buf_reserve(b, n);
	if (rc != KSK_OK)
		return rc;
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	return KSK_OK;
}

void ksk_buf_clear(ksk_buf *b)
{
	b->len = 0;
	b->err = KSK_OK;
}
