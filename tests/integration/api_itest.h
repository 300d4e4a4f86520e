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
    char *headers;   /* every response header line, "\r\n"-separated, owned */
} api_http;

/* One request to the server at `base`; path is sent exactly as written
 * (body NULL: none; accept NULL: no Accept header). key NULL: no
 * Authorization header; a key, or a whole header when it starts with
 * "Authorization:". */
api_http api_http_do(const char *base, const char *method, const char *path, const char *key,
                     const char *body, const char *accept);
/* The same with more request header lines ("Name: value"; NULL-terminated,
 * may be NULL); a "Content-Type:" among them replaces the JSON default ("Content-Type:"
 * alone: none is sent), "Transfer-Encoding: chunked" sends the body without a length. */
api_http api_http_do_h(const char *base, const char *method, const char *path, const char *key,
                       const char *body, size_t body_len, const char *const *headers);
/* A response header's value (the last one of that name) into out; false
 * when the response had none. */
bool api_http_header(const api_http *r, const char *name, char *out, size_t len);
/* Assert that r is an RFC 9457 problem of `status`: application/problem+json
 * with type, title, status, detail (containing needle, when given), param
 * (param_expected NULL: any; "": null) and a request_id equal to the
 * X-Request-Id header. */
void api_expect_problem(const api_http *r, long status, const char *needle,
                        const char *param_expected);
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
