/*
 * cmd_doctor: checks an installation against what homebus promises, and
 * says what to fix, one line per finding (ok / warn / fail):
 *
 *	broker     reachable, and the CLI's user accepted
 *	sessions   a persistent session survives a reconnect, and a queue of
 *	           more messages than mosquitto's default max_queued_messages
 *	           (1000) reaches a subscriber that was away
 *	services   every service online; every expected one present; a
 *	           heartbeat heard from each, with its clock
 *	influxdb   reachable with the writer's settings, the database there
 *	spool      the writer's spool empty or draining
 *	disk       free space under data_dir and the deployer's backup_dir
 *	telegram   the token file readable, getMe answering (when configured)
 *
 * The checks run side by side; the findings are printed in this order at
 * the end. Exit 0 when nothing fails.
 */
#include "commands.h"
#include "doctor.h"

#include "hb_http_client.h"
#include "hb_msg.h"
#include "hb_topic.h"
#include "hb_util.h"

#include <stdlib.h>
#include <unistd.h>
#include <string.h>

static void finish_if_done(struct doctor *d);

void
doctor_say(struct doctor *d, enum finding_level level, const char *check,
    const char *fmt, ...)
{
	struct finding *f;
	va_list ap;

	if (d->nfindings == DOCTOR_FINDINGS_MAX)
		return;
	f = &d->findings[d->nfindings++];
	f->level = level;
	snprintf(f->check, sizeof(f->check), "%s", check);
	va_start(ap, fmt);
	vsnprintf(f->text, sizeof(f->text), fmt, ap);
	va_end(ap);
}

void
doctor_begin(struct doctor *d)
{
	d->pending++;
}

void
doctor_end(struct doctor *d)
{
	d->pending--;
	finish_if_done(d);
}

/* The order findings are printed in: by check, as the header lists them. */
static int
rank(const char *check)
{
	static const char *const order[] = { "broker", "sessions", "services",
	    "clocks", "influxdb", "spool", "disk", "telegram" };

	for (size_t i = 0; i < HB_ARRAY_LEN(order); i++)
		if (strncmp(check, order[i], strlen(order[i])) == 0)
			return (int)i;
	return (int)HB_ARRAY_LEN(order);
}

static int
by_rank(const void *a, const void *b)
{
	const struct finding *x = a, *y = b;
	int d = rank(x->check) - rank(y->check);

	return d ? d : (x < y ? -1 : 1);
}

static void
print_findings(struct doctor *d)
{
	static const char *const names[] = { "ok", "warn", "fail" };
	static const char *const colors[] = { "ok", "degraded", "down" };
	bool failed = false;
	json_t *list = json_array();

	qsort(d->findings, d->nfindings, sizeof(d->findings[0]), by_rank);
	for (size_t i = 0; i < d->nfindings; i++) {
		struct finding *f = &d->findings[i];

		failed |= f->level == FINDING_FAIL;
		if (d->c->json) {
			json_array_append_new(list, json_pack("{s:s,s:s,s:s}", "level",
			    names[f->level], "check", f->check, "text", f->text));
			continue;
		}
		printf("%s%-4s%s %-9s %s\n", cli_color(d->c, colors[f->level]),
		    names[f->level], cli_color(d->c, "reset"), f->check, f->text);
	}
	if (d->c->json) {
		json_t *o = json_pack("{s:b,s:o}", "ok", !failed, "findings", list);

		cli_print_json(o);
		json_decref(o);
	} else {
		json_decref(list);
	}
	cli_done(d->c, failed ? CLI_FAILED : CLI_OK);
}

static void
finish_if_done(struct doctor *d)
{
	if (d->pending == 0 && d->started && !d->c->ended)
		print_findings(d);
}

static void
give_up(struct cli *c)
{
	struct doctor *d = c->cmd;

	doctor_say(d, FINDING_FAIL, "broker", "%d check%s did not finish in time "
	    "(a broker or service that accepts but never answers?)", d->pending,
	    d->pending == 1 ? "" : "s");
	d->pending = 0;
	finish_if_done(d);
}

static void
on_unreachable(struct cli *c)
{
	struct doctor *d = c->cmd;

	if (d->bus_over)
		return;
	d->bus_over = true;
	doctor_say(d, FINDING_FAIL, "broker", "%s", c->unreachable);
	doctor_end(d);		/* the bus checks will not run */
}

static void
on_connected(struct cli *c)
{
	struct doctor *d = c->cmd;

	if (d->bus_over)
		return;
	doctor_say(d, FINDING_OK, "broker", "reachable at %s:%d%s%s",
	    c->bus_cfg.host, c->bus_cfg.port, c->bus_cfg.username ? " as user " :
	    " (anonymous)", c->bus_cfg.username ? c->bus_cfg.username : "");
	doctor_bus_checks(d);
}

int
cmd_doctor(const struct global *g, const struct command *cmd, int argc,
    char **argv)
{
	struct doctor *d;
	bool json = false;
	struct cli c;
	int rc;

	if ((rc = command_options(cmd, argc, argv, &json, NULL, 0)) >= 0)
		return rc;
	rc = cli_open(&c, g->config, g->verbose, on_connected);
	if (rc != HB_APP_RUN)
		return rc;
	d = hb_xcalloc(1, sizeof(*d));
	d->c = &c;
	d->http = hb_http_client_new(c.app.base);
	c.cmd = d;
	c.json = json;
	c.on_unreachable = on_unreachable;
	if (c.tty && !json)
		fprintf(stderr, "checking (up to %d s for every service's heartbeat)"
		    "...\n", doctor_heartbeat_window_s(&c));
	doctor_begin(d);	/* the bus checks, ended by each path */
	doctor_local_checks(d);
	/* a check that never answers does not hold the doctor for ever */
	cli_deadline(&c, (int64_t)(doctor_heartbeat_window_s(&c) + 30) * 1000,
	    give_up);
	d->started = true;
	finish_if_done(d);
	rc = cli_run_keep(&c);
	doctor_free(d);
	cli_close(&c);
	return rc;
}
