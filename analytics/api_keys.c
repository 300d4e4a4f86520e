/*
 * api_keys — listing and revoking tenant keys (being built, issue 10).
 */
#include "api_internal.h"

void tally__api_handle_list_keys(api_request *r) {
    tally__api_reply_error(r, 501, "GET /v1/admin/keys: not implemented yet");
}

void tally__api_handle_revoke_key(api_request *r) {
    tally__api_reply_error(r, 501, "DELETE /v1/admin/keys: not implemented yet");
}
