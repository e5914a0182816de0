/*
 * agt_ship.c : the shipper (agt_ship.h).
 *
 * Role: move frames from the spool to the collectors and record each
 * frame's fate in the spool. Data in: frames claimed from the spool (read
 * by offset, one at a time, when a context is free). Data out: NNG REQ
 * messages; agt_spool_acked() / agt_spool_dead_letter() calls; counters.
 *
 * Threads and locking: one shipper thread owns every socket, context,
 * frame item and the retry list. Each context's aio callback only sets
 * `posted` under `mu` and signals `cv`; the thread does all the work (so no
 * callback ever blocks or touches the spool). `mu` also guards the stats,
 * the kick flag and the stop request.
 *
 * Per context (one request at a time):
 *
 *   IDLE --start_send: claim/pick a due frame, read it, nng_ctx_send-->
 *   SENDING --ok: nng_ctx_recv--> RECVING --ack--> outcome --> IDLE
 *      |                              |
 *      '--error / timeout-------------'--> fail() --> IDLE
 *
 *   outcome stored | duplicate : agt_spool_acked, collector backoff reset
 *                                (and its waiting frames made due at once)
 *   outcome rejected           : log, count by code, dead-letter, never retry
 *   outcome busy, timeout, NNG error, bad ack : fail()
 *   fail(): attempt++; due = now + full-jitter backoff(attempt); the
 *           collector is also held back (blocked_until) by a backoff on its
 *           consecutive failures, so a down or busy collector is not
 *           hammered; with max_attempts set and reached: dead-letter.
 *
 * Invariants: a frame is in exactly one place: the spool (pending), the
 * waiting list (claimed, not in flight) or one context. Stop hands every
 * claimed frame back to the spool. Order of delivery is not kept (the
 * collector does not need it).
 */
#include "agt_ship.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>

#include "kiseki/ack.h"

enum { PH_IDLE = 0, PH_SENDING = 1, PH_RECVING = 2 };

typedef struct ship_item {
	agt_spool_item si;
	uint32_t attempt;  /* failures so far */
	uint64_t due_ns;   /* mono: not before */
} ship_item;

typedef struct ship_dest ship_dest;

typedef struct ship_ctx {
	struct agt_ship *sh;
	ship_dest *d;
	nng_ctx ctx;
	int ctx_open;
	nng_aio *aio;
	int phase;          /* PH_* (shipper thread) */
	int posted;         /* completion waiting (under mu) */
	ship_item it;       /* the frame in flight */
} ship_ctx;

struct ship_dest {
	char *url;
	nng_socket sock;
	int open;
	nng_dialer dialer;
	int dialed;
	ship_ctx *ctxs;
	uint32_t fails;          /* consecutive failures */
	uint64_t blocked_until;  /* mono */
};

struct agt_ship {
	agt_ship_opts o;
	agt_spool *sp;
	ship_dest *dests;
	uint32_t n_dests;
	ship_item *wait;         /* claimed, not in flight */
	size_t n_wait, cap_wait;
	uint64_t rng;
	pthread_t thr;
	int thr_started;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int kicked;
	int stop;                /* stop requested */
	uint64_t flush_deadline; /* real CLOCK_MONOTONIC ns */
	agt_ship_stats st;       /* under mu */
};

/* ---- backoff -------------------------------------------------------------------- */

uint64_t agt_backoff_bound(const agt_backoff *b, uint32_t attempt)
{
	uint64_t v = b->base_ns;
	for (uint32_t i = 0; i < attempt && v < b->cap_ns; i++)
		v = v > UINT64_MAX / 2 ? UINT64_MAX : v * 2;
	return v < b->cap_ns ? v : b->cap_ns;
}

static uint64_t rng_next(uint64_t *s)
{
	/* xorshift64* */
	uint64_t x = *s ? *s : 0x9e3779b97f4a7c15ull;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545f4914f6cdd1dull;
}

uint64_t agt_backoff_delay(const agt_backoff *b, uint32_t attempt, uint64_t *rng)
{
	uint64_t bound = agt_backoff_bound(b, attempt);
	uint64_t r = rng_next(rng);
	return bound == UINT64_MAX ? r : r % (bound + 1);
}

/* ---- helpers ------------------------------------------------------------------------ */

static void ship_log(agt_ship *sh, int level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void ship_log(agt_ship *sh, int level, const char *fmt, ...)
{
	if (!sh->o.log)
		return;
	char msg[1600];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	sh->o.log(sh->o.log_ctx, level, msg);
}

static uint64_t real_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static nng_duration to_ms(uint64_t ns)
{
	uint64_t ms = ns / 1000000ull;
	return ms > 0x7fffffff ? 0x7fffffff : (nng_duration)(ms ? ms : 1);
}

void agt_ship_opts_default(agt_ship_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->contexts = 4;
	o->send_timeout_ns = 5000000000ull;
	o->ack_timeout_ns = 30000000000ull;
	o->resend_ns = 10000000000ull;
	o->reconnect_min_ns = 100000000ull;
	o->reconnect_max_ns = 5000000000ull;
	o->backoff.base_ns = 100000000ull;
	o->backoff.cap_ns = 30000000000ull;
	o->max_waiting = 4096;
}

static void aio_cb(void *arg)
{
	ship_ctx *c = arg;
	agt_ship *sh = c->sh;
	pthread_mutex_lock(&sh->mu);
	c->posted = 1;
	pthread_cond_signal(&sh->cv);
	pthread_mutex_unlock(&sh->mu);
}

/* ---- outcomes ------------------------------------------------------------------------ */

static void dead_letter(agt_ship *sh, ship_item *it, const char *reason, bool exhausted)
{
	ksk_errinfo ei;
	ksk_errinfo_clear(&ei);
	if (agt_spool_dead_letter(sh->sp, it->si.seq, reason, &ei) != KSK_OK) {
		/* cannot write dead/: keep the frame and try again later */
		ship_log(sh, 2, "ship: cannot dead-letter frame %" PRIu64 ": %s", it->si.seq, ei.msg);
		it->due_ns = ksk_clock_mono(sh->o.clock) + sh->o.backoff.cap_ns;
		if (sh->n_wait < sh->cap_wait)
			sh->wait[sh->n_wait++] = *it;
		else
			agt_spool_unclaim(sh->sp, it->si.seq);
		return;
	}
	pthread_mutex_lock(&sh->mu);
	sh->st.dead_lettered++;
	if (exhausted)
		sh->st.retry_exhausted++;
	pthread_mutex_unlock(&sh->mu);
}

/* A retryable failure of the frame in `it`, sent to `d`. */
static void fail(agt_ship *sh, ship_dest *d, ship_item *it, const char *why)
{
	uint64_t now = ksk_clock_mono(sh->o.clock);
	it->attempt++;
	d->fails++;
	uint64_t hold = agt_backoff_delay(&sh->o.backoff, d->fails - 1, &sh->rng);
	if (now + hold > d->blocked_until)
		d->blocked_until = now + hold;
	if (sh->o.max_attempts && it->attempt >= sh->o.max_attempts) {
		char reason[1400];
		snprintf(reason, sizeof(reason), "gave up after %" PRIu32 " attempts; last: %s",
		         it->attempt, why);
		ship_log(sh, 2, "ship: frame %" PRIu64 " to %s: %s", it->si.seq, d->url, reason);
		dead_letter(sh, it, reason, true);
		return;
	}
	it->due_ns = now + agt_backoff_delay(&sh->o.backoff, it->attempt - 1, &sh->rng);
	pthread_mutex_lock(&sh->mu);
	sh->st.retried++;
	pthread_mutex_unlock(&sh->mu);
	if (d->fails == 1) /* once per outage, not once per frame */
		ship_log(sh, 1, "ship: frame %" PRIu64 " to %s: %s; retrying with backoff",
		         it->si.seq, d->url, why);
	/* the waiting list has room: every claimed frame had a slot there */
	sh->wait[sh->n_wait++] = *it;
}

static void on_ack(agt_ship *sh, ship_ctx *c, const uint8_t *buf, size_t len)
{
	ship_dest *d = c->d;
	ksk_ack ack;
	if (ksk_ack_decode(buf, len, &ack) != KSK_OK) {
		pthread_mutex_lock(&sh->mu);
		sh->st.net_errors++;
		pthread_mutex_unlock(&sh->mu);
		fail(sh, d, &c->it, "the reply is not an ack");
		return;
	}
	if (ack.outcome != KSK_ACK_REJECTED && ack.seq != c->it.si.seq) {
		pthread_mutex_lock(&sh->mu);
		sh->st.net_errors++;
		pthread_mutex_unlock(&sh->mu);
		fail(sh, d, &c->it, "the ack is for another frame");
		return;
	}
	ksk_errinfo ei;
	ksk_errinfo_clear(&ei);
	switch (ack.outcome) {
	case KSK_ACK_STORED:
	case KSK_ACK_DUPLICATE:
		if (d->fails) {
			ship_log(sh, 0, "ship: %s acks again after %" PRIu32 " failures", d->url,
			         d->fails);
			/* the outage is over: frames waiting out their backoff
			 * for this collector may go now */
			uint32_t di = (uint32_t)(d - sh->dests);
			for (size_t i = 0; i < sh->n_wait; i++)
				if (sh->wait[i].si.dest % sh->n_dests == di)
					sh->wait[i].due_ns = 0;
		}
		d->fails = 0;
		d->blocked_until = 0;
		if (agt_spool_acked(sh->sp, c->it.si.seq, &ei) != KSK_OK)
			ship_log(sh, 1, "ship: frame %" PRIu64 ": %s", c->it.si.seq, ei.msg);
		pthread_mutex_lock(&sh->mu);
		if (ack.outcome == KSK_ACK_STORED)
			sh->st.acked++;
		else
			sh->st.duplicate++;
		pthread_mutex_unlock(&sh->mu);
		break;
	case KSK_ACK_REJECTED: {
		d->fails = 0;
		d->blocked_until = 0;
		char reason[KSK_ACK_MSG_MAX + 256];
		snprintf(reason, sizeof(reason), "rejected by %s: %s: %s", d->url,
		         ksk_errname(ack.code), ack.msg);
		ship_log(sh, 2, "ship: frame %" PRIu64 " %s", c->it.si.seq, reason);
		pthread_mutex_lock(&sh->mu);
		sh->st.rejected++;
		sh->st.rejected_by_code[(unsigned)ack.code < 32 ? (unsigned)ack.code : 31]++;
		pthread_mutex_unlock(&sh->mu);
		dead_letter(sh, &c->it, reason, false);
		break;
	}
	case KSK_ACK_BUSY:
	default: {
		char why[KSK_ACK_MSG_MAX + 64];
		snprintf(why, sizeof(why), "busy: %s: %s", ksk_errname(ack.code), ack.msg);
		pthread_mutex_lock(&sh->mu);
		sh->st.busy++;
		pthread_mutex_unlock(&sh->mu);
		fail(sh, d, &c->it, why);
		break;
	}
	}
}

static void count_nng_error(agt_ship *sh, int rv)
{
	pthread_mutex_lock(&sh->mu);
	if (rv == NNG_ETIMEDOUT)
		sh->st.timeouts++;
	else
		sh->st.net_errors++;
	pthread_mutex_unlock(&sh->mu);
}

/* Handles the completion of context `c` (shipper thread). */
static void on_complete(agt_ship *sh, ship_ctx *c)
{
	int rv = nng_aio_result(c->aio);
	char why[128];
	if (c->phase == PH_SENDING) {
		if (rv != 0) {
			nng_msg *m = nng_aio_get_msg(c->aio);
			nng_aio_set_msg(c->aio, NULL);
			if (m)
				nng_msg_free(m);
			c->phase = PH_IDLE;
			count_nng_error(sh, rv);
			snprintf(why, sizeof(why), "send: %s", nng_strerror(rv));
			fail(sh, c->d, &c->it, why);
			return;
		}
		nng_aio_set_msg(c->aio, NULL);
		c->phase = PH_RECVING;
		nng_aio_set_timeout(c->aio, to_ms(sh->o.ack_timeout_ns));
		nng_ctx_recv(c->ctx, c->aio);
		return;
	}
	if (c->phase != PH_RECVING)
		return;
	c->phase = PH_IDLE;
	if (rv != 0) {
		count_nng_error(sh, rv);
		snprintf(why, sizeof(why), "waiting for the ack: %s", nng_strerror(rv));
		fail(sh, c->d, &c->it, why);
		return;
	}
	nng_msg *m = nng_aio_get_msg(c->aio);
	nng_aio_set_msg(c->aio, NULL);
	if (!m) {
		fail(sh, c->d, &c->it, "empty reply");
		return;
	}
	on_ack(sh, c, nng_msg_body(m), nng_msg_len(m));
	nng_msg_free(m);
}

/* ---- starting sends ------------------------------------------------------------------- */

/* Takes the due waiting frame for `d` with the lowest seq, else claims new
 * frames from the spool (parking those for other collectors). */
static bool pick(agt_ship *sh, uint32_t di, uint64_t now, ship_item *out)
{
	size_t best = SIZE_MAX;
	for (size_t i = 0; i < sh->n_wait; i++) {
		ship_item *w = &sh->wait[i];
		if (w->si.dest % sh->n_dests != di || w->due_ns > now)
			continue;
		if (best == SIZE_MAX || w->si.seq < sh->wait[best].si.seq)
			best = i;
	}
	if (best != SIZE_MAX) {
		*out = sh->wait[best];
		sh->wait[best] = sh->wait[--sh->n_wait];
		return true;
	}
	while (sh->n_wait < sh->o.max_waiting) {
		agt_spool_item si;
		if (agt_spool_claim(sh->sp, &si) != KSK_OK)
			return false;
		ship_item it = {si, 0, 0};
		if (si.dest % sh->n_dests == di) {
			*out = it;
			return true;
		}
		sh->wait[sh->n_wait++] = it;
	}
	return false;
}

static void start_send(agt_ship *sh, ship_ctx *c)
{
	nng_msg *m;
	int rv = nng_msg_alloc(&m, c->it.si.len);
	if (rv != 0) {
		fail(sh, c->d, &c->it, "no memory for the message");
		return;
	}
	ksk_errinfo ei;
	ksk_errinfo_clear(&ei);
	ksk_err rc = agt_spool_read(sh->sp, c->it.si.seq, nng_msg_body(m), c->it.si.len, &ei);
	if (rc != KSK_OK) {
		nng_msg_free(m);
		if (rc == KSK_ENOTFOUND)
			return; /* no longer in the spool */
		if (rc == KSK_ECORRUPT) {
			ship_log(sh, 2, "ship: frame %" PRIu64 ": %s", c->it.si.seq, ei.msg);
			dead_letter(sh, &c->it, ei.msg, false);
			return;
		}
		fail(sh, c->d, &c->it, ei.msg);
		return;
	}
	nng_aio_set_msg(c->aio, m);
	nng_aio_set_timeout(c->aio, to_ms(sh->o.send_timeout_ns));
	c->phase = PH_SENDING;
	pthread_mutex_lock(&sh->mu);
	sh->st.sent_frames++;
	sh->st.sent_bytes += c->it.si.len;
	pthread_mutex_unlock(&sh->mu);
	nng_ctx_send(c->ctx, c->aio);
}

static uint32_t in_flight(const agt_ship *sh)
{
	uint32_t n = 0;
	for (uint32_t i = 0; i < sh->n_dests; i++)
		for (uint32_t k = 0; k < sh->o.contexts; k++)
			n += sh->dests[i].ctxs[k].phase != PH_IDLE;
	return n;
}

/* ---- the thread ------------------------------------------------------------------------ */

static void *ship_main(void *arg)
{
	agt_ship *sh = arg;
	uint64_t last_tick = 0;
	for (;;) {
		/* wait for a completion, a kick, a stop, or a short timeout */
		pthread_mutex_lock(&sh->mu);
		bool any = sh->kicked;
		for (uint32_t i = 0; !any && i < sh->n_dests; i++)
			for (uint32_t k = 0; !any && k < sh->o.contexts; k++)
				any = sh->dests[i].ctxs[k].posted;
		if (!any && !sh->stop) {
			uint64_t wait_ms = sh->n_wait || sh->st.in_flight ? 20 : 200;
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_nsec += (long)(wait_ms * 1000000ull);
			while (ts.tv_nsec >= 1000000000L) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000L;
			}
			pthread_cond_timedwait(&sh->cv, &sh->mu, &ts);
		}
		sh->kicked = 0;
		int stopping = sh->stop;
		uint64_t deadline = sh->flush_deadline;
		pthread_mutex_unlock(&sh->mu);

		for (uint32_t i = 0; i < sh->n_dests; i++) {
			for (uint32_t k = 0; k < sh->o.contexts; k++) {
				ship_ctx *c = &sh->dests[i].ctxs[k];
				pthread_mutex_lock(&sh->mu);
				int p = c->posted;
				c->posted = 0;
				pthread_mutex_unlock(&sh->mu);
				if (p)
					on_complete(sh, c);
			}
		}
		uint64_t rnow = real_now();
		if (rnow - last_tick >= 100000000ull) {
			agt_spool_tick(sh->sp);
			last_tick = rnow;
		}
		uint32_t fl = in_flight(sh);
		if (stopping && (fl == 0 || rnow >= deadline))
			break;
		if (!stopping) {
			uint64_t now = ksk_clock_mono(sh->o.clock);
			for (uint32_t i = 0; i < sh->n_dests; i++) {
				ship_dest *d = &sh->dests[i];
				if (now < d->blocked_until)
					continue;
				for (uint32_t k = 0; k < sh->o.contexts; k++) {
					ship_ctx *c = &d->ctxs[k];
					if (c->phase != PH_IDLE)
						continue;
					if (!pick(sh, i, now, &c->it))
						break;
					start_send(sh, c);
					if (now < d->blocked_until)
						break;
				}
			}
			fl = in_flight(sh);
		}
		pthread_mutex_lock(&sh->mu);
		sh->st.in_flight = fl;
		sh->st.waiting = sh->n_wait;
		pthread_mutex_unlock(&sh->mu);
	}
	return NULL;
}

static void ship_notify(void *ctx)
{
	agt_ship_kick(ctx);
}

void agt_ship_kick(agt_ship *sh)
{
	pthread_mutex_lock(&sh->mu);
	sh->kicked = 1;
	pthread_cond_signal(&sh->cv);
	pthread_mutex_unlock(&sh->mu);
}

/* ---- start / stop ------------------------------------------------------------------------ */

/* nng 1.5.2 can hang for ever in nng_close() on a REQ socket with a
 * request outstanding (upstream nanomsg/nng #1543 / #1813, fixed in 1.8 by
 * #1824); the hang is in the process-wide reaper, so every later close
 * hangs too. ship_free() therefore leaves such a socket open (the process
 * is usually exiting), and closes idle ones on a helper thread: after
 * `timeout_ns` the shipper gives up on it and leaks the socket (logged)
 * rather than hang the agent's shutdown. The helper frees its own record
 * when it was abandoned. */
typedef struct closer {
	nng_socket sock;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int done;
	int abandoned;
} closer;

static void closer_free(closer *c)
{
	pthread_cond_destroy(&c->cv);
	pthread_mutex_destroy(&c->mu);
	ksk_free(ksk_alloc_default(), c);
}

static void *closer_main(void *arg)
{
	closer *c = arg;
	nng_close(c->sock);
	pthread_mutex_lock(&c->mu);
	c->done = 1;
	int ab = c->abandoned;
	pthread_cond_signal(&c->cv);
	pthread_mutex_unlock(&c->mu);
	if (ab)
		closer_free(c);
	return NULL;
}

/* Returns false when the close did not finish in time (socket leaked). */
static bool close_socket(nng_socket sock, uint64_t timeout_ns)
{
	closer *c = ksk_calloc(ksk_alloc_default(), 1, sizeof(*c));
	if (!c) {
		nng_close(sock);
		return true;
	}
	c->sock = sock;
	pthread_mutex_init(&c->mu, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&c->cv, &ca);
	pthread_condattr_destroy(&ca);
	pthread_t t;
	if (pthread_create(&t, NULL, closer_main, c) != 0) {
		closer_free(c);
		nng_close(sock);
		return true;
	}
	pthread_detach(t);
	uint64_t until = real_now() + timeout_ns;
	struct timespec ts = {(time_t)(until / 1000000000ull), (long)(until % 1000000000ull)};
	pthread_mutex_lock(&c->mu);
	while (!c->done)
		if (pthread_cond_timedwait(&c->cv, &c->mu, &ts) != 0)
			break;
	bool ok = c->done;
	if (!ok)
		c->abandoned = 1;
	pthread_mutex_unlock(&c->mu);
	if (ok)
		closer_free(c);
	return ok;
}

static void ship_free(agt_ship *sh)
{
	const ksk_alloc *a = sh->o.alloc;
	for (uint32_t i = 0; i < sh->n_dests; i++) {
		ship_dest *d = &sh->dests[i];
		/* a request still outstanding (flush deadline passed): closing
		 * this socket may hit the nng 1.5.2 close deadlock (see
		 * close_socket), which also blocks the process-wide reaper */
		bool busy = false;
		for (uint32_t k = 0; d->ctxs && k < sh->o.contexts; k++)
			busy = busy || d->ctxs[k].phase != PH_IDLE;
		/* cancel and wait for every operation, close the contexts, then
		 * the socket */
		for (uint32_t k = 0; d->ctxs && k < sh->o.contexts; k++)
			if (d->ctxs[k].aio)
				nng_aio_stop(d->ctxs[k].aio);
		for (uint32_t k = 0; d->ctxs && k < sh->o.contexts; k++)
			if (d->ctxs[k].ctx_open)
				nng_ctx_close(d->ctxs[k].ctx);
		if (d->open && busy) {
			ship_log(sh, 0, "ship: requests to %s still outstanding at stop: its socket is "
			         "left open (nng 1.5.2 may hang closing it)", d->url);
		} else if (d->open) {
			if (d->dialed)
				nng_dialer_close(d->dialer);
			if (!close_socket(d->sock, 2000000000ull))
				ship_log(sh, 1, "ship: closing the socket to %s did not finish in 2 s (a "
				         "known nng 1.5.2 bug); left behind", d->url);
		}
		for (uint32_t k = 0; d->ctxs && k < sh->o.contexts; k++) {
			ship_ctx *c = &d->ctxs[k];
			if (!c->aio)
				continue;
			nng_msg *m = nng_aio_get_msg(c->aio);
			/* a failed send leaves the request with the aio; a
			 * completed receive leaves the reply there */
			if (m && ((c->phase == PH_SENDING && nng_aio_result(c->aio) != 0) ||
			          (c->phase == PH_RECVING && nng_aio_result(c->aio) == 0)))
				nng_msg_free(m);
			nng_aio_free(c->aio);
			if (c->phase != PH_IDLE)
				agt_spool_unclaim(sh->sp, c->it.si.seq);
		}
		ksk_free(a, d->ctxs);
		ksk_free(a, d->url);
	}
	for (size_t i = 0; i < sh->n_wait; i++)
		agt_spool_unclaim(sh->sp, sh->wait[i].si.seq);
	ksk_free(a, sh->wait);
	ksk_free(a, sh->dests);
	pthread_cond_destroy(&sh->cv);
	pthread_mutex_destroy(&sh->mu);
	ksk_free(a, sh);
}

static ksk_err dest_open(agt_ship *sh, ship_dest *d, const char *url, ksk_errinfo *ei)
{
	size_t n = strlen(url);
	d->url = ksk_malloc(sh->o.alloc, n + 1);
	if (!d->url)
		return ksk_errinfo_set(ei, KSK_ENOMEM, "ship: no memory");
	memcpy(d->url, url, n + 1);
	int rv = nng_req0_open(&d->sock);
	if (rv != 0)
		return ksk_errinfo_set(ei, KSK_ENET, "ship: req socket: %s", nng_strerror(rv));
	d->open = 1;
	nng_socket_set_ms(d->sock, NNG_OPT_REQ_RESENDTIME, to_ms(sh->o.resend_ns));
	nng_socket_set_ms(d->sock, NNG_OPT_RECONNMINT, to_ms(sh->o.reconnect_min_ns));
	nng_socket_set_ms(d->sock, NNG_OPT_RECONNMAXT, to_ms(sh->o.reconnect_max_ns));
	/* replies are acks: a few hundred bytes; refuse anything big */
	nng_socket_set_size(d->sock, NNG_OPT_RECVMAXSZ, 64 * 1024);
	d->ctxs = ksk_calloc(sh->o.alloc, sh->o.contexts, sizeof(*d->ctxs));
	if (!d->ctxs)
		return ksk_errinfo_set(ei, KSK_ENOMEM, "ship: no memory");
	for (uint32_t k = 0; k < sh->o.contexts; k++) {
		ship_ctx *c = &d->ctxs[k];
		c->sh = sh;
		c->d = d;
		if ((rv = nng_ctx_open(&c->ctx, d->sock)) != 0)
			return ksk_errinfo_set(ei, KSK_ENET, "ship: context: %s", nng_strerror(rv));
		c->ctx_open = 1;
		if ((rv = nng_aio_alloc(&c->aio, aio_cb, c)) != 0)
			return ksk_errinfo_set(ei, KSK_ENOMEM, "ship: aio: %s", nng_strerror(rv));
	}
	rv = nng_dial(d->sock, url, &d->dialer, NNG_FLAG_NONBLOCK);
	if (rv == 0)
		d->dialed = 1;
	if (rv != 0)
		return ksk_errinfo_set(ei, rv == NNG_EADDRINVAL || rv == NNG_ENOTSUP ? KSK_EINVAL : KSK_ENET,
		                       "ship: cannot dial %s: %s", url, nng_strerror(rv));
	return KSK_OK;
}

ksk_err agt_ship_start(const agt_ship_opts *opts, agt_spool *spool, agt_ship **out,
                       ksk_errinfo *ei)
{
	*out = NULL;
	if (!opts || !spool || !opts->collectors || opts->n_collectors == 0 ||
	    opts->n_collectors > AGT_SHIP_MAX_COLLECTORS || opts->contexts == 0 ||
	    opts->contexts > 256 || opts->backoff.cap_ns == 0)
		return ksk_errinfo_set(ei, KSK_EINVAL, "ship: bad options (collectors, contexts)");
	const ksk_alloc *a = ksk_alloc_or_default(opts->alloc);
	agt_ship *sh = ksk_calloc(a, 1, sizeof(*sh));
	if (!sh)
		return ksk_errinfo_set(ei, KSK_ENOMEM, "ship: no memory");
	sh->o = *opts;
	sh->o.alloc = a;
	sh->o.collectors = NULL;
	if (!sh->o.clock)
		sh->o.clock = ksk_clock_system();
	if (sh->o.max_waiting == 0)
		sh->o.max_waiting = 4096;
	sh->sp = spool;
	pthread_mutex_init(&sh->mu, NULL);
	pthread_cond_init(&sh->cv, NULL);
	sh->rng = opts->rng_seed;
	while (!sh->rng)
		if (getrandom(&sh->rng, sizeof(sh->rng), 0) < 0 && errno != EINTR)
			sh->rng = 0x9e3779b97f4a7c15ull ^ real_now();
	ksk_err rc;
	/* +contexts per collector: a failed in-flight frame always has a slot */
	sh->cap_wait = sh->o.max_waiting + (size_t)opts->n_collectors * opts->contexts;
	sh->wait = ksk_calloc(a, sh->cap_wait, sizeof(*sh->wait));
	sh->dests = ksk_calloc(a, opts->n_collectors, sizeof(*sh->dests));
	if (!sh->wait || !sh->dests) {
		rc = ksk_errinfo_set(ei, KSK_ENOMEM, "ship: no memory");
		goto fail;
	}
	sh->n_dests = opts->n_collectors;
	for (uint32_t i = 0; i < sh->n_dests; i++) {
		rc = dest_open(sh, &sh->dests[i], opts->collectors[i], ei);
		if (rc != KSK_OK)
			goto fail;
	}
	if (pthread_create(&sh->thr, NULL, ship_main, sh) != 0) {
		rc = ksk_errinfo_set(ei, KSK_ESYS, "ship: cannot start the thread");
		goto fail;
	}
	sh->thr_started = 1;
	agt_spool_set_notify(spool, ship_notify, sh);
	*out = sh;
	return KSK_OK;
fail:
	ship_free(sh);
	return rc;
}

void agt_ship_stop(agt_ship *sh, uint64_t flush_ns)
{
	if (!sh)
		return;
	agt_spool_set_notify(sh->sp, NULL, NULL);
	pthread_mutex_lock(&sh->mu);
	sh->stop = 1;
	sh->flush_deadline = real_now() + flush_ns;
	pthread_cond_signal(&sh->cv);
	pthread_mutex_unlock(&sh->mu);
	if (sh->thr_started)
		pthread_join(sh->thr, NULL);
	ship_free(sh);
}

void agt_ship_get_stats(agt_ship *sh, agt_ship_stats *out)
{
	pthread_mutex_lock(&sh->mu);
	*out = sh->st;
	pthread_mutex_unlock(&sh->mu);
	agt_spool_get_stats(sh->sp, &out->spool);
	uint64_t now = ksk_clock_wall(sh->o.clock);
	out->oldest_unacked_age_ns = out->spool.oldest_pending_ns && now > out->spool.oldest_pending_ns
	                                 ? now - out->spool.oldest_pending_ns
	                                 : 0;
}
