/*
 * The subcommands of `tally`. Each takes the arguments after its own name
 * (argv[0] is the subcommand name) and returns the process exit code.
 */
#ifndef TALLY_COMMANDS_H
#define TALLY_COMMANDS_H

int tally_cmd_generate(int argc, char **argv); /* ingest/generate_cmd.c */
int tally_cmd_produce(int argc, char **argv);  /* ingest/produce_cmd.c */
int tally_cmd_migrate(int argc, char **argv);  /* relational/migrate_cmd.c */
int tally_cmd_report(int argc, char **argv);   /* analytics/report_cmd.c */

#endif
