/*
 * agt_otlp.h : span and log intake decoders for kiseki-agent.
 *
 * Exports decoders of
 *  - OTLP JSON ExportTraceServiceRequest (span record files: one per line;
 *    OTLP/HTTP `application/json` bodies) and ExportLogsServiceRequest;
 *  - OTLP protobuf ExportTraceServiceRequest / ExportLogsServiceRequest
 *    (OTLP/HTTP `application/x-protobuf`), a hand-written bounded reader;
 *  - Zipkin v2 JSON (a list of spans, POST /api/v2/spans).
 * into records of the shared model (kiseki/record.h).
 *
 * Error policy (one rule for every decoder):
 *  - The BODY is malformed (not JSON, wrong top-level shape, protobuf
 *    framing broken, nesting too deep): the call returns KSK_EPARSE and
 *    `ei` says where; nothing is returned. OTLP/HTTP answers 400 with
 *    ei->msg; the file tailer counts the line and logs file + offset.
 *  - A RECORD is invalid (bad or zero trace/span ID, end < start, kind or
 *    status out of range, ...): that record is skipped, counted in
 *    out->n_rejected, and the first such problem is described precisely in
 *    out->reject ("resourceSpans[0].scopeSpans[0].spans[3]: spanId: 15
 *    hex digits, want 16"). The call still returns KSK_OK with the good
 *    records: this is exactly OTLP's partial success (200 with
 *    rejected_spans / rejected_log_records and error_message = reject.msg).
 *  - KSK_ENOMEM / KSK_ELIMIT: the arena is full; nothing is returned.
 *
 * Ownership: every string and array of the result is allocated in the
 * caller's arena (strings copied and UTF-8 repaired), so the body may be
 * freed as soon as the call returns; the result lives until the arena is
 * reset. Limits: attributes per record / events / links over 1024 are
 * dropped and counted in dropped_*; value nesting over 16 rejects the
 * record; strings over 1 MiB reject the record. JSON duplicate keys: the
 * last one wins (as protobuf's last-wins rule for repeated singular
 * fields); they are not rejected.
 * Threading: pure functions, thread-safe (one arena per thread).
 */
#ifndef AGT_OTLP_H
#define AGT_OTLP_H

#include <stddef.h>
#include <stdint.h>

#include "kiseki/arena.h"
#include "kiseki/err.h"
#include "kiseki/record.h"

typedef struct agt_otlp_out {
	ksk_resource *resources; /* in the arena */
	uint32_t n_resources;
	ksk_span *spans;         /* traces: span.resource indexes resources */
	uint32_t n_spans;
	ksk_log *logs;           /* logs: log.resource indexes resources */
	uint32_t n_logs;
	uint32_t n_rejected;     /* invalid spans / log records skipped */
	ksk_errinfo reject;      /* the first rejection (code KSK_ERECORD) */
} agt_otlp_out;

/*! agt_otlp_traces_json() : decodes an OTLP JSON ExportTraceServiceRequest.
 *  IDs in hex (either case); kind / status.code as integers or enum names;
 *  64-bit integers as strings or numbers; doubles also "NaN", "Infinity",
 *  "-Infinity"; bytesValue in base64; unknown keys ignored.
 *  @return : see the error policy above. */
ksk_err agt_otlp_traces_json(const char *body, size_t len, ksk_arena *a,
                             agt_otlp_out *out, ksk_errinfo *ei);

/*! agt_otlp_logs_json() : decodes an OTLP JSON ExportLogsServiceRequest.
 *  observed_ns = observedTimeUnixNano, else timeUnixNano, else now_ns. */
ksk_err agt_otlp_logs_json(const char *body, size_t len, uint64_t now_ns,
                           ksk_arena *a, agt_otlp_out *out, ksk_errinfo *ei);

/*! agt_otlp_traces_pb() : decodes a protobuf ExportTraceServiceRequest
 *  (opentelemetry-proto v1.x field numbers; unknown fields of every wire
 *  type skipped; singular fields given twice: last wins). */
ksk_err agt_otlp_traces_pb(const uint8_t *body, size_t len, ksk_arena *a,
                           agt_otlp_out *out, ksk_errinfo *ei);

/*! agt_otlp_logs_pb() : decodes a protobuf ExportLogsServiceRequest. */
ksk_err agt_otlp_logs_pb(const uint8_t *body, size_t len, uint64_t now_ns,
                         ksk_arena *a, agt_otlp_out *out, ksk_errinfo *ei);

/*! agt_zipkin_json() : decodes a Zipkin v2 JSON list of spans.
 *  Mapping: traceId 16 or 32 hex (16 left-padded); id; parentId; name;
 *  kind CLIENT/SERVER/PRODUCER/CONSUMER (absent = INTERNAL); timestamp and
 *  duration in us -> start/end ns; one resource per distinct
 *  localEndpoint (service.name, net.host.ip, net.host.port);
 *  remoteEndpoint -> peer.service, net.peer.ip, net.peer.port; annotations
 *  -> events; tags -> string attributes (numbers and bools accepted and
 *  kept as their JSON text); tag `error` -> status ERROR with the tag
 *  value as message (`otel.status_code` ERROR/OK honoured; both tags
 *  removed); shared/debug -> bool attributes zipkin.shared/zipkin.debug. */
ksk_err agt_zipkin_json(const char *body, size_t len, ksk_arena *a,
                        agt_otlp_out *out, ksk_errinfo *ei);

#endif /* AGT_OTLP_H */
