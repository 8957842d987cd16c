/* Wire constants of the agentd-init protocol (docs/protocol.md, version 4). */
#ifndef AGENTD_PROTO_H
#define AGENTD_PROTO_H

#define PROTOCOL_VERSION 4u
#define AGENTD_INIT_VERSION "agentd-init 0.1.0"

#define MAX_CHUNK (1024u * 1024u)
#define MAX_FRAME (MAX_CHUNK + 64u)
#define MAX_LIST_ITEMS 4096u
#define HEADER_BYTES 9u /* len(4) + type(1) + id(4) */

/* daemon -> init */
enum {
	MSG_PING = 0x01,
	MSG_EXEC = 0x02,
	MSG_STDIN = 0x03,
	MSG_CREDIT = 0x04,
	MSG_SIGNAL = 0x05,
	MSG_SHUTDOWN = 0x06,
	MSG_RESIZE = 0x07, /* version 4: a PTY exec's window size */
	MSG_FS_READ = 0x10,
	MSG_FS_WRITE = 0x11,
	MSG_FS_STAT = 0x12,
	MSG_FS_LIST = 0x13,
	MSG_FS_MKDIR = 0x14,
	MSG_FS_REMOVE = 0x15,
	MSG_FS_RENAME = 0x16,
	MSG_WATCH = 0x17,        /* version 4: directory watches (watch.c) */
	MSG_UNWATCH = 0x18,
	MSG_WATCH_CREDIT = 0x19,
};

/* init -> daemon */
enum {
	MSG_READY = 0x80,
	MSG_PONG = 0x81,
	MSG_OK = 0x82,
	MSG_ERROR = 0x83,
	MSG_STARTED = 0x84,
	MSG_STDOUT = 0x85,
	MSG_STDERR = 0x86,
	MSG_EXIT = 0x87,
	MSG_FS_DATA = 0x90,
	MSG_FS_WRITTEN = 0x91,
	MSG_FS_STAT_RESULT = 0x92,
	MSG_FS_LIST_RESULT = 0x93,
	MSG_WATCH_EVENT = 0x94,
	MSG_WATCH_END = 0x95,
};

#define EXEC_STDIN_PIPE 1u
#define EXEC_MERGE_STDERR 2u
#define EXEC_PTY 16u /* version 4: the process runs on a new pseudo-terminal (pty.c) */
#define EXEC_FLAGS_ALL (EXEC_STDIN_PIPE | EXEC_MERGE_STDERR | EXEC_PTY)
/* Largest PTY rows / cols (struct winsize holds unsigned shorts). */
#define MAX_PTY_DIM 65535u

#define WRITE_APPEND 1u
#define WRITE_CREATE_DIRS 2u
#define WRITE_EXCLUSIVE 4u
#define WRITE_FLAGS_ALL (WRITE_APPEND | WRITE_CREATE_DIRS | WRITE_EXCLUSIVE)

#define STREAM_STDOUT 1u
#define STREAM_STDERR 2u

#define SCOPE_LEADER 0u
#define SCOPE_GROUP 1u
#define SCOPE_TREE 2u

#define KIND_FILE 1u
#define KIND_DIR 2u
#define KIND_SYMLINK 3u
#define KIND_OTHER 4u

#define DEFAULT_WINDOW MAX_CHUNK

/* Directory watches: event kinds, and the bounds of docs/protocol.md. */
enum {
	WEV_CREATE = 1,
	WEV_WRITE = 2,
	WEV_REMOVE = 3,
	WEV_RENAME = 4,
	WEV_CHMOD = 5,
	WEV_OVERFLOW = 6,
	WEV_UNWATCHED = 7,
};
#define MAX_WATCHES 16u            /* concurrent WATCHes per init */
#define MAX_WATCH_DIRS 8192u        /* inotify watches (directories) of all of them together */
#define MAX_WATCH_QUEUE 4096u       /* events queued per watch before they are counted as lost */
#define DEFAULT_WATCH_WINDOW 1024u  /* initial event credit when WATCH asks for 0 */
#define MAX_WATCH_BATCH 256u        /* events per WATCH_EVENT frame */
/* Highest EXEC nice increment, and the highest nice value on Linux. */
#define MAX_NICE 19

#endif
