#ifndef AGENTD_SECCOMP_FILE_H
#define AGENTD_SECCOMP_FILE_H

/* Installs the classic BPF seccomp filter stored in PATH (after no_new_privs). 0, or -1 with a message on stderr. */
int seccomp_file_load(const char *path);

#endif
