/*
 * agt_tail.h : the agent's file tailer.
 *
 * Exports agt_tail (opaque): discovers files by glob (inotify on their
 * directories plus a periodic stat scan), follows them through rename,
 * copytruncate, truncation and deletion, splits them into lines and hands
 * each line to a callback together with the line's position
 * (agt_file_pos). The caller stores positions with its spooled records and
 * declares them durable with agt_tail_commit(); agt_tail_save() writes the
 * committed positions to a crash-safe state file. docs/AGENT.md section 3 has
 * the full design.
 *
 * Hides: the file table, the inotify watches, the read buffer, the state
 * file format and the identity checks.
 *
 * Ownership: the tailer copies every string of its configuration. Line
 * bytes and paths handed to callbacks are borrowed and valid only during
 * the callback. agt_file_pos is a plain value: copy and store it freely.
 *
 * Threading: single-threaded. Every function must be called from the
 * thread that owns the tailer (the agent's tail thread); there is no
 * internal locking. Callbacks run on that thread, inside agt_tail_run(),
 * agt_tail_wait() or agt_tail_flush(); from a callback only
 * agt_tail_commit() may be called.
 */
#ifndef AGT_TAIL_H
#define AGT_TAIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kiseki/alloc.h"
#include "kiseki/clock.h"
#include "kiseki/err.h"

#define AGT_TAIL_FP_MAX 256u      /* head bytes hashed into the fingerprint */
#define AGT_TAIL_MARKER_MAX 32u   /* bytes before an offset in its marker */
#define AGT_TAIL_MAX_LINE_DEF (64u << 10)
#define AGT_TAIL_FLUSH_MS_DEF 5000u
#define AGT_TAIL_SCAN_MS_DEF 1000u
#define AGT_TAIL_MAX_OPEN_DEF 1024u

typedef struct agt_tail agt_tail;

/* agt_file_pos : where one line of one file ends, with the file's identity.
 * A plain value; the caller copies it into its spool records and gives it
 * back to agt_tail_commit() (durable) or agt_tail_restore() (restart). */
typedef struct agt_file_pos {
	uint64_t dev;         /* st_dev of the file */
	uint64_t ino;         /* st_ino of the file */
	uint64_t fp;          /* hash of the first fp_len bytes of the file */
	uint64_t offset;      /* byte just after the line (its '\n' included) */
	uint64_t marker;      /* hash of the marker_len bytes before offset */
	uint32_t gen;         /* tailer-local generation (0 = unknown) */
	uint16_t fp_len;      /* 0..AGT_TAIL_FP_MAX */
	uint8_t marker_len;   /* min(offset, AGT_TAIL_MARKER_MAX) */
	uint8_t reserved;     /* 0 */
} agt_file_pos;

/* Flags of a delivered line. */
#define AGT_LINE_TRUNCATED 0x1u /* longer than max_line: rest skipped */
#define AGT_LINE_PARTIAL 0x2u   /* no '\n' yet: flushed by timeout or request */

/* agt_line : one line handed to the callback. Everything is borrowed and
 * valid only during the callback. */
typedef struct agt_line {
	const char *data;     /* line bytes, no '\n', trailing '\r' stripped */
	size_t len;           /* bytes at data (<= max_line) */
	unsigned flags;       /* AGT_LINE_* */
	uint64_t start;       /* file offset of the first byte of the line */
	agt_file_pos pos;     /* pos.offset = byte after the line */
	const char *path;     /* the file's current known path */
	size_t input;         /* index of the input in the configuration */
	void *user;           /* the input's `user` pointer */
} agt_line;

/* Return values of the line callback. */
#define AGT_TAIL_TAKEN 0  /* line accepted; the tailer moves on */
#define AGT_TAIL_STOP 1   /* line NOT accepted (caller full): stop now; the
                             same line is delivered first on the next run */

/* agt_tail_line_fn : receives each line; AGT_TAIL_TAKEN or AGT_TAIL_STOP. */
typedef int (*agt_tail_line_fn)(void *ctx, const agt_line *line);

/* Message sink: level 0 info, 1 warning, 2 error. `msg` is borrowed. */
typedef void (*agt_tail_log_fn)(void *ctx, int level, const char *msg);

typedef enum agt_tail_start {
	AGT_TAIL_START_HEAD = 0, /* a file first seen is read from offset 0 */
	AGT_TAIL_START_TAIL = 1  /* on a FIRST start only (no state file, no
	                            restored positions), files present are
	                            read from their end; after that every
	                            file without a checkpoint is new: head */
} agt_tail_start;

typedef enum agt_tail_rate_unit {
	AGT_TAIL_RATE_NONE = 0,
	AGT_TAIL_RATE_LINES = 1,  /* rate = lines per second */
	AGT_TAIL_RATE_BYTES = 2   /* rate = line bytes per second */
} agt_tail_rate_unit;

/* agt_tail_input : one input. Strings are copied by agt_tail_create(). */
typedef struct agt_tail_input {
	const char *name;               /* for logs and stats; may be NULL */
	const char *const *globs;       /* glob(3) patterns (absolute paths) */
	size_t n_globs;                 /* >= 1 */
	const char *const *excludes;    /* fnmatch(3) patterns; with a '/' they
	                                   match the whole path, else the base
	                                   name */
	size_t n_excludes;
	agt_tail_start start;           /* for files first seen at startup */
	size_t max_line;                /* 0 = 64 KiB; longer lines truncated */
	uint32_t flush_ms;              /* partial last line timeout; 0 = 5 s */
	agt_tail_rate_unit rate_unit;   /* optional token bucket */
	uint64_t rate;                  /* per second (burst = one second) */
	void *user;                     /* borrowed; returned with each line */
} agt_tail_input;

/* agt_tail_config : everything agt_tail_create() needs. Borrowed during the
 * call only (copied), except alloc/clock which must outlive the tailer. */
typedef struct agt_tail_config {
	const agt_tail_input *inputs;   /* n_inputs >= 1 */
	size_t n_inputs;
	const char *state_path;         /* checkpoint file; NULL = none */
	agt_tail_line_fn on_line;       /* required */
	void *on_line_ctx;
	agt_tail_log_fn log;            /* optional */
	void *log_ctx;
	const ksk_alloc *alloc;         /* NULL = libc */
	const ksk_clock *clock;         /* NULL = system clock */
	uint32_t scan_ms;               /* stat scan interval; 0 = 1000 */
	uint32_t forget_ms;             /* a rotated file drained, closed and
	                                   committed is remembered (tombstone,
	                                   saved in the state file) this long
	                                   so it is never read twice; 0 = 10
	                                   minutes */
	uint32_t rotate_wait_ms;        /* a rotated/deleted file drained to EOF
	                                   stays open this long for late writes
	                                   (never closed with unread bytes);
	                                   0 = 5000 */
	size_t max_open;                /* fd cap; 0 = 1024 */
	size_t read_buf;                /* read buffer; 0 = 256 KiB (raised to
	                                   hold 2 * max_line + 64) */
	size_t run_bytes;               /* read budget per run; 0 = 16 MiB */
	size_t file_quantum;            /* per file per turn; 0 = 2 MiB */
	bool no_inotify;                /* stat scans only (tests, NFS) */
} agt_tail_config;

/* agt_tail_counters : tailer-wide counters (monotonic). */
typedef struct agt_tail_counters {
	uint64_t lines;            /* lines delivered */
	uint64_t bytes;            /* file bytes consumed by delivered lines */
	uint64_t truncated;        /* lines cut at max_line */
	uint64_t partial;          /* partial lines flushed */
	uint64_t rotations;        /* renames/deletions/replacements seen */
	uint64_t truncations;      /* copytruncate / truncation / rewrite */
	uint64_t identity_resets;  /* checkpoints refused (inode reuse, ...) */
	uint64_t ckpt_resumed;     /* checkpoints applied */
	uint64_t ckpt_dropped;     /* checkpoints whose file is gone */
	uint64_t files_lost;       /* files that vanished before we could read */
	uint64_t siblings_adopted; /* rotated files found by name + ctime,
	                              never seen before (read from 0) */
	uint64_t copies_adopted;   /* copytruncate copies read from where the
	                              truncated original was read to */
	uint64_t scans;            /* full stat scans */
	uint64_t inotify_overflows;
	uint64_t state_errors;     /* unreadable/corrupt state file loads */
	uint64_t stops;            /* runs stopped by the callback */
	uint64_t rate_waits;       /* times an input hit its rate limit */
	uint64_t open_fds;         /* gauge: files open now */
	uint64_t files;            /* gauge: files tracked now */
} agt_tail_counters;

/* agt_tail_file_stat : one tracked file, for metrics. Borrowed strings,
 * valid during the agt_tail_foreach_file() callback only. */
typedef struct agt_tail_file_stat {
	const char *path;          /* current known path */
	const char *input_name;    /* "" when the input has no name */
	uint64_t dev, ino;         /* identity */
	uint64_t size;             /* size: the larger of the last seen by the
	                              reader (at EOF) and the last
	                              agt_tail_stat_files() */
	uint64_t read_off;         /* delivered up to here */
	uint64_t commit_off;       /* durable up to here; lag = size - this */
	uint64_t lines, bytes;     /* delivered from this file */
	uint64_t truncated;        /* lines cut at max_line */
	uint64_t rotations;        /* renames/truncations seen */
	bool open;                 /* holds an fd */
	bool rotated;              /* renamed away or deleted: draining */
} agt_tail_file_stat;

/*! agt_tail_create() : a tailer; loads cfg->state_path when it exists (a
 *  corrupt state file is logged, counted and ignored). Nothing is read
 *  before the first agt_tail_run().
 *  @return : KSK_OK and *out, KSK_EINVAL (bad config), KSK_ENOMEM. */
ksk_err agt_tail_create(const agt_tail_config *cfg, agt_tail **out,
                        ksk_errinfo *ei);

/*! agt_tail_destroy() : closes every fd and frees everything. Does NOT save:
 *  call agt_tail_save() first. NULL is a no-op. */
void agt_tail_destroy(agt_tail *t);

/*! agt_tail_restore() : adds positions the caller replays from its spool
 *  (records durable there but maybe not in the state file). For each file
 *  the larger offset of state file and restored positions wins.
 *  Only before the first agt_tail_run().
 *  @return : KSK_OK, KSK_ESTATE (after the first run), KSK_ENOMEM. */
ksk_err agt_tail_restore(agt_tail *t, const agt_file_pos *pos, size_t n);

/*! agt_tail_fd() : the fd to poll for POLLIN (inotify), or -1 when inotify
 *  is off (then rely on agt_tail_timeout_ms()). */
int agt_tail_fd(const agt_tail *t);

/*! agt_tail_timeout_ms() : milliseconds until the tailer has work (next scan,
 *  partial-line flush, rotate wait, rate limit); 0 when it has work now.
 *  After a run stopped by the callback, pending reads do not count (the
 *  caller calls agt_tail_run() again when it has room). */
int agt_tail_timeout_ms(agt_tail *t);

/*! agt_tail_prime() : the first scan without reading: binds checkpoints to
 *  files, opens them and adds the inotify watches, so every change after
 *  this call is seen even if the first agt_tail_run() comes later (a file
 *  created and rotated away in between is still read). A daemon calls it
 *  before it reports ready. agt_tail_run() calls it when it was not called.
 *  Idempotent. @return : KSK_OK. */
ksk_err agt_tail_prime(agt_tail *t);

/*! agt_tail_run() : handles inotify events, scans when due, reads files
 *  within the per-run budget and delivers lines.
 *  @return : KSK_OK, or KSK_EBUSY when the callback returned AGT_TAIL_STOP.
 *  Per-file I/O errors are logged and do not fail the run. */
ksk_err agt_tail_run(agt_tail *t);

/*! agt_tail_wait() : poll() on agt_tail_fd() for at most
 *  min(max_ms, agt_tail_timeout_ms()) ms, then agt_tail_run().
 *  @return : as agt_tail_run(). */
ksk_err agt_tail_wait(agt_tail *t, int max_ms);

/*! agt_tail_flush() : delivers every partial last line now (shutdown), as
 *  if its flush timeout had passed. @return : as agt_tail_run(). */
ksk_err agt_tail_flush(agt_tail *t);

/*! agt_tail_commit() : `pos` (from a delivered line) is durable: the file's
 *  committed offset becomes max(committed, pos->offset). Copies `pos`.
 *  May be called from inside the line callback, also for the line being
 *  delivered (return AGT_TAIL_TAKEN for it then).
 *  @return : KSK_OK; KSK_ENOTFOUND (unknown file or a generation that was
 *  truncated since: ignored); KSK_EINVAL (offset never delivered). */
ksk_err agt_tail_commit(agt_tail *t, const agt_file_pos *pos);

/*! agt_tail_save() : writes the committed positions to the state file:
 *  state.tmp, fsync, rename, fsync of the directory. No-op without a
 *  state_path. @return : KSK_OK or KSK_ESYS (with detail in ei). */
ksk_err agt_tail_save(agt_tail *t, ksk_errinfo *ei);

/*! agt_tail_get_counters() : copies the counters into *c. */
void agt_tail_get_counters(const agt_tail *t, agt_tail_counters *c);

/*! agt_tail_stat_files() : fstat()s every open file to refresh the sizes
 *  agt_tail_foreach_file() reports (the reader only learns a size at EOF,
 *  so a file whose reading stopped, e.g. spool full, would look current).
 *  One fstat per open file: call it when metrics are built (the agent:
 *  once a second, only with --metrics-listen), never per line. */
void agt_tail_stat_files(agt_tail *t);

/*! agt_tail_foreach_file() : calls fn once per tracked file. */
void agt_tail_foreach_file(const agt_tail *t,
                           void (*fn)(void *ctx, const agt_tail_file_stat *s),
                           void *ctx);

/*! agt_tail_hash() : the 64-bit hash of fingerprints and markers
 *  (exported for tests and tools). */
uint64_t agt_tail_hash(const void *p, size_t n);

#endif /* AGT_TAIL_H */
