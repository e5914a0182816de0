/*
 * kiseki/buf.h : a growable byte buffer with a size cap.
 *
 * Exports: ksk_buf (embedded in the caller's struct: init/fini), append,
 * reserve, clear. Used by the record encoder and the frame builder.
 * Ownership: the buffer owns `data`; ksk_buf_fini() frees it. Pointers into
 * `data` are invalidated by any call that may grow the buffer.
 * Threading: one owner thread.
 */
#ifndef KSK_BUF_H
#define KSK_BUF_H

#include <stddef.h>
#include <stdint.h>

#include "kiseki/alloc.h"
#include "kiseki/err.h"

typedef struct ksk_buf {
	uint8_t *data;          /* owned; NULL until the first append */
	size_t len;             /* bytes in use */
	size_t cap;             /* bytes allocated */
	size_t max;             /* growth cap in bytes (0 = none) */
	const ksk_alloc *alloc; /* borrowed; outlives the buffer */
	ksk_err err;            /* sticky: first failure since clear */
} ksk_buf;

/*! ksk_buf_init() : an empty buffer. `alloc` NULL = libc; `max` 0 = no cap. */
void ksk_buf_init(ksk_buf *b, const ksk_alloc *alloc, size_t max);

/*! ksk_buf_fini() : frees the storage. Safe on a zeroed or finished buffer. */
void ksk_buf_fini(ksk_buf *b);

/*! ksk_buf_reserve() : makes room for `extra` more bytes.
 *  @return : KSK_OK, KSK_ELIMIT (past `max`) or KSK_ENOMEM; on error the
 *            error is also kept in b->err. */
ksk_err ksk_buf_reserve(ksk_buf *b, size_t extra);

/*! ksk_buf_append() : appends `n` bytes. Same errors as reserve. */
ksk_err ksk_buf_append(ksk_buf *b, const void *p, size_t n);

/*! ksk_buf_clear() : len = 0 and the sticky error cleared; keeps storage. */
void ksk_buf_clear(ksk_buf *b);

#endif /* KSK_BUF_H */
