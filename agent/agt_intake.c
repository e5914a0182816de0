/*
 * agt_intake.c : native span intake over NNG PULL (agt_intake.h).
 *
 * Data in: frames pushed by instrumented services. Data out: decoded
 * batches to the callback; counters.
 * The receiver thread waits on an aio; stopping calls nng_aio_stop (the
 * pending receive fails with NNG_ECANCELED), joins, then closes the
 * socket. The receive cap is set on the socket and the listener, so an
 * oversized message drops only that sender's connection.
 * Invariants: a batch reaches the callback only after the frame and every
 * record passed validation; every message is counted exactly once.
 */
#include "agt_intake.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>
#include <nng/protocol/pipeline0/pull.h>

#include "kiseki/frame.h"

struct agt_intake {
	agt_intake_opts o;
	nng_socket sock;
	nng_listener listener;
	nng_aio *aio;
	pthread_t thread;
	int started;
	char url[256];
	ksk_frame_dec *fd;
	ksk_wire_dec *wd;
	pthread_mutex_t mu;
	agt_intake_stats st;
};

static void *agt_intake_main(void *arg)
{
	agt_intake *in = arg;
	for (;;) {
		nng_recv_aio(in->sock, in->aio);
		nng_aio_wait(in->aio);
		int rv = nng_aio_result(in->aio);
		if (rv == NNG_ECLOSED || rv == NNG_ECANCELED)
			break;
		if (rv != 0)
			continue;
		nng_msg *m = nng_aio_get_msg(in->aio);
		ksk_frame_hdr h;
		const ksk_batch *b;
		ksk_errinfo ei;
		ksk_err rc = ksk_frame_decode_batch(in->fd, in->wd, nng_msg_body(m), nng_msg_len(m),
		                                    &h, &b, &ei);
		if (rc == KSK_OK)
			rc = in->o.on_batch(in->o.ctx, b);
		pthread_mutex_lock(&in->mu);
		in->st.frames++;
		if (rc == KSK_OK) {
			in->st.spans += b->n_spans;
			in->st.logs += b->n_logs;
		} else if (rc == KSK_EBUSY) {
			in->st.dropped_busy++;
		} else if ((int)rc > 0 && rc < KSK_ERR_COUNT_) {
			in->st.rejected_by_code[rc]++;
		}
		pthread_mutex_unlock(&in->mu);
		nng_msg_free(m);
	}
	return NULL;
}

ksk_err agt_intake_start(const agt_intake_opts *o, agt_intake **out, ksk_errinfo *ei)
{
	agt_intake *in = calloc(1, sizeof(*in));
	if (!in)
		return ksk_errinfo_set(ei, KSK_ENOMEM, "intake: no memory");
	in->o = *o;
	if (!in->o.max_frame)
		in->o.max_frame = 4u << 20;
	pthread_mutex_init(&in->mu, NULL);
	ksk_frame_limits fl;
	ksk_frame_limits_default(&fl);
	fl.max_frame = in->o.max_frame;
	ksk_err rc = ksk_frame_dec_create(NULL, &fl, &in->fd);
	if (rc == KSK_OK)
		rc = ksk_wire_dec_create(NULL, NULL, &in->wd);
	int rv = 0, opened = 0;
	if (rc == KSK_OK && (rv = nng_pull0_open(&in->sock)) == 0) {
		opened = 1;
		nng_socket_set_size(in->sock, NNG_OPT_RECVMAXSZ, in->o.max_frame);
		if ((rv = nng_aio_alloc(&in->aio, NULL, NULL)) == 0 &&
		    (rv = nng_listener_create(&in->listener, in->sock, o->url)) == 0) {
			nng_listener_set_size(in->listener, NNG_OPT_RECVMAXSZ, in->o.max_frame);
			rv = nng_listener_start(in->listener, 0);
		}
	}
	if (rc == KSK_OK && rv != 0)
		rc = ksk_errinfo_set(ei, KSK_ENET, "intake: listen %s: %s", o->url, nng_strerror(rv));
	else if (rc != KSK_OK)
		ksk_errinfo_set(ei, rc, "intake: no memory");
	if (rc == KSK_OK) {
		snprintf(in->url, sizeof(in->url), "%s", o->url);
		int port = 0;
		if (strncmp(in->url, "tcp://", 6) == 0 &&
		    nng_listener_get_int(in->listener, NNG_OPT_TCP_BOUND_PORT, &port) == 0) {
			char *colon = strrchr(in->url, ':');
			if (colon && colon > in->url + 5)
				snprintf(colon, sizeof(in->url) - (size_t)(colon - in->url), ":%d", port);
		}
		if (pthread_create(&in->thread, NULL, agt_intake_main, in) == 0)
			in->started = 1;
		else
			rc = ksk_errinfo_set(ei, KSK_ESYS, "intake: cannot start its thread");
	}
	if (rc != KSK_OK) {
		if (in->aio)
			nng_aio_free(in->aio);
		if (opened)
			nng_close(in->sock);
		ksk_frame_dec_destroy(in->fd);
		ksk_wire_dec_destroy(in->wd);
		pthread_mutex_destroy(&in->mu);
		free(in);
		return rc;
	}
	*out = in;
	return KSK_OK;
}

const char *agt_intake_url(const agt_intake *in)
{
	return in->url;
}

void agt_intake_stats_get(agt_intake *in, agt_intake_stats *out)
{
	pthread_mutex_lock(&in->mu);
	*out = in->st;
	pthread_mutex_unlock(&in->mu);
}

void agt_intake_stop(agt_intake *in)
{
	if (!in)
		return;
	nng_aio_stop(in->aio);
	if (in->started)
		pthread_join(in->thread, NULL);
	nng_close(in->sock);
	nng_aio_free(in->aio);
	ksk_frame_dec_destroy(in->fd);
	ksk_wire_dec_destroy(in->wd);
	pthread_mutex_destroy(&in->mu);
	free(in);
}
