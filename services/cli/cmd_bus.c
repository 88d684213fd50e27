/*
 * cmd_bus: talking to the bus directly — notify, tail, publish.
 */
#include "commands.h"

#include "hb_msg.h"
#include "hb_topic.h"
#include "hb_util.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define STDIN_MAX (HB_MSG_MAX - 1024)

/* Standard input, up to max bytes, trailing newlines dropped. NULL if over. */
static char *
read_stdin(size_t max)
{
	struct hb_buf b = { 0 };
	char chunk[4096];
	size_t n;

	while ((n = fread(chunk, 1, sizeof(chunk), stdin)) > 0) {
		hb_buf_append(&b, chunk, n);
		if (b.len > max) {
			hb_buf_free(&b);
			return NULL;
		}
	}
	while (b.len > 0 && (b.data[b.len - 1] == '\n' || b.data[b.len - 1] == '\r'))
		b.len--;
	hb_buf_putc(&b, '\0');
	return b.data;
}

/* "cli/<user>@<host>": who asked, in messages a person sends. */
static void
requester(char *out, size_t n)
{
	const char *user = getenv("SUDO_USER");
	char host[128];

	if (user == NULL)
		user = getenv("USER");
	hb_hostname(host, sizeof(host));
	snprintf(out, n, "cli/%s@%s", user ? user : "?", host);
}

/* ---------------- notify ---------------- */

struct notify_cmd {
	struct hb_notify n;
	char topic[HB_TOPIC_MAX];
};

static void
notify_connected(struct cli *c)
{
	struct notify_cmd *nc = c->cmd;
	json_t *o;

	hb_topic_notify(nc->topic, sizeof(nc->topic), c->prefix,
	    hb_severity_name(nc->n.severity));
	o = hb_notify_encode(&nc->n);
	if (cli_publish_json(c, nc->topic, o, false) == 0)
		printf("sent on %s\n", nc->topic);
	json_decref(o);
	cli_done(c, CLI_OK);
}

int
cmd_notify(const struct global *g, const struct command *cmd, int argc,
    char **argv)
{
	static const struct option opts[] = {
		{ "severity", required_argument, NULL, 's' },
		{ "title", required_argument, NULL, 't' },
		{ "key", required_argument, NULL, 'k' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct notify_cmd nc = { 0 };
	char source[200];
	char *text = NULL;
	struct cli c;
	int o, sev = HB_SEV_INFO, rc;

	while ((o = getopt_long(argc, argv, "s:t:k:h", opts, NULL)) != -1) {
		switch (o) {
		case 's':
			if ((sev = hb_severity_parse(optarg)) < 0) {
				cli_error("--severity: \"%s\" is not one of info, warning, "
				    "error, critical", optarg);
				return CLI_REFUSED;
			}
			break;
		case 't':
			nc.n.title = optarg;
			break;
		case 'k':
			nc.n.key = optarg;
			break;
		case 'h':
			command_usage(cmd, stdout);
			return CLI_OK;
		default:
			command_usage(cmd, stderr);
			return CLI_REFUSED;
		}
	}
	if (optind != argc - 1) {
		command_usage(cmd, stderr);
		return CLI_REFUSED;
	}
	if (strcmp(argv[optind], "-") == 0) {
		text = read_stdin(STDIN_MAX);
		if (text == NULL) {
			cli_error("standard input is longer than %d bytes", STDIN_MAX);
			return CLI_REFUSED;
		}
	} else {
		text = hb_xstrdup(argv[optind]);
	}
	if (*text == '\0') {
		cli_error("the text is empty");
		free(text);
		return CLI_REFUSED;
	}
	requester(source, sizeof(source));
	nc.n.severity = (enum hb_severity)sev;
	nc.n.text = text;
	nc.n.source = source;
	rc = cli_open(&c, g->config, g->verbose, notify_connected);
	if (rc == HB_APP_RUN) {
		c.cmd = &nc;
		rc = cli_run(&c);
	}
	free(text);
	return rc;
}

/* ---------------- tail ---------------- */

struct tail_cmd {
	char *filters[HB_BUS_MAX_SUBS];
	int nfilters;
};

/* Printable UTF-8 text (line protocol, a state), or not. */
static bool
is_text(const char *s, size_t n)
{
	if (!hb_utf8_valid(s, n))
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 && s[i] != '\n' && s[i] != '\t' &&
		    s[i] != '\r')
			return false;
	return true;
}

static void
hex(const char *s, size_t n, struct hb_buf *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		hb_buf_putc(out, digits[(unsigned char)s[i] >> 4]);
		hb_buf_putc(out, digits[(unsigned char)s[i] & 15]);
	}
}

static void
on_tail(void *arg, const struct hb_bus_msg *msg)
{
	struct cli *c = arg;
	json_t *j = msg->len ? json_loadb(msg->payload, msg->len, 0, NULL) : NULL;
	char when[40];
	struct timespec ts;
	struct tm tm;
	struct hb_buf b = { 0 };

	clock_gettime(CLOCK_REALTIME, &ts);
	localtime_r(&ts.tv_sec, &tm);
	snprintf(when, sizeof(when), "%02d:%02d:%02d.%03ld", tm.tm_hour, tm.tm_min,
	    tm.tm_sec, ts.tv_nsec / 1000000);
	if (c->json) {
		json_t *o = json_object();

		json_object_set_new(o, "time", hb_msg_time(hb_wall_ms()));
		json_object_set_new(o, "topic", json_string(msg->topic));
		json_object_set_new(o, "retained", json_boolean(msg->retained));
		json_object_set_new(o, "qos", json_integer(msg->qos));
		if (j)
			json_object_set(o, "payload", j);
		else if (is_text(msg->payload, msg->len))
			json_object_set_new(o, "payload", json_stringn(msg->payload,
			    msg->len));
		else {
			hex(msg->payload, msg->len, &b);
			hb_buf_putc(&b, '\0');
			json_object_set_new(o, "payload_hex", json_string(b.data));
		}
		cli_print_json(o);
		json_decref(o);
	} else {
		char *text = j ? json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;

		if (text == NULL && !is_text(msg->payload, msg->len)) {
			hb_buf_puts(&b, "hex:");
			hex(msg->payload, msg->len, &b);
			hb_buf_putc(&b, '\0');
		}
		printf("%s %s%s%s %s%s\n", when, cli_color(c, "bold"), msg->topic,
		    cli_color(c, "reset"), msg->retained ? "[retained] " : "",
		    text ? text : b.data ? b.data : msg->payload);
		free(text);
		fflush(stdout);
	}
	hb_buf_free(&b);
	json_decref(j);
}

static void
tail_connected(struct cli *c)
{
	struct tail_cmd *t = c->cmd;

	for (int i = 0; i < t->nfilters; i++)
		if (cli_subscribe(c, t->filters[i], on_tail) != 0) {
			cli_error("\"%s\" is not a topic filter", t->filters[i]);
			cli_done(c, CLI_REFUSED);
			return;
		}
	if (c->tty)
		fprintf(stderr, "following %d filter%s; Ctrl-C ends\n", t->nfilters,
		    t->nfilters == 1 ? "" : "s");
}

int
cmd_tail(const struct global *g, const struct command *cmd, int argc,
    char **argv)
{
	struct tail_cmd t = { 0 };
	char all[HB_TOPIC_MAX];
	bool json = false;
	struct cli c;
	int rc;

	if ((rc = command_options(cmd, argc, argv, &json, NULL, -1)) >= 0)
		return rc;
	for (int i = optind; i < argc && t.nfilters < HB_BUS_MAX_SUBS - 1; i++)
		t.filters[t.nfilters++] = argv[i];
	rc = cli_open(&c, g->config, g->verbose, tail_connected);
	if (rc != HB_APP_RUN)
		return rc;
	if (t.nfilters == 0) {
		hb_topic_join(all, sizeof(all), c.prefix, "#");
		t.filters[t.nfilters++] = all;
	}
	c.cmd = &t;
	c.json = json;
	return cli_run(&c);
}

/* ---------------- publish ---------------- */

struct publish_cmd {
	const char *topic;
	const char *payload;
	int qos;
	bool retain;
};

static void
publish_connected(struct cli *c)
{
	struct publish_cmd *p = c->cmd;

	if (cli_publish(c, p->topic, p->payload, strlen(p->payload), p->qos,
	    p->retain) != 0) {
		cli_done(c, CLI_REFUSED);
		return;
	}
	cli_done(c, CLI_OK);
}

int
cmd_publish(const struct global *g, const struct command *cmd, int argc,
    char **argv)
{
	static const struct option opts[] = {
		{ "retain", no_argument, NULL, 'r' },
		{ "qos", required_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct publish_cmd p = { .qos = 1 };
	char *input = NULL;
	long long q;
	struct cli c;
	int o, rc;

	while ((o = getopt_long(argc, argv, "rq:h", opts, NULL)) != -1) {
		switch (o) {
		case 'r':
			p.retain = true;
			break;
		case 'q':
			if (hb_parse_ll(optarg, 0, 1, &q) != 0) {
				cli_error("--qos: 0 or 1");
				return CLI_REFUSED;
			}
			p.qos = (int)q;
			break;
		case 'h':
			command_usage(cmd, stdout);
			return CLI_OK;
		default:
			command_usage(cmd, stderr);
			return CLI_REFUSED;
		}
	}
	if (optind != argc - 2) {
		command_usage(cmd, stderr);
		return CLI_REFUSED;
	}
	p.topic = argv[optind];
	p.payload = argv[optind + 1];
	if (strchr(p.topic, '+') || strchr(p.topic, '#') || *p.topic == '\0') {
		cli_error("\"%s\": a topic to publish on has no wildcards", p.topic);
		return CLI_REFUSED;
	}
	if (strcmp(p.payload, "-") == 0) {
		if ((input = read_stdin(HB_MSG_MAX * 16)) == NULL) {
			cli_error("standard input is too long for one message");
			return CLI_REFUSED;
		}
		p.payload = input;
	}
	rc = cli_open(&c, g->config, g->verbose, publish_connected);
	if (rc == HB_APP_RUN) {
		c.cmd = &p;
		rc = cli_run(&c);
	}
	free(input);
	return rc;
}
