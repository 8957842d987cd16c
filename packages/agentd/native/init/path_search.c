#include "path_search.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEFAULT_PATH "/usr/local/bin:/usr/bin:/bin"

static const char *env_path(char *const *envp)
{
	for (; envp && *envp; envp++)
		if (strncmp(*envp, "PATH=", 5) == 0)
			return *envp + 5;
	return DEFAULT_PATH;
}

int path_search(const char *name, char *const *envp, const char *cwd, char **out)
{
	*out = NULL;
	if (strchr(name, '/')) {
		*out = strdup(name);
		return *out ? 0 : ENOMEM;
	}
	const char *path = env_path(envp);
	size_t name_len = strlen(name);
	size_t cwd_len = strlen(cwd);
	int err = ENOENT;
	const char *p = path;
	for (;;) {
		const char *end = strchr(p, ':');
		size_t dlen = end ? (size_t)(end - p) : strlen(p);
		/* An empty entry means the current directory; relative entries are taken from the exec's cwd. */
		const char *dir = dlen ? p : ".";
		if (!dlen)
			dlen = 1;
		/* The program runs after the chdir to cwd: check cwd/dir/name, run dir/name. */
		bool relative = dir[0] != '/' && cwd_len > 0;
		size_t total = (relative ? cwd_len + 1 : 0) + dlen + 1 + name_len + 1;
		char *check = malloc(total);
		if (!check)
			return ENOMEM;
		size_t at = 0;
		if (relative) {
			memcpy(check, cwd, cwd_len);
			check[cwd_len] = '/';
			at = cwd_len + 1;
		}
		char *cand = check + at;
		memcpy(check + at, dir, dlen);
		at += dlen;
		check[at++] = '/';
		memcpy(check + at, name, name_len + 1);
		struct stat st;
		if (stat(check, &st) == 0 && S_ISREG(st.st_mode)) {
			if (access(check, X_OK) == 0) {
				if (cand != check)
					memmove(check, cand, strlen(cand) + 1);
				*out = check;
				return 0;
			}
			err = EACCES; /* like execvp: remember, keep looking */
		}
		free(check);
		if (!end)
			break;
		p = end + 1;
	}
	return err;
}
