// Package archtest holds the tests of Meterline's layering: imports only point down. The
// domain (usage, plans, metering, catalog) imports no Kafka, ClickHouse, HTTP or logging
// package and no adapter of Meterline's own; each report view imports the report core and
// never another view; each poller imports the intake and never the HTTP collector or another
// poller. docs/architecture.md shows the layers.
package archtest
