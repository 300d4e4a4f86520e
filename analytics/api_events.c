/*
 * api_events — POST /v1/events: CloudEvents over HTTP (being built, issue 10).
 */
#include "api_internal.h"

void tally__api_handle_events(api_request *r) {
    tally__api_reply_error(r, 501, "POST /v1/events: not implemented yet");
}
