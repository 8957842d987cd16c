/* PATH search for EXEC's argv[0], done in the exec's own environment. */
#ifndef AGENTD_PATH_SEARCH_H
#define AGENTD_PATH_SEARCH_H

/*
 * Finds the program to run. `envp` is the exec's environment, `cwd` its working directory
 * ("" = the init's). On success returns 0 and sets *out to a heap string (free it);
 * otherwise returns ENOENT, EACCES or ENOMEM.
 */
int path_search(const char *name, char *const *envp, const char *cwd, char **out);

#endif
