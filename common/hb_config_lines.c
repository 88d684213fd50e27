/*
 * hb_config_lines: which line of the file each JSON path is on, from a light
 * second pass over the text (jansson keeps no positions), so that an error
 * can name the line as well as the path.
 */
#include "hb_config_lines.h"
#include "hb_util.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

struct scan {
	const char *s;
	size_t i, n;
	int line;
	int depth;
	struct config_lines *map;
};

static void
lines_add(struct config_lines *map, const char *path, int line)
{
	if (map->n == map->cap) {
		map->cap = map->cap ? map->cap * 2 : 64;
		map->lines = hb_xrealloc(map->lines, map->cap * sizeof(*map->lines));
	}
	map->lines[map->n].path = hb_xstrdup(path);
	map->lines[map->n].line = line;
	map->n++;
}

static void
scan_ws(struct scan *sc)
{
	while (sc->i < sc->n && isspace((unsigned char)sc->s[sc->i])) {
		if (sc->s[sc->i] == '\n')
			sc->line++;
		sc->i++;
	}
}

/* Reads a JSON string at sc->i into out (escapes reduced to the next char). */
static void
scan_string(struct scan *sc, struct hb_buf *out)
{
	sc->i++;
	while (sc->i < sc->n && sc->s[sc->i] != '"') {
		if (sc->s[sc->i] == '\\' && sc->i + 1 < sc->n)
			sc->i++;
		if (out)
			hb_buf_putc(out, sc->s[sc->i]);
		sc->i++;
	}
	sc->i++;
}

static void scan_value(struct scan *sc, const char *path);

static void
scan_object(struct scan *sc, const char *path)
{
	struct hb_buf key = { 0 }, sub = { 0 };

	sc->i++;
	for (;;) {
		scan_ws(sc);
		if (sc->i >= sc->n || sc->s[sc->i] == '}')
			break;
		if (sc->s[sc->i] != '"')
			break;
		hb_buf_reset(&key);
		scan_string(sc, &key);
		hb_buf_reset(&sub);
		if (*path)
			hb_buf_printf(&sub, "%s.%s", path, key.data ? key.data : "");
		else
			hb_buf_puts(&sub, key.data ? key.data : "");
		lines_add(sc->map, sub.data, sc->line);
		scan_ws(sc);
		if (sc->i < sc->n && sc->s[sc->i] == ':')
			sc->i++;
		scan_value(sc, sub.data);
		scan_ws(sc);
		if (sc->i < sc->n && sc->s[sc->i] == ',')
			sc->i++;
	}
	sc->i++;
	hb_buf_free(&key);
	hb_buf_free(&sub);
}

static void
scan_array(struct scan *sc, const char *path)
{
	struct hb_buf sub = { 0 };
	size_t k = 0;

	sc->i++;
	for (;;) {
		scan_ws(sc);
		if (sc->i >= sc->n || sc->s[sc->i] == ']')
			break;
		hb_buf_reset(&sub);
		hb_buf_printf(&sub, "%s[%zu]", path, k++);
		lines_add(sc->map, sub.data, sc->line);
		scan_value(sc, sub.data);
		scan_ws(sc);
		if (sc->i < sc->n && sc->s[sc->i] == ',')
			sc->i++;
		else
			break;
	}
	scan_ws(sc);
	sc->i++;
	hb_buf_free(&sub);
}

static void
scan_value(struct scan *sc, const char *path)
{
	scan_ws(sc);
	if (sc->i >= sc->n || ++sc->depth > 64)
		return;
	switch (sc->s[sc->i]) {
	case '{':
		scan_object(sc, path);
		break;
	case '[':
		scan_array(sc, path);
		break;
	case '"':
		scan_string(sc, NULL);
		break;
	default:
		while (sc->i < sc->n && !strchr(",}] \t\r\n", sc->s[sc->i]))
			sc->i++;
	}
	sc->depth--;
}

void
config_lines_map(struct config_lines *map, const char *text, size_t len)
{
	struct scan sc;

	memset(&sc, 0, sizeof(sc));
	sc.s = text;
	sc.n = len;
	sc.line = 1;
	sc.map = map;
	scan_value(&sc, "");
}

int
config_lines_find(const struct config_lines *map, const char *path)
{
	for (size_t i = 0; i < map->n; i++)
		if (strcmp(map->lines[i].path, path) == 0)
			return map->lines[i].line;
	return 0;
}

void
config_lines_free(struct config_lines *map)
{
	for (size_t i = 0; i < map->n; i++)
		free(map->lines[i].path);
	free(map->lines);
	memset(map, 0, sizeof(*map));
}
