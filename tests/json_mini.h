/* A small JSON parser for tests: the whole grammar (RFC 8259) into a tree,
 * NULL on any syntax error. Strings keep their escapes undecoded except \"
 * and \\ (enough to compare names). */
#ifndef CIO_JSON_MINI_H
#define CIO_JSON_MINI_H

#include <ctype.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

typedef enum { JM_NULL, JM_BOOL, JM_NUM, JM_STR, JM_ARR, JM_OBJ } jm_type;

typedef struct jm {
    jm_type type;
    double num;
    char *str; /* JM_STR; an object member's key in key */
    char *key; /* set when this value is an object's member */
    struct jm *kids, *next;
    size_t n;
} jm;

static void jm_free(jm *v) {
    while (v) {
        jm *next = v->next;
        jm_free(v->kids);
        free(v->str);
        free(v->key);
        free(v);
        v = next;
    }
}

static void jm_ws(const char **p) {
    while (**p == ' ' || **p == '\t' || **p == '\n' || **p == '\r')
        (*p)++;
}

static char *jm_string(const char **p) {
    if (**p != '"')
        return NULL;
    const char *s = ++*p;
    size_t cap = 16, n = 0;
    char *out = malloc(cap);
    for (; **p != '"'; (*p)++) {
        unsigned char c = (unsigned char)**p;
        if (c < 0x20) {
            free(out);
            return NULL;
        }
        if (c == '\\') {
            char e = *++*p;
            if (e == 'u') {
                for (int i = 1; i <= 4; i++)
                    if (!isxdigit((unsigned char)(*p)[i])) {
                        free(out);
                        return NULL;
                    }
                *p += 4;
                c = '?';
            } else if (strchr("\"\\/bfnrt", e) && e)
                c = (unsigned char)(e == 'n' ? '\n' : e == 't' ? '\t' : e);
            else {
                free(out);
                return NULL;
            }
        }
        if (n + 2 > cap)
            out = realloc(out, cap *= 2);
        out[n++] = (char)c;
    }
    (void)s;
    (*p)++;
    out[n] = 0;
    return out;
}

static jm *jm_value(const char **p, int depth);

static bool jm_number(const char **p, double *out) {
    const char *s = *p;
    if (*s == '-')
        s++;
    if (*s == '0')
        s++;
    else if (isdigit((unsigned char)*s))
        while (isdigit((unsigned char)*s))
            s++;
    else
        return false;
    if (*s == '.') {
        if (!isdigit((unsigned char)*++s))
            return false;
        while (isdigit((unsigned char)*s))
            s++;
    }
    if (*s == 'e' || *s == 'E') {
        s++;
        if (*s == '+' || *s == '-')
            s++;
        if (!isdigit((unsigned char)*s))
            return false;
        while (isdigit((unsigned char)*s))
            s++;
    }
    *out = strtod(*p, NULL);
    *p = s;
    return true;
}

static jm *jm_items(const char **p, int depth, jm *v, char close, bool obj) {
    jm **tail = &v->kids;
    jm_ws(p);
    if (**p == close) {
        (*p)++;
        return v;
    }
    for (;;) {
        char *key = NULL;
        jm_ws(p);
        if (obj) {
            if (!(key = jm_string(p)))
                break;
            jm_ws(p);
            if (*(*p)++ != ':') {
                free(key);
                break;
            }
        }
        jm *kid = jm_value(p, depth + 1);
        if (!kid) {
            free(key);
            break;
        }
        kid->key = key;
        *tail = kid;
        tail = &kid->next;
        v->n++;
        jm_ws(p);
        if (**p == ',') {
            (*p)++;
            continue;
        }
        if (**p == close) {
            (*p)++;
            return v;
        }
        break;
    }
    jm_free(v);
    return NULL;
}

static jm *jm_value(const char **p, int depth) {
    jm_ws(p);
    if (depth > 64)
        return NULL;
    jm *v = calloc(1, sizeof *v);
    if (**p == '{' || **p == '[') {
        bool obj = *(*p)++ == '{';
        v->type = obj ? JM_OBJ : JM_ARR;
        return jm_items(p, depth, v, obj ? '}' : ']', obj);
    }
    if (**p == '"') {
        v->type = JM_STR;
        if ((v->str = jm_string(p)))
            return v;
    } else if (strncmp(*p, "true", 4) == 0 || strncmp(*p, "null", 4) == 0) {
        v->type = **p == 't' ? JM_BOOL : JM_NULL;
        v->num = **p == 't';
        *p += 4;
        return v;
    } else if (strncmp(*p, "false", 5) == 0) {
        v->type = JM_BOOL;
        *p += 5;
        return v;
    } else if (jm_number(p, &v->num)) {
        v->type = JM_NUM;
        return v;
    }
    free(v);
    return NULL;
}

/* The document in text (NUL-terminated), or NULL if it is not JSON. */
static jm *jm_parse(const char *text) {
    const char *p = text;
    jm *v = jm_value(&p, 0);
    jm_ws(&p);
    if (v && *p) {
        jm_free(v);
        return NULL;
    }
    return v;
}

/* An object's member by key (NULL if absent or v is no object). */
static jm *jm_get(const jm *v, const char *key) {
    if (!v || v->type != JM_OBJ)
        return NULL;
    for (jm *k = v->kids; k; k = k->next)
        if (strcmp(k->key, key) == 0)
            return k;
    return NULL;
}

static const char *jm_str(const jm *v, const char *key) {
    jm *k = jm_get(v, key);
    return k && k->type == JM_STR ? k->str : NULL;
}

#endif
