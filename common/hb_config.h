/*
 * hb_config: the one JSON configuration file of the whole stack.
 *
 * A service reads its options with typed getters that take a JSON path
 * ("writer.influx.url", "ingest.sources[2].topic"). A getter returns the
 * default when the key is absent, lets an environment variable win
 * (HOMEBUS_WRITER_INFLUX_URL for writer.influx.url), and records an error
 * naming the path and line when the value is of the wrong type or out of
 * range. Every key a service reads is remembered, so hb_config_finish() can
 * name the keys nobody asked for (typos) in the sections the service owns,
 * and the HOMEBUS_* variables that set nothing.
 */
#ifndef HB_CONFIG_H
#define HB_CONFIG_H

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>

struct hb_config;

/*
 * Loads and parses path. On a syntax error or unreadable file, returns NULL
 * and writes one line naming the file, line and column into err.
 * With path == NULL an empty configuration is returned (every default).
 */
struct hb_config *hb_config_load(const char *path, char *err, size_t errlen);
/* Parses JSON text (tests, fuzzing); `name` is used in messages. */
struct hb_config *hb_config_parse(const char *text, size_t len,
    const char *name, char *err, size_t errlen);
void hb_config_free(struct hb_config *cfg);

/* Typed getters; see the file comment. Strings stay owned by cfg. */
const char *hb_cfg_str(struct hb_config *cfg, const char *path, const char *def);
long long hb_cfg_int(struct hb_config *cfg, const char *path, long long def,
    long long min, long long max);
double hb_cfg_double(struct hb_config *cfg, const char *path, double def,
    double min, double max);
bool hb_cfg_bool(struct hb_config *cfg, const char *path, bool def);
/* One of `choices` (NULL-terminated); returns its index, or def_index. */
int hb_cfg_enum(struct hb_config *cfg, const char *path, const char *const *choices,
    int def_index);
/*
 * The raw JSON value at path if it has the expected type (JSON_ARRAY,
 * JSON_OBJECT, ...), else NULL (and an error if present with another type).
 * The whole subtree counts as read unless `walk` is true, in which case the
 * caller reads the members with the getters itself.
 */
json_t *hb_cfg_json(struct hb_config *cfg, const char *path, json_type type,
    bool walk);
/* Number of elements of the array at path (0 if absent; error if not an array). */
size_t hb_cfg_array_len(struct hb_config *cfg, const char *path);
/*
 * A secret: read from the file named by `<path>_file`, else from the
 * environment variable `env` (may be NULL). The value itself is never taken
 * from the JSON (an error says so). Returns a malloc'd string the caller
 * frees, or NULL when none is configured. A named file that cannot be read is
 * an error naming the key and the file.
 */
char *hb_cfg_secret(struct hb_config *cfg, const char *path, const char *env);

/* Records an error about path (for validation the service does itself). */
/* "a string", "a list", ...: a JSON value's type, for messages. */
const char *hb_json_type_name(const json_t *v);
void hb_cfg_error(struct hb_config *cfg, const char *path, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* True when the key exists in the file (env overrides not considered). */
bool hb_cfg_has(struct hb_config *cfg, const char *path);

/*
 * Names every key under `sections` (NULL-terminated list of top-level names)
 * that no getter read, and every unknown top-level section. Returns the total
 * number of errors recorded so far.
 *
 * It also warns (a warning, not an error: the service still starts) about
 * each HOMEBUS_* environment variable that overrides no option, judged the
 * way keys are: a variable under one of `sections` (HOMEBUS_WRITER_... for
 * the writer, HOMEBUS_BUS_..., HOMEBUS_DATA_DIR) must be the variable of an
 * option a getter read; one under another service's section is left to that
 * service; one under no section at all is a warning for every service.
 * HOMEBUS_CONFIG and the secrets' variables are known.
 */
int hb_config_finish(struct hb_config *cfg, const char *const *sections);
/* Warnings recorded by hb_config_finish, each one line; i < count. */
size_t hb_config_warning_count(const struct hb_config *cfg);
const char *hb_config_warning(const struct hb_config *cfg, size_t i);
int hb_config_error_count(const struct hb_config *cfg);
/* Prints each error on its own line: "config: FILE:LINE: PATH: message". */
void hb_config_print_errors(const struct hb_config *cfg, FILE *out);
const char *hb_config_path(const struct hb_config *cfg);

#endif
