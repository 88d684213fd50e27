/*
 * options: reading the notifier's configuration (see options.h).
 */
#include "options.h"
#include "telegram.h"

#include "hb_config.h"
#include "hb_msg.h"
#include "hb_util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const severity_choices[] = { "info", "warning", "error",
	"critical", NULL };

static void
read_chats(struct notifier_options *o, struct hb_config *cfg)
{
	const char *base = "notifier.telegram.chat_ids";
	json_t *arr = hb_cfg_json(cfg, base, JSON_ARRAY, true), *v;
	char path[128], sub[160];
	size_t i;

	if (arr == NULL)
		return;
	o->chats = hb_xcalloc(json_array_size(arr) + 1, sizeof(*o->chats));
	json_array_foreach(arr, i, v) {
		struct recipient *c = &o->chats[o->nchats];

		snprintf(path, sizeof(path), "%s[%zu]", base, i);
		c->min_sev = o->min_sev;
		if (json_is_integer(v)) {
			c->id = hb_cfg_int(cfg, path, 0, -TELEGRAM_CHAT_ID_MAX,
			    TELEGRAM_CHAT_ID_MAX);
		} else if (json_is_object(v)) {
			hb_cfg_json(cfg, path, JSON_OBJECT, true);
			snprintf(sub, sizeof(sub), "%s.id", path);
			c->id = hb_cfg_int(cfg, sub, 0, -TELEGRAM_CHAT_ID_MAX,
			    TELEGRAM_CHAT_ID_MAX);
			snprintf(sub, sizeof(sub), "%s.min_severity", path);
			c->min_sev = hb_cfg_enum(cfg, sub, severity_choices, o->min_sev);
			snprintf(sub, sizeof(sub), "%s.id", path);
			if (!hb_cfg_has(cfg, sub)) {
				hb_cfg_error(cfg, path, "a chat needs an \"id\"");
				continue;
			}
		} else {
			hb_cfg_error(cfg, path, "expected a chat id (an integer) or "
			    "{\"id\": CHAT_ID, \"min_severity\": \"warning\"}");
			continue;
		}
		if (c->id == 0) {
			hb_cfg_error(cfg, path, "0 is not a chat id (ask @userinfobot, "
			    "or read getUpdates, for yours)");
			continue;
		}
		o->nchats++;
	}
}

/* True when id is already among o's chats. */
static bool
has_chat(const struct notifier_options *o, long long id)
{
	for (size_t i = 0; i < o->nchats; i++)
		if (o->chats[i].id == id)
			return true;
	return false;
}

/*
 * notifier.telegram.chat_ids_file: one chat id a line, '#' to the end of a
 * line a comment, blank lines skipped. Its chats are added to chat_ids
 * (a chat in both keeps the JSON's min_severity), each at min_severity.
 * The file is read as the token's is: kept outside the JSON so that a
 * secret store or a provisioning tool can own it.
 */
static void
read_chats_file(struct notifier_options *o, struct hb_config *cfg)
{
	const char *key = "notifier.telegram.chat_ids_file";
	const char *file = hb_cfg_str(cfg, key, NULL);
	char *text, *line, *next;
	size_t cap;
	int lineno = 0;

	if (file == NULL || *file == '\0')
		return;
	text = hb_read_file(file, 1 << 20, NULL);
	if (text == NULL) {
		hb_cfg_error(cfg, key, "cannot read chat ids file \"%s\": %s", file,
		    strerror(errno));
		return;
	}
	cap = o->nchats + 1;
	for (line = text; line; line = next) {
		char *hash, *end;
		long long id;

		lineno++;
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		if ((hash = strchr(line, '#')) != NULL)
			*hash = '\0';
		while (*line == ' ' || *line == '\t')
			line++;
		end = line + strlen(line);
		while (end > line && (end[-1] == ' ' || end[-1] == '\t' ||
		    end[-1] == '\r'))
			*--end = '\0';
		if (*line == '\0')
			continue;
		if (hb_parse_ll(line, -TELEGRAM_CHAT_ID_MAX, TELEGRAM_CHAT_ID_MAX,
		    &id) != 0 || id == 0) {
			hb_cfg_error(cfg, key, "%s:%d: \"%s\" is not a chat id (one "
			    "integer a line, negative for groups; '#' starts a "
			    "comment)", file, lineno, line);
			continue;
		}
		if (has_chat(o, id))
			continue;
		if (o->nchats + 1 >= cap) {
			cap = cap * 2 + 8;
			o->chats = hb_xrealloc(o->chats, cap * sizeof(*o->chats));
		}
		o->chats[o->nchats++] = (struct recipient){ id, o->min_sev };
	}
	free(text);
}

static void
read_command_chats(struct notifier_options *o, struct hb_config *cfg)
{
	const char *base = "notifier.telegram.command_chat_ids";
	size_t n = hb_cfg_array_len(cfg, base);
	char path[128];

	o->cmd_chats = hb_xcalloc(n + 1, sizeof(*o->cmd_chats));
	for (size_t i = 0; i < n; i++) {
		long long id;

		snprintf(path, sizeof(path), "%s[%zu]", base, i);
		id = hb_cfg_int(cfg, path, 0, -TELEGRAM_CHAT_ID_MAX,
		    TELEGRAM_CHAT_ID_MAX);
		if (id == 0)
			hb_cfg_error(cfg, path, "expected a non-zero chat id (an integer)");
		else
			o->cmd_chats[o->ncmd_chats++] = id;
	}
}

static void
read_url(struct hb_config *cfg, const char *path, const char *def, char *out,
    size_t outlen)
{
	const char *s = hb_cfg_str(cfg, path, def);
	size_t n;

	if (s == NULL)
		s = "";
	if (*s && strncmp(s, "http://", 7) != 0 && strncmp(s, "https://", 8) != 0)
		hb_cfg_error(cfg, path, "\"%s\" must start with http:// or https://", s);
	snprintf(out, outlen, "%s", s);
	n = strlen(out);
	while (n > 0 && out[n - 1] == '/')
		out[--n] = '\0';
}

static void
read_telegram(struct notifier_options *o, struct hb_config *cfg)
{
	read_url(cfg, "notifier.telegram.api_url", "https://api.telegram.org",
	    o->api_url, sizeof(o->api_url));
	o->token = hb_cfg_secret(cfg, "notifier.telegram.token",
	    "TELEGRAM_BOT_TOKEN");
	read_chats(o, cfg);
	read_chats_file(o, cfg);
	read_command_chats(o, cfg);
	o->tg_timeout_ms = (long)hb_cfg_int(cfg, "notifier.telegram.timeout_ms",
	    10000, 100, 600000);
	/* Telegram keeps updates a day: a /deploy sent while we were down must
	 * not run hours later */
	o->max_command_age_ms = hb_cfg_int(cfg,
	    "notifier.telegram.max_command_age_s", 300, 0, 86400) * 1000;
	o->poll = hb_cfg_bool(cfg, "notifier.telegram.poll", true);
	o->poll_timeout_s = (int)hb_cfg_int(cfg, "notifier.telegram.poll_timeout_s",
	    25, 1, 600);
	o->chat_interval_ms = hb_cfg_int(cfg, "notifier.telegram.chat_interval_ms",
	    1000, 0, 3600000);
	o->group_max = (int)hb_cfg_int(cfg, "notifier.telegram.group_max", 20, 1,
	    10000);
	o->group_window_ms = hb_cfg_int(cfg, "notifier.telegram.group_window_ms",
	    60000, 0, 3600000);
	o->global_per_s = (int)hb_cfg_int(cfg, "notifier.telegram.global_per_s", 30,
	    1, 10000);
	if (o->token == NULL && (o->nchats > 0 || o->ncmd_chats > 0))
		hb_cfg_error(cfg, "notifier.telegram.chat_ids", "Telegram chats are "
		    "configured but there is no bot token: set "
		    "notifier.telegram.token_file or TELEGRAM_BOT_TOKEN");
}

void
options_read(struct notifier_options *o, struct hb_app *app)
{
	struct hb_config *cfg = app->cfg;

	memset(o, 0, sizeof(*o));
	o->min_sev = hb_cfg_enum(cfg, "notifier.min_severity", severity_choices,
	    HB_SEV_INFO);
	o->dedupe_window_ms = hb_cfg_int(cfg, "notifier.dedupe_window_s", 300, 0,
	    86400) * 1000;
	hb_app_data_path(app, hb_cfg_str(cfg, "notifier.outbox.path",
	    "notifier-outbox.db"), o->outbox_path, sizeof(o->outbox_path));
	o->retry_min_ms = hb_cfg_int(cfg, "notifier.retry_min_ms", 1000, 10, 600000);
	o->retry_max_ms = hb_cfg_int(cfg, "notifier.retry_max_ms", 60000, 10,
	    3600000);
	if (o->retry_max_ms < o->retry_min_ms)
		hb_cfg_error(cfg, "notifier.retry_max_ms", "%lld is below "
		    "notifier.retry_min_ms (%lld)", (long long)o->retry_max_ms,
		    (long long)o->retry_min_ms);
	o->drain_timeout_ms = hb_cfg_int(cfg, "notifier.drain_timeout_ms", 3000, 0,
	    600000);

	read_telegram(o, cfg);

	read_url(cfg, "notifier.webhook.url", "", o->webhook_url,
	    sizeof(o->webhook_url));
	o->webhook_token = hb_cfg_secret(cfg, "notifier.webhook.token",
	    "HOMEBUS_WEBHOOK_TOKEN");
	o->webhook_min_sev = hb_cfg_enum(cfg, "notifier.webhook.min_severity",
	    severity_choices, o->min_sev);
	o->webhook_timeout_ms = (long)hb_cfg_int(cfg, "notifier.webhook.timeout_ms",
	    10000, 100, 600000);
}

void
options_free(struct notifier_options *o)
{
	free(o->chats);
	free(o->cmd_chats);
	free(o->token);
	free(o->webhook_token);
	memset(o, 0, sizeof(*o));
}
