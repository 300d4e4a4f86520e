/*
 * tally limits — ask a Tally API which limits a tenant (or one of its users)
 * has, how much of each is used, and whether it may go on
 * (`GET /v1/tenants/{id}/limits`, docs/limits.md), and print it: the
 * standing and an aligned table for people, or the API's JSON
 * pretty-printed.
 *
 * It talks to the API exactly as `tally report` does (api_client.h): the
 * same --api, --key and --timeout, the same messages.
 *
 * Exit status: 0 printed; 1 the API refused or could not be reached, or the
 * output could not be written; 2 bad usage.
 */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_client.h"
#include "limits_table.h"
#include "tally_cli.h"
#include "tally_common.h"
#include "text_output.h"

typedef struct {
    const char *tenant, *user, *at, *format;
    api_conn conn;
} limits_opts;

static void usage(FILE *out) {
    fputs("usage: tally limits TENANT [options]\n\n"
          "Ask a Tally API for TENANT's limits (GET /v1/tenants/TENANT/limits): its\n"
          "budgets and plan limits with the usage of their current period, and whether\n"
          "it may go on (ALLOWED, and the reasons when not).\n\n"
          "Options:\n"
          "      --user U            also user U's own plan limits; ALLOWED is decided\n"
          "                          for U\n"
          "      --at T              the periods and subscriptions in force at T, an RFC 3339\n"
          "                          time (default now)\n"
          "  -f, --format F          table (default) | json\n",
          out);
    fputs(tally__api_conn_help, out);
    fputs("  -h, --help              this text\n\n"
          "Exit status: 0 printed; 1 the API answered an error or could not be reached;\n"
          "2 bad usage.\n",
          out);
}

/* Fill o from the arguments. Returns -1 to go on, else the exit code. */
static int parse_args(int argc, char **argv, limits_opts *o) {
    enum { O_USER = 256, O_AT };
    static const struct option opts[] = {
        {"user", required_argument, 0, O_USER}, {"at", required_argument, 0, O_AT},
        {"format", required_argument, 0, 'f'},  API_CONN_LONG_OPTIONS,
        {"help", no_argument, 0, 'h'},          {0, 0, 0, 0}};
    int c, rc;
    optind = 1;
    while ((c = getopt_long(argc, argv, "f:h", opts, NULL)) != -1) {
        switch (c) {
        case O_USER: o->user = optarg; break;
        case O_AT: o->at = optarg; break;
        case 'f': o->format = optarg; break;
        case 'h': usage(stdout); return 0;
        default:
            rc = tally__api_conn_option(&o->conn, c, optarg);
            if (rc == 0) {
                usage(stderr);
                return 2;
            }
            if (rc != -1) return rc;
        }
    }
    if (argc - optind != 1 || !*argv[optind]) {
        fprintf(stderr, "tally limits: give exactly one TENANT id\n\n");
        usage(stderr);
        return 2;
    }
    o->tenant = argv[optind];
    if (o->user && !*o->user) {
        fprintf(stderr, "tally limits: --user: give a user id\n");
        return 2;
    }
    if (strcmp(o->format, "table") != 0 && strcmp(o->format, "json") != 0) {
        fprintf(stderr, "tally limits: --format: one of table, json\n");
        return 2;
    }
    return tally__api_conn_check(&o->conn);
}

/* The text to print for a 2xx body (caller frees), or NULL after saying why. */
static char *render(const limits_opts *o, const api_body *b) {
    json_t *doc = tally__api_body_json(&o->conn, b);
    if (!doc) return NULL;
    char *text = NULL;
    if (!strcmp(o->format, "json")) {
        text = tally__api_json_text(&o->conn, doc);
    } else {
        tally_err err = {0};
        text = tally__limits_table(doc, &err);
        if (!text) fprintf(stderr, "tally limits: %s\n", err.msg);
    }
    json_decref(doc);
    return text;
}

int tally_cmd_limits(int argc, char **argv) {
    limits_opts o = {.format = "table"};
    tally__api_conn_defaults(&o.conn, "limits");
    int rc = parse_args(argc, argv, &o);
    if (rc < 0) {
        const char *const path[] = {"v1", "tenants", o.tenant, "limits", NULL};
        const api_param query[] = {{"user_id", o.user}, {"at", o.at}, {NULL, NULL}};
        const api_request req = {.path = path, .query = query, .accept = "application/json"};
        api_body body = {0};
        rc = tally__api_get(&o.conn, &req, &body);
        if (rc == 0) {
            char *text = render(&o, &body);
            rc = text ? tally__write_text("limits", NULL, text) : 1;
            free(text);
        }
        tally__api_body_free(&body);
    }
    tally__api_conn_free(&o.conn);
    return rc;
}
