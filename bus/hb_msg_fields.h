/*
 * hb_msg_fields: a message type as a table of its fields, and the one
 * decoder and one encoder that walk such tables. Private to hb_msg: a row
 * says what a member is, how it travels, its limits, whether it is
 * required and when it is left out.
 */
#ifndef HB_MSG_FIELDS_H
#define HB_MSG_FIELDS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hb_util.h"

/* What a member of a message struct is, and how it travels. */
enum field_type {
	FT_STR,		/* char[size]: a string */
	FT_STRDUP,	/* char *, owned by the struct: a string; "" reads as
			 * absent (NULL) */
	FT_INT,		/* an integer member of 4 or 8 bytes, in [min, max] */
	FT_ENUM,	/* an enum member: one of names->v on the wire */
	FT_REAL,	/* double: any number */
	FT_TIME,	/* int64_t wall ms: an ISO 8601 UTC string; -1 when absent */
	FT_NAMES,	/* char[max][size] and a size_t count: a list of names */
};

#define F_REQUIRED 0x1	/* absent (or null) is an error */
#define F_LENIENT 0x2	/* a value that does not read counts as absent: a
			 * fact a reader may use, never a reason to refuse
			 * (unless required) */

/* When the encoder writes a field. */
enum field_out {
	OUT_ALWAYS,
	OUT_SET,	/* a string not "", a pointer, a number > 0, a list not empty */
	OUT_NONNEG,	/* a number >= 0 */
	OUT_WHEN,	/* when(msg) says so */
};

struct names {
	const char *const *v;
	size_t n;
	size_t fallback;	/* written for a value out of range */
};

struct field {
	const char *name;		/* the JSON key */
	enum field_type type;
	size_t offset;			/* of the member */
	size_t size;			/* of the member; FT_NAMES: of one name */
	unsigned flags;
	enum field_out out;
	int64_t min, max;		/* FT_INT; FT_NAMES: max names; FT_STRDUP:
					 * max characters, 0 any */
	int64_t def;			/* FT_INT, FT_REAL: when absent */
	size_t count;			/* FT_NAMES: offset of the size_t count */
	const struct names *names;	/* FT_ENUM */
	bool (*valid)(const char *s);	/* a string's own rule (tags, names) */
	bool (*when)(const void *msg);	/* OUT_WHEN */
	/*
	 * The error when the field is required and absent, or not valid (too
	 * long, not one of names, refused by valid, a time that does not
	 * read); NULL: the generic ones, and a time that does not read is -1.
	 * FT_NAMES: what an element that is not a name is not.
	 */
	const char *invalid;
};

/* A member, and its size, for a row: FIELD(struct x, member). */
#define FIELD(st, m) .offset = offsetof(st, m), .size = sizeof(((st *)0)->m)
/* A list member and its count: LIST(struct x, names, nnames). */
#define LIST(st, m, n) .offset = offsetof(st, m), \
	.size = sizeof(((st *)0)->m[0]), .max = HB_ARRAY_LEN(((st *)0)->m), \
	.count = offsetof(st, n)
#define ANY_INT .min = INT64_MIN, .max = INT64_MAX

struct msg_type {
	size_t size;			/* of the struct */
	const struct field *fields;
	size_t nfields;
	/* rules across fields, once every field was read: 0, or -1 with err */
	int (*check)(const void *msg, char *err, size_t errlen);
};

#define MSG_TYPE(st, table, chk) { sizeof(st), table, HB_ARRAY_LEN(table), chk }

/* Parses payload as a JSON object no larger than HB_MSG_MAX; NULL with err. */
json_t *msg__load_object(const char *payload, size_t len, char *err,
    size_t errlen);
/* Decodes payload into msg (zeroed, defaults set) by t's table. 0 or -1. */
int msg__decode(const struct msg_type *t, const char *payload, size_t len,
    void *msg, char *err, size_t errlen);
/* Frees what msg owns (its FT_STRDUP members) and clears them. */
void msg__release(const struct msg_type *t, void *msg);
/* Encodes msg by t's table; the caller decrefs it. */
json_t *msg__encode(const struct msg_type *t, const void *msg);

#endif
