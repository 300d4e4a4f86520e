/*
 * api_openapi — GET /openapi.yaml (being built, issue 10).
 */
#include "api_internal.h"

void tally__api_handle_openapi(api_request *r) {
    tally__api_reply_error(r, 501, "GET /openapi.yaml: not implemented yet");
}
