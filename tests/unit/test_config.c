/*
 * Configuration: typed getters, defaults, environment overrides, secrets
 * from files, errors that name the JSON path and line, and warnings for
 * HOMEBUS_* variables that set nothing.
 */
#include "hbt.h"
#include "hb_config.h"

#include <stdlib.h>
#include <string.h>

static const char *text =
    "{\n"
    "  \"//\": \"a comment key\",\n"
    "  \"bus\": {\"host\": \"broker\", \"port\": 1884},\n"
    "  \"writer\": {\n"
    "    \"batch_size\": \"big\",\n"
    "    \"flush_interval_ms\": -5,\n"
    "    \"gzip\": true,\n"
    "    \"typo_key\": 1,\n"
    "    \"influx\": {\"url\": \"http://x:8086\", \"password\": \"inline\"},\n"
    "    \"list\": [{\"a\": 1, \"b\": 2}]\n"
    "  },\n"
    "  \"writter\": {}\n"
    "}\n";

static bool
has_error(struct hb_config *cfg, const char *needle)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	bool found;

	hb_config_print_errors(cfg, f);
	fclose(f);
	found = strstr(buf, needle) != NULL;
	if (!found)
		hbt_log("errors were:\n%s", buf);
	free(buf);
	return found;
}

static void
test_getters(void)
{
	char err[256], path[600];
	struct hb_config *cfg = hb_config_parse(text, strlen(text), "t.json", err,
	    sizeof(err));
	static const char *const sections[] = { "writer", "bus", NULL };
	char *secret;

	HBT_REQUIRE(cfg != NULL, "parse: %s", err);
	HBT_CHECK(strcmp(hb_cfg_str(cfg, "bus.host", "x"), "broker") == 0, "bus.host");
	HBT_CHECK(hb_cfg_int(cfg, "bus.port", 1883, 1, 65535) == 1884, "bus.port");
	HBT_CHECK(hb_cfg_int(cfg, "bus.keepalive_s", 30, 1, 60) == 30, "default");
	HBT_CHECK(hb_cfg_int(cfg, "writer.batch_size", 7, 1, 10) == 7, "wrong type -> default");
	HBT_CHECK(hb_cfg_int(cfg, "writer.flush_interval_ms", 9, 1, 10) == 9, "range");
	HBT_CHECK(hb_cfg_bool(cfg, "writer.gzip", false), "bool");
	HBT_CHECK(hb_cfg_int(cfg, "writer.list[0].a", 0, 0, 9) == 1, "list member");
	HBT_CHECK(hb_cfg_array_len(cfg, "writer.list") == 1, "array len");
	hb_cfg_str(cfg, "writer.influx.url", NULL);
	secret = hb_cfg_secret(cfg, "writer.influx.password", NULL);
	free(secret);

	/* environment wins */
	setenv("HOMEBUS_BUS_HOST", "from-env", 1);
	setenv("HOMEBUS_BUS_PORT", "notanumber", 1);
	HBT_CHECK(strcmp(hb_cfg_str(cfg, "bus.host", "x"), "from-env") == 0, "env str");
	HBT_CHECK(hb_cfg_int(cfg, "bus.port", 1883, 1, 65535) == 1883, "bad env -> default");
	unsetenv("HOMEBUS_BUS_HOST");
	unsetenv("HOMEBUS_BUS_PORT");

	hb_config_finish(cfg, sections);
	HBT_CHECK(has_error(cfg, "config: t.json:5: writer.batch_size: expected an integer, got a string"),
	    "type error names path and line");
	HBT_CHECK(has_error(cfg, "t.json:6: writer.flush_interval_ms: -5 is out of range"),
	    "range error");
	HBT_CHECK(has_error(cfg, "t.json:8: writer.typo_key: unknown key"), "unknown key");
	HBT_CHECK(has_error(cfg, "writer.list[0].b: unknown key"), "unknown key in a list");
	HBT_CHECK(has_error(cfg, "t.json:12: writter: unknown section"), "unknown section");
	HBT_CHECK(has_error(cfg, "writer.influx.password: secrets are not read from the JSON"),
	    "inline secret refused");
	HBT_CHECK(has_error(cfg, "HOMEBUS_BUS_PORT") || has_error(cfg, "bus.port: environment value"),
	    "bad env value named");
	HBT_CHECK(!has_error(cfg, "\"//\""), "comment keys ignored");
	hb_config_free(cfg);

	/* secrets from files, trailing newline removed; a missing file is named */
	snprintf(path, sizeof(path), "%s/secret", hbt_dir());
	hbt_write_file(path, "s3cret\n");
	{
		struct hb_buf t = { 0 };

		hb_buf_printf(&t, "{\"writer\": {\"influx\": {\"password_file\": \"%s\", "
		    "\"token_file\": \"%s/missing\"}}}", path, hbt_dir());
		cfg = hb_config_parse(t.data, t.len, "s.json", err, sizeof(err));
		HBT_REQUIRE(cfg != NULL, "%s", err);
		secret = hb_cfg_secret(cfg, "writer.influx.password", NULL);
		HBT_CHECK(secret && strcmp(secret, "s3cret") == 0, "secret from file");
		free(secret);
		setenv("TEST_TOKEN", "tok", 1);
		secret = hb_cfg_secret(cfg, "writer.influx.token", "TEST_TOKEN");
		HBT_CHECK(secret == NULL, "a named file that is missing is an error, not env");
		HBT_CHECK(has_error(cfg, "writer.influx.token_file: cannot read secret file"),
		    "missing secret file named");
		hb_config_free(cfg);
		hb_buf_free(&t);
	}

	/* syntax errors name line and column */
	cfg = hb_config_parse("{\n \"a\": 1,\n}\n", 12, "bad.json", err, sizeof(err));
	HBT_CHECK(cfg == NULL && strstr(err, "bad.json:3:") && strstr(err, "not valid JSON"),
	    "syntax error: %s", err);
	cfg = hb_config_parse("[1]", 3, "arr.json", err, sizeof(err));
	HBT_CHECK(cfg == NULL && strstr(err, "must be a JSON object"), "%s", err);
	cfg = hb_config_parse("{\"a\":1,\"a\":2}", 13, "dup.json", err, sizeof(err));
	HBT_CHECK(cfg == NULL && strstr(err, "duplicate"), "duplicate keys: %s", err);
}

/* The warning about variable `name`. */
static bool
warned_about(struct hb_config *cfg, const char *name)
{
	char subject[200];

	snprintf(subject, sizeof(subject), "environment: %s is ignored", name);
	for (size_t i = 0; i < hb_config_warning_count(cfg); i++)
		if (strstr(hb_config_warning(cfg, i), subject) != NULL)
			return true;
	return false;
}

static bool
has_warning(struct hb_config *cfg, const char *needle)
{
	for (size_t i = 0; i < hb_config_warning_count(cfg); i++)
		if (strstr(hb_config_warning(cfg, i), needle) != NULL)
			return true;
	return false;
}

/* HOMEBUS_* variables that set nothing are named, as unknown keys are; a
 * variable for another service's section is that service's to judge. */
static void
test_env_typos(void)
{
	static const struct {
		const char *name;
		bool warned;		/* by the writer */
		const char *says;	/* in its warning */
	} vars[] = {
		{ "HOMEBUS_WRITER_BATCHSIZE", true,
		    "misspelt? writer.batch_size is HOMEBUS_WRITER_BATCH_SIZE" },
		{ "HOMEBUS_WRITER_BATCH_SIZE", false, NULL },
		{ "HOMEBUS_WRITER_INFLUX_URL", false, NULL },
		{ "HOMEBUS_WRITER_NO_SUCH_OPTION", true, "matches no option of writer" },
		{ "HOMEBUS_WRITER_INFLUX_TOKEN", true, "writer.influx.token is not set "
		    "from the environment" },
		{ "HOMEBUS_BUS_PORTT", true, "matches no option of bus" },
		{ "HOMEBUS_DATA_DIR", false, NULL },
		{ "HOMEBUS_WRITR_BATCH_SIZE", true, "names no section of the stack" },
		{ "HOMEBUS_INSTANCE", true, "names no section of the stack" },
		{ "HOMEBUS_INGEST_NO_SUCH_OPTION", false, NULL },
		{ "HOMEBUS_NOTIFIER_HTTP_PORT", false, NULL },
		{ "HOMEBUS_CONFIG", false, NULL },
		{ "HOMEBUS_INFLUX_TOKEN", false, NULL },
		{ "HOMEBUS_WEBHOOK_TOKEN", false, NULL },
		{ "HOMEBUS_TEST_SECRET", false, NULL },	/* a secret's, read by name */
	};
	static const char *const sections[] = { "writer", "bus", "log", "http",
	    "data_dir", NULL };
	char err[256];
	struct hb_config *cfg = hb_config_parse("{}", 2, "env.json", err,
	    sizeof(err));
	char *secret;
	size_t warned = 0;

	HBT_REQUIRE(cfg != NULL, "%s", err);
	/* what is read must parse; what is warned about might be a secret */
	for (size_t i = 0; i < HB_ARRAY_LEN(vars); i++)
		setenv(vars[i].name, vars[i].warned ? "s3cret-value" : "1", 1);
	hb_cfg_int(cfg, "writer.batch_size", 1, 1, 100);
	hb_cfg_str(cfg, "writer.influx.url", NULL);
	hb_cfg_str(cfg, "data_dir", NULL);
	hb_cfg_int(cfg, "bus.port", 1883, 1, 65535);
	secret = hb_cfg_secret(cfg, "writer.influx.token", "HOMEBUS_TEST_SECRET");
	free(secret);
	hb_config_finish(cfg, sections);
	for (size_t i = 0; i < HB_ARRAY_LEN(vars); i++) {
		HBT_CHECK(warned_about(cfg, vars[i].name) == vars[i].warned, "%s %s",
		    vars[i].name, vars[i].warned ? "warned about" : "accepted");
		if (vars[i].says)
			HBT_CHECK(has_warning(cfg, vars[i].says), "%s: \"%s\"",
			    vars[i].name, vars[i].says);
		warned += vars[i].warned;
		unsetenv(vars[i].name);
	}
	HBT_CHECK(hb_config_warning_count(cfg) == warned, "one warning a "
	    "variable: %zu", hb_config_warning_count(cfg));
	HBT_CHECK(!has_warning(cfg, "s3cret"), "values are never repeated");
	HBT_CHECK(hb_config_error_count(cfg) == 0, "warnings, not errors: %d",
	    hb_config_error_count(cfg));
	hb_config_free(cfg);
}

int
main(void)
{
	hbt_init("config");
	test_getters();
	test_env_typos();
	hbt_exit();
}
