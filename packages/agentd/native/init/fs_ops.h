/* The FS_* requests. Each reads its payload from `r` and sends exactly one answer. */
#ifndef AGENTD_FS_OPS_H
#define AGENTD_FS_OPS_H

#include <stdint.h>
#include <sys/stat.h>

#include "agent.h"
#include "wire.h"

void fs_handle_read(struct agent *a, uint32_t id, struct rd *r);
void fs_handle_write(struct agent *a, uint32_t id, struct rd *r);
void fs_handle_stat(struct agent *a, uint32_t id, struct rd *r);
void fs_handle_list(struct agent *a, uint32_t id, struct rd *r);
void fs_handle_mkdir(struct agent *a, uint32_t id, struct rd *r);
void fs_handle_remove(struct agent *a, uint32_t id, struct rd *r);
void fs_handle_rename(struct agent *a, uint32_t id, struct rd *r);

/* Shared helpers. */
uint8_t fs_kind(mode_t mode);
int64_t fs_mtime_ms(const struct stat *st);
/* `mkdir -p` of `path` beneath the root; intermediate directories get 0755. Returns 0 or an errno. */
int fs_mkdir_parents(const struct agent *a, const char *path, unsigned mode);

#endif
