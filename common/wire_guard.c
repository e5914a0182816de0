/*
 * wire_guard.c : structural pre-check of one msgpack object, run on every
 * record before msgpack-c sees it (kiseki/wire.h, ksk_wire_guard()).
 *
 * Role: msgpack-c trusts the counts in container headers. A 5-byte
 * array32 header makes it allocate n * 24 bytes up front (128 GiB for
 * n = 2^32-1), and nesting past its fixed 32-entry stack fails with a
 * misleading NOMEM. This walker reads only type bytes and length fields,
 * allocates nothing, and refuses such input before msgpack-c runs.
 *
 * Data in: a byte range that should start with one msgpack object, and the
 * limits. Data out: the object's byte length (> 0), 0 when the range ends
 * before the object does, -1 when the object is malformed or passes a
 * limit; plus the number of msgpack objects in it (every header counts
 * once: a map of 3 pairs holding ints is 7 objects). msgpack-c allocates
 * one 24-byte msgpack_object per non-top object, so the count bounds its
 * zone use.
 *
 * Invariants checked:
 *  - no reserved byte 0xc1;
 *  - each str/bin/ext length <= max_str and (else truncated) <= bytes left;
 *  - each array/map count <= max_container, and its element count (2 per
 *    map pair) <= bytes left, because every element takes at least one
 *    byte. A count that cannot fit is hostile (-1) rather than truncated:
 *    this is what keeps msgpack-c's up-front allocation proportional to
 *    the input size;
 *  - containers nest at most min(max_depth, 32) deep; the top-level
 *    container is depth 1 and empty containers count, exactly like
 *    msgpack-c's own 32-entry parser stack.
 *
 * The walk is iterative: a small stack of "elements still owed" counters,
 * one per open container. No globals, no allocation; thread-safe.
 */
#include "kiseki/wire.h"

#include <limits.h>

/* msgpack-c's MSGPACK_EMBED_STACK_SIZE: containers it can have open. */
#define KSK_GUARD_STACK 32u

static uint32_t ksk_guard_be16(const uint8_t *p)
{
	return ((uint32_t)p[0] << 8) | p[1];
}

static uint32_t ksk_guard_be32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
	       ((uint32_t)p[2] << 8) | p[3];
}

long ksk_wire_guard(const uint8_t *p, size_t len, const ksk_wire_limits *l,
                    uint64_t *objects)
{
	ksk_wire_limits defl;
	if (!l) {
		ksk_wire_limits_default(&defl);
		l = &defl;
	}
	if (!p)
		return len ? -1 : 0;
	if (len > (size_t)LONG_MAX)
		len = (size_t)LONG_MAX;
	const uint32_t max_depth =
		l->max_depth < KSK_GUARD_STACK ? l->max_depth : KSK_GUARD_STACK;
	const uint64_t max_str = l->max_str;
	const uint64_t max_cont = l->max_container;

	uint64_t stack[KSK_GUARD_STACK]; /* owed counts of the enclosing containers */
	uint32_t sp = 0;                 /* open containers */
	uint64_t need = 1;               /* objects still owed at this level */
	uint64_t objs = 0;
	size_t off = 0;

	for (;;) {
		while (need == 0) {
			if (sp == 0) {
				if (objects)
					*objects = objs;
				return (long)off;
			}
			need = stack[--sp];
		}
		if (off >= len)
			return 0;
		const uint8_t c = p[off++];
		need--;
		objs++;

		uint64_t skip = 0;  /* payload bytes after the header */
		uint64_t n = 0;     /* container elements (2 per map pair) */
		uint64_t count = 0; /* container count as written */
		int cont = 0;
		size_t lenbytes = 0; /* size of a big-endian length field */
		int kind = 0;        /* 1 str/bin, 2 ext, 3 array, 4 map */

		if (c <= 0x7f || c >= 0xe0) {
			/* positive / negative fixint */
		} else if (c <= 0x8f) {
			cont = 1;
			count = c & 0x0f;
			n = count * 2;
		} else if (c <= 0x9f) {
			cont = 1;
			count = c & 0x0f;
			n = count;
		} else if (c <= 0xbf) {
			skip = c & 0x1f;
			if (skip > max_str)
				return -1;
		} else {
			switch (c) {
			case 0xc0: /* nil */
			case 0xc2: /* false */
			case 0xc3: /* true */
				break;
			case 0xc1:
				return -1;
			case 0xc4: case 0xd9: lenbytes = 1; kind = 1; break;
			case 0xc5: case 0xda: lenbytes = 2; kind = 1; break;
			case 0xc6: case 0xdb: lenbytes = 4; kind = 1; break;
			case 0xc7: lenbytes = 1; kind = 2; break;
			case 0xc8: lenbytes = 2; kind = 2; break;
			case 0xc9: lenbytes = 4; kind = 2; break;
			case 0xca: skip = 4; break;
			case 0xcb: skip = 8; break;
			case 0xcc: case 0xd0: skip = 1; break;
			case 0xcd: case 0xd1: skip = 2; break;
			case 0xce: case 0xd2: skip = 4; break;
			case 0xcf: case 0xd3: skip = 8; break;
			case 0xd4: skip = 2; break;  /* fixext 1: type + 1 */
			case 0xd5: skip = 3; break;
			case 0xd6: skip = 5; break;
			case 0xd7: skip = 9; break;
			case 0xd8: skip = 17; break;
			case 0xdc: lenbytes = 2; kind = 3; break;
			case 0xdd: lenbytes = 4; kind = 3; break;
			case 0xde: lenbytes = 2; kind = 4; break;
			case 0xdf: lenbytes = 4; kind = 4; break;
			default: /* unreachable: every byte is covered above */
				return -1;
			}
		}

		if (lenbytes) {
			if (len - off < lenbytes)
				return 0;
			uint64_t v = lenbytes == 1 ? p[off]
			           : lenbytes == 2 ? ksk_guard_be16(p + off)
			                           : ksk_guard_be32(p + off);
			off += lenbytes;
			switch (kind) {
			case 1:
				if (v > max_str)
					return -1;
				skip = v;
				break;
			case 2:
				if (v > max_str)
					return -1;
				skip = v + 1; /* the ext type byte */
				break;
			case 3:
				cont = 1;
				count = v;
				n = v;
				break;
			default:
				cont = 1;
				count = v;
				n = v * 2;
				break;
			}
		}

		if (cont) {
			if (count > max_cont)
				return -1;
			if (n > len - off)
				return -1; /* more elements than bytes left */
			if (sp + 1 > max_depth)
				return -1;
			if (n) {
				stack[sp++] = need;
				need = n;
			}
		} else if (skip) {
			if (skip > len - off)
				return 0;
			off += (size_t)skip;
		}
	}
}
