/*
 * config: reading and checking deployer.* (see config.h).
 */
#include "config.h"
#include "hb_config.h"
#include "hb_msg.h"
#include "hb_topic.h"
#include "hb_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const step_names[STEP_KINDS] = { "pull", "backup", "up",
    "restore", "recreate", "stop", "drill" };

/* What a step template may say in braces (see docs/deployer.md). */
static const char *const placeholders[] = { "{tag}", "{service}", "{services}",
    "{backup_dir}", "{compose_file}", "{workdir}" };

/* The default templates: docker compose with the tag in the environment. */
static const char *const default_pull[] = { "docker", "compose", "-f",
    "{compose_file}", "pull", "{services}", NULL };
static const char *const default_up[] = { "docker", "compose", "-f",
    "{compose_file}", "up", "-d", "{services}", NULL };
static const char *const default_recreate[] = { "docker", "compose", "-f",
    "{compose_file}", "up", "-d", "--force-recreate", "{services}", NULL };
static const char *const default_stop[] = { "docker", "compose", "-f",
    "{compose_file}", "stop", "{services}", NULL };
static const int default_timeouts[STEP_KINDS] = { 600, 900, 300, 900, 300,
    120, 900 };

const char *
step_kind_name(enum step_kind k)
{
	return (size_t)k < STEP_KINDS ? step_names[k] : "?";
}

/* Every {...} in arg is one we know; "{services}" only as a whole argument. */
static bool
arg_ok(const char *arg, char *why, size_t whylen)
{
	for (const char *p = strchr(arg, '{'); p; p = strchr(p + 1, '{')) {
		bool known = false;

		for (size_t i = 0; i < HB_ARRAY_LEN(placeholders); i++)
			if (strncmp(p, placeholders[i], strlen(placeholders[i])) == 0)
				known = true;
		if (!known) {
			snprintf(why, whylen, "unknown placeholder in \"%s\" (known: "
			    "{tag}, {service}, {services}, {backup_dir}, {compose_file}, "
			    "{workdir})", arg);
			return false;
		}
	}
	if (strstr(arg, "{services}") && strcmp(arg, "{services}") != 0) {
		snprintf(why, whylen, "\"{services}\" stands for several arguments and "
		    "must be an argument of its own (\"%s\")", arg);
		return false;
	}
	return true;
}

/* deployer.backup_at: "HH:MM", local time; not with backup_every_h. */
static void
read_backup_at(struct deployer_config *c, struct hb_config *cfg)
{
	const char *s = hb_cfg_str(cfg, "deployer.backup_at", "");
	char *end;
	long h, m;

	c->backup_at_h = c->backup_at_m = -1;
	if (*s == '\0')
		return;
	h = strtol(s, &end, 10);
	if (end != s + 2 || *end != ':' || h < 0 || h > 23 ||
	    (m = strtol(end + 1, &end, 10), *end != '\0') || end != s + 5 ||
	    m < 0 || m > 59) {
		hb_cfg_error(cfg, "deployer.backup_at", "\"%s\" is not a time of "
		    "day \"HH:MM\" (local time, e.g. \"02:30\")", s);
		return;
	}
	if (c->backup_every_h > 0) {
		hb_cfg_error(cfg, "deployer.backup_at", "set backup_at (a time of "
		    "day) or backup_every_h (an interval), not both");
		return;
	}
	c->backup_at_h = (int)h;
	c->backup_at_m = (int)m;
}

/*
 * deployer.restore_on_rollback: "changed", "always" or "never"; the old
 * true and false mean "always" (the backup was restored, command and all)
 * and "never".
 */
static enum deployer_restore
read_restore(struct hb_config *cfg)
{
	static const char *const modes[] = { "changed", "always", "never", NULL };
	const char *path = "deployer.restore_on_rollback";
	json_t *d = hb_cfg_json(cfg, "deployer", JSON_OBJECT, true);
	json_t *v = json_object_get(d, "restore_on_rollback");

	if (json_is_boolean(v))
		return hb_cfg_bool(cfg, path, false) ? RESTORE_ALWAYS : RESTORE_NEVER;
	return (enum deployer_restore)hb_cfg_enum(cfg, path, modes, 0);
}

static void
read_step(struct step_template *t, struct hb_config *cfg, enum step_kind k)
{
	const char *const *def = k == STEP_PULL ? default_pull :
	    k == STEP_UP ? default_up : k == STEP_RECREATE ? default_recreate :
	    k == STEP_STOP ? default_stop : NULL;
	char path[96], key[128], why[256];
	size_t n;

	snprintf(path, sizeof(path), "deployer.steps.%s.argv", step_names[k]);
	t->argc = 0;
	if (!hb_cfg_has(cfg, path)) {
		for (size_t i = 0; def && def[i]; i++)
			t->argv[t->argc++] = def[i];
	} else {
		n = hb_cfg_array_len(cfg, path);
		if (n > DEPLOYER_MAX_ARGV) {
			hb_cfg_error(cfg, path, "at most %d arguments", DEPLOYER_MAX_ARGV);
			n = DEPLOYER_MAX_ARGV;
		}
		for (size_t i = 0; i < n; i++) {
			const char *a;

			snprintf(key, sizeof(key), "%s[%zu]", path, i);
			a = hb_cfg_str(cfg, key, NULL);
			if (a == NULL) {
				hb_cfg_error(cfg, key, "each argument must be a string");
				continue;
			}
			if (!arg_ok(a, why, sizeof(why)))
				hb_cfg_error(cfg, key, "%s", why);
			t->argv[t->argc++] = a;
		}
		if (t->argc > 0 && t->argv[0][0] == '\0')
			hb_cfg_error(cfg, path, "the command (argv[0]) is empty");
	}
	t->argv[t->argc] = NULL;
	snprintf(key, sizeof(key), "deployer.steps.%s.timeout_s", step_names[k]);
	t->timeout_s = (int)hb_cfg_int(cfg, key, default_timeouts[k], 1, 86400);
	if (k == STEP_UP && t->argc == 0)
		hb_cfg_error(cfg, path, "the up step needs a command");
}

/* A list of strings at path into out[]; each must pass ok (may be NULL). */
static size_t
read_names(struct hb_config *cfg, const char *path, const char **out, size_t max,
    bool (*ok)(const char *), const char *what)
{
	size_t n = hb_cfg_array_len(cfg, path), got = 0;
	char key[128];

	for (size_t i = 0; i < n; i++) {
		const char *s;

		snprintf(key, sizeof(key), "%s[%zu]", path, i);
		s = hb_cfg_str(cfg, key, NULL);
		if (s == NULL || (ok && !ok(s))) {
			hb_cfg_error(cfg, key, "must be %s", what);
			continue;
		}
		if (got == max) {
			hb_cfg_error(cfg, path, "at most %zu entries", max);
			break;
		}
		out[got++] = s;
	}
	return got;
}

static bool
service_name_ok(const char *s)
{
	return hb_deploy_tag_ok(s) && strlen(s) < 64;
}

static bool
absolute_path(const char *s)
{
	return s[0] == '/';
}

static void
add_target(struct deployer_config *c, struct hb_config *cfg, const char *path,
    const char *name)
{
	for (size_t i = 0; i < c->ntargets; i++)
		if (strcmp(c->targets[i], name) == 0)
			return;
	if (c->ntargets == DEPLOYER_MAX_TARGETS) {
		hb_cfg_error(cfg, path, "at most %d verify targets", DEPLOYER_MAX_TARGETS);
		return;
	}
	if (*name == '\0' || strlen(name) >= DEPLOYER_TARGET_MAX ||
	    !hb_topic_level_ok(name)) {
		hb_cfg_error(cfg, path, "\"%s\" cannot be a health target", name);
		return;
	}
	snprintf(c->targets[c->ntargets++], DEPLOYER_TARGET_MAX, "%s", name);
}

/*
 * The default verify targets: what the health watcher on this host watches
 * (its expected services, "writer" or "writer/<instance>", and its listed
 * targets), named the way it names them.
 */
static void
default_targets(struct deployer_config *c, struct hb_config *cfg,
    const char *instance)
{
	size_t n = hb_cfg_array_len(cfg, "health.expected_services");
	char key[96], name[DEPLOYER_TARGET_MAX];

	for (size_t i = 0; i < n; i++) {
		const char *s, *slash;

		snprintf(key, sizeof(key), "health.expected_services[%zu]", i);
		if ((s = hb_cfg_str(cfg, key, NULL)) == NULL)
			continue;
		slash = strchr(s, '/');
		if (slash && strcmp(slash + 1, instance) != 0)
			snprintf(name, sizeof(name), "%.*s@%s", (int)(slash - s), s,
			    slash + 1);
		else
			snprintf(name, sizeof(name), "%.*s", slash ? (int)(slash - s) :
			    (int)strlen(s), s);
		add_target(c, cfg, key, name);
	}
	n = hb_cfg_array_len(cfg, "health.targets");
	for (size_t i = 0; i < n; i++) {
		const char *s;

		snprintf(key, sizeof(key), "health.targets[%zu].name", i);
		if ((s = hb_cfg_str(cfg, key, NULL)) != NULL)
			add_target(c, cfg, key, s);
	}
}

/* Is name one of health.targets (a target the watcher checks and states)? */
static bool
health_target(struct hb_config *cfg, const char *name)
{
	size_t n = hb_cfg_array_len(cfg, "health.targets");
	char key[96];

	for (size_t i = 0; i < n; i++) {
		const char *s;

		snprintf(key, sizeof(key), "health.targets[%zu].name", i);
		if ((s = hb_cfg_str(cfg, key, NULL)) != NULL && strcmp(s, name) == 0)
			return true;
	}
	return false;
}

static void
read_verify(struct deployer_config *c, struct hb_config *cfg,
    const char *instance)
{
	if (hb_cfg_has(cfg, "deployer.verify.targets")) {
		const char *names[DEPLOYER_MAX_TARGETS];
		size_t n = read_names(cfg, "deployer.verify.targets", names,
		    DEPLOYER_MAX_TARGETS, NULL, "a health target's name");

		for (size_t i = 0; i < n; i++) {
			if (strcmp(names[i], "health") == 0 && !health_target(cfg, "health")) {
				hb_cfg_error(cfg, "deployer.verify.targets", "\"health\" "
				    "is the health watcher itself, which publishes no state "
				    "about itself: leave it out (a watcher that does not come "
				    "back leaves the other targets without a state since up, "
				    "and the deploy is rolled back)");
				continue;
			}
			add_target(c, cfg, "deployer.verify.targets", names[i]);
		}
	} else {
		default_targets(c, cfg, instance);
	}
	c->verify_timeout_s = (int)hb_cfg_int(cfg, "deployer.verify.timeout_s",
	    HB_DEPLOY_VERIFY_TIMEOUT_S, 1, 86400);
	c->stable_s = (int)hb_cfg_int(cfg, "deployer.verify.stable_s", 60, 0, 86400);
	c->interval_s = (int)hb_cfg_int(cfg, "deployer.verify.interval_s", 2, 1,
	    3600);
	if (c->stable_s >= c->verify_timeout_s)
		hb_cfg_error(cfg, "deployer.verify.stable_s", "%d s cannot fit in "
		    "deployer.verify.timeout_s (%d s)", c->stable_s, c->verify_timeout_s);
}

void
deployer_config_read(struct deployer_config *c, struct hb_app *app,
    const char *instance)
{
	struct hb_config *cfg = app->cfg;
	const char *s;

	memset(c, 0, sizeof(*c));
	c->compose_file = hb_cfg_str(cfg, "deployer.compose_file",
	    "/opt/homebus/docker-compose.yml");
	c->workdir = hb_cfg_str(cfg, "deployer.workdir", "/opt/homebus");
	c->tag_env = hb_cfg_str(cfg, "deployer.tag_env", "IMAGE_TAG");
	if (!hb_deploy_tag_ok(c->tag_env) || strchr(c->tag_env, '.') ||
	    strchr(c->tag_env, '-'))
		hb_cfg_error(cfg, "deployer.tag_env", "\"%s\" is not an environment "
		    "variable name (letters, digits and '_')", c->tag_env);
	c->initial_tag = hb_cfg_str(cfg, "deployer.initial_tag", "");
	if (c->initial_tag[0] && !hb_deploy_tag_ok(c->initial_tag))
		hb_cfg_error(cfg, "deployer.initial_tag", "\"%s\" is not a valid tag "
		    "([A-Za-z0-9][A-Za-z0-9._-]*, at most 128)", c->initial_tag);
	hb_app_data_path(app, hb_cfg_str(cfg, "deployer.backup_dir", "backups"),
	    c->backup_dir, sizeof(c->backup_dir));
	hb_app_data_path(app, hb_cfg_str(cfg, "deployer.journal",
	    "deployer-journal.db"), c->journal_path, sizeof(c->journal_path));
	c->nservices = read_names(cfg, "deployer.services", c->services,
	    HB_DEPLOY_MAX_SERVICES, service_name_ok, "a compose service name");
	c->keep_backups = (int)hb_cfg_int(cfg, "deployer.keep_backups", 5, 1, 1000);
	c->min_free_mb = hb_cfg_int(cfg, "deployer.min_free_mb", 2048, 0,
	    100LL * 1024 * 1024);
	c->nsqlite = read_names(cfg, "deployer.sqlite_backups", c->sqlite,
	    DEPLOYER_MAX_SQLITE, absolute_path, "an absolute path to a SQLite file");
	for (int k = 0; k < STEP_KINDS; k++)
		read_step(&c->steps[k], cfg, (enum step_kind)k);
	/* a configured up without a recreate of its own recreates as it is */
	if (hb_cfg_has(cfg, "deployer.steps.up.argv") &&
	    !hb_cfg_has(cfg, "deployer.steps.recreate.argv"))
		c->steps[STEP_RECREATE] = c->steps[STEP_UP];
	c->kill_grace_s = (int)hb_cfg_int(cfg, "deployer.kill_grace_s", 10, 0, 600);
	read_verify(c, cfg, instance);
	c->restore_on_rollback = read_restore(cfg);
	if (c->restore_on_rollback == RESTORE_ALWAYS &&
	    c->steps[STEP_RESTORE].argc == 0 && c->nsqlite == 0)
		hb_cfg_error(cfg, "deployer.restore_on_rollback", "\"always\" has "
		    "nothing to restore: no deployer.sqlite_backups and no "
		    "deployer.steps.restore.argv");
	c->backup_every_h = hb_cfg_double(cfg, "deployer.backup_every_h", 0, 0,
	    24 * 365);
	read_backup_at(c, cfg);
	c->keep_days = (int)hb_cfg_int(cfg, "deployer.keep_days", 0, 0, 3650);
	c->drill_every_d = hb_cfg_double(cfg, "deployer.drill_every_d", 0, 0, 365);
	c->catch_up_s = (int)hb_cfg_int(cfg, "deployer.catch_up_s", 120, 0, 86400);
	c->ha_discovery = hb_cfg_bool(cfg, "deployer.homeassistant.discovery", true);
	s = hb_cfg_str(cfg, "deployer.homeassistant.discovery_prefix",
	    "homeassistant");
	if (!hb_topic_level_ok(s))
		hb_cfg_error(cfg, "deployer.homeassistant.discovery_prefix", "\"%s\" "
		    "must be one topic level", s);
	c->ha_prefix = s;
}

bool
deployer_config_has_service(const struct deployer_config *c, const char *service)
{
	if (c->nservices == 0)
		return true;
	for (size_t i = 0; i < c->nservices; i++)
		if (strcmp(c->services[i], service) == 0)
			return true;
	return false;
}
