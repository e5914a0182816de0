/*
 * qry_json.c : streaming JSON writer (qry_json.h).
 *
 * Data in: values in document order. Data out: bytes appended to a
 * ksk_buf. Invariants: `has_item` bit d says whether the container opened
 * at depth d already holds an item (so the next one needs a comma); a
 * value right after a key never gets a comma; the output of a balanced
 * sequence of calls is one valid JSON text. Strings: ", \ and control
 * characters are escaped; invalid UTF-8 sequences become U+FFFD.
 */
#include "qry_json.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void qry_json_init(qry_json *j, ksk_buf *out)
{
	memset(j, 0, sizeof(*j));
	j->out = out;
}

static void qj_put(qry_json *j, const char *s, size_t n)
{
	(void)ksk_buf_append(j->out, s, n);
}

/* the separator before a value or a key */
static void qj_sep(qry_json *j)
{
	if (j->after_key) {
		j->after_key = false;
		return;
	}
	if (j->depth == 0)
		return;
	uint64_t bit = 1ull << (j->depth - 1);
	if (j->has_item & bit)
		qj_put(j, ",", 1);
	j->has_item |= bit;
}

static void qj_open(qry_json *j, char c)
{
	qj_sep(j);
	if (j->depth >= QRY_JSON_MAX_DEPTH) {
		if (j->out->err == KSK_OK)
			j->out->err = KSK_ELIMIT;
		return;
	}
	qj_put(j, &c, 1);
	j->depth++;
	j->has_item &= ~(1ull << (j->depth - 1));
}

static void qj_close(qry_json *j, char c)
{
	if (j->depth == 0) {
		if (j->out->err == KSK_OK)
			j->out->err = KSK_ESTATE;
		return;
	}
	j->depth--;
	qj_put(j, &c, 1);
}

void qry_json_obj(qry_json *j) { qj_open(j, '{'); }
void qry_json_obj_end(qry_json *j) { qj_close(j, '}'); }
void qry_json_arr(qry_json *j) { qj_open(j, '['); }
void qry_json_arr_end(qry_json *j) { qj_close(j, ']'); }

/* length of a valid UTF-8 sequence at s (n bytes left), 0 when invalid */
static size_t qj_utf8_len(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];
	size_t len;
	uint32_t cp;
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		len = 2;
		cp = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		cp = c & 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		cp = c & 0x07;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
	    (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	return len;
}

void qry_json_escape(ksk_buf *out, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s;
	size_t run = 0; /* bytes of p[i - run, i) copied as they are */
	size_t i = 0;
	while (i < n) {
		unsigned char c = p[i];
		const char *esc = NULL;
		char u[6];
		size_t elen = 0, skip = 1;
		if (c == '"')
			esc = "\\\"", elen = 2;
		else if (c == '\\')
			esc = "\\\\", elen = 2;
		else if (c == '\n')
			esc = "\\n", elen = 2;
		else if (c == '\r')
			esc = "\\r", elen = 2;
		else if (c == '\t')
			esc = "\\t", elen = 2;
		else if (c < 0x20 || c == 0x7f) {
			u[0] = '\\';
			u[1] = 'u';
			u[2] = '0';
			u[3] = '0';
			u[4] = hex[c >> 4];
			u[5] = hex[c & 15];
			esc = u;
			elen = 6;
		} else if (c >= 0x80) {
			size_t l = qj_utf8_len(p + i, n - i);
			if (l) {
				run += l;
				i += l;
				continue;
			}
			esc = "\xef\xbf\xbd", elen = 3;
		} else {
			run++;
			i++;
			continue;
		}
		if (run)
			(void)ksk_buf_append(out, p + i - run, run);
		run = 0;
		(void)ksk_buf_append(out, esc, elen);
		i += skip;
	}
	if (run)
		(void)ksk_buf_append(out, p + i - run, run);
}

void qry_json_key(qry_json *j, const char *k)
{
	qj_sep(j);
	qj_put(j, "\"", 1);
	qry_json_escape(j->out, k, strlen(k));
	qj_put(j, "\":", 2);
	j->after_key = true;
}

void qry_json_str(qry_json *j, const char *s, size_t n)
{
	qj_sep(j);
	qj_put(j, "\"", 1);
	if (n)
		qry_json_escape(j->out, s, n);
	qj_put(j, "\"", 1);
}

void qry_json_cstr(qry_json *j, const char *s)
{
	if (!s)
		qry_json_null(j);
	else
		qry_json_str(j, s, strlen(s));
}

void qry_json_kstr(qry_json *j, ksk_str s)
{
	qry_json_str(j, s.ptr, s.len);
}

void qry_json_u64(qry_json *j, uint64_t v)
{
	char b[24];
	int n = snprintf(b, sizeof(b), "%llu", (unsigned long long)v);
	qj_sep(j);
	qj_put(j, b, (size_t)n);
}

void qry_json_i64(qry_json *j, int64_t v)
{
	char b[24];
	int n = snprintf(b, sizeof(b), "%lld", (long long)v);
	qj_sep(j);
	qj_put(j, b, (size_t)n);
}

void qry_json_dbl(qry_json *j, double v)
{
	if (!isfinite(v)) {
		qry_json_null(j);
		return;
	}
	char b[40];
	int n = snprintf(b, sizeof(b), "%.17g", v);
	/* shortest form that reads back the same */
	for (int prec = 1; prec < 17; prec++) {
		char t[40];
		int m = snprintf(t, sizeof(t), "%.*g", prec, v);
		if (strtod(t, NULL) == v) {
			memcpy(b, t, (size_t)m + 1);
			n = m;
			break;
		}
	}
	qj_sep(j);
	qj_put(j, b, (size_t)n);
}

void qry_json_raw(qry_json *j, const void *s, size_t n)
{
	qj_sep(j);
	qj_put(j, s, n);
}

void qry_json_bool(qry_json *j, bool v)
{
	qj_sep(j);
	qj_put(j, v ? "true" : "false", v ? 4 : 5);
}

void qry_json_null(qry_json *j)
{
	qj_sep(j);
	qj_put(j, "null", 4);
}

void qry_json_hex(qry_json *j, const uint8_t *id, size_t n)
{
	char h[2 * 32 + 1];
	if (n > 32)
		n = 32;
	ksk_hex_encode(id, n, h);
	qry_json_str(j, h, 2 * n);
}

void qry_json_strf(qry_json *j, const char *fmt, ...)
{
	char b[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(b, sizeof(b), fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if ((size_t)n >= sizeof(b))
		n = (int)sizeof(b) - 1;
	qry_json_str(j, b, (size_t)n);
}

void qry_json_kv_u64(qry_json *j, const char *k, uint64_t v)
{
	qry_json_key(j, k);
	qry_json_u64(j, v);
}

void qry_json_kv_i64(qry_json *j, const char *k, int64_t v)
{
	qry_json_key(j, k);
	qry_json_i64(j, v);
}

void qry_json_kv_kstr(qry_json *j, const char *k, ksk_str v)
{
	qry_json_key(j, k);
	qry_json_kstr(j, v);
}

void qry_json_kv_cstr(qry_json *j, const char *k, const char *v)
{
	qry_json_key(j, k);
	qry_json_cstr(j, v);
}

void qry_json_kv_bool(qry_json *j, const char *k, bool v)
{
	qry_json_key(j, k);
	qry_json_bool(j, v);
}

void qry_json_kv_hex(qry_json *j, const char *k, const uint8_t *id, size_t n)
{
	qry_json_key(j, k);
	qry_json_hex(j, id, n);
}

ksk_err qry_json_ok(const qry_json *j)
{
	return j->out->err;
}
