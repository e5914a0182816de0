/*
 * col_wal.c : the write-ahead log of the open segment (col_wal.h).
 *
 * Role: durable, append-only storage of received frames until they are
 * sealed into a segment. Data in: frame bytes. Data out: the same bytes,
 * by offset (pread) or by a scan of every valid record.
 *
 * Invariants:
 *  - bytes [0, end) of the file are a header followed by whole records;
 *    `end` only grows, except when a failed append is cut back.
 *  - synced <= end; every byte below `synced` was covered by a successful
 *    fdatasync. A failed fdatasync sets sync_err forever (fsyncgate: the
 *    kernel may have dropped the dirty pages, so a later fsync that
 *    succeeds proves nothing about them).
 *  - after col_wal_open() returns, the file ends with a whole valid record
 *    (or the header): a torn tail was cut and the cut fsync'd.
 *
 * Recovery scan: records are verified by length bounds, the body's CRC and
 * the frame magic. A bad record is either the torn tail (no valid record
 * follows: truncate) or damage in the middle (a valid record follows: skip
 * to it, report an error; the acked records after it are kept).
 *
 * Locking: append is serialised by the caller; `end` is published with
 * atomic stores so syncers and readers may read it without that lock.
 * sync_mu + sync_cv guard the group-commit state (synced, syncing,
 * sync_err). pread/scan use positional reads only: no shared file offset.
 */
#include "col_wal.h"
#include "kiseki/bytes.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "kiseki/frame.h"

struct col_wal {
	col_wal_env env;           /* copied; pointers inside borrowed */
	const ksk_alloc *al;       /* resolved allocator */
	int fd;                    /* owned */
	char *path;                /* owned copy */
	char *dir;                 /* owned copy, for directory fsyncs */
	uint64_t num;              /* n of wal-<n>.log */
	uint64_t created_ns;       /* from the header */
	uint64_t end;              /* atomic: bytes in the file */
	uint64_t records;          /* atomic: records in the file */
	int write_err;             /* atomic: an append could not be undone */
	pthread_mutex_t sync_mu;   /* guards the next four */
	pthread_cond_t sync_cv;    /* signalled after each fdatasync */
	uint64_t synced;           /* bytes known durable */
	bool syncing;              /* a leader is in fdatasync */
	int sync_err;              /* errno of a failed fdatasync (sticky) */
	bool fail_next;            /* test hook */
};

static void wal_log(const col_wal_env *env, int level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void wal_log(const col_wal_env *env, int level, const char *fmt, ...)
{
	if (!env->log)
		return;
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	env->log(env->log_ctx, level, msg);
}

void col_wal_path_for(const char *dir, uint64_t num, char *buf, size_t cap)
{
	snprintf(buf, cap, "%s/wal-%06" PRIu64 ".log", dir, num);
}

static uint64_t wal_now(const col_wal *w)
{
	return ksk_clock_mono(w->env.clock ? w->env.clock : ksk_clock_system());
}

static ksk_err wal_fsync_dir(const char *dir, ksk_errinfo *ei)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return ksk_errinfo_sys(ei, KSK_EIO, errno, "open directory %s", dir);
	int r = fsync(fd);
	int e = errno;
	close(fd);
	if (r != 0)
		return ksk_errinfo_sys(ei, KSK_EIO, e, "fsync directory %s", dir);
	return KSK_OK;
}

static ksk_err wal_pread_all(int fd, uint64_t off, uint8_t *buf, size_t len,
                             const char *path, ksk_errinfo *ei)
{
	size_t done = 0;
	while (done < len) {
		ssize_t r = pread(fd, buf + done, len - done, (off_t)(off + done));
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return ksk_errinfo_sys(ei, KSK_EIO, errno, "read %s at %" PRIu64,
			                       path, off + done);
		}
		if (r == 0)
			return ksk_errinfo_set(ei, KSK_EIO, "read %s at %" PRIu64 ": unexpected end",
			                       path, off + done);
		done += (size_t)r;
	}
	return KSK_OK;
}

static ksk_err wal_write_all(int fd, uint64_t off, const struct iovec *iov_in,
                             int n, const char *path, ksk_errinfo *ei)
{
	struct iovec iov[4];
	size_t total = 0;
	for (int i = 0; i < n; i++) {
		iov[i] = iov_in[i];
		total += iov[i].iov_len;
	}
	int first = 0;
	size_t done = 0;
	while (done < total) {
		ssize_t r = pwritev(fd, iov + first, n - first, (off_t)(off + done));
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return ksk_errinfo_sys(ei, KSK_EIO, errno, "write %s at %" PRIu64,
			                       path, off + done);
		}
		if (r == 0)
			return ksk_errinfo_set(ei, KSK_EIO, "write %s: no progress", path);
		done += (size_t)r;
		size_t adv = (size_t)r;
		while (first < n && adv >= iov[first].iov_len) {
			adv -= iov[first].iov_len;
			first++;
		}
		if (first < n) {
			iov[first].iov_base = (uint8_t *)iov[first].iov_base + adv;
			iov[first].iov_len -= adv;
		}
	}
	return KSK_OK;
}

static ksk_err wal_alloc(const col_wal_env *env, const char *dir, uint64_t num,
                         col_wal **out)
{
	const ksk_alloc *al = ksk_alloc_or_default(env->alloc);
	col_wal *w = ksk_calloc(al, 1, sizeof(*w));
	if (!w)
		return KSK_ENOMEM;
	char path[4096];
	col_wal_path_for(dir, num, path, sizeof(path));
	size_t pl = strlen(path) + 1, dl = strlen(dir) + 1;
	w->path = ksk_malloc(al, pl);
	w->dir = ksk_malloc(al, dl);
	if (!w->path || !w->dir) {
		ksk_free(al, w->path);
		ksk_free(al, w->dir);
		ksk_free(al, w);
		return KSK_ENOMEM;
	}
	memcpy(w->path, path, pl);
	memcpy(w->dir, dir, dl);
	w->env = *env;
	w->al = al;
	w->fd = -1;
	w->num = num;
	pthread_mutex_init(&w->sync_mu, NULL);
	pthread_cond_init(&w->sync_cv, NULL);
	*out = w;
	return KSK_OK;
}

void col_wal_close(col_wal *w)
{
	if (!w)
		return;
	if (w->fd >= 0)
		close(w->fd);
	pthread_mutex_destroy(&w->sync_mu);
	pthread_cond_destroy(&w->sync_cv);
	ksk_free(w->al, w->path);
	ksk_free(w->al, w->dir);
	ksk_free(w->al, w);
}

static ksk_err wal_write_header(col_wal *w, uint64_t created_ns, ksk_errinfo *ei)
{
	uint8_t h[COL_WAL_HDR_LEN];
	memset(h, 0, sizeof(h));
	memcpy(h, "KSKW", 4);
	h[4] = 1;
	h[5] = COL_WAL_HDR_LEN;
	ksk_put_le64(h + 8, w->num);
	ksk_put_le64(h + 16, created_ns);
	ksk_put_le32(h + 28, ksk_crc32(0, h, 28));
	if (ftruncate(w->fd, 0) != 0)
		return ksk_errinfo_sys(ei, KSK_EIO, errno, "truncate %s", w->path);
	struct iovec iov = {h, sizeof(h)};
	KSK_TRY(wal_write_all(w->fd, 0, &iov, 1, w->path, ei));
	if (fdatasync(w->fd) != 0)
		return ksk_errinfo_sys(ei, KSK_EIO, errno, "fsync %s", w->path);
	w->created_ns = created_ns;
	__atomic_store_n(&w->end, COL_WAL_HDR_LEN, __ATOMIC_RELEASE);
	w->synced = COL_WAL_HDR_LEN;
	return wal_fsync_dir(w->dir, ei);
}

ksk_err col_wal_create(const col_wal_env *env, const char *dir, uint64_t num,
                       uint64_t created_ns, col_wal **out, ksk_errinfo *ei)
{
	col_wal *w;
	if (wal_alloc(env, dir, num, &w) != KSK_OK)
		return ksk_errinfo_set(ei, KSK_ENOMEM, "out of memory creating a log");
	w->fd = open(w->path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (w->fd < 0) {
		ksk_err rc = ksk_errinfo_sys(ei, KSK_EIO, errno, "create %s", w->path);
		col_wal_close(w);
		return rc;
	}
	ksk_err rc = wal_write_header(w, created_ns, ei);
	if (rc != KSK_OK) {
		unlink(w->path);
		col_wal_close(w);
		return rc;
	}
	*out = w;
	return KSK_OK;
}

/* ---- scanning ----------------------------------------------------------- */

typedef struct wal_scanbuf {
	const ksk_alloc *al;
	uint8_t *p;
	size_t cap;
} wal_scanbuf;

static bool sb_reserve(wal_scanbuf *b, size_t n)
{
	if (n <= b->cap)
		return true;
	size_t c = b->cap ? b->cap : 65536;
	while (c < n)
		c *= 2;
	uint8_t *np = ksk_realloc(b->al, b->p, c);
	if (!np)
		return false;
	b->p = np;
	b->cap = c;
	return true;
}

/* Is there a whole valid record at `off`? Leaves the body in sb->p.
 * *ok false = not a record; error codes only for I/O or memory. */
static ksk_err wal_check_at(int fd, const char *path, uint64_t off,
                            uint64_t file_end, wal_scanbuf *sb, uint32_t *len,
                            bool *ok, ksk_errinfo *ei)
{
	*ok = false;
	if (file_end - off < COL_WAL_REC_HDR)
		return KSK_OK;
	uint8_t h[COL_WAL_REC_HDR];
	KSK_TRY(wal_pread_all(fd, off, h, sizeof(h), path, ei));
	uint32_t l = ksk_get_le32(h), crc = ksk_get_le32(h + 4);
	if (l < KSK_FRAME_HDR_LEN || l > COL_WAL_MAX_RECORD ||
	    l > file_end - off - COL_WAL_REC_HDR)
		return KSK_OK;
	if (!sb_reserve(sb, l))
		return ksk_errinfo_set(ei, KSK_ENOMEM, "out of memory reading %s", path);
	KSK_TRY(wal_pread_all(fd, off + COL_WAL_REC_HDR, sb->p, l, path, ei));
	if (memcmp(sb->p, "KSKF", 4) != 0 || ksk_crc32(0, sb->p, l) != crc)
		return KSK_OK;
	*len = l;
	*ok = true;
	return KSK_OK;
}

/* The first offset > `from` holding a valid record, or file_end. */
static ksk_err wal_resync(int fd, const char *path, uint64_t from,
                          uint64_t file_end, wal_scanbuf *sb, uint64_t *next,
                          ksk_errinfo *ei)
{
	enum { WIN = 1 << 20 };
	const ksk_alloc *al = sb->al;
	uint8_t *win = ksk_malloc(al, WIN + 16);
	if (!win)
		return ksk_errinfo_set(ei, KSK_ENOMEM, "out of memory scanning %s", path);
	ksk_err rc = KSK_OK;
	*next = file_end;
	uint64_t pos = from;
	while (pos + COL_WAL_REC_HDR + 4 <= file_end) {
		size_t n = file_end - pos > WIN + 12 ? WIN + 12 : (size_t)(file_end - pos);
		rc = wal_pread_all(fd, pos, win, n, path, ei);
		if (rc != KSK_OK)
			break;
		bool found = false;
		for (size_t i = 0; i + COL_WAL_REC_HDR + 4 <= n; i++) {
			if (win[i + 8] != 'K' || memcmp(win + i + 8, "KSKF", 4) != 0)
				continue;
			uint32_t l;
			bool ok;
			rc = wal_check_at(fd, path, pos + i, file_end, sb, &l, &ok, ei);
			if (rc != KSK_OK)
				break;
			if (ok) {
				*next = pos + i;
				found = true;
				break;
			}
		}
		if (rc != KSK_OK || found)
			break;
		if (n < WIN + 12)
			break;
		pos += WIN;
	}
	ksk_free(al, win);
	return rc;
}

/* Walks records in [HDR, file_end). *stop = where valid data ends (the
 * torn tail starts there, or file_end). */
static ksk_err wal_walk(const col_wal *w, uint64_t file_end, col_wal_rec_cb cb,
                        void *ctx, uint64_t *stop, uint64_t *nrec,
                        ksk_errinfo *ei)
{
	wal_scanbuf sb = {w->al, NULL, 0};
	ksk_err rc = KSK_OK;
	uint64_t off = COL_WAL_HDR_LEN, n = 0;
	while (off < file_end) {
		uint32_t len = 0;
		bool ok;
		rc = wal_check_at(w->fd, w->path, off, file_end, &sb, &len, &ok, ei);
		if (rc != KSK_OK)
			break;
		if (ok) {
			ksk_err r = cb ? cb(ctx, off + COL_WAL_REC_HDR, sb.p, len) : KSK_OK;
			if (r == KSK_ECORRUPT) {
				wal_log(&w->env, 2, "%s: record at offset %" PRIu64
				        " (%u bytes) passed its CRC but is not a valid "
				        "frame; skipped", w->path, off, len);
			} else if (r != KSK_OK) {
				rc = r;
				break;
			} else {
				n++;
			}
			off += COL_WAL_REC_HDR + len;
			continue;
		}
		uint64_t next = file_end;
		rc = wal_resync(w->fd, w->path, off + 1, file_end, &sb, &next, ei);
		if (rc != KSK_OK)
			break;
		if (next >= file_end)
			break; /* torn or corrupt tail */
		wal_log(&w->env, 2, "%s: corrupt record at offset %" PRIu64
		        "; skipped %" PRIu64 " bytes to the next valid record",
		        w->path, off, next - off);
		off = next;
	}
	ksk_free(w->al, sb.p);
	*stop = off < file_end ? off : file_end;
	*nrec = n;
	return rc;
}

ksk_err col_wal_open(const col_wal_env *env, const char *dir, uint64_t num,
                     uint64_t now_ns, col_wal_rec_cb cb, void *ctx,
                     col_wal **out, ksk_errinfo *ei)
{
	col_wal *w;
	if (wal_alloc(env, dir, num, &w) != KSK_OK)
		return ksk_errinfo_set(ei, KSK_ENOMEM, "out of memory opening a log");
	ksk_err rc = KSK_OK;
	w->fd = open(w->path, O_RDWR | O_CLOEXEC);
	if (w->fd < 0) {
		rc = ksk_errinfo_sys(ei, KSK_EIO, errno, "open %s", w->path);
		goto fail;
	}
	struct stat st;
	if (fstat(w->fd, &st) != 0) {
		rc = ksk_errinfo_sys(ei, KSK_EIO, errno, "stat %s", w->path);
		goto fail;
	}
	uint64_t size = (uint64_t)st.st_size;
	if (size < COL_WAL_HDR_LEN) {
		wal_log(env, 1, "%s: shorter than its header (%" PRIu64
		        " bytes, a crash while creating it); rewritten empty",
		        w->path, size);
		rc = wal_write_header(w, now_ns, ei);
		if (rc != KSK_OK)
			goto fail;
		*out = w;
		return KSK_OK;
	}
	uint8_t h[COL_WAL_HDR_LEN];
	rc = wal_pread_all(w->fd, 0, h, sizeof(h), w->path, ei);
	if (rc != KSK_OK)
		goto fail;
	if (memcmp(h, "KSKW", 4) != 0 || h[4] != 1 || h[5] != COL_WAL_HDR_LEN ||
	    ksk_get_le32(h + 28) != ksk_crc32(0, h, 28) || ksk_get_le64(h + 8) != num) {
		rc = ksk_errinfo_set(ei, KSK_ECORRUPT, "%s: bad log header", w->path);
		goto fail;
	}
	w->created_ns = ksk_get_le64(h + 16);
	uint64_t stop, nrec;
	rc = wal_walk(w, size, cb, ctx, &stop, &nrec, ei);
	if (rc != KSK_OK)
		goto fail;
	if (stop < size) {
		wal_log(env, 1, "%s: torn or corrupt tail at offset %" PRIu64
		        ": truncated %" PRIu64 " bytes", w->path, stop, size - stop);
		if (ftruncate(w->fd, (off_t)stop) != 0 || fdatasync(w->fd) != 0) {
			rc = ksk_errinfo_sys(ei, KSK_EIO, errno, "truncate %s", w->path);
			goto fail;
		}
	}
	w->end = stop;
	w->synced = stop;
	w->records = nrec;
	*out = w;
	return KSK_OK;
fail:
	col_wal_close(w);
	return rc;
}

ksk_err col_wal_scan(const col_wal *w, col_wal_rec_cb cb, void *ctx,
                     ksk_errinfo *ei)
{
	uint64_t stop, nrec;
	return wal_walk(w, col_wal_end(w), cb, ctx, &stop, &nrec, ei);
}

/* ---- appending and syncing ---------------------------------------------- */

ksk_err col_wal_append(col_wal *w, const uint8_t *body, uint32_t len,
                       uint64_t *body_off, uint64_t *end, ksk_errinfo *ei)
{
	if (len < KSK_FRAME_HDR_LEN || len > COL_WAL_MAX_RECORD)
		return ksk_errinfo_set(ei, KSK_EINVAL, "record of %u bytes out of range", len);
	if (__atomic_load_n(&w->write_err, __ATOMIC_ACQUIRE))
		return ksk_errinfo_set(ei, KSK_EIO, "%s: an earlier write failed and "
		                       "could not be undone; reopen the store", w->path);
	uint64_t at = w->end;
	uint8_t h[COL_WAL_REC_HDR];
	ksk_put_le32(h, len);
	ksk_put_le32(h + 4, ksk_crc32(0, body, len));
	struct iovec iov[2] = {{h, sizeof(h)}, {(void *)body, len}};
	ksk_err rc = wal_write_all(w->fd, at, iov, 2, w->path, ei);
	if (rc != KSK_OK) {
		if (ftruncate(w->fd, (off_t)at) != 0)
			__atomic_store_n(&w->write_err, 1, __ATOMIC_RELEASE);
		return KSK_EIO;
	}
	uint64_t e = at + COL_WAL_REC_HDR + len;
	__atomic_store_n(&w->end, e, __ATOMIC_RELEASE);
	__atomic_add_fetch(&w->records, 1, __ATOMIC_RELAXED);
	*body_off = at + COL_WAL_REC_HDR;
	*end = e;
	return KSK_OK;
}

static void wal_count_sync(col_wal *w, uint64_t ns)
{
	col_wal_counters *c = w->env.counters;
	if (!c)
		return;
	__atomic_add_fetch(&c->fsyncs, 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&c->fsync_ns_sum, ns, __ATOMIC_RELAXED);
	uint64_t m = __atomic_load_n(&c->fsync_ns_max, __ATOMIC_RELAXED);
	while (ns > m &&
	       !__atomic_compare_exchange_n(&c->fsync_ns_max, &m, ns, false,
	                                    __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		;
}

ksk_err col_wal_sync(col_wal *w, uint64_t upto, ksk_errinfo *ei)
{
	pthread_mutex_lock(&w->sync_mu);
	while (w->synced < upto && !w->sync_err) {
		if (w->syncing) {
			pthread_cond_wait(&w->sync_cv, &w->sync_mu);
			continue;
		}
		w->syncing = true;
		uint64_t goal = __atomic_load_n(&w->end, __ATOMIC_ACQUIRE);
		bool fail = w->fail_next;
		w->fail_next = false;
		pthread_mutex_unlock(&w->sync_mu);
		uint64_t t0 = wal_now(w);
		int r = fail ? -1 : fdatasync(w->fd);
		int e = fail ? EIO : errno;
		uint64_t dt = wal_now(w) - t0;
		wal_count_sync(w, dt);
		pthread_mutex_lock(&w->sync_mu);
		w->syncing = false;
		if (r != 0)
			w->sync_err = e ? e : EIO;
		else if (goal > w->synced)
			w->synced = goal;
		pthread_cond_broadcast(&w->sync_cv);
	}
	int err = w->sync_err;
	pthread_mutex_unlock(&w->sync_mu);
	if (err && w->synced < upto)
		return ksk_errinfo_sys(ei, KSK_EIO, err, "fdatasync %s", w->path);
	if (err)
		return ksk_errinfo_sys(ei, KSK_EIO, err, "fdatasync %s failed earlier", w->path);
	return KSK_OK;
}

ksk_err col_wal_pread(const col_wal *w, uint64_t off, uint8_t *buf,
                      uint32_t len, ksk_errinfo *ei)
{
	return wal_pread_all(w->fd, off, buf, len, w->path, ei);
}

ksk_err col_wal_unlink(col_wal *w, ksk_errinfo *ei)
{
	if (unlink(w->path) != 0 && errno != ENOENT)
		return ksk_errinfo_sys(ei, KSK_EIO, errno, "unlink %s", w->path);
	return wal_fsync_dir(w->dir, ei);
}

uint64_t col_wal_end(const col_wal *w)
{
	return __atomic_load_n(&w->end, __ATOMIC_ACQUIRE);
}

uint64_t col_wal_synced(const col_wal *w)
{
	col_wal *m = (col_wal *)w;
	pthread_mutex_lock(&m->sync_mu);
	uint64_t v = m->synced;
	pthread_mutex_unlock(&m->sync_mu);
	return v;
}

uint64_t col_wal_num(const col_wal *w)
{
	return w->num;
}

uint64_t col_wal_created_ns(const col_wal *w)
{
	return w->created_ns;
}

uint64_t col_wal_records(const col_wal *w)
{
	return __atomic_load_n(&w->records, __ATOMIC_RELAXED);
}

bool col_wal_failed(const col_wal *w)
{
	col_wal *m = (col_wal *)w;
	if (__atomic_load_n(&m->write_err, __ATOMIC_ACQUIRE))
		return true;
	pthread_mutex_lock(&m->sync_mu);
	bool f = m->sync_err != 0;
	pthread_mutex_unlock(&m->sync_mu);
	return f;
}

const char *col_wal_path(const col_wal *w)
{
	return w->path;
}

void col_wal_fail_next_sync(col_wal *w)
{
	pthread_mutex_lock(&w->sync_mu);
	w->fail_next = true;
	pthread_mutex_unlock(&w->sync_mu);
}
