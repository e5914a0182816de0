/*
 * kiseki/qproto.h : the collector query protocol's requests.
 *
 * kiseki-query (and the tests) ask a collector over NNG REQ/REP; each
 * request is one msgpack map with string keys, each reply one msgpack map
 * (docs/WIRE.md section 3 lists every key). This header gives the request
 * as a C struct with its encoder and its hostile-safe decoder, and the
 * reply-side constants. Large answers (a trace, a log search) come in
 * chunks: the reply's "next" is the cursor to send for the next chunk, 0
 * when done.
 *
 * Ownership: a decoded request's strings point into the request buffer
 * (valid while it is). Thread-safe.
 */
#ifndef KSK_QPROTO_H
#define KSK_QPROTO_H

#include <stdbool.h>
#include <stdint.h>

#include "kiseki/arena.h"
#include "kiseki/buf.h"
#include "kiseki/err.h"
#include "kiseki/record.h"

#define KSK_QPROTO_VERSION 1
#define KSK_Q_MAX_ATTRS 16
#define KSK_Q_MAX_REQUEST (64 * 1024) /* bytes; a collector refuses larger */

typedef enum ksk_qop {
	KSK_Q_TRACE = 1,      /* spans and logs of one trace (chunked) */
	KSK_Q_SEARCH = 2,     /* trace summaries */
	KSK_Q_SERVICES = 3,
	KSK_Q_OPERATIONS = 4,
	KSK_Q_EDGES = 5,      /* service dependency edges */
	KSK_Q_LOGS = 6,       /* log search (chunked) */
	KSK_Q_LOG_STATS = 7,  /* log counts per service and severity */
} ksk_qop;

typedef struct ksk_qattr {
	ksk_str key;
	ksk_str value;
} ksk_qattr;

typedef struct ksk_qreq {
	ksk_qop op;
	uint8_t trace_id[KSK_TRACE_ID_LEN];
	bool has_trace_id;          /* TRACE (required), LOGS (filter) */
	uint64_t start_ns, end_ns;  /* time range or hints; 0 = open */
	uint32_t cursor;            /* chunk cursor from a previous reply */
	uint64_t result;            /* with cursor > 0: the reply's "result" (the
	                             * answer the cursor belongs to); 0 = the
	                             * newest answer to the same request */
	uint32_t limit;             /* SEARCH, LOGS; 0 = server default */
	ksk_str service;            /* SEARCH, OPERATIONS, LOGS */
	ksk_str operation;          /* SEARCH */
	int kind;                   /* SEARCH, OPERATIONS: -1 = any */
	ksk_qattr attrs[KSK_Q_MAX_ATTRS]; /* SEARCH */
	uint32_t n_attrs;
	uint64_t min_duration_ns, max_duration_ns; /* SEARCH, trace level */
	uint32_t min_spans, max_spans;             /* SEARCH */
	bool errors_only;                          /* SEARCH */
	ksk_str host;               /* LOGS */
	ksk_str regex;              /* LOGS: PCRE2 on the body */
	uint8_t severity_min, severity_max; /* LOGS; 0 = any */
} ksk_qreq;

/*! ksk_qreq_init() : zeroes `r` and sets `op`, kind -1. */
void ksk_qreq_init(ksk_qreq *r, ksk_qop op);

/*! ksk_qreq_encode() : appends the msgpack form to `out`.
 *  @return : KSK_OK; KSK_EINVAL (bad op); the buffer's error. */
ksk_err ksk_qreq_encode(const ksk_qreq *r, ksk_buf *out);

/*! ksk_qreq_decode() : parses a request; unknown keys are ignored.
 *  Strings in `out` point into `buf`.
 *  @return : KSK_OK; KSK_ETOOBIG (over KSK_Q_MAX_REQUEST); KSK_EMSGPACK;
 *            KSK_EINVAL (wrong type or value, message names the key);
 *            KSK_EVERSION. */
ksk_err ksk_qreq_decode(const uint8_t *buf, size_t len, ksk_qreq *out,
                        ksk_errinfo *ei);

/*! ksk_qop_name() : "trace", "search", ... ; "unknown" otherwise. */
const char *ksk_qop_name(ksk_qop op);

#endif /* KSK_QPROTO_H */
