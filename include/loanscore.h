/*
 * loanscore.h — LoanScore's C API: in-process scoring with a model bundle.
 *
 * The library (libloanscore.so; built by SwiftPM as the `LoanScoreC` product) runs the very
 * code the server and `loanscore score --bundle` run: the bundle is loaded and checked by
 * ModelBundle, applications are validated and encoded by FeaturePipeline, and scored by
 * EnsembleScorer. There is no second implementation: a PD read here is the PD the appliance
 * gives for the same application.
 *
 * Typical use:
 *
 *     loanscore_bundle *bundle = NULL;
 *     char *message = NULL;
 *     if (loanscore_bundle_open("bundles/credit", &bundle, &message) != LOANSCORE_OK) {
 *         fprintf(stderr, "%s\n", message);           // e.g. "bundle refused: ..."
 *         loanscore_string_free(message);
 *         return 1;
 *     }
 *     // one loanscore_column per schema field, in loanscore_bundle_field() order
 *     loanscore_result *result = NULL;
 *     if (loanscore_score(bundle, columns, field_count, rows, &result, &message) == LOANSCORE_OK) {
 *         loanscore_application app;
 *         for (size_t i = 0; i < rows; i++) {
 *             loanscore_result_application(result, i, &app, NULL);
 *             ...
 *         }
 *         loanscore_result_free(result);
 *     }
 *     loanscore_bundle_close(bundle);
 *
 * CONVENTIONS
 *
 * Status codes. Every function that can fail returns an int32_t status: LOANSCORE_OK (0) or one
 * of the LOANSCORE_E_* codes below. On failure, when `error_message` is not NULL, *error_message
 * receives a new NUL-terminated UTF-8 message (free it with loanscore_string_free); on success
 * *error_message is set to NULL. Out-parameters are written only on success.
 *
 * Robustness. A NULL where a pointer is required, an index out of range, and every length the
 * library can check against another (offsets against the data length, the column count
 * against the schema, ...) return an error code with a message: they never crash. What the
 * library cannot check is that a buffer really holds as many elements as the caller says it
 * does: those lengths are the caller's promise, stated at each parameter.
 *
 * Lengths. A "count" is a number of elements; a "length" is a number of bytes. Text is UTF-8,
 * never NUL-terminated on input (offsets give its extent); text the library returns is
 * NUL-terminated UTF-8.
 *
 * Ownership and lifetimes. A loanscore_bundle lives from loanscore_bundle_open until
 * loanscore_bundle_close; a loanscore_result from loanscore_score until loanscore_result_free
 * (a result does not need its bundle: closing the bundle first is fine). Pointers the library
 * returns inside a struct or from a result column (names, texts, arrays) are owned by the
 * object they came from and stay valid until it is closed or freed; the caller never frees
 * them. Strings returned through `error_message` are the caller's (loanscore_string_free).
 * The library keeps no pointer to the caller's input after a call returns.
 *
 * Thread safety. A bundle is immutable once open: any number of threads may call
 * loanscore_score (and every loanscore_bundle_* reader) on one bundle at the same time; each
 * call allocates its own scratch space and returns its own result. A result is immutable: any
 * number of threads may read it at the same time. Closing a bundle or freeing a result while
 * another thread still uses it is undefined behaviour (as with free()). The library keeps no
 * global mutable state, and loanscore_score does not call back into the caller.
 */
#ifndef LOANSCORE_H
#define LOANSCORE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------------------------------- */
/* Versions and status codes                                                                  */
/* ---------------------------------------------------------------------------------------- */

/** The ABI this header describes. Incremented when a struct or a signature changes. */
#define LOANSCORE_ABI_VERSION 1

/** Success. */
#define LOANSCORE_OK 0
/** A required pointer argument was NULL. */
#define LOANSCORE_E_NULL_ARGUMENT 1
/** A count, length or offset is out of range or inconsistent (e.g. offsets past data_length,
 *  decreasing offsets, a column count that is not the schema's field count). */
#define LOANSCORE_E_BAD_LENGTH 2
/** An index (field, application, rank, result column) is out of range. */
#define LOANSCORE_E_BAD_INDEX 3
/** The bundle was refused: no such folder, a file whose sha256 does not match, an unsupported
 *  format version, a schema or member that does not check out. The message is the one
 *  `loanscore score --bundle` prints (without its "error: " prefix), e.g.
 *  "bundle refused: model/xgboost.json: sha256 is ..., the manifest says ...". */
#define LOANSCORE_E_BUNDLE 4
/** A column descriptor's kind is not one of LOANSCORE_COLUMN_*. */
#define LOANSCORE_E_BAD_COLUMN 5
/** Text given as UTF-8 is not valid UTF-8 (the message names the field and the row). */
#define LOANSCORE_E_BAD_UTF8 6
/** A batch larger than LOANSCORE_MAX_ROWS. */
#define LOANSCORE_E_TOO_LARGE 7
/** The library failed on its own account (please report it with the message). */
#define LOANSCORE_E_INTERNAL 99

/** The most applications one loanscore_score call takes (2^24 = 16,777,216): a result holds
 *  about 200 bytes per application plus its texts, so one call stays within a few GiB even
 *  when every column is LOANSCORE_COLUMN_MISSING (which needs no input arrays at all).
 *  Score larger batches in several calls. */
#define LOANSCORE_MAX_ROWS 16777216

/**
 * The library's version (the LoanScore package version and LOANSCORE_ABI_VERSION), e.g.
 * "loanscore-c 0.16.0 abi 1". A static string: never free it.
 */
const char *loanscore_version(void);

/** LOANSCORE_ABI_VERSION as the loaded library was built with it; compare before use. */
int32_t loanscore_abi_version(void);

/**
 * Frees a string the library returned through an `error_message` parameter.
 * NULL is accepted and ignored.
 */
void loanscore_string_free(char *string);

/* ---------------------------------------------------------------------------------------- */
/* Bundles                                                                                    */
/* ---------------------------------------------------------------------------------------- */

/** An open, checked model bundle (opaque). */
typedef struct loanscore_bundle loanscore_bundle;

/**
 * Opens a bundle folder and checks it exactly as the CLI does (every file's sha256, the format
 * version, the schema and the features it produces, each member, weights, calibration, policy,
 * reference bins).
 *
 * @param path           the bundle folder (holding manifest.json), NUL-terminated UTF-8.
 * @param out_bundle     receives the bundle on success (close it with loanscore_bundle_close).
 * @param error_message  optional; see CONVENTIONS.
 * @return LOANSCORE_OK; LOANSCORE_E_NULL_ARGUMENT (path or out_bundle NULL);
 *         LOANSCORE_E_BAD_UTF8 (path not UTF-8); LOANSCORE_E_BUNDLE (refused, with the CLI's
 *         message).
 * Thread safety: may be called from any thread; each call returns an independent bundle.
 * Cost: reads and hashes every file of the bundle once.
 */
int32_t loanscore_bundle_open(const char *path, loanscore_bundle **out_bundle, char **error_message);

/** Closes a bundle and frees everything it owns (names returned by the readers below included).
 *  NULL is accepted and ignored. Results made from it stay valid. */
void loanscore_bundle_close(loanscore_bundle *bundle);

/** What a bundle is, as loanscore_bundle_info reports it. Pointers are owned by the bundle. */
typedef struct loanscore_bundle_info {
    /** The model's name (manifest model.name). */
    const char *model_name;
    /** The model's version (manifest model.version): the model_version column of the CLI. */
    const char *model_version;
    /** The schema's name. */
    const char *schema_name;
    /** The schema's id column, or NULL when the schema names none (ids are then row numbers). */
    const char *id_column;
    /** The schema's target column (training label, ignored when scoring), or NULL. */
    const char *target_column;
    /** The number of input fields: the number of columns loanscore_score takes. */
    size_t field_count;
    /** The number of ensemble members. */
    size_t member_count;
    /** The schema file exactly as the bundle holds it (JSON; loanscore-schema/1, SCHEMA.md):
     *  levels, ranges, units, sentinels and everything else the readers here leave out. */
    const char *schema_json;
} loanscore_bundle_info;

/**
 * Describes a bundle.
 * @return LOANSCORE_OK; LOANSCORE_E_NULL_ARGUMENT (bundle or out_info NULL).
 */
int32_t loanscore_bundle_describe(const loanscore_bundle *bundle, loanscore_bundle_info *out_info,
                                  char **error_message);

/** A field's type (schema "type"). */
#define LOANSCORE_FIELD_NUMBER 0
#define LOANSCORE_FIELD_INTEGER 1
#define LOANSCORE_FIELD_CATEGORY 2
#define LOANSCORE_FIELD_BOOLEAN 3

/** One input field of the bundle's schema. Pointers are owned by the bundle. */
typedef struct loanscore_field {
    /** The field's name (the column name in a CSV file or a DataFrame). */
    const char *name;
    /** LOANSCORE_FIELD_NUMBER, _INTEGER, _CATEGORY or _BOOLEAN. */
    int32_t type;
    /** 1 when a missing value is accepted (a nullable field, or a protected field that is not a
     *  model feature), 0 when a missing value rejects the application. */
    int32_t accepts_missing;
    /** 1 when an input may leave this field's column out entirely (a protected field that is not
     *  a feature; the CLI accepts a CSV file without it); pass LOANSCORE_COLUMN_MISSING then. */
    int32_t optional_column;
    /** 1 when the field is a column of the model (directly or one-hot), else 0. */
    int32_t is_feature;
    /** The number of category levels (0 for other types); read them with loanscore_bundle_level. */
    size_t level_count;
} loanscore_field;

/**
 * Describes input field `index` (0 ≤ index < field_count), in schema order: the order of the
 * columns loanscore_score takes.
 * @return LOANSCORE_OK; LOANSCORE_E_NULL_ARGUMENT; LOANSCORE_E_BAD_INDEX.
 */
int32_t loanscore_bundle_field(const loanscore_bundle *bundle, size_t index, loanscore_field *out_field,
                               char **error_message);

/**
 * Category level `level` (0 ≤ level < level_count) of field `field`, as the schema spells it.
 * *out_level is owned by the bundle.
 * @return LOANSCORE_OK; LOANSCORE_E_NULL_ARGUMENT; LOANSCORE_E_BAD_INDEX.
 */
int32_t loanscore_bundle_level(const loanscore_bundle *bundle, size_t field, size_t level, const char **out_level,
                               char **error_message);

/* ---------------------------------------------------------------------------------------- */
/* Scoring                                                                                    */
/* ---------------------------------------------------------------------------------------- */

/** Every value of the column is missing (a column the input does not have). */
#define LOANSCORE_COLUMN_MISSING 0
/** Numbers: `values` holds row_count doubles. */
#define LOANSCORE_COLUMN_DOUBLE 1
/** UTF-8 text: value i is data[offsets[i] .. offsets[i+1]) (Arrow's large_string layout). */
#define LOANSCORE_COLUMN_UTF8 2
/** Booleans: `booleans` holds row_count bytes, 0 false, anything else true. */
#define LOANSCORE_COLUMN_BOOL 3

/**
 * One field's values for every application of a batch. Any kind may be given for any field:
 * each value is validated as the CLI validates a CSV cell or the server a wire value — a number
 * for a category field is matched against its levels by its text, text in a number field is
 * parsed ("12.5" scores; "abc" rejects the application with "is not a number"), a number for a
 * boolean field is rejected.
 *
 * Missing values: `valid`, when not NULL, holds row_count bytes; 0 means the value is missing
 * (whatever the other arrays hold at that row), anything else present. When NULL every value is
 * present. A value masked missing is read exactly as an empty CSV cell (a required field's
 * rejection then shows its value as "", word for word what `loanscore score` writes); an empty
 * or blank text is missing too. A LOANSCORE_COLUMN_MISSING column reads as a column the CSV
 * file does not have (its values show as "(missing)"). A NaN or infinite double marked present
 * is *not* missing: the application is rejected ("is not a finite number"), as the server does;
 * mark NaN missing in `valid` to mean missing.
 */
typedef struct loanscore_column {
    /** LOANSCORE_COLUMN_MISSING, _DOUBLE, _UTF8 or _BOOL. */
    int32_t kind;
    /** Optional presence mask: row_count bytes, or NULL (every value present). */
    const uint8_t *valid;
    /** LOANSCORE_COLUMN_DOUBLE: row_count doubles (required). */
    const double *values;
    /** LOANSCORE_COLUMN_BOOL: row_count bytes (required). */
    const uint8_t *booleans;
    /** LOANSCORE_COLUMN_UTF8: row_count + 1 offsets into data, in bytes: offsets[0] ≥ 0,
     *  non-decreasing, offsets[row_count] ≤ data_length (checked). */
    const int64_t *offsets;
    /** LOANSCORE_COLUMN_UTF8: data_length bytes of UTF-8 text (may be NULL when data_length is 0). */
    const uint8_t *data;
    /** LOANSCORE_COLUMN_UTF8: the length of data, in bytes. */
    size_t data_length;
} loanscore_column;

/** An opaque set of scored applications (one per input row, in input order). */
typedef struct loanscore_result loanscore_result;

/**
 * Validates, encodes and scores a batch of applications.
 *
 * An application that fails the schema does not fail the call: its status in the result is
 * LOANSCORE_REJECTED with the CLI's reasons. The results do not depend on how applications are
 * split into batches.
 *
 * @param bundle        an open bundle.
 * @param columns       column_count column descriptors, one per schema field in
 *                      loanscore_bundle_field() order (may be NULL only when column_count is 0).
 * @param column_count  the number of descriptors: must equal the bundle's field_count.
 * @param row_count     the number of applications (0 ≤ row_count ≤ LOANSCORE_MAX_ROWS); every
 *                      array of every column holds at least this many elements (offsets: one more).
 * @param out_result    receives the result on success (free it with loanscore_result_free).
 * @param error_message optional; see CONVENTIONS.
 * @return LOANSCORE_OK; LOANSCORE_E_NULL_ARGUMENT (bundle, out_result, columns with
 *         column_count > 0, or an array a column's kind needs); LOANSCORE_E_BAD_LENGTH
 *         (column_count ≠ field_count, inconsistent offsets); LOANSCORE_E_BAD_COLUMN (unknown
 *         kind); LOANSCORE_E_BAD_UTF8; LOANSCORE_E_TOO_LARGE. The message names the field (and row).
 * Thread safety: any number of threads may score with one bundle at once.
 * Cost: O(rows × (fields + trees' depth)); memory O(rows) for the result plus a bounded scratch.
 */
int32_t loanscore_score(const loanscore_bundle *bundle, const loanscore_column *columns, size_t column_count,
                        size_t row_count, loanscore_result **out_result, char **error_message);

/** Frees a result and everything it owns. NULL is accepted and ignored. */
void loanscore_result_free(loanscore_result *result);

/** Application status. */
#define LOANSCORE_ACCEPTED 0
#define LOANSCORE_REJECTED 1

/** Decisions (the wire protocol's bytes, PROTOCOL.md §5.5). */
#define LOANSCORE_DECISION_APPROVE 0
#define LOANSCORE_DECISION_REVIEW 1
#define LOANSCORE_DECISION_DECLINE 2

/**
 * One application of a result, with the CLI's texts. Pointers are owned by the result;
 * strings are NUL-terminated UTF-8.
 */
typedef struct loanscore_application {
    /** LOANSCORE_ACCEPTED or LOANSCORE_REJECTED. */
    int32_t status;
    /** LOANSCORE_DECISION_* (accepted), -1 (rejected). */
    int32_t decision;
    /** The calibrated probability of default in [0, 1] (accepted), NaN (rejected). */
    double pd;
    /** The members' agreement in [0, 1] (accepted), NaN (rejected). */
    double confidence;
    /** "approve", "review" or "decline"; "" when rejected. */
    const char *decision_name;
    /** The policy's risk level name; "" when rejected. */
    const char *risk_level;
    /** The number of reasons (0 to 4): read each with loanscore_result_reason. */
    size_t reason_count;
    /** Reason codes, strongest first, joined with ";" (the CLI's `reasons` column). */
    const char *reasons;
    /** Reason texts joined with "; " (the CLI's `reason_texts` column). */
    const char *reason_texts;
    /** Values treated as missing and anomalies, joined with "; " (the CLI's `flags` column). */
    const char *flags;
    /** Rejected: every violation in the CLI's words, joined with "; " (the
     *  `rejection_reasons` column of --rejects); "" when accepted. */
    const char *rejection;
    /** Rejected: the first field at fault; "" when accepted. */
    const char *rejected_field;
} loanscore_application;

/** The number of applications in a result (the batch's row_count).
 *  @return LOANSCORE_OK; LOANSCORE_E_NULL_ARGUMENT. */
int32_t loanscore_result_count(const loanscore_result *result, size_t *out_count, char **error_message);

/** The number of rejected applications in a result.
 *  @return LOANSCORE_OK; LOANSCORE_E_NULL_ARGUMENT. */
int32_t loanscore_result_rejected_count(const loanscore_result *result, size_t *out_count, char **error_message);

/** Reads application `index` (0 ≤ index < count).
 *  @return LOANSCORE_OK; LOANSCORE_E_NULL_ARGUMENT; LOANSCORE_E_BAD_INDEX. */
int32_t loanscore_result_application(const loanscore_result *result, size_t index, loanscore_application *out,
                                     char **error_message);

/** One reason of an accepted application. Pointers are owned by the result. */
typedef struct loanscore_reason {
    /** The input field behind the reason. */
    const char *field;
    /** Its reason code (e.g. "R03"). */
    const char *code;
    /** Its adverse-action text. */
    const char *text;
    /** The field's contribution to the PD, in probability units before calibration (> 0). */
    double contribution;
} loanscore_reason;

/** Reason `rank` (0 strongest, < reason_count) of application `index`.
 *  @return LOANSCORE_OK; LOANSCORE_E_NULL_ARGUMENT; LOANSCORE_E_BAD_INDEX. */
int32_t loanscore_result_reason(const loanscore_result *result, size_t index, size_t rank, loanscore_reason *out,
                                char **error_message);

/*
 * Whole columns of a result, for bindings that read a batch at once (Python's LocalScorer).
 * Each is an array of `count` elements (text: count + 1 offsets) owned by the result.
 */

/** Numeric columns (double[count]). */
#define LOANSCORE_RESULT_PD 0          /* NaN for rejected applications */
#define LOANSCORE_RESULT_CONFIDENCE 1  /* NaN for rejected applications */
/** Integer columns (int32_t[count]). */
#define LOANSCORE_RESULT_STATUS 10     /* LOANSCORE_ACCEPTED / LOANSCORE_REJECTED */
#define LOANSCORE_RESULT_DECISION 11   /* LOANSCORE_DECISION_*, -1 for rejected */
/** Text columns (the strings of loanscore_application, "" where they do not apply). */
#define LOANSCORE_RESULT_DECISION_NAME 20
#define LOANSCORE_RESULT_RISK_LEVEL 21
#define LOANSCORE_RESULT_REASONS 22
#define LOANSCORE_RESULT_REASON_TEXTS 23
#define LOANSCORE_RESULT_FLAGS 24
#define LOANSCORE_RESULT_REJECTION 25
#define LOANSCORE_RESULT_REJECTED_FIELD 26

/** A numeric column: *out_values points at count doubles.
 *  @return LOANSCORE_OK; LOANSCORE_E_NULL_ARGUMENT; LOANSCORE_E_BAD_INDEX (not a numeric column). */
int32_t loanscore_result_doubles(const loanscore_result *result, int32_t column, const double **out_values,
                                 char **error_message);

/** An integer column: *out_values points at count int32_t.
 *  @return LOANSCORE_OK; LOANSCORE_E_NULL_ARGUMENT; LOANSCORE_E_BAD_INDEX (not an integer column). */
int32_t loanscore_result_int32s(const loanscore_result *result, int32_t column, const int32_t **out_values,
                                char **error_message);

/**
 * A text column. Value i is the bytes data[offsets[i] .. offsets[i+1] - 1); data[offsets[i+1] - 1]
 * is its terminating NUL, so (const char *)(data + offsets[i]) is also a C string (a value that
 * itself holds a NUL byte, from the caller's own text, is cut short when read that way; the
 * offsets are exact). *out_offsets points at count + 1 offsets in bytes (offsets[0] = 0),
 * *out_data at offsets[count] bytes; *out_length (optional) receives offsets[count].
 * @return LOANSCORE_OK; LOANSCORE_E_NULL_ARGUMENT; LOANSCORE_E_BAD_INDEX (not a text column).
 */
int32_t loanscore_result_texts(const loanscore_result *result, int32_t column, const int64_t **out_offsets,
                               const uint8_t **out_data, size_t *out_length, char **error_message);

#ifdef __cplusplus
}
#endif

#endif /* LOANSCORE_H */
