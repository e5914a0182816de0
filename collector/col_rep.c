/*
 * col_rep.c : NNG REP server with a worker pool (col_rep.h).
 *
 * Data in: request messages. Data out: one reply per request.
 * Each worker loops: nng_ctx_recv (waited) -> handle -> nng_ctx_send
 * (waited). Stopping: nng_aio_stop() on every worker's aio makes the
 * pending and every later operation fail with NNG_ECANCELED, so each
 * worker leaves its loop (a request being handled finishes; its reply is
 * dropped and the client's REQ resends it); the socket is closed only
 * after every worker has been joined.
 * Invariants: a received message gets exactly one reply unless the socket
 * is closing; the reply reuses the request message (no extra allocation
 * when it fits).
 */
#include "col_rep.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>

typedef struct col_rep_worker {
	struct col_rep *rep;
	pthread_t thread;
	int started;
	nng_ctx ctx;
	nng_aio *aio;
	void *state; /* from worker_init */
} col_rep_worker;

struct col_rep {
	col_rep_opts o;
	nng_socket sock;
	int sock_open;
	nng_listener listener;
	char url[256];
	col_rep_worker *w;
	uint32_t n;
};

static void *col_rep_main(void *arg)
{
	col_rep_worker *w = arg;
	col_rep *r = w->rep;
	ksk_buf reply;
	ksk_buf_init(&reply, NULL, 0);
	for (;;) {
		nng_ctx_recv(w->ctx, w->aio);
		nng_aio_wait(w->aio);
		int rv = nng_aio_result(w->aio);
		if (rv == NNG_ECLOSED || rv == NNG_ECANCELED)
			break;
		if (rv != 0)
			continue;
		nng_msg *msg = nng_aio_get_msg(w->aio);
		ksk_buf_clear(&reply);
		r->o.handle(r->o.ctx, w->state, nng_msg_body(msg), nng_msg_len(msg), &reply);
		nng_msg_clear(msg);
		if (reply.err != KSK_OK || nng_msg_append(msg, reply.data, reply.len) != 0) {
			nng_msg_free(msg);
			continue;
		}
		nng_aio_set_msg(w->aio, msg);
		nng_ctx_send(w->ctx, w->aio);
		nng_aio_wait(w->aio);
		rv = nng_aio_result(w->aio);
		if (rv != 0) {
			nng_msg_free(nng_aio_get_msg(w->aio));
			if (rv == NNG_ECLOSED || rv == NNG_ECANCELED)
				break;
		}
	}
	ksk_buf_fini(&reply);
	return NULL;
}

static void col_rep_free(col_rep *r)
{
	for (uint32_t i = 0; i < r->n; i++) {
		if (r->w[i].aio)
			nng_aio_free(r->w[i].aio);
		if (r->w[i].state && r->o.worker_fini)
			r->o.worker_fini(r->o.ctx, r->w[i].state);
	}
	free(r->w);
	free(r);
}

ksk_err col_rep_start(const col_rep_opts *o, col_rep **out, ksk_errinfo *ei)
{
	const char *what = o->what ? o->what : "server";
	col_rep *r = calloc(1, sizeof(*r));
	if (!r)
		return ksk_errinfo_set(ei, KSK_ENOMEM, "%s: no memory", what);
	r->o = *o;
	r->n = o->workers ? o->workers : 1;
	r->w = calloc(r->n, sizeof(*r->w));
	if (!r->w) {
		free(r);
		return ksk_errinfo_set(ei, KSK_ENOMEM, "%s: no memory", what);
	}
	int rv = nng_rep0_open(&r->sock);
	if (rv == 0) {
		r->sock_open = 1;
		nng_socket_set_size(r->sock, NNG_OPT_RECVMAXSZ, o->recv_max);
	}
	ksk_err rc = KSK_OK;
	for (uint32_t i = 0; i < r->n && rv == 0 && rc == KSK_OK; i++) {
		r->w[i].rep = r;
		if ((rv = nng_ctx_open(&r->w[i].ctx, r->sock)) == 0)
			rv = nng_aio_alloc(&r->w[i].aio, NULL, NULL);
		if (rv == 0 && o->worker_init && !(r->w[i].state = o->worker_init(o->ctx)))
			rc = ksk_errinfo_set(ei, KSK_ENOMEM, "%s: cannot set up worker %u", what, i);
	}
	if (rv == 0 && rc == KSK_OK) {
		rv = nng_listener_create(&r->listener, r->sock, o->url);
		if (rv == 0) {
			nng_listener_set_size(r->listener, NNG_OPT_RECVMAXSZ, o->recv_max);
			rv = nng_listener_start(r->listener, 0);
		}
	}
	if (rv != 0 && rc == KSK_OK)
		rc = ksk_errinfo_set(ei, KSK_ENET, "%s: listen %s: %s", what, o->url, nng_strerror(rv));
	if (rc != KSK_OK) {
		if (r->sock_open)
			nng_close(r->sock);
		col_rep_free(r);
		return rc;
	}
	snprintf(r->url, sizeof(r->url), "%s", o->url);
	int port = 0;
	if (strncmp(r->url, "tcp://", 6) == 0 &&
	    nng_listener_get_int(r->listener, NNG_OPT_TCP_BOUND_PORT, &port) == 0) {
		char *colon = strrchr(r->url, ':');
		if (colon && colon > r->url + 5)
			snprintf(colon, sizeof(r->url) - (size_t)(colon - r->url), ":%d", port);
	}
	for (uint32_t i = 0; i < r->n; i++)
		if (pthread_create(&r->w[i].thread, NULL, col_rep_main, &r->w[i]) == 0)
			r->w[i].started = 1;
	*out = r;
	return KSK_OK;
}

const char *col_rep_url(const col_rep *r)
{
	return r->url;
}

void col_rep_stop(col_rep *r)
{
	if (!r)
		return;
	/* Stop the aios first, with the socket still open: every pending and
	 * later operation then fails with NNG_ECANCELED and each worker leaves
	 * its loop. Closing the socket while a worker may still call
	 * nng_ctx_send() on it makes NNG 1.5.2 panic (use after free). */
	for (uint32_t i = 0; i < r->n; i++)
		nng_aio_stop(r->w[i].aio);
	for (uint32_t i = 0; i < r->n; i++)
		if (r->w[i].started)
			pthread_join(r->w[i].thread, NULL);
	nng_close(r->sock);
	col_rep_free(r);
}
