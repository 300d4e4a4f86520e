/*
 * api_cors — Cross-Origin Resource Sharing, so that a dashboard in a browser
 * can call the API. Off unless origins are configured (TALLY_CORS_ORIGINS or
 * --cors-origins: "https://a.example,https://b.example", or "*" for any).
 *
 * An allowed Origin gets Access-Control-Allow-Origin with its own value
 * (never "*" echoed with credentials) and Vary: Origin, so caches keep one
 * answer per origin. A preflight (OPTIONS with Access-Control-Request-Method)
 * on a path the API serves is answered 204 with the methods of that path and
 * the headers a client sends (Authorization, Content-Type, X-Request-Id).
 * Keys travel in the Authorization header, never in cookies, so no
 * Allow-Credentials is needed.
 */
#include <string.h>

#include "api_internal.h"

/* Whether origin is one of the comma-separated list (exact, byte for byte). */
static bool origin_allowed(const char *list, const char *origin) {
    if (!list || !*list || !origin || !*origin) return false;
    size_t olen = strlen(origin);
    for (const char *p = list; *p;) {
        while (*p == ' ' || *p == ',') p++;
        size_t n = strcspn(p, ", ");
        if ((n == 1 && *p == '*') || (n == olen && !memcmp(p, origin, n))) return true;
        p += n;
    }
    return false;
}

void tally__api_cors_headers(api_request *r, struct MHD_Response *res) {
    const char *origin = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Origin");
    if (!origin_allowed(r->api->opt.cors_origins, origin)) return;
    MHD_add_response_header(res, "Access-Control-Allow-Origin", origin);
    MHD_add_response_header(res, MHD_HTTP_HEADER_VARY, "Origin");
    MHD_add_response_header(res, "Access-Control-Expose-Headers",
                            "X-Request-Id, Content-Disposition, Retry-After");
    if (!strcmp(r->method, "OPTIONS")) {
        /* r->extra_value holds the path's methods (the Allow header) */
        MHD_add_response_header(res, "Access-Control-Allow-Methods",
                                r->extra_value ? r->extra_value : "GET");
        MHD_add_response_header(res, "Access-Control-Allow-Headers",
                                "Authorization, Content-Type, Accept, X-Request-Id");
        MHD_add_response_header(res, "Access-Control-Max-Age", "600");
    }
}
