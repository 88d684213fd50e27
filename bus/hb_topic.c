/*
 * hb_topic: bus topic names and filter matching.
 */
#include "hb_topic.h"

#include <stdio.h>
#include <string.h>

static int
fits(int n, size_t cap)
{
	return n >= 0 && (size_t)n < cap ? 0 : -1;
}

int
hb_topic_points(char *out, size_t n, const char *prefix, const char *measurement)
{
	return fits(snprintf(out, n, "%s/points/%s", prefix, measurement), n);
}

int
hb_topic_svc(char *out, size_t n, const char *prefix, const char *service,
    const char *instance, const char *leaf)
{
	return fits(snprintf(out, n, "%s/svc/%s/%s/%s", prefix, service, instance,
	    leaf), n);
}

int
hb_topic_health(char *out, size_t n, const char *prefix, const char *target)
{
	return fits(snprintf(out, n, "%s/health/%s", prefix, target), n);
}

int
hb_topic_notify(char *out, size_t n, const char *prefix, const char *severity)
{
	return fits(snprintf(out, n, "%s/notify/%s", prefix, severity), n);
}

int
hb_topic_deploy(char *out, size_t n, const char *prefix, const char *leaf,
    const char *instance)
{
	if (instance)
		return fits(snprintf(out, n, "%s/deploy/%s/%s", prefix, leaf,
		    instance), n);
	return fits(snprintf(out, n, "%s/deploy/%s", prefix, leaf), n);
}

int
hb_topic_ha_config(char *out, size_t n, const char *discovery_prefix,
    const char *component, const char *node_id, const char *object_id)
{
	return fits(snprintf(out, n, "%s/%s/%s/%s/config", discovery_prefix,
	    component, node_id, object_id), n);
}

int
hb_topic_join(char *out, size_t n, const char *prefix, const char *suffix)
{
	return fits(snprintf(out, n, "%s/%s", prefix, suffix), n);
}

bool
hb_topic_level_ok(const char *s)
{
	return *s != '\0' && strpbrk(s, "/+#") == NULL;
}

void
hb_topic_level_sanitize(char *s)
{
	/*
	 * ASCII only: mosquitto disconnects a client that publishes to a
	 * topic with U+007F-U+009F or a non-character in it, and a level cut
	 * to fit a buffer may end inside a UTF-8 sequence. The name itself
	 * travels intact in the payload; the topic level only routes.
	 */
	for (; *s; s++)
		if (*s == '/' || *s == '+' || *s == '#' || (unsigned char)*s < 0x20 ||
		    (unsigned char)*s >= 0x7f)
			*s = '_';
}

bool
hb_topic_match(const char *filter, const char *topic, const char **caps,
    size_t *caplen, size_t *ncaps)
{
	const char *f = filter, *t = topic;
	size_t nc = 0;

	/* $share/<group>/<filter>: match on the filter part. */
	if (strncmp(f, "$share/", 7) == 0) {
		f = strchr(f + 7, '/');
		if (f == NULL)
			return false;
		f++;
	}
	/* Wildcards do not match topics starting with '$' (MQTT 4.7.2). */
	if (t[0] == '$' && (f[0] == '+' || f[0] == '#'))
		return false;
	for (;;) {
		const char *fe = strchr(f, '/');
		const char *te = strchr(t, '/');
		size_t fl = fe ? (size_t)(fe - f) : strlen(f);
		size_t tl = te ? (size_t)(te - t) : strlen(t);

		if (fl == 1 && f[0] == '#')
			break;
		if (fl == 1 && f[0] == '+') {
			if (nc < HB_TOPIC_MAX_LEVELS && caps) {
				caps[nc] = t;
				caplen[nc] = tl;
			}
			nc++;
		} else if (fl != tl || memcmp(f, t, fl) != 0) {
			return false;
		}
		if (fe == NULL && te == NULL)
			break;
		if (fe == NULL)
			return false;
		if (te == NULL) {
			/* "a/#" matches "a" too */
			if (strcmp(fe + 1, "#") == 0)
				break;
			return false;
		}
		f = fe + 1;
		t = te + 1;
	}
	if (ncaps)
		*ncaps = nc < HB_TOPIC_MAX_LEVELS ? nc : HB_TOPIC_MAX_LEVELS;
	return true;
}

bool
hb_topic_filter_ok(const char *filter, char *err, size_t errlen)
{
	const char *p = filter;

	if (*p == '\0') {
		snprintf(err, errlen, "empty topic filter");
		return false;
	}
	if (strlen(p) > 65535) {
		snprintf(err, errlen, "topic filter too long");
		return false;
	}
	for (; *p; p++) {
		if (*p == '#' && (p[1] != '\0' || (p != filter && p[-1] != '/'))) {
			snprintf(err, errlen, "'#' must be the whole last level");
			return false;
		}
		if (*p == '+' && ((p != filter && p[-1] != '/') ||
		    (p[1] != '\0' && p[1] != '/'))) {
			snprintf(err, errlen, "'+' must be a whole level");
			return false;
		}
	}
	return true;
}

const char *
hb_topic_rest(const char *filter, const char *topic)
{
	const char *f = filter, *t = topic;

	if (strncmp(f, "$share/", 7) == 0) {
		f = strchr(f + 7, '/');
		if (f == NULL)
			return "";
		f++;
	}
	/* one topic level per filter level before the '#' */
	for (;;) {
		const char *fe = strchr(f, '/');
		const char *te;

		if (strcmp(f, "#") == 0)
			return t;
		if (fe == NULL)
			return "";
		te = strchr(t, '/');
		if (te == NULL)
			return "";	/* "a/#" matching "a" */
		f = fe + 1;
		t = te + 1;
	}
}

int
hb_topic_share(char *out, size_t n, const char *group, const char *filter)
{
	return fits(snprintf(out, n, "$share/%s/%s", group, filter), n);
}
