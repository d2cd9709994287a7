/* cli/cmd_records.h — the record commands of keyward (cmd_records.c). */
#ifndef KEYWARD_CLI_CMD_RECORDS_H
#define KEYWARD_CLI_CMD_RECORDS_H

int cmd_put_main(int argc, char **argv);
int cmd_get_main(int argc, char **argv);
int cmd_ls_main(int argc, char **argv);
int cmd_rm_main(int argc, char **argv);
int cmd_backup_main(int argc, char **argv);
int cmd_restore_main(int argc, char **argv);

#endif
