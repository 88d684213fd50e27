/*
 * cmd_status: every target's retained health state (P/health/<target>) as
 * a table, then the last deploy (P/deploy/state). Exit 0 when every target
 * is ok, 1 otherwise, so that `homebus status && ...` works in scripts.
 */
#include "commands.h"

#include "hb_msg.h"
#include "hb_topic.h"
#include "hb_util.h"

#include <stdlib.h>
#include <unistd.h>
#include <string.h>

#define TARGETS_MAX 1024

struct status_cmd {
	struct hb_health_msg targets[TARGETS_MAX];
	size_t ntargets;
	size_t dropped;
	struct hb_deploy_state deploy;
	bool have_deploy;
};

static int
by_name(const void *a, const void *b)
{
	return strcmp(((const struct hb_health_msg *)a)->target,
	    ((const struct hb_health_msg *)b)->target);
}

static void
on_health(void *arg, const struct hb_bus_msg *msg)
{
	struct cli *c = arg;
	struct status_cmd *st = c->cmd;
	struct hb_health_msg h;
	char err[160], name[128];

	/* the overall state is not a target; an empty retained message is a
	 * target that went away */
	if (hb_bus_msg_level(msg, 0, name, sizeof(name)) != 0 ||
	    strcmp(name, "_all") == 0 || msg->len == 0 ||
	    hb_health_decode(msg->payload, msg->len, &h, err, sizeof(err)) != 0)
		return;
	for (size_t i = 0; i < st->ntargets; i++)
		if (strcmp(st->targets[i].target, h.target) == 0) {
			st->targets[i] = h;
			return;
		}
	if (st->ntargets < TARGETS_MAX)
		st->targets[st->ntargets++] = h;
	else
		st->dropped++;
}

static void
on_deploy(void *arg, const struct hb_bus_msg *msg)
{
	struct cli *c = arg;
	struct status_cmd *st = c->cmd;
	char err[160];

	if (msg->len && hb_deploy_state_decode(msg->payload, msg->len, &st->deploy,
	    err, sizeof(err)) == 0)
		st->have_deploy = true;
}

static json_t *
as_json(struct status_cmd *st, bool all_ok)
{
	json_t *o = json_object(), *a = json_array();

	for (size_t i = 0; i < st->ntargets; i++)
		json_array_append_new(a, hb_health_encode(&st->targets[i]));
	json_object_set_new(o, "ok", json_boolean(all_ok));
	json_object_set_new(o, "targets", a);
	json_object_set_new(o, "last_deploy", st->have_deploy ?
	    hb_deploy_state_encode(&st->deploy) : json_null());
	return o;
}

static void
print_table(struct cli *c, struct status_cmd *st)
{
	size_t w = 6;
	char ago[32];

	for (size_t i = 0; i < st->ntargets; i++)
		if (strlen(st->targets[i].target) > w)
			w = strlen(st->targets[i].target);
	printf("%s%-*s  %-9s %-14s %s%s\n", cli_color(c, "bold"), (int)w, "TARGET",
	    "STATE", "SINCE", "REASON", cli_color(c, "reset"));
	for (size_t i = 0; i < st->ntargets; i++) {
		const struct hb_health_msg *h = &st->targets[i];
		const char *name = hb_health_state_name(h->state);

		cli_ago(h->since_ms, ago, sizeof(ago));
		printf("%-*s  %s%-9s%s %-14s %s\n", (int)w, h->target,
		    cli_color(c, name), name, cli_color(c, "reset"), ago,
		    h->reason[0] ? h->reason : "");
	}
	if (st->dropped)
		printf("(%zu more targets not shown)\n", st->dropped);
	printf("\n");
	if (!st->have_deploy) {
		printf("last deploy: none on %s/deploy/state\n", c->prefix);
		return;
	}
	cli_ago(st->deploy.updated_ms, ago, sizeof(ago));
	printf("last deploy: %s %s%s%s: %s, %s", hb_deploy_action_name(st->deploy.action),
	    st->deploy.to_tag, st->deploy.from_tag[0] ? " from " : "",
	    st->deploy.from_tag, st->deploy.phase, ago);
	if (st->deploy.requested_by[0])
		printf(", by %s", st->deploy.requested_by);
	printf("\n");
	if (st->deploy.error[0])
		printf("  %s\n", st->deploy.error);
}

static void
report(struct cli *c)
{
	struct status_cmd *st = c->cmd;
	bool all_ok = st->ntargets > 0;

	qsort(st->targets, st->ntargets, sizeof(st->targets[0]), by_name);
	for (size_t i = 0; i < st->ntargets; i++)
		all_ok &= st->targets[i].state == HB_HEALTH_OK;
	if (c->json) {
		json_t *o = as_json(st, all_ok);

		cli_print_json(o);
		json_decref(o);
	} else if (st->ntargets == 0) {
		printf("no health states on %s/health/+ (is homebus-health running "
		    "with this bus.prefix?)\n", c->prefix);
	} else {
		print_table(c, st);
	}
	cli_done(c, all_ok ? CLI_OK : CLI_FAILED);
}

static void
status_connected(struct cli *c)
{
	char filter[HB_TOPIC_MAX];

	hb_topic_health(filter, sizeof(filter), c->prefix, "+");
	cli_subscribe(c, filter, on_health);
	hb_topic_deploy(filter, sizeof(filter), c->prefix, "state", NULL);
	cli_subscribe(c, filter, on_deploy);
	cli_sync(c, report);
}

int
cmd_status(const struct global *g, const struct command *cmd, int argc,
    char **argv)
{
	struct status_cmd *st;
	bool json = false;
	struct cli c;
	int rc;

	if ((rc = command_options(cmd, argc, argv, &json, NULL, 0)) >= 0)
		return rc;
	rc = cli_open(&c, g->config, g->verbose, status_connected);
	if (rc != HB_APP_RUN)
		return rc;
	st = hb_xcalloc(1, sizeof(*st));
	c.cmd = st;
	c.json = json;
	rc = cli_run(&c);
	free(st);
	return rc;
}
