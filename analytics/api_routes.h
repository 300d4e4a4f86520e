/*
 * api_routes — the route table of tally-api: every method and path the
 * service answers, the authentication each needs and the query parameters
 * each takes. The table is public so that a test can hold it against
 * docs/openapi.yaml (the paths are written as OpenAPI path templates).
 */
#ifndef TALLY_API_ROUTES_H
#define TALLY_API_ROUTES_H

#include <stddef.h>

typedef enum {
    API_AUTH_NONE,   /* anyone */
    API_AUTH_ADMIN,  /* the admin key (TALLY_ADMIN_KEY) only */
    API_AUTH_TENANT, /* the admin key, or a `read` key of the tenant in the path */
    API_AUTH_INGEST, /* the admin key, or any `ingest` key (the handler checks each
                        event's tenant against the key's) */
} api_auth_kind;

typedef struct api_request api_request;

/* A handler answers through the tally__api_reply* functions exactly once. */
typedef void (*api_handler)(api_request *r);

typedef struct {
    const char *method;
    const char *path; /* OpenAPI template, e.g. /v1/tenants/{tenant_id}/usage; up
                         to API_PATH_VARS_MAX {variables}: {tenant_id} fills
                         r->tenant_id, {user_id} r->user_id, any other
                         r->path_id (each decoded and held to the id rules) */
    api_auth_kind auth;
    const char *const *params; /* query parameters taken, NULL-terminated */
    api_handler handler;
    size_t body_max; /* bytes of a request body; 0: the server's default (16 KiB) */
} api_route;

extern const api_route tally_api_routes[];
extern const size_t tally_api_routes_count;

#define API_PATH_VARS_MAX 2

/* The {variables} of a matched path: their names in the template and their
 * raw (still percent-encoded) segments inside the request path. */
typedef struct {
    size_t n;
    const char *name[API_PATH_VARS_MAX]; /* points into the template, after '{' */
    size_t name_len[API_PATH_VARS_MAX];
    const char *raw[API_PATH_VARS_MAX]; /* points into the request path */
    size_t raw_len[API_PATH_VARS_MAX];
} api_path_vars;

typedef enum {
    API_MATCH_OK,
    API_MATCH_NO_PATH,   /* 404: no route has this path */
    API_MATCH_NO_METHOD, /* 405: the path exists, not with this method */
} api_match;

/* Match a raw (still percent-encoded) request path; HEAD matches the GET
 * routes (libmicrohttpd sends the headers of the GET answer, no body). On
 * API_MATCH_OK *route is the route and *vars its {variables}. On API_MATCH_NO_METHOD, `allow` gets the methods
 * the path does take ("GET" or "GET, POST"). */
api_match tally__api_route_match(const char *method, const char *path, const api_route **route,
                                 api_path_vars *vars, char *allow, size_t allow_len);

/* The route's index in tally_api_routes (metrics are kept per route). */
size_t tally__api_route_index(const api_route *route);

#endif
