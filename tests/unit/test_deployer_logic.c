/*
 * The deployer's parts that need no bus: sha256 digests against FIPS 180-4's
 * vectors, step templates expanded (placeholders, {services}, nothing a
 * shell would read), output tails made safe for JSON, the journal's lock
 * and versions, backup retention, and configuration errors a user can fix.
 */
#include "hbt.h"
#include "backup.h"
#include "config.h"
#include "joblog.h"
#include "journal.h"
#include "runner.h"
#include "sha256.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* The manifest's digests: hex of nettle's SHA-256, of a buffer and a file. */
static void
test_sha256(void)
{
	struct sha256_ctx s;
	char hex[65], path[700];

	sha256_init(&s);
	sha256_hex(&s, hex);
	HBT_CHECK(strcmp(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495"
	    "991b7852b855") == 0, "empty: %s", hex);
	sha256_init(&s);
	sha256_update(&s, 56, (const uint8_t *)"abcdbcdecdefdefgefghfghighijhijkijk"
	    "ljklmklmnlmnomnopnopq");
	sha256_hex(&s, hex);
	HBT_CHECK(strcmp(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ec"
	    "edd419db06c1") == 0, "two blocks: %s", hex);
	snprintf(path, sizeof(path), "%s/abc", hbt_dir());
	hbt_write_file(path, "abc");
	HBT_CHECK(sha256_file(path, hex) == 0 && strcmp(hex, "ba7816bf8f01cfea41414"
	    "0de5dae2223b00361a396177a9cb410ff61f20015ad") == 0, "a file: %s", hex);
	snprintf(path, sizeof(path), "%s/none", hbt_dir());
	HBT_CHECK(sha256_file(path, hex) == -1 && errno == ENOENT, "no file: -1, "
	    "ENOENT");
}

/* A section read as the service reads it; the configuration stays with it. */
struct parsed {
	struct deployer_config c;
	struct hb_config *cfg;
};

static struct parsed *
config_of(const char *json, int *errors)
{
	struct parsed *p = hb_xcalloc(1, sizeof(*p));
	struct hb_app app;
	char err[256];

	memset(&app, 0, sizeof(app));
	snprintf(app.data_dir, sizeof(app.data_dir), "%s", hbt_dir());
	app.cfg = hb_config_parse(json, strlen(json), "test.json", err, sizeof(err));
	HBT_REQUIRE(app.cfg != NULL, "%s", err);
	deployer_config_read(&p->c, &app, "hub");
	*errors = hb_config_error_count(app.cfg);
	if (*errors)
		hb_config_print_errors(app.cfg, stderr);
	p->cfg = app.cfg;
	return p;
}

static void
parsed_free(struct parsed *p)
{
	hb_config_free(p->cfg);
	free(p);
}

static void
test_expand(void)
{
	int errors;
	struct parsed *pc = config_of("{\"deployer\": {\"compose_file\": "
	    "\"/opt/stack/compose.yml\", \"services\": [\"writer\", \"ingest\"], "
	    "\"steps\": {\"backup\": {\"argv\": [\"volman\", \"--tag={tag}\", "
	    "\"{backup_dir}/{service}\"]}}}}", &errors);
	struct deployer_config *c = &pc->c;
	const char *svcs[] = { "writer", "ingest" };
	struct runner_params p = { "v1.2", "/b/20261125T014532Z-v1", svcs, 2 };
	char *args[64], err[128];
	int n;

	HBT_CHECK(errors == 0, "a valid section");
	n = runner_expand(c, &c->steps[STEP_UP], &p, NULL, args, 64, err,
	    sizeof(err));
	HBT_CHECK(n == 8 && strcmp(args[3], "/opt/stack/compose.yml") == 0 &&
	    strcmp(args[6], "writer") == 0 && strcmp(args[7], "ingest") == 0,
	    "default up: docker compose -f FILE up -d writer ingest (%d)", n);
	for (int i = 0; i < n; i++)
		free(args[i]);
	n = runner_expand(c, &c->steps[STEP_BACKUP], &p, "writer", args, 64, err,
	    sizeof(err));
	HBT_CHECK(n == 3 && strcmp(args[1], "--tag=v1.2") == 0 &&
	    strcmp(args[2], "/b/20261125T014532Z-v1/writer") == 0,
	    "placeholders inside arguments");
	for (int i = 0; i < n; i++)
		free(args[i]);
	/* a value is one argument, whatever it holds: there is no shell */
	p.tag = "a b;$(id)";
	n = runner_expand(c, &c->steps[STEP_PULL], &p, NULL, args, 64, err,
	    sizeof(err));
	HBT_CHECK(n == 7, "no word splitting");
	for (int i = 0; i < n; i++)
		free(args[i]);
	HBT_CHECK(runner_expand(c, &c->steps[STEP_UP], &p, NULL, args, 3, err,
	    sizeof(err)) == -1 && strstr(err, "more than"), "too many arguments");
	parsed_free(pc);
}

/* The running version again: the default up recreates; a configured up
 * (compose-up, systemctl restart) is used as it is. */
static void
test_recreate(void)
{
	int errors;
	struct parsed *pc = config_of("{\"deployer\": {}}", &errors);
	const struct step_template *t = &pc->c.steps[STEP_RECREATE];

	HBT_CHECK(errors == 0 && t->argc == 8 &&
	    strcmp(t->argv[6], "--force-recreate") == 0 &&
	    strcmp(t->argv[7], "{services}") == 0, "default: up -d "
	    "--force-recreate {services} (%zu)", t->argc);
	parsed_free(pc);
	pc = config_of("{\"deployer\": {\"steps\": {\"up\": {\"argv\": "
	    "[\"systemctl\", \"restart\", \"homebus-{service}\"]}}}}", &errors);
	t = &pc->c.steps[STEP_RECREATE];
	HBT_CHECK(errors == 0 && t->argc == 3 &&
	    strcmp(t->argv[0], "systemctl") == 0, "a configured up: as it is");
	parsed_free(pc);
}

/* restore_on_rollback: the three words, and the old true and false. */
static void
test_restore_modes(void)
{
	static const struct {
		const char *json;
		int errors;
		enum deployer_restore mode;
	} cases[] = {
		{ "{}", 0, RESTORE_CHANGED },
		{ "{\"deployer\": {\"restore_on_rollback\": \"never\"}}", 0,
		    RESTORE_NEVER },
		{ "{\"deployer\": {\"restore_on_rollback\": \"always\", "
		    "\"sqlite_backups\": [\"/var/lib/homebus/a.db\"]}}", 0,
		    RESTORE_ALWAYS },
		{ "{\"deployer\": {\"restore_on_rollback\": true, "
		    "\"sqlite_backups\": [\"/var/lib/homebus/a.db\"]}}", 0,
		    RESTORE_ALWAYS },
		{ "{\"deployer\": {\"restore_on_rollback\": false}}", 0,
		    RESTORE_NEVER },
		{ "{\"deployer\": {\"restore_on_rollback\": \"sometimes\"}}", 1,
		    RESTORE_CHANGED },
		{ "{\"deployer\": {\"restore_on_rollback\": \"always\"}}", 1,
		    RESTORE_ALWAYS },
	};
	struct parsed *p;
	int errors;

	for (size_t i = 0; i < HB_ARRAY_LEN(cases); i++) {
		p = config_of(cases[i].json, &errors);
		HBT_CHECK(errors == cases[i].errors &&
		    p->c.restore_on_rollback == cases[i].mode, "%s: %d errors, mode %d",
		    cases[i].json, errors, (int)p->c.restore_on_rollback);
		parsed_free(p);
	}
}

static void
test_config_errors(void)
{
	int errors;
	struct parsed *p;

	p = config_of("{\"deployer\": {\"steps\": {\"up\": {\"argv\": [\"docker\", "
	    "\"{tags}\"]}}}}", &errors);
	HBT_CHECK(errors == 1, "an unknown placeholder is an error");
	parsed_free(p);
	p = config_of("{\"deployer\": {\"steps\": {\"up\": {\"argv\": [\"x\", "
	    "\"--only={services}\"]}}}}", &errors);
	HBT_CHECK(errors == 1, "{services} inside an argument is an error");
	parsed_free(p);
	p = config_of("{\"deployer\": {\"restore_on_rollback\": true, "
	    "\"initial_tag\": \"1.0;x\", \"tag_env\": \"IMAGE-TAG\", "
	    "\"verify\": {\"timeout_s\": 10, \"stable_s\": 10}}}", &errors);
	HBT_CHECK(errors == 4, "\"always\" with nothing to restore, a bad tag, a bad "
	    "variable name, stable_s that cannot fit: %d", errors);
	parsed_free(p);
	p = config_of("{\"health\": {\"expected_services\": [\"writer\", "
	    "\"ingest/nuc2\", \"notifier/hub\"], \"targets\": [{\"name\": "
	    "\"grafana-http\"}]}}", &errors);
	HBT_CHECK(errors == 0 && p->c.ntargets == 4 &&
	    strcmp(p->c.targets[1], "ingest@nuc2") == 0 &&
	    strcmp(p->c.targets[2], "notifier") == 0 &&
	    strcmp(p->c.targets[3], "grafana-http") == 0,
	    "default targets: what health watches, named as it names them");
	parsed_free(p);
	p = config_of("{\"deployer\": {}}", &errors);
	HBT_CHECK(errors == 0 && p->c.catch_up_s == 120 &&
	    p->c.steps[STEP_DRILL].argc == 0, "catch_up_s 120, no drill command, "
	    "by default");
	parsed_free(p);
	p = config_of("{\"deployer\": {\"catch_up_s\": 86401}}", &errors);
	HBT_CHECK(errors == 1, "catch_up_s past a day is an error");
	parsed_free(p);
}

static void
test_tail(void)
{
	struct hb_buf out = { 0 };
	char tail[64];

	for (int i = 1; i <= 30; i++)
		hb_buf_printf(&out, "line %d\r\n", i);
	runner_tail(out.data, out.len, 3, tail, sizeof(tail));
	HBT_CHECK(strcmp(tail, "line 28\nline 29\nline 30") == 0, "last 3 lines: %s",
	    tail);
	runner_tail("ok\xff\x01\tend\xc3", 9, 20, tail, sizeof(tail));
	HBT_CHECK(strcmp(tail, "ok??\tend?") == 0, "safe for JSON: %s", tail);
	runner_tail("\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac", 9, 20, tail, 6);
	HBT_CHECK(strcmp(tail, "\xe2\x82\xac") == 0, "cut on a character: %s", tail);
	hb_buf_free(&out);
}

static void
test_journal(void)
{
	char path[600], err[256], running[129], previous[129], backup[192];
	struct journal *j;
	struct journal_job a, b, found;

	snprintf(path, sizeof(path), "%s/journal.db", hbt_dir());
	j = journal_open(path, err, sizeof(err));
	HBT_REQUIRE(j != NULL, "%s", err);
	journal_versions(j, "v1", running, sizeof(running), previous,
	    sizeof(previous), backup, sizeof(backup));
	HBT_CHECK(strcmp(running, "v1") == 0 && previous[0] == '\0',
	    "first run: the initial tag");
	memset(&a, 0, sizeof(a));
	snprintf(a.id, sizeof(a.id), "a");
	snprintf(a.from_tag, sizeof(a.from_tag), "v1");
	snprintf(a.to_tag, sizeof(a.to_tag), "v2");
	snprintf(a.phase, sizeof(a.phase), "queued");
	HBT_CHECK(journal_begin(j, &a) == 0, "a begins");
	b = a;
	snprintf(b.id, sizeof(b.id), "b");
	HBT_CHECK(journal_begin(j, &b) == -1, "the lock: b cannot begin while a "
	    "has no outcome");
	HBT_CHECK(journal_unfinished(j, &found) && strcmp(found.id, "a") == 0,
	    "a is unfinished");
	snprintf(a.outcome, sizeof(a.outcome), "done");
	snprintf(a.backup, sizeof(a.backup), "20261125T014532Z-v1");
	journal_save(j, &a);
	HBT_CHECK(!journal_unfinished(j, &found), "no lock once done");
	HBT_CHECK(journal_begin(j, &a) == -1, "an id is used once");
	HBT_CHECK(journal_begin(j, &b) == 0, "b begins");
	snprintf(b.from_tag, sizeof(b.from_tag), "v2");
	snprintf(b.to_tag, sizeof(b.to_tag), "v3");
	snprintf(b.outcome, sizeof(b.outcome), "rolled_back");
	journal_save(j, &b);
	journal_versions(j, "v1", running, sizeof(running), previous,
	    sizeof(previous), backup, sizeof(backup));
	HBT_CHECK(strcmp(running, "v2") == 0 && strcmp(previous, "v1") == 0 &&
	    strcmp(backup, "20261125T014532Z-v1") == 0,
	    "a rolled back deploy changes nothing: %s, %s", running, previous);
	b.action = HB_DEPLOY_RESTORE;
	snprintf(b.id, sizeof(b.id), "r");
	b.outcome[0] = '\0';
	HBT_CHECK(journal_begin(j, &b) == 0, "a restore begins");
	HBT_CHECK(journal_unfinished(j, &found) &&
	    found.action == HB_DEPLOY_RESTORE, "an unfinished restore is read "
	    "back as a restore (%d): the next start goes back as a restore does",
	    (int)found.action);
	snprintf(b.outcome, sizeof(b.outcome), "done");
	snprintf(b.restored, sizeof(b.restored), "/d/a.db (kept as a.db.x)");
	journal_save(j, &b);
	HBT_CHECK(journal_find(j, "r", &found) && strcmp(found.restored,
	    b.restored) == 0, "what it restored is kept");
	b.action = HB_DEPLOY_DRILL;
	snprintf(b.id, sizeof(b.id), "dr");
	b.outcome[0] = '\0';
	HBT_CHECK(journal_begin(j, &b) == 0, "a drill begins");
	snprintf(b.outcome, sizeof(b.outcome), "done");
	journal_save(j, &b);
	HBT_CHECK(journal_last_of(j, HB_DEPLOY_DRILL, &found) &&
	    found.action == HB_DEPLOY_DRILL && strcmp(found.id, "dr") == 0,
	    "the last drill, a drill");
	journal_close(j);
}

/* A backup folder under root, complete (manifest) or not. */
static void
make_backup(const char *root, const char *name, bool complete)
{
	char path[800];

	snprintf(path, sizeof(path), "%s/%s/sub", root, name);
	hb_mkdirs(path);
	snprintf(path, sizeof(path), "%s/%s/sub/data", root, name);
	hbt_write_file(path, "x");
	if (complete) {
		snprintf(path, sizeof(path), "%s/%s/manifest.json", root, name);
		hbt_write_file(path, "{}");
	}
}

static bool
exists(const char *root, const char *name)
{
	char path[800];
	struct stat sb;

	snprintf(path, sizeof(path), "%s/%s", root, name);
	return stat(path, &sb) == 0;
}

static void
test_retention(void)
{
	char root[600], tag[129], err[256], newest[192];
	const char *keep[] = { "20260101T000000Z-v1" };

	snprintf(root, sizeof(root), "%s/backups", hbt_dir());
	make_backup(root, "20260101T000000Z-v1", true);
	make_backup(root, "20260102T000000Z-v2", true);
	make_backup(root, "20260103T000000Z-v2", true);
	make_backup(root, "20260104T000000Z-v3", false);
	make_backup(root, "20260105T000000Z-v3", true);
	make_backup(root, "not-a-backup", false);
	HBT_CHECK(backup_prune(root, 2, 0, 0, keep, 1) == 2, "two removed");
	HBT_CHECK(exists(root, "20260105T000000Z-v3") &&
	    exists(root, "20260103T000000Z-v2") && exists(root, "20260101T000000Z-v1")
	    && !exists(root, "20260102T000000Z-v2") &&
	    !exists(root, "20260104T000000Z-v3") && exists(root, "not-a-backup"),
	    "the newest two, the protected one; not the failed one; nothing else");
	backup_newest_of(root, "v2", newest, sizeof(newest));
	HBT_CHECK(strcmp(newest, "20260103T000000Z-v2") == 0, "newest of v2");
	HBT_CHECK(backup_tag_of(root, "20260105T000000Z-v3", tag, sizeof(tag), err,
	    sizeof(err)) == 0 && strcmp(tag, "v3") == 0, "a backup's version");
	HBT_CHECK(backup_tag_of(root, "../etc", tag, sizeof(tag), err,
	    sizeof(err)) == -1, "not a backup name");
	HBT_CHECK(backup_tag_of(root, "20260104T000000Z-v3", tag, sizeof(tag), err,
	    sizeof(err)) == -1 && strstr(err, "manifest"), "an incomplete backup");
}

/* keep_days keeps what is young enough beyond keep_backups. */
static void
test_retention_days(void)
{
	char root[600];
	/* 2026-01-10T00:00:00Z */
	int64_t now_ms = 1768003200LL * 1000;

	snprintf(root, sizeof(root), "%s/backups-days", hbt_dir());
	make_backup(root, "20260101T000000Z-v1", true);
	make_backup(root, "20260105T000000Z-v1", true);
	make_backup(root, "20260108T000000Z-v2", true);
	make_backup(root, "20260109T000000Z-v2", true);
	HBT_CHECK(backup_prune(root, 1, 7, now_ms, NULL, 0) == 1 &&
	    !exists(root, "20260101T000000Z-v1") &&
	    exists(root, "20260105T000000Z-v1") &&
	    exists(root, "20260108T000000Z-v2"), "the last 7 days kept, beyond "
	    "keep_backups 1; the 9-day-old one removed");
}

/* backup_at: the next 02:30 of local time. */
static void
test_backup_at(void)
{
	/* 2026-12-07T22:00:00Z */
	time_t now = 1796680800;

	setenv("TZ", "UTC", 1);
	tzset();
	HBT_CHECK(backup_next_at(2, 30, now) == 4 * 3600 + 1800, "02:30 is "
	    "4.5 h later: %ld", backup_next_at(2, 30, now));
	HBT_CHECK(backup_next_at(23, 0, now) == 3600, "23:00 is 1 h later");
	HBT_CHECK(backup_next_at(22, 0, now) == 86400, "the minute now: tomorrow");
	setenv("TZ", "Europe/Berlin", 1);
	tzset();
	HBT_CHECK(backup_next_at(2, 30, now) == 3 * 3600 + 1800, "02:30 in "
	    "Berlin (23:00 there now) is 3.5 h later: %ld", backup_next_at(2, 30, now));
	unsetenv("TZ");
	tzset();
}

/*
 * The schedule from what outlives a restart: the newest backup, the last
 * scheduled backup tried, the last drill; what was missed catches up.
 */
static void
test_schedule(void)
{
	/* 2026-12-07T22:00:00Z, a Monday */
	time_t now = 1796680800, h = 3600, d = 86400;
	time_t today_0235 = now - 19 * h - 25 * 60, yesterday_0300 = now - d - 19 * h;

	setenv("TZ", "UTC", 1);
	tzset();
	/* backup_every_h */
	HBT_CHECK(backup_due_in(now, now - h, -1, 6, -1, -1, 120) == 5 * h,
	    "every 6 h, the newest 1 h old: in 5 h: %ld",
	    backup_due_in(now, now - h, -1, 6, -1, -1, 120));
	HBT_CHECK(backup_due_in(now, now - 7 * h, -1, 6, -1, -1, 120) == 120,
	    "every 6 h, the newest 7 h old (restarts reset nothing): missed, "
	    "catch_up_s");
	HBT_CHECK(backup_due_in(now, -1, -1, 6, -1, -1, 120) == 120,
	    "no backup at all: missed");
	HBT_CHECK(backup_due_in(now, now - 7 * h, now - 600, 6, -1, -1, 120) ==
	    6 * h - 600, "a scheduled backup tried 10 min ago (and failed): 6 h "
	    "after it, not at once again");
	HBT_CHECK(backup_due_in(now, now - 6 * h, -1, 6, -1, -1, 0) == 0,
	    "due this second, no catch-up delay: now");
	HBT_CHECK(backup_due_in(now, now - 1, -1, 0.0006, -1, -1, 120) == 2,
	    "2.16 s after a backup 1 s old: in 2 s, rounded up");
	HBT_CHECK(backup_due_in(now, now - h, -1, 0, -1, -1, 120) == -1,
	    "no schedule: -1");
	/* backup_at "02:30", local time (UTC here) */
	HBT_CHECK(backup_due_in(now, today_0235, -1, 0, 2, 30, 120) ==
	    4 * h + 1800, "today's 02:30 backup there: the next 02:30, in 4.5 h: "
	    "%ld", backup_due_in(now, today_0235, -1, 0, 2, 30, 120));
	HBT_CHECK(backup_due_in(now, yesterday_0300, -1, 0, 2, 30, 120) == 120,
	    "the host was off at 02:30 today: missed, catch_up_s");
	HBT_CHECK(backup_due_in(now, -1, -1, 0, 2, 30, 7) == 7,
	    "no backup at all: missed");
	HBT_CHECK(backup_due_in(now, yesterday_0300, today_0235, 0, 2, 30, 120)
	    == 4 * h + 1800, "today's 02:30 tried (and failed): tomorrow's");
	HBT_CHECK(backup_due_in(now, now - 21 * h, -1, 0, 23, 0, 120) == h,
	    "23:00, the newest from 01:00 today, after yesterday's 23:00: in 1 h");
	HBT_CHECK(backup_due_in(now, now - 23 * h - 60, -1, 0, 23, 0, 120) == 120,
	    "23:00, the newest from before yesterday's 23:00: missed");
	HBT_CHECK(backup_due_in(now, now - d, -1, 0, 22, 0, 0) == 0,
	    "22:00 now, the last backup yesterday at 22:00: due now");
	/* drill_every_d */
	HBT_CHECK(backup_drill_due_in(now, now - d, now - h, 7, 120) == 6 * d,
	    "a drill a day ago, every 7 d: in 6 days");
	HBT_CHECK(backup_drill_due_in(now, now - 8 * d, now - h, 7, 120) == 120,
	    "the last drill 8 days ago (restarts reset nothing): missed");
	HBT_CHECK(backup_drill_due_in(now, -1, now - 600, 7, 120) == 3000,
	    "no drill yet: an hour after the newest backup");
	HBT_CHECK(backup_drill_due_in(now, -1, now - 2 * h, 7, 120) == 120,
	    "no drill yet, the newest backup 2 h old: missed");
	HBT_CHECK(backup_drill_due_in(now, -1, -1, 7, 120) == 3600,
	    "no drill, no backup: look again in an hour");
	HBT_CHECK(backup_drill_due_in(now, now - 7 * d, now - h, 7, 0) == 0,
	    "due this second, no catch-up delay: now");
	HBT_CHECK(backup_drill_due_in(now, now - d, now - h, 0, 120) == -1,
	    "no drills: -1");
	unsetenv("TZ");
	tzset();
}

/* A job's log: capped at 1 MiB with a line saying so; old ones pruned. */
static void
test_joblog(void)
{
	char dir[600], path[700], *chunk = hb_xmalloc(64 * 1024), *text;
	struct stat sb;
	size_t len = 0;

	snprintf(dir, sizeof(dir), "%s/deploy-logs", hbt_dir());
	memset(chunk, 'x', 64 * 1024);
	for (int i = 0; i < 40; i++)		/* 2.5 MiB offered */
		joblog_append(dir, 7, chunk, 64 * 1024);
	snprintf(path, sizeof(path), "%s/7.log", dir);
	HBT_CHECK(stat(path, &sb) == 0 && sb.st_size == JOBLOG_MAX,
	    "a job's log stops at 1 MiB: %lld", (long long)sb.st_size);
	text = joblog_read(dir, 7, &len);
	HBT_CHECK(text && strstr(text, "reached 1 MiB"), "and says so at its end");
	free(text);
	for (int seq = 1; seq <= 6; seq++)
		joblog_append(dir, seq, "ok\n", 3);
	HBT_CHECK(joblog_prune(dir, 7, 3) == 4 && joblog_read(dir, 4, &len) == NULL,
	    "the logs of all but the newest 3 jobs pruned");
	text = joblog_read(dir, 5, &len);
	HBT_CHECK(text && len == 3, "the newer ones stay");
	free(text);
	free(chunk);
}

int
main(void)
{
	hbt_init("deployer_logic");
	test_sha256();
	test_expand();
	test_recreate();
	test_config_errors();
	test_restore_modes();
	test_tail();
	test_journal();
	test_retention();
	test_retention_days();
	test_backup_at();
	test_schedule();
	test_joblog();
	hbt_exit();
}
