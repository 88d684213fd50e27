/*
 * ha_influx: Home Assistant's InfluxDB options; see ha_influx.h. Read from
 * the JSON itself rather than through path getters: entity ids and globs
 * hold dots, which a getter's path would take for levels.
 */
#include "ha_influx.h"
#include "python.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

/* Home Assistant's own keys that are about reaching InfluxDB, not points. */
static const char *const connection_keys[] = { "host", "port", "path", "ssl",
    "verify_ssl", "ssl_ca_cert", "username", "password", "database",
    "api_version", "token", "organization", "bucket", "precision",
    "max_retries", "retry_count", NULL };

static const char *const top_keys[] = { "measurement_attr",
    "default_measurement", "override_measurement", "tags", "tags_attributes",
    "ignore_attributes", "include", "exclude", "component_config",
    "component_config_domain", "component_config_glob", NULL };
static const char *const filter_keys[] = { "entities", "entity_globs",
    "domains", NULL };
static const char *const entry_keys[] = { "override_measurement",
    "ignore_attributes", NULL };

static bool
in_list(const char *const *list, const char *s)
{
	for (size_t i = 0; list[i]; i++)
		if (strcmp(list[i], s) == 0)
			return true;
	return false;
}

static void
list_add(struct rule_list *l, const char *s)
{
	l->items = hb_xrealloc(l->items, (l->n + 1) * sizeof(char *));
	l->items[l->n++] = hb_xstrdup(s);
}

static void
list_free(struct rule_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->items[i]);
	free(l->items);
	memset(l, 0, sizeof(*l));
}

/* obj's key, with null as absent: null means "not set" in homebus's JSON. */
static json_t *
opt(json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);

	return json_is_null(v) ? NULL : v;
}

/* "<path>.<key>" into b (reset first): the path errors name. */
static const char *
sub(struct hb_buf *b, const char *path, const char *key)
{
	hb_buf_reset(b);
	hb_buf_printf(b, "%s.%s", path, key);
	return b->data;
}

/* Every key of obj must be one of `known`; "//" keys are comments. */
static void
check_keys(struct hb_config *cfg, const char *path, json_t *obj,
    const char *const *known, bool top)
{
	struct hb_buf p = { 0 };
	const char *k;
	json_t *v;

	json_object_foreach(obj, k, v) {
		if ((k[0] == '/' && k[1] == '/') || in_list(known, k))
			continue;
		if (top && in_list(connection_keys, k))
			hb_cfg_error(cfg, sub(&p, path, k), "a connection option of Home "
			    "Assistant's integration: homebus's writer is what connects to "
			    "InfluxDB (the writer.influx section); leave it out here");
		else
			hb_cfg_error(cfg, sub(&p, path, k), "unknown key (misspelt, or not "
			    "an option of this section)");
	}
	hb_buf_free(&p);
}

/* A string option; NULL (and an error) when v is something else. */
static char *
read_string(struct hb_config *cfg, const char *path, json_t *v)
{
	if (!json_is_string(v)) {
		hb_cfg_error(cfg, path, "expected a string, got %s", hb_json_type_name(v));
		return NULL;
	}
	return hb_xstrndup(json_string_value(v), json_string_length(v));
}

/*
 * Home Assistant's valid_entity_id: <domain>.<object_id>, each of a-z, 0-9
 * and '_', neither starting nor ending with '_', no "__" anywhere.
 */
static bool
entity_id_ok(const char *s)
{
	const char *dot = strchr(s, '.');

	if (dot == NULL || dot == s || dot[1] == '\0' || strchr(dot + 1, '.') ||
	    strstr(s, "__") || s[0] == '_' || dot[-1] == '_' || dot[1] == '_' ||
	    s[strlen(s) - 1] == '_')
		return false;
	for (const char *c = s; *c; c++)
		if (c != dot && !(islower((unsigned char)*c) ||
		    isdigit((unsigned char)*c) || *c == '_'))
			return false;
	return true;
}

/* An entity id as Home Assistant's cv.entity_id takes it: lower-cased. */
static void
add_entity_id(struct hb_config *cfg, const char *path, const char *s,
    size_t n, struct rule_list *l)
{
	char *id = hb_xstrndup(s, n);

	for (char *c = id; *c; c++)
		*c = (char)tolower((unsigned char)*c);
	if (entity_id_ok(id))
		list_add(l, id);
	else
		hb_cfg_error(cfg, path, "\"%s\" is not an entity id (<domain>.<object_id>"
		    ", of a-z, 0-9 and _)", id);
	free(id);
}

/* A comma-separated string of entity ids, as cv.entity_ids takes one. */
static void
add_entity_csv(struct hb_config *cfg, const char *path, const char *s,
    struct rule_list *l)
{
	for (;;) {
		const char *comma = strchr(s, ',');
		size_t n = comma ? (size_t)(comma - s) : strlen(s);
		const char *a = s, *b = s + n;

		while (a < b && isspace((unsigned char)*a))
			a++;
		while (b > a && isspace((unsigned char)b[-1]))
			b--;
		add_entity_id(cfg, path, a, (size_t)(b - a), l);
		if (comma == NULL)
			break;
		s = comma + 1;
	}
}

/*
 * A list of names, or one name alone (cv.ensure_list); entity ids also as
 * "a.b, c.d" and lower-cased, as Home Assistant reads them.
 */
static void
read_names(struct hb_config *cfg, const char *path, json_t *v,
    struct rule_list *l, bool entity_ids)
{
	struct hb_buf p = { 0 };
	size_t i;
	json_t *item;

	if (json_is_string(v)) {
		if (entity_ids)
			add_entity_csv(cfg, path, json_string_value(v), l);
		else
			list_add(l, json_string_value(v));
		return;
	}
	if (!json_is_array(v)) {
		hb_cfg_error(cfg, path, "expected a list of strings, got %s",
		    hb_json_type_name(v));
		return;
	}
	json_array_foreach(v, i, item) {
		hb_buf_reset(&p);
		hb_buf_printf(&p, "%s[%zu]", path, i);
		if (!json_is_string(item))
			hb_cfg_error(cfg, p.data, "expected a string, got %s",
			    hb_json_type_name(item));
		else if (entity_ids)
			add_entity_id(cfg, p.data, json_string_value(item),
			    json_string_length(item), l);
		else
			list_add(l, json_string_value(item));
	}
	hb_buf_free(&p);
}

static void
read_filter(struct hb_config *cfg, const char *path, json_t *v,
    struct ha_filter *f)
{
	struct hb_buf p = { 0 };
	json_t *x;

	if (!json_is_object(v)) {
		hb_cfg_error(cfg, path, "expected an object (entities, entity_globs, "
		    "domains), got %s", hb_json_type_name(v));
		return;
	}
	check_keys(cfg, path, v, filter_keys, false);
	if ((x = opt(v, "entities")) != NULL)
		read_names(cfg, sub(&p, path, "entities"), x, &f->entities, true);
	if ((x = opt(v, "entity_globs")) != NULL)
		read_names(cfg, sub(&p, path, "entity_globs"), x, &f->globs, false);
	if ((x = opt(v, "domains")) != NULL)
		read_names(cfg, sub(&p, path, "domains"), x, &f->domains, false);
	hb_buf_free(&p);
}

/* One entry of component_config*: override_measurement, ignore_attributes. */
static void
read_entry(struct hb_config *cfg, const char *path, json_t *v,
    struct ha_entity_values *e)
{
	struct hb_buf p = { 0 };
	json_t *x;

	if (!json_is_object(v)) {
		hb_cfg_error(cfg, path, "expected an object (override_measurement, "
		    "ignore_attributes), got %s", hb_json_type_name(v));
		return;
	}
	check_keys(cfg, path, v, entry_keys, false);
	if ((x = opt(v, "override_measurement")) != NULL)
		e->override_measurement = read_string(cfg, sub(&p, path,
		    "override_measurement"), x);
	if ((x = opt(v, "ignore_attributes")) != NULL) {
		e->has_ignore = true;
		read_names(cfg, sub(&p, path, "ignore_attributes"), x,
		    &e->ignore_attributes, false);
	}
	hb_buf_free(&p);
}

/* component_config (entity_ids), _domain or _glob: key -> entry, in order. */
static void
read_entries(struct hb_config *cfg, const char *path, json_t *v,
    bool entity_keys, struct ha_entity_values **out, size_t *n)
{
	struct hb_buf p = { 0 };
	const char *k;
	json_t *entry;

	if (!json_is_object(v)) {
		hb_cfg_error(cfg, path, "expected an object, got %s", hb_json_type_name(v));
		return;
	}
	*out = hb_xcalloc(json_object_size(v) + 1, sizeof(**out));
	json_object_foreach(v, k, entry) {
		struct ha_entity_values *e = &(*out)[*n];
		struct rule_list id = { 0 };

		if (k[0] == '/' && k[1] == '/')
			continue;
		sub(&p, path, k);
		if (entity_keys) {
			add_entity_id(cfg, p.data, k, strlen(k), &id);
			if (id.n == 0)
				continue;
			e->key = hb_xstrdup(id.items[0]);
			list_free(&id);
		} else
			e->key = hb_xstrdup(k);
		read_entry(cfg, p.data, entry, e);
		(*n)++;
	}
	hb_buf_free(&p);
}

/* Static tags: text, or a number or boolean as Home Assistant's str(). */
static void
read_tags(struct hb_config *cfg, const char *path, json_t *v,
    struct ha_influx *o)
{
	struct hb_buf p = { 0 };
	const char *k;
	json_t *t;

	if (!json_is_object(v)) {
		hb_cfg_error(cfg, path, "expected an object of tag: value, got %s",
		    hb_json_type_name(v));
		return;
	}
	o->tags = hb_xcalloc(json_object_size(v) + 1, sizeof(*o->tags));
	json_object_foreach(v, k, t) {
		struct hb_buf text = { 0 };

		if (k[0] == '/' && k[1] == '/')
			continue;
		if (!json_is_string(t) && !json_is_number(t) && !json_is_boolean(t)) {
			hb_cfg_error(cfg, sub(&p, path, k), "expected a string, got %s",
			    hb_json_type_name(t));
			continue;
		}
		python_str(&text, t);
		o->tags[o->ntags].key = hb_xstrdup(k);
		o->tags[o->ntags].value = hb_xstrdup(text.data ? text.data : "");
		o->ntags++;
		hb_buf_free(&text);
	}
	hb_buf_free(&p);
}

static void
read_measurement_attr(struct hb_config *cfg, const char *path, json_t *v,
    struct ha_influx *o)
{
	static const char *const names[] = { "unit_of_measurement",
	    "domain__device_class", "entity_id", NULL };
	char *s = read_string(cfg, path, v);

	for (int i = 0; s && names[i]; i++)
		if (strcmp(s, names[i]) == 0) {
			o->measurement_attr = (enum ha_measurement_attr)i;
			free(s);
			return;
		}
	if (s)
		hb_cfg_error(cfg, path, "\"%s\" is not one of \"unit_of_measurement\", "
		    "\"domain__device_class\", \"entity_id\"", s);
	free(s);
}

/* The options that shape the measurement and the tags. */
static void
read_series(struct hb_config *cfg, const char *path, json_t *obj,
    struct ha_influx *o)
{
	struct hb_buf p = { 0 };
	json_t *x;

	if ((x = opt(obj, "measurement_attr")) != NULL)
		read_measurement_attr(cfg, sub(&p, path, "measurement_attr"), x, o);
	if ((x = opt(obj, "default_measurement")) != NULL)
		o->default_measurement = read_string(cfg, sub(&p, path,
		    "default_measurement"), x);
	if ((x = opt(obj, "override_measurement")) != NULL)
		o->override_measurement = read_string(cfg, sub(&p, path,
		    "override_measurement"), x);
	if ((x = opt(obj, "tags")) != NULL)
		read_tags(cfg, sub(&p, path, "tags"), x, o);
	if ((x = opt(obj, "tags_attributes")) != NULL)
		read_names(cfg, sub(&p, path, "tags_attributes"), x,
		    &o->tags_attributes, false);
	if ((x = opt(obj, "ignore_attributes")) != NULL)
		read_names(cfg, sub(&p, path, "ignore_attributes"), x,
		    &o->ignore_attributes, false);
	hb_buf_free(&p);
}

/* The options that choose entities, and those set per entity. */
static void
read_entities(struct hb_config *cfg, const char *path, json_t *obj,
    struct ha_influx *o)
{
	struct hb_buf p = { 0 };
	json_t *x;

	if ((x = opt(obj, "include")) != NULL)
		read_filter(cfg, sub(&p, path, "include"), x, &o->include);
	if ((x = opt(obj, "exclude")) != NULL)
		read_filter(cfg, sub(&p, path, "exclude"), x, &o->exclude);
	if ((x = opt(obj, "component_config")) != NULL)
		read_entries(cfg, sub(&p, path, "component_config"), x, true,
		    &o->by_entity, &o->nby_entity);
	if ((x = opt(obj, "component_config_domain")) != NULL)
		read_entries(cfg, sub(&p, path, "component_config_domain"), x, false,
		    &o->by_domain, &o->nby_domain);
	if ((x = opt(obj, "component_config_glob")) != NULL)
		read_entries(cfg, sub(&p, path, "component_config_glob"), x, false,
		    &o->by_glob, &o->nby_glob);
	hb_buf_free(&p);
}

struct ha_influx *
ha_influx_read(struct hb_config *cfg, const char *path)
{
	/* taken whole: the keys inside are checked here, with their dots */
	json_t *obj = hb_cfg_json(cfg, path, JSON_OBJECT, false);
	struct ha_influx *o;

	if (obj == NULL)
		return NULL;
	o = hb_xcalloc(1, sizeof(*o));
	check_keys(cfg, path, obj, top_keys, true);
	read_series(cfg, path, obj, o);
	read_entities(cfg, path, obj, o);
	return o;
}

static void
entries_free(struct ha_entity_values *e, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(e[i].key);
		free(e[i].override_measurement);
		list_free(&e[i].ignore_attributes);
	}
	free(e);
}

static void
filter_free(struct ha_filter *f)
{
	list_free(&f->entities);
	list_free(&f->globs);
	list_free(&f->domains);
}

void
ha_influx_free(struct ha_influx *o)
{
	if (o == NULL)
		return;
	free(o->default_measurement);
	free(o->override_measurement);
	for (size_t i = 0; i < o->ntags; i++) {
		free(o->tags[i].key);
		free(o->tags[i].value);
	}
	free(o->tags);
	list_free(&o->tags_attributes);
	list_free(&o->ignore_attributes);
	filter_free(&o->include);
	filter_free(&o->exclude);
	entries_free(o->by_entity, o->nby_entity);
	entries_free(o->by_domain, o->nby_domain);
	entries_free(o->by_glob, o->nby_glob);
	free(o);
}

static bool
globs_match(const struct rule_list *globs, const char *entity_id)
{
	for (size_t i = 0; i < globs->n; i++)
		if (python_fnmatch(globs->items[i], entity_id))
			return true;
	return false;
}

/* Listed by id, by domain or by a glob. */
static bool
filter_matches(const struct ha_filter *f, const char *entity_id,
    const char *domain)
{
	return rules_list_has(&f->entities, entity_id) ||
	    rules_list_has(&f->domains, domain) || globs_match(&f->globs, entity_id);
}

/*
 * The cases of Home Assistant's entity filter, in its order. The one to
 * know: with a domain or glob included, an excluded domain counts for
 * nothing, and with only entities included an excluded domain or glob is
 * the rule and the included entities its exceptions.
 */
bool
ha_influx_pass(const struct ha_influx *o, const char *entity_id,
    const char *domain)
{
	const struct ha_filter *in, *ex;
	bool have_in, have_ex;

	if (o == NULL)
		return true;
	in = &o->include;
	ex = &o->exclude;
	have_in = in->entities.n || in->globs.n || in->domains.n;
	have_ex = ex->entities.n || ex->globs.n || ex->domains.n;
	if (!have_in && !have_ex)
		return true;
	if (!have_ex)
		return filter_matches(in, entity_id, domain);
	if (!have_in)
		return !filter_matches(ex, entity_id, domain);
	if (rules_list_has(&in->entities, entity_id))
		return true;
	if (in->domains.n || in->globs.n)
		return !rules_list_has(&ex->entities, entity_id) &&
		    (globs_match(&in->globs, entity_id) ||
		    (rules_list_has(&in->domains, domain) &&
		    !globs_match(&ex->globs, entity_id)));
	if (ex->domains.n || ex->globs.n)
		return !rules_list_has(&ex->domains, domain) &&
		    !globs_match(&ex->globs, entity_id) &&
		    !rules_list_has(&ex->entities, entity_id);
	return false;
}

static void
apply(const struct ha_entity_values *e, const char **override,
    const struct rule_list **ignore)
{
	if (e->override_measurement)
		*override = e->override_measurement;
	if (e->has_ignore)
		*ignore = &e->ignore_attributes;
}

void
ha_influx_entity(const struct ha_influx *o, const char *entity_id,
    const char *domain, const char **override_measurement,
    const struct rule_list **ignore_attributes)
{
	*override_measurement = NULL;
	*ignore_attributes = NULL;
	if (o == NULL)
		return;
	for (size_t i = 0; i < o->nby_domain; i++)
		if (strcmp(o->by_domain[i].key, domain) == 0)
			apply(&o->by_domain[i], override_measurement, ignore_attributes);
	for (size_t i = 0; i < o->nby_glob; i++)
		if (python_fnmatch(o->by_glob[i].key, entity_id))
			apply(&o->by_glob[i], override_measurement, ignore_attributes);
	for (size_t i = 0; i < o->nby_entity; i++)
		if (strcmp(o->by_entity[i].key, entity_id) == 0)
			apply(&o->by_entity[i], override_measurement, ignore_attributes);
}
