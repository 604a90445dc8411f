/*
 * `webserv --schema [CONFIG]`: the JSON Schema (draft 2020-12) of the whole
 * configuration, built from what validation itself uses, never kept by hand:
 *  - the core's keys from the declaration table core_keys.c, whose ranges and
 *    allowed values the core's validation reads;
 *  - each module's keys from a describe pass: its configure() runs once
 *    against a recording settings object (settings.c), so every key it reads
 *    appears with the kind and integer range of the getter that read it. An
 *    optional `webserv_module_doc` symbol (module.h) adds descriptions,
 *    defaults and accepted strings.
 * Module objects are placed where they may appear: as keys of a location.
 */
#include "schema.h"

#include <dlfcn.h>
#include <stddef.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "arena.h"
#include "config.h"
#include "core_keys.h"
#include "modules.h"
#include "settings.h"

static const char *const scope_names[SCOPE_COUNT] = {
    [SCOPE_TOP] = "top",           [SCOPE_TIMEOUTS] = "timeouts", [SCOPE_LIMITS] = "limits",
    [SCOPE_SERVER] = "server",     [SCOPE_LOCATION] = "location", [SCOPE_RETURN] = "return",
    [SCOPE_LOC_TIMEOUTS] = "location_timeouts", [SCOPE_LISTEN] = "listen", [SCOPE_TLS] = "tls",
};

static void set(json_t *o, const char *k, json_t *v) { json_object_set_new(o, k, v); }

/* The schema of one getter's kind (settings.h). */
static json_t *kind_schema(int kind, long long min, long long max)
{
    switch (kind) {
    case SETTINGS_BOOL:
        return json_pack("{s:s}", "type", "boolean");
    case SETTINGS_INT:
        return json_pack("{s:s, s:I, s:I}", "type", "integer", "minimum", (json_int_t)min, "maximum",
                         (json_int_t)max);
    case SETTINGS_SIZE:
        /* An integer of bytes, or digits with a K, M or G suffix (powers of 1024). */
        return json_pack("{s:[{s:s, s:I, s:I}, {s:s, s:s}]}", "anyOf", "type", "integer", "minimum",
                         (json_int_t)min, "maximum", (json_int_t)max, "type", "string", "pattern",
                         "^[0-9]+[KkMmGg]?$");
    case SETTINGS_SECONDS:
        return json_pack("{s:s, s:i, s:i}", "type", "number", "minimum", 0, "maximum", 1000000000);
    case SETTINGS_STRING:
        return json_pack("{s:s}", "type", "string");
    case SETTINGS_PATH:
        return json_pack("{s:s, s:i}", "type", "string", "minLength", 1);
    case SETTINGS_STRING_LIST:
        return json_pack("{s:s, s:{s:s}}", "type", "array", "items", "type", "string");
    case SETTINGS_STRING_MAP:
        return json_pack("{s:s, s:{s:s}}", "type", "object", "additionalProperties", "type", "string");
    case SETTINGS_OBJECT:
        return json_pack("{s:s}", "type", "object");
    case SETTINGS_OBJECT_LIST:
        return json_pack("{s:s, s:{s:s}}", "type", "array", "items", "type", "object");
    default:
        return json_object(); /* any JSON value */
    }
}

/* Merge JSON Schema text into a schema (objects merged key by key, deeply). */
static int merge_text(json_t *into, const char *text, char *err, size_t errlen, const char *what)
{
    if (!text)
        return 0;
    json_error_t je;
    json_t *extra = json_loads(text, 0, &je);
    if (!extra || !json_is_object(extra)) {
        snprintf(err, errlen, "%s: bad schema text: %s", what, extra ? "not an object" : je.text);
        json_decref(extra);
        return -1;
    }
    json_object_update_recursive(into, extra);
    json_decref(extra);
    return 0;
}

static int add_words(json_t *prop, const char *description, const char *def, const char *const *values,
                     char *err, size_t errlen, const char *what)
{
    if (description)
        set(prop, "description", json_string(description));
    if (def) {
        json_error_t je;
        json_t *d = json_loads(def, JSON_DECODE_ANY, &je);
        if (!d) {
            snprintf(err, errlen, "%s: bad default \"%s\": %s", what, def, je.text);
            return -1;
        }
        set(prop, "default", d);
    }
    if (values) {
        json_t *e = json_array();
        for (size_t i = 0; values[i]; i++)
            json_array_append_new(e, json_string(values[i]));
        set(prop, "enum", e);
    }
    return 0;
}

static json_t *ref(const char *def_name)
{
    char buf[160];
    snprintf(buf, sizeof buf, "#/$defs/%s", def_name);
    return json_pack("{s:s}", "$ref", buf);
}

/* The object schema of one core scope, from the table. */
static json_t *scope_schema(core_scope sc, char *err, size_t errlen)
{
    json_t *obj = json_pack("{s:s, s:s, s:{}, s:b}", "type", "object", "description", core_scope_description[sc],
                            "properties", "additionalProperties", 0);
    json_t *props = json_object_get(obj, "properties"), *required = json_array();
    for (size_t i = 0; i < n_core_keys; i++) {
        const core_key *k = &core_keys[i];
        if (k->scope != sc)
            continue;
        json_t *p;
        if (k->kind == SETTINGS_OBJECT && k->sub >= 0) {
            p = k->array_of ? json_pack("{s:s, s:o}", "type", "array", "items", ref(scope_names[k->sub]))
                            : ref(scope_names[k->sub]);
        } else {
            p = kind_schema(k->kind, k->min, k->kind == SETTINGS_SIZE && k->max <= 0 ? INT64_MAX : k->max);
        }
        char what[128];
        snprintf(what, sizeof what, "core key %s.%s", scope_names[sc], k->key);
        if (merge_text(p, k->schema, err, errlen, what) < 0 ||
            add_words(p, k->description, k->def, k->values, err, errlen, what) < 0) {
            json_decref(p);
            json_decref(required);
            json_decref(obj);
            return NULL;
        }
        set(props, k->key, p);
        if (k->required)
            json_array_append_new(required, json_string(k->key));
    }
    if (json_array_size(required))
        set(obj, "required", required);
    else
        json_decref(required);
    if (merge_text(obj, core_scope_schema[sc], err, errlen, scope_names[sc]) < 0) {
        json_decref(obj);
        return NULL;
    }
    return obj;
}

static const ws_module_doc *module_doc(const loaded_module *m)
{
    const ws_module_doc *d = m->dl ? dlsym(m->dl, WS_MODULE_DOC_SYMBOL) : NULL;
    if (!d || d->size < sizeof(uint32_t) * 2 + sizeof(void *) * 2 || d->key_size < sizeof(ws_key_doc))
        return NULL; /* absent, or a layout this core cannot read */
    return d;
}

static const ws_key_doc *doc_key(const ws_module_doc *d, const char *key)
{
    if (!d || !d->keys)
        return NULL;
    for (const char *p = (const char *)d->keys;; p += d->key_size) {
        const ws_key_doc *k = (const ws_key_doc *)(const void *)p;
        if (!k->key)
            return NULL;
        if (strcmp(k->key, key) == 0)
            return k;
    }
}

/* Describe pass: configure() against a recorder; its keys become the schema. */
static json_t *module_schema(const ws_config *c, const loaded_module *m, char *err, size_t errlen)
{
    arena *a = arena_new(4096);
    char path[160];
    snprintf(path, sizeof path, "servers[0].locations[0].%s", m->name);
    ws_settings *rec = a ? settings_new_recorder(a, path, c->file, c->dir) : NULL;
    if (!rec) {
        arena_free(a);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    ws_location_info info = {
        .size = sizeof info,
        .config_file = c->file,
        .config_dir = c->dir,
        .json_path = "servers[0].locations[0]",
        .path = "/",
        .root = c->dir, /* modules that need a root find one; nothing is read from it */
        .max_body = 1 << 20,
    };
    const void *conf = NULL;
    if (m->d.configure)
        (void)m->d.configure(rec, &info, &conf); /* every getter answered "absent": the result says nothing */
    const settings_record *keys;
    size_t n = settings_recorded(rec, &keys);
    const ws_module_doc *doc = module_doc(m);
    json_t *obj = json_pack("{s:s, s:{}, s:b}", "type", "object", "properties", "additionalProperties", 0);
    json_t *props = json_object_get(obj, "properties");
    if (doc && doc->description)
        set(obj, "description", json_string(doc->description));
    int bad = 0;
    /* Rules between the module's keys ("required", "if"/"then"), when its doc is recent enough to carry them. */
    if (doc && doc->size >= offsetof(ws_module_doc, schema) + sizeof doc->schema && doc->schema) {
        char what[160];
        snprintf(what, sizeof what, "module %s", m->name);
        bad = merge_text(obj, doc->schema, err, errlen, what) < 0;
    }
    for (size_t i = 0; i < n && !bad; i++) {
        json_t *p = kind_schema(keys[i].kind, keys[i].min, keys[i].kind == SETTINGS_SIZE ? INT64_MAX : keys[i].max);
        const ws_key_doc *kd = doc_key(doc, keys[i].key);
        char what[200];
        snprintf(what, sizeof what, "module %s, key %s", m->name, keys[i].key);
        if (kd && (merge_text(p, kd->schema, err, errlen, what) < 0 ||
                   add_words(p, kd->description, kd->default_json, kd->values, err, errlen, what) < 0))
            bad = 1;
        set(props, keys[i].key, p);
    }
    /* A documented key that configure() never reads would be a schema promise the module breaks. */
    for (const ws_key_doc *k = doc ? doc->keys : NULL; !bad && k && k->key;
         k = (const ws_key_doc *)(const void *)((const char *)k + doc->key_size))
        if (!json_object_get(props, k->key)) {
            snprintf(err, errlen, "%s: webserv_module_doc documents \"%s\", which configure() never reads", m->path,
                     k->key);
            bad = 1;
        }
    arena_free(a);
    if (bad) {
        json_decref(obj);
        return NULL;
    }
    return obj;
}

json_t *config_schema(const char *config_path, char *err, size_t errlen)
{
    ws_config *c = config_load_modules(config_path, err, errlen);
    if (!c)
        return NULL;
    json_t *defs = json_object();
    json_t *root = NULL;
    for (int sc = 0; sc < SCOPE_COUNT; sc++) {
        json_t *o = scope_schema((core_scope)sc, err, errlen);
        if (!o)
            goto fail;
        if (sc == SCOPE_TOP)
            root = o;
        else
            set(defs, scope_names[sc], o);
    }
    json_t *loc_props = json_object_get(json_object_get(defs, "location"), "properties");
    for (size_t i = 0; i < c->n_modules; i++) {
        const loaded_module *m = c->modules[i];
        json_t *ms = module_schema(c, m, err, errlen);
        if (!ms)
            goto fail;
        char def_name[128];
        snprintf(def_name, sizeof def_name, "module.%s", m->name);
        const ws_module_doc *doc = module_doc(m);
        char desc[512];
        snprintf(desc, sizeof desc, "Module %s: an object of its settings, true ({}) or false (off)%s%s", m->name,
                 doc && doc->description ? ". " : "",
                 doc && doc->description ? doc->description : "");
        /* true means {}: with required keys only false (off) is a valid boolean. */
        json_t *flag = json_array_size(json_object_get(ms, "required")) ? json_pack("{s:b}", "const", 0)
                                                                          : json_pack("{s:s}", "type", "boolean");
        set(loc_props, m->name, json_pack("{s:s, s:[o, o]}", "description", desc, "anyOf", flag, ref(def_name)));
        set(defs, def_name, ms);
    }
    json_t *schema = json_pack("{s:s, s:s}", "$schema", "https://json-schema.org/draft/2020-12/schema", "title",
                               "webserv configuration");
    json_object_update(schema, root);
    json_decref(root);
    set(schema, "$defs", defs);
    config_free(c);
    return schema;
fail:
    json_decref(root);
    json_decref(defs);
    config_free(c);
    return NULL;
}

int config_schema_print(FILE *out, const char *config_path, char *err, size_t errlen)
{
    json_t *s = config_schema(config_path, err, errlen);
    if (!s)
        return -1;
    int rc = json_dumpf(s, out, JSON_INDENT(2)) == 0 && fputc('\n', out) != EOF ? 0 : -1;
    json_decref(s);
    if (rc < 0)
        snprintf(err, errlen, "cannot write the schema");
    return rc;
}
