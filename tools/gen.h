/*
 * gen.h : a deterministic generator of realistic synthetic records, for
 * benchmarks, the demo, fuzz seeds and tests.
 *
 * Exports ksk_gen (opaque): given a seed it produces the same spans and
 * logs every run. Spans come in traces (a root SERVER span and children
 * across several services, CLIENT/SERVER pairs, one in ~50 with an error),
 * each with 10 attributes (strings, ints, a double, a bool) and 2 events;
 * logs are ~200-byte messages with severity, a few attributes and, for
 * most, the trace and span ID of a generated span.
 *
 * Ownership: the generator owns the strings it makes (an internal arena);
 * records it appends are copied into the encoder's payload, so nothing is
 * borrowed after a call returns. Threading: one owner thread.
 */
#ifndef KSK_GEN_H
#define KSK_GEN_H

#include <stddef.h>
#include <stdint.h>

#include "kiseki/err.h"
#include "kiseki/wire.h"

typedef struct ksk_gen ksk_gen;

/*! ksk_gen_create() : a generator for `services` services (1..64).
 *  @return : KSK_OK, KSK_EINVAL or KSK_ENOMEM. */
ksk_err ksk_gen_create(uint64_t seed, uint32_t services, ksk_gen **out);

/*! ksk_gen_u64(), ksk_gen_below(), ksk_gen_id() : the generator's own
 *  random sequence (xorshift64*), for tools that build records themselves:
 *  a 64-bit value; a value below `n` (> 0); `n` random bytes, never all
 *  zero (a valid trace or span ID). */
uint64_t ksk_gen_u64(ksk_gen *g);
uint32_t ksk_gen_below(ksk_gen *g, uint32_t n);
void ksk_gen_id(ksk_gen *g, uint8_t *id, size_t n);

/*! ksk_gen_destroy() : NULL is a no-op. */
void ksk_gen_destroy(ksk_gen *g);

/*! ksk_gen_batch() : resets `enc`, then appends the resources, `n_spans`
 *  spans and `n_logs` logs, with times starting at `base_ns` (ns since the
 *  epoch). Traces are kept whole within a batch where `n_spans` allows.
 *  @return : the encoder's error, if any. */
ksk_err ksk_gen_batch(ksk_gen *g, ksk_wire_enc *enc, uint32_t n_spans,
                      uint32_t n_logs, uint64_t base_ns);

/*! ksk_gen_batch_wide() : like ksk_gen_batch(), but every trace crosses
 *  between `min_svcs` and `max_svcs` distinct services (capped at the
 *  generator's service count): a root SERVER span, then for each further
 *  service a CLIENT span under an already-reached service's SERVER span
 *  and the SERVER span of the new service under it, so a trace has about
 *  2 spans per service (5..50 services: ~55 spans on average). Each span
 *  carries the same 10 attributes and 2 events as ksk_gen_batch(); logs
 *  likewise. For the 10M-span segment benchmark.
 *  @return : the encoder's error, if any; KSK_EINVAL when
 *            min_svcs is 0 or greater than max_svcs. */
ksk_err ksk_gen_batch_wide(ksk_gen *g, ksk_wire_enc *enc, uint32_t n_spans,
                           uint32_t n_logs, uint64_t base_ns, uint32_t min_svcs,
                           uint32_t max_svcs);

/*! ksk_gen_log_line() : writes one realistic text log line (timestamp,
 *  level, service, message, trace_id= span_id= fields for most lines)
 *  of about 200 bytes, NUL-terminated, into `buf`.
 *  @return : its length without the NUL. */
size_t ksk_gen_log_line(ksk_gen *g, uint64_t time_ns, char *buf, size_t cap);

#endif /* KSK_GEN_H */
