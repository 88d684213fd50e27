/*
 * hb_config_lines: the line each JSON path of a configuration file is on.
 * Private to hb_config.
 */
#ifndef HB_CONFIG_LINES_H
#define HB_CONFIG_LINES_H

#include <stddef.h>

struct path_line {
	char *path;
	int line;
};

struct config_lines {
	struct path_line *lines;
	size_t n, cap;
};

/* Records the line of every path in text ("writer.influx.url", "a[2]"). */
void config_lines_map(struct config_lines *map, const char *text, size_t len);
/* The line path is on, or 0 when it is not in the file. */
int config_lines_find(const struct config_lines *map, const char *path);
void config_lines_free(struct config_lines *map);

#endif
