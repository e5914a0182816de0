/*
 * col_ingest.c : batch intake over NNG REQ/REP with contexts (col_ingest.h).
 *
 * Data in: frames from agents (NNG messages, at most frame_limits.max_frame
 * bytes: NNG_OPT_RECVMAXSZ is set, since NNG 1.5's default is unlimited).
 * Data out: one ack message per frame; stored batches in the col_store.
 *
 * Transport: col_rep (an NNG REP socket with one context per worker
 * thread). Per frame, on a worker: check -> decode -> append -> ack.
 * Ack outcomes:
 *   rejected : the frame or a record is invalid (code + message); the
 *              agent dead-letters it and never resends it.
 *   busy     : the store could not make it durable (I/O error, sealing
 *              backlog); nothing was stored; the agent retries.
 *   stored / duplicate : durable; the agent drops it from its spool.
 * Invariants: an ack "stored"/"duplicate" is sent only after
 * col_store_append returned KSK_OK (durable under the fsync mode); every
 * received message gets exactly one reply unless the socket is closing.
 * Locking: counters are updated under `mu`; workers share nothing else.
 */
#include "col_ingest.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "col_rep.h"
#include "kiseki/ack.h"

/* what each worker owns */
typedef struct col_worker {
	struct col_ingest *in;
	ksk_frame_dec *fdec;
	ksk_wire_dec *wdec;
} col_worker;

struct col_ingest {
	col_store *store;       /* borrowed */
	col_ingest_opts opts;
	col_rep *rep;
	pthread_mutex_t mu;     /* guards stats */
	col_ingest_stats stats;
};

void col_ingest_opts_default(col_ingest_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->workers = 8;
	ksk_frame_limits_default(&o->frame_limits);
	ksk_wire_limits_default(&o->wire_limits);
}

static void col_ingest_count(col_ingest *in, const ksk_ack *ack, size_t bytes,
                             const ksk_batch *b)
{
	pthread_mutex_lock(&in->mu);
	in->stats.frames++;
	in->stats.bytes += bytes;
	switch (ack->outcome) {
	case KSK_ACK_STORED:
		in->stats.stored++;
		if (b) {
			in->stats.spans += b->n_spans;
			in->stats.logs += b->n_logs;
		}
		break;
	case KSK_ACK_DUPLICATE:
		in->stats.duplicate++;
		break;
	case KSK_ACK_BUSY:
		in->stats.busy++;
		break;
	case KSK_ACK_REJECTED:
		in->stats.rejected++;
		if ((int)ack->code >= 0 && ack->code < KSK_ERR_COUNT_)
			in->stats.rejected_by_code[ack->code]++;
		break;
	}
	pthread_mutex_unlock(&in->mu);
}

/* Processes one frame into an ack. */
static void col_ingest_handle(col_worker *w, const uint8_t *buf, size_t len,
                              ksk_ack *ack, const ksk_batch **batch_out)
{
	ksk_errinfo ei;
	ksk_errinfo_clear(&ei);
	ksk_frame_hdr hdr;
	const ksk_batch *b = NULL;
	memset(ack, 0, sizeof(*ack));
	*batch_out = NULL;
	ksk_err rc = ksk_frame_decode_batch(w->fdec, w->wdec, buf, len, &hdr, &b, &ei);
	if (rc == KSK_OK || (rc != KSK_ETRUNC && rc != KSK_EMAGIC &&
	                     rc != KSK_EVERSION && len >= KSK_FRAME_HDR_LEN)) {
		/* the header was readable: echo who sent it */
		ksk_frame_hdr h2;
		if (rc == KSK_OK)
			h2 = hdr;
		else if (ksk_frame_parse_header(buf, len, &w->in->opts.frame_limits,
		                                &h2, NULL) != KSK_OK) {
			memset(&h2, 0, sizeof(h2));
			if (len >= 48) {
				memcpy(h2.agent_id, buf + 24, 16);
				for (int i = 0; i < 8; i++)
					h2.seq |= (uint64_t)buf[40 + i] << (8 * i);
			}
		}
		ack->seq = h2.seq;
		memcpy(ack->agent_id, h2.agent_id, 16);
	}
	if (rc != KSK_OK) {
		ack->outcome = KSK_ACK_REJECTED;
		ack->code = rc;
		snprintf(ack->msg, sizeof(ack->msg), "%s: %s", ksk_errname(rc), ei.msg);
		return;
	}
	col_append_result res;
	rc = col_store_append(w->in->store, &hdr, buf, len, b, &res, &ei);
	if (rc != KSK_OK) {
		ack->outcome = KSK_ACK_BUSY;
		ack->code = rc;
		snprintf(ack->msg, sizeof(ack->msg), "not stored, retry: %s: %s",
		         ksk_errname(rc), ei.msg);
		return;
	}
	ack->outcome = res == COL_APPEND_DUPLICATE ? KSK_ACK_DUPLICATE : KSK_ACK_STORED;
	*batch_out = b;
}

static void *col_worker_init(void *ctx)
{
	col_ingest *in = ctx;
	col_worker *w = calloc(1, sizeof(*w));
	if (!w)
		return NULL;
	w->in = in;
	if (ksk_frame_dec_create(NULL, &in->opts.frame_limits, &w->fdec) != KSK_OK ||
	    ksk_wire_dec_create(NULL, &in->opts.wire_limits, &w->wdec) != KSK_OK) {
		ksk_frame_dec_destroy(w->fdec);
		free(w);
		return NULL;
	}
	return w;
}

static void col_worker_fini(void *ctx, void *state)
{
	(void)ctx;
	col_worker *w = state;
	ksk_frame_dec_destroy(w->fdec);
	ksk_wire_dec_destroy(w->wdec);
	free(w);
}

static void col_worker_handle(void *ctx, void *state, const uint8_t *buf, size_t len,
                              ksk_buf *reply)
{
	col_ingest *in = ctx;
	ksk_ack ack;
	const ksk_batch *b;
	col_ingest_handle(state, buf, len, &ack, &b);
	col_ingest_count(in, &ack, len, b);
	uint8_t out[KSK_ACK_MAX];
	size_t n = ksk_ack_encode(&ack, out, sizeof(out));
	ksk_buf_append(reply, out, n);
}

ksk_err col_ingest_start(col_store *store, const col_ingest_opts *opts,
                         col_ingest **out, ksk_errinfo *ei)
{
	col_ingest *in = calloc(1, sizeof(*in));
	if (!in)
		return ksk_errinfo_set(ei, KSK_ENOMEM, "intake: no memory");
	in->store = store;
	in->opts = *opts;
	pthread_mutex_init(&in->mu, NULL);
	col_rep_opts ro = {
		.url = opts->listen_url,
		.workers = opts->workers ? opts->workers : 8,
		.recv_max = opts->frame_limits.max_frame,
		.ctx = in,
		.worker_init = col_worker_init,
		.worker_fini = col_worker_fini,
		.handle = col_worker_handle,
		.what = "intake",
	};
	ksk_err rc = col_rep_start(&ro, &in->rep, ei);
	if (rc != KSK_OK) {
		pthread_mutex_destroy(&in->mu);
		free(in);
		return rc;
	}
	*out = in;
	return KSK_OK;
}

const char *col_ingest_url(const col_ingest *in)
{
	return col_rep_url(in->rep);
}

void col_ingest_stop(col_ingest *in)
{
	if (!in)
		return;
	col_rep_stop(in->rep);
	pthread_mutex_destroy(&in->mu);
	free(in);
}

void col_ingest_stats_get(col_ingest *in, col_ingest_stats *out)
{
	pthread_mutex_lock(&in->mu);
	*out = in->stats;
	pthread_mutex_unlock(&in->mu);
}
