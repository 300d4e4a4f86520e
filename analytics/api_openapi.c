/*
 * api_openapi — GET /openapi.yaml: the OpenAPI 3 description of this very
 * service (docs/openapi.yaml, compiled in by cmake/embed_file.cmake), so a
 * client generator or a fuzzer can be pointed at a running instance.
 */
#include <stdlib.h>
#include <string.h>

#include "api_internal.h"

extern const unsigned char tally__openapi_yaml[];
extern const unsigned long tally__openapi_yaml_len;

void tally__api_handle_openapi(api_request *r) {
    char *body = malloc(tally__openapi_yaml_len + 1);
    if (!body) {
        tally__api_reply_error(r, 500, "out of memory");
        return;
    }
    memcpy(body, tally__openapi_yaml, tally__openapi_yaml_len + 1);
    tally__api_reply(r, 200, "application/yaml; charset=utf-8", body, tally__openapi_yaml_len);
}
