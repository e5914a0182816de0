/*
 * col_seg_int.h : private to the sealed-segment module (col_segment.c,
 * col_seg_codec.c). Not a contract for anyone else.
 *
 * Exports: little-endian helpers, the record codec's stream numbering,
 * the string-intern entry the writer keeps, the encoder and decoder
 * contexts, the record encode/decode functions, and the hashes and
 * filters shared by writer and reader. The file layout they serve is
 * docs/STORAGE.md part 2.
 *
 * Hides nothing from col_segment.c; nobody else includes it. Its
 * non-static functions carry the internal prefix col__seg_ (they are
 * linked into the collector core); the rest are static inline or types.
 */
#ifndef COL_SEG_INT_H
#define COL_SEG_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "kiseki/arena.h"
#include "kiseki/buf.h"
#include "kiseki/bytes.h"
#include "kiseki/record.h"

/* ---- streams of a trace record ------------------------------------------ */

/* A trace record is columnar: each field kind goes to its own stream and
 * the streams are stored one after another (docs: "Trace record"). Logs,
 * resources and tables use the same codec with every stream mapped to one
 * buffer ("single-stream mode"); decoding reads in exactly the order the
 * encoder wrote, so both modes decode with the same functions. */
enum sg_stream {
	SG_S_ID = 0,   /* span IDs, 8 raw bytes each */
	SG_S_PARENT,   /* 0 root, i+1 parent at index i, n+1 external */
	SG_S_XID,      /* raw IDs: external parents, link trace/span IDs */
	SG_S_NAME,     /* span name string codes */
	SG_S_KIND,     /* kind | status << 3 | extra << 5 */
	SG_S_START,    /* start - parent's start (earlier parent) or trace base */
	SG_S_DUR,      /* end - start; zigzag duration difference for RPC pairs */
	SG_S_RES,      /* segment resource index */
	SG_S_MISC,     /* flags, scope codes, rare fields */
	SG_S_NATTR,    /* attribute counts */
	SG_S_KEY,      /* attribute key codes */
	SG_S_VT,       /* value type bytes */
	SG_S_VI,       /* integers (zigzag), container counts */
	SG_S_VD,       /* doubles: decimal exponent + mantissa, or raw */
	SG_S_VS,       /* value string codes */
	SG_S_RAW,      /* inline string bytes */
	SG_S_EV,       /* event counts, dropped counts */
	SG_S_EVT,      /* event time deltas (zigzag) */
	SG_S_EVNAME,   /* event name codes */
	SG_S_LOGREF,   /* (zigzag log block delta, index) per log of the trace */
	SG_NSTREAMS
};

/* ---- writer side -------------------------------------------------------- */

/* An interned string. Every string the writer copied points at `bytes` of
 * one of these, so the encoder finds its entry from the pointer. */
typedef struct sg_istr {
	uint64_t hash;      /* col__seg_hash of the bytes */
	uint32_t len;       /* bytes */
	uint32_t uses;      /* times it was referenced by added records */
	uint32_t id;        /* dictionary id at finish; UINT32_MAX = inline */
	uint32_t ord;       /* creation order, a stable small key */
	char bytes[];       /* len bytes + NUL */
} sg_istr;

static inline sg_istr *sg_istr_of(ksk_str s)
{
	return (sg_istr *)(void *)((char *)(uintptr_t)s.ptr - offsetof(sg_istr, bytes));
}

/* Recently used dictionary strings (move to front), so a string repeated
 * within a trace (http.route = span name, a user ID in a span and its
 * event) costs one small code. Keys do not enter it. */
#define SG_RECENT 16

/* Encoder: where each stream goes. */
typedef struct sg_enc {
	ksk_buf *st[SG_NSTREAMS]; /* borrowed buffers; may all be the same */
	uint32_t recent[SG_RECENT]; /* dictionary ids, most recent first */
	uint32_t n_recent;
	uint64_t tscale;          /* span times are stored divided by this
	                             (a power of 10 dividing every time of the
	                             trace: µs or ms clocks); 0 = 1 */
} sg_enc;

/* Forget the recent strings (at each trace, log and resource). */
static inline void sg_enc_reset(sg_enc *e)
{
	e->n_recent = 0;
}

void col__seg_put_u8(ksk_buf *b, uint8_t v);
void col__seg_put_varint(ksk_buf *b, uint64_t v);
void col__seg_put_raw(ksk_buf *b, const void *p, size_t n);
void col__seg_enc_str(sg_enc *e, int stream, ksk_str s);
void col__seg_enc_value(sg_enc *e, const ksk_value *v);
void col__seg_enc_attrs(sg_enc *e, const ksk_attr *a, uint32_t n);

/* Encodes one span of a trace. `parent` is the parent's index in the
 * trace, SG_PARENT_NONE or SG_PARENT_EXT; `ps` the parent span when it
 * comes earlier in the trace (times are then relative to it), else NULL. */
#define SG_PARENT_NONE UINT32_MAX
#define SG_PARENT_EXT (UINT32_MAX - 1)
void col__seg_enc_span(sg_enc *e, const ksk_span *s, uint64_t base, uint32_t parent,
                 uint32_t n_spans, uint32_t res, const ksk_span *ps);

/* Encodes one log record (single-stream). */
void col__seg_enc_log(sg_enc *e, const ksk_log *l, uint64_t base, uint64_t eff,
                uint32_t res, uint32_t trace_ord);

static inline uint64_t sg_zigzag(int64_t v)
{
	return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

static inline int64_t sg_unzigzag(uint64_t v)
{
	return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}

/* ---- reader side -------------------------------------------------------- */

typedef struct sg_rd {
	const uint8_t *p;   /* next byte */
	const uint8_t *end; /* one past the last */
} sg_rd;

/* The dictionary as the reader holds it. */
typedef struct sg_dict {
	const uint8_t *bytes; /* all strings back to back */
	const uint32_t *off;  /* n + 1 offsets into bytes */
	const ksk_str *strs;  /* instead, when set: string i (the writer's rows) */
	uint32_t n;           /* strings */
} sg_dict;

/* Decoder: stream readers plus where strings go. A failure is sticky in
 * `bad` (with `why`); every read after it returns zeros, and callers check
 * `bad` before trusting a value as an index or size. */
typedef struct sg_dec {
	sg_rd *rs[SG_NSTREAMS];  /* borrowed; may all be the same */
	const sg_dict *dict;     /* borrowed */
	ksk_arena *a;            /* where arrays (and copies) go */
	bool copy_dict;          /* copy dictionary strings into `a` */
	bool copy_inline;        /* copy inline strings into `a` */
	bool bad;                /* sticky failure */
	bool nomem;              /* the failure was the arena */
	const char *why;         /* static text for the failure */
	uint32_t depth;          /* value nesting now */
	uint32_t recent[SG_RECENT]; /* as sg_enc's */
	uint32_t n_recent;
	uint64_t tscale;         /* as sg_enc's; 0 = 1 */
} sg_dec;

static inline void sg_dec_reset(sg_dec *d)
{
	d->n_recent = 0;
}

uint8_t col__seg_get_u8(sg_dec *d, sg_rd *r);
uint64_t col__seg_get_varint(sg_dec *d, sg_rd *r);
const uint8_t *col__seg_get_raw(sg_dec *d, sg_rd *r, size_t n);
ksk_str col__seg_dec_str(sg_dec *d, int stream);
void col__seg_dec_value(sg_dec *d, ksk_value *v);
ksk_attr *col__seg_dec_attrs(sg_dec *d, uint32_t *n);
void col__seg_dec_fail(sg_dec *d, const char *why);

static inline size_t sg_rd_left(const sg_rd *r)
{
	return (size_t)(r->end - r->p);
}

/* Decodes span number `i_self` of a trace (the mirror of col__seg_enc_span).
 * *parent gets the index, SG_PARENT_NONE or SG_PARENT_EXT (then
 * s->parent_id is set from XID); `done` holds the spans decoded before. */
void col__seg_dec_span(sg_dec *d, ksk_span *s, const uint8_t tid[16], uint64_t base,
                 uint32_t n_spans, uint32_t *parent, const ksk_span *done, uint32_t i_self);

/* Log record head: the cheap fields a search filters on. */
typedef struct sg_log_head {
	uint8_t fl;          /* SG_LF_* bits */
	uint64_t eff;        /* time_ns, or observed_ns when time_ns is 0 */
	uint64_t time_ns, observed_ns;
	uint8_t severity;
	uint32_t res;        /* segment resource index */
	uint32_t trace_ord;  /* index entry of its trace; valid with SG_LF_TRACE */
} sg_log_head;

#define SG_LF_TIME0 0x01u
#define SG_LF_TRACE 0x02u
#define SG_LF_SPAN 0x04u
#define SG_LF_SEVTEXT 0x08u
#define SG_LF_EVNAME 0x10u
#define SG_LF_SCOPE 0x20u
#define SG_LF_DROPPED 0x40u
#define SG_LF_CUT 0x80u /* the body is stored without its ID digits */

void col__seg_dec_log_head(sg_dec *d, sg_log_head *h, uint64_t base);
/* The rest of the record after the head; fills everything but resource
 * (the caller maps it). trace_id is the trace of the record's index entry
 * (NULL when it has none): it is copied into l, and a body stored without
 * its ID digits (SG_LF_CUT) gets them back, in d->a, with l's hints set. */
void col__seg_dec_log_rest(sg_dec *d, const sg_log_head *h, const uint8_t *trace_id,
                           ksk_log *l);

/* ---- hashing and filters ------------------------------------------------ */

static inline uint64_t sg_mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	x ^= x >> 31;
	return x;
}

/* Streaming hash: start with SG_HASH_SEED, feed pieces, finish. The same
 * pieces in the same split give the same value. */
#define SG_HASH_SEED 0x6a09e667f3bcc909ull
uint64_t col__seg_hash_feed(uint64_t h, const void *p, size_t n);
static inline uint64_t sg_hash_end(uint64_t h)
{
	return sg_mix64(h);
}
uint64_t col__seg_hash(const void *p, size_t n);

/* Text of a scalar attribute value as col_attr_filter compares it.
 * @return : length written to buf (>= 32 bytes), or -1 when the value is
 *           not a string/int/bool (not indexed by value). For strings the
 *           text is not copied: *txt points at the value. */
int col__seg_value_text(const ksk_value *v, char *buf, const char **txt);

/* Summary item hashes (docs: "Search filter"). */
uint64_t col__seg_item_op(ksk_str svc, ksk_str name, int kind);
uint64_t col__seg_item_attr(ksk_str key, const char *val, size_t vlen);
uint64_t col__seg_item_attr_key(ksk_str key);

/* Bloom over `words` 64-bit words with k probes (per-summary filter). */
#define SG_SUM_K 6
void col__seg_bloom_add(uint8_t *bits, uint32_t words, uint64_t h);
bool col__seg_bloom_test(const uint8_t *bits, uint32_t words, uint64_t h);

/* Blocked bloom over trace IDs: 512-bit blocks, 7 probes in one block. */
#define SG_TF_BITS_PER_KEY 10
#define SG_TF_K 7
uint64_t col__seg_trace_hash(const uint8_t tid[16]);
void col__seg_tfilter_add(uint8_t *bits, uint32_t blocks, uint64_t h);
bool col__seg_tfilter_test(const uint8_t *bits, uint32_t blocks, uint64_t h);

#endif /* COL_SEG_INT_H */
