/*
 * agt_time.c : timestamp recognition for log lines.
 *
 * Design: pure hand-written scanners, no libc time functions (no locale,
 * no TZ database, no global state). A timestamp is read into broken-down
 * parts (struct agt_tparts) and converted with the days-from-civil
 * algorithm; zones are numeric offsets only (Z, +hh, +hhmm, +hh:mm,
 * UTC/GMT). Times before 1970 or after 9999 are refused (ns since the
 * epoch are unsigned in the record model).
 *
 * Automatic mode tries, at the start of the input: ISO 8601 / RFC 3339
 * date-time, syslog (no year: the latest year that is not more than one
 * day in the future of now_ns), common log format, and an epoch number
 * (10..19 digits, optional fraction, unit by magnitude).
 * A strptime-like format is interpreted directly (no compilation).
 */
#include <stdint.h>
#include <string.h>

#include "agt_parse.h"
#include "agt_parse_int.h"

typedef struct agt_tparts {
	int64_t year;     /* full year; -1 = absent */
	int mon, day;     /* 1-based; 0 = absent */
	int hour, min, sec;
	uint32_t nsec;    /* fraction of the second */
	int yday;         /* %j, 1-based; 0 = absent */
	int pm;           /* -1 none, 0 AM, 1 PM */
	bool has_zone;    /* zone_min is set */
	int32_t zone_min; /* minutes east of UTC */
	bool has_epoch;   /* epoch_ns is the whole answer */
	uint64_t epoch_ns;
} agt_tparts;

static const char *const agt_months[12] = {"jan", "feb", "mar", "apr",
                                           "may", "jun", "jul", "aug",
                                           "sep", "oct", "nov", "dec"};
static const char *const agt_months_long[12] = {
	"january", "february", "march",     "april",   "may",      "june",
	"july",    "august",   "september", "october", "november", "december"};

static int agt_lower(int c)
{
	return (c >= 'A' && c <= 'Z') ? c - 'A' + 'a' : c;
}

static bool agt_isdig(char c)
{
	return c >= '0' && c <= '9';
}

/* exactly n digits */
static bool agt_digits(const char *s, size_t len, size_t *pos, int n, int *v)
{
	int r = 0;
	if (*pos + (size_t)n > len)
		return false;
	for (int i = 0; i < n; i++) {
		char c = s[*pos + (size_t)i];
		if (!agt_isdig(c))
			return false;
		r = r * 10 + (c - '0');
	}
	*pos += (size_t)n;
	*v = r;
	return true;
}

/* 1..max digits */
static bool agt_digits_var(const char *s, size_t len, size_t *pos, int max,
                           int *v)
{
	int r = 0, n = 0;
	while (*pos < len && n < max && agt_isdig(s[*pos])) {
		r = r * 10 + (s[*pos] - '0');
		(*pos)++;
		n++;
	}
	*v = r;
	return n > 0;
}

/* fraction digits: keeps 9, skips the rest */
static bool agt_fraction(const char *s, size_t len, size_t *pos, uint32_t *ns)
{
	uint32_t r = 0;
	int n = 0;
	while (*pos < len && agt_isdig(s[*pos])) {
		if (n < 9) {
			r = r * 10 + (uint32_t)(s[*pos] - '0');
			n++;
		}
		(*pos)++;
	}
	if (n == 0)
		return false;
	for (; n < 9; n++)
		r *= 10;
	*ns = r;
	return true;
}

static bool agt_month_name(const char *s, size_t len, size_t *pos, bool allow_long,
                           int *mon)
{
	if (*pos + 3 > len)
		return false;
	for (int m = 0; m < 12; m++) {
		if (allow_long) {
			size_t ln = strlen(agt_months_long[m]);
			if (*pos + ln <= len) {
				size_t k = 0;
				while (k < ln && agt_lower((unsigned char)s[*pos + k]) ==
				                         agt_months_long[m][k])
					k++;
				if (k == ln) {
					*pos += ln;
					*mon = m + 1;
					return true;
				}
			}
		}
		if (agt_lower((unsigned char)s[*pos]) == agt_months[m][0] &&
		    agt_lower((unsigned char)s[*pos + 1]) == agt_months[m][1] &&
		    agt_lower((unsigned char)s[*pos + 2]) == agt_months[m][2]) {
			*pos += 3;
			*mon = m + 1;
			return true;
		}
	}
	return false;
}

/* Z | z | +hh | +hhmm | +hh:mm | UTC | GMT */
static bool agt_zone(const char *s, size_t len, size_t *pos, int32_t *zmin)
{
	size_t p = *pos;
	if (p < len && (s[p] == 'Z' || s[p] == 'z')) {
		*pos = p + 1;
		*zmin = 0;
		return true;
	}
	if (p + 3 <= len && ((memcmp(s + p, "UTC", 3) == 0) ||
	                     memcmp(s + p, "GMT", 3) == 0)) {
		*pos = p + 3;
		*zmin = 0;
		return true;
	}
	if (p < len && (s[p] == '+' || s[p] == '-')) {
		int sign = s[p] == '-' ? -1 : 1, hh, mm = 0;
		p++;
		if (!agt_digits(s, len, &p, 2, &hh))
			return false;
		if (p < len && s[p] == ':') {
			size_t q = p + 1;
			if (!agt_digits(s, len, &q, 2, &mm))
				return false;
			p = q;
		} else if (p + 2 <= len && agt_isdig(s[p]) && agt_isdig(s[p + 1])) {
			agt_digits(s, len, &p, 2, &mm);
		}
		if (hh > 23 || mm > 59)
			return false;
		*zmin = sign * (hh * 60 + mm);
		*pos = p;
		return true;
	}
	return false;
}

static int64_t agt_days_from_civil(int64_t y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t mp = m > 2 ? m - 3 : m + 9;
	int64_t doy = (153 * mp + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static bool agt_leap(int64_t y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int agt_mdays(int64_t y, int m)
{
	static const int md[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	return m == 2 && agt_leap(y) ? 29 : md[m - 1];
}

/* year of a ns timestamp (UTC) */
static int64_t agt_year_of(uint64_t ns)
{
	int64_t days = (int64_t)(ns / 1000000000ull / 86400ull);
	/* civil_from_days, year only */
	days += 719468;
	int64_t era = days / 146097;
	int64_t doe = days - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t y = yoe + era * 400;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;
	int64_t m = mp < 10 ? mp + 3 : mp - 9;
	return y + (m <= 2);
}

static bool agt_to_ns(const agt_tparts *t, int64_t year, int32_t tz_min,
                      uint64_t *ns)
{
	if (t->has_epoch) {
		*ns = t->epoch_ns;
		return true;
	}
	int mon = t->mon, day = t->day, hour = t->hour;
	if (year < 1970 || year > 9999)
		return false;
	if (t->yday > 0 && mon == 0) {
		int yd = t->yday;
		if (yd > (agt_leap(year) ? 366 : 365))
			return false;
		mon = 1;
		while (yd > agt_mdays(year, mon)) {
			yd -= agt_mdays(year, mon);
			mon++;
		}
		day = yd;
	}
	if (mon < 1 || mon > 12 || day < 1 || day > agt_mdays(year, mon))
		return false;
	if (t->pm >= 0) {
		if (hour < 1 || hour > 12)
			return false;
		hour = hour % 12 + (t->pm ? 12 : 0);
	}
	if (hour > 23 || t->min > 59 || t->sec > 60)
		return false;
	int64_t secs = agt_days_from_civil(year, mon, day) * 86400 +
	               hour * 3600 + t->min * 60 + (t->sec == 60 ? 59 : t->sec);
	secs -= (int64_t)(t->has_zone ? t->zone_min : tz_min) * 60;
	if (secs < 0)
		return false;
	*ns = (uint64_t)secs * 1000000000ull + t->nsec;
	return true;
}

static bool agt_finish(agt_tparts *t, int32_t tz_min, uint64_t now_ns,
                       uint64_t *ns)
{
	if (t->has_epoch || t->year >= 0)
		return agt_to_ns(t, t->year, tz_min, ns);
	/* no year: the latest year that is not more than a day ahead */
	int64_t y = agt_year_of(now_ns);
	if (t->mon == 0 && t->yday == 0) {
		/* time of day only: today's date */
		uint64_t day0 = now_ns / 1000000000ull / 86400ull * 86400ull;
		agt_tparts u = *t;
		u.year = 1970;
		u.mon = 1;
		u.day = 1;
		uint64_t tod;
		if (!agt_to_ns(&u, 1970, tz_min, &tod))
			return false;
		*ns = tod + day0 * 1000000000ull;
		if (*ns > now_ns + 86400000000000ull && *ns >= 86400000000000ull)
			*ns -= 86400000000000ull;
		return true;
	}
	if (agt_to_ns(t, y, tz_min, ns) && *ns <= now_ns + 86400000000000ull)
		return true;
	return agt_to_ns(t, y - 1, tz_min, ns);
}

uint64_t agt_epoch_to_ns(double v)
{
	if (!(v >= 0) || !(v < 1e300)) /* negative, NaN, inf */
		return 0;
	double ns;
	if (v < 1e11)
		ns = v * 1e9;
	else if (v < 1e14)
		ns = v * 1e6;
	else if (v < 1e17)
		ns = v * 1e3;
	else
		ns = v;
	if (ns >= 1.8e19)
		return 0;
	return (uint64_t)(ns + 0.5); /* no libm in the agent core */
}

/* epoch digits [.fraction] with integer precision: returns ns */
static bool agt_epoch_text(const char *s, size_t len, size_t *pos, int min_digits,
                           uint64_t *ns)
{
	size_t p = *pos;
	uint64_t ip = 0;
	int n = 0;
	while (p < len && agt_isdig(s[p])) {
		if (n >= 19)
			return false;
		ip = ip * 10 + (uint64_t)(s[p] - '0');
		p++;
		n++;
	}
	if (n < min_digits)
		return false;
	uint32_t frac = 0;
	bool has_frac = false;
	if (p + 1 < len && s[p] == '.' && agt_isdig(s[p + 1])) {
		p++;
		agt_fraction(s, len, &p, &frac);
		has_frac = true;
	}
	uint64_t r;
	if (ip < 100000000000ull) {           /* seconds */
		r = ip * 1000000000ull + frac;
	} else if (ip < 100000000000000ull) { /* ms */
		r = ip * 1000000ull + (has_frac ? frac / 1000u : 0);
	} else if (ip < 100000000000000000ull) { /* us */
		r = ip * 1000ull + (has_frac ? frac / 1000000u : 0);
	} else {
		r = ip;
	}
	*pos = p;
	*ns = r;
	return true;
}

/* hh:mm:ss[.frac] */
static bool agt_hms(const char *s, size_t len, size_t *p, agt_tparts *t)
{
	if (!agt_digits(s, len, p, 2, &t->hour) || *p >= len || s[*p] != ':' )
		return false;
	(*p)++;
	if (!agt_digits(s, len, p, 2, &t->min) || *p >= len || s[*p] != ':')
		return false;
	(*p)++;
	if (!agt_digits(s, len, p, 2, &t->sec))
		return false;
	if (*p + 1 < len && (s[*p] == '.' || s[*p] == ',') && agt_isdig(s[*p + 1])) {
		(*p)++;
		agt_fraction(s, len, p, &t->nsec);
	}
	return true;
}

static bool agt_auto(const char *s, size_t len, bool epoch_ok, agt_tparts *t,
                     size_t *used)
{
	size_t p = 0;
	if (len == 0)
		return false;
	if (agt_isdig(s[0])) {
		int y, v;
		/* ISO 8601: YYYY-MM-DD[T ]hh:mm:ss */
		if (len >= 19 && agt_digits(s, len, &p, 4, &y) &&
		    (s[4] == '-' || s[4] == '/')) {
			char ds = s[4];
			p = 5;
			if (agt_digits(s, len, &p, 2, &t->mon) && p < len && s[p] == ds &&
			    (p++, agt_digits(s, len, &p, 2, &t->day)) && p < len &&
			    (s[p] == 'T' || s[p] == 't' || s[p] == ' ')) {
				p++;
				if (agt_hms(s, len, &p, t)) {
					t->year = y;
					size_t q = p;
					if (q + 1 < len && s[q] == ' ' &&
					    (s[q + 1] == '+' || s[q + 1] == '-' ||
					     s[q + 1] == 'Z' || s[q + 1] == 'U' ||
					     s[q + 1] == 'G'))
						q++;
					if (agt_zone(s, len, &q, &t->zone_min)) {
						t->has_zone = true;
						p = q;
					}
					*used = p;
					return true;
				}
			}
		}
		/* common log format: 02/Jan/2006:15:04:05 -0700 */
		p = 0;
		if (agt_digits(s, len, &p, 2, &t->day) && p < len && s[p] == '/' &&
		    (p++, agt_month_name(s, len, &p, false, &t->mon)) && p < len &&
		    s[p] == '/' && (p++, agt_digits(s, len, &p, 4, &y)) && p < len &&
		    s[p] == ':') {
			p++;
			if (agt_hms(s, len, &p, t)) {
				t->year = y;
				size_t q = p;
				if (q < len && s[q] == ' ')
					q++;
				if (agt_zone(s, len, &q, &t->zone_min)) {
					t->has_zone = true;
					p = q;
				}
				*used = p;
				return true;
			}
		}
		(void)v;
		if (epoch_ok) {
			p = 0;
			if (agt_epoch_text(s, len, &p, 10, &t->epoch_ns) &&
			    (p == len || !(agt_isdig(s[p]) ||
			                   (agt_lower((unsigned char)s[p]) >= 'a' &&
			                    agt_lower((unsigned char)s[p]) <= 'z')))) {
				t->has_epoch = true;
				*used = p;
				return true;
			}
		}
		return false;
	}
	/* syslog: Jan  2 15:04:05 */
	if (s[0] >= 'A' && s[0] <= 'Z' && len >= 15) {
		p = 0;
		if (!agt_month_name(s, len, &p, false, &t->mon) || s[p] != ' ')
			return false;
		p++;
		if (p < len && s[p] == ' ')
			p++;
		if (!agt_digits_var(s, len, &p, 2, &t->day) || p >= len || s[p] != ' ')
			return false;
		p++;
		if (!agt_hms(s, len, &p, t))
			return false;
		*used = p;
		return true;
	}
	return false;
}

static void agt_tparts_init(agt_tparts *t)
{
	memset(t, 0, sizeof(*t));
	t->year = -1;
	t->pm = -1;
}

static bool agt_isspace(char c)
{
	return c == ' ' || c == '\t';
}

/* strptime-like; check_only: validate the format without input */
static bool agt_fmt(const char *fmt, const char *s, size_t len, agt_tparts *t,
                    size_t *used, bool check_only)
{
	size_t p = 0;
	int v;
	for (const char *f = fmt; *f; f++) {
		if (*f == ' ') {
			while (!check_only && p < len && agt_isspace(s[p]))
				p++;
			continue;
		}
		if (*f != '%') {
			if (!check_only && (p >= len || s[p] != *f))
				return false;
			p++;
			continue;
		}
		f++;
		char c = *f;
		if (c == '\0')
			return false;
		if (check_only) {
			if (!strchr("YmdeHMSfzZbhBjysTFpIa%", c))
				return false;
			continue;
		}
		switch (c) {
		case 'Y':
			if (!agt_digits(s, len, &p, 4, &v))
				return false;
			t->year = v;
			break;
		case 'y':
			if (!agt_digits(s, len, &p, 2, &v))
				return false;
			t->year = v < 69 ? 2000 + v : 1900 + v;
			break;
		case 'm':
			if (!agt_digits_var(s, len, &p, 2, &t->mon))
				return false;
			break;
		case 'e':
			if (p < len && s[p] == ' ')
				p++;
			/* fall through */
		case 'd':
			if (!agt_digits_var(s, len, &p, 2, &t->day))
				return false;
			break;
		case 'H':
		case 'I':
			if (!agt_digits_var(s, len, &p, 2, &t->hour))
				return false;
			break;
		case 'M':
			if (!agt_digits(s, len, &p, 2, &t->min))
				return false;
			break;
		case 'S':
			if (!agt_digits(s, len, &p, 2, &t->sec))
				return false;
			if (p + 1 < len && (s[p] == '.' || s[p] == ',') &&
			    agt_isdig(s[p + 1]) && f[1] != '.' && f[1] != ',') {
				p++;
				agt_fraction(s, len, &p, &t->nsec);
			}
			break;
		case 'f':
			if (!agt_fraction(s, len, &p, &t->nsec))
				return false;
			break;
		case 'z':
		case 'Z':
			if (!agt_zone(s, len, &p, &t->zone_min))
				return false;
			t->has_zone = true;
			break;
		case 'b':
		case 'h':
		case 'B':
			if (!agt_month_name(s, len, &p, true, &t->mon))
				return false;
			break;
		case 'j':
			if (!agt_digits_var(s, len, &p, 3, &t->yday) || t->yday < 1)
				return false;
			break;
		case 's':
			if (!agt_epoch_text(s, len, &p, 1, &t->epoch_ns))
				return false;
			t->has_epoch = true;
			break;
		case 'T':
			if (!agt_digits_var(s, len, &p, 2, &t->hour) || p >= len ||
			    s[p++] != ':' || !agt_digits(s, len, &p, 2, &t->min) ||
			    p >= len || s[p++] != ':' ||
			    !agt_digits(s, len, &p, 2, &t->sec))
				return false;
			if (p + 1 < len && (s[p] == '.' || s[p] == ',') &&
			    agt_isdig(s[p + 1])) {
				p++;
				agt_fraction(s, len, &p, &t->nsec);
			}
			break;
		case 'F':
			if (!agt_digits(s, len, &p, 4, &v) || p >= len || s[p++] != '-')
				return false;
			t->year = v;
			if (!agt_digits_var(s, len, &p, 2, &t->mon) || p >= len ||
			    s[p++] != '-' || !agt_digits_var(s, len, &p, 2, &t->day))
				return false;
			break;
		case 'p':
			if (p + 2 > len)
				return false;
			if (agt_lower((unsigned char)s[p + 1]) != 'm')
				return false;
			if (agt_lower((unsigned char)s[p]) == 'a')
				t->pm = 0;
			else if (agt_lower((unsigned char)s[p]) == 'p')
				t->pm = 1;
			else
				return false;
			p += 2;
			break;
		case 'a':
			while (p < len && ((s[p] >= 'a' && s[p] <= 'z') ||
			                   (s[p] >= 'A' && s[p] <= 'Z')))
				p++;
			break;
		case '%':
			if (p >= len || s[p] != '%')
				return false;
			p++;
			break;
		default:
			return false;
		}
	}
	if (used)
		*used = p;
	return true;
}

bool agt_time_format_check(const char *fmt)
{
	agt_tparts t;
	agt_tparts_init(&t);
	return fmt && agt_fmt(fmt, NULL, 0, &t, NULL, true);
}

bool agt__time_auto(const char *s, size_t len, bool epoch_ok, int32_t tz_min,
                    uint64_t now_ns, uint64_t *ns, size_t *used)
{
	agt_tparts t;
	size_t u = 0;
	agt_tparts_init(&t);
	if (!agt_auto(s, len, epoch_ok, &t, &u))
		return false;
	if (!agt_finish(&t, tz_min, now_ns, ns))
		return false;
	if (used)
		*used = u;
	return true;
}

bool agt_time_parse(const char *fmt, const char *s, size_t len, int32_t tz_min,
                    uint64_t now_ns, uint64_t *ns, size_t *used)
{
	agt_tparts t;
	size_t u = 0;
	if (!fmt || !*fmt)
		return agt__time_auto(s, len, true, tz_min, now_ns, ns, used);
	agt_tparts_init(&t);
	if (!agt_fmt(fmt, s, len, &t, &u, false))
		return false;
	if (!agt_finish(&t, tz_min, now_ns, ns))
		return false;
	if (used)
		*used = u;
	return true;
}
