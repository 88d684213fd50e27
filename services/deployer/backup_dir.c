/*
 * backup_dir: the backups folder as the loop thread sees it — the folders'
 * names, which are complete, retention, the newest of a tag, their sizes and
 * the free space (see backup.h). Quick calls; the copies themselves are
 * backup.c's worker's.
 */
#include "backup.h"
#include "hb_log.h"
#include "hb_msg.h"
#include "hb_util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#define MANIFEST "manifest.json"
#define TIME_LEN 16		/* "20261125T014532Z" */
#define MAX_FOLDERS 4096

/* "20261125T014532Z-<tag>": the tag, or NULL if name is not a backup folder. */
static const char *
name_tag(const char *name)
{
	if (strlen(name) < TIME_LEN + 2 || name[8] != 'T' ||
	    name[TIME_LEN - 1] != 'Z' || name[TIME_LEN] != '-')
		return NULL;
	for (int i = 0; i < TIME_LEN - 1; i++)
		if (i != 8 && (name[i] < '0' || name[i] > '9'))
			return NULL;
	return name + TIME_LEN + 1;
}

static bool
complete(const char *root, const char *name)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s/%s", root, name, MANIFEST);
	return access(path, F_OK) == 0;
}

static int
cmp_desc(const void *a, const void *b)
{
	return strcmp(*(char *const *)b, *(char *const *)a);
}

/* The backup folders under root, newest first (free each and the list). */
static size_t
list_folders(const char *root, char ***out)
{
	DIR *d = opendir(root);
	struct dirent *e;
	char **names = NULL;
	size_t n = 0;

	*out = NULL;
	if (d == NULL)
		return 0;
	while ((e = readdir(d)) != NULL && n < MAX_FOLDERS) {
		char path[PATH_MAX];
		struct stat sb;

		snprintf(path, sizeof(path), "%s/%s", root, e->d_name);
		if (name_tag(e->d_name) == NULL || lstat(path, &sb) != 0 ||
		    !S_ISDIR(sb.st_mode))
			continue;
		names = hb_xrealloc(names, (n + 1) * sizeof(*names));
		names[n++] = hb_xstrdup(e->d_name);
	}
	closedir(d);
	if (n > 0)
		qsort(names, n, sizeof(*names), cmp_desc);
	*out = names;
	return n;
}

static void
free_list(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

/* rm -r within a folder we made; symbolic links are removed, not followed. */
static int
remove_tree(int parent, const char *name)
{
	int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	DIR *d;
	struct dirent *e;

	if (fd < 0)
		return unlinkat(parent, name, 0);
	d = fdopendir(fd);
	if (d == NULL) {
		close(fd);
		return -1;
	}
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			remove_tree(dirfd(d), e->d_name);
	closedir(d);
	return unlinkat(parent, name, AT_REMOVEDIR);
}

/* When a backup folder was made, from its name (UTC); -1 if not one. */
static int64_t
name_time_ms(const char *name)
{
	struct tm tm;
	const char *end;

	memset(&tm, 0, sizeof(tm));
	if (name_tag(name) == NULL ||
	    (end = strptime(name, "%Y%m%dT%H%M%SZ", &tm)) == NULL || *end != '-')
		return -1;
	return (int64_t)timegm(&tm) * 1000;
}

int64_t
backup_time_ms(const char *name)
{
	return name_time_ms(name);
}

void
backup_newest(const char *root, char *out, size_t outlen)
{
	char **names;
	size_t n = list_folders(root, &names);

	out[0] = '\0';
	for (size_t i = 0; i < n; i++)
		if (complete(root, names[i])) {
			snprintf(out, outlen, "%s", names[i]);
			break;
		}
	free_list(names, n);
}

/* hour:minute of local time on the day `days` after now's. */
static time_t
day_at(time_t now, int days, int hour, int minute)
{
	struct tm tm;

	localtime_r(&now, &tm);
	tm.tm_mday += days;
	tm.tm_hour = hour;
	tm.tm_min = minute;
	tm.tm_sec = 0;
	tm.tm_isdst = -1;
	return mktime(&tm);
}

long
backup_next_at(int hour, int minute, time_t now)
{
	time_t at = day_at(now, 0, hour, minute);

	if (at <= now)
		at = day_at(now, 1, hour, minute);
	return (long)(at - now);
}

/* The most recent hour:minute of local time at or before now. */
static time_t
last_at(int hour, int minute, time_t now)
{
	time_t at = day_at(now, 0, hour, minute);

	return at > now ? day_at(now, -1, hour, minute) : at;
}

/* Seconds until due (rounded up), or catch_up_s when it is due already. */
static long
until(double due, time_t now, long catch_up_s)
{
	double left = due - (double)now;

	if (left <= 0)
		return catch_up_s;
	return (long)ceil(left);
}

long
backup_due_in(time_t now, time_t newest, time_t tried, double every_h,
    int at_h, int at_m, long catch_up_s)
{
	time_t last = tried > newest ? tried : newest;

	if (every_h > 0) {
		if (last < 0)
			return catch_up_s;
		return until((double)last + every_h * 3600, now, catch_up_s);
	}
	if (at_h < 0)
		return -1;
	if (last < last_at(at_h, at_m, now))
		return catch_up_s;
	return backup_next_at(at_h, at_m, now);
}

long
backup_drill_due_in(time_t now, time_t last, time_t newest, double every_d,
    long catch_up_s)
{
	if (every_d <= 0)
		return -1;
	if (last >= 0)
		return until((double)last + every_d * 86400, now, catch_up_s);
	if (newest >= 0)
		return until((double)newest + 3600, now, catch_up_s);
	return 3600;
}

int
backup_prune(const char *root, int keep, int keep_days, int64_t now_ms,
    const char *const *protect, size_t nprotect)
{
	char **names;
	size_t n = list_folders(root, &names);
	int kept = 0, removed = 0, rootfd;

	rootfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	for (size_t i = 0; i < n && rootfd >= 0; i++) {
		bool protected = false, whole = complete(root, names[i]);

		for (size_t p = 0; p < nprotect; p++)
			if (protect[p] && strcmp(protect[p], names[i]) == 0)
				protected = true;
		if (whole && kept < keep) {
			kept++;
			continue;
		}
		if (whole && keep_days > 0 && name_time_ms(names[i]) >= now_ms -
		    (int64_t)keep_days * 86400 * 1000)
			continue;
		if (protected)
			continue;
		if (remove_tree(rootfd, names[i]) == 0) {
			removed++;
			hb_info("backup removed folder=%s/%s (%s)", root, names[i], whole ?
			    "past deployer.keep_backups and keep_days" : "incomplete: that "
			    "backup failed");
		} else {
			hb_warn("backup cannot remove folder=%s/%s: %s", root, names[i],
			    strerror(errno));
		}
	}
	if (rootfd >= 0)
		close(rootfd);
	free_list(names, n);
	return removed;
}

int
backup_discard(const char *root, const char *name)
{
	int rootfd, rc;

	if (name_tag(name) == NULL || strchr(name, '/') != NULL)
		return -1;
	rootfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		return -1;
	rc = remove_tree(rootfd, name);
	if (rc != 0 && errno == ENOENT)
		rc = 0;		/* never made */
	else if (rc == 0)
		hb_info("backup removed folder=%s/%s (incomplete: that backup failed)",
		    root, name);
	else
		hb_warn("backup cannot remove folder=%s/%s: %s", root, name,
		    strerror(errno));
	close(rootfd);
	return rc;
}

int
backup_discard_incomplete(const char *root)
{
	char **names;
	size_t n = list_folders(root, &names);
	int removed = 0;

	for (size_t i = 0; i < n; i++)
		if (!complete(root, names[i]) && backup_discard(root, names[i]) == 0)
			removed++;
	free_list(names, n);
	return removed;
}

void
backup_newest_of(const char *root, const char *tag, char *out, size_t outlen)
{
	char **names;
	size_t n = list_folders(root, &names);

	out[0] = '\0';
	for (size_t i = 0; i < n; i++)
		if (strcmp(name_tag(names[i]), tag) == 0 && complete(root, names[i])) {
			snprintf(out, outlen, "%s", names[i]);
			break;
		}
	free_list(names, n);
}

int
backup_tag_of(const char *root, const char *name, char *tag, size_t taglen,
    char *err, size_t errlen)
{
	const char *t = name_tag(name);

	if (!hb_deploy_backup_name_ok(name) || t == NULL || !hb_deploy_tag_ok(t)) {
		snprintf(err, errlen, "\"%s\" is not a backup folder's name "
		    "(<UTC time>-<tag>)", name);
		return -1;
	}
	if (!complete(root, name)) {
		snprintf(err, errlen, "no complete backup %s/%s (no %s)", root, name,
		    MANIFEST);
		return -1;
	}
	snprintf(tag, taglen, "%s", t);
	return 0;
}

/* Bytes of the regular files under dir (symbolic links not followed). */
static long long
tree_bytes(int parent, const char *name)
{
	int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	long long total = 0;
	struct dirent *e;
	DIR *d;

	if (fd < 0) {
		struct stat sb;

		return fstatat(parent, name, &sb, AT_SYMLINK_NOFOLLOW) == 0 &&
		    S_ISREG(sb.st_mode) ? (long long)sb.st_size : 0;
	}
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return 0;
	}
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			total += tree_bytes(dirfd(d), e->d_name);
	closedir(d);
	return total;
}

json_t *
backup_list(const char *root, const char *const *keep, size_t nkeep)
{
	char **names;
	size_t n = list_folders(root, &names);
	json_t *list = json_array();
	int rootfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	for (size_t i = 0; i < n && rootfd >= 0; i++) {
		bool kept = false;

		for (size_t k = 0; k < nkeep; k++)
			kept = kept || (keep[k] && strcmp(keep[k], names[i]) == 0);
		json_array_append_new(list, json_pack("{s:s,s:s,s:b,s:I,s:b}", "name",
		    names[i], "from_tag", name_tag(names[i]), "complete",
		    complete(root, names[i]), "bytes",
		    (json_int_t)tree_bytes(rootfd, names[i]), "keep", kept));
	}
	if (rootfd >= 0)
		close(rootfd);
	free_list(names, n);
	return list;
}

long long
backup_free_mb(const char *path)
{
	struct statvfs sv;

	if (statvfs(path, &sv) != 0)
		return -1;
	return (long long)((unsigned long long)sv.f_bavail * sv.f_frsize /
	    (1024 * 1024));
}
