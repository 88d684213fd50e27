/*
 * menu: setMyCommands per allowed chat, once per change (see menu.h).
 */
#include "menu.h"
#include "chat_command.h"
#include "telegram.h"

#include "hb_log.h"
#include "hb_util.h"

#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* outbox meta: "<key> <chat>,<chat>,..." of the last full registration */
#define MENU_META "telegram_commands"

/* One request still to make: commands set for a chat, or deleted. */
struct menu_step {
	long long chat_id;
	bool remove;
};

struct menu {
	struct menu_config cfg;
	struct hb_http_client *http;
	struct hb_outbox *outbox;
	struct event *ev_retry;
	struct hb_backoff backoff;
	struct hb_http_xfer *xfer;
	struct menu_step *steps;	/* owned */
	size_t nsteps, next;
	bool refused;			/* a chat refused: try again next start */
	char key[17];
};

static void send_next(struct menu *m);

/* FNV-1a over the bytes: a change of a character changes the key. */
static uint64_t
fnv(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < n; i++) {
		h ^= b[i];
		h *= 1099511628211ULL;
	}
	return h;
}

void
menu_key(const long long *chats, size_t nchats, char out[17])
{
	uint64_t h = 14695981039346656037ULL;
	char id[32];

	for (size_t i = 0; i < command_count; i++) {
		h = fnv(h, command_list[i].name, strlen(command_list[i].name) + 1);
		h = fnv(h, command_list[i].description,
		    strlen(command_list[i].description) + 1);
	}
	for (size_t i = 0; i < nchats; i++) {
		int n = snprintf(id, sizeof(id), "%lld,", chats[i]);

		h = fnv(h, id, (size_t)n);
	}
	snprintf(out, 17, "%016llx", (unsigned long long)h);
}

/*
 * The steps from what the outbox says was registered (stored, or NULL) to
 * the configured chats: a delete for each chat no longer listed, a set for
 * each listed one. None when the key is the same.
 */
static void
plan(struct menu *m, const char *stored)
{
	const char *p = stored ? strchr(stored, ' ') : NULL;
	size_t cap = m->cfg.nchats + 1;

	m->steps = hb_xcalloc(cap, sizeof(*m->steps));
	if (stored && strncmp(stored, m->key, 16) == 0 && stored[16] == ' ')
		return;
	while (p && *p) {
		char *end;
		long long id = strtoll(p + 1, &end, 10);

		if (end == p + 1)
			break;
		if (!telegram_chat_in(m->cfg.chats, m->cfg.nchats, id)) {
			if (m->nsteps == cap) {
				cap *= 2;
				m->steps = hb_xrealloc(m->steps, cap * sizeof(*m->steps));
			}
			m->steps[m->nsteps++] = (struct menu_step){ id, true };
		}
		p = *end == ',' ? end : NULL;
	}
	for (size_t i = 0; i < m->cfg.nchats; i++) {
		if (m->nsteps == cap) {
			cap *= 2;
			m->steps = hb_xrealloc(m->steps, cap * sizeof(*m->steps));
		}
		m->steps[m->nsteps++] = (struct menu_step){ m->cfg.chats[i], false };
	}
}

/* Every step answered: the outbox remembers, unless a chat refused. */
static void
finish(struct menu *m)
{
	struct hb_buf v = { 0 };

	if (m->refused) {
		hb_warn("telegram commands menu not registered in every chat: "
		    "tried again at the next start");
		return;
	}
	hb_buf_printf(&v, "%s ", m->key);
	for (size_t i = 0; i < m->cfg.nchats; i++)
		hb_buf_printf(&v, "%s%lld", i ? "," : "", m->cfg.chats[i]);
	if (hb_outbox_meta_set(m->outbox, MENU_META, v.data) != 0)
		hb_warn("cannot store the telegram commands menu in the outbox: "
		    "it is registered again at the next start");
	else
		hb_info("telegram commands menu registered chats=%zu",
		    m->cfg.nchats);
	hb_buf_free(&v);
}

static void
retry_in(struct menu *m, int64_t ms)
{
	hb_timer_add_ms(m->ev_retry, ms);
}

static void
on_answer(const struct hb_http_response *resp, void *arg)
{
	struct menu *m = arg;
	const struct menu_step *st = &m->steps[m->next];
	const char *method = st->remove ? "deleteMyCommands" : "setMyCommands";
	struct telegram_answer a;
	char masked[400];

	m->xfer = NULL;
	telegram_answer(resp->status, resp->body, resp->body_len,
	    resp->retry_after_s, &a);
	if (resp->status == 0)
		snprintf(a.description, sizeof(a.description), "%s",
		    resp->error ? resp->error : "no answer");
	telegram_mask(a.description, m->cfg.api.token, masked, sizeof(masked));
	switch (a.verdict) {
	case TG_DELIVERED:
		hb_backoff_reset(&m->backoff);
		m->next++;
		send_next(m);
		return;
	case TG_REFUSED:
		/* a chat the bot has not met: the others still get theirs */
		hb_warn("telegram %s refused chat=%lld reason=\"%s\"", method,
		    st->chat_id, masked);
		m->refused = true;
		m->next++;
		send_next(m);
		return;
	default: {
		int64_t delay = a.verdict == TG_WAIT && a.retry_after_s > 0 ?
		    a.retry_after_s * 1000 : hb_backoff_next(&m->backoff);

		hb_warn("telegram %s failed chat=%lld url=%s/bot***/%s "
		    "reason=\"%s\" retry_in_ms=%lld", method, st->chat_id,
		    m->cfg.api.url, method, masked, (long long)delay);
		retry_in(m, delay);
		return;
	}
	}
}

/* The BotCommandScopeChat request for one step. */
static char *
step_body(const struct menu_step *st)
{
	json_t *o = json_object(), *list;
	char *s;

	json_object_set_new(o, "scope", json_pack("{s:s, s:I}", "type", "chat",
	    "chat_id", (json_int_t)st->chat_id));
	if (!st->remove) {
		list = json_array();
		for (size_t i = 0; i < command_count; i++)
			json_array_append_new(list, json_pack("{s:s, s:s}", "command",
			    command_list[i].name, "description",
			    command_list[i].description));
		json_object_set_new(o, "commands", list);
	}
	s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return s;
}

static void
send_next(struct menu *m)
{
	struct hb_http_request req = { 0 };
	const char *headers[] = { "Content-Type: application/json", NULL };
	struct hb_buf url = { 0 };
	const struct menu_step *st;
	char *body;

	if (m->next >= m->nsteps) {
		if (m->nsteps > 0)
			finish(m);
		return;
	}
	st = &m->steps[m->next];
	body = step_body(st);
	hb_buf_printf(&url, "%s/bot%s/%s", m->cfg.api.url, m->cfg.api.token,
	    st->remove ? "deleteMyCommands" : "setMyCommands");
	req.method = "POST";
	req.url = url.data;
	req.headers = headers;
	req.body = body;
	req.body_len = strlen(body);
	req.timeout_ms = m->cfg.api.timeout_ms;
	m->xfer = hb_http_request(m->http, &req, on_answer, m);
	hb_buf_free(&url);
	free(body);
	if (m->xfer == NULL)
		retry_in(m, hb_backoff_next(&m->backoff));
}

static void
on_retry(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	send_next(arg);
}

struct menu *
menu_new(const struct menu_config *cfg, struct event_base *base,
    struct hb_http_client *http, struct hb_outbox *outbox)
{
	struct menu *m = hb_xcalloc(1, sizeof(*m));
	char *stored;

	m->cfg = *cfg;
	m->http = http;
	m->outbox = outbox;
	m->ev_retry = evtimer_new(base, on_retry, m);
	hb_backoff_init(&m->backoff, cfg->api.retry_min_ms, cfg->api.retry_max_ms);
	menu_key(cfg->chats, cfg->nchats, m->key);
	stored = hb_outbox_meta_get(outbox, MENU_META);
	plan(m, stored);
	free(stored);
	return m;
}

void
menu_start(struct menu *m)
{
	if (m->nsteps == 0)
		hb_debug("telegram commands menu already registered key=%s", m->key);
	send_next(m);
}

void
menu_free(struct menu *m)
{
	if (m == NULL)
		return;
	if (m->xfer)
		hb_http_cancel(m->xfer);
	if (m->ev_retry)
		event_free(m->ev_retry);
	free(m->steps);
	free(m);
}
