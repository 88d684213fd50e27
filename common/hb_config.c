/*
 * hb_config: loading, typed getters with env overrides, unknown-key checks,
 * and errors that name the JSON path and the line it is on.
 */
#include "hb_config.h"
#include "hb_config_lines.h"
#include "hb_util.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* The top-level sections of the stack's file. */
static const char *const known_sections[] = {
	"data_dir", "log", "bus", "http", "ingest", "writer", "health",
	"deployer", "notifier", "cli", NULL,
};

struct seen {
	char *path;
	bool whole;	/* the whole subtree was taken as JSON */
	bool env;	/* read by a getter that lets HOMEBUS_<PATH> win */
};

struct hb_config {
	char *name;
	json_t *root;
	struct config_lines lines;	/* where each path is in the file */
	struct seen *seen;
	size_t nseen, capseen;
	char **errors;
	size_t nerrors, caperrors;
	char **warnings;
	size_t nwarnings, capwarnings;
	char **env_names;	/* variables read by name (secrets' fallbacks) */
	size_t nenv_names, capenv_names;
};

/* A key starting with "//" is a comment, ignored everywhere. */
static bool
is_comment_key(const char *key)
{
	return key[0] == '/' && key[1] == '/';
}

/* ---- loading ---- */

struct hb_config *
hb_config_parse(const char *text, size_t len, const char *name, char *err,
    size_t errlen)
{
	struct hb_config *cfg;
	json_error_t jerr;
	json_t *root;

	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL) {
		snprintf(err, errlen, "config: %s:%d:%d: not valid JSON: %s",
		    name, jerr.line, jerr.column, jerr.text);
		return NULL;
	}
	if (!json_is_object(root)) {
		snprintf(err, errlen,
		    "config: %s:1: the top level must be a JSON object {...}", name);
		json_decref(root);
		return NULL;
	}
	cfg = hb_xcalloc(1, sizeof(*cfg));
	cfg->name = hb_xstrdup(name);
	cfg->root = root;
	config_lines_map(&cfg->lines, text, len);
	return cfg;
}

struct hb_config *
hb_config_load(const char *path, char *err, size_t errlen)
{
	struct hb_config *cfg;
	size_t len;
	char *text;

	if (path == NULL)
		return hb_config_parse("{}", 2, "(defaults)", err, errlen);
	text = hb_read_file(path, 4 << 20, &len);
	if (text == NULL) {
		snprintf(err, errlen, "config: cannot read %s: %s", path,
		    strerror(errno));
		return NULL;
	}
	cfg = hb_config_parse(text, len, path, err, errlen);
	free(text);
	return cfg;
}

void
hb_config_free(struct hb_config *cfg)
{
	if (cfg == NULL)
		return;
	for (size_t i = 0; i < cfg->nseen; i++)
		free(cfg->seen[i].path);
	for (size_t i = 0; i < cfg->nerrors; i++)
		free(cfg->errors[i]);
	for (size_t i = 0; i < cfg->nwarnings; i++)
		free(cfg->warnings[i]);
	for (size_t i = 0; i < cfg->nenv_names; i++)
		free(cfg->env_names[i]);
	config_lines_free(&cfg->lines);
	free(cfg->seen);
	free(cfg->errors);
	free(cfg->warnings);
	free(cfg->env_names);
	json_decref(cfg->root);
	free(cfg->name);
	free(cfg);
}

const char *
hb_config_path(const struct hb_config *cfg)
{
	return cfg->name;
}

/* ---- errors ---- */

static void verror(struct hb_config *cfg, const char *path, const char *fmt,
    va_list ap) __attribute__((format(printf, 3, 0)));

static void
verror(struct hb_config *cfg, const char *path, const char *fmt, va_list ap)
{
	struct hb_buf b = { 0 };
	int line = config_lines_find(&cfg->lines, path);

	if (line > 0)
		hb_buf_printf(&b, "config: %s:%d: %s: ", cfg->name, line, path);
	else
		hb_buf_printf(&b, "config: %s: %s: ", cfg->name, path);
	hb_buf_vprintf(&b, fmt, ap);
	if (cfg->nerrors == cfg->caperrors) {
		cfg->caperrors = cfg->caperrors ? cfg->caperrors * 2 : 8;
		cfg->errors = hb_xrealloc(cfg->errors, cfg->caperrors * sizeof(char *));
	}
	cfg->errors[cfg->nerrors++] = hb_buf_steal(&b);
}

void
hb_cfg_error(struct hb_config *cfg, const char *path, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	verror(cfg, path, fmt, ap);
	va_end(ap);
}

int
hb_config_error_count(const struct hb_config *cfg)
{
	return (int)cfg->nerrors;
}

void
hb_config_print_errors(const struct hb_config *cfg, FILE *out)
{
	for (size_t i = 0; i < cfg->nerrors; i++)
		fprintf(out, "%s\n", cfg->errors[i]);
}

static void warning(struct hb_config *cfg, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void
warning(struct hb_config *cfg, const char *fmt, ...)
{
	struct hb_buf b = { 0 };
	va_list ap;

	va_start(ap, fmt);
	hb_buf_vprintf(&b, fmt, ap);
	va_end(ap);
	if (cfg->nwarnings == cfg->capwarnings) {
		cfg->capwarnings = cfg->capwarnings ? cfg->capwarnings * 2 : 4;
		cfg->warnings = hb_xrealloc(cfg->warnings,
		    cfg->capwarnings * sizeof(char *));
	}
	cfg->warnings[cfg->nwarnings++] = hb_buf_steal(&b);
}

size_t
hb_config_warning_count(const struct hb_config *cfg)
{
	return cfg->nwarnings;
}

const char *
hb_config_warning(const struct hb_config *cfg, size_t i)
{
	return i < cfg->nwarnings ? cfg->warnings[i] : NULL;
}

/* ---- lookup ---- */

static void
mark_seen_as(struct hb_config *cfg, const char *path, bool whole, bool env)
{
	for (size_t i = 0; i < cfg->nseen; i++)
		if (strcmp(cfg->seen[i].path, path) == 0) {
			cfg->seen[i].whole |= whole;
			cfg->seen[i].env |= env;
			return;
		}
	if (cfg->nseen == cfg->capseen) {
		cfg->capseen = cfg->capseen ? cfg->capseen * 2 : 64;
		cfg->seen = hb_xrealloc(cfg->seen, cfg->capseen * sizeof(*cfg->seen));
	}
	cfg->seen[cfg->nseen].path = hb_xstrdup(path);
	cfg->seen[cfg->nseen].whole = whole;
	cfg->seen[cfg->nseen].env = env;
	cfg->nseen++;
}

static void
mark_seen(struct hb_config *cfg, const char *path, bool whole)
{
	mark_seen_as(cfg, path, whole, false);
}

/* Walks "a.b[3].c" from the root. Returns NULL if any part is absent. */
static json_t *
lookup(struct hb_config *cfg, const char *path)
{
	json_t *cur = cfg->root;
	const char *p = path;
	char key[128];

	while (*p && cur) {
		size_t n = strcspn(p, ".[");

		if (n > 0) {
			if (n >= sizeof(key) || !json_is_object(cur))
				return NULL;
			memcpy(key, p, n);
			key[n] = '\0';
			cur = json_object_get(cur, key);
			p += n;
		}
		if (*p == '[') {
			char *end;
			long idx = strtol(p + 1, &end, 10);

			if (*end != ']' || idx < 0 || !json_is_array(cur))
				return NULL;
			cur = json_array_get(cur, (size_t)idx);
			p = end + 1;
		}
		if (*p == '.')
			p++;
	}
	return cur;
}

bool
hb_cfg_has(struct hb_config *cfg, const char *path)
{
	return lookup(cfg, path) != NULL;
}

/*
 * HOMEBUS_WRITER_INFLUX_URL for writer.influx.url into name; false for list
 * members (no variable) and for a path too long to be one.
 */
static bool
env_name(const char *path, char *name, size_t namelen)
{
	size_t o;

	if (strchr(path, '[') != NULL)
		return false;
	o = (size_t)snprintf(name, namelen, "HOMEBUS_");
	for (const char *p = path; *p; p++) {
		if (o + 1 >= namelen)
			return false;
		name[o++] = *p == '.' ? '_' : (char)toupper((unsigned char)*p);
	}
	name[o] = '\0';
	return true;
}

/* The variable that overrides path, if set; the path is marked as read. */
static const char *
env_override(struct hb_config *cfg, const char *path)
{
	char name[160];
	bool has = env_name(path, name, sizeof(name));

	mark_seen_as(cfg, path, false, has);
	return has ? getenv(name) : NULL;
}

const char *
hb_json_type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: return "an object";
	case JSON_ARRAY: return "a list";
	case JSON_STRING: return "a string";
	case JSON_INTEGER: return "an integer";
	case JSON_REAL: return "a number";
	case JSON_TRUE:
	case JSON_FALSE: return "a boolean";
	case JSON_NULL: return "null";
	}
	return "something else";
}

const char *
hb_cfg_str(struct hb_config *cfg, const char *path, const char *def)
{
	const char *env = env_override(cfg, path);
	json_t *v;

	if (env)
		return env;
	v = lookup(cfg, path);
	if (v == NULL || json_is_null(v))
		return def;
	if (!json_is_string(v)) {
		hb_cfg_error(cfg, path, "expected a string, got %s", hb_json_type_name(v));
		return def;
	}
	return json_string_value(v);
}

long long
hb_cfg_int(struct hb_config *cfg, const char *path, long long def,
    long long min, long long max)
{
	const char *env = env_override(cfg, path);
	long long val;
	json_t *v;

	if (env) {
		if (hb_parse_ll(env, min, max, &val) != 0) {
			hb_cfg_error(cfg, path, "environment value \"%s\" is not an "
			    "integer in [%lld, %lld]", env, min, max);
			return def;
		}
		return val;
	}
	v = lookup(cfg, path);
	if (v == NULL || json_is_null(v))
		return def;
	if (!json_is_integer(v)) {
		hb_cfg_error(cfg, path, "expected an integer, got %s", hb_json_type_name(v));
		return def;
	}
	val = json_integer_value(v);
	if (val < min || val > max) {
		hb_cfg_error(cfg, path, "%lld is out of range [%lld, %lld]", val,
		    min, max);
		return def;
	}
	return val;
}

double
hb_cfg_double(struct hb_config *cfg, const char *path, double def, double min,
    double max)
{
	const char *env = env_override(cfg, path);
	double val;
	json_t *v;

	if (env) {
		if (hb_parse_double(env, &val) != 0 || val < min || val > max) {
			hb_cfg_error(cfg, path, "environment value \"%s\" is not a "
			    "number in [%g, %g]", env, min, max);
			return def;
		}
		return val;
	}
	v = lookup(cfg, path);
	if (v == NULL || json_is_null(v))
		return def;
	if (!json_is_number(v)) {
		hb_cfg_error(cfg, path, "expected a number, got %s", hb_json_type_name(v));
		return def;
	}
	val = json_number_value(v);
	if (val < min || val > max) {
		hb_cfg_error(cfg, path, "%g is out of range [%g, %g]", val, min, max);
		return def;
	}
	return val;
}

bool
hb_cfg_bool(struct hb_config *cfg, const char *path, bool def)
{
	const char *env = env_override(cfg, path);
	json_t *v;

	if (env) {
		if (strcmp(env, "true") == 0 || strcmp(env, "1") == 0)
			return true;
		if (strcmp(env, "false") == 0 || strcmp(env, "0") == 0)
			return false;
		hb_cfg_error(cfg, path, "environment value \"%s\" is not true/false",
		    env);
		return def;
	}
	v = lookup(cfg, path);
	if (v == NULL || json_is_null(v))
		return def;
	if (!json_is_boolean(v)) {
		hb_cfg_error(cfg, path, "expected true or false, got %s",
		    hb_json_type_name(v));
		return def;
	}
	return json_is_true(v);
}

int
hb_cfg_enum(struct hb_config *cfg, const char *path,
    const char *const *choices, int def_index)
{
	const char *s = hb_cfg_str(cfg, path, NULL);
	struct hb_buf list = { 0 };

	if (s == NULL)
		return def_index;
	for (int i = 0; choices[i]; i++)
		if (strcmp(s, choices[i]) == 0)
			return i;
	for (int i = 0; choices[i]; i++)
		hb_buf_printf(&list, "%s\"%s\"", i ? ", " : "", choices[i]);
	hb_cfg_error(cfg, path, "\"%s\" is not one of %s", s, list.data);
	hb_buf_free(&list);
	return def_index;
}

json_t *
hb_cfg_json(struct hb_config *cfg, const char *path, json_type type, bool walk)
{
	json_t *v;

	mark_seen(cfg, path, !walk);
	v = lookup(cfg, path);
	if (v == NULL || json_is_null(v))
		return NULL;
	if (json_typeof(v) != type) {
		json_t *want = type == JSON_ARRAY ? json_array() : json_object();

		hb_cfg_error(cfg, path, "expected %s, got %s",
		    type == JSON_ARRAY || type == JSON_OBJECT ? hb_json_type_name(want) :
		    "another type", hb_json_type_name(v));
		json_decref(want);
		return NULL;
	}
	return v;
}

size_t
hb_cfg_array_len(struct hb_config *cfg, const char *path)
{
	json_t *v = hb_cfg_json(cfg, path, JSON_ARRAY, true);

	return v ? json_array_size(v) : 0;
}

static void
add_env_name(struct hb_config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->nenv_names; i++)
		if (strcmp(cfg->env_names[i], name) == 0)
			return;
	if (cfg->nenv_names == cfg->capenv_names) {
		cfg->capenv_names = cfg->capenv_names ? cfg->capenv_names * 2 : 4;
		cfg->env_names = hb_xrealloc(cfg->env_names,
		    cfg->capenv_names * sizeof(char *));
	}
	cfg->env_names[cfg->nenv_names++] = hb_xstrdup(name);
}

char *
hb_cfg_secret(struct hb_config *cfg, const char *path, const char *env)
{
	char filekey[160];
	const char *file;
	char *val;

	snprintf(filekey, sizeof(filekey), "%s_file", path);
	mark_seen(cfg, path, false);
	if (lookup(cfg, path) != NULL && !json_is_null(lookup(cfg, path)))
		hb_cfg_error(cfg, path, "secrets are not read from the JSON; put it "
		    "in a file named by %s_file or in the environment", path);
	file = hb_cfg_str(cfg, filekey, NULL);
	if (file && *file) {
		val = hb_read_file(file, 64 << 10, NULL);
		if (val == NULL) {
			hb_cfg_error(cfg, filekey, "cannot read secret file \"%s\": %s",
			    file, strerror(errno));
			return NULL;
		}
		hb_rstrip(val);
		return val;
	}
	if (env) {
		add_env_name(cfg, env);
		if (getenv(env) && *getenv(env))
			return hb_xstrdup(getenv(env));
	}
	return NULL;
}

/* ---- unknown keys ---- */

/* A key is known if read, under a subtree taken whole, or on the way to one read. */
static bool
is_known(const struct hb_config *cfg, const char *path)
{
	size_t plen = strlen(path);

	for (size_t i = 0; i < cfg->nseen; i++) {
		const char *s = cfg->seen[i].path;
		size_t slen = strlen(s);

		if (strcmp(s, path) == 0)
			return true;
		/* path is an ancestor of a key that was read */
		if (slen > plen && strncmp(s, path, plen) == 0 &&
		    (s[plen] == '.' || s[plen] == '['))
			return true;
		/* path is inside a subtree taken whole */
		if (cfg->seen[i].whole && plen > slen &&
		    strncmp(s, path, slen) == 0 &&
		    (path[slen] == '.' || path[slen] == '['))
			return true;
	}
	return false;
}

static void
check_unknown(struct hb_config *cfg, json_t *v, struct hb_buf *path)
{
	size_t base = path->len;
	const char *key;
	json_t *child;
	size_t idx;

	if (json_is_object(v)) {
		json_object_foreach(v, key, child) {
			if (is_comment_key(key))
				continue;
			path->len = base;
			hb_buf_printf(path, "%s%s", base ? "." : "", key);
			if (!is_known(cfg, path->data))
				hb_cfg_error(cfg, path->data, "unknown key (misspelt, or "
				    "not an option of this section)");
			else
				check_unknown(cfg, child, path);
		}
	} else if (json_is_array(v)) {
		json_array_foreach(v, idx, child) {
			path->len = base;
			hb_buf_printf(path, "[%zu]", idx);
			if (is_known(cfg, path->data))
				check_unknown(cfg, child, path);
		}
	}
	path->len = base;
	if (path->data)
		path->data[base] = '\0';
}

/* ---- unknown environment variables ---- */

extern char **environ;

/*
 * Variables of the stack that are not an option's path: read by name, each by
 * one service, and passed to all of them when they share an environment.
 */
static const char *const stack_env[] = {
	"HOMEBUS_CONFIG", "HOMEBUS_BUS_PASSWORD", "HOMEBUS_INFLUX_PASSWORD",
	"HOMEBUS_INFLUX_TOKEN", "HOMEBUS_WEBHOOK_TOKEN", NULL,
};

/* The section whose variables start with name's prefix, or NULL. */
static const char *
env_section(const char *name)
{
	char prefix[64];

	for (int i = 0; known_sections[i]; i++) {
		size_t n;

		if (!env_name(known_sections[i], prefix, sizeof(prefix)))
			continue;
		n = strlen(prefix);
		if (strncmp(name, prefix, n) == 0 &&
		    (name[n] == '_' || name[n] == '\0'))
			return known_sections[i];
	}
	return NULL;
}

/* Equal once underscores are dropped: BATCHSIZE for BATCH_SIZE. */
static bool
same_but_underscores(const char *a, size_t alen, const char *b)
{
	size_t i = 0;

	for (;;) {
		while (i < alen && a[i] == '_')
			i++;
		while (*b == '_')
			b++;
		if (i == alen || *b == '\0')
			return i == alen && *b == '\0';
		if (a[i] != *b)
			return false;
		i++;
		b++;
	}
}

/*
 * Judges one HOMEBUS_* variable (name is not NUL-terminated: it ends at
 * '='). Only the name is ever repeated: the value may be a secret.
 */
static void
check_env(struct hb_config *cfg, const char *name, size_t len,
    const char *const *sections)
{
	char var[160], want[160];
	const char *section, *hint = NULL, *fixed = NULL;
	bool mine = false;

	if (len >= sizeof(var))
		len = sizeof(var) - 1;
	memcpy(var, name, len);
	var[len] = '\0';
	for (int i = 0; stack_env[i]; i++)
		if (strcmp(var, stack_env[i]) == 0)
			return;
	for (size_t i = 0; i < cfg->nenv_names; i++)
		if (strcmp(var, cfg->env_names[i]) == 0)
			return;
	section = env_section(var);
	for (int i = 0; section && sections && sections[i]; i++)
		if (strcmp(section, sections[i]) == 0)
			mine = true;
	/* Another service's section: only that service knows its options. */
	if (section && !mine)
		return;
	for (size_t i = 0; i < cfg->nseen; i++) {
		if (!env_name(cfg->seen[i].path, want, sizeof(want)))
			continue;
		if (!cfg->seen[i].env) {
			if (strcmp(var, want) == 0)
				fixed = cfg->seen[i].path;
			continue;
		}
		if (strcmp(var, want) == 0)
			return;
		if (hint == NULL && same_but_underscores(var, len, want))
			hint = cfg->seen[i].path;
	}
	if (section == NULL)
		warning(cfg, "config: environment: %s is ignored: it names no section "
		    "of the stack (HOMEBUS_<SECTION>_<KEY>, e.g. HOMEBUS_BUS_HOST)",
		    var);
	else if (fixed != NULL)
		warning(cfg, "config: environment: %s is ignored: %s is not set from "
		    "the environment (lists, objects and secrets are not; a secret "
		    "comes from %s_file or the variable its documentation names)",
		    var, fixed, fixed);
	else if (hint != NULL) {
		env_name(hint, want, sizeof(want));
		warning(cfg, "config: environment: %s is ignored: it matches no "
		    "option of %s (misspelt? %s is %s)", var, section, hint, want);
	} else
		warning(cfg, "config: environment: %s is ignored: it matches no "
		    "option of %s (misspelt, or not an option that the environment "
		    "can set)", var, section);
}

static void
check_environment(struct hb_config *cfg, const char *const *sections)
{
	for (char **e = environ; e && *e; e++) {
		const char *eq = strchr(*e, '=');

		if (strncmp(*e, "HOMEBUS_", 8) == 0 && eq != NULL)
			check_env(cfg, *e, (size_t)(eq - *e), sections);
	}
}

int
hb_config_finish(struct hb_config *cfg, const char *const *sections)
{
	const char *key;
	json_t *child;
	struct hb_buf path = { 0 };

	json_object_foreach(cfg->root, key, child) {
		bool known = false, mine = false;

		if (is_comment_key(key))
			continue;
		for (int i = 0; known_sections[i]; i++)
			if (strcmp(key, known_sections[i]) == 0)
				known = true;
		for (int i = 0; sections && sections[i]; i++)
			if (strcmp(key, sections[i]) == 0)
				mine = true;
		if (!known) {
			hb_cfg_error(cfg, key, "unknown section (expected one of data_dir, "
			    "log, bus, http, ingest, writer, health, deployer, notifier, cli)");
			continue;
		}
		if (!mine || !json_is_object(child))
			continue;
		hb_buf_reset(&path);
		hb_buf_puts(&path, key);
		check_unknown(cfg, child, &path);
	}
	hb_buf_free(&path);
	check_environment(cfg, sections);
	return (int)cfg->nerrors;
}
