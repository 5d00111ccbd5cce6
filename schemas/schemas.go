// Package schemas embeds the documents that define Meterline's external formats: the JSON
// Schemas of the documents it accepts and serves (jsonschema/), the GraphQL schema of its
// usage queries (graphql/) and the numbered ClickHouse migrations
// (clickhouse/). The files are the source of truth; Go code reads them from here.
package schemas

import "embed"

// JSONSchema holds the JSON Schemas, by file name under jsonschema/.
//
//go:embed jsonschema/*.json
var JSONSchema embed.FS

// GraphQL holds the GraphQL schemas (SDL), by file name under graphql/.
//
//go:embed graphql/*.graphql
var GraphQL embed.FS

// ClickHouseMigrations holds the ClickHouse migrations, named NNNN_what.sql under clickhouse/.
//
//go:embed clickhouse/*.sql
var ClickHouseMigrations embed.FS
