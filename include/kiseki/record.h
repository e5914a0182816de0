/*
 * kiseki/record.h : the record model shared by every part of Kiseki.
 *
 * Exports the C types for spans, log records and resources, following the
 * OpenTelemetry data model (typed attribute values including arrays and
 * maps, events, links, status, kind, resource), plus small helpers: hex
 * conversion of IDs, UTF-8 validation and repair, value equality.
 *
 * These are plain views: every pointer inside a record is borrowed. A
 * decoded record points into the decoder's arena and payload buffer and is
 * valid until the decoder is reset (kiseki/wire.h says exactly when). A
 * record built by a caller for encoding points into the caller's memory.
 * Nothing here allocates except the *_arena helpers, which allocate from
 * the arena they are given.
 *
 * Strings are (ptr, len) pairs, not NUL-terminated in general. After a
 * successful decode every string is valid UTF-8 (invalid bytes were
 * replaced by U+FFFD); bytes values (KSK_VAL_BYTES) are opaque.
 */
#ifndef KSK_RECORD_H
#define KSK_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "kiseki/arena.h"

#define KSK_TRACE_ID_LEN 16
#define KSK_SPAN_ID_LEN 8

typedef struct ksk_str {
	const char *ptr; /* borrowed; may be NULL when len == 0 */
	uint32_t len;    /* bytes */
} ksk_str;

/* KSK_STR("lit") : a ksk_str view of a string literal. */
#define KSK_STR(lit) ((ksk_str){(lit), (uint32_t)(sizeof(lit) - 1)})

/*! ksk_str_c() : a view of a NUL-terminated C string (NULL -> empty). */
ksk_str ksk_str_c(const char *s);

/*! ksk_str_eq() : byte equality. */
bool ksk_str_eq(ksk_str a, ksk_str b);

/* Attribute value types: OTel AnyValue. Numbers are the wire tags too. */
typedef enum ksk_val_type {
	KSK_VAL_EMPTY = 0,  /* no value (OTel "empty") */
	KSK_VAL_STR = 1,
	KSK_VAL_BOOL = 2,
	KSK_VAL_INT = 3,    /* int64 */
	KSK_VAL_DOUBLE = 4,
	KSK_VAL_BYTES = 5,
	KSK_VAL_ARRAY = 6,  /* any values, possibly mixed */
	KSK_VAL_KVLIST = 7, /* string keys -> any values */
} ksk_val_type;

typedef struct ksk_value ksk_value;
typedef struct ksk_attr ksk_attr;

struct ksk_value {
	ksk_val_type type;
	union {
		ksk_str s;     /* KSK_VAL_STR, KSK_VAL_BYTES */
		bool b;        /* KSK_VAL_BOOL */
		int64_t i;     /* KSK_VAL_INT */
		double d;      /* KSK_VAL_DOUBLE */
		struct {
			ksk_value *items; /* borrowed */
			uint32_t n;
		} arr;         /* KSK_VAL_ARRAY */
		struct {
			ksk_attr *items;  /* borrowed */
			uint32_t n;
		} kv;          /* KSK_VAL_KVLIST */
	} u;
};

struct ksk_attr {
	ksk_str key;     /* non-empty */
	ksk_value value;
};

/* Convenience constructors for building records to encode. */
static inline ksk_value ksk_val_str(ksk_str s)
{
	ksk_value v;
	v.type = KSK_VAL_STR;
	v.u.s = s;
	return v;
}
static inline ksk_value ksk_val_int(int64_t i)
{
	ksk_value v;
	v.type = KSK_VAL_INT;
	v.u.i = i;
	return v;
}
static inline ksk_value ksk_val_double(double d)
{
	ksk_value v;
	v.type = KSK_VAL_DOUBLE;
	v.u.d = d;
	return v;
}
static inline ksk_value ksk_val_bool(bool b)
{
	ksk_value v;
	v.type = KSK_VAL_BOOL;
	v.u.b = b;
	return v;
}

/* OTLP span kinds (same numbers as OTLP). */
typedef enum ksk_span_kind {
	KSK_KIND_UNSPECIFIED = 0,
	KSK_KIND_INTERNAL = 1,
	KSK_KIND_SERVER = 2,
	KSK_KIND_CLIENT = 3,
	KSK_KIND_PRODUCER = 4,
	KSK_KIND_CONSUMER = 5,
} ksk_span_kind;

/* OTLP status codes. */
typedef enum ksk_status_code {
	KSK_STATUS_UNSET = 0,
	KSK_STATUS_OK = 1,
	KSK_STATUS_ERROR = 2,
} ksk_status_code;

/* A resource: the attributes of the process that produced the records
 * (service.name, host.name, ...). In a batch, records refer to resources by
 * index, so a resource is written once per batch. */
typedef struct ksk_resource {
	ksk_attr *attrs;   /* borrowed */
	uint32_t n_attrs;
	uint32_t dropped_attrs;
	ksk_str service;   /* decoded: the service.name string value, or empty */
	ksk_str host;      /* decoded: the host.name string value, or empty */
} ksk_resource;

typedef struct ksk_event {
	uint64_t time_ns;
	ksk_str name;
	ksk_attr *attrs;   /* borrowed */
	uint32_t n_attrs;
	uint32_t dropped_attrs;
} ksk_event;

typedef struct ksk_link {
	uint8_t trace_id[KSK_TRACE_ID_LEN];
	uint8_t span_id[KSK_SPAN_ID_LEN];
	ksk_str trace_state;
	uint32_t flags;
	ksk_attr *attrs;   /* borrowed */
	uint32_t n_attrs;
	uint32_t dropped_attrs;
} ksk_link;

typedef struct ksk_span {
	uint8_t trace_id[KSK_TRACE_ID_LEN]; /* not all zero */
	uint8_t span_id[KSK_SPAN_ID_LEN];   /* not all zero */
	uint8_t parent_id[KSK_SPAN_ID_LEN]; /* all zero = root */
	bool has_parent;                    /* parent_id is set and not zero */
	ksk_str name;
	ksk_span_kind kind;
	uint64_t start_ns;                  /* ns since the Unix epoch */
	uint64_t end_ns;                    /* >= start_ns */
	ksk_status_code status;
	ksk_str status_msg;
	ksk_str trace_state;                /* W3C tracestate, may be empty */
	uint32_t flags;                     /* OTLP span flags (W3C trace flags in the low byte) */
	ksk_str scope_name;                 /* instrumentation scope */
	ksk_str scope_version;
	ksk_attr *attrs;                    /* borrowed */
	uint32_t n_attrs;
	ksk_event *events;                  /* borrowed */
	uint32_t n_events;
	ksk_link *links;                    /* borrowed */
	uint32_t n_links;
	uint32_t dropped_attrs;
	uint32_t dropped_events;
	uint32_t dropped_links;
	uint32_t resource;                  /* index into the batch's resources */
} ksk_span;

typedef struct ksk_log {
	uint64_t time_ns;                   /* event time; 0 = unknown */
	uint64_t observed_ns;               /* when collected; never 0 after decode */
	uint8_t severity;                   /* 0..24, OTel SeverityNumber */
	ksk_str severity_text;              /* as the source wrote it */
	ksk_value body;                     /* usually a string */
	ksk_attr *attrs;                    /* borrowed */
	uint32_t n_attrs;
	uint32_t dropped_attrs;
	uint8_t trace_id[KSK_TRACE_ID_LEN]; /* all zero = no trace */
	uint8_t span_id[KSK_SPAN_ID_LEN];   /* all zero = no span */
	bool has_trace;
	bool has_span;
	uint32_t flags;                     /* W3C trace flags */
	ksk_str event_name;
	ksk_str scope_name;
	ksk_str scope_version;
	uint32_t resource;                  /* index into the batch's resources */
	/* Hints: the body (a string) holds the lowercase hex digits of
	 * trace_id / span_id ending at this byte offset (0 = no hint). Set by
	 * the agent's parser where it found the IDs, and by decoders where
	 * they put such digits back. Writers (the wire encoder, the segment
	 * writer) check a hint against the ID and then leave those digits
	 * out, to be put back on reading (docs/WIRE.md 2.5, keys 15 and 16;
	 * docs/STORAGE.md, log records). A wrong hint only means the body
	 * is kept whole. */
	uint32_t trace_hex_end;
	uint32_t span_hex_end;
} ksk_log;

/* ---- IDs ---------------------------------------------------------------- */

/*! ksk_or_bytes() : the OR of p[0, n) folded into 64 bits, 8 bytes at a
 *  time (the last n % 8 bytes into the low byte). 0 when all bytes are 0;
 *  its 0x80 bits say whether any byte is not ASCII. */
static inline uint64_t ksk_or_bytes(const void *p, size_t n)
{
	const uint8_t *b = p;
	uint64_t acc = 0;
	size_t i = 0;
	for (; i + 8 <= n; i += 8) {
		uint64_t w;
		memcpy(&w, b + i, 8);
		acc |= w;
	}
	for (; i < n; i++)
		acc |= b[i];
	return acc;
}

/*! ksk_id_is_zero() : true when all `n` bytes are 0 (an invalid OTel ID).
 *  Inline: called several times for every record on the hot paths. */
static inline bool ksk_id_is_zero(const uint8_t *id, size_t n)
{
	return ksk_or_bytes(id, n) == 0;
}

/*! ksk_hex_encode() : writes 2*n lowercase hex digits and a NUL to `out`
 *  (which must hold 2*n+1 bytes). */
void ksk_hex_encode(const uint8_t *id, size_t n, char *out);

/*! ksk_hex_decode() : parses exactly 2*n hex digits (either case) from
 *  `hex` of length `hexlen` into `out`. A shorter input (e.g. a 64-bit
 *  Zipkin trace ID given for a 128-bit field) is left-padded with zeros
 *  when `pad` is true.
 *  @return : true on success; false on a bad digit or a bad length. */
bool ksk_hex_decode(const char *hex, size_t hexlen, uint8_t *out, size_t n,
                    bool pad);

/* ---- ID digits cut out of a log body ------------------------------------ */

/* Where a log's string body holds the hex digits of its IDs, which a
 * writer may leave out and a reader put back. Offsets are positions in the
 * whole body; the ranges never overlap. */
typedef struct ksk_id_cut {
	uint32_t n;      /* 0, 1 or 2 */
	uint32_t at[2];  /* where the digits start in the whole body */
	uint8_t len[2];  /* 32 (trace ID) or 16 (span ID) */
} ksk_id_cut;

/*! ksk_log_id_cuts() : the digits `l`'s string body can go without: where
 *  its hints point at exactly the lowercase hex of its non-zero trace_id /
 *  span_id (checked here). A span range overlapping the trace range is
 *  left in. Sorted by offset. */
void ksk_log_id_cuts(const ksk_log *l, ksk_id_cut *c);

/*! ksk_id_cut_add() : appends a cut of `len` (32 or 16) digits at `at`
 *  (readers, in the order they read them; at most 2). */
void ksk_id_cut_add(ksk_id_cut *c, uint32_t at, uint8_t len);

/*! ksk_id_cut_fit() : sorts `c` by offset and checks it against a body of
 *  `len` bytes without the digits: the first cut at most `len`, the second
 *  after the first's digits and at most `len` plus them.
 *  @return : 0 when it fits, else 1 + the index (after sorting) of the
 *            first cut that does not. */
uint32_t ksk_id_cut_fit(ksk_id_cut *c, uint32_t len);

/*! ksk_id_cut_split() : copies `body` (len bytes) without the digits of
 *  `c` (which fits it) to `out` (room for len bytes).
 *  @return : the bytes written. */
uint32_t ksk_id_cut_split(const char *body, uint32_t len, const ksk_id_cut *c, char *out);

/*! ksk_id_cut_join() : copies the digit-less `part` (len bytes, `c` fits
 *  it) to `out` with the digits put back: 32-digit cuts are the lowercase
 *  hex of `trace_id`, 16-digit cuts of `span_id`. `out` holds len plus the
 *  digits. Sets the hints of `hints` (when not NULL) to where the digits
 *  now end. @return : the bytes written. */
uint32_t ksk_id_cut_join(const char *part, uint32_t len, const ksk_id_cut *c,
                         const uint8_t trace_id[KSK_TRACE_ID_LEN],
                         const uint8_t span_id[KSK_SPAN_ID_LEN], char *out, ksk_log *hints);

/* ---- UTF-8 -------------------------------------------------------------- */

/*! ksk_utf8_valid() : true when `s` is well-formed UTF-8 (RFC 3629: no
 *  overlongs, no surrogates, nothing above U+10FFFF). NUL bytes are valid. */
bool ksk_utf8_valid(const char *s, size_t len);

/*! ksk_utf8_repair() : a copy of `s` in `a` with every maximal invalid
 *  subsequence replaced by U+FFFD (EF BF BD).
 *  @return : the repaired view, or {NULL,0} with the arena's error when the
 *            arena is out of room. */
ksk_str ksk_utf8_repair(ksk_arena *a, const char *s, size_t len);

/* ---- values ------------------------------------------------------------- */

/*! ksk_value_eq() : deep equality (doubles compared bitwise, so NaN == NaN
 *  when the bits match). */
bool ksk_value_eq(const ksk_value *a, const ksk_value *b);

/*! ksk_attrs_find() : the first attribute with key `key`, or NULL. */
const ksk_attr *ksk_attrs_find(const ksk_attr *attrs, uint32_t n, ksk_str key);

/*! ksk_severity_from_text() : maps a level word ("WARN", "error", "Info",
 *  "crit", "E", ...) to the lowest OTel SeverityNumber of its range
 *  (TRACE 1, DEBUG 5, INFO 9, WARN 13, ERROR 17, FATAL 21; "critical" 18).
 *  @return : 0 when the word is not a level. */
uint8_t ksk_severity_from_text(const char *s, size_t len);

/*! ksk_severity_name() : "TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"
 *  for a SeverityNumber's range, "UNSPECIFIED" for 0. Static strings. */
const char *ksk_severity_name(uint8_t sev);

/*! ksk_span_kind_name() : "unspecified", "internal", "server", "client",
 *  "producer", "consumer" (Jaeger's spelling); "unknown" outside 0..5. */
const char *ksk_span_kind_name(ksk_span_kind k);

#endif /* KSK_RECORD_H */
