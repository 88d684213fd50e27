/*
 * Fuzz target: the ingest converters (json, value, ha_statestream with and
 * without Home Assistant's influxdb options, influx)
 * on any topic and payload, and the line-protocol encoder's round trip.
 * Whatever ingest publishes must be line protocol the writer takes, and a
 * name the encoder accepts must read back unchanged.
 *
 * Input: messages separated by 0x1e; in each, the first byte picks the
 * rule, then the topic up to '\n', then the payload. Home Assistant's
 * attribute cache lives for one input, so that a crash replays.
 */
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "convert.h"
#include "hb_lp.h"
#include "hb_topic.h"
#include "rules.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char rules_json[] =
    "{\"ingest\": {\"sources\": ["
    "{\"topic\": \"z/+\", \"format\": \"json\", \"measurement\": \"{1}\", "
    " \"tags\": {\"d\": \"{1}\"}, \"integer_fields\": [\"n\"], "
    " \"tag_keys\": [\"room\"], \"timestamp_key\": \"t\"},"
    "{\"topic\": \"s/+\", \"format\": \"json\", \"measurement\": \"m\", "
    " \"strings\": \"tag\", \"arrays\": \"string\", \"separator\": \".\"},"
    "{\"topic\": \"v/+/+\", \"format\": \"value\", \"measurement\": \"{2}\", "
    " \"tags\": {\"r\": \"{1}\"}},"
    "{\"topic\": \"h/+/+/+\", \"format\": \"ha_statestream\"},"
    "{\"topic\": \"l/#\", \"format\": \"influx\"},"
    "{\"topic\": \"f/+/+\", \"format\": \"value\", \"measurement\": \"{1}\", "
    " \"field\": \"{2}\", \"integer_fields\": [\"{2}\"]},"
    "{\"topic\": \"i/+/+/+\", \"format\": \"ha_statestream\", \"influxdb\": {"
    " \"measurement_attr\": \"domain__device_class\", \"tags\": {\"s\": \"h\"},"
    " \"tags_attributes\": [\"friendly_name\"], \"ignore_attributes\": [\"icon\"],"
    " \"include\": {\"domains\": [\"sensor\"], \"entity_globs\": [\"light.[a-m]*\"]},"
    " \"exclude\": {\"entity_globs\": [\"*_x\"]},"
    " \"component_config_glob\": {\"sensor.?*\": {\"override_measurement\": \"g\"}}}}]}}";

static struct rule_set rules;
static bool ready;

static void
setup(void)
{
	struct hb_config *cfg;
	char err[256];

	cfg = hb_config_parse(rules_json, sizeof(rules_json) - 1, "fuzz", err,
	    sizeof(err));
	if (cfg == NULL)
		__builtin_trap();
	rules_read(&rules, cfg);
	if (hb_config_error_count(cfg) != 0)
		__builtin_trap();
	/* counters are written on every message; the registry outlives cfg */
	rules_metrics(&rules, hb_metrics_new("fuzz_"));
	/* rules keep copies of what they need from cfg */
	hb_config_free(cfg);
	ready = true;
}

static void
check_lines(const struct hb_buf *lines)
{
	struct hb_lp_line line;
	size_t pos = 0;
	char err[160];
	enum hb_lp_result r;

	while ((r = hb_lp_next(lines->data, lines->len, &pos, NULL, &line, err,
	    sizeof(err))) != HB_LP_END)
		if (r != HB_LP_OK || !line.has_time) {
			fprintf(stderr, "ingest wrote an invalid line (%s):\n%s\n", err,
			    lines->data);
			__builtin_trap();
		}
}

static void
check_round_trip(const char *s, size_t n)
{
	struct hb_buf b = { 0 }, un = { 0 };

	if (hb_lp_put_measurement(&b, s, n) == 0) {
		hb_lp_unescape(b.data, b.len, 'm', &un);
		if (un.len != n || memcmp(un.data, s, n) != 0)
			__builtin_trap();
	}
	hb_buf_reset(&b);
	hb_buf_reset(&un);
	if (hb_lp_put_key(&b, s, n) == 0) {
		hb_lp_unescape(b.data, b.len, 'k', &un);
		if (un.len != n || memcmp(un.data, s, n) != 0)
			__builtin_trap();
	}
	hb_buf_free(&b);
	hb_buf_free(&un);
}

static void
one_message(struct convert_state *ha, const char *data, size_t size)
{
	static const char *const prefixes[] = { "z/", "s/", "v/r/", "h/sensor/x/", "l/",
	    "f/", "i/sensor/", "i/light/" };
	const char *caps[HB_TOPIC_MAX_LEVELS];
	size_t caplen[HB_TOPIC_MAX_LEVELS], ncaps = 0;
	struct convert_out out = { 0 };
	struct convert_in in = { 0 };
	char topic[300];
	const char *nl, *payload;
	size_t tlen, plen;
	unsigned pick;
	struct rule *r;

	if (size < 1)
		return;
	pick = (unsigned char)data[0] % HB_ARRAY_LEN(prefixes);
	nl = memchr(data + 1, '\n', size - 1);
	tlen = nl ? (size_t)(nl - data - 1) : 0;
	if (tlen > 200)
		tlen = 200;
	payload = nl ? nl + 1 : data + 1;
	plen = size - (size_t)(payload - data);
	snprintf(topic, sizeof(topic), "%s%.*s", prefixes[pick], (int)tlen, data + 1);
	if (strlen(topic) != strlen(prefixes[pick]) + tlen)
		return;		/* a NUL in the topic: MQTT forbids it */
	check_round_trip(payload, plen);

	r = rules_match(&rules, topic, caps, caplen, &ncaps);
	if (r == NULL)
		return;
	in.rule = r;
	in.topic = topic;
	in.caps = caps;
	in.caplen = caplen;
	in.ncaps = ncaps;
	in.payload = payload;
	in.len = plen;
	in.now_ns = 1700000000000000000LL;
	if (convert_message(ha, &in, &out) >= 0)
		check_lines(&out.lines);
	else if (out.lines.len != 0)
		__builtin_trap();
	convert_out_free(&out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size;
	struct convert_state *ha;

	if (!ready)
		setup();
	ha = convert_state_new(16);
	while (p < end) {
		const char *sep = memchr(p, 0x1e, (size_t)(end - p));
		const char *stop = sep ? sep : end;

		one_message(ha, p, (size_t)(stop - p));
		p = stop + 1;
	}
	{
		/* what waits for a last_updated at a stop is valid too */
		struct convert_out out = { 0 };

		convert_flush(ha, &out);
		check_lines(&out.lines);
		convert_out_free(&out);
	}
	convert_state_free(ha);
	return 0;
}
