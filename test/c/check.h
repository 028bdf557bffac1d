/*-------------------------------------------------------------------------
 *
 * check.h
 *	  The check framework and arena allocator of the C unit tests.
 *
 * Shared by test_stream.c and test_substream.c, each of which includes it
 * once: every check is counted in n_checks, each failure is reported with
 * its file and line and counted in n_failed, and the test's main() prints
 * the summary.  Arena is a ZcAllocFn argument that remembers every block
 * the decoder allocates, for arena_free().
 *
 * test/c/check.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef ZCIMPORT_TEST_CHECK_H
#define ZCIMPORT_TEST_CHECK_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static int	n_checks;
static int	n_failed;

/* Count a check; report it if it failed. */
static bool
check_at(bool ok, const char *file, int line, const char *fmt,...)
{
	va_list		ap;

	n_checks++;
	if (ok)
		return true;
	n_failed++;
	fprintf(stderr, "%s:%d: check failed: ", file, line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return false;
}

#define CHECK(cond) check_at((cond), __FILE__, __LINE__, "%s", #cond)
#define CHECKF(cond, ...) check_at((cond), __FILE__, __LINE__, __VA_ARGS__)
#define CHECK_EQ(a, b) \
	check_at((uint64_t) (a) == (uint64_t) (b), __FILE__, __LINE__, \
			 "%s == %s (%llu != %llu)", #a, #b, \
			 (unsigned long long) (a), (unsigned long long) (b))

/* The blocks an arena_alloc() has handed out. */
typedef struct Arena
{
	void	  **ptrs;
	size_t		n;
	size_t		cap;
} Arena;

/* ZcAllocFn that remembers every block for arena_free(); aborts on failure. */
static void *
arena_alloc(void *arg, size_t size)
{
	Arena	   *a = arg;
	void	   *p;

	if (a->n == a->cap)
	{
		a->cap = a->cap ? a->cap * 2 : 8;
		a->ptrs = realloc(a->ptrs, a->cap * sizeof(void *));
		if (a->ptrs == NULL)
			abort();
	}
	p = malloc(size ? size : 1);
	if (p == NULL)
		abort();
	a->ptrs[a->n++] = p;
	return p;
}

/* Free every block of the arena. */
static void
arena_free(Arena *a)
{
	size_t		i;

	for (i = 0; i < a->n; i++)
		free(a->ptrs[i]);
	free(a->ptrs);
	a->ptrs = NULL;
	a->n = a->cap = 0;
}

#endif							/* ZCIMPORT_TEST_CHECK_H */
