/*
 * tally report — pull a tenant's usage report from a Tally API
 * (`GET /v1/tenants/{id}/usage`, CONTRACT.md §3) and print it: an aligned
 * table for people, the API's JSON pretty-printed, or its CSV as sent.
 *
 * This is the distributor's side of the API, so it talks HTTP only (libcurl)
 * and needs none of the stores. The output file is written only once the
 * whole answer has arrived and made sense: a failed pull never clobbers the
 * previous report.
 *
 * Exit status: 0 printed; 1 the API refused or could not be reached, or the
 * output could not be written; 2 bad usage.
 */
#include <getopt.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_client.h"
#include "report_table.h"
#include "tally_cli.h"
#include "tally_common.h"
#include "text_output.h"

typedef struct {
    const char *tenant, *from, *to, *granularity, *group_by, *format, *output;
    api_conn conn;
} report_opts;

static void usage(FILE *out) {
    fputs("usage: tally report TENANT [options]\n\n"
          "Pull TENANT's usage report from a Tally API (GET /v1/tenants/TENANT/usage)\n"
          "and print it.\n\n"
          "Options:\n"
          "      --from D            start of the window, inclusive: YYYY-MM-DD (midnight in\n"
          "                          the tenant's time zone) or an RFC 3339 time\n"
          "      --to D              end of the window, exclusive (default: the API's, the\n"
          "                          current month in the tenant's zone)\n"
          "  -g, --granularity G     total (default) | day | week | month\n"
          "  -G, --group-by LIST     comma list of model, user, agent, kind, channel\n"
          "  -f, --format F          table (default) | csv | json\n"
          "  -o, --output FILE       write there instead of stdout (only on success)\n",
          out);
    fputs(tally__api_conn_help, out);
    fputs("  -h, --help              this text\n\n"
          "Exit status: 0 printed; 1 the API answered an error or could not be reached;\n"
          "2 bad usage.\n",
          out);
}

/* GET the report into b. Returns 0, or 1 after saying why on stderr. */
static int fetch(const report_opts *o, api_body *b) {
    bool csv = !strcmp(o->format, "csv");
    const char *const path[] = {"v1", "tenants", o->tenant, "usage", NULL};
    const api_param query[] = {{"from", o->from},
                               {"to", o->to},
                               {"granularity", o->granularity},
                               {"group_by", o->group_by},
                               {"format", csv ? "csv" : NULL},
                               {NULL, NULL}};
    const api_request req = {.path = path,
                             .query = query,
                             .accept = csv ? "text/csv" : "application/json",
                             .too_big_hint = "narrow the window"};
    return tally__api_get(&o->conn, &req, b);
}

/* The text to print for a 2xx body (caller frees), or NULL after saying why. */
static char *render(const report_opts *o, const api_body *b) {
    if (!strcmp(o->format, "csv")) return strdup(b->data ? b->data : "");
    json_t *doc = tally__api_body_json(&o->conn, b);
    if (!doc) return NULL;
    char *text = NULL;
    if (!strcmp(o->format, "json")) {
        text = tally__api_json_text(&o->conn, doc);
    } else {
        tally_err err = {0};
        text = tally_report_table(doc, &err);
        if (!text) fprintf(stderr, "tally report: %s\n", err.msg);
    }
    json_decref(doc);
    return text;
}

static bool one_of(const char *s, const char *const *allowed) {
    for (; *allowed; allowed++)
        if (!strcmp(s, *allowed)) return true;
    return false;
}

/* Fill o from the arguments. Returns -1 to go on, else the exit code. */
static int parse_args(int argc, char **argv, report_opts *o) {
    enum { O_FROM = 256, O_TO };
    static const struct option opts[] = {{"from", required_argument, 0, O_FROM},
                                         {"to", required_argument, 0, O_TO},
                                         {"granularity", required_argument, 0, 'g'},
                                         {"group-by", required_argument, 0, 'G'},
                                         {"format", required_argument, 0, 'f'},
                                         {"output", required_argument, 0, 'o'},
                                         API_CONN_LONG_OPTIONS,
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    static const char *const granularities[] = {"total", "day", "week", "month", NULL};
    static const char *const formats[] = {"table", "csv", "json", NULL};
    int c, rc;
    optind = 1;
    while ((c = getopt_long(argc, argv, "g:G:f:o:h", opts, NULL)) != -1) {
        switch (c) {
        case O_FROM: o->from = optarg; break;
        case O_TO: o->to = optarg; break;
        case 'g': o->granularity = optarg; break;
        case 'G': o->group_by = optarg; break;
        case 'f': o->format = optarg; break;
        case 'o': o->output = optarg; break;
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
        fprintf(stderr, "tally report: give exactly one TENANT id\n\n");
        usage(stderr);
        return 2;
    }
    o->tenant = argv[optind];
    if (o->granularity && !one_of(o->granularity, granularities)) {
        fprintf(stderr, "tally report: --granularity: one of total, day, week, month\n");
        return 2;
    }
    if (!one_of(o->format, formats)) {
        fprintf(stderr, "tally report: --format: one of table, csv, json\n");
        return 2;
    }
    return tally__api_conn_check(&o->conn);
}

int tally_cmd_report(int argc, char **argv) {
    report_opts o = {.format = "table"};
    tally__api_conn_defaults(&o.conn, "report");
    int rc = parse_args(argc, argv, &o);
    if (rc < 0) {
        api_body body = {0};
        rc = fetch(&o, &body);
        if (rc == 0) {
            char *text = render(&o, &body);
            rc = text ? tally__write_text("report", o.output, text) : 1;
            free(text);
        }
        tally__api_body_free(&body);
    }
    tally__api_conn_free(&o.conn);
    return rc;
}
