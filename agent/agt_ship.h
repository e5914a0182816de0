/*
 * agt_ship.h : the agent's shipper: sends spooled frames to the collectors
 * over NNG REQ with acks, retries forever with capped exponential backoff
 * and full jitter, dead-letters rejected frames, and marks acked frames
 * done in the spool.
 *
 * Exports agt_ship (opaque; start / stop / stats) and the pure backoff
 * function agt_backoff_delay() (testable with any RNG state).
 * Hides: sockets, contexts, the retry list. docs/AGENT.md section 5 describes
 * the state machine.
 *
 * Routing: frame `dest` (given to agt_spool_append) modulo the number of
 * collectors picks the collector. The caller chooses dest (for example a
 * hash of the trace ID, or round-robin).
 *
 * Threading: one shipper thread owns every NNG context; aio callbacks only
 * post completions to it. agt_ship_get_stats() is thread-safe;
 * start/stop from one owner thread.
 * Ownership: the shipper borrows the spool (it must outlive the shipper)
 * and copies the collector URLs.
 */
#ifndef AGT_SHIP_H
#define AGT_SHIP_H

#include <stdint.h>

#include "agt_spool.h"
#include "kiseki/alloc.h"
#include "kiseki/clock.h"
#include "kiseki/err.h"

/* ---- backoff ------------------------------------------------------------- */

typedef struct agt_backoff {
	uint64_t base_ns; /* bound for attempt 0 (default 100 ms) */
	uint64_t cap_ns;  /* largest bound (default 30 s) */
} agt_backoff;

/*! agt_backoff_bound() : min(cap, base * 2^attempt), overflow-safe. */
uint64_t agt_backoff_bound(const agt_backoff *b, uint32_t attempt);

/*! agt_backoff_delay() : full jitter: uniform in [0, agt_backoff_bound()].
 *  @rng : xorshift state (non-zero), advanced. Pure; thread-safe per rng. */
uint64_t agt_backoff_delay(const agt_backoff *b, uint32_t attempt, uint64_t *rng);

/* ---- shipper --------------------------------------------------------------- */

#define AGT_SHIP_MAX_COLLECTORS 64

typedef struct agt_ship_opts {
	const char *const *collectors; /* URLs (--collector, repeatable); copied */
	uint32_t n_collectors;         /* 1..AGT_SHIP_MAX_COLLECTORS */
	uint32_t contexts;             /* frames in flight per collector (default 4) */
	uint64_t send_timeout_ns;      /* wait for a connection (default 5 s) */
	uint64_t ack_timeout_ns;       /* wait for the ack (default 30 s) */
	uint64_t resend_ns;            /* NNG_OPT_REQ_RESENDTIME (default 10 s) */
	uint64_t reconnect_min_ns;     /* NNG_OPT_RECONNMINT (default 100 ms) */
	uint64_t reconnect_max_ns;     /* NNG_OPT_RECONNMAXT (default 5 s) */
	agt_backoff backoff;           /* default 100 ms .. 30 s */
	uint32_t max_attempts;         /* 0 = retry forever (default); else
	                                  dead-letter after this many failures */
	uint32_t max_waiting;          /* frames claimed but not in flight (default 4096) */
	uint64_t rng_seed;             /* 0 = from getrandom */
	const ksk_clock *clock;        /* NULL = system; drives backoff */
	const ksk_alloc *alloc;        /* NULL = libc */
	agt_spool_log_fn log;          /* NULL = silent */
	void *log_ctx;
} agt_ship_opts;

/*! agt_ship_opts_default() : the defaults above, no collectors. */
void agt_ship_opts_default(agt_ship_opts *o);

typedef struct agt_ship agt_ship;

typedef struct agt_ship_stats {
	uint64_t sent_frames;      /* sends started (first tries and retries) */
	uint64_t sent_bytes;
	uint64_t acked;            /* outcome stored */
	uint64_t duplicate;        /* outcome duplicate (also done) */
	uint64_t retried;          /* failures that scheduled a retry */
	uint64_t busy;             /* outcome busy */
	uint64_t timeouts;         /* send or ack timed out */
	uint64_t net_errors;       /* other NNG errors, bad acks */
	uint64_t rejected;         /* outcome rejected */
	uint64_t rejected_by_code[32]; /* indexed by ksk_err (clamped to 31) */
	uint64_t dead_lettered;    /* rejected, unreadable or out of attempts */
	uint64_t retry_exhausted;  /* dead-lettered after max_attempts */
	uint32_t in_flight;
	uint64_t waiting;          /* claimed, waiting for backoff or a context */
	uint64_t oldest_unacked_age_ns; /* delivery lag: now - oldest pending append */
	agt_spool_stats spool;
} agt_ship_stats;

/*! agt_ship_start() : opens one REQ socket per collector (dialed with
 *  NNG_FLAG_NONBLOCK, so a collector that is down is not an error) and
 *  starts the shipper thread, which sends every unacked frame of the spool
 *  (so a restart resends everything not yet acked).
 *  @return : KSK_OK; KSK_EINVAL (no collector, bad URL); KSK_ENET; KSK_ENOMEM;
 *            KSK_ESYS (thread). */
ksk_err agt_ship_start(const agt_ship_opts *opts, agt_spool *spool, agt_ship **out,
                       ksk_errinfo *ei);

/*! agt_ship_stop() : stops sending new frames, waits up to `flush_ns`
 *  (real time) for the acks of frames in flight, closes the sockets and
 *  frees. Frames not acked stay in the spool for the next start. A socket
 *  that still has a request outstanding after the deadline is left open
 *  (nng 1.5.2 can hang closing it; docs/AGENT.md section 5). NULL no-op. */
void agt_ship_stop(agt_ship *s, uint64_t flush_ns);

/*! agt_ship_get_stats() : a snapshot (includes the spool's). */
void agt_ship_get_stats(agt_ship *s, agt_ship_stats *out);

/*! agt_ship_kick() : wakes the shipper (new frames, or a manual clock moved). */
void agt_ship_kick(agt_ship *s);

#endif /* AGT_SHIP_H */
