/* agentd-init: the first process of every sandbox (docs/protocol.md). */
#include "cli.h"

int main(int argc, char **argv)
{
	return cli_run(argc, argv);
}
