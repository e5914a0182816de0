/*
 * kiseki/trace.h : libkiseki-trace, span instrumentation for C services.
 *
 * Exports: init/shutdown of the process-wide tracer (service name, resource
 * attributes, sinks, sampling), scoped span macros (KSK_SPAN: the span ends
 * when the enclosing block is left, through __attribute__((cleanup))),
 * explicit begin/end, attributes (string, int, double, bool), events,
 * status, the per-thread current span, explicit parents for work handed to
 * another thread, W3C traceparent/tracestate inject and extract, sampling
 * (parent-based, trace-ID ratio, rate limit), drop counters, flush.
 * docs/INSTRUMENTATION.md is the user guide, with a complete example.
 *
 *   #include "kiseki/trace.h"
 *   void handle(req *r) {
 *           KSK_SPAN_KIND(sp, "GET /checkout", KSK_KIND_SERVER);
 *           KSK_SPAN_ATTR_STR(sp, "http.route", r->route);
 *           KSK_SPAN_ATTR_INT(sp, "http.status_code", 200);
 *   }                                   (the span ends here)
 *
 * Cost model. A span lives in caller storage (the macros put it on the
 * stack; ksk_trace_span is about 700 bytes). Begin and end take no lock,
 * make no system call and allocate nothing: IDs come from a per-thread
 * generator, timestamps from the TSC (or clock_gettime through the vDSO),
 * and end copies the used part of the span into a per-thread ring of
 * fixed-size slots (single producer, single consumer). A background
 * exporter thread drains the rings, batches, encodes (batch frames to the
 * agent, OTLP JSON lines to a file) and sends without ever blocking the
 * service: when a ring is full or the agent is away, spans are dropped and
 * counted (ksk_trace_stats_get). A thread's ring is allocated once, at its
 * first sampled span end.
 *
 * Names and attribute keys are never copied: the macros take string
 * literals and keep pointers to them (a static ksk_trace_site per call
 * site holds the span name and kind). String VALUES are copied into the
 * span (KSK_TRACE_STR_BYTES per span, truncated at a UTF-8 boundary when
 * full); a span holds at most KSK_TRACE_MAX_ATTRS attributes (its own and
 * its events' together) and KSK_TRACE_MAX_EVENTS events; more are dropped
 * and counted in the span's dropped counts.
 *
 * Off switches. Compile time: -DKSK_TRACE_DISABLE turns every macro into
 * nothing (arguments are not evaluated; KSK_SPAN declares a NULL
 * `ksk_trace_span *` so code that passes the span to functions still
 * compiles; every function accepts NULL).
 * Run time: ksk_trace_set_enabled(false); a disabled span site costs one
 * load and one branch.
 *
 * Threads. Every function is thread-safe unless stated. A span that became
 * current (the default) must be ended on the thread that began it; to
 * continue a trace on another thread pass ksk_trace_span_ctx() to that
 * thread and begin a child there (KSK_SPAN_CHILD), or begin the span with
 * KSK_TRACE_DETACHED. Fork: the child drops the parent's unexported spans
 * and spans begun before the fork, restarts its exporter, and exports its
 * own spans with its own process.pid and agent ID.
 *
 * Ownership: the tracer is process-wide (the one deliberate global of this
 * library: macros must reach it from anywhere); everything it allocates is
 * freed by ksk_trace_shutdown(). Spans are caller storage. Strings given
 * to ksk_trace_init() are copied.
 */
#ifndef KSK_TRACE_H
#define KSK_TRACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "kiseki/alloc.h"
#include "kiseki/clock.h"
#include "kiseki/err.h"
#include "kiseki/record.h"

#ifdef __cplusplus
extern "C" {
#endif

#define KSK_TRACE_VERSION "0.1.0"

/* Per-span capacities (compile-time; the ring slot is a ksk_trace_span). */
#define KSK_TRACE_MAX_ATTRS 12   /* span and event attributes together */
#define KSK_TRACE_MAX_EVENTS 4
#define KSK_TRACE_STR_BYTES 192  /* copied string values + status message */

/* The agent's --intake when started with --spool-dir /var/lib/kiseki-agent
 * (docs/AGENT.md); override with opts.agent_url or $KISEKI_TRACE_AGENT. */
#define KSK_TRACE_DEFAULT_AGENT "ipc:///var/lib/kiseki-agent/intake.sock"

#define KSK_TRACE_TRACEPARENT_LEN 55 /* "00-<32 hex>-<16 hex>-<2 hex>" */
#define KSK_TRACE_STATE_MAX 512      /* tracestate kept and propagated */

/* W3C trace flags. */
#define KSK_TRACE_FLAG_SAMPLED 0x01u
#define KSK_TRACE_FLAG_RANDOM 0x02u  /* trace ID's right-most 7 bytes random */

/* ksk_trace_begin() flags. */
#define KSK_TRACE_DETACHED 0x1u /* do not become the thread's current span */
#define KSK_TRACE_ROOT 0x2u     /* ignore the current span: start a trace */

/* ---- call-site descriptor ------------------------------------------------ */

/* One per call site, static const, created by the macros: spans point to
 * it, so the name is never copied. */
typedef struct ksk_trace_site {
	const char *name;   /* static storage */
	uint32_t name_len;
	ksk_span_kind kind;
} ksk_trace_site;

#define KSK_TRACE_SITE_INIT(name, kind) {"" name, (uint32_t)(sizeof(name) - 1), (kind)}

/* ---- span context -------------------------------------------------------- */

/* What a child needs from its parent: IDs, flags, tracestate. A value;
 * `tracestate` is borrowed (from the span or ksk_trace_remote it came from,
 * which must outlive every span begun with this context). */
typedef struct ksk_trace_ctx {
	uint8_t trace_id[KSK_TRACE_ID_LEN]; /* all zero = no context */
	uint8_t span_id[KSK_SPAN_ID_LEN];
	uint8_t flags;                      /* W3C trace flags */
	bool remote;                        /* extracted from a header */
	uint16_t tracestate_len;
	const char *tracestate;             /* borrowed; not NUL-terminated */
} ksk_trace_ctx;

/* Holds an extracted remote context together with its tracestate text. */
typedef struct ksk_trace_remote {
	ksk_trace_ctx ctx;                        /* ctx.tracestate points below */
	char tracestate[KSK_TRACE_STATE_MAX + 1]; /* normalised, NUL-terminated */
} ksk_trace_remote;

/* ---- the span (caller storage; fields ending in _ are private) ----------- */

typedef struct ksk_trace_attr_ {
	const char *key;     /* static storage */
	uint16_t key_len;
	uint8_t type;        /* ksk_val_type, or KSK_TRACE_VAL_STATIC_ */
	uint8_t owner;       /* 0 = the span, i + 1 = events_[i] */
	uint16_t s_off;      /* KSK_VAL_STR: bytes in str_; static: length */
	uint16_t s_len;
	union {
		int64_t i;
		double d;
		bool b;
		const char *p;   /* static string value */
	} v;
} ksk_trace_attr_;

typedef struct ksk_trace_event_ {
	const char *name;    /* static storage */
	uint32_t name_len;
	uint64_t ticks;
} ksk_trace_event_;

#define KSK_TRACE_VAL_STATIC_ 100

typedef struct ksk_trace_span {
	/* header: copied to the ring as one block, up to prev_ */
	uint8_t trace_id[KSK_TRACE_ID_LEN];
	uint8_t span_id[KSK_SPAN_ID_LEN];
	uint8_t parent_id[KSK_SPAN_ID_LEN]; /* all zero for a root */
	uint64_t start_;                    /* clock ticks */
	uint64_t end_;
	const ksk_trace_site *site_;
	const char *tracestate_;            /* borrowed from the parent */
	uint32_t gen_;                      /* tracer generation at begin */
	uint16_t tracestate_len_;
	uint16_t ts_off_;                   /* in a ring slot: tracestate in str_ */
	uint16_t str_used_;
	uint16_t status_off_;
	uint16_t status_len_;
	uint8_t state_;                     /* 0 ended, 1 begun, 2 recording */
	uint8_t flags;                      /* W3C trace flags */
	uint8_t status_;                    /* ksk_status_code */
	uint8_t n_attrs_;
	uint8_t n_events_;
	uint8_t dropped_attrs_;
	uint8_t dropped_events_;
	uint8_t pushed_;                    /* on its thread's current chain */
	uint8_t ev_dropped_;                /* the latest event was dropped */
	struct ksk_trace_span *prev_;       /* the thread's previous current */
	ksk_trace_attr_ attrs_[KSK_TRACE_MAX_ATTRS];
	ksk_trace_event_ events_[KSK_TRACE_MAX_EVENTS];
	char str_[KSK_TRACE_STR_BYTES];
} ksk_trace_span;

/* ---- options, stats ------------------------------------------------------ */

/* Callback sink: called on the exporter thread with a batch of ended
 * spans. Everything is borrowed and valid only during the call. */
typedef void (*ksk_trace_export_fn)(void *ctx, const ksk_resource *res,
                                    const ksk_span *spans, uint32_t n);

typedef enum ksk_trace_clock_mode {
	KSK_TRACE_CLOCK_AUTO = 0,     /* TSC when invariant (x86-64), else REALTIME */
	KSK_TRACE_CLOCK_TSC = 1,      /* rdtsc, converted at export */
	KSK_TRACE_CLOCK_REALTIME = 2, /* clock_gettime(CLOCK_REALTIME), vDSO */
} ksk_trace_clock_mode;

typedef struct ksk_trace_opts {
	/* identity */
	const char *service_name;   /* NULL: $OTEL_SERVICE_NAME, else "unknown_service" */
	const ksk_attr *resource;   /* extra resource attributes (STR, INT, DOUBLE,
	                             * BOOL; copied); they win over the defaults
	                             * (host.name, process.pid, telemetry.sdk.*) */
	uint32_t n_resource;
	const char *scope_name;     /* instrumentation scope; NULL = "kiseki-trace" */
	const char *scope_version;  /* NULL = KSK_TRACE_VERSION */
	/* sinks (any combination) */
	const char *agent_url;      /* NNG PUSH to the agent's --intake. NULL:
	                             * $KISEKI_TRACE_AGENT, else
	                             * KSK_TRACE_DEFAULT_AGENT; "" or "off": none */
	bool agent_builtin;         /* speak the SP PUSH protocol directly on a
	                             * socket instead of through libnng (always
	                             * the case in a forked child) */
	const char *file_path;      /* OTLP JSON lines, appended; NULL:
	                             * $KISEKI_TRACE_FILE, else none */
	size_t file_max_line;       /* bytes per line (0 = 65536, the agent's
	                             * default max_line) */
	ksk_trace_export_fn on_export; /* callback sink, NULL = none */
	void *on_export_ctx;
	/* sampling */
	double sample_ratio;        /* roots: 0..1 by trace ID (default 1) */
	double rate_limit;          /* roots per second, 0 = no limit */
	bool parent_based;          /* follow a remote parent's sampled flag
	                             * (default true; local parents are always
	                             * followed) */
	/* resources */
	uint32_t ring_slots;        /* spans per thread ring, power of 2
	                             * (0 = 512) */
	uint32_t flush_interval_ms; /* exporter period (0 = 200) */
	uint32_t shutdown_timeout_ms; /* flush budget at shutdown (0 = 2000) */
	size_t max_frame_bytes;     /* raw payload per agent frame (0 = 1 MiB) */
	ksk_trace_clock_mode clock_mode;
	const ksk_clock *clock;     /* tests: if set, wall_ns() timestamps spans
	                             * and mono_ns() drives the rate limit */
	const ksk_alloc *alloc;     /* NULL = libc */
} ksk_trace_opts;

/* Counters since init (or since the fork, in a child). */
typedef struct ksk_trace_stats {
	uint64_t spans_exported;      /* drained from the rings */
	uint64_t dropped_ring_full;   /* a thread's ring was full at span end */
	uint64_t dropped_stale;       /* ended after a fork/restart it began before */
	uint64_t dropped_nomem;       /* a thread's ring could not be allocated */
	uint64_t dropped_encode;      /* refused by the encoder (a bug if not 0) */
	uint64_t rate_limited;        /* roots not sampled because of the limit */
	uint64_t agent_frames_sent;
	uint64_t agent_spans_sent;
	uint64_t agent_spans_dropped; /* agent away or not keeping up */
	uint64_t file_spans_written;
	uint64_t file_spans_dropped;  /* write failed */
	uint32_t threads;             /* thread rings registered now */
} ksk_trace_stats;

/* ---- lifecycle ----------------------------------------------------------- */

/*! ksk_trace_opts_init() : fills `o` with the defaults (ratio 1, parent
 *  based, every sink from the environment or default). Start from this. */
void ksk_trace_opts_init(ksk_trace_opts *o);

/*! ksk_trace_init() : creates the process tracer and starts its exporter.
 *  @o : NULL = defaults. Copied.
 *  @return : KSK_OK; KSK_ESTATE (already initialised); KSK_EINVAL (bad
 *            option: ratio out of 0..1, ring_slots not a power of 2, an
 *            unsupported resource value type, with agent_builtin a URL
 *            that is not ipc:// or tcp://); KSK_EIO (the span file cannot
 *            be opened); KSK_ENET (libnng refused the agent URL);
 *            KSK_ENOMEM; KSK_ESYS (thread). `ei` says which. */
ksk_err ksk_trace_init(const ksk_trace_opts *o, ksk_errinfo *ei);

/*! ksk_trace_shutdown() : disables tracing, drains every ring, sends
 *  (waiting at most shutdown_timeout_ms for the agent), stops the exporter
 *  and frees everything. Call it once the other instrumented threads have
 *  stopped ending spans. No-op when not initialised. */
void ksk_trace_shutdown(void);

/*! ksk_trace_flush() : asks the exporter to drain the rings and send now,
 *  and waits until it did.
 *  @return : KSK_OK; KSK_ETIMEDOUT; KSK_ESTATE (not initialised). */
ksk_err ksk_trace_flush(uint32_t timeout_ms);

/*! ksk_trace_set_enabled() : the run-time switch (on after init). */
void ksk_trace_set_enabled(bool on);

/*! ksk_trace_stats_get() : a snapshot of the counters (zeros when not
 *  initialised). */
void ksk_trace_stats_get(ksk_trace_stats *out);

/* ---- spans --------------------------------------------------------------- */

/*! ksk_trace_begin() : begins `sp` (caller storage).
 *  @parent : NULL = the thread's current span, if any (KSK_TRACE_ROOT:
 *            none); else an explicit parent (ksk_trace_span_ctx() of a span
 *            on another thread, or an extracted remote context). An invalid
 *            context starts a new trace.
 *  @flags  : KSK_TRACE_DETACHED, KSK_TRACE_ROOT.
 *  When not initialised, `sp` is left inactive (every call on it no-ops). */
void ksk_trace_begin(ksk_trace_span *sp, const ksk_trace_site *site,
                     const ksk_trace_ctx *parent, unsigned flags);

/*! ksk_trace_end() : ends `sp` (idempotent; NULL is a no-op). A span that
 *  is the thread's current makes its parent current again. */
void ksk_trace_end(ksk_trace_span *sp);

/*! ksk_trace_current() : the thread's current span, or NULL. */
ksk_trace_span *ksk_trace_current(void);

/*! ksk_trace_span_ctx() : the context of `sp` (invalid for NULL or an
 *  inactive span), to begin children elsewhere or to inject. */
ksk_trace_ctx ksk_trace_span_ctx(const ksk_trace_span *sp);

/*! ksk_trace_current_ctx() : ksk_trace_span_ctx(ksk_trace_current()). */
ksk_trace_ctx ksk_trace_current_ctx(void);

/*! ksk_trace_event() : adds an event named `name` (static storage) now. */
void ksk_trace_event(ksk_trace_span *sp, const char *name, uint32_t name_len);

/*! ksk_trace_set_status() : OTel rules: OK is final, UNSET is ignored,
 *  ERROR keeps `msg` (copied, may be NULL). */
void ksk_trace_set_status(ksk_trace_span *sp, ksk_status_code code,
                          const char *msg);

/*! ksk_trace_ratio_sampled() : the ratio decision for a trace ID: sampled
 *  when the 56 low bits of the ID (its right-most 7 bytes, big-endian) are
 *  >= (1 - ratio) * 2^56, so every service with the same ratio takes the
 *  same decision for the same trace (OTel consistent probability sampling). */
bool ksk_trace_ratio_sampled(const uint8_t trace_id[KSK_TRACE_ID_LEN],
                             double ratio);

/* ---- W3C Trace Context --------------------------------------------------- */

/*! ksk_trace_inject() : writes the `traceparent` value (version 00, 55
 *  characters + NUL) and, when `tracestate` is not NULL, the tracestate
 *  value (possibly empty) for an outgoing request on behalf of `c`.
 *  @return : KSK_OK; KSK_EINVAL (invalid context); KSK_ELIMIT (ts_cap too
 *            small: tracestate set to ""). */
ksk_err ksk_trace_inject(const ksk_trace_ctx *c,
                         char traceparent[KSK_TRACE_TRACEPARENT_LEN + 1],
                         char *tracestate, size_t ts_cap);

/*! ksk_trace_extract() : parses the incoming header values (NUL-terminated,
 *  NULL = header absent) into `out`, following the W3C rules: lowercase hex
 *  only, version ff and all-zero IDs invalid, version 00 exactly 55
 *  characters, higher versions parsed leniently at the version-00
 *  positions, spaces and tabs around the value allowed. A bad tracestate
 *  is dropped without invalidating traceparent; tracestate is ignored when
 *  traceparent is absent or invalid.
 *  @return : KSK_OK (out->ctx valid, remote); KSK_ENOTFOUND (no
 *            traceparent); KSK_EPARSE (invalid traceparent: restart the
 *            trace). On error out->ctx is invalid. */
ksk_err ksk_trace_extract(const char *traceparent, const char *tracestate,
                          ksk_trace_remote *out);

/*! ksk_trace_extract_lines() : the same for header fields that may occur
 *  several times: more than one traceparent line is invalid; tracestate
 *  lines are joined with ',' (RFC 9110). */
ksk_err ksk_trace_extract_lines(const ksk_str *traceparent, size_t n_tp,
                                const ksk_str *tracestate, size_t n_ts,
                                ksk_trace_remote *out);

/* ---- inline parts of the API --------------------------------------------- */

extern int ksk_trace_on_; /* the run-time switch; read by the macros */

/*! ksk_trace_enabled() : the run-time switch (one load). */
static inline bool ksk_trace_enabled(void)
{
	return __atomic_load_n(&ksk_trace_on_, __ATOMIC_RELAXED) != 0;
}

/*! ksk_trace_recording() : true when `sp` is sampled and not ended: guard
 *  attribute computations that cost something. */
static inline bool ksk_trace_recording(const ksk_trace_span *sp)
{
	return sp && sp->state_ == 2;
}

/*! ksk_trace_ctx_valid() : a non-zero trace ID and span ID. */
static inline bool ksk_trace_ctx_valid(const ksk_trace_ctx *c)
{
	uint64_t t0, t1, s;
	if (!c)
		return false;
	memcpy(&t0, c->trace_id, 8);
	memcpy(&t1, c->trace_id + 8, 8);
	memcpy(&s, c->span_id, 8);
	return (t0 | t1) != 0 && s != 0;
}

/* ksk_trace_start_() : the macros' begin: one load and one branch when off. */
static inline void ksk_trace_start_(ksk_trace_span *sp, const ksk_trace_site *site,
                                    const ksk_trace_ctx *parent, unsigned flags)
{
	if (__builtin_expect(__atomic_load_n(&ksk_trace_on_, __ATOMIC_RELAXED) != 0, 1))
		ksk_trace_begin(sp, site, parent, flags);
	else
		sp->state_ = 0;
}

/* ksk_trace_cleanup_() : the cleanup function of scoped spans. */
static inline void ksk_trace_cleanup_(ksk_trace_span *sp)
{
	if (sp->state_)
		ksk_trace_end(sp);
}

static inline ksk_trace_attr_ *ksk_trace_attr_put_(ksk_trace_span *sp, const char *key,
                                                   size_t key_len, uint8_t type,
                                                   uint8_t owner)
{
	if (!sp || sp->state_ != 2)
		return NULL;
	if (sp->n_attrs_ >= KSK_TRACE_MAX_ATTRS || key_len == 0 || key_len > 0xffff) {
		if (sp->dropped_attrs_ != 0xff)
			sp->dropped_attrs_++;
		return NULL;
	}
	ksk_trace_attr_ *a = &sp->attrs_[sp->n_attrs_++];
	a->key = key;
	a->key_len = (uint16_t)key_len;
	a->type = type;
	a->owner = owner;
	return a;
}

/* Copies up to the room left, cut back to a UTF-8 boundary. */
static inline void ksk_trace_attr_copy_(ksk_trace_span *sp, ksk_trace_attr_ *a,
                                        const char *s, size_t n)
{
	size_t room = (size_t)KSK_TRACE_STR_BYTES - sp->str_used_;
	if (n > room) {
		n = room;
		while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
			n--;
	}
	memcpy(sp->str_ + sp->str_used_, s, n);
	a->s_off = sp->str_used_;
	a->s_len = (uint16_t)n;
	sp->str_used_ = (uint16_t)(sp->str_used_ + n);
}

static inline uint8_t ksk_trace_owner_(const ksk_trace_span *sp, bool event)
{
	return event ? sp->n_events_ : 0;
}

/* An event attribute needs a latest event that was kept. */
static inline bool ksk_trace_target_ok_(const ksk_trace_span *sp, bool event)
{
	return sp && (!event || (sp->n_events_ && !sp->ev_dropped_));
}

/*! ksk_trace_attr_int() .. _strn() : add an attribute to the span (event =
 *  false) or to its latest event (event = true; ignored when it has none).
 *  `key` must have static storage (a literal); string values are copied. */
static inline void ksk_trace_attr_int(ksk_trace_span *sp, bool event, const char *key,
                                      size_t key_len, int64_t v)
{
	if (ksk_trace_target_ok_(sp, event)) {
		ksk_trace_attr_ *a = ksk_trace_attr_put_(sp, key, key_len, KSK_VAL_INT,
		                                         ksk_trace_owner_(sp, event));
		if (a)
			a->v.i = v;
	}
}

static inline void ksk_trace_attr_double(ksk_trace_span *sp, bool event, const char *key,
                                         size_t key_len, double v)
{
	if (ksk_trace_target_ok_(sp, event)) {
		ksk_trace_attr_ *a = ksk_trace_attr_put_(sp, key, key_len, KSK_VAL_DOUBLE,
		                                         ksk_trace_owner_(sp, event));
		if (a)
			a->v.d = v;
	}
}

static inline void ksk_trace_attr_bool(ksk_trace_span *sp, bool event, const char *key,
                                       size_t key_len, bool v)
{
	if (ksk_trace_target_ok_(sp, event)) {
		ksk_trace_attr_ *a = ksk_trace_attr_put_(sp, key, key_len, KSK_VAL_BOOL,
		                                         ksk_trace_owner_(sp, event));
		if (a)
			a->v.b = v;
	}
}

static inline void ksk_trace_attr_strn(ksk_trace_span *sp, bool event, const char *key,
                                       size_t key_len, const char *s, size_t n)
{
	if (ksk_trace_target_ok_(sp, event)) {
		ksk_trace_attr_ *a = ksk_trace_attr_put_(sp, key, key_len, KSK_VAL_STR,
		                                         ksk_trace_owner_(sp, event));
		if (a)
			ksk_trace_attr_copy_(sp, a, s ? s : "", s ? n : 0);
	}
}

static inline void ksk_trace_attr_str(ksk_trace_span *sp, bool event, const char *key,
                                      size_t key_len, const char *s)
{
	ksk_trace_attr_strn(sp, event, key, key_len, s, s ? strlen(s) : 0);
}

/*! ksk_trace_attr_static() : a string value with static storage: only
 *  the pointer is kept (at most 65535 bytes). */
static inline void ksk_trace_attr_static(ksk_trace_span *sp, bool event, const char *key,
                                         size_t key_len, const char *s, size_t n)
{
	if (ksk_trace_target_ok_(sp, event) && n <= 0xffff) {
		ksk_trace_attr_ *a = ksk_trace_attr_put_(sp, key, key_len,
		                                         KSK_TRACE_VAL_STATIC_,
		                                         ksk_trace_owner_(sp, event));
		if (a) {
			a->v.p = s;
			a->s_off = 0;
			a->s_len = (uint16_t)n;
		}
	}
}

/* ---- macros -------------------------------------------------------------- */

#define KSK_TRACE_KEY_(k) "" k, (sizeof(k) - 1)

#ifndef KSK_TRACE_DISABLE

/* KSK_SPAN_KIND(sp, "name", kind) : declares `ksk_trace_span *const sp`,
 * begins it as a child of the thread's current span (or a root) and ends
 * it when the enclosing block is left. */
#define KSK_SPAN_KIND(var, name, kind)                                          \
	static const ksk_trace_site ksk_site_##var = KSK_TRACE_SITE_INIT(name, kind); \
	ksk_trace_span ksk_span_##var __attribute__((cleanup(ksk_trace_cleanup_))); \
	ksk_trace_span *const var = &ksk_span_##var;                           \
	ksk_trace_start_(var, &ksk_site_##var, NULL, 0)

#define KSK_SPAN(var, name) KSK_SPAN_KIND(var, name, KSK_KIND_INTERNAL)

/* KSK_SPAN_CHILD(sp, "name", kind, &ctx) : scoped, with an explicit parent
 * context (another thread's span, or an extracted remote context). */
#define KSK_SPAN_CHILD(var, name, kind, parent)                                 \
	static const ksk_trace_site ksk_site_##var = KSK_TRACE_SITE_INIT(name, kind); \
	ksk_trace_span ksk_span_##var __attribute__((cleanup(ksk_trace_cleanup_))); \
	ksk_trace_span *const var = &ksk_span_##var;                           \
	ksk_trace_start_(var, &ksk_site_##var, (parent), 0)

/* KSK_SPAN_BEGIN(ptr, "name", kind, parent_or_NULL) / KSK_SPAN_END(ptr) :
 * explicit pair on caller storage (`ksk_trace_span *`); the span becomes
 * current. _DETACHED: it does not (work that ends elsewhere). */
#define KSK_SPAN_BEGIN(sp, name, kind, parent)                                  \
	do {                                                                    \
		static const ksk_trace_site ksk_site_ = KSK_TRACE_SITE_INIT(name, kind); \
		ksk_trace_start_((sp), &ksk_site_, (parent), 0);               \
	} while (0)
#define KSK_SPAN_BEGIN_DETACHED(sp, name, kind, parent)                         \
	do {                                                                    \
		static const ksk_trace_site ksk_site_ = KSK_TRACE_SITE_INIT(name, kind); \
		ksk_trace_start_((sp), &ksk_site_, (parent), KSK_TRACE_DETACHED); \
	} while (0)
#define KSK_SPAN_END(sp) ksk_trace_end(sp)

#define KSK_SPAN_ATTR_STR(sp, key, s) ksk_trace_attr_str((sp), false, KSK_TRACE_KEY_(key), (s))
#define KSK_SPAN_ATTR_STRN(sp, key, s, n)                                       \
	ksk_trace_attr_strn((sp), false, KSK_TRACE_KEY_(key), (s), (n))
#define KSK_SPAN_ATTR_CONST(sp, key, lit)                                       \
	ksk_trace_attr_static((sp), false, KSK_TRACE_KEY_(key), "" lit, sizeof(lit) - 1)
#define KSK_SPAN_ATTR_INT(sp, key, v) ksk_trace_attr_int((sp), false, KSK_TRACE_KEY_(key), (v))
#define KSK_SPAN_ATTR_DOUBLE(sp, key, v)                                        \
	ksk_trace_attr_double((sp), false, KSK_TRACE_KEY_(key), (v))
#define KSK_SPAN_ATTR_BOOL(sp, key, v) ksk_trace_attr_bool((sp), false, KSK_TRACE_KEY_(key), (v))

#define KSK_SPAN_EVENT(sp, name) ksk_trace_event((sp), KSK_TRACE_KEY_(name))
#define KSK_SPAN_EVENT_ATTR_STR(sp, key, s) ksk_trace_attr_str((sp), true, KSK_TRACE_KEY_(key), (s))
#define KSK_SPAN_EVENT_ATTR_INT(sp, key, v) ksk_trace_attr_int((sp), true, KSK_TRACE_KEY_(key), (v))
#define KSK_SPAN_EVENT_ATTR_DOUBLE(sp, key, v)                                  \
	ksk_trace_attr_double((sp), true, KSK_TRACE_KEY_(key), (v))
#define KSK_SPAN_EVENT_ATTR_BOOL(sp, key, v)                                    \
	ksk_trace_attr_bool((sp), true, KSK_TRACE_KEY_(key), (v))

#define KSK_SPAN_STATUS(sp, code, msg) ksk_trace_set_status((sp), (code), (msg))
#define KSK_SPAN_ERROR(sp, msg) ksk_trace_set_status((sp), KSK_STATUS_ERROR, (msg))
#define KSK_SPAN_OK(sp) ksk_trace_set_status((sp), KSK_STATUS_OK, NULL)

#define KSK_SPAN_RECORDING(sp) ksk_trace_recording(sp)
#define KSK_TRACE_ENABLED() ksk_trace_enabled()

#else /* KSK_TRACE_DISABLE: every macro is gone. Arguments are not
       * evaluated: they only appear under sizeof, so variables used only in
       * tracing macros do not trigger unused-variable warnings. */

#define KSK_TRACE_NOP_(x) ((void)sizeof(x))
#define KSK_SPAN_KIND(var, name, kind) ksk_trace_span *const var __attribute__((unused)) = NULL
#define KSK_SPAN(var, name) KSK_SPAN_KIND(var, name, 0)
#define KSK_SPAN_CHILD(var, name, kind, parent)                                 \
	ksk_trace_span *const var __attribute__((unused)) =                     \
		(KSK_TRACE_NOP_(parent), (ksk_trace_span *)NULL)
#define KSK_SPAN_BEGIN(sp, name, kind, parent) (KSK_TRACE_NOP_(sp), KSK_TRACE_NOP_(parent))
#define KSK_SPAN_BEGIN_DETACHED(sp, name, kind, parent)                         \
	(KSK_TRACE_NOP_(sp), KSK_TRACE_NOP_(parent))
#define KSK_SPAN_END(sp) KSK_TRACE_NOP_(sp)
#define KSK_SPAN_ATTR_STR(sp, key, s) (KSK_TRACE_NOP_(sp), KSK_TRACE_NOP_(s))
#define KSK_SPAN_ATTR_STRN(sp, key, s, n) (KSK_TRACE_NOP_(sp), KSK_TRACE_NOP_(s), KSK_TRACE_NOP_(n))
#define KSK_SPAN_ATTR_CONST(sp, key, lit) KSK_TRACE_NOP_(sp)
#define KSK_SPAN_ATTR_INT(sp, key, v) (KSK_TRACE_NOP_(sp), KSK_TRACE_NOP_(v))
#define KSK_SPAN_ATTR_DOUBLE(sp, key, v) (KSK_TRACE_NOP_(sp), KSK_TRACE_NOP_(v))
#define KSK_SPAN_ATTR_BOOL(sp, key, v) (KSK_TRACE_NOP_(sp), KSK_TRACE_NOP_(v))
#define KSK_SPAN_EVENT(sp, name) KSK_TRACE_NOP_(sp)
#define KSK_SPAN_EVENT_ATTR_STR(sp, key, s) (KSK_TRACE_NOP_(sp), KSK_TRACE_NOP_(s))
#define KSK_SPAN_EVENT_ATTR_INT(sp, key, v) (KSK_TRACE_NOP_(sp), KSK_TRACE_NOP_(v))
#define KSK_SPAN_EVENT_ATTR_DOUBLE(sp, key, v) (KSK_TRACE_NOP_(sp), KSK_TRACE_NOP_(v))
#define KSK_SPAN_EVENT_ATTR_BOOL(sp, key, v) (KSK_TRACE_NOP_(sp), KSK_TRACE_NOP_(v))
#define KSK_SPAN_STATUS(sp, code, msg)                                          \
	(KSK_TRACE_NOP_(sp), KSK_TRACE_NOP_(code), KSK_TRACE_NOP_(msg))
#define KSK_SPAN_ERROR(sp, msg) (KSK_TRACE_NOP_(sp), KSK_TRACE_NOP_(msg))
#define KSK_SPAN_OK(sp) KSK_TRACE_NOP_(sp)
#define KSK_SPAN_RECORDING(sp) (KSK_TRACE_NOP_(sp), 0)
#define KSK_TRACE_ENABLED() 0

#endif /* KSK_TRACE_DISABLE */

#ifdef __cplusplus
}
#endif

#endif /* KSK_TRACE_H */
