package clickhouse

import (
	"context"
	"fmt"
	"io/fs"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/meterline/meterline/schemas"
)

// Migration is one numbered schema change from schemas/clickhouse.
type Migration struct {
	Version    uint32
	Name       string
	Statements []string
}

var migrationName = regexp.MustCompile(`^(\d{4})_([a-z0-9_]+)\.sql$`)

// Migrations returns the migrations in version order. Each file holds one or more statements,
// each ending with ";" at the end of a line; lines starting with "--" are comments. Every
// statement must be safe to run twice (CREATE ... IF NOT EXISTS, ALTER ... IF NOT EXISTS), so a
// migration interrupted half-way is simply applied again.
func Migrations() ([]Migration, error) {
	entries, err := fs.ReadDir(schemas.ClickHouseMigrations, "clickhouse")
	if err != nil {
		return nil, err
	}
	var out []Migration
	for _, e := range entries {
		m := migrationName.FindStringSubmatch(e.Name())
		if m == nil {
			return nil, fmt.Errorf("migration file %q is not named NNNN_name.sql", e.Name())
		}
		v, _ := strconv.ParseUint(m[1], 10, 32)
		raw, err := fs.ReadFile(schemas.ClickHouseMigrations, "clickhouse/"+e.Name())
		if err != nil {
			return nil, err
		}
		out = append(out, Migration{Version: uint32(v), Name: m[2], Statements: splitStatements(string(raw))})
	}
	slices.SortFunc(out, func(a, b Migration) int { return int(a.Version) - int(b.Version) })
	// Versions are unique and ascend from 0001; a gap is a migration of another branch not
	// merged yet (each feature is given its number), which the merge fills.
	for i := range out {
		if out[i].Version == 0 || (i > 0 && out[i].Version == out[i-1].Version) {
			return nil, fmt.Errorf("migration %04d_%s: versions must be unique and start at 0001", out[i].Version, out[i].Name)
		}
	}
	return out, nil
}

func splitStatements(sql string) []string {
	var out []string
	var cur strings.Builder
	for _, line := range strings.Split(sql, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "--") {
			continue
		}
		cur.WriteString(line)
		cur.WriteByte('\n')
		if strings.HasSuffix(strings.TrimSpace(line), ";") {
			if s := strings.TrimSuffix(strings.TrimSpace(cur.String()), ";"); s != "" {
				out = append(out, s)
			}
			cur.Reset()
		}
	}
	if s := strings.TrimSpace(cur.String()); s != "" {
		out = append(out, s)
	}
	return out
}

const createMigrationsTable = `CREATE TABLE IF NOT EXISTS schema_migrations
(
    version UInt32,
    name String,
    applied_at DateTime('UTC')
)
ENGINE = MergeTree()
ORDER BY version`

// Migrate applies the migrations the database has not had yet, in order, and records each in
// the table schema_migrations. It is safe to run from several processes at once, since every
// statement is idempotent; a version may then be recorded twice, which is harmless.
func Migrate(ctx context.Context, conn Conn, log *zap.Logger) error {
	all, err := Migrations()
	if err != nil {
		return err
	}
	if err := conn.Exec(ctx, createMigrationsTable); err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	// Each version not recorded is applied, not only those above the highest: a branch's
	// migration may land after a later number did.
	applied := map[uint32]bool{}
	rows, err := conn.Query(ctx, "SELECT DISTINCT version FROM schema_migrations")
	if err != nil {
		return fmt.Errorf("read schema_migrations: %w", err)
	}
	for rows.Next() {
		var v uint32
		if err := rows.Scan(&v); err != nil {
			rows.Close()
			return fmt.Errorf("read schema_migrations: %w", err)
		}
		applied[v] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read schema_migrations: %w", err)
	}
	for _, m := range all {
		if applied[m.Version] {
			continue
		}
		for i, stmt := range m.Statements {
			if err := conn.Exec(ctx, stmt); err != nil {
				return fmt.Errorf("migration %04d_%s, statement %d: %w", m.Version, m.Name, i+1, err)
			}
		}
		if err := record(ctx, conn, m); err != nil {
			return fmt.Errorf("record migration %04d_%s: %w", m.Version, m.Name, err)
		}
		log.Info("applied clickhouse migration", zap.Uint32("version", m.Version), zap.String("name", m.Name))
	}
	return nil
}

// record notes m as applied. It is a one-row batch: ClickHouse 18.16 over the native protocol
// takes INSERT data only as blocks, not as inline VALUES.
func record(ctx context.Context, conn Conn, m Migration) error {
	b, err := conn.PrepareBatch(ctx, "INSERT INTO schema_migrations (version, name, applied_at)")
	if err != nil {
		return err
	}
	if err := b.Append(m.Version, m.Name, time.Now().UTC()); err != nil {
		_ = b.Abort()
		return err
	}
	return b.Send()
}

// SchemaVersion returns the highest migration version applied (0 for none).
func SchemaVersion(ctx context.Context, conn Conn) (uint32, error) {
	var v uint32
	if err := conn.QueryRow(ctx, "SELECT max(version) FROM schema_migrations").Scan(&v); err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	return v, nil
}

// RequireSchema fails unless every migration this build knows has been applied: a service
// started against an older schema would write to columns that are not there.
func RequireSchema(ctx context.Context, conn Conn) error {
	all, err := Migrations()
	if err != nil {
		return err
	}
	want := all[len(all)-1].Version
	have, err := SchemaVersion(ctx, conn)
	if err != nil || have < want {
		return fmt.Errorf("clickhouse schema is at version %d, this build needs %d: run `meterline migrate` (%v)", have, want, err)
	}
	return nil
}
