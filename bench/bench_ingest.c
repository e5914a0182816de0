/*
 * bench_ingest.c : collector ingest throughput.
 *
 * Starts the real kiseki-collector pinned to CPU 0 (taskset) with
 * --fsync interval on an ipc:// intake, and streams pre-encoded frames to
 * it from this process (pinned to the other CPU) over several REQ sockets
 * so that many batches are in flight. Reports, as medians over RUNS runs:
 *   - spans/s acked (wall clock, first send to last ack),
 *   - spans per collector CPU-second (utime+stime of the collector process
 *     from /proc, which is the "per core" figure),
 * beside the baseline measured in this process on the same frames: frame
 * check + zstd + record decode alone on one thread (the floor of work any
 * ingest must do). Every run uses a fresh data directory.
 *
 * usage: bench_ingest COLLECTOR_BIN [frames] [spans_per_frame] [runs]
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "col_client.h"
#include "gen.h"
#include "harness.h"
#include "kiseki/clock.h"
#include "kiseki/frame.h"

#define SENDERS 6

typedef struct frame {
	uint8_t *b;
	size_t len;
} frame;

static frame *frames;
static uint32_t n_frames;
static atomic_uint next_frame;
static atomic_uint failures;

static uint64_t now_ns(void)
{
	return ksk_clock_mono(ksk_clock_system());
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static void *sender(void *arg)
{
	const char *url = arg;
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(1, &set);
	pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
	col_client *c;
	ksk_errinfo ei;
	if (col_client_open(url, 30000, &c, &ei) != KSK_OK) {
		atomic_fetch_add(&failures, 1);
		return NULL;
	}
	for (;;) {
		unsigned i = atomic_fetch_add(&next_frame, 1);
		if (i >= n_frames)
			break;
		ksk_ack ack;
		if (col_client_send_frame(c, frames[i].b, frames[i].len, &ack, &ei) != KSK_OK ||
		    ack.outcome != KSK_ACK_STORED) {
			fprintf(stderr, "bench_ingest: frame %u: %s %s\n", i, ei.msg, ack.msg);
			atomic_fetch_add(&failures, 1);
		}
	}
	col_client_close(c);
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: bench_ingest COLLECTOR_BIN [frames] [spans_per_frame] [runs]\n");
		return 2;
	}
	const char *bin = argv[1];
	n_frames = argc > 2 ? (uint32_t)atoi(argv[2]) : 1000;
	uint32_t per = argc > 3 ? (uint32_t)atoi(argv[3]) : 1000;
	int runs = argc > 4 ? atoi(argv[4]) : 3;
	if (runs > 9)
		runs = 9;

	/* frames: ~1000 spans each, 10 attributes and 2 events per span */
	ksk_gen *g;
	ksk_wire_enc *we;
	ksk_frame_enc *fe;
	if (ksk_gen_create(7, 8, &g) || ksk_wire_enc_create(NULL, NULL, 0, &we) ||
	    ksk_frame_enc_create(NULL, 1, &fe))
		return 1;
	frames = calloc(n_frames, sizeof(*frames));
	size_t bytes = 0;
	for (uint32_t i = 0; i < n_frames; i++) {
		ksk_gen_batch(g, we, per, 0, 1764000000000000000ull + (uint64_t)i * 1000000000ull);
		size_t plen;
		const uint8_t *p = ksk_wire_enc_data(we, &plen);
		ksk_frame_meta m;
		memset(&m, 0, sizeof(m));
		m.agent_id[0] = 1;
		m.seq = i + 1;
		m.record_count = ksk_wire_enc_count(we);
		m.compress = true;
		m.restore = ksk_wire_enc_restore(we);
		const uint8_t *f;
		size_t flen;
		if (ksk_frame_encode(fe, &m, p, plen, &f, &flen, NULL) != KSK_OK)
			return 1;
		frames[i].b = malloc(flen);
		memcpy(frames[i].b, f, flen);
		frames[i].len = flen;
		bytes += flen;
	}
	uint64_t spans = (uint64_t)n_frames * per;
	printf("bench_ingest: %u frames x %u spans (%.1f MB of frames, %.0f B/span on the wire), "
	       "%d senders, medians of %d runs\n",
	       n_frames, per, (double)bytes / 1e6, (double)bytes / (double)spans, SENDERS, runs);

	/* baseline: decode only, this process, one thread */
	double base[9];
	ksk_frame_dec *fd;
	ksk_wire_dec *wd;
	ksk_frame_dec_create(NULL, NULL, &fd);
	ksk_wire_dec_create(NULL, NULL, &wd);
	for (int r = 0; r < runs; r++) {
		uint64_t t = now_ns();
		for (uint32_t i = 0; i < n_frames; i++) {
			ksk_frame_hdr h;
			const ksk_batch *b;
			if (ksk_frame_decode_batch(fd, wd, frames[i].b, frames[i].len, &h, &b, NULL) != KSK_OK)
				return 1;
		}
		base[r] = (double)spans / ((double)(now_ns() - t) / 1e9);
	}

	double wall[9], percpu[9], cpu_s[9];
	for (int r = 0; r < runs; r++) {
		kh_msg msg;
		char *dir;
		if (kh_tmpdir_create("bench-ingest", &dir, &msg) != 0)
			return 1;
		char data[512], url[600];
		snprintf(data, sizeof(data), "%s/data", dir);
		if (kh_ipc_url(dir, "in.sock", url, sizeof(url), &msg) != 0)
			return 1;
		const char *av[] = {"/usr/bin/taskset", "-c", "0", bin, "--data-dir", data,
		                    "--listen", url, "--query-listen", "tcp://127.0.0.1:0",
		                    "--fsync", "interval", "--workers", "8", NULL};
		kh_spawn_opts o;
		memset(&o, 0, sizeof(o));
		o.argv = av;
		o.name = "collector";
		kh_proc *p;
		const char *nm, *addr;
		if (kh_proc_spawn(&p, &o, &msg) != 0 || kh_proc_wait_ready(p, 20000, &nm, &addr, &msg) != 0) {
			fprintf(stderr, "bench_ingest: %s\n", msg.text);
			return 1;
		}
		atomic_store(&next_frame, 0);
		double c0 = kh_pid_cpu_s(kh_proc_pid(p));
		uint64_t t = now_ns();
		pthread_t th[SENDERS];
		for (int i = 0; i < SENDERS; i++)
			pthread_create(&th[i], NULL, sender, url);
		for (int i = 0; i < SENDERS; i++)
			pthread_join(th[i], NULL);
		double secs = (double)(now_ns() - t) / 1e9;
		double c1 = kh_pid_cpu_s(kh_proc_pid(p));
		kh_exit ex;
		kh_proc_stop(p, 30000, &ex, &msg);
		kh_proc_destroy(p);
		kh_rmtree(dir, &msg);
		free(dir);
		if (atomic_load(&failures)) {
			fprintf(stderr, "bench_ingest: %u frames failed\n", atomic_load(&failures));
			return 1;
		}
		wall[r] = (double)spans / secs;
		cpu_s[r] = c1 - c0;
		percpu[r] = cpu_s[r] > 0 ? (double)spans / cpu_s[r] : 0;
	}
	qsort(base, (size_t)runs, sizeof(double), cmp_d);
	qsort(wall, (size_t)runs, sizeof(double), cmp_d);
	qsort(percpu, (size_t)runs, sizeof(double), cmp_d);
	qsort(cpu_s, (size_t)runs, sizeof(double), cmp_d);
	double mb = base[runs / 2], mw = wall[runs / 2], mp = percpu[runs / 2];
	printf("  ingest, acked (wall)          %10.0f spans/s\n", mw);
	printf("  ingest per collector CPU-s    %10.0f spans/s (collector CPU %.2f s per run)\n", mp,
	       cpu_s[runs / 2]);
	printf("  baseline: decode only, 1 core %10.0f spans/s | ingest/baseline %.2f (per CPU-s)\n",
	       mb, mp / mb);
	printf("  target >= 500000 spans/s per core: %s\n", mp >= 500000 ? "met" : "NOT met");
	return 0;
}
