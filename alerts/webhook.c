/*
 * The webhook sender: signed POSTs of alert events, many at once on one
 * thread (curl_multi), behind an address guard. See webhook.h for the
 * contract; this file holds the how.
 */
#include "webhook.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tally_common.h"

/* A receiver's answer body is read and thrown away; past this much we stop
 * reading, since the status line is all that counts. */
#define ANSWER_BODY_MAX (64 * 1024)

/* ---- the address guard ---- */

static void describe(const struct sockaddr *sa, const char *kind, char *why, size_t why_len) {
    if (!why || why_len == 0) return;
    char text[INET6_ADDRSTRLEN] = "?";
    if (sa->sa_family == AF_INET) {
        struct sockaddr_in in;
        memcpy(&in, sa, sizeof in);
        inet_ntop(AF_INET, &in.sin_addr, text, sizeof text);
    } else if (sa->sa_family == AF_INET6) {
        struct sockaddr_in6 in6;
        memcpy(&in6, sa, sizeof in6);
        inet_ntop(AF_INET6, &in6.sin6_addr, text, sizeof text);
    }
    snprintf(why, why_len, "%s address %s", kind, text);
}

/* The kind of a refused IPv4 address (host byte order), or NULL when it may be reached. */
static const char *ipv4_kind(uint32_t a) {
    if ((a >> 24) == 0) return "unspecified"; /* 0/8, "this network": 0.0.0.0 reaches this host */
    if ((a >> 24) == 127) return "loopback";
    if ((a >> 24) == 10 || (a >> 20) == 0xAC1 || (a >> 16) == 0xC0A8) return "private";
    if (a == 0xA9FEA9FE) return "metadata"; /* 169.254.169.254, before link-local: it is one */
    if ((a >> 16) == 0xA9FE) return "link-local";
    if ((a >> 22) == (0x64400000u >> 22)) return "CGNAT"; /* 100.64/10, RFC 6598 shared space */
    if ((a >> 28) >= 0xE) return "multicast or reserved"; /* 224/4, 240/4, broadcast */
    return NULL;
}

/* The kind of a refused IPv6 address, or NULL when it may be reached. */
static const char *ipv6_kind(const unsigned char b[16]) {
    static const unsigned char zero[16];
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    static const unsigned char nat64[12] = {0x00, 0x64, 0xff, 0x9b}; /* 64:ff9b::/96 */
    static const unsigned char ec2_metadata[16] = {0xfd, 0x00, 0x0e, 0xc2, 0, 0, 0,    0,
                                                   0,    0,    0,    0,    0, 0, 0x02, 0x54};

    if (memcmp(b, zero, 16) == 0) return "unspecified";
    if (memcmp(b, zero, 15) == 0 && b[15] == 1) return "loopback";
    if (memcmp(b, ec2_metadata, 16) == 0) return "metadata"; /* fd00:ec2::254, inside fc00::/7 */
    if ((b[0] & 0xfe) == 0xfc) return "private";             /* fc00::/7, unique local */
    if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) return "link-local"; /* fe80::/10 */
    if (b[0] == 0xfe && (b[1] & 0xc0) == 0xc0) return "private";    /* fec0::/10, old site-local */
    if (b[0] == 0xff) return "multicast or reserved";               /* ff00::/8 */
    /* An IPv4 address inside IPv6 reaches that IPv4 address: ::ffff:a.b.c.d
     * (mapped), 64:ff9b::a.b.c.d (NAT64 gateways) and ::a.b.c.d (the old
     * "compatible" form) are judged by the address they carry. */
    if (memcmp(b, mapped, 12) == 0 || memcmp(b, nat64, 12) == 0 || memcmp(b, zero, 12) == 0) {
        uint32_t a = (uint32_t)b[12] << 24 | (uint32_t)b[13] << 16 | (uint32_t)b[14] << 8 | b[15];
        return ipv4_kind(a);
    }
    return NULL;
}

bool tally__webhook_address_refused(const struct sockaddr *sa, char *why, size_t why_len) {
    const char *kind = NULL;
    if (sa->sa_family == AF_INET) {
        struct sockaddr_in in;
        memcpy(&in, sa, sizeof in);
        kind = ipv4_kind(ntohl(in.sin_addr.s_addr));
    } else if (sa->sa_family == AF_INET6) {
        struct sockaddr_in6 in6;
        memcpy(&in6, sa, sizeof in6);
        kind = ipv6_kind(in6.sin6_addr.s6_addr);
    } else {
        if (why && why_len) snprintf(why, why_len, "address family %d", (int)sa->sa_family);
        return true;
    }
    if (kind) describe(sa, kind, why, why_len);
    return kind != NULL;
}

/* ---- the signature ---- */

bool tally__webhook_signature(const char *secret, int64_t t, const char *body, size_t len,
                              char out[TALLY_WEBHOOK_SIGNATURE_MAX]) {
    char ts[24];
    int ts_len = snprintf(ts, sizeof ts, "%lld", (long long)t);
    unsigned char mac[EVP_MAX_MD_SIZE];
    size_t mac_len = 0;
    bool ok = false;

    /* EVP_MAC rather than HMAC(): it takes "<t>", "." and the body in three
     * updates, so the signed text is never copied into one buffer. */
    EVP_MAC *hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *ctx = hmac ? EVP_MAC_CTX_new(hmac) : NULL;
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, "SHA256", 0),
                           OSSL_PARAM_construct_end()};
    if (ctx && EVP_MAC_init(ctx, (const unsigned char *)secret, strlen(secret), params) &&
        EVP_MAC_update(ctx, (const unsigned char *)ts, (size_t)ts_len) &&
        EVP_MAC_update(ctx, (const unsigned char *)".", 1) &&
        (len == 0 || EVP_MAC_update(ctx, (const unsigned char *)body, len)) &&
        EVP_MAC_final(ctx, mac, &mac_len, sizeof mac) && mac_len == 32)
        ok = true;
    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(hmac);

    out[0] = '\0';
    if (!ok) return false;
    int n = snprintf(out, TALLY_WEBHOOK_SIGNATURE_MAX, "t=%s,v1=", ts);
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < mac_len; i++) {
        out[n++] = hex[mac[i] >> 4];
        out[n++] = hex[mac[i] & 15];
    }
    out[n] = '\0';
    return true;
}

/* ---- one transfer ---- */

typedef struct {
    CURL *easy;
    struct curl_slist *headers, *resolve; /* owned, freed with the transfer */
    bool allow_private;
    bool refused; /* the guard refused an address; refused_why says which */
    bool opened;  /* the guard let a socket be opened */
    char refused_why[96];
    size_t answer_bytes; /* of the answer body, read and dropped */
    bool answer_cut;     /* we stopped reading at ANSWER_BODY_MAX */
    bool done;
    char errbuf[CURL_ERROR_SIZE];
} transfer;

/* CURLOPT_OPENSOCKETFUNCTION: libcurl asks for a socket for each address it
 * is about to connect to, after resolving. Refusing here judges the address
 * that would really be used, whatever the URL's text said. */
static curl_socket_t open_socket(void *clientp, curlsocktype purpose,
                                 struct curl_sockaddr *address) {
    transfer *t = clientp;
    if (purpose != CURLSOCKTYPE_IPCXN) return CURL_SOCKET_BAD;
    char why[sizeof t->refused_why];
    if (!t->allow_private && tally__webhook_address_refused(&address->addr, why, sizeof why)) {
        t->refused = true;
        memcpy(t->refused_why, why, sizeof why);
        return CURL_SOCKET_BAD;
    }
    t->opened = true;
    return socket(address->family, address->socktype | SOCK_CLOEXEC, address->protocol);
}

static size_t drop_answer(char *data, size_t size, size_t nmemb, void *userdata) {
    (void)data;
    transfer *t = userdata;
    t->answer_bytes += size * nmemb;
    if (t->answer_bytes > ANSWER_BODY_MAX) {
        t->answer_cut = true;
        return 0; /* ends the transfer with CURLE_WRITE_ERROR; outcome() knows why */
    }
    return size * nmemb;
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_result = CURLE_FAILED_INIT;

static void curl_init(void) { curl_init_result = curl_global_init(CURL_GLOBAL_DEFAULT); }

static bool has_control_char(const char *s) {
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f) return true;
    return false;
}

static void set_status(tally_webhook_result *r, const char *fmt, const char *detail) {
    snprintf(r->status, sizeof r->status, fmt, detail);
}

/* Set up t to POST req, or fill r and return false when it cannot be sent. */
static bool prepare(transfer *t, const tally_webhook_request *req, bool allow_private,
                    int64_t now_unix, tally_webhook_result *r) {
    const char *problem = NULL;
    if (!req->url || !*req->url)
        problem = "no url";
    else if (!req->alert_id || !*req->alert_id)
        problem = "no alert id";
    else if (!req->secret)
        problem = "no secret";
    else if (!req->body && req->body_len)
        problem = "no body";
    else if (has_control_char(req->alert_id))
        /* The alert id becomes a header line: a CR or LF in it would forge others. */
        problem = "alert id has control characters";
    if (problem) {
        set_status(r, "bad request: %s", problem);
        return false;
    }

    char signature[TALLY_WEBHOOK_SIGNATURE_MAX];
    if (!tally__webhook_signature(req->secret, now_unix, req->body, req->body_len, signature)) {
        set_status(r, "not sent: %s", "signing failed (libcrypto)");
        return false;
    }

    t->easy = curl_easy_init();
    if (!t->easy) {
        set_status(r, "not sent: %s", "out of memory");
        return false;
    }
    t->allow_private = allow_private;

    tally_buf id_line = {0};
    tally_buf_printf(&id_line, "Tally-Event-Id: %s", req->alert_id);
    char sig_line[sizeof "Tally-Signature: " + TALLY_WEBHOOK_SIGNATURE_MAX];
    snprintf(sig_line, sizeof sig_line, "Tally-Signature: %s", signature);
    const char *lines[] = {"Content-Type: application/cloudevents+json", id_line.data, sig_line,
                           "Expect:"}; /* no 100-continue round trip for larger bodies */
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
        struct curl_slist *next = curl_slist_append(t->headers, lines[i]);
        if (!next) tally_oom("webhook headers");
        t->headers = next;
    }
    tally_buf_free(&id_line);
    if (req->resolve) {
        t->resolve = curl_slist_append(NULL, req->resolve);
        if (!t->resolve) tally_oom("webhook resolve entry");
    }

    long timeout_ms = req->timeout_ms > 0 ? req->timeout_ms : TALLY_WEBHOOK_TIMEOUT_MS;
    CURL *c = t->easy;
    curl_easy_setopt(c, CURLOPT_PRIVATE, t);
    curl_easy_setopt(c, CURLOPT_URL, req->url);
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, req->body ? req->body : "");
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, t->headers);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "tally-alerts/" TALLY_VERSION);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, drop_answer);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, t);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, t->errbuf);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
    /* Only http and https, no redirects (a 3xx is the answer), no proxy from
     * the environment: the request goes where the URL says or nowhere. */
#if LIBCURL_VERSION_NUM >= 0x075500 /* 7.85.0 */
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
#else
    curl_easy_setopt(c, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_PROXY, "");
    curl_easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, open_socket);
    curl_easy_setopt(c, CURLOPT_OPENSOCKETDATA, t);
    if (t->resolve) curl_easy_setopt(c, CURLOPT_RESOLVE, t->resolve);
    return true;
}

/* Fill r from a finished transfer. */
static void outcome(transfer *t, CURLcode rc, tally_webhook_result *r) {
    long code = 0;
    curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &code);
    curl_off_t usec = 0;
    curl_easy_getinfo(t->easy, CURLINFO_TOTAL_TIME_T, &usec);
    r->duration_ms = (int)(usec / 1000);
    r->http_status = (int)code;
    const char *detail = t->errbuf[0] ? t->errbuf : curl_easy_strerror(rc);

    if (rc == CURLE_OK || (rc == CURLE_WRITE_ERROR && t->answer_cut && code > 0)) {
        r->delivered = code >= 200 && code <= 299;
        if (code >= 300 && code <= 399)
            snprintf(r->status, sizeof r->status, "%ld redirect not followed", code);
        else
            snprintf(r->status, sizeof r->status, "%ld", code);
    } else if (t->refused && !t->opened) {
        /* Every address the name had was refused: say so rather than curl's
         * "couldn't connect". (One refused and another tried is curl's story.) */
        set_status(r, "refused: %s", t->refused_why);
    } else if (rc == CURLE_OPERATION_TIMEDOUT) {
        set_status(r, "%s", "timeout");
    } else if (rc == CURLE_UNSUPPORTED_PROTOCOL || rc == CURLE_URL_MALFORMAT) {
        set_status(r, "bad url: %.100s", detail); /* status is a summary: cut */
    } else {
        set_status(r, "connection failed: %.100s", detail);
    }
}

static void release(transfer *t, CURLM *multi) {
    if (t->easy) {
        if (multi) curl_multi_remove_handle(multi, t->easy);
        curl_easy_cleanup(t->easy);
    }
    curl_slist_free_all(t->headers);
    curl_slist_free_all(t->resolve);
}

void tally__webhook_post_many(const tally_webhook_request *reqs, size_t n, bool allow_private,
                              int64_t now_unix, tally_webhook_result *results) {
    for (size_t i = 0; i < n; i++) results[i] = (tally_webhook_result){0};
    if (n == 0) return;
    pthread_once(&curl_once, curl_init);
    transfer *ts = calloc(n, sizeof *ts);
    CURLM *multi = curl_init_result == CURLE_OK && ts ? curl_multi_init() : NULL;
    if (!multi) {
        for (size_t i = 0; i < n; i++)
            set_status(&results[i], "not sent: %s",
                       curl_init_result != CURLE_OK ? "libcurl did not initialize"
                                                    : "out of memory");
        free(ts);
        return;
    }

    for (size_t i = 0; i < n; i++) {
        if (!prepare(&ts[i], &reqs[i], allow_private, now_unix, &results[i])) {
            ts[i].done = true;
            continue;
        }
        CURLMcode mc = curl_multi_add_handle(multi, ts[i].easy);
        if (mc != CURLM_OK) {
            set_status(&results[i], "not sent: %s", curl_multi_strerror(mc));
            ts[i].done = true;
        }
    }

    /* Every transfer runs to its own end (an answer, an error or its own time
     * limit); curl_multi_poll sleeps until a socket is ready or the nearest
     * of curl's timers is due. */
    int running = 0;
    CURLMcode mc = CURLM_OK;
    do {
        mc = curl_multi_perform(multi, &running);
        if (mc == CURLM_OK && running) mc = curl_multi_poll(multi, NULL, 0, 1000, NULL);
        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read(multi, &left))) {
            if (msg->msg != CURLMSG_DONE) continue;
            char *private = NULL;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &private);
            transfer *t = (transfer *)private;
            outcome(t, msg->data.result, &results[t - ts]);
            t->done = true;
        }
    } while (mc == CURLM_OK && running);

    for (size_t i = 0; i < n; i++) {
        if (!ts[i].done) set_status(&results[i], "connection failed: %s", curl_multi_strerror(mc));
        release(&ts[i], multi);
    }
    curl_multi_cleanup(multi);
    free(ts);
}
