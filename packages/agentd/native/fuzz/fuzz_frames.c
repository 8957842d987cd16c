/*
 * libFuzzer harness for the agentd-init frame decoder and dispatcher.
 *
 * Each input is fed as daemon -> init stream bytes, split into pieces whose size comes
 * from the first input byte (so partial headers and bodies are exercised). The agent runs
 * in dry mode: EXEC and SIGNAL are parsed and validated but never start or signal
 * anything, SHUTDOWN does not exit. File operations are real, confined by openat2 to a
 * fresh temporary root. Every answer frame is checked for well-formed framing.
 *
 *   make -C packages/agentd/native fuzz
 *   build/fuzz-frames -max_total_time=120 fuzz/corpus
 */
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"
#include "proto.h"
#include "wire.h"

struct harness {
	char root[64];
	unsigned long runs;
};

static struct harness H;

static void check(int cond, const char *what)
{
	if (!cond) {
		fprintf(stderr, "fuzz_frames: bad output frame: %s\n", what);
		__builtin_trap();
	}
}

/* Verifies one answer frame: length, type, and the exact shape of ERROR payloads. */
static int checking_sink(void *arg, const struct iovec *iov, int iovcnt)
{
	(void)arg;
	check(iovcnt >= 1 && iov[0].iov_len == HEADER_BYTES, "header iovec");
	size_t total = 0;
	for (int i = 0; i < iovcnt; i++)
		total += iov[i].iov_len;
	const uint8_t *hdr = iov[0].iov_base;
	uint32_t len = get_le32(hdr);
	check(len == total - 4, "len field does not match the frame");
	check(len >= 5 && len <= MAX_FRAME, "len out of range");
	uint8_t type = hdr[4];
	check(type >= MSG_READY && type <= MSG_FS_LIST_RESULT, "type not an init message");
	if (type == MSG_ERROR) {
		uint8_t buf[8 + 512];
		size_t at = 0;
		for (int i = 1; i < iovcnt; i++) {
			check(at + iov[i].iov_len <= sizeof buf, "error frame too long");
			memcpy(buf + at, iov[i].iov_base, iov[i].iov_len);
			at += iov[i].iov_len;
		}
		struct rd r;
		rd_init(&r, buf, at);
		int32_t err = rd_i32(&r);
		struct rstr msg = rd_str(&r);
		check(rd_finish(&r), "malformed ERROR payload");
		check(err > 0 && err < 4096, "ERROR errno out of range");
		check(msg.n > 0, "empty ERROR message");
	}
	return 0;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	if (ftw->level > 0)
		remove(path);
	return 0;
}

static void remove_root(void)
{
	nftw(H.root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	rmdir(H.root);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!H.root[0]) {
		strcpy(H.root, "/tmp/agentd-fuzz-XXXXXX");
		if (!mkdtemp(H.root))
			abort();
		atexit(remove_root);
	}
	if (++H.runs % 512 == 0)
		nftw(H.root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	if (size == 0)
		return 0;
	struct agent_options opt = { .fs_root = H.root, .dry = true };
	struct agent a;
	if (agent_init(&a, &opt, checking_sink, NULL) != 0)
		abort();
	size_t piece = data[0] < 128 ? size : (size_t)(data[0] & 15) + 1;
	data++;
	size--;
	for (size_t at = 0; at < size;) {
		size_t n = size - at < piece ? size - at : piece;
		if (!agent_feed(&a, data + at, n))
			break;
		at += n;
	}
	agent_free(&a);
	return 0;
}
