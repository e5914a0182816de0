/*
 * col_recutil.h : small record helpers for the storage engine (private to
 * the collector's store, WAL and in-memory index).
 *
 * Exports: deep copies of decoded records into an arena (a decoded batch
 * borrows from its decoder, so anything the store returns is copied), the
 * text form of an attribute value (the form col_attr_filter compares), a
 * 64-bit hash for byte strings and a growable array helper.
 * Hides nothing: plain functions without state.
 * Threading: every function is reentrant; arenas belong to the caller.
 */
#ifndef COL_RECUTIL_H
#define COL_RECUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "col_types.h"
#include "kiseki/alloc.h"
#include "kiseki/arena.h"
#include "kiseki/err.h"
#include "kiseki/record.h"

/*! col_ru_hash() : 64-bit hash of `n` bytes continuing from `seed`. */
uint64_t col_ru_hash(const void *p, size_t n, uint64_t seed);

/*! col_ru_mix() : a strong mix of one 64-bit value (finaliser). */
uint64_t col_ru_mix(uint64_t x);

/*! col_ru_str() : a copy of `s` in `a` (NUL-terminated).
 *  @return : false when the arena is out of room. */
bool col_ru_str(ksk_arena *a, ksk_str s, ksk_str *out);

/*! col_ru_value() : a deep copy of `src` into `dst`, allocated in `a`. */
bool col_ru_value(ksk_arena *a, const ksk_value *src, ksk_value *dst);

/*! col_ru_attrs() : a deep copy of `n` attributes (NULL when n == 0). */
bool col_ru_attrs(ksk_arena *a, const ksk_attr *src, uint32_t n,
                  ksk_attr **out);

/*! col_ru_span(), col_ru_log(), col_ru_resource() : deep copies; the
 *  record's `resource` field is copied as is (the caller remaps it). */
bool col_ru_span(ksk_arena *a, const ksk_span *src, ksk_span *dst);
bool col_ru_log(ksk_arena *a, const ksk_log *src, ksk_log *dst);
bool col_ru_resource(ksk_arena *a, const ksk_resource *src, ksk_resource *dst);

/*! col_ru_value_text() : the text form of `v` written to `buf` (cap bytes,
 *  always NUL-terminated): strings as is, ints in decimal, bools
 *  true/false, doubles %.17g, bytes as hex, arrays and maps as a compact
 *  JSON-like form. Truncated at cap-1.
 *  @return : the full length it would need (like snprintf), so a result
 *            >= cap means the text was truncated. */
size_t col_ru_value_text(const ksk_value *v, char *buf, size_t cap);

/*! col_ru_attr_hash() : hash of the text "KEY=VALUE" of one attribute,
 *  computed without building the text. Values with no scalar text form
 *  (arrays, maps, bytes, empty) return 0 (never indexed). */
uint64_t col_ru_attr_hash(ksk_str key, const ksk_value *v);

/*! col_ru_filter_hash() : the same hash for a search filter. */
uint64_t col_ru_filter_hash(const col_attr_filter *f);

/*! col_ru_attr_matches() : true when one attribute of `attrs` has the
 *  filter's key and its value's text equals the filter's value. */
bool col_ru_attr_matches(const ksk_attr *attrs, uint32_t n,
                         const col_attr_filter *f);

/*! col_ru_grow() : makes room in a heap array for `want` elements of
 *  `size` bytes (doubling). @return : false on ENOMEM (array unchanged). */
bool col_ru_grow(const ksk_alloc *al, void **arr, uint32_t *cap,
                 uint32_t want, size_t size);

#endif /* COL_RECUTIL_H */
