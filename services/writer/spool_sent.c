/*
 * spool_sent: one 4 KiB block: a magic line, the count of ranges, then
 * the ranges, each two little-endian-as-the-host int64s. It is only ever
 * rewritten in place (pwrite at 0), which takes no new block on any file
 * system, so it works on the full disk that made it necessary.
 */
#include "spool_sent.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define BLOCK 4096
#define MAGIC "HBSENT1\n"

struct block {
	char magic[8];
	uint32_t n;
	uint32_t reserved;
	struct sent_range ranges[SENT_MAX_RANGES];
};

_Static_assert(sizeof(struct block) <= BLOCK, "the ranges fit one block");

static int
store(struct spool_sent *s)
{
	char buf[BLOCK];
	struct block *b = (struct block *)(void *)buf;

	if (s->fd < 0)
		return -1;
	memset(buf, 0, sizeof(buf));
	memcpy(b->magic, MAGIC, sizeof(b->magic));
	b->n = (uint32_t)s->n;
	memcpy(b->ranges, s->ranges, s->n * sizeof(s->ranges[0]));
	return pwrite(s->fd, buf, sizeof(buf), 0) == (ssize_t)sizeof(buf) ? 0 : -1;
}

void
sent_open(struct spool_sent *s, const char *spool_path, char *err,
    size_t errlen)
{
	char buf[BLOCK];
	struct block *b = (struct block *)(void *)buf;
	struct stat st;

	memset(s, 0, sizeof(*s));
	err[0] = '\0';
	snprintf(s->path, sizeof(s->path), "%s-sent", spool_path);
	s->fd = open(s->path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (s->fd < 0 || fstat(s->fd, &st) != 0)
		goto err;
	if (st.st_size >= BLOCK && pread(s->fd, buf, sizeof(buf), 0) == BLOCK &&
	    memcmp(b->magic, MAGIC, sizeof(b->magic)) == 0 &&
	    b->n <= SENT_MAX_RANGES) {
		s->n = b->n;
		memcpy(s->ranges, b->ranges, s->n * sizeof(s->ranges[0]));
		return;
	}
	/* new (or not ours): its one block is written now, while there is room */
	if (store(s) == 0 && fsync(s->fd) == 0)
		return;
err:
	snprintf(err, errlen, "cannot keep %s: %s", s->path, strerror(errno));
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	s->n = 0;
}

void
sent_close(struct spool_sent *s)
{
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
}

/* Joins range i with the next when they touch. */
static void
join_next(struct spool_sent *s, size_t i)
{
	if (i + 1 < s->n && s->ranges[i].hi + 1 >= s->ranges[i + 1].lo) {
		if (s->ranges[i + 1].hi > s->ranges[i].hi)
			s->ranges[i].hi = s->ranges[i + 1].hi;
		memmove(&s->ranges[i + 1], &s->ranges[i + 2],
		    (s->n - i - 2) * sizeof(s->ranges[0]));
		s->n--;
	}
}

int
sent_add(struct spool_sent *s, int64_t id)
{
	size_t i;

	if (s->fd < 0)
		return -1;
	for (i = 0; i < s->n && s->ranges[i].hi + 1 < id; i++)
		;
	if (i < s->n && id >= s->ranges[i].lo - 1) {
		/* in, or touching, range i */
		if (id < s->ranges[i].lo)
			s->ranges[i].lo = id;
		if (id > s->ranges[i].hi)
			s->ranges[i].hi = id;
		join_next(s, i);
		return store(s);
	}
	if (s->n == SENT_MAX_RANGES)
		return -1;
	memmove(&s->ranges[i + 1], &s->ranges[i], (s->n - i) * sizeof(s->ranges[0]));
	s->ranges[i].lo = s->ranges[i].hi = id;
	s->n++;
	return store(s);
}

void
sent_clear(struct spool_sent *s)
{
	if (s->n == 0)
		return;
	s->n = 0;
	s->full_told = false;
	store(s);
}
