/*
 * trc_sp.c : a minimal SP PUSH client on a plain socket (trc_int.h).
 *
 * Why: libnng is not fork-safe (its worker threads do not exist in a
 * forked child, and it panics if re-initialised there), so a forked child
 * cannot use the parent's NNG socket. This client speaks the same wire
 * protocol as an NNG PUSH socket to the agent's NNG PULL socket, with no
 * thread of its own: the exporter drives it.
 *
 * Protocol (the SP mapping used by NNG's ipc and tcp transports): after
 * connect, each side sends 8 bytes {0x00 'S' 'P' 0x00, protocol (16-bit
 * big endian), 0x00 0x00}; PUSH is 0x50, PULL 0x51. Then each message is
 * a 64-bit big-endian length and the body, preceded on ipc:// by one
 * message-type byte (0x01). PUSH messages carry no protocol header.
 *
 * Data in: whole messages (frames); data out: bytes on the socket.
 * States: DOWN (reconnect after a backoff of 100 ms doubling to 5 s) ->
 * CONNECTING -> HANDSHAKE -> READY. Writes are non-blocking; a message
 * partly written is finished by later pumps and no other message is taken
 * meanwhile, so messages never interleave. Any socket error closes the
 * connection; the unsent rest of a message is then lost and its tag
 * (span count) added to `lost`.
 */
#include "trc_int.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

enum { SP_DOWN, SP_CONNECTING, SP_HANDSHAKE, SP_READY };

#define SP_PUSH 0x50
#define SP_PULL 0x51

struct trc_sp {
	const ksk_alloc *alloc;
	bool ipc;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char host[256];
	char port[16];
	int fd;
	int state;
	uint8_t hs_out[8];
	size_t hs_sent;
	uint8_t hs_in[8];
	size_t hs_got;
	uint64_t next_try_ns;
	uint64_t backoff_ns;
	ksk_buf pending;       /* the unsent rest of one message */
	size_t pending_off;
	uint64_t pending_tag;
	uint64_t lost;         /* tags of messages lost after being taken */
};

static uint64_t sp_mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

ksk_err trc_sp_create(const ksk_alloc *a, const char *url, trc_sp **out, ksk_errinfo *ei)
{
	a = ksk_alloc_or_default(a);
	trc_sp *sp = ksk_calloc(a, 1, sizeof(*sp));
	if (!sp)
		return ksk_errinfo_set(ei, KSK_ENOMEM, "trace: no memory");
	sp->alloc = a;
	sp->fd = -1;
	sp->state = SP_DOWN;
	sp->backoff_ns = 100000000ull;
	ksk_buf_init(&sp->pending, a, 0);
	if (strncmp(url, "ipc://", 6) == 0) {
		sp->ipc = true;
		size_t n = strlen(url + 6);
		if (n == 0 || n >= sizeof(sp->path))
			goto bad;
		memcpy(sp->path, url + 6, n + 1);
	} else if (strncmp(url, "tcp://", 6) == 0) {
		const char *h = url + 6, *colon;
		size_t hl;
		if (*h == '[') {
			const char *rb = strchr(h, ']');
			if (!rb || rb[1] != ':')
				goto bad;
			colon = rb + 1;
			h++;
			hl = (size_t)(rb - h);
		} else {
			colon = strrchr(h, ':');
			if (!colon)
				goto bad;
			hl = (size_t)(colon - h);
		}
		size_t pl = strlen(colon + 1);
		if (hl == 0 || hl >= sizeof(sp->host) || pl == 0 || pl >= sizeof(sp->port))
			goto bad;
		memcpy(sp->host, h, hl);
		memcpy(sp->port, colon + 1, pl + 1);
	} else {
		goto bad;
	}
	memcpy(sp->hs_out, "\0SP\0", 4);
	sp->hs_out[4] = 0;
	sp->hs_out[5] = SP_PUSH;
	sp->hs_out[6] = sp->hs_out[7] = 0;
	*out = sp;
	return KSK_OK;
bad:
	ksk_buf_fini(&sp->pending);
	ksk_free(a, sp);
	return ksk_errinfo_set(ei, KSK_EINVAL, "trace: agent URL %s: want ipc://PATH or tcp://HOST:PORT",
	                       url);
}

static void sp_close(trc_sp *sp, bool failed)
{
	if (sp->fd >= 0)
		close(sp->fd);
	sp->fd = -1;
	sp->state = SP_DOWN;
	if (sp->pending.len > sp->pending_off)
		sp->lost += sp->pending_tag;
	ksk_buf_clear(&sp->pending);
	sp->pending_off = 0;
	sp->pending_tag = 0;
	uint64_t now = sp_mono();
	if (failed) {
		sp->next_try_ns = now + sp->backoff_ns;
		sp->backoff_ns *= 2;
		if (sp->backoff_ns > 5000000000ull)
			sp->backoff_ns = 5000000000ull;
	} else {
		sp->next_try_ns = now;
	}
}

void trc_sp_destroy(trc_sp *sp)
{
	if (!sp)
		return;
	if (sp->fd >= 0)
		close(sp->fd);
	ksk_buf_fini(&sp->pending);
	ksk_free(sp->alloc, sp);
}

void trc_sp_forked(trc_sp *sp)
{
	if (!sp)
		return;
	if (sp->fd >= 0)
		close(sp->fd); /* this process's copy; the parent keeps its own */
	sp->fd = -1;
	sp->state = SP_DOWN;
	ksk_buf_clear(&sp->pending);
	sp->pending_off = 0;
	sp->pending_tag = 0;
	sp->lost = 0;
	sp->next_try_ns = 0;
	sp->backoff_ns = 100000000ull;
}

static void sp_start_connect(trc_sp *sp)
{
	int fd = -1, rc = -1;
	if (sp->ipc) {
		struct sockaddr_un sa;
		memset(&sa, 0, sizeof(sa));
		sa.sun_family = AF_UNIX;
		memcpy(sa.sun_path, sp->path, strlen(sp->path) + 1);
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd >= 0)
			rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	} else {
		struct addrinfo hints, *ai = NULL;
		memset(&hints, 0, sizeof(hints));
		hints.ai_family = AF_UNSPEC;
		hints.ai_socktype = SOCK_STREAM;
		if (getaddrinfo(sp->host, sp->port, &hints, &ai) == 0 && ai) {
			fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
			            ai->ai_protocol);
			if (fd >= 0)
				rc = connect(fd, ai->ai_addr, ai->ai_addrlen);
		}
		if (ai)
			freeaddrinfo(ai);
	}
	sp->fd = fd;
	if (fd < 0) {
		sp_close(sp, true);
		return;
	}
	if (rc == 0) {
		sp->state = SP_HANDSHAKE;
	} else if (errno == EINPROGRESS || errno == EAGAIN) {
		sp->state = SP_CONNECTING;
	} else {
		sp_close(sp, true);
		return;
	}
	sp->hs_sent = 0;
	sp->hs_got = 0;
}

/* One non-blocking step of the state machine; returns the poll events it
 * waits for (0 when it made progress or has nothing to wait for). */
static short sp_step(trc_sp *sp)
{
	switch (sp->state) {
	case SP_DOWN:
		if (sp_mono() >= sp->next_try_ns)
			sp_start_connect(sp);
		return 0;
	case SP_CONNECTING: {
		struct pollfd pf = {sp->fd, POLLOUT, 0};
		if (poll(&pf, 1, 0) <= 0)
			return POLLOUT;
		int err = 0;
		socklen_t el = sizeof(err);
		if (getsockopt(sp->fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0 || err != 0) {
			sp_close(sp, true);
			return 0;
		}
		sp->state = SP_HANDSHAKE;
		return 0;
	}
	case SP_HANDSHAKE: {
		if (sp->hs_sent < 8) {
			ssize_t w = send(sp->fd, sp->hs_out + sp->hs_sent, 8 - sp->hs_sent,
			                 MSG_NOSIGNAL | MSG_DONTWAIT);
			if (w > 0)
				sp->hs_sent += (size_t)w;
			else if (w < 0 && errno != EAGAIN && errno != EINTR) {
				sp_close(sp, true);
				return 0;
			}
			if (sp->hs_sent < 8)
				return POLLOUT;
		}
		ssize_t r = recv(sp->fd, sp->hs_in + sp->hs_got, 8 - sp->hs_got, MSG_DONTWAIT);
		if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
			sp_close(sp, true);
			return 0;
		}
		if (r > 0)
			sp->hs_got += (size_t)r;
		if (sp->hs_got < 8)
			return POLLIN;
		if (memcmp(sp->hs_in, "\0SP\0", 4) != 0 || sp->hs_in[4] != 0 ||
		    sp->hs_in[5] != SP_PULL || sp->hs_in[6] != 0 || sp->hs_in[7] != 0) {
			sp_close(sp, true);
			return 0;
		}
		sp->state = SP_READY;
		sp->backoff_ns = 100000000ull;
		return 0;
	}
	default: {
		/* the peer never sends after the handshake: readable = closed */
		uint8_t junk[64];
		ssize_t r = recv(sp->fd, junk, sizeof(junk), MSG_DONTWAIT);
		if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
			sp_close(sp, true);
			return 0;
		}
		if (sp->pending.len > sp->pending_off) {
			ssize_t w = send(sp->fd, sp->pending.data + sp->pending_off,
			                 sp->pending.len - sp->pending_off,
			                 MSG_NOSIGNAL | MSG_DONTWAIT);
			if (w > 0)
				sp->pending_off += (size_t)w;
			else if (w < 0 && errno != EAGAIN && errno != EINTR) {
				sp_close(sp, true);
				return 0;
			}
			if (sp->pending.len > sp->pending_off)
				return POLLOUT;
			ksk_buf_clear(&sp->pending);
			sp->pending_off = 0;
			sp->pending_tag = 0;
		}
		return 0;
	}
	}
}

bool trc_sp_pump(trc_sp *sp, uint32_t wait_ms)
{
	uint64_t deadline = sp_mono() + (uint64_t)wait_ms * 1000000ull;
	for (;;) {
		int before = sp->state;
		short ev = sp_step(sp);
		bool ready = sp->state == SP_READY && sp->pending.len == sp->pending_off;
		if (ready)
			return true;
		if (ev == 0 && sp->state != before && sp->state != SP_DOWN)
			continue; /* progress: go on at once */
		uint64_t now = sp_mono();
		if (now >= deadline)
			return false;
		uint64_t left = deadline - now;
		if (sp->state == SP_DOWN) {
			if (sp->next_try_ns > now) {
				uint64_t w = sp->next_try_ns - now;
				if (w > left)
					w = left;
				struct timespec ts = {(time_t)(w / 1000000000ull),
				                      (long)(w % 1000000000ull)};
				nanosleep(&ts, NULL);
			}
			continue;
		}
		if (ev) {
			struct pollfd pf = {sp->fd, ev, 0};
			int ms = (int)((left + 999999) / 1000000);
			poll(&pf, 1, ms > 50 ? 50 : ms);
		}
	}
}

ksk_err trc_sp_send(trc_sp *sp, const uint8_t *p, size_t n, uint64_t tag)
{
	if (sp->state != SP_READY || sp->pending.len > sp->pending_off)
		return KSK_EBUSY;
	uint8_t hdr[9];
	size_t hl = 0;
	if (sp->ipc)
		hdr[hl++] = 1;
	for (int i = 7; i >= 0; i--)
		hdr[hl++] = (uint8_t)((uint64_t)n >> (8 * i));
	struct iovec iov[2] = {{hdr, hl}, {(void *)p, n}};
	struct msghdr mh;
	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = iov;
	mh.msg_iovlen = 2;
	ssize_t w = sendmsg(sp->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (w < 0) {
		if (errno != EAGAIN && errno != EINTR) {
			sp_close(sp, true);
			return KSK_EBUSY;
		}
		w = 0;
	}
	size_t done = (size_t)w;
	if (done == hl + n)
		return KSK_OK;
	/* keep the rest: the message is taken and finished by trc_sp_pump() */
	ksk_buf_clear(&sp->pending);
	sp->pending_off = 0;
	if (done < hl)
		ksk_buf_append(&sp->pending, hdr + done, hl - done);
	size_t body_done = done > hl ? done - hl : 0;
	ksk_buf_append(&sp->pending, p + body_done, n - body_done);
	if (sp->pending.err != KSK_OK) {
		/* cannot keep the rest: the stream is broken, start over */
		sp->pending_tag = tag;
		sp_close(sp, true);
		return KSK_OK;
	}
	sp->pending_tag = tag;
	return KSK_OK;
}

bool trc_sp_idle(const trc_sp *sp)
{
	return sp->pending.len == sp->pending_off;
}

uint64_t trc_sp_take_lost(trc_sp *sp)
{
	uint64_t l = sp->lost;
	sp->lost = 0;
	return l;
}
