/* A minimal TAP producer for the C unit tests. */
#ifndef G2T_CHECK_H
#define G2T_CHECK_H

#include <stdio.h>

static int check_count, check_failed;

#define CHECK(cond, ...) do { \
	int ok_ = !!(cond); \
	printf("%sok %d - ", ok_ ? "" : "not ", ++check_count); \
	printf(__VA_ARGS__); \
	if (!ok_) { \
		printf(" (%s:%d: %s)", __FILE__, __LINE__, #cond); \
		check_failed++; \
	} \
	putchar('\n'); \
} while (0)

static inline int check_done(void)
{
	printf("1..%d\n", check_count);
	return check_failed != 0;
}

#endif
