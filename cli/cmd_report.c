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

#define FILTERS_MAX 5 /* one per group dimension */

typedef struct {
    const char *tenant, *from, *to, *granularity, *group_by, *format, *output;
    char filter_name[FILTERS_MAX][48]; /* "filter[model]" */
    const char *filter_values[FILTERS_MAX];
    int n_filters;
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
          "  -g, --granularity G     total (default) | hour | day | week | month\n"
          "  -G, --group-by LIST     comma list of model, user, agent, kind, channel\n"
          "      --filter DIM=LIST   only these values of a dimension (model, user, agent,\n"
          "                          kind, channel), comma-separated; repeat for more\n"
          "                          dimensions (values OR'ed, dimensions AND'ed)\n"
          "  -f, --format F          table (default) | csv | json\n"
          "  -o, --output FILE       write there instead of stdout (only on success)\n",
          out);
    fputs(tally__api_conn_help, out);
    fputs("  -h, --help              this text\n\n"
          "Exit status: 0 printed; 1 the API answered an error or could not be reached;\n"
          "2 bad usage.\n",
          out);
}

/* The text to print for a 2xx body (caller frees), or NULL after saying why. */
static char *render(const void *arg, const api_body *b) {
    const report_opts *o = arg;
    if (!strcmp(o->format, "csv")) return strdup(b->data ? b->data : "");
    return tally__api_render_json(&o->conn, b, !strcmp(o->format, "json"), tally_report_table);
}

static bool one_of(const char *s, const char *const *allowed) {
    for (; *allowed; allowed++)
        if (!strcmp(s, *allowed)) return true;
    return false;
}

/* --filter DIM=LIST into the query parameter filter[DIM]=LIST; the API
 * judges the dimension and the values (and names what it refuses). */
static bool add_filter(report_opts *o, const char *arg) {
    const char *eq = strchr(arg, '=');
    size_t dim = eq ? (size_t)(eq - arg) : 0;
    if (!eq || dim == 0 || dim > 32 || !eq[1]) {
        fprintf(stderr, "tally report: --filter: expected DIM=VALUE[,VALUE...], got '%s'\n", arg);
        return false;
    }
    if (o->n_filters == FILTERS_MAX) {
        fprintf(stderr, "tally report: --filter: at most %d\n", FILTERS_MAX);
        return false;
    }
    snprintf(o->filter_name[o->n_filters], sizeof o->filter_name[0], "filter[%.*s]", (int)dim, arg);
    o->filter_values[o->n_filters++] = eq + 1;
    return true;
}

/* Fill o from the arguments. Returns -1 to go on, else the exit code. */
static int parse_args(int argc, char **argv, report_opts *o) {
    enum { O_FROM = 256, O_TO, O_FILTER };
    static const struct option opts[] = {{"from", required_argument, 0, O_FROM},
                                         {"to", required_argument, 0, O_TO},
                                         {"filter", required_argument, 0, O_FILTER},
                                         {"granularity", required_argument, 0, 'g'},
                                         {"group-by", required_argument, 0, 'G'},
                                         {"format", required_argument, 0, 'f'},
                                         {"output", required_argument, 0, 'o'},
                                         API_CONN_LONG_OPTIONS,
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    static const char *const granularities[] = {"total", "hour", "day", "week", "month", NULL};
    static const char *const formats[] = {"table", "csv", "json", NULL};
    int c, rc;
    optind = 1;
    while ((c = getopt_long(argc, argv, "g:G:f:o:h", opts, NULL)) != -1) {
        switch (c) {
        case O_FROM: o->from = optarg; break;
        case O_TO: o->to = optarg; break;
        case O_FILTER:
            if (!add_filter(o, optarg)) return 2;
            break;
        case 'g': o->granularity = optarg; break;
        case 'G': o->group_by = optarg; break;
        case 'f': o->format = optarg; break;
        case 'o': o->output = optarg; break;
        case 'h': usage(stdout); return 0;
        default:
            rc = tally__api_conn_other_option(&o->conn, c, optarg, usage);
            if (rc != -1) return rc;
        }
    }
    o->tenant = tally__api_tenant_operand(&o->conn, argc, argv, usage);
    if (!o->tenant) return 2;
    if (o->granularity && !one_of(o->granularity, granularities)) {
        fprintf(stderr, "tally report: --granularity: one of total, hour, day, week, month\n");
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
        bool csv = !strcmp(o.format, "csv");
        const char *const path[] = {"v1", "tenants", o.tenant, "usage", NULL};
        api_param query[6 + FILTERS_MAX] = {{"from", o.from},
                                            {"to", o.to},
                                            {"granularity", o.granularity},
                                            {"group_by", o.group_by},
                                            {"format", csv ? "csv" : NULL}};
        for (int i = 0; i < o.n_filters; i++)
            query[5 + i] = (api_param){o.filter_name[i], o.filter_values[i]};
        const api_request req = {.path = path,
                                 .query = query,
                                 .accept = csv ? "text/csv" : "application/json",
                                 .too_big_hint = "narrow the window"};
        rc = tally__api_fetch_print(&o.conn, &req, render, &o, o.output);
    }
    tally__api_conn_free(&o.conn);
    return rc;
}
