/*
 * col_wal.h : the collector's write-ahead log: one file per open segment,
 * DATA/wal-<n>.log.
 *
 * Exports col_wal (opaque): create a new log file, open an existing one
 * (verifying every record, skipping a corrupt record in the middle and
 * truncating a torn tail), append one record, make records durable with
 * group commit, read a record back, and rescan every valid record (for
 * sealing).
 *
 * File layout (little-endian; docs/STORAGE.md part 1 has the full text):
 *   header, 32 bytes:
 *     0  4  magic "KSKW"
 *     4  1  version (1)
 *     5  1  header length (32)
 *     6  2  flags (0)
 *     8  8  log number n (the file is wal-<n>.log)
 *    16  8  creation wall time, ns (for segment age)
 *    24  4  reserved (0)
 *    28  4  CRC-32 of bytes 0..27
 *   records, back to back:
 *     0  4  body length L (>= 56, <= COL_WAL_MAX_RECORD)
 *     4  4  CRC-32 of the body
 *     8  L  body: one batch frame exactly as received ("KSKF"...)
 *
 * Hides: the file descriptor, the group-commit state and the scanner.
 * Ownership: a col_wal owns its file descriptor and path copy.
 * Threading: col_wal_append() must be serialised by the caller (the store's
 * append lock); col_wal_sync(), col_wal_pread(), col_wal_scan() and the
 * getters are thread-safe and may run concurrently with an append.
 */
#ifndef COL_WAL_H
#define COL_WAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kiseki/alloc.h"
#include "kiseki/clock.h"
#include "kiseki/err.h"

#define COL_WAL_HDR_LEN 32u
#define COL_WAL_REC_HDR 8u
#define COL_WAL_MAX_RECORD (256u << 20) /* a record body is one frame */

/* fsync counters shared by every log of one store (updated atomically). */
typedef struct col_wal_counters {
	uint64_t fsyncs;        /* fdatasync calls */
	uint64_t fsync_ns_sum;  /* their total duration (injected clock) */
	uint64_t fsync_ns_max;  /* the longest */
} col_wal_counters;

/* Message sink (same as col_store's): level 0 info, 1 warning, 2 error. */
typedef void (*col_wal_log_fn)(void *ctx, int level, const char *msg);

/* Environment of a log: borrowed, must outlive it. */
typedef struct col_wal_env {
	const ksk_alloc *alloc;     /* NULL = libc */
	const ksk_clock *clock;     /* for fsync timing; NULL = system */
	col_wal_counters *counters; /* may be NULL */
	col_wal_log_fn log;         /* may be NULL */
	void *log_ctx;
} col_wal_env;

typedef struct col_wal col_wal;

/* Called for each valid record, in file order.
 * @off : file offset of the record's body; @body, @len : the body (valid
 *        only during the call).
 * Return KSK_OK to go on; KSK_ECORRUPT to declare the record unusable
 * (it is skipped with an error message, e.g. a frame that fails to
 * decode); any other code stops the scan and is returned. */
typedef ksk_err (*col_wal_rec_cb)(void *ctx, uint64_t off, const uint8_t *body,
                                  uint32_t len);

/*! col_wal_path_for() : writes "<dir>/wal-<num>.log" into `buf`. */
void col_wal_path_for(const char *dir, uint64_t num, char *buf, size_t cap);

/*! col_wal_create() : creates (or replaces) <dir>/wal-<num>.log with a
 *  fresh header, then fsyncs the file and the directory.
 *  @created_ns : wall time stored in the header.
 *  @return : KSK_OK; KSK_EIO/KSK_ESYS; KSK_ENOMEM. */
ksk_err col_wal_create(const col_wal_env *env, const char *dir, uint64_t num,
                       uint64_t created_ns, col_wal **out, ksk_errinfo *ei);

/*! col_wal_open() : opens an existing log for recovery and appending.
 *  Calls `cb` for every valid record; a corrupt record followed by valid
 *  ones is skipped (error message), a torn or corrupt tail is truncated
 *  and the truncation fsync'd (warning). A file shorter than its header
 *  (a crash while creating it) gets a fresh header.
 *  @now_ns : creation time to use when the header is rewritten.
 *  @return : KSK_OK; KSK_ECORRUPT (the header is damaged: the file is not
 *            a log); KSK_EIO/KSK_ESYS; KSK_ENOMEM; or what `cb` returned. */
ksk_err col_wal_open(const col_wal_env *env, const char *dir, uint64_t num,
                     uint64_t now_ns, col_wal_rec_cb cb, void *ctx,
                     col_wal **out, ksk_errinfo *ei);

/*! col_wal_close() : closes the file (no fsync) and frees. NULL no-op. */
void col_wal_close(col_wal *w);

/*! col_wal_append() : writes one record at the end (a single pwritev).
 *  On failure the file is cut back to its previous end; when even that
 *  fails the log refuses every later append.
 *  @body_off : out, offset of the body; @end : out, offset just past it.
 *  @return : KSK_OK; KSK_EIO; KSK_EINVAL (len out of range). */
ksk_err col_wal_append(col_wal *w, const uint8_t *body, uint32_t len,
                       uint64_t *body_off, uint64_t *end, ksk_errinfo *ei);

/*! col_wal_sync() : returns once every byte before `upto` is on stable
 *  storage. Group commit: the first caller becomes the leader and runs
 *  one fdatasync covering everything written so far; callers whose bytes
 *  it covered return with it, the others wait for the next round.
 *  A failed fdatasync is sticky: every later call fails too (the page
 *  cache may have dropped the dirty pages, so a retry proves nothing).
 *  @return : KSK_OK; KSK_EIO. */
ksk_err col_wal_sync(col_wal *w, uint64_t upto, ksk_errinfo *ei);

/*! col_wal_pread() : reads `len` bytes at `off`. @return : KSK_OK; KSK_EIO. */
ksk_err col_wal_pread(const col_wal *w, uint64_t off, uint8_t *buf,
                      uint32_t len, ksk_errinfo *ei);

/*! col_wal_scan() : calls `cb` for every valid record between the header
 *  and the current end, without changing the file (corrupt records are
 *  skipped with a message). @return : KSK_OK or what `cb` returned. */
ksk_err col_wal_scan(const col_wal *w, col_wal_rec_cb cb, void *ctx,
                     ksk_errinfo *ei);

/*! col_wal_unlink() : removes the file (the descriptor stays readable). */
ksk_err col_wal_unlink(col_wal *w, ksk_errinfo *ei);

uint64_t col_wal_end(const col_wal *w);        /* bytes written (file size) */
uint64_t col_wal_synced(const col_wal *w);     /* bytes known durable */
uint64_t col_wal_num(const col_wal *w);        /* n of wal-<n>.log */
uint64_t col_wal_created_ns(const col_wal *w); /* from the header */
uint64_t col_wal_records(const col_wal *w);    /* records in the file */
bool col_wal_failed(const col_wal *w);         /* a write or fsync failed */
const char *col_wal_path(const col_wal *w);

/*! col_wal_fail_next_sync() : test hook: the next fdatasync reports EIO
 *  (without calling the OS), to exercise the fsyncgate path. */
void col_wal_fail_next_sync(col_wal *w);

#endif /* COL_WAL_H */
