// Package clickhouse is Meterline's ClickHouse plumbing: the connection (native protocol),
// the numbered schema migrations of schemas/clickhouse, and the tables' query and batch-insert
// code. Its SQL works on ClickHouse 18.16 (the test environment's Debian package) and on
// current releases: every INSERT names its columns, and nothing newer than 18.16 is used
// (no DateTime64, Map, JSON, window functions or TTL).
package clickhouse

import (
	"context"
	"fmt"
	"time"

	ch "github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/meterline/meterline/internal/platform/config"
)

// Conn is a ClickHouse connection pool.
type Conn = driver.Conn

// Open connects to the configured server, creates the database when it is missing, and
// returns a pool that uses it.
func Open(ctx context.Context, cfg config.ClickHouse) (Conn, error) {
	admin, err := open(cfg, "default")
	if err != nil {
		return nil, err
	}
	defer admin.Close()
	if err := admin.Exec(ctx, "CREATE DATABASE IF NOT EXISTS "+cfg.Database); err != nil {
		return nil, fmt.Errorf("clickhouse %s: create database %s: %w", cfg.Addr, cfg.Database, err)
	}
	return open(cfg, cfg.Database)
}

func open(cfg config.ClickHouse, database string) (Conn, error) {
	conn, err := ch.Open(&ch.Options{
		Addr:             []string{cfg.Addr},
		Protocol:         ch.Native,
		Auth:             ch.Auth{Database: database, Username: cfg.User, Password: cfg.Password},
		DialTimeout:      cfg.DialTimeout,
		ReadTimeout:      5 * time.Minute,
		MaxOpenConns:     16,
		MaxIdleConns:     4,
		ConnMaxLifetime:  time.Hour,
		ConnOpenStrategy: ch.ConnOpenInOrder,
	})
	if err != nil {
		return nil, fmt.Errorf("clickhouse %s: %w", cfg.Addr, err)
	}
	return conn, nil
}
