/*
 * kiseki/clock.h : the injectable clock.
 *
 * Exports: ksk_clock (two function pointers plus a context), the system
 * clock, and a manual clock for tests. Everything time-dependent (batch
 * age, retry backoff, segment age, retention) reads time through a
 * ksk_clock passed in its context struct, so tests advance time by hand
 * instead of sleeping.
 * Threading: the system clock is thread-safe; a manual clock belongs to
 * one test.
 */
#ifndef KSK_CLOCK_H
#define KSK_CLOCK_H

#include <stdint.h>

typedef struct ksk_clock {
	uint64_t (*wall_ns)(void *ctx); /* ns since the Unix epoch */
	uint64_t (*mono_ns)(void *ctx); /* monotonic ns, for intervals */
	void *ctx;
} ksk_clock;

/*! ksk_clock_system() : CLOCK_REALTIME / CLOCK_MONOTONIC. Static. */
const ksk_clock *ksk_clock_system(void);

static inline uint64_t ksk_clock_wall(const ksk_clock *c)
{
	return c->wall_ns(c->ctx);
}

static inline uint64_t ksk_clock_mono(const ksk_clock *c)
{
	return c->mono_ns(c->ctx);
}

/* ksk_manual_clock : a clock that only moves when told. Caller-owned. */
typedef struct ksk_manual_clock {
	ksk_clock clock; /* pass &mc.clock where a ksk_clock is wanted */
	uint64_t wall;   /* current wall time, ns */
	uint64_t mono;   /* current monotonic time, ns */
} ksk_manual_clock;

/*! ksk_manual_clock_init() : starts at the given wall time, mono 0. */
void ksk_manual_clock_init(ksk_manual_clock *mc, uint64_t wall_ns);

/*! ksk_manual_clock_advance() : moves both clocks forward by `ns`. */
void ksk_manual_clock_advance(ksk_manual_clock *mc, uint64_t ns);

#endif /* KSK_CLOCK_H */
