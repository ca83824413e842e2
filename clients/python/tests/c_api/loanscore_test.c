/*
 * A C program over include/loanscore.h, built and run under AddressSanitizer (and UBSan) by
 * tests/test_c_api.py:
 *
 *   loanscore_test BUNDLE APPLICATIONS.csv REFUSED_BUNDLE
 *
 * 1. Every error path: NULL for each pointer, indices and lengths out of range, inconsistent
 *    offsets, an unknown column kind, invalid UTF-8, a huge row count, a refused bundle (its
 *    message printed as "refused: <message>").
 * 2. Scores APPLICATIONS.csv (a plain CSV without quoted cells; every cell passed as UTF-8 text,
 *    an empty cell as missing through the `valid` mask) and prints one line per application:
 *    "ok <pd %.17g> <decision> <risk level> <reasons> | <flags>" or "rejected <field> | <reasons>".
 * 3. Scores the same batch from four threads at once with one bundle and checks every thread
 *    read the same PDs, then frees the bundle before the results (results outlive it).
 *
 * Exit status 0 when every check passed; each failed check prints "FAIL: ..." and the status
 * is 1. ASan/LSan report any invalid access, double free or leak (exit status non-zero).
 */
#include "loanscore.h"

#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures = 0;

#define CHECK(condition, ...)                                   \
    do {                                                        \
        if (!(condition)) {                                     \
            failures++;                                         \
            fprintf(stderr, "FAIL (line %d): ", __LINE__);      \
            fprintf(stderr, __VA_ARGS__);                       \
            fprintf(stderr, "\n");                              \
        }                                                       \
    } while (0)

/* Expects `status` == `expected` with a non-empty message; frees the message. */
static void expect_error(int32_t status, char *message, int32_t expected, const char *what) {
    CHECK(status == expected, "%s: status %d, expected %d (%s)", what, status, expected, message ? message : "no message");
    CHECK(message != NULL && message[0] != '\0', "%s: no message", what);
    if (message) printf("error %d %s: %s\n", status, what, message);
    loanscore_string_free(message);
}

/* ---- a minimal CSV reader: no quoting (the test writes such a file) ---- */

typedef struct {
    size_t columns, rows;
    char **header;          /* columns names */
    char ***cells;          /* rows × columns */
} table;

static char *read_file(const char *path) {
    FILE *file = fopen(path, "rb");
    if (!file) return NULL;
    fseek(file, 0, SEEK_END);
    long size = ftell(file);
    fseek(file, 0, SEEK_SET);
    char *text = malloc((size_t)size + 1);
    size_t read = fread(text, 1, (size_t)size, file);
    text[read] = '\0';
    fclose(file);
    return text;
}

static char **split(char *line, char separator, size_t *count) {
    size_t n = 1;
    for (char *p = line; *p; p++) n += (*p == separator);
    char **parts = malloc(n * sizeof *parts);
    size_t i = 0;
    parts[i++] = line;
    for (char *p = line; *p; p++) {
        if (*p == separator) {
            *p = '\0';
            parts[i++] = p + 1;
        }
    }
    *count = n;
    return parts;
}

static int read_table(const char *path, table *out, char **storage) {
    char *text = read_file(path);
    if (!text) return 0;
    *storage = text;
    size_t line_count = 0;
    char **lines = split(text, '\n', &line_count);
    while (line_count > 0 && lines[line_count - 1][0] == '\0') line_count--;
    out->header = split(lines[0], ',', &out->columns);
    out->rows = line_count - 1;
    out->cells = malloc((out->rows ? out->rows : 1) * sizeof *out->cells);
    for (size_t r = 0; r < out->rows; r++) {
        size_t n = 0;
        out->cells[r] = split(lines[r + 1], ',', &n);
        if (n != out->columns) return 0;
    }
    free(lines);
    return 1;
}

static void free_table(table *t) {
    for (size_t r = 0; r < t->rows; r++) free(t->cells[r]);
    free(t->cells);
    free(t->header);
}

/* ---- columns of a table in schema order, every cell as UTF-8 ---- */

typedef struct {
    size_t fields, rows;
    loanscore_column *columns;
    int64_t **offsets;
    uint8_t **data;
    uint8_t **valid;
} batch;

static int make_batch(const loanscore_bundle *bundle, const table *t, batch *out) {
    loanscore_bundle_info info;
    if (loanscore_bundle_describe(bundle, &info, NULL) != LOANSCORE_OK) return 0;
    out->fields = info.field_count;
    out->rows = t->rows;
    out->columns = calloc(info.field_count, sizeof *out->columns);
    out->offsets = calloc(info.field_count, sizeof *out->offsets);
    out->data = calloc(info.field_count, sizeof *out->data);
    out->valid = calloc(info.field_count, sizeof *out->valid);
    for (size_t f = 0; f < info.field_count; f++) {
        loanscore_field field;
        if (loanscore_bundle_field(bundle, f, &field, NULL) != LOANSCORE_OK) return 0;
        size_t c = 0;
        while (c < t->columns && strcmp(t->header[c], field.name) != 0) c++;
        if (c == t->columns) {
            out->columns[f].kind = LOANSCORE_COLUMN_MISSING;
            continue;
        }
        size_t total = 0;
        for (size_t r = 0; r < t->rows; r++) total += strlen(t->cells[r][c]);
        out->offsets[f] = malloc((t->rows + 1) * sizeof(int64_t));
        out->data[f] = malloc(total ? total : 1);
        out->valid[f] = malloc(t->rows ? t->rows : 1);
        size_t at = 0;
        out->offsets[f][0] = 0;
        for (size_t r = 0; r < t->rows; r++) {
            size_t length = strlen(t->cells[r][c]);
            memcpy(out->data[f] + at, t->cells[r][c], length);
            at += length;
            out->offsets[f][r + 1] = (int64_t)at;
            out->valid[f][r] = length > 0;
        }
        out->columns[f] = (loanscore_column){.kind = LOANSCORE_COLUMN_UTF8, .valid = out->valid[f], .offsets = out->offsets[f],
                                             .data = out->data[f], .data_length = total};
    }
    return 1;
}

static void free_batch(batch *b) {
    for (size_t f = 0; f < b->fields; f++) {
        free(b->offsets[f]);
        free(b->data[f]);
        free(b->valid[f]);
    }
    free(b->offsets);
    free(b->data);
    free(b->valid);
    free(b->columns);
}

/* ---- error paths ---- */

static void error_paths(const loanscore_bundle *bundle, const batch *good, const char *refused_path) {
    char *message = NULL;
    loanscore_bundle *other = NULL;
    loanscore_result *result = NULL;
    int32_t status;

    /* Opening. */
    status = loanscore_bundle_open(NULL, &other, &message);
    expect_error(status, message, LOANSCORE_E_NULL_ARGUMENT, "open(NULL path)");
    status = loanscore_bundle_open(refused_path, NULL, &message);
    expect_error(status, message, LOANSCORE_E_NULL_ARGUMENT, "open(NULL out)");
    status = loanscore_bundle_open("/nonexistent/bundle", &other, &message);
    expect_error(status, message, LOANSCORE_E_BUNDLE, "open(no such folder)");
    status = loanscore_bundle_open(refused_path, &other, &message);
    CHECK(status == LOANSCORE_E_BUNDLE && other == NULL, "a refused bundle opened (status %d)", status);
    printf("refused: %s\n", message ? message : "(none)");
    loanscore_string_free(message);
    status = loanscore_bundle_open("\xff\xfe", &other, &message);
    expect_error(status, message, LOANSCORE_E_BAD_UTF8, "open(path not UTF-8)");
    CHECK(loanscore_bundle_open("/nonexistent", &other, NULL) == LOANSCORE_E_BUNDLE, "NULL error_message accepted");

    /* Describing. */
    loanscore_bundle_info info;
    loanscore_field field;
    const char *level = NULL;
    status = loanscore_bundle_describe(NULL, &info, &message);
    expect_error(status, message, LOANSCORE_E_NULL_ARGUMENT, "describe(NULL bundle)");
    status = loanscore_bundle_describe(bundle, NULL, &message);
    expect_error(status, message, LOANSCORE_E_NULL_ARGUMENT, "describe(NULL out)");
    status = loanscore_bundle_field(bundle, good->fields, &field, &message);
    expect_error(status, message, LOANSCORE_E_BAD_INDEX, "field(index = field_count)");
    status = loanscore_bundle_field(bundle, SIZE_MAX, &field, &message);
    expect_error(status, message, LOANSCORE_E_BAD_INDEX, "field(SIZE_MAX)");
    status = loanscore_bundle_field(bundle, 0, NULL, &message);
    expect_error(status, message, LOANSCORE_E_NULL_ARGUMENT, "field(NULL out)");
    status = loanscore_bundle_level(bundle, 0, SIZE_MAX, &level, &message);
    expect_error(status, message, LOANSCORE_E_BAD_INDEX, "level(SIZE_MAX)");
    status = loanscore_bundle_level(bundle, SIZE_MAX, 0, &level, &message);
    expect_error(status, message, LOANSCORE_E_BAD_INDEX, "level(field SIZE_MAX)");

    /* Scoring: arguments. */
    status = loanscore_score(NULL, good->columns, good->fields, good->rows, &result, &message);
    expect_error(status, message, LOANSCORE_E_NULL_ARGUMENT, "score(NULL bundle)");
    status = loanscore_score(bundle, NULL, good->fields, good->rows, &result, &message);
    expect_error(status, message, LOANSCORE_E_NULL_ARGUMENT, "score(NULL columns)");
    status = loanscore_score(bundle, good->columns, good->fields, good->rows, NULL, &message);
    expect_error(status, message, LOANSCORE_E_NULL_ARGUMENT, "score(NULL out)");
    status = loanscore_score(bundle, good->columns, good->fields - 1, good->rows, &result, &message);
    expect_error(status, message, LOANSCORE_E_BAD_LENGTH, "score(one column short)");
    status = loanscore_score(bundle, good->columns, SIZE_MAX, good->rows, &result, &message);
    expect_error(status, message, LOANSCORE_E_BAD_LENGTH, "score(column_count SIZE_MAX)");
    status = loanscore_score(bundle, good->columns, good->fields, SIZE_MAX, &result, &message);
    expect_error(status, message, LOANSCORE_E_TOO_LARGE, "score(row_count SIZE_MAX)");
    status = loanscore_score(bundle, good->columns, good->fields, (size_t)LOANSCORE_MAX_ROWS + 1, &result, &message);
    expect_error(status, message, LOANSCORE_E_TOO_LARGE, "score(row_count MAX_ROWS + 1)");
    CHECK(result == NULL, "a failed score wrote its result");

    /* Scoring: column descriptors, each broken in one way (on a copy of column 0). */
    loanscore_column *columns = malloc(good->fields * sizeof *columns);
    int64_t offsets[3] = {0, 2, 1};
    uint8_t text[4] = {'1', '2', 0xC3, 0x28}; /* "12" then an invalid two-byte sequence */
    struct {
        loanscore_column column;
        size_t rows;
        int32_t expected;
        const char *what;
    } broken[] = {
        {{.kind = 42}, 2, LOANSCORE_E_BAD_COLUMN, "unknown kind"},
        {{.kind = LOANSCORE_COLUMN_DOUBLE, .values = NULL}, 2, LOANSCORE_E_NULL_ARGUMENT, "DOUBLE without values"},
        {{.kind = LOANSCORE_COLUMN_BOOL, .booleans = NULL}, 2, LOANSCORE_E_NULL_ARGUMENT, "BOOL without booleans"},
        {{.kind = LOANSCORE_COLUMN_UTF8, .offsets = NULL, .data = text, .data_length = 4}, 2, LOANSCORE_E_NULL_ARGUMENT, "UTF8 without offsets"},
        {{.kind = LOANSCORE_COLUMN_UTF8, .offsets = offsets, .data = NULL, .data_length = 4}, 1, LOANSCORE_E_NULL_ARGUMENT, "UTF8 data NULL, length 4"},
        {{.kind = LOANSCORE_COLUMN_UTF8, .offsets = offsets, .data = text, .data_length = 4}, 2, LOANSCORE_E_BAD_LENGTH, "decreasing offsets"},
        {{.kind = LOANSCORE_COLUMN_UTF8, .offsets = offsets, .data = text, .data_length = 1}, 1, LOANSCORE_E_BAD_LENGTH, "offset past data_length"},
        {{.kind = LOANSCORE_COLUMN_UTF8, .offsets = offsets + 1, .data = text, .data_length = 4}, 1, LOANSCORE_E_BAD_LENGTH, "offsets[0] > offsets[1]"},
        {{.kind = LOANSCORE_COLUMN_UTF8, .offsets = offsets, .data = text, .data_length = SIZE_MAX}, 1, LOANSCORE_E_BAD_LENGTH, "data_length SIZE_MAX"},
    };
    for (size_t k = 0; k < sizeof broken / sizeof broken[0]; k++) {
        memcpy(columns, good->columns, good->fields * sizeof *columns);
        columns[0] = broken[k].column;
        /* The other columns must hold `rows` values: use 1 or 2 of the good batch's rows. */
        status = loanscore_score(bundle, columns, good->fields, broken[k].rows, &result, &message);
        expect_error(status, message, broken[k].expected, broken[k].what);
    }
    int64_t negative[2] = {-1, 0};
    memcpy(columns, good->columns, good->fields * sizeof *columns);
    columns[0] = (loanscore_column){.kind = LOANSCORE_COLUMN_UTF8, .offsets = negative, .data = text, .data_length = 4};
    status = loanscore_score(bundle, columns, good->fields, 1, &result, &message);
    expect_error(status, message, LOANSCORE_E_BAD_LENGTH, "negative offset");
    int64_t utf8_offsets[2] = {0, 4};
    columns[0] = (loanscore_column){.kind = LOANSCORE_COLUMN_UTF8, .offsets = utf8_offsets, .data = text, .data_length = 4};
    status = loanscore_score(bundle, columns, good->fields, 1, &result, &message);
    expect_error(status, message, LOANSCORE_E_BAD_UTF8, "invalid UTF-8");
    /* The same invalid byte masked as missing is never read: fine. */
    uint8_t missing = 0;
    columns[0].valid = &missing;
    status = loanscore_score(bundle, columns, good->fields, 1, &result, &message);
    CHECK(status == LOANSCORE_OK, "a masked invalid value refused the call: %s", message ? message : "");
    loanscore_string_free(message);
    loanscore_result_free(result);
    result = NULL;

    /* Zero rows: NULL arrays are fine, the result is empty. */
    for (size_t f = 0; f < good->fields; f++) columns[f] = (loanscore_column){.kind = LOANSCORE_COLUMN_DOUBLE};
    status = loanscore_score(bundle, columns, good->fields, 0, &result, &message);
    CHECK(status == LOANSCORE_OK, "an empty batch failed: %s", message ? message : "");
    size_t count = 99;
    CHECK(loanscore_result_count(result, &count, NULL) == LOANSCORE_OK && count == 0, "empty batch count %zu", count);
    const double *pds = NULL;
    CHECK(loanscore_result_doubles(result, LOANSCORE_RESULT_PD, &pds, NULL) == LOANSCORE_OK && pds != NULL, "empty column pointer NULL");
    loanscore_result_free(result);
    result = NULL;
    free(columns);

    /* A number where a category is expected, a boolean where a number is: rejected, not failed. */
    columns = malloc(good->fields * sizeof *columns);
    memcpy(columns, good->columns, good->fields * sizeof *columns);
    double numbers[1] = {12345.0};
    uint8_t truth[1] = {1};
    for (size_t f = 0; f < good->fields; f++) {
        loanscore_field spec;
        loanscore_bundle_field(bundle, f, &spec, NULL);
        if (spec.type == LOANSCORE_FIELD_NUMBER || spec.type == LOANSCORE_FIELD_INTEGER)
            columns[f] = (loanscore_column){.kind = LOANSCORE_COLUMN_BOOL, .booleans = truth};
        else
            columns[f] = (loanscore_column){.kind = LOANSCORE_COLUMN_DOUBLE, .values = numbers};
    }
    status = loanscore_score(bundle, columns, good->fields, 1, &result, &message);
    CHECK(status == LOANSCORE_OK, "a batch of wrong types failed the call: %s", message ? message : "");
    loanscore_string_free(message);
    loanscore_application app;
    CHECK(loanscore_result_application(result, 0, &app, NULL) == LOANSCORE_OK && app.status == LOANSCORE_REJECTED
              && isnan(app.pd) && app.decision == -1 && strlen(app.rejection) > 0,
          "wrong types were not rejected");
    printf("wrong types: %s\n", app.rejection);
    size_t rejected = 0;
    CHECK(loanscore_result_rejected_count(result, &rejected, NULL) == LOANSCORE_OK && rejected == 1, "rejected count %zu", rejected);
    free(columns);

    /* Reading a result: every index and column checked. */
    loanscore_reason reason;
    const int64_t *text_offsets = NULL;
    const uint8_t *text_data = NULL;
    const int32_t *ints = NULL;
    status = loanscore_result_application(result, 1, &app, &message);
    expect_error(status, message, LOANSCORE_E_BAD_INDEX, "application(past the end)");
    status = loanscore_result_application(NULL, 0, &app, &message);
    expect_error(status, message, LOANSCORE_E_NULL_ARGUMENT, "application(NULL result)");
    status = loanscore_result_application(result, 0, NULL, &message);
    expect_error(status, message, LOANSCORE_E_NULL_ARGUMENT, "application(NULL out)");
    status = loanscore_result_reason(result, 0, 0, &reason, &message);
    expect_error(status, message, LOANSCORE_E_BAD_INDEX, "reason(rank 0 of a rejected application)");
    status = loanscore_result_reason(result, SIZE_MAX, 0, &reason, &message);
    expect_error(status, message, LOANSCORE_E_BAD_INDEX, "reason(index SIZE_MAX)");
    status = loanscore_result_doubles(result, LOANSCORE_RESULT_STATUS, &pds, &message);
    expect_error(status, message, LOANSCORE_E_BAD_INDEX, "doubles(an integer column)");
    status = loanscore_result_int32s(result, LOANSCORE_RESULT_PD, &ints, &message);
    expect_error(status, message, LOANSCORE_E_BAD_INDEX, "int32s(a numeric column)");
    status = loanscore_result_texts(result, -1, &text_offsets, &text_data, NULL, &message);
    expect_error(status, message, LOANSCORE_E_BAD_INDEX, "texts(-1)");
    status = loanscore_result_texts(result, LOANSCORE_RESULT_FLAGS, NULL, &text_data, NULL, &message);
    expect_error(status, message, LOANSCORE_E_NULL_ARGUMENT, "texts(NULL offsets)");
    status = loanscore_result_count(NULL, &count, &message);
    expect_error(status, message, LOANSCORE_E_NULL_ARGUMENT, "count(NULL result)");
    status = loanscore_result_count(result, NULL, &message);
    expect_error(status, message, LOANSCORE_E_NULL_ARGUMENT, "count(NULL out)");
    loanscore_result_free(result);

    /* NULL is accepted by every release function. */
    loanscore_result_free(NULL);
    loanscore_bundle_close(NULL);
    loanscore_string_free(NULL);
}

/* ---- scoring the file, and from four threads ---- */

typedef struct {
    const loanscore_bundle *bundle;
    const batch *input;
    loanscore_result *result;
    int32_t status;
} job;

static void *score_job(void *argument) {
    job *work = argument;
    for (int repeat = 0; repeat < 5; repeat++) {
        loanscore_result_free(work->result);
        work->result = NULL;
        work->status = loanscore_score(work->bundle, work->input->columns, work->input->fields, work->input->rows, &work->result, NULL);
        if (work->status != LOANSCORE_OK) break;
    }
    return NULL;
}

static void print_results(const loanscore_result *result) {
    size_t count = 0;
    loanscore_result_count(result, &count, NULL);
    for (size_t i = 0; i < count; i++) {
        loanscore_application app;
        if (loanscore_result_application(result, i, &app, NULL) != LOANSCORE_OK) {
            CHECK(0, "application %zu unreadable", i);
            continue;
        }
        if (app.status == LOANSCORE_REJECTED) {
            printf("rejected %s | %s\n", app.rejected_field, app.rejection);
            continue;
        }
        printf("ok %.17g %s %s %s | %s\n", app.pd, app.decision_name, app.risk_level, app.reasons, app.flags);
        /* The reasons one by one agree with the joined column. */
        char joined[256] = "";
        for (size_t rank = 0; rank < app.reason_count; rank++) {
            loanscore_reason reason;
            CHECK(loanscore_result_reason(result, i, rank, &reason, NULL) == LOANSCORE_OK && reason.contribution > 0,
                  "reason %zu of %zu", rank, i);
            if (rank) strncat(joined, ";", sizeof joined - strlen(joined) - 1);
            strncat(joined, reason.code, sizeof joined - strlen(joined) - 1);
        }
        CHECK(strcmp(joined, app.reasons) == 0, "reasons %s vs %s", joined, app.reasons);
        const int64_t *offsets = NULL;
        const uint8_t *data = NULL;
        size_t length = 0;
        CHECK(loanscore_result_texts(result, LOANSCORE_RESULT_DECISION_NAME, &offsets, &data, &length, NULL) == LOANSCORE_OK
                  && strcmp((const char *)data + offsets[i], app.decision_name) == 0 && (size_t)offsets[count] == length,
              "text column of application %zu", i);
    }
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s BUNDLE APPLICATIONS.csv REFUSED_BUNDLE\n", argv[0]);
        return 2;
    }
    CHECK(loanscore_abi_version() == LOANSCORE_ABI_VERSION, "ABI %d", loanscore_abi_version());
    printf("version: %s\n", loanscore_version());

    loanscore_bundle *bundle = NULL;
    char *message = NULL;
    if (loanscore_bundle_open(argv[1], &bundle, &message) != LOANSCORE_OK) {
        fprintf(stderr, "FAIL: cannot open %s: %s\n", argv[1], message);
        loanscore_string_free(message);
        return 1;
    }
    CHECK(message == NULL, "message set on success");
    loanscore_bundle_info info;
    CHECK(loanscore_bundle_describe(bundle, &info, NULL) == LOANSCORE_OK, "describe");
    printf("model: %s %s, schema %s, %zu fields, %zu members, id column %s\n", info.model_name, info.model_version, info.schema_name,
           info.field_count, info.member_count, info.id_column ? info.id_column : "(none)");
    CHECK(strstr(info.schema_json, info.schema_name) != NULL, "schema_json does not name the schema");
    for (size_t f = 0; f < info.field_count; f++) {
        loanscore_field field;
        CHECK(loanscore_bundle_field(bundle, f, &field, NULL) == LOANSCORE_OK, "field %zu", f);
        for (size_t l = 0; l < field.level_count; l++) {
            const char *level = NULL;
            CHECK(loanscore_bundle_level(bundle, f, l, &level, NULL) == LOANSCORE_OK && level && *level, "level %zu of %s", l, field.name);
        }
    }

    table input;
    char *storage = NULL;
    if (!read_table(argv[2], &input, &storage)) {
        fprintf(stderr, "FAIL: cannot read %s\n", argv[2]);
        return 1;
    }
    batch good;
    CHECK(make_batch(bundle, &input, &good), "make_batch");
    CHECK(good.rows >= 2, "the test needs at least two applications");

    error_paths(bundle, &good, argv[3]);

    loanscore_result *result = NULL;
    CHECK(loanscore_score(bundle, good.columns, good.fields, good.rows, &result, &message) == LOANSCORE_OK, "score: %s",
          message ? message : "");
    print_results(result);

    job jobs[4];
    pthread_t threads[4];
    for (int t = 0; t < 4; t++) {
        jobs[t] = (job){.bundle = bundle, .input = &good};
        pthread_create(&threads[t], NULL, score_job, &jobs[t]);
    }
    for (int t = 0; t < 4; t++) pthread_join(threads[t], NULL);

    /* Close the bundle before reading the threads' results: they hold what they need. */
    loanscore_bundle_close(bundle);
    const double *expected = NULL;
    loanscore_result_doubles(result, LOANSCORE_RESULT_PD, &expected, NULL);
    for (int t = 0; t < 4; t++) {
        CHECK(jobs[t].status == LOANSCORE_OK, "thread %d failed with %d", t, jobs[t].status);
        const double *pds = NULL;
        CHECK(loanscore_result_doubles(jobs[t].result, LOANSCORE_RESULT_PD, &pds, NULL) == LOANSCORE_OK, "thread %d pds", t);
        for (size_t i = 0; pds && i < good.rows; i++) {
            CHECK((isnan(pds[i]) && isnan(expected[i])) || pds[i] == expected[i], "thread %d application %zu: %.17g vs %.17g", t, i,
                  pds[i], expected[i]);
        }
        loanscore_result_free(jobs[t].result);
    }
    loanscore_result_free(result);
    free_batch(&good);
    free_table(&input);
    free(storage);
    printf("threads: 4 × 5 batches agree\n");
    printf("%s\n", failures ? "FAILED" : "PASSED");
    return failures ? 1 : 0;
}
