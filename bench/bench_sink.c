/*
 * bench_sink.c : an acking receiver for bench_agent, the cheapest thing an
 * agent can ship to.
 *
 * Role: measure the agent's own pipeline (tail, parse, encode, compress,
 * spool, send, ack) without a collector taking the same cores, the way
 * the reference measured its "compress + ship" pipeline into a counting
 * sink (../shared/reference/peer-benchmarks.md). It is not a collector:
 * it stores nothing and decodes nothing.
 *
 * Data in: batch frames on an NNG REP socket (the collector's intake
 * protocol, col_rep with 4 workers). Each frame's header and CRC are
 * checked (ksk_frame_parse_header: magic, lengths, the CRC over header
 * and payload); a good frame is acked "stored", a bad one "rejected" with
 * the parser's message (so a broken agent cannot pass as fast).
 * Data out: `ready bench-sink <url>` on stdout; on SIGTERM, one stderr
 * line with the frames and records it acked, then exit 0.
 *
 * usage: bench_sink URL       (tcp://127.0.0.1:PORT; port 0 picks one)
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "col_rep.h"
#include "kiseki/ack.h"
#include "kiseki/frame.h"

typedef struct sink {
	atomic_ullong frames;
	atomic_ullong records;
	atomic_ullong rejected;
} sink;

static void sink_handle(void *ctx, void *worker, const uint8_t *req, size_t len,
                        ksk_buf *reply)
{
	(void)worker;
	sink *s = ctx;
	ksk_frame_hdr h;
	ksk_errinfo ei;
	ksk_errinfo_clear(&ei);
	ksk_ack a;
	memset(&a, 0, sizeof(a));
	ksk_err rc = ksk_frame_parse_header(req, len, NULL, &h, &ei);
	if (rc == KSK_OK) {
		a.outcome = KSK_ACK_STORED;
		a.seq = h.seq;
		memcpy(a.agent_id, h.agent_id, sizeof(a.agent_id));
		atomic_fetch_add(&s->frames, 1);
		atomic_fetch_add(&s->records, h.record_count);
	} else {
		a.outcome = KSK_ACK_REJECTED;
		a.code = rc;
		snprintf(a.msg, sizeof(a.msg), "%s", ei.msg);
		atomic_fetch_add(&s->rejected, 1);
	}
	if (ksk_buf_reserve(reply, KSK_ACK_MAX) != KSK_OK)
		return; /* empty reply: the agent resends */
	reply->len = ksk_ack_encode(&a, reply->data, KSK_ACK_MAX);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: bench_sink URL\n");
		return 2;
	}
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);

	sink s;
	atomic_init(&s.frames, 0);
	atomic_init(&s.records, 0);
	atomic_init(&s.rejected, 0);
	col_rep_opts o;
	memset(&o, 0, sizeof(o));
	o.url = argv[1];
	o.workers = 4;
	o.recv_max = 16u << 20;
	o.ctx = &s;
	o.handle = sink_handle;
	o.what = "sink";
	col_rep *r;
	ksk_errinfo ei;
	ksk_errinfo_clear(&ei);
	if (col_rep_start(&o, &r, &ei) != KSK_OK) {
		fprintf(stderr, "bench_sink: %s\n", ei.msg);
		return 1;
	}
	printf("ready bench-sink %s\n", col_rep_url(r));
	fflush(stdout);
	int sig = 0;
	sigwait(&set, &sig);
	col_rep_stop(r);
	fprintf(stderr, "bench_sink: acked %llu frames, %llu records; rejected %llu\n",
	        (unsigned long long)atomic_load(&s.frames),
	        (unsigned long long)atomic_load(&s.records),
	        (unsigned long long)atomic_load(&s.rejected));
	return 0;
}
