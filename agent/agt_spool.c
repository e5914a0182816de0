/*
 * agt_spool.c : the agent's crash-safe frame spool (agt_spool.h).
 *
 * Role: durable buffer between the batcher and the shipper. Data in:
 * frames + opaque positions blobs (append), acks and dead letters (shipper),
 * "checkpoint saved up to seq X" (tailer). Data out: frames by seq (read),
 * positions blobs at startup, the agent ID and fresh seqs.
 *
 * On disk, in DIR:
 *   agent.id            32 hex chars + "\n": the agent ID (getrandom)
 *   seq                 "reserved S\n": every seq handed out is < S
 *   spool-<n>.dat       segment: FRAME records, append-only, rolled at
 *                       segment_bytes
 *   spool-<n>.ack       its ACK records (same record format)
 *   dead/<agent>-<seq>.frame + .txt    dead letters
 * Record: [u32 len][u32 crc][u8 type][body], little-endian; len counts
 * type + body; crc = CRC-32 of the 4 len bytes, then type + body.
 *   FRAME body: u64 seq, u64 append wall ns, u32 dest, u32 frame_len,
 *               frame bytes, positions bytes (the rest)
 *   ACK body:   u64 seq, u8 outcome (1 acked, 2 dead-lettered)
 * ACKs live in a sidecar per segment so deleting a segment never loses
 * the ack of a frame in another segment.
 *
 * Invariants:
 *  - A seq is handed out only when it is < the durable reservation S in
 *    DIR/seq (write tmp, fsync, rename, fsync dir; then S takes effect).
 *    At open, next seq = max(S, largest seq in the spool + 1). If agent.id
 *    or seq is missing or unreadable a NEW agent ID is made, so an old
 *    (agent, seq) pair can never be reused.
 *  - A segment is deleted only when all its frames are done and every one
 *    of them with positions has seq <= the caller's saved checkpoint.
 *  - Memory holds one small index entry per frame, never frame bodies:
 *    replay streams each file through a 64 KiB window.
 *  - Damage is told apart from failure: a bad record is skipped (middle)
 *    or cut (tail), but running out of memory or a read error while
 *    replaying changes nothing on disk and fails the open.
 *
 * Frame state machine (per index entry):
 *   PENDING --claim--> CLAIMED --acked/dead_letter--> ACKED | DEAD
 *      ^------unclaim-----'
 *   (replay: PENDING, or ACKED/DEAD when the .ack file says so)
 *
 * Locking: one mutex around everything, fsync and frame reads included
 * (simple; appends are serialised anyway). The notify callback runs under
 * it and must not call back into the spool (the shipper's only takes the
 * shipper's own lock, and the shipper never holds that lock while calling
 * the spool, so there is no lock-order cycle).
 */
#include "agt_spool.h"
#include "kiseki/bytes.h"

#include "kiseki/ack.h"
#include "kiseki/buf.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#define REC_HDR 8u
#define REC_FRAME 1u
#define REC_ACK 2u
#define FRAME_FIXED 24u /* seq, wall, dest, frame_len */
#define ACK_BODY 9u
#define ACK_REC (REC_HDR + 1u + ACK_BODY)

enum { ST_PENDING = 0, ST_CLAIMED = 1, ST_ACKED = 2, ST_DEAD = 3 };

typedef struct agt_ent {
	uint64_t seq;
	uint64_t wall_ns;   /* append time */
	uint64_t off;       /* record start in its segment */
	uint32_t seg;       /* segment id */
	uint32_t frame_len;
	uint32_t pos_len;
	uint32_t dest;
	uint8_t state;      /* ST_* */
} agt_ent;

typedef struct agt_seg {
	uint32_t id;
	uint64_t size;        /* .dat bytes */
	uint64_t ack_size;    /* .ack bytes */
	uint32_t n_frames;
	uint32_t n_done;
	uint64_t max_pos_seq; /* largest seq with positions, 0 = none */
} agt_seg;

struct agt_spool {
	agt_spool_opts o;
	char *dir;               /* owned copy */
	pthread_mutex_t mu;
	uint8_t agent_id[KSK_AGENT_ID_LEN];
	uint64_t next_seq;       /* next to hand out */
	uint64_t reserved;       /* durable bound: next_seq < reserved to hand out */
	uint64_t ckpt_seq;       /* caller's saved checkpoint */
	uint64_t durable_seq;
	uint64_t last_sync_ns;   /* mono */
	agt_ent *ents;           /* sorted by seq */
	size_t n_ents, cap_ents;
	size_t claim_from;       /* entries below are not PENDING */
	agt_seg *segs;           /* sorted by id */
	size_t n_segs, cap_segs;
	int active_fd;           /* -1 = none */
	uint32_t active_id;
	uint32_t next_seg_id;
	uint64_t bytes;
	ksk_buf rec;             /* reusable record buffer */
	agt_spool_notify_fn notify;
	void *notify_ctx;
	int crash_step;          /* tests */
	agt_spool_stats st;
};

/* ---- small helpers ------------------------------------------------------ */

static void spool_log(agt_spool *sp, int level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void spool_log(agt_spool *sp, int level, const char *fmt, ...)
{
	if (!sp->o.log)
		return;
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	sp->o.log(sp->o.log_ctx, level, msg);
}

static void path_of(const agt_spool *sp, char *out, size_t cap, const char *name)
{
	snprintf(out, cap, "%s/%s", sp->dir, name);
}

static void seg_path(const agt_spool *sp, char *out, size_t cap, uint32_t id, const char *ext)
{
	snprintf(out, cap, "%s/spool-%010" PRIu32 ".%s", sp->dir, id, ext);
}

static int fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	int rc = fsync(fd);
	close(fd);
	return rc;
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int pread_all(int fd, uint8_t *p, size_t n, uint64_t off)
{
	while (n) {
		ssize_t r = pread(fd, p, n, (off_t)off);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (r == 0) {
			errno = EIO; /* short file */
			return -1;
		}
		p += r;
		n -= (size_t)r;
		off += (uint64_t)r;
	}
	return 0;
}

static uint32_t rec_crc(const uint8_t *rec, size_t len)
{
	uint32_t c = ksk_crc32(0, rec, 4);
	return ksk_crc32(c, rec + REC_HDR, len);
}

/* Writes DIR/name atomically: tmp, fsync, rename, fsync dir. `crash`
 * (tests) stops after that step with KSK_EIO. */
static ksk_err write_state(agt_spool *sp, const char *name, const char *data, int crash,
                           ksk_errinfo *ei)
{
	char tmp[4200], fin[4200];
	snprintf(tmp, sizeof(tmp), "%s/%s.tmp", sp->dir, name);
	path_of(sp, fin, sizeof(fin), name);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return ksk_errinfo_sys(ei, KSK_ESYS, errno, "spool: cannot create %s", tmp);
	size_t n = strlen(data);
	if (crash == 1)
		n /= 2; /* a torn, unsynced tmp file */
	if (write_all(fd, (const uint8_t *)data, n) != 0) {
		int e = errno;
		close(fd);
		/* a full disk is backpressure, like a full spool */
		return ksk_errinfo_sys(ei, e == ENOSPC || e == EDQUOT ? KSK_EBUSY : KSK_EIO, e,
		                       "spool: cannot write %s", tmp);
	}
	if (crash == 1) {
		close(fd);
		return ksk_errinfo_set(ei, KSK_EIO, "spool: injected crash at step 1");
	}
	if (fsync(fd) != 0) {
		int e = errno;
		close(fd);
		return ksk_errinfo_sys(ei, KSK_EIO, e, "spool: cannot fsync %s", tmp);
	}
	close(fd);
	if (crash == 2)
		return ksk_errinfo_set(ei, KSK_EIO, "spool: injected crash at step 2");
	if (rename(tmp, fin) != 0)
		return ksk_errinfo_sys(ei, KSK_EIO, errno, "spool: cannot rename %s", tmp);
	if (crash == 3)
		return ksk_errinfo_set(ei, KSK_EIO, "spool: injected crash at step 3");
	if (fsync_dir(sp->dir) != 0)
		return ksk_errinfo_sys(ei, KSK_EIO, errno, "spool: cannot fsync %s", sp->dir);
	if (crash == 4)
		return ksk_errinfo_set(ei, KSK_EIO, "spool: injected crash at step 4");
	return KSK_OK;
}

/* Reads a small state file into buf (NUL-terminated). -1 when missing. */
static int read_small(const char *path, char *buf, size_t cap)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t r = read(fd, buf, cap - 1);
	close(fd);
	if (r < 0)
		return -1;
	buf[r] = '\0';
	return (int)r;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* ---- index -------------------------------------------------------------- */

static agt_seg *seg_find(agt_spool *sp, uint32_t id)
{
	size_t lo = 0, hi = sp->n_segs;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (sp->segs[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < sp->n_segs && sp->segs[lo].id == id ? &sp->segs[lo] : NULL;
}

static agt_seg *seg_add(agt_spool *sp, uint32_t id)
{
	if (sp->n_segs == sp->cap_segs) {
		size_t nc = sp->cap_segs ? sp->cap_segs * 2 : 16;
		agt_seg *ns = ksk_realloc(sp->o.alloc, sp->segs, nc * sizeof(*ns));
		if (!ns)
			return NULL;
		sp->segs = ns;
		sp->cap_segs = nc;
	}
	/* ids only grow, so appending keeps the order */
	agt_seg *s = &sp->segs[sp->n_segs++];
	memset(s, 0, sizeof(*s));
	s->id = id;
	return s;
}

static agt_ent *ent_find(agt_spool *sp, uint64_t seq, size_t *idx)
{
	size_t lo = 0, hi = sp->n_ents;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (sp->ents[mid].seq < seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < sp->n_ents && sp->ents[lo].seq == seq) {
		if (idx)
			*idx = lo;
		return &sp->ents[lo];
	}
	return NULL;
}

/* Makes room for one more entry, so a push after a write cannot fail. */
static bool ent_reserve(agt_spool *sp)
{
	if (sp->n_ents < sp->cap_ents)
		return true;
	size_t nc = sp->cap_ents ? sp->cap_ents * 2 : 64;
	agt_ent *ne = ksk_realloc(sp->o.alloc, sp->ents, nc * sizeof(*ne));
	if (!ne)
		return false;
	sp->ents = ne;
	sp->cap_ents = nc;
	return true;
}

static agt_ent *ent_push(agt_spool *sp)
{
	if (sp->n_ents == sp->cap_ents) {
		size_t nc = sp->cap_ents ? sp->cap_ents * 2 : 64;
		agt_ent *ne = ksk_realloc(sp->o.alloc, sp->ents, nc * sizeof(*ne));
		if (!ne)
			return NULL;
		sp->ents = ne;
		sp->cap_ents = nc;
	}
	agt_ent *e = &sp->ents[sp->n_ents++];
	memset(e, 0, sizeof(*e));
	return e;
}

static int ent_cmp(const void *a, const void *b)
{
	const agt_ent *x = a, *y = b;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* ---- segment deletion ------------------------------------------------------ */

static bool seg_deletable(const agt_spool *sp, const agt_seg *s)
{
	return s->n_done == s->n_frames && s->max_pos_seq <= sp->ckpt_seq;
}

static void seg_delete(agt_spool *sp, size_t i)
{
	agt_seg *s = &sp->segs[i];
	char p[4200];
	if (sp->active_fd >= 0 && sp->active_id == s->id) {
		close(sp->active_fd);
		sp->active_fd = -1;
	}
	seg_path(sp, p, sizeof(p), s->id, "dat");
	if (unlink(p) != 0 && errno != ENOENT) {
		spool_log(sp, 2, "spool: cannot delete %s: %s", p, strerror(errno));
		return;
	}
	seg_path(sp, p, sizeof(p), s->id, "ack");
	unlink(p);
	uint32_t id = s->id;
	sp->bytes -= s->size + s->ack_size;
	memmove(&sp->segs[i], &sp->segs[i + 1], (sp->n_segs - i - 1) * sizeof(*sp->segs));
	sp->n_segs--;
	size_t w = 0;
	for (size_t r = 0; r < sp->n_ents; r++)
		if (sp->ents[r].seg != id)
			sp->ents[w++] = sp->ents[r];
	sp->n_ents = w;
	sp->claim_from = 0;
	sp->st.deleted_segments++;
}

/* Deletes every deletable segment; the active one only when `force` (it
 * is then closed and the next append opens a new one) or when full. */
static void spool_reclaim(agt_spool *sp, bool force)
{
	for (size_t i = 0; i < sp->n_segs;) {
		agt_seg *s = &sp->segs[i];
		bool active = sp->active_fd >= 0 && sp->active_id == s->id;
		if (seg_deletable(sp, s) &&
		    (!active || force || s->size >= sp->o.segment_bytes))
			seg_delete(sp, i);
		else
			i++;
	}
}

/* ---- the seq reservation ----------------------------------------------------- */

static ksk_err reserve(agt_spool *sp, uint64_t upto, ksk_errinfo *ei)
{
	char data[64];
	snprintf(data, sizeof(data), "reserved %" PRIu64 "\n", upto);
	int crash = sp->crash_step;
	sp->crash_step = 0;
	KSK_TRY(write_state(sp, "seq", data, crash, ei));
	sp->reserved = upto;
	return KSK_OK;
}

static ksk_err new_agent_id(agt_spool *sp, ksk_errinfo *ei)
{
	size_t got = 0;
	while (got < KSK_AGENT_ID_LEN) {
		ssize_t r = getrandom(sp->agent_id + got, KSK_AGENT_ID_LEN - got, 0);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return ksk_errinfo_sys(ei, KSK_ESYS, errno, "spool: getrandom");
		}
		got += (size_t)r;
	}
	char hex[40];
	for (int i = 0; i < KSK_AGENT_ID_LEN; i++)
		snprintf(hex + 2 * i, 3, "%02x", sp->agent_id[i]);
	hex[32] = '\n';
	hex[33] = '\0';
	return write_state(sp, "agent.id", hex, 0, ei);
}

/* ---- replay ------------------------------------------------------------------ */

typedef struct ack_mark {
	uint64_t seq;
	uint8_t outcome;
} ack_mark;

static int ack_cmp(const void *a, const void *b)
{
	const ack_mark *x = a, *y = b;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Replay streams each file: a record is checked with preads of at most
 * SCAN_CHUNK bytes, so memory stays bounded whatever the files hold. */
#define SCAN_CHUNK 65536u
#define REC_HEAD (REC_HDR + 1u + FRAME_FIXED) /* header + type + fixed fields */

typedef struct scan {
	int fd;
	uint64_t size;
	uint8_t *chunk;   /* SCAN_CHUNK bytes */
	uint8_t *pos;     /* positions of the record just verified */
	size_t pos_cap;
	uint32_t pos_len;
	ksk_err err;      /* KSK_ENOMEM / KSK_EIO: not corruption, stop */
} scan;

/* Cheap checks on the first `avail` bytes of a record at `off` (bounds,
 * type, body sizes). Returns its len field, or 0 when it cannot be one. */
static uint32_t head_check(const agt_spool *sp, const uint8_t *h, size_t avail, uint64_t off,
                           uint64_t size)
{
	if (avail < REC_HDR + 1)
		return 0;
	uint32_t len = ksk_get_le32(h);
	uint8_t type = h[REC_HDR];
	uint64_t max = (uint64_t)sp->o.max_frame + sp->o.max_positions + 1 + FRAME_FIXED;
	if (len < 1 || len > max || len > size - off - REC_HDR)
		return 0;
	if (type == REC_ACK)
		return len == 1 + ACK_BODY ? len : 0;
	if (type != REC_FRAME || len < 1 + FRAME_FIXED || avail < REC_HEAD)
		return 0;
	uint32_t flen = ksk_get_le32(h + REC_HDR + 1 + 20);
	if (flen > sp->o.max_frame || flen > len - 1 - FRAME_FIXED ||
	    len - 1 - FRAME_FIXED - flen > sp->o.max_positions)
		return 0;
	return len;
}

/* Full check of the record at `off` (head already read into `h`): streams
 * its bytes through the CRC and keeps its positions in sc->pos. */
static bool rec_verify(agt_spool *sp, scan *sc, const uint8_t *h, uint64_t off, uint32_t len)
{
	uint64_t p = off + REC_HDR, end = p + len;
	uint64_t pos_at = end;
	sc->pos_len = 0;
	if (h[REC_HDR] == REC_FRAME) {
		pos_at = off + REC_HEAD + ksk_get_le32(h + REC_HDR + 1 + 20);
		sc->pos_len = (uint32_t)(end - pos_at);
		if (sc->pos_len > sc->pos_cap) {
			uint8_t *np = ksk_realloc(sp->o.alloc, sc->pos, sc->pos_len);
			if (!np) {
				sc->err = KSK_ENOMEM;
				return false;
			}
			sc->pos = np;
			sc->pos_cap = sc->pos_len;
		}
	}
	uint32_t c = ksk_crc32(0, h, 4);
	while (p < end) {
		size_t n = end - p < SCAN_CHUNK ? (size_t)(end - p) : SCAN_CHUNK;
		if (pread_all(sc->fd, sc->chunk, n, p) != 0) {
			sc->err = KSK_EIO;
			return false;
		}
		c = ksk_crc32(c, sc->chunk, n);
		if (p + n > pos_at) {
			uint64_t from = p > pos_at ? p : pos_at;
			memcpy(sc->pos + (from - pos_at), sc->chunk + (from - p), (size_t)(p + n - from));
		}
		p += n;
	}
	return c == ksk_get_le32(h + 4);
}

/* Reads the head of the record at `off` and checks it fully. Returns its
 * len, or 0. `h` receives REC_HEAD bytes (fewer at the end of the file). */
static uint32_t rec_at(agt_spool *sp, scan *sc, uint64_t off, uint8_t *h)
{
	size_t avail = sc->size - off < REC_HEAD ? (size_t)(sc->size - off) : REC_HEAD;
	if (pread_all(sc->fd, h, avail, off) != 0) {
		sc->err = KSK_EIO;
		return 0;
	}
	uint32_t len = head_check(sp, h, avail, off, sc->size);
	return len && rec_verify(sp, sc, h, off, len) ? len : 0;
}

/* The next offset >= from where a valid record starts, or sc->size. The
 * file is read in overlapping windows; only candidates passing the cheap
 * head checks get a CRC pass. */
static uint64_t resync(agt_spool *sp, scan *sc, uint64_t from)
{
	uint8_t *win = ksk_malloc(sp->o.alloc, SCAN_CHUNK);
	if (!win) {
		sc->err = KSK_ENOMEM;
		return sc->size;
	}
	uint64_t w = from, found = sc->size;
	while (w < sc->size && found == sc->size) {
		size_t n = sc->size - w < SCAN_CHUNK ? (size_t)(sc->size - w) : SCAN_CHUNK;
		if (pread_all(sc->fd, win, n, w) != 0) {
			sc->err = KSK_EIO;
			break;
		}
		bool last = w + n == sc->size;
		size_t upto = last ? n : n - REC_HEAD + 1;
		for (size_t i = 0; i < upto; i++) {
			size_t avail = n - i < REC_HEAD ? n - i : REC_HEAD;
			uint32_t len = head_check(sp, win + i, avail, w + i, sc->size);
			if (len && rec_verify(sp, sc, win + i, w + i, len)) {
				found = w + i;
				break;
			}
			if (sc->err != KSK_OK)
				break;
		}
		if (last || sc->err != KSK_OK)
			break;
		w += upto;
	}
	ksk_free(sp->o.alloc, win);
	return found;
}

/* Called per valid record: `h` holds its head (REC_HEAD bytes for a
 * FRAME, REC_HDR + 1 + ACK_BODY for an ACK), `pos` its positions. */
typedef ksk_err (*rec_fn)(agt_spool *sp, void *ctx, const uint8_t *h, const uint8_t *pos,
                          uint32_t pos_len, uint64_t off, uint32_t len, ksk_errinfo *ei);

/* Scans one file of records, calling `fn` per valid record; skips corrupt
 * records in the middle and truncates a bad tail. */
static ksk_err scan_file(agt_spool *sp, const char *path, rec_fn fn, void *ctx, uint64_t *size_out,
                         ksk_errinfo *ei)
{
	scan sc;
	memset(&sc, 0, sizeof(sc));
	sc.fd = open(path, O_RDWR | O_CLOEXEC);
	if (sc.fd < 0)
		return ksk_errinfo_sys(ei, KSK_ESYS, errno, "spool: cannot open %s", path);
	struct stat stt;
	if (fstat(sc.fd, &stt) != 0) {
		int e = errno;
		close(sc.fd);
		return ksk_errinfo_sys(ei, KSK_ESYS, e, "spool: cannot stat %s", path);
	}
	sc.size = (uint64_t)stt.st_size;
	sc.chunk = ksk_malloc(sp->o.alloc, SCAN_CHUNK);
	if (!sc.chunk) {
		close(sc.fd);
		return ksk_errinfo_set(ei, KSK_ENOMEM, "spool: no memory");
	}
	uint64_t off = 0;
	ksk_err rc = KSK_OK;
	uint8_t h[REC_HEAD];
	while (off < sc.size) {
		uint32_t len = rec_at(sp, &sc, off, h);
		if (len) {
			rc = fn(sp, ctx, h, sc.pos, sc.pos_len, off, len, ei);
			if (rc != KSK_OK)
				break;
			off += REC_HDR + len;
			continue;
		}
		/* out of memory or a read error is not damage: change nothing */
		uint64_t r = sc.err == KSK_OK ? resync(sp, &sc, off + 1) : sc.size;
		if (sc.err != KSK_OK) {
			rc = ksk_errinfo_set(ei, sc.err, "spool: %s: %s at offset %" PRIu64, path,
			                     sc.err == KSK_ENOMEM ? "out of memory" : "read error", off);
			break;
		}
		if (r >= sc.size) {
			spool_log(sp, 1, "spool: %s: %" PRIu64 " bytes of torn tail at offset %" PRIu64
			          " truncated", path, sc.size - off, off);
			sp->st.torn_bytes += sc.size - off;
			if (ftruncate(sc.fd, (off_t)off) != 0 || fsync(sc.fd) != 0)
				spool_log(sp, 2, "spool: cannot truncate %s: %s", path, strerror(errno));
			sc.size = off;
			break;
		}
		spool_log(sp, 1, "spool: %s: corrupt record at offset %" PRIu64 ", %" PRIu64
		          " bytes skipped", path, off, r - off);
		sp->st.corrupt_records++;
		off = r;
	}
	close(sc.fd);
	ksk_free(sp->o.alloc, sc.chunk);
	ksk_free(sp->o.alloc, sc.pos);
	*size_out = sc.size;
	return rc;
}

typedef struct ack_vec {
	ack_mark *v;
	size_t n, cap;
} ack_vec;

static ksk_err on_ack_rec(agt_spool *sp, void *ctx, const uint8_t *rec, const uint8_t *pos,
                          uint32_t pos_len, uint64_t off, uint32_t len, ksk_errinfo *ei)
{
	ack_vec *av = ctx;
	(void)pos;
	(void)pos_len;
	(void)len;
	(void)off;
	if (rec[REC_HDR] != REC_ACK)
		return KSK_OK;
	if (av->n == av->cap) {
		size_t nc = av->cap ? av->cap * 2 : 256;
		ack_mark *nv = ksk_realloc(sp->o.alloc, av->v, nc * sizeof(*nv));
		if (!nv)
			return ksk_errinfo_set(ei, KSK_ENOMEM, "spool: no memory");
		av->v = nv;
		av->cap = nc;
	}
	av->v[av->n].seq = ksk_get_le64(rec + REC_HDR + 1);
	av->v[av->n].outcome = rec[REC_HDR + 1 + 8];
	av->n++;
	return KSK_OK;
}

typedef struct frame_ctx {
	agt_seg *seg;
	const ack_vec *acks;
	agt_spool_positions_fn cb;
	void *cb_ctx;
	uint64_t max_seq;
} frame_ctx;

static ksk_err on_frame_rec(agt_spool *sp, void *ctx, const uint8_t *rec, const uint8_t *pos,
                            uint32_t pos_len, uint64_t off, uint32_t len, ksk_errinfo *ei)
{
	frame_ctx *fc = ctx;
	if (rec[REC_HDR] != REC_FRAME)
		return KSK_OK;
	const uint8_t *b = rec + REC_HDR + 1;
	agt_ent *e = ent_push(sp);
	if (!e)
		return ksk_errinfo_set(ei, KSK_ENOMEM, "spool: no memory for the index");
	e->seq = ksk_get_le64(b);
	e->wall_ns = ksk_get_le64(b + 8);
	e->dest = ksk_get_le32(b + 16);
	e->frame_len = ksk_get_le32(b + 20);
	e->pos_len = pos_len;
	(void)len;
	e->off = off;
	e->seg = fc->seg->id;
	e->state = ST_PENDING;
	ack_mark key = {e->seq, 0};
	const ack_mark *m = fc->acks->n ? bsearch(&key, fc->acks->v, fc->acks->n, sizeof(key), ack_cmp)
	                                : NULL;
	if (m)
		e->state = m->outcome == 2 ? ST_DEAD : ST_ACKED;
	fc->seg->n_frames++;
	if (e->state >= ST_ACKED)
		fc->seg->n_done++;
	if (e->pos_len && e->seq > fc->seg->max_pos_seq)
		fc->seg->max_pos_seq = e->seq;
	if (e->seq > fc->max_seq)
		fc->max_seq = e->seq;
	if (fc->cb)
		fc->cb(fc->cb_ctx, e->seq, e->state >= ST_ACKED, pos_len ? pos : (const uint8_t *)"",
		       pos_len);
	return KSK_OK;
}

static int u32_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

/* Lists the segment ids of DIR/spool-*.<ext>, sorted. */
static ksk_err list_ids(agt_spool *sp, const char *ext, uint32_t **out, size_t *n, ksk_errinfo *ei)
{
	DIR *d = opendir(sp->dir);
	if (!d)
		return ksk_errinfo_sys(ei, KSK_ESYS, errno, "spool: cannot list %s", sp->dir);
	uint32_t *v = NULL;
	size_t cnt = 0, cap = 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		unsigned id;
		char e[8];
		int used = 0;
		if (sscanf(de->d_name, "spool-%10u.%3s%n", &id, e, &used) != 2 ||
		    strcmp(e, ext) != 0 || de->d_name[used] != '\0')
			continue;
		if (cnt == cap) {
			size_t nc = cap ? cap * 2 : 16;
			uint32_t *nv = ksk_realloc(sp->o.alloc, v, nc * sizeof(*nv));
			if (!nv) {
				closedir(d);
				ksk_free(sp->o.alloc, v);
				return ksk_errinfo_set(ei, KSK_ENOMEM, "spool: no memory");
			}
			v = nv;
			cap = nc;
		}
		v[cnt++] = id;
	}
	closedir(d);
	if (cnt)
		qsort(v, cnt, sizeof(*v), u32_cmp);
	*out = v;
	*n = cnt;
	return KSK_OK;
}

static ksk_err spool_replay(agt_spool *sp, agt_spool_positions_fn cb, void *cb_ctx,
                            uint64_t *max_seq, ksk_errinfo *ei)
{
	uint32_t *dats = NULL, *acks = NULL;
	size_t n_dats = 0, n_acks = 0;
	ack_vec av = {NULL, 0, 0};
	ksk_err rc = list_ids(sp, "dat", &dats, &n_dats, ei);
	if (rc == KSK_OK)
		rc = list_ids(sp, "ack", &acks, &n_acks, ei);
	char p[4200];
	/* ACK files first, so frames know at once whether they are done */
	for (size_t i = 0; rc == KSK_OK && i < n_acks; i++) {
		seg_path(sp, p, sizeof(p), acks[i], "ack");
		if (!n_dats || !bsearch(&acks[i], dats, n_dats, sizeof(*dats), u32_cmp)) {
			unlink(p); /* its segment was deleted */
			continue;
		}
		uint64_t sz;
		rc = scan_file(sp, p, on_ack_rec, &av, &sz, ei);
	}
	if (rc == KSK_OK && av.n)
		qsort(av.v, av.n, sizeof(*av.v), ack_cmp);
	frame_ctx fc = {NULL, &av, cb, cb_ctx, 0};
	for (size_t i = 0; rc == KSK_OK && i < n_dats; i++) {
		agt_seg *s = seg_add(sp, dats[i]);
		if (!s) {
			rc = ksk_errinfo_set(ei, KSK_ENOMEM, "spool: no memory");
			break;
		}
		fc.seg = s;
		seg_path(sp, p, sizeof(p), dats[i], "dat");
		rc = scan_file(sp, p, on_frame_rec, &fc, &s->size, ei);
		struct stat stt;
		seg_path(sp, p, sizeof(p), dats[i], "ack");
		if (stat(p, &stt) == 0)
			s->ack_size = (uint64_t)stt.st_size;
		sp->bytes += s->size + s->ack_size;
		sp->next_seg_id = dats[i] + 1;
	}
	if (rc == KSK_OK && sp->n_ents > 1)
		qsort(sp->ents, sp->n_ents, sizeof(*sp->ents), ent_cmp);
	*max_seq = fc.max_seq;
	ksk_free(sp->o.alloc, av.v);
	ksk_free(sp->o.alloc, dats);
	ksk_free(sp->o.alloc, acks);
	return rc;
}

/* ---- open / close ---------------------------------------------------------------- */

void agt_spool_opts_default(agt_spool_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->max_bytes = 1ull << 30;
	o->segment_bytes = 4ull << 20;
	o->fsync = AGT_FSYNC_ALWAYS;
	o->fsync_interval_ns = 200000000ull;
	o->max_frame = 16u << 20;
	o->max_positions = 1u << 20;
	o->seq_block = 10000;
}

static ksk_err load_identity(agt_spool *sp, ksk_errinfo *ei)
{
	char p[4200], buf[128];
	bool id_ok = false, seq_ok = false;
	path_of(sp, p, sizeof(p), "agent.id");
	int n = read_small(p, buf, sizeof(buf));
	if (n >= 32) {
		id_ok = true;
		for (int i = 0; i < KSK_AGENT_ID_LEN; i++) {
			int hi = hexval(buf[2 * i]), lo = hexval(buf[2 * i + 1]);
			if (hi < 0 || lo < 0) {
				id_ok = false;
				break;
			}
			sp->agent_id[i] = (uint8_t)(hi << 4 | lo);
		}
	}
	path_of(sp, p, sizeof(p), "seq");
	n = read_small(p, buf, sizeof(buf));
	unsigned long long r = 0;
	if (n > 0 && sscanf(buf, "reserved %llu", &r) == 1 && r > 0) {
		seq_ok = true;
		sp->reserved = r;
	}
	if (id_ok && seq_ok)
		return KSK_OK;
	if (id_ok || seq_ok)
		spool_log(sp, 1, "spool: %s is missing or unreadable: starting a new agent ID so no "
		          "sequence number is reused",
		          id_ok ? "seq" : "agent.id");
	return new_agent_id(sp, ei);
}

ksk_err agt_spool_open(const agt_spool_opts *opts, agt_spool_positions_fn cb, void *cb_ctx,
                       agt_spool **out, ksk_errinfo *ei)
{
	*out = NULL;
	if (!opts || !opts->dir || !opts->dir[0] || opts->max_bytes == 0 ||
	    opts->segment_bytes == 0 || opts->seq_block == 0 || opts->max_frame < KSK_FRAME_HDR_LEN)
		return ksk_errinfo_set(ei, KSK_EINVAL, "spool: bad options");
	if (strlen(opts->dir) > 4000)
		return ksk_errinfo_set(ei, KSK_EINVAL, "spool: directory path too long");
	const ksk_alloc *a = ksk_alloc_or_default(opts->alloc);
	agt_spool *sp = ksk_calloc(a, 1, sizeof(*sp));
	if (!sp)
		return ksk_errinfo_set(ei, KSK_ENOMEM, "spool: no memory");
	sp->o = *opts;
	sp->o.alloc = a;
	if (!sp->o.clock)
		sp->o.clock = ksk_clock_system();
	sp->active_fd = -1;
	sp->next_seg_id = 1;
	sp->st.max_bytes = opts->max_bytes;
	pthread_mutex_init(&sp->mu, NULL);
	ksk_buf_init(&sp->rec, a, 0);
	size_t dl = strlen(opts->dir);
	sp->dir = ksk_malloc(a, dl + 1);
	ksk_err rc;
	if (!sp->dir) {
		rc = ksk_errinfo_set(ei, KSK_ENOMEM, "spool: no memory");
		goto fail;
	}
	memcpy(sp->dir, opts->dir, dl + 1);
	char p[4200];
	if (mkdir(sp->dir, 0755) != 0 && errno != EEXIST) {
		rc = ksk_errinfo_sys(ei, KSK_ESYS, errno, "spool: cannot create %s", sp->dir);
		goto fail;
	}
	path_of(sp, p, sizeof(p), "dead");
	if (mkdir(p, 0755) != 0 && errno != EEXIST) {
		rc = ksk_errinfo_sys(ei, KSK_ESYS, errno, "spool: cannot create %s", p);
		goto fail;
	}
	rc = load_identity(sp, ei);
	if (rc != KSK_OK)
		goto fail;
	uint64_t max_seq = 0;
	rc = spool_replay(sp, cb, cb_ctx, &max_seq, ei);
	if (rc != KSK_OK)
		goto fail;
	sp->next_seq = sp->reserved > max_seq + 1 ? sp->reserved : max_seq + 1;
	sp->durable_seq = sp->next_seq - 1;
	sp->st.last_seq = sp->next_seq - 1;
	sp->last_sync_ns = ksk_clock_mono(sp->o.clock);
	spool_reclaim(sp, true);
	uint64_t pend = 0;
	for (size_t i = 0; i < sp->n_ents; i++)
		pend += sp->ents[i].state < ST_ACKED;
	spool_log(sp, 0, "spool: %s: %zu frames (%" PRIu64 " unacked) in %zu segments, %" PRIu64
	          " bytes; next seq %" PRIu64,
	          sp->dir, sp->n_ents, pend, sp->n_segs, sp->bytes, sp->next_seq);
	*out = sp;
	return KSK_OK;
fail:
	agt_spool_close(sp);
	return rc;
}

void agt_spool_close(agt_spool *sp)
{
	if (!sp)
		return;
	if (sp->active_fd >= 0) {
		if (sp->o.fsync != AGT_FSYNC_NEVER)
			fdatasync(sp->active_fd);
		close(sp->active_fd);
	}
	const ksk_alloc *a = sp->o.alloc;
	ksk_buf_fini(&sp->rec);
	ksk_free(a, sp->ents);
	ksk_free(a, sp->segs);
	ksk_free(a, sp->dir);
	pthread_mutex_destroy(&sp->mu);
	ksk_free(a, sp);
}

void agt_spool_agent_id(const agt_spool *sp, uint8_t out[KSK_AGENT_ID_LEN])
{
	memcpy(out, sp->agent_id, KSK_AGENT_ID_LEN);
}

/* ---- append ------------------------------------------------------------------------ */

static void sync_active(agt_spool *sp)
{
	if (sp->active_fd >= 0 && sp->durable_seq + 1 < sp->next_seq) {
		if (fdatasync(sp->active_fd) != 0) {
			spool_log(sp, 2, "spool: fdatasync: %s", strerror(errno));
			return;
		}
	}
	sp->durable_seq = sp->next_seq - 1;
	sp->last_sync_ns = ksk_clock_mono(sp->o.clock);
}

static ksk_err roll(agt_spool *sp, ksk_errinfo *ei)
{
	if (sp->active_fd >= 0) {
		if (sp->o.fsync != AGT_FSYNC_NEVER)
			sync_active(sp);
		close(sp->active_fd);
		sp->active_fd = -1;
	}
	char p[4200];
	uint32_t id = sp->next_seg_id;
	seg_path(sp, p, sizeof(p), id, "dat");
	int fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0644);
	if (fd < 0)
		return ksk_errinfo_sys(ei, KSK_ESYS, errno, "spool: cannot create %s", p);
	if (sp->o.fsync != AGT_FSYNC_NEVER && fsync_dir(sp->dir) != 0) {
		int e = errno;
		close(fd);
		unlink(p);
		return ksk_errinfo_sys(ei, KSK_EIO, e, "spool: cannot fsync %s", sp->dir);
	}
	if (!seg_add(sp, id)) {
		close(fd);
		unlink(p);
		return ksk_errinfo_set(ei, KSK_ENOMEM, "spool: no memory");
	}
	sp->next_seg_id = id + 1;
	sp->active_fd = fd;
	sp->active_id = id;
	return KSK_OK;
}

ksk_err agt_spool_append(agt_spool *sp, uint8_t *frame, size_t len, const uint8_t *pos,
                         size_t pos_len, uint32_t dest, uint64_t *seq_out, ksk_errinfo *ei)
{
	if (len < KSK_FRAME_HDR_LEN || frame[0] != KSK_FRAME_MAGIC0 || frame[1] != KSK_FRAME_MAGIC1 ||
	    frame[2] != KSK_FRAME_MAGIC2 || frame[3] != KSK_FRAME_MAGIC3 ||
	    frame[4] != KSK_FRAME_VERSION || /* the stamp offsets are version 1's */
	    frame[5] < KSK_FRAME_HDR_LEN || frame[5] > len)
		return ksk_errinfo_set(ei, KSK_EINVAL, "spool: not a frame");
	if (len > sp->o.max_frame || pos_len > sp->o.max_positions)
		return ksk_errinfo_set(ei, KSK_EINVAL, "spool: frame of %zu bytes or positions of %zu "
		                       "bytes over the cap", len, pos_len);
	size_t rlen = REC_HDR + 1 + FRAME_FIXED + len + pos_len;
	ksk_err rc = KSK_OK;
	uint64_t seq = 0;
	pthread_mutex_lock(&sp->mu);
	if (sp->bytes + rlen > sp->o.max_bytes) {
		spool_reclaim(sp, true);
		if (sp->bytes + rlen > sp->o.max_bytes) {
			sp->st.full_events++;
			rc = ksk_errinfo_set(ei, KSK_EBUSY, "spool: full (%" PRIu64 " of %" PRIu64
			                     " bytes)", sp->bytes, sp->o.max_bytes);
			goto out;
		}
	}
	if (sp->next_seq >= sp->reserved) {
		rc = reserve(sp, sp->next_seq + sp->o.seq_block, ei);
		if (rc == KSK_EBUSY)
			sp->st.full_events++;
		if (rc != KSK_OK)
			goto out;
	}
	agt_seg *s = sp->active_fd >= 0 ? seg_find(sp, sp->active_id) : NULL;
	if (!s || s->size >= sp->o.segment_bytes) {
		rc = roll(sp, ei);
		if (rc != KSK_OK)
			goto out;
		s = seg_find(sp, sp->active_id);
	}
	if (!ent_reserve(sp)) {
		rc = ksk_errinfo_set(ei, KSK_ENOMEM, "spool: no memory for the index");
		goto out;
	}
	seq = sp->next_seq;
	/* stamp identity and seq; the frame CRC covers the header */
	memcpy(frame + 24, sp->agent_id, KSK_AGENT_ID_LEN);
	ksk_put_le64(frame + 40, seq);
	memset(frame + 20, 0, 4);
	ksk_put_le32(frame + 20, ksk_crc32(0, frame, len));
	uint64_t wall = ksk_clock_wall(sp->o.clock);
	ksk_buf_clear(&sp->rec);
	if (ksk_buf_reserve(&sp->rec, rlen) != KSK_OK) {
		rc = ksk_errinfo_set(ei, KSK_ENOMEM, "spool: no memory for a record");
		goto out;
	}
	uint8_t *r = sp->rec.data;
	ksk_put_le32(r, (uint32_t)(rlen - REC_HDR));
	r[REC_HDR] = REC_FRAME;
	ksk_put_le64(r + 9, seq);
	ksk_put_le64(r + 17, wall);
	ksk_put_le32(r + 25, dest);
	ksk_put_le32(r + 29, (uint32_t)len);
	memcpy(r + 33, frame, len);
	if (pos_len)
		memcpy(r + 33 + len, pos, pos_len);
	ksk_put_le32(r + 4, rec_crc(r, rlen - REC_HDR));
	if (write_all(sp->active_fd, r, rlen) != 0) {
		int e = errno;
		if (ftruncate(sp->active_fd, (off_t)s->size) != 0)
			spool_log(sp, 2, "spool: cannot cut a failed append: %s", strerror(errno));
		if (e == ENOSPC || e == EDQUOT) {
			sp->st.full_events++;
			rc = ksk_errinfo_sys(ei, KSK_EBUSY, e, "spool: disk full");
		} else {
			rc = ksk_errinfo_sys(ei, KSK_EIO, e, "spool: write");
		}
		goto out;
	}
	if (sp->o.fsync == AGT_FSYNC_ALWAYS && fdatasync(sp->active_fd) != 0) {
		int e = errno;
		if (ftruncate(sp->active_fd, (off_t)s->size) != 0)
			spool_log(sp, 2, "spool: cannot cut a failed append: %s", strerror(errno));
		rc = ksk_errinfo_sys(ei, KSK_EIO, e, "spool: fdatasync");
		goto out;
	}
	agt_ent *e = ent_push(sp); /* reserved above: cannot fail */
	e->seq = seq;
	e->wall_ns = wall;
	e->off = s->size;
	e->seg = s->id;
	e->frame_len = (uint32_t)len;
	e->pos_len = (uint32_t)pos_len;
	e->dest = dest;
	e->state = ST_PENDING;
	s->size += rlen;
	s->n_frames++;
	if (pos_len)
		s->max_pos_seq = seq;
	sp->bytes += rlen;
	sp->next_seq++;
	sp->st.appended_frames++;
	sp->st.appended_bytes += len;
	if (sp->o.fsync == AGT_FSYNC_ALWAYS)
		sp->durable_seq = seq;
	else if (sp->o.fsync == AGT_FSYNC_NEVER)
		sp->durable_seq = seq;
	else if (ksk_clock_mono(sp->o.clock) - sp->last_sync_ns >= sp->o.fsync_interval_ns)
		sync_active(sp);
out:
	/* under the lock, so agt_spool_set_notify(NULL) returning means no
	 * call is in progress (the listener may then be freed); the listener
	 * must not call back into the spool */
	if (rc == KSK_OK && sp->notify)
		sp->notify(sp->notify_ctx);
	pthread_mutex_unlock(&sp->mu);
	if (rc == KSK_OK && seq_out)
		*seq_out = seq;
	return rc;
}

uint64_t agt_spool_durable_seq(agt_spool *sp)
{
	pthread_mutex_lock(&sp->mu);
	uint64_t v = sp->durable_seq;
	pthread_mutex_unlock(&sp->mu);
	return v;
}

uint64_t agt_spool_last_seq(agt_spool *sp)
{
	pthread_mutex_lock(&sp->mu);
	uint64_t v = sp->next_seq - 1;
	pthread_mutex_unlock(&sp->mu);
	return v;
}

void agt_spool_checkpoint_saved(agt_spool *sp, uint64_t seq)
{
	pthread_mutex_lock(&sp->mu);
	if (seq > sp->ckpt_seq)
		sp->ckpt_seq = seq;
	spool_reclaim(sp, false);
	pthread_mutex_unlock(&sp->mu);
}

/* ---- shipper side ---------------------------------------------------------------------- */

ksk_err agt_spool_claim(agt_spool *sp, agt_spool_item *out)
{
	ksk_err rc = KSK_ENOTFOUND;
	pthread_mutex_lock(&sp->mu);
	while (sp->claim_from < sp->n_ents && sp->ents[sp->claim_from].state != ST_PENDING)
		sp->claim_from++;
	if (sp->claim_from < sp->n_ents) {
		agt_ent *e = &sp->ents[sp->claim_from++];
		e->state = ST_CLAIMED;
		out->seq = e->seq;
		out->dest = e->dest;
		out->len = e->frame_len;
		out->created_ns = e->wall_ns;
		rc = KSK_OK;
	}
	pthread_mutex_unlock(&sp->mu);
	return rc;
}

void agt_spool_unclaim(agt_spool *sp, uint64_t seq)
{
	pthread_mutex_lock(&sp->mu);
	size_t i;
	agt_ent *e = ent_find(sp, seq, &i);
	if (e && e->state == ST_CLAIMED) {
		e->state = ST_PENDING;
		if (i < sp->claim_from)
			sp->claim_from = i;
	}
	pthread_mutex_unlock(&sp->mu);
}

/* Reads the frame of `e` into dst and checks the record CRC. Locked. */
static ksk_err read_locked(agt_spool *sp, const agt_ent *e, uint8_t *dst, ksk_errinfo *ei)
{
	char p[4200];
	seg_path(sp, p, sizeof(p), e->seg, "dat");
	int fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return ksk_errinfo_sys(ei, KSK_ESYS, errno, "spool: cannot open %s", p);
	uint8_t hdr[REC_HDR + 1 + FRAME_FIXED];
	ksk_err rc = KSK_OK;
	if (pread_all(fd, hdr, sizeof(hdr), e->off) != 0 ||
	    pread_all(fd, dst, e->frame_len, e->off + sizeof(hdr)) != 0) {
		rc = ksk_errinfo_sys(ei, KSK_ECORRUPT, errno, "spool: cannot read seq %" PRIu64, e->seq);
		goto done;
	}
	uint32_t len = ksk_get_le32(hdr);
	if (len != 1 + FRAME_FIXED + e->frame_len + e->pos_len || ksk_get_le64(hdr + 9) != e->seq) {
		rc = ksk_errinfo_set(ei, KSK_ECORRUPT, "spool: record of seq %" PRIu64 " changed",
		                     e->seq);
		goto done;
	}
	uint32_t c = ksk_crc32(0, hdr, 4);
	c = ksk_crc32(c, hdr + REC_HDR, sizeof(hdr) - REC_HDR);
	c = ksk_crc32(c, dst, e->frame_len);
	uint64_t off = e->off + sizeof(hdr) + e->frame_len;
	uint32_t left = e->pos_len;
	uint8_t chunk[4096];
	while (left) {
		uint32_t n = left < sizeof(chunk) ? left : (uint32_t)sizeof(chunk);
		if (pread_all(fd, chunk, n, off) != 0) {
			rc = ksk_errinfo_sys(ei, KSK_ECORRUPT, errno, "spool: cannot read seq %" PRIu64,
			                     e->seq);
			goto done;
		}
		c = ksk_crc32(c, chunk, n);
		off += n;
		left -= n;
	}
	if (c != ksk_get_le32(hdr + 4)) {
		sp->st.corrupt_records++;
		rc = ksk_errinfo_set(ei, KSK_ECORRUPT, "spool: seq %" PRIu64 ": record CRC mismatch",
		                     e->seq);
	}
done:
	close(fd);
	return rc;
}

ksk_err agt_spool_read(agt_spool *sp, uint64_t seq, uint8_t *dst, size_t cap, ksk_errinfo *ei)
{
	pthread_mutex_lock(&sp->mu);
	ksk_err rc;
	agt_ent *e = ent_find(sp, seq, NULL);
	if (!e)
		rc = ksk_errinfo_set(ei, KSK_ENOTFOUND, "spool: no frame %" PRIu64, seq);
	else if (cap < e->frame_len)
		rc = ksk_errinfo_set(ei, KSK_EINVAL, "spool: buffer too small");
	else
		rc = read_locked(sp, e, dst, ei);
	pthread_mutex_unlock(&sp->mu);
	return rc;
}

/* Marks `e` done and appends its ACK record. Locked. */
static ksk_err mark_done(agt_spool *sp, agt_ent *e, uint8_t outcome, ksk_errinfo *ei)
{
	if (e->state >= ST_ACKED)
		return KSK_OK;
	e->state = outcome == 2 ? ST_DEAD : ST_ACKED;
	agt_seg *s = seg_find(sp, e->seg);
	ksk_err rc = KSK_OK;
	uint8_t r[ACK_REC];
	ksk_put_le32(r, 1 + ACK_BODY);
	r[REC_HDR] = REC_ACK;
	ksk_put_le64(r + 9, e->seq);
	r[17] = outcome;
	ksk_put_le32(r + 4, rec_crc(r, 1 + ACK_BODY));
	char p[4200];
	seg_path(sp, p, sizeof(p), e->seg, "ack");
	int fd = open(p, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd < 0 || write_all(fd, r, sizeof(r)) != 0)
		rc = ksk_errinfo_sys(ei, KSK_EIO, errno, "spool: cannot write %s", p);
	else if (s) {
		s->ack_size += sizeof(r);
		sp->bytes += sizeof(r);
	}
	if (fd >= 0)
		close(fd);
	if (s)
		s->n_done++;
	spool_reclaim(sp, false);
	return rc;
}

ksk_err agt_spool_acked(agt_spool *sp, uint64_t seq, ksk_errinfo *ei)
{
	pthread_mutex_lock(&sp->mu);
	ksk_err rc;
	agt_ent *e = ent_find(sp, seq, NULL);
	if (!e)
		rc = ksk_errinfo_set(ei, KSK_ENOTFOUND, "spool: no frame %" PRIu64, seq);
	else
		rc = mark_done(sp, e, 1, ei);
	pthread_mutex_unlock(&sp->mu);
	return rc;
}

static ksk_err write_synced(const char *path, const uint8_t *p, size_t n, ksk_errinfo *ei)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return ksk_errinfo_sys(ei, KSK_ESYS, errno, "spool: cannot create %s", path);
	if (write_all(fd, p, n) != 0 || fsync(fd) != 0) {
		int e = errno;
		close(fd);
		return ksk_errinfo_sys(ei, KSK_ESYS, e, "spool: cannot write %s", path);
	}
	close(fd);
	return KSK_OK;
}

ksk_err agt_spool_dead_letter(agt_spool *sp, uint64_t seq, const char *reason, ksk_errinfo *ei)
{
	pthread_mutex_lock(&sp->mu);
	ksk_err rc = KSK_OK;
	uint8_t *buf = NULL;
	agt_ent *e = ent_find(sp, seq, NULL);
	if (!e) {
		rc = ksk_errinfo_set(ei, KSK_ENOTFOUND, "spool: no frame %" PRIu64, seq);
		goto out;
	}
	buf = ksk_malloc(sp->o.alloc, e->frame_len);
	if (!buf) {
		rc = ksk_errinfo_set(ei, KSK_ENOMEM, "spool: no memory");
		goto out;
	}
	ksk_errinfo rei;
	ksk_errinfo_clear(&rei);
	bool readable = read_locked(sp, e, buf, &rei) == KSK_OK;
	const uint8_t *id = readable && e->frame_len >= KSK_FRAME_HDR_LEN ? buf + 24 : sp->agent_id;
	char name[64];
	for (int i = 0; i < KSK_AGENT_ID_LEN; i++)
		snprintf(name + 2 * i, 3, "%02x", id[i]);
	char p[4400];
	if (readable) {
		snprintf(p, sizeof(p), "%s/dead/%s-%" PRIu64 ".frame", sp->dir, name, seq);
		rc = write_synced(p, buf, e->frame_len, ei);
		if (rc != KSK_OK)
			goto out;
	}
	char txt[KSK_ACK_MSG_MAX + 512];
	int tl = snprintf(txt, sizeof(txt), "seq %" PRIu64 "\n%s%s%s\n", seq, reason ? reason : "",
	                  readable ? "" : "\nframe unreadable in the spool: ", readable ? "" : rei.msg);
	if (tl < 0)
		tl = 0;
	if ((size_t)tl >= sizeof(txt))
		tl = (int)sizeof(txt) - 1;
	snprintf(p, sizeof(p), "%s/dead/%s-%" PRIu64 ".txt", sp->dir, name, seq);
	rc = write_synced(p, (const uint8_t *)txt, (size_t)tl, ei);
	if (rc != KSK_OK)
		goto out;
	snprintf(p, sizeof(p), "%s/dead", sp->dir);
	if (fsync_dir(p) != 0) {
		rc = ksk_errinfo_sys(ei, KSK_ESYS, errno, "spool: cannot fsync %s", p);
		goto out;
	}
	spool_log(sp, 1, "spool: frame %" PRIu64 " dead-lettered to %s: %s", seq, p,
	          reason ? reason : "");
	sp->st.dead_lettered++;
	rc = mark_done(sp, e, 2, ei);
out:
	ksk_free(sp->o.alloc, buf);
	pthread_mutex_unlock(&sp->mu);
	return rc;
}

void agt_spool_set_notify(agt_spool *sp, agt_spool_notify_fn fn, void *ctx)
{
	pthread_mutex_lock(&sp->mu);
	sp->notify = fn;
	sp->notify_ctx = ctx;
	pthread_mutex_unlock(&sp->mu);
}

void agt_spool_tick(agt_spool *sp)
{
	pthread_mutex_lock(&sp->mu);
	if (sp->o.fsync == AGT_FSYNC_INTERVAL && sp->durable_seq + 1 < sp->next_seq &&
	    ksk_clock_mono(sp->o.clock) - sp->last_sync_ns >= sp->o.fsync_interval_ns)
		sync_active(sp);
	spool_reclaim(sp, false);
	pthread_mutex_unlock(&sp->mu);
}

void agt_spool_get_stats(agt_spool *sp, agt_spool_stats *out)
{
	pthread_mutex_lock(&sp->mu);
	*out = sp->st;
	out->bytes = sp->bytes;
	out->segments = (uint32_t)sp->n_segs;
	out->frames = sp->n_ents;
	out->frames_pending = 0;
	out->oldest_pending_ns = 0;
	for (size_t i = 0; i < sp->n_ents; i++) {
		if (sp->ents[i].state < ST_ACKED) {
			out->frames_pending++;
			if (!out->oldest_pending_ns || sp->ents[i].wall_ns < out->oldest_pending_ns)
				out->oldest_pending_ns = sp->ents[i].wall_ns;
		}
	}
	out->last_seq = sp->next_seq - 1;
	pthread_mutex_unlock(&sp->mu);
}

void agt_spool_test_crash_at(agt_spool *sp, int step)
{
	pthread_mutex_lock(&sp->mu);
	sp->crash_step = step;
	pthread_mutex_unlock(&sp->mu);
}
