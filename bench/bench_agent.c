/*
 * bench_agent.c : kiseki-agent end-to-end benchmark.
 *
 * 1. Throughput: writes a realistic log (default 1 GiB; ~200-byte lines
 *    with timestamps, levels and, for 9 lines in 10, trace and span IDs,
 *    from tools/gen.c), then times the real kiseki-agent tailing it from
 *    the head (auto parser, trace-ID extraction, msgpack, zstd frames,
 *    spool with fsync, ack) until the real kiseki-collector (--fsync
 *    interval) has acked the last line. Reports MB/s, lines/s, the agent's
 *    CPU seconds and peak RSS (/proc), beside `zstd -1 -T1` on the same
 *    file in the same run (the baseline: the ratio is agent MB/s over
 *    zstd MB/s). Medians over RUNS runs. The collector's CPU seconds are
 *    printed too: both daemons share this machine's cores, so the wall
 *    time cannot be shorter than their CPU sum over the core count.
 *    The same, into bench_sink (checks each frame's CRC and acks it,
 *    stores nothing) instead of a collector: the agent's own pipeline
 *    with the cores to itself. Then the agent alone (no receiver, until
 *    read) and a collector alone draining the spool that run filled.
 * 2. Idle: 1,000 tailed files that do not change; the agent's CPU over
 *    10 s, as a percentage of one core.
 *
 * usage: bench_agent AGENT_BIN COLLECTOR_BIN [MiB] [runs]
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "gen.h"
#include "harness.h"
#include "kiseki/clock.h"

static uint64_t now_ns(void)
{
	return ksk_clock_mono(ksk_clock_system());
}

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double med(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(double), cmp_d);
	return v[n / 2];
}

/* a metric's value from /metrics on 127.0.0.1:port ("name " at a line
 * start); -1 when it cannot be read. A plain socket, no child process:
 * the polls must not take CPU from the daemons being timed. */
static double metric(uint16_t port, const char *name)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		return -1;
	struct sockaddr_in a;
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons(port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	static const char req[] = "GET /metrics HTTP/1.0\r\n\r\n";
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
	    write(fd, req, sizeof(req) - 1) != (ssize_t)(sizeof(req) - 1)) {
		close(fd);
		return -1;
	}
	static char body[1 << 20];
	size_t len = 0;
	ssize_t n;
	while (len < sizeof(body) - 1 && (n = read(fd, body + len, sizeof(body) - 1 - len)) > 0)
		len += (size_t)n;
	close(fd);
	body[len] = '\0';
	size_t nl = strlen(name);
	for (const char *l = body; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
		if (strncmp(l, name, nl) == 0 && l[nl] == ' ')
			return atof(l + nl + 1);
	return -1;
}

/* Polls metric `name` on `port` every 20 ms until it is >= `want`
 * (at_least) or == `want`; false once 30 minutes have passed since t0. */
static bool wait_metric(uint16_t port, const char *name, double want, bool at_least,
                        uint64_t t0)
{
	for (;;) {
		double v = metric(port, name);
		if (at_least ? v >= want : v == want)
			return true;
		if ((now_ns() - t0) / 1000000000ull > 1800) {
			fprintf(stderr, "bench_agent: timed out waiting for %s (at %.0f)\n", name, v);
			return false;
		}
		sleep_ms(20);
	}
}

static kh_proc *spawn(const char *const *argv, const char *name)
{
	kh_spawn_opts o;
	memset(&o, 0, sizeof(o));
	o.argv = argv;
	o.name = name;
	kh_proc *p;
	kh_msg m;
	const char *n, *a;
	if (kh_proc_spawn(&p, &o, &m) != 0 || kh_proc_wait_ready(p, 30000, &n, &a, &m) != 0) {
		fprintf(stderr, "bench_agent: %s: %s\n", name, m.text);
		exit(1);
	}
	return p;
}

static void stop(kh_proc *p)
{
	kh_exit ex;
	kh_msg m;
	kh_proc_stop(p, 60000, &ex, &m);
	kh_proc_destroy(p);
}

static uint16_t free_port(void)
{
	uint16_t p = 0;
	kh_msg m;
	if (kh_free_port(&p, &m) != 0) {
		fprintf(stderr, "bench_agent: %s\n", m.text);
		exit(1);
	}
	return p;
}

/* Starts a collector on free ports with its data in `data`; its intake URL
 * goes to ingest[64]. @fsync : "--fsync" value or NULL (its default).
 * @metrics_port : where to serve /metrics, 0 = none. */
static kh_proc *start_collector(const char *bin, const char *data, const char *fsync,
                                uint16_t metrics_port, char *ingest)
{
	char query[64], mport[32];
	snprintf(ingest, 64, "tcp://127.0.0.1:%u", free_port());
	snprintf(query, sizeof(query), "tcp://127.0.0.1:%u", free_port());
	snprintf(mport, sizeof(mport), "127.0.0.1:%u", metrics_port);
	const char *argv[16] = {bin, "--data-dir", data, "--listen", ingest, "--query-listen", query};
	int n = 7;
	if (fsync) {
		argv[n++] = "--fsync";
		argv[n++] = fsync;
	}
	if (metrics_port) {
		argv[n++] = "--metrics-listen";
		argv[n++] = mport;
	}
	return spawn(argv, "collector");
}

/* Starts the agent tailing `glob` (from the head: `--tail`) into `url`,
 * its /metrics on `metrics_port`, with optional --batch-max-bytes and
 * --spool-max values (NULL = the agent's defaults). */
static kh_proc *start_agent(const char *bin, const char *spool, const char *url,
                            const char *glob, uint16_t metrics_port, const char *batch,
                            const char *spool_max)
{
	char mport[32];
	snprintf(mport, sizeof(mport), "127.0.0.1:%u", metrics_port);
	const char *argv[24] = {bin, "--spool-dir", spool, "--collector", url, "--tail", glob,
	                        "--otlp-listen", "off", "--zipkin-listen", "off",
	                        "--metrics-listen", mport};
	int n = 13;
	if (batch) {
		argv[n++] = "--batch-max-bytes";
		argv[n++] = batch;
	}
	if (spool_max) {
		argv[n++] = "--spool-max";
		argv[n++] = spool_max;
	}
	return spawn(argv, "agent");
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: bench_agent AGENT_BIN COLLECTOR_BIN [MiB] [runs]\n");
		return 2;
	}
	const char *agent = argv[1], *collector = argv[2];
	/* bench_sink is built next to this program */
	char sink[1100];
	const char *slash = strrchr(argv[0], '/');
	snprintf(sink, sizeof(sink), "%.*sbench_sink", slash ? (int)(slash - argv[0] + 1) : 0, argv[0]);
	if (access(sink, X_OK) != 0) {
		fprintf(stderr, "bench_agent: %s not found (built with bench_agent)\n", sink);
		return 2;
	}
	/* KSK_BENCH_AGENT_BATCH=SIZE passes --batch-max-bytes (default: the
	 * agent's own default) */
	const char *batch = getenv("KSK_BENCH_AGENT_BATCH");
	uint64_t mib = argc > 3 ? strtoull(argv[3], NULL, 10) : 1024;
	int runs = argc > 4 ? atoi(argv[4]) : 3;
	if (runs < 1 || runs > 9)
		runs = 3;
	kh_msg m;
	char *dir;
	if (kh_tmpdir_create("bench-agent", &dir, &m) != 0)
		return 1;
	char logdir[600], logfile[700];
	snprintf(logdir, sizeof(logdir), "%s/logs", dir);
	mkdir(logdir, 0755);
	snprintf(logfile, sizeof(logfile), "%s/app.log", logdir);

	/* the log file */
	ksk_gen *g;
	if (ksk_gen_create(11, 8, &g) != KSK_OK)
		return 1;
	FILE *f = fopen(logfile, "w");
	static char buf[1 << 20];
	setvbuf(f, buf, _IOFBF, sizeof(buf));
	uint64_t bytes = 0, lines = 0, t = 1764000000000000000ull;
	char line[512];
	while (bytes < mib << 20) {
		size_t n = ksk_gen_log_line(g, t, line, sizeof(line) - 1);
		line[n++] = '\n';
		fwrite(line, 1, n, f);
		bytes += n;
		lines++;
		t += 1000000;
	}
	fclose(f);
	ksk_gen_destroy(g);
	printf("bench_agent: %.0f MiB log, %llu lines (%.0f B/line), medians of %d runs\n",
	       (double)bytes / 1048576.0, (unsigned long long)lines, (double)bytes / (double)lines, runs);

	/* baseline: zstd -1 -T1 on the same file (page cache warm, as the agent) */
	double zmbs[9];
	for (int r = 0; r < runs; r++) {
		char cmd[900];
		snprintf(cmd, sizeof(cmd), "zstd -1 -T1 -q -c '%s' > /dev/null", logfile);
		uint64_t t0 = now_ns();
		if (system(cmd) != 0) {
			fprintf(stderr, "bench_agent: zstd failed (is it installed?)\n");
			return 1;
		}
		zmbs[r] = (double)bytes / 1e6 / ((double)(now_ns() - t0) / 1e9);
	}

	double mbs[9], cpu[9], rss[9], mbcpu[9], ccpu[9], crss[9];
	char glob[800];
	snprintf(glob, sizeof(glob), "%s/*.log=bench", logdir);
	for (int r = 0; r < runs; r++) {
		char data[700], spool[700], ingest[64];
		snprintf(data, sizeof(data), "%s/data-%d", dir, r);
		snprintf(spool, sizeof(spool), "%s/spool-%d", dir, r);
		uint16_t p3 = free_port();
		kh_proc *col = start_collector(collector, data, "interval", 0, ingest);
		uint64_t t0 = now_ns();
		kh_proc *agt = start_agent(agent, spool, ingest, glob, p3, batch, NULL);
		pid_t pid = kh_proc_pid(agt);
		if (!wait_metric(p3, "kiseki_agent_lines_total", (double)lines, true, t0) ||
		    !wait_metric(p3, "kiseki_agent_spool_frames_pending", 0, false, t0))
			return 1;
		double secs = (double)(now_ns() - t0) / 1e9;
		cpu[r] = kh_pid_cpu_s(pid);
		ccpu[r] = kh_pid_cpu_s(kh_proc_pid(col));
		crss[r] = (double)kh_pid_hwm_kib(kh_proc_pid(col)) / 1024.0;
		rss[r] = (double)kh_pid_hwm_kib(pid) / 1024.0;
		mbs[r] = (double)bytes / 1e6 / secs;
		mbcpu[r] = cpu[r] > 0 ? (double)bytes / 1e6 / cpu[r] : 0;
		stop(agt);
		stop(col);
		char rm[1600];
		snprintf(rm, sizeof(rm), "rm -rf '%s' '%s'", data, spool);
		if (system(rm) != 0)
			return 1;
	}
	/* the agent into bench_sink: a receiver that checks each frame's CRC
	 * and acks it, storing nothing (the reference's counting sink, with
	 * acks), so the agent has the cores to itself; timed like the first
	 * phase, until every line is read and every frame acked */
	double sk_mbs[9], sk_cpu[9], sk_scpu[9];
	for (int r = 0; r < runs; r++) {
		char spool[700], ingest[64];
		snprintf(spool, sizeof(spool), "%s/spool-sink-%d", dir, r);
		uint16_t p3 = free_port();
		snprintf(ingest, sizeof(ingest), "tcp://127.0.0.1:%u", free_port());
		const char *sargv[] = {sink, ingest, NULL};
		kh_proc *snk = spawn(sargv, "bench_sink");
		uint64_t t0 = now_ns();
		kh_proc *agt = start_agent(agent, spool, ingest, glob, p3, batch, NULL);
		if (!wait_metric(p3, "kiseki_agent_lines_total", (double)lines, true, t0) ||
		    !wait_metric(p3, "kiseki_agent_spool_frames_pending", 0, false, t0))
			return 1;
		double secs = (double)(now_ns() - t0) / 1e9;
		sk_mbs[r] = (double)bytes / 1e6 / secs;
		sk_cpu[r] = kh_pid_cpu_s(kh_proc_pid(agt));
		sk_scpu[r] = kh_pid_cpu_s(kh_proc_pid(snk));
		stop(agt);
		stop(snk);
		char rm[800];
		snprintf(rm, sizeof(rm), "rm -rf '%s'", spool);
		if (system(rm) != 0)
			return 1;
	}
	/* the agent alone: no collector (its --collector port has no
	 * listener), so the frames stay in the spool; timed until every line
	 * is read (the spooler then at most its few slots behind) */
	double alone[9], alone_cpu[9];
	double dr_ack[9], dr_all[9], dr_cpu[9], dr_rss[9];
	for (int r = 0; r < runs; r++) {
		char spool[700], dead[64];
		snprintf(spool, sizeof(spool), "%s/spool-alone-%d", dir, r);
		uint16_t p3 = free_port();
		snprintf(dead, sizeof(dead), "tcp://127.0.0.1:%u", free_port());
		uint64_t t0 = now_ns();
		kh_proc *agt = start_agent(agent, spool, dead, glob, p3, batch, "4GiB");
		if (!wait_metric(p3, "kiseki_agent_lines_total", (double)lines, true, t0))
			return 1;
		double secs = (double)(now_ns() - t0) / 1e9;
		alone[r] = (double)bytes / 1e6 / secs;
		alone_cpu[r] = kh_pid_cpu_s(kh_proc_pid(agt));
		stop(agt); /* SIGTERM: every frame is in the spool */

		/* the collector alone: it drains that spool (the agent restarts
		 * on it, its files already read), timed until the last ack and
		 * until no full segment waits to be sealed */
		char data[700], ingest[64];
		snprintf(data, sizeof(data), "%s/data-drain-%d", dir, r);
		uint16_t c3 = free_port();
		kh_proc *col = start_collector(collector, data, "interval", c3, ingest);
		t0 = now_ns();
		agt = start_agent(agent, spool, ingest, glob, p3, NULL, NULL);
		if (!wait_metric(p3, "kiseki_agent_spool_frames_pending", 0, false, t0))
			return 1;
		dr_ack[r] = (double)(now_ns() - t0) / 1e9;
		if (!wait_metric(c3, "kiseki_collector_segments_sealing", 0, false, t0))
			return 1;
		dr_all[r] = (double)(now_ns() - t0) / 1e9;
		dr_cpu[r] = kh_pid_cpu_s(kh_proc_pid(col));
		dr_rss[r] = (double)kh_pid_hwm_kib(kh_proc_pid(col)) / 1024.0;
		stop(agt);
		stop(col);
		char rm[1600];
		snprintf(rm, sizeof(rm), "rm -rf '%s' '%s'", spool, data);
		if (system(rm) != 0)
			return 1;
	}
	double zm = med(zmbs, runs), am = med(mbs, runs);
	printf("  zstd -1 -T1 alone           %8.1f MB/s\n", zm);
	printf("  agent, tail until acked     %8.1f MB/s  %10.0f lines/s | ratio to zstd -1 %.2f (target >= 0.6)\n",
	       am, (double)lines / ((double)bytes / 1e6 / am), am / zm);
	printf("  agent CPU                   %8.2f s      %8.1f MB per CPU-second\n", med(cpu, runs),
	       med(mbcpu, runs));
	printf("  collector CPU               %8.2f s      (same machine: %ld cores for both)\n",
	       med(ccpu, runs), sysconf(_SC_NPROCESSORS_ONLN));
	printf("  collector peak RSS          %8.1f MiB  (open segment, those being sealed)\n",
	       med(crss, runs));
	printf("  agent peak RSS              %8.1f MiB  (target <= 30)\n", med(rss, runs));
	printf("  agent into bench_sink, until acked %6.1f MB/s  ratio to zstd -1 %.2f, agent %.2f CPU-s, "
	       "sink %.2f CPU-s (no collector on the cores)\n",
	       med(sk_mbs, runs), med(sk_mbs, runs) / zm, med(sk_cpu, runs), med(sk_scpu, runs));
	printf("  agent alone (no collector)  %8.1f MB/s  ratio to zstd -1 %.2f, %.2f CPU-s (until read)\n",
	       med(alone, runs), med(alone, runs) / zm, med(alone_cpu, runs));
	printf("  collector alone, draining that spool: %.2f s until acked, %.2f s with its seals "
	       "(%.1f MB/s of log), %.2f CPU-s, peak RSS %.1f MiB\n",
	       med(dr_ack, runs), med(dr_all, runs), (double)bytes / 1e6 / med(dr_all, runs),
	       med(dr_cpu, runs), med(dr_rss, runs));
	printf("  rsyslog on the same file: scripts/bench_rsyslog.sh (run next by make bench)\n");

	/* idle: 1000 files */
	char idir[600];
	snprintf(idir, sizeof(idir), "%s/idle", dir);
	mkdir(idir, 0755);
	for (int i = 0; i < 1000; i++) {
		char p[700];
		snprintf(p, sizeof(p), "%s/f%04d.log", idir, i);
		FILE *x = fopen(p, "w");
		fprintf(x, "2026-11-29T10:00:00Z INFO [idle] file %d seq=1\n", i);
		fclose(x);
	}
	{
		char data[700], spool[700], iglob[800], ingest[64];
		snprintf(data, sizeof(data), "%s/data-idle", dir);
		snprintf(spool, sizeof(spool), "%s/spool-idle", dir);
		snprintf(iglob, sizeof(iglob), "%s/*.log=idle", idir);
		uint16_t p3 = free_port();
		kh_proc *col = start_collector(collector, data, NULL, 0, ingest);
		kh_proc *agt = start_agent(agent, spool, ingest, iglob, p3, NULL, NULL);
		for (int w = 0; w < 300 && metric(p3, "kiseki_agent_lines_total") < 1000; w++)
			sleep_ms(100);
		sleep_ms(2000); /* settle: last batch acked, checkpoint saved */
		double c0 = kh_pid_cpu_s(kh_proc_pid(agt));
		sleep_ms(10000);
		double c1 = kh_pid_cpu_s(kh_proc_pid(agt));
		printf("  idle, 1000 tailed files     %8.3f %% of one core over 10 s (%.3f CPU-s; /proc tick %ld Hz)\n",
		       (c1 - c0) / 10.0 * 100.0, c1 - c0, sysconf(_SC_CLK_TCK));
		stop(agt);
		stop(col);
	}
	kh_rmtree(dir, &m);
	free(dir);
	return 0;
}
