/*
 * api_routes — the route table and the matcher. Paths are matched segment by
 * segment on the raw request path (still percent-encoded, so an encoded '/'
 * inside an id stays inside its segment); a "{name}" segment of a template
 * matches any one non-empty segment, which the server then decodes and
 * checks as an id. docs/openapi.yaml describes exactly these routes; a test
 * holds the two against each other.
 */
#include <stdio.h>
#include <string.h>

#include "api_internal.h"

static const char *const NO_PARAMS[] = {NULL};
static const char *const USAGE_PARAMS[] = {"from",   "to",       "granularity", "group_by",
                                           "format", "filter[]", NULL};
static const char *const LIMITS_PARAMS[] = {"user_id", "at", NULL};
static const char *const INTERACTIONS_PARAMS[] = {"from",  "to",     "user_id", "conversation_id",
                                                  "limit", "cursor", NULL};
static const char *const KEYS_PARAMS[] = {"tenant_id", "limit", "cursor", NULL};
static const char *const ALERTS_PARAMS[] = {"from", "to", "limit_id", "limit", "cursor", NULL};

const api_route tally_api_routes[] = {
    {"GET", "/healthz", API_AUTH_NONE, NO_PARAMS, tally__api_handle_healthz, 0},
    {"GET", "/livez", API_AUTH_NONE, NO_PARAMS, tally__api_handle_livez, 0},
    {"GET", "/readyz", API_AUTH_NONE, NO_PARAMS, tally__api_handle_readyz, 0},
    {"GET", "/openapi.yaml", API_AUTH_NONE, NO_PARAMS, tally__api_handle_openapi, 0},
    {"GET", "/metrics", API_AUTH_NONE, NO_PARAMS, tally__api_handle_metrics, 0},
    {"POST", "/v1/events", API_AUTH_INGEST, NO_PARAMS, tally__api_handle_events, 1024 * 1024},
    {"POST", "/v1/admin/keys", API_AUTH_ADMIN, NO_PARAMS, tally__api_handle_create_key, 0},
    {"GET", "/v1/admin/keys", API_AUTH_ADMIN, KEYS_PARAMS, tally__api_handle_list_keys, 0},
    {"DELETE", "/v1/admin/keys/{key_id}", API_AUTH_ADMIN, NO_PARAMS, tally__api_handle_revoke_key,
     0},
    {"GET", "/v1/tenants/{tenant_id}/usage", API_AUTH_TENANT, USAGE_PARAMS, tally__api_handle_usage,
     0},
    {"GET", "/v1/tenants/{tenant_id}/interactions", API_AUTH_TENANT, INTERACTIONS_PARAMS,
     tally__api_handle_interactions, 0},
    {"GET", "/v1/tenants/{tenant_id}/limits", API_AUTH_TENANT, LIMITS_PARAMS,
     tally__api_handle_limits, 0},
    {"GET", "/v1/tenants/{tenant_id}/alerts", API_AUTH_TENANT, ALERTS_PARAMS,
     tally__api_handle_alerts, 0},
    {"POST", "/v1/admin/tenants/{tenant_id}/webhook-secret", API_AUTH_ADMIN, NO_PARAMS,
     tally__api_handle_webhook_secret, 0},
    {"POST", "/v1/tenants/{tenant_id}/users/{user_id}/erasure", API_AUTH_TENANT, NO_PARAMS,
     tally__api_handle_erasure, 0},
};
const size_t tally_api_routes_count = sizeof tally_api_routes / sizeof tally_api_routes[0];

size_t tally__api_route_index(const api_route *route) { return (size_t)(route - tally_api_routes); }

/* Whether path matches template; its {variables} in *vars. */
static bool path_matches(const char *tmpl, const char *path, api_path_vars *vars) {
    memset(vars, 0, sizeof *vars);
    while (*tmpl && *path) {
        if (*tmpl != '/' || *path != '/') return false;
        tmpl++, path++;
        size_t tl = strcspn(tmpl, "/"), pl = strcspn(path, "/");
        if (tmpl[0] == '{') {
            if (pl == 0 || vars->n == API_PATH_VARS_MAX) return false;
            vars->name[vars->n] = tmpl + 1;
            vars->name_len[vars->n] = tl - 2; /* without the braces */
            vars->raw[vars->n] = path;
            vars->raw_len[vars->n++] = pl;
        } else if (tl != pl || memcmp(tmpl, path, tl)) {
            return false;
        }
        tmpl += tl, path += pl;
    }
    return !*tmpl && !*path;
}

api_match tally__api_route_match(const char *method, const char *path, const api_route **route,
                                 api_path_vars *vars, char *allow, size_t allow_len) {
    bool path_seen = false;
    if (allow_len) allow[0] = '\0';
    for (size_t i = 0; i < tally_api_routes_count; i++) {
        const api_route *r = &tally_api_routes[i];
        api_path_vars v;
        if (!path_matches(r->path, path, &v)) continue;
        if (!strcmp(r->method, method) || (!strcmp(method, "HEAD") && !strcmp(r->method, "GET"))) {
            *route = r;
            *vars = v;
            return API_MATCH_OK;
        }
        if (allow_len) {
            size_t used = strlen(allow);
            snprintf(allow + used, allow_len - used, "%s%s%s", path_seen ? ", " : "", r->method,
                     strcmp(r->method, "GET") ? "" : ", HEAD");
        }
        path_seen = true;
    }
    return path_seen ? API_MATCH_NO_METHOD : API_MATCH_NO_PATH;
}
