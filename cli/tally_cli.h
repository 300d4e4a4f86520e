/*
 * tally_cli — the subcommands of `tally`, one file each (cmd_<name>.c).
 * Each takes the arguments after its own name (argv[0] is the subcommand
 * name) and returns the process exit code. tally_main.c dispatches.
 */
#ifndef TALLY_CLI_H
#define TALLY_CLI_H

int tally_cmd_generate(int argc, char **argv);
int tally_cmd_produce(int argc, char **argv);
int tally_cmd_migrate(int argc, char **argv);
int tally_cmd_report(int argc, char **argv);
int tally_cmd_limits(int argc, char **argv);
int tally_cmd_dlq(int argc, char **argv);
int tally_cmd_retain(int argc, char **argv);
int tally_cmd_lifecycle(int argc, char **argv);

#endif
