#include "framer.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"
#include "wire.h"

enum { ST_HDR, ST_BODY, ST_DISCARD };

/* Frames up to this size keep their buffer between frames; bigger ones give it back. */
#define KEEP_BODY_BYTES (64u * 1024u)

void framer_init(struct framer *f)
{
	memset(f, 0, sizeof *f);
	f->state = ST_HDR;
}

void framer_free(struct framer *f)
{
	free(f->body);
	framer_init(f);
}

bool framer_mid_frame(const struct framer *f)
{
	return f->state != ST_HDR || f->hdr_have != 0;
}

static bool deliver(struct framer *f, const uint8_t *frame, size_t len, const struct frame_sink *sink)
{
	uint8_t type = frame[0];
	uint32_t id = get_le32(frame + 1);
	bool go_on = sink->on_frame(sink->arg, type, id, frame + 5, len - 5);
	if (!go_on)
		f->stopped = true;
	return go_on;
}

bool framer_feed(struct framer *f, const uint8_t *data, size_t n, const struct frame_sink *sink)
{
	size_t pos = 0;
	if (f->stopped)
		return false;
	while (pos < n) {
		size_t avail = n - pos;
		if (f->state == ST_HDR) {
			size_t take = 4 - f->hdr_have;
			if (take > avail)
				take = avail;
			memcpy(f->hdr + f->hdr_have, data + pos, take);
			f->hdr_have += take;
			pos += take;
			if (f->hdr_have < 4)
				break;
			f->hdr_have = 0;
			uint32_t len = get_le32(f->hdr);
			if (len < 5) {
				sink->on_bad(sink->arg, EPROTO, "frame too short");
				continue;
			}
			if (len > MAX_FRAME) {
				sink->on_bad(sink->arg, EMSGSIZE, "frame too large");
				f->discard = len;
				f->state = ST_DISCARD;
				continue;
			}
			f->len = len;
			if (n - pos >= len) {
				/* The whole frame is in this piece: no copy. */
				const uint8_t *frame = data + pos;
				pos += len;
				if (!deliver(f, frame, len, sink))
					return false;
				continue;
			}
			if (f->body_cap < len) {
				uint8_t *b = realloc(f->body, len);
				if (!b) {
					/* Cannot hold it: answer like an oversized frame rather than die. */
					sink->on_bad(sink->arg, ENOMEM, "no memory for frame");
					f->discard = len;
					f->state = ST_DISCARD;
					continue;
				}
				f->body = b;
				f->body_cap = len;
			}
			f->body_have = 0;
			f->state = ST_BODY;
		} else if (f->state == ST_BODY) {
			size_t take = f->len - f->body_have;
			if (take > avail)
				take = avail;
			memcpy(f->body + f->body_have, data + pos, take);
			f->body_have += take;
			pos += take;
			if (f->body_have < f->len)
				break;
			f->state = ST_HDR;
			bool go_on = deliver(f, f->body, f->len, sink);
			if (f->body_cap > KEEP_BODY_BYTES) {
				free(f->body);
				f->body = NULL;
				f->body_cap = 0;
			}
			if (!go_on)
				return false;
		} else {
			size_t take = avail;
			if ((uint64_t)take > f->discard)
				take = (size_t)f->discard;
			f->discard -= take;
			pos += take;
			if (f->discard == 0)
				f->state = ST_HDR;
		}
	}
	return true;
}
