/*
 * col_types.h : value types shared by the collector's modules (store,
 * write-ahead log, in-memory index, sealed segments, query protocol).
 *
 * Exports plain structs only: a fetched trace, a trace summary, the search
 * and log-search filters, operations, dependency edges and log hits. All
 * pointers inside are borrowed from the arena or object that produced them;
 * each producing function says how long they live.
 */
#ifndef COL_TYPES_H
#define COL_TYPES_H

#include <stdbool.h>
#include <stdint.h>

#include "kiseki/record.h"

#define COL_MAX_ATTR_FILTERS 16

/* The records of one trace: spans and the logs that carry its trace ID.
 * spans[i].resource and logs[i].resource index `resources`. */
typedef struct col_trace {
	uint8_t trace_id[KSK_TRACE_ID_LEN];
	ksk_resource *resources;
	uint32_t n_resources;
	ksk_span *spans;     /* in no particular order */
	uint32_t n_spans;
	ksk_log *logs;       /* ordered by time */
	uint32_t n_logs;
} col_trace;

/* One row per trace: what searches filter on before the limit applies. */
typedef struct col_summary {
	uint8_t trace_id[KSK_TRACE_ID_LEN];
	uint64_t start_ns;      /* earliest span start */
	uint64_t end_ns;        /* latest span end; duration = end - start */
	uint32_t span_count;
	uint32_t error_count;   /* spans with status ERROR */
	uint32_t log_count;
	ksk_str root_service;   /* service of the root span (no parent); else of the earliest span */
	ksk_str root_name;      /* that span's name */
	ksk_str *services;      /* distinct services in the trace */
	uint32_t n_services;
} col_summary;

typedef struct col_attr_filter {
	ksk_str key;
	ksk_str value; /* compared with the attribute's value as text:
	                  strings as is, ints in decimal, bools true/false,
	                  doubles as %.17g */
} col_attr_filter;

/* Trace search. Span-level conditions (service, operation, span kind,
 * attributes) must all hold on one span of the trace; attributes match a
 * span's own attributes or its resource's. Trace-level conditions
 * (duration, span count, time) apply to the trace summary. The limit
 * applies after every filter. Results are newest first (by start). */
typedef struct col_search {
	ksk_str service;             /* empty = any */
	ksk_str operation;           /* empty = any */
	int span_kind;               /* -1 = any, else ksk_span_kind */
	col_attr_filter attrs[COL_MAX_ATTR_FILTERS];
	uint32_t n_attrs;
	uint64_t min_duration_ns;    /* 0 = no lower bound */
	uint64_t max_duration_ns;    /* 0 = no upper bound */
	uint32_t min_spans;          /* 0 = no lower bound */
	uint32_t max_spans;          /* 0 = no upper bound */
	bool errors_only;            /* only traces with an ERROR span */
	uint64_t start_ns;           /* trace start >= this (0 = open) */
	uint64_t end_ns;             /* trace start <= this (0 = open) */
	uint32_t limit;              /* 0 = 20 */
} col_search;

typedef struct col_operation {
	ksk_str name;
	ksk_span_kind kind;
} col_operation;

/* Calls from spans of `parent` service to child spans of another service
 * (a child span whose parent span belongs to a different service). */
typedef struct col_edge {
	ksk_str parent;
	ksk_str child;
	uint64_t calls;
	uint64_t errors;             /* child spans with status ERROR */
	uint64_t duration_ns_sum;    /* sum of the child spans' durations */
} col_edge;

/* Log search; every set condition must hold. Results newest first. */
typedef struct col_log_search {
	ksk_str service;             /* empty = any */
	ksk_str host;                /* empty = any */
	uint8_t severity_min;        /* 0 = any */
	uint8_t severity_max;        /* 0 = any */
	ksk_str regex;               /* PCRE2 on the body text; empty = any */
	uint8_t trace_id[KSK_TRACE_ID_LEN];
	bool has_trace_id;           /* only logs of this trace */
	uint64_t start_ns;           /* log time >= (0 = open) */
	uint64_t end_ns;             /* log time <= (0 = open) */
	uint32_t limit;              /* 0 = 100; at most 100000 */
} col_log_search;

/* A log with the resource fields a reader needs. */
typedef struct col_log_hit {
	ksk_log log;                 /* log.resource is meaningless here */
	ksk_str service;
	ksk_str host;
	ksk_resource *resource;
} col_log_hit;

/* A count of logs per (service, severity range name). */
typedef struct col_log_count {
	ksk_str service;
	const char *severity;        /* ksk_severity_name() */
	uint64_t count;
} col_log_count;

#endif /* COL_TYPES_H */
