/*
 * kiseki/parse.h : parsing of the human-written values in options and
 * config files: durations ("500ms", "30s", "10m", "24h", "7d", "1h30m")
 * sizes ("4096", "64KiB", "256MiB", "10GB", "1G") and listen addresses
 * ("127.0.0.1:9464").
 * Pure functions; thread-safe.
 */
#ifndef KSK_PARSE_H
#define KSK_PARSE_H

#include <stdint.h>

#include "kiseki/err.h"

/*! ksk_parse_duration() : a sequence of <number><unit> with units ns, us,
 *  ms, s, m, h, d (a bare number means seconds), into nanoseconds.
 *  @return : KSK_OK; KSK_EINVAL on a bad form or overflow. */
ksk_err ksk_parse_duration(const char *s, uint64_t *ns);

/*! ksk_parse_size() : <number>[unit] with units B, K/KB (1000), KiB (1024),
 *  M/MB, MiB, G/GB, GiB, T/TB, TiB (case-insensitive) into bytes.
 *  @return : KSK_OK; KSK_EINVAL on a bad form or overflow. */
ksk_err ksk_parse_size(const char *s, uint64_t *bytes);

/*! ksk_parse_hostport() : "HOST:PORT" or ":PORT" (host 127.0.0.1),
 *  where HOST is an IPv4 address or "localhost", into a network-order
 *  address and a port (0 allowed: any free port).
 *  @return : KSK_OK; KSK_EINVAL. */
ksk_err ksk_parse_hostport(const char *s, uint32_t *ip_be, uint16_t *port);

#endif /* KSK_PARSE_H */
