/*
 * agt_parse_int.h : helpers shared by the agent's parsing files
 * (agt_parse.c, agt_otlp.c, agt_otlp_pb.c). Private to agent/.
 *
 * Exports: string copy with UTF-8 repair into an arena, the value limits
 * the collector enforces, the automatic time parser, and the record checks
 * shared by the OTLP / Zipkin decoders.
 */
#ifndef AGT_PARSE_INT_H
#define AGT_PARSE_INT_H

#include <pcre2.h>

#include "kiseki/alloc.h"
#include "kiseki/arena.h"
#include "kiseki/err.h"
#include "kiseki/record.h"

#define AGT__MAX_DEPTH 16        /* value nesting (collector max_depth) */
#define AGT__MAX_ATTRS 1024      /* attributes per record (collector) */
#define AGT__MAX_EVENTS 1024     /* events per span (collector) */
#define AGT__MAX_LINKS 1024      /* links per span (collector) */
#define AGT__MAX_STR (1u << 20)  /* bytes per string (collector) */

/*! agt__str() : a copy of `s` in `a`, repaired to valid UTF-8.
 *  @return : false when the arena is out of room. An empty input gives
 *            {NULL,0} and true. */
bool agt__str(ksk_arena *a, const char *s, size_t len, ksk_str *out);

/* pcre2_compile()'s error code for "failed to allocate heap memory" (no
 * public name in pcre2.h; value of PCRE2 10.42's ERR21) */
#define AGT__PCRE2_ENOMEM 121

/*! agt__pcre2_gctx() : a PCRE2 general context whose memory comes from
 *  `alloc` (borrowed; must outlive the context and everything made with
 *  it). Free with pcre2_general_context_free(). @return : NULL on ENOMEM. */
pcre2_general_context *agt__pcre2_gctx(const ksk_alloc *alloc);

/*! agt__arena_err() : the arena's error (KSK_ENOMEM when none recorded). */
ksk_err agt__arena_err(ksk_arena *a);

/*! agt__time_auto() : agt_time_parse() in automatic mode; the bare epoch
 *  number form only when `epoch_ok` (values, not the start of a text
 *  line). */
bool agt__time_auto(const char *s, size_t len, bool epoch_ok, int32_t tz_min,
                    uint64_t now_ns, uint64_t *ns, size_t *used);

/* ---- shared by the OTLP / Zipkin decoders (defined in agt_otlp.c) ---- */

struct agt_otlp_out;

/* the reason a record is rejected, filled by the checks below */
typedef struct agt__why {
	char msg[200]; /* "spanId: 15 hex digits, want 16" */
} agt__why;

/*! agt__whyf() : printf into w->msg. @return : KSK_ERECORD. */
ksk_err agt__whyf(agt__why *w, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/*! agt__reject() : counts a rejected record in `out`; the first one is
 *  kept in out->reject as "<where>: <why>". */
void agt__reject(struct agt_otlp_out *out, const char *where, const agt__why *w);

/*! agt__span_check() : the collector's rules: IDs not zero, end >= start,
 *  kind 0..5, status 0..2. @return : KSK_OK or KSK_ERECORD with `w`. */
ksk_err agt__span_check(const ksk_span *s, agt__why *w);

/*! agt__resource_finish() : sets r->service / r->host from the
 *  service.name / host.name string attributes. */
void agt__resource_finish(ksk_resource *r);

#endif /* AGT_PARSE_INT_H */
