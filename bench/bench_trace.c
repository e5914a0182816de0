/*
 * bench_trace.c : cost of libkiseki-trace spans on the service's thread.
 *
 * Measures, per span, begin + 2 attributes (an int and a copied 4-byte
 * string) + end through the KSK_SPAN macros:
 *   sampled, TSC clock        (the default where the TSC is invariant)
 *   sampled, REALTIME clock   (clock_gettime through the vDSO)
 *   not sampled (ratio 0)
 *   tracing off at run time   (ksk_trace_set_enabled(false))
 * beside, in the same run, loops doing only the two clock reads a span
 * needs (2x rdtsc, 2x clock_gettime(CLOCK_REALTIME)). CPU time is the
 * calling thread's (CLOCK_THREAD_CPUTIME_ID), so the exporter's work on
 * the other core is not counted there; it is reported on its own line
 * (CPU of the "ksk-trace" thread from /proc, per exported span), with the
 * agent sink sending every frame to an NNG PULL socket in this process.
 * Spans run in chunks of CHUNK that fit the ring; the exporter drains
 * between chunks (untimed), and the drop counters are checked to be 0.
 * Each figure is the median of REPS runs; ratios are to the clock-read
 * loop of the same clock.
 *
 * usage: bench_trace [spans-per-run (default 1048576)] [runs (default 7)]
 */
#include <dirent.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/pipeline0/pull.h>

#include "kiseki/trace.h"

#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#define HAVE_TSC 1
#else
#define HAVE_TSC 0
#endif

#define CHUNK 8192
#define MAX_REPS 31

static volatile uint64_t sink;

static uint64_t clk(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_d);
	return v[n / 2];
}

/* CPU ns of the exporter thread ("ksk-trace"), from /proc schedstat. */
static uint64_t exporter_cpu_ns(void)
{
	DIR *d = opendir("/proc/self/task");
	if (!d)
		return 0;
	uint64_t ns = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		char p[300], comm[32] = "";
		snprintf(p, sizeof(p), "/proc/self/task/%s/comm", e->d_name);
		FILE *f = fopen(p, "r");
		if (!f)
			continue;
		if (!fgets(comm, sizeof(comm), f))
			comm[0] = '\0';
		fclose(f);
		if (strncmp(comm, "ksk-trace", 9) != 0)
			continue;
		snprintf(p, sizeof(p), "/proc/self/task/%s/schedstat", e->d_name);
		f = fopen(p, "r");
		if (f) {
			unsigned long long v = 0;
			if (fscanf(f, "%llu", &v) == 1)
				ns = v;
			fclose(f);
		}
	}
	closedir(d);
	return ns;
}

typedef struct result {
	double cpu, wall;
} result;

/* ---- the loops ------------------------------------------------------------------ */

static void loop_tsc_pair(long n)
{
#if HAVE_TSC
	uint64_t s = 0;
	for (long i = 0; i < n; i++) {
		uint64_t a = __rdtsc();
		uint64_t b = __rdtsc();
		s += b - a;
	}
	sink += s;
#else
	(void)n;
#endif
}

static void loop_realtime_pair(long n)
{
	uint64_t s = 0;
	for (long i = 0; i < n; i++) {
		struct timespec a, b;
		clock_gettime(CLOCK_REALTIME, &a);
		clock_gettime(CLOCK_REALTIME, &b);
		s += (uint64_t)(b.tv_nsec - a.tv_nsec);
	}
	sink += s;
}

static void loop_spans(long n)
{
	for (long i = 0; i < n; i++) {
		KSK_SPAN(sp, "bench.op");
		KSK_SPAN_ATTR_INT(sp, "i", i);
		KSK_SPAN_ATTR_STR(sp, "db.op", "read");
	}
}

/* Runs `fn` for n iterations in chunks, draining the rings between chunks
 * when `drain`; returns ns/op of thread CPU and of wall time (timed parts). */
static result run(void (*fn)(long), long n, bool drain)
{
	uint64_t cpu = 0, wall = 0;
	for (long done = 0; done < n; done += CHUNK) {
		long k = n - done < CHUNK ? n - done : CHUNK;
		uint64_t c0 = clk(CLOCK_THREAD_CPUTIME_ID), w0 = clk(CLOCK_MONOTONIC);
		fn(k);
		uint64_t c1 = clk(CLOCK_THREAD_CPUTIME_ID), w1 = clk(CLOCK_MONOTONIC);
		cpu += c1 - c0;
		wall += w1 - w0;
		if (drain && ksk_trace_flush(10000) != KSK_OK) {
			fprintf(stderr, "bench_trace: flush timed out\n");
			exit(1);
		}
	}
	return (result){(double)cpu / (double)n, (double)wall / (double)n};
}

/* ---- the agent side: an NNG PULL socket drained by a thread --------------------- */

typedef struct receiver {
	nng_socket pull;
	pthread_t th;
	uint64_t frames, bytes;
} receiver;

static void *receiver_main(void *arg)
{
	receiver *r = arg;
	for (;;) {
		nng_msg *m;
		int rv = nng_recvmsg(r->pull, &m, 0);
		if (rv == NNG_ECLOSED)
			break;
		if (rv != 0)
			continue;
		r->frames++;
		r->bytes += nng_msg_len(m);
		nng_msg_free(m);
	}
	return NULL;
}

static void tracer_init(const char *url, ksk_trace_clock_mode mode, double ratio)
{
	ksk_trace_opts o;
	ksk_trace_opts_init(&o);
	o.service_name = "bench";
	o.agent_url = url;
	o.file_path = "";
	o.ring_slots = 2 * CHUNK;
	o.sample_ratio = ratio;
	o.clock_mode = mode;
	ksk_errinfo ei;
	if (ksk_trace_init(&o, &ei) != KSK_OK) {
		fprintf(stderr, "bench_trace: init: %s\n", ei.msg);
		exit(1);
	}
	for (int i = 0; i < 1000; i++) { /* touch the ring, connect */
		loop_spans(CHUNK / 8);
		ksk_trace_flush(10000);
		if (ratio == 0)
			return; /* nothing is sent: nothing to wait for */
		ksk_trace_stats st;
		ksk_trace_stats_get(&st);
		if (st.agent_spans_sent)
			return;
		struct timespec ts = {0, 5000000};
		nanosleep(&ts, NULL);
	}
	fprintf(stderr, "bench_trace: the in-process agent socket got nothing\n");
	exit(1);
}

static uint64_t agent_drops;

/* A span dropped at the ring would take the cheap path and flatter the
 * figures: fatal. Frames the agent socket did not take in time (a loaded
 * machine) do not change the service-side cost: counted and printed. */
static void check_drops(const char *what)
{
	ksk_trace_stats st;
	ksk_trace_stats_get(&st);
	agent_drops += st.agent_spans_dropped;
	if (st.dropped_ring_full || st.dropped_encode) {
		fprintf(stderr, "bench_trace: %s: dropped ring_full=%" PRIu64 " encode=%" PRIu64 "\n",
		        what, st.dropped_ring_full, st.dropped_encode);
		exit(1);
	}
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 1048576;
	int reps = argc > 2 ? atoi(argv[2]) : 7;
	if (n < CHUNK || reps < 1 || reps > MAX_REPS) {
		fprintf(stderr, "usage: bench_trace [spans >= %d] [runs 1..%d]\n", CHUNK, MAX_REPS);
		return 2;
	}
	char dir[] = "/tmp/kiseki-bench-trace-XXXXXX";
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	char url[128];
	snprintf(url, sizeof(url), "ipc://%s/intake.sock", dir);
	receiver rx;
	memset(&rx, 0, sizeof(rx));
	if (nng_pull0_open(&rx.pull) != 0 || nng_listen(rx.pull, url, NULL, 0) != 0) {
		fprintf(stderr, "bench_trace: cannot listen on %s\n", url);
		return 1;
	}
	pthread_create(&rx.th, NULL, receiver_main, &rx);

	double tsc2[MAX_REPS], rt2[MAX_REPS], s_tsc[MAX_REPS], s_rt[MAX_REPS];
	double s_uns[MAX_REPS], s_off[MAX_REPS], w_tsc[MAX_REPS], w_rt[MAX_REPS];
	double w_off[MAX_REPS], exp_ns[MAX_REPS], wtsc2[MAX_REPS], wrt2[MAX_REPS];
	for (int r = 0; r < reps; r++) {
		result x;
		x = run(loop_tsc_pair, n, false);
		tsc2[r] = x.cpu;
		wtsc2[r] = x.wall;
		x = run(loop_realtime_pair, n, false);
		rt2[r] = x.cpu;
		wrt2[r] = x.wall;

		tracer_init(url, HAVE_TSC ? KSK_TRACE_CLOCK_AUTO : KSK_TRACE_CLOCK_REALTIME, 1.0);
		ksk_trace_stats st0;
		ksk_trace_stats_get(&st0);
		uint64_t e0 = exporter_cpu_ns();
		x = run(loop_spans, n, true);
		uint64_t e1 = exporter_cpu_ns();
		ksk_trace_stats st1;
		ksk_trace_stats_get(&st1);
		s_tsc[r] = x.cpu;
		w_tsc[r] = x.wall;
		exp_ns[r] = (double)(e1 - e0) / (double)(st1.spans_exported - st0.spans_exported);
		check_drops("sampled");
		ksk_trace_set_enabled(false);
		x = run(loop_spans, n, false);
		s_off[r] = x.cpu;
		w_off[r] = x.wall;
		ksk_trace_set_enabled(true);
		ksk_trace_shutdown();

		tracer_init(url, KSK_TRACE_CLOCK_REALTIME, 1.0);
		x = run(loop_spans, n, true);
		s_rt[r] = x.cpu;
		w_rt[r] = x.wall;
		check_drops("sampled, realtime");
		ksk_trace_shutdown();

		tracer_init(url, KSK_TRACE_CLOCK_AUTO, 0.0);
		x = run(loop_spans, n, false);
		s_uns[r] = x.cpu;
		ksk_trace_shutdown();
	}
	double m_tsc2 = median(tsc2, reps), m_rt2 = median(rt2, reps);
	double m_tsc = median(s_tsc, reps), m_rt = median(s_rt, reps);
	double m_off = median(s_off, reps), m_uns = median(s_uns, reps);
	printf("spans per run: %ld, runs: %d, medians; CPU = the calling thread's CPU time\n", n,
	       reps);
	printf("span = KSK_SPAN + KSK_SPAN_ATTR_INT + KSK_SPAN_ATTR_STR (4 bytes) + scope end\n");
	printf("%-44s %12s %12s %10s\n", "", "CPU ns/op", "wall ns/op", "ratio");
#if HAVE_TSC
	printf("%-44s %12.1f %12.1f %10s\n", "2x rdtsc (clock reads alone)", m_tsc2,
	       median(wtsc2, reps), "1.00");
#endif
	printf("%-44s %12.1f %12.1f %10s\n", "2x clock_gettime(REALTIME) (reads alone)", m_rt2,
	       median(wrt2, reps), "1.00");
#if HAVE_TSC
	printf("%-44s %12.1f %12.1f %9.2fx\n", "span sampled, TSC clock (default)", m_tsc,
	       median(w_tsc, reps), m_tsc / m_tsc2);
#else
	printf("%-44s %12.1f %12.1f %9.2fx\n", "span sampled (default clock)", m_tsc,
	       median(w_tsc, reps), m_tsc / m_rt2);
#endif
	printf("%-44s %12.1f %12.1f %9.2fx\n", "span sampled, REALTIME clock", m_rt,
	       median(w_rt, reps), m_rt / m_rt2);
	printf("%-44s %12.1f %12s %10s\n", "span not sampled (ratio 0)", m_uns, "-", "-");
	printf("%-44s %12.2f %12.2f %10s\n", "tracing off at run time", m_off, median(w_off, reps),
	       "-");
	printf("%-44s %12.1f %12s %10s\n", "exporter thread CPU per span (frame + send)",
	       median(exp_ns, reps), "-", "-");
	printf("targets: sampled <= 60 ns, off < 1 ns: %s, %s\n", m_tsc <= 60 ? "met" : "MISSED",
	       m_off < 1 ? "met" : "MISSED");
	printf("agent socket received %" PRIu64 " frames, %" PRIu64 " bytes; spans the agent "
	       "socket did not take in time: %" PRIu64 "\n", rx.frames, rx.bytes, agent_drops);
	nng_close(rx.pull);
	pthread_join(rx.th, NULL);
	char p[200];
	snprintf(p, sizeof(p), "%s/intake.sock", dir);
	unlink(p);
	rmdir(dir);
	return 0;
}
