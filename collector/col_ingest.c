/*
 * col_ingest.c : batch intake over NNG REQ/REP with contexts (col_ingest.h).
 *
 * Data in: frames from agents (NNG messages, at most frame_limits.max_frame
 * bytes: NNG_OPT_RECVMAXSZ is set, since NNG 1.5's default is unlimited).
 * Data out: one ack message per frame; stored batches in the col_store.
 *
 * Each worker thread loops: receive on its context (aio, waited) -> check
 * -> decode -> append -> send the ack. Ack outcomes:
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

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>

#include "kiseki/ack.h"

typedef struct col_worker {
	struct col_ingest *in;  /* owner */
	pthread_t thread;
	int started;
	nng_ctx ctx;
	nng_aio *aio;
	ksk_frame_dec *fdec;
	ksk_wire_dec *wdec;
} col_worker;

struct col_ingest {
	col_store *store;       /* borrowed */
	col_ingest_opts opts;
	nng_socket sock;
	nng_listener listener;
	char url[256];
	col_worker *workers;
	uint32_t n_workers;
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

static void *col_worker_main(void *arg)
{
	col_worker *w = arg;
	for (;;) {
		nng_ctx_recv(w->ctx, w->aio);
		nng_aio_wait(w->aio);
		int rv = nng_aio_result(w->aio);
		if (rv == NNG_ECLOSED || rv == NNG_ECANCELED)
			break;
		if (rv != 0)
			continue;
		nng_msg *msg = nng_aio_get_msg(w->aio);
		const uint8_t *buf = nng_msg_body(msg);
		size_t len = nng_msg_len(msg);
		ksk_ack ack;
		const ksk_batch *b;
		col_ingest_handle(w, buf, len, &ack, &b);
		col_ingest_count(w->in, &ack, len, b);
		/* reuse the message for the reply */
		uint8_t out[KSK_ACK_MAX];
		size_t n = ksk_ack_encode(&ack, out, sizeof(out));
		nng_msg_clear(msg);
		if (nng_msg_append(msg, out, n) != 0) {
			nng_msg_free(msg);
			continue;
		}
		nng_aio_set_msg(w->aio, msg);
		nng_ctx_send(w->ctx, w->aio);
		nng_aio_wait(w->aio);
		rv = nng_aio_result(w->aio);
		if (rv != 0) {
			nng_msg_free(nng_aio_get_msg(w->aio));
			if (rv == NNG_ECLOSED)
				break;
		}
	}
	return NULL;
}

static void col_ingest_free(col_ingest *in)
{
	for (uint32_t i = 0; i < in->n_workers; i++) {
		col_worker *w = &in->workers[i];
		if (w->aio)
			nng_aio_free(w->aio);
		ksk_frame_dec_destroy(w->fdec);
		ksk_wire_dec_destroy(w->wdec);
	}
	free(in->workers);
	pthread_mutex_destroy(&in->mu);
	free(in);
}

ksk_err col_ingest_start(col_store *store, const col_ingest_opts *opts,
                         col_ingest **out, ksk_errinfo *ei)
{
	col_ingest *in = calloc(1, sizeof(*in));
	if (!in)
		return ksk_errinfo_set(ei, KSK_ENOMEM, "ingest: no memory");
	in->store = store;
	in->opts = *opts;
	if (in->opts.workers == 0)
		in->opts.workers = 8;
	pthread_mutex_init(&in->mu, NULL);
	int rv = nng_rep0_open(&in->sock);
	if (rv != 0) {
		col_ingest_free(in);
		return ksk_errinfo_set(ei, KSK_ENET, "ingest: socket: %s", nng_strerror(rv));
	}
	nng_socket_set_size(in->sock, NNG_OPT_RECVMAXSZ, in->opts.frame_limits.max_frame);
	in->workers = calloc(in->opts.workers, sizeof(*in->workers));
	if (!in->workers) {
		nng_close(in->sock);
		col_ingest_free(in);
		return ksk_errinfo_set(ei, KSK_ENOMEM, "ingest: no memory");
	}
	in->n_workers = in->opts.workers;
	ksk_err rc = KSK_OK;
	for (uint32_t i = 0; i < in->n_workers && rc == KSK_OK; i++) {
		col_worker *w = &in->workers[i];
		w->in = in;
		if ((rv = nng_ctx_open(&w->ctx, in->sock)) != 0 ||
		    (rv = nng_aio_alloc(&w->aio, NULL, NULL)) != 0)
			rc = ksk_errinfo_set(ei, KSK_ENET, "ingest: context: %s", nng_strerror(rv));
		else if ((rc = ksk_frame_dec_create(NULL, &in->opts.frame_limits, &w->fdec)) == KSK_OK)
			rc = ksk_wire_dec_create(NULL, &in->opts.wire_limits, &w->wdec);
	}
	if (rc == KSK_OK) {
		rv = nng_listener_create(&in->listener, in->sock, in->opts.listen_url);
		if (rv == 0) {
			nng_listener_set_size(in->listener, NNG_OPT_RECVMAXSZ,
			                      in->opts.frame_limits.max_frame);
			rv = nng_listener_start(in->listener, 0);
		}
		if (rv != 0)
			rc = ksk_errinfo_set(ei, KSK_ENET, "ingest: listen %s: %s",
			                     in->opts.listen_url, nng_strerror(rv));
	}
	if (rc != KSK_OK) {
		nng_close(in->sock);
		col_ingest_free(in);
		return rc;
	}
	snprintf(in->url, sizeof(in->url), "%s", in->opts.listen_url);
	int port = 0;
	if (strncmp(in->url, "tcp://", 6) == 0 &&
	    nng_listener_get_int(in->listener, NNG_OPT_TCP_BOUND_PORT, &port) == 0) {
		char *colon = strrchr(in->url, ':');
		if (colon && colon > in->url + 5)
			snprintf(colon, sizeof(in->url) - (size_t)(colon - in->url), ":%d", port);
	}
	for (uint32_t i = 0; i < in->n_workers; i++) {
		if (pthread_create(&in->workers[i].thread, NULL, col_worker_main,
		                   &in->workers[i]) == 0)
			in->workers[i].started = 1;
	}
	*out = in;
	return KSK_OK;
}

const char *col_ingest_url(const col_ingest *in)
{
	return in->url;
}

void col_ingest_stop(col_ingest *in)
{
	if (!in)
		return;
	nng_close(in->sock);
	for (uint32_t i = 0; i < in->n_workers; i++) {
		nng_aio_stop(in->workers[i].aio);
		if (in->workers[i].started)
			pthread_join(in->workers[i].thread, NULL);
	}
	col_ingest_free(in);
}

void col_ingest_stats_get(col_ingest *in, col_ingest_stats *out)
{
	pthread_mutex_lock(&in->mu);
	*out = in->stats;
	pthread_mutex_unlock(&in->mu);
}
