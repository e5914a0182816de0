/*
 * col_client.c : client of the collector's intake and query endpoints
 * (col_client.h).
 *
 * Data in: frames or requests. Data out: acks, reply buffers, decoded
 * chunk batches. Each call sets the socket's send and receive timeouts and
 * does one REQ/REP exchange (NNG resends the request on reconnect, which
 * the collector tolerates: intake dedupes, queries are read-only).
 * Invariants: a reply is parsed only after msgpack structure checks
 * (ksk_wire_guard); a chunk's frame is fully verified before its records
 * reach the callback.
 */
#include "col_client.h"

#include <msgpack.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>

#include "kiseki/frame.h"

struct col_client {
	nng_socket sock;
	int timeout_ms;
};

ksk_err col_client_open(const char *url, int timeout_ms, col_client **out,
                        ksk_errinfo *ei)
{
	col_client *c = calloc(1, sizeof(*c));
	if (!c)
		return ksk_errinfo_set(ei, KSK_ENOMEM, "client: no memory");
	c->timeout_ms = timeout_ms > 0 ? timeout_ms : 10000;
	int rv = nng_req0_open(&c->sock);
	if (rv == 0) {
		nng_socket_set_ms(c->sock, NNG_OPT_RECONNMINT, 50);
		nng_socket_set_ms(c->sock, NNG_OPT_RECONNMAXT, 1000);
		nng_socket_set_size(c->sock, NNG_OPT_RECVMAXSZ, 256u << 20);
		rv = nng_dial(c->sock, url, NULL, NNG_FLAG_NONBLOCK);
		if (rv != 0)
			nng_close(c->sock);
	}
	if (rv != 0) {
		free(c);
		return ksk_errinfo_set(ei, KSK_ENET, "client: dial %s: %s", url, nng_strerror(rv));
	}
	*out = c;
	return KSK_OK;
}

void col_client_close(col_client *c)
{
	if (!c)
		return;
	nng_close(c->sock);
	free(c);
}

/* One exchange; the reply message is returned (caller frees). */
static ksk_err col_client_xchg(col_client *c, const void *req, size_t len,
                               nng_msg **reply, ksk_errinfo *ei)
{
	nng_socket_set_ms(c->sock, NNG_OPT_SENDTIMEO, c->timeout_ms);
	nng_socket_set_ms(c->sock, NNG_OPT_RECVTIMEO, c->timeout_ms);
	int rv = nng_send(c->sock, (void *)req, len, 0);
	if (rv == 0)
		rv = nng_recvmsg(c->sock, reply, 0);
	if (rv == NNG_ETIMEDOUT)
		return ksk_errinfo_set(ei, KSK_ETIMEDOUT, "client: no reply within %d ms", c->timeout_ms);
	if (rv != 0)
		return ksk_errinfo_set(ei, KSK_ENET, "client: %s", nng_strerror(rv));
	return KSK_OK;
}

ksk_err col_client_send_frame(col_client *c, const uint8_t *frame, size_t len,
                              ksk_ack *ack, ksk_errinfo *ei)
{
	nng_msg *m;
	KSK_TRY(col_client_xchg(c, frame, len, &m, ei));
	ksk_err rc = ksk_ack_decode(nng_msg_body(m), nng_msg_len(m), ack);
	nng_msg_free(m);
	if (rc != KSK_OK)
		return ksk_errinfo_set(ei, KSK_EPARSE, "client: reply is not an ack (%s)", ksk_errname(rc));
	return KSK_OK;
}

ksk_err col_client_request(col_client *c, const ksk_qreq *req, ksk_buf *reply,
                           ksk_errinfo *ei)
{
	ksk_buf rq;
	ksk_buf_init(&rq, NULL, KSK_Q_MAX_REQUEST);
	ksk_err rc = ksk_qreq_encode(req, &rq);
	if (rc != KSK_OK) {
		ksk_buf_fini(&rq);
		return ksk_errinfo_set(ei, rc, "client: cannot encode the request");
	}
	nng_msg *m;
	rc = col_client_xchg(c, rq.data, rq.len, &m, ei);
	ksk_buf_fini(&rq);
	if (rc != KSK_OK)
		return rc;
	ksk_buf_clear(reply);
	rc = ksk_buf_append(reply, nng_msg_body(m), nng_msg_len(m));
	nng_msg_free(m);
	return rc;
}

static bool col_keyis(const msgpack_object *k, const char *name)
{
	size_t n = strlen(name);
	return k->type == MSGPACK_OBJECT_STR && k->via.str.size == n &&
	       memcmp(k->via.str.ptr, name, n) == 0;
}

ksk_err col_reply_parse(const uint8_t *buf, size_t len, col_reply *out)
{
	memset(out, 0, sizeof(*out));
	ksk_wire_limits lim;
	ksk_wire_limits_default(&lim);
	lim.max_str = UINT32_MAX;
	lim.max_container = 1u << 24;
	long g = ksk_wire_guard(buf, len, &lim, NULL);
	if (g <= 0 || (size_t)g != len)
		return KSK_EPARSE;
	msgpack_zone zone;
	if (!msgpack_zone_init(&zone, 4096))
		return KSK_ENOMEM;
	msgpack_object o;
	size_t off = 0;
	ksk_err rc = KSK_OK;
	if (msgpack_unpack((const char *)buf, len, &off, &zone, &o) != MSGPACK_UNPACK_SUCCESS ||
	    o.type != MSGPACK_OBJECT_MAP) {
		rc = KSK_EPARSE;
		goto done;
	}
	for (uint32_t i = 0; i < o.via.map.size; i++) {
		const msgpack_object *k = &o.via.map.ptr[i].key, *v = &o.via.map.ptr[i].val;
		if (col_keyis(k, "ok") && v->type == MSGPACK_OBJECT_BOOLEAN)
			out->ok = v->via.boolean;
		else if (col_keyis(k, "code") && v->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
			out->code = (ksk_err)v->via.u64;
		else if (col_keyis(k, "error") && v->type == MSGPACK_OBJECT_STR) {
			size_t n = v->via.str.size < sizeof(out->error) - 1 ? v->via.str.size
			                                                     : sizeof(out->error) - 1;
			memcpy(out->error, v->via.str.ptr, n);
			out->error[n] = '\0';
		} else if (col_keyis(k, "next") && v->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
			out->next = (uint32_t)v->via.u64;
		else if (col_keyis(k, "result") && v->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
			out->result = v->via.u64;
		else if (col_keyis(k, "total") && v->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
			out->total = (uint32_t)v->via.u64;
		else if (col_keyis(k, "records") && v->type == MSGPACK_OBJECT_BIN) {
			out->records = (const uint8_t *)v->via.bin.ptr;
			out->records_len = v->via.bin.size;
		}
	}
	if (!out->ok && out->code == KSK_OK)
		out->code = KSK_EPARSE;
done:
	msgpack_zone_destroy(&zone);
	return rc;
}

ksk_err col_client_fetch(col_client *c, const ksk_qreq *req, col_client_batch_cb cb,
                         void *ctx, ksk_errinfo *ei)
{
	ksk_qreq r = *req;
	ksk_buf reply;
	ksk_buf_init(&reply, NULL, 0);
	ksk_frame_dec *fd = NULL;
	ksk_wire_dec *wd = NULL;
	ksk_err rc = ksk_frame_dec_create(NULL, NULL, &fd);
	if (rc == KSK_OK)
		rc = ksk_wire_dec_create(NULL, NULL, &wd);
	r.cursor = 0;
	r.result = 0;
	while (rc == KSK_OK) {
		rc = col_client_request(c, &r, &reply, ei);
		if (rc != KSK_OK)
			break;
		col_reply rp;
		if (col_reply_parse(reply.data, reply.len, &rp) != KSK_OK) {
			rc = ksk_errinfo_set(ei, KSK_EPARSE, "client: malformed reply");
			break;
		}
		if (!rp.ok) {
			rc = ksk_errinfo_set(ei, rp.code, "%s", rp.error);
			break;
		}
		ksk_frame_hdr h;
		const ksk_batch *b;
		rc = ksk_frame_decode_batch(fd, wd, rp.records, rp.records_len, &h, &b, ei);
		if (rc != KSK_OK)
			break;
		cb(ctx, b);
		if (rp.next == 0)
			break;
		if (rp.next <= r.cursor) {
			rc = ksk_errinfo_set(ei, KSK_EPARSE, "client: cursor did not advance");
			break;
		}
		r.cursor = rp.next;
		r.result = rp.result;
	}
	ksk_wire_dec_destroy(wd);
	ksk_frame_dec_destroy(fd);
	ksk_buf_fini(&reply);
	return rc;
}
