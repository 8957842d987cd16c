#include "wire.h"

#include <stdlib.h>
#include <string.h>

#include "proto.h"

void put_le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

void put_le64(uint8_t *p, uint64_t v)
{
	put_le32(p, (uint32_t)v);
	put_le32(p + 4, (uint32_t)(v >> 32));
}

uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

void rd_init(struct rd *r, const uint8_t *p, size_t len)
{
	r->p = p;
	r->len = len;
	r->pos = 0;
	r->err = NULL;
}

void rd_fail(struct rd *r, const char *msg)
{
	if (!r->err)
		r->err = msg;
}

/* Returns a pointer to the next n bytes and advances, or NULL (and fails) if fewer remain. */
static const uint8_t *take(struct rd *r, size_t n)
{
	if (r->err)
		return NULL;
	if (n > r->len - r->pos) {
		rd_fail(r, "payload too short");
		return NULL;
	}
	const uint8_t *at = r->p + r->pos;
	r->pos += n;
	return at;
}

uint8_t rd_u8(struct rd *r)
{
	const uint8_t *b = take(r, 1);
	return b ? b[0] : 0;
}

uint32_t rd_u32(struct rd *r)
{
	const uint8_t *b = take(r, 4);
	return b ? get_le32(b) : 0;
}

int32_t rd_i32(struct rd *r)
{
	return (int32_t)rd_u32(r);
}

uint64_t rd_u64(struct rd *r)
{
	const uint8_t *b = take(r, 8);
	return b ? (uint64_t)get_le32(b) | (uint64_t)get_le32(b + 4) << 32 : 0;
}

struct rstr rd_bytes(struct rd *r)
{
	struct rstr s = { NULL, 0 };
	uint32_t n = rd_u32(r);
	const uint8_t *b = take(r, n);
	if (b) {
		s.p = b;
		s.n = n;
	}
	return s;
}

struct rstr rd_str(struct rd *r)
{
	struct rstr s = rd_bytes(r);
	if (s.n && memchr(s.p, 0, s.n)) {
		rd_fail(r, "string contains a NUL byte");
		s.p = NULL;
		s.n = 0;
	}
	return s;
}

char *rstr_dup(struct rstr s)
{
	char *c = malloc((size_t)s.n + 1);
	if (!c)
		return NULL;
	if (s.n)
		memcpy(c, s.p, s.n);
	c[s.n] = 0;
	return c;
}

struct rstrlist rd_strlist(struct rd *r)
{
	struct rstrlist l = { NULL, 0 };
	uint32_t count = rd_u32(r);
	if (r->err)
		return l;
	if (count > MAX_LIST_ITEMS) {
		rd_fail(r, "too many list items");
		return l;
	}
	/* Each item takes at least 4 bytes: refuse before allocating for a count the payload cannot hold. */
	if ((size_t)count * 4 > r->len - r->pos) {
		rd_fail(r, "payload too short");
		return l;
	}
	l.items = calloc((size_t)count + 1, sizeof(char *));
	if (!l.items) {
		rd_fail(r, "out of memory");
		return l;
	}
	for (uint32_t i = 0; i < count; i++) {
		struct rstr s = rd_str(r);
		if (r->err)
			break;
		l.items[i] = rstr_dup(s);
		if (!l.items[i]) {
			rd_fail(r, "out of memory");
			break;
		}
		l.count = i + 1;
	}
	return l;
}

void rstrlist_free(struct rstrlist *l)
{
	if (l->items) {
		for (uint32_t i = 0; i < l->count; i++)
			free(l->items[i]);
		free(l->items);
	}
	l->items = NULL;
	l->count = 0;
}

bool rd_flag(struct rd *r)
{
	uint8_t v = rd_u8(r);
	if (v > 1)
		rd_fail(r, "flag must be 0 or 1");
	return v == 1;
}

bool rd_finish(struct rd *r)
{
	if (!r->err && r->pos != r->len)
		rd_fail(r, "trailing bytes after payload");
	return r->err == NULL;
}

void wb_init(struct wbuf *w)
{
	w->p = NULL;
	w->len = 0;
	w->cap = 0;
	w->oom = false;
}

void wb_free(struct wbuf *w)
{
	free(w->p);
	wb_init(w);
}

static uint8_t *grow(struct wbuf *w, size_t n)
{
	if (w->oom)
		return NULL;
	if (n > w->cap - w->len) {
		size_t cap = w->cap ? w->cap : 256;
		while (cap - w->len < n)
			cap *= 2;
		uint8_t *p = realloc(w->p, cap);
		if (!p) {
			w->oom = true;
			return NULL;
		}
		w->p = p;
		w->cap = cap;
	}
	uint8_t *at = w->p + w->len;
	w->len += n;
	return at;
}

void wb_raw(struct wbuf *w, const void *p, size_t n)
{
	uint8_t *at = grow(w, n);
	if (at && n)
		memcpy(at, p, n);
}

void wb_u8(struct wbuf *w, uint8_t v)
{
	wb_raw(w, &v, 1);
}

void wb_u32(struct wbuf *w, uint32_t v)
{
	uint8_t *at = grow(w, 4);
	if (at)
		put_le32(at, v);
}

void wb_i32(struct wbuf *w, int32_t v)
{
	wb_u32(w, (uint32_t)v);
}

void wb_u64(struct wbuf *w, uint64_t v)
{
	uint8_t *at = grow(w, 8);
	if (at)
		put_le64(at, v);
}

void wb_i64(struct wbuf *w, int64_t v)
{
	wb_u64(w, (uint64_t)v);
}

void wb_str(struct wbuf *w, const void *p, size_t n)
{
	wb_u32(w, (uint32_t)n);
	wb_raw(w, p, n);
}
