/* WATCH, UNWATCH, WATCH_CREDIT: directory watches with inotify (docs/protocol.md, "Directory watches"). */
#ifndef AGENTD_WATCH_H
#define AGENTD_WATCH_H

#include <stdbool.h>
#include <stdint.h>

#include "agent.h"
#include "wire.h"

void watch_handle_watch(struct agent *a, uint32_t id, struct rd *r);
void watch_handle_unwatch(struct agent *a, uint32_t id, struct rd *r);
void watch_handle_credit(struct agent *a, uint32_t id, struct rd *r);

/* Whether request id `id` names a live watch (its id stays in use until WATCH_END). */
bool watch_id_in_use(const struct agent *a, uint32_t id);

/* The inotify fd the loop should poll for watch i, or -1 (its queue is full, or it is ending). */
int watch_poll_fd(const struct agent *a, size_t i);
uint32_t watch_id_at(const struct agent *a, size_t i);
/* The inotify fd of watch `id` became readable (the watch may end and be freed). */
void watch_on_readable(struct agent *a, uint32_t id);

/* Frees every watch without sending anything (at exit). */
void watch_free_all(struct agent *a);

#endif
