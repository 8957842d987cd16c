/*
 * Bounds-checked payload reader and a growable payload writer.
 * The reader never reads past its buffer: every field read checks the remaining length
 * first, and the first failure sticks (later reads return zeroes), so a handler can read
 * all its fields and check `rd_ok` once at the end.
 */
#ifndef AGENTD_WIRE_H
#define AGENTD_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct rd {
	const uint8_t *p;
	size_t len;
	size_t pos;
	const char *err; /* NULL while everything read so far was valid */
};

/* A string field: points into the payload; not NUL-terminated. */
struct rstr {
	const uint8_t *p;
	uint32_t n;
};

/* A list<str> field: heap array of NUL-terminated copies plus a NULL terminator (argv/envp shape). */
struct rstrlist {
	char **items;
	uint32_t count;
};

void rd_init(struct rd *r, const uint8_t *p, size_t len);
uint8_t rd_u8(struct rd *r);
uint32_t rd_u32(struct rd *r);
int32_t rd_i32(struct rd *r);
uint64_t rd_u64(struct rd *r);
/* `str`: rejects a NUL byte inside. */
struct rstr rd_str(struct rd *r);
/* `bytes`: anything. */
struct rstr rd_bytes(struct rd *r);
/* `list<str>`: at most MAX_LIST_ITEMS; allocates (free with rstrlist_free, also after a failure). */
struct rstrlist rd_strlist(struct rd *r);
/* A u8 that must be 0 or 1. */
bool rd_flag(struct rd *r);
/* Marks the payload invalid with `msg` unless it already is. */
void rd_fail(struct rd *r, const char *msg);
/* Checks that the whole payload was consumed; true if every read succeeded. */
bool rd_finish(struct rd *r);

void rstrlist_free(struct rstrlist *l);
/* Heap NUL-terminated copy of a string field (NULL on allocation failure). */
char *rstr_dup(struct rstr s);

struct wbuf {
	uint8_t *p;
	size_t len;
	size_t cap;
	bool oom;
};

void wb_init(struct wbuf *w);
void wb_free(struct wbuf *w);
void wb_u8(struct wbuf *w, uint8_t v);
void wb_u32(struct wbuf *w, uint32_t v);
void wb_i32(struct wbuf *w, int32_t v);
void wb_u64(struct wbuf *w, uint64_t v);
void wb_i64(struct wbuf *w, int64_t v);
void wb_raw(struct wbuf *w, const void *p, size_t n);
void wb_str(struct wbuf *w, const void *p, size_t n);

void put_le32(uint8_t *p, uint32_t v);
void put_le64(uint8_t *p, uint64_t v);
uint32_t get_le32(const uint8_t *p);

#endif
