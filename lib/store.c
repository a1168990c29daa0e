/*
 * The coordinator's state in SQLite (WAL): tasks, leases, accepted results,
 * devices and the sequence numbers of their packets.
 *
 * One connection, one writer: the caller serialises calls and groups
 * leases and results in transactions (g2t_store_begin/end).  Leases alone
 * commit with synchronous=NORMAL (a lost lease is only re-issued); results
 * with synchronous=FULL, before the caller answers 2xx.
 * Claims are made with BEGIN IMMEDIATE and an UPDATE guarded by the state
 * it expects, checked with sqlite3_changes() == 1.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>
#include <sqlite3.h>

#include "g2t.h"

#define TASK_DONE 2
#define STATE_FORMAT 4 /* PRAGMA user_version of the schema below */
#define SECRET_SIZE 8  /* random bytes of a lease token, after its row id */
#define BACKUP_WINDOW "64" /* leased slots a backup pick looks at */

struct g2t_store {
	sqlite3 *db;
	char path[4096];           /* of the database, for messages */
	int lock_fd;               /* flock()ed: one server per state */
	unsigned replicas;         /* agreeing results that complete a task */
	int backups;               /* backup leases when nothing else is left */
	sqlite3_stmt *pick_a, *pick_b, *pick_any, *pick_expired, *pick_backup, *claim, *backup,
	             *add_lease, *find_lease,
	             *finish_slot, *finish, *close_slots, *vote, *agree, *shortfall, *add_slot,
	             *disagreed, *seen, *remember, *device, *enrol, *credit;
};

static const char schema_sql[] =
	"PRAGMA journal_mode=WAL;"
	"PRAGMA journal_size_limit=4194304;" /* the log shrinks back after a checkpoint */
	"CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value BLOB);"
	"CREATE TABLE IF NOT EXISTS tasks("
	"  id INTEGER PRIMARY KEY, a INTEGER NOT NULL, b INTEGER NOT NULL,"
	"  hash BLOB NOT NULL UNIQUE,"
	"  state INTEGER NOT NULL DEFAULT 0,"     /* 2: done */
	"  result BLOB);"                         /* accepted WEIGHTS payload */
	"CREATE TABLE IF NOT EXISTS slots("       /* a, b: the task's classes */
	"  id INTEGER PRIMARY KEY, task INTEGER NOT NULL, a INTEGER NOT NULL, b INTEGER NOT NULL,"
	"  state INTEGER NOT NULL DEFAULT 0,"     /* 0 open, 1 leased, 2 done */
	"  deadline INTEGER NOT NULL DEFAULT 0,"  /* of the current lease */
	"  issued INTEGER NOT NULL DEFAULT 0);"   /* leases issued for it */
	/* partial indexes: a claim or a result moves few entries */
	"CREATE INDEX IF NOT EXISTS slots_open ON slots(task, id) WHERE state=0;"
	"CREATE INDEX IF NOT EXISTS slots_a ON slots(a, task) WHERE state=0;"
	"CREATE INDEX IF NOT EXISTS slots_b ON slots(b, task) WHERE state=0;"
	"CREATE INDEX IF NOT EXISTS slots_deadline ON slots(deadline) WHERE state=1;"
	"CREATE INDEX IF NOT EXISTS slots_task ON slots(task);"
	/* a lease's token is its id, big-endian, and its secret: leases append;
	 * a backup lease is a second one on a slot whose lease still runs */
	"CREATE TABLE IF NOT EXISTS leases("
	"  id INTEGER PRIMARY KEY, secret BLOB NOT NULL, task INTEGER NOT NULL,"
	"  slot INTEGER NOT NULL, device BLOB NOT NULL, issued INTEGER NOT NULL,"
	"  deadline INTEGER NOT NULL, backup INTEGER NOT NULL DEFAULT 0);"
	"CREATE INDEX IF NOT EXISTS leases_slot ON leases(slot);"
	/* /v1/status counts the backups without a scan of every lease ever
	 * given, under the state's lock; partial, so other leases cost nothing */
	"CREATE INDEX IF NOT EXISTS leases_backup ON leases(id) WHERE backup=1;"
	"CREATE TABLE IF NOT EXISTS votes("       /* results while replicas disagree */
	"  task INTEGER NOT NULL, device BLOB NOT NULL, digest BLOB NOT NULL,"
	"  PRIMARY KEY(task, device));"
	"CREATE TABLE IF NOT EXISTS packets("
	"  device BLOB NOT NULL, seq INTEGER NOT NULL, digest BLOB NOT NULL,"
	"  PRIMARY KEY(device, seq));"
	"CREATE TABLE IF NOT EXISTS devices("
	"  key BLOB PRIMARY KEY,"
	"  done INTEGER NOT NULL DEFAULT 0, expired INTEGER NOT NULL DEFAULT 0,"
	"  seconds REAL NOT NULL DEFAULT 0,"      /* summed lease-to-result time */
	"  streak INTEGER NOT NULL DEFAULT 0,"    /* leases lost since a result */
	"  backoff INTEGER NOT NULL DEFAULT 0,"   /* no lease before this time */
	"  disagreed INTEGER NOT NULL DEFAULT 0);"; /* results outvoted by replicas */

static int fail(struct g2t_store *s, struct g2t_diag *d)
{
	return g2t_fail(d, G2T_EIO, 0, -1, "%s: %s", s->path, sqlite3_errmsg(s->db));
}

static int exec(struct g2t_store *s, const char *sql, struct g2t_diag *d)
{
	return sqlite3_exec(s->db, sql, NULL, NULL, NULL) == SQLITE_OK ? G2T_OK : fail(s, d);
}

static int prepare(struct g2t_store *s, sqlite3_stmt **st, const char *sql,
                   struct g2t_diag *d)
{
	return sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL)
	       == SQLITE_OK ? G2T_OK : fail(s, d);
}

/* A new state gets this format; one in any other is refused, not guessed at. */
static int check_format(struct g2t_store *s, const char *dir, struct g2t_diag *d)
{
	sqlite3_stmt *q;
	int version = -1, tables = -1;

	if (prepare(s, &q, "SELECT (SELECT user_version FROM pragma_user_version),"
	            " (SELECT count(*) FROM sqlite_master)", d))
		return G2T_EIO;
	if (sqlite3_step(q) == SQLITE_ROW) {
		version = sqlite3_column_int(q, 0);
		tables = sqlite3_column_int(q, 1);
	}
	sqlite3_finalize(q);
	if (version < 0)
		return fail(s, d);
	if (version == 3) /* format 4 added leases.backup */
		return exec(s, "ALTER TABLE leases ADD COLUMN backup INTEGER NOT NULL DEFAULT 0;"
		            " PRAGMA user_version=4", d);
	if (version == 0 && tables == 0) {
		char sql[40];

		snprintf(sql, sizeof sql, "PRAGMA user_version=%d", STATE_FORMAT);
		return exec(s, sql, d);
	}
	if (version != STATE_FORMAT)
		return g2t_fail(d, G2T_ESCHEMA, 0, -1, "%s: state of another g2t-serve version"
		                " (format %d, this one writes %d)", dir, version, STATE_FORMAT);
	return G2T_OK;
}

/* Every statement, prepared once. */
static int prepare_all(struct g2t_store *s, struct g2t_diag *d)
{
	/*
	 * The picks: an open slot of a task with class ?2 as a or as b, any
	 * open slot, or one whose lease ran out, lowest task first (a task short
	 * of agreeing replicas is finished before others start); with replicas,
	 * never a slot of a task the device has leased under another slot
	 * (replicas are distinct devices).  Each walks an index from its first
	 * match.
	 */
	const struct { sqlite3_stmt **st; const char *sql; } picks[] = {
		{ &s->pick_a, "SELECT s.id, s.task FROM slots s WHERE s.state=0 AND s.a=?2%s"
		              " ORDER BY s.task LIMIT 1" },
		{ &s->pick_b, "SELECT s.id, s.task FROM slots s WHERE s.state=0 AND s.b=?2%s"
		              " ORDER BY s.task LIMIT 1" },
		{ &s->pick_any, "SELECT s.id, s.task FROM slots s WHERE s.state=0%s"
		                " ORDER BY s.task, s.id LIMIT 1" },
		{ &s->pick_expired, "SELECT s.id, s.task FROM slots s WHERE s.state=1"
		                    " AND s.deadline<?1%s ORDER BY s.deadline LIMIT 1" },
	}, fixed[] = {
		/*
		 * A backup: of the BACKUP_WINDOW leased slots that run out first,
		 * the one whose lease is oldest, of a task the device has never
		 * leased and with no backup running on it.  The window bounds the
		 * cost when every task is leased: a pick reads at most that many.
		 */
		{ &s->pick_backup, "SELECT s.id, s.task FROM (SELECT id, task FROM slots"
		                   " WHERE state=1 AND deadline>=?1 ORDER BY deadline"
		                   " LIMIT " BACKUP_WINDOW ") s WHERE NOT EXISTS(SELECT 1 FROM slots t"
		                   "  JOIN leases o ON o.slot=t.id WHERE t.task=s.task AND"
		                   "  (o.device=?3 OR (o.backup=1 AND o.deadline>=?1 AND t.state=1)))"
		                   " ORDER BY (SELECT max(id) FROM leases WHERE slot=s.id) LIMIT 1" },
		{ &s->claim, "UPDATE slots SET state=1, deadline=?2, issued=issued+1 WHERE id=?1"
		             " AND (state=0 OR (state=1 AND deadline<?3))" },
		/* the slot runs out when its last lease does */
		{ &s->backup, "UPDATE slots SET deadline=max(deadline, ?2) WHERE id=?1 AND state=1"
		              " AND deadline>=?3" },
		{ &s->add_lease, "INSERT INTO leases(secret, task, slot, device, issued, deadline,"
		                 " backup) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)" },
		/* the lease, its task's state, how often its slot was leased since
		 * (backups aside: they do not take a lease away) */
		{ &s->find_lease, "SELECT l.task, l.device, l.issued, l.deadline, t.state,"
		                  " (SELECT count(*) FROM leases o WHERE o.slot=l.slot"
		                  "  AND o.id>l.id AND o.backup=0), l.slot FROM leases l"
		                  " JOIN tasks t ON t.id=l.task WHERE l.id=?1 AND l.secret=?2" },
		{ &s->finish_slot, "UPDATE slots SET state=2 WHERE id=?1 AND state<>2" },
		{ &s->finish, "UPDATE tasks SET state=2, result=?2 WHERE id=?1 AND state<>2" },
		{ &s->close_slots, "UPDATE slots SET state=2 WHERE task=?1 AND state<>2" },
		{ &s->vote, "INSERT OR REPLACE INTO votes(task, device, digest) VALUES(?1, ?2, ?3)" },
		{ &s->agree, "SELECT count(*) FROM votes WHERE task=?1 AND digest=?2" },
		/* replicas still to issue: those the leading result lacks, minus open slots */
		{ &s->shortfall, "SELECT ?2 - (SELECT max(n) FROM (SELECT count(*) n FROM votes"
		                 "  WHERE task=?1 GROUP BY digest))"
		                 " - (SELECT count(*) FROM slots WHERE task=?1 AND state<>2)" },
		{ &s->add_slot, "INSERT INTO slots(task, a, b) SELECT id, a, b FROM tasks WHERE id=?1" },
		{ &s->disagreed, "UPDATE devices SET disagreed=disagreed+1 WHERE key IN"
		                 " (SELECT device FROM votes WHERE task=?1 AND digest<>?2)" },
		{ &s->seen, "SELECT digest FROM packets WHERE device=?1 AND seq=?2" },
		{ &s->remember, "INSERT INTO packets(device, seq, digest) VALUES(?1, ?2, ?3)" },
		{ &s->device, "SELECT done, seconds, backoff FROM devices WHERE key=?1" },
		{ &s->enrol, "INSERT INTO devices(key) VALUES(?1)" },
		/* an accepted result ends the device's streak of lost leases */
		{ &s->credit, "UPDATE devices SET done=done+1, seconds=seconds+?2, streak=0,"
		              " backoff=0 WHERE key=?1" },
	};
	const char *other = s->replicas < 2 ? "" : " AND NOT EXISTS(SELECT 1 FROM leases l"
	                    " WHERE l.task=s.task AND l.device=?3 AND l.slot<>s.id)";
	char sql[400];
	int rc = G2T_OK;

	for (size_t i = 0; i < sizeof picks / sizeof *picks && !rc; i++) {
		snprintf(sql, sizeof sql, picks[i].sql, other);
		rc = prepare(s, picks[i].st, sql, d);
	}
	for (size_t i = 0; i < sizeof fixed / sizeof *fixed && !rc; i++)
		rc = prepare(s, fixed[i].st, fixed[i].sql, d);
	if (!rc)
		sqlite3_bind_int(s->shortfall, 2, (int)s->replicas);
	return rc;
}

int g2t_store_open(struct g2t_store **out, const char *dir, unsigned replicas,
                   struct g2t_diag *d)
{
	struct g2t_store *s = calloc(1, sizeof *s);
	char path[4096];
	int rc;

	*out = s;
	if (!s)
		return G2T_ENOMEM;
	s->lock_fd = -1;
	s->replicas = replicas;
	s->backups = 1;
	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		return g2t_fail(d, G2T_EIO, 0, -1, "%s: %s", dir, strerror(errno));
	snprintf(path, sizeof path, "%s/lock", dir);
	if ((s->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0)
		return g2t_fail(d, G2T_EIO, 0, -1, "%s: %s", path, strerror(errno));
	if (flock(s->lock_fd, LOCK_EX | LOCK_NB) != 0)
		return g2t_fail(d, G2T_EREFUSED, 0, -1, "%s: another g2t-serve uses this state", dir);
	snprintf(s->path, sizeof s->path, "%s/g2t.db", dir);
	if (sqlite3_open_v2(s->path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
	                    SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK)
		return fail(s, d);
	sqlite3_busy_timeout(s->db, 5000);
	if ((rc = check_format(s, dir, d)) || (rc = exec(s, schema_sql, d)) ||
	    (replicas > 1 &&
	     (rc = exec(s, "CREATE INDEX IF NOT EXISTS leases_device ON leases(task, device)", d))))
		return rc;
	return prepare_all(s, d);
}

void g2t_store_backups(struct g2t_store *s, int on)
{
	s->backups = on;
}

static void finalize_all(struct g2t_store *s)
{
	sqlite3_stmt **all[] = {
		&s->pick_a, &s->pick_b, &s->pick_any, &s->pick_expired, &s->pick_backup, &s->claim,
		&s->backup, &s->add_lease,
		&s->find_lease, &s->finish_slot, &s->finish, &s->close_slots, &s->vote,
		&s->agree, &s->shortfall, &s->add_slot, &s->disagreed, &s->seen, &s->remember,
		&s->device, &s->enrol, &s->credit
	};

	for (size_t i = 0; i < sizeof all / sizeof *all; i++)
		sqlite3_finalize(*all[i]);
}

void g2t_store_close(struct g2t_store *s)
{
	if (!s) /* before taking its members' addresses: that of NULL's is undefined */
		return;
	finalize_all(s);
	if (s->db) {
		sqlite3_wal_checkpoint_v2(s->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
		sqlite3_close(s->db);
	}
	if (s->lock_fd >= 0)
		close(s->lock_fd);
	free(s);
}

/* A meta value as an integer, or -1 when there is none. */
static long long meta_int(struct g2t_store *s, const char *key)
{
	sqlite3_stmt *q;
	long long v = -1;

	if (sqlite3_prepare_v2(s->db, "SELECT value FROM meta WHERE key=?1", -1, &q, NULL)
	    != SQLITE_OK)
		return -1;
	sqlite3_bind_text(q, 1, key, -1, SQLITE_STATIC);
	if (sqlite3_step(q) == SQLITE_ROW)
		v = sqlite3_column_int64(q, 0);
	sqlite3_finalize(q);
	return v;
}

/*
 * Loads the task list once, with a slot for each replica of a task; a state
 * made for other tasks, or with another number of replicas, is refused.
 */
int g2t_store_tasks(struct g2t_store *s, const uint8_t schema_id[G2T_HASH_SIZE],
                    const struct g2t_task *tasks, size_t n, struct g2t_diag *d)
{
	sqlite3_stmt *get = NULL, *put = NULL, *slot = NULL;
	unsigned replicas = s->replicas;
	int rc = exec(s, "BEGIN IMMEDIATE", d), step;
	long long had;

	if (!rc)
		rc = prepare(s, &get, "SELECT value FROM meta WHERE key='schema'", d);
	if (!rc && (step = sqlite3_step(get)) == SQLITE_ROW) {
		if (sqlite3_column_bytes(get, 0) != G2T_HASH_SIZE ||
		    memcmp(sqlite3_column_blob(get, 0), schema_id, G2T_HASH_SIZE))
			rc = g2t_fail(d, G2T_ESCHEMA, 0, -1, "%s: the state belongs to other tasks",
			              s->path);
		else if ((had = meta_int(s, "replicas")) != (long long)replicas)
			rc = g2t_fail(d, G2T_EPARAM, 0, -1, "%s: the state was made with"
			              " --replicas %lld, not %u", s->path, had, replicas);
		goto done;
	}
	if (!rc)
		rc = prepare(s, &put, "INSERT INTO meta(key, value) VALUES('schema', ?1),"
		             " ('replicas', ?2)", d);
	if (!rc) {
		sqlite3_bind_blob(put, 1, schema_id, G2T_HASH_SIZE, SQLITE_TRANSIENT);
		sqlite3_bind_int(put, 2, (int)replicas);
		rc = sqlite3_step(put) == SQLITE_DONE ? G2T_OK : fail(s, d);
		sqlite3_finalize(put);
		put = NULL;
	}
	if (!rc)
		rc = prepare(s, &put, "INSERT INTO tasks(id, a, b, hash) VALUES(?1, ?2, ?3, ?4)", d);
	if (!rc)
		rc = prepare(s, &slot, "INSERT INTO slots(task, a, b) VALUES(?1, ?2, ?3)", d);
	for (size_t i = 0; i < n && !rc; i++) {
		sqlite3_reset(put);
		sqlite3_bind_int64(put, 1, tasks[i].id.task);
		sqlite3_bind_int64(put, 2, tasks[i].id.class_a);
		sqlite3_bind_int64(put, 3, tasks[i].id.class_b);
		sqlite3_bind_blob(put, 4, tasks[i].hash, G2T_HASH_SIZE, SQLITE_STATIC);
		rc = sqlite3_step(put) == SQLITE_DONE ? G2T_OK : fail(s, d);
		for (unsigned r = 0; r < replicas && !rc; r++) {
			sqlite3_reset(slot);
			sqlite3_bind_int64(slot, 1, tasks[i].id.task);
			sqlite3_bind_int64(slot, 2, tasks[i].id.class_a);
			sqlite3_bind_int64(slot, 3, tasks[i].id.class_b);
			rc = sqlite3_step(slot) == SQLITE_DONE ? G2T_OK : fail(s, d);
		}
	}
done:
	sqlite3_finalize(get);
	sqlite3_finalize(put);
	sqlite3_finalize(slot);
	if (!rc)
		rc = exec(s, "COMMIT", d);
	else
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	return rc;
}

/* What the state knows of a device. */
struct device {
	int known;
	long long done, backoff;   /* accepted results; no lease before this time */
	double seconds;            /* summed lease-to-result time */
};

static struct device device_of(struct g2t_store *s, const uint8_t *key)
{
	struct device dev = { 0, 0, 0, 0.0 };

	sqlite3_bind_blob(s->device, 1, key, G2T_PK_SIZE, SQLITE_STATIC);
	if (sqlite3_step(s->device) == SQLITE_ROW) {
		dev.known = 1;
		dev.done = sqlite3_column_int64(s->device, 0);
		dev.seconds = sqlite3_column_double(s->device, 1);
		dev.backoff = sqlite3_column_int64(s->device, 2);
	}
	sqlite3_reset(s->device);
	return dev;
}

/* Lease length for a device: longer for devices that are slow to answer. */
static long lease_seconds(const struct device *dev, long base)
{
	long t = base;

	if (dev->done >= 3) {
		t = (long)(3.0 * dev->seconds / (double)dev->done) + 1;
		t = t < base / 4 ? base / 4 : t > base * 4 ? base * 4 : t;
	}
	return t < 1 ? 1 : t;
}

/* The first (slot, task) a pick statement finds, for the device key. */
static long first_slot(sqlite3_stmt *q, const uint8_t *key, long *task)
{
	long slot = -1;

	sqlite3_bind_blob(q, 3, key, G2T_PK_SIZE, SQLITE_STATIC);
	if (sqlite3_step(q) == SQLITE_ROW) {
		slot = (long)sqlite3_column_int64(q, 0);
		*task = (long)sqlite3_column_int64(q, 1);
	}
	sqlite3_reset(q);
	return slot;
}

/*
 * Picks a slot: of the lowest task that has an open one and uses one of the
 * device's classes near[0..n), else any open one, else one whose lease ran
 * out, else a backup of one still leased.
 */
static long pick(struct g2t_store *s, const uint8_t *key, long long now,
                 const uint32_t *near, size_t n, long *task, int *expired, int *backup)
{
	long slot = -1, t;

	*expired = *backup = 0;
	for (size_t i = 0; i < 2 * n; i++) {
		sqlite3_stmt *q = i % 2 ? s->pick_b : s->pick_a;
		long found;

		sqlite3_bind_int64(q, 2, near[i / 2]);
		if ((found = first_slot(q, key, &t)) >= 0 && (slot < 0 || t < *task)) {
			slot = found;
			*task = t;
		}
	}
	if (slot < 0)
		slot = first_slot(s->pick_any, key, task);
	if (slot < 0) {
		sqlite3_bind_int64(s->pick_expired, 1, now);
		slot = first_slot(s->pick_expired, key, task);
		*expired = slot >= 0;
	}
	if (slot < 0 && s->backups) {
		sqlite3_bind_int64(s->pick_backup, 1, now);
		slot = first_slot(s->pick_backup, key, task);
		*backup = slot >= 0;
	}
	return slot;
}

/* A device that keeps losing leases waits: 2^(streak-3) leases, up to 1 h. */
#define BACKOFF_STREAK 3
#define BACKOFF_MAX 3600

/* The last holder of an expired lease, and its backup's, lost it: count it
 * against them. */
static int lost_lease(struct g2t_store *s, long slot, long long now, long base)
{
	sqlite3_stmt *q;
	int rc = G2T_EIO;

	if (sqlite3_prepare_v2(s->db,
	        "UPDATE devices SET expired=expired+1, streak=streak+1, backoff=CASE"
	        " WHEN streak+1>=?3 THEN ?2+min(?4<<min(streak+1-?3, 20), ?5) ELSE backoff END"
	        " WHERE key IN (SELECT device FROM leases WHERE slot=?1 AND id>=(SELECT max(id)"
	        "  FROM leases WHERE slot=?1 AND backup=0))",
	        -1, &q, NULL) != SQLITE_OK)
		return rc;
	sqlite3_bind_int64(q, 1, slot);
	sqlite3_bind_int64(q, 2, now);
	sqlite3_bind_int(q, 3, BACKOFF_STREAK);
	sqlite3_bind_int64(q, 4, base);
	sqlite3_bind_int(q, 5, BACKOFF_MAX);
	rc = sqlite3_step(q) == SQLITE_DONE ? G2T_OK : G2T_EIO;
	sqlite3_finalize(q);
	return rc;
}

/* The row id a lease token names: its first 8 bytes, big-endian; -1 if none. */
static sqlite3_int64 lease_id(const uint8_t *token, size_t len)
{
	uint64_t id = 0;

	if (len != G2T_LEASE_TOKEN_SIZE)
		return -1;
	for (int i = 0; i < 8; i++)
		id = id << 8 | token[i];
	return id >> 63 ? -1 : (sqlite3_int64)id;
}

/* Binds ?1 and ?2 of q to the lease a token names; 0, or -1 for no lease. */
static int bind_lease(sqlite3_stmt *q, const uint8_t *token, size_t len)
{
	sqlite3_int64 id = lease_id(token, len);

	if (id < 0)
		return -1;
	sqlite3_bind_int64(q, 1, id);
	sqlite3_bind_blob(q, 2, token + 8, SECRET_SIZE, SQLITE_STATIC);
	return 0;
}

int g2t_store_lease(struct g2t_store *s, const uint8_t key[G2T_PK_SIZE], long long now,
                    long base, const uint32_t *near, size_t nnear,
                    uint8_t token[G2T_LEASE_TOKEN_SIZE], struct g2t_lease *out,
                    struct g2t_diag *d)
{
	struct device dev = device_of(s, key);
	uint8_t *secret = token + 8;
	sqlite3_stmt *q;
	int rc = G2T_OK, expired = 0, backup = 0;
	long slot = -1, task = -1;
	uint64_t id;

	out->task = -1;
	out->backup = 0;
	out->retry_after = dev.backoff > now ? dev.backoff - now : 0;
	if (!dev.known) {
		sqlite3_bind_blob(s->enrol, 1, key, G2T_PK_SIZE, SQLITE_STATIC);
		rc = sqlite3_step(s->enrol) == SQLITE_DONE ? G2T_OK : fail(s, d);
		sqlite3_reset(s->enrol);
	}
	if (!rc && !out->retry_after)
		slot = pick(s, key, now, near, nnear, &task, &expired, &backup);
	if (expired && lost_lease(s, slot, now, base))
		rc = fail(s, d);
	if (slot < 0 || rc)
		return rc;
	out->deadline = now + lease_seconds(&dev, base);
	out->backup = backup;
	q = backup ? s->backup : s->claim;
	sqlite3_bind_int64(q, 1, slot);
	sqlite3_bind_int64(q, 2, out->deadline);
	sqlite3_bind_int64(q, 3, now);
	if (sqlite3_step(q) != SQLITE_DONE || sqlite3_changes(s->db) != 1)
		rc = fail(s, d);
	sqlite3_reset(q);
	randombytes_buf(secret, SECRET_SIZE);
	sqlite3_bind_blob(s->add_lease, 1, secret, SECRET_SIZE, SQLITE_STATIC);
	sqlite3_bind_int64(s->add_lease, 2, task);
	sqlite3_bind_int64(s->add_lease, 3, slot);
	sqlite3_bind_blob(s->add_lease, 4, key, G2T_PK_SIZE, SQLITE_STATIC);
	sqlite3_bind_int64(s->add_lease, 5, now);
	sqlite3_bind_int64(s->add_lease, 6, out->deadline);
	sqlite3_bind_int(s->add_lease, 7, backup);
	if (!rc && sqlite3_step(s->add_lease) != SQLITE_DONE)
		rc = fail(s, d);
	sqlite3_reset(s->add_lease);
	id = (uint64_t)sqlite3_last_insert_rowid(s->db);
	for (int i = 7; i >= 0; i--, id >>= 8)
		token[i] = (uint8_t)id;
	out->task = task;
	return rc;
}

/*
 * Checks a packet's (key, seq): new, a retry of the packet already
 * accepted under it (same digest), or a replay.
 */
int g2t_store_packet_seen(struct g2t_store *s, const uint8_t key[G2T_PK_SIZE],
                          uint64_t seq, const uint8_t digest[G2T_HASH_SIZE])
{
	int seen = G2T_SEEN_NEW;

	sqlite3_reset(s->seen);
	sqlite3_bind_blob(s->seen, 1, key, G2T_PK_SIZE, SQLITE_STATIC);
	sqlite3_bind_int64(s->seen, 2, (sqlite3_int64)seq);
	if (sqlite3_step(s->seen) == SQLITE_ROW)
		seen = sqlite3_column_bytes(s->seen, 0) == G2T_HASH_SIZE &&
		       !memcmp(sqlite3_column_blob(s->seen, 0), digest, G2T_HASH_SIZE)
		       ? G2T_SEEN_SAME : G2T_SEEN_REPLAY;
	sqlite3_reset(s->seen);
	return seen;
}

/* What a result's lease says about it. */
static int judge(struct g2t_store *s, const uint8_t *key, const struct g2t_weights *w,
                 long long now, long *task, long *slot, double *seconds)
{
	int verdict;

	if (bind_lease(s->find_lease, w->token, w->token_len) ||
	    sqlite3_step(s->find_lease) != SQLITE_ROW) {
		verdict = G2T_RESULT_UNKNOWN_LEASE;
	} else if (sqlite3_column_bytes(s->find_lease, 1) != G2T_PK_SIZE ||
	           memcmp(sqlite3_column_blob(s->find_lease, 1), key, G2T_PK_SIZE)) {
		verdict = G2T_RESULT_OTHER_DEVICE;
	} else if ((*task = (long)sqlite3_column_int64(s->find_lease, 0)) != (long)w->id.task) {
		verdict = G2T_RESULT_WRONG_TASK;
	} else if (sqlite3_column_int(s->find_lease, 4) == TASK_DONE) {
		verdict = G2T_RESULT_STALE;
	} else if (sqlite3_column_int64(s->find_lease, 3) < now &&
	           sqlite3_column_int64(s->find_lease, 5) > 0) {
		verdict = G2T_RESULT_EXPIRED; /* and the task was leased again since */
	} else {
		*seconds = (double)(now - sqlite3_column_int64(s->find_lease, 2));
		*slot = (long)sqlite3_column_int64(s->find_lease, 6);
		verdict = G2T_RESULT_ACCEPTED;
	}
	sqlite3_reset(s->find_lease);
	return verdict;
}

int g2t_store_begin(struct g2t_store *s, int durable, struct g2t_diag *d)
{
	return exec(s, durable ? "PRAGMA synchronous=FULL; BEGIN IMMEDIATE"
	                       : "PRAGMA synchronous=NORMAL; BEGIN IMMEDIATE", d);
}

int g2t_store_end(struct g2t_store *s, int commit, struct g2t_diag *d)
{
	if (commit)
		return exec(s, "COMMIT", d); /* durable before any 2xx, if asked */
	sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	return G2T_OK;
}

/* Binds ?1 = task and, if given, ?2 = blob; other parameters stay as bound. */
static void bind_task(sqlite3_stmt *q, long task, const void *blob, int len)
{
	sqlite3_bind_int64(q, 1, task);
	if (blob)
		sqlite3_bind_blob(q, 2, blob, len, SQLITE_STATIC);
}

/* Runs a statement so bound; 0 or G2T_EIO.  Reset after, to be bound again. */
static int run(sqlite3_stmt *q, long task, const void *blob, int len)
{
	int rc;

	bind_task(q, task, blob, len);
	rc = sqlite3_step(q) == SQLITE_DONE ? G2T_OK : G2T_EIO;
	sqlite3_reset(q);
	return rc;
}

/* The number a statement so bound selects, or -1. */
static int count(sqlite3_stmt *q, long task, const void *blob, int len)
{
	long long n = -1;

	bind_task(q, task, blob, len);
	if (sqlite3_step(q) == SQLITE_ROW)
		n = sqlite3_column_int64(q, 0);
	sqlite3_reset(q);
	return (int)n;
}

/*
 * Applies the result of a slot: with one replica it completes the task; with
 * R, it is a vote, and the task completes when R votes name the same bytes
 * (training is deterministic).  Devices outvoted then are recorded, and a
 * vote that leaves the task short of R agreeing ones opens another slot.
 */
static int apply(struct g2t_store *s, const uint8_t *key, long task, long slot,
                 const uint8_t *payload, uint32_t len, int *verdict)
{
	uint8_t digest[G2T_HASH_SIZE];
	int agree = 1, missing;

	if (run(s->finish_slot, slot, NULL, 0))
		return G2T_EIO;
	if (sqlite3_changes(s->db) != 1) { /* counts the last step, reset or not */
		*verdict = G2T_RESULT_STALE;
		return G2T_OK;
	}
	if (s->replicas > 1) {
		g2t_hash(digest, payload, len);
		sqlite3_bind_blob(s->vote, 2, key, G2T_PK_SIZE, SQLITE_STATIC);
		sqlite3_bind_blob(s->vote, 3, digest, G2T_HASH_SIZE, SQLITE_STATIC);
		if (run(s->vote, task, NULL, 0) ||
		    (agree = count(s->agree, task, digest, G2T_HASH_SIZE)) < 0)
			return G2T_EIO;
	}
	if ((unsigned)agree < s->replicas) {
		*verdict = G2T_RESULT_RECORDED;
		if ((missing = count(s->shortfall, task, NULL, 0)) < 0)
			return G2T_EIO;
		while (missing-- > 0)
			if (run(s->add_slot, task, NULL, 0))
				return G2T_EIO;
		return G2T_OK;
	}
	if (run(s->finish, task, payload, (int)len) || run(s->close_slots, task, NULL, 0))
		return G2T_EIO;
	if (s->replicas > 1 && run(s->disagreed, task, digest, G2T_HASH_SIZE))
		return G2T_EIO;
	return G2T_OK;
}

/* An accepted result, seconds after its lease: the device's streak of lost
 * leases ends. */
static int credit(struct g2t_store *s, const uint8_t *key, double seconds)
{
	int rc;

	sqlite3_bind_blob(s->credit, 1, key, G2T_PK_SIZE, SQLITE_STATIC);
	sqlite3_bind_double(s->credit, 2, seconds);
	rc = sqlite3_step(s->credit) == SQLITE_DONE ? G2T_OK : G2T_EIO;
	sqlite3_reset(s->credit);
	return rc;
}

int g2t_store_results(struct g2t_store *s, const uint8_t key[G2T_PK_SIZE], uint64_t seq,
                      const uint8_t digest[G2T_HASH_SIZE], long long now,
                      const struct g2t_weights *w, const uint8_t *const *payload,
                      const uint32_t *len, size_t n, int *verdict, struct g2t_diag *d)
{
	int rc = G2T_OK;

	for (size_t i = 0; i < n && !rc; i++) {
		long task = -1, slot = -1;
		double seconds = 0.0;

		if (verdict[i] != G2T_RESULT_ACCEPTED) /* refused by the caller already */
			continue;
		verdict[i] = judge(s, key, &w[i], now, &task, &slot, &seconds);
		if (verdict[i] != G2T_RESULT_ACCEPTED)
			continue;
		if (apply(s, key, task, slot, payload[i], len[i], &verdict[i]))
			rc = fail(s, d);
		else if (verdict[i] != G2T_RESULT_STALE && credit(s, key, seconds))
			rc = fail(s, d);
	}
	/* a packet of which nothing was taken is not remembered: sent again,
	 * it is judged again (and refused again) */
	for (size_t i = 0; i < n && !rc; i++)
		if (verdict[i] <= G2T_RESULT_STALE) {
			sqlite3_reset(s->remember);
			sqlite3_bind_blob(s->remember, 1, key, G2T_PK_SIZE, SQLITE_STATIC);
			sqlite3_bind_int64(s->remember, 2, (sqlite3_int64)seq);
			sqlite3_bind_blob(s->remember, 3, digest, G2T_HASH_SIZE, SQLITE_STATIC);
			if (sqlite3_step(s->remember) != SQLITE_DONE)
				rc = fail(s, d);
			break;
		}
	return rc;
}

int g2t_store_counts(struct g2t_store *s, struct g2t_store_counts *c, long long now)
{
	sqlite3_stmt *q;
	int rc;

	memset(c, 0, sizeof *c);
	/* a task is leased while a slot of it is; closed slots hold no lease */
	if (sqlite3_prepare_v2(s->db,
	        "SELECT (SELECT count(*) FROM tasks), (SELECT count(*) FROM tasks WHERE state=2),"
	        " (SELECT count(DISTINCT task) FROM slots WHERE state=1 AND deadline>=?1),"
	        " sum(issued), sum(max(issued-1, 0)), (SELECT count(*) FROM devices),"
	        " (SELECT count(*) FROM devices WHERE disagreed>0),"
	        " (SELECT count(*) FROM leases WHERE backup=1) FROM slots",
	        -1, &q, NULL) != SQLITE_OK)
		return G2T_EIO;
	sqlite3_bind_int64(q, 1, now);
	rc = sqlite3_step(q) == SQLITE_ROW ? G2T_OK : G2T_EIO;
	if (!rc) {
		c->tasks = sqlite3_column_int64(q, 0);
		c->done = sqlite3_column_int64(q, 1);
		c->leased = sqlite3_column_int64(q, 2);
		c->pending = c->tasks - c->done - c->leased;
		c->issued = sqlite3_column_int64(q, 3);
		c->reissued = sqlite3_column_int64(q, 4);
		c->devices = sqlite3_column_int64(q, 5);
		c->disagreeing = sqlite3_column_int64(q, 6);
		c->backups = sqlite3_column_int64(q, 7);
	}
	sqlite3_finalize(q);
	return rc;
}

/* Calls back with every accepted WEIGHTS payload and its task, in task order. */
int g2t_store_each_result(struct g2t_store *s,
                          int (*fn)(void *ctx, long task, const uint8_t *p, uint32_t len),
                          void *ctx, struct g2t_diag *d)
{
	sqlite3_stmt *q;
	int rc = G2T_OK, step = SQLITE_DONE;

	if (sqlite3_prepare_v2(s->db, "SELECT id, result FROM tasks WHERE state=2 ORDER BY id",
	                       -1, &q, NULL) != SQLITE_OK)
		return fail(s, d);
	while (!rc && (step = sqlite3_step(q)) == SQLITE_ROW)
		rc = fn(ctx, (long)sqlite3_column_int64(q, 0), sqlite3_column_blob(q, 1),
		        (uint32_t)sqlite3_column_bytes(q, 1));
	if (!rc && step != SQLITE_DONE)
		rc = fail(s, d);
	sqlite3_finalize(q);
	return rc;
}

int g2t_store_each_device(struct g2t_store *s,
                          int (*fn)(void *ctx, const uint8_t *key,
                                    const struct g2t_store_device *dev),
                          void *ctx, long long now)
{
	sqlite3_stmt *q;
	int rc = G2T_OK, step = SQLITE_DONE;

	/* the running leases from the running slots (slots_deadline), not from
	 * every lease ever given: an index over those would slow every lease */
	if (sqlite3_prepare_v2(s->db, "WITH running(device, n) AS MATERIALIZED ("
	                       " SELECT l.device, count(*) FROM slots t JOIN leases l ON l.slot=t.id"
	                       "  WHERE t.state=1 AND t.deadline>=?1 AND l.deadline>=?1"
	                       "  AND l.id>=(SELECT max(id) FROM leases WHERE slot=t.id"
	                       "  AND backup=0) GROUP BY l.device)"
	                       " SELECT key, done, expired, disagreed, coalesce(r.n, 0)"
	                       " FROM devices d LEFT JOIN running r ON r.device=d.key"
	                       " ORDER BY key", -1, &q, NULL) != SQLITE_OK)
		return G2T_EIO;
	sqlite3_bind_int64(q, 1, now);
	while (!rc && (step = sqlite3_step(q)) == SQLITE_ROW) {
		struct g2t_store_device dev = {
			sqlite3_column_int64(q, 1), sqlite3_column_int64(q, 2),
			sqlite3_column_int64(q, 3), sqlite3_column_int64(q, 4)
		};

		if (sqlite3_column_bytes(q, 0) == G2T_PK_SIZE)
			rc = fn(ctx, sqlite3_column_blob(q, 0), &dev);
	}
	sqlite3_finalize(q);
	return rc || step == SQLITE_DONE ? rc : G2T_EIO;
}

int g2t_store_reopen(struct g2t_store *s, long task, uint8_t device[G2T_PK_SIZE],
                     struct g2t_diag *d)
{
	static const char *const sql[] = {
		"UPDATE tasks SET state=0, result=NULL WHERE id=?1",
		"DELETE FROM votes WHERE task=?1",
		"DELETE FROM slots WHERE task=?1", /* their leases' results are stale now */
	};
	sqlite3_stmt *q = NULL;
	int rc = exec(s, "BEGIN IMMEDIATE", d);

	memset(device, 0, G2T_PK_SIZE);
	if (!rc && sqlite3_prepare_v2(s->db, "SELECT device FROM leases WHERE task=?1"
	                              " ORDER BY id DESC LIMIT 1", -1, &q, NULL) == SQLITE_OK) {
		sqlite3_bind_int64(q, 1, task);
		if (sqlite3_step(q) == SQLITE_ROW && sqlite3_column_bytes(q, 0) == G2T_PK_SIZE)
			memcpy(device, sqlite3_column_blob(q, 0), G2T_PK_SIZE);
		sqlite3_finalize(q);
	}
	for (size_t i = 0; i < sizeof sql / sizeof *sql && !rc; i++) {
		if (sqlite3_prepare_v2(s->db, sql[i], -1, &q, NULL) != SQLITE_OK)
			rc = fail(s, d);
		else if (run(q, task, NULL, 0))
			rc = fail(s, d);
		sqlite3_finalize(q);
	}
	for (unsigned r = 0; r < s->replicas && !rc; r++)
		if (run(s->add_slot, task, NULL, 0))
			rc = fail(s, d);
	if (!rc)
		return exec(s, "COMMIT", d);
	sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	return rc;
}

/* Whether a token names an open lease whose task is `task` or uses class
 * `klass` (-1: neither). */
static int lease_covers(struct g2t_store *s, const uint8_t *token, size_t len,
                        long long now, long task, long klass)
{
	sqlite3_stmt *q;
	int yes = 0;

	if (sqlite3_prepare_v2(s->db,
	        "SELECT 1 FROM leases l JOIN tasks t ON t.id=l.task WHERE l.id=?1"
	        " AND l.secret=?2 AND l.deadline>=?3 AND (l.task=?4 OR t.a=?5 OR t.b=?5)",
	        -1, &q, NULL) != SQLITE_OK)
		return 0;
	sqlite3_bind_int64(q, 3, now);
	sqlite3_bind_int64(q, 4, task);
	sqlite3_bind_int64(q, 5, klass);
	yes = !bind_lease(q, token, len) && sqlite3_step(q) == SQLITE_ROW;
	sqlite3_finalize(q);
	return yes;
}

int g2t_store_lease_uses(struct g2t_store *s, const uint8_t *token, size_t len,
                         long long now, uint32_t klass)
{
	return lease_covers(s, token, len, now, -1, klass);
}

int g2t_store_lease_holds(struct g2t_store *s, const uint8_t *token, size_t len,
                          long long now, long task)
{
	return lease_covers(s, token, len, now, task, -1);
}
