package clickhouse_test

import (
	"context"
	"reflect"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/meterline/meterline/internal/clickhouse"
	"github.com/meterline/meterline/internal/testenv"
)

func TestMigrationsAreNumberedAndSplit(t *testing.T) {
	all, err := clickhouse.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	for i, m := range all {
		if (i > 0 && m.Version <= all[i-1].Version) || len(m.Statements) == 0 {
			t.Errorf("migration %d: version %d with %d statements", i, m.Version, len(m.Statements))
		}
		for _, s := range m.Statements {
			if s == "" || s[len(s)-1] == ';' {
				t.Errorf("migration %04d: badly split statement %q", m.Version, s)
			}
		}
	}
}

// TestMigrateTwice applies every migration to a fresh database of the real ClickHouse, then
// again: the second run must change nothing, and the schema check must pass.
func TestMigrateTwice(t *testing.T) {
	cfg := testenv.Get(t).Config(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := clickhouse.Open(ctx, cfg.ClickHouse)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := clickhouse.RequireSchema(ctx, conn); err == nil {
		t.Error("RequireSchema passed on an empty database")
	}
	for range 2 {
		if err := clickhouse.Migrate(ctx, conn, zap.NewNop()); err != nil {
			t.Fatal(err)
		}
	}
	if err := clickhouse.RequireSchema(ctx, conn); err != nil {
		t.Error(err)
	}
	all, _ := clickhouse.Migrations()
	var versions []uint32
	rows, err := conn.Query(ctx, "SELECT version FROM schema_migrations ORDER BY version")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var v uint32
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		versions = append(versions, v)
	}
	want := make([]uint32, len(all))
	for i := range all {
		want[i] = all[i].Version
	}
	if !reflect.DeepEqual(versions, want) {
		t.Errorf("schema_migrations holds versions %v, want each of %v once", versions, want)
	}
}
