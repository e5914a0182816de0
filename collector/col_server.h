/*
 * col_server.h : kiseki-collector as a whole: the store, the batch intake,
 * the query server, the metrics endpoint and the maintenance thread,
 * started and stopped together from a col_config.
 *
 * main.c parses options, calls col_server_start(), prints the ready line,
 * waits for SIGTERM/SIGINT and calls col_server_stop(). Tests can run a
 * whole collector in-process the same way.
 */
#ifndef COL_SERVER_H
#define COL_SERVER_H

#include "col_config.h"
#include "col_ingest.h"
#include "col_query.h"
#include "col_store.h"
#include "kiseki/err.h"

typedef struct col_server col_server;

/*! col_server_start() : opens the store (recovering it) and starts every
 *  listener. Messages go to stderr prefixed "kiseki-collector: ".
 *  @return : KSK_OK or the first failure, with everything started so far
 *            stopped again. */
ksk_err col_server_start(const col_config *cfg, col_server **out,
                         ksk_errinfo *ei);

/*! col_server_ingest_url() / col_server_query_url() : real addresses. */
const char *col_server_ingest_url(const col_server *s);
const char *col_server_query_url(const col_server *s);

/*! col_server_metrics_port() : 0 when metrics are off. */
uint16_t col_server_metrics_port(const col_server *s);

/*! col_server_stop() : stops intake first (no new acks), then queries,
 *  metrics and maintenance, then closes the store (fsync). NULL no-op. */
void col_server_stop(col_server *s);

#endif /* COL_SERVER_H */
