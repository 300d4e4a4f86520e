/*
 * api_server — tally-api, the HTTP report service of CONTRACT.md §3, as a
 * library: start it on an address, stop it gracefully. api_main.c is the
 * daemon around it; the tests link the same code.
 *
 * Threads: libmicrohttpd runs `threads` worker threads (a thread pool, each
 * with its own event loop). A request is served start to end on one worker;
 * workers share one MongoDB handle (itself a pool) and take a PostgreSQL
 * handle from a small pool of `threads` connections for the request's
 * duration (tally_pg handles are not thread-safe).
 */
#ifndef TALLY_API_SERVER_H
#define TALLY_API_SERVER_H

#include "tally_err.h"

typedef struct {
    const char *http_addr;       /* "host:port", "[v6]:port"; port 0 = any free port */
    const char *pg_url, *mongo_url, *brokers;
    const char *topic;           /* the events topic whose consumer lag /metrics shows */
    const char *admin_key;       /* TALLY_ADMIN_KEY; NULL or "": admin routes refuse */
    const char *ingest_group;    /* Kafka group of tally-ingest (Kafka-committed offsets) */
    const char *aggregate_group; /* group of tally-aggregate (offsets in PostgreSQL) */
    int threads;                 /* worker threads = PostgreSQL connections */
    int drain_timeout_ms;        /* on stop, how long to wait for requests in flight */
    int kafka_timeout_ms;        /* per Kafka call made while scraping /metrics */
} tally_api_options;

typedef struct tally_api tally_api;

/* Open the stores' handles and listen. NULL with err filled when the address
 * is bad or cannot be bound; unreachable stores are not an error (healthz
 * says so, requests answer 503 until they are back). */
tally_api *tally_api_start(const tally_api_options *opt, tally_err *err);

/* The port listened on (useful with port 0). */
int tally_api_port(const tally_api *api);

/* Stop accepting connections, let requests in flight finish (up to
 * drain_timeout_ms), close everything and free the handle. Returns the
 * number of requests still in flight when it gave up waiting (0 normally). */
int tally_api_stop(tally_api *api);

#endif
