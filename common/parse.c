/*
 * parse.c : durations and sizes written by people (kiseki/parse.h).
 *
 * Data in: NUL-terminated text. Data out: nanoseconds or bytes.
 * Invariants: every multiplication and addition is overflow-checked; an
 * empty string, a missing number, an unknown unit or trailing garbage is
 * KSK_EINVAL, never a silent zero.
 */
#include "kiseki/parse.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int ksk_mul_add(uint64_t *acc, uint64_t v, uint64_t mul)
{
	if (mul && v > UINT64_MAX / mul)
		return -1;
	uint64_t x = v * mul;
	if (*acc > UINT64_MAX - x)
		return -1;
	*acc += x;
	return 0;
}

/* reads digits (and an optional fraction) as a value scaled by 1000 */
static const char *ksk_read_num(const char *p, uint64_t *milli)
{
	uint64_t v = 0;
	const char *start = p;
	while (isdigit((unsigned char)*p)) {
		if (v > (UINT64_MAX / 10000))
			return NULL;
		v = v * 10 + (uint64_t)(*p - '0');
		p++;
	}
	uint64_t frac = 0, scale = 100;
	if (*p == '.') {
		p++;
		if (!isdigit((unsigned char)*p))
			return NULL;
		while (isdigit((unsigned char)*p)) {
			frac += (uint64_t)(*p - '0') * scale;
			scale /= 10;
			p++;
		}
	}
	if (p == start)
		return NULL;
	*milli = v * 1000 + frac;
	return p;
}

ksk_err ksk_parse_duration(const char *s, uint64_t *ns)
{
	static const struct {
		const char *unit;
		uint64_t ns;
	} units[] = {{"ns", 1},
	             {"us", 1000},
	             {"ms", 1000000},
	             {"s", 1000000000ull},
	             {"m", 60000000000ull},
	             {"h", 3600000000000ull},
	             {"d", 86400000000000ull}};
	if (!s || !*s)
		return KSK_EINVAL;
	uint64_t total = 0;
	const char *p = s;
	while (*p) {
		uint64_t milli;
		p = ksk_read_num(p, &milli);
		if (!p)
			return KSK_EINVAL;
		size_t ul = 0;
		while (isalpha((unsigned char)p[ul]))
			ul++;
		uint64_t mul = 0;
		if (ul == 0) {
			if (p != s + strlen(s) || total)
				return KSK_EINVAL;
			mul = 1000000000ull; /* bare number: seconds */
		}
		for (size_t i = 0; ul && i < sizeof(units) / sizeof(units[0]); i++)
			if (strlen(units[i].unit) == ul && strncmp(p, units[i].unit, ul) == 0)
				mul = units[i].ns;
		if (!mul)
			return KSK_EINVAL;
		/* frac < 1000 and mul < 2^47: frac * mul cannot overflow */
		uint64_t whole = milli / 1000, frac = milli % 1000;
		if (ksk_mul_add(&total, whole, mul) || ksk_mul_add(&total, frac * mul / 1000, 1))
			return KSK_EINVAL;
		p += ul;
	}
	*ns = total;
	return KSK_OK;
}

ksk_err ksk_parse_size(const char *s, uint64_t *bytes)
{
	static const struct {
		const char *unit;
		uint64_t mul;
	} units[] = {{"", 1},
	             {"b", 1},
	             {"k", 1000},
	             {"kb", 1000},
	             {"kib", 1024},
	             {"m", 1000000},
	             {"mb", 1000000},
	             {"mib", 1048576},
	             {"g", 1000000000ull},
	             {"gb", 1000000000ull},
	             {"gib", 1073741824ull},
	             {"t", 1000000000000ull},
	             {"tb", 1000000000000ull},
	             {"tib", 1099511627776ull}};
	if (!s || !*s)
		return KSK_EINVAL;
	uint64_t milli;
	const char *p = ksk_read_num(s, &milli);
	if (!p)
		return KSK_EINVAL;
	while (*p == ' ')
		p++;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcasecmp(p, units[i].unit) == 0) {
			uint64_t total = 0;
			if (ksk_mul_add(&total, milli / 1000, units[i].mul) ||
			    ksk_mul_add(&total, (milli % 1000) * units[i].mul / 1000, 1))
				return KSK_EINVAL;
			if (units[i].mul < 1000 && milli % 1000)
				return KSK_EINVAL; /* fractional bytes */
			*bytes = total;
			return KSK_OK;
		}
	}
	return KSK_EINVAL;
}

ksk_err ksk_parse_hostport(const char *s, uint32_t *ip_be, uint16_t *port)
{
	if (!s)
		return KSK_EINVAL;
	const char *colon = strrchr(s, ':');
	if (!colon)
		return KSK_EINVAL;
	char host[64];
	size_t hl = (size_t)(colon - s);
	if (hl >= sizeof(host))
		return KSK_EINVAL;
	memcpy(host, s, hl);
	host[hl] = '\0';
	if (hl == 0 || strcmp(host, "localhost") == 0)
		strcpy(host, "127.0.0.1");
	struct in_addr a;
	if (inet_pton(AF_INET, host, &a) != 1)
		return KSK_EINVAL;
	if (!isdigit((unsigned char)colon[1]))
		return KSK_EINVAL;
	char *end;
	long p = strtol(colon + 1, &end, 10);
	if (*end || p < 0 || p > 65535)
		return KSK_EINVAL;
	*ip_be = a.s_addr;
	*port = (uint16_t)p;
	return KSK_OK;
}
