/*
 * Incremental frame splitter for the daemon -> init byte stream.
 * Bytes arrive in arbitrary pieces; whole frames come out through `on_frame`.
 * A `len` below 5 or above MAX_FRAME goes to `on_bad` and is skipped without buffering
 * (an oversized frame's body is discarded as it arrives), so no input can make the
 * framer allocate more than MAX_FRAME bytes.
 */
#ifndef AGENTD_FRAMER_H
#define AGENTD_FRAMER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct frame_sink {
	/* Returns false to stop consuming input (after SHUTDOWN). */
	bool (*on_frame)(void *arg, uint8_t type, uint32_t id, const uint8_t *payload, size_t n);
	void (*on_bad)(void *arg, int err, const char *msg);
	void *arg;
};

struct framer {
	uint8_t hdr[4];
	size_t hdr_have;
	uint32_t len;       /* length of the frame being read (state BODY) */
	uint8_t *body;      /* type + id + payload of that frame */
	size_t body_cap;
	size_t body_have;
	uint64_t discard;   /* bytes of an oversized frame still to skip (state DISCARD) */
	int state;
	bool stopped;
};

void framer_init(struct framer *f);
void framer_free(struct framer *f);
/* Feeds bytes; returns false once a sink callback asked to stop. */
bool framer_feed(struct framer *f, const uint8_t *data, size_t n, const struct frame_sink *sink);
/* True if input ended inside a frame. */
bool framer_mid_frame(const struct framer *f);

#endif
