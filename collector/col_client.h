/*
 * col_client.h : a client of the collector's two NNG endpoints: the batch
 * intake (send a frame, get its ack) and the query protocol (send a
 * request, follow the chunks). Used by kiseki-query, the agent's tests and
 * the collector's process tests.
 *
 * One col_client is one NNG REQ socket dialed (non-blocking, so it
 * reconnects by itself) to one URL. Every call has a timeout.
 * Threading: one call at a time per client (REQ without contexts).
 * Ownership: replies are copied into caller buffers; batches given to
 * callbacks are valid only during the callback.
 */
#ifndef COL_CLIENT_H
#define COL_CLIENT_H

#include <stdbool.h>
#include <stdint.h>

#include "kiseki/ack.h"
#include "kiseki/buf.h"
#include "kiseki/err.h"
#include "kiseki/qproto.h"
#include "kiseki/wire.h"

typedef struct col_client col_client;

/*! col_client_open() : dials `url` in the background.
 *  @timeout_ms : per call (send + receive).
 *  @return : KSK_OK; KSK_ENET (bad URL). */
ksk_err col_client_open(const char *url, int timeout_ms, col_client **out,
                        ksk_errinfo *ei);

/*! col_client_close() : NULL is a no-op. */
void col_client_close(col_client *c);

/*! col_client_send_frame() : sends one frame and waits for its ack.
 *  @return : KSK_OK with *ack filled; KSK_ETIMEDOUT; KSK_ENET; KSK_EPARSE
 *            (the reply is not an ack). */
ksk_err col_client_send_frame(col_client *c, const uint8_t *frame, size_t len,
                              ksk_ack *ack, ksk_errinfo *ei);

/*! col_client_request() : one query request; the raw msgpack reply goes to
 *  `reply` (cleared first). Error replies are returned as KSK_OK too: use
 *  col_reply_parse() to read them. */
ksk_err col_client_request(col_client *c, const ksk_qreq *req, ksk_buf *reply,
                           ksk_errinfo *ei);

/* The common fields of a reply. */
typedef struct col_reply {
	bool ok;
	ksk_err code;            /* when !ok */
	char error[256];         /* when !ok */
	uint32_t next;           /* chunk cursor, 0 = done */
	uint64_t result;         /* the answer `next` belongs to (send it back) */
	uint32_t total;          /* records in the whole answer (chunked ops) */
	const uint8_t *records;  /* the chunk's frame, into the reply buffer */
	size_t records_len;
} col_reply;

/*! col_reply_parse() : reads the common fields of a reply.
 *  @return : KSK_OK (even for an error reply: see out->ok); KSK_EPARSE. */
ksk_err col_reply_parse(const uint8_t *buf, size_t len, col_reply *out);

/* Called once per decoded chunk; the batch is valid during the call. */
typedef void (*col_client_batch_cb)(void *ctx, const ksk_batch *b);

/*! col_client_fetch() : runs a chunked request (KSK_Q_TRACE or KSK_Q_LOGS)
 *  to the end, decoding each chunk's frame and calling `cb`.
 *  @return : KSK_OK; the collector's error code (message in `ei`), e.g.
 *            KSK_ENOTFOUND for an unknown trace; transport errors. */
ksk_err col_client_fetch(col_client *c, const ksk_qreq *req,
                         col_client_batch_cb cb, void *ctx, ksk_errinfo *ei);

#endif /* COL_CLIENT_H */
