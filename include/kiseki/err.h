/*
 * kiseki/err.h : the one error enum of the whole project.
 *
 * Exports: ksk_err (the codes), ksk_strerror() and ksk_errname() (both made
 * from the same KSK_ERR_MAP list, so they cannot drift), and ksk_errinfo, a
 * small caller-owned record that carries a code plus a precise message
 * ("record 3: span end_ns < start_ns") out of a decoder.
 *
 * Rules:
 *  - KSK_OK is 0. Numeric values are part of the wire (collector rejections
 *    carry them) and never change once released: add new codes at the end.
 *  - Fallible functions return ksk_err and hand results back through
 *    out-parameters.
 *  - OS errors are wrapped as KSK_ESYS with errno kept in ksk_errinfo.
 */
#ifndef KSK_ERR_H
#define KSK_ERR_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* X(name, value, message) */
#define KSK_ERR_MAP(X)                                                         \
	X(KSK_OK, 0, "success")                                                \
	X(KSK_ENOMEM, 1, "out of memory")                                      \
	X(KSK_EINVAL, 2, "invalid argument")                                   \
	X(KSK_ELIMIT, 3, "over a configured limit")                            \
	X(KSK_ETRUNC, 4, "input truncated")                                    \
	X(KSK_EMAGIC, 5, "bad magic number")                                   \
	X(KSK_EVERSION, 6, "unsupported version")                              \
	X(KSK_EFLAGS, 7, "unknown flags set")                                  \
	X(KSK_ECHECKSUM, 8, "checksum mismatch")                               \
	X(KSK_ETOOBIG, 9, "declared size over the cap")                        \
	X(KSK_EDECOMPRESS, 10, "decompression failed")                         \
	X(KSK_EMSGPACK, 11, "malformed msgpack")                               \
	X(KSK_ERECORD, 12, "invalid record")                                   \
	X(KSK_ECOUNT, 13, "record count mismatch")                             \
	X(KSK_ESYS, 14, "system call failed")                                  \
	X(KSK_EIO, 15, "I/O error")                                            \
	X(KSK_ENOTFOUND, 16, "not found")                                      \
	X(KSK_ETIMEDOUT, 17, "timed out")                                      \
	X(KSK_EBUSY, 18, "busy, retry later")                                  \
	X(KSK_ECLOSED, 19, "closed")                                           \
	X(KSK_ECORRUPT, 20, "stored data is corrupt")                          \
	X(KSK_EEXIST, 21, "already exists")                                    \
	X(KSK_ESTATE, 22, "operation not valid in this state")                 \
	X(KSK_EPARSE, 23, "parse error")                                       \
	X(KSK_ENET, 24, "messaging error")

typedef enum ksk_err {
#define KSK_ERR_ENUM_(name, value, msg) name = value,
	KSK_ERR_MAP(KSK_ERR_ENUM_)
#undef KSK_ERR_ENUM_
	KSK_ERR_COUNT_ /* one past the last code; not a code */
} ksk_err;

/*! ksk_strerror() : the human message for a code.
 *  @return : a static string; "unknown error" for a value outside the map.
 *  Thread-safe. */
const char *ksk_strerror(ksk_err e);

/*! ksk_errname() : the symbolic name of a code ("KSK_ECHECKSUM").
 *  @return : a static string; "KSK_UNKNOWN" outside the map. Thread-safe. */
const char *ksk_errname(ksk_err e);

#define KSK_ERRINFO_MSG 256

/* ksk_errinfo : a code plus a precise, human-readable reason. Embedded in the
 * caller's stack or struct; no allocation. */
typedef struct ksk_errinfo {
	ksk_err code;               /* KSK_OK when nothing failed */
	int sys_errno;              /* errno for KSK_ESYS / KSK_EIO, else 0 */
	char msg[KSK_ERRINFO_MSG];  /* NUL-terminated detail, "" when none */
} ksk_errinfo;

/*! ksk_errinfo_clear() : resets to KSK_OK with an empty message.
 *  `ei` may be NULL (no-op). */
void ksk_errinfo_clear(ksk_errinfo *ei);

/*! ksk_errinfo_set() : records `code` and a printf-style message.
 *  `ei` may be NULL, in which case only the code is returned.
 *  @return : `code`, so callers can write `return ksk_errinfo_set(...)`. */
ksk_err ksk_errinfo_set(ksk_errinfo *ei, ksk_err code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*! ksk_errinfo_sys() : records KSK_ESYS (or `code`) with the current errno
 *  appended to the message as ": <strerror>".
 *  @return : `code`. */
ksk_err ksk_errinfo_sys(ksk_errinfo *ei, ksk_err code, int err,
                        const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* KSK_TRY(expr) : evaluate a ksk_err expression, return it if not KSK_OK. */
#define KSK_TRY(expr)                                                          \
	do {                                                                   \
		ksk_err ksk_try_rc_ = (expr);                                  \
		if (ksk_try_rc_ != KSK_OK)                                     \
			return ksk_try_rc_;                                    \
	} while (0)

#endif /* KSK_ERR_H */
