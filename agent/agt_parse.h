/*
 * agt_parse.h : log line parsing for kiseki-agent.
 *
 * Exports:
 *  - agt_parser: turns one log line (no trailing newline) into a ksk_log.
 *    Kinds: AUTO (what `--tail GLOB=SERVICE` uses: JSON / logfmt / text
 *    with a leading timestamp and severity), JSON lines, logfmt, and REGEX
 *    (PCRE2 named groups, JIT, match and depth limits).
 *  - agt_scan_ids(): trace and span IDs found anywhere in a line
 *    (W3C traceparent, trace_id=/traceId=/traceID=/trace.id= in key=value,
 *    key: value, quoted and JSON forms).
 *  - agt_traceparent_parse(): a strict W3C traceparent value parser.
 *  - agt_time_parse(): timestamp recognition (RFC 3339 / ISO 8601, syslog,
 *    common log format, strptime-like formats).
 *  - agt_ml: multiline grouping (start or continuation regex, per-file
 *    state, timeout flush with a caller-given clock).
 *
 * Hides: the PCRE2 objects, jansson, the scanners.
 *
 * Ownership: every string of a produced ksk_log is COPIED into the caller's
 * arena; the line buffer may be reused as soon as a parse call returns.
 * A record is valid until that arena is reset. Exception: a parser made
 * with `borrow` may point strings into the line (see agt_parser_opts).
 * Threading: a parser or an agt_ml belongs to one thread (each holds its
 * own PCRE2 match_data); an agt_ml_rule may be shared read-only by several
 * agt_ml of the same thread or of different threads.
 * No function here reads a clock: the caller passes now_ns.
 */
#ifndef AGT_PARSE_H
#define AGT_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kiseki/alloc.h"
#include "kiseki/arena.h"
#include "kiseki/err.h"
#include "kiseki/record.h"

/* ---- trace and span IDs ------------------------------------------------- */

typedef struct agt_ids {
	uint8_t trace_id[KSK_TRACE_ID_LEN]; /* valid when has_trace */
	uint8_t span_id[KSK_SPAN_ID_LEN];   /* valid when has_span */
	bool has_trace;                     /* a non-zero trace ID was found */
	bool has_span;                      /* a non-zero span ID was found */
	bool has_flags;                     /* flags came from a traceparent */
	uint8_t flags;                      /* W3C trace flags (traceparent) */
	/* where the IDs' hex digits end in `s` when they are exactly the
	 * lowercase hex of the ID (32 / 16 digits); 0 = not so */
	uint32_t trace_end, span_end;
} agt_ids;

/*! agt_scan_ids() : searches `s` (any bytes) for a trace ID and a span ID.
 *  Recognised, anywhere in the line, first occurrence wins:
 *   - a W3C traceparent `VV-<32 hex>-<16 hex>-<2 hex>` (lowercase hex,
 *     version not `ff`, IDs not all zero; version 00 must end there);
 *     gives the trace ID, the span ID (parent-id) and the flags;
 *   - a key `trace` + optional `_`, `.` or `-` + `id` (any case: trace_id,
 *     traceId, traceID, trace.id, TRACE_ID, "trace_id" in JSON), then `=`
 *     or `:` (spaces and quotes allowed around), then exactly 32 hex digits
 *     or 16 (a 64-bit Zipkin ID, left-padded with zeros), any case, ending
 *     at a non-alphanumeric byte; likewise `span` + sep + `id` with 16 hex.
 *  The key must not be preceded by a letter or digit (`otel.trace_id=` is
 *  found, `mytrace_id=` is not). All-zero IDs are ignored.
 *  `out` is fully written. Thread-safe; no allocation. */
void agt_scan_ids(const char *s, size_t len, agt_ids *out);

/*! agt_traceparent_parse() : parses a traceparent header value (W3C
 *  Trace Context, surrounding spaces/tabs allowed).
 *  @return : true and the IDs and flags when valid; false otherwise
 *            (version ff, bad length, uppercase hex, zero IDs, trailing
 *            data after a version-00 value). */
bool agt_traceparent_parse(const char *s, size_t len,
                           uint8_t trace_id[KSK_TRACE_ID_LEN],
                           uint8_t span_id[KSK_SPAN_ID_LEN], uint8_t *flags);

/* ---- timestamps ---------------------------------------------------------- */

/*! agt_time_parse() : recognises a timestamp at the start of `s`.
 *  @fmt    : NULL or "" = automatic: RFC 3339 / ISO 8601 (`T`, `t` or a
 *            space between date and time; `-` or `/` in the date; optional
 *            `.` or `,` fraction of any length, kept to ns; optional `Z` or
 *            `+hh:mm`, `+hhmm`, `+hh` zone, also after one space; otherwise
 *            `tz_min`), syslog `Jan  2 15:04:05[.frac]` (year from now_ns:
 *            the latest year not more than one day in the future), common
 *            log format `02/Jan/2006:15:04:05 -0700`, or an epoch number
 *            (10+ digits, optional fraction; s/ms/us/ns by magnitude).
 *            Otherwise a strptime-like format: %Y %m %d %e %H %M %S (takes
 *            an optional `.`/`,` fraction) %f (fraction digits) %z (Z, +hh,
 *            +hhmm, +hh:mm) %Z (UTC, GMT, Z) %b %h (month names) %y %j %s
 *            (epoch seconds, optional fraction) %T %F %p %I %%; a space
 *            matches any run of spaces/tabs; other bytes match themselves.
 *  @tz_min : minutes east of UTC for times without a zone.
 *  @now_ns : the caller's clock (only for year-less formats).
 *  @used   : set to the bytes consumed (may be NULL).
 *  @return : true and *ns (ns since the Unix epoch) on success. */
bool agt_time_parse(const char *fmt, const char *s, size_t len, int32_t tz_min,
                    uint64_t now_ns, uint64_t *ns, size_t *used);

/*! agt_time_format_check() : true when `fmt` uses only the conversions
 *  agt_time_parse() knows. */
bool agt_time_format_check(const char *fmt);

/*! agt_epoch_to_ns() : an epoch number to ns by magnitude: < 1e11 seconds,
 *  < 1e14 milliseconds, < 1e17 microseconds, else nanoseconds. Negative or
 *  non-finite -> 0. */
uint64_t agt_epoch_to_ns(double v);

/* ---- line parsers -------------------------------------------------------- */

typedef enum agt_parser_kind {
	AGT_PARSER_AUTO = 0, /* JSON if `{`, logfmt if mostly k=v, klog,
	                      * else text (see docs/AGENT.md section 4) */
	AGT_PARSER_JSON,     /* one JSON object per line */
	AGT_PARSER_LOGFMT,   /* key=value pairs */
	AGT_PARSER_REGEX,    /* PCRE2 pattern with named groups */
	AGT_PARSER_TEXT,     /* the text branch of AUTO only */
} agt_parser_kind;

typedef struct agt_parser_opts {
	agt_parser_kind kind;     /* which parser */
	const char *pattern;      /* REGEX: the pattern (UTF mode); copied */
	const char *time_format;  /* NULL = automatic; see agt_time_parse() */
	int32_t tz_min;           /* zone for times without one, min east of UTC */
	uint32_t match_limit;     /* REGEX: PCRE2 match limit (0 = 100000) */
	uint32_t depth_limit;     /* REGEX: PCRE2 depth limit (0 = 10000) */
	uint32_t max_attrs;       /* attributes kept per record (0 = 128);
	                           * the rest are counted in dropped_attrs */
	bool no_id_scan;          /* true: take IDs only from named groups/keys,
	                           * never by scanning the whole line */
	bool borrow;              /* true: the body and the level text taken
	                           * verbatim from the line may point INTO
	                           * `line` (or the arena's repaired copy of
	                           * it) instead of being copied: the record is
	                           * then valid only while the line's bytes are
	                           * (the agent packs each record before the
	                           * next line) */
} agt_parser_opts;

typedef struct agt_parser agt_parser;

/*! agt_parser_create() : compiles a parser. `o` NULL = AUTO defaults.
 *  For REGEX the pattern is compiled once with JIT; named groups:
 *  `time`/`timestamp` (parsed with time_format), `level`/`severity`/`lvl`,
 *  `message`/`msg`/`body`, `trace_id`, `span_id`; any other named group
 *  becomes a string attribute.
 *  @return : KSK_OK; KSK_EINVAL (bad pattern with the PCRE2 message and
 *            offset in `ei`, bad time format, missing pattern); KSK_ENOMEM. */
ksk_err agt_parser_create(const ksk_alloc *alloc, const agt_parser_opts *o,
                          agt_parser **out, ksk_errinfo *ei);

/*! agt_parser_destroy() : frees the parser. NULL is a no-op. */
void agt_parser_destroy(agt_parser *p);

/*! agt_parser_parse() : parses one line (without its newline; any bytes)
 *  into *out, allocating every string in `a`. observed_ns = now_ns (give
 *  a non-zero clock: the collector refuses a log with no time at all).
 *  Trace/span IDs: from the record's own keys/groups first, else (unless
 *  no_id_scan) from agt_scan_ids() over the whole line.
 *  @return : KSK_OK; KSK_EPARSE when the line does not fit the parser (not
 *            JSON for JSON, no match for REGEX, bad time for a time group):
 *            *out is then still a usable fallback record (body = the whole
 *            line, IDs scanned, time 0) and `ei` says why; KSK_ENOMEM or
 *            KSK_ELIMIT from the arena (then *out must not be used).
 *  Owner thread only. */
ksk_err agt_parser_parse(agt_parser *p, const char *line, size_t len,
                         uint64_t now_ns, ksk_arena *a, ksk_log *out,
                         ksk_errinfo *ei);

/*! agt_parser_kind_name() : "auto", "json", "logfmt", "regex", "text". */
const char *agt_parser_kind_name(agt_parser_kind k);

/*! agt_parser_kind_from_name() : inverse of agt_parser_kind_name().
 *  @return : false for an unknown name. */
bool agt_parser_kind_from_name(const char *name, agt_parser_kind *k);

/* ---- multiline ----------------------------------------------------------- */

typedef struct agt_ml_opts {
	const char *start;        /* a matching line starts a new record */
	const char *continuation; /* a matching line continues the previous one */
	const char *preset;       /* instead of the two above: "timestamp" (a
	                           * line starting with a timestamp starts a
	                           * record), "java" (continuation: indented,
	                           * "at ...", "... N more", "Caused by:",
	                           * exception class lines), "python"
	                           * (continuation: Traceback, indented,
	                           * "XxxError: ..." lines) */
	uint64_t timeout_ns;      /* pending record emitted after this idle time
	                           * (0 = 1 s) */
	size_t max_bytes;         /* bytes per record (0 = 1 MiB); excess lines
	                           * are dropped and the record marked truncated */
	uint32_t max_lines;       /* lines per record (0 = 1000) */
	uint32_t match_limit;     /* PCRE2 match limit (0 = 100000) */
} agt_ml_opts;

typedef struct agt_ml_rule agt_ml_rule;
typedef struct agt_ml agt_ml;

/* A completed multiline record: a view valid until the next agt_ml_* call
 * on the same agt_ml. Offsets are the caller's, given with each line. */
typedef struct agt_ml_rec {
	const char *text;   /* lines joined with '\n'; not NUL-terminated */
	size_t len;         /* bytes */
	uint32_t lines;     /* lines kept */
	uint32_t dropped;   /* lines dropped over max_bytes / max_lines */
	uint64_t start_off; /* start_off of the first line */
	uint64_t end_off;   /* end_off of the last line fed (kept or dropped) */
} agt_ml_rec;

/*! agt_ml_rule_create() : compiles a rule (exactly one of start,
 *  continuation or preset).
 *  @return : KSK_OK; KSK_EINVAL with the PCRE2 message; KSK_ENOMEM. */
ksk_err agt_ml_rule_create(const ksk_alloc *alloc, const agt_ml_opts *o,
                           agt_ml_rule **out, ksk_errinfo *ei);

/*! agt_ml_rule_destroy() : NULL is a no-op. Every agt_ml using the rule
 *  must be destroyed first. */
void agt_ml_rule_destroy(agt_ml_rule *r);

/*! agt_ml_create() : per-file state using `rule` (borrowed; must outlive
 *  the state). */
ksk_err agt_ml_create(const ksk_alloc *alloc, const agt_ml_rule *rule,
                      agt_ml **out);

/*! agt_ml_destroy() : NULL is a no-op. */
void agt_ml_destroy(agt_ml *m);

/*! agt_ml_feed() : feeds one line read from bytes [start_off, end_off) of
 *  the file at time now_ns. When the line closes the pending record, that
 *  record is returned in *out and *emitted is set; the new line is then
 *  pending. A line never produces more than one record.
 *  @return : KSK_OK; KSK_ENOMEM (the line was not taken). */
ksk_err agt_ml_feed(agt_ml *m, const char *line, size_t len,
                    uint64_t start_off, uint64_t end_off, uint64_t now_ns,
                    agt_ml_rec *out, bool *emitted);

/*! agt_ml_flush_if_older() : emits the pending record when its last line
 *  was fed more than timeout_ns before now_ns.
 *  @return : true when *out was filled. */
bool agt_ml_flush_if_older(agt_ml *m, uint64_t now_ns, agt_ml_rec *out);

/*! agt_ml_flush() : emits the pending record now (file end, shutdown).
 *  @return : true when there was one. */
bool agt_ml_flush(agt_ml *m, agt_ml_rec *out);

/*! agt_ml_pending() : true when a record is pending; *start_off (may be
 *  NULL) is where it starts, so a checkpoint never passes it. */
bool agt_ml_pending(const agt_ml *m, uint64_t *start_off);

#endif /* AGT_PARSE_H */
