/* libFuzzer: the hosted stream reader, merge and model loading. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "g2t.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct g2t_merge *m = g2t_merge_new();
	struct g2t_model *model = NULL;
	struct g2t_diag d;
	const char *bad;
	char path[64];
	int fd = memfd_create("fuzz", 0);

	if (fd < 0 || write(fd, data, size) != (ssize_t)size) {
		if (fd >= 0)
			close(fd);
		g2t_merge_free(m);
		return 0;
	}
	snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	if (g2t_merge_add(m, path, &d) == G2T_OK && g2t_merge_build(m, &bad, &d) == G2T_OK) {
		char names[256];
		g2t_merge_missing(m, names, sizeof names);
	}
	if (g2t_model_load(&model, path, &d) == G2T_OK)
		g2t_model_free(model);
	g2t_merge_free(m);
	close(fd);
	return 0;
}
