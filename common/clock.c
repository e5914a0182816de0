/*
 * clock.c : the system clock and the manual test clock.
 *
 * Data out: nanosecond timestamps. Invariants: the manual clock never moves
 * unless ksk_manual_clock_advance() is called; the system table is const.
 */
#include "kiseki/clock.h"

#include <time.h>

static uint64_t ksk_sys_read(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t ksk_sys_wall(void *ctx)
{
	(void)ctx;
	return ksk_sys_read(CLOCK_REALTIME);
}

static uint64_t ksk_sys_mono(void *ctx)
{
	(void)ctx;
	return ksk_sys_read(CLOCK_MONOTONIC);
}

static const ksk_clock ksk_clock_sys = {ksk_sys_wall, ksk_sys_mono, NULL};

const ksk_clock *ksk_clock_system(void)
{
	return &ksk_clock_sys;
}

static uint64_t ksk_manual_wall(void *ctx)
{
	return ((ksk_manual_clock *)ctx)->wall;
}

static uint64_t ksk_manual_mono(void *ctx)
{
	return ((ksk_manual_clock *)ctx)->mono;
}

void ksk_manual_clock_init(ksk_manual_clock *mc, uint64_t wall_ns)
{
	mc->clock.wall_ns = ksk_manual_wall;
	mc->clock.mono_ns = ksk_manual_mono;
	mc->clock.ctx = mc;
	mc->wall = wall_ns;
	mc->mono = 0;
}

void ksk_manual_clock_advance(ksk_manual_clock *mc, uint64_t ns)
{
	mc->wall += ns;
	mc->mono += ns;
}
