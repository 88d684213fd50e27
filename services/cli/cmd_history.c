/*
 * cmd_history: the deploy history and the backups, from the deployer's own
 * HTTP port (GET /deploys and GET /backups, on cli.deployer_url, by default
 * http.bind : deployer.http_port of the same configuration file). Over HTTP
 * rather than the bus: the journal is the deployer's, it answers at once,
 * and the answer can be long. `deploys --log ID` prints one job's whole
 * log (GET /deploys/log?id=ID) as the deployer keeps it. `backups --verify
 * NAME` and `backups --drill` are jobs of the deployer's, sent on the bus
 * and followed (cmd_deploy_check).
 */
#include "commands.h"

#include "hb_http_client.h"
#include "hb_log.h"
#include "hb_msg.h"
#include "hb_util.h"

#include <event2/http.h>
#include <stdlib.h>
#include <unistd.h>
#include <string.h>

struct history {
	struct event_base *base;
	const char *what;		/* "deploys" or "backups" */
	const char *log_id;		/* deploys --log ID: that job's log */
	bool json;
	int limit;
	int exit_code;
	char url[512];
};

static const char *
str(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : "";
}

static void
print_deploys(json_t *list)
{
	size_t i;
	json_t *d;

	if (json_array_size(list) == 0) {
		printf("no deploys in the journal yet\n");
		return;
	}
	printf("%-20s %-9s %-16s %-16s %-16s %s\n", "STARTED", "ACTION", "OUTCOME",
	    "FROM", "TO", "REQUESTED BY");
	json_array_foreach(list, i, d) {
		char started[32];

		snprintf(started, sizeof(started), "%.19s", str(d, "started"));
		printf("%-20s %-9s %-16s %-16s %-16s %s\n", started, str(d, "action"),
		    str(d, "phase"), str(d, "from_tag"), str(d, "to_tag"),
		    str(d, "requested_by"));
		if (*str(d, "error"))
			printf("%20s %s\n", "", str(d, "error"));
		if (*str(d, "restored"))
			printf("%20s restored: %s\n", "", str(d, "restored"));
	}
}

static void
print_backups(json_t *list)
{
	size_t i;
	json_t *b;

	if (json_array_size(list) == 0) {
		printf("no backups yet\n");
		return;
	}
	printf("%-40s %-16s %-10s %s\n", "BACKUP", "VERSION", "SIZE", "");
	json_array_foreach(list, i, b) {
		json_int_t bytes = json_integer_value(json_object_get(b, "bytes"));

		bool whole = json_is_true(json_object_get(b, "complete"));

		printf("%-40s %-16s %-10.1f %s\n", str(b, "name"), str(b, "from_tag"),
		    (double)bytes / (1024.0 * 1024.0), !whole ? "MB INCOMPLETE (no "
		    "manifest: that backup failed; not usable)" :
		    json_is_true(json_object_get(b, "keep")) ? "MB (kept: the last "
		    "verified version's)" : "MB");
	}
}

static void
on_answer(const struct hb_http_response *resp, void *arg)
{
	struct history *h = arg;
	json_t *root, *list;

	event_base_loopexit(h->base, NULL);
	if (h->log_id && resp->status == 404) {
		cli_error("the deployer has no log of job %s (an unknown id, or a "
		    "log pruned: it keeps the newest 200)", h->log_id);
		h->exit_code = CLI_FAILED;
		return;
	}
	if (h->log_id && resp->status == 200) {
		fwrite(resp->body, 1, resp->body_len, stdout);
		h->exit_code = CLI_OK;
		return;
	}
	if (resp->status != 200) {
		cli_error("the deployer at %s did not answer: %s", h->url,
		    resp->curl_code ? resp->error : "an unexpected status");
		h->exit_code = CLI_UNREACHABLE;
		return;
	}
	root = json_loadb(resp->body, resp->body_len, 0, NULL);
	list = json_object_get(root, h->what);
	if (!json_is_array(list)) {
		cli_error("the deployer's answer at %s is not what this CLI expects",
		    h->url);
		h->exit_code = CLI_FAILED;
		json_decref(root);
		return;
	}
	if (h->json)
		cli_print_json(list);
	else if (strcmp(h->what, "deploys") == 0)
		print_deploys(list);
	else
		print_backups(list);
	h->exit_code = CLI_OK;
	json_decref(root);
}

static int
fetch(const struct global *g, struct history *h)
{
	struct hb_http_request req = { 0 };
	struct hb_http_client *client;
	struct hb_app app = { 0 };	/* hb_app_load takes a zeroed app */
	long long port;
	int rc;

	rc = hb_app_load(&app, "cli", g->config);
	if (rc != HB_APP_RUN)
		return rc;
	hb_log_setup("homebus", g->verbose ? HB_LOG_DEBUG : HB_LOG_ERROR,
	    HB_LOG_TEXT, NULL);
	/* the port the deployer itself takes from the same file */
	port = hb_app_service_port(app.cfg, "deployer");
	if (hb_cfg_has(app.cfg, "cli.deployer_url")) {
		snprintf(h->url, sizeof(h->url), "%s/%s",
		    hb_cfg_str(app.cfg, "cli.deployer_url", ""), h->what);
	} else if (port < 0) {
		cli_error("the deployer serves no HTTP (deployer.http_port is -1): "
		    "set cli.deployer_url to where it can be asked");
		hb_app_free(&app);
		return CLI_REFUSED;
	} else {
		const char *bind = hb_cfg_str(app.cfg, "http.bind", "127.0.0.1");

		/* a deployer listening on every address answers on loopback */
		snprintf(h->url, sizeof(h->url), "http://%s:%lld/%s",
		    strcmp(bind, "0.0.0.0") == 0 ? "127.0.0.1" : bind, port, h->what);
	}
	if (h->log_id) {
		char *id = evhttp_uriencode(h->log_id, -1, 0);

		if (id && strlen(h->url) + strlen(id) + 10 < sizeof(h->url))
			snprintf(h->url + strlen(h->url), sizeof(h->url) - strlen(h->url),
			    "/log?id=%s", id);
		free(id);
	} else if (h->limit > 0 && strlen(h->url) + 16 < sizeof(h->url))
		snprintf(h->url + strlen(h->url), sizeof(h->url) - strlen(h->url),
		    "?n=%d", h->limit);
	h->base = event_base_new();
	client = hb_http_client_new(h->base);
	req.url = h->url;
	req.timeout_ms = 10000;
	h->exit_code = CLI_UNREACHABLE;
	if (hb_http_request(client, &req, on_answer, h) != NULL)
		event_base_dispatch(h->base);
	else
		cli_error("cannot ask %s", h->url);
	hb_http_client_free(client);
	event_base_free(h->base);
	hb_app_free(&app);
	return h->exit_code;
}

static int
run(const struct global *g, const struct command *cmd, int argc, char **argv,
    const char *what)
{
	struct history h = { .what = what };
	long long n = 0;
	char **rest = hb_xcalloc((size_t)argc + 1, sizeof(*rest));
	const char *verify = NULL;
	bool drill = false;
	int nrest = 0, rc;

	/* --log ID (deploys), --verify NAME, --drill (backups); the rest as
	 * every command's */
	for (int i = 0; i < argc; i++) {
		if (strcmp(what, "backups") == 0 && strcmp(argv[i], "--verify") == 0 &&
		    i + 1 < argc) {
			verify = argv[++i];
			continue;
		}
		if (strcmp(what, "backups") == 0 && strcmp(argv[i], "--drill") == 0) {
			drill = true;
			continue;
		}
		if (strcmp(what, "deploys") == 0 && strcmp(argv[i], "--log") == 0 &&
		    i + 1 < argc)
			h.log_id = argv[++i];
		else if (strcmp(what, "deploys") == 0 &&
		    strncmp(argv[i], "--log=", 6) == 0)
			h.log_id = argv[i] + 6;
		else
			rest[nrest++] = argv[i];
	}
	rc = command_options(cmd, nrest, rest, &h.json, strcmp(what, "deploys") == 0 ?
	    &n : NULL, 0);
	free(rest);
	if (rc < 0 && verify && !hb_deploy_backup_name_ok(verify)) {
		cli_error("--verify: \"%s\" is not a backup's name (homebus backups "
		    "lists them)", verify);
		return CLI_REFUSED;
	}
	if (rc < 0 && (verify || drill))
		return cmd_deploy_check(g, verify ? HB_DEPLOY_VERIFY : HB_DEPLOY_DRILL,
		    verify, h.json);
	if (rc >= 0)
		return rc;
	h.limit = (int)n;
	return fetch(g, &h);
}

int
cmd_deploys(const struct global *g, const struct command *cmd, int argc,
    char **argv)
{
	return run(g, cmd, argc, argv, "deploys");
}

int
cmd_backups(const struct global *g, const struct command *cmd, int argc,
    char **argv)
{
	return run(g, cmd, argc, argv, "backups");
}
