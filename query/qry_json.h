/*
 * qry_json.h : a streaming JSON writer for kiseki-query's answers.
 *
 * Answers can be large (a 100K-span trace is tens of MB of JSON), so they
 * are written piece by piece into a ksk_buf that the HTTP layer drains as
 * it goes, instead of building a document tree (jansson) first. The writer
 * tracks commas and nesting; strings are escaped per RFC 8259 (input
 * bytes that are not valid UTF-8 are replaced with U+FFFD, so the output
 * is always valid JSON).
 *
 * Ownership: the writer borrows `out`; errors are sticky in out->err.
 * Threading: one owner.
 */
#ifndef QRY_JSON_H
#define QRY_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kiseki/buf.h"
#include "kiseki/record.h"

#define QRY_JSON_MAX_DEPTH 64

typedef struct qry_json {
	ksk_buf *out;        /* borrowed */
	uint32_t depth;
	uint64_t has_item;   /* bit d: the container at depth d has an item */
	bool after_key;      /* a key was written; the value follows */
} qry_json;

/*! qry_json_init() : a writer appending to `out`. */
void qry_json_init(qry_json *j, ksk_buf *out);

/*! Containers. Nesting deeper than QRY_JSON_MAX_DEPTH sets KSK_ELIMIT. */
void qry_json_obj(qry_json *j);
void qry_json_obj_end(qry_json *j);
void qry_json_arr(qry_json *j);
void qry_json_arr_end(qry_json *j);

/*! qry_json_key() : an object key (NUL-terminated, escaped). */
void qry_json_key(qry_json *j, const char *k);

/*! Values. qry_json_cstr(NULL) writes null. */
void qry_json_str(qry_json *j, const char *s, size_t n);
void qry_json_cstr(qry_json *j, const char *s);
void qry_json_kstr(qry_json *j, ksk_str s);
void qry_json_u64(qry_json *j, uint64_t v);
void qry_json_i64(qry_json *j, int64_t v);
void qry_json_dbl(qry_json *j, double v);   /* NaN/inf -> null */
void qry_json_bool(qry_json *j, bool v);
void qry_json_null(qry_json *j);
void qry_json_hex(qry_json *j, const uint8_t *id, size_t n); /* "0af7..." */
void qry_json_strf(qry_json *j, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/*! A key and its value in one call ("key": value). */
void qry_json_kv_u64(qry_json *j, const char *k, uint64_t v);
void qry_json_kv_i64(qry_json *j, const char *k, int64_t v);
void qry_json_kv_kstr(qry_json *j, const char *k, ksk_str v);
void qry_json_kv_cstr(qry_json *j, const char *k, const char *v);
void qry_json_kv_bool(qry_json *j, const char *k, bool v);
void qry_json_kv_hex(qry_json *j, const char *k, const uint8_t *id, size_t n);

/*! qry_json_raw() : a value already encoded as JSON (e.g. rendered by
 *  another writer on another thread), with the separator it needs. */
void qry_json_raw(qry_json *j, const void *s, size_t n);

/*! qry_json_escape() : appends `s` escaped, without quotes. */
void qry_json_escape(ksk_buf *out, const char *s, size_t n);

/*! qry_json_ok() : KSK_OK unless a write failed (out->err). */
ksk_err qry_json_ok(const qry_json *j);

#endif /* QRY_JSON_H */
