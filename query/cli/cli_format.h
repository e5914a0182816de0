/*
 * cli_format.h : text rendering of kiseki-query's JSON answers for the
 * `kiseki` CLI: the trace waterfall, the search table, log lines, the
 * service list and the dependency graph.
 *
 * Every function takes an answer already parsed by jansson (the Jaeger
 * envelope {data, total, limit, offset, errors} exactly as the server sent
 * it) and options (width, colour, glyphs, time zone) and writes text to a
 * FILE* (open_memstream() gives a buffer). No network, no clock, no
 * globals: the same input and options give the same bytes, which the
 * golden tests (tests/unit/query/test_cli_format.c) rely on. Times are
 * printed in the local zone (TZ) unless `utc`.
 *
 * Untrusted text (names, log bodies) is printed with control characters
 * escaped ("\n", "\x1b"), so a log line cannot move the cursor or change
 * colours. Widths count one column per code point (wide CJK characters
 * are counted as one).
 *
 * Ownership: the JSON is borrowed for the call; nothing is kept.
 * Threading: reentrant (localtime_r/gmtime_r).
 */
#ifndef CLI_FORMAT_H
#define CLI_FORMAT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "kiseki/err.h"

typedef struct cli_fmt_opts {
	unsigned width; /* columns; below 40 is taken as 40 */
	bool color;     /* ANSI colours and bold */
	bool ascii;     /* ASCII only for our own glyphs ('|-', '#', "us") */
	bool utc;       /* times in UTC, else the local zone */
	bool wide;      /* never cut free text (log bodies, the last table column) */
} cli_fmt_opts;

/*! cli_fmt_trace() : the waterfall of one trace.
 *  @trace : the answer of GET /api/traces/{id}?format=compact.
 *  @logs : the answer of GET /api/traces/{id}/logs (oldest first), or NULL
 *          (no logs shown).
 *  Layout: a header (ID, start, duration, counts, trace warnings), then one
 *  line per span in depth-first order: marks ('*' critical path, '!'
 *  error), the tree, service and operation, start offset, duration and a
 *  bar scaled to the width; under a span its warnings (clock skew, missing
 *  parent) and its logs at their times, interleaved with its children by
 *  time (each log shifted by its span's clock-skew adjustment); logs of no
 *  span of the trace come last.
 *  @return : KSK_OK; KSK_EPARSE when the answer is not a compact trace
 *            (message in `ei`). */
ksk_err cli_fmt_trace(FILE *f, const json_t *trace, const json_t *logs, const cli_fmt_opts *o,
                      ksk_errinfo *ei);

/*! cli_fmt_search() : the table of GET /api/search: trace ID, start, duration,
 *  spans, errors, "root service: root operation". An empty answer prints
 *  nothing. @return : KSK_OK; KSK_EPARSE. */
ksk_err cli_fmt_search(FILE *f, const json_t *ans, const cli_fmt_opts *o, ksk_errinfo *ei);

/*! cli_fmt_logs() : the records of GET /api/logs (newest first), printed
 *  oldest first (by timestamp; ties keep the server's relative order
 *  reversed), one cli_fmt_log_line() each. @return : KSK_OK; KSK_EPARSE. */
ksk_err cli_fmt_logs(FILE *f, const json_t *ans, const cli_fmt_opts *o, ksk_errinfo *ei);

/*! cli_fmt_log_line() : one record as `TIME LEVEL SERVICE HOST BODY
 *  [trace=ID]` and a newline (empty service or host: "-"). */
void cli_fmt_log_line(FILE *f, const json_t *rec, const cli_fmt_opts *o);

/*! cli_fmt_services() : the names of GET /api/services, one per line.
 *  @return : KSK_OK; KSK_EPARSE. */
ksk_err cli_fmt_services(FILE *f, const json_t *ans, const cli_fmt_opts *o, ksk_errinfo *ei);

/*! cli_fmt_deps() : GET /api/dependencies as text: each parent (by name),
 *  its children below it as a tree (by name) with call count, average
 *  duration and, when any, error count. @return : KSK_OK; KSK_EPARSE. */
ksk_err cli_fmt_deps(FILE *f, const json_t *ans, const cli_fmt_opts *o, ksk_errinfo *ei);

/*! cli_fmt_duration() : "850µs", "20.95ms", "1.52s", "2m03s", "1h05m"
 *  (digits truncated, not rounded); negative values get a '-'. ASCII: "us". */
void cli_fmt_duration(int64_t us, bool ascii, char *buf, size_t cap);

/*! cli_fmt_time() : "2026-11-29 23:06:30.721" (`digits` 3) or with 6
 *  fraction digits, in UTC or the local zone. */
void cli_fmt_time(uint64_t us, bool utc, int digits, char *buf, size_t cap);

/*! cli_answer_error() : errors[0].msg of an envelope, or NULL. Borrowed
 *  from `ans`. */
const char *cli_answer_error(const json_t *ans);

#endif /* CLI_FORMAT_H */
