/* The bare-loop ceiling of bench/sqlite.sh: evo-sqlite's removal transaction (change_session
 * for DeleteChatMember, unkeyed), COUNT times on one connection, through the SQLite the
 * service links.
 *
 *   sqlite_loop DB SYNC FIRST COUNT MAX_S OUT.json   SYNC: FULL or NORMAL
 *   sqlite_loop version                              the SQLite version and source ID
 *   sqlite_loop options                              its compile options (PRAGMA compile_options)
 *
 * Built by bench/sqlite.sh, once per checksum of its sources, into
 * ${CARGO_TARGET_DIR:-/var/tmp/evo-sessions-target}/bench-sqlite-loop/: gcc -O2 with
 * sqlite3/sqlite3.c of the libsqlite3-sys in Cargo.lock (0.35.0: SQLite 3.50.2, the very
 * amalgamation the service links) and the defines that crate's build.rs gives its bundled
 * build on Linux with the features the workspace enables (bundled, no unlock_notify,
 * column_metadata, preupdate_hook, session or with-asan; no LIBSQLITE3_FLAGS):
 *
 *   -DSQLITE_CORE -DSQLITE_DEFAULT_FOREIGN_KEYS=1 -DSQLITE_ENABLE_API_ARMOR
 *   -DSQLITE_ENABLE_COLUMN_METADATA -DSQLITE_ENABLE_DBSTAT_VTAB -DSQLITE_ENABLE_FTS3
 *   -DSQLITE_ENABLE_FTS3_PARENTHESIS -DSQLITE_ENABLE_FTS5 -DSQLITE_ENABLE_JSON1
 *   -DSQLITE_ENABLE_LOAD_EXTENSION=1 -DSQLITE_ENABLE_MEMORY_MANAGEMENT -DSQLITE_ENABLE_RTREE
 *   -DSQLITE_ENABLE_STAT4 -DSQLITE_SOUNDEX -DSQLITE_THREADSAFE=1 -DSQLITE_USE_URI
 *   -DHAVE_USLEEP=1 -DHAVE_ISNAN -D_POSIX_THREAD_SAFE_FUNCTIONS -DHAVE_LOCALTIME_R
 *
 * (the script holds the list: SQLITE_DEFINES). The one difference from the service's copy is
 * the optimisation level: cc-rs compiles it with -O3 in a release build, this with -O2.
 *
 * The connection is opened as diesel's SqliteConnection opens one (sqlite3_open_v2 with
 * READWRITE | CREATE | URI) and runs evo-sqlite's connection_pragmas(): busy_timeout 5000,
 * journal_mode WAL, foreign_keys ON, synchronous as asked (the store: FULL). Every
 * statement is prepared once (SQLITE_PREPARE_PERSISTENT, as diesel's statement cache does)
 * and reset after each use. Removal n removes agent5@example.com from session FIRST + n, as
 * the Python loop it replaces did; the caller sees the 10 accounts acct-0..acct-9 (the token of
 * bench/sqlite.sh). One removal, timed from BEGIN to COMMIT, is the statements of
 * change_session + write_change, in their order:
 *
 *   BEGIN IMMEDIATE
 *   SELECT <the 40 header columns> FROM sessions WHERE id = ? AND account_id IN (10 accounts)
 *   SELECT <the 11 member columns> FROM session_members WHERE account_id = ? AND session_id = ?
 *     ORDER BY position
 *   SELECT date, message FROM session_log WHERE account_id = ? AND session_id = ? ORDER BY seq
 *   UPDATE sessions SET date_last_modified, last_modified_by, ended, date_completed,
 *     call_state, version = version + 1 WHERE account_id = ? AND id = ? AND version = <read>
 *   DELETE FROM session_members WHERE account_id = ? AND session_id = ? AND identity_key = ?
 *   SELECT max(seq) FROM session_log WHERE account_id = ? AND session_id = ?
 *   INSERT INTO session_log (account_id, session_id, seq = max + 1, date, message)
 *   INSERT INTO session_events (account_id, session_id, event_type, body, created_at,
 *     delivery, pending_since, next_attempt_at)    the outbox row (append_event)
 *   SELECT last_insert_rowid()                      the event's number (append_event)
 *   COMMIT
 *
 * The event's body is built from the rows read, in the shape of evo-http's WireEventRenderer
 * (type, date, accountId, sessionId, actor, member, reason, leave, and session: the
 * SessionInfo after the change, its members without the removed one and its log with the
 * new entry, optional fields left out when NULL), so it is byte for byte what the service
 * writes for the same removal (about 2 KB for a seeded session); `delivery` is 0, as in
 * the service without a webhook (bench/sqlite.sh sets none). The idempotency-key lookup and
 * answer rows are not there: they are written only for keyed requests, and wrk sends none.
 *
 * Output: one line on stdout (the rate, p50, p99) and OUT.json with the fields bench/sqlite.py
 * table reads (synchronous, removals, asked, seconds, rate, p50_ms, p99_ms, time_bounded,
 * sqlite, loop, cpu_us_per_removal: the loop's own CPU time over its removals). Any
 * unexpected row or SQLite error stops the loop (exit 1, no OUT.json). */

#include <math.h>
#include <sys/resource.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sqlite3.h"

#define ACCOUNTS 10
#define HEADER_COLUMNS 40
#define MEMBER_COLUMNS 11
#define MAX_MEMBERS 64
#define MAX_LOG 1024

static const char *const ACTOR = "bench@example.com";
static const char *const ACTOR_NAME = "Bench User";
static const char *const REMOVED_KEY = "agent5@example.com";
static const char *const EVENT_TYPE = "ChatMemberRemoved";
static const int DELIVERY_NONE = 0; /* evo-store-sql delivery::NONE: no webhook configured */

/* evo-store-sql's session_columns! and member_columns!, in order. */
#define SESSION_COLUMNS                                                                        \
  "id, account_id, channel, direction, dial_state, call_state, queue_state, hold_reason, "     \
  "ended, was_missed, date_completed, account_name, customer_id, customer_breadcrumb, "        \
  "customer_name, endpoint_id, endpoint_name, destination, to_address, from_address, "         \
  "from_name, answered_by_name, queue_member_id, outcome, call_sid, console_data, "            \
  "hold_queue_name, held_by_user_id, conference_sid, display_name, callback_number, "          \
  "answered_by_id, from_phone_number, most_recent_participant_call_sid, ring_queue_id, "       \
  "date_created, created_by, date_last_modified, last_modified_by, version"
#define MEMBER_COLUMN_LIST                                                                     \
  "identity, identity_key, endpoint_id, display_name, is_original_member, avatar_url, "        \
  "application_data, call_state, role, call_sid, muted"

/* Header column numbers. */
enum {
  H_ID, H_ACCOUNT_ID, H_CHANNEL, H_DIRECTION, H_DIAL_STATE, H_CALL_STATE, H_QUEUE_STATE,
  H_HOLD_REASON, H_ENDED, H_WAS_MISSED, H_DATE_COMPLETED, H_ACCOUNT_NAME, H_CUSTOMER_ID,
  H_CUSTOMER_BREADCRUMB, H_CUSTOMER_NAME, H_ENDPOINT_ID, H_ENDPOINT_NAME, H_DESTINATION,
  H_TO_ADDRESS, H_FROM_ADDRESS, H_FROM_NAME, H_ANSWERED_BY_NAME, H_QUEUE_MEMBER_ID, H_OUTCOME,
  H_CALL_SID, H_CONSOLE_DATA, H_HOLD_QUEUE_NAME, H_HELD_BY_USER_ID, H_CONFERENCE_SID,
  H_DISPLAY_NAME, H_CALLBACK_NUMBER, H_ANSWERED_BY_ID, H_FROM_PHONE_NUMBER,
  H_MOST_RECENT_PARTICIPANT_CALL_SID, H_RING_QUEUE_ID, H_DATE_CREATED, H_CREATED_BY,
  H_DATE_LAST_MODIFIED, H_LAST_MODIFIED_BY, H_VERSION
};
/* Member column numbers. */
enum {
  M_IDENTITY, M_IDENTITY_KEY, M_ENDPOINT_ID, M_DISPLAY_NAME, M_IS_ORIGINAL_MEMBER,
  M_AVATAR_URL, M_APPLICATION_DATA, M_CALL_STATE, M_ROLE, M_CALL_SID, M_MUTED
};

static sqlite3 *db;

static void die(const char *format, ...) {
  va_list args;
  va_start(args, format);
  fputs("sqlite_loop: ", stderr);
  vfprintf(stderr, format, args);
  fputc('\n', stderr);
  va_end(args);
  if (db && !sqlite3_get_autocommit(db)) sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
  exit(1);
}

static void check(int rc, const char *what) {
  if (rc != SQLITE_OK) die("%s: %s (%d)", what, sqlite3_errmsg(db), rc);
}

/* ---- Text the rows are copied into, emptied at every removal (no malloc in the loop). ---- */

static char arena[1 << 16];
static size_t arena_used;

/* A copy of column `i` of `stmt`, NULL for SQL NULL. */
static const char *column_copy(sqlite3_stmt *stmt, int i) {
  if (sqlite3_column_type(stmt, i) == SQLITE_NULL) return NULL;
  const unsigned char *text = sqlite3_column_text(stmt, i);
  size_t n = (size_t)sqlite3_column_bytes(stmt, i);
  if (!text || arena_used + n + 1 > sizeof arena) die("a row does not fit in %zu bytes", sizeof arena);
  char *copy = arena + arena_used;
  memcpy(copy, text, n);
  copy[n] = '\0';
  arena_used += n + 1;
  return copy;
}

/* ---- The event's body ---- */

static char body[1 << 16];
static size_t body_len;

static void put(const char *text, size_t n) {
  if (body_len + n >= sizeof body) die("an event body does not fit in %zu bytes", sizeof body);
  memcpy(body + body_len, text, n);
  body_len += n;
}
static void puts_raw(const char *text) { put(text, strlen(text)); }

/* A JSON string as serde_json writes it. */
static void put_string(const char *text) {
  static const char hex[] = "0123456789abcdef";
  put("\"", 1);
  for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
    switch (*p) {
      case '"': put("\\\"", 2); break;
      case '\\': put("\\\\", 2); break;
      case '\n': put("\\n", 2); break;
      case '\r': put("\\r", 2); break;
      case '\t': put("\\t", 2); break;
      case '\b': put("\\b", 2); break;
      case '\f': put("\\f", 2); break;
      default:
        if (*p < 0x20) {
          char escaped[6] = {'\\', 'u', '0', '0', hex[*p >> 4], hex[*p & 15]};
          put(escaped, 6);
        } else {
          put((const char *)p, 1);
        }
    }
  }
  put("\"", 1);
}

/* `"name":` with a leading comma unless it is the object's first member. */
static void put_key(const char *name, int *first) {
  if (!*first) put(",", 1);
  *first = 0;
  put_string(name);
  put(":", 1);
}
static void field_string(const char *name, const char *value, int *first) {
  put_key(name, first);
  put_string(value);
}
/* An optional text: left out when NULL (skip_serializing_if = "Option::is_none"). */
static void field_optional(const char *name, const char *value, int *first) {
  if (value) field_string(name, value, first);
}
static void field_bool(const char *name, const char *value, int *first) {
  put_key(name, first);
  puts_raw(value && strcmp(value, "0") != 0 ? "true" : "false");
}
/* A JSON column (application_data, customer_breadcrumb): stored as serde_json writes it. */
static void field_json(const char *name, const char *value, int *first) {
  put_key(name, first);
  puts_raw(value);
}

/* A store time (`2026-12-01 14:03:07[.123]+00:00`, diesel's TimestamptzSqlite) as the wire
 * writes it (evo-http's wire_date: RFC 3339, milliseconds, Z). */
static void wire_date(const char *stored, char out[32]) {
  size_t n = strlen(stored);
  if (n < 25 || stored[10] != ' ' || strcmp(stored + n - 6, "+00:00") != 0)
    die("unexpected store time %s", stored);
  char ms[4] = "000";
  if (stored[19] == '.')
    for (int i = 0; i < 3 && stored[20 + i] >= '0' && stored[20 + i] <= '9'; i++) ms[i] = stored[20 + i];
  snprintf(out, 32, "%.10sT%.8s.%sZ", stored, stored + 11, ms);
}
static void field_date(const char *name, const char *stored, int *first) {
  char date[32];
  wire_date(stored, date);
  field_string(name, date, first);
}

static void put_member(const char *const *m) {
  int first = 1;
  put("{", 1);
  field_string("identity", m[M_IDENTITY], &first);
  field_optional("endpointId", m[M_ENDPOINT_ID], &first);
  field_optional("displayName", m[M_DISPLAY_NAME], &first);
  field_bool("isOriginalMember", m[M_IS_ORIGINAL_MEMBER], &first);
  field_optional("avatarUrl", m[M_AVATAR_URL], &first);
  field_json("applicationData", m[M_APPLICATION_DATA], &first);
  field_string("callState", m[M_CALL_STATE], &first);
  field_string("role", m[M_ROLE], &first);
  field_optional("callSid", m[M_CALL_SID], &first);
  field_bool("muted", m[M_MUTED], &first);
  put("}", 1);
}

/* The body WireEventRenderer writes for this removal: `h` is the header after the change
 * (date_last_modified and last_modified_by already the change's), `members` the members
 * after it, `entries` the log after it (2 texts per entry). */
static void build_body(const char *const *h, const char *changed_at, const char *const *removed,
                       const char *(*members)[MEMBER_COLUMNS], int member_count,
                       const char *(*entries)[2], int log_count) {
  int first = 1, inner;
  body_len = 0;
  put("{", 1);
  field_string("type", EVENT_TYPE, &first);
  field_date("date", changed_at, &first);
  field_string("accountId", h[H_ACCOUNT_ID], &first);
  field_string("sessionId", h[H_ID], &first);
  put_key("actor", &first);
  inner = 1;
  put("{", 1);
  field_string("userId", ACTOR, &inner);
  field_string("name", ACTOR_NAME, &inner);
  put("}", 1);
  put_key("member", &first);
  put_member(removed);
  put_key("reason", &first);
  puts_raw("null"); /* a removal without a reason */
  put_key("leave", &first);
  puts_raw("false"); /* the actor is not the member removed */
  put_key("session", &first);
  /* SessionInfo, in the order of evo-http's SessionInfo struct (dto.rs). */
  int s = 1;
  put("{", 1);
  field_string("dialState", h[H_DIAL_STATE], &s);
  field_string("callState", h[H_CALL_STATE], &s);
  field_string("queueState", h[H_QUEUE_STATE], &s);
  field_string("accountId", h[H_ACCOUNT_ID], &s);
  field_optional("accountName", h[H_ACCOUNT_NAME], &s);
  field_optional("customerId", h[H_CUSTOMER_ID], &s);
  field_json("customerBreadcrumb", h[H_CUSTOMER_BREADCRUMB], &s);
  field_optional("customerName", h[H_CUSTOMER_NAME], &s);
  field_optional("endpointId", h[H_ENDPOINT_ID], &s);
  field_optional("endpointName", h[H_ENDPOINT_NAME], &s);
  if (h[H_DATE_COMPLETED]) field_date("dateCompleted", h[H_DATE_COMPLETED], &s);
  field_optional("destination", h[H_DESTINATION], &s);
  field_optional("toAddress", h[H_TO_ADDRESS], &s);
  field_optional("fromAddress", h[H_FROM_ADDRESS], &s);
  field_optional("fromName", h[H_FROM_NAME], &s);
  field_optional("answeredByName", h[H_ANSWERED_BY_NAME], &s);
  field_optional("queueMemberId", h[H_QUEUE_MEMBER_ID], &s);
  field_string("channel", h[H_CHANNEL], &s);
  field_bool("ended", h[H_ENDED], &s);
  field_optional("outcome", h[H_OUTCOME], &s);
  field_optional("callSid", h[H_CALL_SID], &s);
  field_optional("consoleData", h[H_CONSOLE_DATA], &s);
  field_optional("holdQueueName", h[H_HOLD_QUEUE_NAME], &s);
  field_optional("heldByUserId", h[H_HELD_BY_USER_ID], &s);
  field_string("holdReason", h[H_HOLD_REASON], &s);
  field_optional("conferenceSid", h[H_CONFERENCE_SID], &s);
  field_optional("displayName", h[H_DISPLAY_NAME], &s);
  put_key("log", &s);
  put("[", 1);
  for (int i = 0; i < log_count; i++) {
    if (i) put(",", 1);
    inner = 1;
    put("{", 1);
    field_date("date", entries[i][0], &inner);
    field_string("message", entries[i][1], &inner);
    put("}", 1);
  }
  put("]", 1);
  put_key("members", &s);
  put("[", 1);
  for (int i = 0; i < member_count; i++) {
    if (i) put(",", 1);
    put_member(members[i]);
  }
  put("]", 1);
  field_optional("callbackNumber", h[H_CALLBACK_NUMBER], &s);
  field_optional("answeredById", h[H_ANSWERED_BY_ID], &s);
  field_string("direction", h[H_DIRECTION], &s);
  field_optional("fromPhoneNumber", h[H_FROM_PHONE_NUMBER], &s);
  field_optional("mostRecentParticipantCallSid", h[H_MOST_RECENT_PARTICIPANT_CALL_SID], &s);
  field_bool("wasMissed", h[H_WAS_MISSED], &s);
  field_optional("ringQueueId", h[H_RING_QUEUE_ID], &s);
  field_string("id", h[H_ID], &s);
  field_date("dateCreated", h[H_DATE_CREATED], &s);
  field_date("dateLastModified", h[H_DATE_LAST_MODIFIED], &s);
  field_string("createdBy", h[H_CREATED_BY], &s);
  field_string("lastModifiedBy", h[H_LAST_MODIFIED_BY], &s);
  put("}", 1);
  put("}", 1);
  body[body_len] = '\0';
}

/* ---- Times ---- */

static double monotonic(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int64_t monotonic_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/* Now, to the millisecond, as diesel's TimestamptzSqlite writes it (chrono `%F %T%.f%:z`: the
 * fraction left out when it is .000). */
static void store_now(char out[40]) {
  struct timespec t;
  struct tm utc;
  clock_gettime(CLOCK_REALTIME, &t);
  gmtime_r(&t.tv_sec, &utc);
  long ms = t.tv_nsec / 1000000;
  size_t n = strftime(out, 40, "%Y-%m-%d %H:%M:%S", &utc);
  if (ms) n += (size_t)snprintf(out + n, 40 - n, ".%03ld", ms);
  snprintf(out + n, 40 - n, "+00:00");
}

/* bench.sid(i) of bench/sql/schema.sql, sid(i) of bench/wrk/delete.lua and bench/sqlite.py. */
static void sid(long i, char out[24]) {
  uint64_t n = 1000000000000000ULL + (((uint64_t)i * 2654435761ULL) % 4294967296ULL) * 1000000ULL + (uint64_t)i;
  snprintf(out, 24, "%llu", (unsigned long long)n);
}

/* ---- Statements ---- */

static sqlite3_stmt *prepare(const char *sql) {
  sqlite3_stmt *stmt;
  check(sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, NULL), sql);
  return stmt;
}

static void bind_text(sqlite3_stmt *stmt, int i, const char *text) {
  int rc = text ? sqlite3_bind_text(stmt, i, text, -1, SQLITE_STATIC) : sqlite3_bind_null(stmt, i);
  check(rc, "bind");
}

static void bind_int(sqlite3_stmt *stmt, int i, sqlite3_int64 value) {
  check(sqlite3_bind_int64(stmt, i, value), "bind");
}

/* Steps a statement that returns no row, then resets it. */
static void run(sqlite3_stmt *stmt, const char *what) {
  int rc = sqlite3_step(stmt);
  if (rc != SQLITE_DONE) die("%s: %s (%d)", what, sqlite3_errmsg(db), rc);
  sqlite3_reset(stmt);
}

/* Python's round(): halves to even (the default rounding mode of rint). */
static int64_t percentile(const int64_t *sorted, int n, double p) {
  if (n == 0) return 0;
  long index = (long)rint(p / 100.0 * n + 0.5) - 1;
  if (index < 0) index = 0;
  if (index > n - 1) index = n - 1;
  return sorted[index];
}

static int by_value(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

/* 1234567.8 -> "1,234,568" (Python's `{:,.0f}`). */
static void thousands(double value, char out[32]) {
  char digits[32];
  snprintf(digits, sizeof digits, "%.0f", value);
  int n = (int)strlen(digits), o = 0;
  for (int i = 0; i < n; i++) {
    out[o++] = digits[i];
    if (digits[i] != '-' && (n - 1 - i) % 3 == 0 && i != n - 1) out[o++] = ',';
  }
  out[o] = '\0';
}

/* This process's CPU time (user and system), in seconds: what the service's CPU per removal
 * is compared with. */
static double cpu_seconds(void) {
  struct rusage usage;
  if (getrusage(RUSAGE_SELF, &usage) != 0) return 0;
  return (double)(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
         (double)(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

int main(int argc, char **argv) {
  if (argc == 2 && strcmp(argv[1], "version") == 0) {
    printf("%s (%s)\n", sqlite3_libversion(), sqlite3_sourceid());
    return 0;
  }
  if (argc == 2 && strcmp(argv[1], "options") == 0) {
    const char *option;
    for (int i = 0; (option = sqlite3_compileoption_get(i)) != NULL; i++) puts(option);
    return 0;
  }
  if (argc != 7) {
    fprintf(stderr, "usage: %s DB FULL|NORMAL FIRST COUNT MAX_SECONDS OUT.json | version | options\n", argv[0]);
    return 2;
  }
  const char *path = argv[1], *synchronous = argv[2], *out_path = argv[6];
  long first = atol(argv[3]), count = atol(argv[4]);
  double max_seconds = atof(argv[5]);
  int expected_mode;
  if (strcmp(synchronous, "FULL") == 0) expected_mode = 2;
  else if (strcmp(synchronous, "NORMAL") == 0) expected_mode = 1;
  else die("synchronous must be FULL or NORMAL, not %s", synchronous);
  if (count < 0 || first < 0) die("FIRST and COUNT must not be negative");

  /* diesel's SqliteConnection::establish, then evo-sqlite's connection_pragmas(). */
  check(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_URI, NULL), path);
  char pragmas[200];
  snprintf(pragmas, sizeof pragmas,
           "PRAGMA busy_timeout = 5000; PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON; "
           "PRAGMA synchronous = %s;", synchronous);
  char *error = NULL;
  if (sqlite3_exec(db, pragmas, NULL, NULL, &error) != SQLITE_OK) die("pragmas: %s", error);

  sqlite3_stmt *stmt = prepare("PRAGMA synchronous");
  if (sqlite3_step(stmt) != SQLITE_ROW) die("PRAGMA synchronous: %s", sqlite3_errmsg(db));
  int mode = sqlite3_column_int(stmt, 0);
  sqlite3_finalize(stmt);
  stmt = prepare("PRAGMA journal_mode");
  if (sqlite3_step(stmt) != SQLITE_ROW) die("PRAGMA journal_mode: %s", sqlite3_errmsg(db));
  char journal[16];
  snprintf(journal, sizeof journal, "%s", (const char *)sqlite3_column_text(stmt, 0));
  sqlite3_finalize(stmt);
  if (mode != expected_mode || strcmp(journal, "wal") != 0)
    die("synchronous=%d journal_mode=%s, asked %s in WAL", mode, journal, synchronous);

  sqlite3_stmt *begin = prepare("BEGIN IMMEDIATE");
  sqlite3_stmt *header_q = prepare("SELECT " SESSION_COLUMNS " FROM sessions WHERE id = ? AND account_id IN "
                                   "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
  sqlite3_stmt *members_q = prepare("SELECT " MEMBER_COLUMN_LIST " FROM session_members "
                                    "WHERE account_id = ? AND session_id = ? ORDER BY position");
  sqlite3_stmt *log_q = prepare("SELECT date, message FROM session_log WHERE account_id = ? AND session_id = ? "
                                "ORDER BY seq");
  sqlite3_stmt *update_q = prepare("UPDATE sessions SET date_last_modified = ?, last_modified_by = ?, ended = ?, "
                                   "date_completed = ?, call_state = ?, version = version + ? "
                                   "WHERE account_id = ? AND id = ? AND version = ?");
  sqlite3_stmt *delete_q = prepare("DELETE FROM session_members WHERE account_id = ? AND session_id = ? "
                                   "AND identity_key = ?");
  sqlite3_stmt *max_seq_q = prepare("SELECT max(seq) FROM session_log WHERE account_id = ? AND session_id = ?");
  sqlite3_stmt *log_insert = prepare("INSERT INTO session_log (account_id, session_id, seq, date, message) "
                                     "VALUES (?, ?, ?, ?, ?)");
  sqlite3_stmt *event_insert = prepare("INSERT INTO session_events (account_id, session_id, event_type, body, "
                                       "created_at, delivery, pending_since, next_attempt_at) "
                                       "VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
  sqlite3_stmt *rowid_q = prepare("SELECT last_insert_rowid()");
  sqlite3_stmt *commit = prepare("COMMIT");

  /* The caller's accounts stay bound: the header query is the only one that uses them. */
  static char accounts[ACCOUNTS][16];
  for (int a = 0; a < ACCOUNTS; a++) {
    snprintf(accounts[a], sizeof accounts[a], "acct-%d", a);
    bind_text(header_q, 2 + a, accounts[a]);
  }

  int64_t *latencies = malloc(sizeof(int64_t) * (size_t)(count ? count : 1));
  if (!latencies) die("out of memory");
  static const char *header[HEADER_COLUMNS];
  static const char *members[MAX_MEMBERS][MEMBER_COLUMNS];
  static const char *entries[MAX_LOG + 1][2];
  double started = monotonic(), deadline = started + max_seconds;
  double cpu_started = cpu_seconds();
  size_t body_total = 0;
  sqlite3_int64 last_event = 0;
  long done = 0;
  char session[24], changed_at[40], message[256];

  for (long i = first; i < first + count; i++) {
    if (monotonic() > deadline) break;
    sid(i, session);
    int64_t t0 = monotonic_ns();
    arena_used = 0;
    run(begin, "BEGIN IMMEDIATE");

    /* load(): the header among the caller's accounts, then members and log by their key. */
    bind_text(header_q, 1, session);
    int rc = sqlite3_step(header_q);
    if (rc != SQLITE_ROW) die("session %ld (%s): no header (%s)", i, session, rc == SQLITE_DONE ? "not seeded" : sqlite3_errmsg(db));
    for (int c = 0; c < HEADER_COLUMNS; c++) header[c] = column_copy(header_q, c);
    sqlite3_int64 version = sqlite3_column_int64(header_q, H_VERSION);
    if (sqlite3_step(header_q) != SQLITE_DONE) die("session %s: more than one header", session);
    sqlite3_reset(header_q);
    const char *account = header[H_ACCOUNT_ID];

    int member_count = 0, removed = -1;
    bind_text(members_q, 1, account);
    bind_text(members_q, 2, session);
    while ((rc = sqlite3_step(members_q)) == SQLITE_ROW) {
      if (member_count == MAX_MEMBERS) die("session %s: more than %d members", session, MAX_MEMBERS);
      for (int c = 0; c < MEMBER_COLUMNS; c++) members[member_count][c] = column_copy(members_q, c);
      if (strcmp(members[member_count][M_IDENTITY_KEY], REMOVED_KEY) == 0) removed = member_count;
      member_count++;
    }
    if (rc != SQLITE_DONE) die("members: %s", sqlite3_errmsg(db));
    sqlite3_reset(members_q);

    int log_count = 0;
    bind_text(log_q, 1, account);
    bind_text(log_q, 2, session);
    while ((rc = sqlite3_step(log_q)) == SQLITE_ROW) {
      if (log_count == MAX_LOG) die("session %s: more than %d log entries", session, MAX_LOG);
      entries[log_count][0] = column_copy(log_q, 0);
      entries[log_count][1] = column_copy(log_q, 1);
      log_count++;
    }
    if (rc != SQLITE_DONE) die("log: %s", sqlite3_errmsg(db));
    sqlite3_reset(log_q);
    if (removed < 0 || log_count == 0 || strcmp(members[removed][M_IS_ORIGINAL_MEMBER], "0") != 0)
      die("session %ld (%s): not seeded as expected (%s missing or original, %d log entries)", i, session,
          REMOVED_KEY, log_count);

    /* decide(): what Session::remove_member_because makes of it. The change's time is now,
     * never before the last change (store times of this shape sort as text). */
    store_now(changed_at);
    if (strcmp(changed_at, header[H_DATE_LAST_MODIFIED]) < 0) {
      snprintf(changed_at, sizeof changed_at, "%s", header[H_DATE_LAST_MODIFIED]);
    }
    const char *const *gone = members[removed];
    const char *label = gone[M_DISPLAY_NAME] && gone[M_DISPLAY_NAME][strspn(gone[M_DISPLAY_NAME], " \t\r\n")]
                            ? gone[M_DISPLAY_NAME]
                            : gone[M_IDENTITY];
    snprintf(message, sizeof message, "%s removed %s from the chat", ACTOR_NAME, label);
    const char *removed_member[MEMBER_COLUMNS];
    memcpy(removed_member, gone, sizeof removed_member);
    memmove(members[removed], members[removed + 1], sizeof members[0] * (size_t)(member_count - removed - 1));
    member_count--;
    entries[log_count][0] = changed_at;
    entries[log_count][1] = message;
    header[H_DATE_LAST_MODIFIED] = changed_at;
    header[H_LAST_MODIFIED_BY] = ACTOR;
    build_body(header, changed_at, removed_member, members, member_count, entries, log_count + 1);
    body_total += body_len;

    /* write_change(): the header at the version read, the member, the log entry, the event. */
    bind_text(update_q, 1, changed_at);
    bind_text(update_q, 2, ACTOR);
    bind_int(update_q, 3, strcmp(header[H_ENDED], "0") != 0);
    bind_text(update_q, 4, header[H_DATE_COMPLETED]);
    bind_text(update_q, 5, header[H_CALL_STATE]);
    bind_int(update_q, 6, 1);
    bind_text(update_q, 7, account);
    bind_text(update_q, 8, session);
    bind_int(update_q, 9, version);
    run(update_q, "UPDATE sessions");
    if (sqlite3_changes(db) != 1) die("session %ld (%s): the version guard matched %d rows", i, session, sqlite3_changes(db));

    bind_text(delete_q, 1, account);
    bind_text(delete_q, 2, session);
    bind_text(delete_q, 3, REMOVED_KEY);
    run(delete_q, "DELETE FROM session_members");
    if (sqlite3_changes(db) != 1) die("session %s: the delete matched %d rows", session, sqlite3_changes(db));

    bind_text(max_seq_q, 1, account);
    bind_text(max_seq_q, 2, session);
    if (sqlite3_step(max_seq_q) != SQLITE_ROW) die("max(seq): %s", sqlite3_errmsg(db));
    sqlite3_int64 seq = sqlite3_column_int64(max_seq_q, 0) + 1; /* NULL (no entry) reads as 0 */
    sqlite3_reset(max_seq_q);

    bind_text(log_insert, 1, account);
    bind_text(log_insert, 2, session);
    bind_int(log_insert, 3, seq);
    bind_text(log_insert, 4, changed_at);
    bind_text(log_insert, 5, message);
    run(log_insert, "INSERT INTO session_log");

    bind_text(event_insert, 1, account);
    bind_text(event_insert, 2, session);
    bind_text(event_insert, 3, EVENT_TYPE);
    check(sqlite3_bind_text(event_insert, 4, body, (int)body_len, SQLITE_STATIC), "bind");
    bind_text(event_insert, 5, changed_at);
    bind_int(event_insert, 6, DELIVERY_NONE);
    bind_text(event_insert, 7, changed_at);
    bind_text(event_insert, 8, changed_at);
    run(event_insert, "INSERT INTO session_events");
    if (sqlite3_step(rowid_q) != SQLITE_ROW) die("last_insert_rowid(): %s", sqlite3_errmsg(db));
    sqlite3_int64 event = sqlite3_column_int64(rowid_q, 0);
    sqlite3_reset(rowid_q);
    if (event <= last_event) die("event number %lld after %lld", (long long)event, (long long)last_event);
    last_event = event;

    run(commit, "COMMIT");
    latencies[done++] = monotonic_ns() - t0;
    if (done == 1 && getenv("BENCH_LOOP_PRINT_BODY")) fprintf(stderr, "%s\n", body);
  }
  double seconds = monotonic() - started;
  double cpu = cpu_seconds() - cpu_started;

  sqlite3_stmt *all[] = {begin, header_q, members_q, log_q, update_q, delete_q, max_seq_q, log_insert,
                         event_insert, rowid_q, commit};
  for (size_t s = 0; s < sizeof all / sizeof all[0]; s++) sqlite3_finalize(all[s]);
  check(sqlite3_close(db), "close");
  db = NULL;

  qsort(latencies, (size_t)done, sizeof latencies[0], by_value);
  double rate = seconds > 0 ? (double)done / seconds : 0;
  double p50 = (double)percentile(latencies, (int)done, 50) / 1e6;
  double p99 = (double)percentile(latencies, (int)done, 99) / 1e6;
  int bounded = done < count;
  double body_mean = done ? (double)body_total / (double)done : 0;

  FILE *out = fopen(out_path, "w");
  if (!out) die("cannot write %s", out_path);
  fprintf(out,
          "{\"synchronous\": \"%s\", \"removals\": %ld, \"asked\": %ld, \"seconds\": %.6f, \"rate\": %.3f, "
          "\"p50_ms\": %.6f, \"p99_ms\": %.6f, \"time_bounded\": %s, \"sqlite\": \"%s\", "
          "\"loop\": \"C (bench/sqlite_loop.c)\", \"event_body_bytes\": %.0f, \"cpu_us_per_removal\": %.1f}\n",
          synchronous, done, count, seconds, rate, p50, p99, bounded ? "true" : "false", sqlite3_libversion(),
          body_mean, done ? cpu / (double)done * 1e6 : 0);
  if (fclose(out) != 0) die("cannot write %s", out_path);
  char rate_text[32];
  thousands(rate, rate_text);
  printf("synchronous=%s: %ld removals in %.2f s = %s/s, p50 %.3f ms, p99 %.3f ms (C, SQLite %s, "
         "events of %.0f bytes)%s\n",
         synchronous, done, seconds, rate_text, p50, p99, sqlite3_libversion(), body_mean,
         bounded ? " (stopped by the time bound)" : "");
  free(latencies);
  return 0;
}
