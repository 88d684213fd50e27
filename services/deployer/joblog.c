/*
 * joblog: every job's whole output in a file of its own (see joblog.h).
 */
#include "joblog.h"
#include "hb_log.h"
#include "hb_util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CUT_LINE "\n[the rest of this job's output is not kept: its log " \
    "reached 1 MiB]\n"

void
joblog_dir(const char *journal_path, char *out, size_t outlen)
{
	const char *slash = strrchr(journal_path, '/');

	if (slash == NULL)
		snprintf(out, outlen, "deploy-logs");
	else
		snprintf(out, outlen, "%.*s/deploy-logs", (int)(slash - journal_path),
		    journal_path);
}

static void
log_path(const char *dir, int64_t seq, char *out, size_t outlen)
{
	snprintf(out, outlen, "%s/%lld.log", dir, (long long)seq);
}

static int
write_all(int fd, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int
joblog_append(const char *dir, int64_t seq, const char *text, size_t len)
{
	char path[PATH_MAX];
	struct stat sb;
	size_t room, keep;
	int fd, rc = 0;

	log_path(dir, seq, path, sizeof(path));
	if (hb_mkdirs(dir) != 0 ||
	    (fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640)) < 0) {
		hb_warn("job log %s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &sb) != 0) {
		close(fd);
		return -1;
	}
	/* the cut line fits inside the cap: a full log is exactly at it */
	room = (size_t)sb.st_size < JOBLOG_MAX - strlen(CUT_LINE) ?
	    JOBLOG_MAX - strlen(CUT_LINE) - (size_t)sb.st_size : 0;
	if (room > 0) {
		keep = len < room ? len : room;
		rc = write_all(fd, text, keep);
		if (rc == 0 && keep < len)
			rc = write_all(fd, CUT_LINE, strlen(CUT_LINE));
	}
	if (rc != 0)
		hb_warn("job log %s: %s", path, strerror(errno));
	close(fd);
	return rc;
}

int
joblog_prune(const char *dir, int64_t newest_seq, int keep)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int removed = 0;

	if (d == NULL)
		return 0;
	while ((e = readdir(d)) != NULL) {
		char path[PATH_MAX], *end;
		long long seq;

		errno = 0;
		seq = strtoll(e->d_name, &end, 10);
		if (errno != 0 || end == e->d_name || strcmp(end, ".log") != 0 ||
		    seq > newest_seq - keep)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (unlink(path) == 0)
			removed++;
	}
	closedir(d);
	return removed;
}

char *
joblog_read(const char *dir, int64_t seq, size_t *len)
{
	char path[PATH_MAX];

	log_path(dir, seq, path, sizeof(path));
	return hb_read_file(path, JOBLOG_MAX + 1, len);
}
