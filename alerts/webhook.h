/*
 * webhook.h — the alerts layer's HTTP sender (internal to alerts/).
 *
 * One call POSTs many alerts at once: tally__webhook_post_many() runs every
 * request concurrently on one thread (curl_multi), each with its own time
 * limit, so one slow receiver never holds up the others. It only reports
 * what happened to each try; retrying later is the caller's business.
 *
 * Each request is one POST:
 *   body     the alert event's JSON text, as given
 *   headers  Content-Type: application/cloudevents+json
 *            Tally-Event-Id: <alert id>
 *            Tally-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">
 *
 * A 2xx answer is a delivery. Anything else is a failed try: another status
 * (3xx included: redirects are never followed), no complete answer within the
 * time limit, a refused or closed connection, a URL that is not http or https,
 * or a target refused by the address guard below. Proxy variables in the
 * environment are ignored.
 *
 * The address guard (SSRF): unless the caller allows private targets, a
 * connection is refused when the address the name RESOLVED to — checked as
 * the socket is opened, so a name cannot point somewhere else after a check —
 * is loopback, private, link-local, unspecified, CGNAT, a cloud metadata
 * address, multicast or reserved, or one of those in IPv4-mapped (or NAT64,
 * IPv4-compatible) IPv6 form. tally__webhook_address_refused() is that classifier.
 */
#ifndef TALLY_ALERTS_WEBHOOK_H
#define TALLY_ALERTS_WEBHOOK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* The time limit of one try, connection included, unless the request sets its own. */
#define TALLY_WEBHOOK_TIMEOUT_MS 10000

/* "t=" + 20 digits + ",v1=" + 64 hex digits + NUL, rounded up. */
#define TALLY_WEBHOOK_SIGNATURE_MAX 96

/* One POST. Every pointer is borrowed for the duration of the call. */
typedef struct {
    const char *url;      /* http:// or https:// */
    const char *alert_id; /* Tally-Event-Id; no control characters */
    const char *secret;   /* the tenant's signing secret (its bytes up to the NUL) */
    const char *body;     /* the alert event JSON, body_len bytes */
    size_t body_len;
    int timeout_ms; /* 0: TALLY_WEBHOOK_TIMEOUT_MS (tests use less) */
    /* Tests only, NULL otherwise: one CURLOPT_RESOLVE entry "host:port:address"
     * that pins a name to an address. Entries land in the call's shared DNS
     * cache, so they apply to every request of the same call. */
    const char *resolve;
} tally_webhook_request;

/* What became of one POST. */
typedef struct {
    bool delivered;  /* a 2xx answer */
    int http_status; /* the answer's status, 0 when there was none */
    /* "200", "500", "302 redirect not followed", "timeout",
     * "refused: private address 10.0.0.1", "connection failed: <curl's words>",
     * "bad url: <curl's words>", "bad request: <what>" (a field missing, or
     * control characters in the alert id), "not sent: <why>" (out of memory,
     * libcurl or libcrypto failed) */
    char status[128];
    int duration_ms; /* from the start of the try to its outcome */
} tally_webhook_result;

/* POST reqs[0..n) concurrently and fill results[i] for each reqs[i]. The
 * signature's t is now_unix. allow_private turns the address guard off (the
 * daemon sets it from TALLY_WEBHOOK_ALLOW_PRIVATE=1, for local receivers).
 * Returns when every request has its outcome: after the longest time limit at
 * most. Each request may hold a socket until then, so the caller bounds n
 * (a few hundred at most). Initializes libcurl on first use (thread-safe). */
void tally__webhook_post_many(const tally_webhook_request *reqs, size_t n, bool allow_private,
                              int64_t now_unix, tally_webhook_result *results);

/* The Tally-Signature value for body signed at t with secret:
 * "t=<t>,v1=<lower-case hex HMAC-SHA256 of "<t>.<body>">". Returns false (and
 * an empty out) only if libcrypto fails. */
bool tally__webhook_signature(const char *secret, int64_t t, const char *body, size_t len,
                              char out[TALLY_WEBHOOK_SIGNATURE_MAX]);

/* The address guard: true when a webhook may not connect to sa (IPv4 or IPv6;
 * any other family is refused too), with why set to e.g. "private address
 * 10.0.0.1" (why may be NULL). */
bool tally__webhook_address_refused(const struct sockaddr *sa, char *why, size_t why_len);

#endif
