/*
 * qry_recon.h : trace reconstruction for kiseki-query (pure, in-process).
 *
 * Exports qry_recon_build(), which turns the spans of one trace (in any
 * order, possibly incomplete, duplicated or inconsistent) into a qry_trace:
 *  - the span tree: a parent per span, children ordered by (adjusted) start,
 *    a depth-first order, depths; missing parents, duplicate span IDs and
 *    parent cycles are repaired and reported, never fatal;
 *  - clock-skew adjustment: one offset per clock domain (host.name, else
 *    service.name), estimated from the client/server pairs of the trace,
 *    applied only when the raw data puts a server outside its client and
 *    only within a bound; every moved span carries its delta and a warning;
 *  - the critical path (span indices and the time sections it consists of);
 *  - self time per span and statistics per (service, operation).
 * No network, no disk, no globals, no recursion (a 100K-deep chain works).
 * The policies (which root an orphan hangs under, which duplicate children
 * attach to, when a child is "async") are spelled out in qry_recon.c.
 *
 * Ownership: the input is borrowed only during qry_recon_build(); the
 * qry_trace keeps no pointer into it (strings it returns are copies). Every
 * pointer a qry_trace_* accessor returns lives in the trace and is valid
 * until qry_trace_destroy().
 * Threading: a qry_trace is immutable after build; any number of threads
 * may read it. qry_recon_build() is reentrant.
 */
#ifndef QRY_RECON_H
#define QRY_RECON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kiseki/alloc.h"
#include "kiseki/err.h"
#include "kiseki/record.h"

/* Default bound on a clock-skew adjustment (qry_recon_opts.max_skew_ns). */
#define QRY_DEFAULT_MAX_SKEW_NS 1000000000ull

typedef struct qry_span_in {      /* one span of the trace, borrowed */
	const ksk_span *span;          /* non-NULL; only the span's own fields are read */
	ksk_str service;               /* resource service.name ("" if none) */
	ksk_str host;                  /* resource host.name ("" if none) */
	const ksk_resource *resource;  /* may be NULL; not read by qry_recon (the API's processes) */
} qry_span_in;

typedef struct qry_recon_opts {
	bool raw;                      /* no clock-skew adjustment (times as recorded) */
	uint64_t max_skew_ns;          /* adjust a clock domain only when |offset| <= this;
	                                  0 = QRY_DEFAULT_MAX_SKEW_NS (1 s); UINT64_MAX = no bound */
	const ksk_alloc *alloc;        /* NULL = libc; must outlive the trace */
} qry_recon_opts;

enum {
	QRY_F_ORPHAN = 1,       /* its parent is not in the trace (see warning) */
	QRY_F_DUP_ID = 2,       /* shares its span ID with another span (not a client/server pair) */
	QRY_F_CYCLE = 4,        /* was on a parent cycle; the cycle was cut */
	QRY_F_ASYNC = 8,        /* async child: not forced inside its parent, not on the critical path */
	QRY_F_SKEW = 16,        /* times moved by skew_ns */
	QRY_F_CRITICAL = 32,    /* on the critical path */
	QRY_F_ERROR = 64,       /* status ERROR */
	QRY_F_SYNTH_ROOT = 128, /* never set: no synthetic node is ever added */
	QRY_F_SHARED = 256,     /* server half of a Zipkin shared span ID: its parent is the
	                           client half with the same ID (give it a distinct ID in output) */
};

typedef struct qry_node {
	int32_t parent;                /* index into nodes, -1 = root */
	int32_t first_child, next_sibling; /* -1 = none; children ordered by (adjusted) start;
	                                      roots are chained by start through next_sibling too */
	uint32_t depth;                /* 0 for roots */
	uint32_t flags;                /* QRY_F_* */
	uint64_t start_ns, end_ns;     /* adjusted (== raw when not moved); end >= start */
	int64_t skew_ns;               /* delta applied (adjusted - raw), 0 if none */
	uint64_t self_ns;              /* duration not covered by children (union of child
	                                  intervals clipped to the span) */
	const char *warning;           /* NULL or a NUL-terminated message in the trace's memory;
	                                  several problems are joined with "; " */
} qry_node;

typedef struct qry_stat {            /* per (service, operation) */
	ksk_str service, operation;    /* copies, NUL-terminated, in the trace */
	uint32_t count, errors;        /* spans; spans with status ERROR */
	uint64_t total_ns, self_ns;    /* sums of durations and of self times */
} qry_stat;

/* One section of the critical path: [start_ns, end_ns) of the trace's
 * time is spent in `node` itself (not in one of its children). */
typedef struct qry_crit_seg {
	uint32_t node;
	uint64_t start_ns, end_ns;
} qry_crit_seg;

/* A clock domain (host.name, else service.name) and what the skew pass
 * decided about it. */
enum {
	QRY_CLOCK_REF = 0,        /* a reference: offset 0 by definition */
	QRY_CLOCK_OK = 1,         /* estimated; the raw data already consistent (offset 0)
	                             or adjusted by offset_ns */
	QRY_CLOCK_OVER_BOUND = 2, /* estimate over max_skew_ns: not applied */
	QRY_CLOCK_UNKNOWN = 3,    /* no usable client/server pair links it: not adjusted */
};

typedef struct qry_clock {
	const char *name;              /* "host X", "service X" or "" (unknown), in the trace */
	int64_t offset_ns;             /* delta applied to its spans */
	int64_t estimate_ns;           /* delta the estimate asked for (== offset unless over bound) */
	uint32_t samples;              /* client/server pairs behind the estimate */
	uint32_t state;                /* QRY_CLOCK_* */
} qry_clock;

typedef struct qry_trace qry_trace;   /* opaque: nodes, order, stats, critical path, warnings */

/*! qry_recon_opts_default() : raw false, bound 1 s, libc allocator. */
void qry_recon_opts_default(qry_recon_opts *o);

/*! qry_recon_build() : reconstructs one trace from `n` spans.
 *  @in  : n spans (borrowed for the call only); NULL allowed when n == 0.
 *         Spans should share one trace ID (not checked).
 *  @o   : options; NULL = defaults.
 *  @out : the trace on success (free with qry_trace_destroy()).
 *  Memory: O(n) in a fixed number of allocations plus an arena for the
 *  message strings; time O(n) plus radix sorts.
 *  @return : KSK_OK; KSK_EINVAL (NULL input with n > 0, a NULL span);
 *            KSK_ELIMIT (n >= 2^31 - 1); KSK_ENOMEM (nothing leaked).
 *            Bad data is never an error: it is repaired and reported in
 *            node and trace warnings. */
ksk_err qry_recon_build(const qry_span_in *in, size_t n, const qry_recon_opts *o,
                        qry_trace **out, ksk_errinfo *ei);

/*! qry_trace_destroy() : frees the trace. NULL is a no-op. */
void qry_trace_destroy(qry_trace *t);

/*! qry_trace_size() : number of spans (== nodes). */
size_t qry_trace_size(const qry_trace *t);

/*! qry_trace_nodes() : n nodes, same index as the input. */
const qry_node *qry_trace_nodes(const qry_trace *t);

/*! qry_trace_order() : all node indices in depth-first tree order (roots by
 *  start, children by start); a permutation of 0..n-1. */
const uint32_t *qry_trace_order(const qry_trace *t, size_t *n);

/*! qry_trace_roots() : indices of the nodes with parent -1, by start. */
const uint32_t *qry_trace_roots(const qry_trace *t, size_t *n);

/*! qry_trace_critical() : the critical path's node indices in tree order
 *  (a root first). */
const uint32_t *qry_trace_critical(const qry_trace *t, size_t *n);

/*! qry_trace_critical_segments() : the critical path as time sections,
 *  ascending, non-overlapping; each names the span whose own work fills it. */
const qry_crit_seg *qry_trace_critical_segments(const qry_trace *t, size_t *n);

/*! qry_trace_stats() : per (service, operation), sorted by service then
 *  operation (bytewise). */
const qry_stat *qry_trace_stats(const qry_trace *t, size_t *n);

/*! qry_trace_clocks() : the clock domains seen, in first-seen order (empty
 *  in raw mode). */
const qry_clock *qry_trace_clocks(const qry_trace *t, size_t *n);

/*! qry_trace_warnings() : trace-level warnings (NUL-terminated, in the trace). */
const char *const *qry_trace_warnings(const qry_trace *t, size_t *n);

/*! qry_trace_start_ns() / qry_trace_end_ns() : min adjusted start, max
 *  adjusted end over all spans (0 for an empty trace). */
uint64_t qry_trace_start_ns(const qry_trace *t);
uint64_t qry_trace_end_ns(const qry_trace *t);

#endif /* QRY_RECON_H */
