/*
 * api_client — how the `tally` subcommands that read a Tally API (`tally
 * report`, `tally limits`) talk to it: the shared options (--api, --key,
 * --timeout and their environment defaults), one GET with the key as a
 * bearer token, and the messages when it fails. HTTP only (libcurl): these
 * commands need none of the stores.
 *
 * Every message starts with the command ("tally report: …"), names the API
 * or the URL asked, and the HTTP status when there is one; the API's own
 * words are cut to their first line and made safe for a terminal. The
 * functions return an exit status: 0, or 1 (the API refused or could not be
 * reached), 2 (bad usage), or -1 for "go on".
 */
#ifndef TALLY_API_CLIENT_H
#define TALLY_API_CLIENT_H

#include <getopt.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "tally_common.h"

/* Where and how to ask. Owner: the command; api_buf is freed by
 * tally__api_conn_free(). */
typedef struct {
    const char *command; /* "report": messages say "tally report: …" */
    const char *api;     /* the API's base URL; no trailing slash once checked */
    const char *key;     /* the bearer key */
    double timeout_s;    /* the whole request */
    char *api_buf;       /* the normalised api */
} api_conn;

/* The long options every API command takes; put API_CONN_LONG_OPTIONS in the
 * command's struct option table and pass getopt's answer to
 * tally__api_conn_option(). */
enum { API_OPT_API = 0x1000, API_OPT_KEY, API_OPT_TIMEOUT };
// clang-format off
#define API_CONN_LONG_OPTIONS                                                                      \
    {"api", required_argument, 0, API_OPT_API},                                                    \
    {"key", required_argument, 0, API_OPT_KEY},                                                    \
    {"timeout", required_argument, 0, API_OPT_TIMEOUT}
// clang-format on

/* Their lines of --help, in the commands' style. */
extern const char tally__api_conn_help[];

/* The defaults: $TALLY_HTTP_ADDR (through the config), $TALLY_API_KEY, 30 s. */
void tally__api_conn_defaults(api_conn *c, const char *command);
/* Handle one of API_CONN_LONG_OPTIONS: -1 taken, 2 a bad value (said why),
 * 0 not one of them. */
int tally__api_conn_option(api_conn *c, int opt, const char *arg);
/* An option the command's own switch did not take: one of
 * API_CONN_LONG_OPTIONS, else bad usage (usage(stderr)). -1 to go on, else
 * the exit status. */
int tally__api_conn_other_option(api_conn *c, int opt, const char *arg, void (*usage)(FILE *));
/* The one TENANT operand left after the options (argv[optind]), or NULL
 * after saying so, with usage(stderr). */
const char *tally__api_tenant_operand(const api_conn *c, int argc, char **argv,
                                      void (*usage)(FILE *));
/* After parsing: check the key and normalise the API's URL ("host:port" or a
 * URL). -1 to go on, else the exit status (said why). */
int tally__api_conn_check(api_conn *c);
void tally__api_conn_free(api_conn *c);

/* The response body, grown as it arrives; NUL-terminated once anything
 * arrived. Owner: the caller, freed by tally__api_body_free(). */
typedef struct {
    char *data;
    size_t len, cap;
    bool too_big;
} api_body;

void tally__api_body_free(api_body *b);

typedef struct {
    const char *name, *value; /* value NULL: left out */
} api_param;

typedef struct {
    const char *const *path;  /* its segments, NULL-terminated; each is URL-escaped */
    const api_param *query;   /* ends with {NULL, NULL}; may be NULL */
    const char *accept;       /* the media type asked for */
    const char *too_big_hint; /* what to do when the answer is too big, or NULL */
} api_request;

/* GET the request from the API into b. Returns 0 on a 2xx answer, or 1
 * after saying why on stderr. */
int tally__api_get(const api_conn *c, const api_request *req, api_body *b);

/* The 2xx body as JSON (caller decrefs), or NULL after saying it is not. */
json_t *tally__api_body_json(const api_conn *c, const api_body *b);

/* The text of a 2xx JSON body (caller frees): pretty-printed when json,
 * else table(doc); NULL after saying why. */
char *tally__api_render_json(const api_conn *c, const api_body *b, bool json,
                             char *(*table)(const json_t *doc, tally_err *err));

/* GET the request, render(arg, body) its 2xx body and write the text to
 * output (NULL: stdout). Returns the exit status: 0, or 1 after saying why. */
int tally__api_fetch_print(const api_conn *c, const api_request *req,
                           char *(*render)(const void *arg, const api_body *b), const void *arg,
                           const char *output);

/* doc pretty-printed as the API commands print JSON (caller frees), with a
 * final newline; NULL after saying "out of memory". */
char *tally__api_json_text(const api_conn *c, const json_t *doc);

#endif
