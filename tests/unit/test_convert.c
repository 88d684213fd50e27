/*
 * Ingest converters: one device message in, the exact line protocol out.
 * Each case is a message a real device or Home Assistant sends, and the
 * points a user would then find in InfluxDB.
 */
#include "hbt.h"
#include "convert.h"
#include "hb_lp.h"
#include "hb_topic.h"
#include "rules.h"

#include <stdlib.h>
#include <string.h>

#define NOW 1700000000000000000LL

struct env {
	struct hb_config *cfg;
	struct rule_set rules;
	struct hb_metrics *metrics;
	struct convert_state *ha;
	struct convert_out out;
	int rc;
};

/* Rules from the JSON of an ingest.sources list. */
static void
env_init(struct env *e, const char *sources)
{
	struct hb_buf text = { 0 };
	char err[256];

	memset(e, 0, sizeof(*e));
	hb_buf_printf(&text, "{\"ingest\": {\"sources\": %s}}", sources);
	e->cfg = hb_config_parse(text.data, text.len, "test.json", err, sizeof(err));
	HBT_REQUIRE(e->cfg != NULL, "config parses: %s", err);
	rules_read(&e->rules, e->cfg);
	if (hb_config_error_count(e->cfg))
		hb_config_print_errors(e->cfg, stderr);
	HBT_REQUIRE(hb_config_error_count(e->cfg) == 0, "rules are valid");
	e->metrics = hb_metrics_new("t_");
	rules_metrics(&e->rules, e->metrics);
	e->ha = convert_state_new(100);
	hb_buf_free(&text);
}

static void
env_free(struct env *e)
{
	convert_out_free(&e->out);
	convert_state_free(e->ha);
	rules_free(&e->rules);
	hb_metrics_free(e->metrics);
	hb_config_free(e->cfg);
}

/* Converts one message; returns the lines (owned by e) or NULL on error. */
static const char *
conv_n(struct env *e, const char *topic, const char *payload, size_t len)
{
	const char *caps[HB_TOPIC_MAX_LEVELS];
	size_t caplen[HB_TOPIC_MAX_LEVELS], ncaps = 0;
	struct convert_in in = { 0 };
	const struct rule *r;

	convert_out_reset(&e->out);
	r = rules_match(&e->rules, topic, caps, caplen, &ncaps);
	HBT_REQUIRE(r != NULL, "a rule matches %s", topic);
	in.rule = r;
	in.topic = topic;
	in.caps = caps;
	in.caplen = caplen;
	in.ncaps = ncaps;
	in.payload = payload;
	in.len = len;
	in.now_ns = NOW;
	e->rc = convert_message(e->ha, &in, &e->out);
	if (e->rc < 0)
		return NULL;
	return e->out.lines.data ? e->out.lines.data : "";
}

static const char *
conv(struct env *e, const char *topic, const char *payload)
{
	return conv_n(e, topic, payload, strlen(payload));
}

/* Every line the converters write must be line protocol the writer takes. */
static void
all_valid(const char *lines)
{
	struct hb_lp_line line;
	size_t pos = 0, len = strlen(lines);
	char err[160];
	enum hb_lp_result r;

	while ((r = hb_lp_next(lines, len, &pos, NULL, &line, err, sizeof(err))) !=
	    HB_LP_END)
		HBT_CHECK(r == HB_LP_OK, "\"%s\" is valid line protocol: %s", lines, err);
}

static void
expect(struct env *e, const char *topic, const char *payload, const char *want)
{
	const char *got = conv(e, topic, payload);

	HBT_CHECK(got != NULL && strcmp(got, want) == 0,
	    "%s %s\n   got: %s\n  want: %s", topic, payload, got ? got : "(error)",
	    want);
	if (got)
		all_valid(got);
}

static void
expect_error(struct env *e, const char *topic, const char *payload, size_t len,
    enum rule_error err)
{
	const char *got = conv_n(e, topic, payload, len);

	HBT_CHECK(got == NULL && e->out.error == err,
	    "%s: refused as %s (rc %d, error %s, lines \"%s\")", topic,
	    rule_error_name(err), e->rc, rule_error_name(e->out.error),
	    e->out.lines.data ? e->out.lines.data : "");
	HBT_CHECK(e->out.lines.len == 0, "nothing is written for a refused message");
}

#define T "1700000000000000000\n"

static void
test_zigbee2mqtt(void)
{
	struct env e;

	env_init(&e, "[{\"name\": \"z2m\", \"topic\": \"zigbee2mqtt/+\", \"format\": "
	    "\"json\", \"measurement\": \"zigbee\", \"tags\": {\"device\": \"{1}\"},"
	    " \"exclude\": [\"update_*\", \"linkquality\"],"
	    " \"integer_fields\": [\"battery\"]}]");
	expect(&e, "zigbee2mqtt/living room sensor",
	    "{\"temperature\":21.55,\"humidity\":48,\"battery\":97,"
	    "\"linkquality\":120,\"occupancy\":false,\"update\":{\"state\":\"idle\"},"
	    "\"power_on_behavior\":null,\"color\":{\"x\":0.3,\"y\":0.31}}",
	    "zigbee,device=living\\ room\\ sensor temperature=21.55,humidity=48,"
	    "battery=97i,occupancy=false,color_x=0.3,color_y=0.31 " T);
	/* strings are string fields by default */
	expect(&e, "zigbee2mqtt/door", "{\"contact\":true,\"action\":\"open\"}",
	    "zigbee,device=door contact=true,action=\"open\" " T);
	/* a message with nothing to store is refused, and says so */
	expect_error(&e, "zigbee2mqtt/bridge", "{\"linkquality\": 3}", 18,
	    ERR_NO_FIELDS);
	expect_error(&e, "zigbee2mqtt/x", "{\"temperature\": ", 16, ERR_NOT_JSON);
	expect_error(&e, "zigbee2mqtt/x", "[1,2,3]", 7, ERR_WRONG_TYPE);
	expect_error(&e, "zigbee2mqtt/x", "{\"a\":\"\xff\xfe\"}", 10, ERR_BAD_UTF8);
	/* a key twice (or twice after flattening): the first is kept, the
	 * second counted; InfluxDB would keep only one of them anyway */
	expect(&e, "zigbee2mqtt/x", "{\"a\":1,\"a\":2}", "zigbee,device=x a=1 " T);
	HBT_CHECK(e.out.skipped_fields == 1, "the second a is counted");
	expect(&e, "zigbee2mqtt/x", "{\"c_x\":1,\"c\":{\"x\":2}}",
	    "zigbee,device=x c_x=1 " T);
	/* strict JSON: what jansson refused is refused */
	expect_error(&e, "zigbee2mqtt/x", "{\"a\":1,}", 8, ERR_NOT_JSON);
	expect_error(&e, "zigbee2mqtt/x", "{\"a\":01}", 8, ERR_NOT_JSON);
	expect_error(&e, "zigbee2mqtt/x", "{\"a\":1} x", 9, ERR_NOT_JSON);
	expect_error(&e, "zigbee2mqtt/x", "{\"a\":\"\\ud800\"}", 14, ERR_NOT_JSON);
	expect_error(&e, "zigbee2mqtt/x", "{\"a\":\"x\ny\"}", 11, ERR_NOT_JSON);
	expect_error(&e, "zigbee2mqtt/x", "{\"a\":NaN}", 9, ERR_NOT_JSON);
	expect_error(&e, "zigbee2mqtt/x", "{\"a\":tru}", 9, ERR_NOT_JSON);
	expect(&e, "zigbee2mqtt/x", " {\"s\":\"\\u00b0C \\ud83d\\ude00 \\\"q\\\"\", "
	    "\"n\":-1.5e3, \"z\":0} ",
	    "zigbee,device=x s=\"°C 😀 \\\"q\\\"\",n=-1500,z=0 " T);
	env_free(&e);
}

/* More than 256 keys: the first 256 are kept, the rest counted (issue 14). */
static void
test_many_fields(void)
{
	struct hb_buf payload = { 0 };
	struct env e;
	const char *got;

	env_init(&e, "[{\"topic\": \"many/+\", \"format\": \"json\", "
	    "\"measurement\": \"m\"}]");
	hb_buf_putc(&payload, '{');
	for (int i = 0; i < 300; i++)
		hb_buf_printf(&payload, "%s\"k%d\": %d", i ? "," : "", i, i);
	hb_buf_putc(&payload, '}');
	got = conv(&e, "many/x", payload.data);
	HBT_CHECK(got != NULL && e.out.points == 1 && e.out.skipped_fields == 44 &&
	    strstr(got, "k255=255 ") && !strstr(got, "k256"),
	    "300 keys: one point of 256 fields, 44 counted (%d)",
	    e.out.skipped_fields);
	if (got)
		all_valid(got);
	hb_buf_free(&payload);
	env_free(&e);
}

static void
test_tasmota(void)
{
	struct env e;

	env_init(&e, "[{\"name\": \"tasmota\", \"topic\": \"tele/+/SENSOR\", "
	    "\"format\": \"json\", \"measurement\": \"tasmota\", "
	    "\"tags\": {\"device\": \"{1}\"}, \"timestamp_key\": \"Time\", "
	    "\"timestamp_local\": false}]");
	expect(&e, "tele/plug-1/SENSOR",
	    "{\"Time\":\"2023-11-14T22:13:20\",\"ENERGY\":{\"TotalStartTime\":"
	    "\"2023-01-01T00:00:00\",\"Total\":12.345,\"Yesterday\":0.5,\"Today\":0.1,"
	    "\"Power\":150,\"ApparentPower\":160,\"Voltage\":230,\"Current\":0.65}}",
	    "tasmota,device=plug-1 ENERGY_TotalStartTime=\"2023-01-01T00:00:00\","
	    "ENERGY_Total=12.345,ENERGY_Yesterday=0.5,ENERGY_Today=0.1,"
	    "ENERGY_Power=150,ENERGY_ApparentPower=160,ENERGY_Voltage=230,"
	    "ENERGY_Current=0.65 1700000000000000000\n");
	/* an unreadable time falls back to the arrival time, the point is kept */
	expect(&e, "tele/plug-1/SENSOR", "{\"Time\":\"yesterday\",\"Power\":3}",
	    "tasmota,device=plug-1 Power=3 " T);
	env_free(&e);

	/* strings as tags, arrays as strings, another separator, epoch ms */
	env_init(&e, "[{\"topic\": \"shellies/+/status\", \"format\": \"json\", "
	    "\"measurement\": \"shelly\", \"strings\": \"tag\", \"arrays\": \"string\","
	    " \"separator\": \".\", \"timestamp_key\": \"ts\", "
	    "\"tags\": {\"id\": \"{1}\"}}]");
	expect(&e, "shellies/sh1/status",
	    "{\"ts\":1700000001000,\"mode\":\"relay\",\"meters\":[1,2],"
	    "\"tmp\":{\"tC\":40.5}}",
	    "shelly,id=sh1,mode=relay meters=\"[1,2]\",tmp.tC=40.5 "
	    "1700000001000000000\n");
	/* epoch ms as an integer: exactly the millisecond (issue 14, item 13) */
	expect(&e, "shellies/sh1/status", "{\"ts\":1764800000123,\"tmp\":{\"tC\":1}}",
	    "shelly,id=sh1 tmp.tC=1 1764800000123000000\n");
	/* a payload string that cannot be a tag (empty, the key "time", a
	 * newline) is skipped and counted; the rest of the point is kept */
	expect(&e, "shellies/sh1/status", "{\"old_version\":\"\",\"time\":\"12:00\","
	    "\"n\":\"a\\nb\",\"tmp\":{\"tC\":41}}", "shelly,id=sh1 tmp.tC=41 " T);
	HBT_CHECK(e.out.skipped_fields == 3, "three tags skipped (%d)",
	    e.out.skipped_fields);
	env_free(&e);
}

static void
test_value(void)
{
	struct env e;

	env_init(&e, "[{\"topic\": \"sensors/+/+\", \"format\": \"value\", "
	    "\"measurement\": \"{2}\", \"tags\": {\"room\": \"{1}\"}}]");
	expect(&e, "sensors/kitchen/temperature", " 21.5\n",
	    "temperature,room=kitchen value=21.5 " T);
	expect(&e, "sensors/kitchen/light", "ON", "light,room=kitchen value=true " T);
	expect(&e, "sensors/kitchen/light", "off", "light,room=kitchen value=false " T);
	/* text has a field of its own: numbers and text never share one */
	expect(&e, "sensors/kitchen/mode", "heat \"eco\"",
	    "mode,room=kitchen value_str=\"heat \\\"eco\\\"\" " T);
	expect(&e, "sensors/kitchen/count", "0x10",
	    "count,room=kitchen value_str=\"0x10\" " T);
	expect(&e, "sensors/kitchen/x", "nan", "x,room=kitchen value_str=\"nan\" " T);
	expect_error(&e, "sensors/kitchen/empty", "  ", 2, ERR_WRONG_TYPE);
	env_free(&e);

	env_init(&e, "[{\"topic\": \"counter/+\", \"format\": \"value\", "
	    "\"measurement\": \"pulses\", \"field\": \"count\", "
	    "\"integer_fields\": [\"count\"], \"tags\": {\"meter\": \"{1}\"}}]");
	expect(&e, "counter/gas", "12345", "pulses,meter=gas count=12345i " T);
	env_free(&e);
}

/*
 * Topic levels name the field as they name the measurement and the tags
 * (issue 14): sensors/kitchen/temperature -> kitchen temperature=...
 */
/*
 * A field keeps the type of its first reading in an InfluxDB shard: text
 * where numbers go ("unavailable" from Home Assistant, "nan" from ESPHome)
 * must not share their field (issue 14), whatever comes first.
 */
static void
test_value_text(void)
{
	struct env e;

	env_init(&e, "[{\"topic\": \"shellies/+/relay/+/power\", \"format\": "
	    "\"value\", \"measurement\": \"power\", \"tags\": {\"device\": \"{1}\"}}]");
	expect(&e, "shellies/lock/relay/0/power", "unavailable",
	    "power,device=lock value_str=\"unavailable\" " T);
	expect(&e, "shellies/lock/relay/0/power", "100.5",
	    "power,device=lock value=100.5 " T);
	env_free(&e);

	/* strings: drop, and a suffix of one's own */
	env_init(&e, "[{\"topic\": \"a/+\", \"format\": \"value\", "
	    "\"measurement\": \"m\", \"strings\": \"drop\"},"
	    " {\"topic\": \"b/+\", \"format\": \"value\", \"measurement\": \"m\", "
	    "\"field\": \"{1}\", \"string_suffix\": \"_text\"}]");
	HBT_CHECK(conv(&e, "a/x", "unavailable") != NULL && e.out.points == 0 &&
	    e.out.skipped_fields == 0, "strings: drop — no point, and no error");
	expect(&e, "a/x", "7", "m value=7 " T);
	expect(&e, "b/mode", "eco", "m mode_text=\"eco\" " T);
	expect(&e, "b/mode", "1", "m mode=1 " T);
	env_free(&e);

	/* json rules keep a key's name for its text unless told otherwise */
	env_init(&e, "[{\"topic\": \"j/+\", \"format\": \"json\", "
	    "\"measurement\": \"m\", \"string_suffix\": \"_str\"}]");
	expect(&e, "j/x", "{\"power\": \"unavailable\", \"on\": true}",
	    "m power_str=\"unavailable\",on=true " T);
	expect(&e, "j/x", "{\"power\": 100.5}", "m power=100.5 " T);
	env_free(&e);
}

static void
test_value_field_from_topic(void)
{
	struct env e;

	env_init(&e, "[{\"topic\": \"sensors/+/+\", \"format\": \"value\", "
	    "\"measurement\": \"{1}\", \"field\": \"{2}\"}]");
	expect(&e, "sensors/kitchen/temperature", "21.5",
	    "kitchen temperature=21.5 " T);
	expect(&e, "sensors/kitchen/light", "ON", "kitchen light=true " T);
	env_free(&e);

	/* text around the level, and integer_fields naming the field by its
	 * template: every reading of the rule is an integer */
	env_init(&e, "[{\"topic\": \"meters/+/+\", \"format\": \"value\", "
	    "\"measurement\": \"meter\", \"field\": \"{2}_total\", "
	    "\"tags\": {\"id\": \"{1}\"}, \"integer_fields\": [\"{2}_total\"]}]");
	expect(&e, "meters/m1/pulses", "42", "meter,id=m1 pulses_total=42i " T);
	env_free(&e);
}

static void
test_ha_statestream(void)
{
	struct env e;

	env_init(&e, "[{\"name\": \"ha\", \"topic\": \"homeassistant_statestream/#\", "
	    "\"format\": \"ha_statestream\"}]");

	/* attributes arrive first (retained), JSON-encoded */
	HBT_CHECK(conv(&e, "homeassistant_statestream/sensor/outside_temp/"
	    "unit_of_measurement", "\"°C\"") != NULL && e.out.points == 0,
	    "an attribute makes no point");
	conv(&e, "homeassistant_statestream/sensor/outside_temp/friendly_name",
	    "\"Outside temperature\"");
	conv(&e, "homeassistant_statestream/sensor/outside_temp/device_class",
	    "\"temperature\"");
	conv(&e, "homeassistant_statestream/sensor/outside_temp/state_class",
	    "\"measurement\"");
	/* as Home Assistant's InfluxDB integration writes it: measurement is the
	 * unit, tags domain and entity_id, value as float, other attributes as
	 * <key>_str strings */
	expect(&e, "homeassistant_statestream/sensor/outside_temp/state", "21.5",
	    "°C,domain=sensor,entity_id=outside_temp value=21.5,"
	    "friendly_name_str=\"Outside temperature\","
	    "device_class_str=\"temperature\",state_class_str=\"measurement\" " T);
	/* a time is no attribute (mqtt_statestream's publish_timestamps sends
	 * it after the state; test_ha_influx follows what it does) */
	HBT_CHECK(conv(&e, "homeassistant_statestream/sensor/outside_temp/"
	    "last_updated", "2023-11-14T22:13:20+00:00") != NULL &&
	    e.out.points == 0, "last_updated makes no point of its own");

	/* on/off: state as string and value as 0/1; no unit: the entity id */
	expect(&e, "homeassistant_statestream/light/hall/state", "on",
	    "light.hall,domain=light,entity_id=hall state=\"on\",value=1 " T);
	expect(&e, "homeassistant_statestream/binary_sensor/door/state", "off",
	    "binary_sensor.door,domain=binary_sensor,entity_id=door state=\"off\","
	    "value=0 " T);
	expect(&e, "homeassistant_statestream/person/anna/state", "not_home",
	    "person.anna,domain=person,entity_id=anna state=\"not_home\",value=0 " T);
	/* a state that is no number: state only */
	expect(&e, "homeassistant_statestream/climate/lr/state", "heat_cool",
	    "climate.lr,domain=climate,entity_id=lr state=\"heat_cool\" " T);
	/* unknown and unavailable make no point */
	HBT_CHECK(conv(&e, "homeassistant_statestream/sensor/outside_temp/state",
	    "unavailable") != NULL && e.out.points == 0, "unavailable: no point");
	HBT_CHECK(conv(&e, "homeassistant_statestream/sensor/outside_temp/state",
	    "unknown") != NULL && e.out.points == 0, "unknown: no point");

	/* attributes the way HA's float()/str() sees them */
	conv(&e, "homeassistant_statestream/sensor/meter/unit_of_measurement",
	    "\"kWh\"");
	conv(&e, "homeassistant_statestream/sensor/meter/last_reset", "null");
	conv(&e, "homeassistant_statestream/sensor/meter/rate", "\"0.25\"");
	conv(&e, "homeassistant_statestream/sensor/meter/tariff", "\"peak 2\"");
	conv(&e, "homeassistant_statestream/sensor/meter/note", "\"a.b 12\"");
	conv(&e, "homeassistant_statestream/sensor/meter/total", "\"12.5 kWh\"");
	conv(&e, "homeassistant_statestream/sensor/meter/on", "true");
	conv(&e, "homeassistant_statestream/sensor/meter/zones",
	    "[\"a\", 1, true, null, {\"b\": 2.5}]");
	conv(&e, "homeassistant_statestream/sensor/meter/value", "3");
	conv(&e, "homeassistant_statestream/sensor/meter/bad", "\"inf\"");
	/* HA reads the digits of any str(value), a list's too: zones=12.5 */
	expect(&e, "homeassistant_statestream/sensor/meter/state", "1234.5",
	    "kWh,domain=sensor,entity_id=meter value=1234.5,last_reset_str=\"None\","
	    "rate=0.25,tariff_str=\"peak 2\",note_str=\"a.b 12\",total_str=\"12.5 kWh\","
	    "total=12.5,on=1,zones_str=\"['a', 1, True, None, {'b': 2.5}]\",zones=12.5,"
	    "value_=3 " T);

	/* an entity whose unit goes away: back to the entity id */
	conv(&e, "homeassistant_statestream/sensor/meter/unit_of_measurement", "\"\"");
	HBT_CHECK(conv(&e, "homeassistant_statestream/sensor/meter/state", "1") &&
	    strncmp(e.out.lines.data, "sensor.meter,", 13) == 0,
	    "empty unit: measurement is the entity id (%s)", e.out.lines.data);

	expect_error(&e, "homeassistant_statestream/sensor/x/state", "\xc3\x28", 2,
	    ERR_BAD_UTF8);
	env_free(&e);

	/* attributes off, a static tag added after HA's own */
	env_init(&e, "[{\"topic\": \"hass/+/+/+\", \"format\": \"ha_statestream\", "
	    "\"attributes\": false, \"tags\": {\"source\": \"ha\"}}]");
	conv(&e, "hass/sensor/t/unit_of_measurement", "\"°C\"");
	conv(&e, "hass/sensor/t/friendly_name", "\"T\"");
	expect(&e, "hass/sensor/t/state", "20",
	    "°C,domain=sensor,entity_id=t,source=ha value=20 " T);
	env_free(&e);
}

static void
test_influx(void)
{
	struct env e;

	env_init(&e, "[{\"topic\": \"lp/#\", \"format\": \"influx\"}]");
	expect(&e, "lp/x", "a v=1 5\nb,t=x v=2i\n\n# comment\n",
	    "a v=1 5\nb,t=x v=2i " T);
	/* the good lines of a mixed message pass, the bad one is counted */
	expect(&e, "lp/x", "a v=1 5\nnot a line\nc s=\"x\" 6",
	    "a v=1 5\nc s=\"x\" 6\n");
	HBT_CHECK(e.out.skipped_fields == 1, "one bad line counted");
	expect_error(&e, "lp/x", "nothing valid here", 18, ERR_BAD_LINE);
	env_free(&e);

	/*
	 * Undated lines of one series in one message are stamped apart, as the
	 * writer stamps them: one stamp made InfluxDB keep one of three (issue
	 * 14, item 11). The next message carries on after the last stamp even
	 * when its arrival time is not later.
	 */
	env_init(&e, "[{\"topic\": \"lp/#\", \"format\": \"influx\"}]");
	expect(&e, "lp/x", "collapse v=1\ncollapse v=2 5\ncollapse v=3\ncollapse v=4",
	    "collapse v=1 1700000000000000000\ncollapse v=2 5\n"
	    "collapse v=3 1700000000000000001\ncollapse v=4 1700000000000000002\n");
	expect(&e, "lp/x", "collapse v=5", "collapse v=5 1700000000000000003\n");
	env_free(&e);
}

/*
 * Names InfluxDB users actually have: spaces, commas, equals signs, quotes,
 * backslashes and units. The line must be valid, and unescaping it must give
 * the names back.
 */
static void
test_escaping(void)
{
	static const char *const names[] = { "living room", "a,b", "x=y", "say \"hi\"",
	    "back\\slash", "°C", "µg/m³", "tab\there" };
	struct env e;

	env_init(&e, "[{\"topic\": \"esc/+\", \"format\": \"json\", "
	    "\"measurement\": \"{1}\", \"strings\": \"tag\"}]");
	for (size_t i = 0; i < HB_ARRAY_LEN(names); i++) {
		struct hb_buf topic = { 0 }, payload = { 0 }, un = { 0 };
		struct hb_lp_line line;
		char err[160];
		size_t pos = 0;
		json_t *o = json_object();
		char *text;
		const char *got;

		/* a topic level cannot hold '/': the measurement is checked below */
		hb_buf_printf(&topic, "esc/%s", names[i]);
		for (char *c = topic.data + 4; *c; c++)
			if (*c == '/')
				*c = '_';
		json_object_set_new(o, names[i], json_real(1.5));
		json_object_set_new(o, "tag", json_string(names[i]));
		text = json_dumps(o, JSON_COMPACT);
		got = conv(&e, topic.data, text);
		HBT_CHECK(got != NULL, "\"%s\" converts", names[i]);
		if (got == NULL)
			goto next;
		HBT_CHECK(hb_lp_next(got, strlen(got), &pos, NULL, &line, err,
		    sizeof(err)) == HB_LP_OK, "\"%s\": %s", got, err);
		hb_lp_unescape(line.measurement, line.measurement_len, 'm', &un);
		HBT_CHECK(strcmp(un.data, topic.data + 4) == 0, "measurement \"%s\" back "
		    "from \"%s\"", un.data, got);
		hb_buf_reset(&un);
		hb_lp_unescape(line.fields[0].key, line.fields[0].key_len, 'k', &un);
		HBT_CHECK(strcmp(un.data, names[i]) == 0, "field key \"%s\"", un.data);
next:
		free(text);
		json_decref(o);
		hb_buf_free(&topic);
		hb_buf_free(&payload);
		hb_buf_free(&un);
	}
	env_free(&e);

	/* a unit with '/' as the measurement, as Home Assistant names it */
	env_init(&e, "[{\"topic\": \"ha/#\", \"format\": \"ha_statestream\"}]");
	conv(&e, "ha/sensor/pm25/unit_of_measurement", "\"\\u00b5g/m\\u00b3\"");
	expect(&e, "ha/sensor/pm25/state", "7", "µg/m³,domain=sensor,entity_id=pm25 "
	    "value=7 " T);
	env_free(&e);
}

/* Rules that cannot work are refused at start-up, with the key named. */
static void
test_bad_rules(void)
{
	static const struct {
		const char *sources, *key, *text;
	} cases[] = {
		{ "[{\"topic\": \"a/+\", \"format\": \"xml\"}]",
		    "ingest.sources[0].format", "xml" },
		{ "[{\"format\": \"json\", \"measurement\": \"m\"}]",
		    "ingest.sources[0].topic", "topic filter" },
		{ "[{\"topic\": \"a/#/b\", \"format\": \"value\", \"measurement\": \"m\"}]",
		    "ingest.sources[0].topic", "#" },
		{ "[{\"topic\": \"a/+\", \"format\": \"json\", \"measurement\": \"{2}\"}]",
		    "ingest.sources[0].measurement", "{2}" },
		{ "[{\"topic\": \"a/+\", \"format\": \"json\"}]",
		    "ingest.sources[0].measurement", "measurement" },
		{ "[{\"topic\": \"a/+\", \"format\": \"json\", \"measurement\": \"m\", "
		    "\"tags\": {\"x\": 3}}]", "ingest.sources[0].tags.x", "string" },
		{ "[{\"topic\": \"a/+\", \"format\": \"json\", \"measurement\": \"m\", "
		    "\"separator\": \"--\"}]", "ingest.sources[0].separator", "one" },
		{ "[{\"topic\": \"a\", \"format\": \"ha_statestream\"}]",
		    "ingest.sources[0].format", "ha_statestream" },
		{ "[{\"topic\": \"a/+\", \"format\": \"json\", \"measurement\": \"m\", "
		    "\"name\": \"x\"}, {\"topic\": \"b/+\", \"format\": \"json\", "
		    "\"measurement\": \"m\", \"name\": \"x\"}]", "ingest.sources[1].name",
		    "x" },
		{ "[{\"topic\": \"a/+\", \"format\": \"json\", \"measurement\": \"m\", "
		    "\"qos\": 2}]", "ingest.sources[0].qos", "" },
		{ "[{\"topic\": \"a/+\", \"format\": \"json\", \"measurement\": \"m\", "
		    "\"measurment\": \"typo\"}]", "ingest.sources[0].measurment", "unknown" },
		/* text and numbers would share the field */
		{ "[{\"topic\": \"a/+\", \"format\": \"value\", \"measurement\": \"m\", "
		    "\"string_suffix\": \"\"}]", "ingest.sources[0].string_suffix", "share" },
		{ "[{\"topic\": \"a/+\", \"format\": \"value\", \"measurement\": \"m\", "
		    "\"strings\": \"tag\"}]", "ingest.sources[0].strings", "value" },
		/* templates name levels the filter has, in the options that take
		 * them; the others name payload keys and refuse one */
		{ "[{\"topic\": \"a/+\", \"format\": \"value\", \"measurement\": \"m\", "
		    "\"field\": \"{2}\"}]", "ingest.sources[0].field", "{2}" },
		{ "[{\"topic\": \"a/+\", \"format\": \"json\", \"measurement\": \"m\", "
		    "\"exclude\": [\"{1}\"]}]", "ingest.sources[0].exclude[0]", "template" },
		{ "[{\"topic\": \"a/+\", \"format\": \"json\", \"measurement\": \"m\", "
		    "\"timestamp_key\": \"{1}\"}]", "ingest.sources[0].timestamp_key",
		    "template" },
		{ "[{\"topic\": \"a/+\", \"format\": \"json\", \"measurement\": \"m\", "
		    "\"tags\": {\"{1}\": \"x\"}}]", "ingest.sources[0].tags.{1}",
		    "template" },
	};

	for (size_t i = 0; i < HB_ARRAY_LEN(cases); i++) {
		struct hb_buf text = { 0 };
		struct rule_set rs;
		struct hb_config *cfg;
		char err[256], *out = NULL;
		size_t outlen = 0;
		FILE *f;
		static const char *const sections[] = { "ingest", NULL };

		hb_buf_printf(&text, "{\"ingest\": {\"sources\": %s}}", cases[i].sources);
		cfg = hb_config_parse(text.data, text.len, "t.json", err, sizeof(err));
		HBT_REQUIRE(cfg != NULL, "case %zu parses", i);
		rules_read(&rs, cfg);
		hb_config_finish(cfg, sections);
		f = open_memstream(&out, &outlen);
		hb_config_print_errors(cfg, f);
		fclose(f);
		HBT_CHECK(strstr(out, cases[i].key) && strstr(out, cases[i].text),
		    "case %zu names %s (%s): %s", i, cases[i].key, cases[i].text, out);
		free(out);
		rules_free(&rs);
		hb_config_free(cfg);
		hb_buf_free(&text);
	}
}

int
main(void)
{
	hbt_init("convert");
	setenv("TZ", "UTC", 1);
	test_zigbee2mqtt();
	test_many_fields();
	test_tasmota();
	test_value();
	test_value_field_from_topic();
	test_value_text();
	test_ha_statestream();
	test_influx();
	test_escaping();
	test_bad_rules();
	hbt_exit();
}
