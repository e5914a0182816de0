/*
 * err.c : strings for the project-wide error enum and the ksk_errinfo helpers.
 *
 * Data in: a ksk_err code, or a code plus a printf-style message.
 * Data out: static strings, or a filled caller-owned ksk_errinfo.
 * Invariants: both tables come from KSK_ERR_MAP, so names, values and
 * messages cannot drift apart; the message in ksk_errinfo is always
 * NUL-terminated and silently truncated to KSK_ERRINFO_MSG - 1 bytes.
 * No state, no allocation: thread-safe.
 */
#include "kiseki/err.h"

#include <stdio.h>
#include <string.h>

typedef struct ksk_err_row {
	ksk_err code;
	const char *name;
	const char *msg;
} ksk_err_row;

static const ksk_err_row ksk_err_rows[] = {
#define KSK_ERR_ROW_(name, value, msg) {name, #name, msg},
	KSK_ERR_MAP(KSK_ERR_ROW_)
#undef KSK_ERR_ROW_
};

static const ksk_err_row *ksk_err_find(ksk_err e)
{
	size_t n = sizeof(ksk_err_rows) / sizeof(ksk_err_rows[0]);
	for (size_t i = 0; i < n; i++)
		if (ksk_err_rows[i].code == e)
			return &ksk_err_rows[i];
	return NULL;
}

const char *ksk_strerror(ksk_err e)
{
	const ksk_err_row *r = ksk_err_find(e);
	return r ? r->msg : "unknown error";
}

const char *ksk_errname(ksk_err e)
{
	const ksk_err_row *r = ksk_err_find(e);
	return r ? r->name : "KSK_UNKNOWN";
}

void ksk_errinfo_clear(ksk_errinfo *ei)
{
	if (!ei)
		return;
	ei->code = KSK_OK;
	ei->sys_errno = 0;
	ei->msg[0] = '\0';
}

ksk_err ksk_errinfo_set(ksk_errinfo *ei, ksk_err code, const char *fmt, ...)
{
	if (!ei)
		return code;
	ei->code = code;
	ei->sys_errno = 0;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(ei->msg, sizeof(ei->msg), fmt, ap);
	va_end(ap);
	return code;
}

ksk_err ksk_errinfo_sys(ksk_errinfo *ei, ksk_err code, int err,
                        const char *fmt, ...)
{
	if (!ei)
		return code;
	ei->code = code;
	ei->sys_errno = err;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(ei->msg, sizeof(ei->msg), fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if ((size_t)n < sizeof(ei->msg))
		snprintf(ei->msg + n, sizeof(ei->msg) - (size_t)n, ": %s",
		         strerror(err));
	return code;
}
