/*
 * cmd_deploy: deploy, rollback, backup and restore — publish the command, and with
 * --wait follow the deployer's state for that command to its end — and
 * `available`, which tells Home Assistant the newest version.
 */
#include "commands.h"
#include "progress.h"

#include "hb_msg.h"
#include "hb_topic.h"
#include "hb_util.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ONLINE_MAX 16

struct follow {
	struct hb_deploy_cmd cmd;
	bool force;		/* deploy the running version again */
	char available[129];	/* retained on P/deploy/available */
	char running[129];	/* the retained state's running_tag */
	bool wait;
	int64_t timeout_ms;	/* without a sign of progress */
	char online[ONLINE_MAX][64];	/* deployer instances online */
	size_t nonline;
	bool sent;
	struct progress progress;
	struct event *ev_tick;	/* redraws the live line */
};

/* The exit code a final phase means. */
static int
outcome_code(const char *phase)
{
	if (strcmp(phase, "done") == 0)
		return CLI_OK;
	if (strcmp(phase, "rejected") == 0 || strcmp(phase, "busy") == 0)
		return CLI_REFUSED;
	return CLI_FAILED;	/* failed, rolled_back, rollback_failed, ... */
}

static void
on_deployer_status(void *arg, const struct hb_bus_msg *msg)
{
	struct cli *c = arg;
	struct follow *f = c->cmd;
	char instance[64];

	if (hb_bus_msg_level(msg, 0, instance, sizeof(instance)) != 0)
		return;
	for (size_t i = 0; i < f->nonline; i++)
		if (strcmp(f->online[i], instance) == 0) {
			if (strcmp(msg->payload, "online") != 0)
				memmove(f->online[i], f->online[i + 1],
				    (f->nonline - i - 1) * sizeof(f->online[0]));
			f->nonline -= strcmp(msg->payload, "online") != 0;
			return;
		}
	if (strcmp(msg->payload, "online") == 0 && f->nonline < ONLINE_MAX)
		snprintf(f->online[f->nonline++], sizeof(f->online[0]), "%s", instance);
}

static void
no_answer(struct cli *c)
{
	struct follow *f = c->cmd;

	progress_abort(&f->progress);
	cli_error("no answer from the deployer within %lld s%s%s%s: the %s (id "
	    "%s) was sent and may still run when the deployer gets to it; look "
	    "with \"homebus deploys\" or \"homebus tail %s/deploy/state\" (is "
	    "the deployer running? \"homebus status\" shows its health)",
	    (long long)(f->timeout_ms / 1000), c->online ? "" :
	    " (the broker is away)", f->progress.phase[0] ? "; last phase: " : "",
	    f->progress.phase, hb_deploy_action_name(f->cmd.action), f->cmd.id,
	    c->prefix);
	cli_done(c, CLI_UNREACHABLE);
}

static void
on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct cli *c = arg;
	struct follow *f = c->cmd;

	(void)fd;
	(void)what;
	if (!c->ended)
		progress_redraw(&f->progress);
}

static void
on_state(void *arg, const struct hb_bus_msg *msg)
{
	struct cli *c = arg;
	struct follow *f = c->cmd;
	struct hb_deploy_state s;
	char err[160];

	if (c->ended || msg->len == 0 ||
	    hb_deploy_state_decode(msg->payload, msg->len, &s, err, sizeof(err)) != 0)
		return;
	if (!f->sent) {
		/* the retained state, before the command: what runs now */
		snprintf(f->running, sizeof(f->running), "%s", s.running_tag);
		return;
	}
	if (strcmp(s.id, f->cmd.id) != 0)
		return;
	/* progress: the deployer is alive and at it */
	cli_deadline(c, f->timeout_ms, no_answer);
	if (c->json) {
		json_t *o = json_loadb(msg->payload, msg->len, 0, NULL);

		cli_print_json(o);
		json_decref(o);
	} else if (!hb_deploy_phase_final(s.phase)) {
		progress_update(&f->progress, &s);
	}
	if (hb_deploy_phase_final(s.phase)) {
		if (!c->json)
			progress_end(&f->progress, &s);
		cli_done(c, outcome_code(s.phase));
	}
}

/* P/deploy/available, retained: what `deploy` without a tag deploys. */
static void
on_available(void *arg, const struct hb_bus_msg *msg)
{
	struct cli *c = arg;
	struct follow *f = c->cmd;
	char err[160];

	if (msg->len == 0 || hb_deploy_available_decode(msg->payload, msg->len,
	    f->available, sizeof(f->available), err, sizeof(err)) != 0)
		f->available[0] = '\0';
}

/*
 * deploy: the tag given, else the available one, else (--force) the one
 * running. A tag that runs already goes only with --force: `up` would
 * replace nothing. Returns -1 to go on, or the exit code (said why).
 */
static int
choose_tag(struct cli *c)
{
	struct follow *f = c->cmd;

	if (f->cmd.action != HB_DEPLOY_DEPLOY)
		return -1;
	if (f->cmd.tag[0] == '\0')
		snprintf(f->cmd.tag, sizeof(f->cmd.tag), "%s", f->available[0] ?
		    f->available : f->force ? f->running : "");
	if (f->cmd.tag[0] == '\0') {
		cli_error("no tag given, and no version available (nothing retained "
		    "on %s/deploy/available; \"homebus available TAG\" sets it): "
		    "nothing was sent", c->prefix);
		return CLI_REFUSED;
	}
	if (strcmp(f->cmd.tag, f->running) == 0 && !f->force) {
		printf("%s runs already: nothing to deploy (--force deploys it again, "
		    "every service recreated)\n", f->cmd.tag);
		return CLI_OK;
	}
	return -1;
}

/* The command on P/deploy/command; 0 or -1 (said on stderr). */
static int
publish_command(struct cli *c)
{
	struct follow *f = c->cmd;
	char topic[HB_TOPIC_MAX];
	json_t *o = hb_deploy_cmd_encode(&f->cmd);
	int rc;

	hb_topic_deploy(topic, sizeof(topic), c->prefix, "command", NULL);
	rc = cli_publish_json(c, topic, o, false);
	json_decref(o);
	return rc;
}

/*
 * Back on the bus after the broker went away: the states published
 * meanwhile are lost to this session, so the command goes again, same
 * id. The deployer never runs an id twice: it answers with that job's
 * state (running or ended), and the following goes on from there.
 */
static void
follow_reconnected(struct cli *c)
{
	struct follow *f = c->cmd;

	if (f->sent && f->wait)
		publish_command(c);
}

/* Every retained status is in: is a deployer there to take the command? */
static void
send_command(struct cli *c)
{
	struct follow *f = c->cmd;
	bool for_us = f->nonline > 0;
	int rc;

	if (f->cmd.instance[0]) {
		for_us = false;
		for (size_t i = 0; i < f->nonline; i++)
			for_us |= strcmp(f->online[i], f->cmd.instance) == 0;
	}
	if (!for_us) {
		cli_error("no deployer%s%s is online (nothing on %s/svc/deployer/+/"
		    "status says online): the command was not sent",
		    f->cmd.instance[0] ? " for instance " : "", f->cmd.instance,
		    c->prefix);
		cli_done(c, CLI_UNREACHABLE);
		return;
	}
	if ((rc = choose_tag(c)) >= 0) {
		cli_done(c, rc);
		return;
	}
	if (publish_command(c) != 0) {
		cli_done(c, CLI_REFUSED);
		return;
	}
	f->sent = true;
	if (!f->wait) {
		if (c->json) {
			json_t *r = json_pack("{s:s,s:s}", "id", f->cmd.id, "action",
			    hb_deploy_action_name(f->cmd.action));

			cli_print_json(r);
			json_decref(r);
		} else {
			printf("%s requested (id %s); follow it with \"homebus tail "
			    "%s/deploy/state\" or add --wait\n",
			    hb_deploy_action_name(f->cmd.action), f->cmd.id, c->prefix);
		}
		cli_done(c, CLI_OK);
		return;
	}
	progress_start(&f->progress, c->tty && !c->json, c->color, &f->cmd);
	if (c->tty && !c->json) {
		f->ev_tick = event_new(c->app.base, -1, EV_PERSIST, on_tick, c);
		hb_timer_add_ms(f->ev_tick, 100);
	}
	cli_deadline(c, f->timeout_ms, no_answer);
}

static void
follow_connected(struct cli *c)
{
	char filter[HB_TOPIC_MAX];

	hb_topic_svc(filter, sizeof(filter), c->prefix, "deployer", "+", "status");
	cli_subscribe(c, filter, on_deployer_status);
	hb_topic_deploy(filter, sizeof(filter), c->prefix, "state", NULL);
	cli_subscribe(c, filter, on_state);
	hb_topic_deploy(filter, sizeof(filter), c->prefix, "available", NULL);
	cli_subscribe(c, filter, on_available);
	cli_sync(c, send_command);
}

/*
 * How long --wait waits without a sign of progress, by default: the
 * longest the deployer itself may stay silent (its verify timeout or its
 * slowest step's timeout, from the same configuration file) plus a minute.
 */
static int64_t
default_timeout_ms(struct cli *c)
{
	long long longest = hb_cfg_int(c->app.cfg, "deployer.verify.timeout_s",
	    HB_DEPLOY_VERIFY_TIMEOUT_S, 1, 86400);
	json_t *steps = hb_cfg_json(c->app.cfg, "deployer.steps", JSON_OBJECT, NULL);
	const char *name;
	json_t *step;

	json_object_foreach(steps, name, step) {
		json_t *t = json_object_get(step, "timeout_s");

		if (json_is_integer(t) && json_integer_value(t) > longest)
			longest = json_integer_value(t);
	}
	return (longest + 60) * 1000;
}

/* A fresh id: this host, this process, this millisecond. */
static void
fresh_id(char *out, size_t n)
{
	char host[40];

	hb_hostname(host, sizeof(host));
	for (char *p = host; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || *p == '-'))
			*p = '-';
	snprintf(out, n, "cli-%s-%ld-%llx", host, (long)getpid(),
	    (unsigned long long)hb_wall_ms());
}

static int
run_follow(const struct global *g, struct follow *f, bool json,
    int64_t timeout_ms)
{
	const char *user = getenv("SUDO_USER");
	char host[128];
	struct cli c;
	int rc;

	if (user == NULL)
		user = getenv("USER");
	hb_hostname(host, sizeof(host));
	snprintf(f->cmd.requested_by, sizeof(f->cmd.requested_by), "cli/%s@%s",
	    user ? user : "?", host);
	fresh_id(f->cmd.id, sizeof(f->cmd.id));
	rc = cli_open(&c, g->config, g->verbose, follow_connected);
	if (rc != HB_APP_RUN)
		return rc;
	c.cmd = f;
	c.json = json;
	if (f->wait)
		c.on_reconnected = follow_reconnected;
	f->timeout_ms = timeout_ms > 0 ? timeout_ms : default_timeout_ms(&c);
	rc = cli_run_keep(&c);
	if (f->ev_tick)
		event_free(f->ev_tick);
	cli_close(&c);
	progress_free(&f->progress);
	return rc;
}

/*
 * A comma-separated list of names (each a tag's characters, shorter than
 * size) appended to names[max][size] and *n; -1 with an error naming
 * `option` and `what` a name must be.
 */
static int
parse_names(const char *list, char *names, size_t size, size_t max, size_t *n,
    const char *option, const char *what)
{
	const char *name, *end;

	for (name = list; *name; name = *end ? end + 1 : end) {
		char one[HB_DEPLOY_FILE_MAX];

		end = strchr(name, ',');
		if (end == NULL)
			end = name + strlen(name);
		snprintf(one, sizeof(one), "%.*s", (int)(end - name), name);
		if ((size_t)(end - name) >= size || !hb_deploy_tag_ok(one) ||
		    *n == max) {
			cli_error("%s: \"%.*s\" is not %s", option, (int)(end - name),
			    name, what);
			return -1;
		}
		snprintf(names + *n * size, size, "%s", one);
		(*n)++;
	}
	return 0;
}

static int
parse_services(const char *list, struct hb_deploy_cmd *cmd)
{
	return parse_names(list, cmd->services[0], sizeof(cmd->services[0]),
	    HB_DEPLOY_MAX_SERVICES, &cmd->nservices, "--services",
	    "a service name");
}

/* --only a.db[,b.db], repeatable: the restore's SQLite copies by name. */
static int
parse_only(const char *list, struct hb_deploy_cmd *cmd)
{
	return parse_names(list, cmd->only[0], sizeof(cmd->only[0]),
	    HB_DEPLOY_MAX_FILES, &cmd->nonly, "--only", "a SQLite file's name as "
	    "in the backup (app.db, not a path; at most 16)");
}

/* Options shared by deploy, rollback, backup and restore. */
static int
parse(const struct command *cmd, int argc, char **argv, struct follow *f,
    bool *json, int64_t *timeout_ms)
{
	static const struct option opts[] = {
		{ "wait", no_argument, NULL, 'w' },
		{ "force", no_argument, NULL, 'f' },
		{ "timeout", required_argument, NULL, 'T' },
		{ "json", no_argument, NULL, 'j' },
		{ "services", required_argument, NULL, 's' },
		{ "to", required_argument, NULL, 't' },
		{ "instance", required_argument, NULL, 'i' },
		{ "only", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	long long v;
	int o;

	while ((o = getopt_long(argc, argv, "wfT:js:t:i:o:h", opts, NULL)) != -1) {
		switch (o) {
		case 'f':
			if (f->cmd.action != HB_DEPLOY_DEPLOY)
				goto bad;
			f->force = true;
			break;
		case 'w':
			f->wait = true;
			break;
		case 'T':
			if (hb_parse_ll(optarg, 1, 86400, &v) != 0) {
				cli_error("--timeout: seconds, from 1 to 86400");
				return CLI_REFUSED;
			}
			*timeout_ms = v * 1000;
			break;
		case 'j':
			*json = true;
			break;
		case 's':
			if (f->cmd.action != HB_DEPLOY_DEPLOY)
				goto bad;
			if (parse_services(optarg, &f->cmd) != 0)
				return CLI_REFUSED;
			break;
		case 't':
			if (f->cmd.action != HB_DEPLOY_ROLLBACK)
				goto bad;
			if (!hb_deploy_backup_name_ok(optarg)) {
				cli_error("--to: \"%s\" is not a backup's name (see "
				    "homebus backups)", optarg);
				return CLI_REFUSED;
			}
			snprintf(f->cmd.backup, sizeof(f->cmd.backup), "%s", optarg);
			break;
		case 'i':
			if (!hb_topic_level_ok(optarg) || strlen(optarg) >= 64) {
				cli_error("--instance: \"%s\" is not an instance name",
				    optarg);
				return CLI_REFUSED;
			}
			snprintf(f->cmd.instance, sizeof(f->cmd.instance), "%s", optarg);
			break;
		case 'o':
			if (f->cmd.action != HB_DEPLOY_RESTORE)
				goto bad;
			if (parse_only(optarg, &f->cmd) != 0)
				return CLI_REFUSED;
			break;
		case 'h':
			command_usage(cmd, stdout);
			return CLI_OK;
		default:
			goto bad;
		}
	}
	return -1;
bad:
	command_usage(cmd, stderr);
	return CLI_REFUSED;
}

static int
run_action(const struct global *g, const struct command *cmd, int argc,
    char **argv, enum hb_deploy_action action)
{
	struct follow f = { 0 };
	int64_t timeout_ms = 0;
	bool json = false;
	int rc;

	f.cmd.action = action;
	if ((rc = parse(cmd, argc, argv, &f, &json, &timeout_ms)) >= 0)
		return rc;
	if (action == HB_DEPLOY_RESTORE) {
		if (optind != argc - 1) {
			command_usage(cmd, stderr);
			return CLI_REFUSED;
		}
		if (!hb_deploy_backup_name_ok(argv[optind])) {
			cli_error("\"%s\" is not a backup's name (homebus backups lists "
			    "them); nothing was sent", argv[optind]);
			return CLI_REFUSED;
		}
		snprintf(f.cmd.backup, sizeof(f.cmd.backup), "%s", argv[optind]);
		return run_follow(g, &f, json, timeout_ms);
	}
	/* deploy without a tag: the available one, chosen once connected */
	if (optind < argc - 1 || (optind == argc - 1 && action != HB_DEPLOY_DEPLOY)) {
		command_usage(cmd, stderr);
		return CLI_REFUSED;
	}
	if (optind == argc - 1) {
		if (!hb_deploy_tag_ok(argv[optind])) {
			cli_error("\"%s\" is not a valid tag: letters, digits, '.', '_' "
			    "and '-', starting with a letter or digit, at most 128 "
			    "characters; nothing was sent", argv[optind]);
			return CLI_REFUSED;
		}
		snprintf(f.cmd.tag, sizeof(f.cmd.tag), "%s", argv[optind]);
	}
	return run_follow(g, &f, json, timeout_ms);
}

int
cmd_deploy(const struct global *g, const struct command *cmd, int argc,
    char **argv)
{
	return run_action(g, cmd, argc, argv, HB_DEPLOY_DEPLOY);
}

int
cmd_rollback(const struct global *g, const struct command *cmd, int argc,
    char **argv)
{
	return run_action(g, cmd, argc, argv, HB_DEPLOY_ROLLBACK);
}

int
cmd_deploy_check(const struct global *g, enum hb_deploy_action action,
    const char *backup, bool json)
{
	struct follow f = { 0 };

	f.cmd.action = action;
	f.wait = true;
	snprintf(f.cmd.backup, sizeof(f.cmd.backup), "%s", backup ? backup : "");
	return run_follow(g, &f, json, 0);
}

int
cmd_restore(const struct global *g, const struct command *cmd, int argc,
    char **argv)
{
	return run_action(g, cmd, argc, argv, HB_DEPLOY_RESTORE);
}

int
cmd_backup(const struct global *g, const struct command *cmd, int argc,
    char **argv)
{
	return run_action(g, cmd, argc, argv, HB_DEPLOY_BACKUP);
}

/* ---------------- available ---------------- */

static void
available_connected(struct cli *c)
{
	const char *tag = c->cmd;
	char topic[HB_TOPIC_MAX];
	json_t *o = hb_deploy_available_encode(tag);

	hb_topic_deploy(topic, sizeof(topic), c->prefix, "available", NULL);
	if (cli_publish_json(c, topic, o, true) == 0)
		printf("%s is the newest version on %s (retained); Home Assistant "
		    "shows it as an update when it differs from the installed one\n",
		    tag, topic);
	json_decref(o);
	cli_done(c, CLI_OK);
}

int
cmd_available(const struct global *g, const struct command *cmd, int argc,
    char **argv)
{
	struct cli c;
	int rc;

	if (argc == 2 && (strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "-h") == 0)) {
		command_usage(cmd, stdout);
		return CLI_OK;
	}
	if (argc != 2) {
		command_usage(cmd, stderr);
		return CLI_REFUSED;
	}
	if (!hb_deploy_tag_ok(argv[1])) {
		cli_error("\"%s\" is not a valid tag: letters, digits, '.', '_' and "
		    "'-', starting with a letter or digit, at most 128 characters",
		    argv[1]);
		return CLI_REFUSED;
	}
	rc = cli_open(&c, g->config, g->verbose, available_connected);
	if (rc != HB_APP_RUN)
		return rc;
	c.cmd = argv[1];
	return cli_run(&c);
}
