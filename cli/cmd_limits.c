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
            rc = tally__api_conn_other_option(&o->conn, c, optarg, usage);
            if (rc != -1) return rc;
        }
    }
    o->tenant = tally__api_tenant_operand(&o->conn, argc, argv, usage);
    if (!o->tenant) return 2;
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
static char *render(const void *arg, const api_body *b) {
    const limits_opts *o = arg;
    return tally__api_render_json(&o->conn, b, !strcmp(o->format, "json"), tally__limits_table);
}

int tally_cmd_limits(int argc, char **argv) {
    limits_opts o = {.format = "table"};
    tally__api_conn_defaults(&o.conn, "limits");
    int rc = parse_args(argc, argv, &o);
    if (rc < 0) {
        const char *const path[] = {"v1", "tenants", o.tenant, "limits", NULL};
        const api_param query[] = {{"user_id", o.user}, {"at", o.at}, {NULL, NULL}};
        const api_request req = {.path = path, .query = query, .accept = "application/json"};
        rc = tally__api_fetch_print(&o.conn, &req, render, &o, NULL);
    }
    tally__api_conn_free(&o.conn);
    return rc;
}
