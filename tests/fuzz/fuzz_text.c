/* libFuzzer: the CSV/svmlight reader and the split that builds on it. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "g2t.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct g2t_split_opts o = { .text = { .delimiter = ',' }, .quantize = 32 };
	struct g2t_dataset *ds = NULL;
	struct g2t_diag d;
	char path[64];
	int fd = memfd_create("fuzz", 0);

	if (fd < 0 || write(fd, data, size) != (ssize_t)size) {
		if (fd >= 0)
			close(fd);
		return 0;
	}
	snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	g2t_params_default(&o.params);
	o.text.format = size ? data[0] % 3 : 0;
	if (g2t_dataset_load(&ds, path, &o, &d) == G2T_OK) {
		FILE *null = fopen("/dev/null", "wb");
		g2t_split_stream(ds, null);
		fclose(null);
	}
	g2t_dataset_free(ds);
	close(fd);
	return 0;
}
