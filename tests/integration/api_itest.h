/*
 * api_itest — what the tests of tally-api share besides itest.h: HTTP
 * requests over real sockets (libcurl) and tally-api started on a free
 * loopback port.
 */
#ifndef TALLY_API_ITEST_H
#define TALLY_API_ITEST_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "itest.h"

typedef struct {
    long status;
    char *body; /* NUL-terminated, owned */
    size_t len;
    char ctype[128]; /* Content-Type */
    char allow[64];  /* Allow, when sent */
} api_http;

/* One request to the server at `base`; path is sent exactly as written
 * (body NULL: none; accept NULL: no Accept header). key NULL: no
 * Authorization header; a key, or a whole header when it starts with
 * "Authorization:". */
api_http api_http_do(const char *base, const char *method, const char *path, const char *key,
                     const char *body, const char *accept);
/* The body as JSON (the test fails when it is not); caller decrefs. */
json_t *api_http_json(const api_http *r);
void api_http_free(api_http *r);
/* GET path with key, expect 200, return the JSON; caller decrefs. */
json_t *api_get_json(const char *base, const char *path, const char *key);

/* tally-api on 127.0.0.1:<free port> (port 0; the log names the port) with
 * admin_key (NULL: without TALLY_ADMIN_KEY); base gets its URL. */
pid_t api_start(const itest_ctx *ctx, const char *admin_key, const char *log, char *base,
                size_t base_len);

void api_sleep_ms(int ms);

#endif
